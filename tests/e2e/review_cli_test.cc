// End to end: the real control server in-process, the real `agentgate`
// binary, run as REAL Unix users and groups created by the test (runuser), so
// the daemon sees them through SO_PEERCRED exactly as in production.
// REQUIRES: root (useradd, runuser). Skipped otherwise.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "control/server.h"
#include "review/review_support.h"
#include "store/audit.h"

namespace ag {
namespace {

using ag::testing::CountRows;
using ag::testing::Seed;
using ag::testing::SeedPending;
using ag::testing::Sh;
using ag::testing::StatusOf;
using ag::testing::TempDir;
using ag::testing::TestGroup;
using ag::testing::TestUser;

struct CliRun {
  int code = -1;
  std::string out;  // stdout and stderr
};

class ReviewCliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (geteuid() != 0) return;
    std::string p = ag::testing::UniquePrefix();
    platform_ = new TestGroup(p + "-plat");
    alice_ = new TestUser(p + "-alice");
    bob_ = new TestUser(p + "-bob");
    mallory_ = new TestUser(p + "-mal");
    pusher_ = new TestUser(p + "-push");
    carol_ = new TestUser(p + "-carol", {p + "-plat"});
  }
  static void TearDownTestSuite() {
    delete carol_;
    delete pusher_;
    delete mallory_;
    delete bob_;
    delete alice_;
    delete platform_;
  }

  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root to create users";
    auto db = store::Db::Open(dir_ / "agentgate.db");
    ASSERT_TRUE(db.ok());
    db_ = std::move(db).value();
    repo_ = ag::testing::MakeRepo(dir_.path());
    settings_.repo_paths["demo"] = repo_.path;
    settings_.identity_accounts["agent-1"] = pusher_->name();
    socket_ = dir_ / "run/control.sock";
    control::ControlServerOptions o;
    o.socket_path = socket_;
    o.db_path = dir_ / "agentgate.db";
    server_ = std::make_unique<control::ControlServer>(o, settings_);
    ASSERT_TRUE(server_->Start().ok());
  }

  // Runs `agentgate ARGS --socket SOCK` as `user`.
  CliRun As(const TestUser* user, const std::string& args, bool with_socket = true) {
    CliRun r;
    std::string cmd = "runuser -u " + user->name() + " -- " + std::string(AG_BIN_DIR) +
                      "/agentgate " + args + (with_socket ? " --socket " + socket_ : "") + " 2>&1";
    r.code = Sh(cmd, &r.out);
    return r;
  }

  int64_t Pending(Seed s = {}) {
    if (s.users.empty() && s.groups.empty()) s.users = {alice_->name(), bob_->name()};
    if (s.new_oid == Seed{}.new_oid) {
      s.old_oid = repo_.base;
      s.new_oid = repo_.tip;
    }
    return SeedPending(*db_, s);
  }

  static inline TestGroup* platform_ = nullptr;
  static inline TestUser *alice_ = nullptr, *bob_ = nullptr, *mallory_ = nullptr,
                         *pusher_ = nullptr, *carol_ = nullptr;
  TempDir dir_;
  std::unique_ptr<store::Db> db_;
  ag::testing::TestRepo repo_;
  review::ReviewSettings settings_;
  std::string socket_;
  std::unique_ptr<control::ControlServer> server_;
};

TEST_F(ReviewCliTest, ReviewerApproves) {
  int64_t id = Pending();
  CliRun r = As(alice_, "approve " + std::to_string(id) + " --comment 'looks fine'");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("approved request " + std::to_string(id)), std::string::npos) << r.out;
  EXPECT_EQ(StatusOf(*db_, id), "approved");
  EXPECT_EQ(CountRows(*db_, "SELECT COUNT(*) FROM audit WHERE kind='request.approved' AND actor='" +
                                alice_->name() + "'"), 1);
  // The agent sees the state through the mirror's refs.
  std::string refs;
  Sh("git -C " + repo_.path + " for-each-ref --format='%(refname)' refs/agentgate/state/", &refs);
  EXPECT_EQ(refs, "refs/agentgate/state/" + std::to_string(id) + "/approved\n");
}

