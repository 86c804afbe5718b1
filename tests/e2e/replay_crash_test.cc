// kill -9 of the replay worker at random moments during 50 replays: after a
// restart every approved request is replayed exactly once in effect, the
// upstream history has no duplicate or lost commit, nothing stays replaying.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>

#include "e2e/upstream_fixture.h"
#include "git/git.h"
#include "replay/replay_env.h"
#include "store/requests.h"

namespace ag::replay {
namespace {

using ag::testing::Child;
using ag::testing::HttpUpstream;
using ag::testing::ReplayEnv;
using ag::testing::Cmd;
using store::RequestStatus;

constexpr int kChain = 30;     // requests chained on refs/heads/main
constexpr int kBranches = 20;  // requests each on their own new branch
constexpr int kKills = 8;      // kill -9 rounds before the final run

TEST(ReplayCrash, KillNineAtRandomMomentsReplaysEachRequestExactlyOnce) {
  HttpUpstream up;
  ASSERT_TRUE(up.ok()) << up.error_log();
  // Record every update of the upstream's refs, to prove nothing is applied twice.
  up.repo().Git("config core.logAllRefUpdates always");
  const std::string base = up.seed_head();
  ReplayEnv env(up.url(), up.repo().path(), up.token());

  std::vector<int64_t> ids;
  std::vector<std::string> chain;
  std::string parent;
  for (int i = 0; i < kChain; ++i) {
    std::string c = env.Commit(parent, "chain.txt", "step " + std::to_string(i) + "\n");
    ids.push_back(env.Approve("refs/heads/main", parent.empty() ? base : parent, c));
    chain.push_back(c);
    parent = c;
  }
  std::map<std::string, std::string> branches;
  for (int i = 0; i < kBranches; ++i) {
    std::string ref = "refs/heads/agent/b" + std::to_string(i);
    std::string c = env.Commit("", "b" + std::to_string(i) + ".txt", "branch\n");
    ids.push_back(env.Approve(ref, std::string(git::kZeroOid), c));
    branches[ref] = c;
  }
  ASSERT_EQ(ids.size(), static_cast<size_t>(kChain + kBranches));

  const std::string helper = std::string(AG_BIN_DIR) + "/replay_helper";
  const std::string log = env.path("helper.log");
  std::vector<std::string> argv = {helper, env.config()->data_dir, env.mirror(), up.url(),
                                   env.config()->repos[0].credential};
  std::mt19937 rng(std::random_device{}());
  std::uniform_int_distribution<int> delay_ms(30, 400);
  int killed_mid_run = 0;
  for (int round = 0; round < kKills; ++round) {
    Child c(argv, log);
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms(rng)));
    if (c.running()) ++killed_mid_run;
    c.Kill9();
  }
  // Final run to completion (bounded by the child's own pass limit).
  {
    Child c(argv, log);
    int st = c.Wait(std::chrono::seconds(120));
    ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << st << "\n" << ag::testing::ReadAll(log);
  }
  RecordProperty("killed_mid_run", killed_mid_run);

  for (int64_t id : ids) {
    store::Request r = env.Get(id);
    EXPECT_EQ(r.status, RequestStatus::kReplayed) << id << " " << r.status_reason;
    std::string audit = env.AuditOf(id);
    size_t done = 0;
    for (size_t p = 0; (p = audit.find("replay.done", p)) != std::string::npos; ++p) ++done;
    EXPECT_EQ(done, 1u) << id << "\n" << audit;
  }
  auto replaying = store::ListRequests(env.db(), {.status = RequestStatus::kReplaying});
  ASSERT_TRUE(replaying.ok());
  EXPECT_TRUE(replaying->empty());

  // Upstream history: exactly the chain, in order, nothing lost, nothing twice.
  EXPECT_EQ(up.repo().Ref("refs/heads/main"), chain.back());
  std::string revs = up.repo().Git("rev-list --reverse " + base + "..main");
  std::string expected;
  for (const auto& c : chain) expected += (expected.empty() ? "" : "\n") + c;
  EXPECT_EQ(revs, expected);
  // The reflog holds one update per chained request: each applied exactly once.
  std::string reflog = up.repo().Git("reflog show --format=%H refs/heads/main");
  std::map<std::string, int> seen;
  std::istringstream in(reflog);
  for (std::string line; std::getline(in, line);) ++seen[line];
  for (const auto& c : chain) EXPECT_EQ(seen[c], 1) << c;
  for (const auto& [ref, c] : branches) EXPECT_EQ(up.repo().Ref(ref), c) << ref;
  // The token never reached the helper's output.
  EXPECT_EQ(ag::testing::ReadAll(log).find(up.token()), std::string::npos);
}

}  // namespace
}  // namespace ag::replay
