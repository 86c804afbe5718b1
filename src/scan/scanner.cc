// The scanner engine: keyword prefilter, per-line RE2 windows, filters
// (entropy, allowlists, stopwords, generic-vs-specific), masking.
#include "scan/scanner.h"

#include <immintrin.h>
#include <re2/re2.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <unordered_map>

#include "scan/keywords.h"
#include "scan/rules.h"
#include "util/crypto.h"
#include "util/text.h"
#include "util/utf8.h"

namespace ag::scan {
namespace {

constexpr int kMaxGroups = 16;              // capturing groups we extract
constexpr std::string_view kInlineMarkers[] = {"agentgate:allow", "gitleaks:allow"};

double ShannonEntropy(std::string_view s) {
  if (s.empty()) return 0;
  size_t counts[256] = {};
  for (unsigned char c : s) ++counts[c];
  double h = 0, n = static_cast<double>(s.size());
  for (size_t c : counts)
    if (c) {
      double p = static_cast<double>(c) / n;
      h -= p * std::log2(p);
    }
  return h;
}

// Number of '\n' in [b, e): 16 bytes per step (SSE2, part of x86-64).
size_t CountNewlines(const char* b, const char* e) {
  size_t n = 0;
  const __m128i nl = _mm_set1_epi8('\n');
  while (e - b >= 16) {
    // Byte counters, summed before they can overflow (255 steps).
    const size_t steps = std::min<size_t>(static_cast<size_t>(e - b) / 16, 255);
    __m128i acc = _mm_setzero_si128();
    for (size_t i = 0; i < steps; ++i, b += 16) {
      __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b));
      acc = _mm_sub_epi8(acc, _mm_cmpeq_epi8(v, nl));
    }
    __m128i sums = _mm_sad_epu8(acc, _mm_setzero_si128());
    n += static_cast<size_t>(_mm_cvtsi128_si32(sums)) +
         static_cast<size_t>(_mm_cvtsi128_si32(_mm_srli_si128(sums, 8)));
  }
  for (; b < e; ++b) n += *b == '\n';
  return n;
}

