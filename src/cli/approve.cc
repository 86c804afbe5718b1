// `agentgate approve ID [--comment TEXT]`: approves a pending request. It
// first fetches the request (as `show` does) and sends back the ref, old and
// new ids it saw, so the approval binds to exactly what was reviewed; the
// daemon refuses it if the request no longer matches. --expect OID binds it
// to the new commit id the reviewer saw in an earlier `agentgate show`.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <optional>
#include <string>

#include "cli/command.h"
#include "cli/control_command.h"
#include "util/display.h"

namespace ag::cli {
namespace {

int RunApprove(int argc, char** argv) {
  ControlCommand cmd("approve", "Approve a pending request.");
  cmd.AddRequestId();
  std::string comment, expect;
  cmd.app().add_option("--comment", comment, "recorded in the audit log");
  cmd.app().add_option(
      "--expect", expect,
      "the new commit id you reviewed (from `agentgate show`); refused if it differs");
  if (std::optional<int> done = cmd.Parse(argc, argv)) return *done;
  int rc = 0;
  auto shown = cmd.Call({{"cmd", "show"}, {"id", cmd.id()}}, &rc);
  if (!shown) return rc;
  std::string ref = shown->value("ref", ""), old_oid = shown->value("old", ""),
              new_oid = shown->value("new", "");
  // With --expect the approval binds to what the reviewer read earlier, not
  // to what the daemon says now.
  if (!expect.empty()) new_oid = expect;
  auto result = cmd.Call({{"cmd", "approve"}, {"id", cmd.id()}, {"ref", ref}, {"old", old_oid},
                         {"new", new_oid}, {"comment", comment}},
                        &rc);
  if (!result) return rc;
  // The message and the ref can carry what an agent chose (a ref name with
  // bidi controls): shown, not obeyed.
  std::printf("%s\n  %s %s..%s\n", EscapeForTerminal(result->value("message", "approved")).c_str(),
              EscapeForTerminal(ref).c_str(), EscapeForTerminal(old_oid.substr(0, 12)).c_str(),
              EscapeForTerminal(new_oid.substr(0, 12)).c_str());
  return kExitOk;
}

}  // namespace
AG_REGISTER_COMMAND(approve, "approve", "approve a pending request", RunApprove);
}  // namespace ag::cli
