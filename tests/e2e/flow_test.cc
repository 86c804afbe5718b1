// The whole loop, end to end, with nothing mocked: a real upstream (nginx +
// fcgiwrap + git http-backend with a token), `agentgate repo add`, the real
// agentgate-mirror daemon, an agent pushing over HTTP with a static token
// through the real hooks, a reviewer approving with the real CLI, and the
// replay worker pushing the approved ref upstream.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "e2e/fixture.h"
#include "e2e/upstream_fixture.h"

namespace ag::testing {
namespace {

std::string FakeAwsKey() { return std::string("AKIA") + "Q4RZ2WXT7YLMNBVC"; }

class FlowTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(upstream_.ok()) << upstream_.error_log();
    const std::string& t = dir_.path();
    agent_token_ = RandomToken("agt_");
    port_ = e2e::FreePort();
    WriteFile(t + "/upstream-token", upstream_.token() + "\n", 0600);
    // The default policy, with this test's user (root in CI) as the reviewer.
    std::string policy = ReadFileOrEmpty(std::string(AG_SOURCE_DIR) + "/policies/default.yaml");
    size_t at = policy.find("groups: [agentgate-reviewers]");
    ASSERT_NE(at, std::string::npos);
    policy.replace(at, 29, "users: [" + ShOut("id -un") + "]");
    WriteFile(t + "/policy.yaml", policy);
    // The replay worker never looks for work on its own here: only the
    // approval's wake-up can start the replay this test waits for.
    WriteFile(config_, "data_dir: " + t + "/data\npolicy: " + t + "/policy.yaml\nlisten: 127.0.0.1:" +
                           std::to_string(port_) + "\ncontrol_socket: " + t + "/control.sock\n" +
                           "replay: {poll_interval: 1h}\n" +
                           "tokens:\n  - identity: agent-ci\n    groups: [agents]\n    sha256: " +
                           Sha256Hex(agent_token_) + "\n");
    CmdResult add = Cmd(Bin("agentgate") + " repo add demo --upstream " + upstream_.url() +
                        " --credential " + t + "/upstream-token --config " + config_);
    ASSERT_EQ(add.rc, 0) << add.out;
    ASSERT_TRUE(daemon_.Start({Bin("agentgate-mirror"), "--config", config_}, t + "/daemon.log"));
    ASSERT_TRUE(WaitFor([&] {
      return e2e::RawHttp(port_, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").status == 200;
    })) << ReadAll(t + "/daemon.log");
    WriteFile(t + "/home/.gitconfig", "[user]\n\tname = Agent\n\temail = agent@example.com\n");
    CmdResult clone = Git("clone -q " + AgentUrl() + " " + t + "/work");
    ASSERT_EQ(clone.rc, 0) << clone.out;
  }

  static std::string Bin(const std::string& name) { return std::string(AG_BIN_DIR) + "/" + name; }
  std::string AgentUrl() const {
    return "http://agent:" + agent_token_ + "@127.0.0.1:" + std::to_string(port_) + "/demo.git";
  }
  CmdResult Git(const std::string& args) const {
    return Cmd("HOME=" + dir_.path() + "/home GIT_CONFIG_NOSYSTEM=1 GIT_TERMINAL_PROMPT=0 git " + args);
  }
  CmdResult Work(const std::string& args) const { return Git("-C " + dir_.path() + "/work " + args); }
  CmdResult Agentgate(const std::string& args) const {
    return Cmd(Bin("agentgate") + " " + args + " --config " + config_);
  }