TEST_F(ReviewCliTest, GroupMemberApprovesThroughRealGroups) {
  int64_t id = Pending({.groups = {platform_->name()}});
  CliRun denied = As(alice_, "approve " + std::to_string(id));
  EXPECT_EQ(denied.code, 1) << denied.out;
  CliRun r = As(carol_, "approve " + std::to_string(id));
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(StatusOf(*db_, id), "approved");
}

TEST_F(ReviewCliTest, NonReviewerIsRefused) {
  int64_t id = Pending();
  CliRun r = As(mallory_, "approve " + std::to_string(id));
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("refused: " + mallory_->name() + " is not a reviewer"), std::string::npos)
      << r.out;
  EXPECT_EQ(StatusOf(*db_, id), "pending");
}

TEST_F(ReviewCliTest, PusherCannotApproveItsOwnPush) {
  int64_t id = Pending({.users = {pusher_->name(), alice_->name()}});
  CliRun r = As(pusher_, "approve " + std::to_string(id));
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("cannot approve it"), std::string::npos) << r.out;
  EXPECT_EQ(StatusOf(*db_, id), "pending");
}

TEST_F(ReviewCliTest, QuorumOfTwoNeedsTwoDistinctReviewers) {
  int64_t id = Pending({.quorum = 2});
  CliRun first = As(alice_, "approve " + std::to_string(id));
  EXPECT_EQ(first.code, 0) << first.out;
  EXPECT_NE(first.out.find("1 of 2"), std::string::npos) << first.out;
  CliRun twice = As(alice_, "approve " + std::to_string(id));
  EXPECT_EQ(twice.code, 1) << twice.out;
  EXPECT_NE(twice.out.find("already approved"), std::string::npos) << twice.out;
  EXPECT_EQ(StatusOf(*db_, id), "pending");
  CliRun second = As(bob_, "approve " + std::to_string(id));
  EXPECT_EQ(second.code, 0) << second.out;
  EXPECT_EQ(StatusOf(*db_, id), "approved");
}

TEST_F(ReviewCliTest, RejectWins) {
  int64_t id = Pending({.quorum = 2});
  EXPECT_EQ(As(alice_, "approve " + std::to_string(id)).code, 0);
  CliRun r = As(bob_, "reject " + std::to_string(id) + " --reason 'touches CI'");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(StatusOf(*db_, id), "rejected");
  CliRun late = As(alice_, "approve " + std::to_string(id));
  EXPECT_EQ(late.code, 1) << late.out;
  EXPECT_NE(late.out.find("already rejected"), std::string::npos) << late.out;
  CliRun no_reason = As(bob_, "reject " + std::to_string(id));
  EXPECT_EQ(no_reason.code, 2) << no_reason.out;
}

TEST_F(ReviewCliTest, ExpiredIsRefused) {
  int64_t id = Pending({.ttl_seconds = -1});
  CliRun r = As(alice_, "approve " + std::to_string(id));
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("expired"), std::string::npos) << r.out;
  EXPECT_EQ(StatusOf(*db_, id), "expired");
}

TEST_F(ReviewCliTest, SupersededIsRefused) {
  int64_t old_id = Pending({.new_oid = repo_.first});
  Seed newer;
  newer.users = {alice_->name()};
  newer.old_oid = repo_.first;
  newer.new_oid = repo_.tip;
  int64_t new_id = SeedPending(*db_, newer);  // LandRequest of a newer push
  CliRun r = As(alice_, "approve " + std::to_string(old_id));
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("superseded by request " + std::to_string(new_id)), std::string::npos)
      << r.out;
  EXPECT_EQ(As(alice_, "approve " + std::to_string(new_id)).code, 0);
}

