// Rule pack loading: agentgate YAML, gitleaks TOML (allowlists, [extend]),
// and errors that name file:line and the rule.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <re2/re2.h>

#include <thread>

#include "scan/rules.h"
#include "scan/scanner.h"
#include "scan/test_util.h"

namespace ag::scan {
namespace {

namespace fs = std::filesystem;
using testing::Cat;
using testing::kAlnum;
using testing::Noise;

class LoaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ag-scan-loader-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string Write(const std::string& name, const std::string& text) {
    std::string p = dir_ + "/" + name;
    std::ofstream(p) << text;
    return p;
  }
  Result<std::shared_ptr<const Scanner>> Make(std::vector<std::string> files, bool builtin = false,
                                              std::string default_config = "") {
    ScannerOptions o;
    o.rule_files = std::move(files);
    o.builtin_rules = builtin;
    o.gitleaks_default_config = std::move(default_config);
    return Scanner::Create(o);
  }
  static std::vector<std::string> Scan(const Scanner& s, const std::string& text,
                                       const std::string& path = "a.txt") {
    std::vector<Finding> out;
    std::vector<SkipNote> skipped;
    EXPECT_TRUE(s.ScanText(path, text, &out, &skipped).ok());
    return testing::RuleIds(out);
  }
  std::string dir_;
};

constexpr const char* kToml = R"TOML(
title = "team rules"
[allowlist]
description = "global"
paths = ['''(?:^|/)fixtures/''']
stopwords = ["notasecret"]

[[rules]]
id = "acme-key"
description = "Acme API key"
regex = '''\b(acme_[a-z0-9]{24})\b'''
keywords = ["acme_"]
entropy = 2.0
[[rules.allowlists]]
regexTarget = "line"
regexes = ['''(?i)#\s*test fixture''']
[[rules.allowlists]]
condition = "AND"
paths = ['''\.md$''']
regexes = ['''^acme_0''']

[[rules]]
id = "generic-thing"
regex = '''thing\s*=\s*"([^"]{8,})"'''
keywords = ["thing"]
entropy = 2.5
)TOML";

TEST_F(LoaderTest, GitleaksTomlRulesAndAllowlists) {
  auto s = Make({Write("team.toml", kToml)});
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ((*s)->rule_count(), 2u);
  const std::string key = Cat({"acme", "_", Noise(24, "abcdefghijklmnopqrstuvwxyz0123456789", 3)});
  EXPECT_EQ(Scan(**s, "k = " + key), std::vector<std::string>{"acme-key"});
  // global path allowlist: the file is skipped (and noted)
  std::vector<Finding> out;
  std::vector<SkipNote> skipped;
  ASSERT_TRUE((*s)->ScanText("x/fixtures/k.txt", "k = " + key, &out, &skipped).ok());
  EXPECT_TRUE(out.empty());
  ASSERT_EQ(skipped.size(), 1u);
  EXPECT_EQ(skipped[0].reason, kSkipReasonPath);
  // global stopword
  EXPECT_TRUE(Scan(**s, "k = acme_notasecret0123456789abcd").empty());
  // rule allowlist on the line
  EXPECT_TRUE(Scan(**s, "k = " + key + "  # test fixture").empty());
  // AND allowlist: both the path and the regex must hold
  const std::string zero_key = "acme_0" + key.substr(6);
  EXPECT_TRUE(Scan(**s, zero_key, "README.md").empty());
  EXPECT_EQ(Scan(**s, zero_key, "main.go"), std::vector<std::string>{"acme-key"});
  EXPECT_EQ(Scan(**s, key, "README.md"), std::vector<std::string>{"acme-key"});
  // generic rules need a digit (gitleaks) and lose to specific ones
  EXPECT_TRUE(Scan(**s, "thing = \"abcdefghijk\"").empty());
  EXPECT_EQ(Scan(**s, "thing = \"abcd3fghijk\""), std::vector<std::string>{"generic-thing"});
  EXPECT_EQ(Scan(**s, "thing = \"" + key + "\""), std::vector<std::string>{"acme-key"});
}

