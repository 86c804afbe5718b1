#include "config/config.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "util/file.h"

namespace ag::config {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "ag-config-test-XXXXXX").string();
    EXPECT_NE(::mkdtemp(tmpl.data()), nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string Write(const std::string& name, const std::string& text) const {
    std::string p = path_ + "/" + name;
    std::ofstream(p) << text;
    return p;
  }

 private:
  std::string path_;
};

const char kFull[] = R"(
data_dir: /srv/agentgate
policy: policy.yaml
listen: "[::1]:9443"
tls: {cert: tls/cert.pem, key: /etc/ssl/key.pem}
control_socket: /run/ag.sock
server_key_file: keys/server.key
git_http_backend: /usr/lib/git-core/git-http-backend
webhook_url: "https://hooks.example.com/T000"
replay: {max_attempts: 3, backoff_max: 10m, poll_interval: 1h, io_timeout: 45s}
limits: {max_body: 1GiB, max_header: 32KiB, request_timeout: 30m, idle_timeout: 15s,
         max_concurrent: 10, max_concurrent_per_identity: 2, max_connections: 100,
         max_connections_per_address: 20, header_timeout: 5s, max_inflated_body: 16MiB}
repos:
  - {name: demo, upstream: https://github.com/org/demo.git, credential: upstream-token,
     sync_interval: 5m}
  - name: other.repo_1
    path: mirrors/other.git
    upstream: ssh://git@github.com/org/other.git
    credential: /etc/agentgate/ssh-key
    credential_user: git
    ssh_known_hosts: known_hosts
    sync_interval: 0
tokens:
  - {identity: agent-ci, groups: [agents, ci],
     sha256: 9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08}
oidc:
  - issuer: https://token.actions.githubusercontent.com
    audiences: [agentgate]
    discovery: true
    ca_file: ca.pem
    algorithms: [RS256, ES384]
    identity_claim: sub
    identity_prefix: "gha:"
    groups_claim: ""
    required_claims: {repository_owner: org, workflow: "ci: main"}
    groups: [agents]
    clock_skew: 30s
    jwks_max_age: 10m
    jwks_max_stale: 2h
  - {issuer: "https://idp.example.com", audiences: [a, b], jwks_file: jwks.json}
identity_accounts: {alice-agent: alice, "local:bob": bob}
)";

TEST(ConfigTest, Defaults) {
  Result<std::shared_ptr<const Config>> r = ParseConfig("", "/etc/agentgate/agentgate.yaml");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const Config& c = **r;
  Config d;
  EXPECT_EQ(c.path, "/etc/agentgate/agentgate.yaml");
  EXPECT_EQ(c.data_dir, "/var/lib/agentgate");
  EXPECT_EQ(c.policy_path, d.policy_path);
  EXPECT_EQ(c.listen, "127.0.0.1:8080");
  EXPECT_EQ(c.limits.max_body_bytes, 4ull << 30);
  EXPECT_EQ(c.limits.max_concurrent, 64u);
  EXPECT_EQ(c.limits.max_connections, 512u);
  EXPECT_EQ(c.limits.max_connections_per_address, 64u);
  EXPECT_EQ(c.limits.header_timeout, std::chrono::seconds(10));
  EXPECT_EQ(c.limits.max_inflated_body_bytes, 128ull << 20);
  EXPECT_EQ(c.replay_max_attempts, 8);
  EXPECT_EQ(c.replay_poll_interval, std::chrono::seconds(2));
  EXPECT_EQ(c.replay_io_timeout, std::chrono::minutes(2));
  EXPECT_EQ(c.db_path(), "/var/lib/agentgate/agentgate.db");
  EXPECT_EQ(c.key_path(), "/var/lib/agentgate/server.key");
  EXPECT_TRUE(c.repos.empty());
}

