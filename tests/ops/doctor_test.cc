// `agentgate doctor` as a real process over a real data dir, repo and local
// upstream: all ok, then each problem it must name (and exit 1 for).
#include <grp.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "ops_util.h"
#include "store/db.h"
#include "util/signed_env.h"

namespace ag::testing {
namespace {

class DoctorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = TempDir("ag-doctor");
    ASSERT_FALSE(dir_.empty());
    struct passwd* pw = ::getpwuid(::geteuid());
    ASSERT_NE(pw, nullptr);
    user_ = pw->pw_name;
    repo_ = dir_ + "/repos/demo.git";
    upstream_ = dir_ + "/upstream.git";
    ASSERT_EQ(Sh("git init -q --bare -b main " + upstream_).code, 0);
    ASSERT_EQ(Sh("git init -q --bare -b main " + repo_).code, 0);
    ASSERT_EQ(Sh("git -C " + repo_ + " config receive.advertisePushOptions true").code, 0);
    for (const char* hook : {"pre-receive", "post-receive"}) {
      std::string path = repo_ + "/hooks/" + hook;
      std::ofstream(path) << "#!/bin/sh\nexec /usr/lib/agentgate/agentgate-" << hook
                          << " --config " << dir_ << "/agentgate.yaml --repo demo\n";
      ::chmod(path.c_str(), 0755);
    }
    ASSERT_EQ(Sh("cp " + Src("policies/default.yaml") + " " + dir_ + "/policy.yaml").code, 0);
    WriteConfig("file://" + upstream_);
    {
      auto db = store::Db::Open(dir_ + "/agentgate.db");
      ASSERT_TRUE(db.ok()) << db.status().ToString();
    }
    for (const char* f : {"agentgate.db", "agentgate.db-wal", "agentgate.db-shm"}) {
      ::chmod((dir_ + "/" + f).c_str(), 0640);
    }
    ASSERT_TRUE(LoadOrCreateServerKey(dir_ + "/server.key").ok());
  }
  void TearDown() override {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  void WriteConfig(const std::string& upstream) {
    std::ofstream(dir_ + "/agentgate.yaml")
        << "data_dir: " << dir_ << "\npolicy: policy.yaml\nrepos:\n  - name: demo\n    upstream: "
        << upstream << "\n";
  }
  CommandResult Doctor(const std::string& extra = "") {
    std::string user = extra.find("--user") == std::string::npos ? " --user " + user_ : "";
    return Sh(std::string(AG_BIN_DIR) + "/agentgate doctor --config " + dir_ + "/agentgate.yaml" +
              user + " " + extra);
  }
  // Expects exit 1 and a FAIL line containing every one of `words`.
  void ExpectFail(const std::vector<std::string>& words) {
    CommandResult r = Doctor();
    EXPECT_EQ(r.code, 1) << r.output;
    bool found = false;
    std::istringstream in(r.output);
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("FAIL: ", 0) != 0) continue;
      bool all = true;
      for (const std::string& w : words) all = all && line.find(w) != std::string::npos;
      found = found || all;
    }
    EXPECT_TRUE(found) << "no FAIL line with " << ::testing::PrintToString(words) << "\n"
                       << r.output;
  }

  std::string dir_, user_, repo_, upstream_;
};

TEST_F(DoctorTest, AllOk) {
  CommandResult r = Doctor();
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(r.output.find("FAIL"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("WARN"), std::string::npos) << r.output;
  for (const char* want : {"ok: config", "ok: policy", "ok: token identities",
                           "ok: service user", "ok: data dir",
                           "ok: database", "ok: server key", "pre-receive hook runs",
                           "post-receive hook runs", "advertisePushOptions",
                           "upstream file://", "all checks passed"}) {
    EXPECT_NE(r.output.find(want), std::string::npos) << want << "\n" << r.output;
  }
}

TEST_F(DoctorTest, ServerKeyReadableByOthers) {
  ::chmod((dir_ + "/server.key").c_str(), 0644);
  ExpectFail({"server key", "0644", "chmod 0600"});
}

TEST_F(DoctorTest, DatabaseWritableByOthers) {
  ::chmod((dir_ + "/agentgate.db").c_str(), 0666);
  ExpectFail({"database", "0666", "chmod 0644"});
}

TEST_F(DoctorTest, WrongOwner) {
  CommandResult r = Doctor("--user nobody");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.output.find("not nobody; fix: chown nobody"), std::string::npos) << r.output;
}

