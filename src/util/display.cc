#include "util/display.h"

#include <cstdint>
#include <cstdio>

namespace ag {
namespace {

// The well-formed UTF-8 sequence at text[i], if any: its code point in *cp
// and its length (1..4); 0 when text[i] does not start one (a stray
// continuation byte, an overlong form, a surrogate, past U+10FFFF, cut short).
size_t DecodeAt(std::string_view text, size_t i, uint32_t* cp) {
  unsigned char c = static_cast<unsigned char>(text[i]);
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  size_t n;
  uint32_t min;
  uint32_t v;
  if ((c & 0xE0) == 0xC0) {
    n = 2, min = 0x80, v = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    n = 3, min = 0x800, v = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    n = 4, min = 0x10000, v = c & 0x07;
  } else {
    return 0;
  }
  if (text.size() - i < n) return 0;
  for (size_t k = 1; k < n; ++k) {
    unsigned char d = static_cast<unsigned char>(text[i + k]);
    if ((d & 0xC0) != 0x80) return 0;
    v = (v << 6) | (d & 0x3F);
  }
  if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
  *cp = v;
  return n;
}

// Code points that reorder text or show nothing (Trojan Source, hidden
// instructions): shown as \u{...} and reported by HasHiddenUnicode.
bool IsHidden(uint32_t cp) {
  return cp == 0x00AD ||                      // soft hyphen
         cp == 0x061C ||                      // Arabic letter mark (bidi)
         cp == 0x180E ||                      // Mongolian vowel separator
         (cp >= 0x200B && cp <= 0x200F) ||    // zero-width space/joiners, LRM, RLM
         (cp >= 0x2028 && cp <= 0x202E) ||    // line/paragraph separator, LRE..RLO
         (cp >= 0x2060 && cp <= 0x2064) ||    // word joiner, invisible operators
         (cp >= 0x2066 && cp <= 0x2069) ||    // LRI, RLI, FSI, PDI
         cp == 0xFEFF ||                      // zero-width no-break space, BOM
         (cp >= 0xE0000 && cp <= 0xE007F);   // tag characters (invisible ASCII)
}

void AppendHexByte(std::string* out, unsigned char b) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "\\x%02x", b);
  out->append(buf);
}

void AppendCodePoint(std::string* out, uint32_t cp) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "\\u{%x}", static_cast<unsigned>(cp));
  out->append(buf);
}

std::string Escape(std::string_view text, bool keep_newlines) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    uint32_t cp = 0;
    size_t n = DecodeAt(text, i, &cp);
    if (n == 0) {  // not UTF-8: the byte itself
      AppendHexByte(&out, c);
      ++i;
      continue;
    }
    if (cp == '\\') {
      out.append("\\\\");
    } else if (cp == '\n') {
      out.append(keep_newlines ? "\n" : "\\n");
    } else if (cp == '\r') {
      out.append("\\r");
    } else if (cp == '\t') {
      out.push_back('\t');
    } else if (cp < 0x20 || cp == 0x7F) {
      AppendHexByte(&out, c);
    } else if ((cp >= 0x80 && cp <= 0x9F) || IsHidden(cp)) {
      AppendCodePoint(&out, cp);
    } else {
      out.append(text.substr(i, n));
    }
    i += n;
  }
  return out;
}

}  // namespace

std::string EscapeForTerminal(std::string_view text) { return Escape(text, false); }

std::string EscapeLinesForTerminal(std::string_view text) { return Escape(text, true); }

bool HasHiddenUnicode(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    if (static_cast<unsigned char>(text[i]) < 0x80) {  // every hidden code point is multi-byte
      ++i;
      continue;
    }
    uint32_t cp = 0;
    size_t n = DecodeAt(text, i, &cp);
    if (n == 0) {
      ++i;
      continue;
    }
    if (IsHidden(cp) && !(cp == 0xFEFF && i == 0)) return true;
    i += n;
  }
  return false;
}

std::string EscapeForSlack(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out.append("&amp;"); break;
      case '<': out.append("&lt;"); break;
      case '>': out.append("&gt;"); break;
      default: out.push_back(c);
    }
  }
  return out;
}

}  // namespace ag
