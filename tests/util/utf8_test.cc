#include "util/utf8.h"

#include <gtest/gtest.h>

#include <string>

namespace ag {
namespace {

TEST(Utf8Test, AcceptsWellFormedText) {
  for (std::string s : {std::string(), std::string("refs/heads/agent/x"), std::string("ünï-côdé#1"),
                        std::string("日本語"), std::string("\xF0\x9F\x98\x80"), std::string("a\0b", 3)}) {
    EXPECT_TRUE(IsUtf8(s)) << s;
  }
}

TEST(Utf8Test, RefusesMalformedBytes) {
  for (const char* s : {"a\xff/b",              // never valid
                        "\xC3",                 // truncated at the end
                        "\xE6\x97",             // truncated three-byte form
                        "\xC0\xAF",             // overlong '/'
                        "\xE0\x80\xAF",         // overlong '/'
                        "\xED\xA0\x80",         // a surrogate
                        "\xF4\x90\x80\x80",     // past U+10FFFF
                        "\xC3\x28",             // bad continuation
                        "\x80"}) {              // continuation without a lead
    EXPECT_FALSE(IsUtf8(s)) << ::testing::PrintToString(std::string(s));
  }
}

}  // namespace
}  // namespace ag
