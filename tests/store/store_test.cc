#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <utility>
#include <vector>

#include "store/audit.h"
#include "store/requests.h"

namespace ag::store {
namespace {

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ag-store-XXXXXX";
    dir_ = mkdtemp(tmpl);
    auto db = Db::Open(dir_ + "/agentgate.db");
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = std::move(db).value();
  }
  void TearDown() override {
    db_.reset();
    std::filesystem::remove_all(dir_);
  }

  int64_t Insert(const std::string& ref, const std::string& old_oid, const std::string& new_oid,
                 const std::string& outcome = "hold") {
    Request r;
    r.repo = "demo";
    r.ref = ref;
    r.old_oid = old_oid;
    r.new_oid = new_oid;
    r.identity = "agent-1";
    r.outcome = outcome;
    Transaction tx(*db_);
    EXPECT_TRUE(tx.status().ok());
    auto id = InsertRequest(*db_, r, 3600);
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    EXPECT_TRUE(tx.Commit().ok());
    return *id;
  }

  std::string dir_;
  std::unique_ptr<Db> db_;
};

TEST_F(StoreTest, LifecycleAndSupersede) {
  int64_t a = Insert("refs/heads/agent/x", "0000", "aaaa");
  EXPECT_EQ(GetRequest(*db_, a)->status, RequestStatus::kIncoming);
  ASSERT_TRUE(LandRequest(*db_, "demo", "refs/heads/agent/x", "0000", "aaaa").ok());
  EXPECT_EQ(GetRequest(*db_, a)->status, RequestStatus::kPending);

  int64_t b = Insert("refs/heads/agent/x", "aaaa", "bbbb");
  ASSERT_TRUE(LandRequest(*db_, "demo", "refs/heads/agent/x", "aaaa", "bbbb").ok());
  EXPECT_EQ(GetRequest(*db_, a)->status, RequestStatus::kSuperseded);
  EXPECT_EQ(GetRequest(*db_, b)->status, RequestStatus::kPending);

  int64_t c = Insert("refs/heads/agent/docs", "0000", "cccc", "allow");
  ASSERT_TRUE(LandRequest(*db_, "demo", "refs/heads/agent/docs", "0000", "cccc").ok());
  EXPECT_EQ(GetRequest(*db_, c)->status, RequestStatus::kApproved);

  EXPECT_EQ(LandRequest(*db_, "demo", "refs/heads/nope", "0", "1").status().code(),
            Code::kNotFound);

  auto pending = ListRequests(*db_, {.repo = "demo", .status = RequestStatus::kPending});
  ASSERT_TRUE(pending.ok());
  ASSERT_EQ(pending->size(), 1u);
  EXPECT_EQ((*pending)[0].id, b);
}

// A request's range lives in request_commits (schema 4); a store written by
// schema 3 kept it in the request's row and is moved over on open, so the
// ranges of old rejected requests still stick.
TEST_F(StoreTest, RangesSurviveTheUpgradeFromTheRequestRow) {
  int64_t a = Insert("refs/heads/agent/x", "0000", "aaaa");
  ASSERT_TRUE(LandRequest(*db_, "demo", "refs/heads/agent/x", "0000", "aaaa").ok());
  ASSERT_TRUE(TransitionRequest(*db_, a, RequestStatus::kPending, RequestStatus::kRejected, "reviewer", "no", "request.rejected").ok());
  // What schema 3 left on disk.
  ASSERT_TRUE(db_->Exec("DROP TABLE request_commits").ok());
  ASSERT_TRUE(db_->Exec("DROP TABLE freezes").ok());  // schema 5
  ASSERT_TRUE(db_->Exec("ALTER TABLE requests DROP COLUMN trailers_json").ok());  // schema 6
  ASSERT_TRUE(db_->Exec("UPDATE requests SET commits_json = '[\"c1\",\"c2\"]'").ok());
  ASSERT_TRUE(db_->Exec("PRAGMA user_version = 3").ok());
  db_.reset();
  auto db = Db::Open(dir_ + "/agentgate.db");
  ASSERT_TRUE(db.ok()) << db.status().ToString();
  db_ = std::move(db).value();
  EXPECT_EQ(GetRequest(*db_, a)->commits_json, "[\"c1\",\"c2\"]");
  auto rejected = RejectedCommits(*db_, "demo");
  ASSERT_TRUE(rejected.ok());
  EXPECT_EQ(rejected->size(), 2u);
  EXPECT_EQ(rejected->count("c2"), 1u);
  // New requests keep their range outside the row.
  Request r;
  r.repo = "demo";
  r.ref = "refs/heads/agent/y";
  r.old_oid = "0000";
  r.new_oid = "dddd";
  r.commits_json = "[\"d1\"]";
  auto b = InsertRequest(*db_, r, 3600);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(GetRequest(*db_, *b)->commits_json, "[\"d1\"]");
  auto stmt = db_->Prepare("SELECT commits_json FROM requests WHERE id = ?");
  ASSERT_TRUE(stmt.ok());
  stmt->Bind(1, *b);
  ASSERT_TRUE(*stmt->Step());
  EXPECT_EQ(stmt->Text(0), "[]");
}

