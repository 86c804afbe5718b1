#include "hook/trailers.h"

#include <set>

#include "git/git.h"
#include "util/utf8.h"

namespace ag::hook {
namespace {

bool IsKey(std::string_view k) {
  if (k.empty() || k.size() > 64) return false;
  if (!((k[0] >= 'A' && k[0] <= 'Z') || (k[0] >= 'a' && k[0] <= 'z'))) return false;
  for (char c : k)
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
      return false;
  return true;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  return s;
}

// Cuts at `max` bytes, on a UTF-8 character boundary.
std::string Cut(std::string v, size_t max) {
  if (v.size() <= max) return v;
  size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(v[n]) & 0xC0) == 0x80) --n;
  return v.substr(0, n) + "...";
}

}  // namespace

std::vector<std::pair<std::string, std::string>> ParseTrailers(std::string_view message) {
  std::vector<std::pair<std::string, std::string>> out;
  // The last paragraph: after the last blank line, trailing blank lines dropped.
  while (!message.empty() && (message.back() == '\n' || message.back() == '\r' || message.back() == ' '))
    message.remove_suffix(1);
  size_t start = 0;
  for (size_t at = message.find('\n'); at != std::string_view::npos; at = message.find('\n', at + 1)) {
    size_t next = message.find('\n', at + 1);
    std::string_view line = message.substr(at + 1, next == std::string_view::npos ? std::string_view::npos : next - at - 1);
    if (Trim(line).empty()) start = next == std::string_view::npos ? message.size() : next + 1;
  }
  if (start == 0) return out;  // one paragraph: the subject, not trailers
  std::string_view para = message.substr(start);
  size_t pos = 0;
  while (pos < para.size()) {
    size_t end = para.find('\n', pos);
    if (end == std::string_view::npos) end = para.size();
    std::string_view line = para.substr(pos, end - pos);
    pos = end + 1;
    if (!line.empty() && (line[0] == ' ' || line[0] == '\t')) {
      if (out.empty()) return {};
      out.back().second += " " + std::string(Trim(line));
      continue;
    }
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || !IsKey(line.substr(0, colon))) return {};
    out.emplace_back(std::string(line.substr(0, colon)), std::string(Trim(line.substr(colon + 1))));
  }
  return out;
}

Result<std::vector<Trailer>> CollectTrailers(git_repository* repo,
                                             const std::vector<std::string>& commits,
                                             const scan::Scanner& scanner) {
  std::vector<Trailer> out;
  std::set<std::pair<std::string, std::string>> seen;
  size_t read = 0;
  for (auto it = commits.rbegin(); it != commits.rend() && read < kMaxTrailerCommits; ++it, ++read) {
    AG_ASSIGN_OR_RETURN(git_oid id, git::ParseOid(*it));
    git_commit* c = nullptr;
    if (git_commit_lookup(&c, repo, &id) != 0) return git::GitStatus(-1, "cannot read commit " + *it);
    git::CommitPtr owner(c);
    const char* message = git_commit_message(c);
    for (auto& [key, value] : ParseTrailers(message ? message : "")) {
      if (!IsUtf8(value)) continue;  // recorded and shown as text only
      std::vector<scan::Finding> found;
      AG_RETURN_IF_ERROR(scanner.ScanLines("(commit trailer)", {{1, value}}, &found));
      std::string stored = found.empty() ? Cut(value, kMaxTrailerValue) : scan::Mask(value);
      if (!seen.insert({key, stored}).second) continue;
      out.push_back({key, stored, *it});
      if (out.size() >= kMaxTrailers) return out;
    }
  }
  return out;
}

}  // namespace ag::hook
