// Replay to an ssh upstream: Debian's sshd on 127.0.0.1 with a generated key,
// the key handed to libssh2 from memory, the host key checked against the
// configured known_hosts file.
#include <gtest/gtest.h>

#include "e2e/upstream_fixture.h"
#include "git/git.h"
#include "replay/replay_env.h"
#include "replay/worker.h"

namespace ag::replay {
namespace {

using ag::testing::ReplayEnv;
using ag::testing::SshUpstream;
using store::RequestStatus;

class ReplaySshTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(up_.ok()) << up_.log(); }
  std::unique_ptr<ReplayEnv> Env(const std::string& key_path) {
    auto env = std::make_unique<ReplayEnv>(up_.url(), up_.repo().path(),
                                           ag::testing::ReadAll(key_path), "git");
    env->config()->repos[0].ssh_known_hosts = up_.known_hosts_path();
    return env;
  }
  SshUpstream up_;
};

TEST_F(ReplaySshTest, ApprovedRequestReachesUpstreamOverSsh) {
  auto env = Env(up_.private_key_path());
  std::string c = env->Commit("", "a.txt", "over ssh\n");
  int64_t id = env->Approve("refs/heads/main", up_.seed_head(), c);
  ReplayWorker w(env->config());
  auto s = w.RunOnce();
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(env->Get(id).status, RequestStatus::kReplayed) << env->Get(id).status_reason;
  EXPECT_EQ(up_.repo().Ref("refs/heads/main"), c);
}

TEST_F(ReplaySshTest, UpstreamMovedIsConflict) {
  auto env = Env(up_.private_key_path());
  std::string c1 = env->Commit("", "a.txt", "1\n");
  std::string c2 = env->Commit("", "a.txt", "2\n");
  int64_t id1 = env->Approve("refs/heads/main", up_.seed_head(), c1);
  ReplayWorker w(env->config());
  ASSERT_TRUE(w.RunOnce().ok());
  ASSERT_EQ(env->Get(id1).status, RequestStatus::kReplayed);
  // A second request leasing on the old base: upstream has moved.
  int64_t id2 = env->Approve("refs/heads/agent/x", std::string(git::kZeroOid), c2);
  ag::testing::Cmd("git --git-dir=" + up_.repo().path() + " update-ref refs/heads/agent/x " + c1);
  ASSERT_TRUE(w.RunOnce().ok());
  EXPECT_EQ(env->Get(id2).status, RequestStatus::kConflict);
  EXPECT_EQ(up_.repo().Ref("refs/heads/agent/x"), c1);
}

TEST_F(ReplaySshTest, UnknownKeyFailsWithAClearReason) {
  ag::testing::TempDir d;
  ag::testing::Cmd("ssh-keygen -q -t ecdsa -b 256 -m PEM -N '' -f " + d.path() + "/other");
  auto env = Env(d.path() + "/other");
  std::string c = env->Commit("", "a.txt", "x\n");
  int64_t id = env->Approve("refs/heads/main", up_.seed_head(), c);
  ReplayWorker w(env->config());
  ASSERT_TRUE(w.RunOnce().ok());
  store::Request r = env->Get(id);
  EXPECT_EQ(r.status, RequestStatus::kFailed);
  EXPECT_NE(r.status_reason.find("upstream refused the credential"), std::string::npos)
      << r.status_reason;
  EXPECT_EQ(r.status_reason.find("PRIVATE KEY"), std::string::npos);
  EXPECT_EQ(up_.repo().Ref("refs/heads/main"), up_.seed_head());
}

TEST_F(ReplaySshTest, UntrustedHostKeyIsRefused) {
  auto env = Env(up_.private_key_path());
  ag::testing::TempDir d;
  ag::testing::Cmd("ssh-keygen -q -t ecdsa -b 256 -N '' -f " + d.path() + "/h");
  std::string other_pub = ag::testing::ReadAll(d.path() + "/h.pub");
  ag::testing::WriteFile(d.path() + "/known_hosts", "[127.0.0.1]:1 " + other_pub);
  env->config()->repos[0].ssh_known_hosts = d.path() + "/known_hosts";
  std::string c = env->Commit("", "a.txt", "x\n");
  int64_t id = env->Approve("refs/heads/main", up_.seed_head(), c);
  ReplayWorker w(env->config());
  ASSERT_TRUE(w.RunOnce().ok());
  store::Request r = env->Get(id);
  EXPECT_EQ(r.status, RequestStatus::kFailed);
  EXPECT_NE(r.status_reason.find("host"), std::string::npos) << r.status_reason;
  EXPECT_EQ(up_.repo().Ref("refs/heads/main"), up_.seed_head());
}

}  // namespace
}  // namespace ag::replay
