// Authentication of agents: static tokens (stored as SHA-256 hashes) and OIDC
// JWTs (RS256/ES256 against the issuer's JWKS), mapped to a policy identity.
//
// Thread-safety: Authenticator is safe to call from many threads at once; the
// JWKS cache is internally locked.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "util/status.h"

namespace ag::identity {

struct Identity {
  std::string name;                  // the policy identity ("agent-ci", "gha:repo:org/x:ref:...")
  std::vector<std::string> groups;
  std::string method;                // "token" or "oidc"
  std::map<std::string, std::string> claims;  // selected string claims (sub, iss, repository, workflow, ...)
};

class Authenticator {
 public:
  // Loads JWKS files now; discovery issuers are fetched lazily.
  static Result<std::unique_ptr<Authenticator>> Create(const config::Config& config);
  virtual ~Authenticator() = default;

  // `authorization` is the raw Authorization header value: "Basic base64(user:token)"
  // or "Bearer <token-or-jwt>". Returns Unauthenticated with a message safe to
  // show the client (never containing the token) on any failure.
  virtual Result<Identity> Authenticate(std::string_view authorization,
                                        std::chrono::system_clock::time_point now) const = 0;
};

}  // namespace ag::identity
