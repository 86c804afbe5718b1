// Replay against a REAL upstream: nginx + fcgiwrap + git http-backend with a
// token (HTTP Basic). No mocks: every outcome is read back from the upstream
// repository on disk and from the store.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "e2e/upstream_fixture.h"
#include "git/git.h"
#include "replay/replay_env.h"
#include "replay/worker.h"
#include "store/audit.h"

namespace ag::replay {
namespace {

using ag::testing::HttpUpstream;
using ag::testing::ReplayEnv;
using store::RequestStatus;

class ReplayHttpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(up_.ok()) << up_.error_log();
    base_ = up_.seed_head();
    ASSERT_FALSE(base_.empty());
  }

  HttpUpstream up_;
  std::string base_;
};

TEST_F(ReplayHttpTest, ApprovedRequestReachesUpstream) {
  ReplayEnv env(up_.url(), up_.repo().path(), up_.token());
  std::string c = env.Commit("", "a.txt", "hello\n");
  int64_t id = env.Approve("refs/heads/main", base_, c);
  ReplayWorker w(env.config());
  auto stats = w.RunOnce();
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_EQ(stats->pushed, 1);
  EXPECT_EQ(up_.repo().Ref("refs/heads/main"), c);
  store::Request r = env.Get(id);
  EXPECT_EQ(r.status, RequestStatus::kReplayed) << r.status_reason;
  // The mirror's view of upstream and the agent-visible state follow.
  EXPECT_EQ(env.mirror_repo().Ref("refs/agentgate/upstream/heads/main"), c);
  EXPECT_EQ(env.mirror_repo().Ref("refs/agentgate/state/" + std::to_string(id) + "/replayed"), c);
  EXPECT_EQ(env.mirror_repo().Ref("refs/agentgate/state/" + std::to_string(id) + "/approved"), "");
  std::string audit = env.AuditOf(id);
  EXPECT_NE(audit.find("replay.start"), std::string::npos) << audit;
  EXPECT_NE(audit.find("replay.done"), std::string::npos) << audit;
  // Nothing left to do: a second pass is a no-op.
  auto again = w.RunOnce();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->handled(), 0);
}

// Found by gate_model_test: the worker can pick up a policy-approved request
// between post-receive landing it and pinning it. The pushed ref at the
// commit is the same proof: the worker pins it and replays. Without either,
// a request just landed waits; an old one fails.
TEST_F(ReplayHttpTest, RequestPickedUpBeforeItsPinIsPinnedByTheWorker) {
  ReplayEnv env(up_.url(), up_.repo().path(), up_.token());
  std::string c = env.Commit("", "a.txt", "early\n");
  int64_t id = env.Approve("refs/heads/agent/early", std::string(git::kZeroOid), c);
  const std::string pin = "refs/agentgate/requests/" + std::to_string(id);
  ag::testing::Cmd("git --git-dir=" + env.mirror() + " update-ref -d " + pin);
  ag::testing::Cmd("git --git-dir=" + env.mirror() + " update-ref refs/heads/agent/early " + c);
  ReplayWorker w(env.config());
  ASSERT_TRUE(w.RunOnce().ok());
  EXPECT_EQ(env.Get(id).status, RequestStatus::kReplayed) << env.Get(id).status_reason;
  EXPECT_EQ(up_.repo().Ref("refs/heads/agent/early"), c);
  EXPECT_EQ(env.mirror_repo().Ref(pin), c);

  std::string d = env.Commit("", "b.txt", "nothing holds it\n");
  int64_t id2 = env.Approve("refs/heads/agent/none", std::string(git::kZeroOid), d);
  ag::testing::Cmd("git --git-dir=" + env.mirror() + " update-ref -d refs/agentgate/requests/" + std::to_string(id2));
  ASSERT_TRUE(w.RunOnce().ok());
  EXPECT_EQ(env.Get(id2).status, RequestStatus::kApproved);  // waits: post-receive may still pin it
  EXPECT_EQ(up_.repo().Ref("refs/heads/agent/none"), "");
}

