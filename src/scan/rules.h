// Rule packs: the data behind the scanner. A pack is an agentgate YAML file
// (policies/rules/*.yaml) or a gitleaks TOML config; both load into the same
// RuleSpec/AllowlistSpec values, which CompileRules() turns into an immutable
// RuleSet (every RE2 compiled once, with an explicit memory budget). A rule's
// own regex is parsed (validated) by CompileRules and compiled on its first
// use (LazyRegex); path and allowlist regexes are compiled at once.
//
// Errors name the file and line of the offending rule: "<file>:<line>: rule
// 'id': <what>".
//
// Thread-safety: loaders are pure functions; a compiled RuleSet is immutable
// and may be shared between threads.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace re2 {
class RE2;
}

namespace ag::scan {

// Which text an allowlist regex is matched against.
enum class Target { kSecret, kMatch, kLine };

// An allowlist as written in a pack. With condition AND every non-empty
// criterion must hold; with OR (the default) any one suffices.
struct AllowlistSpec {
  std::string description;
  bool condition_and = false;
  Target target = Target::kSecret;
  std::vector<std::string> regexes;    // RE2 on the target
  std::vector<std::string> stopwords;  // case-insensitive substrings of the secret
  std::vector<std::string> paths;      // RE2 on the path
  std::vector<std::string> commits;    // exact commit ids
  std::string origin;                  // "file:line"
};

struct RuleSpec {
  std::string id;
  std::string description;
  std::string regex;          // RE2 syntax; empty for a path-only rule
  int secret_group = 0;       // 0: the first non-empty group, else the match
  std::vector<std::string> keywords;  // any one must occur (case-insensitive)
  double entropy = 0;         // keep a finding only if Shannon entropy > this
  std::string path;           // RE2 on the path; the rule applies only there
  bool generic = false;       // dropped when a specific rule found the same value
  bool require_digit = false; // the secret must contain a digit (generic rules)
  int multiline = -1;         // bytes the match may run past its line; -1: infer
  std::vector<AllowlistSpec> allowlists;
  std::string origin;         // "file:line"
  // Added for issue 13: a checksum the secret carries ("" none, or one of
  // ChecksumKindName()), verified on every finding (Finding::checksum).
  std::string checksum;
};

// Checksums a token format carries and the scanner verifies offline.
enum class ChecksumKind {
  kNone,
  // GitHub's classic tokens (ghp_ gho_ ghu_ ghs_) and npm's npm_ tokens:
  // prefix_ + 30 base62 characters + CRC32 of those 30 characters in base62,
  // zero-padded to 6 characters.
  kCrc32Base62,
};
// "crc32-base62" for kCrc32Base62; "" for kNone.
std::string_view ChecksumKindName(ChecksumKind kind);
// kNone for an unknown name.
ChecksumKind ChecksumKindFromName(std::string_view name);
// True when `secret` ends in a valid checksum of `kind`. For kCrc32Base62
// the secret is "<prefix>_<30 chars><6 chars>"; anything else is false.
bool VerifyChecksum(ChecksumKind kind, std::string_view secret);
// The 6-character base62 CRC32 of `payload` (tests make valid tokens).
std::string Crc32Base62(std::string_view payload);

// A whole pack: rules plus pack-wide allowlists (which apply to the rules of
// this pack only).
struct PackSpec {
  std::vector<RuleSpec> rules;
  std::vector<AllowlistSpec> allowlists;
};

// Options for loading gitleaks configs.
struct LoadOptions {
  // File used for `[extend] useDefault = true`. Empty: such a config fails to
  // load (fail closed rather than silently scanning with fewer rules).
  std::string gitleaks_default_config;
};

// Parses an agentgate YAML pack. `name` is used in messages.
Result<PackSpec> ParseYamlPack(std::string_view text, const std::string& name);
// Parses a gitleaks TOML config, following [extend] (path relative to `name`).
Result<PackSpec> ParseGitleaksToml(std::string_view text, const std::string& name,
                                   const LoadOptions& options, int depth = 0);
// Reads `path` and parses it by extension (.toml: gitleaks, else YAML).
// `depth` counts [extend] levels (internal).
Result<PackSpec> LoadPackFile(const std::string& path, const LoadOptions& options,
                              int depth = 0);
// One file of the built-in pack, as compiled into the binary: `name` is
// "<builtin>/agentgate.yaml" or "<builtin>/builtin/<group>.yaml".
struct BuiltinPackFile {
  std::string_view name;
  std::string_view text;
};
// The built-in pack's files: policies/rules/agentgate.yaml, then
// policies/rules/builtin/*.yaml in name order.
const std::vector<BuiltinPackFile>& BuiltinPackFiles();
// The built-in pack as one PackSpec: the rules of every file, and the
// allowlists of every file applying to all of them (the pack-wide
// placeholder and path allowlists live in agentgate.yaml). With `dir`
// non-empty the same files are read from disk instead (DIR/agentgate.yaml
// and DIR/builtin/*.yaml, DIR being a checkout's policies/rules): rule
// authors and tests try edits without rebuilding.
Result<PackSpec> LoadBuiltinPack(const std::string& dir = "");

// A rule regex compiled on first use, once, whichever thread gets there
// first (std::call_once): most rules of a large pack never see their
// keyword in a given process, and compiling all of them costs more than
// scanning a typical push. Its syntax was already checked by CompileRules.
//
// Thread-safety: Get() may be called from many threads at once.
class LazyRegex {
 public:
  // `where` prefixes an error: "<file>:<line>: rule '<id>': regex".
  LazyRegex(std::string pattern, int64_t max_mem, std::string where);
  LazyRegex(const LazyRegex&) = delete;
  LazyRegex& operator=(const LazyRegex&) = delete;
  ~LazyRegex();

