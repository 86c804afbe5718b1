#include "check/check.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>

#include "git/symlink.h"
#include "util/crypto.h"
#include "util/display.h"

namespace ag::check {
namespace {

// The key violations are capped by (max_violations_per_rule): a rule and an
// outcome. A rule's violations may differ in outcome (a secret whose
// checksum fails is held, one that holds blocks): counted together, enough
// held ones would push the blocking one past the cap, and the push would be
// held where it must be refused.
std::string CapKey(const std::string& rule_id, policy::Outcome outcome) {
  return rule_id + '\0' + std::to_string(static_cast<int>(outcome));
}

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

// Built-in per-commit rule: invisible or bidirectional Unicode in what the
// agent wrote makes a reviewer read something else than what is there
// ("Trojan Source"), so it always needs a human.
constexpr const char* kHiddenUnicode = "hidden-unicode";

// Collects, per commit, the file-level violations, secret findings, notes
// and changed paths under every rule of the policy; commits found in the
// cache are not diffed again.
class Collector : public git::ChangeVisitor {
 public:
  using PerCommit = CommitResult;

  Collector(git_repository* repo, const std::vector<const Rule*>& rules,
            const scan::Scanner& scanner, const CheckOptions& options)
      : repo_(repo), rules_(rules), scanner_(scanner), options_(options) {
    for (const Rule* r : rules_) {
      if (r->kind == RuleKind::kSecrets) secrets_.push_back(r);
      if (r->kind == RuleKind::kSymlinkOutside) link_rules_.push_back(r);
    }
  }

  Status OnCommit(const git::CommitInfo& commit) override {
    Flush();  // the previous commit was seen whole
    if (options_.cache) {
      if (std::shared_ptr<const PerCommit> hit = options_.cache->Find(commit.oid)) {
        by_commit_[commit.oid] = std::move(hit);
        current_ = nullptr;
        return Status::Ok();
      }
    }
    fresh_ = std::make_shared<PerCommit>();
    fresh_oid_ = commit.oid;
    current_ = fresh_.get();
    links_checked_ = false;
    by_commit_[commit.oid] = fresh_;
    fired_.clear();
    // The message and the author are the agent's words too.
    AG_RETURN_IF_ERROR(ScanWords(*current_, commit, "(commit message)", commit.message));
    AG_RETURN_IF_ERROR(ScanWords(*current_, commit, "(commit author)", commit.author));
    return Status::Ok();
  }

  bool WantsChanges(const git::CommitInfo& commit) override {
    if (current_) return true;
    return false;  // cached
  }

  // Hands the last diffed commit, seen whole, to the cache. Called by
  // OnCommit and once after a walk that succeeded.
  void Flush() {
    if (options_.cache && fresh_) options_.cache->Store(fresh_oid_, fresh_);
    fresh_.reset();
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
          if (fired) detail = "-> " + scan::Mask(c.symlink_target);
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
    if (!deleted && c.new_mode == git::kModeLink && !links_checked_ && !link_rules_.empty()) {
      links_checked_ = true;
      AG_RETURN_IF_ERROR(CheckAllLinks(pc, commit));
    }
    // A file name and a symlink target are written by the agent as well.
    AG_RETURN_IF_ERROR(ScanWords(pc, commit, "(file name)", c.path));
    if (!deleted && c.new_mode == git::kModeLink) {
      AG_RETURN_IF_ERROR(ScanWords(pc, commit, c.path + " (symlink target)", c.symlink_target));
    }
    for (const git::AddedLine& l : c.added) {
      if (HasHiddenUnicode(l.text)) AddHidden(pc, c.path, l.number, commit.oid);
    }
    if (!secrets_.empty() && has_blob) AG_RETURN_IF_ERROR(Scan(pc, commit, c));
    return Status::Ok();
  }

  const PerCommit* Find(const std::string& oid) const {
    auto it = by_commit_.find(oid);
    return it == by_commit_.end() ? nullptr : it->second.get();
  }

