#include "identity/oidc.h"

#include <algorithm>
#include <cmath>
#include <system_error>

#include "util/file.h"

namespace ag::identity {
namespace {

using nlohmann::json;

constexpr size_t kMaxClaimValue = 256;  // identity names and groups
constexpr size_t kMaxGroups = 64;

// Claims copied into Identity::claims when they are strings.
constexpr const char* kKeptClaims[] = {"sub",     "iss",   "repository", "repository_owner",
                                       "workflow", "ref",  "actor",      "job_workflow_ref",
                                       "email"};

// True for a non-empty, bounded string without control characters: safe to
// put into the hook environment, logs and audit records.
bool IsPrintable(std::string_view s) {
  if (s.empty() || s.size() > kMaxClaimValue) return false;
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) return false;
  }
  return true;
}

// |a - b| >= d, for time points that may lie either way round.
bool FarApart(std::chrono::system_clock::time_point a, std::chrono::system_clock::time_point b,
              std::chrono::seconds d) {
  return a >= b ? a - b >= d : b - a >= d;
}

// A NumericDate claim (RFC 7519 2), or nullopt when absent; `*bad` when present
// but not a number.
std::optional<double> NumericDate(const json& claims, const char* name, bool* bad) {
  auto it = claims.find(name);
  if (it == claims.end()) return std::nullopt;
  if (!it->is_number()) {
    *bad = true;
    return std::nullopt;
  }
  return it->get<double>();
}

std::string JoinHostPath(std::string base, std::string_view path) {
  while (!base.empty() && base.back() == '/') base.pop_back();
  return base + std::string(path);
}

}  // namespace

OidcIssuer::OidcIssuer(const config::OidcConfig& config, const AuthenticatorOptions& options)
    : config_(config), options_(options) {
  http_.ca_file = config.ca_file;
  http_.connect_timeout = options.http_connect_timeout;
  http_.timeout = options.http_timeout;
  http_.max_bytes = options.max_http_response_bytes;
  http_.abort = &abort_;
}

OidcIssuer::~OidcIssuer() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  abort_ = true;
  wake_.notify_all();
  if (fetcher_.joinable()) fetcher_.join();
}

OidcIssuer::TimePoint OidcIssuer::Now() const {
  return options_.clock ? options_.clock() : std::chrono::system_clock::now();
}

Result<std::unique_ptr<OidcIssuer>> OidcIssuer::Create(const config::OidcConfig& config,
                                                       const AuthenticatorOptions& options) {
  const std::string where = "oidc issuer '" + config.issuer + "': ";
  if (config.issuer.empty()) return Status::InvalidArgument("oidc issuer: issuer is empty");
  if (config.audiences.empty()) return Status::InvalidArgument(where + "no audiences");
  for (const std::string& a : config.audiences) {
    if (a.empty()) return Status::InvalidArgument(where + "empty audience");
  }
  if (config.identity_claim.empty()) return Status::InvalidArgument(where + "no identity_claim");
  if (config.clock_skew.count() < 0 || config.clock_skew > std::chrono::hours(1)) {
    return Status::InvalidArgument(where + "clock_skew must be between 0 and 1h");
  }
  if (!config.discovery && config.jwks_file.empty()) {
    return Status::InvalidArgument(where + "set jwks_file, or discovery");
  }
  if (config.discovery && config.issuer.rfind("https://", 0) != 0) {
    return Status::InvalidArgument(where + "discovery needs an https:// issuer");
  }
  if (config.algorithms.empty()) return Status::InvalidArgument(where + "no algorithms allowed");
  std::unique_ptr<OidcIssuer> issuer(new OidcIssuer(config, options));
  for (const std::string& name : config.algorithms) {
    std::optional<Algorithm> alg = ParseAlgorithm(name);
    if (!alg) {
      return Status::InvalidArgument(where + "algorithm '" + name +
                                     "' is not allowed (use RS256, RS384, RS512, ES256, ES384)");
    }
    issuer->allowed_.insert(*alg);
  }
  // With discovery too, the file's keys are only the first cache content.
  if (!config.jwks_file.empty()) {
    Result<std::string> text = ReadFile(config.jwks_file, options.max_http_response_bytes);
    if (!text.ok()) return Status::InvalidArgument(where + text.status().message());
    Result<std::shared_ptr<const KeySet>> keys = ParseJwks(*text);
    if (!keys.ok()) {
      return Status::InvalidArgument(where + config.jwks_file + ": " + keys.status().message());
    }
    issuer->keys_ = std::move(keys).value();
    issuer->fetched_at_ = issuer->Now();
  }
  if (config.discovery) {
    // The first fetch now, so keys are usually there before the first token.
    {
      std::lock_guard<std::mutex> lock(issuer->mu_);
      issuer->RequestFetchLocked(issuer->Now());
    }
    try {
      issuer->fetcher_ = std::thread([raw = issuer.get()] { raw->FetchLoop(); });
    } catch (const std::system_error& e) {
      return Status::Internal("oidc issuer '" + config.issuer + "': cannot start its fetch thread: " +
                              e.what());
    }
  }
  return issuer;
}

