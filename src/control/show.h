// What a reviewer sees of one request (`agentgate show ID`), built on the
// daemon side from the store and the mirror repository: who pushed, when,
// push options, every new commit with its message, the files changed with a
// diffstat, the masked findings, the rules that held it, the approvals so
// far, and the unified diff.
//
// The diff base is what the replay will lease on: the request's
// upstream_base. For a new branch (zero base) it is the merge-base of the new
// tip with upstream's default branch (refs/agentgate/upstream/heads/<HEAD's
// branch>), or the empty tree when there is none; new commits are then those
// not reachable from any refs/agentgate/upstream/* ref.
//
// What is read from git (the diff, each commit's author, email and message,
// file paths) is returned as display text, escaped by util/display.h (the
// diff and messages line by line, newlines kept): the agent wrote those
// bytes, they need not be UTF-8, and every consumer shows them to a human.
// Fields from the store (ref, identity, push options, rules, findings,
// notes, approvals) are returned as stored; whoever prints them escapes them.
//
// Thread-safety: plain functions; each call opens its own repository.
#pragma once

#include <cstddef>
#include <string>

#include <nlohmann/json.hpp>

#include "review/workflow.h"
#include "store/db.h"
#include "store/requests.h"

namespace ag::control {

struct ShowOptions {
  size_t max_diff_bytes = 2u << 20;  // the diff is cut here, with a note. Default 2 MiB.
  size_t max_commits = 500;          // commits listed. Default 500.
  size_t max_files = 2000;           // files in the diffstat. Default 2000.
  size_t max_files_per_commit = 100;  // files listed under each commit. Default 100.
};

// The summary row `list` returns for `r` (approvals: distinct approvals so far).
nlohmann::json Summary(const store::Request& r, int approvals);

// Everything `show` returns. A repository that cannot be read is reported in
// "repo_error" rather than failing the whole answer.
Result<nlohmann::json> BuildShow(store::Db& db, const review::ReviewSettings& settings,
                                 const store::Request& r, const ShowOptions& options);

}  // namespace ag::control
