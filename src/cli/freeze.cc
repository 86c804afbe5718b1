// `agentgate freeze` / `agentgate thaw`: the kill switch (store/freezes.h).
//
//   agentgate freeze (--identity NAME | --group G | --all) --reason TEXT
//   agentgate thaw   (--identity NAME | --group G | --all)
//
// Reviewers and root may freeze; root, the daemon's account and the policy's
// `admins` may thaw. The daemon identifies the caller by the socket's peer
// credentials; every freeze and thaw is audited.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <optional>
#include <string>

#include "cli/command.h"
#include "cli/control_command.h"
#include "util/display.h"

namespace ag::cli {
namespace {

int RunFreezeOrThaw(int argc, char** argv, bool freeze) {
  const char* name = freeze ? "freeze" : "thaw";
  ControlCommand cmd(name, freeze ? "Stop an agent identity, a group or every agent at once: its "
                                    "git and API requests get 403 with the reason, its requests "
                                    "cannot be approved and are not replayed."
                                  : "Undo a freeze.");
  CLI::App& app = cmd.app();
  std::string identity, group, reason;
  bool all = false;
  auto* i = app.add_option("--identity", identity, "the agent identity (as in `agentgate list`)");
  auto* g = app.add_option("--group", group, "every identity in this group");
  auto* a = app.add_flag("--all", all, "every agent");
  i->excludes(g)->excludes(a);
  g->excludes(a);
  if (freeze) app.add_option("--reason", reason, "why (the agent sees it; audited)")->required();
  if (std::optional<int> done = cmd.Parse(argc, argv)) return *done;
  nlohmann::json req = {{"cmd", name}};
  if (!identity.empty()) {
    req["scope"] = "identity";
    req["name"] = identity;
  } else if (!group.empty()) {
    req["scope"] = "group";
    req["name"] = group;
  } else if (all) {
    req["scope"] = "all";
  } else {
    std::fprintf(stderr, "agentgate %s: give --identity NAME, --group G or --all\n", name);
    return kExitError;
  }
  if (freeze) {
    if (reason.empty()) {
      std::fprintf(stderr, "agentgate freeze: --reason must not be empty\n");
      return kExitError;
    }
    req["reason"] = reason;
  }
  int rc = 0;
  auto result = cmd.Call(req, &rc);
  if (!result) return rc;
  std::string what = result->value("scope", "") == "all"
                         ? std::string("every agent")
                         : result->value("scope", "") + " " + result->value("name", "");
  std::printf("%s %s\n", EscapeForTerminal(what).c_str(), freeze ? "is frozen" : "is thawed");
  return kExitOk;
}

int RunFreeze(int argc, char** argv) { return RunFreezeOrThaw(argc, argv, true); }
int RunThaw(int argc, char** argv) { return RunFreezeOrThaw(argc, argv, false); }

}  // namespace
AG_REGISTER_COMMAND(freeze, "freeze", "stop an agent identity, a group or every agent", RunFreeze);
AG_REGISTER_COMMAND(thaw, "thaw", "undo a freeze", RunThaw);
}  // namespace ag::cli
