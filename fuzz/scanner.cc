// Fuzz target: the secret scanner on arbitrary bytes. The input is
// "<path>\n<content>". Rules: the built-in pack (its multi-line private-key
// rule, pack-wide placeholder and path allowlists) plus a small pack written
// here with a multi-line rule, rule allowlists of every kind (AND/OR, each
// regex target, stopwords, paths, commits), a generic rule and a path-only
// rule. The content goes through ScanText (inline allow markers ignored) and,
// split into lines, through ScanLines and ScanCommitLines (markers honoured).
// Every finding must be masked and fingerprinted.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "fuzz_support.h"
#include "scan/scanner.h"

namespace {

using ag::fuzz::Fail;

const char kPack[] = R"(version: 1
description: fuzz pack
allowlists:
  - description: fixtures
    paths: ['(?:^|/)testdata/']
  - description: lines marked as fake
    regex_target: line
    regexes: ['(?i)fake[-_ ]for[-_ ]tests']
rules:
  - id: fuzz-multiline-block
    description: a secret block over several lines
    regex: '(?s)BEGIN FUZZ SECRET\r?\n([A-Za-z0-9+/=\r\n]{16,400}?)\r?\nEND FUZZ SECRET'
    keywords: [begin fuzz secret]
    multiline: 600
  - id: fuzz-inferred-multiline
    description: a key and value on two lines (multiline inferred from \n)
    regex: 'fuzzkey:\s*\n\s*([a-z0-9]{12,40})'
    keywords: [fuzzkey]
  - id: fuzz-token
    description: fuzz token
    regex: '\b(fz_[A-Za-z0-9]{20,40})(?:[^A-Za-z0-9]|$)'
    secret_group: 1
    keywords: [fz_]
    entropy: 2.5
    allowlists:
      - condition: and
        regex_target: match
        regexes: ['fz_0{5}']
        paths: ['\.md$']
      - stopwords: [sample, dummy]
      - commits: [0123456789abcdef0123456789abcdef01234567]
      - regex_target: secret
        regexes: ['^fz_x+$']
  - id: generic-fuzz-password
    description: password assignment
    regex: '(?i)passw(?:or)?d["'']?\s*[:=]\s*["'']?([^\s"'']{8,64})'
    keywords: [password, passwd]
    entropy: 3.0
    generic: true
    require_digit: true
  - id: fuzz-key-file
    description: key file by name
    path: '(?i)\.(?:pem|key|p12)$'
)";

struct Env {
  ag::fuzz::TempDir dir;
  std::shared_ptr<const ag::scan::Scanner> plain;    // inline markers ignored
  std::shared_ptr<const ag::scan::Scanner> honours;  // inline markers honoured
  Env() {
    ag::fuzz::WriteFile(dir / "fuzz.yaml", kPack);
    ag::scan::ScannerOptions o;
    o.rule_files = {dir / "fuzz.yaml"};
    o.fingerprint_key = "fuzz-key";
    o.max_blob_bytes = 3000;  // fuzz inputs can pass it
    o.max_findings_per_blob = 20;
    auto a = ag::scan::Scanner::Create(o);
    o.honor_inline_allow = true;
    auto b = ag::scan::Scanner::Create(o);
    if (!a.ok() || !b.ok()) {
      std::fprintf(stderr, "%s\n", (a.ok() ? b.status() : a.status()).ToString().c_str());
      Fail("Scanner::Create");
    }
    plain = *a;
    honours = *b;
  }
};

bool IsLowerHex(const std::string& s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

void Check(const std::vector<ag::scan::Finding>& found, int max_line) {
  for (const ag::scan::Finding& f : found) {
    if (f.rule_id.empty()) Fail("a finding without a rule");
    if (f.line == 0) {  // a path-only rule: about the file, not a place in it
      if (f.column != 0 || f.masked != "****") Fail("a path finding with a position or value");
    } else if (f.line < 1 || f.line > max_line || f.column < 1) {
      Fail("a finding outside the input");
    }
    if (f.masked.size() < 4 || f.masked.compare(f.masked.size() - 4, 4, "****") != 0 ||
        f.masked.size() > 8) {
      Fail("a finding that is not masked");
    }
    if (f.fingerprint.size() != 64 || !IsLowerHex(f.fingerprint)) Fail("a bad fingerprint");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Env* env = new Env;
  auto parts = ag::fuzz::Split(ag::fuzz::AsText(data, size), '\n', 2);
  if (parts.size() < 2) return 0;
  std::string_view path = parts[0], content = parts[1];

  std::vector<ag::scan::Finding> found;
  std::vector<ag::scan::SkipNote> skipped;
  int lines_in_content = 1;
  for (char c : content) lines_in_content += c == '\n';
  env->plain->SkipsPath(path);
  if (env->plain->ScanText(path, content, &found, &skipped).ok()) Check(found, lines_in_content);

  std::vector<ag::scan::Line> lines;
  int number = 0;
  for (std::string_view l : ag::fuzz::Split(content, '\n', 1u << 20)) {
    // Diff lines need not be consecutive: skip a number now and then.
    number += (l.size() % 7 == 3) ? 2 : 1;
    lines.push_back({number, l});
  }
  found.clear();
  if (env->honours->ScanLines(path, lines, &found).ok()) Check(found, number);
  found.clear();
  skipped.clear();
  if (env->honours
          ->ScanCommitLines("0123456789abcdef0123456789abcdef01234567", path, lines, &found,
                            &skipped)
          .ok()) {
    Check(found, number);
  }
  return 0;
}
