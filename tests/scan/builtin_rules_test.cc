// Per-rule tests of the built-in pack, driven by tests/scan/builtin_cases/*.cases.
//
// Each case line is a template from which the test makes random but
// well-formed tokens (never stored: no token-shaped literal sits in the
// repository). Format, one case per line ('#' starts a comment line):
//
//   RULE-ID KIND [path=FILE] TEMPLATE
//
// KIND: `+` the rule finds something on every expansion; `+valid` /
// `+invalid` as `+` with the rule's checksum valid / invalid; `-` the rule
// finds nothing; `0` no rule finds anything. TEMPLATE is the file content:
// `\n` is a newline, `\\` a backslash, and `{{X:N}}` or `{{X:N-M}}` N (to M)
// random characters of class X:
//   A alnum, a lower+digits, U upper+digits, l lower, u upper, L letters,
//   d digits, h lower hex, H upper hex, b base64 (A-Za-z0-9+/),
//   B base64url (A-Za-z0-9_-), s:CHARS (the characters given, e.g.
//   {{s:abc:8}} is 8 of a, b, c)
// and `{{crc}}` / `{{crcbad}}` 30 base62 characters followed by their
// CRC32 in base62 (GitHub and npm tokens) / by a wrong one.
// Every line is expanded kExpansions times with different seeds.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include "scan/rules.h"
#include "scan/scanner.h"

namespace ag::scan {
namespace {

namespace fs = std::filesystem;

constexpr int kExpansions = 8;
const std::string kRulesDir = std::string(AG_SOURCE_DIR) + "/policies/rules";
const std::string kCasesDir = std::string(AG_SOURCE_DIR) + "/tests/scan/builtin_cases";

struct CaseLine {
  std::string where;  // file:line
  std::string rule, kind, path, templ;
};

std::vector<CaseLine> ReadCases() {
  std::vector<CaseLine> out;
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(kCasesDir))
    if (e.path().extension() == ".cases") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (const fs::path& f : files) {
    std::ifstream in(f);
    std::string line;
    for (int n = 1; std::getline(in, line); ++n) {
      if (line.empty() || line[0] == '#') continue;
      CaseLine c;
      c.where = f.filename().string() + ":" + std::to_string(n);
      std::istringstream is(line);
      is >> c.rule >> c.kind;
      std::string rest;
      std::getline(is, rest);
      size_t b = rest.find_first_not_of(" \t");
      rest = b == std::string::npos ? "" : rest.substr(b);
      if (rest.rfind("path=", 0) == 0) {
        size_t sp = rest.find_first_of(" \t");
        c.path = rest.substr(5, sp == std::string::npos ? std::string::npos : sp - 5);
        rest = sp == std::string::npos ? "" : rest.substr(rest.find_first_not_of(" \t", sp));
      }
      c.templ = rest;
      out.push_back(std::move(c));
    }
  }
  return out;
}

std::string ClassChars(char cls) {
  const std::string lower = "abcdefghijklmnopqrstuvwxyz", upper = "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
                    digits = "0123456789";
  switch (cls) {
    case 'A': return upper + lower + digits;
    case 'a': return lower + digits;
    case 'U': return upper + digits;
    case 'l': return lower;
    case 'u': return upper;
    case 'L': return upper + lower;
    case 'd': return digits;
    case 'h': return "0123456789abcdef";
    case 'H': return "0123456789ABCDEF";
    case 'b': return upper + lower + digits + "+/";
    case 'B': return upper + lower + digits + "_-";
  }
  return "";
}

// Expands a template; sets *error on a bad one.
std::string Expand(const std::string& t, std::mt19937_64& rng, std::string* error) {
  std::string out;
  auto pick = [&](const std::string& chars, size_t n) {
    for (size_t i = 0; i < n; ++i) out.push_back(chars[rng() % chars.size()]);
  };
  for (size_t i = 0; i < t.size();) {
    if (t[i] == '\\' && i + 1 < t.size()) {
      out.push_back(t[i + 1] == 'n' ? '\n' : t[i + 1] == 't' ? '\t' : t[i + 1]);
      i += 2;
    } else if (t.compare(i, 2, "{{") == 0) {
      size_t end = t.find("}}", i + 2);
      if (end == std::string::npos) {
        *error = "unclosed {{";
        return out;
      }
      std::string spec = t.substr(i + 2, end - i - 2);
      i = end + 2;
      if (spec == "crc" || spec == "crcbad") {
        const std::string b62 = ClassChars('A');
        std::string payload;
        for (int k = 0; k < 30; ++k) payload.push_back(b62[rng() % b62.size()]);
        std::string check = Crc32Base62(payload);
        if (spec == "crcbad") check[5] = check[5] == '0' ? '1' : '0';
        out += payload + check;
        continue;
      }
      std::string chars;
      std::string count;
      if (spec.rfind("s:", 0) == 0) {
        size_t colon = spec.rfind(':');
        chars = spec.substr(2, colon - 2);
        count = spec.substr(colon + 1);
      } else if (spec.size() >= 3 && spec[1] == ':') {
        chars = ClassChars(spec[0]);
        count = spec.substr(2);
      }
      if (chars.empty() || count.empty()) {
        *error = "bad generator {{" + spec + "}}";
        return out;
      }
      size_t dash = count.find('-');
      size_t lo = std::stoul(count.substr(0, dash));
      size_t hi = dash == std::string::npos ? lo : std::stoul(count.substr(dash + 1));
      pick(chars, lo + (hi > lo ? rng() % (hi - lo + 1) : 0));
    } else {
      out.push_back(t[i++]);
    }
  }
  return out;
}

class BuiltinRulesTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ScannerOptions o;
    o.builtin_dir = kRulesDir;  // the files as written: no rebuild to try an edit
    auto s = Scanner::Create(o);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    scanner_ = new std::shared_ptr<const Scanner>(*s);
  }
  static void TearDownTestSuite() {
    delete scanner_;
    scanner_ = nullptr;
  }
  static const Scanner& scanner() { return **scanner_; }
  static std::shared_ptr<const Scanner>* scanner_;
};
std::shared_ptr<const Scanner>* BuiltinRulesTest::scanner_ = nullptr;

