// Sync and mirror creation against REAL upstreams (nginx + git http-backend
// with a token; sshd; local paths).
#include "sync/sync.h"

#include <gtest/gtest.h>

#include "e2e/upstream_fixture.h"
#include "git/git.h"
#include "store/requests.h"

namespace ag::sync {
namespace {

using ag::testing::BareRepo;
using ag::testing::HttpUpstream;
using ag::testing::Cmd;
using ag::testing::ShellQuote;
using ag::testing::ShOut;
using ag::testing::TempDir;

// Pushes one new commit on top of upstream's `branch`; returns it.
std::string AdvanceUpstream(const BareRepo& up, const std::string& scratch,
                            const std::string& branch = "main") {
  std::string w = scratch + "/adv";
  Cmd("rm -rf " + ShellQuote(w) + " && git clone -q " + ShellQuote(up.path()) + " " + ShellQuote(w));
  Cmd("cd " + ShellQuote(w) + " && git checkout -q " + branch + " 2>/dev/null || git -C " +
     ShellQuote(w) + " checkout -q -b " + branch);
  ag::testing::WriteFile(w + "/up.txt", "moved " + ag::testing::RandomToken() + "\n");
  Cmd("cd " + ShellQuote(w) + " && git add -A && git -c user.name=u -c user.email=u@x commit -q -m up"
     " && git push -q origin HEAD:refs/heads/" + branch);
  return ShOut("git -C " + ShellQuote(w) + " rev-parse HEAD");
}

class SyncTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(up_.ok()) << up_.error_log();
    ag::testing::WriteFile(dir_ / "token", up_.token() + "\n", 0600);
    config_.data_dir = dir_.path();
    repo_.name = "demo";
    repo_.upstream = up_.url();
    repo_.credential = dir_ / "token";
    CreateOptions o;
    o.config_path = dir_ / "agentgate.yaml";
    o.bindir = "/opt/agentgate/bin";
    Status st = CreateMirror(config_, repo_, o);
    ASSERT_TRUE(st.ok()) << st.ToString();
    auto db = store::Db::Open(config_.db_path());
    ASSERT_TRUE(db.ok());
    db_ = std::move(db).value();
  }
  BareRepo mirror() const { return BareRepo(MirrorPath(config_, repo_)); }

  HttpUpstream up_;
  TempDir dir_{"ag-sync"};
  config::Config config_;
  config::RepoConfig repo_;
  std::unique_ptr<store::Db> db_;
};

TEST_F(SyncTest, CreateMirrorLooksLikeUpstream) {
  BareRepo m = mirror();
  EXPECT_EQ(m.Ref("refs/heads/main"), up_.seed_head());
  EXPECT_EQ(m.Ref("refs/agentgate/upstream/heads/main"), up_.seed_head());
  EXPECT_EQ(m.Git("symbolic-ref HEAD"), "refs/heads/main");
  EXPECT_EQ(m.Git("config receive.advertisePushOptions"), "true");
  EXPECT_EQ(m.Git("config core.logAllRefUpdates"), "true");
  std::string hook = ag::testing::ReadAll(m.path() + "/hooks/pre-receive");
  // git starts the hook program itself (#!), which reads the flags below it.
  EXPECT_EQ(hook, "#!/opt/agentgate/bin/agentgate-pre-receive\n"
                  "# Installed by `agentgate repo add`: git runs the program above, which reads these flags.\n"
                  "--config=" + (dir_ / "agentgate.yaml") + "\n--repo=demo\n--socket=" +
                  config_.data_dir + "/hook.sock\n");
  EXPECT_TRUE(std::filesystem::exists(m.path() + "/hooks/post-receive"));
  // An existing path is refused.
  CreateOptions o{dir_ / "agentgate.yaml", "/x"};
  EXPECT_EQ(CreateMirror(config_, repo_, o).code(), Code::kAlreadyExists);
}

