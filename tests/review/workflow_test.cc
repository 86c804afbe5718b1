// The review workflow's rules over a real temp SQLite file (and a real bare
// repo for the state refs): one test per rule of the checklist.
#include "review/workflow.h"

#include <gtest/gtest.h>
#include <pwd.h>
#include <unistd.h>

#include <regex>

#include "git/git.h"
#include "review/review_support.h"
#include "store/audit.h"

namespace ag::review {
namespace {

using ag::testing::CountRows;
using ag::testing::Seed;
using ag::testing::SeedPending;
using ag::testing::Sh;
using ag::testing::StatusOf;
using ag::testing::TempDir;
using ag::testing::TestUser;
using ag::testing::UniquePrefix;

class WorkflowTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = store::Db::Open(dir_ / "agentgate.db");
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = std::move(db).value();
    settings_.identity_accounts["agent-1"] = "agentacct";
    settings_.identity_accounts["human-dev"] = "dev";
  }

  Binding BindingOf(int64_t id) {
    auto r = store::GetRequest(*db_, id);
    EXPECT_TRUE(r.ok());
    return {r->ref, r->old_oid, r->new_oid};
  }

  Result<DecisionResult> ApproveAs(int64_t id, const std::string& user,
                                   std::vector<std::string> groups = {}) {
    return Approve(*db_, settings_, id, {user, std::move(groups)}, BindingOf(id), "lgtm");
  }

  int64_t Events(int64_t id, const std::string& kind) {
    return CountRows(*db_, "SELECT COUNT(*) FROM audit WHERE request_id=" + std::to_string(id) +
                               " AND kind='" + kind + "'");
  }

  TempDir dir_;
  std::unique_ptr<store::Db> db_;
  ReviewSettings settings_;
};

TEST_F(WorkflowTest, ReviewerApproves) {
  int64_t id = SeedPending(*db_, {.users = {"alice"}});
  auto d = ApproveAs(id, "alice");
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->status, store::RequestStatus::kApproved);
  EXPECT_EQ(StatusOf(*db_, id), "approved");
  EXPECT_EQ(Events(id, "request.approved"), 1);
  EXPECT_EQ(CountRows(*db_, "SELECT COUNT(*) FROM audit WHERE kind='review.approve' AND "
                            "actor='alice' AND data_json LIKE '%lgtm%'"), 1);
  auto chain = store::VerifyAudit(*db_);
  ASSERT_TRUE(chain.ok());
  EXPECT_FALSE(chain->first_broken_seq.has_value());
}

TEST_F(WorkflowTest, NonReviewerIsRefusedAndAudited) {
  int64_t id = SeedPending(*db_, {.users = {"alice"}, .groups = {"platform"}});
  auto d = ApproveAs(id, "mallory", {"users", "dev"});
  EXPECT_EQ(d.status().code(), Code::kNotFound);
  EXPECT_NE(d.status().message().find("mallory is not a reviewer"), std::string::npos);
  EXPECT_EQ(StatusOf(*db_, id), "pending");
  EXPECT_EQ(CountRows(*db_, "SELECT COUNT(*) FROM approvals"), 0);
  EXPECT_EQ(Events(id, "review.refused"), 1);
  // The audit row keeps the real reason; the caller got none.
  EXPECT_EQ(CountRows(*db_, "SELECT COUNT(*) FROM audit WHERE kind='review.refused' AND "
                            "data_json LIKE '%(reviewers: alice group:platform)%'"), 1);
}

