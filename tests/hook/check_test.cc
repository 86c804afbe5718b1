#include "check/check.h"

#include <gtest/gtest.h>

namespace ag::check {
namespace {

TEST(SymlinkEscapesTest, Table) {
  struct Case {
    const char* link;
    const char* target;
    bool escapes;
  } cases[] = {
      {"docs/alias.md", "guide.md", false},
      {"docs/alias.md", "../README.md", false},
      {"docs/alias.md", "../../etc/passwd", true},
      {"a", "/etc/passwd", true},
      {"a/b/c", "../../x", false},
      {"a/b/c", "../../../x", true},
      {"a/b/c", "./../.././../x", true},
      {"a/b/c", "d/../../../x", false},
      {"link", "..", true},
      {"link", "", false},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(SymlinkEscapes(c.link, c.target), c.escapes) << c.link << " -> " << c.target;
  }
}

TEST(RefUpdatesTest, ParsesAndRejectsMalformedInput) {
  std::string zero(40, '0'), a(40, 'a');
  auto ok = git::ParseRefUpdates(zero + " " + a + " refs/heads/x\n\n", 10);
  ASSERT_TRUE(ok.ok());
  ASSERT_EQ(ok->size(), 1u);
  EXPECT_TRUE((*ok)[0].is_create());
  EXPECT_FALSE((*ok)[0].is_delete());
  EXPECT_FALSE(git::ParseRefUpdates("garbage\n", 10).ok());
  EXPECT_FALSE(git::ParseRefUpdates(zero + " xyz refs/heads/x\n", 10).ok());
  std::string many;
  for (int i = 0; i < 3; ++i) many += zero + " " + a + " refs/heads/x" + std::to_string(i) + "\n";
  EXPECT_EQ(git::ParseRefUpdates(many, 2).status().code(), Code::kResourceExhausted);
}

}  // namespace
}  // namespace ag::check
