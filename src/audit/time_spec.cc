#include "audit/time_spec.h"

#include <cctype>
#include <ctime>
#include <limits>

namespace ag::audit {
namespace {

bool Digits(std::string_view s, size_t pos, size_t n, int* out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (!std::isdigit(static_cast<unsigned char>(s[i]))) return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

Result<int64_t> ParseIso(std::string_view s) {
  auto bad = [&] {
    return Status::InvalidArgument("'" + std::string(s.substr(0, 64)) +
                                   "' is neither an ISO 8601 time (2026-01-02T03:04:05Z) "
                                   "nor a duration (24h, 90d)");
  };
  std::tm tm{};
  int y, mo, d, h = 0, mi = 0, sec = 0;
  if (!Digits(s, 0, 4, &y) || s.size() < 10 || s[4] != '-' || !Digits(s, 5, 2, &mo) ||
      s[7] != '-' || !Digits(s, 8, 2, &d)) {
    return bad();
  }
  size_t pos = 10;
  int64_t offset = 0;
  if (pos < s.size()) {
    if (s[pos] != 'T' && s[pos] != ' ') return bad();
    if (!Digits(s, pos + 1, 2, &h) || s.size() < pos + 6 || s[pos + 3] != ':' ||
        !Digits(s, pos + 4, 2, &mi)) {
      return bad();
    }
    pos += 6;
    if (pos < s.size() && s[pos] == ':') {
      if (!Digits(s, pos + 1, 2, &sec)) return bad();
      pos += 3;
    }
    if (pos < s.size() && s[pos] == '.') {  // fractions are dropped
      ++pos;
      while (pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos]))) ++pos;
    }
    if (pos < s.size()) {
      if (s[pos] == 'Z' && pos + 1 == s.size()) {
        pos = s.size();
      } else if ((s[pos] == '+' || s[pos] == '-') && s.size() == pos + 6 && s[pos + 3] == ':') {
        int oh, om;
        if (!Digits(s, pos + 1, 2, &oh) || !Digits(s, pos + 4, 2, &om)) return bad();
        offset = (oh * 3600 + om * 60) * (s[pos] == '+' ? 1 : -1);
        pos = s.size();
      } else {
        return bad();
      }
    }
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) return bad();
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  return static_cast<int64_t>(timegm(&tm)) - offset;
}

}  // namespace

Result<int64_t> ParseDuration(std::string_view text) {
  auto bad = [&] {
    return Status::InvalidArgument("'" + std::string(text.substr(0, 64)) +
                                   "' is not a duration (e.g. 45s, 30m, 24h, 90d, 2w)");
  };
  if (text.empty()) return bad();
  int64_t n = 0;
  size_t i = 0;
  for (; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])); ++i) {
    if (n > std::numeric_limits<int64_t>::max() / 10 - 10) return bad();
    n = n * 10 + (text[i] - '0');
  }
  if (i == 0) return bad();
  int64_t unit = 1;
  if (i < text.size()) {
    if (i + 1 != text.size()) return bad();
    switch (text[i]) {
      case 's': unit = 1; break;
      case 'm': unit = 60; break;
      case 'h': unit = 3600; break;
      case 'd': unit = 86400; break;
      case 'w': unit = 7 * 86400; break;
      default: return bad();
    }
  }
  if (n > std::numeric_limits<int64_t>::max() / unit) return bad();
  return n * unit;
}

Result<int64_t> ParseTimeSpec(std::string_view text, int64_t now) {
  if (text.size() >= 10 && text[4] == '-') return ParseIso(text);
  AG_ASSIGN_OR_RETURN(int64_t d, ParseDuration(text));
  return now - d;
}

}  // namespace ag::audit