// The reviewer check comes before anything else about the request: a
// non-reviewer gets the answer for an unknown id, whatever it sends.
TEST_F(WorkflowTest, NonReviewerLearnsNothingAboutARequest) {
  int64_t id = SeedPending(*db_, {.users = {"alice"}, .ttl_seconds = -5});  // past its deadline
  const int64_t unknown_id = 4242;
  auto unknown = Approve(*db_, settings_, unknown_id, {"mallory", {}}, {"r", "o", "n"}, "");
  auto any_id = [](const Status& s) {  // the message with every request id read as N
    return std::regex_replace(s.message(), std::regex("request [0-9]+"), "request N");
  };
  Binding wrong = BindingOf(id);
  wrong.ref = "refs/heads/main";
  std::vector<Result<DecisionResult>> answers;
  answers.push_back(Approve(*db_, settings_, id, {"mallory", {}}, wrong, ""));
  answers.push_back(Approve(*db_, settings_, id, {"mallory", {}}, BindingOf(id), ""));
  answers.push_back(Reject(*db_, settings_, id, {"mallory", {}}, wrong, "no"));
  answers.push_back(Retry(*db_, settings_, id, {"mallory", {}}));
  for (const auto& a : answers) {
    EXPECT_EQ(a.status().code(), unknown.status().code());
    EXPECT_EQ(any_id(a.status()), any_id(unknown.status()));
    EXPECT_EQ(a.status().message().find("refs/heads"), std::string::npos) << a.status().message();
    EXPECT_EQ(a.status().message().find("expired"), std::string::npos) << a.status().message();
  }
  EXPECT_EQ(unknown.status().code(), Code::kNotFound);
  EXPECT_EQ(unknown.status().message(),
            "mallory is not a reviewer of request 4242 and may not see it, or there is no "
            "request 4242");
  EXPECT_EQ(StatusOf(*db_, id), "pending");  // a non-reviewer does not even expire it
}

TEST_F(WorkflowTest, RefusalRowsPassTheCallersGate) {
  int64_t id = SeedPending(*db_, {.users = {"alice"}});
  int calls = 0;
  Reviewer gated{"mallory", {}, [&calls](int64_t* suppressed) {
                   *suppressed = 7;
                   return ++calls > 2;  // the first two are held back
                 }};
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(Approve(*db_, settings_, id, gated, BindingOf(id), "").status().code(),
              Code::kNotFound);
  }
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(Events(id, "review.refused"), 1);
  EXPECT_EQ(CountRows(*db_, "SELECT COUNT(*) FROM audit WHERE kind='review.refused' AND "
                            "data_json LIKE '%\"suppressed\":7%'"), 1);
}

TEST_F(WorkflowTest, GroupMembershipAuthorises) {
  int64_t id = SeedPending(*db_, {.groups = {"platform"}});
  EXPECT_EQ(ApproveAs(id, "carol", {"dev"}).status().code(), Code::kNotFound);
  auto d = ApproveAs(id, "bob", {"bob", "platform"});
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(StatusOf(*db_, id), "approved");
}

TEST_F(WorkflowTest, DefaultReviewersWhenRequestNamesNone) {
  int64_t id = SeedPending(*db_, {});
  // No request reviewers and no policy default: nobody may approve.
  EXPECT_EQ(ApproveAs(id, "alice").status().code(), Code::kNotFound);
  settings_.default_reviewers.users = {"alice"};
  settings_.default_reviewers.quorum = 2;
  settings_.default_reviewers.groups = {"leads"};
  auto d = ApproveAs(id, "alice");
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->quorum, 2);  // the default's quorum applies
  EXPECT_EQ(StatusOf(*db_, id), "pending");
  ASSERT_TRUE(ApproveAs(id, "lee", {"leads"}).ok());
  EXPECT_EQ(StatusOf(*db_, id), "approved");
}

TEST_F(WorkflowTest, NoSelfApproval) {
  struct Case {
    std::string identity, reviewer;
  } cases[] = {{"agent-1", "agentacct"},  // identity_accounts maps it
               {"local:alice", "alice"},  // pushed by path as alice
               {"alice", "alice"}};       // same name
  int n = 0;
  for (const auto& c : cases) {
    std::string tip(40, static_cast<char>('a' + n++));
    int64_t id = SeedPending(*db_, {.ref = "refs/heads/agent/self" + std::to_string(n),
                                    .new_oid = tip, .identity = c.identity,
                                    .users = {c.reviewer}});
    auto d = ApproveAs(id, c.reviewer);
    EXPECT_EQ(d.status().code(), Code::kPermissionDenied) << c.identity;
    EXPECT_EQ(StatusOf(*db_, id), "pending");
  }
  // The pusher may withdraw its own request.
  int64_t id = SeedPending(*db_, {.ref = "refs/heads/agent/withdraw", .identity = "human-dev",
                                  .users = {"alice"}});
  ASSERT_TRUE(Reject(*db_, settings_, id, {"dev", {}}, std::nullopt, "never mind").ok());
  EXPECT_EQ(StatusOf(*db_, id), "rejected");
}

