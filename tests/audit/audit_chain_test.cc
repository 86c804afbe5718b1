// The chain and its anchor: tampering with, deleting or truncating rows is
// named by VerifyChain; the anchor is signed and never moves backwards.
#include <gtest/gtest.h>

#include <fstream>

#include "audit/anchor.h"
#include "audit/time_spec.h"
#include "audit_fixture.h"
#include "util/file.h"
#include "util/time.h"

namespace ag::audit {
namespace {

class ChainTest : public testing::AuditFixture {
 protected:
  void Fill(int n) {
    for (int i = 0; i < n; ++i) Append("test.event", "{\"i\":" + std::to_string(i) + "}");
  }
  ChainReport Check(bool with_anchor = true) {
    VerifyOptions o;
    if (with_anchor) {
      o.anchor_path = AnchorPath(dir_);
      o.key = key_;
    }
    auto r = VerifyChain(*db_, o);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : ChainReport{};
  }
  std::string key_ = std::string(32, 'k');
};

TEST_F(ChainTest, IntactChainReportsRowsAndHead) {
  Fill(5);
  ChainReport r = Check();
  EXPECT_TRUE(r.intact) << r.reason;
  EXPECT_EQ(r.rows, 5);
  EXPECT_EQ(r.head.seq, 5);
  EXPECT_EQ(r.head.hash.size(), 64u);
  EXPECT_NE(r.notes.find("no anchor"), std::string::npos);
}

TEST_F(ChainTest, EmptyChainIsIntact) {
  ChainReport r = Check();
  EXPECT_TRUE(r.intact);
  EXPECT_EQ(r.rows, 0);
}

TEST_F(ChainTest, AlteredRowIsNamed) {
  Fill(6);
  Tamper("UPDATE audit SET actor = 'mallory' WHERE seq = 3");
  ChainReport r = Check();
  EXPECT_FALSE(r.intact);
  ASSERT_TRUE(r.first_broken_seq);
  EXPECT_EQ(*r.first_broken_seq, 3);
  EXPECT_NE(r.reason.find("altered"), std::string::npos) << r.reason;
}

TEST_F(ChainTest, AlteredRowWithRecomputedHashBreaksTheNextLink) {
  Fill(6);
  // The attacker recomputes row 3's own hash; row 4 no longer links to it.
  store::AuditEvent e;
  {
    auto q = db_->Prepare("SELECT seq, at, kind, actor, repo, data_json, prev_hash FROM audit "
                          "WHERE seq = 3");
    ASSERT_TRUE(q.ok());
    ASSERT_TRUE(*q->Step());
    e.seq = q->Int(0);
    e.at = q->Int(1);
    e.kind = q->Text(2);
    e.actor = "mallory";
    e.repo = q->Text(4);
    e.data_json = q->Text(5);
    e.prev_hash = q->Text(6);
  }
  Tamper("UPDATE audit SET actor = 'mallory', hash = '" + store::AuditHash(e) +
         "' WHERE seq = 3");
  ChainReport r = Check();
  EXPECT_FALSE(r.intact);
  EXPECT_EQ(r.first_broken_seq.value_or(0), 4);
  EXPECT_NE(r.reason.find("does not link"), std::string::npos) << r.reason;
}

TEST_F(ChainTest, DeletedRowIsNamed) {
  Fill(6);
  Tamper("DELETE FROM audit WHERE seq = 4");
  ChainReport r = Check();
  EXPECT_FALSE(r.intact);
  EXPECT_EQ(r.first_broken_seq.value_or(0), 4);
  EXPECT_NE(r.reason.find("row 4 is missing"), std::string::npos) << r.reason;
}

TEST_F(ChainTest, DeletedFirstRowIsNamed) {
  Fill(3);
  Tamper("DELETE FROM audit WHERE seq = 1");
  ChainReport r = Check();
  EXPECT_FALSE(r.intact);
  EXPECT_EQ(r.first_broken_seq.value_or(0), 1);
  EXPECT_NE(r.reason.find("row 1 is missing"), std::string::npos) << r.reason;
}

TEST_F(ChainTest, TruncationIsInvisibleWithoutAnchorAndCaughtWithIt) {
  Fill(6);
  auto a = WriteAnchor(*db_, AnchorPath(dir_), key_, 1000);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->seq, 6);
  Tamper("DELETE FROM audit WHERE seq >= 5");
  EXPECT_TRUE(Check(/*with_anchor=*/false).intact);  // what a pure chain sees
  ChainReport r = Check();
  EXPECT_FALSE(r.intact);
  EXPECT_EQ(r.first_broken_seq.value_or(0), 5);
  EXPECT_NE(r.reason.find("rows 5..6 are missing"), std::string::npos) << r.reason;
}

TEST_F(ChainTest, RowsAfterTheAnchorAreFine) {
  Fill(3);
  ASSERT_TRUE(WriteAnchor(*db_, AnchorPath(dir_), key_, 1000).ok());
  Fill(4);
  ChainReport r = Check();
  EXPECT_TRUE(r.intact) << r.reason;
  ASSERT_TRUE(r.anchor);
  EXPECT_EQ(r.anchor->seq, 3);
}

TEST_F(ChainTest, RewrittenChainDiffersFromTheAnchor) {
  Fill(4);
  ASSERT_TRUE(WriteAnchor(*db_, AnchorPath(dir_), key_, 1000).ok());
  // Rebuild the whole table with different content but a valid chain.
  Tamper("DELETE FROM audit");
  for (int i = 0; i < 5; ++i) Append("forged");
  ChainReport r = Check();
  EXPECT_FALSE(r.intact);
  EXPECT_EQ(r.first_broken_seq.value_or(0), 4);
  EXPECT_NE(r.reason.find("differs from the anchor"), std::string::npos) << r.reason;
}

TEST_F(ChainTest, ForgedAnchorDoesNotVerify) {
  Fill(4);
  ASSERT_TRUE(WriteAnchor(*db_, AnchorPath(dir_), key_, 1000).ok());
  auto text = ReadFile(AnchorPath(dir_));
  ASSERT_TRUE(text.ok());
  std::string forged = *text;
  forged.replace(forged.find("\"seq\":4"), 7, "\"seq\":2");
  ASSERT_TRUE(WriteFileAtomic(AnchorPath(dir_), forged).ok());
  ChainReport r = Check();
  EXPECT_FALSE(r.intact);
  EXPECT_NE(r.reason.find("does not verify"), std::string::npos) << r.reason;
  // Same with the wrong key.
  ASSERT_TRUE(WriteFileAtomic(AnchorPath(dir_), *text).ok());
  key_ = std::string(32, 'x');
  EXPECT_FALSE(Check().intact);
}

TEST_F(ChainTest, AnchorNeverMovesBackwards) {
  Fill(5);
  ASSERT_TRUE(WriteAnchor(*db_, AnchorPath(dir_), key_, 1000).ok());
  auto before = ReadFile(AnchorPath(dir_));
  Tamper("DELETE FROM audit WHERE seq = 5");
  auto again = WriteAnchor(*db_, AnchorPath(dir_), key_, 2000);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), Code::kFailedPrecondition);
  EXPECT_EQ(*ReadFile(AnchorPath(dir_)), *before);
}

