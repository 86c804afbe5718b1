// Loading and validating the policy file. The walk reports every problem it
// can find in one pass (see yaml_reader.h); a policy with any problem is
// refused as a whole.
#include "policy/policy.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <utility>

#include "policy/yaml_reader.h"
#include "util/file.h"

namespace ag::policy {
namespace {

constexpr size_t kMaxPolicyBytes = 4u << 20;  // a policy is a page of YAML, not megabytes
constexpr int64_t kMaxQuorum = 100;

// How a rule kind uses `paths` and `limit`.
enum class PathUse { kNone, kRequired, kOptional, kDefaultAll };
enum class LimitUse { kNone, kSize, kCount };

struct KindInfo {
  RuleKind kind;
  std::string_view name;
  PathUse paths;
  LimitUse limit;
  Outcome default_outcome;
  std::string_view default_message;
};

constexpr KindInfo kKinds[] = {
    {RuleKind::kProtectedPaths, "protected_paths", PathUse::kRequired, LimitUse::kNone,
     Outcome::kHold, "changes to protected paths need review"},
    {RuleKind::kDeniedPaths, "denied_paths", PathUse::kRequired, LimitUse::kNone,
     Outcome::kBlock, "these paths may not be added or changed"},
    {RuleKind::kDeletions, "deletions", PathUse::kDefaultAll, LimitUse::kNone, Outcome::kHold,
     "no deletion without consent"},
    {RuleKind::kConfigChanges, "config_changes", PathUse::kRequired, LimitUse::kNone,
     Outcome::kHold, "changes to configuration files need review"},
    {RuleKind::kNonFastForward, "non_fast_forward", PathUse::kNone, LimitUse::kNone,
     Outcome::kBlock, "force pushes (non-fast-forward updates) are not allowed"},
    {RuleKind::kRefDeletion, "ref_deletion", PathUse::kNone, LimitUse::kNone, Outcome::kBlock,
     "deleting refs is not allowed"},
    {RuleKind::kTags, "tags", PathUse::kNone, LimitUse::kNone, Outcome::kBlock,
     "pushing tags is not allowed"},
    {RuleKind::kMaxBlobSize, "max_blob_size", PathUse::kOptional, LimitUse::kSize,
     Outcome::kBlock, "file is larger than the limit"},
    {RuleKind::kMaxCommits, "max_commits", PathUse::kNone, LimitUse::kCount, Outcome::kBlock,
     "the push brings more commits than the limit"},
    {RuleKind::kBinaryFiles, "binary_files", PathUse::kOptional, LimitUse::kNone,
     Outcome::kHold, "binary files need review"},
    {RuleKind::kSymlinks, "symlinks", PathUse::kOptional, LimitUse::kNone, Outcome::kHold,
     "symlinks need review"},
    {RuleKind::kSymlinkOutside, "symlink_outside", PathUse::kOptional, LimitUse::kNone,
     Outcome::kBlock, "symlinks may not point outside the repository"},
    {RuleKind::kSubmodules, "submodules", PathUse::kOptional, LimitUse::kNone, Outcome::kHold,
     "submodule changes need review"},
    {RuleKind::kExecutableBit, "executable_bit", PathUse::kOptional, LimitUse::kNone,
     Outcome::kHold, "executable-bit changes need review"},
    {RuleKind::kSecrets, "secrets", PathUse::kOptional, LimitUse::kNone, Outcome::kBlock,
     "a secret was found; remove it from every commit and rotate it"},
    {RuleKind::kAllowPaths, "allow_paths", PathUse::kRequired, LimitUse::kNone, Outcome::kAllow,
     "every change is in paths that are approved automatically"},
};

const KindInfo& Info(RuleKind k) {
  for (const KindInfo& i : kKinds) {
    if (i.kind == k) return i;
  }
  return kKinds[0];  // unreachable: every kind is in the table
}

std::string KindNames() {
  std::string out;
  for (const KindInfo& i : kKinds) {
    if (!out.empty()) out += ", ";
    out.append(i.name);
  }
  return out;
}

bool ValidRuleId(std::string_view id) {
  if (id.empty()) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
  });
}

