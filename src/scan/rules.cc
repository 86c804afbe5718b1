#include "scan/rules.h"

#include <re2/re2.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <unordered_map>

#include "util/file.h"

namespace ag::scan {
namespace {

constexpr size_t kMaxRuleFileBytes = 16u << 20;
// Bytes a match may run past its keyword's line when the regex can span lines
// and the pack does not say: enough for a 4096-bit PEM key or a PGP block.
constexpr int kInferredMultilineBytes = 64 << 10;

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// True when the regex can obviously match a newline on purpose.
bool SpansLines(std::string_view re) {
  for (std::string_view tell : {"\\n", "\\r", "[\\s\\S", "[\\S\\s", "(?s", "\\x0a", "\\x0A"})
    if (re.find(tell) != std::string_view::npos) return true;
  return false;
}

Result<std::unique_ptr<re2::RE2>> CompileOne(const std::string& pattern, int64_t max_mem,
                                             const std::string& where, const std::string& what) {
  re2::RE2::Options opts;
  opts.set_log_errors(false);
  opts.set_max_mem(max_mem);
  auto re = std::make_unique<re2::RE2>(pattern, opts);
  if (!re->ok())
    return Status::InvalidArgument(where + ": " + what + ": " + re->error());
  return re;
}

// Parses `pattern` without compiling it: an RE2 whose memory budget admits
// no instruction stops right after the parser (ErrorPatternTooLarge), so
// only a syntax error is reported. Cost: the parse, a few percent of a
// compile for the large imported patterns.
Status CheckSyntax(const std::string& pattern, const std::string& where, const std::string& what) {
  re2::RE2::Options opts;
  opts.set_log_errors(false);
  opts.set_max_mem(2);  // *2/3 = 1 byte for the program: no instruction fits
  re2::RE2 re(pattern, opts);
  if (re.ok() || re.error_code() == re2::RE2::ErrorPatternTooLarge) return Status::Ok();
  return Status::InvalidArgument(where + ": " + what + ": " + re.error());
}

Result<CompiledAllowlist> CompileAllowlist(const AllowlistSpec& a, int64_t max_mem,
                                           const std::string& who) {
  CompiledAllowlist out;
  out.condition_and = a.condition_and;
  out.target = a.target;
  std::string what = who.empty() ? "allowlist" : who + ": allowlist";
  for (const std::string& r : a.regexes) {
    AG_ASSIGN_OR_RETURN(auto re, CompileOne(r, max_mem, a.origin, what + " regex"));
    out.regexes.push_back(std::move(re));
  }
  for (const std::string& p : a.paths) {
    AG_ASSIGN_OR_RETURN(auto re, CompileOne(p, max_mem, a.origin, what + " path"));
    out.paths.push_back(std::move(re));
  }
  for (const std::string& s : a.stopwords) out.stopwords.push_back(Lower(s));
  out.commits = a.commits;
  if (out.regexes.empty() && out.paths.empty() && out.stopwords.empty() && out.commits.empty())
    return Status::InvalidArgument(a.origin + ": " + what + " is empty");
  return out;
}

Result<CompiledRule> CompileRule(const RuleSpec& spec, int64_t max_mem) {
  const std::string who = "rule '" + spec.id + "'";
  CompiledRule r;
  r.id = spec.id;
  r.description = spec.description;
  if (spec.regex.empty() && spec.path.empty())
    return Status::InvalidArgument(spec.origin + ": " + who + ": needs a regex or a path");
  if (!spec.regex.empty()) {
    AG_RETURN_IF_ERROR(CheckSyntax(spec.regex, spec.origin, who + ": regex"));
    r.regex = std::make_unique<LazyRegex>(spec.regex, max_mem, spec.origin + ": " + who + ": regex");
    r.groups = CountCapturingGroups(spec.regex);
  }
  if (!spec.path.empty()) {
    AG_ASSIGN_OR_RETURN(r.path, CompileOne(spec.path, max_mem, spec.origin, who + ": path"));
  }
  if (spec.secret_group < 0 || spec.secret_group > r.groups)
    return Status::InvalidArgument(spec.origin + ": " + who + ": secret group " +
                                   std::to_string(spec.secret_group) + " but the regex has " +
                                   std::to_string(r.groups) + " groups");
  r.secret_group = spec.secret_group;
  for (const std::string& k : spec.keywords) {
    if (k.empty()) return Status::InvalidArgument(spec.origin + ": " + who + ": empty keyword");
    std::string lk = Lower(k);
    if (std::find(r.keywords.begin(), r.keywords.end(), lk) == r.keywords.end())
      r.keywords.push_back(std::move(lk));
  }
  r.entropy = spec.entropy;
  r.generic = spec.generic;
  r.require_digit = spec.require_digit;
  r.multiline = spec.multiline >= 0 ? spec.multiline
                                    : (SpansLines(spec.regex) ? kInferredMultilineBytes : 0);
  if (r.multiline > 0 && r.regex)
    r.line_regex = std::make_unique<LazyRegex>("[^\\n]*?(" + spec.regex + ")", max_mem,
                                               spec.origin + ": " + who + ": regex");
  // Multi-line rules run line-anchored (line_regex), which already stops
  // reading early; an unanchored prefilter would search their whole window.
  if (r.regex && r.multiline == 0) {
    std::string pre = PrefilterFor(spec.regex);
    if (!pre.empty() && CheckSyntax(pre, spec.origin, who).ok())
      r.prefilter = std::make_unique<LazyRegex>(std::move(pre), max_mem,
                                                spec.origin + ": " + who + ": regex");
  }
  for (const AllowlistSpec& a : spec.allowlists) {
    AG_ASSIGN_OR_RETURN(CompiledAllowlist c, CompileAllowlist(a, max_mem, who));
    r.allowlists.push_back(std::move(c));
  }
  if (!spec.checksum.empty()) {
    r.checksum = ChecksumKindFromName(spec.checksum);
    if (r.checksum == ChecksumKind::kNone)
      return Status::InvalidArgument(spec.origin + ": " + who + ": unknown checksum '" +
                                     spec.checksum + "' (known: crc32-base62)");
  }
  return r;
}

}  // namespace

LazyRegex::LazyRegex(std::string pattern, int64_t max_mem, std::string where)
    : pattern_(std::move(pattern)), where_(std::move(where)), max_mem_(max_mem) {}
LazyRegex::~LazyRegex() = default;

Result<const re2::RE2*> LazyRegex::Get() const {
  std::call_once(once_, [this] {
    re2::RE2::Options opts;
    opts.set_log_errors(false);
    opts.set_max_mem(max_mem_);
    re_ = std::make_unique<re2::RE2>(pattern_, opts);
  });
  if (!re_->ok()) return Status::InvalidArgument(where_ + ": " + re_->error());
  return re_.get();
}

bool LazyRegex::compiled() const { return re_ != nullptr; }

int CountCapturingGroups(std::string_view re) {
  int groups = 0;
  for (size_t i = 0; i < re.size(); ++i) {
    const char c = re[i];
    if (c == '\\') {
      if (i + 1 < re.size() && re[i + 1] == 'Q') {  // \Q...\E: literal text
        size_t e = re.find("\\E", i + 2);
        i = e == std::string_view::npos ? re.size() : e + 1;
      } else {
        ++i;
      }
    } else if (c == '[') {  // a class: ']' right after '[' or '[^' is literal
      size_t j = i + 1;
      if (j < re.size() && re[j] == '^') ++j;
      if (j < re.size() && re[j] == ']') ++j;
      for (; j < re.size() && re[j] != ']'; ++j) {
        if (re[j] == '\\') {
          ++j;
        } else if (re[j] == '[' && j + 1 < re.size() && re[j + 1] == ':') {
          size_t e = re.find(":]", j + 2);
          if (e != std::string_view::npos) j = e + 1;
        }
      }
      i = j;
    } else if (c == '(') {
      if (i + 1 < re.size() && re[i + 1] == '?') {
        if (re.substr(i + 2, 2) == "P<" ||
            (re.substr(i + 2, 1) == "<" && re.substr(i + 3, 1) != "=" &&
             re.substr(i + 3, 1) != "!"))
          ++groups;
      } else {
        ++groups;
      }
    }
  }
  return groups;
}

std::string StripOptionalLeadingRun(std::string_view re) {
  size_t i = 0;
  std::string_view flags;
  if (re.substr(0, 2) == "(?") {
    size_t close = re.find(')');
    if (close == std::string_view::npos) return "";
    for (size_t k = 2; k < close; ++k)
      if (!std::isalpha(static_cast<unsigned char>(re[k]))) return "";  // not just flags
    flags = re.substr(0, close + 1);
    i = close + 1;
  }
  // The atom.
  if (i >= re.size()) return "";
  if (re[i] == '[') {
    size_t k = i + 1;
    if (k < re.size() && re[k] == '^') ++k;
    if (k < re.size() && re[k] == ']') ++k;  // a leading ']' is literal
    for (; k < re.size() && re[k] != ']'; ++k) {
      if (re[k] == '\\') ++k;
      else if (re[k] == '[' && k + 1 < re.size() && re[k + 1] == ':') {
        size_t end = re.find(":]", k + 2);
        if (end == std::string_view::npos) return "";
        k = end + 1;
      }
    }
    if (k >= re.size()) return "";
    i = k + 1;
  } else if (re[i] == '\\' && i + 1 < re.size() &&
             std::string_view("wWsSdD").find(re[i + 1]) != std::string_view::npos) {
    i += 2;
  } else if (re[i] == '.') {
    i += 1;
  } else {
    return "";
  }
  // The quantifier: may repeat zero times.
  if (i < re.size() && re[i] == '*') {
    i += 1;
  } else if (re.substr(i, 3) == "{0,") {
    size_t close = re.find('}', i);
    if (close == std::string_view::npos) return "";
    for (size_t k = i + 3; k < close; ++k)
      if (!std::isdigit(static_cast<unsigned char>(re[k]))) return "";
    i = close + 1;
  } else {
    return "";
  }
  if (i < re.size() && (re[i] == '?' || re[i] == '+')) ++i;  // lazy or possessive form
  std::string_view rest = re.substr(i);
  if (rest.empty() || rest[0] == '|' || rest[0] == ')' || rest[0] == '*' || rest[0] == '+' ||
      rest[0] == '?' || rest[0] == '{')
    return "";  // the run is part of an alternation or quantified again
  // An alternation at the top level of REST would bind differently without
  // the run (`a*b|c`): give up.
  int depth = 0;
  bool in_class = false;
  for (size_t k = 0; k < rest.size(); ++k) {
    char c = rest[k];
    if (c == '\\') {
      ++k;
    } else if (in_class) {
      if (c == ']') in_class = false;
    } else if (c == '[') {
      in_class = true;
      if (k + 1 < rest.size() && rest[k + 1] == '^') ++k;
      if (k + 1 < rest.size() && rest[k + 1] == ']') ++k;
    } else if (c == '(') {
      ++depth;
    } else if (c == ')') {
      --depth;
    } else if (c == '|' && depth == 0) {
      return "";
    }
  }
  return std::string(flags) + std::string(rest);
}

std::string RelaxRepetitionBounds(std::string_view re) {
  std::string out;
  out.reserve(re.size());
  bool in_class = false;
  for (size_t k = 0; k < re.size(); ++k) {
    char c = re[k];
    if (c == '\\') {
      out.push_back(c);
      if (k + 1 < re.size()) out.push_back(re[++k]);
      continue;
    }
    if (in_class) {
      if (c == ']') in_class = false;
      out.push_back(c);
      continue;
    }
    if (c == '[') {
      in_class = true;
      out.push_back(c);
      if (k + 1 < re.size() && re[k + 1] == '^') out.push_back(re[++k]);
      if (k + 1 < re.size() && re[k + 1] == ']') out.push_back(re[++k]);
      continue;
    }
    if (c == '{') {
      // {m,n} with digits only: keep "{m,", drop n.
      size_t close = re.find('}', k);
      size_t comma = re.find(',', k);
      bool digits = close != std::string_view::npos && comma != std::string_view::npos &&
                    comma < close && comma > k + 1 && close > comma + 1;
      for (size_t d = k + 1; digits && d < close; ++d)
        if (d != comma && !std::isdigit(static_cast<unsigned char>(re[d]))) digits = false;
      if (digits) {
        out.append(re.substr(k, comma - k + 1));
        out.push_back('}');
        k = close;
        continue;
      }
    }
    out.push_back(c);
  }
  return out;
}

std::string PrefilterFor(std::string_view re) {
  // \Q...\E quotes braces and bars the rewrites below would misread.
  if (re.find("\\Q") != std::string_view::npos) return "";
  std::string stripped = StripOptionalLeadingRun(re);
  std::string pre = RelaxRepetitionBounds(stripped.empty() ? re : std::string_view(stripped));
  return pre == re ? "" : pre;
}

Result<PackSpec> LoadPackFile(const std::string& path, const LoadOptions& options, int depth) {
  AG_ASSIGN_OR_RETURN(std::string text, ReadFile(path, kMaxRuleFileBytes));
  if (path.size() >= 5 && path.compare(path.size() - 5, 5, ".toml") == 0)
    return ParseGitleaksToml(text, path, options, depth);
  return ParseYamlPack(text, path);
}

Result<PackSpec> LoadBuiltinPack(const std::string& dir) {
  std::vector<std::pair<std::string, std::string>> files;  // name, text
  if (dir.empty()) {
    for (const BuiltinPackFile& f : BuiltinPackFiles()) files.emplace_back(f.name, f.text);
  } else {
    std::vector<std::string> paths = {dir + "/agentgate.yaml"};
    std::error_code ec;
    std::vector<std::string> parts;
    for (const auto& e : std::filesystem::directory_iterator(dir + "/builtin", ec))
      if (e.path().extension() == ".yaml") parts.push_back(e.path().string());
    if (ec) return Status::InvalidArgument(dir + "/builtin: " + ec.message());
    std::sort(parts.begin(), parts.end());
    paths.insert(paths.end(), parts.begin(), parts.end());
    for (const std::string& path : paths) {
      AG_ASSIGN_OR_RETURN(std::string text, ReadFile(path, kMaxRuleFileBytes));
      files.emplace_back(path, std::move(text));
    }
  }
  PackSpec merged;
  for (const auto& [name, text] : files) {
    AG_ASSIGN_OR_RETURN(PackSpec part, ParseYamlPack(text, name));
    for (RuleSpec& r : part.rules) merged.rules.push_back(std::move(r));
    for (AllowlistSpec& a : part.allowlists) merged.allowlists.push_back(std::move(a));
  }
  return merged;
}

Result<std::unique_ptr<RuleSet>> CompileRules(const std::vector<PackSpec>& packs,
                                              int64_t max_mem, bool eager) {
  auto set = std::make_unique<RuleSet>();
  std::unordered_map<std::string, size_t> index;
  for (const PackSpec& pack : packs) {
    for (const AllowlistSpec& a : pack.allowlists) {
      AG_ASSIGN_OR_RETURN(CompiledAllowlist c, CompileAllowlist(a, max_mem, ""));
      c.pack = set->packs;
      set->allowlists.push_back(std::move(c));
    }
    for (const RuleSpec& spec : pack.rules) {
      AG_ASSIGN_OR_RETURN(CompiledRule r, CompileRule(spec, max_mem));
      r.pack = set->packs;
      auto [it, fresh] = index.emplace(r.id, set->rules.size());
      if (fresh) set->rules.push_back(std::move(r));
      else set->rules[it->second] = std::move(r);
    }
    ++set->packs;
  }
  if (eager)
    for (const CompiledRule& r : set->rules)
      for (const LazyRegex* re : {r.regex.get(), r.line_regex.get()})
        if (re) AG_RETURN_IF_ERROR(re->Get().status());
  return set;
}

}  // namespace ag::scan
