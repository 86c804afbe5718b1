// Scanner engine: hostile inputs, masking, skip notes, inline markers,
// added-line scanning.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "scan/rules.h"
#include "scan/scanner.h"
#include "scan/test_util.h"

namespace ag::scan {
namespace {

using testing::Cat;
using testing::kAlnum;
using testing::Noise;

std::shared_ptr<const Scanner> Make(ScannerOptions o = {}) {
  auto s = Scanner::Create(o);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? *s : nullptr;
}

std::string Ghp(unsigned seed) { return Cat({"gh", "p_", Noise(36, kAlnum, seed)}); }

TEST(MaskTest, NeverMoreThanFourCharacters) {
  EXPECT_EQ(Mask(""), "****");
  EXPECT_EQ(Mask("short"), "****");
  EXPECT_EQ(Mask("12345678"), "12****");
  EXPECT_EQ(Mask(Ghp(1)), "ghp_****");
  EXPECT_EQ(Mask("\x01\x02secret-value-here"), "****");
}

TEST(ScannerTest, FindingsNeverHoldTheSecret) {
  auto s = Make();
  const std::string secret = Ghp(2);
  const std::string pw = Noise(18, kAlnum, 3);
  std::vector<Finding> out;
  std::vector<SkipNote> skipped;
  ASSERT_TRUE(s->ScanText("cfg/" + std::string("x.env"),
                          "GH=" + secret + "\npassword = \"" + pw + "\"\n", &out, &skipped)
                  .ok());
  ASSERT_EQ(out.size(), 2u);
  for (const Finding& f : out) {
    for (const std::string* field : {&f.rule_id, &f.description, &f.path, &f.masked,
                                     &f.fingerprint, &f.commit}) {
      EXPECT_EQ(field->find(secret), std::string::npos);
      EXPECT_EQ(field->find(pw), std::string::npos);
      EXPECT_EQ(field->find(secret.substr(4, 8)), std::string::npos);  // no long piece either
    }
    EXPECT_EQ(f.fingerprint.size(), 64u);
  }
  EXPECT_EQ(out[0].line, 1);
  EXPECT_EQ(out[0].column, 4);
  EXPECT_EQ(out[1].line, 2);
  EXPECT_EQ(out[1].column, 13);
  // Same value, same key: same fingerprint; another key: another one.
  std::vector<Finding> again;
  ASSERT_TRUE(s->ScanText("other", "x " + secret, &again, &skipped).ok());
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].fingerprint, out[0].fingerprint);
  ScannerOptions o;
  o.fingerprint_key = "another-key";
  std::vector<Finding> keyed;
  ASSERT_TRUE(Make(o)->ScanText("other", "x " + secret, &keyed, &skipped).ok());
  ASSERT_EQ(keyed.size(), 1u);
  EXPECT_NE(keyed[0].fingerprint, out[0].fingerprint);
}

TEST(ScannerTest, BinaryAndOversizeAreNotedNotSilent) {
  ScannerOptions o;
  o.max_blob_bytes = 1000;
  auto s = Make(o);
  std::vector<Finding> out;
  std::vector<SkipNote> skipped;
  std::string bin = "GH=" + Ghp(4);
  bin.push_back('\0');
  ASSERT_TRUE(s->ScanText("a.bin", bin, &out, &skipped).ok());
  ASSERT_TRUE(s->ScanText("big.txt", std::string(1001, 'a'), &out, &skipped).ok());
  EXPECT_TRUE(out.empty());
  ASSERT_EQ(skipped.size(), 2u);
  EXPECT_EQ(skipped[0].reason, kSkipReasonBinary);
  EXPECT_EQ(skipped[1].reason, "larger than 1000 bytes");
  // A NUL after the first 8000 bytes: scanned, and the secret still found.
  std::string late(9000, 'x');
  late += '\n';
  late.push_back('\0');
  late += "\nGH=" + Ghp(5) + "\n";
  o.max_blob_bytes = 1 << 20;
  skipped.clear();
  ASSERT_TRUE(Make(o)->ScanText("late.txt", late, &out, &skipped).ok());
  EXPECT_TRUE(skipped.empty());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].line, 3);
}