bool HasDigit(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool AnyMatch(const std::vector<std::unique_ptr<re2::RE2>>& res, std::string_view text) {
  for (const auto& re : res)
    if (re2::RE2::PartialMatch(text, *re)) return true;
  return false;
}

// Encoded secrets (ScannerOptions::decode_base64).
constexpr size_t kMinEncodedRun = 32;
// The base64 and base64url alphabets together, as a value per byte (-1: not
// in them).
struct Base64Table {
  int8_t value[256];
  constexpr Base64Table() : value() {
    for (int c = 0; c < 256; ++c) value[c] = -1;
    for (int c = 0; c < 26; ++c) {
      value['A' + c] = static_cast<int8_t>(c);
      value['a' + c] = static_cast<int8_t>(26 + c);
    }
    for (int c = 0; c < 10; ++c) value['0' + c] = static_cast<int8_t>(52 + c);
    value['+'] = value['-'] = 62;
    value['/'] = value['_'] = 63;
  }
};
constexpr Base64Table kBase64;

// Which bytes are base64/base64url characters, by nibble tables (the
// usual pshufb validation): a byte is one when the class bits of its low
// nibble and of its high nibble share a bit. Classes: 1 '+' '-' '/' (high
// nibble 2), 2 digits (3), 4 'A'-'O' and 'a'-'o' (4, 6), 8 'P'-'Z' and
// 'p'-'z' (5, 7), 16 '_' (5).
#define AG_AVX2 __attribute__((target("avx2")))
AG_AVX2 inline __m256i Base64ClassesAvx2(__m256i v) {
  const __m256i lo_classes = _mm256_setr_epi8(
      2 | 8, 2 | 4 | 8, 2 | 4 | 8, 2 | 4 | 8, 2 | 4 | 8, 2 | 4 | 8, 2 | 4 | 8, 2 | 4 | 8,
      2 | 4 | 8, 2 | 4 | 8, 4 | 8, 1 | 4, 4, 1 | 4, 4, 1 | 4 | 16,
      2 | 8, 2 | 4 | 8, 2 | 4 | 8, 2 | 4 | 8, 2 | 4 | 8, 2 | 4 | 8, 2 | 4 | 8, 2 | 4 | 8,
      2 | 4 | 8, 2 | 4 | 8, 4 | 8, 1 | 4, 4, 1 | 4, 4, 1 | 4 | 16);
  const __m256i hi_classes = _mm256_setr_epi8(
      0, 0, 1, 2, 4, 8 | 16, 4, 8, 0, 0, 0, 0, 0, 0, 0, 0,
      0, 0, 1, 2, 4, 8 | 16, 4, 8, 0, 0, 0, 0, 0, 0, 0, 0);
  const __m256i nib = _mm256_set1_epi8(0x0f);
  const __m256i lo = _mm256_shuffle_epi8(lo_classes, _mm256_and_si256(v, nib));
  const __m256i hi =
      _mm256_shuffle_epi8(hi_classes, _mm256_and_si256(_mm256_srli_epi16(v, 4), nib));
  return _mm256_and_si256(lo, hi);
}

// Bit k: byte p[k] is in the alphabet.
AG_AVX2 uint32_t Base64Mask32Avx2(const char* p) {
  const __m256i c = Base64ClassesAvx2(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  return ~static_cast<uint32_t>(_mm256_movemask_epi8(_mm256_cmpeq_epi8(c, _mm256_setzero_si256())));
}

// The first i' >= i, stepping by 16 from i, such that base[i', i'+16) is all
// alphabet, looking while 32 bytes fit; else the first i' where they do not
// (the caller looks at what is left with SSE2). A returned i' + 32 may be
// past n (a full second half).
AG_AVX2 size_t NextFullBlockAvx2(const char* base, size_t i, size_t n) {
  for (; i + 32 <= n; i += 32) {
    const __m256i c = Base64ClassesAvx2(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(base + i)));
    const uint32_t none =
        static_cast<uint32_t>(_mm256_movemask_epi8(_mm256_cmpeq_epi8(c, _mm256_setzero_si256())));
    if ((none & 0xFFFFu) == 0) return i;
    if ((none >> 16) == 0) return i + 16;
  }
  return i;
}

// What ForEachEncodedRun asks of a run's characters.
struct RunTally {
  bool upper = false, lower = false, digit = false;
  size_t separators = 0;  // '-' and '_'
  void Add(char c) {
    upper = upper || (c >= 'A' && c <= 'Z');
    lower = lower || (c >= 'a' && c <= 'z');
    digit = digit || (c >= '0' && c <= '9');
    separators += c == '_' || c == '-';
  }
};

// Bit k: lo <= v[k] <= hi (ASCII ranges).
AG_AVX2 inline uint32_t InRangeAvx2(__m256i v, char lo, char hi) {
  return static_cast<uint32_t>(_mm256_movemask_epi8(
      _mm256_and_si256(_mm256_cmpgt_epi8(v, _mm256_set1_epi8(static_cast<char>(lo - 1))),
                       _mm256_cmpgt_epi8(_mm256_set1_epi8(static_cast<char>(hi + 1)), v))));
}

// Tallies p[0, 32) (all in the alphabet).
AG_AVX2 void TallyAvx2(const char* p, RunTally* t) {
  const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  t->upper = t->upper || InRangeAvx2(v, 'A', 'Z') != 0;
  t->lower = t->lower || InRangeAvx2(v, 'a', 'z') != 0;
  t->digit = t->digit || InRangeAvx2(v, '0', '9') != 0;
  const __m256i sep = _mm256_or_si256(_mm256_cmpeq_epi8(v, _mm256_set1_epi8('_')),
                                      _mm256_cmpeq_epi8(v, _mm256_set1_epi8('-')));
  t->separators += static_cast<size_t>(
      __builtin_popcount(static_cast<uint32_t>(_mm256_movemask_epi8(sep))));
}
#undef AG_AVX2

// The same with SSE2 only (16 bytes, range compares).
uint32_t Base64Mask16Sse2(const char* p) {
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  auto in = [&](char lo, char hi) {
    return _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8(static_cast<char>(lo - 1))),
                         _mm_cmplt_epi8(v, _mm_set1_epi8(static_cast<char>(hi + 1))));
  };
  __m128i m = _mm_or_si128(_mm_or_si128(in('A', 'Z'), in('a', 'z')), in('0', '9'));
  for (char c : {'+', '/', '-', '_'}) m = _mm_or_si128(m, _mm_cmpeq_epi8(v, _mm_set1_epi8(c)));
  return static_cast<uint32_t>(_mm_movemask_epi8(m));
}

const bool kHaveAvx2 = __builtin_cpu_supports("avx2");

inline bool InAlphabet(char c) { return kBase64.value[static_cast<unsigned char>(c)] >= 0; }

// Calls fn(begin, length) for each run of base64/base64url characters of at
// least kMinEncodedRun bytes that looks encoded: it holds an upper-case
// letter, a lower-case letter and a digit, and at most one '-' or '_' in 12
// characters (identifiers such as EGL_EXT_gl_colorspace_display_p3 have
// more; random base64url has 1 in 32). Runs come in order; stops when fn
// returns false. A run of 32 bytes holds a whole 16-byte block at a multiple
// of 16, so only such blocks made entirely of the alphabet are looked at
// more closely; runs are then extended and tallied 32 bytes at a time.
template <typename Fn>
void ForEachEncodedRun(std::string_view text, Fn&& fn) {
  const char* base = text.data();
  const size_t n = text.size();
  const bool simd = kHaveAvx2;
  size_t i = 0;
  while (i + 16 <= n) {
    if (simd && i + 32 <= n) {
      i = NextFullBlockAvx2(base, i, n);
      if (i + 32 > n) continue;  // the tail, or a full block in it: SSE2 below
    } else if (Base64Mask16Sse2(base + i) != 0xFFFFu) {
      i += 16;
      continue;
    }
    size_t b = i, e = i + 16;
    // Extend right, then left, 32 bytes at a time while they fit.
    while (true) {
      if (simd && e + 32 <= n) {
        uint32_t m = Base64Mask32Avx2(base + e);
        if (m == 0xFFFFFFFFu) {
          e += 32;
          continue;
        }
        e += static_cast<size_t>(__builtin_ctz(~m));
        break;
      }
      while (e < n && InAlphabet(base[e])) ++e;
      break;
    }
    while (true) {
      if (simd && b >= 32) {
        uint32_t m = Base64Mask32Avx2(base + b - 32);
        if (m == 0xFFFFFFFFu) {
          b -= 32;
          continue;
        }
        b -= static_cast<size_t>(__builtin_clz(~m));
        break;
      }
      while (b > 0 && InAlphabet(base[b - 1])) --b;
      break;
    }
    const size_t len = e - b;
    if (len >= kMinEncodedRun) {
      RunTally t;
      size_t k = b;
      if (simd)
        for (; k + 32 <= e; k += 32) TallyAvx2(base + k, &t);
      for (; k < e; ++k) t.Add(base[k]);
      if (t.upper && t.lower && t.digit && t.separators * 12 <= len && !fn(b, len)) return;
    }
    i = std::max(i + 16, (e + 15) & ~size_t{15});
  }
}

