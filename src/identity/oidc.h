// One trusted OIDC issuer: its configuration, its signing keys (from a JWKS
// file, or fetched through discovery and cached) and the verification of a
// JWT it issued, down to the policy Identity.
//
// Checks, in order (each stops a forgery or replay):
//   alg in the allow-list and implemented (no "none", no HS*: key confusion)
//   no "crit" header (extensions we would silently ignore)
//   key by kid whose type fits alg (RS* only RSA, ES256 only P-256, ...)
//   signature (forgery); only then the claims, so nothing is learnt unsigned:
//   iss exact, exp (required), nbf, iat not in the future, all with clock_skew
//   aud contains a configured audience (tokens minted for another service)
//   required_claims exact (other repositories / workflows of the same issuer)
//   identity claim a non-empty printable string
//
// Thread-safety: Verify is const and safe from many threads; the key cache is
// guarded by mu_, and fetches are serialised by fetch_mu_ so a burst of
// tokens with unknown kids produces at most one fetch per refresh interval.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "config/config.h"
#include "identity/https_get.h"
#include "identity/identity.h"
#include "identity/jwk.h"
#include "identity/jwt.h"
#include "util/status.h"

namespace ag::identity {

class OidcIssuer {
 public:
  using TimePoint = std::chrono::system_clock::time_point;

  // Validates `config` and, without discovery, loads its JWKS file.
  // InvalidArgument on a bad configuration.
  static Result<std::unique_ptr<OidcIssuer>> Create(const config::OidcConfig& config,
                                                    const AuthenticatorOptions& options);

  OidcIssuer(const OidcIssuer&) = delete;
  OidcIssuer& operator=(const OidcIssuer&) = delete;

  const config::OidcConfig& config() const { return config_; }

  // Verifies `jwt` (whose unverified "iss" named this issuer) at time `now`.
  // Unauthenticated with a client-safe message on any failure.
  Result<Identity> Verify(const Jwt& jwt, TimePoint now) const;

  // Number of discovery fetches attempted so far (for tests and metrics).
  uint64_t fetch_count() const { return fetch_count_.load(); }

 private:
  OidcIssuer(const config::OidcConfig& config, const AuthenticatorOptions& options);

  // The current keys; fetches them first when discovery has none yet or they
  // are older than jwks_max_age (rate limited). May return nullptr.
  std::shared_ptr<const KeySet> Keys(TimePoint now) const;
  // Fetches now unless a fetch was attempted within the refresh interval;
  // returns the keys in the cache afterwards (possibly unchanged or nullptr).
  std::shared_ptr<const KeySet> Refresh(TimePoint now) const;
  // Discovery document, then the JWKS it names.
  Result<std::shared_ptr<const KeySet>> Fetch() const;

  Status CheckClaims(const nlohmann::json& claims, TimePoint now, std::string* audience) const;

  const config::OidcConfig config_;
  const AuthenticatorOptions options_;
  HttpsGetOptions http_;
  std::set<Algorithm> allowed_;

  mutable std::mutex mu_;
  mutable std::shared_ptr<const KeySet> keys_;  // GUARDED_BY(mu_)
  mutable TimePoint fetched_at_{};    // GUARDED_BY(mu_): when keys_ were fetched
  mutable TimePoint last_attempt_{};  // GUARDED_BY(mu_)
  mutable bool attempted_ = false;    // GUARDED_BY(mu_)
  mutable std::mutex fetch_mu_;         // held across a fetch; taken before mu_
  mutable std::atomic<uint64_t> fetch_count_{0};
};

}  // namespace ag::identity
