// Authentication of agents: static tokens (stored as SHA-256 hashes) and OIDC
// JWTs (RS256/ES256 against the issuer's JWKS), mapped to a policy identity.
//
// Thread-safety: Authenticator is safe to call from many threads at once; the
// JWKS cache is internally locked and filled by one fetch thread per
// discovery issuer.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
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

// Tuning for Create(); the defaults suit production. See docs/identity.md.
struct AuthenticatorOptions {
  size_t max_header_bytes = 16u << 10;  // longer Authorization headers are refused
  // An issuer's JWKS is refetched (discovery only) at most this often, however
  // many tokens with unknown key ids arrive...
  std::chrono::seconds jwks_refresh_min_interval{60};
  // ...except after a failed fetch: the next may start this long after it,
  // doubling with each failure in a row up to jwks_refresh_min_interval.
  std::chrono::seconds jwks_retry_after_failure{5};
  std::chrono::milliseconds http_connect_timeout{5000};
  std::chrono::milliseconds http_timeout{10000};
  size_t max_http_response_bytes = 1u << 20;  // discovery document and JWKS
  // Called from an issuer's fetch thread after each discovery + JWKS fetch:
  // the issuer and Ok, or the reason it failed (never contains a token). For
  // the operator's log and metrics; may be empty.
  std::function<void(const std::string& issuer, const Status&)> on_fetch;
  // The clock of the key cache (when keys were fetched, rate limits); tests
  // set it to follow the times they pass to Authenticate. Empty: system clock.
  std::function<std::chrono::system_clock::time_point()> clock;
};

class Authenticator {
 public:
  // Validates the token and OIDC configuration and loads JWKS files now;
  // each discovery issuer gets a fetch thread, which starts fetching its keys
  // at once.
  // InvalidArgument when the configuration is unusable (a sha256 that is not
  // 64 hex digits, a duplicate token hash or issuer, an algorithm outside
  // RS256/RS384/RS512/ES256/ES384, neither jwks_file nor discovery,
  // an unreadable JWKS file or one without a usable key).
  static Result<std::unique_ptr<Authenticator>> Create(const config::Config& config);
  static Result<std::unique_ptr<Authenticator>> Create(const config::Config& config,
                                                       const AuthenticatorOptions& options);
  virtual ~Authenticator() = default;

  // `authorization` is the raw Authorization header value: "Basic base64(user:token)"
  // or "Bearer <token-or-jwt>". Returns Unauthenticated with a message safe to
  // show the client (never containing the token) on any failure, or
  // Unavailable (answer 503, retry) when an issuer's keys are not known yet,
  // are being refreshed for an unknown key id, or are older than
  // jwks_max_stale. Never blocks: no network I/O happens on this thread.
  virtual Result<Identity> Authenticate(std::string_view authorization,
                                        std::chrono::system_clock::time_point now) const = 0;
};

}  // namespace ag::identity