TEST_F(ReviewCliTest, ApproveBindsToTheReviewedCommit) {
  int64_t id = Pending();
  CliRun r = As(alice_, "approve " + std::to_string(id) + " --expect " + repo_.first);
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("not what was reviewed"), std::string::npos) << r.out;
  EXPECT_EQ(As(alice_, "approve " + std::to_string(id) + " --expect " + repo_.tip).code, 0);
}

TEST_F(ReviewCliTest, UpstreamMovedIsRefused) {
  int64_t id = Pending();
  ASSERT_TRUE(db_->Exec("UPDATE requests SET upstream_moved=1 WHERE id=" + std::to_string(id)).ok());
  CliRun r = As(alice_, "approve " + std::to_string(id));
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("upstream moved; re-push on top of upstream"), std::string::npos) << r.out;
}

TEST_F(ReviewCliTest, ConcurrentApprovalsEndInOneState) {
  for (int round = 0; round < 4; ++round) {
    int64_t id = Pending({.ref = "refs/heads/agent/race" + std::to_string(round)});
    std::string base = std::string(AG_BIN_DIR) + "/agentgate approve " + std::to_string(id) +
                       " --socket " + socket_ + " >/dev/null 2>&1; echo $?";
    FILE* a = popen(("runuser -u " + alice_->name() + " -- sh -c '" + base + "'").c_str(), "r");
    FILE* b = popen(("runuser -u " + bob_->name() + " -- sh -c '" + base + "'").c_str(), "r");
    ASSERT_TRUE(a && b);
    int ca = -1, cb = -1;
    ASSERT_EQ(fscanf(a, "%d", &ca), 1);
    ASSERT_EQ(fscanf(b, "%d", &cb), 1);
    pclose(a);
    pclose(b);
    EXPECT_EQ((ca == 0) + (cb == 0), 1) << ca << " " << cb;  // exactly one approved it
    EXPECT_EQ(ca + cb, 1) << "the loser is refused (1), not an error (2)";
    EXPECT_EQ(StatusOf(*db_, id), "approved");
    EXPECT_EQ(CountRows(*db_, "SELECT COUNT(*) FROM audit WHERE kind='request.approved' AND "
                              "request_id=" + std::to_string(id)), 1);
  }
}

TEST_F(ReviewCliTest, ApproveRacingRejectEndsInOneState) {
  for (int round = 0; round < 4; ++round) {
    int64_t id = Pending({.ref = "refs/heads/agent/ar" + std::to_string(round)});
    std::string bin = std::string(AG_BIN_DIR) + "/agentgate ";
    std::string tail = " --socket " + socket_ + " >/dev/null 2>&1; echo $?";
    FILE* a = popen(("runuser -u " + alice_->name() + " -- sh -c '" + bin + "approve " +
                     std::to_string(id) + tail + "'").c_str(), "r");
    FILE* b = popen(("runuser -u " + bob_->name() + " -- sh -c '" + bin + "reject " +
                     std::to_string(id) + " --reason no" + tail + "'").c_str(), "r");
    int ca = -1, cb = -1;
    ASSERT_EQ(fscanf(a, "%d", &ca), 1);
    ASSERT_EQ(fscanf(b, "%d", &cb), 1);
    pclose(a);
    pclose(b);
    std::string st = StatusOf(*db_, id);
    if (st == "approved") {
      EXPECT_EQ(ca, 0);
      EXPECT_EQ(cb, 1);
    } else {
      EXPECT_EQ(st, "rejected");
      EXPECT_EQ(cb, 0);
      EXPECT_EQ(ca, 1);
    }
    EXPECT_EQ(CountRows(*db_, "SELECT COUNT(*) FROM audit WHERE kind IN ('request.approved',"
                              "'request.rejected') AND request_id=" + std::to_string(id)), 1);
  }
}