  HttpUpstream upstream_{2};
  TempDir dir_{"ag-flow"};
  std::string config_ = dir_.path() + "/agentgate.yaml";
  std::string agent_token_;
  int port_ = 0;
  Child daemon_;
};

TEST_F(FlowTest, HeldPushIsApprovedAndReplayedUpstreamOnce) {
  ASSERT_EQ(Work("checkout -q -b agent/feature").rc, 0);
  WriteFile(dir_.path() + "/work/feature.txt", "a feature\n");
  ASSERT_EQ(Work("add -A").rc, 0);
  ASSERT_EQ(Work("commit -q -m feature").rc, 0);
  std::string tip = ShOut("git -C " + dir_.path() + "/work rev-parse HEAD");
  CmdResult push = Work("push -o task=JIRA-7 origin agent/feature");
  ASSERT_EQ(push.rc, 0) << push.out;
  EXPECT_NE(push.out.find("held for review as request 1"), std::string::npos) << push.out;
  EXPECT_EQ(upstream_.repo().Ref("refs/heads/agent/feature"), "");  // nothing upstream yet

  // The agent can follow its request.
  CmdResult state = Git("ls-remote " + AgentUrl() + " 'refs/agentgate/state/1/*'");
  EXPECT_NE(state.out.find("refs/agentgate/state/1/pending"), std::string::npos) << state.out;

  // The agent's identity and push options were recorded.
  CmdResult list = Agentgate("list --json");
  ASSERT_EQ(list.rc, 0) << list.out;
  auto requests = nlohmann::json::parse(list.out, nullptr, false);
  ASSERT_TRUE(requests.is_array() && requests.size() == 1) << list.out;
  EXPECT_EQ(requests[0]["identity"], "agent-ci");
  EXPECT_EQ(requests[0]["status"], "pending");
  EXPECT_EQ(requests[0]["rules"], nlohmann::json::array({"default"})) << list.out;

  CmdResult approve = Agentgate("approve 1 --comment ok");
  ASSERT_EQ(approve.rc, 0) << approve.out;
  ASSERT_TRUE(WaitFor([&] { return upstream_.repo().Ref("refs/heads/agent/feature") == tip; },
                      std::chrono::seconds(30)))
      << ReadAll(dir_.path() + "/daemon.log");
  ASSERT_TRUE(WaitFor([&] {
    return Git("ls-remote " + AgentUrl() + " 'refs/agentgate/state/1/*'").out.find("replayed") !=
           std::string::npos;
  }, std::chrono::seconds(10)));
  // Exactly once: one new commit on the upstream branch, not forced.
  EXPECT_EQ(ShOut("git --git-dir=" + upstream_.repo().path() + " rev-list --count refs/heads/agent/feature"),
            "3");
  CmdResult again = Agentgate("approve 1");
  EXPECT_EQ(again.rc, 1) << again.out;  // already decided
}

TEST_F(FlowTest, BlockedPushNeverReachesUpstreamAndSecretsStayMasked) {
  ASSERT_EQ(Work("checkout -q -b agent/leak").rc, 0);
  WriteFile(dir_.path() + "/work/settings.py", "KEY = \"" + FakeAwsKey() + "\"\n");
  ASSERT_EQ(Work("add -A").rc, 0);
  ASSERT_EQ(Work("commit -q -m settings").rc, 0);
  CmdResult push = Work("push origin agent/leak");
  EXPECT_NE(push.rc, 0);
  EXPECT_NE(push.out.find("BLOCKED by secrets"), std::string::npos) << push.out;
  EXPECT_NE(push.out.find("AKIA****"), std::string::npos) << push.out;
  EXPECT_EQ(push.out.find(FakeAwsKey()), std::string::npos);

  // The agent may not push outside its namespace either.
  CmdResult main_push = Work("push origin HEAD:refs/heads/main");
  EXPECT_NE(main_push.rc, 0);
  EXPECT_NE(main_push.out.find("ref-not-allowed"), std::string::npos) << main_push.out;

  CmdResult list = Agentgate("list --json");
  EXPECT_EQ(list.out.find("agent/leak"), std::string::npos) << list.out;
  EXPECT_EQ(upstream_.repo().Ref("refs/heads/agent/leak"), "");
  daemon_.Stop();
  // Neither the secret nor any token is in the log or the database.
  std::string everything = ReadAll(dir_.path() + "/daemon.log") + ReadAll(dir_.path() + "/data/agentgate.db") +
                           ReadAll(dir_.path() + "/data/agentgate.db-wal");
  EXPECT_EQ(everything.find(FakeAwsKey()), std::string::npos);
  EXPECT_EQ(everything.find(agent_token_), std::string::npos);
  EXPECT_EQ(everything.find(upstream_.token()), std::string::npos);
}

TEST_F(FlowTest, WrongTokenIsRefusedAtTheDoor) {
  CmdResult r = Git("ls-remote http://agent:agt_wrong@127.0.0.1:" + std::to_string(port_) + "/demo.git");
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.out.find("Authentication failed"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("agt_wrong"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace ag::testing