  // Scans words the agent wrote outside a file's lines (a message, a name, a
  // target, a push option) as a one-line file named `where`.
  Status ScanWords(PerCommit& pc, const git::CommitInfo& commit, const std::string& where,
                   std::string_view text) {
    if (text.empty()) return Status::Ok();
    std::vector<scan::Line> lines;
    int n = 0;
    size_t pos = 0;
    while (pos <= text.size()) {
      size_t end = text.find('\n', pos);
      if (end == std::string_view::npos) end = text.size();
      lines.push_back({++n, text.substr(pos, end - pos)});  // views into `text`
      pos = end + 1;
    }
    for (const scan::Line& l : lines) {
      if (HasHiddenUnicode(l.text)) AddHidden(pc, where, l.number, commit.oid);
    }
    if (secrets_.empty()) return Status::Ok();
    std::vector<scan::Finding> found;
    AG_RETURN_IF_ERROR(scanner_.ScanLines(where, lines, &found)
                           .WithContext("secret scan of " + where + " in " + commit.oid.substr(0, 12)));
    for (scan::Finding& f : found) f.commit = commit.oid;
    Record(pc, commit, where, std::move(found));
    return Status::Ok();
  }

 private:
  // A commit that adds or changes a link can make any link of its tree leave
  // the tree (a chain of folder links), so every link of the tree is resolved
  // through the others, as a checkout would.
  Status CheckAllLinks(PerCommit& pc, const git::CommitInfo& commit) {
    AG_ASSIGN_OR_RETURN(git_oid id, git::ParseOid(commit.oid));
    git_commit* c = nullptr;
    int rc = git_commit_lookup(&c, repo_, &id);
    git::CommitPtr owner(c);
    if (rc != 0) return git::GitStatus(rc, "cannot read commit " + commit.oid);
    git_tree* t = nullptr;
    rc = git_commit_tree(&t, c);
    git::TreePtr tree(t);
    if (rc != 0) return git::GitStatus(rc, "cannot read the tree of " + commit.oid);
    struct Link {
      std::string path;
      git_oid blob;
    };
    std::vector<Link> links;
    auto collect = [](const char* root, const git_tree_entry* e, void* payload) -> int {
      if (git_tree_entry_filemode(e) == GIT_FILEMODE_LINK) {
        static_cast<std::vector<Link>*>(payload)->push_back(
            {std::string(root) + git_tree_entry_name(e), *git_tree_entry_id(e)});
      }
      return 0;
    };
    rc = git_tree_walk(t, GIT_TREEWALK_PRE, collect, &links);
    if (rc != 0) return git::GitStatus(rc, "cannot list the links of " + commit.oid);
    for (const Link& l : links) {
      git_blob* b = nullptr;
      rc = git_blob_lookup(&b, repo_, &l.blob);
      git::BlobPtr blob(b);
      if (rc != 0) return git::GitStatus(rc, "cannot read link " + l.path);
      std::string target(static_cast<const char*>(git_blob_rawcontent(b)), git_blob_rawsize(b));
      AG_ASSIGN_OR_RETURN(bool escapes, git::SymlinkEscapesTree(repo_, t, l.path, target));
      if (!escapes) continue;
      for (const Rule* r : link_rules_) {
        if (Applies(r, l.path)) Add(pc, r, l.path, 0, commit.oid, "-> " + scan::Mask(target));
      }
    }
    return Status::Ok();
  }

  Status Scan(PerCommit& pc, const git::CommitInfo& commit, const git::FileChange& c) {
    if (c.new_mode == git::kModeLink) return Status::Ok();
    {
      // Files reported by name (a key store), binary or not.
      std::vector<scan::Finding> by_name;
      scanner_.ScanPath(c.path, &by_name);
      for (scan::Finding& f : by_name) f.commit = commit.oid;
      if (!by_name.empty()) Record(pc, commit, c.path, std::move(by_name));
    }
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
    // A file with more findings than the scanner keeps was not read to its
    // end: what it holds further down is unknown, and a human must not be
    // asked to wave through the hundreds listed (a real token could follow
    // a thousand made-up ones). Refused.
    bool truncated = false;
    for (const scan::SkipNote& n : skipped) truncated = truncated || n.reason.rfind(scan::kSkipReasonTruncatedPrefix, 0) == 0;
    pc.notes.insert(pc.notes.end(), skipped.begin(), skipped.end());
    Record(pc, commit, c.path, std::move(found));
    if (truncated) {
      for (const Rule* r : secrets_)
        if (Applies(r, c.path))
          Add(pc, r, c.path, 0, commit.oid, "too many findings to read the whole file: refused",
              Outcome::kBlock);
    }
    return Status::Ok();
  }