TEST_F(ReviewCliTest, UnknownMalformedAndDecidedIds) {
  CliRun unknown = As(alice_, "approve 4242");
  EXPECT_EQ(unknown.code, 1) << unknown.out;
  EXPECT_NE(unknown.out.find("no request 4242"), std::string::npos) << unknown.out;
  for (const char* bad : {"abc", "-1", "99999999999999999999", "0", "1x"}) {
    CliRun r = As(alice_, std::string("show ") + bad);
    EXPECT_EQ(r.code, 2) << bad << ": " << r.out;
    EXPECT_NE(r.out.find("is not a request id"), std::string::npos) << r.out;
  }
  int64_t id = Pending();
  EXPECT_EQ(As(alice_, "approve " + std::to_string(id)).code, 0);
  CliRun decided = As(bob_, "reject " + std::to_string(id) + " --reason late");
  EXPECT_EQ(decided.code, 1) << decided.out;
  EXPECT_NE(decided.out.find("already approved"), std::string::npos) << decided.out;
  CliRun retry = As(alice_, "retry " + std::to_string(id));
  EXPECT_EQ(retry.code, 1) << retry.out;
}

TEST_F(ReviewCliTest, RetryAFailedReplay) {
  int64_t id = Pending();
  ASSERT_TRUE(db_->Exec("UPDATE requests SET status='failed', replay_attempts=8 WHERE id=" +
                        std::to_string(id)).ok());
  CliRun outsider = As(mallory_, "retry " + std::to_string(id));
  EXPECT_EQ(outsider.code, 1) << outsider.out;
  CliRun r = As(alice_, "retry " + std::to_string(id));
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(StatusOf(*db_, id), "approved");
  EXPECT_EQ(CountRows(*db_, "SELECT replay_attempts FROM requests WHERE id=" + std::to_string(id)), 0);
}

TEST_F(ReviewCliTest, ListAndShowAsAReviewer) {
  int64_t id = Pending();                                  // alice and bob review it
  int64_t other = Pending({.ref = "refs/heads/agent/y", .users = {carol_->name()}});  // carol only
  CliRun list = As(alice_, "list --json");
  ASSERT_EQ(list.code, 0) << list.out;
  auto rows = nlohmann::json::parse(list.out);
  ASSERT_EQ(rows.size(), 1u) << list.out;  // not carol's request
  EXPECT_EQ(rows[0]["id"], id);
  EXPECT_EQ(rows[0]["new"], repo_.tip);
  CliRun table = As(alice_, "list --status pending");
  EXPECT_EQ(table.code, 0);
  EXPECT_NE(table.out.find("refs/heads/agent/x"), std::string::npos) << table.out;
  // An account that reviews nothing sees nothing, and may not show a request.
  CliRun none = As(mallory_, "list --json");
  ASSERT_EQ(none.code, 0) << none.out;
  EXPECT_EQ(nlohmann::json::parse(none.out).size(), 0u) << none.out;
  CliRun denied = As(mallory_, "show " + std::to_string(id));
  EXPECT_EQ(denied.code, 1) << denied.out;
  EXPECT_NE(denied.out.find("may not see it"), std::string::npos) << denied.out;
  EXPECT_EQ(denied.out.find("+hello"), std::string::npos) << denied.out;
  CliRun not_hers = As(alice_, "show " + std::to_string(other));
  EXPECT_EQ(not_hers.code, 1) << not_hers.out;
  CliRun show = As(alice_, "show " + std::to_string(id));
  EXPECT_EQ(show.code, 0) << show.out;
  EXPECT_NE(show.out.find("add hello"), std::string::npos) << show.out;
  EXPECT_NE(show.out.find("+hello"), std::string::npos) << show.out;
  EXPECT_EQ(show.out.find("\033["), std::string::npos) << "no colour when not a tty";
  // On a terminal the diff is coloured like `git show` (script(1) gives a pty).
  CliRun tty;
  tty.code = Sh("runuser -u " + alice_->name() + " -- script -qec '" + std::string(AG_BIN_DIR) +
                    "/agentgate show " + std::to_string(id) + " --socket " + socket_ +
                    "' /dev/null",
                &tty.out);
  EXPECT_EQ(tty.code, 0) << tty.out;
  EXPECT_NE(tty.out.find("\033[32m+hello\033[m"), std::string::npos) << tty.out;
  EXPECT_NE(tty.out.find("\033[36m@@"), std::string::npos) << tty.out;
  CliRun js = As(alice_, "show " + std::to_string(id) + " --json");
  EXPECT_EQ(nlohmann::json::parse(js.out)["commits"].size(), 2u);
}

