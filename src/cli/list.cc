// `agentgate list [--repo R] [--status S] [--limit N] [--json]`: the review
// queue, pending requests first, newest first, from agentgate-mirror over the
// control socket. --json prints an array of objects with at least id, repo,
// ref, old, new, status, identity, created (ISO 8601) and rules. The table
// escapes every field (util/display.h): ref names and identities come from
// the agent's push.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <optional>
#include <string>

#include "cli/command.h"
#include "cli/control_command.h"
#include "control/protocol.h"
#include "util/display.h"

namespace ag::cli {
namespace {

int RunList(int argc, char** argv) {
  ControlCommand cmd("list", "List review requests (pending first, newest first).");
  CLI::App& app = cmd.app();
  std::string repo, status;
  int limit = control::kDefaultListLimit;
  bool json = false;
  app.add_option("--repo", repo, "only this repo");
  app.add_option("--status", status,
                 "pending|approved|rejected|expired|superseded|conflict|replaying|replayed|failed|"
                 "incoming|aborted");
  app.add_option("--limit", limit, "at most this many rows (default 100)")
      ->check(CLI::Range(1, control::kMaxListLimit));
  app.add_flag("--json", json, "print JSON");
  if (std::optional<int> done = cmd.Parse(argc, argv)) return *done;
  nlohmann::json req = {{"cmd", "list"}, {"limit", limit}};
  if (!repo.empty()) req["repo"] = repo;
  if (!status.empty()) req["status"] = status;
  int rc = 0;
  auto rows = cmd.Call(req, &rc);
  if (!rows) return rc;
  // Frozen identities first (the kill switch): what a reviewer must know
  // before anything else. Refused (an old daemon): none shown.
  int freeze_rc = 0;
  auto freezes = json ? std::nullopt : cmd.Call({{"cmd", "freezes"}}, &freeze_rc);
  if (freezes && freezes->is_array()) {
    for (const auto& f : *freezes) {
      std::string who = f.value("scope", "") == "all" ? std::string("EVERY AGENT")
                                                       : f.value("scope", "") + " " + f.value("name", "");
      std::printf("FROZEN %s by %s: %s\n", EscapeForTerminal(who).c_str(),
                  EscapeForTerminal(f.value("by", "")).c_str(),
                  EscapeForTerminal(f.value("reason", "")).c_str());
    }
    if (!freezes->empty()) std::printf("\n");
  }
  if (json) {
    std::printf("%s\n", rows->dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    return kExitOk;
  }
  if (rows->empty()) {
    std::printf("no requests\n");
    return kExitOk;
  }
  std::printf("%-6s %-10s %-12s %-32s %-16s %-20s %-5s %s\n", "ID", "STATUS", "REPO", "REF",
              "IDENTITY", "CREATED", "OK", "RULES");
  for (const auto& r : *rows) {
    std::string rules;
    for (const auto& id : r.value("rules", nlohmann::json::array())) {
      if (id.is_string()) rules += (rules.empty() ? "" : ",") + id.get<std::string>();
    }
    std::string status_text = r.value("status", "");
    if (r.value("upstream_moved", false) && status_text == "pending") status_text += "!";
    if (r.value("frozen", false)) status_text += " (frozen)";
    std::string ok = std::to_string(r.value("approvals", 0)) + "/" + std::to_string(r.value("quorum", 1));
    auto text = [&r](const char* key) { return EscapeForTerminal(r.value(key, "")); };
    std::printf("%-6lld %-10s %-12s %-32s %-16s %-20s %-5s %s\n",
                static_cast<long long>(r.value("id", 0LL)), EscapeForTerminal(status_text).c_str(),
                text("repo").c_str(), text("ref").c_str(), text("identity").c_str(),
                text("created").c_str(), ok.c_str(),
                rules.empty() ? "-" : EscapeForTerminal(rules).c_str());
  }
  if (static_cast<int>(rows->size()) == limit) {
    std::printf("(first %d shown; use --limit or --status to see more)\n", limit);
  }
  return kExitOk;
}

}  // namespace
AG_REGISTER_COMMAND(list, "list", "list review requests (pending first)", RunList);
}  // namespace ag::cli
