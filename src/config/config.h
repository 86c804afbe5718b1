// The daemon's one configuration file (YAML, /etc/agentgate/agentgate.yaml):
// where data lives, which repos are mirrored, who the agents are (static
// tokens, OIDC issuers), server limits, upstream credentials and reviewer
// account mapping. See docs/config.md for every key and its default.
//
// Thread-safety: a loaded Config is immutable; share it as
// shared_ptr<const Config>.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "util/status.h"

namespace ag::config {

// A GitHub App that mints the replay's and sync's upstream tokens
// (replay/github_app.h): installation tokens that live one hour and are
// limited to the repo, instead of a long-lived token in a file.
struct GithubAppConfig {
  int64_t app_id = 0;           // the App's id ("iss" of its JWT)
  int64_t installation_id = 0;  // its installation on the repo's owner
  // The App's private key (PEM): a credential name or absolute path, as
  // RepoConfig::credential.
  std::string private_key;
  std::string api_url = "https://api.github.com";  // GitHub Enterprise: https://HOST/api/v3
  std::string ca_file;  // CA bundle for api_url (private CAs, tests); empty = system store
};

struct RepoConfig {
  std::string name;      // [A-Za-z0-9._-]+, served as /<name>.git
  std::string path;      // bare mirror; default <data_dir>/repos/<name>.git
  std::string upstream;  // https://..., ssh://..., file://... or a local path; may be empty
  // Credential for upstream: a file name looked up in $CREDENTIALS_DIRECTORY,
  // or an absolute path (must not be world-readable). Token files hold the
  // token; ssh credentials name a private key file. Empty: no credential.
  std::string credential;
  std::string credential_user = "x-access-token";  // Basic user name for https tokens
  std::string ssh_known_hosts;  // path to a known_hosts file for ssh upstreams
  std::chrono::seconds sync_interval{60};  // 0 = no periodic sync
  // Added after the first version: upstream tokens minted by a GitHub App
  // (the repo's own, or the config's top-level github_app for a repo with
  // an https upstream and no credential). Never together with credential.
  std::optional<GithubAppConfig> github_app;
};

struct StaticTokenConfig {
  std::string identity;             // the policy identity this token maps to
  std::vector<std::string> groups;  // its groups
  std::string sha256;               // hex SHA-256 of the token; the token itself is never stored
};

struct OidcConfig {
  std::string issuer;                  // exact "iss"
  std::vector<std::string> audiences;  // "aud" must contain one of these
  std::string jwks_file;               // local JWKS; or discovery below
  bool discovery = false;              // fetch <issuer>/.well-known/openid-configuration over HTTPS
  std::string ca_file;                 // CA bundle for discovery (tests); empty = system
  std::vector<std::string> algorithms = {"RS256", "ES256"};  // allow-list; never "none"/HS*
  std::string identity_claim = "sub";     // claim naming the identity
  std::string identity_prefix;            // prepended to it, e.g. "gha:"
  std::string groups_claim = "groups";    // claim holding a list of groups (optional)
  std::map<std::string, std::string> required_claims;  // claim -> exact value
  std::vector<std::string> groups;        // groups every identity of this issuer gets
  std::chrono::seconds clock_skew{60};
  // Discovery keys: refreshed in the background once older than
  // jwks_max_age; a token is refused with 503 once the newest keys fetched
  // are older than jwks_max_stale (the issuer unreachable that long: keys it
  // revoked meanwhile must not stay trusted). docs/identity.md "Keys".
  std::chrono::seconds jwks_max_age{900};
  std::chrono::seconds jwks_max_stale{3600};
};

struct ServerLimits {
  uint64_t max_body_bytes = 4ull << 30;         // per request body; 413 past it
  uint32_t max_header_bytes = 16 << 10;         // 431 past it
  std::chrono::seconds request_timeout{3600};   // whole request, including the child
  std::chrono::seconds idle_timeout{60};        // no bytes either way for this long: close
  uint32_t max_concurrent = 64;                 // requests in flight, in total; 503 past it
  uint32_t max_concurrent_per_identity = 8;     // per identity; 429 past it
  // Starvation limits (docs/mirror.md "Connections"). Open client connections
  // in total and per client address: a new connection over either cap closes
  // the oldest idle one (no request in progress) in its place, or is refused
  // (503, closed) when every connection is busy.
  uint32_t max_connections = 512;
  uint32_t max_connections_per_address = 64;   // REQUIRES: <= max_connections
  // A complete request header must arrive within this long of the server
  // starting to wait for it (after accept, or after the previous response).
  std::chrono::seconds header_timeout{10};
  // A Content-Encoding: gzip request body is inflated by the mirror; 413 once
  // it inflates past this (max_body bounds the bytes on the wire).
  uint64_t max_inflated_body_bytes = 128ull << 20;
};

struct Config {
  std::string path;             // the file it was loaded from
  std::string data_dir = "/var/lib/agentgate";  // db, repos, keys
  std::string policy_path = "/etc/agentgate/policy.yaml";  // relative paths: to the config file
  std::string listen = "127.0.0.1:8080";        // host:port; [::1]:port for IPv6
  std::string tls_cert;                         // PEM; TLS is on when both are set
  std::string tls_key;
  std::string control_socket = "/run/agentgate/control.sock";
  std::string server_key_file;  // HMAC key (fingerprints, identity env); default <data_dir>/server.key
  std::string git_http_backend = "/usr/lib/git-core/git-http-backend";
  std::string webhook_url;      // notified of new pending requests; empty = none
  std::chrono::seconds replay_backoff_max{300};
  // How often the replay worker looks for work on its own (retries that came
  // due); approvals and policy-approved pushes wake it at once.
  std::chrono::seconds replay_poll_interval{2};
  // An upstream connection (replay, sync, doctor) that moves no data this
  // long is cut and the attempt retried later (replay/stall.h).
  std::chrono::seconds replay_io_timeout{120};
  int replay_max_attempts = 8;
  ServerLimits limits;
  std::vector<RepoConfig> repos;
  std::vector<StaticTokenConfig> tokens;
  std::vector<OidcConfig> oidc;
  // Policy identity -> Unix account, for identities that are people (no self-approval).
  std::map<std::string, std::string> identity_accounts;
  // The top-level github_app (the default for repos, see RepoConfig).
  std::optional<GithubAppConfig> github_app;