TEST(ConfigTest, FullModel) {
  Result<std::shared_ptr<const Config>> r = ParseConfig(kFull, "/etc/agentgate/agentgate.yaml");
  ASSERT_TRUE(r.ok()) << r.status().message();
  const Config& c = **r;
  EXPECT_EQ(c.data_dir, "/srv/agentgate");
  EXPECT_EQ(c.policy_path, "/etc/agentgate/policy.yaml");
  EXPECT_EQ(c.listen, "[::1]:9443");
  EXPECT_EQ(c.tls_cert, "/etc/agentgate/tls/cert.pem");
  EXPECT_EQ(c.tls_key, "/etc/ssl/key.pem");
  EXPECT_EQ(c.server_key_file, "/etc/agentgate/keys/server.key");
  EXPECT_EQ(c.key_path(), "/etc/agentgate/keys/server.key");
  EXPECT_EQ(c.webhook_url, "https://hooks.example.com/T000");
  EXPECT_EQ(c.replay_max_attempts, 3);
  EXPECT_EQ(c.replay_backoff_max, std::chrono::minutes(10));
  EXPECT_EQ(c.replay_poll_interval, std::chrono::hours(1));
  EXPECT_EQ(c.replay_io_timeout, std::chrono::seconds(45));
  EXPECT_EQ(c.limits.max_body_bytes, 1ull << 30);
  EXPECT_EQ(c.limits.max_header_bytes, 32u << 10);
  EXPECT_EQ(c.limits.request_timeout, std::chrono::minutes(30));
  EXPECT_EQ(c.limits.idle_timeout, std::chrono::seconds(15));
  EXPECT_EQ(c.limits.max_concurrent, 10u);
  EXPECT_EQ(c.limits.max_concurrent_per_identity, 2u);
  EXPECT_EQ(c.limits.max_connections, 100u);
  EXPECT_EQ(c.limits.max_connections_per_address, 20u);
  EXPECT_EQ(c.limits.header_timeout, std::chrono::seconds(5));
  EXPECT_EQ(c.limits.max_inflated_body_bytes, 16ull << 20);

  ASSERT_EQ(c.repos.size(), 2u);
  EXPECT_EQ(c.repos[0].path, "/srv/agentgate/repos/demo.git");
  EXPECT_EQ(c.repos[0].credential, "upstream-token");
  EXPECT_EQ(c.repos[0].credential_user, "x-access-token");
  EXPECT_EQ(c.repos[0].sync_interval, std::chrono::minutes(5));
  EXPECT_EQ(c.repos[1].path, "/etc/agentgate/mirrors/other.git");
  EXPECT_EQ(c.repos[1].credential, "/etc/agentgate/ssh-key");
  EXPECT_EQ(c.repos[1].credential_user, "git");
  EXPECT_EQ(c.repos[1].ssh_known_hosts, "/etc/agentgate/known_hosts");
  EXPECT_EQ(c.repos[1].sync_interval, std::chrono::seconds(0));
  EXPECT_EQ(c.FindRepo("other.repo_1"), &c.repos[1]);
  EXPECT_EQ(c.FindRepo("nope"), nullptr);

  ASSERT_EQ(c.tokens.size(), 1u);
  EXPECT_EQ(c.tokens[0].identity, "agent-ci");
  EXPECT_EQ(c.tokens[0].groups, (std::vector<std::string>{"agents", "ci"}));
  // Hex is normalised to lower case.
  EXPECT_EQ(c.tokens[0].sha256, "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");

  ASSERT_EQ(c.oidc.size(), 2u);
  const OidcConfig& o = c.oidc[0];
  EXPECT_EQ(o.issuer, "https://token.actions.githubusercontent.com");
  EXPECT_TRUE(o.discovery);
  EXPECT_EQ(o.ca_file, "/etc/agentgate/ca.pem");
  EXPECT_EQ(o.algorithms, (std::vector<std::string>{"RS256", "ES384"}));
  EXPECT_EQ(o.identity_prefix, "gha:");
  EXPECT_EQ(o.groups_claim, "");
  EXPECT_EQ(o.required_claims.at("workflow"), "ci: main");
  EXPECT_EQ(o.clock_skew, std::chrono::seconds(30));
  EXPECT_EQ(o.jwks_max_age, std::chrono::minutes(10));
  EXPECT_EQ(o.jwks_max_stale, std::chrono::hours(2));
  EXPECT_EQ(c.oidc[1].jwks_max_age, std::chrono::minutes(15));  // defaults
  EXPECT_EQ(c.oidc[1].jwks_max_stale, std::chrono::hours(1));
  EXPECT_EQ(c.oidc[1].jwks_file, "/etc/agentgate/jwks.json");
  EXPECT_EQ(c.oidc[1].algorithms, (std::vector<std::string>{"RS256", "ES256"}));
  EXPECT_EQ(c.identity_accounts.at("local:bob"), "bob");
}

