#include "identity/credentials.h"

#include "identity/base64.h"

namespace ag::identity {
namespace {

bool IsBlank(char c) { return c == ' ' || c == '\t'; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsBlank(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsBlank(s.back())) s.remove_suffix(1);
  return s;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = char(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = char(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

// Visible ASCII only: no blanks, controls or bytes >= 0x80 in a token.
bool IsTokenText(std::string_view s) {
  if (s.empty()) return false;
  for (unsigned char c : s) {
    if (c <= 0x20 || c >= 0x7f) return false;
  }
  return true;
}

}  // namespace

Result<std::string> ExtractToken(std::string_view authorization, size_t max_bytes) {
  if (authorization.size() > max_bytes) {
    return Status::Unauthenticated("Authorization header too large");
  }
  std::string_view h = Trim(authorization);
  if (h.empty()) return Status::Unauthenticated("no credentials");
  size_t sp = 0;
  while (sp < h.size() && !IsBlank(h[sp])) ++sp;
  std::string_view scheme = h.substr(0, sp);
  std::string_view rest = Trim(h.substr(sp));
  if (EqualsIgnoreCase(scheme, "Bearer")) {
    if (!IsTokenText(rest)) return Status::Unauthenticated("malformed Authorization header");
    return std::string(rest);
  }
  if (EqualsIgnoreCase(scheme, "Basic")) {
    std::optional<std::string> decoded = Base64Decode(rest);
    if (rest.empty() || !decoded) return Status::Unauthenticated("malformed Authorization header");
    size_t colon = decoded->find(':');
    if (colon == std::string::npos) {
      return Status::Unauthenticated("malformed Authorization header");
    }
    std::string token = decoded->substr(colon + 1);
    if (token.empty()) return Status::Unauthenticated("no token given as the password");
    if (!IsTokenText(token)) return Status::Unauthenticated("malformed token");
    return token;
  }
  return Status::Unauthenticated("unsupported authorization scheme (use Basic or Bearer)");
}

}  // namespace ag::identity
