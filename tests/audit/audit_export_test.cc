// Export: JSON Lines, one object per row, filters, and a round trip back to
// rows whose hashes verify.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "audit/export.h"
#include "audit_fixture.h"

namespace ag::audit {
namespace {

class ExportTest : public testing::AuditFixture {
 protected:
  std::vector<std::string> Lines(const ExportOptions& o, int64_t* count = nullptr) {
    std::ostringstream out;
    auto n = ExportAudit(*db_, o, out);
    EXPECT_TRUE(n.ok()) << n.status().ToString();
    if (count) *count = n.ok() ? *n : -1;
    std::vector<std::string> lines;
    std::istringstream in(out.str());
    for (std::string l; std::getline(in, l);) lines.push_back(l);
    return lines;
  }
  std::vector<store::AuditEvent> Rows() {
    std::vector<store::AuditEvent> rows;
    auto q = db_->Prepare("SELECT seq, at, kind, actor, repo, request_id, data_json, prev_hash, "
                          "hash FROM audit ORDER BY seq");
    EXPECT_TRUE(q.ok());
    while (*q->Step()) {
      store::AuditEvent e;
      e.seq = q->Int(0);
      e.at = q->Int(1);
      e.kind = q->Text(2);
      e.actor = q->Text(3);
      e.repo = q->Text(4);
      if (!q->IsNull(5)) e.request_id = q->Int(5);
      e.data_json = q->Text(6);
      e.prev_hash = q->Text(7);
      e.hash = q->Text(8);
      rows.push_back(e);
    }
    return rows;
  }
};

TEST_F(ExportTest, RoundTripsEveryRowAndItsHash) {
  AddRequest("demo");
  AddRequest("other", "refs/heads/dev", std::string(40, 'c'));
  // Stored text that a re-serialisation would not reproduce: spaces, key
  // order, unicode escapes, and a non-JSON value.
  Append("odd.spacing", R"({ "b": 1,  "a": [1, 2] })");
  Append("odd.escape", R"({"s":"caf\u00e9 \/ x"})");
  Append("odd.notjson", "not json at all");
  int64_t count = 0;
  std::vector<std::string> lines = Lines({}, &count);
  std::vector<store::AuditEvent> rows = Rows();
  ASSERT_EQ(count, static_cast<int64_t>(rows.size()));
  ASSERT_EQ(lines.size(), rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    nlohmann::json j = nlohmann::json::parse(lines[i]);
    for (const char* k : {"seq", "at", "kind", "actor", "repo", "request_id", "data", "prev_hash",
                          "hash"}) {
      EXPECT_TRUE(j.contains(k)) << k << " in " << lines[i];
    }
    EXPECT_TRUE(j["at"].get<std::string>().ends_with("Z"));
    auto back = ParseExportLine(lines[i]);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(back->seq, rows[i].seq);
    EXPECT_EQ(back->at, rows[i].at);
    EXPECT_EQ(back->kind, rows[i].kind);
    EXPECT_EQ(back->actor, rows[i].actor);
    EXPECT_EQ(back->repo, rows[i].repo);
    EXPECT_EQ(back->request_id, rows[i].request_id);
    EXPECT_EQ(back->data_json, rows[i].data_json) << lines[i];
    EXPECT_EQ(back->prev_hash, rows[i].prev_hash);
    EXPECT_EQ(store::AuditHash(*back), rows[i].hash) << "row " << rows[i].seq;
  }
  // data is a parsed object, not a string.
  nlohmann::json first = nlohmann::json::parse(lines[0]);
  EXPECT_TRUE(first["data"].is_object());
  EXPECT_EQ(first["kind"], "request.created");
  EXPECT_EQ(first["request_id"], 1);
}

TEST_F(ExportTest, FiltersByRepoSinceAndSeq) {
  AddRequest("demo");
  AddRequest("other", "refs/heads/dev", std::string(40, 'c'));
  for (const std::string& l : Lines({.repo = "other"})) {
    EXPECT_EQ(nlohmann::json::parse(l)["repo"], "other");
  }
  EXPECT_FALSE(Lines({.repo = "other"}).empty());
  EXPECT_TRUE(Lines({.since = store::NowSeconds() + 3600}).empty());
  EXPECT_EQ(Lines({.since = 0}).size(), Rows().size());
  std::vector<std::string> tail = Lines({.after_seq = 2});
  ASSERT_EQ(tail.size(), Rows().size() - 2);
  EXPECT_EQ(nlohmann::json::parse(tail[0])["seq"], 3);
}

TEST_F(ExportTest, TamperedLineNoLongerMatchesItsHash) {
  Append("x", R"({"who":"alice"})");
  std::vector<std::string> lines = Lines({});
  ASSERT_EQ(lines.size(), 1u);
  std::string forged = lines[0];
  forged.replace(forged.find("alice"), 5, "eve  ");
  auto back = ParseExportLine(forged);
  ASSERT_TRUE(back.ok());
  EXPECT_NE(store::AuditHash(*back), back->hash);
  EXPECT_FALSE(ParseExportLine("{\"seq\":1}").ok());
  EXPECT_FALSE(ParseExportLine("nope").ok());
}

}  // namespace
}  // namespace ag::audit