bool AnyMatch(const std::vector<Glob>& globs, std::string_view name) {
  return std::any_of(globs.begin(), globs.end(), [&](const Glob& g) { return g.Matches(name); });
}

// The walk over one policy document.
class PolicyParser {
 public:
  PolicyParser(const std::string& file, std::vector<Problem>* problems)
      : r_(file, problems) {}

  void Parse(const YAML::Node& root, Policy* p) {
    if (root.IsNull()) {
      r_.Report(YAML::Mark::null_mark(), "the policy is empty (it needs at least 'version: 1')");
      return;
    }
    std::optional<Map> top = r_.ReadMap(root, "policy",
                                        {"version", "default_outcome", "request_ttl",
                                         "reviewers", "admins", "secrets", "profiles", "rules"});
    if (!top) return;
    if (const Field* f = r_.Require(*top, "version", "policy")) {
      if (std::optional<int64_t> v = r_.Int(*f, INT64_MIN, INT64_MAX); v && *v != 1) {
        r_.Report(f->value, "unsupported policy version " + std::to_string(*v) +
                                " (this agentgate reads version 1)");
      }
    }
    if (const Field* f = top->Get("default_outcome")) {
      if (auto o = ReadOutcome(*f)) p->default_outcome = *o;
    }
    if (const Field* f = top->Get("request_ttl")) {
      if (auto d = r_.Duration(*f)) {
        if (d->count() <= 0) {
          r_.Report(f->value, "request_ttl must be longer than 0");
        } else {
          p->request_ttl = *d;
        }
      }
    }
    if (const Field* f = top->Get("reviewers")) {
      ReadReview(*f, "reviewers", &p->reviewers);
    }
    if (const Field* f = top->Get("admins")) ReadReview(*f, "admins", &p->admins);
    if (const Field* f = top->Get("secrets")) ReadSecrets(*f, &p->secrets);
    if (const Field* f = top->Get("rules")) ReadRules(*f, p);
    if (const Field* f = top->Get("profiles")) ReadProfiles(*f, p);
    // Profiles name rules; check the names once every rule is known.
    for (const auto& [id, node] : rule_refs_) {
      if (p->FindRule(id) == nullptr) {
        r_.Report(node, "profile names unknown rule '" + id + "'");
      }
    }
  }

 private:
  std::optional<Outcome> ReadOutcome(const Field& f) {
    std::optional<std::string> s = r_.String(f);
    if (!s) return std::nullopt;
    std::optional<Outcome> o = ParseOutcome(*s);
    if (!o) {
      r_.Report(f.value, f.name + ": unknown outcome '" + *s + "' (expected allow, hold or block)");
    }
    return o;
  }

  void ReadReview(const Field& f, std::string_view what, ReviewRequirement* out) {
    std::optional<Map> m = r_.ReadMap(f.value, what, {"users", "groups", "quorum"});
    if (!m) return;
    if (const Field* u = m->Get("users")) {
      if (auto v = r_.StringList(*u)) out->users = std::move(*v);
    }
    if (const Field* g = m->Get("groups")) {
      if (auto v = r_.StringList(*g)) out->groups = std::move(*v);
    }
    if (const Field* q = m->Get("quorum")) {
      if (auto v = r_.Int(*q, INT64_MIN, INT64_MAX)) {
        if (*v < 1) {
          r_.Report(q->value, "quorum must be at least 1");
        } else if (*v > kMaxQuorum) {
          r_.Report(q->value, "quorum must be at most " + std::to_string(kMaxQuorum));
        } else if (out->groups.empty() && !out->users.empty() &&
                   static_cast<size_t>(*v) > out->users.size()) {
          r_.Report(q->value, "quorum " + std::to_string(*v) + " can never be met by the " +
                                  std::to_string(out->users.size()) + " listed users");
        } else {
          out->quorum = static_cast<int>(*v);
        }
      }
    }
  }