// Decodes a run (either alphabet; a trailing partial group is dropped) into
// *out and returns true when the result is text: no NUL, at most 1 byte in
// 20 that is a control character or (in a decoding that is not valid UTF-8)
// outside ASCII. UTF-8 text in any script passes; random key material and
// images do not.
bool DecodeBase64Text(std::string_view run, std::string* out) {
  out->clear();
  out->reserve(run.size() / 4 * 3 + 3);
  uint32_t acc = 0;
  int bits = 0;
  size_t controls = 0, high = 0;
  for (char ch : run) {
    acc = (acc << 6) | static_cast<uint32_t>(kBase64.value[static_cast<unsigned char>(ch)]);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      unsigned char b = static_cast<unsigned char>(acc >> bits);
      if (b == 0) return false;
      if ((b < 0x20 && b != '\t' && b != '\n' && b != '\r') || b == 0x7f) {
        if (++controls * 20 > run.size()) return false;
      }
      high += b >= 0x80;
      out->push_back(static_cast<char>(b));
      acc &= (1u << bits) - 1;
    }
  }
  // A run may end inside a multi-byte character: up to 3 bytes are let go.
  bool utf8 = high == 0;
  for (size_t cut = 0; !utf8 && cut < 4 && cut <= out->size(); ++cut)
    utf8 = IsUtf8(std::string_view(*out).substr(0, out->size() - cut));
  size_t odd = controls + (utf8 ? 0 : high);
  return odd * 20 <= out->size();
}

// What an allowlist looks at for one candidate finding.
struct Candidate {
  std::string_view secret, match, line, path, commit;
};

bool Allowed(const CompiledAllowlist& a, const Candidate& c) {
  std::string_view target = a.target == Target::kSecret  ? c.secret
                            : a.target == Target::kMatch ? c.match
                                                         : c.line;
  auto regex_hit = [&] { return AnyMatch(a.regexes, target); };
  auto path_hit = [&] { return AnyMatch(a.paths, c.path); };
  auto commit_hit = [&] {
    return !c.commit.empty() &&
           std::find(a.commits.begin(), a.commits.end(), c.commit) != a.commits.end();
  };
  auto stopword_hit = [&] {
    if (a.stopwords.empty()) return false;
    std::string lower = Lower(c.secret);
    for (const std::string& w : a.stopwords)
      if (lower.find(w) != std::string::npos) return true;
    return false;
  };
  if (a.condition_and) {
    return (a.regexes.empty() || regex_hit()) && (a.paths.empty() || path_hit()) &&
           (a.commits.empty() || commit_hit()) && (a.stopwords.empty() || stopword_hit());
  }
  return (!a.regexes.empty() && regex_hit()) || (!a.paths.empty() && path_hit()) ||
         commit_hit() || stopword_hit();
}

// A match that passed the rule's own filters, before cross-rule dedupe.
struct Raw {
  uint32_t rule;
  size_t secret_begin, secret_len;
  size_t line_begin;  // start of the line holding secret_begin
};

// Per-call scratch state.
struct Job {
  std::string_view path, commit, text;
  // For ScanLines: buffer line index -> real line number; null means count.
  const std::vector<int>* line_numbers = nullptr;
  std::vector<Raw> raws;
  // Spans a specific rule's own allowlist let through: explicit decisions
  // that other packs' rules respect (e.g. a team's allowlisted public key).
  std::vector<Raw> allowed_spans;
  std::vector<char> applies;  // per rule: it applies to `path` (Run fills it)
  // Per multi-line rule: bytes its line-anchored runs read, and whether it
  // switched to one unanchored run over the rest (RunRule).
  std::vector<size_t> multiline_read;
  std::vector<char> multiline_done;
  bool truncated = false;
  Status error;  // a rule regex that failed to compile: the scan is incomplete
  bool stop() const { return truncated || !error.ok(); }
};

