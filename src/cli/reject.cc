// `agentgate reject ID --reason TEXT`: rejects a pending request (one
// rejection is enough). The daemon identifies the reviewer by the socket's
// peer credentials.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <optional>
#include <string>

#include "cli/command.h"
#include "cli/control_command.h"
#include "util/display.h"

namespace ag::cli {
namespace {

int RunReject(int argc, char** argv) {
  ControlCommand cmd("reject", "Reject a pending request.");
  cmd.AddRequestId();
  std::string reason;
  cmd.app().add_option("--reason", reason, "why (recorded in the audit log)")->required();
  if (std::optional<int> done = cmd.Parse(argc, argv)) return *done;
  if (reason.empty()) {
    std::fprintf(stderr, "agentgate reject: --reason must not be empty\n");
    return kExitError;
  }
  int rc = 0;
  auto result = cmd.Call({{"cmd", "reject"}, {"id", cmd.id()}, {"reason", reason}}, &rc);
  if (!result) return rc;
  std::printf("%s\n", EscapeForTerminal(result->value("message", "rejected")).c_str());
  return kExitOk;
}

}  // namespace
AG_REGISTER_COMMAND(reject, "reject", "reject a pending request", RunReject);
}  // namespace ag::cli