TEST_F(ChainTest, AnchorRefusesABrokenChain) {
  Fill(3);
  Tamper("UPDATE audit SET kind = 'x' WHERE seq = 2");
  auto a = WriteAnchor(*db_, AnchorPath(dir_), key_, 1000);
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.status().message().find("row 2"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(AnchorPath(dir_)));
}

TEST_F(ChainTest, ExpectedHeadFromElsewhere) {
  Fill(5);
  ChainReport full = Check();
  ChainHead h{5, full.head.hash.substr(0, 16)};
  Tamper("DELETE FROM audit WHERE seq = 5");
  VerifyOptions o;
  o.expected = h;
  auto r = VerifyChain(*db_, o);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->intact);
  EXPECT_EQ(r->first_broken_seq.value_or(0), 5);
}

TEST(ParseHead, Forms) {
  EXPECT_TRUE(ParseHead("12:0123456789abcdef").ok());
  EXPECT_FALSE(ParseHead("12").ok());
  EXPECT_FALSE(ParseHead("x:0123456789abcdef").ok());
  EXPECT_FALSE(ParseHead("12:0123").ok());
  EXPECT_FALSE(ParseHead("12:0123456789ABCDEZ").ok());
}

TEST(TimeSpec, DurationsAndInstants) {
  EXPECT_EQ(*ParseDuration("45s"), 45);
  EXPECT_EQ(*ParseDuration("30m"), 1800);
  EXPECT_EQ(*ParseDuration("24h"), 86400);
  EXPECT_EQ(*ParseDuration("90d"), 90 * 86400);
  EXPECT_EQ(*ParseDuration("2w"), 14 * 86400);
  EXPECT_EQ(*ParseDuration("60"), 60);
  for (const char* bad : {"", "d", "5y", "-5d", "5dd", "99999999999999999999d"}) {
    EXPECT_FALSE(ParseDuration(bad).ok()) << bad;
  }
  EXPECT_EQ(*ParseTimeSpec("24h", 100000), 100000 - 86400);
  EXPECT_EQ(*ParseTimeSpec("1970-01-02", 0), 86400);
  EXPECT_EQ(*ParseTimeSpec("2026-01-02T03:04:05Z", 0), 1767323045);
  EXPECT_EQ(*ParseTimeSpec("2026-01-02T05:04:05+02:00", 0), 1767323045);
  EXPECT_EQ(*ParseTimeSpec("2026-01-02T03:04:05.123Z", 0), 1767323045);
  EXPECT_EQ(IsoUtc(1767323045), "2026-01-02T03:04:05Z");
  for (const char* bad : {"2026-13-02", "2026-01-02T25:00Z", "2026-01-02X", "2026-01-02T03:04:05+2"}) {
    EXPECT_FALSE(ParseTimeSpec(bad, 0).ok()) << bad;
  }
}

}  // namespace
}  // namespace ag::audit