  void ReadSecrets(const Field& f, SecretsOptions* out) {
    std::optional<Map> m = r_.ReadMap(
        f.value, "secrets", {"rule_files", "builtin_rules", "honor_inline_allow", "max_blob_size"});
    if (!m) return;
    if (const Field* rf = m->Get("rule_files")) {
      if (auto files = r_.StringList(*rf)) {
        size_t i = 0;
        for (const std::string& name : *files) {
          const YAML::Node item = rf->value[i++];
          if (name.empty()) {
            r_.Report(item, "rule_files: empty file name");
            continue;
          }
          std::string resolved = ResolveAgainst(r_.file(), name);
          std::error_code ec;
          if (!std::filesystem::is_regular_file(resolved, ec)) {
            r_.Report(item, "rule_files: '" + name + "' not found (looked for " + resolved + ")");
            continue;
          }
          out->rule_files.push_back(std::move(resolved));
        }
      }
    }
    if (const Field* b = m->Get("builtin_rules")) {
      if (auto v = r_.Bool(*b)) out->builtin_rules = *v;
    }
    if (const Field* b = m->Get("honor_inline_allow")) {
      if (auto v = r_.Bool(*b)) out->honor_inline_allow = *v;
    }
    if (const Field* s = m->Get("max_blob_size")) {
      if (auto v = r_.Size(*s)) {
        if (*v == 0) {
          r_.Report(s->value, "max_blob_size must be larger than 0");
        } else {
          out->max_blob_bytes = *v;
        }
      }
    }
  }

  void ReadRules(const Field& f, Policy* p) {
    if (!f.value.IsSequence()) {
      r_.Report(f.value.IsNull() ? f.key : f.value, "rules: expected a list of rules");
      return;
    }
    std::map<std::string, int> first_line;
    for (const YAML::Node& node : f.value) {
      std::optional<Rule> rule = ReadRule(node);
      if (!rule) continue;
      auto [it, fresh] = first_line.emplace(rule->id, rule->line);
      if (!fresh) {
        r_.Report(node, "duplicate rule id '" + rule->id + "' (first defined on line " +
                            std::to_string(it->second) + ")");
        continue;
      }
      p->rules.push_back(std::move(*rule));
    }
  }