// A range stored as a base request plus its own commits reads back whole,
// and rejections see through the chain: a rejected base's commits stick in
// every request built on it, and rejecting a base revokes approvals that
// share its commits only through their own base.
TEST_F(StoreTest, ChainedRangesReadBackWholeAndRejectionsSeeThroughThem) {
  auto insert = [&](const std::string& ref, const std::string& full, int64_t base, const std::string& own,
                    int64_t base_size, const std::string& base_last) {
    Request r;
    r.repo = "demo";
    r.ref = ref;
    r.old_oid = "0000";
    r.new_oid = "n" + std::to_string(rand());
    r.commits_json = full;
    r.commits_base = base;
    r.commits_own_json = own;
    r.commits_base_size = base_size;
    r.commits_base_last = base_last;
    auto id = InsertRequest(*db_, r, 3600);
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    return *id;
  };
  int64_t a = insert("refs/heads/agent/a", "[\"c1\",\"c2\"]", 0, "[]", 0, "");
  int64_t b = insert("refs/heads/agent/a", "[\"c1\",\"c2\",\"c3\"]", a, "[\"c3\"]", 2, "c2");
  int64_t c = insert("refs/heads/agent/b", "[\"c1\",\"c2\",\"c3\",\"c4\"]", b, "[\"c4\"]", 3, "c3");
  // A base that does not match what the caller knows of it is not used.
  int64_t d = insert("refs/heads/agent/d", "[\"c1\",\"c2\",\"c9\"]", a, "[\"c9\"]", 2, "c1");
  int64_t e = insert("refs/heads/agent/e", "[\"c7\"]", 0, "[]", 0, "");
  EXPECT_EQ(*RequestCommits(*db_, c), "[\"c1\",\"c2\",\"c3\",\"c4\"]");
  EXPECT_EQ(GetRequest(*db_, b)->commits_json, "[\"c1\",\"c2\",\"c3\"]");
  EXPECT_EQ(GetRequest(*db_, d)->commits_json, "[\"c1\",\"c2\",\"c9\"]");
  auto whole = [&](int64_t id) {
    auto st = db_->Prepare("SELECT base_request IS NULL FROM request_commits WHERE request_id = ?");
    EXPECT_TRUE(st.ok());
    st->Bind(1, id);
    auto row = st->Step();
    EXPECT_TRUE(row.ok() && *row);
    return st->Int(0) == 1;
  };
  EXPECT_FALSE(whole(c));  // chained
  EXPECT_TRUE(whole(d));   // whole

  for (int64_t id : {a, b, c, d, e}) {
    ASSERT_TRUE(TransitionRequest(*db_, id, RequestStatus::kIncoming, RequestStatus::kPending, "t", "", "t").ok());
  }
  for (int64_t id : {c, d, e}) {
    ASSERT_TRUE(TransitionRequest(*db_, id, RequestStatus::kPending, RequestStatus::kApproved, "t", "", "t").ok());
  }
  ASSERT_TRUE(TransitionRequest(*db_, a, RequestStatus::kPending, RequestStatus::kRejected, "r", "no", "t").ok());
  auto revoked = RejectApprovedSharingCommits(*db_, a, "r");
  ASSERT_TRUE(revoked.ok()) << revoked.status().ToString();
  EXPECT_EQ(*revoked, (std::vector<int64_t>{c, d}));  // c through b's chain; e shares nothing
  ASSERT_TRUE(TransitionRequest(*db_, b, RequestStatus::kPending, RequestStatus::kRejected, "r", "no", "t").ok());
  auto rejected = RejectedCommits(*db_, "demo");
  ASSERT_TRUE(rejected.ok());
  // The newest rejected request holding each (c and d were revoked above).
  EXPECT_EQ(rejected->at("c1"), d);
  EXPECT_EQ(rejected->at("c3"), c);  // c holds it through b
  EXPECT_EQ(rejected->at("c4"), c);
  EXPECT_EQ(rejected->count("c7"), 0u);

  // A push judged before a rejection and still landing (incoming) is
  // rejected with it, so it never becomes approved unmarked.
  int64_t f = insert("refs/heads/agent/f", "[\"c7\",\"c8\"]", 0, "[]", 0, "");
  ASSERT_TRUE(TransitionRequest(*db_, e, RequestStatus::kApproved, RequestStatus::kRejected, "r", "no", "t").ok());
  auto also = RejectApprovedSharingCommits(*db_, e, "r");
  ASSERT_TRUE(also.ok()) << also.status().ToString();
  EXPECT_EQ(*also, (std::vector<int64_t>{f}));
  EXPECT_EQ(GetRequest(*db_, f)->status, RequestStatus::kRejected);
  EXPECT_EQ(LandRequest(*db_, "demo", "refs/heads/agent/f", "0000", GetRequest(*db_, f)->new_oid).status().code(),
            Code::kNotFound);
}