Result<std::shared_ptr<const KeySet>> OidcIssuer::Fetch() const {
  const std::string url = JoinHostPath(config_.issuer, "/.well-known/openid-configuration");
  AG_ASSIGN_OR_RETURN(std::string text, HttpsGet(url, http_));
  json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return Status::Unavailable(url + ": not a JSON object");
  }
  // OpenID Connect Discovery 4.3: the document names the issuer exactly.
  auto iss = doc.find("issuer");
  if (iss == doc.end() || !iss->is_string() || iss->get<std::string>() != config_.issuer) {
    return Status::Unavailable(url + ": \"issuer\" does not match the configured issuer");
  }
  auto uri = doc.find("jwks_uri");
  if (uri == doc.end() || !uri->is_string()) {
    return Status::Unavailable(url + ": no \"jwks_uri\"");
  }
  AG_ASSIGN_OR_RETURN(std::string jwks, HttpsGet(uri->get<std::string>(), http_));
  Result<std::shared_ptr<const KeySet>> keys = ParseJwks(jwks);
  if (!keys.ok()) {
    return Status::Unavailable(uri->get<std::string>() + ": " + keys.status().message());
  }
  return keys;
}

std::chrono::seconds OidcIssuer::WaitAfterLocked(std::chrono::seconds usual) const {
  if (failures_ == 0) return usual;
  auto retry = options_.jwks_retry_after_failure * (1 << std::min(failures_ - 1, 8));
  return std::min(usual, std::chrono::duration_cast<std::chrono::seconds>(retry));
}

bool OidcIssuer::RequestFetchLocked(TimePoint now) const {
  if (stop_) return false;
  if (queued_ || running_) return true;
  if (attempted_) {
    // Rate limit: a flood of unknown kids costs the issuer one fetch per
    // interval (or per jwks_max_age, if shorter); after failures, a shorter
    // wait that doubles up to it.
    std::chrono::seconds wait =
        WaitAfterLocked(std::min(options_.jwks_refresh_min_interval, config_.jwks_max_age));
    if (!FarApart(now, last_attempt_, wait)) return false;
  }
  attempted_ = true;
  last_attempt_ = now;
  queued_ = true;
  wake_.notify_one();
  return true;
}