  // Returns the rule when it has an id and a kind; other problems are
  // reported and leave defaults (the policy fails as a whole anyway).
  std::optional<Rule> ReadRule(const YAML::Node& node) {
    std::optional<Map> m = r_.ReadMap(
        node, "rule", {"id", "kind", "paths", "except", "limit", "outcome", "message", "review"});
    if (!m) return std::nullopt;
    Rule rule;
    rule.line = node.Mark().line + 1;
    bool have_id = false;
    bool have_kind = false;
    if (const Field* f = r_.Require(*m, "id", "rule")) {
      if (auto id = r_.String(*f)) {
        if (!ValidRuleId(*id)) {
          r_.Report(f->value, "rule id '" + *id + "' must match [a-z0-9._-]+");
        } else {
          rule.id = *id;
          have_id = true;
        }
      }
    }
    if (const Field* f = r_.Require(*m, "kind", "rule")) {
      if (auto name = r_.String(*f)) {
        if (std::optional<RuleKind> k = ParseRuleKind(*name)) {
          rule.kind = *k;
          have_kind = true;
        } else {
          r_.Report(f->value, "unknown rule kind '" + *name + "' (expected one of: " +
                                  KindNames() + ")");
        }
      }
    }
    const Field* paths = m->Get("paths");
    const Field* except = m->Get("except");
    const Field* limit = m->Get("limit");
    if (paths) {
      if (auto g = r_.GlobList(*paths)) {
        if (g->empty()) {
          r_.Report(paths->value, "paths: empty list (omit the key or name at least one pattern)");
        }
        rule.paths = std::move(*g);
      }
    }
    if (except) {
      if (auto g = r_.GlobList(*except)) rule.except_paths = std::move(*g);
    }
    if (const Field* f = m->Get("outcome")) {
      if (auto o = ReadOutcome(*f)) rule.outcome = *o;
    }
    if (const Field* f = m->Get("message")) {
      if (auto s = r_.String(*f)) rule.message = *s;
    }
    if (const Field* f = m->Get("review")) ReadReview(*f, "review", &rule.review);
    if (!have_kind) return have_id ? std::optional<Rule>(std::move(rule)) : std::nullopt;

    const KindInfo& info = Info(rule.kind);
    std::string kind_name(info.name);
    switch (info.paths) {
      case PathUse::kRequired:
        if (!paths) r_.Report(node, "rule '" + rule.id + "': kind " + kind_name + " needs 'paths'");
        break;
      case PathUse::kDefaultAll:
        if (!paths) rule.paths.push_back(Glob::Compile("**").value());
        break;
      case PathUse::kOptional:
        break;
      case PathUse::kNone:
        if (paths) r_.Report(paths->key, "kind " + kind_name + " takes no 'paths'");
        if (except) r_.Report(except->key, "kind " + kind_name + " takes no 'except'");
        break;
    }
    switch (info.limit) {
      case LimitUse::kNone:
        if (limit) r_.Report(limit->key, "kind " + kind_name + " takes no 'limit'");
        break;
      case LimitUse::kSize:
      case LimitUse::kCount: {
        if (!limit) {
          r_.Report(node, "rule '" + rule.id + "': kind " + kind_name + " needs 'limit'");
          break;
        }
        std::optional<uint64_t> v;
        if (info.limit == LimitUse::kSize) {
          v = r_.Size(*limit);
        } else if (auto n = r_.Int(*limit, INT64_MIN, INT64_MAX)) {
          if (*n < 0) {
            r_.Report(limit->value, "limit must be at least 1");
          } else {
            v = static_cast<uint64_t>(*n);
          }
        }
        if (v && *v == 0) {
          r_.Report(limit->value, "limit must be at least 1");
        } else if (v) {
          rule.limit = *v;
        }
        break;
      }
    }
    if (!m->Get("outcome")) rule.outcome = info.default_outcome;
    if (!m->Get("message")) rule.message = std::string(info.default_message);
    if (const Field* f = m->Get("review"); f && rule.outcome != Outcome::kHold) {
      r_.Report(f->key, "rule '" + rule.id + "': 'review' only applies to rules whose outcome "
                        "is hold");
    }
    if (!have_id) return std::nullopt;
    return rule;
  }

  void ReadProfiles(const Field& f, Policy* p) {
    if (!f.value.IsSequence()) {
      r_.Report(f.value.IsNull() ? f.key : f.value, "profiles: expected a list of profiles");
      return;
    }
    std::map<std::string, int> first_line;
    for (const YAML::Node& node : f.value) {
      std::optional<Map> m = r_.ReadMap(node, "profile",
                                        {"name", "identities", "groups", "repos", "refs", "rules"});
      if (!m) continue;
      Profile profile;
      if (const Field* n = r_.Require(*m, "name", "profile")) {
        if (auto s = r_.String(*n)) {
          profile.name = *s;
          auto [it, fresh] = first_line.emplace(*s, node.Mark().line + 1);
          if (!fresh) {
            r_.Report(n->value, "duplicate profile name '" + *s + "' (first defined on line " +
                                    std::to_string(it->second) + ")");
          }
        }
      }
      if (const Field* x = m->Get("identities")) {
        if (auto g = r_.GlobList(*x)) profile.identities = std::move(*g);
      }
      if (const Field* x = m->Get("groups")) {
        if (auto v = r_.StringList(*x)) profile.groups = std::move(*v);
      }
      if (const Field* x = m->Get("repos")) {
        if (auto g = r_.GlobList(*x)) profile.repos = std::move(*g);
      }
      if (const Field* x = m->Get("refs")) {
        if (auto g = r_.GlobList(*x)) {
          if (g->empty()) {
            r_.Report(x->value, "refs: empty list (a profile that may push nothing is useless)");
          }
          profile.refs = std::move(*g);
        }
      } else {
        profile.refs.push_back(Glob::Compile("refs/heads/agent/**").value());
      }
      if (const Field* x = m->Get("rules")) {
        if (auto v = r_.StringList(*x)) {
          if (v->empty()) {
            r_.Report(x->value,
                      "rules: empty list; omit 'rules' to apply every rule, or name the rules");
          }
          size_t i = 0;
          for (const std::string& id : *v) rule_refs_.emplace_back(id, x->value[i++]);
          profile.rules = std::move(*v);
        }
      }
      p->profiles.push_back(std::move(profile));
    }
  }

