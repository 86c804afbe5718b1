// Text an agent controls (file contents and names, commit messages, author
// names, push options, ref names), made safe to show a human. A terminal
// obeys what it prints: "\r" moves back and the rest of the line overwrites
// what came before, ESC[1A ESC[2K erases a line, ESC[8m hides text, and
// bidirectional controls (U+202E...) reorder it. So every printer of such
// text passes it through EscapeForTerminal first, and shows:
//
//   \\          a backslash (so every escape below is unambiguous)
//   \n \r       a line feed, a carriage return
//   \x1b        any other C0 control byte, DEL (\x7f), and each byte that is
//               not part of well-formed UTF-8 (\xff, a lone \xc3, ...)
//   \u{85}      a C1 control (U+0080..U+009F) written as UTF-8
//   \u{202e}    a bidirectional or invisible code point: U+00AD, U+061C,
//               U+180E, U+200B..U+200F, U+2028..U+202E, U+2060..U+2064,
//               U+2066..U+2069, U+FEFF, U+E0000..U+E007F (tag characters)
//
// A tab is kept as it is: it only moves the cursor right, like spaces.
// Everything else, including valid multi-byte UTF-8 (é, 日本), is unchanged.
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

namespace ag {

// `text` as one line: '\n' is escaped too. At most 4 bytes out per byte in.
std::string EscapeForTerminal(std::string_view text);

// As EscapeForTerminal, but each '\n' is kept: for text shown line by line
// (a diff, a commit message). Each line is escaped on its own.
std::string EscapeLinesForTerminal(std::string_view text);

// Whether `text` holds a bidirectional or invisible code point of the list
// above (a U+FEFF at offset 0, a byte order mark, does not count). Bytes
// that are not UTF-8 are skipped, not reported.
bool HasHiddenUnicode(std::string_view text);

// `text` for a chat webhook (Slack, Mattermost): '&', '<' and '>' become
// "&amp;", "&lt;" and "&gt;", so "<!channel>" or "<https://x|y>" in a ref
// name is shown, not acted on. Apply it on top of EscapeForTerminal.
std::string EscapeForSlack(std::string_view text);

}  // namespace ag