TEST_F(LoaderTest, ExtendPathMergesAndDisables) {
  Write("base.toml", kToml);
  auto s = Make({Write("top.toml", R"(
[extend]
path = "base.toml"
disabledRules = ["generic-thing"]
[[rules]]
id = "acme-key"
entropy = 4.5
[[rules]]
id = "own-rule"
regex = '''own_[0-9]{6}'''
keywords = ["own_"]
)")});
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ((*s)->rule_count(), 2u);
  EXPECT_EQ(Scan(**s, "own_123456"), std::vector<std::string>{"own-rule"});
  EXPECT_TRUE(Scan(**s, "thing = \"abcd3fghijk\"").empty());  // disabled
  // entropy raised by the extending config: a low-entropy key no longer fires
  EXPECT_TRUE(Scan(**s, "acme_aaaaaaaaaaaabbbbbbbbbbbb").empty());
}

TEST_F(LoaderTest, ExtendUseDefault) {
  std::string top = Write("top.toml", "[extend]\nuseDefault = true\n");
  auto without = Make({top});
  ASSERT_FALSE(without.ok());
  EXPECT_NE(without.status().message().find("top.toml:1"), std::string::npos)
      << without.status().message();
  auto with = Make({top}, false, Write("default.toml", kToml));
  ASSERT_TRUE(with.ok()) << with.status().ToString();
  EXPECT_EQ((*with)->rule_count(), 2u);
}

TEST_F(LoaderTest, MalformedTomlNamesFileAndLine) {
  auto s = Make({Write("bad.toml", "[[rules]]\nid = \"x\"\nregex = '''unclosed\n")});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), Code::kInvalidArgument);
  EXPECT_NE(s.status().message().find("bad.toml:"), std::string::npos) << s.status().message();
  auto t = Make({Write("bad2.toml", "[[rules]]\nid = \"x\"\nkeywords = \"notalist\"\n")});
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("bad2.toml:3"), std::string::npos) << t.status().message();
}

// secretGroup must be an integer: a float (1e31) once reached toml++'s
// float-to-int64 conversion, undefined behaviour (fuzz/rules_toml).
TEST_F(LoaderTest, SecretGroupMustBeAnInteger) {
  for (const char* v : {"1e31", "2.0", "-1", "101", "'2'"}) {
    auto s = Make({Write("g.toml", std::string("[[rules]]\nid = \"x\"\nregex = 'x(y)'\nsecretGroup = ") + v + "\n")});
    ASSERT_FALSE(s.ok()) << v;
    EXPECT_NE(s.status().message().find("bad secretGroup"), std::string::npos) << v << ": " << s.status().message();
  }
  auto ok = Make({Write("g.toml", "[[rules]]\nid = \"x\"\nregex = 'x(y)'\nsecretGroup = 1\n")});
  EXPECT_TRUE(ok.ok()) << ok.status().ToString();
}

TEST_F(LoaderTest, MalformedYamlNamesFileAndLine) {
  auto s = Make({Write("bad.yaml", "rules:\n  - id: a\n    regex: 'x\n    keywords: [a\n")});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("bad.yaml:"), std::string::npos) << s.status().message();
  auto t = Make({Write("bad2.yaml", "rules:\n  - id: a\n    regex: 'abc'\n    colour: red\n")});
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("bad2.yaml:4"), std::string::npos) << t.status().message();
  EXPECT_NE(t.status().message().find("colour"), std::string::npos);
}

TEST_F(LoaderTest, BadRegexNamesRuleAndLine) {
  auto s = Make({Write("r.yaml", "rules:\n  - id: ok\n    regex: 'a+'\n    keywords: [a]\n"
                                 "  - id: broken-rule\n    regex: '(unclosed'\n    keywords: [u]\n")});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("r.yaml:5"), std::string::npos) << s.status().message();
  EXPECT_NE(s.status().message().find("broken-rule"), std::string::npos);
  auto t = Make({Write("r.toml", "[[rules]]\nid = \"lookahead\"\nregex = '''a(?=b)'''\n")});
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("r.toml:1"), std::string::npos) << t.status().message();
  EXPECT_NE(t.status().message().find("lookahead"), std::string::npos);
}

