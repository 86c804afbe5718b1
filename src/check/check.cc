#include "check/check.h"

#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>

namespace ag::check {
namespace {

using policy::Outcome;
using policy::Rule;
using policy::RuleKind;

bool AnyMatch(const std::vector<Glob>& globs, std::string_view path) {
  for (const Glob& g : globs) {
    if (g.Matches(path)) return true;
  }
  return false;
}

// A rule's optional `paths` limits it to matching paths (none means all);
// its `except` paths are never its concern.
bool Applies(const Rule* r, std::string_view path) { return r->AppliesToPath(path); }

std::string HumanBytes(uint64_t n) {
  char buf[64];
  if (n >= (1u << 20)) {
    snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(n) / (1u << 20));
  } else if (n >= 1024) {
    snprintf(buf, sizeof buf, "%.1f KiB", static_cast<double>(n) / 1024);
  } else {
    snprintf(buf, sizeof buf, "%llu bytes", static_cast<unsigned long long>(n));
  }
  return buf;
}

std::string DefaultMessage(RuleKind kind) {
  switch (kind) {
    case RuleKind::kProtectedPaths: return "changes a protected path";
    case RuleKind::kDeniedPaths: return "adds a file that must never be committed";
    case RuleKind::kDeletions: return "deletes a file (no deletion without consent)";
    case RuleKind::kConfigChanges: return "changes a configuration file";
    case RuleKind::kNonFastForward: return "rewrites history (force push)";
    case RuleKind::kRefDeletion: return "deletes a ref";
    case RuleKind::kTags: return "pushes a tag";
    case RuleKind::kMaxBlobSize: return "adds a file over the size limit";
    case RuleKind::kMaxCommits: return "brings more commits than the limit";
    case RuleKind::kBinaryFiles: return "adds or changes a binary file";
    case RuleKind::kSymlinks: return "adds or changes a symlink";
    case RuleKind::kSymlinkOutside: return "adds a symlink pointing outside the repository";
    case RuleKind::kSubmodules: return "changes a submodule";
    case RuleKind::kExecutableBit: return "changes a file's executable bit";
    case RuleKind::kSecrets: return "contains a secret";
    case RuleKind::kAllowPaths: return "only touches paths that are auto-approved";
  }
  return "policy rule fired";
}

// Collects, per commit, the file-level violations, secret findings, notes
// and changed paths. Rules are the profile's applicable ones.
class Collector : public git::ChangeVisitor {
 public:
  struct PerCommit {
    std::vector<Violation> violations;
    std::vector<scan::Finding> findings;
    std::vector<scan::SkipNote> notes;
    std::vector<std::string> paths;
  };

  Collector(const std::vector<const Rule*>& rules, const scan::Scanner& scanner,
            const CheckOptions& options)
      : rules_(rules), scanner_(scanner), options_(options) {
    for (const Rule* r : rules_) {
      if (r->kind == RuleKind::kSecrets) secrets_.push_back(r);
    }
  }

  Status OnCommit(const git::CommitInfo& commit) override {
    current_ = &by_commit_[commit.oid];
    return Status::Ok();
  }

