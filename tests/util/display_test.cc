#include "util/display.h"

#include <gtest/gtest.h>

#include <string>

namespace ag {
namespace {

struct Case {
  std::string in;
  std::string out;
};

TEST(DisplayTest, EscapeForTerminal) {
  const Case cases[] = {
      {"", ""},
      {"plain ascii, punctuation: ~!@#$%^&*()[]{}", "plain ascii, punctuation: ~!@#$%^&*()[]{}"},
      {"caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x98\x80",  // é 日本 😀: unchanged
       "caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x98\x80"},
      {"a\tb", "a\tb"},                                  // a tab only moves right
      {"back\\slash", "back\\\\slash"},                  // so "\x1b" below is unambiguous
      {"\\x1b", "\\\\x1b"},                              // the text, not the byte
      // The attacks: overwrite, erase, hide.
      {"os.system(\"curl evil\")  \r# formatting only",
       "os.system(\"curl evil\")  \\r# formatting only"},
      {"\x1b[1A\x1b[2K", "\\x1b[1A\\x1b[2K"},
      {"\x1b[8mhidden\x1b[0m", "\\x1b[8mhidden\\x1b[0m"},
      {"one\ntwo", "one\\ntwo"},                         // a single-line field
      {std::string("nul\0end", 7), "nul\\x00end"},
      {"\x07\x08\x0b\x0c\x1f", "\\x07\\x08\\x0b\\x0c\\x1f"},
      {"del\x7f", "del\\x7f"},
      // C1 controls as UTF-8: NEL, CSI (an 8-bit ESC[), the last one.
      {"\xC2\x85", "\\u{85}"},
      {"\xC2\x9B" "2J", "\\u{9b}2J"},
      {"\xC2\x80\xC2\x9F", "\\u{80}\\u{9f}"},
      {"\xC2\xA0", "\xC2\xA0"},                          // U+00A0 is past the C1 range
      // Not UTF-8: each bad byte on its own.
      {"a\xFF" "b", "a\\xffb"},
      {"\xC3", "\\xc3"},                                 // cut short at the end
      {"\xC3(", "\\xc3("},                               // bad continuation
      {"\xE6\x97", "\\xe6\\x97"},
      {"\xC0\xAF", "\\xc0\\xaf"},                        // overlong '/'
      {"\xED\xA0\x80", "\\xed\\xa0\\x80"},               // a surrogate
      {"\xF4\x90\x80\x80", "\\xf4\\x90\\x80\\x80"},      // past U+10FFFF
      {"\x80", "\\x80"},                                 // continuation without a lead
      {"caf\xE9", "caf\\xe9"},                           // Latin-1
  };
  for (const Case& c : cases) {
    EXPECT_EQ(EscapeForTerminal(c.in), c.out) << ::testing::PrintToString(c.in);
  }
}

// Every bidirectional and invisible code point is shown by number, and
// reported by HasHiddenUnicode.
TEST(DisplayTest, BidiAndInvisibleCodePoints) {
  const Case cases[] = {
      {"\xC2\xAD", "\\u{ad}"},             // soft hyphen
      {"\xD8\x9C", "\\u{61c}"},            // ALM
      {"\xE1\xA0\x8E", "\\u{180e}"},
      {"\xE2\x80\x8B", "\\u{200b}"},       // ZWSP
      {"\xE2\x80\x8C", "\\u{200c}"},       // ZWNJ
      {"\xE2\x80\x8D", "\\u{200d}"},       // ZWJ
      {"\xE2\x80\x8E", "\\u{200e}"},       // LRM
      {"\xE2\x80\x8F", "\\u{200f}"},       // RLM
      {"\xE2\x80\xA8", "\\u{2028}"},       // line separator
      {"\xE2\x80\xA9", "\\u{2029}"},       // paragraph separator
      {"\xE2\x80\xAA", "\\u{202a}"},       // LRE
      {"\xE2\x80\xAB", "\\u{202b}"},       // RLE
      {"\xE2\x80\xAC", "\\u{202c}"},       // PDF
      {"\xE2\x80\xAD", "\\u{202d}"},       // LRO
      {"\xE2\x80\xAE", "\\u{202e}"},       // RLO
      {"\xE2\x81\xA0", "\\u{2060}"},       // word joiner
      {"\xE2\x81\xA4", "\\u{2064}"},
      {"\xE2\x81\xA6", "\\u{2066}"},       // LRI
      {"\xE2\x81\xA7", "\\u{2067}"},       // RLI
      {"\xE2\x81\xA8", "\\u{2068}"},       // FSI
      {"\xE2\x81\xA9", "\\u{2069}"},       // PDI
      {"\xEF\xBB\xBF", "\\u{feff}"},       // BOM / ZWNBSP
      {"\xF3\xA0\x80\x81", "\\u{e0001}"},  // language tag
      {"\xF3\xA0\x81\xBF", "\\u{e007f}"},  // cancel tag
  };
  for (const Case& c : cases) {
    EXPECT_EQ(EscapeForTerminal(c.in), c.out) << ::testing::PrintToString(c.in);
    EXPECT_TRUE(HasHiddenUnicode("x" + c.in)) << ::testing::PrintToString(c.in);
  }
  // Trojan Source: the comment hides the condition.
  EXPECT_EQ(EscapeForTerminal("if (ok) /*\xE2\x80\xAE } \xE2\x81\xA6if (admin)\xE2\x81\xA9 */"),
            "if (ok) /*\\u{202e} } \\u{2066}if (admin)\\u{2069} */");
  // Neighbours of the ranges are ordinary text.
  for (const char* s : {"\xE2\x80\x8A", "\xE2\x80\x90", "\xE2\x80\xA7", "\xE2\x80\xAF",
                        "\xE2\x81\xA5", "\xE2\x81\xAA", "\xEF\xBB\xBE", "\xF3\xA0\x82\x80"}) {
    EXPECT_EQ(EscapeForTerminal(s), s) << ::testing::PrintToString(std::string(s));
    EXPECT_FALSE(HasHiddenUnicode(s)) << ::testing::PrintToString(std::string(s));
  }
}

TEST(DisplayTest, HasHiddenUnicode) {
  EXPECT_FALSE(HasHiddenUnicode(""));
  EXPECT_FALSE(HasHiddenUnicode("caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC"));
  EXPECT_FALSE(HasHiddenUnicode("\x1b[8m\r\n"));               // controls are not "hidden unicode"
  EXPECT_FALSE(HasHiddenUnicode("\xEF\xBB\xBFint main() {}"));  // a leading BOM
  EXPECT_TRUE(HasHiddenUnicode("int\xEF\xBB\xBF main() {}"));   // a BOM inside
  EXPECT_TRUE(HasHiddenUnicode("\xEF\xBB\xBF\xEF\xBB\xBF"));
  EXPECT_TRUE(HasHiddenUnicode("\xFF\xE2\x80\xAE"));            // found past a bad byte
  EXPECT_FALSE(HasHiddenUnicode("\xE2\x80"));                   // a cut-short U+202E is not one
}

TEST(DisplayTest, EscapeLinesKeepsNewlinesOnly) {
  EXPECT_EQ(EscapeLinesForTerminal("+ok = 1  \r# formatting only\n+\x1b[1A\x1b[2K\n"),
            "+ok = 1  \\r# formatting only\n+\\x1b[1A\\x1b[2K\n");
  EXPECT_EQ(EscapeLinesForTerminal("a\r\nb\xE2\x80\xAE\n\n"), "a\\r\nb\\u{202e}\n\n");
  EXPECT_EQ(EscapeForTerminal("a\r\nb"), "a\\r\\nb");
}

TEST(DisplayTest, EscapeForSlack) {
  EXPECT_EQ(EscapeForSlack("refs/heads/<!channel>"), "refs/heads/&lt;!channel&gt;");
  EXPECT_EQ(EscapeForSlack("<https://evil|docs> & more"), "&lt;https://evil|docs&gt; &amp; more");
  EXPECT_EQ(EscapeForSlack("&amp;"), "&amp;amp;");
  EXPECT_EQ(EscapeForSlack("caf\xC3\xA9 \\x1b"), "caf\xC3\xA9 \\x1b");
}

}  // namespace
}  // namespace ag