class ScannerImpl final : public Scanner {
 public:
  ScannerImpl(ScannerOptions options, std::unique_ptr<RuleSet> rules)
      : options_(std::move(options)), rules_(std::move(rules)) {
    std::unordered_map<std::string, uint32_t> ids;
    std::vector<std::string> words;
    for (uint32_t r = 0; r < rules_->rules.size(); ++r) {
      const CompiledRule& rule = rules_->rules[r];
      if (!rule.regex) {
        path_only_rules_.push_back(r);
        continue;
      }
      if (rule.keywords.empty()) {
        keywordless_rules_.push_back(r);
        continue;
      }
      for (const std::string& k : rule.keywords) {
        auto [it, fresh] = ids.emplace(k, static_cast<uint32_t>(words.size()));
        if (fresh) {
          words.push_back(k);
          keyword_rules_.emplace_back();
        }
        keyword_rules_[it->second].push_back(r);
      }
    }
    matcher_ = KeywordMatcher(words);
    for (const CompiledAllowlist& a : rules_->allowlists)
      if (!a.condition_and && !a.paths.empty()) path_skips_.push_back(&a);
    for (const CompiledRule& rule : rules_->rules) {
      if (std::find(rule_packs_.begin(), rule_packs_.end(), rule.pack) == rule_packs_.end())
        rule_packs_.push_back(rule.pack);
    }
  }

  Status ScanText(std::string_view path, std::string_view text, std::vector<Finding>* out,
                  std::vector<SkipNote>* skipped) const override {
    auto note = [&](std::string reason) {
      if (skipped) skipped->push_back({std::string(path), std::move(reason)});
    };
    // A file is reported by name (a key store) whatever its content.
    ScanPath(path, out);
    if (text.size() > options_.max_blob_bytes) {
      note("larger than " + std::to_string(options_.max_blob_bytes) + " bytes");
      return Status::Ok();
    }
    if (LooksBinary(text)) {
      note(kSkipReasonBinary);
      return Status::Ok();
    }
    if (SkipsPath(path)) {
      note(kSkipReasonPath);
      return Status::Ok();
    }
    Job job{path, {}, text};
    Run(job);
    if (!job.error.ok()) return job.error;
    Emit(job, out);
    AG_RETURN_IF_ERROR(ScanDecoded(job, out));
    if (job.truncated) note(TruncatedReason());
    return Status::Ok();
  }

  Status ScanLines(std::string_view path, const std::vector<Line>& lines,
                   std::vector<Finding>* out) const override {
    return ScanCommitLines({}, path, lines, out, nullptr);
  }

  Status ScanCommitLines(std::string_view commit, std::string_view path,
                         const std::vector<Line>& lines, std::vector<Finding>* out,
                         std::vector<SkipNote>* skipped) const override {
    auto note = [&](std::string reason) {
      if (skipped) skipped->push_back({std::string(path), std::move(reason)});
    };
    if (SkipsPath(path)) {
      note(kSkipReasonPath);
      return Status::Ok();
    }
    // Join the added lines so that rules spanning lines see consecutive ones.
    std::string buffer;
    std::vector<int> numbers;
    numbers.reserve(lines.size());
    size_t total = 0;
    for (const Line& l : lines) total += l.text.size() + 1;
    if (total > options_.max_blob_bytes) {
      note("larger than " + std::to_string(options_.max_blob_bytes) + " bytes");
      return Status::Ok();
    }
    buffer.reserve(total);
    for (const Line& l : lines) {
      buffer.append(l.text);
      buffer.push_back('\n');
      numbers.push_back(l.number);
    }
    Job job{path, commit, buffer, &numbers};
    Run(job);
    if (!job.error.ok()) return job.error;
    Emit(job, out);
    AG_RETURN_IF_ERROR(ScanDecoded(job, out));
    if (job.truncated) note(TruncatedReason());
    return Status::Ok();
  }

  // A path is skipped when every pack with rules skips it.
  bool SkipsPath(std::string_view path) const override {
    std::vector<char> skipped = SkippedPacks(path);
    for (int p : rule_packs_)
      if (!skipped[p]) return false;
    return !rule_packs_.empty();
  }

  size_t rule_count() const override { return rules_->rules.size(); }

 private:
  std::string TruncatedReason() const {
    return std::string(kSkipReasonTruncatedPrefix) + std::to_string(options_.max_findings_per_blob) +
           " findings";
  }

  // skipped[pack] is true when a pack-wide OR allowlist matches the path.
  std::vector<char> SkippedPacks(std::string_view path) const {
    std::vector<char> skipped(rules_->packs + 1, 0);
    for (const CompiledAllowlist* a : path_skips_)
      if (!skipped[a->pack] && AnyMatch(a->paths, path)) skipped[a->pack] = 1;
    return skipped;
  }

  // True when rule `r` applies to job.path (its path regex, and no rule
  // allowlist that skips the whole path).
  bool RuleAppliesTo(const CompiledRule& rule, std::string_view path) const {
    if (rule.path && !re2::RE2::PartialMatch(path, *rule.path)) return false;
    for (const CompiledAllowlist& a : rule.allowlists)
      if (!a.condition_and && !a.paths.empty() && AnyMatch(a.paths, path)) return false;
    return true;
  }

  void ScanPath(std::string_view path, std::vector<Finding>* out) const override {
    if (path_only_rules_.empty()) return;
    std::vector<char> skipped_packs = SkippedPacks(path);
    for (uint32_t r : path_only_rules_) {
      const CompiledRule& rule = rules_->rules[r];
      if (skipped_packs[rule.pack] || !RuleAppliesTo(rule, path)) continue;
      Finding f;
      f.rule_id = rule.id;
      f.description = rule.description;
      f.path = std::string(path);
      f.masked = Mask("");
      f.fingerprint = HexEncode(HmacSha256(options_.fingerprint_key, path));
      out->push_back(std::move(f));
    }
  }

