// Authenticator: Authorization header -> token -> static token or OIDC JWT
// -> Identity. See identity.h.
#include <map>
#include <set>

#include "identity/credentials.h"
#include "identity/identity.h"
#include "identity/jwt.h"
#include "identity/oidc.h"
#include "util/crypto.h"

namespace ag::identity {
namespace {

bool IsLowerHex64(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string ToLower(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'F') c = char(c - 'A' + 'a');
  }
  return s;
}

struct StaticToken {
  std::string sha256_hex;  // lower-case
  Identity identity;
};

class AuthenticatorImpl final : public Authenticator {
 public:
  explicit AuthenticatorImpl(const AuthenticatorOptions& options) : options_(options) {}

  Status Init(const config::Config& config) {
    std::set<std::string> seen_hashes;
    for (const config::StaticTokenConfig& t : config.tokens) {
      const std::string where = "token for identity '" + t.identity + "': ";
      if (t.identity.empty()) return Status::InvalidArgument("token: identity is empty");
      std::string hex = ToLower(t.sha256);
      if (!IsLowerHex64(hex)) {
        return Status::InvalidArgument(where + "sha256 must be 64 hex digits");
      }
      if (!seen_hashes.insert(hex).second) {
        return Status::InvalidArgument(where + "the same token hash is configured twice");
      }
      StaticToken st;
      st.sha256_hex = hex;
      st.identity.name = t.identity;
      st.identity.groups = t.groups;
      st.identity.method = "token";
      tokens_.push_back(std::move(st));
    }
    for (const config::OidcConfig& o : config.oidc) {
      AG_ASSIGN_OR_RETURN(std::unique_ptr<OidcIssuer> issuer, OidcIssuer::Create(o, options_));
      if (!issuers_.emplace(o.issuer, std::move(issuer)).second) {
        return Status::InvalidArgument("oidc issuer '" + o.issuer + "' is configured twice");
      }
    }
    return Status::Ok();
  }

  Result<Identity> Authenticate(std::string_view authorization,
                                std::chrono::system_clock::time_point now) const override {
    AG_ASSIGN_OR_RETURN(std::string token, ExtractToken(authorization, options_.max_header_bytes));
    if (LooksLikeJwt(token)) return AuthenticateJwt(token, now);
    return AuthenticateStatic(token);
  }

 private:
  Result<Identity> AuthenticateStatic(const std::string& token) const {
    const std::string hex = Sha256Hex(token);
    // Compare against every hash, without stopping at a match, so the time
    // taken does not tell which entry (or whether an early one) matched.
    const StaticToken* match = nullptr;
    for (const StaticToken& t : tokens_) {
      bool eq = ConstantTimeEquals(hex, t.sha256_hex);
      match = eq ? &t : match;
    }
    if (!match) return Status::Unauthenticated("invalid token");
    return match->identity;
  }

  Result<Identity> AuthenticateJwt(const std::string& token,
                                   std::chrono::system_clock::time_point now) const {
    if (issuers_.empty()) return Status::Unauthenticated("OIDC tokens are not accepted");
    AG_ASSIGN_OR_RETURN(Jwt jwt, ParseJwt(token));
    // The unverified "iss" only picks the issuer whose keys must verify it.
    auto iss = jwt.claims.find("iss");
    if (iss == jwt.claims.end() || !iss->is_string()) {
      return Status::Unauthenticated("issuer not accepted");
    }
    auto it = issuers_.find(iss->get<std::string>());
    if (it == issuers_.end()) return Status::Unauthenticated("issuer not accepted");
    return it->second->Verify(jwt, now);
  }

  const AuthenticatorOptions options_;
  std::vector<StaticToken> tokens_;
  std::map<std::string, std::unique_ptr<OidcIssuer>> issuers_;
};

}  // namespace

Result<std::unique_ptr<Authenticator>> Authenticator::Create(const config::Config& config) {
  return Create(config, AuthenticatorOptions());
}

Result<std::unique_ptr<Authenticator>> Authenticator::Create(
    const config::Config& config, const AuthenticatorOptions& options) {
  auto impl = std::make_unique<AuthenticatorImpl>(options);
  AG_RETURN_IF_ERROR(impl->Init(config));
  return std::unique_ptr<Authenticator>(std::move(impl));
}

}  // namespace ag::identity
