// Static token generation, and the `agentgate token` command.
#include "identity/token.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>

#include "identity/base64.h"
#include "identity/test_keys.h"
#include "util/crypto.h"

namespace ag::identity {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(TokenTest, NewTokensAreRandomAndWellFormed) {
  std::set<std::string> seen;
  for (int i = 0; i < 50; ++i) {
    Result<std::string> t = NewToken();
    ASSERT_TRUE(t.ok());
    ASSERT_EQ(t->substr(0, 3), "ag_");
    std::optional<std::string> raw = Base64UrlDecode(t->substr(3));
    ASSERT_TRUE(raw);
    EXPECT_EQ(raw->size(), 32u);
    EXPECT_TRUE(seen.insert(*t).second);
  }
}

TEST(TokenTest, ValidateName) {
  EXPECT_TRUE(ValidateName("agent-ci").ok());
  EXPECT_TRUE(ValidateName("gha:org/repo@main").ok());
  EXPECT_FALSE(ValidateName("").ok());
  EXPECT_FALSE(ValidateName("two words").ok());
  EXPECT_FALSE(ValidateName("quote\"").ok());
  EXPECT_FALSE(ValidateName("a,b").ok());
  EXPECT_FALSE(ValidateName(std::string(129, 'a')).ok());
}

TEST(TokenTest, ConfigSnippet) {
  EXPECT_EQ(TokenConfigSnippet("agent-ci", {"agents", "ci"}, "ab12"),
            "tokens:\n  - identity: \"agent-ci\"\n    groups: [\"agents\", \"ci\"]\n"
            "    sha256: ab12\n");
  EXPECT_EQ(TokenConfigSnippet("a", {}, "ff"), "tokens:\n  - identity: \"a\"\n    sha256: ff\n");
}

// --- the CLI (needs bin/agentgate built) ---

struct CliRun {
  int exit_code;
  std::string out;
};

CliRun Agentgate(const std::string& args, const std::string& stdin_text = "") {
  testing::TempDir dir;
  std::string in = dir.path() + "/in";
  std::ofstream(in) << stdin_text;
  std::string cmd = std::string(AG_BIN_DIR) + "/agentgate " + args + " <" + in + " 2>&1";
  CliRun r{-1, ""};
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

class TokenCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(std::filesystem::exists(std::string(AG_BIN_DIR) + "/agentgate"))
        << "build the agentgate target first";
  }
};

TEST_F(TokenCliTest, NewPrintsTokenOnceAndItsHash) {
  CliRun r = Agentgate("token new --identity agent-ci --groups agents,ci");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.out, m, std::regex("\n(ag_[A-Za-z0-9_-]{43})\n"))) << r.out;
  std::string token = m[1];
  EXPECT_THAT(r.out, HasSubstr("sha256: " + Sha256Hex(token) + "\n"));
  EXPECT_THAT(r.out, HasSubstr("identity: \"agent-ci\""));
  EXPECT_THAT(r.out, HasSubstr("groups: [\"agents\", \"ci\"]"));
  // Printed once only.
  EXPECT_EQ(r.out.find(token), r.out.rfind(token));

  CliRun again = Agentgate("token new --identity agent-ci");
  EXPECT_THAT(again.out, Not(HasSubstr(token)));
}

TEST_F(TokenCliTest, NewRefusesBadNames) {
  EXPECT_EQ(Agentgate("token new --identity 'a b'").exit_code, 2);
  EXPECT_EQ(Agentgate("token new --identity x --groups 'ok,b\"ad'").exit_code, 2);
  EXPECT_EQ(Agentgate("token new").exit_code, 2);
}

TEST_F(TokenCliTest, HashReadsStdinAndNeverEchoesIt) {
  const std::string token = "ag_secret-token-value-123";
  CliRun r = Agentgate("token hash", token + "\n");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(r.out, Sha256Hex(token) + "\n");
  EXPECT_THAT(r.out, Not(HasSubstr(token)));
  // CRLF and a missing newline give the same hash.
  EXPECT_EQ(Agentgate("token hash", token + "\r\n").out, Sha256Hex(token) + "\n");
  EXPECT_EQ(Agentgate("token hash", token).out, Sha256Hex(token) + "\n");
  EXPECT_EQ(Agentgate("token hash", "").exit_code, 2);
}

}  // namespace
}  // namespace ag::identity
