// The whole loop, end to end, with nothing mocked: a real upstream (nginx +
// fcgiwrap + git http-backend with a token), `agentgate repo add`, the real
// agentgate-mirror daemon, an agent pushing over HTTP with a static token
// through the real hooks, a reviewer approving with the real CLI, and the
// replay worker pushing the approved ref upstream.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "e2e/loop_fixture.h"

namespace ag::testing {
namespace {

std::string FakeAwsKey() { return std::string("AKIA") + "Q4RZ2WXT7YLMNBVC"; }

class FlowTest : public LoopTest {
 protected:
  LoopOptions Options() override {
    // The default policy, with this test's user (root in CI) as the reviewer.
    std::string policy = ReadFileOrEmpty(std::string(AG_SOURCE_DIR) + "/policies/default.yaml");
    size_t at = policy.find("groups: [agentgate-reviewers]");
    EXPECT_NE(at, std::string::npos);
    if (at != std::string::npos) policy.replace(at, 29, "users: [" + Me() + "]");
    return {policy};
  }
  std::string agent_token() const { return TokenOf("agent-ci"); }
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
  EXPECT_EQ(everything.find(agent_token()), std::string::npos);
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

namespace ag::testing {
namespace {

// Issue 19 row 6: a fast-forward pushed while the previous request on the
// ref is approved but not yet replayed leases on that request's tip, so a
// series approved in order all replays, none `conflict`. Upstream's own
// pre-receive is slow here, so each push lands while the one before it is
// still replaying.
TEST_F(FlowTest, FastForwardSeriesReplaysInOrder) {
  WriteFile(upstream_.repo().path() + "/hooks/pre-receive", "#!/bin/sh\nsleep 2\nexit 0\n", 0755);
  ASSERT_EQ(Work("checkout -q -b agent/ff").rc, 0);
  std::vector<std::string> tips;
  for (int i = 1; i <= 3; ++i) {
    WriteFile(WorkDir() + "/ff.txt", "step " + std::to_string(i) + "\n");
    ASSERT_EQ(Work("add -A").rc, 0);
    ASSERT_EQ(Work("commit -q -m step" + std::to_string(i)).rc, 0);
    tips.push_back(ShOut("git -C " + WorkDir() + " rev-parse HEAD"));
    CmdResult push = Work("push origin agent/ff");
    ASSERT_EQ(push.rc, 0) << push.out;
    CmdResult approve = Agentgate("approve " + std::to_string(i));
    ASSERT_EQ(approve.rc, 0) << approve.out;
  }
  ASSERT_TRUE(WaitFor([&] { return upstream_.repo().Ref("refs/heads/agent/ff") == tips.back(); },
                      std::chrono::seconds(60)))
      << DaemonLog();
  ASSERT_TRUE(WaitFor([&] {
    auto list = nlohmann::json::parse(Agentgate("list --json --status replayed").out, nullptr, false);
    return list.is_array() && list.size() == 3;
  }, std::chrono::seconds(30))) << Agentgate("list --json").out;
  auto all = nlohmann::json::parse(Agentgate("list --json").out, nullptr, false);
  for (const auto& r : all) EXPECT_EQ(r["status"], "replayed") << all.dump(2);
}

}  // namespace
}  // namespace ag::testing

namespace ag::testing {
namespace {

// Issue 19 row 9: six concurrent pushes to one new ref. One lands; the
// others are told they lost (never "held as request N"), and no request is
// left `incoming` for the sweeper.
TEST_F(FlowTest, ConcurrentPushesToOneRefLeaveOneRequest) {
  constexpr int kPushers = 6;
  std::string script = "";
  for (int i = 0; i < kPushers; ++i) {
    std::string w = dir_.path() + "/w" + std::to_string(i);
    ASSERT_EQ(Git("clone -q " + AgentUrl() + " " + w).rc, 0);
    WriteFile(w + "/race.txt", "pusher " + std::to_string(i) + "\n");
    ASSERT_EQ(Git("-C " + w + " checkout -q -b agent/race").rc, 0);
    ASSERT_EQ(Git("-C " + w + " add -A").rc, 0);
    ASSERT_EQ(Git("-C " + w + " commit -q -m race" + std::to_string(i)).rc, 0);
    script += "(HOME=" + dir_.path() + "/home GIT_CONFIG_NOSYSTEM=1 git -C " + w +
              " push origin agent/race > " + w + ".out 2>&1; echo $? > " + w + ".rc) & ";
  }
  ASSERT_EQ(Cmd(script + "wait").rc, 0);
  int landed = 0;
  for (int i = 0; i < kPushers; ++i) {
    std::string w = dir_.path() + "/w" + std::to_string(i);
    std::string out = ReadAll(w + ".out");
    bool ok = ReadAll(w + ".rc") == "0\n";
    landed += ok;
    if (!ok) EXPECT_EQ(out.find("is pending"), std::string::npos) << out;
  }
  EXPECT_EQ(landed, 1);
  auto all = nlohmann::json::parse(Agentgate("list --json").out, nullptr, false);
  ASSERT_TRUE(all.is_array());
  int pending = 0;
  for (const auto& r : all) {
    EXPECT_NE(r["status"], "incoming") << all.dump(2);
    pending += r["status"] == "pending";
  }
  EXPECT_EQ(pending, 1) << all.dump(2);
}

}  // namespace
}  // namespace ag::testing
