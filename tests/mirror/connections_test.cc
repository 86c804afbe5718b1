#include "mirror/connections.h"

#include <gtest/gtest.h>

namespace ag::mirror {
namespace {

using Verdict = ConnectionTable::Admission;

TEST(ConnectionTableTest, AdmitsUnderTheCaps) {
  ConnectionTable t({4, 2});
  EXPECT_EQ(t.Admit("a").verdict, Verdict::kAdmit);
  t.Add("a");
  EXPECT_EQ(t.Admit("a").verdict, Verdict::kAdmit);
  t.Add("a");
  EXPECT_EQ(t.size(), 2u);
  EXPECT_EQ(t.CountFor("a"), 2u);
  EXPECT_EQ(t.Admit("b").verdict, Verdict::kAdmit);
}

TEST(ConnectionTableTest, PerAddressCapShedsThatAddressesOldestIdle) {
  ConnectionTable t({10, 2});
  ConnectionTable::Id other = t.Add("b");
  ConnectionTable::Id a1 = t.Add("a");
  ConnectionTable::Id a2 = t.Add("a");
  (void)other;
  ConnectionTable::Admission adm = t.Admit("a");
  EXPECT_EQ(adm.verdict, Verdict::kShedThenAdmit);
  EXPECT_EQ(adm.victim, a1);  // not b's, though older
  // a1 becomes busy: a2 is the oldest idle one of a.
  t.SetIdle(a1, false);
  EXPECT_EQ(t.Admit("a").victim, a2);
  // Both busy: refused.
  t.SetIdle(a2, false);
  EXPECT_EQ(t.Admit("a").verdict, Verdict::kRefuse);
  // Idle again (after a response): sheddable, newest idle last.
  t.SetIdle(a1, true);
  t.SetIdle(a2, true);
  EXPECT_EQ(t.Admit("a").victim, a1);
  t.Remove(a1);
  EXPECT_EQ(t.Admit("a").verdict, Verdict::kAdmit);
}

TEST(ConnectionTableTest, TotalCapShedsTheOldestIdleOverall) {
  ConnectionTable t({3, 3});
  ConnectionTable::Id b = t.Add("b");
  ConnectionTable::Id a = t.Add("a");
  ConnectionTable::Id c = t.Add("c");
  EXPECT_EQ(t.Admit("d").victim, b);
  t.SetIdle(b, false);
  EXPECT_EQ(t.Admit("d").victim, a);
  t.SetIdle(a, false);
  t.SetIdle(c, false);
  EXPECT_EQ(t.Admit("d").verdict, Verdict::kRefuse);
  EXPECT_EQ(t.OldestIdle(), 0u);
  t.Remove(b);
  t.Remove(b);  // twice: ignored
  EXPECT_EQ(t.size(), 2u);
  EXPECT_EQ(t.Admit("d").verdict, Verdict::kAdmit);
  t.Remove(a);
  t.Remove(c);
  EXPECT_EQ(t.size(), 0u);
  EXPECT_EQ(t.CountFor("a"), 0u);
}

TEST(LogThrottleTest, OneLinePerBurstThenSummaries) {
  using Clock = LogThrottle::Clock;
  LogThrottle t(std::chrono::seconds(10));
  Clock::time_point t0 = Clock::now();
  EXPECT_FALSE(t.active());
  EXPECT_TRUE(t.Note("shed", t0));  // first of a burst: logged
  for (int i = 0; i < 1000; ++i) EXPECT_FALSE(t.Note("shed", t0 + std::chrono::milliseconds(i)));
  EXPECT_TRUE(t.Note("refused", t0));  // another event has its own burst
  EXPECT_TRUE(t.active());
  EXPECT_TRUE(t.Due(t0 + std::chrono::seconds(5)).empty());  // window not over
  auto due = t.Due(t0 + std::chrono::seconds(10));
  ASSERT_EQ(due.size(), 1u);  // "refused" had nothing more: its burst ends
  EXPECT_EQ(due[0].first, "shed");
  EXPECT_EQ(due[0].second, 1000u);
  EXPECT_FALSE(t.Note("shed", t0 + std::chrono::seconds(11)));    // still the same burst
  EXPECT_TRUE(t.Note("refused", t0 + std::chrono::seconds(11)));  // a new burst
  due = t.Due(t0 + std::chrono::seconds(20));
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].second, 1u);
  EXPECT_TRUE(t.Due(t0 + std::chrono::seconds(30)).empty());  // quiet: bursts end
  EXPECT_FALSE(t.active());
  EXPECT_TRUE(t.Note("shed", t0 + std::chrono::seconds(31)));
}

}  // namespace
}  // namespace ag::mirror