// The copy compiled into the binary is the files in the tree.
TEST_F(BuiltinRulesTest, CompiledInPackIsTheFilesInTheTree) {
  auto disk = LoadBuiltinPack(kRulesDir);
  auto built = LoadBuiltinPack();
  ASSERT_TRUE(disk.ok()) << disk.status().ToString();
  ASSERT_TRUE(built.ok()) << built.status().ToString();
  ASSERT_EQ(disk->rules.size(), built->rules.size()) << "rebuild: the pack files changed";
  for (size_t i = 0; i < disk->rules.size(); ++i) {
    EXPECT_EQ(disk->rules[i].id, built->rules[i].id);
    EXPECT_EQ(disk->rules[i].regex, built->rules[i].regex) << disk->rules[i].id;
  }
}

// Rule ids are unique across the files (a later one would silently replace
// an earlier one).
TEST_F(BuiltinRulesTest, RuleIdsAreUnique) {
  auto pack = LoadBuiltinPack(kRulesDir);
  ASSERT_TRUE(pack.ok()) << pack.status().ToString();
  std::map<std::string, std::string> seen;
  for (const RuleSpec& r : pack->rules) {
    auto [it, fresh] = seen.emplace(r.id, r.origin);
    EXPECT_TRUE(fresh) << r.id << " at " << r.origin << " and " << it->second;
  }
}