// Real accounts for the self-review rules: a reviewer, an alias of it (a
// second /etc/passwd name with the same uid) and another person.
class SelfReviewTest : public WorkflowTest {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root to create users";
    WorkflowTest::SetUp();
    std::string p = UniquePrefix();
    reviewer_ = std::make_unique<TestUser>(p + "-rev");
    other_ = std::make_unique<TestUser>(p + "-oth");
    struct passwd* pw = ::getpwnam(reviewer_->name().c_str());
    ASSERT_NE(pw, nullptr);
    uid_ = pw->pw_uid;
    alias_ = p + "-ali";
    ASSERT_EQ(Sh("useradd -M -N -o -u " + std::to_string(uid_) + " -s /usr/sbin/nologin " +
                 alias_ + " 2>&1"), 0);
    alias_made_ = true;
  }
  void TearDown() override {
    if (alias_made_) Sh("userdel " + alias_ + " 2>&1");
  }

  // A pending request pushed as `identity` that the reviewer (and the other
  // person) may review.
  int64_t PushedAs(const std::string& identity) {
    std::string tip(40, static_cast<char>('a' + n_++));
    return SeedPending(*db_, {.ref = "refs/heads/agent/self" + std::to_string(n_),
                              .new_oid = tip, .identity = identity,
                              .users = {reviewer_->name(), other_->name()}});
  }

  std::unique_ptr<TestUser> reviewer_, other_;
  std::string alias_;
  bool alias_made_ = false;
  uid_t uid_ = 0;
  int n_ = 0;
};

TEST_F(SelfReviewTest, LocalPushByTheReviewersUidIsItsOwn) {
  for (const std::string& identity :
       {"local:" + reviewer_->name(), "local:" + alias_, "local:uid" + std::to_string(uid_)}) {
    int64_t id = PushedAs(identity);
    auto d = ApproveAs(id, reviewer_->name());
    EXPECT_EQ(d.status().code(), Code::kPermissionDenied) << identity;
    EXPECT_NE(d.status().message().find("cannot approve it"), std::string::npos)
        << d.status().message();
    EXPECT_EQ(StatusOf(*db_, id), "pending");
    // Another person approves it.
    ASSERT_TRUE(ApproveAs(id, other_->name()).ok()) << identity;
  }
  // The same person may withdraw a push made under its alias, reviewer or not.
  int64_t id = SeedPending(*db_, {.ref = "refs/heads/agent/withdraw",
                                  .identity = "local:" + alias_, .users = {other_->name()}});
  ASSERT_TRUE(Reject(*db_, settings_, id, {reviewer_->name(), {}}, std::nullopt, "oops").ok());
  EXPECT_EQ(StatusOf(*db_, id), "rejected");
}

TEST_F(SelfReviewTest, IdentityNamedLikeTheReviewerFailsClosed) {
  struct Case {
    std::string identity, says;
  } cases[] = {{reviewer_->name(), "matches the reviewer's account name " + reviewer_->name()},
               {alias_, "uid " + std::to_string(uid_)}};
  for (const auto& c : cases) {
    int64_t id = PushedAs(c.identity);
    auto d = ApproveAs(id, reviewer_->name());
    EXPECT_EQ(d.status().code(), Code::kPermissionDenied) << c.identity;
    EXPECT_NE(d.status().message().find(c.says), std::string::npos) << d.status().message();
    EXPECT_NE(d.status().message().find("must never run under"), std::string::npos);
    EXPECT_EQ(StatusOf(*db_, id), "pending");
    EXPECT_EQ(Events(id, "review.refused"), 1);
  }
  // A name match refuses; it does not make a non-reviewer the pusher who may withdraw.
  int64_t id = SeedPending(*db_, {.ref = "refs/heads/agent/named", .identity = reviewer_->name(),
                                  .users = {other_->name()}});
  auto r = Reject(*db_, settings_, id, {reviewer_->name(), {}}, std::nullopt, "mine");
  EXPECT_EQ(r.status().code(), Code::kNotFound);  // not a reviewer of it
  EXPECT_EQ(StatusOf(*db_, id), "pending");
}

TEST_F(SelfReviewTest, AnotherPersonsPushIsApproved) {
  for (const std::string& identity : {"local:" + other_->name(), std::string("agent-ci")}) {
    int64_t id = PushedAs(identity);
    auto d = ApproveAs(id, reviewer_->name());
    ASSERT_TRUE(d.ok()) << identity << ": " << d.status().ToString();
    EXPECT_EQ(StatusOf(*db_, id), "approved");
  }
}

