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
// Keys of a discovery issuer come from a fetch thread of its own (started by
// Create, which queues the first fetch at once); Verify never waits for it:
//   no keys yet, or keys older than jwks_max_stale      -> Unavailable (503)
//   keys older than jwks_max_age                        -> used; a refresh queued
//   unknown kid                                         -> a refresh queued (rate
//       limited); Unavailable while it runs, else Unauthenticated
// Fetches: one at a time, at most one per jwks_refresh_min_interval, or sooner
// after a failure (jwks_retry_after_failure, doubling).
//
// Thread-safety: Verify is const and safe from many threads; the key cache is
// guarded by mu_; only the fetch thread does network I/O.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

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

  ~OidcIssuer();  // stops the fetch thread (an HTTP transfer is aborted)
  OidcIssuer(const OidcIssuer&) = delete;
  OidcIssuer& operator=(const OidcIssuer&) = delete;

  const config::OidcConfig& config() const { return config_; }

  // Verifies `jwt` (whose unverified "iss" named this issuer) at time `now`.
  // Unauthenticated with a client-safe message on any failure; Unavailable
  // when the keys cannot be trusted or are not there yet (see above).
  Result<Identity> Verify(const Jwt& jwt, TimePoint now) const;

  // Number of discovery fetches started so far (for tests and metrics).
  uint64_t fetch_count() const { return fetch_count_.load(); }

  // Waits until no fetch is queued or running; false after `timeout`. Tests.
  bool WaitForFetches(std::chrono::milliseconds timeout) const;

 private:
  OidcIssuer(const config::OidcConfig& config, const AuthenticatorOptions& options);

  TimePoint Now() const;
  // Queues a fetch unless one is queued or running, or the rate limit says
  // not yet. True when a fetch is queued or running afterwards.
  bool RequestFetchLocked(TimePoint now) const;  // REQUIRES(mu_)
  // How long after the last attempt the next fetch may start: `usual`, or
  // after failures in a row jwks_retry_after_failure doubling up to it.
  std::chrono::seconds WaitAfterLocked(std::chrono::seconds usual) const;  // REQUIRES(mu_)
  void FetchLoop();
  // Discovery document, then the JWKS it names.
  Result<std::shared_ptr<const KeySet>> Fetch() const;

  Status CheckClaims(const nlohmann::json& claims, TimePoint now, std::string* audience) const;

  const config::OidcConfig config_;
  const AuthenticatorOptions options_;
  HttpsGetOptions http_;
  std::set<Algorithm> allowed_;

  mutable std::mutex mu_;
  mutable std::condition_variable wake_;  // a fetch queued, or stop
  mutable std::condition_variable idle_;  // a fetch finished
  mutable std::shared_ptr<const KeySet> keys_;  // GUARDED_BY(mu_)
  mutable TimePoint fetched_at_{};    // GUARDED_BY(mu_): when keys_ were fetched
  mutable TimePoint last_attempt_{};  // GUARDED_BY(mu_): when the last fetch was queued
  mutable bool attempted_ = false;    // GUARDED_BY(mu_)
  mutable int failures_ = 0;          // GUARDED_BY(mu_): failed fetches in a row
  mutable bool queued_ = false;       // GUARDED_BY(mu_)
  mutable bool running_ = false;      // GUARDED_BY(mu_)
  bool stop_ = false;                 // GUARDED_BY(mu_)
  std::atomic<bool> abort_{false};    // stops a transfer in progress
  mutable std::atomic<uint64_t> fetch_count_{0};
  std::thread fetcher_;  // discovery only; last, so it starts after the rest
};

}  // namespace ag::identity