TEST_F(SyncTest, ClientRefFollowsUpstream) {
  std::string next = AdvanceUpstream(up_.repo(), dir_.path());
  auto r = SyncRepo(config_, repo_, db_.get());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(mirror().Ref("refs/agentgate/upstream/heads/main"), next);
  EXPECT_EQ(mirror().Ref("refs/heads/main"), next);
  EXPECT_EQ(r->client_updated, 1);
  // New upstream branches and tags appear; nothing changes on a second sync.
  up_.repo().Git("tag v1 " + next);
  up_.repo().Git("branch release " + next);
  ASSERT_TRUE(SyncRepo(config_, repo_, db_.get()).ok());
  EXPECT_EQ(mirror().Ref("refs/heads/release"), next);
  EXPECT_EQ(mirror().Ref("refs/tags/v1"), next);
  auto again = SyncRepo(config_, repo_, db_.get());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->client_updated + again->tracking_updated, 0);
}

TEST_F(SyncTest, PendingRequestKeepsItsRefAndIsFlaggedWhenBaseMoves) {
  // An agent's push is pending on main (based on the seed head). The mirror's
  // hooks are not built here: bypass them for this direct push.
  mirror().Git("config core.hooksPath /dev/null");
  std::string agent = AdvanceUpstream(BareRepo(mirror()), dir_.path());  // lands in the mirror
  store::Request req;
  req.repo = "demo";
  req.ref = "refs/heads/main";
  req.old_oid = up_.seed_head();
  req.new_oid = agent;
  req.identity = "agent:test";
  req.upstream_base = up_.seed_head();
  auto id = store::InsertRequest(*db_, req, 3600);
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(store::LandRequest(*db_, "demo", req.ref, req.old_oid, req.new_oid).ok());
  ASSERT_EQ(store::GetRequest(*db_, *id)->status, store::RequestStatus::kPending);
  ASSERT_EQ(mirror().Ref("refs/heads/main"), agent);
  // Sync with upstream unchanged: nothing flagged.
  auto r0 = SyncRepo(config_, repo_, db_.get());
  ASSERT_TRUE(r0.ok());
  EXPECT_EQ(r0->flagged, 0);
  // Upstream moves: the request is flagged, the client ref stays the agent's.
  std::string moved = AdvanceUpstream(up_.repo(), dir_.path());
  auto r = SyncRepo(config_, repo_, db_.get());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->flagged, 1);
  EXPECT_TRUE(store::GetRequest(*db_, *id)->upstream_moved);
  EXPECT_EQ(mirror().Ref("refs/heads/main"), agent);
  EXPECT_EQ(mirror().Ref("refs/agentgate/upstream/heads/main"), moved);
  auto q = db_->Prepare("SELECT count(*) FROM audit WHERE kind='request.upstream_moved' AND request_id=?");
  ASSERT_TRUE(q.ok());
  q->Bind(1, *id);
  ASSERT_TRUE(*q->Step());
  EXPECT_EQ(q->Int(0), 1);
  // Flagged once only.
  auto r2 = SyncRepo(config_, repo_, db_.get());
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(r2->flagged, 0);
}

TEST_F(SyncTest, AgentBranchesAreNeverTouchedAndDeletedBranchesArePruned) {
  std::string head = up_.seed_head();
  BareRepo m = mirror();
  m.Git("update-ref refs/heads/agent/work " + head);
  up_.repo().Git("branch gone " + head);
  ASSERT_TRUE(SyncRepo(config_, repo_, db_.get()).ok());
  ASSERT_EQ(m.Ref("refs/heads/gone"), head);
  up_.repo().Git("branch -D gone");
  ASSERT_TRUE(SyncRepo(config_, repo_, db_.get()).ok());
  EXPECT_EQ(m.Ref("refs/agentgate/upstream/heads/gone"), "");
  EXPECT_EQ(m.Ref("refs/heads/gone"), "");
  EXPECT_EQ(m.Ref("refs/heads/agent/work"), head);
}

TEST_F(SyncTest, DeadUpstreamIsAWarningNotAnError) {
  up_.Stop();
  auto r = SyncRepo(config_, repo_, db_.get());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  auto cfg = std::make_shared<config::Config>(config_);
  cfg->repos.push_back(repo_);
  SyncWorker w(cfg);
  EXPECT_TRUE(w.RunOnce().ok());
  EXPECT_EQ(mirror().Ref("refs/heads/main"), up_.seed_head());
  // Back up: the next sync catches up.
  ASSERT_TRUE(up_.Start());
  std::string next = AdvanceUpstream(up_.repo(), dir_.path());
  EXPECT_TRUE(w.RunOnce().ok());
  EXPECT_EQ(mirror().Ref("refs/heads/main"), next);
}

