// The decision of a push: applies a Policy to the ref updates of one push,
// inspecting every commit once (git/inspect.h) and scanning every added line
// and everything else the agent wrote (scan/scanner.h), and returns one
// decision per ref update.
//
// The unit judged is the range the replay would forward: every commit of the
// new tip that upstream lacks (not reachable from refs/agentgate/upstream/*),
// including commits the mirror already holds (pending, rejected or another
// agent's). Every rule, finding, reviewer, quorum and `allow` is decided over
// that whole range. Per-commit results come from a CommitCache when one is
// given, so judging a range again costs lookups, not diffs.
//
// Outcome of a ref update: any block -> block; else any hold -> hold; else any
// allow -> allow; else the policy's default outcome. Built-in checks that no
// policy can switch off: writes under refs/agentgate/ (reserved), a pusher no
// profile matches, and a ref outside the profile's refs are blocked.
//
// Thread-safety: CheckPush is reentrant; the Policy and Scanner are shared
// read-only; the repository handle belongs to the caller's thread.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "git/inspect.h"
#include "policy/policy.h"
#include "scan/scanner.h"

namespace ag::check {

// One reason a rule fired. `detail` never holds a secret: secret findings
// carry the scanner's masked value and fingerprint.
struct Violation {
  std::string rule_id;
  policy::Outcome outcome = policy::Outcome::kHold;
  std::string message;  // the rule's message for the pusher
  std::string path;     // file path, or empty for ref-level rules
  int line = 0;
  std::string commit;
  std::string detail;   // "masked AKIA****", "12.0 MiB > 10.0 MiB", "-> ../../etc/passwd"
};

struct RangeResult;

struct RefDecision {
  git::RefUpdate update;
  policy::Outcome outcome = policy::Outcome::kHold;
  std::vector<Violation> violations;   // every rule that fired, in order
  std::vector<std::string> rules;      // ids of the rules that decided the outcome
  std::vector<scan::Finding> findings; // secrets (masked) in this ref's new commits
  std::vector<scan::SkipNote> notes;   // what was not scanned, and why
  std::vector<std::string> commits;    // new commits of this ref, oldest first
  policy::ReviewRequirement review;    // who may approve (union of holding rules)
  // With a CommitCache: this ref's range as kept for later pushes, and the
  // judged range it was built on (its first `range_base->size` commits).
  std::shared_ptr<const RangeResult> range;
  std::shared_ptr<const RangeResult> range_base;
};

// What one commit brings, against each of its parents, under every rule of
// the policy (the profile filter is applied afterwards, so one result serves
// every pusher). Immutable once built; shared between pushes.
struct CommitResult {
  std::vector<Violation> violations;
  std::vector<scan::Finding> findings;
  std::vector<scan::SkipNote> notes;
  std::vector<std::string> paths;  // changed paths
};

// The range of a judged tip: every commit of it that upstream lacks, under
// one state of upstream's refs, and what those commits bring under every
// rule, so a push on top of a judged tip diffs, reads and walks only its new
// commits. Immutable once built; a range shares the one it extends (`base`).
struct RangeResult {
  std::string tip;
  std::shared_ptr<const RangeResult> base;   // the range this one extends, or null
  std::vector<std::string> own;              // commits not in `base`, oldest first
  std::unordered_set<std::string> own_set;
  size_t size = 0;                           // commits in the whole range
  int depth = 0;                             // bases below this one
  // Over the whole range: violations (at most max_violations_per_rule per
  // rule, all rules), findings and notes; `paths` is left empty.
  CommitResult merged;
  std::unordered_map<std::string, size_t> fired;  // violations per rule, past the cap too
  size_t path_count = 0;                     // changed paths over the range (with repeats)
  std::vector<char> paths_match;             // per policy rule: every changed path applies to it

  bool Contains(const std::string& commit) const;
  std::vector<std::string> Commits() const;  // oldest first

  // The request that recorded exactly this range (the hook sets it once the
  // request is stored, so a push on top stores only its own commits), or 0.
  void SetRecorded(const std::string& repo, int64_t request_id) const;
  int64_t RecordedIn(const std::string& repo) const;

 private:
  mutable std::mutex recorded_mu_;
  mutable std::string recorded_repo_;  // GUARDED_BY(recorded_mu_)
  mutable int64_t recorded_id_ = 0;    // GUARDED_BY(recorded_mu_)
};

// Per-commit results of one policy and rule version. Implementations are
// called from one thread per CheckPush; shared ones lock inside.
class CommitCache {
 public:
  virtual ~CommitCache() = default;
  // The cached result of `commit` (hex), or null.
  virtual std::shared_ptr<const CommitResult> Find(const std::string& commit) = 0;
  // A result just computed.
  virtual void Store(const std::string& commit, std::shared_ptr<const CommitResult> result) = 0;

  // Added after the first version (additions only): judged ranges, keyed by
  // "<tip> <state of upstream's refs>". Default: none kept.
  virtual std::shared_ptr<const RangeResult> FindRange(const std::string& key) { return nullptr; }
  virtual void StoreRange(const std::string& key, std::shared_ptr<const RangeResult> range) {}
};

struct PushContext {
  std::string repo;
  std::string identity;
  std::vector<std::string> groups;
};

struct CheckOptions {
  git::InspectOptions inspect;
  // Stop listing violations of one rule past this many (the count is kept).
  size_t max_violations_per_rule = 50;

  // Added after the first version (additions only):
  // Per-commit results (borrowed, may be null: every commit is diffed).
  CommitCache* cache = nullptr;
  // Commits of rejected requests (hex oid -> request id). A range holding one
  // is held by the built-in rule "rejected-commits", whatever else applies.
  std::unordered_map<std::string, int64_t> rejected_commits;
  // Push options the agent sent: scanned for secrets like everything else.
  std::vector<std::string> push_options;
};

// Decides every update. A non-OK status means the push could not be checked
// (fail closed: the caller refuses the whole push).
Result<std::vector<RefDecision>> CheckPush(git_repository* repo, const policy::Policy& policy,
                                           const scan::Scanner& scanner, const PushContext& ctx,
                                           const std::vector<git::RefUpdate>& updates,
                                           const CheckOptions& options = {});

// True when a symlink at `link_path` pointing at `target` resolves outside
// the repository tree (absolute, or ".." climbing past the root).
bool SymlinkEscapes(std::string_view link_path, std::string_view target);

}  // namespace ag::check