  // The compiled regex (owned by this object), compiled by the first call.
  // InvalidArgument "<where>: <RE2 error>" when it does not compile (e.g.
  // over the memory budget); every later call returns the same error.
  Result<const re2::RE2*> Get() const;
  // True once Get() has run (tests, benchmarks).
  bool compiled() const;

 private:
  std::string pattern_;
  std::string where_;
  int64_t max_mem_;
  mutable std::once_flag once_;
  mutable std::unique_ptr<re2::RE2> re_;  // written once, under once_
};

// Capturing groups in an RE2 pattern, counted without compiling it: `(`
// outside classes and escapes, not `(?...` except `(?P<name>` / `(?<name>`.
// REQUIRES: the pattern parses (RE2 syntax).
int CountCapturingGroups(std::string_view pattern);

// For `FLAGS ATOM{0,N}? REST` (FLAGS an optional `(?i)`-style group, ATOM a
// character class, `\w`, `\S`, `.` and the like, the quantifier `{0,N}`,
// `{0,}` or `*`, lazy or not): FLAGS REST, which matches wherever the whole
// does (the run may be empty). Empty when the regex has no such start.
std::string StripOptionalLeadingRun(std::string_view pattern);

// Every counted repetition `{m,n}` (outside classes and escapes) as `{m,}`:
// a larger language (a match of the pattern is a match of the result), and
// a far smaller DFA, since RE2 unrolls a counted repetition into n states.
std::string RelaxRepetitionBounds(std::string_view pattern);

// The search prefilter for a rule regex (CompiledRule::prefilter): the
// regex without an optional leading run and with relaxed bounds, when that
// differs from the regex; else empty. It matches wherever the regex does.
std::string PrefilterFor(std::string_view pattern);

struct CompiledAllowlist {
  int pack = 0;  // index of the pack a pack-wide allowlist came from
  bool condition_and = false;
  Target target = Target::kSecret;
  std::vector<std::unique_ptr<re2::RE2>> regexes;
  std::vector<std::string> stopwords;  // lower-cased
  std::vector<std::unique_ptr<re2::RE2>> paths;
  std::vector<std::string> commits;
  bool path_only() const {
    return regexes.empty() && stopwords.empty() && commits.empty() && !paths.empty();
  }
};

struct CompiledRule {
  std::string id;
  std::string description;
  std::unique_ptr<LazyRegex> regex;  // null for a path-only rule
  // For a multi-line rule: `[^\n]*?(regex)`, run anchored at the start
  // of a keyword's line, so a match must start on that line (group 1 is the
  // match). Null for single-line rules.
  std::unique_ptr<LazyRegex> line_regex;
  // PrefilterFor(regex): for `(?i)[\w.-]{0,50}?X{0,20}Y` (as most
  // keyword-and-assignment rules are written), `(?i)X{0,}Y`. A window where
  // it does not match holds no match of the whole regex, and its DFA starts
  // only at X's literals and carries no counters, so it runs first and the
  // whole regex only where it matched. Null when it would be the regex.
  std::unique_ptr<LazyRegex> prefilter;
  std::unique_ptr<re2::RE2> path;    // null: any path
  int secret_group = 0;
  int groups = 0;                    // capturing groups in regex (counted)
  std::vector<std::string> keywords;  // lower-cased
  double entropy = 0;
  bool generic = false;
  bool require_digit = false;
  int multiline = 0;                // bytes past the keyword's line
  int pack = 0;                     // index of the pack it came from
  std::vector<CompiledAllowlist> allowlists;
  ChecksumKind checksum = ChecksumKind::kNone;
};

struct RuleSet {
  std::vector<CompiledRule> rules;
  // Pack-wide allowlists: each applies to the rules of its own pack only, so
  // one pack's placeholders or path skips never weaken another pack's rules.
  std::vector<CompiledAllowlist> allowlists;
  int packs = 0;
};

// Compiles packs in order. A later rule with an id already seen replaces the
// earlier one. Fails with InvalidArgument "<origin>: rule '<id>': ..." on the
// first bad regex (syntax, lookaround, backreference...), a path or allowlist
// regex over `max_mem`, or a rule with neither regex nor path. Rule regexes
// are only parsed here: one over `max_mem` fails on first use, or here with
// `eager` true (every rule regex compiled now).
Result<std::unique_ptr<RuleSet>> CompileRules(const std::vector<PackSpec>& packs,
                                              int64_t max_mem, bool eager = false);

}  // namespace ag::scan