TEST_F(DoctorTest, MissingServiceUser) {
  CommandResult r = Doctor("--user no-such-agentgate-user");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.output.find("FAIL: service user 'no-such-agentgate-user' does not exist"),
            std::string::npos) << r.output;
}

TEST_F(DoctorTest, PushOptionsNotAdvertised) {
  ASSERT_EQ(Sh("git -C " + repo_ + " config receive.advertisePushOptions false").code, 0);
  ExpectFail({"advertisePushOptions", "git -C"});
}

TEST_F(DoctorTest, HookMissingOrForeign) {
  std::filesystem::remove(repo_ + "/hooks/post-receive");
  std::ofstream(repo_ + "/hooks/pre-receive") << "#!/bin/sh\nexit 0\n";
  ExpectFail({"no post-receive hook", "agentgate repo hooks demo"});
  ExpectFail({"pre-receive", "does not run agentgate-pre-receive"});
}

TEST_F(DoctorTest, UpstreamUnreachable) {
  WriteConfig("file://" + dir_ + "/nowhere.git");
  ExpectFail({"upstream", "unreachable"});
  CommandResult offline = Doctor("--offline");
  EXPECT_EQ(offline.code, 0) << offline.output;
}

TEST_F(DoctorTest, CredentialMissing) {
  std::ofstream(dir_ + "/agentgate.yaml")
      << "data_dir: " << dir_ << "\npolicy: policy.yaml\nrepos:\n  - name: demo\n    upstream: "
      << "https://git.example.test/demo.git\n    credential: upstream-token\n";
  CommandResult r = Doctor("--credentials-dir " + dir_ + "/creds");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("FAIL: repo demo: credential 'upstream-token'"), std::string::npos)
      << r.output;
}

TEST_F(DoctorTest, TokenIdentityIsAReviewersAccount) {
  // Reviewers: a user named in the policy, and the group of the account
  // running the test; tokens named like each, and an agent's own.
  struct group* gr = ::getgrgid(::getegid());
  ASSERT_NE(gr, nullptr);
  ASSERT_EQ(Sh("sed -i 's/groups: \\[agentgate-reviewers\\]/users: [doc-reviewer]\\n  groups: [" +
               std::string(gr->gr_name) + "]/' " + dir_ + "/policy.yaml").code, 0);
  std::string hash(64, 'a');
  std::ofstream(dir_ + "/agentgate.yaml", std::ios::app)
      << "tokens:\n  - {identity: doc-reviewer, sha256: " << hash << "}\n"
      << "  - {identity: " << user_ << ", sha256: " << std::string(64, 'b') << "}\n"
      << "  - {identity: agent-ci, sha256: " << std::string(64, 'c') << "}\n";
  CommandResult r = Doctor("--offline");
  EXPECT_EQ(r.code, 0) << r.output;  // a warning, not a failure
  EXPECT_NE(r.output.find("WARN: token identity 'doc-reviewer' names reviewer account "
                          "doc-reviewer"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("WARN: token identity '" + user_ + "' is Unix account " + user_ +
                          ", in reviewer group " + gr->gr_name), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("must never run under, or be named as, a reviewer's account"),
            std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("'agent-ci'"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("2 warning(s)"), std::string::npos) << r.output;
}

TEST_F(DoctorTest, BadPolicyAndBadConfig) {
  std::ofstream(dir_ + "/policy.yaml") << "version: 1\nno_such_key: 1\n";
  ExpectFail({"policy", "policy.yaml"});
  std::ofstream(dir_ + "/agentgate.yaml") << "listen: nowhere\n";
  ExpectFail({"config", "agentgate config check"});
}

}  // namespace
}  // namespace ag::testing