  // applies[r]: rule r applies to `path` (its pack does not skip the path,
  // its own path regex and allowlists let it in).
  std::vector<char> AppliesTo(std::string_view path) const {
    std::vector<char> applies(rules_->rules.size());
    std::vector<char> skipped_packs = SkippedPacks(path);
    for (size_t r = 0; r < applies.size(); ++r)
      applies[r] = !skipped_packs[rules_->rules[r].pack] && RuleAppliesTo(rules_->rules[r], path);
    return applies;
  }

  void Run(Job& job) const {
    if (job.applies.empty()) job.applies = AppliesTo(job.path);
    const std::vector<char>& applies = job.applies;
    const std::string_view text = job.text;

    // Rules without keywords see the whole text.
    for (uint32_t r : keywordless_rules_)
      if (applies[r]) RunRule(job, r, 0, text.size(), text.size());

    // Keyword hits, grouped by line: each rule runs at most once per line.
    std::vector<uint32_t> stamp(rules_->rules.size(), 0);
    uint32_t generation = 1;
    std::vector<uint32_t> pending;
    size_t line_begin = 0, line_end = 0;  // current line [begin, end)
    bool have_line = false;
    auto flush = [&] {
      std::sort(pending.begin(), pending.end());  // rule order, whatever the hit order
      for (uint32_t r : pending) RunRule(job, r, line_begin, line_end, line_end, true);
      pending.clear();
      ++generation;
    };
    matcher_.Scan(text, [&](size_t end, uint32_t keyword) {
      size_t pos = end - 1;
      // Hits come in order of their start; only a keyword holding a '\n'
      // could end on an earlier line than the previous hit (then the rule
      // may run twice on a line: same spans, deduped in Emit).
      if (!have_line || pos >= line_end || pos < line_begin) {
        if (have_line) flush();
        if (job.stop()) return false;
        size_t floor = have_line && pos >= line_end ? line_end : 0;
        const void* nl = pos > floor ? memrchr(text.data() + floor, '\n', pos - floor) : nullptr;
        line_begin = nl ? static_cast<const char*>(nl) - text.data() + 1 : floor;
        const void* nr = std::memchr(text.data() + pos, '\n', text.size() - pos);
        line_end = nr ? static_cast<const char*>(nr) - text.data() : text.size();
        have_line = true;
      }
      for (uint32_t r : keyword_rules_[keyword]) {
        if (stamp[r] == generation || !applies[r]) continue;
        stamp[r] = generation;
        pending.push_back(r);
      }
      return true;
    });
    if (have_line) flush();
  }