void ExpectSame(const Config& a, const Config& b) {
  EXPECT_EQ(a.data_dir, b.data_dir);
  EXPECT_EQ(a.policy_path, b.policy_path);
  EXPECT_EQ(a.listen, b.listen);
  EXPECT_EQ(a.tls_cert, b.tls_cert);
  EXPECT_EQ(a.tls_key, b.tls_key);
  EXPECT_EQ(a.control_socket, b.control_socket);
  EXPECT_EQ(a.server_key_file, b.server_key_file);
  EXPECT_EQ(a.git_http_backend, b.git_http_backend);
  EXPECT_EQ(a.webhook_url, b.webhook_url);
  EXPECT_EQ(a.replay_backoff_max, b.replay_backoff_max);
  EXPECT_EQ(a.replay_max_attempts, b.replay_max_attempts);
  EXPECT_EQ(a.replay_poll_interval, b.replay_poll_interval);
  EXPECT_EQ(a.replay_io_timeout, b.replay_io_timeout);
  EXPECT_EQ(a.limits.max_body_bytes, b.limits.max_body_bytes);
  EXPECT_EQ(a.limits.max_header_bytes, b.limits.max_header_bytes);
  EXPECT_EQ(a.limits.request_timeout, b.limits.request_timeout);
  EXPECT_EQ(a.limits.idle_timeout, b.limits.idle_timeout);
  EXPECT_EQ(a.limits.max_concurrent, b.limits.max_concurrent);
  EXPECT_EQ(a.limits.max_concurrent_per_identity, b.limits.max_concurrent_per_identity);
  EXPECT_EQ(a.limits.max_connections, b.limits.max_connections);
  EXPECT_EQ(a.limits.max_connections_per_address, b.limits.max_connections_per_address);
  EXPECT_EQ(a.limits.header_timeout, b.limits.header_timeout);
  EXPECT_EQ(a.limits.max_inflated_body_bytes, b.limits.max_inflated_body_bytes);
  ASSERT_EQ(a.repos.size(), b.repos.size());
  for (size_t i = 0; i < a.repos.size(); ++i) {
    EXPECT_EQ(a.repos[i].name, b.repos[i].name);
    EXPECT_EQ(a.repos[i].path, b.repos[i].path);
    EXPECT_EQ(a.repos[i].upstream, b.repos[i].upstream);
    EXPECT_EQ(a.repos[i].credential, b.repos[i].credential);
    EXPECT_EQ(a.repos[i].credential_user, b.repos[i].credential_user);
    EXPECT_EQ(a.repos[i].ssh_known_hosts, b.repos[i].ssh_known_hosts);
    EXPECT_EQ(a.repos[i].sync_interval, b.repos[i].sync_interval);
    ASSERT_EQ(a.repos[i].github_app.has_value(), b.repos[i].github_app.has_value()) << a.repos[i].name;
    if (a.repos[i].github_app) {
      EXPECT_EQ(a.repos[i].github_app->app_id, b.repos[i].github_app->app_id);
      EXPECT_EQ(a.repos[i].github_app->installation_id, b.repos[i].github_app->installation_id);
      EXPECT_EQ(a.repos[i].github_app->private_key, b.repos[i].github_app->private_key);
      EXPECT_EQ(a.repos[i].github_app->api_url, b.repos[i].github_app->api_url);
      EXPECT_EQ(a.repos[i].github_app->ca_file, b.repos[i].github_app->ca_file);
    }
  }
  EXPECT_EQ(a.github_app.has_value(), b.github_app.has_value());
  ASSERT_EQ(a.tokens.size(), b.tokens.size());
  for (size_t i = 0; i < a.tokens.size(); ++i) {
    EXPECT_EQ(a.tokens[i].identity, b.tokens[i].identity);
    EXPECT_EQ(a.tokens[i].groups, b.tokens[i].groups);
    EXPECT_EQ(a.tokens[i].sha256, b.tokens[i].sha256);
  }
  ASSERT_EQ(a.oidc.size(), b.oidc.size());
  for (size_t i = 0; i < a.oidc.size(); ++i) {
    const OidcConfig& x = a.oidc[i];
    const OidcConfig& y = b.oidc[i];
    EXPECT_EQ(x.issuer, y.issuer);
    EXPECT_EQ(x.audiences, y.audiences);
    EXPECT_EQ(x.jwks_file, y.jwks_file);
    EXPECT_EQ(x.discovery, y.discovery);
    EXPECT_EQ(x.ca_file, y.ca_file);
    EXPECT_EQ(x.algorithms, y.algorithms);
    EXPECT_EQ(x.identity_claim, y.identity_claim);
    EXPECT_EQ(x.identity_prefix, y.identity_prefix);
    EXPECT_EQ(x.groups_claim, y.groups_claim);
    EXPECT_EQ(x.required_claims, y.required_claims);
    EXPECT_EQ(x.groups, y.groups);
    EXPECT_EQ(x.clock_skew, y.clock_skew);
    if (x.discovery) {
      EXPECT_EQ(x.jwks_max_age, y.jwks_max_age);
      EXPECT_EQ(x.jwks_max_stale, y.jwks_max_stale);
    }
  }
  EXPECT_EQ(a.identity_accounts, b.identity_accounts);
}

