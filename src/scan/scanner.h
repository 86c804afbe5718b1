// The secret scanner: finds credentials in text with RE2 rules behind a
// keyword prefilter, and reports them masked and fingerprinted, never whole.
//
// Phases: build ScannerOptions, call Scanner::Create (loads the packs and
// checks every regex; a rule's regex is compiled once, on the first hit of
// one of its keywords), then call the Scan* methods as often as needed.
//
// Thread-safety: a Scanner is immutable after Create; its const methods may be
// called from many threads at once. Share it as shared_ptr<const Scanner>.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace ag::scan {

// One secret found. `masked` holds at most a few leading characters of the
// value followed by "****"; `fingerprint` is hex HMAC-SHA256(server key,
// value), so the same secret is recognisable across pushes without being
// stored. No field ever holds the whole secret.
struct Finding {
  std::string rule_id;      // e.g. "aws-access-key-id"
  std::string description;  // the rule's human description
  std::string path;         // path in the tree or on disk
  int line = 0;             // 1-based line of the match start
  int column = 0;           // 1-based byte column of the secret start
  std::string masked;       // "AKIA****"
  std::string fingerprint;  // hex HMAC-SHA256, 64 chars
  std::string commit;       // commit id when scanning history, else empty
  bool allowed_inline = false;  // an inline allow marker covered it (policy permitting)
  // Added for issue 13:
  // The rule's checksum (RuleSpec::checksum) held (kValid) or did not
  // (kInvalid: the shape is right, the checksum wrong: a typo, a made-up
  // token or a test value; policies hold rather than block it). kNone: the
  // rule has no checksum.
  enum class Checksum { kNone, kValid, kInvalid };
  Checksum checksum = Checksum::kNone;
  // "" when found in the text as written; "base64" when found in the
  // decoding of a base64/base64url run: line, column and `masked` then
  // describe the encoded run, `fingerprint` the decoded secret.
  std::string encoding;
};

// A file or blob the scanner did not read, and why (binary, too large). The
// caller records these: nothing is skipped silently.
struct SkipNote {
  std::string path;
  std::string reason;  // "binary", "larger than 10485760 bytes", "path skipped by rule pack"
};

// One added line of a diff: its 1-based number in the new file and its text
// (without the trailing newline).
struct Line {
  int number = 0;
  std::string_view text;
};

struct ScannerOptions {
  // Rule packs to load, in order: agentgate YAML packs (policies/rules/*.yaml)
  // or gitleaks TOML configs (by extension .toml). Default: none, which gives
  // the built-in high-confidence rules only.
  std::vector<std::string> rule_files;
  // Use the built-in high-confidence rules as well. Default true.
  bool builtin_rules = true;
  // Key for fingerprints. REQUIRES: non-empty in production; tests may use any.
  std::string fingerprint_key = "agentgate-default-fingerprint-key";
  // Honour `agentgate:allow` / `gitleaks:allow` markers on a line. Default
  // false: an agent can write them. When true, covered findings are still
  // returned with allowed_inline = true so the use is recorded.
  bool honor_inline_allow = false;
  // Blobs larger than this are skipped with a SkipNote. Default 10 MiB.
  uint64_t max_blob_bytes = 10u << 20;
  // RE2 memory budget per compiled rule. Default 8 MiB.
  int64_t re2_max_mem = 8 << 20;

  // Added after the first version (additions only):
  // The gitleaks default config, used by a TOML pack's `[extend] useDefault =
  // true`. Default empty: such a pack fails to load (fail closed).
  std::string gitleaks_default_config;
  // A blob stops being scanned after this many findings, with a SkipNote
  // saying so (bounds memory on hostile input). Default 1000.
  size_t max_findings_per_blob = 1000;
  // Compile every rule's regex in Create instead of on first use, so that a
  // regex over re2_max_mem fails Create rather than the first scan that
  // needs it (syntax errors fail Create either way). Default false: a hook
  // pays only for the rules whose keywords its push holds.
  bool compile_eagerly = false;
  // Read the built-in pack from this checkout folder (policies/rules)
  // instead of the copy compiled in (LoadBuiltinPack): for rule authors and
  // the rule tests. Default empty: the compiled-in copy.
  std::string builtin_dir;
  // Decode base64 and base64url runs of at least 32 characters one level and
  // scan the decoded bytes too (Finding::encoding). Default true.
  bool decode_base64 = true;
};

class Scanner {
 public:
  // Loads and checks every rule. Fails with InvalidArgument naming the file,
  // line and rule id of the first bad rule or file. A rule regex over
  // re2_max_mem fails here only with compile_eagerly; otherwise the Scan*
  // call that first needs it returns that error (fail closed).
  static Result<std::shared_ptr<const Scanner>> Create(const ScannerOptions& options);

  virtual ~Scanner() = default;
  Scanner(const Scanner&) = delete;
  Scanner& operator=(const Scanner&) = delete;

  // Scans a whole file's contents. Appends findings to *out, or a note to
  // *skipped when the content is binary or too large. A non-OK status means
  // the scan did not complete (fail closed: treat as not clean).
  virtual Status ScanText(std::string_view path, std::string_view text,
                          std::vector<Finding>* out, std::vector<SkipNote>* skipped) const = 0;

  // Scans only the given added lines of `path` (a diff hunk's '+' lines).
  virtual Status ScanLines(std::string_view path, const std::vector<Line>& lines,
                           std::vector<Finding>* out) const = 0;

  // Number of compiled rules.
  virtual size_t rule_count() const = 0;

  // Added after the first version (additions only):
  // As ScanLines, for the added lines of `path` in `commit`: sets
  // Finding::commit, honours allowlist `commits`, and notes in *skipped
  // (when non-null) a path that a pack-wide allowlist skips.
  virtual Status ScanCommitLines(std::string_view commit, std::string_view path,
                                 const std::vector<Line>& lines, std::vector<Finding>* out,
                                 std::vector<SkipNote>* skipped) const = 0;

  // True when the pack-wide path allowlists of every loaded pack skip `path`
  // (lock files, vendor/, node_modules/, minified files): callers may avoid
  // reading it, and should record a SkipNote with reason kSkipReasonPath.
  virtual bool SkipsPath(std::string_view path) const = 0;

  // Added for issue 13: the findings of the path-only rules (a rule with a
  // `path` and no regex, e.g. a PKCS#12 key store by its extension) for a
  // file at `path`, whatever its content: binary and oversize files
  // included. ScanText runs them itself; callers that scan added lines
  // (ScanCommitLines) or skip binary files call this for each added or
  // changed file.
  virtual void ScanPath(std::string_view path, std::vector<Finding>* out) const = 0;

 protected:
  Scanner() = default;
};

// SkipNote reasons other than the size one.
inline constexpr const char* kSkipReasonBinary = "binary";
inline constexpr const char* kSkipReasonPath = "path skipped by rule pack";
// The start of the note of a blob that hit max_findings_per_blob ("stopped
// after N findings"): it was not read to its end (the hook refuses it).
inline constexpr std::string_view kSkipReasonTruncatedPrefix = "stopped after ";

// Masks a secret value: up to 4 leading characters (fewer for short values,
// none below 8 characters) then "****".
std::string Mask(std::string_view value);

}  // namespace ag::scan
