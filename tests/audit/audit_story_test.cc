// `audit show`: the story of one request carries identity, push options,
// commits, masked findings, reviews with comments and every event in order.
#include <gtest/gtest.h>

#include "audit/story.h"
#include "audit_fixture.h"

namespace ag::audit {
namespace {

class StoryTest : public testing::AuditFixture {
 protected:
  void Review(int64_t id, const std::string& who, const std::string& verdict,
              const std::string& comment, int64_t at) {
    auto q = db_->Prepare("INSERT INTO approvals (request_id, reviewer, verdict, comment, ref, "
                          "old_oid, new_oid, at) VALUES (?,?,?,?,?,?,?,?)");
    ASSERT_TRUE(q.ok());
    q->Bind(1, id).Bind(2, who).Bind(3, verdict).Bind(4, comment).Bind(5, "refs/heads/main")
        .Bind(6, std::string(40, 'a')).Bind(7, std::string(40, 'b')).Bind(8, at);
    ASSERT_TRUE(q->Run().ok());
  }
};

TEST_F(StoryTest, TellsTheWholeStoryInOrder) {
  // The hook's decision row comes first, without a request id.
  Append("push.decision",
         R"({"ref":"refs/heads/main","old":")" + std::string(40, 'a') + R"(","new":")" +
             std::string(40, 'b') + R"(","outcome":"hold"})");
  Append("push.decision", R"({"new":")" + std::string(40, 'e') + R"("})");  // another push
  int64_t id = AddRequest();
  int64_t other = AddRequest("demo", "refs/heads/dev", std::string(40, 'c'));
  Review(id, "alice", "approve", "looks fine, key is a test fixture", store::NowSeconds());
  ASSERT_TRUE(store::TransitionRequest(*db_, id, store::RequestStatus::kPending,
                                       store::RequestStatus::kApproved, "alice", "quorum 1/1",
                                       "request.approved").ok());
  ASSERT_TRUE(store::TransitionRequest(*db_, id, store::RequestStatus::kApproved,
                                       store::RequestStatus::kReplaying, "agentgate", "attempt 1",
                                       "replay.started").ok());
  ASSERT_TRUE(store::TransitionRequest(*db_, id, store::RequestStatus::kReplaying,
                                       store::RequestStatus::kReplayed, "agentgate",
                                       "upstream at new", "replay.done").ok());

  auto s = LoadStory(*db_, id);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  std::vector<std::string> kinds;
  for (const auto& e : s->events) kinds.push_back(e.kind);
  EXPECT_EQ(kinds, (std::vector<std::string>{"push.decision", "request.created",
                                             "request.pending", "request.approved",
                                             "replay.started", "replay.done"}));
  for (size_t i = 1; i < s->events.size(); ++i) EXPECT_LT(s->events[i - 1].seq, s->events[i].seq);
  for (const auto& e : s->events) {
    if (e.request_id) EXPECT_NE(*e.request_id, other);
  }

  std::string text = RenderStoryText(*s);
  for (const char* want : {"agent-ci", "token", "task=JIRA-42", "prompt=https://example.test/p/1",
                           "bbbbbbbbbbbb", "aws-access-key-id", "cfg.env:3", "AKIA****",
                           "alice", "looks fine", "replay.done", "replayed", "request.approved"}) {
    EXPECT_NE(text.find(want), std::string::npos) << want << "\n" << text;
  }

  nlohmann::ordered_json j = StoryJson(*s);
  EXPECT_EQ(j["id"], id);
  EXPECT_EQ(j["status"], "replayed");
  EXPECT_EQ(j["identity"]["identity"], "agent-ci");
  EXPECT_EQ(j["identity"]["claims"]["sub"], "agent-ci");
  EXPECT_EQ(j["push_options"][0], "task=JIRA-42");
  EXPECT_EQ(j["commits"][0], std::string(40, 'b'));
  EXPECT_EQ(j["findings"][0]["masked"], "AKIA****");
  EXPECT_EQ(j["reviews"][0]["reviewer"], "alice");
  EXPECT_EQ(j["reviews"][0]["comment"], "looks fine, key is a test fixture");
  EXPECT_EQ(j["events"].size(), 6u);
}

TEST_F(StoryTest, ShowsOnlyTheSafeFieldsOfAFinding) {
  int64_t id = AddRequest();
  // A careless writer stored an extra field holding a value: not shown.
  auto q = db_->Prepare("UPDATE requests SET findings_json = ? WHERE id = ?");
  ASSERT_TRUE(q.ok());
  q->Bind(1, R"([{"rule_id":"generic","path":"a","line":1,"secret":"hunter2-full-value"}])")
      .Bind(2, id);
  ASSERT_TRUE(q->Run().ok());
  auto s = LoadStory(*db_, id);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(RenderStoryText(*s).find("hunter2"), std::string::npos);
  EXPECT_EQ(StoryJson(*s).dump().find("hunter2"), std::string::npos);
  EXPECT_NE(RenderStoryText(*s).find("****"), std::string::npos);
}

TEST_F(StoryTest, UnknownRequestIsNotFound) {
  auto s = LoadStory(*db_, 99);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), Code::kNotFound);
}

}  // namespace
}  // namespace ag::audit
