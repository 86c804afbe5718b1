// The gate judges exactly what it forwards: each test is an attack by an
// agent that wants its change upstream without a human (issue 11's table),
// run through the real mirror, the real hooks, the real review CLI and a real
// upstream, and checked on the upstream itself.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "e2e/loop_fixture.h"
#include "scan/rules.h"

namespace ag::testing {
namespace {

using nlohmann::json;

// With a valid CRC32 (issue 13), so the gate blocks it rather than holds it.
std::string FakeGithubToken() {
  const std::string payload = "R8fk2LmQx9TzVb4NwPc7Hy3JdE6sUa";
  return std::string("gh") + "p_" + payload + scan::Crc32Base62(payload);
}

// The docs example policy, with this test's user as the reviewer.
std::string DocsPolicy() {
  std::string policy =
      ReadFileOrEmpty(std::string(AG_SOURCE_DIR) + "/policies/examples/docs-auto-approve.yaml");
  size_t at = policy.find("groups: [agentgate-reviewers]");
  if (at != std::string::npos) policy.replace(at, 29, "users: [" + ShOut("id -un") + "]");
  return policy;
}

class GateTest : public LoopTest {
 protected:
  // Commits everything in the work tree with `message`; returns the new tip.
  std::string CommitAll(const std::string& message) {
    EXPECT_EQ(Work("add -A").rc, 0);
    WriteFile(dir_.path() + "/msg", message);
    CmdResult c = Work("commit -q -F " + dir_.path() + "/msg");
    EXPECT_EQ(c.rc, 0) << c.out;
    return ShOut("git -C " + WorkDir() + " rev-parse HEAD");
  }
  void Put(const std::string& path, const std::string& text) { WriteFile(WorkDir() + "/" + path, text); }
  void Link(const std::string& path, const std::string& target) {
    ASSERT_EQ(Cmd("mkdir -p $(dirname " + ShellQuote(WorkDir() + "/" + path) + ") && ln -sfn " +
                  ShellQuote(target) + " " + ShellQuote(WorkDir() + "/" + path))
                  .rc,
              0);
  }
  CmdResult Push(const std::string& branch) { return Work("push origin HEAD:refs/heads/" + branch); }
  json Request(int id) {
    CmdResult r = Agentgate("show " + std::to_string(id) + " --json");
    EXPECT_EQ(r.rc, 0) << r.out;
    return json::parse(r.out, nullptr, false);
  }
  bool UpstreamHas(const std::string& commit) {
    return Cmd("git --git-dir=" + upstream_.repo().path() + " cat-file -e " + commit + "^{commit}").rc == 0;
  }
  static bool Has(const json& rules, const std::string& id) {
    return rules.is_array() && std::find(rules.begin(), rules.end(), id) != rules.end();
  }
  // A control push that the policy does auto-approve, waited for upstream:
  // once it is there, the replay worker has run with every earlier request.
  void ReplayAControlPush(const std::string& branch) {
    ASSERT_EQ(Work("checkout -q -B ctl origin/main").rc, 0);
    Put("docs/control-" + branch + ".md", "fine\n");
    std::string tip = CommitAll("docs only");
    CmdResult push = Push(branch);
    ASSERT_EQ(push.rc, 0) << push.out;
    ASSERT_NE(push.out.find("auto-approved"), std::string::npos) << push.out;
    ASSERT_TRUE(WaitFor([&] { return upstream_.repo().Ref("refs/heads/" + branch) == tip; },
                        std::chrono::seconds(30)))
        << DaemonLog();
  }
};

class DocsPolicyGateTest : public GateTest {
 protected:
  LoopOptions Options() override { return {DocsPolicy()}; }
};

// Row 1: a rejected commit under a later docs-only commit is not auto-approved.
TEST_F(DocsPolicyGateTest, RejectedCommitUnderADocsOnlyCommitIsHeld) {
  ASSERT_EQ(Work("checkout -q -b agent/x").rc, 0);
  Put(".github/workflows/x.yml", "on: push\njobs: {x: {runs-on: ubuntu-latest, steps: [{run: curl evil}]}}\n");
  Put("src/app.py", "print('a')\n");
  std::string a = CommitAll("ci and code");
  CmdResult first = Push("agent/x");
  ASSERT_EQ(first.rc, 0) << first.out;
  ASSERT_NE(first.out.find("held for review as request 1"), std::string::npos) << first.out;
  CmdResult reject = Agentgate("reject 1 --reason 'no workflow changes'");
  ASSERT_EQ(reject.rc, 0) << reject.out;

  Put("docs/readme.md", "docs only\n");
  std::string b = CommitAll("docs");
  CmdResult second = Push("agent/x");
  ASSERT_EQ(second.rc, 0) << second.out;
  EXPECT_EQ(second.out.find("auto-approved"), std::string::npos) << second.out;
  EXPECT_NE(second.out.find("held for review as request 2"), std::string::npos) << second.out;
  json r = Request(2);
  EXPECT_TRUE(Has(r["rules"], "rejected-commits")) << r.dump(2);
  EXPECT_TRUE(Has(r["rules"], "protected-paths")) << r.dump(2);
  EXPECT_EQ(r["status"], "pending");
  // The reviewer is shown the rejected commit first, marked.
  ASSERT_TRUE(r["commits"].is_array() && r["commits"].size() == 2u) << r.dump(2);
  EXPECT_EQ(r["commits"][0]["id"], a);
  EXPECT_EQ(r["commits"][0]["rejected_in"], 1);
  EXPECT_FALSE(r["commits"][1].contains("rejected_in"));
  EXPECT_NE(Agentgate("show 2").out.find("REJECTED before, in request 1"), std::string::npos);

  // Row 3: the rejected commit pushed again on a new branch is held too.
  ASSERT_EQ(Work("checkout -q " + a).rc, 0);
  CmdResult again = Push("agent/y");
  ASSERT_EQ(again.rc, 0) << again.out;
  EXPECT_TRUE(Has(Request(3)["rules"], "rejected-commits")) << Request(3).dump(2);

  ReplayAControlPush("agent/docs-ok");
  EXPECT_FALSE(UpstreamHas(a));
  EXPECT_FALSE(UpstreamHas(b));
}

// Row 6: what the agent writes outside file lines is scanned; nothing
// skipped is auto-approved.
TEST_F(DocsPolicyGateTest, SecretsOutsideFileLinesAndSkippedFilesAreNotAutoApproved) {
  const std::string token = FakeGithubToken();
  struct Case {
    std::string name;
    std::function<void()> make;
    bool refused;  // blocked (a secret) rather than held
  };
  std::vector<Case> cases = {
      {"message", [&] { Put("docs/a.md", "a\n"); }, true},
      {"file-name", [&] { Put("docs/" + token + ".md", "b\n"); }, true},
      {"symlink-target", [&] { Link("docs/link", token); }, true},
      {"glued-token", [&] { Put("docs/c.md", "t = \"" + token + "example\"\n"); }, true},
      {"bom", [&] { Put("docs/d.md", "\xff\xfe\x01\x02\x03\x04 t = \"" + token + "\"\n"); }, true},
      {"png-named-text", [&] { Put("docs/e.png", "not an image\n"); }, false},
      {"real-binary", [&] { Put("docs/f.md", std::string("bin\0ary\n", 8)); }, false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    ASSERT_EQ(Work("checkout -q -B agent/" + c.name + " origin/main").rc, 0);
    c.make();
    std::string tip = CommitAll(c.name == "message" ? "docs\n\ntoken: " + token + "\n" : "docs " + c.name);
    CmdResult push = Push("agent/" + c.name);
    EXPECT_EQ(push.out.find("auto-approved"), std::string::npos) << push.out;
    EXPECT_EQ(push.out.find(token), std::string::npos) << push.out;
    if (c.refused) {
      EXPECT_NE(push.rc, 0) << push.out;
      EXPECT_NE(push.out.find("BLOCKED by secrets"), std::string::npos) << push.out;
    } else {
      EXPECT_EQ(push.rc, 0) << push.out;
      EXPECT_NE(push.out.find("not-scanned"), std::string::npos) << push.out;
    }
    EXPECT_FALSE(UpstreamHas(tip));
  }
  ReplayAControlPush("agent/docs-ok");
  daemon_.Stop();
  std::string everything = DaemonLog() + ReadAll(dir_.path() + "/data/agentgate.db") +
                           ReadAll(dir_.path() + "/data/agentgate.db-wal");
  EXPECT_EQ(everything.find(token), std::string::npos);
}

// Row 5: a chain of links that each stay inside lexically, and together
// point at /etc/passwd.
TEST_F(DocsPolicyGateTest, SymlinkChainOutOfTheTreeIsBlocked) {
  ASSERT_EQ(Work("checkout -q -b agent/links").rc, 0);
  Link("docs/l0", "..");
  for (int i = 1; i <= 7; ++i) Link("docs/l" + std::to_string(i), "l" + std::to_string(i - 1) + "/..");
  Link("docs/passwd.md", "l7/etc/passwd");
  std::string tip = CommitAll("docs links");
  ASSERT_EQ(Cmd("readlink -f " + WorkDir() + "/docs/passwd.md").out.substr(0, 11), "/etc/passwd");
  CmdResult push = Push("agent/links");
  EXPECT_NE(push.rc, 0) << push.out;
  EXPECT_NE(push.out.find("symlink-outside"), std::string::npos) << push.out;
  EXPECT_EQ(push.out.find("auto-approved"), std::string::npos) << push.out;
  ReplayAControlPush("agent/docs-ok");
  EXPECT_FALSE(UpstreamHas(tip));
}

// Row 2: a one-line commit on top does not drop the quorum of the change
// under it.
class QuorumGateTest : public GateTest {
 protected:
  LoopOptions Options() override {
    return {"version: 1\ndefault_outcome: hold\nreviewers: {users: [" + Me() +
            "]}\nprofiles:\n  - name: agents\n    refs: [\"refs/heads/agent/**\"]\n"
            "rules:\n  - id: protected-paths\n    kind: protected_paths\n"
            "    paths: [\".github/workflows/**\"]\n    outcome: hold\n"
            "    review: {users: [" + Me() + ", bob], quorum: 2}\n"};
  }
};

TEST_F(QuorumGateTest, OneLineCommitOnTopKeepsTheQuorum) {
  ASSERT_EQ(Work("checkout -q -b agent/ci").rc, 0);
  Put(".github/workflows/x.yml", "on: push\n");
  CommitAll("workflow");
  ASSERT_EQ(Push("agent/ci").rc, 0);
  json first = Request(1);
  EXPECT_EQ(first["quorum"], 2) << first.dump(2);
  Put("src/one.py", "x = 1\n");
  std::string tip = CommitAll("one line");
  CmdResult push = Push("agent/ci");
  ASSERT_EQ(push.rc, 0) << push.out;
  json second = Request(2);
  EXPECT_EQ(second["quorum"], 2) << second.dump(2);
  EXPECT_TRUE(Has(second["review_users"], "bob")) << second.dump(2);
  EXPECT_TRUE(Has(second["rules"], "protected-paths")) << second.dump(2);
  CmdResult approve = Agentgate("approve 2");
  ASSERT_EQ(approve.rc, 0) << approve.out;
  EXPECT_EQ(Request(2)["status"], "pending");  // one of two approvals
  EXPECT_FALSE(UpstreamHas(tip));
}

// Row 3: max_commits is counted over the range, not per push.
class MaxCommitsGateTest : public GateTest {
 protected:
  LoopOptions Options() override {
    return {"version: 1\ndefault_outcome: hold\nreviewers: {users: [" + Me() +
            "]}\nprofiles:\n  - name: agents\n    refs: [\"refs/heads/agent/**\"]\n"
            "rules:\n  - {id: max-commits, kind: max_commits, limit: 2, outcome: block}\n"};
  }
};

TEST_F(MaxCommitsGateTest, SplittingAPushDoesNotEvadeTheLimit) {
  ASSERT_EQ(Work("checkout -q -b agent/many").rc, 0);
  for (int i = 0; i < 2; ++i) {
    Put("f" + std::to_string(i), "x\n");
    CommitAll("c" + std::to_string(i));
  }
  CmdResult two = Push("agent/many");
  ASSERT_EQ(two.rc, 0) << two.out;
  Put("f2", "x\n");
  CommitAll("c2");
  CmdResult three = Push("agent/many");
  EXPECT_NE(three.rc, 0) << three.out;
  EXPECT_NE(three.out.find("BLOCKED by max-commits"), std::string::npos) << three.out;
}

// Row 7: a symlink whose target is a token: refused, and the target is
// stored and printed masked only.
class DefaultPolicyGateTest : public GateTest {
 protected:
  LoopOptions Options() override {
    std::string policy = ReadFileOrEmpty(std::string(AG_SOURCE_DIR) + "/policies/default.yaml");
    size_t at = policy.find("groups: [agentgate-reviewers]");
    if (at != std::string::npos) policy.replace(at, 29, "users: [" + Me() + "]");
    return {policy};
  }
};

TEST_F(DefaultPolicyGateTest, SymlinkToATokenIsRefusedAndNeverStoredInFull) {
  const std::string token = FakeGithubToken();
  ASSERT_EQ(Work("checkout -q -b agent/tok").rc, 0);
  Link("tok", "/" + token);
  CommitAll("link");
  CmdResult push = Push("agent/tok");
  EXPECT_NE(push.rc, 0) << push.out;
  EXPECT_EQ(push.out.find(token), std::string::npos) << push.out;
  CmdResult audit = Agentgate("audit export");
  daemon_.Stop();
  std::string everything = DaemonLog() + audit.out + ReadAll(dir_.path() + "/data/agentgate.db") +
                           ReadAll(dir_.path() + "/data/agentgate.db-wal");
  EXPECT_EQ(everything.find(token), std::string::npos);
  EXPECT_EQ(everything.find(token.substr(4, 20)), std::string::npos);
}

// Found by gate_model_test: a request approved before another request with
// the same commit is rejected must not replay that commit afterwards (here
// its replay waits in back-off while upstream is down).
TEST_F(DefaultPolicyGateTest, ARejectionRevokesAnEarlierApprovalOfTheSameCommits) {
  ASSERT_EQ(Work("checkout -q -b agent/a").rc, 0);
  Put("src/x.py", "x = 1\n");
  std::string x = CommitAll("x");
  ASSERT_EQ(Push("agent/a").rc, 0);  // request 1
  ASSERT_EQ(Push("agent/b").rc, 0);  // request 2: the same commit
  upstream_.StopBackend();           // replays fail and wait in back-off
  ASSERT_EQ(Agentgate("approve 2").rc, 0);
  ASSERT_TRUE(WaitFor([&] {
    json r = Request(2);
    return r["status"] == "approved" && r["status_reason"].get<std::string>().find("attempt") != std::string::npos;
  }, std::chrono::seconds(30))) << Request(2).dump(2);
  CmdResult reject = Agentgate("reject 1 --reason 'not this'");
  ASSERT_EQ(reject.rc, 0) << reject.out;
  EXPECT_NE(reject.out.find("request 2"), std::string::npos) << reject.out;
  json r2 = Request(2);
  EXPECT_EQ(r2["status"], "rejected") << r2.dump(2);
  ASSERT_TRUE(upstream_.Start());
  ASSERT_EQ(Agentgate("retry 2").rc != 0, true);  // rejected is final: nothing to retry
  // A later human approval that shows the commit is the only way up.
  ASSERT_EQ(Work("commit -q --allow-empty -m again").rc, 0);
  CmdResult again = Push("agent/a");
  ASSERT_EQ(again.rc, 0) << again.out;
  json r3 = Request(3);
  EXPECT_TRUE(Has(r3["rules"], "rejected-commits")) << r3.dump(2);
  EXPECT_FALSE(UpstreamHas(x));
}

}  // namespace
}  // namespace ag::testing