TEST_F(ReviewCliTest, SocketFromTheConfigFile) {
  std::string cfg = dir_ / "agentgate.yaml";
  std::ofstream(cfg) << "data_dir: /var/lib/agentgate\ncontrol_socket: " << socket_ << "\n";
  chmod(cfg.c_str(), 0644);
  CliRun r = As(alice_, "list --json --config " + cfg, /*with_socket=*/false);
  EXPECT_EQ(r.code, 0) << r.out;
  CliRun missing = As(alice_, "list --config " + (dir_ / "nope.yaml"), false);
  EXPECT_EQ(missing.code, 2) << missing.out;
  chmod(cfg.c_str(), 0600);  // root's only
  CliRun unreadable = As(alice_, "list --config " + cfg, false);
  EXPECT_EQ(unreadable.code, 2) << unreadable.out;
  EXPECT_NE(unreadable.out.find("cannot read " + cfg), std::string::npos) << unreadable.out;
}

TEST_F(ReviewCliTest, StoppedDaemonExitsTwoWithHowToStartIt) {
  server_->Stop();
  CliRun r = As(alice_, "list");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("agentgate-mirror is not running (cannot connect to " + socket_ +
                       "): start it with `systemctl start agentgate-mirror`"),
            std::string::npos) << r.out;
}

TEST_F(ReviewCliTest, CorruptedDatabaseExitsTwoAndWritesNothing) {
  int64_t id = Pending();
  db_.reset();
  std::string path = dir_ / "agentgate.db";
  // A damaged disk: the file is garbage (the WAL would otherwise still hold
  // valid pages, which SQLite rightly reads).
  std::filesystem::remove(path + "-wal");
  std::filesystem::remove(path + "-shm");
  size_t size = std::filesystem::file_size(path);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << std::string(size, 'X');
  std::string before;
  Sh("sha256sum " + path, &before);
  CliRun r = As(alice_, "approve " + std::to_string(id));
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("error: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("not a database"), std::string::npos) << r.out;
  CliRun list = As(alice_, "list");
  EXPECT_EQ(list.code, 2) << list.out;
  std::string after;
  Sh("sha256sum " + path, &after);
  EXPECT_EQ(before, after);
}

TEST_F(ReviewCliTest, LockedDatabaseExitsTwoAndWritesNothing) {
  int64_t id = Pending();
  server_->Stop();
  control::ControlServerOptions o;
  o.socket_path = socket_;
  o.db_path = dir_ / "agentgate.db";
  o.db_busy_timeout_ms = 200;
  server_ = std::make_unique<control::ControlServer>(o, settings_);
  ASSERT_TRUE(server_->Start().ok());
  ASSERT_TRUE(db_->Exec("BEGIN IMMEDIATE").ok());  // another writer holds the lock
  CliRun r = As(alice_, "approve " + std::to_string(id) + " --comment x");
  ASSERT_TRUE(db_->Exec("ROLLBACK").ok());
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("database is locked"), std::string::npos) << r.out;
  EXPECT_EQ(StatusOf(*db_, id), "pending");
  EXPECT_EQ(CountRows(*db_, "SELECT COUNT(*) FROM approvals"), 0);
  EXPECT_EQ(CountRows(*db_, "SELECT COUNT(*) FROM audit WHERE kind LIKE 'review.%'"), 0);
  // Once the lock is gone the same command works.
  EXPECT_EQ(As(alice_, "approve " + std::to_string(id)).code, 0);
}

}  // namespace
}  // namespace ag