  std::string db_path() const { return data_dir + "/agentgate.db"; }
  // Where agentgate-mirror's check server listens and the hooks look.
  std::string hook_socket_path() const { return data_dir + "/hook.sock"; }
  std::string key_path() const {
    return server_key_file.empty() ? data_dir + "/server.key" : server_key_file;
  }
  const RepoConfig* FindRepo(const std::string& name) const;
};

// Whether `app` may serve `upstream`: an https:// URL on the GitHub host of
// app.api_url (api.github.com -> github.com, https://HOST/api/v3 -> HOST), or
// http(s) on the loopback interface (local tests). An App's token goes to no
// other host. OK or InvalidArgument saying why.
Status GithubAppServes(const GithubAppConfig& app, const std::string& upstream);
// The shape checks of a github_app block (ids, private_key, api_url).
Status ValidateGithubApp(const GithubAppConfig& app);

// Loads and validates the file. Errors are InvalidArgument with one
// "FILE:LINE:COL: message" line per problem. Relative paths in the file are
// resolved against the file's folder.
Result<std::shared_ptr<const Config>> LoadConfig(const std::string& path);
Result<std::shared_ptr<const Config>> ParseConfig(const std::string& yaml, const std::string& file);

// Writes `config` back as YAML (used by `agentgate repo add`), atomically.
Status SaveConfig(const Config& config, const std::string& path);

}  // namespace ag::config
