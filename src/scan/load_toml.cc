// Loader for gitleaks TOML configs: [[rules]] (with [rules.allowlist] and
// [[rules.allowlists]]), global [allowlist] / [[allowlists]], and [extend]
// (useDefault, path, disabledRules) merged the way gitleaks merges them.
// Keys agentgate does not model (tags, required, skipReport, ...) are ignored,
// as gitleaks ignores unknown keys.
#include <toml++/toml.h>

#include <algorithm>
#include <filesystem>

#include "scan/rules.h"

namespace ag::scan {
namespace {

constexpr int kMaxExtendDepth = 2;  // as gitleaks

std::string Where(const std::string& name, const toml::node& n) {
  return name + ":" + std::to_string(n.source().begin.line);
}

Status Bad(const std::string& name, const toml::node& n, const std::string& what) {
  return Status::InvalidArgument(Where(name, n) + ": " + what);
}

Status ReadString(const std::string& name, const toml::table& t, const char* key,
                  std::string* out) {
  const toml::node* n = t.get(key);
  if (!n) return Status::Ok();
  auto v = n->value<std::string>();
  if (!v) return Bad(name, *n, std::string("'") + key + "' must be a string");
  *out = *v;
  return Status::Ok();
}

Status ReadStrings(const std::string& name, const toml::table& t, const char* key,
                   std::vector<std::string>* out) {
  const toml::node* n = t.get(key);
  if (!n) return Status::Ok();
  const toml::array* arr = n->as_array();
  if (!arr) return Bad(name, *n, std::string("'") + key + "' must be an array of strings");
  for (const toml::node& item : *arr) {
    auto v = item.value<std::string>();
    if (!v) return Bad(name, item, std::string("'") + key + "' items must be strings");
    out->push_back(*v);
  }
  return Status::Ok();
}

Result<AllowlistSpec> ReadAllowlist(const std::string& name, const toml::node& node) {
  const toml::table* t = node.as_table();
  if (!t) return Bad(name, node, "an allowlist must be a table");
  AllowlistSpec a;
  a.origin = Where(name, node);
  AG_RETURN_IF_ERROR(ReadString(name, *t, "description", &a.description));
  std::string cond, target;
  AG_RETURN_IF_ERROR(ReadString(name, *t, "condition", &cond));
  std::transform(cond.begin(), cond.end(), cond.begin(), ::toupper);
  if (cond == "AND" || cond == "&&") a.condition_and = true;
  else if (!cond.empty() && cond != "OR" && cond != "||")
    return Bad(name, node, "unknown allowlist condition '" + cond + "'");
  AG_RETURN_IF_ERROR(ReadString(name, *t, "regexTarget", &target));
  if (target == "match") a.target = Target::kMatch;
  else if (target == "line") a.target = Target::kLine;
  else if (!target.empty() && target != "secret")
    return Bad(name, node, "unknown regexTarget '" + target + "'");
  AG_RETURN_IF_ERROR(ReadStrings(name, *t, "regexes", &a.regexes));
  AG_RETURN_IF_ERROR(ReadStrings(name, *t, "stopwords", &a.stopwords));
  AG_RETURN_IF_ERROR(ReadStrings(name, *t, "paths", &a.paths));
  AG_RETURN_IF_ERROR(ReadStrings(name, *t, "commits", &a.commits));
  return a;
}

// Reads `key` as one table (old style) or an array of tables.
Status ReadAllowlists(const std::string& name, const toml::table& t, std::vector<AllowlistSpec>* out) {
  for (const char* key : {"allowlist", "allowlists"}) {
    const toml::node* n = t.get(key);
    if (!n) continue;
    if (const toml::array* arr = n->as_array()) {
      for (const toml::node& item : *arr) {
        AG_ASSIGN_OR_RETURN(AllowlistSpec a, ReadAllowlist(name, item));
        out->push_back(std::move(a));
      }
    } else {
      AG_ASSIGN_OR_RETURN(AllowlistSpec a, ReadAllowlist(name, *n));
      out->push_back(std::move(a));
    }
  }
  return Status::Ok();
}

Result<RuleSpec> ReadRule(const std::string& name, const toml::node& node) {
  const toml::table* t = node.as_table();
  if (!t) return Bad(name, node, "a rule must be a table");
  RuleSpec r;
  r.origin = Where(name, node);
  AG_RETURN_IF_ERROR(ReadString(name, *t, "id", &r.id));
  if (r.id.empty()) return Bad(name, node, "rule without 'id'");
  AG_RETURN_IF_ERROR(ReadString(name, *t, "description", &r.description));
  AG_RETURN_IF_ERROR(ReadString(name, *t, "regex", &r.regex));
  AG_RETURN_IF_ERROR(ReadString(name, *t, "path", &r.path));
  if (const toml::node* n = t->get("secretGroup")) {
    // An integer only: toml++ converts a float (1e31) to int64 with
    // undefined behaviour past the range (fuzz/rules_toml found it).
    const toml::value<int64_t>* i = n->as_integer();
    std::optional<int64_t> v = i ? std::optional<int64_t>(i->get()) : std::nullopt;
    if (!v || *v < 0 || *v > 100) return Bad(name, *n, "rule '" + r.id + "': bad secretGroup");
    r.secret_group = static_cast<int>(*v);
  }
  if (const toml::node* n = t->get("entropy")) {
    auto v = n->value<double>();  // integers convert too
    if (!v) return Bad(name, *n, "rule '" + r.id + "': entropy must be a number");
    r.entropy = *v;
  }
  AG_RETURN_IF_ERROR(ReadStrings(name, *t, "keywords", &r.keywords));
  AG_RETURN_IF_ERROR(ReadAllowlists(name, *t, &r.allowlists));
  // gitleaks treats rules named generic* specially: superseded by specific
  // rules, and their secrets must contain a digit once an entropy is set.
  r.generic = r.id.rfind("generic", 0) == 0;
  r.require_digit = r.generic && r.entropy > 0;
  return r;
}

// Merges `top` (the extending config) into `base` as gitleaks does.
PackSpec Merge(PackSpec base, PackSpec top, const std::vector<std::string>& disabled) {
  std::erase_if(base.rules, [&](const RuleSpec& r) {
    return std::find(disabled.begin(), disabled.end(), r.id) != disabled.end();
  });
  for (RuleSpec& cur : top.rules) {
    auto it = std::find_if(base.rules.begin(), base.rules.end(),
                           [&](const RuleSpec& r) { return r.id == cur.id; });
    if (it == base.rules.end()) {
      base.rules.push_back(std::move(cur));
      continue;
    }
    if (!cur.description.empty()) it->description = cur.description;
    if (cur.entropy != 0) it->entropy = cur.entropy;
    if (cur.secret_group != 0) it->secret_group = cur.secret_group;
    if (!cur.regex.empty()) it->regex = cur.regex, it->origin = cur.origin;
    if (!cur.path.empty()) it->path = cur.path;
    it->keywords.insert(it->keywords.end(), cur.keywords.begin(), cur.keywords.end());
    for (AllowlistSpec& a : cur.allowlists) it->allowlists.push_back(std::move(a));
  }
  for (AllowlistSpec& a : top.allowlists) base.allowlists.push_back(std::move(a));
  return base;
}

}  // namespace

Result<PackSpec> ParseGitleaksToml(std::string_view text, const std::string& name,
                                   const LoadOptions& options, int depth) {
  toml::table root;
  try {
    root = toml::parse(text, name);
  } catch (const toml::parse_error& e) {
    return Status::InvalidArgument(name + ":" + std::to_string(e.source().begin.line) + ":" +
                                   std::to_string(e.source().begin.column) + ": " +
                                   std::string(e.description()));
  }
  PackSpec pack;
  AG_RETURN_IF_ERROR(ReadAllowlists(name, root, &pack.allowlists));
  if (const toml::node* rules = root.get("rules")) {
    const toml::array* arr = rules->as_array();
    if (!arr) return Bad(name, *rules, "'rules' must be an array of tables ([[rules]])");
    for (const toml::node& n : *arr) {
      AG_ASSIGN_OR_RETURN(RuleSpec r, ReadRule(name, n));
      pack.rules.push_back(std::move(r));
    }
  }
  const toml::node* ext_node = root.get("extend");
  if (!ext_node) return pack;
  const toml::table* ext = ext_node->as_table();
  if (!ext) return Bad(name, *ext_node, "'extend' must be a table");
  if (depth >= kMaxExtendDepth) return Bad(name, *ext_node, "[extend] nested too deep");
  std::vector<std::string> disabled;
  AG_RETURN_IF_ERROR(ReadStrings(name, *ext, "disabledRules", &disabled));
  std::string path;
  AG_RETURN_IF_ERROR(ReadString(name, *ext, "path", &path));
  bool use_default = ext->get("useDefault") && ext->get("useDefault")->value_or(false);
  if (use_default && !path.empty())
    return Bad(name, *ext_node, "[extend] has both useDefault and path");
  if (use_default) {
    if (options.gitleaks_default_config.empty())
      return Bad(name, *ext_node,
                 "[extend] useDefault = true needs the gitleaks default config "
                 "(agentgate scan --gitleaks-default FILE)");
    path = options.gitleaks_default_config;
  } else if (!path.empty() && std::filesystem::path(path).is_relative()) {
    path = (std::filesystem::path(name).parent_path() / path).string();
  }
  if (path.empty()) return pack;
  AG_ASSIGN_OR_RETURN(PackSpec base, LoadPackFile(path, options, depth + 1));
  return Merge(std::move(base), std::move(pack), disabled);
}

}  // namespace ag::scan