  // Runs rule `r` on text[begin, end + multiline) and keeps matches that
  // start before `limit` (the end of the keyword's line). `on_line`: begin
  // is the start of the keyword's line and end == limit its end; then a
  // multi-line rule runs as its line-anchored form, which stops reading
  // where no match started on the line can go on, instead of searching the
  // whole window for a start that would be dropped anyway.
  void RunRule(Job& job, uint32_t r, size_t begin, size_t end, size_t limit,
               bool on_line = false) const {
    const CompiledRule& rule = rules_->rules[r];
    if (rule.prefilter) {
      // No match of the regex without its optional leading run: no match.
      Result<const re2::RE2*> pre = rule.prefilter->Get();
      if (!pre.ok()) {
        if (job.error.ok()) job.error = pre.status();
        return;
      }
      size_t pre_end = std::min(job.text.size(), end + static_cast<size_t>(rule.multiline));
      if (!(*pre)->Match(job.text.substr(begin, pre_end - begin), 0, pre_end - begin,
                         re2::RE2::UNANCHORED, nullptr, 0))
        return;
    }
    const bool anchored = on_line && rule.line_regex != nullptr;
    if (anchored) {
      // A multi-line rule reads up to `multiline` bytes past each keyword
      // line: 10 MiB of "BEGIN ... PRIVATE KEY" lines would read 64 KiB
      // each (the hook starved for half a minute). Past a budget of
      // max(16 MiB, 8x the text) of windows (what they could read: most
      // runs stop within their first line) the rule runs once, unanchored,
      // from this line to the end (linear), keeping every match, and is
      // done. (At 1 MiB / 2x, headers that mention PRIVATE KEY a few dozen
      // times tripped it: 7.3 -> 9.4 instructions/byte.)
      if (job.multiline_done.empty()) {
        job.multiline_done.assign(rules_->rules.size(), 0);
        job.multiline_read.assign(rules_->rules.size(), 0);
      }
      if (job.multiline_done[r]) return;
      job.multiline_read[r] += std::min(job.text.size(), end + static_cast<size_t>(rule.multiline)) - begin;
      if (job.multiline_read[r] > std::max<size_t>(size_t{16} << 20, 8 * job.text.size())) {
        job.multiline_done[r] = 1;
        return RunRule(job, r, begin, job.text.size(), job.text.size(), false);
      }
    }
    Result<const re2::RE2*> compiled = anchored ? rule.line_regex->Get() : rule.regex->Get();
    if (!compiled.ok()) {
      if (job.error.ok()) job.error = compiled.status();
      return;
    }
    const re2::RE2& re = **compiled;
    const int skip = anchored ? 1 : 0;  // the line-anchored form's group 1 is the match
    const int num_groups = re.NumberOfCapturingGroups() - skip;
    if (rule.secret_group > num_groups) {
      if (job.error.ok())
        job.error = Status::InvalidArgument("rule '" + rule.id + "': secret group " +
                                            std::to_string(rule.secret_group) + " but the regex has " +
                                            std::to_string(num_groups) + " groups");
      return;
    }
    const std::string_view text = job.text;
    size_t win_end = std::min(text.size(), end + static_cast<size_t>(rule.multiline));
    std::string_view window = text.substr(begin, win_end - begin);
    const int n = std::min(num_groups, kMaxGroups) + 1;
    re2::StringPiece all[kMaxGroups + 2];
    re2::StringPiece* groups = all + skip;
    const re2::RE2::Anchor how = anchored ? re2::RE2::ANCHOR_START : re2::RE2::UNANCHORED;
    // Line bounds of the matches, found moving forward only: matches come
    // in order, and a 10 MB line of allowlisted matches must not be read
    // back to its start for each (quadratic).
    size_t back_pos = begin, back_line = begin;  // line start of back_pos
    auto line_begin_of = [&](size_t p) {
      if (p < back_pos) return LineBegin(text, p, begin);
      const void* nl = p > back_pos ? memrchr(text.data() + back_pos, '\n', p - back_pos) : nullptr;
      if (nl) back_line = static_cast<const char*>(nl) - text.data() + 1;
      back_pos = p;
      return back_line;
    };
    size_t fwd_from = std::string_view::npos, fwd_end = 0;  // first '\n' at or after fwd_from
    auto line_end_of = [&](size_t p) {
      if (fwd_from != std::string_view::npos && p >= fwd_from && p <= fwd_end) return fwd_end;
      const void* nr = std::memchr(text.data() + p, '\n', text.size() - p);
      fwd_from = p;
      fwd_end = nr ? static_cast<const char*>(nr) - text.data() : text.size();
      return fwd_end;
    };
    size_t pos = 0;
    while (pos <= window.size() && !job.stop()) {
      if (!re.Match(window, pos, window.size(), how, all, n + skip)) break;
      const re2::StringPiece m = groups[0];
      size_t m_begin = static_cast<size_t>(m.data() - text.data());
      if (m_begin > limit) break;
      pos = static_cast<size_t>(m.data() - window.data()) + (m.empty() ? 1 : m.size());
      re2::StringPiece secret = m;
      if (rule.secret_group > 0 && rule.secret_group < n) {
        if (groups[rule.secret_group].data()) secret = groups[rule.secret_group];
      } else {
        for (int g = 1; g < n; ++g)
          if (!groups[g].empty()) {
            secret = groups[g];
            break;
          }
      }
      if (secret.empty()) continue;
      std::string_view sv(secret.data(), secret.size());
      if (rule.entropy > 0 && ShannonEntropy(sv) <= rule.entropy) continue;
      if (rule.require_digit && !HasDigit(sv)) continue;
      size_t s_begin = static_cast<size_t>(secret.data() - text.data());
      size_t m_end = m_begin + m.size();
      size_t ml_begin = line_begin_of(m_begin);
      size_t l_begin = line_begin_of(s_begin);
      size_t l_end = line_end_of(m_end);
      Candidate c{sv, std::string_view(m.data(), m.size()),
                  text.substr(ml_begin, l_end - ml_begin), job.path, job.commit};
      if (IsAllowedGlobally(rule, c)) continue;
      if (IsAllowedByRule(rule, c)) {
        if (!rule.generic) job.allowed_spans.push_back({r, s_begin, secret.size(), l_begin});
        continue;
      }
      if (job.raws.size() >= options_.max_findings_per_blob) {
        job.truncated = true;
        break;
      }
      job.raws.push_back({r, s_begin, secret.size(), l_begin});
    }
  }

