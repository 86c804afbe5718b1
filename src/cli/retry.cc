// `agentgate retry ID`: puts a request whose replay failed back in the
// replay queue (failed -> approved, attempts reset). A conflict is not
// retried: upstream moved, the agent must re-push on top of upstream.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <optional>
#include <string>

#include "cli/command.h"
#include "cli/control_command.h"

namespace ag::cli {
namespace {

int RunRetry(int argc, char** argv) {
  ControlCommand cmd("retry", "Retry the replay of a failed request.");
  cmd.AddRequestId();
  if (std::optional<int> done = cmd.Parse(argc, argv)) return *done;
  int rc = 0;
  auto result = cmd.Call({{"cmd", "retry"}, {"id", cmd.id()}}, &rc);
  if (!result) return rc;
  std::printf("%s\n", result->value("message", "retrying").c_str());
  return kExitOk;
}

}  // namespace
AG_REGISTER_COMMAND(retry, "retry", "retry the replay of a failed request", RunRetry);
}  // namespace ag::cli
