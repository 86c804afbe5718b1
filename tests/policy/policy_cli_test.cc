// Runs the real `agentgate policy check` and `agentgate config check` on good
// and malformed files and checks exit codes and the FILE:LINE:COL output.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>

#include "util/file.h"

namespace {

namespace fs = std::filesystem;

class PolicyCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "ag-policy-cli-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  std::string Write(const std::string& name, const std::string& text) {
    std::string p = dir_ + "/" + name;
    std::ofstream(p) << text;
    return p;
  }

  struct Run {
    int exit_code = -1;
    std::string out;
    std::string err;
  };

  // Runs `agentgate ARGS` with stdout and stderr captured to files.
  Run Agentgate(const std::string& args) {
    std::string out = dir_ + "/stdout", err = dir_ + "/stderr";
    std::string cmd = std::string("'") + AG_BIN_DIR + "/agentgate' " + args + " >'" + out +
                      "' 2>'" + err + "'";
    int status = std::system(cmd.c_str());
    Run r;
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = ag::ReadFile(out).value();
    r.err = ag::ReadFile(err).value();
    return r;
  }

  std::string dir_;
};

TEST_F(PolicyCliTest, DefaultPolicyIsValid) {
  std::string path = std::string(AG_SOURCE_DIR) + "/policies/default.yaml";
  Run r = Agentgate("policy check '" + path + "'");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, path + ": ok (15 rules, 2 profiles)\n");
  EXPECT_EQ(r.err, "");
}

TEST_F(PolicyCliTest, ExamplesAreValid) {
  for (const char* name : {"strict.yaml", "docs-auto-approve.yaml"}) {
    std::string path = std::string(AG_SOURCE_DIR) + "/policies/examples/" + name;
    Run r = Agentgate("policy check '" + path + "'");
    EXPECT_EQ(r.exit_code, 0) << name << ": " << r.err;
  }
}

TEST_F(PolicyCliTest, MalformedPolicyListsEveryProblem) {
  std::string path = Write("bad.yaml",
                           "version: 1\n"
                           "default_outcome: maybe\n"
                           "rules:\n"
                           "  - id: p\n"
                           "    kind: protected_paths\n"
                           "    paths: ['[oops']\n"
                           "    colour: red\n");
  Run r = Agentgate("policy check '" + path + "'");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out, "");
  std::vector<std::string> lines;
  for (size_t pos = 0, nl; (nl = r.err.find('\n', pos)) != std::string::npos; pos = nl + 1) {
    lines.push_back(r.err.substr(pos, nl - pos));
  }
  ASSERT_EQ(lines.size(), 3u) << r.err;
  EXPECT_EQ(lines[0], path + ":2:18: default_outcome: unknown outcome 'maybe' (expected allow, "
                             "hold or block)");
  EXPECT_EQ(lines[1].rfind(path + ":6:13: paths: bad glob '[oops'", 0), 0u) << lines[1];
  EXPECT_EQ(lines[2], path + ":7:5: unknown key 'colour' in rule (expected one of: id, kind, "
                             "paths, except, limit, outcome, message, review)");
}

TEST_F(PolicyCliTest, SyntaxErrorHasPosition) {
  std::string path = Write("syntax.yaml", "version: 1\nrules: [\n  - id: x\n");
  Run r = Agentgate("policy check '" + path + "'");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err.rfind(path + ":", 0), 0u) << r.err;
  EXPECT_NE(r.err.find("YAML syntax error"), std::string::npos) << r.err;
}

TEST_F(PolicyCliTest, MissingFileAndUsage) {
  Run r = Agentgate("policy check '" + dir_ + "/nope.yaml'");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("nope.yaml"), std::string::npos);
  EXPECT_EQ(Agentgate("policy").exit_code, 2);
  EXPECT_EQ(Agentgate("policy check").exit_code, 2);
  EXPECT_EQ(Agentgate("policy frobnicate x").exit_code, 2);
  Run help = Agentgate("policy check --help");
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("FILE"), std::string::npos);
}

TEST_F(PolicyCliTest, BadSecretRulePackIsReported) {
  Write("pack.yaml", "this is not: [a rule pack\n");
  std::string path = Write("p.yaml",
                           "version: 1\n"
                           "secrets: {rule_files: [pack.yaml]}\n"
                           "rules:\n"
                           "  - {id: secrets, kind: secrets}\n");
  Run r = Agentgate("policy check '" + path + "'");
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.err.find("secret rules do not load"), std::string::npos) << r.err;
}

TEST_F(PolicyCliTest, ConfigCheck) {
  std::string example = std::string(AG_SOURCE_DIR) + "/docs/agentgate.example.yaml";
  Run good = Agentgate("config check '" + example + "'");
  EXPECT_EQ(good.exit_code, 0) << good.err;
  EXPECT_EQ(good.out, example + ": ok (1 repos, 1 tokens, 1 oidc issuers)\n");

  std::string bad = Write("agentgate.yaml",
                          "listen: nowhere\n"
                          "oidc:\n"
                          "  - {issuer: i, audiences: [a], jwks_file: j, algorithms: [none]}\n");
  Run r = Agentgate("config check '" + bad + "'");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, bad + ":1:9: listen: expected host:port or [v6]:port, got 'nowhere'\n" + bad +
                       ":3:60: algorithms: 'none' is not allowed (use RS256, RS384, RS512, "
                       "ES256 or ES384)\n");
  EXPECT_EQ(Agentgate("config check '" + dir_ + "/nope.yaml'").exit_code, 2);
}

}  // namespace
