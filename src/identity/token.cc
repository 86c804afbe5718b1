#include "identity/token.h"

#include "identity/base64.h"
#include "util/crypto.h"

namespace ag::identity {

Result<std::string> NewToken() {
  AG_ASSIGN_OR_RETURN(std::string raw, RandomBytes(kTokenRandomBytes));
  return std::string(kTokenPrefix) + Base64UrlEncode(raw);
}

Status ValidateName(std::string_view name) {
  if (name.empty() || name.size() > 128) {
    return Status::InvalidArgument("name must be 1 to 128 characters");
  }
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == ':' || c == '@' || c == '/' || c == '-';
    if (!ok) {
      return Status::InvalidArgument("name '" + std::string(name) +
                                     "' may only use A-Z a-z 0-9 . _ : @ / -");
    }
  }
  return Status::Ok();
}

std::string TokenConfigSnippet(const std::string& identity, const std::vector<std::string>& groups,
                               const std::string& sha256_hex) {
  std::string out = "tokens:\n  - identity: \"" + identity + "\"\n";
  if (!groups.empty()) {
    out += "    groups: [";
    for (size_t i = 0; i < groups.size(); ++i) {
      if (i) out += ", ";
      out += "\"" + groups[i] + "\"";
    }
    out += "]\n";
  }
  out += "    sha256: " + sha256_hex + "\n";
  return out;
}

}  // namespace ag::identity