  Status OnFile(const git::CommitInfo& commit, const git::FileChange& c) override {
    PerCommit& pc = *current_;
    pc.paths.push_back(c.path);
    bool deleted = c.status == git::FileStatus::kDeleted;
    bool has_blob = !deleted && c.new_mode != git::kModeGitlink;
    for (const Rule* r : rules_) {
      std::string detail;
      bool fired = false;
      if (!Applies(r, c.path)) continue;
      switch (r->kind) {
        case RuleKind::kProtectedPaths:
        case RuleKind::kConfigChanges:
          fired = AnyMatch(r->paths, c.path);
          break;
        case RuleKind::kDeniedPaths:
          fired = !deleted && AnyMatch(r->paths, c.path);
          break;
        case RuleKind::kDeletions:
          fired = deleted;
          break;
        case RuleKind::kMaxBlobSize:
          fired = has_blob && c.new_size > r->limit;
          if (fired) detail = HumanBytes(c.new_size) + " > " + HumanBytes(r->limit);
          break;
        case RuleKind::kBinaryFiles:
          fired = has_blob && c.binary;
          break;
        case RuleKind::kSymlinks:
          fired = !deleted && c.new_mode == git::kModeLink;
          if (fired) detail = "-> " + c.symlink_target.substr(0, 200);
          break;
        case RuleKind::kSymlinkOutside:
          fired = !deleted && c.new_mode == git::kModeLink && SymlinkEscapes(c.path, c.symlink_target);
          if (fired) detail = "-> " + c.symlink_target.substr(0, 200);
          break;
        case RuleKind::kSubmodules:
          fired = c.old_mode == git::kModeGitlink || c.new_mode == git::kModeGitlink;
          break;
        case RuleKind::kExecutableBit:
          fired = (c.status == git::FileStatus::kModified) && c.old_mode != 0 && c.new_mode != 0 &&
                  c.old_mode != git::kModeLink && c.new_mode != git::kModeLink &&
                  c.old_mode != git::kModeGitlink && c.new_mode != git::kModeGitlink &&
                  ((c.old_mode == git::kModeExec) != (c.new_mode == git::kModeExec));
          if (fired) {
            char buf[48];
            snprintf(buf, sizeof buf, "%o -> %o", c.old_mode, c.new_mode);
            detail = buf;
          }
          break;
        default:
          break;  // ref-level kinds and secrets are handled elsewhere
      }
      if (fired) Add(pc, r, c.path, 0, commit.oid, detail);
    }
    if (!secrets_.empty() && has_blob) AG_RETURN_IF_ERROR(Scan(pc, commit, c));
    return Status::Ok();
  }

  const PerCommit* Find(const std::string& oid) const {
    auto it = by_commit_.find(oid);
    return it == by_commit_.end() ? nullptr : &it->second;
  }

 private:
  Status Scan(PerCommit& pc, const git::CommitInfo& commit, const git::FileChange& c) {
    if (c.new_mode == git::kModeLink) return Status::Ok();
    if (c.lines_skipped || c.binary) {
      pc.notes.push_back({c.path, c.binary ? "binary: not scanned"
                                           : "larger than " + HumanBytes(options_.inspect.max_diff_blob_bytes) +
                                                 ": not scanned"});
      return Status::Ok();
    }
    if (c.added.empty()) return Status::Ok();
    std::vector<scan::Line> lines;
    lines.reserve(c.added.size());
    for (const git::AddedLine& l : c.added) lines.push_back({l.number, l.text});
    std::vector<scan::Finding> found;
    std::vector<scan::SkipNote> skipped;
    AG_RETURN_IF_ERROR(scanner_.ScanCommitLines(commit.oid, c.path, lines, &found, &skipped)
                           .WithContext("secret scan of " + c.path + " in " + commit.oid.substr(0, 12)));
    pc.notes.insert(pc.notes.end(), skipped.begin(), skipped.end());
    for (scan::Finding& f : found) {
      for (const Rule* r : secrets_) {
        if (!Applies(r, c.path)) continue;
        if (f.allowed_inline) continue;
        Add(pc, r, f.path, f.line, commit.oid,
            f.rule_id + " " + f.masked + " (fingerprint " + f.fingerprint.substr(0, 12) + ")");
      }
      pc.findings.push_back(std::move(f));
    }
    return Status::Ok();
  }

  void Add(PerCommit& pc, const Rule* r, const std::string& path, int line,
           const std::string& commit, std::string detail) {
    size_t& n = fired_[r->id];
    ++n;
    if (n > options_.max_violations_per_rule) return;
    pc.violations.push_back({r->id, r->outcome, r->message.empty() ? DefaultMessage(r->kind) : r->message,
                             path, line, commit, std::move(detail)});
  }