TEST_F(LoaderTest, RegexOverMemoryBudgetFails) {
  ScannerOptions o;
  o.builtin_rules = false;
  o.re2_max_mem = 1 << 12;  // far too small for this pattern
  o.rule_files = {Write("big.yaml", "rules:\n  - id: huge\n    regex: '[a-z]{1000}x{1000}'\n"
                                    "    keywords: [x]\n")};
  // Compiled on first use: the scan that needs it fails, naming the rule.
  auto lazy = Scanner::Create(o);
  ASSERT_TRUE(lazy.ok()) << lazy.status().ToString();
  std::vector<Finding> out;
  EXPECT_TRUE((*lazy)->ScanText("a.txt", "nothing here", &out, nullptr).ok());
  Status failed = (*lazy)->ScanText("a.txt", "an x here", &out, nullptr);
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.message().find("big.yaml:2"), std::string::npos) << failed.message();
  EXPECT_NE(failed.message().find("huge"), std::string::npos) << failed.message();
  // Eagerly: Create fails.
  o.compile_eagerly = true;
  auto s = Scanner::Create(o);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("huge"), std::string::npos) << s.status().message();
}

TEST_F(LoaderTest, RuleRegexCompiledOnFirstUseOnceAcrossThreads) {
  std::vector<PackSpec> packs(1);
  RuleSpec r;
  r.id = "one";
  r.regex = "(a+)(?P<named>b)(?:c)[(]\\(\\Q(\\E";
  r.keywords = {"a"};
  r.origin = "x.yaml:1";
  packs[0].rules.push_back(r);
  auto set = CompileRules(packs, 8 << 20);
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  const LazyRegex& lazy = *(*set)->rules[0].regex;
  EXPECT_FALSE(lazy.compiled());
  EXPECT_EQ((*set)->rules[0].groups, 2);
  std::vector<const re2::RE2*> seen(4);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < seen.size(); ++t)
    threads.emplace_back([&, t] { seen[t] = *lazy.Get(); });
  for (auto& t : threads) t.join();
  EXPECT_TRUE(lazy.compiled());
  for (const re2::RE2* re : seen) EXPECT_EQ(re, seen[0]);
  EXPECT_EQ(seen[0]->NumberOfCapturingGroups(), 2);
}

TEST_F(LoaderTest, CountedGroupsMatchRe2OnEveryKnownPattern) {
  std::vector<std::string> patterns = {"a", "(a)", "(?i)(a)", "[()]", "[]()]", "[^]()]",
                                       "[[:alpha:]()]", "\\((a)", "(?P<x>a)(b)", "((a)|(b))"};
  auto add = [&](Result<PackSpec> p) {
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    for (const RuleSpec& r : p->rules)
      if (!r.regex.empty()) patterns.push_back(r.regex);
  };
  add(LoadBuiltinPack());
  const char* gitleaks = "/work/shared/corpus/gitleaks.toml";
  if (fs::exists(gitleaks)) add(LoadPackFile(gitleaks, {}));
  for (const std::string& p : patterns) {
    re2::RE2 re(p);
    ASSERT_TRUE(re.ok()) << p;
    EXPECT_EQ(CountCapturingGroups(p), re.NumberOfCapturingGroups()) << p;
  }
}

TEST_F(LoaderTest, YamlAndBuiltinTogether) {
  auto s = Make({Write("extra.yaml", "rules:\n  - id: team-key\n    regex: 'team_[0-9]{8}'\n"
                                     "    keywords: [team_]\n")},
                true);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(Scan(**s, "x team_12345678"), std::vector<std::string>{"team-key"});
}

