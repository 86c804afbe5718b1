// `agentgate show ID [--json]`: everything a reviewer needs to decide one
// request, built by agentgate-mirror: who pushed and when, push options, the
// rules that held it, masked findings, approvals so far, every new commit,
// the files changed with a diffstat, and the diff against the upstream value
// the replay will lease on (coloured like `git show` on a terminal).
//
// Nothing the agent wrote reaches the terminal raw (util/display.h): the
// daemon escapes what it reads from git (diff, commit author, email and
// message, paths; control/show.h), and this file escapes every field that
// comes from the store (ref, identity, push options, rules, findings, ...).
#include <CLI/CLI.hpp>
#include <unistd.h>

#include <cstdio>
#include <optional>
#include <string>

#include "cli/command.h"
#include "cli/control_command.h"
#include "util/display.h"

namespace ag::cli {
namespace {

using nlohmann::json;

std::string Str(const json& j, const char* key) {
  return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : std::string();
}

// A field from the store, escaped for the terminal (one line).
std::string Text(const json& j, const char* key) { return EscapeForTerminal(Str(j, key)); }

// A list from the store, escaped, on one line.
std::string Join(const json& list, const char* prefix = "") {
  std::string out;
  if (!list.is_array()) return out;
  for (const auto& v : list) {
    out += out.empty() ? "" : ", ";
    out += prefix;
    out += EscapeForTerminal(v.is_string() ? v.get<std::string>() : v.dump());
  }
  return out;
}

// One finding in one line, raw; the hook stored them masked. The caller
// escapes it.
std::string Finding(const json& f) {
  if (!f.is_object()) return f.dump();
  std::string out = Str(f, "rule");
  if (out.empty()) out = Str(f, "rule_id");
  std::string path = Str(f, "path");
  if (!path.empty()) {
    out += "  " + path;
    if (f.contains("line") && f["line"].is_number()) out += ":" + std::to_string(f["line"].get<int64_t>());
  }
  for (const char* k : {"masked", "match", "secret"}) {
    if (!Str(f, k).empty()) {
      out += "  " + Str(f, k);
      break;
    }
  }
  // Issue 13: a checksum that holds marks a token the provider issued; one
  // that fails a look-alike (held, not blocked). Encoded secrets say so.
  if (Str(f, "checksum") == "valid") out += "  [checksum valid: a real token]";
  if (Str(f, "checksum") == "invalid") out += "  [checksum invalid]";
  if (!Str(f, "encoding").empty()) out += "  [" + Str(f, "encoding") + "-encoded]";
  std::string commit = Str(f, "commit");
  if (!commit.empty()) out += "  (commit " + commit.substr(0, 10) + ")";
  return out.empty() ? f.dump() : out;
}

void PrintDiff(const std::string& diff, bool color) {
  size_t pos = 0;
  while (pos < diff.size()) {
    size_t end = diff.find('\n', pos);
    std::string line = diff.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
    pos = end == std::string::npos ? diff.size() : end + 1;
    const char* on = "";
    if (color) {
      if (line.rfind("diff --git", 0) == 0 || line.rfind("index ", 0) == 0 ||
          line.rfind("--- ", 0) == 0 || line.rfind("+++ ", 0) == 0 ||
          line.rfind("new file", 0) == 0 || line.rfind("deleted file", 0) == 0 ||
          line.rfind("similarity", 0) == 0 || line.rfind("rename ", 0) == 0) {
        on = "\033[1m";
      } else if (line.rfind("@@", 0) == 0) {
        on = "\033[36m";
      } else if (!line.empty() && line[0] == '+') {
        on = "\033[32m";
      } else if (!line.empty() && line[0] == '-') {
        on = "\033[31m";
      }
    }
    if (*on) std::printf("%s%s\033[m\n", on, line.c_str());
    else std::printf("%s\n", line.c_str());
  }
}

void PrintHuman(const json& r, bool color) {
  const char* bold = color ? "\033[1m" : "";
  const char* yellow = color ? "\033[33m" : "";
  const char* off = color ? "\033[m" : "";
  long long id = r.value("id", 0LL);
  std::printf("%srequest %lld%s  %s  (approvals %d of %d)\n", yellow, id, off,
              Text(r, "status").c_str(), r.value("approvals", 0), r.value("quorum", 1));
  if (!Str(r, "status_reason").empty()) {
    std::printf("reason:       %s\n", Text(r, "status_reason").c_str());
  }
  std::printf("repo:         %s\n", Text(r, "repo").c_str());
  std::printf("ref:          %s\n", Text(r, "ref").c_str());
  std::printf("old:          %s\n", Text(r, "old").c_str());
  std::printf("new:          %s\n", Text(r, "new").c_str());
  std::printf("pushed by:    %s%s at %s\n", Text(r, "identity").c_str(),
              Str(r, "method").empty() ? "" : (" (" + Text(r, "method") + ")").c_str(),
              Text(r, "created").c_str());
  std::printf("expires:      %s\n", Text(r, "expires").c_str());
  if (!Str(r, "frozen").empty()) std::printf("FROZEN:       %s\n", Text(r, "frozen").c_str());
  if (r.contains("trailers") && r["trailers"].is_array() && !r["trailers"].empty()) {
    // What the agent said it was doing, in its commits (hook/trailers.h).
    std::printf("trailers:\n");
    for (const auto& t : r["trailers"]) {
      if (!t.is_object()) continue;
      std::printf("  %s: %s  (%s)\n", EscapeForTerminal(t.value("key", "")).c_str(),
                  EscapeForTerminal(t.value("value", "")).c_str(),
                  EscapeForTerminal(t.value("commit", "").substr(0, 12)).c_str());
    }
  }
  if (r.contains("push_options") && !r["push_options"].empty()) {
    std::printf("push options: %s\n", Join(r["push_options"]).c_str());
  }
  std::printf("reviewers:    %s", Join(r.value("review_users", json::array())).c_str());
  std::string groups = Join(r.value("review_groups", json::array()), "group:");
  if (!groups.empty()) std::printf("%s%s", Join(r.value("review_users", json::array())).empty() ? "" : ", ", groups.c_str());
  std::printf("%s\n", r.value("reviewers_default", false) ? " (policy default)" : "");
  if (r.value("upstream_moved", false)) {
    std::printf("%supstream moved since this push: approval is refused; re-push on top of upstream%s\n",
                color ? "\033[31m" : "", off);
  }
  std::printf("\n%srules that held it%s\n", bold, off);
  const json& rules = r.contains("rule_details") ? r["rule_details"] : json::array();
  if (rules.empty()) std::printf("  (none: the policy's default outcome)\n");
  for (const auto& rule : rules) {
    if (rule.is_object()) {
      std::printf("  %s (%s)%s%s\n", Text(rule, "id").c_str(), Text(rule, "outcome").c_str(),
                  Str(rule, "message").empty() ? "" : ": ", Text(rule, "message").c_str());
    } else {
      std::printf("  %s\n", EscapeForTerminal(rule.dump()).c_str());
    }
  }
  const json& findings = r.contains("findings") ? r["findings"] : json::array();
  if (!findings.empty()) {
    std::printf("\n%sfindings (%zu, masked)%s\n", bold, findings.size(), off);
    for (const auto& f : findings) std::printf("  %s\n", EscapeForTerminal(Finding(f)).c_str());
  }
  const json& approvals = r.contains("approval_list") ? r["approval_list"] : json::array();
  if (!approvals.empty()) {
    std::printf("\n%sdecisions so far%s\n", bold, off);
    for (const auto& a : approvals) {
      std::printf("  %s %s at %s%s%s\n", Text(a, "reviewer").c_str(), Text(a, "verdict").c_str(),
                  Text(a, "at").c_str(), Str(a, "comment").empty() ? "" : ": ",
                  Text(a, "comment").c_str());
    }
  }
  if (r.contains("repo_error")) {
    std::printf("\ncannot read the mirror repository: %s\n", Text(r, "repo_error").c_str());
    return;
  }
  const json& commits = r.contains("commits") ? r["commits"] : json::array();
  std::printf("\n%scommits (%zu%s)%s\n", bold, commits.size(),
              r.value("commits_truncated", false) ? ", more not shown" : "", off);
  // Commits and files: author, email, message and paths come escaped from
  // the daemon (control/show.h).
  for (const auto& c : commits) {
    if (c.contains("rejected_in")) {
      std::printf("%s!! REJECTED before, in request %lld: approving this request approves it%s\n", bold,
                  c.value("rejected_in", 0LL), off);
    }
    std::printf("%scommit %s%s\nAuthor: %s <%s>\nDate:   %s\n\n", yellow, Str(c, "id").c_str(), off,
                Str(c, "author").c_str(), Str(c, "email").c_str(), Str(c, "time").c_str());
    std::string msg = Str(c, "message");
    size_t pos = 0;
    while (pos < msg.size()) {
      size_t end = msg.find('\n', pos);
      std::printf("    %s\n", msg.substr(pos, end == std::string::npos ? std::string::npos : end - pos).c_str());
      pos = end == std::string::npos ? msg.size() : end + 1;
    }
    std::printf("\n");
    for (const auto& f : c.value("files", json::array())) {
      std::printf("    %-10s %s | +%lld -%lld\n", Str(f, "status").c_str(), Str(f, "path").c_str(),
                  f.value("additions", 0LL), f.value("deletions", 0LL));
    }
    if (c.value("files_truncated", false)) std::printf("    (more files not listed)\n");
    if (!c.value("files", json::array()).empty()) std::printf("\n");
  }
  const json& files = r.contains("files") ? r["files"] : json::array();
  const json stat = r.value("stat", json::object());
  std::printf("%sfiles (%lld changed, +%lld -%lld)%s\n", bold, stat.value("files", 0LL),
              stat.value("additions", 0LL), stat.value("deletions", 0LL), off);
  for (const auto& f : files) {
    std::string name = Str(f, "path");
    if (!Str(f, "old_path").empty()) name = Str(f, "old_path") + " => " + name;
    if (f.value("binary", false)) {
      std::printf("  %-10s %s | binary\n", Str(f, "status").c_str(), name.c_str());
    } else {
      std::printf("  %-10s %s | +%lld -%lld\n", Str(f, "status").c_str(), name.c_str(),
                  f.value("additions", 0LL), f.value("deletions", 0LL));
    }
  }
  std::string base = Text(r, "diff_base");
  std::printf("\n%sdiff against %s (%s)%s\n", bold, base.empty() ? "the empty tree" : base.c_str(),
              Text(r, "diff_base_note").c_str(), off);
  PrintDiff(Str(r, "diff"), color);  // escaped line by line by the daemon
  if (r.value("diff_truncated", false)) std::printf("(%s)\n", Text(r, "diff_note").c_str());
  if (Str(r, "status") == "pending") {
    std::printf("\napprove: agentgate approve %lld --expect %s\nreject:  agentgate reject %lld --reason TEXT\n",
                id, Text(r, "new").c_str(), id);
  }
}

int RunShow(int argc, char** argv) {
  ControlCommand cmd("show", "Show one request: pusher, rules, findings, commits, files and diff.");
  cmd.AddRequestId();
  bool as_json = false;
  cmd.app().add_flag("--json", as_json, "print JSON");
  if (std::optional<int> done = cmd.Parse(argc, argv)) return *done;
  int rc = 0;
  auto r = cmd.Call({{"cmd", "show"}, {"id", cmd.id()}}, &rc);
  if (!r) return rc;
  if (as_json) {
    std::printf("%s\n", r->dump(2, ' ', false, json::error_handler_t::replace).c_str());
  } else {
    PrintHuman(*r, isatty(STDOUT_FILENO) == 1);
  }
  return kExitOk;
}

}  // namespace
AG_REGISTER_COMMAND(show, "show", "show one request with its commits and diff", RunShow);
}  // namespace ag::cli
