// Loader for agentgate YAML rule packs (format in docs/scanner.md).
#include <yaml-cpp/yaml.h>

#include "scan/rules.h"

namespace ag::scan {
namespace {

std::string Where(const std::string& name, const YAML::Node& node) {
  const YAML::Mark m = node.Mark();
  if (m.line < 0) return name;
  return name + ":" + std::to_string(m.line + 1);
}

Status Bad(const std::string& name, const YAML::Node& node, const std::string& what) {
  return Status::InvalidArgument(Where(name, node) + ": " + what);
}

Status ReadStrings(const std::string& name, const YAML::Node& parent, const char* key,
                   std::vector<std::string>* out) {
  YAML::Node n = parent[key];
  if (!n) return Status::Ok();
  if (n.IsScalar()) {
    out->push_back(n.as<std::string>());
    return Status::Ok();
  }
  if (!n.IsSequence()) return Bad(name, n, std::string("'") + key + "' must be a list of strings");
  for (const YAML::Node& item : n) {
    if (!item.IsScalar()) return Bad(name, item, std::string("'") + key + "' items must be strings");
    out->push_back(item.as<std::string>());
  }
  return Status::Ok();
}

Status CheckKeys(const std::string& name, const YAML::Node& map,
                 std::initializer_list<std::string_view> known) {
  for (const auto& kv : map) {
    std::string k = kv.first.as<std::string>();
    bool ok = false;
    for (std::string_view s : known) ok = ok || s == k;
    if (!ok) return Bad(name, kv.first, "unknown key '" + k + "'");
  }
  return Status::Ok();
}

Result<AllowlistSpec> ReadAllowlist(const std::string& name, const YAML::Node& n) {
  if (!n.IsMap()) return Bad(name, n, "an allowlist must be a mapping");
  AG_RETURN_IF_ERROR(CheckKeys(name, n, {"description", "condition", "regex_target", "regexes",
                                         "stopwords", "paths", "commits"}));
  AllowlistSpec a;
  a.origin = Where(name, n);
  if (n["description"]) a.description = n["description"].as<std::string>();
  if (n["condition"]) {
    std::string c = n["condition"].as<std::string>();
    if (c == "and" || c == "AND") a.condition_and = true;
    else if (c != "or" && c != "OR") return Bad(name, n["condition"], "condition must be and|or");
  }
  if (n["regex_target"]) {
    std::string t = n["regex_target"].as<std::string>();
    if (t == "secret") a.target = Target::kSecret;
    else if (t == "match") a.target = Target::kMatch;
    else if (t == "line") a.target = Target::kLine;
    else return Bad(name, n["regex_target"], "regex_target must be secret|match|line");
  }
  AG_RETURN_IF_ERROR(ReadStrings(name, n, "regexes", &a.regexes));
  AG_RETURN_IF_ERROR(ReadStrings(name, n, "stopwords", &a.stopwords));
  AG_RETURN_IF_ERROR(ReadStrings(name, n, "paths", &a.paths));
  AG_RETURN_IF_ERROR(ReadStrings(name, n, "commits", &a.commits));
  return a;
}

Status ReadAllowlists(const std::string& name, const YAML::Node& n,
                      std::vector<AllowlistSpec>* out) {
  if (!n) return Status::Ok();
  if (!n.IsSequence()) return Bad(name, n, "'allowlists' must be a list");
  for (const YAML::Node& item : n) {
    AG_ASSIGN_OR_RETURN(AllowlistSpec a, ReadAllowlist(name, item));
    out->push_back(std::move(a));
  }
  return Status::Ok();
}

Result<RuleSpec> ReadRule(const std::string& name, const YAML::Node& n) {
  if (!n.IsMap()) return Bad(name, n, "a rule must be a mapping");
  RuleSpec r;
  r.origin = Where(name, n);
  if (!n["id"] || !n["id"].IsScalar()) return Bad(name, n, "rule without 'id'");
  r.id = n["id"].as<std::string>();
  Status keys = CheckKeys(name, n, {"id", "description", "regex", "secret_group", "keywords",
                                    "entropy", "path", "generic", "require_digit", "multiline",
                                    "allowlists", "checksum"});
  if (!keys.ok()) return Status::InvalidArgument(keys.message() + " in rule '" + r.id + "'");
  if (n["description"]) r.description = n["description"].as<std::string>();
  if (n["regex"]) r.regex = n["regex"].as<std::string>();
  if (n["path"]) r.path = n["path"].as<std::string>();
  if (n["secret_group"]) r.secret_group = n["secret_group"].as<int>();
  if (n["entropy"]) r.entropy = n["entropy"].as<double>();
  if (n["generic"]) r.generic = n["generic"].as<bool>();
  if (n["require_digit"]) r.require_digit = n["require_digit"].as<bool>();
  if (n["multiline"]) r.multiline = n["multiline"].as<int>();
  if (n["checksum"]) r.checksum = n["checksum"].as<std::string>();
  AG_RETURN_IF_ERROR(ReadStrings(name, n, "keywords", &r.keywords));
  AG_RETURN_IF_ERROR(ReadAllowlists(name, n["allowlists"], &r.allowlists));
  return r;
}

}  // namespace

Result<PackSpec> ParseYamlPack(std::string_view text, const std::string& name) {
  try {
    YAML::Node root = YAML::Load(std::string(text));
    if (!root.IsMap()) return Status::InvalidArgument(name + ":1: a rule pack must be a mapping");
    AG_RETURN_IF_ERROR(CheckKeys(name, root, {"version", "description", "allowlists", "rules"}));
    PackSpec pack;
    AG_RETURN_IF_ERROR(ReadAllowlists(name, root["allowlists"], &pack.allowlists));
    YAML::Node rules = root["rules"];
    if (rules) {
      if (!rules.IsSequence()) return Bad(name, rules, "'rules' must be a list");
      for (const YAML::Node& n : rules) {
        AG_ASSIGN_OR_RETURN(RuleSpec r, ReadRule(name, n));
        pack.rules.push_back(std::move(r));
      }
    }
    return pack;
  } catch (const YAML::Exception& e) {
    // e.mark is 0-based; e.msg has no position.
    std::string where = name;
    if (e.mark.line >= 0)
      where += ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1);
    return Status::InvalidArgument(where + ": " + e.msg);
  }
}

}  // namespace ag::scan