  const std::vector<const Rule*>& rules_;
  std::vector<const Rule*> secrets_;
  const scan::Scanner& scanner_;
  const CheckOptions& options_;
  std::unordered_map<std::string, PerCommit> by_commit_;
  std::unordered_map<std::string, size_t> fired_;
  PerCommit* current_ = nullptr;
};

Violation Builtin(const char* id, std::string message) {
  return {id, Outcome::kBlock, std::move(message), "", 0, "", ""};
}

void Decide(RefDecision* d, const policy::Policy& policy) {
  Outcome worst = Outcome::kAllow;
  bool any = false;
  for (const Violation& v : d->violations) {
    if (!any || v.outcome > worst) worst = v.outcome;
    any = true;
  }
  d->outcome = any ? worst : policy.default_outcome;
  std::set<std::string> seen;
  for (const Violation& v : d->violations) {
    if (v.outcome == d->outcome && seen.insert(v.rule_id).second) d->rules.push_back(v.rule_id);
  }
  if (!any) d->rules.push_back("default");
}

void AddReview(policy::ReviewRequirement* into, const policy::ReviewRequirement& r) {
  for (const auto& u : r.users) {
    if (std::find(into->users.begin(), into->users.end(), u) == into->users.end()) into->users.push_back(u);
  }
  for (const auto& g : r.groups) {
    if (std::find(into->groups.begin(), into->groups.end(), g) == into->groups.end()) into->groups.push_back(g);
  }
  into->quorum = std::max(into->quorum, r.quorum);
}

}  // namespace

bool SymlinkEscapes(std::string_view link_path, std::string_view target) {
  if (target.empty()) return false;
  if (target.front() == '/') return true;
  // Depth of the folder holding the link, then walk the target's components.
  int depth = static_cast<int>(std::count(link_path.begin(), link_path.end(), '/'));
  size_t pos = 0;
  while (pos <= target.size()) {
    size_t end = target.find('/', pos);
    if (end == std::string_view::npos) end = target.size();
    std::string_view part = target.substr(pos, end - pos);
    if (part == "..") {
      if (--depth < 0) return true;
    } else if (!part.empty() && part != ".") {
      ++depth;
    }
    pos = end + 1;
  }
  return false;
}