  // Base64 and base64url runs of at least kMinEncodedRun characters on one
  // line, holding an upper-case letter, a lower-case letter and a digit (so
  // long identifiers and hex digests are not decoded), are decoded once and
  // the decoding scanned with every rule when it is text. Findings inside
  // describe the run: its line and column, `masked` of the encoded run,
  // encoding "base64"; the fingerprint is of the decoded secret.
  Status ScanDecoded(Job& job, std::vector<Finding>* out) const {
    if (!options_.decode_base64 || job.truncated) return Status::Ok();
    const std::string_view text = job.text;
    size_t counted_to = 0;
    int line_index = 0;
    size_t emitted = job.raws.size();  // the bound covers both kinds of finding
    Status status;
    size_t absorbed_until = 0;  // lines already decoded as part of a wrapped block
    ForEachEncodedRun(text, [&](size_t begin, size_t len) {
      if (begin < absorbed_until) return true;
      // Wrapped base64 (`base64` wraps at 76 columns, PEM at 64): a run
      // that fills its line up to its end, of at least 40 characters, is
      // joined with the following lines made of the alphabet alone
      // (indentation allowed), up to one with padding or a shorter one.
      std::string joined;
      std::string_view encoded = text.substr(begin, len);
      size_t e = begin + len;
      // The end of the line a run ends on (its '\n', or the text's end),
      // past '=' padding and a '\r'; npos when more follows on the line.
      auto end_of_line = [&](size_t p, bool* padded) {
        *padded = p < text.size() && text[p] == '=';
        while (p < text.size() && text[p] == '=') ++p;
        if (p < text.size() && text[p] == '\r') ++p;
        return p >= text.size() || text[p] == '\n' ? p : std::string_view::npos;
      };
      bool padded = false;
      size_t last_len = len;
      size_t end = end_of_line(e, &padded);
      while (end != std::string_view::npos && end < text.size() && !padded && last_len >= 40) {
        size_t q = end + 1;
        while (q < text.size() && (text[q] == ' ' || text[q] == '\t')) ++q;
        size_t r = q;
        while (r < text.size() && InAlphabet(text[r])) ++r;
        size_t next_end = end_of_line(r, &padded);
        if (r - q < 4 || next_end == std::string_view::npos) break;
        if (joined.empty()) joined.assign(text.substr(begin, len));
        joined.append(text.substr(q, r - q));
        last_len = r - q;
        absorbed_until = r;
        e = r;
        end = next_end;
      }
      if (!joined.empty()) encoded = joined;
      // The run may start a few characters before the encoding does (a
      // word glued to it: `x<base64>`, `/<base64>` in a URL path): each of
      // the 4 alignments is tried until one decodes to text holding a
      // finding; after the run's last '/' (a URL path glued in front:
      // `com/cb/<base64>`) too.
      std::vector<Finding> found;
      std::string decoded;
      std::vector<size_t> skips = {0, 1, 2, 3};
      size_t slash = text.substr(begin, len).rfind('/');
      if (slash != std::string_view::npos && slash >= 3)
        for (size_t k = 1; k <= 4; ++k) skips.push_back(slash + k);
      // The first alignment that decodes to text is the one: a wrong one
      // almost never does, so one decoding is scanned per run.
      for (size_t skip : skips) {
        if (skip > encoded.size() || encoded.size() - skip < kMinEncodedRun) continue;
        if (!DecodeBase64Text(encoded.substr(skip), &decoded)) continue;
        Job inner{job.path, job.commit, decoded};
        inner.applies = job.applies;  // same path: computed once
        Run(inner);
        if (!inner.error.ok()) {
          status = inner.error;
          return false;
        }
        if (!inner.raws.empty()) Emit(inner, &found);
        break;
      }
      if (found.empty()) return true;
      line_index += static_cast<int>(CountNewlines(text.data() + counted_to, text.data() + begin));
      counted_to = begin;
      size_t line_begin = LineBegin(text, begin, 0);
      const void* nr = std::memchr(text.data() + begin, '\n', text.size() - begin);
      size_t line_end = nr ? static_cast<const char*>(nr) - text.data() : text.size();
      bool marked = false;
      if (options_.honor_inline_allow)
        for (std::string_view marker : kInlineMarkers)
          marked = marked || text.substr(line_begin, line_end - line_begin).find(marker) !=
                                 std::string_view::npos;
      for (Finding& f : found) {
        if (emitted >= options_.max_findings_per_blob) {
          job.truncated = true;
          return false;
        }
        f.line = job.line_numbers ? (*job.line_numbers)[line_index] : line_index + 1;
        f.column = static_cast<int>(begin - line_begin) + 1;
        f.masked = Mask(text.substr(begin, len));
        f.encoding = "base64";
        f.allowed_inline = marked;
        out->push_back(std::move(f));
        ++emitted;
      }
      return true;
    });
    return status;
  }

  static size_t LineBegin(std::string_view text, size_t pos, size_t floor) {
    if (pos <= floor) return floor;
    const void* nl = memrchr(text.data() + floor, '\n', pos - floor);
    return nl ? static_cast<const char*>(nl) - text.data() + 1 : floor;
  }

  bool IsAllowedGlobally(const CompiledRule& rule, const Candidate& c) const {
    for (const CompiledAllowlist& a : rules_->allowlists)
      if (a.pack == rule.pack && Allowed(a, c)) return true;
    return false;
  }

  bool IsAllowedByRule(const CompiledRule& rule, const Candidate& c) const {
    for (const CompiledAllowlist& a : rule.allowlists)
      if (Allowed(a, c)) return true;
    return false;
  }

