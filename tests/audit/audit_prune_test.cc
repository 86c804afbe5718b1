// Retention: finished requests past the cutoff lose their pinned refs; the
// audit rows stay, an audit.pruned row records it, and the chain verifies.
#include <gtest/gtest.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "audit/anchor.h"
#include "audit/prune.h"
#include "audit_fixture.h"
#include "git/git.h"

namespace ag::audit {
namespace {

std::string Shell(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[256];
  while (std::fgets(buf, sizeof buf, p)) out += buf;
  ::pclose(p);
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

class PruneTest : public testing::AuditFixture {
 protected:
  void SetUp() override {
    AuditFixture::SetUp();
    repo_path_ = dir_ + "/repos/demo.git";
    std::string git = "git -c user.name=t -c user.email=t@t.test ";
    Shell("git init -q --bare -b main " + repo_path_);
    Shell(git + "init -q -b main " + dir_ + "/work && cd " + dir_ +
        "/work && echo one > a && git add a && " + git + "commit -q -m one && " + git +
        "push -q " + repo_path_ + " main");
    tip_ = Shell("git -C " + repo_path_ + " rev-parse main");
    ASSERT_EQ(tip_.size(), 40u);
  }

  void Pin(int64_t id, const std::string& status) {
    auto repo = git::OpenRepo(repo_path_);
    ASSERT_TRUE(repo.ok()) << repo.status().ToString();
    ASSERT_TRUE(git::PublishRequestState(repo->get(), id, status, tip_, true).ok());
  }
  std::string Refs() { return Shell("git -C " + repo_path_ + " for-each-ref --format='%(refname)'"); }

  std::string repo_path_, tip_;
};

TEST_F(PruneTest, PrunesOnlyFinishedRequestsPastTheCutoff) {
  int64_t done = AddRequest("demo", "refs/heads/main", std::string(40, 'b'));
  int64_t open = AddRequest("demo", "refs/heads/dev", std::string(40, 'c'));
  ASSERT_TRUE(store::TransitionRequest(*db_, done, store::RequestStatus::kPending,
                                       store::RequestStatus::kRejected, "alice", "no",
                                       "request.rejected").ok());
  Pin(done, "rejected");
  Pin(open, "pending");
  auto before = VerifyChain(*db_, {});
  ASSERT_TRUE(before.ok());

  // A cutoff in the past keeps everything.
  auto none = PruneRequests(*db_, {{"demo", repo_path_}}, {.cutoff = store::NowSeconds() - 3600});
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE((*none)[0].ids.empty());
  EXPECT_NE(Refs().find("refs/agentgate/requests/" + std::to_string(done)), std::string::npos);

  // Dry run: reports, changes nothing.
  PruneOptions o{.cutoff = store::NowSeconds() + 10, .actor = "ops"};
  o.dry_run = true;
  auto dry = PruneRequests(*db_, {{"demo", repo_path_}}, o);
  ASSERT_TRUE(dry.ok());
  EXPECT_EQ((*dry)[0].ids, std::vector<int64_t>{done});
  EXPECT_NE(Refs().find("refs/agentgate/requests/" + std::to_string(done)), std::string::npos);

  o.dry_run = false;
  auto out = PruneRequests(*db_, {{"demo", repo_path_}}, o);
  ASSERT_TRUE(out.ok());
  ASSERT_EQ(out->size(), 1u);
  const PrunedRepo& r = (*out)[0];
  EXPECT_TRUE(r.error.empty()) << r.error;
  EXPECT_EQ(r.ids, std::vector<int64_t>{done});
  EXPECT_EQ(r.refs_deleted, 2);  // the pin and the state ref
  EXPECT_GT(r.audit_seq, 0);

  std::string refs = Refs();
  EXPECT_EQ(refs.find("refs/agentgate/requests/" + std::to_string(done)), std::string::npos);
  EXPECT_EQ(refs.find("refs/agentgate/state/" + std::to_string(done) + "/"), std::string::npos);
  EXPECT_NE(refs.find("refs/agentgate/requests/" + std::to_string(open)), std::string::npos);
  EXPECT_NE(refs.find("refs/heads/main"), std::string::npos);

  // The audit row says what was pruned and links to the head it saw.
  auto q = db_->Prepare("SELECT kind, actor, repo, data_json, prev_hash FROM audit WHERE seq = ?");
  ASSERT_TRUE(q.ok());
  q->Bind(1, r.audit_seq);
  ASSERT_TRUE(*q->Step());
  EXPECT_EQ(q->Text(0), "audit.pruned");
  EXPECT_EQ(q->Text(1), "ops");
  EXPECT_EQ(q->Text(2), "demo");
  nlohmann::json d = nlohmann::json::parse(q->Text(3));
  EXPECT_EQ(d["ids"], nlohmann::json::array({done}));
  EXPECT_EQ(d["count"], 1);
  EXPECT_EQ(d["head_seq"], before->head.seq);
  EXPECT_EQ(d["head_hash"], before->head.hash);
  EXPECT_EQ(q->Text(4), before->head.hash);

  // Nothing was deleted from the audit; the chain verifies; the request row stays.
  auto after = VerifyChain(*db_, {});
  ASSERT_TRUE(after.ok());
  EXPECT_TRUE(after->intact) << after->reason;
  EXPECT_EQ(after->rows, before->rows + 1);
  EXPECT_TRUE(store::GetRequest(*db_, done).ok());

  // Idempotent: a second run finds nothing and writes no row.
  auto again = PruneRequests(*db_, {{"demo", repo_path_}}, o);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE((*again)[0].ids.empty());
  EXPECT_EQ((*again)[0].audit_seq, 0);
  EXPECT_EQ(VerifyChain(*db_, {})->rows, after->rows);
}

TEST_F(PruneTest, LeavesUnknownIdsAndOtherReposAlone) {
  int64_t id = AddRequest("other", "refs/heads/main", std::string(40, 'd'));
  ASSERT_TRUE(store::TransitionRequest(*db_, id, store::RequestStatus::kPending,
                                       store::RequestStatus::kRejected, "alice", "no",
                                       "request.rejected").ok());
  Pin(id, "rejected");   // pinned in demo.git but the request belongs to "other"
  Pin(4242, "replayed"); // unknown to the database
  auto out = PruneRequests(*db_, {{"demo", repo_path_}}, {.cutoff = store::NowSeconds() + 10});
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE((*out)[0].ids.empty());
  EXPECT_NE(Refs().find("refs/agentgate/requests/4242"), std::string::npos);
}

TEST_F(PruneTest, AMissingRepoIsReportedAndOthersStillRun) {
  int64_t id = AddRequest("demo");
  ASSERT_TRUE(store::TransitionRequest(*db_, id, store::RequestStatus::kPending,
                                       store::RequestStatus::kExpired, "agentgate", "ttl",
                                       "request.expired").ok());
  Pin(id, "expired");
  auto out = PruneRequests(*db_, {{"gone", dir_ + "/repos/gone.git"}, {"demo", repo_path_}},
                           {.cutoff = store::NowSeconds() + 10});
  ASSERT_TRUE(out.ok());
  ASSERT_EQ(out->size(), 2u);
  EXPECT_FALSE((*out)[0].error.empty());
  EXPECT_EQ((*out)[1].ids, std::vector<int64_t>{id});
}

TEST(FinalStatus, Table) {
  for (const char* s : {"replayed", "rejected", "expired", "superseded", "aborted", "failed",
                        "conflict"}) {
    EXPECT_TRUE(IsFinalStatus(s)) << s;
  }
  for (const char* s : {"incoming", "pending", "approved", "replaying"}) {
    EXPECT_FALSE(IsFinalStatus(s)) << s;
  }
}

}  // namespace
}  // namespace ag::audit
