// `agentgate retry ID`: puts a request whose replay failed back in the
// replay queue (failed -> approved, attempts reset). A conflict is not
// retried: upstream moved, the agent must re-push on top of upstream.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <string>

#include "cli/command.h"
#include "control/client.h"
#include "control/protocol.h"

namespace ag::cli {
namespace {

int RunRetry(int argc, char** argv) {
  CLI::App app{"Retry the replay of a failed request."};
  std::string socket, config, id_text;
  app.add_option("id", id_text, "request id")->required();
  app.add_option("--socket", socket, "control socket (default: from the config)");
  app.add_option("--config", config, "config file");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kExitOk : kExitError;
  }
  Result<int64_t> id = control::ParseRequestId(id_text);
  if (!id.ok()) return control::ReportFailure("retry", id.status());
  int rc = 0;
  auto result = control::CallForCli("retry", socket, config, {{"cmd", "retry"}, {"id", *id}}, &rc);
  if (!result) return rc;
  std::printf("%s\n", result->value("message", "retrying").c_str());
  return kExitOk;
}

}  // namespace
AG_REGISTER_COMMAND(retry, "retry", "retry the replay of a failed request", RunRetry);
}  // namespace ag::cli