TEST(ScannerTest, InvalidUtf8DoesNotCrashAndStillFinds) {
  auto s = Make();
  std::string text = "\xff\xfe\xc3\x28 bad \xe2\x82 GH=" + Ghp(6) + " \xf0\x9f\x92\n\x80\x80";
  std::vector<Finding> out;
  std::vector<SkipNote> skipped;
  ASSERT_TRUE(s->ScanText("u.txt", text, &out, &skipped).ok());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].rule_id, "github-token");
}

TEST(ScannerTest, HugeSingleLineCompletes) {
  ScannerOptions o;
  o.max_blob_bytes = 64u << 20;
  auto s = Make(o);
  std::string text;
  text.reserve(50u << 20);
  const std::string filler = "int token = compute_key(secret_size, password_len); ";
  while (text.size() < (50u << 20)) text += filler;
  const std::string secret = Ghp(7);
  text.insert(text.size() / 2, " " + secret + " ");
  std::vector<Finding> out;
  std::vector<SkipNote> skipped;
  ASSERT_TRUE(s->ScanText("one-line.c", text, &out, &skipped).ok());
  EXPECT_TRUE(skipped.empty());
  ASSERT_EQ(testing::RuleIds(out), std::vector<std::string>{"github-token"});
  EXPECT_EQ(out[0].line, 1);
}

TEST(ScannerTest, KeywordFloodWithoutSecretsCompletesClean) {
  auto s = Make();
  std::string text;
  const std::string line =
      "password token secret api_key akia ghp_ xoxb- sk_live_ eyJ private key aiza\n";
  while (text.size() < (2u << 20)) text += line;
  std::vector<Finding> out;
  std::vector<SkipNote> skipped;
  ASSERT_TRUE(s->ScanText("flood.txt", text, &out, &skipped).ok());
  EXPECT_TRUE(out.empty());
  EXPECT_TRUE(skipped.empty());
}

TEST(ScannerTest, CatastrophicPatternStaysLinear) {
  char tmpl[] = "/tmp/ag-scan-re-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  std::ofstream(dir + "/evil.yaml")
      << "rules:\n  - id: evil\n    regex: '(a+)+$'\n    keywords: [aaaa]\n"
         "  - id: evil-nested\n    regex: '(a|aa)*c'\n    keywords: [aaaa]\n";
  ScannerOptions o;
  o.builtin_rules = false;
  o.rule_files = {dir + "/evil.yaml"};
  auto s = Make(o);
  std::filesystem::remove_all(dir);
  ASSERT_NE(s, nullptr);
  // A backtracking engine needs ~2^n steps here; RE2 is linear.
  std::string text(200000, 'a');
  text += "!";
  std::vector<Finding> out;
  std::vector<SkipNote> skipped;
  ASSERT_TRUE(s->ScanText("evil.txt", text, &out, &skipped).ok());
  EXPECT_TRUE(out.empty());
  ASSERT_TRUE(s->ScanText("evil.txt", std::string(100000, 'a'), &out, &skipped).ok());
  EXPECT_EQ(testing::RuleIds(out), std::vector<std::string>{"evil"});
}

TEST(ScannerTest, InlineAllowOnlyWhenPolicySaysSo) {
  const std::string text = "GH=" + Ghp(8) + "  # agentgate:allow\n";
  std::vector<Finding> out;
  std::vector<SkipNote> skipped;
  ASSERT_TRUE(Make()->ScanText("a", text, &out, &skipped).ok());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_FALSE(out[0].allowed_inline);
  ScannerOptions o;
  o.honor_inline_allow = true;
  out.clear();
  ASSERT_TRUE(Make(o)->ScanText("a", text, &out, &skipped).ok());
  ASSERT_EQ(out.size(), 1u);  // still returned, so the use is recorded
  EXPECT_TRUE(out[0].allowed_inline);
  out.clear();
  ASSERT_TRUE(Make(o)->ScanText("a", "GH=" + Ghp(9) + " // gitleaks:allow", &out, &skipped).ok());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].allowed_inline);
}