TEST_F(ReplayHttpTest, NewBranchWithZeroBaseIsCreated) {
  ReplayEnv env(up_.url(), up_.repo().path(), up_.token());
  std::string c = env.Commit("", "b.txt", "branch\n");
  int64_t id = env.Approve("refs/heads/agent/feature", std::string(git::kZeroOid), c);
  ReplayWorker w(env.config());
  ASSERT_TRUE(w.RunOnce().ok());
  EXPECT_EQ(env.Get(id).status, RequestStatus::kReplayed) << env.Get(id).status_reason;
  EXPECT_EQ(up_.repo().Ref("refs/heads/agent/feature"), c);
}

TEST_F(ReplayHttpTest, UpstreamMovedIsConflictAndUpstreamUntouched) {
  ReplayEnv env(up_.url(), up_.repo().path(), up_.token());
  std::string c = env.Commit("", "a.txt", "agent\n");
  int64_t id = env.Approve("refs/heads/main", base_, c);
  // Someone else pushes to upstream in between.
  std::string other = ag::testing::MakeUpstreamRepo(env.path("other.git"), env.path(""), 1);
  ag::testing::Cmd("git --git-dir=" + up_.repo().path() + " fetch -q " + env.path("other.git") +
                  " main:refs/heads/tmp && git --git-dir=" + up_.repo().path() +
                  " update-ref refs/heads/main refs/heads/tmp && git --git-dir=" +
                  up_.repo().path() + " update-ref -d refs/heads/tmp");
  std::string moved = up_.repo().Ref("refs/heads/main");
  ASSERT_EQ(moved, other);
  ReplayWorker w(env.config());
  auto stats = w.RunOnce();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->conflicts, 1);
  store::Request r = env.Get(id);
  EXPECT_EQ(r.status, RequestStatus::kConflict);
  EXPECT_NE(r.status_reason.find("upstream moved from " + base_.substr(0, 12) + " to " +
                                 moved.substr(0, 12)),
            std::string::npos)
      << r.status_reason;
  EXPECT_EQ(up_.repo().Ref("refs/heads/main"), moved);  // never forced
}

TEST_F(ReplayHttpTest, AlreadyUpstreamIsReplayedWithoutPush) {
  ReplayEnv env(up_.url(), up_.repo().path(), up_.token());
  std::string c = env.Commit("", "a.txt", "same\n");
  int64_t id = env.Approve("refs/heads/main", base_, c);
  // The same commit reached upstream by another way (e.g. a previous run).
  ag::testing::Cmd("git --git-dir=" + env.mirror() + " push -q " + up_.url_with_token() + " " + c +
                  ":refs/heads/main");
  ASSERT_EQ(up_.repo().Ref("refs/heads/main"), c);
  ReplayWorker w(env.config());
  auto stats = w.RunOnce();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->replayed, 1);
  EXPECT_EQ(stats->pushed, 0);
  EXPECT_EQ(env.Get(id).status, RequestStatus::kReplayed);
  EXPECT_EQ(env.Get(id).status_reason, "upstream already had it");
}

TEST_F(ReplayHttpTest, UpstreamDownRetriesThenFailsThenRetrySucceeds) {
  ReplayEnv env(up_.url(), up_.repo().path(), up_.token());
  std::string c = env.Commit("", "a.txt", "later\n");
  int64_t id = env.Approve("refs/heads/main", base_, c);
  up_.Stop();
  ReplayWorker w(env.config());
  // replay_max_attempts = 3, backoff 0: attempts 1 and 2 go back to approved,
  // the 3rd gives up.
  for (int i = 0; i < 2; ++i) {
    auto s = w.RunOnce();
    ASSERT_TRUE(s.ok());
    EXPECT_EQ(s->retried, 1);
    store::Request r = env.Get(id);
    EXPECT_EQ(r.status, RequestStatus::kApproved);
    EXPECT_EQ(r.replay_attempts, i + 1);
  }
  auto s = w.RunOnce();
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->failed, 1);
  store::Request r = env.Get(id);
  EXPECT_EQ(r.status, RequestStatus::kFailed);
  EXPECT_NE(r.status_reason.find("gave up after 3 attempts"), std::string::npos) << r.status_reason;
  std::string audit = env.AuditOf(id);
  size_t attempts = 0;
  for (size_t p = 0; (p = audit.find("replay.attempt", p)) != std::string::npos; ++p) ++attempts;
  EXPECT_EQ(attempts, 2u) << audit;
  EXPECT_EQ(up_.repo().Ref("refs/heads/main"), base_);

  // `agentgate retry ID` once the upstream is back.
  ASSERT_TRUE(up_.Start());
  ASSERT_TRUE(RetryRequest(env.db(), id, "reviewer").ok());
  EXPECT_EQ(env.Get(id).status, RequestStatus::kApproved);
  ASSERT_TRUE(w.RunOnce().ok());
  EXPECT_EQ(env.Get(id).status, RequestStatus::kReplayed) << env.Get(id).status_reason;
  EXPECT_EQ(up_.repo().Ref("refs/heads/main"), c);
}

