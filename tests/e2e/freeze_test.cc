// The kill switch (issue 15): `agentgate freeze` stops an agent at the door
// (403 with the reason, which git prints), its requests cannot be approved
// and its approved requests are not replayed; other agents go on; `thaw`
// restores everything; both are audited. Run through the real mirror, the
// real hooks, the real review CLI and a real upstream.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "e2e/loop_fixture.h"

namespace ag::testing {
namespace {

using nlohmann::json;

std::string Policy() {
  return "version: 1\ndefault_outcome: hold\nreviewers:\n  users: [" + ShOut("id -un") +
         "]\nprofiles:\n  - name: agents\n    groups: [agents, others]\n"
         "    refs: [\"refs/heads/agent/**\"]\n";
}

class FreezeTest : public LoopTest {
 protected:
  LoopOptions Options() override {
    LoopOptions o{Policy()};
    o.more_agents = {{"agent-b", "others"}};
    // Failed replays are retried after at most a second (test 2).
    o.replay = "{poll_interval: 1h, backoff_max: 1s}";
    return o;
  }
  // A commit on a new branch of `work` (a clone as `identity`), pushed.
  CmdResult PushNew(const std::string& work, const std::string& branch, std::string* tip = nullptr) {
    EXPECT_EQ(Git("-C " + work + " checkout -q -B " + branch + " origin/main").rc, 0);
    WriteFile(work + "/" + branch + ".txt", branch + "\n");
    EXPECT_EQ(Git("-C " + work + " add -A").rc, 0);
    EXPECT_EQ(Git("-C " + work + " commit -qm " + ShellQuote("change " + branch)).rc, 0);
    if (tip) *tip = ShOut("git -C " + work + " rev-parse HEAD");
    return Git("-C " + work + " push origin HEAD:refs/heads/agent/" + branch);
  }
  std::string CloneAs(const std::string& identity) {
    std::string work = dir_.path() + "/work-" + identity;
    CmdResult c = Git("clone -q " + AgentUrl(identity) + " " + work);
    EXPECT_EQ(c.rc, 0) << c.out;
    return work;
  }
  json Show(int id) {
    CmdResult r = Agentgate("show " + std::to_string(id) + " --json");
    EXPECT_EQ(r.rc, 0) << r.out;
    return json::parse(r.out, nullptr, false);
  }
  // Upstream down (502), agent-ci's push of `branch` approved as request 1:
  // its replay failed once and waits, approved. The backend stays down.
  void ApprovedButNotReplayed(const std::string& branch, std::string* tip) {
    upstream_.StopBackend();
    ASSERT_EQ(PushNew(WorkDir(), branch, tip).rc, 0);
    ASSERT_EQ(Agentgate("approve 1").rc, 0);
    ASSERT_TRUE(WaitFor([&] {
      json r = Show(1);
      return r.value("status", "") == "approved" && r.value("replay_attempts", 0) >= 1;
    }, std::chrono::seconds(30))) << DaemonLog();
  }
  bool UpstreamHas(const std::string& commit) {
    return Cmd("git --git-dir=" + upstream_.repo().path() + " cat-file -e " + commit + "^{commit}").rc == 0;
  }
};

TEST_F(FreezeTest, AFrozenAgentIsStoppedAtTheDoorAndItsRequestsWait) {
  std::string a1;
  CmdResult held = PushNew(WorkDir(), "a1", &a1);
  ASSERT_EQ(held.rc, 0) << held.out;  // request 1, pending

  CmdResult freeze = Agentgate("freeze --identity agent-ci --reason 'looping on CI, see ticket 42'");
  ASSERT_EQ(freeze.rc, 0) << freeze.out;

  // The agent's next push and fetch are refused with the reason.
  CmdResult push = PushNew(WorkDir(), "a2");
  EXPECT_NE(push.rc, 0) << push.out;
  EXPECT_NE(push.out.find("403"), std::string::npos) << push.out << DaemonLog();
  EXPECT_NE(push.out.find("looping on CI, see ticket 42"), std::string::npos) << push.out;
  CmdResult fetch = Work("fetch -q origin");
  EXPECT_NE(fetch.rc, 0) << fetch.out;

  // Its pending request cannot be approved while frozen; `list` says so.
  CmdResult approve = Agentgate("approve 1");
  EXPECT_NE(approve.rc, 0) << approve.out;
  EXPECT_NE(approve.out.find("frozen"), std::string::npos) << approve.out;
  EXPECT_EQ(Show(1).value("status", ""), "pending");
  CmdResult list = Agentgate("list");
  ASSERT_EQ(list.rc, 0) << list.out;
  EXPECT_EQ(list.out.rfind("FROZEN identity agent-ci by ", 0), 0u) << list.out;
  EXPECT_NE(list.out.find("pending (frozen)"), std::string::npos) << list.out;

  // Another agent is not affected: it pushes, is approved and replayed.
  std::string work_b = CloneAs("agent-b");
  std::string b1;
  CmdResult pushed_b = PushNew(work_b, "b1", &b1);
  ASSERT_EQ(pushed_b.rc, 0) << pushed_b.out;
  ASSERT_EQ(Agentgate("approve 2").rc, 0);
  EXPECT_TRUE(WaitFor([&] { return UpstreamHas(b1); }, std::chrono::seconds(30))) << DaemonLog();
  EXPECT_FALSE(UpstreamHas(a1));

  // Thawed, the agent works again and its request can be approved.
  CmdResult thaw = Agentgate("thaw --identity agent-ci");
  ASSERT_EQ(thaw.rc, 0) << thaw.out;
  EXPECT_TRUE(WaitFor([&] { return Work("fetch -q origin").rc == 0; }, std::chrono::seconds(5)));
  ASSERT_EQ(Agentgate("approve 1").rc, 0);
  EXPECT_TRUE(WaitFor([&] { return UpstreamHas(a1); }, std::chrono::seconds(30))) << DaemonLog();

  // Both are in the audit log, which still verifies.
  CmdResult audit = Agentgate("audit export");
  ASSERT_EQ(audit.rc, 0) << audit.out;
  EXPECT_NE(audit.out.find("\"freeze\""), std::string::npos);
  EXPECT_NE(audit.out.find("looping on CI, see ticket 42"), std::string::npos);
  EXPECT_NE(audit.out.find("\"thaw\""), std::string::npos);
  EXPECT_EQ(Agentgate("audit verify").rc, 0);
}

// An approved request whose replay has not happened yet (upstream down) is
// not replayed while its agent's group is frozen, even once upstream is
// back and the worker runs for another agent; after the thaw it is.
TEST_F(FreezeTest, AnApprovedRequestOfAFrozenGroupIsNotReplayed) {
  std::string a1;
  ApprovedButNotReplayed("a1", &a1);  // request 1

  ASSERT_EQ(Agentgate("freeze --group agents --reason 'incident 7'").rc, 0);
  ASSERT_TRUE(upstream_.Start());
  // Past the retry's backoff (at most 1 s): the worker would take it now.
  std::this_thread::sleep_for(std::chrono::milliseconds(2100));

  // agent-b (group "others") is not frozen: its approval wakes the worker,
  // which goes through the queue in order and replays only b's request.
  std::string work_b = CloneAs("agent-b");
  std::string b1;
  ASSERT_EQ(PushNew(work_b, "b1", &b1).rc, 0);
  ASSERT_EQ(Agentgate("approve 2").rc, 0);
  ASSERT_TRUE(WaitFor([&] { return UpstreamHas(b1); }, std::chrono::seconds(30))) << DaemonLog();
  EXPECT_FALSE(UpstreamHas(a1));
  EXPECT_EQ(Show(1).value("status", ""), "approved");

  // Thawed, the next wake replays it.
  ASSERT_EQ(Agentgate("thaw --group agents").rc, 0);
  // (Before a thaw a reviewer may take it back instead: see the next test.)
  std::string b2;
  ASSERT_EQ(PushNew(work_b, "b2", &b2).rc, 0);
  ASSERT_EQ(Agentgate("approve 3").rc, 0);
  EXPECT_TRUE(WaitFor([&] { return UpstreamHas(a1) && UpstreamHas(b2); }, std::chrono::seconds(30)))
      << DaemonLog();
}

// Attack review: an approved request of a frozen agent can be rejected, so
// that a thaw does not release what caused the freeze.
TEST_F(FreezeTest, AnApprovedRequestOfAFrozenAgentCanBeTakenBack) {
  std::string a1;
  ApprovedButNotReplayed("a1", &a1);  // request 1
  // Not frozen: an approved request is final.
  EXPECT_NE(Agentgate("reject 1 --reason 'changed my mind'").rc, 0);
  ASSERT_EQ(Agentgate("freeze --identity agent-ci --reason 'leak'").rc, 0);
  CmdResult reject = Agentgate("reject 1 --reason 'the leak itself'");
  ASSERT_EQ(reject.rc, 0) << reject.out;
  EXPECT_EQ(Show(1).value("status", ""), "rejected");
  ASSERT_TRUE(upstream_.Start());
  ASSERT_EQ(Agentgate("thaw --identity agent-ci").rc, 0);
  // A wake (another approval) finds nothing of it to replay.
  std::string a2;
  ASSERT_EQ(PushNew(WorkDir(), "a2", &a2).rc, 0);
  ASSERT_EQ(Agentgate("approve 2").rc, 0);
  ASSERT_TRUE(WaitFor([&] { return UpstreamHas(a2); }, std::chrono::seconds(30))) << DaemonLog();
  EXPECT_FALSE(UpstreamHas(a1));
}

// Attack review: a frozen agent's commits must not reach upstream under
// another identity: not in a request built on them before the freeze (it
// cannot be approved), not pushed again under another name after it.
TEST_F(FreezeTest, AFrozenAgentsCommitsWaitWhoeverCarriesThem) {
  std::string a1;
  ASSERT_EQ(PushNew(WorkDir(), "a1", &a1).rc, 0);  // request 1, agent-ci
  std::string work_b = CloneAs("agent-b");
  ASSERT_EQ(Git("-C " + work_b + " fetch -q origin").rc, 0);
  ASSERT_EQ(Git("-C " + work_b + " checkout -q -B on-a1 origin/agent/a1").rc, 0);
  WriteFile(work_b + "/b.txt", "b\n");
  ASSERT_EQ(Git("-C " + work_b + " add -A").rc, 0);
  ASSERT_EQ(Git("-C " + work_b + " commit -qm on-top").rc, 0);
  CmdResult built = Git("-C " + work_b + " push origin HEAD:refs/heads/agent/b-on-a1");
  ASSERT_EQ(built.rc, 0) << built.out;  // request 2, agent-b, carries a1

  ASSERT_EQ(Agentgate("freeze --identity agent-ci --reason 'incident 9'").rc, 0);
  CmdResult approve = Agentgate("approve 2");
  EXPECT_NE(approve.rc, 0) << approve.out;
  EXPECT_NE(approve.out.find("whose pusher is frozen"), std::string::npos) << approve.out;

  // Pushing agent-ci's commit again under agent-b's name is refused.
  CmdResult again = Git("-C " + work_b + " push origin origin/agent/a1:refs/heads/agent/b-copy");
  EXPECT_NE(again.rc, 0) << again.out;
  EXPECT_NE(again.out.find("whose pusher is frozen"), std::string::npos) << again.out;
  // The agent is not told who froze it.
  CmdResult door = Work("fetch -q origin");
  EXPECT_NE(door.rc, 0);
  EXPECT_EQ(door.out.find("by " + ShOut("id -un")), std::string::npos) << door.out;
  EXPECT_FALSE(UpstreamHas(a1));

  ASSERT_EQ(Agentgate("thaw --identity agent-ci").rc, 0);
  ASSERT_EQ(Agentgate("approve 2").rc, 0);
  EXPECT_TRUE(WaitFor([&] { return UpstreamHas(a1); }, std::chrono::seconds(30))) << DaemonLog();
}

TEST_F(FreezeTest, FreezeAndThawNeedTheirArguments) {
  EXPECT_NE(Agentgate("freeze --identity agent-ci").rc, 0);                // no reason
  EXPECT_NE(Agentgate("freeze --reason x").rc, 0);                         // no target
  EXPECT_NE(Agentgate("freeze --identity a --all --reason x").rc, 0);      // two targets
  CmdResult not_frozen = Agentgate("thaw --identity nobody");
  EXPECT_NE(not_frozen.rc, 0);
  EXPECT_NE(not_frozen.out.find("not frozen"), std::string::npos) << not_frozen.out;
  // A name that only looks like another freezes nobody: refused.
  EXPECT_NE(Agentgate("freeze --identity 'agent-ci ' --reason x").rc, 0);
  // --all stops everyone, including agents added later to the config.
  ASSERT_EQ(Agentgate("freeze --all --reason 'maintenance'").rc, 0);
  CmdResult fetch = Work("fetch -q origin");
  EXPECT_NE(fetch.rc, 0);
  EXPECT_NE(fetch.out.find("maintenance"), std::string::npos) << fetch.out;
  ASSERT_EQ(Agentgate("thaw --all").rc, 0);
}

}  // namespace
}  // namespace ag::testing
