// The kill switch's control commands (store/freezes.h), called as the
// control server would with peers that are not root: who may freeze, who
// may thaw, and what each writes. End to end: tests/e2e/freeze_test.cc.
#include <gtest/gtest.h>

#include "control/handlers.h"
#include "review/review_support.h"
#include "store/audit.h"
#include "store/freezes.h"

namespace ag::control {
namespace {

using nlohmann::json;
using ag::testing::TempDir;

class FreezeCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = store::Db::Open(dir_ / "agentgate.db");
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = std::move(*db);
    settings_.default_reviewers.users = {"alice"};
    settings_.admins.groups = {"ops"};
    reviewers_.Add(settings_.default_reviewers);
    ctx_.settings = &settings_;
    ctx_.reviewers = &reviewers_;
  }
  // A peer that is neither root nor this process's account.
  static Peer As(const std::string& user, std::vector<std::string> groups = {}) {
    Peer p;
    p.uid = 4242;
    p.user = user;
    p.groups = std::move(groups);
    return p;
  }
  json Run(const Peer& p, json req) { return HandleRequest(*db_, ctx_, p, req); }
  static bool Ok(const json& r) { return r.value("ok", false); }
  int64_t AuditRows(const std::string& kind) {
    auto q = db_->Prepare("SELECT count(*) FROM audit WHERE kind = ?");
    EXPECT_TRUE(q.ok());
    q->Bind(1, kind);
    EXPECT_TRUE(*q->Step());
    return q->Int(0);
  }

  TempDir dir_{"ag-freeze"};
  std::unique_ptr<store::Db> db_;
  review::ReviewSettings settings_;
  ReviewerAccounts reviewers_;
  HandlerContext ctx_;
};

TEST_F(FreezeCommandTest, ReviewersFreezeOnlyAdminsAndRootThaw) {
  const json freeze = {{"cmd", "freeze"}, {"scope", "identity"}, {"name", "agent-7"},
                       {"reason", "looping"}};
  const json thaw = {{"cmd", "thaw"}, {"scope", "identity"}, {"name", "agent-7"}};
  // An account that reviews nothing may neither freeze nor list freezes.
  json refused = Run(As("mallory"), freeze);
  EXPECT_FALSE(Ok(refused)) << refused.dump();
  EXPECT_FALSE(Ok(Run(As("mallory"), {{"cmd", "freezes"}})));
  EXPECT_EQ(AuditRows("freeze"), 0);

  // A reviewer freezes; the freeze is listed and audited.
  ASSERT_TRUE(Ok(Run(As("alice"), freeze)));
  json listed = Run(As("alice"), {{"cmd", "freezes"}});
  ASSERT_TRUE(Ok(listed)) << listed.dump();
  ASSERT_EQ(listed["result"].size(), 1u);
  EXPECT_EQ(listed["result"][0]["name"], "agent-7");
  EXPECT_EQ(listed["result"][0]["by"], "alice");
  EXPECT_EQ(AuditRows("freeze"), 1);

  // A reviewer may not thaw (so an agent that gets a reviewer's account
  // cannot undo an admin's freeze either), a policy admin may.
  EXPECT_FALSE(Ok(Run(As("alice"), thaw)));
  EXPECT_FALSE(Ok(Run(As("mallory"), thaw)));
  EXPECT_EQ(AuditRows("thaw"), 0);
  ASSERT_TRUE(Ok(Run(As("bob", {"ops"}), thaw)));
  EXPECT_EQ(AuditRows("thaw"), 1);
  auto left = store::ListFreezes(*db_);
  ASSERT_TRUE(left.ok());
  EXPECT_TRUE(left->empty());
  // Thawing what is not frozen says so.
  json again = Run(As("bob", {"ops"}), thaw);
  EXPECT_FALSE(Ok(again));
  EXPECT_NE(again.dump().find("not frozen"), std::string::npos) << again.dump();
  auto verified = store::VerifyAudit(*db_);
  ASSERT_TRUE(verified.ok());
  EXPECT_FALSE(verified->first_broken_seq);
}

TEST_F(FreezeCommandTest, BadRequestsAreRefused) {
  for (const json& bad : {json{{"cmd", "freeze"}, {"scope", "identity"}, {"name", "a"}},
                          json{{"cmd", "freeze"}, {"scope", "identity"}, {"reason", "x"}},
                          json{{"cmd", "freeze"}, {"scope", "planet"}, {"name", "a"}, {"reason", "x"}},
                          json{{"cmd", "freeze"}, {"scope", "identity"}, {"name", "a"}, {"reason", ""}},
                          json{{"cmd", "freeze"}, {"scope", "group"}, {"name", std::string(2000, 'g')},
                               {"reason", "x"}}}) {
    EXPECT_FALSE(Ok(Run(As("alice"), bad))) << bad.dump();
  }
  EXPECT_EQ(AuditRows("freeze"), 0);
}

TEST(FreezeForTest, EveryoneThenIdentityThenGroup) {
  std::vector<store::Freeze> none;
  EXPECT_FALSE(store::FreezeFor(none, "a", {"g"}));
  store::Freeze group{store::FreezeScope::kGroup, "g", "r1", "x", 0};
  store::Freeze identity{store::FreezeScope::kIdentity, "a", "r2", "x", 0};
  store::Freeze all{store::FreezeScope::kAll, "*", "r3", "x", 0};
  EXPECT_EQ(store::FreezeFor({group}, "a", {"h", "g"})->reason, "r1");
  EXPECT_FALSE(store::FreezeFor({group}, "a", {"h"}));
  EXPECT_FALSE(store::FreezeFor({identity}, "b", {"g"}));
  EXPECT_EQ(store::FreezeFor({group, identity}, "a", {"g"})->reason, "r2");
  EXPECT_EQ(store::FreezeFor({group, identity, all}, "z", {})->reason, "r3");
}

}  // namespace
}  // namespace ag::control