TEST_F(SyncTest, WorkerThreadSyncsEveryInterval) {
  auto cfg = std::make_shared<config::Config>(config_);
  repo_.sync_interval = std::chrono::seconds(1);
  cfg->repos.push_back(repo_);
  SyncOptions o;
  o.tick = std::chrono::milliseconds(100);
  SyncWorker w(cfg, o);
  ASSERT_TRUE(w.Start().ok());
  std::string next = AdvanceUpstream(up_.repo(), dir_.path());
  EXPECT_TRUE(ag::testing::WaitFor([&] { return mirror().Ref("refs/heads/main") == next; },
                                   std::chrono::seconds(30)));
  w.Stop();
}

TEST(CreateMirror, LocalPathFileUrlAndSsh) {
  TempDir dir("ag-create");
  std::string head = ag::testing::MakeUpstreamRepo(dir / "up.git", dir.path(), 3);
  config::Config c;
  c.data_dir = dir.path();
  CreateOptions o{dir / "agentgate.yaml", "/usr/lib/agentgate"};
  for (const std::string& url : {dir / "up.git", "file://" + (dir / "up.git")}) {
    config::RepoConfig r;
    r.name = url[0] == '/' ? "bypath" : "byfile";
    r.upstream = url;
    Status st = CreateMirror(c, r, o);
    ASSERT_TRUE(st.ok()) << url << ": " << st.ToString();
    EXPECT_EQ(BareRepo(MirrorPath(c, r)).Ref("refs/heads/main"), head);
  }
  ag::testing::SshUpstream ssh(2);
  ASSERT_TRUE(ssh.ok()) << ssh.log();
  config::RepoConfig r;
  r.name = "byssh";
  r.upstream = ssh.url();
  r.credential = ssh.private_key_path();
  r.ssh_known_hosts = ssh.known_hosts_path();
  Status st = CreateMirror(c, r, o);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(BareRepo(MirrorPath(c, r)).Ref("refs/heads/main"), ssh.seed_head());
  // A failed creation leaves nothing behind.
  config::RepoConfig bad;
  bad.name = "bad";
  bad.upstream = "http://127.0.0.1:1/nothing.git";
  EXPECT_FALSE(CreateMirror(c, bad, o).ok());
  EXPECT_FALSE(std::filesystem::exists(MirrorPath(c, bad)));
}

}  // namespace
}  // namespace ag::sync

namespace ag::sync {
namespace {

// Issue 19 row 7: a `conflict` keeps its ref only while it is the ref's
// newest request; once the ref was pushed again and that request replayed,
// the ref follows upstream again.
TEST_F(SyncTest, ConflictStopsHoldingTheRefOnceALaterRequestReplayed) {
  mirror().Git("config core.hooksPath /dev/null");
  std::string agent = AdvanceUpstream(BareRepo(mirror()), dir_.path());
  auto add = [&](const std::string& status) {
    store::Request req;
    req.repo = "demo";
    req.ref = "refs/heads/main";
    req.old_oid = up_.seed_head();
    req.new_oid = agent;
    req.identity = "agent:test";
    req.upstream_base = up_.seed_head();
    auto id = store::InsertRequest(*db_, req, 3600);
    EXPECT_TRUE(id.ok());
    EXPECT_TRUE(db_->Exec("UPDATE requests SET status='" + status + "' WHERE id=" + std::to_string(*id)).ok());
  };
  add("conflict");
  std::string moved = AdvanceUpstream(up_.repo(), dir_.path());
  ASSERT_TRUE(SyncRepo(config_, repo_, db_.get()).ok());
  EXPECT_EQ(mirror().Ref("refs/heads/main"), agent);  // the conflict is the newest: kept
  add("replayed");
  ASSERT_TRUE(SyncRepo(config_, repo_, db_.get()).ok());
  EXPECT_EQ(mirror().Ref("refs/heads/main"), moved);  // follows upstream again
}

}  // namespace
}  // namespace ag::sync