  Reader r_;
  std::vector<std::pair<std::string, YAML::Node>> rule_refs_;  // profile -> rule id uses
};

}  // namespace

std::string_view OutcomeName(Outcome o) {
  switch (o) {
    case Outcome::kAllow:
      return "allow";
    case Outcome::kHold:
      return "hold";
    case Outcome::kBlock:
      return "block";
  }
  return "block";
}

std::optional<Outcome> ParseOutcome(std::string_view s) {
  if (s == "allow") return Outcome::kAllow;
  if (s == "hold") return Outcome::kHold;
  if (s == "block") return Outcome::kBlock;
  return std::nullopt;
}

std::string_view RuleKindName(RuleKind k) { return Info(k).name; }

std::optional<RuleKind> ParseRuleKind(std::string_view s) {
  for (const KindInfo& i : kKinds) {
    if (i.name == s) return i.kind;
  }
  return std::nullopt;
}

bool Rule::AppliesToPath(std::string_view path) const {
  if (!paths.empty() && !AnyMatch(paths, path)) return false;
  return !AnyMatch(except_paths, path);
}

bool Profile::MayPush(std::string_view ref_name) const { return AnyMatch(refs, ref_name); }

const Profile* Policy::ProfileFor(std::string_view identity,
                                  const std::vector<std::string>& groups,
                                  std::string_view repo) const {
  for (const Profile& p : profiles) {
    if (!p.identities.empty() && !AnyMatch(p.identities, identity)) continue;
    if (!p.groups.empty() &&
        std::none_of(p.groups.begin(), p.groups.end(), [&](const std::string& g) {
          return std::find(groups.begin(), groups.end(), g) != groups.end();
        })) {
      continue;
    }
    if (!p.repos.empty() && !AnyMatch(p.repos, repo)) continue;
    return &p;
  }
  return nullptr;
}

const Rule* Policy::FindRule(std::string_view id) const {
  for (const Rule& r : rules) {
    if (r.id == id) return &r;
  }
  return nullptr;
}

std::vector<const Rule*> Policy::RulesFor(const Profile& profile) const {
  std::vector<const Rule*> out;
  for (const Rule& r : rules) {
    if (profile.rules.empty() ||
        std::find(profile.rules.begin(), profile.rules.end(), r.id) != profile.rules.end()) {
      out.push_back(&r);
    }
  }
  return out;
}

std::string Problem::ToString() const {
  return file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + message;
}

Result<std::shared_ptr<const Policy>> ParsePolicy(std::string_view yaml, const std::string& file,
                                                  std::vector<Problem>* problems) {
  std::vector<Problem> found;
  auto policy = std::make_shared<Policy>();
  policy->path = file;
  {
    PolicyParser parser(file, &found);
    Reader loader(file, &found);
    std::optional<YAML::Node> root = loader.Load(yaml);
    if (root) {
      try {
        parser.Parse(*root, policy.get());
      } catch (const TooManyProblems&) {
        // Already reported.
      } catch (const std::exception& e) {
        // yaml-cpp accessors can throw on odd documents; never let it escape.
        found.push_back(Problem{file, 1, 1, std::string("cannot read policy: ") + e.what()});
      }
    }
  }
  if (!found.empty()) {
    std::string message = JoinProblems(&found);
    if (problems != nullptr) *problems = std::move(found);
    return Status::InvalidArgument(std::move(message));
  }
  if (problems != nullptr) problems->clear();
  return std::shared_ptr<const Policy>(std::move(policy));
}

Result<std::shared_ptr<const Policy>> LoadPolicy(const std::string& path,
                                                 std::vector<Problem>* problems) {
  if (problems != nullptr) problems->clear();
  Result<std::string> text = ReadFile(path, kMaxPolicyBytes);
  if (!text.ok()) return text.status().WithContext("cannot load policy");
  return ParsePolicy(*text, path, problems);
}

}  // namespace ag::policy