TEST(ScannerTest, ScanLinesUsesDiffLineNumbersAndCommit) {
  auto s = Make();
  const std::string a = "ok line", b = "token: " + Ghp(10);
  std::vector<Line> lines = {{10, a}, {42, b}};
  std::vector<Finding> out;
  ASSERT_TRUE(s->ScanLines("src/x.yml", lines, &out).ok());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].line, 42);
  EXPECT_EQ(out[0].column, 8);
  std::vector<SkipNote> skipped;
  out.clear();
  ASSERT_TRUE(s->ScanCommitLines("abc123", "src/x.yml", lines, &out, &skipped).ok());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].commit, "abc123");
  out.clear();
  ASSERT_TRUE(s->ScanCommitLines("abc123", "web/node_modules/x/y.js", lines, &out, &skipped).ok());
  EXPECT_TRUE(out.empty());
  ASSERT_EQ(skipped.size(), 1u);
  EXPECT_EQ(skipped[0].reason, kSkipReasonPath);
}

TEST(ScannerTest, PrivateKeySpanningLinesInAddedLines) {
  auto s = Make();
  std::vector<std::string> text = {Cat({"-----BEGIN OPENSSH PRIV", "ATE KEY-----"}),
                                   Noise(70, testing::kB64, 11), Noise(70, testing::kB64, 12),
                                   Cat({"-----END OPENSSH PRIV", "ATE KEY-----"})};
  std::vector<Line> lines;
  for (size_t i = 0; i < text.size(); ++i) lines.push_back({static_cast<int>(i) + 5, text[i]});
  std::vector<Finding> out;
  ASSERT_TRUE(s->ScanLines("id_ed25519", lines, &out).ok());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].rule_id, "private-key");
  EXPECT_EQ(out[0].line, 5);
  EXPECT_EQ(out[0].masked, "----****");
}

TEST(ScannerTest, MultiLineMatchesStartOnTheKeywordLine) {
  // Multi-line rules run line-anchored: two blocks on one line and one on a
  // later line are all found; a mention of the keyword before a block does
  // not make the block start on the mention's line.
  auto s = Make();
  auto block = [](unsigned seed) {
    return Cat({"-----BEGIN RSA PRIV", "ATE KEY-----\n", Noise(64, testing::kB64, seed), "\n",
                Noise(64, testing::kB64, seed + 1), "\n-----END RSA PRIV", "ATE KEY-----"});
  };
  std::string text = "// where the private key goes:\n" + block(21) + " " + block(23) +
                     "\nx = 1\n  " + block(25) + "\n";
  std::vector<Finding> out;
  ASSERT_TRUE(s->ScanText("keys.txt", text, &out, nullptr).ok());
  std::vector<std::pair<int, int>> where;
  for (const Finding& f : out) {
    EXPECT_EQ(f.rule_id, "private-key");
    where.push_back({f.line, f.column});
  }
  std::sort(where.begin(), where.end());
  EXPECT_EQ(where, (std::vector<std::pair<int, int>>{{2, 1}, {5, 31}, {10, 3}}));
}