void OidcIssuer::FetchLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    // Refreshes come on their own too, not only when a token asks: once the
    // keys reach jwks_max_age (or the retry wait after a failure is over), so
    // a quiet night does not leave the first morning token with stale keys.
    auto until_due = [this] {
      std::chrono::seconds wait = WaitAfterLocked(config_.jwks_max_age);
      auto elapsed = std::chrono::duration_cast<std::chrono::seconds>(Now() - last_attempt_);
      if (elapsed.count() < 0) elapsed = std::chrono::seconds(0);
      return std::max(std::chrono::seconds(1), wait - elapsed);
    };
    if (!wake_.wait_for(lock, until_due(), [this] { return stop_ || queued_; })) {
      RequestFetchLocked(Now());  // due (rate limits as for tokens)
      if (!queued_) continue;
    }
    if (stop_) return;
    queued_ = false;
    running_ = true;
    lock.unlock();
    fetch_count_.fetch_add(1);
    Result<std::shared_ptr<const KeySet>> fetched = Status::Internal("fetch failed");
    try {
      fetched = Fetch();
    } catch (const std::exception& e) {  // bad_alloc: a failed fetch, not a dead daemon
      fetched = Status::Internal(std::string("fetch failed: ") + e.what());
    }
    Status status = fetched.ok() ? Status::Ok() : fetched.status();
    lock.lock();
    if (fetched.ok()) {
      keys_ = std::move(fetched).value();
      fetched_at_ = Now();
      failures_ = 0;
    } else {
      ++failures_;  // the previous keys stay in use, until jwks_max_stale
    }
    // Reported before the fetch counts as finished (WaitForFetches callers see
    // the report), outside the lock.
    if (options_.on_fetch && !stop_) {
      lock.unlock();
      options_.on_fetch(config_.issuer, status);
      lock.lock();
    }
    running_ = false;
    idle_.notify_all();
  }
}

bool OidcIssuer::WaitForFetches(std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(mu_);
  return idle_.wait_for(lock, timeout, [this] { return !queued_ && !running_; });
}

Status OidcIssuer::CheckClaims(const json& claims, TimePoint now, std::string* audience) const {
  // iss: the caller picked us by it, but check again: this is the verified copy.
  auto iss = claims.find("iss");
  if (iss == claims.end() || !iss->is_string() || iss->get<std::string>() != config_.issuer) {
    return Status::Unauthenticated("issuer not accepted");
  }
  const double t = std::chrono::duration<double>(now.time_since_epoch()).count();
  const double skew = static_cast<double>(config_.clock_skew.count());
  bool bad = false;
  std::optional<double> exp = NumericDate(claims, "exp", &bad);
  std::optional<double> nbf = NumericDate(claims, "nbf", &bad);
  std::optional<double> iat = NumericDate(claims, "iat", &bad);
  if (bad) return Status::Unauthenticated("malformed time claim");
  if (!exp) return Status::Unauthenticated("token has no expiry");          // no eternal tokens
  if (t >= *exp + skew) return Status::Unauthenticated("token expired");    // replay of old tokens
  if (nbf && t + skew < *nbf) return Status::Unauthenticated("token not yet valid");
  if (iat && t + skew < *iat) return Status::Unauthenticated("token issued in the future");

  // aud: a string or an array of strings containing one configured audience.
  audience->clear();
  auto aud = claims.find("aud");
  auto accepted = [&](const json& v) {
    if (!v.is_string()) return false;
    const std::string& s = v.get_ref<const std::string&>();
    for (const std::string& a : config_.audiences) {
      if (s == a) {
        *audience = s;
        return true;
      }
    }
    return false;
  };
  bool aud_ok = false;
  if (aud != claims.end()) {
    if (aud->is_array()) {
      for (const json& v : *aud) {
        if (accepted(v)) {
          aud_ok = true;
          break;
        }
      }
    } else {
      aud_ok = accepted(*aud);
    }
  }
  if (!aud_ok) return Status::Unauthenticated("audience not accepted");

  // required_claims: other repositories or workflows of a shared issuer.
  for (const auto& [name, want] : config_.required_claims) {
    auto it = claims.find(name);
    if (it == claims.end() || !it->is_string() || it->get_ref<const std::string&>() != want) {
      return Status::Unauthenticated("claim '" + name + "' not accepted");
    }
  }
  return Status::Ok();
}