Result<std::vector<RefDecision>> CheckPush(git_repository* repo, const policy::Policy& policy,
                                           const scan::Scanner& scanner, const PushContext& ctx,
                                           const std::vector<git::RefUpdate>& updates,
                                           const CheckOptions& options) {
  const policy::Profile* profile = policy.ProfileFor(ctx.identity, ctx.groups, ctx.repo);
  std::vector<const Rule*> rules;
  if (profile) {
    for (const Rule& r : policy.rules) {
      if (profile->rules.empty() ||
          std::find(profile->rules.begin(), profile->rules.end(), r.id) != profile->rules.end()) {
        rules.push_back(&r);
      }
    }
  }

  // Peel every new tip; the walk covers all of them at once.
  std::vector<RefDecision> out(updates.size());
  std::vector<std::string> tips(updates.size());
  for (size_t i = 0; i < updates.size(); ++i) {
    out[i].update = updates[i];
    if (updates[i].is_delete()) continue;
    Result<std::string> peeled = git::PeelToCommit(repo, updates[i].new_oid);
    if (!peeled.ok()) {
      if (peeled.status().code() != Code::kNotFound) return peeled.status();
      out[i].violations.push_back(Builtin("not-a-commit", "the pushed object is not a commit"));
      continue;
    }
    tips[i] = *peeled;
  }
  std::vector<std::string> walk_tips;
  for (const std::string& t : tips) {
    if (!t.empty()) walk_tips.push_back(t);
  }

  Collector collector(rules, scanner, options);
  std::vector<git::CommitInfo> commits;
  if (profile) {
    git::InspectOptions inspect = options.inspect;
    for (const git::RefUpdate& u : updates) inspect.boundary_refs.push_back(u.ref_name);
    git::Inspector inspector(repo, inspect);
    AG_RETURN_IF_ERROR(inspector.Walk(walk_tips, &collector, &commits));
  }
  std::unordered_map<std::string, size_t> index;
  for (size_t i = 0; i < commits.size(); ++i) index[commits[i].oid] = i;

  for (size_t i = 0; i < updates.size(); ++i) {
    RefDecision& d = out[i];
    const git::RefUpdate& u = updates[i];
    // Built-in checks, before any policy rule.
    if (u.ref_name.rfind("refs/agentgate/", 0) == 0) {
      d.violations.push_back(Builtin("reserved-ref", "refs/agentgate/ is written by agentgate only"));
    }
    if (!profile) {
      d.violations.push_back(Builtin("no-profile", "no policy profile matches identity '" +
                                                       ctx.identity + "'"));
    } else if (!AnyMatch(profile->refs, u.ref_name)) {
      d.violations.push_back(Builtin("ref-not-allowed", "profile '" + profile->name +
                                                            "' may not push " + u.ref_name));
    }

    // This ref's new commits: those of the walk reachable from its tip.
    if (!tips[i].empty() && index.count(tips[i])) {
      std::vector<char> seen(commits.size(), 0);
      std::vector<size_t> stack = {index[tips[i]]};
      while (!stack.empty()) {
        size_t c = stack.back();
        stack.pop_back();
        if (seen[c]) continue;
        seen[c] = 1;
        for (const std::string& p : commits[c].parents) {
          auto it = index.find(p);
          if (it != index.end() && !seen[it->second]) stack.push_back(it->second);
        }
      }
      for (size_t c = 0; c < commits.size(); ++c) {
        if (seen[c]) d.commits.push_back(commits[c].oid);
      }
    }

    std::vector<std::string> changed_paths;
    for (const Rule* r : rules) {
      bool fired = false;
      std::string detail;
      switch (r->kind) {
        case RuleKind::kRefDeletion:
          fired = u.is_delete();
          break;
        case RuleKind::kTags:
          fired = u.ref_name.rfind("refs/tags/", 0) == 0;
          break;
        case RuleKind::kNonFastForward:
          if (!u.is_create() && !u.is_delete() && !tips[i].empty()) {
            Result<std::string> old_commit = git::PeelToCommit(repo, u.old_oid);
            if (old_commit.ok()) {
              AG_ASSIGN_OR_RETURN(bool ff, git::IsFastForward(repo, *old_commit, tips[i]));
              fired = !ff;
            }
          }
          break;
        case RuleKind::kMaxCommits:
          fired = d.commits.size() > r->limit;
          if (fired) detail = std::to_string(d.commits.size()) + " > " + std::to_string(r->limit);
          break;
        default:
          break;
      }
      if (fired) {
        d.violations.push_back({r->id, r->outcome,
                                r->message.empty() ? DefaultMessage(r->kind) : r->message, "", 0,
                                "", detail});
      }
    }

    for (const std::string& c : d.commits) {
      const Collector::PerCommit* pc = collector.Find(c);
      if (!pc) continue;
      d.violations.insert(d.violations.end(), pc->violations.begin(), pc->violations.end());
      d.findings.insert(d.findings.end(), pc->findings.begin(), pc->findings.end());
      d.notes.insert(d.notes.end(), pc->notes.begin(), pc->notes.end());
      changed_paths.insert(changed_paths.end(), pc->paths.begin(), pc->paths.end());
    }

    // allow_paths: every changed path of this ref matches (and there is one).
    for (const Rule* r : rules) {
      if (r->kind != RuleKind::kAllowPaths || changed_paths.empty()) continue;
      bool all = std::all_of(changed_paths.begin(), changed_paths.end(),
                             [&](const std::string& p) { return r->AppliesToPath(p); });
      if (all) {
        d.violations.push_back({r->id, r->outcome,
                                r->message.empty() ? DefaultMessage(r->kind) : r->message, "", 0,
                                "", std::to_string(changed_paths.size()) + " paths"});
      }
    }

    Decide(&d, policy);
    if (d.outcome == Outcome::kHold) {
      for (const Violation& v : d.violations) {
        if (v.outcome != Outcome::kHold) continue;
        if (const Rule* r = policy.FindRule(v.rule_id)) AddReview(&d.review, r->review);
      }
    }
  }
  return out;
}

}  // namespace ag::check