  void Record(PerCommit& pc, const git::CommitInfo& commit, const std::string& path,
              std::vector<scan::Finding> found) {
    for (scan::Finding& f : found) {
      for (const Rule* r : secrets_) {
        if (!Applies(r, path)) continue;
        if (f.allowed_inline) continue;
        std::string detail = f.rule_id + " " + f.masked;
        if (!f.encoding.empty()) detail += " (" + f.encoding + "-encoded)";
        // A token whose checksum fails has the shape but is not one the
        // provider issued (a typo, a made-up or test value): a human looks
        // at it instead of the push being refused outright.
        std::optional<Outcome> outcome;
        if (f.checksum == scan::Finding::Checksum::kValid) detail += " (checksum valid)";
        if (f.checksum == scan::Finding::Checksum::kInvalid) {
          detail += " (checksum invalid: held, not blocked)";
          if (r->outcome == Outcome::kBlock) outcome = Outcome::kHold;
        }
        Add(pc, r, f.path, f.line, commit.oid,
            detail + " (fingerprint " + f.fingerprint.substr(0, 12) + ")", outcome);
      }
      pc.findings.push_back(std::move(f));
    }
  }

  void AddHidden(PerCommit& pc, const std::string& path, int line, const std::string& commit) {
    if (++fired_[kHiddenUnicode] > options_.max_violations_per_rule) return;
    pc.violations.push_back({kHiddenUnicode, Outcome::kHold,
                             "invisible or bidirectional Unicode: the text does not read as it shows",
                             path, line, commit, ""});
  }

  void Add(PerCommit& pc, const Rule* r, const std::string& path, int line,
           const std::string& commit, std::string detail,
           std::optional<Outcome> outcome = std::nullopt) {
    size_t& n = fired_[CapKey(r->id, outcome.value_or(r->outcome))];
    ++n;
    if (n > options_.max_violations_per_rule) return;
    pc.violations.push_back({r->id, outcome.value_or(r->outcome),
                             r->message.empty() ? DefaultMessage(r->kind) : r->message, path, line,
                             commit, std::move(detail)});
  }