TEST_F(ReplayHttpTest, Http5xxIsRetried) {
  ReplayEnv env(up_.url(), up_.repo().path(), up_.token());
  std::string c = env.Commit("", "a.txt", "x\n");
  int64_t id = env.Approve("refs/heads/main", base_, c);
  up_.StopBackend();  // nginx answers 502
  ReplayWorker w(env.config());
  auto s = w.RunOnce();
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->retried, 1);
  store::Request r = env.Get(id);
  EXPECT_EQ(r.status, RequestStatus::kApproved);
  EXPECT_EQ(r.replay_attempts, 1);
  EXPECT_NE(env.AuditOf(id).find("502"), std::string::npos) << env.AuditOf(id);
  ASSERT_TRUE(up_.Start());
  ASSERT_TRUE(w.RunOnce().ok());
  EXPECT_EQ(env.Get(id).status, RequestStatus::kReplayed);
  EXPECT_EQ(up_.repo().Ref("refs/heads/main"), c);
}

TEST_F(ReplayHttpTest, BackoffDelaysTheNextAttempt) {
  ReplayEnv env(up_.url(), up_.repo().path(), up_.token());
  auto cfg = env.config();
  cfg->replay_backoff_max = std::chrono::seconds(600);
  std::string c = env.Commit("", "a.txt", "x\n");
  int64_t id = env.Approve("refs/heads/main", base_, c);
  up_.Stop();
  WorkerOptions o;
  o.base_backoff = std::chrono::seconds(100);
  ReplayWorker w(cfg, o);
  ASSERT_TRUE(w.RunOnce().ok());
  store::Request r = env.Get(id);
  EXPECT_EQ(r.status, RequestStatus::kApproved);
  EXPECT_GE(r.next_attempt_at, store::NowSeconds() + 40);  // jitter in [50, 100]
  auto s = w.RunOnce();  // not due yet
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->handled(), 0);
}

TEST_F(ReplayHttpTest, WrongTokenFailsClearlyAndTheTokenIsNowhere) {
  std::string wrong = ag::testing::RandomToken("ghs_WRONG");
  ReplayEnv env(up_.url(), up_.repo().path(), wrong);
  std::string c = env.Commit("", "a.txt", "x\n");
  int64_t id = env.Approve("refs/heads/main", base_, c);
  ::testing::internal::CaptureStderr();
  ReplayWorker w(env.config());
  auto s = w.RunOnce();
  std::string logs = ::testing::internal::GetCapturedStderr();
  ASSERT_TRUE(s.ok());
  store::Request r = env.Get(id);
  EXPECT_EQ(r.status, RequestStatus::kFailed);
  EXPECT_NE(r.status_reason.find("upstream refused the credential"), std::string::npos)
      << r.status_reason;
  EXPECT_EQ(up_.repo().Ref("refs/heads/main"), base_);
  // The token is in no output, log, error or database byte.
  EXPECT_EQ(logs.find(wrong), std::string::npos);
  EXPECT_EQ(r.status_reason.find(wrong), std::string::npos);
  EXPECT_EQ(env.AuditOf(id).find(wrong), std::string::npos);
  env.db().Exec("PRAGMA wal_checkpoint(TRUNCATE)").ok();
  for (const char* f : {"agentgate.db", "agentgate.db-wal", "agentgate.db-shm"}) {
    std::string bytes = ag::testing::ReadAll(env.path(f));
    EXPECT_EQ(bytes.find(wrong), std::string::npos) << f;
  }
  // Nor the right one, of course.
  EXPECT_EQ(logs.find(up_.token()), std::string::npos);
}