Result<Identity> OidcIssuer::Verify(const Jwt& jwt, TimePoint now) const {
  // Header: alg in the allow-list; "none" and HS* never parse as an Algorithm.
  auto alg_it = jwt.header.find("alg");
  if (alg_it == jwt.header.end() || !alg_it->is_string()) {
    return Status::Unauthenticated("malformed token");
  }
  std::optional<Algorithm> alg = ParseAlgorithm(alg_it->get_ref<const std::string&>());
  if (!alg || !allowed_.count(*alg)) return Status::Unauthenticated("algorithm not allowed");
  if (jwt.header.contains("crit")) return Status::Unauthenticated("unsupported critical header");
  std::string kid;
  if (auto k = jwt.header.find("kid"); k != jwt.header.end()) {
    if (!k->is_string()) return Status::Unauthenticated("malformed token");
    kid = k->get<std::string>();
  }

  // Keys: the cache as it is (never waiting for a fetch; see oidc.h).
  std::shared_ptr<const KeySet> keys;
  {
    std::lock_guard<std::mutex> lock(mu_);
    keys = keys_;
    if (config_.discovery) {
      if (!keys || FarApart(now, fetched_at_, config_.jwks_max_age)) RequestFetchLocked(now);
      if (!keys) {
        return Status::Unavailable("the signing keys of this issuer are not available yet");
      }
      // Fail closed: keys the issuer may have revoked meanwhile.
      if (FarApart(now, fetched_at_, config_.jwks_max_stale)) {
        return Status::Unavailable("the signing keys of this issuer are out of date");
      }
    }
  }
  // Key: by kid (or the only key of the right type); unknown -> one
  // rate-limited refresh, answered "retry" while it runs.
  bool kid_known = false;
  const Jwk* key = keys ? keys->Find(kid, *alg, &kid_known) : nullptr;
  if (!key) {
    if (kid_known) return Status::Unauthenticated("algorithm does not match the signing key");
    if (config_.discovery) {
      std::lock_guard<std::mutex> lock(mu_);
      if (RequestFetchLocked(now)) {
        return Status::Unavailable("unknown signing key; refreshing the issuer's keys");
      }
    }
    return Status::Unauthenticated("unknown signing key");
  }
  if (!VerifySignature(*alg, *key, jwt.signing_input, jwt.signature)) {
    return Status::Unauthenticated("signature does not verify");
  }

  std::string audience;
  AG_RETURN_IF_ERROR(CheckClaims(jwt.claims, now, &audience));

  auto who = jwt.claims.find(config_.identity_claim);
  if (who == jwt.claims.end() || !who->is_string() ||
      !IsPrintable(who->get_ref<const std::string&>())) {
    return Status::Unauthenticated("identity claim '" + config_.identity_claim +
                                   "' missing or invalid");
  }
  Identity id;
  id.method = "oidc";
  id.name = config_.identity_prefix + who->get<std::string>();
  // An identity spelled "local:<user>" would pass for a push by path on the
  // server (profiles match "local:*"): never from a token.
  if (id.name.rfind("local:", 0) == 0) {
    return Status::Unauthenticated("identity '" + id.name.substr(0, 64) +
                                   "' is reserved for pushes by path on the server");
  }
  id.groups = config_.groups;
  if (!config_.groups_claim.empty()) {
    auto g = jwt.claims.find(config_.groups_claim);
    if (g != jwt.claims.end() && g->is_array()) {
      for (const json& v : *g) {
        if (id.groups.size() >= config_.groups.size() + kMaxGroups) break;
        // Printable and comma-free: the hook environment joins groups with ','
        // and "dev,admins" must not become two groups.
        if (v.is_string() && IsPrintable(v.get_ref<const std::string&>()) &&
            v.get_ref<const std::string&>().find(',') == std::string::npos) {
          id.groups.push_back(v.get<std::string>());
        }
      }
    }
  }
  for (const char* name : kKeptClaims) {
    auto it = jwt.claims.find(name);
    if (it != jwt.claims.end() && it->is_string()) id.claims[name] = it->get<std::string>();
  }
  id.claims["aud"] = audience;
  return id;
}

}  // namespace ag::identity