  git_repository* repo_;
  const std::vector<const Rule*>& rules_;
  std::vector<const Rule*> secrets_;
  std::vector<const Rule*> link_rules_;  // symlink_outside
  bool links_checked_ = false;           // for the commit being diffed
  const scan::Scanner& scanner_;
  const CheckOptions& options_;
  std::unordered_map<std::string, std::shared_ptr<const PerCommit>> by_commit_;
  std::unordered_map<std::string, size_t> fired_;  // per commit
  std::shared_ptr<PerCommit> fresh_;               // the commit being diffed, if not cached
  std::string fresh_oid_;
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

// Scans the annotated tag `oid` points at (and the tags it points at, at
// most a few levels deep): what the agent wrote in them.
Status ScanTags(git_repository* repo, const std::string& oid, Collector* collector,
                Collector::PerCommit* out) {
  constexpr int kMaxTagDepth = 16;
  AG_ASSIGN_OR_RETURN(git_oid id, git::ParseOid(oid));
  for (int depth = 0; depth < kMaxTagDepth; ++depth) {
    git_object* o = nullptr;
    int rc = git_object_lookup(&o, repo, &id, GIT_OBJECT_ANY);
    git::ObjectPtr owner(o);
    if (rc != 0) return git::GitStatus(rc, "cannot read object " + git::OidHex(id));
    if (git_object_type(o) != GIT_OBJECT_TAG) return Status::Ok();
    auto* tag = reinterpret_cast<git_tag*>(o);
    git::CommitInfo info;
    info.oid = git::OidHex(id);
    const char* name = git_tag_name(tag);
    const char* message = git_tag_message(tag);
    AG_RETURN_IF_ERROR(collector->ScanWords(*out, info, "(tag name)", name ? name : ""));
    AG_RETURN_IF_ERROR(collector->ScanWords(*out, info, "(tag message)", message ? message : ""));
    if (const git_signature* t = git_tag_tagger(tag)) {
      AG_RETURN_IF_ERROR(collector->ScanWords(*out, info, "(tagger)",
                                              std::string(t->name ? t->name : "") + " <" +
                                                  (t->email ? t->email : "") + ">"));
    }
    id = *git_tag_target_id(tag);
  }
  return Status::FailedPrecondition("tags nested more than 16 deep");
}

// The state of upstream's refs the walk hides (kUpstreamRefsGlob): a hash of
// every name and the commit it points at, read as libgit2's revwalk reads them.
Result<std::string> UpstreamState(git_repository* repo) {
  git_reference_iterator* it = nullptr;
  int rc = git_reference_iterator_glob_new(&it, repo, git::kUpstreamRefsGlob);
  if (rc != 0) return git::GitStatus(rc, "cannot list upstream's refs");
  std::vector<std::string> lines;
  const char* name = nullptr;
  while ((rc = git_reference_next_name(&name, it)) == 0) {
    git_oid id;
    std::string line = name;
    if (git_reference_name_to_id(&id, repo, name) == 0) line += " " + git::OidHex(id);
    lines.push_back(std::move(line));
  }
  git_reference_iterator_free(it);
  if (rc != GIT_ITEROVER) return git::GitStatus(rc, "cannot list upstream's refs");
  std::sort(lines.begin(), lines.end());
  std::string all;
  for (const std::string& l : lines) all += l + "\n";
  return Sha256Hex(all).substr(0, 32);
}

// Ranges chain through their bases; past this depth a new range is stored
// flat, so Contains and Commits stay cheap.
constexpr int kMaxRangeDepth = 32;

}  // namespace

bool RangeResult::Contains(const std::string& commit) const {
  for (const RangeResult* r = this; r; r = r->base.get()) {
    if (r->own_set.count(commit)) return true;
  }
  return false;
}

void RangeResult::SetRecorded(const std::string& repo, int64_t request_id) const {
  std::lock_guard<std::mutex> lock(recorded_mu_);
  recorded_repo_ = repo;
  recorded_id_ = request_id;
}

int64_t RangeResult::RecordedIn(const std::string& repo) const {
  std::lock_guard<std::mutex> lock(recorded_mu_);
  return recorded_repo_ == repo ? recorded_id_ : 0;
}

std::vector<std::string> RangeResult::Commits() const {
  std::vector<const RangeResult*> chain;
  for (const RangeResult* r = this; r; r = r->base.get()) chain.push_back(r);
  std::vector<std::string> out;
  out.reserve(size);
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) out.insert(out.end(), (*it)->own.begin(), (*it)->own.end());
  return out;
}

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

namespace {

// One judgement of the push. With `use_ranges`, the walk may stop at tips
// judged before (their RangeResult, under the same state of upstream's refs)
// and each ref's range is that result plus the new commits; a ref reaching
// two judged ranges neither of which holds the other sets *retry (the caller
// judges again without ranges, so a commit is never counted twice). Either
// way, with a cache, each tip's range is kept for the pushes on top of it.
Result<std::vector<RefDecision>> CheckPushOnce(git_repository* repo, const policy::Policy& policy,
                                               const scan::Scanner& scanner, const PushContext& ctx,
                                               const std::vector<git::RefUpdate>& updates,
                                               const CheckOptions& options, bool use_ranges,
                                               bool* retry) {
  const policy::Profile* profile = policy.ProfileFor(ctx.identity, ctx.groups, ctx.repo);
  // Per-commit results are computed under every rule, so one cached result
  // serves every pusher; the profile's subset is applied per ref below.
  std::vector<const Rule*> all_rules;
  for (const Rule& r : policy.rules) all_rules.push_back(&r);
  std::vector<const Rule*> rules;
  std::set<std::string> in_profile;
  if (profile) {
    for (const Rule& r : policy.rules) {
      if (profile->rules.empty() ||
          std::find(profile->rules.begin(), profile->rules.end(), r.id) != profile->rules.end()) {
        rules.push_back(&r);
        in_profile.insert(r.id);
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

  // Judged ranges apply under the state of upstream's refs they were judged
  // in; a state that moves during this check stores none.
  bool keep_ranges = options.cache && profile;
  use_ranges = use_ranges && keep_ranges;
  std::string upstream_state;
  if (keep_ranges) {
    AG_ASSIGN_OR_RETURN(upstream_state, UpstreamState(repo));
  }
  std::unordered_map<std::string, std::shared_ptr<const RangeResult>> known;  // boundary -> range

  // The range: every commit of the new tips that upstream lacks. The walk
  // may stop early only at upstream's tip of a pushed ref or of HEAD's
  // branch, or at a tip whose range is known.
  Collector collector(repo, all_rules, scanner, options);
  std::vector<git::CommitInfo> commits;
  if (profile) {
    git::InspectOptions inspect = options.inspect;
    inspect.hide_refs = true;
    inspect.hide_glob = git::kUpstreamRefsGlob;
    inspect.hide_commits.clear();
    for (const git::RefUpdate& u : updates) inspect.boundary_refs.push_back(git::UpstreamTrackingRef(u.ref_name));
    git_reference* head = nullptr;
    if (git_reference_lookup(&head, repo, "HEAD") == 0) {
      git::ReferencePtr owner(head);
      if (git_reference_type(head) == GIT_REFERENCE_SYMBOLIC) {
        inspect.boundary_refs.push_back(git::UpstreamTrackingRef(git_reference_symbolic_target(head)));
      }
    }
    if (use_ranges) {
      inspect.known_boundary = [&](const git_oid& id) {
        std::string hex = git::OidHex(id);
        std::shared_ptr<const RangeResult> r = options.cache->FindRange(hex + " " + upstream_state);
        if (!r) return false;
        known[hex] = std::move(r);
        return true;
      };
    }
    git::Inspector inspector(repo, inspect);
    AG_RETURN_IF_ERROR(inspector.Walk(walk_tips, &collector, &commits));
    collector.Flush();
    // A full walk found every commit of the range itself.
    if (!inspector.walked_quarantine()) known.clear();
  }
  bool store_ranges = keep_ranges;
  if (keep_ranges) {
    AG_ASSIGN_OR_RETURN(std::string after, UpstreamState(repo));
    store_ranges = after == upstream_state;
  }
  std::unordered_map<std::string, size_t> index;
  for (size_t i = 0; i < commits.size(); ++i) index[commits[i].oid] = i;

  // Push options: the agent's words, scanned like a commit message.
  Collector::PerCommit options_result;
  for (size_t i = 0; i < options.push_options.size(); ++i) {
    git::CommitInfo none;
    AG_RETURN_IF_ERROR(collector.ScanWords(options_result, none,
                                           "(push option " + std::to_string(i) + ")",
                                           options.push_options[i]));
  }
  // Annotated tags (nested ones too): their names, taggers and messages.
  std::vector<Collector::PerCommit> tag_results(updates.size());
  for (size_t i = 0; i < updates.size(); ++i) {
    if (updates[i].is_delete()) continue;
    AG_RETURN_IF_ERROR(ScanTags(repo, updates[i].new_oid, &collector, &tag_results[i]));
  }

  for (size_t i = 0; i < updates.size(); ++i) {
    RefDecision& d = out[i];
    const git::RefUpdate& u = updates[i];
    // Built-in checks, before any policy rule.
    if (u.ref_name.rfind("refs/agentgate/", 0) == 0) {
      d.violations.push_back(Builtin("reserved-ref", "refs/agentgate/ is written by agentgate only"));
    }
    if (HasHiddenUnicode(u.ref_name)) {
      d.violations.push_back({kHiddenUnicode, Outcome::kHold,
                              "the ref name holds invisible or bidirectional Unicode", "", 0, "", ""});
    }
    if (!profile) {
      d.violations.push_back(Builtin("no-profile", "no policy profile matches identity '" +
                                                       ctx.identity + "'"));
    } else if (!AnyMatch(profile->refs, u.ref_name)) {
      d.violations.push_back(Builtin("ref-not-allowed", "profile '" + profile->name +
                                                            "' may not push " + u.ref_name));
    }

    // This ref's range: the commits of the walk reachable from its tip, and
    // the known ranges the walk stopped at.
    std::vector<size_t> walked;  // indices into `commits`, walk order
    std::vector<std::shared_ptr<const RangeResult>> bases;
    auto add_base = [&](const std::string& oid) {
      auto k = known.find(oid);
      if (k == known.end()) return;
      if (std::find(bases.begin(), bases.end(), k->second) == bases.end()) bases.push_back(k->second);
    };
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
          if (it == index.end()) {
            add_base(p);
          } else if (!seen[it->second]) {
            stack.push_back(it->second);
          }
        }
      }
      for (size_t c = 0; c < commits.size(); ++c) {
        if (seen[c]) walked.push_back(c);
      }
    } else if (!tips[i].empty()) {
      add_base(tips[i]);
    }
    // A range inside another adds nothing; two that overlap otherwise would
    // need their commits one by one: judge again, walking everything.
    std::vector<std::shared_ptr<const RangeResult>> outer;
    for (const auto& a : bases) {
      bool inside = std::any_of(bases.begin(), bases.end(), [&](const auto& b) {
        return b != a && b->Contains(a->tip);
      });
      if (!inside) outer.push_back(a);
    }
    if (outer.size() > 1) {
      *retry = true;
      return std::vector<RefDecision>{};
    }
    std::shared_ptr<const RangeResult> base = outer.empty() ? nullptr : outer.front();
    d.range_base = base;
    // The inspection budget covers the whole range, judged ranges included
    // (fail closed, as the walk does for the commits it reads).
    if (base && base->size + walked.size() > options.inspect.max_commits) {
      return Status::ResourceExhausted("the range of " + u.ref_name + " holds more than " +
                                       std::to_string(options.inspect.max_commits) +
                                       " commits upstream lacks; inspection refused");
    }
    if (base) d.commits = base->Commits();
    for (size_t c : walked) d.commits.push_back(commits[c].oid);

    // Rejections stick: a commit a reviewer rejected comes back only through
    // a human who sees it again, whatever the policy would allow.
    std::map<int64_t, std::vector<std::string>> rejected;
    if (!options.rejected_commits.empty()) {
      for (const std::string& c : d.commits) {
        auto it = options.rejected_commits.find(c);
        if (it != options.rejected_commits.end()) rejected[it->second].push_back(c);
      }
    }
    for (const auto& [request, oids] : rejected) {
      std::string list;
      for (const std::string& c : oids) list += (list.empty() ? "" : " ") + c.substr(0, 12);
      d.violations.push_back({"rejected-commits", Outcome::kHold,
                              "contains commits of rejected request " + std::to_string(request) +
                                  "; a reviewer must see them again",
                              "", 0, oids.front(), std::to_string(oids.size()) + " commit(s): " + list});
    }

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

    std::vector<std::string> changed_paths;           // of the walked commits
    std::unordered_map<std::string, size_t> listed;  // per rule, over the range
    auto take = [&](const Collector::PerCommit& pc) {
      for (const Violation& v : pc.violations) {
        if (!in_profile.count(v.rule_id) && v.rule_id != kHiddenUnicode) continue;
        // Past the cap a rule still decides (one listed violation per
        // outcome is enough: the cap counts each outcome apart, so fifty
        // held findings never hide a blocking one).
        if (++listed[CapKey(v.rule_id, v.outcome)] > options.max_violations_per_rule) continue;
        d.violations.push_back(v);
      }
      d.findings.insert(d.findings.end(), pc.findings.begin(), pc.findings.end());
      d.notes.insert(d.notes.end(), pc.notes.begin(), pc.notes.end());
      changed_paths.insert(changed_paths.end(), pc.paths.begin(), pc.paths.end());
    };
    take(options_result);
    take(tag_results[i]);
    if (base) take(base->merged);
    for (size_t c : walked) {
      if (const Collector::PerCommit* pc = collector.Find(commits[c].oid)) take(*pc);
    }
    // What refuses the push first: outputs show the first violations only.
    std::stable_sort(d.violations.begin(), d.violations.end(), [](const Violation& a, const Violation& b) {
      return (a.outcome == Outcome::kBlock) > (b.outcome == Outcome::kBlock);
    });

    // Nothing skipped is allowed: a file the scanner did not read is seen by
    // a human, whatever the policy would allow.
    if (!d.notes.empty()) {
      const scan::SkipNote& first = d.notes.front();
      d.violations.push_back({"not-scanned", Outcome::kHold,
                              "a file was not scanned for secrets; a reviewer must look at it",
                              first.path, 0, "",
                              first.reason + (d.notes.size() > 1
                                                  ? " (and " + std::to_string(d.notes.size() - 1) + " more)"
                                                  : "")});
    }

    // allow_paths: every changed path of this ref's range matches (and there
    // is one); a known range says so per rule for its own commits.
    auto paths_match = [&](size_t rule_index) {
      const Rule& r = policy.rules[rule_index];
      return std::all_of(changed_paths.begin(), changed_paths.end(),
                         [&](const std::string& p) { return r.AppliesToPath(p); });
    };
    bool any_path = !changed_paths.empty() || (base && base->path_count > 0);
    for (size_t ri = 0; ri < policy.rules.size(); ++ri) {
      const Rule* r = &policy.rules[ri];
      if (r->kind != RuleKind::kAllowPaths || !any_path || !in_profile.count(r->id)) continue;
      bool all = (!base || base->paths_match[ri]) && paths_match(ri);
      if (all) {
        size_t n = changed_paths.size() + (base ? base->path_count : 0);
        d.violations.push_back({r->id, r->outcome,
                                r->message.empty() ? DefaultMessage(r->kind) : r->message, "", 0,
                                "", std::to_string(n) + " paths"});
      }
    }

    Decide(&d, policy);
    if (d.outcome == Outcome::kHold) {
      // Reviewers and quorum: the union over every rule that holds anywhere
      // in the range.
      for (const Violation& v : d.violations) {
        if (v.outcome != Outcome::kHold) continue;
        if (const Rule* r = policy.FindRule(v.rule_id)) AddReview(&d.review, r->review);
      }
    }

    // This tip's range, for the pushes that build on it.
    if (base && walked.empty() && base->tip == tips[i]) d.range = base;
    if (store_ranges && !tips[i].empty() && !(base && walked.empty() && base->tip == tips[i])) {
      auto range = std::make_shared<RangeResult>();
      range->tip = tips[i];
      if (base) {
        range->base = base;
        range->depth = base->depth + 1;
        range->merged = base->merged;
        range->fired = base->fired;
        range->path_count = base->path_count;
        range->paths_match = base->paths_match;
      } else {
        range->paths_match.assign(policy.rules.size(), 1);
      }
      for (size_t c : walked) {
        const std::string& oid = commits[c].oid;
        range->own.push_back(oid);
        range->own_set.insert(oid);
        const Collector::PerCommit* pc = collector.Find(oid);
        if (!pc) continue;
        for (const Violation& v : pc->violations) {
          if (++range->fired[CapKey(v.rule_id, v.outcome)] <= options.max_violations_per_rule)
            range->merged.violations.push_back(v);
        }
        range->merged.findings.insert(range->merged.findings.end(), pc->findings.begin(), pc->findings.end());
        range->merged.notes.insert(range->merged.notes.end(), pc->notes.begin(), pc->notes.end());
        range->path_count += pc->paths.size();
        for (size_t ri = 0; ri < policy.rules.size(); ++ri) {
          if (!range->paths_match[ri] || policy.rules[ri].kind != RuleKind::kAllowPaths) continue;
          for (const std::string& p : pc->paths) {
            if (!policy.rules[ri].AppliesToPath(p)) {
              range->paths_match[ri] = 0;
              break;
            }
          }
        }
      }
      range->size = (base ? base->size : 0) + range->own.size();
      if (range->depth > kMaxRangeDepth) {  // flatten
        range->own = range->Commits();
        range->own_set = std::unordered_set<std::string>(range->own.begin(), range->own.end());
        range->base = nullptr;
        range->depth = 0;
      }
      d.range = range;
      options.cache->StoreRange(tips[i] + " " + upstream_state, std::move(range));
    }
  }
  return out;
}

}  // namespace

Result<std::vector<RefDecision>> CheckPush(git_repository* repo, const policy::Policy& policy,
                                           const scan::Scanner& scanner, const PushContext& ctx,
                                           const std::vector<git::RefUpdate>& updates,
                                           const CheckOptions& options) {
  bool retry = false;
  Result<std::vector<RefDecision>> once =
      CheckPushOnce(repo, policy, scanner, ctx, updates, options, /*use_ranges=*/true, &retry);
  if (!retry) return once;
  return CheckPushOnce(repo, policy, scanner, ctx, updates, options, /*use_ranges=*/false, &retry);
}

}  // namespace ag::check