TEST_F(StoreTest, TransitionIsCompareAndSet) {
  int64_t a = Insert("refs/heads/agent/x", "0000", "aaaa");
  ASSERT_TRUE(LandRequest(*db_, "demo", "refs/heads/agent/x", "0000", "aaaa").ok());
  EXPECT_TRUE(TransitionRequest(*db_, a, RequestStatus::kPending, RequestStatus::kApproved,
                                "alice", "", "request.approved").ok());
  Status again = TransitionRequest(*db_, a, RequestStatus::kPending, RequestStatus::kRejected,
                                   "bob", "no", "request.rejected");
  EXPECT_EQ(again.code(), Code::kFailedPrecondition);
  EXPECT_EQ(GetRequest(*db_, a)->status, RequestStatus::kApproved);
  EXPECT_EQ(GetRequest(*db_, 999).status().code(), Code::kNotFound);
}

TEST_F(StoreTest, SweepAbortsStaleIncomingAndExpiresPending) {
  int64_t a = Insert("refs/heads/agent/a", "0", "1");
  int64_t b = Insert("refs/heads/agent/b", "0", "2");
  ASSERT_TRUE(LandRequest(*db_, "demo", "refs/heads/agent/b", "0", "2").ok());
  auto n = SweepRequests(*db_, NowSeconds() + 7200, 60);
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(*n, 2);
  EXPECT_EQ(GetRequest(*db_, a)->status, RequestStatus::kAborted);
  EXPECT_EQ(GetRequest(*db_, b)->status, RequestStatus::kExpired);
}