  // Dedupes, drops generic findings a specific rule covers, and turns the
  // rest into masked Findings.
  void Emit(Job& job, std::vector<Finding>* out) const {
    auto& raws = job.raws;
    std::stable_sort(raws.begin(), raws.end(), [](const Raw& a, const Raw& b) {
      if (a.secret_begin != b.secret_begin) return a.secret_begin < b.secret_begin;
      return a.rule < b.rule;
    });
    auto secret_of = [&](const Raw& r) { return job.text.substr(r.secret_begin, r.secret_len); };
    std::vector<char> keep(raws.size(), 1);
    // A generic finding is dropped when a specific rule found the same value
    // (or one containing it, or contained in it) on the same line.
    for (size_t i = 0; i < raws.size(); ++i) {
      if (!rules_->rules[raws[i].rule].generic) continue;
      std::string_view gs = secret_of(raws[i]);
      for (size_t j = 0; j < raws.size(); ++j) {
        if (i == j || raws[j].line_begin != raws[i].line_begin ||
            rules_->rules[raws[j].rule].generic)
          continue;
        std::string_view ss = secret_of(raws[j]);
        // The specific value holds the generic one: the same secret. The
        // generic value holds the specific one plus a few characters (a
        // "Bearer " prefix): the same secret too, unless the specific one's
        // checksum fails: then the rest may be the real secret, with a
        // made-up token glued on to have it held rather than blocked.
        const CompiledRule& sr = rules_->rules[raws[j].rule];
        const bool vouched = sr.checksum == ChecksumKind::kNone || VerifyChecksum(sr.checksum, ss);
        if (ss.find(gs) != std::string_view::npos ||
            (vouched && gs.find(ss) != std::string_view::npos && gs.size() - ss.size() <= 8)) {
          keep[i] = 0;
          break;
        }
      }
    }
    for (size_t i = 0; i < raws.size(); ++i)
      for (const Raw& a : job.allowed_spans)
        if (a.secret_begin == raws[i].secret_begin && a.secret_len == raws[i].secret_len &&
            rules_->rules[a.rule].pack != rules_->rules[raws[i].rule].pack)
          keep[i] = 0;
    // The same span from two kept rules: report it once, for the earlier
    // rule (packs' order).
    for (size_t i = 0; i < raws.size(); ++i) {
      for (size_t j = 0; j < i && keep[i]; ++j)
        if (keep[j] && raws[j].secret_begin == raws[i].secret_begin &&
            raws[j].secret_len == raws[i].secret_len)
          keep[i] = 0;
    }
    // Line numbers: count newlines incrementally (raws are sorted).
    size_t counted_to = 0;
    int line_index = 0;
    for (size_t i = 0; i < raws.size(); ++i) {
      const Raw& r = raws[i];
      line_index += static_cast<int>(
          CountNewlines(job.text.data() + counted_to, job.text.data() + r.line_begin));
      counted_to = r.line_begin;
      if (!keep[i]) continue;
      const CompiledRule& rule = rules_->rules[r.rule];
      std::string_view secret = secret_of(r);
      Finding f;
      f.rule_id = rule.id;
      f.description = rule.description;
      f.path = std::string(job.path);
      f.line = job.line_numbers ? (*job.line_numbers)[line_index] : line_index + 1;
      f.column = static_cast<int>(r.secret_begin - r.line_begin) + 1;
      f.masked = Mask(secret);
      f.fingerprint = HexEncode(HmacSha256(options_.fingerprint_key, secret));
      f.commit = std::string(job.commit);
      if (rule.checksum != ChecksumKind::kNone)
        f.checksum = VerifyChecksum(rule.checksum, secret) ? Finding::Checksum::kValid
                                                           : Finding::Checksum::kInvalid;
      if (options_.honor_inline_allow) {
        const void* nr = std::memchr(job.text.data() + r.secret_begin, '\n',
                                     job.text.size() - r.secret_begin);
        size_t l_end = nr ? static_cast<const char*>(nr) - job.text.data() : job.text.size();
        std::string_view line = job.text.substr(r.line_begin, l_end - r.line_begin);
        for (std::string_view marker : kInlineMarkers)
          if (line.find(marker) != std::string_view::npos) f.allowed_inline = true;
      }
      out->push_back(std::move(f));
    }
  }

  const ScannerOptions options_;
  const std::unique_ptr<RuleSet> rules_;
  KeywordMatcher matcher_;
  std::vector<std::vector<uint32_t>> keyword_rules_;  // keyword -> rules
  std::vector<uint32_t> keywordless_rules_;
  std::vector<uint32_t> path_only_rules_;
  std::vector<const CompiledAllowlist*> path_skips_;
  std::vector<int> rule_packs_;  // packs that contributed at least one rule
};

}  // namespace

std::string Mask(std::string_view value) {
  // Up to 4 leading printable ASCII characters: len/4 of them, none below 8.
  size_t keep = value.size() < 8 ? 0 : std::min<size_t>(4, value.size() / 4);
  std::string out;
  for (size_t i = 0; i < keep; ++i) {
    unsigned char c = static_cast<unsigned char>(value[i]);
    if (c < 0x21 || c > 0x7e) break;
    out.push_back(static_cast<char>(c));
  }
  return out + "****";
}

Result<std::shared_ptr<const Scanner>> Scanner::Create(const ScannerOptions& options) {
  LoadOptions load;
  load.gitleaks_default_config = options.gitleaks_default_config;
  std::vector<PackSpec> packs;
  if (options.builtin_rules) {
    AG_ASSIGN_OR_RETURN(PackSpec builtin, LoadBuiltinPack(options.builtin_dir));
    packs.push_back(std::move(builtin));
  }
  for (const std::string& file : options.rule_files) {
    AG_ASSIGN_OR_RETURN(PackSpec pack, LoadPackFile(file, load));
    packs.push_back(std::move(pack));
  }
  if (packs.empty())
    return Status::InvalidArgument("no rules: builtin rules are off and no rule file was given");
  AG_ASSIGN_OR_RETURN(std::unique_ptr<RuleSet> rules,
                      CompileRules(packs, options.re2_max_mem, options.compile_eagerly));
  return std::shared_ptr<const Scanner>(new ScannerImpl(options, std::move(rules)));
}

}  // namespace ag::scan
