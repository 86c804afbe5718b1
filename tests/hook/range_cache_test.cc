// Judged ranges (check::RangeResult): a push on top of a tip judged before
// walks and diffs only its new commits and takes the rest of its range from
// the check server's memory. Each test is what an agent would try to make a
// reused range say less than the range the replay would forward: commits
// upstream no longer has, two pending branches merged, a branch made from a
// pending tip without a new commit. The recorded range (commits_json, what
// rejections and the reviewer see) must be exact, and the rules of every
// commit in it must apply.
#include <nlohmann/json.hpp>

#include "hook/check_server.h"
#include "hook/hook_fixture.h"
#include "store/requests.h"

namespace ag::testing {
namespace {

using nlohmann::json;

class RangeCacheTest : public HookFixture {
 protected:
  void SetUp() override {
    HookFixture::SetUp();
    hook::CheckServerOptions o;
    o.config_path = config_;
    o.socket_path = hook::HookSocketPath(root_ + "/data");
    auto s = hook::CheckServer::Start(o);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(s).value();
  }
  void TearDown() override {
    if (server_) server_->Stop();
  }

  void Branch(const std::string& name, const std::string& from = "") {
    ASSERT_EQ(Git(work_, "checkout -q -b " + name + (from.empty() ? "" : " " + from)).exit_code, 0);
  }
  // Pushes `args`, expects it accepted, returns the newest request's range
  // and whether protected-paths fired on it.
  struct Judged {
    json commits;
    bool protected_paths = false;
  };
  Judged PushHeld(const std::string& args) {
    RunResult r = Push(args);
    EXPECT_EQ(r.exit_code, 0) << r.output;
    auto reqs = Requests();  // newest first
    if (reqs.empty()) {
      ADD_FAILURE() << "no request for " << args;
      return {};
    }
    return {json::parse(reqs[0].commits_json),
            reqs[0].rules_json.find("protected-paths") != std::string::npos};
  }
  // The commits of `rev` that `upstream` lacks, oldest first (git's own answer).
  json Expected(const std::string& rev, const std::string& upstream) {
    std::string out = Git(work_, "rev-list --topo-order --reverse " + rev + " ^" + upstream).output;
    json list = json::array();
    std::istringstream in(out);
    for (std::string line; std::getline(in, line);) {
      if (!line.empty()) list.push_back(line);
    }
    return list;
  }
  static std::set<std::string> AsSet(const json& list) {
    std::set<std::string> s;
    for (const auto& c : list) s.insert(c.get<std::string>());
    return s;
  }