TEST_F(StoreTest, AuditChainDetectsTamperingAndDeletion) {
  Insert("refs/heads/agent/a", "0", "1");
  Insert("refs/heads/agent/b", "0", "2");
  Insert("refs/heads/agent/c", "0", "3");
  auto v = VerifyAudit(*db_);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->rows, 3);
  EXPECT_FALSE(v->first_broken_seq.has_value());

  // Triggers refuse edits through SQL.
  EXPECT_FALSE(db_->Exec("UPDATE audit SET actor='mallory' WHERE seq=2").ok());
  EXPECT_FALSE(db_->Exec("DELETE FROM audit WHERE seq=2").ok());

  // An attacker with the file drops the trigger first: the chain still tells.
  ASSERT_TRUE(db_->Exec("DROP TRIGGER audit_no_update; UPDATE audit SET actor='mallory' WHERE seq=2").ok());
  v = VerifyAudit(*db_);
  ASSERT_TRUE(v.ok());
  ASSERT_TRUE(v->first_broken_seq.has_value());
  EXPECT_EQ(*v->first_broken_seq, 2);

  ASSERT_TRUE(db_->Exec("DROP TRIGGER audit_no_delete; DELETE FROM audit WHERE seq=2").ok());
  v = VerifyAudit(*db_);
  ASSERT_TRUE(v.ok());
  ASSERT_TRUE(v->first_broken_seq.has_value());
  EXPECT_EQ(*v->first_broken_seq, 2);
  EXPECT_NE(v->reason.find("missing"), std::string::npos);
}

TEST_F(StoreTest, StatementsAreReusedWithFreshBindings) {
  ASSERT_TRUE(db_->Exec("CREATE TABLE t(k INTEGER, v TEXT)").ok());
  const std::string insert = "INSERT INTO t(k, v) VALUES (?1, ?2)";
  sqlite3_stmt* first = nullptr;
  {
    auto s = db_->Prepare(insert);
    ASSERT_TRUE(s.ok());
    ASSERT_TRUE(s->Bind(1, int64_t{1}).Bind(2, "one").Run().ok());
    first = sqlite3_next_stmt(db_->raw(), nullptr);
  }
  {
    // The same text gets the statement back, reset: only what is bound now counts.
    auto s = db_->Prepare(insert);
    ASSERT_TRUE(s.ok());
    EXPECT_EQ(sqlite3_next_stmt(db_->raw(), nullptr), first);
    ASSERT_TRUE(s->Bind(1, int64_t{2}).Run().ok());  // ?2 left unbound: NULL, not "one"
    // A second user of the same text while the first is out gets its own.
    auto other = db_->Prepare(insert);
    ASSERT_TRUE(other.ok());
    ASSERT_TRUE(other->Bind(1, int64_t{3}).Bind(2, "three").Run().ok());
  }
  auto q = db_->Prepare("SELECT k, v IS NULL FROM t ORDER BY k");
  ASSERT_TRUE(q.ok());
  std::vector<std::pair<int64_t, int64_t>> rows;
  while (true) {
    auto row = q->Step();
    ASSERT_TRUE(row.ok());
    if (!*row) break;
    rows.emplace_back(q->Int(0), q->Int(1));
  }
  EXPECT_EQ(rows, (std::vector<std::pair<int64_t, int64_t>>{{1, 0}, {2, 1}, {3, 0}}));
}

TEST_F(StoreTest, StatementOutlivingItsDbIsFinalised) {
  // Destroying the Db first must not hand the statement back to a dead cache.
  auto other = Db::Open(dir_ + "/other.db");
  ASSERT_TRUE(other.ok());
  auto s = (*other)->Prepare("SELECT 1");
  ASSERT_TRUE(s.ok());
  other->reset();
  auto row = s->Step();  // the connection is a zombie until its last statement goes
  EXPECT_TRUE(row.ok() && *row);
}

TEST_F(StoreTest, CorruptFileIsAClearError) {
  std::string path = dir_ + "/garbage.db";
  FILE* f = fopen(path.c_str(), "w");
  fputs("this is not a database, just text that is long enough to look like a header......", f);
  fclose(f);
  auto db = Db::Open(path);
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), Code::kCorruption) << db.status().ToString();
}

}  // namespace
}  // namespace ag::store