TEST_F(ReplayHttpTest, UpstreamHookDeclinesIsFailedWithItsMessage) {
  ReplayEnv env(up_.url(), up_.repo().path(), up_.token());
  std::string c = env.Commit("", "a.txt", "x\n");
  int64_t id = env.Approve("refs/heads/main", base_, c);
  up_.repo().DeclinePushes("protected branch: main needs a review");
  ReplayWorker w(env.config());
  auto s = w.RunOnce();
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->failed, 1);
  store::Request r = env.Get(id);
  EXPECT_EQ(r.status, RequestStatus::kFailed);
  EXPECT_NE(r.status_reason.find("upstream declined refs/heads/main"), std::string::npos)
      << r.status_reason;
  EXPECT_NE(r.status_reason.find("hook declined"), std::string::npos) << r.status_reason;
  EXPECT_NE(r.status_reason.find("protected branch: main needs a review"), std::string::npos)
      << r.status_reason;
  EXPECT_EQ(r.replay_attempts, 0);  // not retried blindly
  EXPECT_EQ(up_.repo().Ref("refs/heads/main"), base_);
  auto again = w.RunOnce();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->handled(), 0);
}

TEST_F(ReplayHttpTest, ChainOnOneRefGoesInOrder) {
  ReplayEnv env(up_.url(), up_.repo().path(), up_.token());
  std::string c1 = env.Commit("", "a.txt", "1\n");
  std::string c2 = env.Commit(c1, "a.txt", "2\n");
  std::string c3 = env.Commit(c2, "a.txt", "3\n");
  int64_t id1 = env.Approve("refs/heads/main", base_, c1);
  int64_t id2 = env.Approve("refs/heads/main", c1, c2);
  int64_t id3 = env.Approve("refs/heads/main", c2, c3);
  ReplayWorker w(env.config());
  auto s = w.RunOnce();
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->pushed, 3);
  for (int64_t id : {id1, id2, id3}) EXPECT_EQ(env.Get(id).status, RequestStatus::kReplayed);
  EXPECT_EQ(up_.repo().Ref("refs/heads/main"), c3);
  EXPECT_EQ(up_.repo().Git("rev-list --count " + base_ + "..main"), "3");
}

TEST_F(ReplayHttpTest, LaterRequestWaitsForAnEarlierOneInBackoff) {
  ReplayEnv env(up_.url(), up_.repo().path(), up_.token());
  auto cfg = env.config();
  cfg->replay_backoff_max = std::chrono::seconds(600);
  std::string c1 = env.Commit("", "a.txt", "1\n");
  std::string c2 = env.Commit(c1, "a.txt", "2\n");
  int64_t id1 = env.Approve("refs/heads/main", base_, c1);
  int64_t id2 = env.Approve("refs/heads/main", c1, c2);
  up_.Stop();
  WorkerOptions o;
  o.base_backoff = std::chrono::seconds(100);
  ReplayWorker w(cfg, o);
  ASSERT_TRUE(w.RunOnce().ok());
  ASSERT_TRUE(up_.Start());
  auto s = w.RunOnce();
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->handled(), 0);  // id2 does not overtake id1
  EXPECT_EQ(env.Get(id1).status, RequestStatus::kApproved);
  EXPECT_EQ(env.Get(id2).status, RequestStatus::kApproved);
  EXPECT_EQ(env.Get(id2).replay_attempts, 0);
}