TEST_F(LoaderTest, GitleaksDefaultConfigLoadsWhenPresent) {
  const char* path = "/work/shared/corpus/gitleaks.toml";
  if (!fs::exists(path)) GTEST_SKIP() << "no gitleaks default config on this machine";
  auto s = Make({path}, true);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_GT((*s)->rule_count(), 200u);
}

}  // namespace
}  // namespace ag::scan

namespace ag::scan {
namespace {

// The search prefilter (CompiledRule::prefilter): a regex that starts with
// an optional run is first searched without it.
TEST(PrefilterTest, StripsOnlyAnOptionalLeadingRun) {
  EXPECT_EQ(StripOptionalLeadingRun("(?i)[\\w.-]{0,50}?(?:key)=(\\w+)"), "(?i)(?:key)=(\\w+)");
  EXPECT_EQ(StripOptionalLeadingRun("[a-z]*x"), "x");
  EXPECT_EQ(StripOptionalLeadingRun("\\w{0,5}y"), "y");
  EXPECT_EQ(StripOptionalLeadingRun(".*?z(a)"), "z(a)");
  EXPECT_EQ(StripOptionalLeadingRun("(?i)[\\]]{0,3}z"), "(?i)z");
  EXPECT_EQ(StripOptionalLeadingRun("[]a]{0,3}z"), "z");
  EXPECT_EQ(StripOptionalLeadingRun("[[:alpha:]_]{0,4}q"), "q");
  for (const char* keep : {"abc", "[a]{1,3}x", "[a]+x", "[a]*|b", "[a]*x|y", "[a]*", "(a)*x",
                           "[a]{0,3}{2}x", "(?:a)[b]*c", "(?i:a)[b]*c", "[a]{0,x}b"})
    EXPECT_EQ(StripOptionalLeadingRun(keep), "") << keep;
  EXPECT_EQ(RelaxRepetitionBounds("a{2,5}b{3}[x{1,2}]\\{1,2}c{0,9}?"), "a{2,}b{3}[x{1,2}]\\{1,2}c{0,}?");
  EXPECT_EQ(PrefilterFor("(?i)[\\w.-]{0,50}?(?:key)[ ]{0,20}=(\\w{10,150})"), "(?i)(?:key)[ ]{0,}=(\\w{10,})");
  EXPECT_EQ(PrefilterFor("ghp_[A-Za-z0-9]{36}"), "");
  EXPECT_EQ(PrefilterFor("tok\\Q{1,2}\\E([0-9]{8,9})"), "");  // quoted braces: none
}

// Wherever a rule's regex matches, its prefilter matches too (else the
// prefilter would drop findings): checked for every gitleaks rule and every
// built-in rule that has one, on the labelled samples.
TEST(PrefilterTest, NeverDropsAMatch) {
  std::vector<std::string> patterns;
  auto add = [&](Result<PackSpec> p) {
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    for (const RuleSpec& r : p->rules)
      if (!r.regex.empty() && !PrefilterFor(r.regex).empty()) patterns.push_back(r.regex);
  };
  add(LoadBuiltinPack());
  const char* gitleaks = "/work/shared/corpus/gitleaks.toml";
  const char* samples = "/work/shared/corpus/gitleaks-samples.jsonl";
  if (!fs::exists(gitleaks) || !fs::exists(samples)) GTEST_SKIP() << "no corpus on this machine";
  add(LoadPackFile(gitleaks, {}));
  ASSERT_GT(patterns.size(), 50u);
  std::vector<std::string> texts;
  std::ifstream in(samples);
  std::string line;
  while (std::getline(in, line)) texts.push_back(line);  // JSON lines: the text, escaped
  int matched = 0;
  for (const std::string& p : patterns) {
    re2::RE2 whole(p), pre(PrefilterFor(p));
    ASSERT_TRUE(whole.ok() && pre.ok()) << p;
    for (const std::string& t : texts) {
      if (!re2::RE2::PartialMatch(t, whole)) continue;
      ++matched;
      EXPECT_TRUE(re2::RE2::PartialMatch(t, pre)) << p;
    }
  }
  EXPECT_GT(matched, 100);
}

}  // namespace
}  // namespace ag::scan
