#include "cli/control_command.h"

#include "cli/command.h"
#include "control/client.h"
#include "control/protocol.h"
#include "util/status.h"

namespace ag::cli {

ControlCommand::ControlCommand(const char* name, const std::string& description)
    : name_(name), app_(description) {}

void ControlCommand::AddRequestId() {
  takes_id_ = true;
  app_.add_option("id", id_text_, "request id")->required();
}

std::optional<int> ControlCommand::Parse(int argc, char** argv) {
  app_.add_option("--socket", socket_, "control socket (default: from the config)");
  app_.add_option("--config", config_, "config file (default $AGENTGATE_CONFIG or " +
                                           std::string(control::kDefaultConfigPath) + ")");
  try {
    app_.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app_.exit(e) == 0 ? kExitOk : kExitError;
  }
  if (!takes_id_) return std::nullopt;
  Result<int64_t> id = control::ParseRequestId(id_text_);
  if (!id.ok()) return control::ReportFailure(name_, id.status());
  id_ = *id;
  return std::nullopt;
}

std::optional<nlohmann::json> ControlCommand::Call(const nlohmann::json& request,
                                                   int* exit_code) const {
  return control::CallForCli(name_, socket_, config_, request, exit_code);
}

}  // namespace ag::cli