TEST(ScannerTest, FindingsPerBlobAreBounded) {
  ScannerOptions o;
  o.max_findings_per_blob = 10;
  auto s = Make(o);
  std::string text;
  for (unsigned i = 0; i < 50; ++i) text += "GH=" + Ghp(100 + i) + "\n";
  std::vector<Finding> out;
  std::vector<SkipNote> skipped;
  ASSERT_TRUE(s->ScanText("many", text, &out, &skipped).ok());
  EXPECT_EQ(out.size(), 10u);
  ASSERT_EQ(skipped.size(), 1u);
  EXPECT_EQ(skipped[0].reason, "stopped after 10 findings");
}

}  // namespace
}  // namespace ag::scan

namespace ag::scan {
namespace {

// Words the agent wrote outside a file (a commit message, a file name) are
// scanned as lines of a pseudo-path such as "(commit message)".
TEST(ScannerTest, ScanLinesFindsATokenUnderAPseudoPath) {
  auto s = Make();
  const std::string token = std::string("gh") + "p_" + "R8fk2LmQx9TzVb4NwPc7Hy3JdE6sUa1KqGtW";
  for (const char* path : {"(commit message)", "(file name)", "x.txt"}) {
    std::vector<Finding> out;
    ASSERT_TRUE(s->ScanLines(path, {{1, "fix"}, {2, ""}, {3, token}}, &out).ok());
    ASSERT_EQ(out.size(), 1u) << path;
    EXPECT_EQ(out[0].rule_id, "github-token");
  }
}

}  // namespace
}  // namespace ag::scan

namespace ag::scan {
namespace {

std::string Base64(std::string_view in, bool url = false) {
  const std::string_view a = url ? "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
                                 : "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : in) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(a[(acc >> bits) & 63]);
    }
  }
  if (bits > 0) out.push_back(a[(acc << (6 - bits)) & 63]);
  while (!url && out.size() % 4) out.push_back('=');
  return out;
}

// Issue 13: a secret hidden in a base64 (or base64url) run is found; the
// finding describes the run (line, column, masked run, encoding) and carries
// the fingerprint of the decoded secret, so the same token is recognised
// however it was written.
TEST(ScannerEncodingTest, Base64RunIsDecodedOnceAndReportedAsTheRun) {
  auto s = Make();
  const std::string secret = Ghp(40);
  const std::string inner = "export GH_TOKEN=" + secret + "\n";
  for (bool url : {false, true}) {
    const std::string run = Base64(inner, url);
    const std::string text = "# config\nblob: \"" + run + "\"\n";
    std::vector<Finding> out;
    std::vector<SkipNote> skipped;
    ASSERT_TRUE(s->ScanText("deploy.yaml", text, &out, &skipped).ok());
    ASSERT_EQ(out.size(), 1u) << url;
    EXPECT_EQ(out[0].rule_id, "github-token");
    EXPECT_EQ(out[0].encoding, "base64");
    EXPECT_EQ(out[0].line, 2);
    EXPECT_EQ(out[0].column, 8);
    EXPECT_EQ(out[0].masked, Mask(run));
    EXPECT_LE(out[0].masked.size(), 8u);
    EXPECT_EQ(out[0].masked.find(run.substr(4, 8)), std::string::npos);
    std::vector<Finding> plain;
    ASSERT_TRUE(s->ScanText("x", secret, &plain, &skipped).ok());
    ASSERT_EQ(plain.size(), 1u);
    EXPECT_EQ(out[0].fingerprint, plain[0].fingerprint);
    EXPECT_TRUE(plain[0].encoding.empty());
  }
}

TEST(ScannerEncodingTest, AddedLinesKeepTheirDiffLineNumbers) {
  auto s = Make();
  const std::string run = Base64("token: " + Ghp(41));
  std::vector<Finding> out;
  ASSERT_TRUE(s->ScanLines("a.txt", {{7, "first"}, {12, "v = " + run}}, &out).ok());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].line, 12);
  EXPECT_EQ(out[0].column, 5);
  EXPECT_EQ(out[0].encoding, "base64");
}

