#include "util/glob.h"

#include <gtest/gtest.h>

namespace ag {
namespace {

struct Case {
  const char* pattern;
  const char* name;
  bool match;
};

TEST(GlobTest, Table) {
  const Case cases[] = {
      {"refs/heads/agent/**", "refs/heads/agent/x", true},
      {"refs/heads/agent/**", "refs/heads/agent/a/b/c", true},
      {"refs/heads/agent/**", "refs/heads/main", false},
      {"refs/heads/agent/*", "refs/heads/agent/a/b", false},
      {"**/*.pem", "key.pem", true},
      {"**/*.pem", "a/b/key.pem", true},
      {"**/*.pem", "a/b/key.pem.txt", false},
      {".github/workflows/**", ".github/workflows/ci.yml", true},
      {".github/workflows/**", ".github/actions/x.yml", false},
      {"CODEOWNERS", "CODEOWNERS", true},
      {"CODEOWNERS", "docs/CODEOWNERS", false},
      {"**/id_rsa", "home/u/.ssh/id_rsa", true},
      {"file?.txt", "file1.txt", true},
      {"file?.txt", "file/.txt", false},
      {"[a-c]x", "bx", true},
      {"[!a-c]x", "bx", false},
      {"[!a-c]x", "dx", true},
      {"a\\*b", "a*b", true},
      {"a\\*b", "axb", false},
      {"**", "anything/at/all", true},
      {"deploy/**", "deploy", false},
  };
  for (const Case& c : cases) {
    Result<Glob> g = Glob::Compile(c.pattern);
    ASSERT_TRUE(g.ok()) << c.pattern;
    EXPECT_EQ(g->Matches(c.name), c.match) << c.pattern << " vs " << c.name;
  }
}

TEST(GlobTest, BadPatterns) {
  EXPECT_FALSE(Glob::Compile("").ok());
  EXPECT_FALSE(Glob::Compile("[abc").ok());
  EXPECT_FALSE(Glob::Compile("abc\\").ok());
  EXPECT_FALSE(Glob::Compile("a/***/b").ok());
}

TEST(GlobTest, NoBlowUpOnPathologicalInput) {
  Result<Glob> g = Glob::Compile("**a**a**a**a**a**a**a**b");
  ASSERT_TRUE(g.ok());
  std::string name(3000, 'a');
  EXPECT_FALSE(g->Matches(name));  // memoised: finishes quickly
}

}  // namespace
}  // namespace ag
