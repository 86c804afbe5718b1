// `agentgate reject ID --reason TEXT`: rejects a pending request (one
// rejection is enough). The daemon identifies the reviewer by the socket's
// peer credentials.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <string>

#include "cli/command.h"
#include "control/client.h"
#include "control/protocol.h"

namespace ag::cli {
namespace {

int RunReject(int argc, char** argv) {
  CLI::App app{"Reject a pending request."};
  std::string socket, config, id_text, reason;
  app.add_option("id", id_text, "request id")->required();
  app.add_option("--reason", reason, "why (recorded in the audit log)")->required();
  app.add_option("--socket", socket, "control socket (default: from the config)");
  app.add_option("--config", config, "config file");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kExitOk : kExitError;
  }
  Result<int64_t> id = control::ParseRequestId(id_text);
  if (!id.ok()) return control::ReportFailure("reject", id.status());
  if (reason.empty()) {
    std::fprintf(stderr, "agentgate reject: --reason must not be empty\n");
    return kExitError;
  }
  int rc = 0;
  auto result = control::CallForCli("reject", socket, config,
                                    {{"cmd", "reject"}, {"id", *id}, {"reason", reason}}, &rc);
  if (!result) return rc;
  std::printf("%s\n", result->value("message", "rejected").c_str());
  return kExitOk;
}

}  // namespace
AG_REGISTER_COMMAND(reject, "reject", "reject a pending request", RunReject);
}  // namespace ag::cli