TEST_F(ReplayHttpTest, ResumesARequestLeftInReplaying) {
  ReplayEnv env(up_.url(), up_.repo().path(), up_.token());
  std::string c = env.Commit("", "a.txt", "x\n");
  int64_t id = env.Approve("refs/heads/main", base_, c);
  // A crash right after the durable transition, before the push.
  {
    store::Transaction tx(env.db());
    ASSERT_TRUE(store::TransitionRequest(env.db(), id, RequestStatus::kApproved,
                                         RequestStatus::kReplaying, "agentgate", "", "replay.start")
                    .ok());
    ASSERT_TRUE(tx.Commit().ok());
  }
  ReplayWorker w(env.config());
  ASSERT_TRUE(w.RunOnce().ok());
  EXPECT_EQ(env.Get(id).status, RequestStatus::kReplayed);
  EXPECT_EQ(up_.repo().Ref("refs/heads/main"), c);
}

TEST_F(ReplayHttpTest, StartStopThreadReplays) {
  ReplayEnv env(up_.url(), up_.repo().path(), up_.token());
  std::string c = env.Commit("", "a.txt", "thread\n");
  int64_t id = env.Approve("refs/heads/main", base_, c);
  WorkerOptions o;
  o.poll_interval = std::chrono::milliseconds(50);
  ReplayWorker w(env.config(), o);
  ASSERT_TRUE(w.Start().ok());
  EXPECT_TRUE(ag::testing::WaitFor([&] { return up_.repo().Ref("refs/heads/main") == c; },
                                   std::chrono::seconds(30)));
  w.Stop();
  EXPECT_EQ(env.Get(id).status, RequestStatus::kReplayed);
}

}  // namespace
}  // namespace ag::replay

namespace ag::replay {
namespace {

// Issue 19 row 1: while the upstream push runs (a pre-receive that sleeps,
// then declines), another writer commits to the store. The worker must not
// hold a statement open across the network call: its next transaction then
// fails with "database is locked", the request stays `replaying` and is
// pushed upstream again on the next pass, unrecorded.
TEST(ReplayStoreTest, AWriteDuringTheUpstreamPushDoesNotRepeatIt) {
  ag::testing::HttpUpstream up;
  ASSERT_TRUE(up.ok()) << up.error_log();
  const std::string count = up.repo().path() + "/hook-runs";
  ag::testing::WriteFile(up.repo().path() + "/hooks/pre-receive",
                         "#!/bin/sh\necho run >> " + count + "\nsleep 1\necho 'no thanks' >&2\nexit 1\n", 0755);
  ReplayEnv env(up.url(), up.repo().path(), up.token());
  std::string c = env.Commit("", "a.txt", "hello\n");
  int64_t id = env.Approve("refs/heads/main", up.seed_head(), c);
  std::atomic<bool> done{false};
  std::thread writer([&] {
    // Another process's writes (a push, a review) while the replay waits.
    auto db = store::Db::Open(env.config()->db_path());
    ASSERT_TRUE(db.ok());
    for (int i = 0; i < 100 && !done; ++i) {
      store::AuditEvent e;
      e.kind = "test.write";
      e.actor = "test";
      EXPECT_TRUE(store::AppendAudit(**db, e).ok());
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  ReplayWorker w(env.config());
  for (int pass = 0; pass < 3; ++pass) {
    auto stats = w.RunOnce();
    EXPECT_TRUE(stats.ok()) << stats.status().ToString();
  }
  done = true;
  writer.join();
  store::Request r = env.Get(id);
  EXPECT_EQ(r.status, RequestStatus::kFailed) << r.status_reason;
  // Upstream saw exactly the attempts the audit records.
  EXPECT_EQ(ag::testing::ReadAll(count), "run\n");
  std::string audit = env.AuditOf(id);
  auto occurrences = [&](const std::string& kind) {
    size_t n = 0;
    for (size_t p = audit.find(kind); p != std::string::npos; p = audit.find(kind, p + 1)) ++n;
    return n;
  };
  EXPECT_EQ(occurrences("replay.start"), 1u) << audit;
  EXPECT_EQ(occurrences("replay.failed"), 1u) << audit;
}

}  // namespace
}  // namespace ag::replay
