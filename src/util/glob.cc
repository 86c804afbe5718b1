#include "util/glob.h"

#include <vector>

namespace ag {
namespace {

// The index just past the ']' that closes the class starting at
// pat[p] == '[', read as MatchClass reads it (a first ']' is a member, "\c"
// escapes c, "a-z" is a range), or npos when nothing closes it. Compile
// refuses such a pattern, so MatchClass never runs past the pattern's end.
size_t ClassEnd(std::string_view pat, size_t p) {
  size_t i = p + 1;
  if (i < pat.size() && (pat[i] == '!' || pat[i] == '^')) ++i;
  bool first = true;
  while (i < pat.size() && (pat[i] != ']' || first)) {
    first = false;
    if (pat[i] == '\\' && i + 1 < pat.size()) ++i;
    if (i + 2 < pat.size() && pat[i + 1] == '-' && pat[i + 2] != ']') i += 2;
    ++i;
  }
  return i < pat.size() ? i + 1 : std::string_view::npos;
}

// Matches a character class starting at pattern[p] == '['. Sets *end to the
// index after ']'. Returns whether c is in the class.
bool MatchClass(std::string_view pat, size_t p, char c, size_t* end) {
  size_t i = p + 1;
  bool negate = false;
  if (i < pat.size() && (pat[i] == '!' || pat[i] == '^')) {
    negate = true;
    ++i;
  }
  bool found = false;
  bool first = true;
  while (i < pat.size() && (pat[i] != ']' || first)) {
    first = false;
    char lo = pat[i];
    if (lo == '\\' && i + 1 < pat.size()) lo = pat[++i];
    char hi = lo;
    if (i + 2 < pat.size() && pat[i + 1] == '-' && pat[i + 2] != ']') {
      hi = pat[i + 2];
      i += 2;
    }
    if (c >= lo && c <= hi) found = true;
    ++i;
  }
  *end = i + 1;
  return found != negate;
}

class Matcher {
 public:
  Matcher(std::string_view pat, std::string_view name)
      : pat_(pat), name_(name), memo_((pat.size() + 1) * (name.size() + 1), 0) {}

  bool Match(size_t p, size_t n) {
    uint8_t& m = memo_[p * (name_.size() + 1) + n];
    if (m != 0) return m == 2;
    bool r = MatchUncached(p, n);
    m = r ? 2 : 1;
    return r;
  }

 private:
  bool MatchUncached(size_t p, size_t n) {
    if (p == pat_.size()) return n == name_.size();
    char pc = pat_[p];
    if (pc == '*') {
      bool dbl = p + 1 < pat_.size() && pat_[p + 1] == '*';
      if (dbl) {
        size_t next = p + 2;
        // "**/" may match zero directories.
        if (next < pat_.size() && pat_[next] == '/' && Match(next + 1, n)) return true;
        for (size_t k = n; k <= name_.size(); ++k) {
          if (Match(next, k)) return true;
        }
        return false;
      }
      for (size_t k = n; k <= name_.size(); ++k) {
        if (Match(p + 1, k)) return true;
        if (k < name_.size() && name_[k] == '/') break;
      }
      return false;
    }
    if (n == name_.size()) return false;
    char c = name_[n];
    if (pc == '?') return c != '/' && Match(p + 1, n + 1);
    if (pc == '[') {
      size_t end = 0;
      if (c == '/' || !MatchClass(pat_, p, c, &end)) return false;
      return Match(end, n + 1);
    }
    if (pc == '\\') {
      return c == pat_[p + 1] && Match(p + 2, n + 1);
    }
    return c == pc && Match(p + 1, n + 1);
  }

  std::string_view pat_;
  std::string_view name_;
  std::vector<uint8_t> memo_;
};

}  // namespace

Result<Glob> Glob::Compile(std::string_view pattern) {
  if (pattern.empty()) return Status::InvalidArgument("empty glob pattern");
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '\\') {
      if (i + 1 == pattern.size()) {
        return Status::InvalidArgument("glob '" + std::string(pattern) + "' ends with '\\'");
      }
      ++i;
    } else if (pattern[i] == '[') {
      size_t end = ClassEnd(pattern, i);
      if (end == std::string_view::npos) {
        return Status::InvalidArgument("glob '" + std::string(pattern) + "' has an unclosed '['");
      }
      i = end - 1;
    } else if (pattern[i] == '*' && i + 2 < pattern.size() && pattern[i + 1] == '*' &&
               pattern[i + 2] == '*') {
      return Status::InvalidArgument("glob '" + std::string(pattern) + "' has '***'");
    }
  }
  return Glob(std::string(pattern));
}

bool Glob::Matches(std::string_view name) const {
  Matcher m(pattern_, name);
  return m.Match(0, 0);
}

}  // namespace ag