TEST(ConfigTest, SaveRoundTrips) {
  TempDir dir;
  std::string path = dir.Write("agentgate.yaml", kFull);
  Result<std::shared_ptr<const Config>> first = LoadConfig(path);
  ASSERT_TRUE(first.ok()) << first.status().message();
  std::string saved = dir.path() + "/saved.yaml";
  ASSERT_TRUE(SaveConfig(**first, saved).ok());
  struct stat st;
  ASSERT_EQ(::stat(saved.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0007, 0u);  // not world-readable
  Result<std::shared_ptr<const Config>> second = LoadConfig(saved);
  ASSERT_TRUE(second.ok()) << second.status().message() << "\n" << *ReadFile(saved);
  ExpectSame(**first, **second);

  // A config built in code (as `agentgate repo add` does) round-trips too,
  // including awkward strings.
  Config c;
  c.data_dir = dir.path() + "/data";
  c.webhook_url = "";
  RepoConfig repo;
  repo.name = "x";
  repo.path = c.data_dir + "/repos/x.git";
  repo.upstream = "/path with spaces/up.git";
  repo.credential_user = "true";
  repo.sync_interval = std::chrono::seconds(61);
  c.repos.push_back(repo);
  c.identity_accounts["#odd: key"] = "- value";
  ASSERT_TRUE(SaveConfig(c, saved).ok());
  Result<std::shared_ptr<const Config>> third = LoadConfig(saved);
  ASSERT_TRUE(third.ok()) << third.status().message() << "\n" << *ReadFile(saved);
  ExpectSame(c, **third);
  // Saving again over the file replaces it and leaves no temp file behind.
  ASSERT_TRUE(SaveConfig(**third, saved).ok());
  int files = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir.path())) ++files;
  EXPECT_EQ(files, 2);
}

TEST(ConfigTest, ShippedExampleLoads) {
  std::string path = std::string(AG_SOURCE_DIR) + "/docs/agentgate.example.yaml";
  Result<std::shared_ptr<const Config>> r = LoadConfig(path);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_FALSE((*r)->repos.empty());
  EXPECT_FALSE((*r)->tokens.empty());
  EXPECT_FALSE((*r)->oidc.empty());
}