// One level only, off when the options say so, and runs that decode to
// binary (random key material, images) or are too short are not scanned.
TEST(ScannerEncodingTest, OneLevelTextOnlyAndCanBeTurnedOff) {
  const std::string inner = "GH=" + Ghp(42);
  std::vector<SkipNote> skipped;
  {
    auto s = Make();
    std::vector<Finding> out;
    ASSERT_TRUE(s->ScanText("x", "v: " + Base64(Base64(inner)) + "\n", &out, &skipped).ok());
    EXPECT_TRUE(out.empty()) << "decoded twice";
  }
  {
    ScannerOptions o;
    o.decode_base64 = false;
    auto s = Make(o);
    std::vector<Finding> out;
    ASSERT_TRUE(s->ScanText("x", "v: " + Base64(inner) + "\n", &out, &skipped).ok());
    EXPECT_TRUE(out.empty());
  }
  {
    auto s = Make();
    std::string binary = inner;
    for (size_t i = 0; i < 40; ++i) binary.push_back(static_cast<char>(0x80 + i));
    std::vector<Finding> out;
    ASSERT_TRUE(s->ScanText("x", "v: " + Base64(binary) + "\n", &out, &skipped).ok());
    EXPECT_TRUE(out.empty()) << "mostly binary decoding";
  }
}

// Review findings (helper attack): a word glued in front of the encoding
// (`x<base64>`, a URL path), and UTF-8 text around the secret, still decode.
TEST(ScannerEncodingTest, MisalignedRunsAndUtf8TextAreDecoded) {
  auto s = Make();
  const std::string token = Ghp(44);
  for (const std::string& glued : {std::string("x"), std::string("ab"), std::string("Zz9"),
                                   std::string("https://example.com/cb/")}) {
    std::vector<Finding> out;
    std::vector<SkipNote> skipped;
    ASSERT_TRUE(s->ScanText("x", "v: " + glued + Base64("t=" + token + "\n") + "\n", &out, &skipped).ok());
    ASSERT_EQ(out.size(), 1u) << glued;
    EXPECT_EQ(out[0].encoding, "base64");
  }
  for (const std::string& text : {std::string("\xF0\x9F\x94\x91 ") + token,  // a key emoji
                                  "# \xE8\xA8\xAD\xE5\xAE\x9A\xE3\x81\xA7\xE3\x81\x99\n" + token}) {
    std::vector<Finding> out;
    std::vector<SkipNote> skipped;
    ASSERT_TRUE(s->ScanText("x", "v: " + Base64(text) + "\n", &out, &skipped).ok());
    EXPECT_EQ(out.size(), 1u) << "UTF-8 decoding";
  }
}

// A made-up token (checksum fails: held) glued to a real password must not
// hide the password (found by a generic rule: blocked) behind it.
TEST(ScannerChecksumTest, AnInvalidTokenDoesNotHideTheSecretItIsGluedTo) {
  auto s = Make();
  const std::string payload = Noise(30, kAlnum, 71);
  std::string check = Crc32Base62(payload);
  check[5] = check[5] == '0' ? '1' : '0';
  const std::string fake = "ghp_" + payload + check;
  const std::string pw = "Qz7" + Noise(17, kAlnum, 72);
  for (const std::string& value : {pw + "-" + fake, fake + pw}) {
    std::vector<Finding> out;
    std::vector<SkipNote> skipped;
    ASSERT_TRUE(s->ScanText("app.py", "db_password = \"" + value + "\"\n", &out, &skipped).ok());
    bool generic = false, invalid = false;
    for (const Finding& f : out) {
      generic = generic || f.rule_id.rfind("generic-", 0) == 0;
      invalid = invalid || f.checksum == Finding::Checksum::kInvalid;
    }
    EXPECT_TRUE(generic) << value.size();
    EXPECT_TRUE(invalid);
  }
  // A valid token under a secret name is one finding (the generic one is the same value).
  const std::string valid = "ghp_" + payload + Crc32Base62(payload);
  std::vector<Finding> out;
  std::vector<SkipNote> skipped;
  ASSERT_TRUE(s->ScanText("app.py", "db_password = \"" + valid + "\"\n", &out, &skipped).ok());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].checksum, Finding::Checksum::kValid);
}