  std::unique_ptr<hook::CheckServer> server_;
};

// The pending-branch case of bench/hook: each push on top reuses the range
// judged before, and still carries the rules of the commits under it.
TEST_F(RangeCacheTest, PushesOnAPendingBranchReuseItsRangeAndKeepItsRules) {
  Branch("agent/one");
  Write(".github/workflows/ci.yml", "on: push\n");
  Commit("ci");
  Judged first = PushHeld("agent/one");
  EXPECT_TRUE(first.protected_paths);
  EXPECT_EQ(server_->range_hits(), 0u);
  for (int i = 0; i < 3; ++i) {
    Write("docs/note" + std::to_string(i) + ".md", "note\n");
    Commit("note " + std::to_string(i));
    Judged next = PushHeld("agent/one");
    EXPECT_TRUE(next.protected_paths) << "push " << i;
    EXPECT_EQ(next.commits, Expected("HEAD", base_)) << "push " << i;
    EXPECT_EQ(server_->range_hits(), static_cast<size_t>(i + 1));
  }
}

// Upstream takes the pending commit (sync moves refs/agentgate/upstream/*):
// the range judged before no longer applies, and the next push is judged on
// what upstream still lacks.
TEST_F(RangeCacheTest, UpstreamTakingTheCommitsShrinksTheRange) {
  Branch("agent/one");
  Write(".github/workflows/ci.yml", "on: push\n");
  Commit("ci");
  ASSERT_TRUE(PushHeld("agent/one").protected_paths);
  ASSERT_EQ(Git(bare_, "update-ref refs/agentgate/upstream/heads/main " + Head()).exit_code, 0);
  Write("src/app.py", "print('two')\n");
  Commit("two");
  Judged next = PushHeld("agent/one");
  EXPECT_FALSE(next.protected_paths);
  EXPECT_EQ(next.commits, json::array({Head()}));
}

// Upstream force-pushed back (or sync fetched a rewound branch): a commit the
// earlier range left out because upstream had it is upstream's no more, and
// the next push must be judged with it.
TEST_F(RangeCacheTest, UpstreamRewoundGrowsTheRangeAgain) {
  Branch("agent/one");
  Write(".github/workflows/ci.yml", "on: push\n");
  Commit("ci (upstream has it, for now)");
  std::string ci = Head();
  // The mirror holds the commit as upstream's tip, as a sync would leave it.
  ASSERT_EQ(Git(bare_, "fetch -q " + Quote(work_) + " agent/one:refs/agentgate/upstream/heads/main").exit_code, 0);
  Write("src/app.py", "print('b')\n");
  Commit("b");
  Judged b = PushHeld("agent/one");
  EXPECT_FALSE(b.protected_paths);
  EXPECT_EQ(b.commits, json::array({Head()}));
  // Upstream rewinds to the base: "ci" is no longer upstream's.
  ASSERT_EQ(Git(bare_, "update-ref refs/agentgate/upstream/heads/main " + base_).exit_code, 0);
  Write("src/app.py", "print('c')\n");
  Commit("c");
  Judged c = PushHeld("agent/one");
  EXPECT_TRUE(c.protected_paths) << c.commits.dump();
  EXPECT_EQ(c.commits, Expected("HEAD", base_));
  EXPECT_EQ(c.commits.front(), ci);
}

// A merge of two pending branches reaches two judged ranges: every commit of
// both is in the merge's range once, and the rules of each side apply.
TEST_F(RangeCacheTest, MergeOfTwoPendingBranchesCountsEachCommitOnce) {
  Branch("agent/a");
  Write(".github/workflows/ci.yml", "on: push\n");
  Commit("a1 (protected)");
  ASSERT_TRUE(PushHeld("agent/a").protected_paths);
  Branch("agent/b", "main");
  Write("src/b.py", "b = 1\n");
  Commit("b1");
  ASSERT_FALSE(PushHeld("agent/b").protected_paths);
  // agent/a2 builds on agent/a: its range holds agent/a's.
  Branch("agent/a2", "agent/a");
  Write("src/a2.py", "a2 = 1\n");
  Commit("a2");
  ASSERT_TRUE(PushHeld("agent/a2").protected_paths);

  // Two disjoint judged ranges (agent/a2, agent/b) and one inside another
  // (agent/a inside agent/a2), all reached by one merge.
  Branch("agent/merge", "agent/b");
  ASSERT_EQ(Git(work_, "merge -q --no-edit agent/a2 agent/a").exit_code, 0);
  Judged m = PushHeld("agent/merge");
  EXPECT_TRUE(m.protected_paths);
  EXPECT_EQ(m.commits.size(), AsSet(m.commits).size()) << m.commits.dump();
  EXPECT_EQ(AsSet(m.commits), AsSet(Expected("HEAD", base_)));

  // A commit on top of the merge: one judged range (the merge's), exact.
  Write("docs/after.md", "after\n");
  Commit("after");
  size_t hits = server_->range_hits();
  Judged after = PushHeld("agent/merge");
  EXPECT_TRUE(after.protected_paths);
  EXPECT_EQ(AsSet(after.commits), AsSet(Expected("HEAD", base_)));
  EXPECT_EQ(after.commits.size(), AsSet(after.commits).size());
  EXPECT_GT(server_->range_hits(), hits);
}

// A new branch at a pending tip, no new commit: nothing in the quarantine,
// the whole range comes from the judged tip.
TEST_F(RangeCacheTest, NewBranchAtAPendingTipCarriesItsRange) {
  Branch("agent/a");
  Write(".github/workflows/ci.yml", "on: push\n");
  Commit("a1 (protected)");
  Write("src/a.py", "a = 1\n");
  Commit("a2");
  ASSERT_TRUE(PushHeld("agent/a").protected_paths);
  size_t hits = server_->range_hits();
  Judged copy = PushHeld("agent/a:refs/heads/agent/copy");
  EXPECT_TRUE(copy.protected_paths);
  EXPECT_EQ(copy.commits, Expected("agent/a", base_));
  EXPECT_GT(server_->range_hits(), hits);
}

// Each push on a pending branch stores its own commits on top of the request
// before it, a chain at most store::kMaxRangeChain deep; every range reads
// back whole.
TEST_F(RangeCacheTest, PendingBranchRequestsStoreTheirOwnCommitsAndReadBackWhole) {
  Branch("agent/one");
  Write(".github/workflows/ci.yml", "on: push\n");
  Commit("ci");
  ASSERT_TRUE(PushHeld("agent/one").protected_paths);
  const int pushes = store::kMaxRangeChain + 3;
  for (int i = 0; i < pushes; ++i) {
    Write("docs/n.md", "note " + std::to_string(i) + "\n");
    Commit("note " + std::to_string(i));
    Judged next = PushHeld("agent/one");
    ASSERT_EQ(next.commits, Expected("HEAD", base_)) << "push " << i;
  }
  auto db = OpenDb();
  ASSERT_TRUE(db);
  auto st = db->Prepare("SELECT count(*), sum(base_request IS NULL), max(depth) FROM request_commits");
  ASSERT_TRUE(st.ok());
  ASSERT_TRUE(*st->Step());
  EXPECT_EQ(st->Int(0), pushes + 1);
  EXPECT_EQ(st->Int(1), 2);  // the first push, and the one past the deepest chain
  EXPECT_EQ(st->Int(2), store::kMaxRangeChain);
}

// A rejected request whose range is stored on top of another's: its commits
// below (the base's) stick too.
TEST_F(RangeCacheTest, RejectingAChainedRequestRejectsTheCommitsBelowIt) {
  Branch("agent/one");
  Write("src/a.py", "a = 1\n");
  Commit("a");
  std::string a = Head();
  PushHeld("agent/one");
  Write("src/b.py", "b = 1\n");
  Commit("b");
  PushHeld("agent/one");
  auto reqs = Requests();
  ASSERT_EQ(reqs.size(), 2u);
  {
    auto db = OpenDb();
    ASSERT_TRUE(db);
    ASSERT_TRUE(store::TransitionRequest(*db, reqs[0].id, store::RequestStatus::kPending,
                                         store::RequestStatus::kRejected, "reviewer", "no", "request.rejected")
                    .ok());
  }
  // Only "a" again, on a new branch: held as a commit of the rejected request.
  RunResult r = Push(a + ":refs/heads/agent/again");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(Requests()[0].rules_json.find("rejected-commits"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("rejected request " + std::to_string(reqs[0].id)), std::string::npos) << r.output;
}

// A policy edit starts every judged range again (they are kept per check
// version): the commits under the tip are judged under the new rules.
TEST_F(RangeCacheTest, PolicyEditDropsTheJudgedRanges) {
  Branch("agent/one");
  Write("docs/guide.md", "guide v2\n");
  Commit("docs");
  ASSERT_FALSE(PushHeld("agent/one").protected_paths);
  std::string policy = ReadFileOrEmpty(policy_);
  size_t at = policy.find(".github/workflows/**");
  ASSERT_NE(at, std::string::npos) << policy;
  policy.insert(at, "docs/**\", \"");
  UsePolicy(policy);
  Write("src/app.py", "print('x')\n");
  Commit("code");
  size_t hits = server_->range_hits();
  Judged next = PushHeld("agent/one");
  EXPECT_TRUE(next.protected_paths) << policy;
  EXPECT_EQ(next.commits, Expected("HEAD", base_));
  EXPECT_EQ(server_->range_hits(), hits);
}

}  // namespace
}  // namespace ag::testing
