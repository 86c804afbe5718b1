// The policy model: who may push which refs, and the rules that decide each
// ref update's outcome (block / hold / allow). Loaded from YAML (see
// docs/policy.md and policies/default.yaml), validated once, then immutable.
//
// Thread-safety: a loaded Policy is immutable; share it as
// shared_ptr<const Policy> and read it from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/glob.h"
#include "util/status.h"

namespace ag::policy {

// Ordered by severity: combining outcomes takes the maximum.
enum class Outcome { kAllow = 0, kHold = 1, kBlock = 2 };
std::string_view OutcomeName(Outcome o);                 // "allow", "hold", "block"
std::optional<Outcome> ParseOutcome(std::string_view s);  // inverse

enum class RuleKind {
  kProtectedPaths,  // a changed path (added, modified, deleted, renamed) matches `paths`
  kDeniedPaths,     // an added or modified path matches `paths`
  kDeletions,       // a deleted file matches `paths` (default "**")
  kConfigChanges,   // a changed path matches `paths` (config files)
  kNonFastForward,  // the update is not a fast-forward (force push)
  kRefDeletion,     // the update deletes a ref
  kTags,            // the update touches refs/tags/*
  kMaxBlobSize,     // a new blob is larger than `limit` bytes
  kMaxCommits,      // the update brings more than `limit` new commits
  kBinaryFiles,     // a new or changed blob is binary (NUL in the first 8000 bytes)
  kSymlinks,        // a symlink is added or changed
  kSymlinkOutside,  // a symlink's target leaves the tree (absolute, or ".." past the root)
  kSubmodules,      // a gitlink (submodule) is added, changed or removed
  kExecutableBit,   // a file's executable bit is set or cleared
  kSecrets,         // the secret scanner found something in an added line or new blob
  kAllowPaths,      // every changed path matches `paths` (used with outcome allow)
};
std::string_view RuleKindName(RuleKind k);  // the YAML spelling, e.g. "protected_paths"
std::optional<RuleKind> ParseRuleKind(std::string_view s);

// Who may approve an update held by a rule. Empty users and groups mean "the
// policy's default reviewers".
struct ReviewRequirement {
  std::vector<std::string> users;   // Unix account names
  std::vector<std::string> groups;  // Unix group names
  int quorum = 1;                   // distinct approvals needed; >= 1
};

struct Rule {
  std::string id;           // unique within the policy, [a-z0-9._-]+
  RuleKind kind = RuleKind::kProtectedPaths;
  Outcome outcome = Outcome::kHold;
  std::string message;      // shown to the pusher and the reviewer
  std::vector<Glob> paths;  // path filters for the kinds that take them
  uint64_t limit = 0;       // kMaxBlobSize: bytes; kMaxCommits: count
  ReviewRequirement review;
  int line = 0;             // 1-based position in the policy file
  std::vector<Glob> except_paths;  // YAML `except`: paths the rule ignores

  // True when the rule looks at `path`: `paths` is empty or one matches, and
  // no `except` pattern matches. For kAllowPaths, every changed path must
  // pass. Kinds that are not about paths (refs, commit counts) ignore it.
  bool AppliesToPath(std::string_view path) const;
};

// A profile says who it applies to, which refs they may push and which rules
// apply. The first profile that matches a pusher wins.
struct Profile {
  std::string name;
  std::vector<Glob> identities;  // identity globs ("agent-*", "local:*"); empty = any
  std::vector<std::string> groups;  // matches if the pusher is in any; empty = any
  std::vector<Glob> repos;          // repo name globs; empty = any
  std::vector<Glob> refs;           // refs it may push; default {"refs/heads/agent/**"}
  std::vector<std::string> rules;   // rule ids that apply; empty = every rule

  // True when one of `refs` matches `ref_name` (e.g. "refs/heads/agent/x").
  bool MayPush(std::string_view ref_name) const;
};

struct SecretsOptions {
  std::vector<std::string> rule_files;  // extra rule packs (YAML or gitleaks TOML), resolved
                                        // relative to the policy file
  bool builtin_rules = true;
  bool honor_inline_allow = false;      // agents can write allow markers: off by default
  uint64_t max_blob_bytes = 10u << 20;  // larger blobs are skipped with a note
};

struct Policy {
  std::string path;  // the file it was loaded from
  Outcome default_outcome = Outcome::kHold;  // for an accepted update no rule decided
  std::vector<Rule> rules;
  std::vector<Profile> profiles;
  ReviewRequirement reviewers;  // default reviewers
  // Who may thaw what reviewers froze (`agentgate thaw`), besides root and
  // the daemon's account: users and groups (quorum unused). YAML `admins`.
  ReviewRequirement admins;
  SecretsOptions secrets;
  std::chrono::seconds request_ttl{72 * 3600};  // pending requests expire after this

  // The first profile matching the pusher, or nullptr (the push is then
  // refused: nobody unknown may push).
  const Profile* ProfileFor(std::string_view identity, const std::vector<std::string>& groups,
                            std::string_view repo) const;
  // The rule with this id, or nullptr.
  const Rule* FindRule(std::string_view id) const;
  // The rules that apply to pushes under `profile`, in policy file order.
  // The pointers live as long as this Policy.
  std::vector<const Rule*> RulesFor(const Profile& profile) const;
};

// One problem found while loading, with a 1-based position.
struct Problem {
  std::string file;
  int line = 0;
  int column = 0;
  std::string message;
  std::string ToString() const;  // "FILE:LINE:COL: message"
};

// Loads and validates a policy file. On failure returns InvalidArgument whose
// message is every problem, one "FILE:LINE:COL: message" per line; `problems`
// (optional) receives them as values.
Result<std::shared_ptr<const Policy>> LoadPolicy(const std::string& path,
                                                 std::vector<Problem>* problems = nullptr);
// Same, from text (file name used in messages only).
Result<std::shared_ptr<const Policy>> ParsePolicy(std::string_view yaml, const std::string& file,
                                                  std::vector<Problem>* problems = nullptr);

}  // namespace ag::policy