// Wrapped base64 (the `base64` tool's 76 columns, PEM's 64, indented in
// YAML): the lines are joined, so a token split across them is found.
TEST(ScannerEncodingTest, WrappedBase64IsJoined) {
  auto s = Make();
  const std::string token = Ghp(45);
  const std::string b64 = Base64("# generated config\nexport GH_TOKEN=" + token + "\nexport X=1\n");
  for (size_t width : {76u, 64u, 40u}) {
    for (const std::string& indent : {std::string(""), std::string("    "), std::string("\r")}) {
      const bool crlf = indent == "\r";  // Windows line ends instead of an indent
      const std::string nl = crlf ? "\r\n" : "\n";
      std::string text = "data:" + nl;
      for (size_t i = 0; i < b64.size(); i += width)
        text += (crlf ? "" : indent) + b64.substr(i, width) + nl;
      text += "after: 1\n";
      std::vector<Finding> out;
      std::vector<SkipNote> skipped;
      ASSERT_TRUE(s->ScanText("secret.yaml", text, &out, &skipped).ok());
      ASSERT_EQ(out.size(), 1u) << width << " [" << indent << "]";
      EXPECT_EQ(out[0].encoding, "base64");
      EXPECT_EQ(out[0].line, 2);
    }
  }
}

// Many keyword lines of a multi-line rule (BEGIN ... PRIVATE KEY without
// an END) switch it to one linear pass past a budget: a real key after
// them is still found (review finding: 10 MiB of such lines took 29 s).
TEST(ScannerTest, ManyKeyLinesStillFindTheKeyAfterThem) {
  auto s = Make();
  std::string text;
  for (int i = 0; i < 400; ++i) text += "-----BEGIN RSA PRIVATE KEY-----\n";
  text += Cat({"-----BEGIN OPENSSH PRI", "VATE KEY-----\n"});
  for (int i = 0; i < 6; ++i) text += Noise(64, testing::kB64, 80 + i) + "\n";
  text += Cat({"-----END OPENSSH PRI", "VATE KEY-----\n"});
  std::vector<Finding> out;
  std::vector<SkipNote> skipped;
  ASSERT_TRUE(s->ScanText("keys.txt", text, &out, &skipped).ok());
  bool key = false;
  for (const Finding& f : out) key = key || f.rule_id == "private-key";
  EXPECT_TRUE(key) << out.size();
}

// The base64 runs count toward the per-blob bound like any finding.
TEST(ScannerEncodingTest, EncodedFindingsAreBounded) {
  ScannerOptions o;
  o.max_findings_per_blob = 5;
  auto s = Make(o);
  std::string text;
  for (unsigned i = 0; i < 30; ++i) text += "k" + std::to_string(i) + ": " + Base64("t=" + Ghp(200 + i)) + "\n";
  std::vector<Finding> out;
  std::vector<SkipNote> skipped;
  ASSERT_TRUE(s->ScanText("many", text, &out, &skipped).ok());
  EXPECT_LE(out.size(), 5u);
  ASSERT_EQ(skipped.size(), 1u);
}