TEST(ConfigTest, MissingFile) {
  Result<std::shared_ptr<const Config>> r = LoadConfig("/nonexistent/agentgate.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kNotFound);
}

struct BadCase {
  const char* yaml;
  const char* expected;  // "LINE:COL: message part"
};

// A GitHub App per repo, or the top-level one for every https repo without
// a credential of its own; saved as it was written.
TEST(ConfigTest, GithubAppPerRepoAndAsTheDefault) {
  TempDir dir;
  std::string path = dir.Write("agentgate.yaml", R"(
data_dir: /srv/ag
github_app: {app_id: 11, installation_id: 22, private_key: app-key}
repos:
  - {name: inherits, upstream: "https://github.com/o/inherits.git"}
  - {name: own, upstream: "https://ghe.example/o/own.git",
     github_app: {app_id: 33, installation_id: 44, private_key: /etc/k.pem, api_url: "https://ghe.example/api/v3/"}}
  - {name: token, upstream: "https://github.com/o/token.git", credential: upstream-token}
  - {name: ssh, upstream: "ssh://git@github.com/o/ssh.git", credential: /etc/ssh-key}
  - {name: elsewhere, upstream: "https://gitlab.example/o/elsewhere.git"}
)");
  Result<std::shared_ptr<const Config>> c = LoadConfig(path);
  ASSERT_TRUE(c.ok()) << c.status().message();
  const Config& cfg = **c;
  ASSERT_EQ(cfg.repos.size(), 5u);
  EXPECT_FALSE(cfg.repos[4].github_app);  // GitHub's tokens go to GitHub only
  ASSERT_TRUE(cfg.repos[0].github_app);
  EXPECT_EQ(cfg.repos[0].github_app->app_id, 11);
  EXPECT_EQ(cfg.repos[0].github_app->installation_id, 22);
  EXPECT_EQ(cfg.repos[0].github_app->private_key, "app-key");
  EXPECT_EQ(cfg.repos[0].github_app->api_url, "https://api.github.com");
  ASSERT_TRUE(cfg.repos[1].github_app);
  EXPECT_EQ(cfg.repos[1].github_app->app_id, 33);
  EXPECT_EQ(cfg.repos[1].github_app->api_url, "https://ghe.example/api/v3");
  EXPECT_FALSE(cfg.repos[2].github_app);  // its own token
  EXPECT_FALSE(cfg.repos[3].github_app);  // ssh
  std::string saved = dir.path() + "/saved.yaml";
  ASSERT_TRUE(SaveConfig(cfg, saved).ok());
  Result<std::shared_ptr<const Config>> again = LoadConfig(saved);
  ASSERT_TRUE(again.ok()) << again.status().message() << "\n" << *ReadFile(saved);
  ExpectSame(cfg, **again);
  // The inheriting repo keeps inheriting (no copy of the default in it).
  std::string text = *ReadFile(saved);
  EXPECT_EQ(text.find("app_id: 11"), text.rfind("app_id: 11")) << text;
}

TEST(ConfigTest, ProblemsHavePositions) {
  const BadCase cases[] = {
      {"data_dri: /x\n", "1:1: unknown key 'data_dri' in config"},
      {"data_dir: ''\n", "1:11: data_dir: must not be empty"},
      {"data_dir: [a]\n", "1:11: data_dir: expected a string, got a list"},
      {"listen: localhost\n", "1:9: listen: expected host:port"},
      {"listen: 'h:99999'\n", "1:9: listen: expected host:port"},
      {"tls: {cert: a}\n", "1:6: tls: set both cert and key"},
      {"tls: {cert: a, key: b, ca: c}\n", "1:24: unknown key 'ca' in tls"},
      {"webhook_url: ftp://x\n", "1:14: webhook_url must start with https://"},
      {"replay: {max_attempts: 0}\n", "1:24: max_attempts: 0 is out of range"},
      {"replay: {backoff_max: 5}\n", "1:23: backoff_max: bad duration '5'"},
      {"replay: {poll_interval: 0s}\n", "1:25: poll_interval:"},
      {"limits: {max_body: 4GB}\n", "1:20: max_body: bad size '4GB'"},
      {"limits: {max_header: 10}\n", "1:22: max_header: must be between 1KiB"},
      {"limits: {idle_timeout: 0}\n", "1:24: idle_timeout: must be longer than 0"},
      {"limits: {max_concurrent: 2, max_concurrent_per_identity: 3}\n",
       "1:9: limits: max_concurrent_per_identity (3) exceeds max_concurrent (2)"},
      {"limits: {max_concurrent: x}\n", "1:26: max_concurrent: expected an integer, got 'x'"},
      {"limits: {max_connections: 0}\n", "1:27: max_connections: 0 is out of range"},
      {"limits: {max_connections: 8, max_connections_per_address: 9}\n",
       "1:9: limits: max_connections_per_address (9) exceeds max_connections (8)"},
      {"limits: {header_timeout: 0s}\n", "1:26: header_timeout: must be longer than 0"},
      {"limits: {max_inflated_body: 0}\n", "1:29: max_inflated_body: must be larger than 0"},
      {"repos: {name: a}\n", "1:8: repos: expected a list of repos"},
      {"repos:\n  - {name: .hidden}\n", "2:12: repo name '.hidden' must match"},
      {"repos:\n  - {name: a/b}\n", "2:12: repo name 'a/b' must match"},
      {"repos:\n  - {name: a}\n  - {name: a}\n", "3:12: duplicate repo name 'a'"},
      {"repos:\n  - {path: /x}\n", "2:5: repo: missing required key 'name'"},
      {"repos:\n  - {name: a, upstrem: x}\n", "2:15: unknown key 'upstrem' in repo"},
      {"repos:\n  - {name: a, upstream: 'https://u:tok@github.com/o/r.git'}\n",
       "2:25: upstream: the URL carries a password or token"},
      {"repos:\n  - {name: a, credential: dir/file}\n", "2:27: credential: expected a file name"},
      {"repos:\n  - {name: a, sync_interval: soon}\n", "2:30: sync_interval: bad duration"},
      {"tokens:\n  - {identity: a, sha256: abc}\n", "2:27: sha256: expected 64 hex digits"},
      // A token must not pass for a push by path on the server (profile "local:*").
      {"tokens:\n  - {identity: 'local:root', sha256: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa}\n",
       "2:16: identity: 'local:' is reserved"},
      {"tokens:\n  - {sha256: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa}\n", "2:5: token: missing required key 'identity'"},
      {"tokens:\n  - {identity: a, sha256: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa, token: x}\n", "2:93: unknown key 'token'"},
      {"oidc:\n  - {audiences: [a], jwks_file: j}\n", "2:5: oidc issuer: missing required key 'issuer'"},
      {"oidc:\n  - {issuer: '', audiences: [a], jwks_file: j}\n", "2:14: issuer: must not be empty"},
      {"oidc:\n  - {issuer: i, audiences: [], jwks_file: j}\n", "2:28: audiences: list at least one"},
      {"oidc:\n  - {issuer: i, jwks_file: j}\n", "2:5: oidc issuer: missing required key 'audiences'"},
      {"oidc:\n  - {issuer: i, audiences: [a]}\n", "2:5: oidc issuer: set jwks_file, or discovery"},
      {"oidc:\n  - {issuer: 'http://i', audiences: [a], discovery: true}\n",
       "2:5: oidc issuer: discovery needs an https:// issuer"},
      {"oidc:\n  - {issuer: i, audiences: [a], jwks_file: j, algorithms: [RS256, none]}\n",
       "2:67: algorithms: 'none' is not allowed"},
      {"oidc:\n  - {issuer: i, audiences: [a], jwks_file: j, algorithms: [HS256]}\n",
       "2:60: algorithms: 'HS256' is not allowed"},
      {"oidc:\n  - {issuer: i, audiences: [a], jwks_file: j, discovery: yes}\n",
       "2:58: discovery: expected true or false"},
      {"oidc:\n  - {issuer: i, audiences: [a], jwks_file: j, clock_skew: 2h}\n",
       "2:59: clock_skew: at most 1h"},
      {"oidc:\n  - {issuer: i, audiences: [a], jwks_file: j, jwks_max_stale: 0s}\n",
       "2:63: jwks_max_stale: between 1s and 7d"},
      {"oidc:\n  - {issuer: i, audiences: [a], jwks_file: j, jwks_max_age: 31m}\n",
       "2:5: oidc issuer: jwks_max_stale must be at least twice jwks_max_age"},
      {"identity_accounts: [a]\n", "1:20: identity_accounts: expected a mapping"},
      {"data_dir: /x\ndata_dir: /y\n", "2:1: duplicate key 'data_dir' in config"},
      {"listen: [\n", "YAML syntax error"},
      {"repos:\n  - {name: a, credential: t, github_app: {app_id: 1, installation_id: 2, private_key: k}}\n",
       "2:30: repo 'a': set credential or github_app, not both"},
      {"github_app: {app_id: 0, installation_id: 2, private_key: k}\n", "1:22: app_id: 0 is out of range"},
      {"repos:\n  - {name: a, upstream: 'https://gitlab.example/o/a.git', github_app: {app_id: 1, "
       "installation_id: 2, private_key: k}}\n",
       "2:59: repo 'a': github_app of https://api.github.com mints tokens for github.com, not for the upstream's "
       "host gitlab.example"},
      {"repos:\n  - {name: a, upstream: 'http://github.com/o/a.git', github_app: {app_id: 1, "
       "installation_id: 2, private_key: k}}\n",
       "repo 'a': github_app needs an https:// upstream"},
      {"github_app: {app_id: 1, private_key: k}\n", "1:13: github_app: missing required key 'installation_id'"},
      {"github_app: {app_id: 1, installation_id: 2, private_key: a/b}\n",
       "1:58: github_app.private_key: expected a credential name"},
      {"github_app: {app_id: 1, installation_id: 2, private_key: k, api_url: 'http://x'}\n",
       "1:70: github_app.api_url must be an https:// URL"},
  };
  for (const BadCase& c : cases) {
    Result<std::shared_ptr<const Config>> r = ParseConfig(c.yaml, "bad.yaml");
    ASSERT_FALSE(r.ok()) << c.yaml;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
    const std::string msg = r.status().message();
    EXPECT_EQ(msg.find('\n'), std::string::npos) << c.yaml << "\n" << msg;  // one problem
    EXPECT_EQ(msg.rfind("bad.yaml:", 0), 0u) << msg;
    EXPECT_NE(msg.find(c.expected), std::string::npos) << c.yaml << "\n" << msg;
  }
}

TEST(ConfigTest, SecretsAreNotEchoed) {
  Result<std::shared_ptr<const Config>> r = ParseConfig(
      "webhook_url: 'ftp://hooks/SECRETHOOK'\n"
      "repos:\n  - {name: a, upstream: 'https://u:SECRETTOKEN@h/r.git'}\n"
      "tokens:\n  - {identity: a, sha256: SECRETPLAINTOKEN}\n",
      "bad.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message().find("SECRET"), std::string::npos) << r.status().message();
}

TEST(ConfigTest, ReportsEveryProblem) {
  Result<std::shared_ptr<const Config>> r =
      ParseConfig("bogus: 1\nlisten: x\nrepos:\n  - {name: ..}\n", "bad.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "bad.yaml:1:1: unknown key 'bogus' in config (expected one of: data_dir, policy, "
            "listen, tls, control_socket, server_key_file, git_http_backend, webhook_url, "
            "replay, limits, repos, tokens, oidc, identity_accounts, github_app)\n"
            "bad.yaml:2:9: listen: expected host:port or [v6]:port, got 'x'\n"
            "bad.yaml:4:12: repo name '..' must match [A-Za-z0-9._-]+ and not start with '.'");
}

}  // namespace
}  // namespace ag::config
