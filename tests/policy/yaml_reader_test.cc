#include "policy/yaml_reader.h"

#include <gtest/gtest.h>

namespace ag::policy {
namespace {

TEST(YamlReaderTest, Durations) {
  struct Case {
    const char* text;
    int64_t seconds;  // -1: invalid
  } cases[] = {
      {"30s", 30},   {"15m", 900},  {"72h", 259200}, {"7d", 604800}, {"1h30m", 5400},
      {"0", 0},      {"0s", 0},     {"", -1},        {"10", -1},     {"h", -1},
      {"5x", -1},    {"-5s", -1},   {"1.5h", -1},    {"5 s", -1},    {"99999999999999999999s", -1},
      {"40000000d", -1},
  };
  for (const Case& c : cases) {
    Result<std::chrono::seconds> d = ParseDuration(c.text);
    if (c.seconds < 0) {
      EXPECT_FALSE(d.ok()) << c.text;
    } else {
      ASSERT_TRUE(d.ok()) << c.text << ": " << d.status().ToString();
      EXPECT_EQ(d->count(), c.seconds) << c.text;
    }
  }
}

TEST(YamlReaderTest, Sizes) {
  struct Case {
    const char* text;
    bool ok;
    uint64_t bytes;
  } cases[] = {
      {"512", true, 512},          {"512B", true, 512},           {"10KiB", true, 10240},
      {"5MiB", true, 5u << 20},    {"1GiB", true, 1ull << 30},    {"2TiB", true, 2ull << 40},
      {"10MB", false, 0},          {"10kib", false, 0},           {"", false, 0},
      {"MiB", false, 0},           {"-1", false, 0},              {"1.5MiB", false, 0},
      {"99999999999999999999", false, 0}, {"17179869184GiB", false, 0},
  };
  for (const Case& c : cases) {
    Result<uint64_t> s = ParseSize(c.text);
    EXPECT_EQ(s.ok(), c.ok) << c.text;
    if (c.ok && s.ok()) {
      EXPECT_EQ(*s, c.bytes) << c.text;
    }
  }
}

TEST(YamlReaderTest, FormatRoundTrips) {
  for (int64_t s : {0, 1, 59, 60, 90, 3600, 5400, 86400, 259200, 100000}) {
    std::string text = FormatDuration(std::chrono::seconds(s));
    Result<std::chrono::seconds> back = ParseDuration(text);
    ASSERT_TRUE(back.ok()) << text;
    EXPECT_EQ(back->count(), s) << text;
  }
  EXPECT_EQ(FormatDuration(std::chrono::seconds(259200)), "3d");
  EXPECT_EQ(FormatSize(10u << 20), "10MiB");
  EXPECT_EQ(FormatSize(1000), "1000");
  for (uint64_t b : {uint64_t{0}, uint64_t{1}, uint64_t{1024}, uint64_t{1536}, uint64_t{4} << 30}) {
    Result<uint64_t> back = ParseSize(FormatSize(b));
    ASSERT_TRUE(back.ok()) << FormatSize(b);
    EXPECT_EQ(*back, b);
  }
}

TEST(YamlReaderTest, ResolveAgainst) {
  EXPECT_EQ(ResolveAgainst("/etc/agentgate/policy.yaml", "rules/x.yaml"),
            "/etc/agentgate/rules/x.yaml");
  EXPECT_EQ(ResolveAgainst("/etc/agentgate/policy.yaml", "../x"), "/etc/x");
  EXPECT_EQ(ResolveAgainst("/etc/agentgate/policy.yaml", "/abs/y"), "/abs/y");
  EXPECT_EQ(ResolveAgainst("/etc/agentgate/policy.yaml", ""), "");
}

TEST(YamlReaderTest, SyntaxErrorHasPosition) {
  std::vector<Problem> problems;
  Reader r("f.yaml", &problems);
  EXPECT_FALSE(r.Load("a: [1, 2\nb: 3\n").has_value());
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_GE(problems[0].line, 1);
  EXPECT_NE(problems[0].message.find("YAML syntax error"), std::string::npos);
}

TEST(YamlReaderTest, UnknownAndDuplicateKeys) {
  std::vector<Problem> problems;
  Reader r("f.yaml", &problems);
  std::optional<YAML::Node> root = r.Load("a: 1\nzz: 2\na: 3\n");
  ASSERT_TRUE(root.has_value());
  std::optional<Map> m = r.ReadMap(*root, "thing", {"a", "b"});
  ASSERT_TRUE(m.has_value());
  ASSERT_NE(m->Get("a"), nullptr);
  EXPECT_EQ(m->Get("a")->value.Scalar(), "1");
  EXPECT_EQ(m->Get("b"), nullptr);
  ASSERT_EQ(problems.size(), 2u);
  EXPECT_EQ(problems[0].ToString(),
            "f.yaml:2:1: unknown key 'zz' in thing (expected one of: a, b)");
  EXPECT_EQ(problems[1].ToString(), "f.yaml:3:1: duplicate key 'a' in thing");
}

}  // namespace
}  // namespace ag::policy