// The run finder works 16 and 32 bytes at a time: a run is found at every
// offset and with every tail length, at the start and at the very end.
TEST(ScannerEncodingTest, RunsAreFoundAtEveryOffsetAndTail) {
  auto s = Make();
  const std::string run = Base64("t=" + Ghp(43));
  for (size_t offset = 0; offset < 70; ++offset) {
    for (size_t tail = 0; tail < 40; tail += 3) {
      std::string text = std::string(offset, ' ') + run + std::string(tail, ' ');
      if (offset > 0) text[offset - 1] = offset % 2 ? '"' : '\n';
      std::vector<Finding> out;
      std::vector<SkipNote> skipped;
      ASSERT_TRUE(s->ScanText("x", text, &out, &skipped).ok());
      ASSERT_EQ(out.size(), 1u) << "offset " << offset << " tail " << tail;
      EXPECT_EQ(out[0].masked, Mask(run));
    }
  }
  // Long runs of alphabet characters that are not encoded text (identifiers
  // with many separators) find nothing and cost no decoding.
  std::vector<Finding> out;
  std::vector<SkipNote> skipped;
  std::string ids;
  for (int i = 0; i < 100; ++i) ids += "EGL_ANGLE_d3d_share_handle_client_buffer_" + std::to_string(i) + "\n";
  ASSERT_TRUE(s->ScanText("x.h", ids, &out, &skipped).ok());
  EXPECT_TRUE(out.empty());
}

TEST(ChecksumTest, Crc32Base62MatchesTheTokenFormat) {
  // The CRC32 of the 30 payload characters, base62, zero-padded to 6.
  const std::string payload = Noise(30, kAlnum, 9);
  const std::string check = Crc32Base62(payload);
  ASSERT_EQ(check.size(), 6u);
  EXPECT_TRUE(VerifyChecksum(ChecksumKind::kCrc32Base62, "ghp_" + payload + check));
  EXPECT_TRUE(VerifyChecksum(ChecksumKind::kCrc32Base62, "npm_" + payload + check));
  std::string bad = check;
  bad[5] = bad[5] == '0' ? '1' : '0';
  EXPECT_FALSE(VerifyChecksum(ChecksumKind::kCrc32Base62, "ghp_" + payload + bad));
  EXPECT_FALSE(VerifyChecksum(ChecksumKind::kCrc32Base62, "ghp_" + payload + check + "x"));
  EXPECT_FALSE(VerifyChecksum(ChecksumKind::kCrc32Base62, payload + check));
  EXPECT_FALSE(VerifyChecksum(ChecksumKind::kNone, "ghp_" + payload + check));
  // A known value: CRC32("") is 0, so the empty payload's check is "000000";
  // CRC32 of "123456789" is 0xCBF43926 (the standard check value).
  EXPECT_EQ(Crc32Base62(""), "000000");
  uint32_t v = 0xCBF43926u;
  std::string expect(6, '0');
  const std::string b62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  for (int i = 5; i >= 0 && v; --i, v /= 62) expect[i] = b62[v % 62];
  EXPECT_EQ(Crc32Base62("123456789"), expect);
}

}  // namespace
}  // namespace ag::scan

namespace ag::scan {
namespace {

// A key store is reported by its name whatever its content: binary and
// oversize files too (they are skipped for content, not for name).
TEST(ScannerPathRuleTest, KeyStoreIsReportedEvenWhenBinary) {
  auto s = Make();
  std::string binary("\x30\x82\x0a\x00\x02\x01\x03", 7);
  binary.push_back('\0');
  binary += Noise(64, kAlnum, 5);
  for (const char* path : {"certs/client.p12", "deploy/site.pfx"}) {
    std::vector<Finding> out;
    std::vector<SkipNote> skipped;
    ASSERT_TRUE(s->ScanText(path, binary, &out, &skipped).ok());
    ASSERT_EQ(out.size(), 1u) << path;
    EXPECT_EQ(out[0].rule_id, "pkcs12-file");
    ASSERT_EQ(skipped.size(), 1u);
    EXPECT_EQ(skipped[0].reason, kSkipReasonBinary);
    std::vector<Finding> by_name;
    s->ScanPath(path, &by_name);
    EXPECT_EQ(by_name.size(), 1u);
  }
  std::vector<Finding> none;
  s->ScanPath("docs/p12-format.md", &none);
  EXPECT_TRUE(none.empty());
}

}  // namespace
}  // namespace ag::scan