TEST_F(WorkflowTest, QuorumNeedsDistinctReviewers) {
  int64_t id = SeedPending(*db_, {.quorum = 2, .users = {"alice", "bob"}});
  auto first = ApproveAs(id, "alice");
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->status, store::RequestStatus::kPending);
  EXPECT_EQ(first->approvals, 1);
  auto again = ApproveAs(id, "alice");
  EXPECT_EQ(again.status().code(), Code::kAlreadyExists);
  EXPECT_EQ(StatusOf(*db_, id), "pending");
  auto second = ApproveAs(id, "bob");
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->status, store::RequestStatus::kApproved);
  EXPECT_EQ(second->approvals, 2);
}

TEST_F(WorkflowTest, OneRejectionWins) {
  int64_t id = SeedPending(*db_, {.quorum = 2, .users = {"alice", "bob", "carol"}});
  ASSERT_TRUE(ApproveAs(id, "alice").ok());
  auto r = Reject(*db_, settings_, id, {"bob", {}}, std::nullopt, "touches CI");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(StatusOf(*db_, id), "rejected");
  auto late = ApproveAs(id, "carol");
  EXPECT_EQ(late.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(late.status().message().find("already rejected"), std::string::npos);
  EXPECT_EQ(Reject(*db_, settings_, id, {"bob", {}}, std::nullopt, "").status().code(),
            Code::kInvalidArgument);
}

TEST_F(WorkflowTest, ApproverMayChangeMindToReject) {
  int64_t id = SeedPending(*db_, {.quorum = 2, .users = {"alice", "bob"}});
  ASSERT_TRUE(ApproveAs(id, "alice").ok());
  ASSERT_TRUE(Reject(*db_, settings_, id, {"alice", {}}, std::nullopt, "second look").ok());
  EXPECT_EQ(StatusOf(*db_, id), "rejected");
  EXPECT_EQ(CountRows(*db_, "SELECT COUNT(*) FROM approvals WHERE verdict='approve'"), 0);
}

TEST_F(WorkflowTest, ExpiredIsMarkedAndRefused) {
  int64_t id = SeedPending(*db_, {.users = {"alice"}, .ttl_seconds = -5});
  auto d = ApproveAs(id, "alice");
  EXPECT_EQ(d.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(d.status().message().find("expired"), std::string::npos);
  EXPECT_EQ(StatusOf(*db_, id), "expired");  // committed although refused
  EXPECT_EQ(CountRows(*db_, "SELECT COUNT(*) FROM approvals"), 0);
}

TEST_F(WorkflowTest, SupersededIsRefused) {
  int64_t old_id = SeedPending(*db_, {.users = {"alice"}});
  Binding seen = BindingOf(old_id);
  int64_t new_id = SeedPending(*db_, {.old_oid = "1111111111111111111111111111111111111111",
                                      .new_oid = "2222222222222222222222222222222222222222",
                                      .users = {"alice"}});
  EXPECT_EQ(StatusOf(*db_, old_id), "superseded");
  auto d = Approve(*db_, settings_, old_id, {"alice", {}}, seen, "");
  EXPECT_EQ(d.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(d.status().message().find("superseded by request " + std::to_string(new_id)),
            std::string::npos);
  // The new request starts without approvals.
  auto n = store::GetRequest(*db_, new_id);
  EXPECT_EQ(n->status, store::RequestStatus::kPending);
}

TEST_F(WorkflowTest, UpstreamMovedIsRefused) {
  int64_t id = SeedPending(*db_, {.users = {"alice"}});
  ASSERT_TRUE(db_->Exec("UPDATE requests SET upstream_moved=1 WHERE id=" + std::to_string(id)).ok());
  auto d = ApproveAs(id, "alice");
  EXPECT_EQ(d.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(d.status().message().find("upstream moved; re-push on top of upstream"),
            std::string::npos);
  EXPECT_EQ(StatusOf(*db_, id), "pending");
}

TEST_F(WorkflowTest, ApprovalBindsToWhatWasReviewed) {
  int64_t id = SeedPending(*db_, {.users = {"alice"}});
  Binding b = BindingOf(id);
  b.new_oid = "9999999999999999999999999999999999999999";
  auto d = Approve(*db_, settings_, id, {"alice", {}}, b, "");
  EXPECT_EQ(d.status().code(), Code::kConflict);
  b = BindingOf(id);
  b.ref = "refs/heads/main";
  EXPECT_EQ(Approve(*db_, settings_, id, {"alice", {}}, b, "").status().code(), Code::kConflict);
  EXPECT_EQ(StatusOf(*db_, id), "pending");
  EXPECT_EQ(CountRows(*db_, "SELECT COUNT(*) FROM approvals"), 0);
}

TEST_F(WorkflowTest, UnknownAndUndecidableRequests) {
  auto unknown = Approve(*db_, settings_, 4242, {"alice", {}}, {"r", "o", "n"}, "");
  EXPECT_EQ(unknown.status().code(), Code::kNotFound);
  EXPECT_EQ(unknown.status().message(),
            "alice is not a reviewer of request 4242 and may not see it, or there is no "
            "request 4242");
  int64_t id = SeedPending(*db_, {.users = {"alice"}});
  ASSERT_TRUE(ApproveAs(id, "alice").ok());
  auto again = ApproveAs(id, "alice");
  EXPECT_EQ(again.status().code(), Code::kFailedPrecondition);
  EXPECT_TRUE(IsRefusal(again.status().code()));
  EXPECT_FALSE(IsRefusal(Code::kUnavailable));
  EXPECT_FALSE(IsRefusal(Code::kCorruption));
}

TEST_F(WorkflowTest, RetryOnlyFailed) {
  int64_t id = SeedPending(*db_, {.users = {"alice"}});
  EXPECT_EQ(Retry(*db_, settings_, id, {"alice", {}}).status().code(), Code::kFailedPrecondition);
  ASSERT_TRUE(db_->Exec("UPDATE requests SET status='failed', replay_attempts=8, "
                        "next_attempt_at=99 WHERE id=" + std::to_string(id)).ok());
  EXPECT_EQ(Retry(*db_, settings_, id, {"mallory", {}}).status().code(), Code::kNotFound);
  auto d = Retry(*db_, settings_, id, {"alice", {}});
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  auto r = store::GetRequest(*db_, id);
  EXPECT_EQ(r->status, store::RequestStatus::kApproved);
  EXPECT_EQ(r->replay_attempts, 0);
  EXPECT_EQ(r->next_attempt_at, 0);
  ASSERT_TRUE(db_->Exec("UPDATE requests SET status='conflict' WHERE id=" + std::to_string(id)).ok());
  auto c = Retry(*db_, settings_, id, {"alice", {}});
  EXPECT_EQ(c.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(c.status().message().find("re-push"), std::string::npos);
}

TEST_F(WorkflowTest, LockedDatabaseIsASystemErrorAndWritesNothing) {
  int64_t id = SeedPending(*db_, {.users = {"alice"}});
  store::DbOptions quick;
  quick.busy_timeout_ms = 100;
  auto other = store::Db::Open(dir_ / "agentgate.db", quick);
  ASSERT_TRUE(other.ok());
  ASSERT_TRUE(db_->Exec("BEGIN IMMEDIATE").ok());  // another writer holds the lock
  auto d = Approve(**other, settings_, id, {"alice", {}}, {"refs/heads/agent/x",
      "0000000000000000000000000000000000000000", "1111111111111111111111111111111111111111"}, "");
  EXPECT_EQ(d.status().code(), Code::kUnavailable) << d.status().ToString();
  EXPECT_FALSE(IsRefusal(d.status().code()));
  ASSERT_TRUE(db_->Exec("ROLLBACK").ok());
  EXPECT_EQ(StatusOf(*db_, id), "pending");
  EXPECT_EQ(CountRows(*db_, "SELECT COUNT(*) FROM approvals"), 0);
}

TEST_F(WorkflowTest, DecisionsPublishStateRefs) {
  auto repo = ag::testing::MakeRepo(dir_.path());
  settings_.repo_paths["demo"] = repo.path;
  int64_t id = SeedPending(*db_, {.old_oid = repo.base, .new_oid = repo.tip, .users = {"alice"}});
  ASSERT_TRUE(ApproveAs(id, "alice").ok());
  std::string out;
  ag::testing::Sh("git -C " + repo.path + " for-each-ref --format='%(refname) %(objectname)' "
                  "refs/agentgate/state/", &out);
  EXPECT_EQ(out, "refs/agentgate/state/" + std::to_string(id) + "/approved " + repo.tip + "\n");
}

}  // namespace
}  // namespace ag::review