TEST_F(BuiltinRulesTest, EveryCaseHolds) {
  std::vector<CaseLine> cases = ReadCases();
  ASSERT_FALSE(cases.empty());
  auto pack = LoadBuiltinPack(kRulesDir);
  ASSERT_TRUE(pack.ok());
  std::set<std::string> ids;
  for (const RuleSpec& r : pack->rules) ids.insert(r.id);
  int checked = 0;
  for (const CaseLine& c : cases) {
    SCOPED_TRACE(c.where);
    EXPECT_TRUE(ids.count(c.rule)) << "no built-in rule '" << c.rule << "'";
    const bool positive = c.kind[0] == '+';
    ASSERT_TRUE(c.kind == "+" || c.kind == "+valid" || c.kind == "+invalid" || c.kind == "-" ||
                c.kind == "0")
        << "unknown kind " << c.kind;
    std::seed_seq seed(c.where.begin(), c.where.end());
    std::mt19937_64 rng(seed);
    for (int k = 0; k < kExpansions; ++k) {
      std::string error;
      std::string text = Expand(c.templ, rng, &error);
      ASSERT_TRUE(error.empty()) << error;
      text.push_back('\n');
      std::vector<Finding> out;
      std::vector<SkipNote> skipped;
      ASSERT_TRUE(scanner().ScanText(c.path.empty() ? "src/app.txt" : c.path, text, &out, &skipped).ok());
      const Finding* mine = nullptr;
      for (const Finding& f : out)
        if (f.rule_id == c.rule && !mine) mine = &f;
      std::string found;
      for (const Finding& f : out) found += " " + f.rule_id;
      // The text is shown only when the test fails; it is random, never a real token.
      if (positive) {
        EXPECT_TRUE(mine) << c.rule << " missed: " << text << "found:" << found;
        if (mine && c.kind == "+valid")
          EXPECT_EQ(mine->checksum, Finding::Checksum::kValid) << text;
        if (mine && c.kind == "+invalid")
          EXPECT_EQ(mine->checksum, Finding::Checksum::kInvalid) << text;
      } else if (c.kind == "-") {
        EXPECT_FALSE(mine) << c.rule << " should not fire on: " << text;
      } else {
        EXPECT_TRUE(out.empty()) << "expected no finding on: " << text << "found:" << found;
      }
      ++checked;
      if (HasFailure()) break;
    }
  }
  EXPECT_GT(checked, 0);
}

// Every built-in rule has at least one true-positive and one negative case,
// and a rule with a checksum has a valid and an invalid one.
TEST_F(BuiltinRulesTest, EveryRuleHasCases) {
  auto pack = LoadBuiltinPack(kRulesDir);
  ASSERT_TRUE(pack.ok());
  std::map<std::string, std::set<std::string>> kinds;
  for (const CaseLine& c : ReadCases()) kinds[c.rule].insert(c.kind);
  for (const RuleSpec& r : pack->rules) {
    const auto& k = kinds[r.id];
    EXPECT_TRUE(k.count("+") || k.count("+valid")) << r.id << " (" << r.origin
                                                   << ") has no true-positive case";
    EXPECT_TRUE(k.count("-") || k.count("0")) << r.id << " (" << r.origin
                                              << ") has no negative case";
    if (!r.checksum.empty()) {
      EXPECT_TRUE(k.count("+valid")) << r.id << " has no +valid case";
      EXPECT_TRUE(k.count("+invalid")) << r.id << " has no +invalid case";
    }
  }
}

// docs/scanner.md's provider table names every built-in rule, and no rule
// that is gone.
TEST_F(BuiltinRulesTest, ProviderTableInTheDocsIsComplete) {
  auto pack = LoadBuiltinPack(kRulesDir);
  ASSERT_TRUE(pack.ok());
  std::ifstream in(std::string(AG_SOURCE_DIR) + "/docs/scanner.md");
  std::set<std::string> documented;
  std::string line;
  bool in_table = false;
  while (std::getline(in, line)) {
    if (line.rfind("## The built-in pack: providers", 0) == 0) in_table = true;
    else if (line.rfind("## ", 0) == 0) in_table = false;
    if (in_table && line.rfind("| ", 0) == 0) {
      std::string id = line.substr(2, line.find(' ', 2) - 2);
      if (id != "rule" && id.find("---") == std::string::npos) documented.insert(id);
    }
  }
  std::set<std::string> ids;
  for (const RuleSpec& r : pack->rules) {
    ids.insert(r.id);
    EXPECT_TRUE(documented.count(r.id)) << r.id << " is not in docs/scanner.md's provider table";
  }
  for (const std::string& d : documented)
    EXPECT_TRUE(ids.count(d)) << d << " is documented but is no built-in rule";
}

}  // namespace
}  // namespace ag::scan
