// Loading, validating and saving the daemon configuration. Reading uses the
// strict YAML reader shared with the policy (policy/yaml_reader.h): unknown
// keys, wrong types and bad values are all reported, with FILE:LINE:COL.
#include "config/config.h"

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <set>
#include <utility>

#include "policy/yaml_reader.h"
#include "util/file.h"

namespace ag::config {
namespace {

using policy::Field;
using policy::Map;
using policy::Problem;
using policy::Reader;

constexpr size_t kMaxConfigBytes = 4u << 20;
constexpr int64_t kMaxReplayAttempts = 1000;
constexpr int64_t kMaxConcurrentLimit = 100000;
constexpr std::chrono::seconds kMaxClockSkew{3600};

// Signature algorithms an OIDC issuer may use. Never "none" and never HS*:
// an HMAC "signature" made with the issuer's public key would verify.
constexpr std::string_view kAllowedAlgorithms[] = {"RS256", "RS384", "RS512", "ES256", "ES384"};

bool ValidRepoName(std::string_view n) {
  if (n.empty() || n.front() == '.' || n.size() > 200) return false;
  return std::all_of(n.begin(), n.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '-';
  });
}

bool IsHex64(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
         });
}

std::string Lower(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

// "host:port", "[v6]:port"; port 0-65535 (0: the kernel picks, for tests).
bool ValidListen(std::string_view s) {
  size_t colon = s.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == s.size()) return false;
  std::string_view host = s.substr(0, colon);
  std::string_view port = s.substr(colon + 1);
  if (port.size() > 5 || !std::all_of(port.begin(), port.end(), [](char c) {
        return c >= '0' && c <= '9';
      })) {
    return false;
  }
  if (std::stoi(std::string(port)) > 65535) return false;
  if (host.front() == '[') return host.size() > 2 && host.back() == ']';
  return host.find(':') == std::string_view::npos;
}

// True when a URL carries a password or token in its authority
// ("https://user:token@host/..."): credentials belong in `credential`.
bool UrlHasPassword(std::string_view url) {
  size_t scheme = url.find("://");
  if (scheme == std::string_view::npos) return false;
  std::string_view rest = url.substr(scheme + 3);
  std::string_view authority = rest.substr(0, rest.find('/'));
  size_t at = authority.rfind('@');
  if (at == std::string_view::npos) return false;
  return authority.substr(0, at).find(':') != std::string_view::npos;
}

// scheme, lower-case host (no port, no userinfo) and path of a URL; empty
// host when it has none.
struct UrlParts {
  std::string scheme, host, path;
};
UrlParts SplitUrl(std::string_view url) {
  UrlParts p;
  size_t colon = url.find("://");
  if (colon == std::string_view::npos) return p;
  p.scheme = std::string(url.substr(0, colon));
  std::string_view rest = url.substr(colon + 3);
  size_t slash = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, slash);
  p.path = slash == std::string_view::npos ? "" : std::string(rest.substr(slash));
  size_t at = authority.rfind('@');
  if (at != std::string_view::npos) authority = authority.substr(at + 1);
  if (!authority.empty() && authority.front() == '[') {
    p.host = std::string(authority.substr(0, authority.find(']') + 1));
  } else {
    p.host = std::string(authority.substr(0, authority.find(':')));
  }
  for (char& c : p.host) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return p;
}

bool IsLoopback(const std::string& host) {
  return host == "localhost" || host == "[::1]" || host.rfind("127.", 0) == 0;
}

}  // namespace

Status ValidateGithubApp(const GithubAppConfig& app) {
  if (app.app_id <= 0 || app.installation_id <= 0) {
    return Status::InvalidArgument("github_app: app_id and installation_id must be positive");
  }
  if (app.private_key.empty() || (app.private_key.front() != '/' && app.private_key.find('/') != std::string::npos)) {
    return Status::InvalidArgument("github_app.private_key: expected a credential name (looked up in "
                                   "$CREDENTIALS_DIRECTORY) or an absolute path");
  }
  UrlParts api = SplitUrl(app.api_url);
  bool printable = std::all_of(app.api_url.begin(), app.api_url.end(), [](char c) {
    return static_cast<unsigned char>(c) > 0x20 && c != 0x7f;
  });
  if (api.scheme != "https" || api.host.empty() || !printable ||
      app.api_url.find_first_of("?#@") != std::string::npos || app.api_url.back() == '/') {
    return Status::InvalidArgument("github_app.api_url must be an https:// URL without credentials, query, "
                                   "fragment or trailing '/'");
  }
  return Status::Ok();
}

Status GithubAppServes(const GithubAppConfig& app, const std::string& upstream) {
  UrlParts up = SplitUrl(upstream);
  if (IsLoopback(up.host) && (up.scheme == "https" || up.scheme == "http")) return Status::Ok();
  if (up.scheme != "https") {
    return Status::InvalidArgument("github_app needs an https:// upstream (its tokens are HTTP Basic passwords)");
  }
  UrlParts api = SplitUrl(app.api_url);
  std::string expected = api.host == "api.github.com" ? "github.com" : api.host;
  if (up.host != expected) {
    return Status::InvalidArgument("github_app of " + app.api_url + " mints tokens for " + expected +
                                   ", not for the upstream's host " + up.host);
  }
  return Status::Ok();
}

namespace {

class ConfigParser {
 public:
  ConfigParser(const std::string& file, std::vector<Problem>* problems) : r_(file, problems) {}

  void Parse(const YAML::Node& root, Config* c) {
    if (root.IsNull()) return;  // an empty file: every default
    std::optional<Map> top = r_.ReadMap(
        root, "config",
        {"data_dir", "policy", "listen", "tls", "control_socket", "server_key_file",
         "git_http_backend", "webhook_url", "replay", "limits", "repos", "tokens", "oidc",
         "identity_accounts", "github_app"});
    if (!top) return;
    ReadPath(*top, "data_dir", &c->data_dir, /*required_value=*/true);
    ReadPath(*top, "policy", &c->policy_path, true);
    if (const Field* f = top->Get("listen")) {
      if (auto s = r_.String(*f)) {
        if (!ValidListen(*s)) {
          r_.Report(f->value, "listen: expected host:port or [v6]:port, got '" + *s + "'");
        } else {
          c->listen = *s;
        }
      }
    }
    if (const Field* f = top->Get("tls")) {
      if (auto m = r_.ReadMap(f->value, "tls", {"cert", "key"})) {
        ReadPath(*m, "cert", &c->tls_cert, true);
        ReadPath(*m, "key", &c->tls_key, true);
        if (c->tls_cert.empty() != c->tls_key.empty()) {
          r_.Report(f->value, "tls: set both cert and key, or neither");
        }
      }
    }
    ReadPath(*top, "control_socket", &c->control_socket, true);
    ReadPath(*top, "server_key_file", &c->server_key_file, false);
    ReadPath(*top, "git_http_backend", &c->git_http_backend, true);
    if (const Field* f = top->Get("webhook_url")) {
      if (auto s = r_.String(*f)) {
        // The URL itself may be a secret (Slack hooks): never echo it.
        if (!s->empty() && s->rfind("https://", 0) != 0 && s->rfind("http://", 0) != 0) {
          r_.Report(f->value, "webhook_url must start with https:// or http://");
        } else {
          c->webhook_url = *s;
        }
      }
    }
    if (const Field* f = top->Get("replay")) {
      if (auto m = r_.ReadMap(f->value, "replay",
                              {"max_attempts", "backoff_max", "poll_interval", "io_timeout"})) {
        if (const Field* a = m->Get("max_attempts")) {
          if (auto v = r_.Int(*a, 1, kMaxReplayAttempts)) c->replay_max_attempts = int(*v);
        }
        if (const Field* b = m->Get("backoff_max")) {
          if (auto d = PositiveDuration(*b)) c->replay_backoff_max = *d;
        }
        if (const Field* p = m->Get("poll_interval")) {
          if (auto d = PositiveDuration(*p)) c->replay_poll_interval = *d;
        }
        if (const Field* t = m->Get("io_timeout")) {
          if (auto d = PositiveDuration(*t)) c->replay_io_timeout = *d;
        }
      }
    }
    if (const Field* f = top->Get("limits")) ReadLimits(*f, &c->limits);
    if (const Field* f = top->Get("github_app")) c->github_app = ReadGithubApp(*f);
    if (const Field* f = top->Get("repos")) ReadRepos(*f, c);
    // Repos without a path live under data_dir (known only now).
    for (RepoConfig& repo : c->repos) {
      if (repo.path.empty()) repo.path = c->data_dir + "/repos/" + repo.name + ".git";
    }
    if (const Field* f = top->Get("tokens")) ReadTokens(*f, c);
    if (const Field* f = top->Get("oidc")) ReadOidc(*f, c);
    if (const Field* f = top->Get("identity_accounts")) {
      if (auto m = r_.StringMap(*f)) c->identity_accounts = std::move(*m);
    }
  }

 private:
  // A path value, resolved against the config file's folder.
  void ReadPath(const Map& m, std::string_view key, std::string* out, bool required_value) {
    const Field* f = m.Get(key);
    if (f == nullptr) return;
    std::optional<std::string> s = r_.String(*f);
    if (!s) return;
    if (s->empty() && required_value) {
      r_.Report(f->value, f->name + ": must not be empty");
      return;
    }
    *out = policy::ResolveAgainst(r_.file(), *s);
  }

  std::optional<std::chrono::seconds> PositiveDuration(const Field& f) {
    std::optional<std::chrono::seconds> d = r_.Duration(f);
    if (d && d->count() <= 0) {
      r_.Report(f.value, f.name + ": must be longer than 0");
      return std::nullopt;
    }
    return d;
  }

  void ReadLimits(const Field& f, ServerLimits* l) {
    std::optional<Map> m =
        r_.ReadMap(f.value, "limits",
                   {"max_body", "max_header", "request_timeout", "idle_timeout",
                    "max_concurrent", "max_concurrent_per_identity", "max_connections",
                    "max_connections_per_address", "header_timeout", "max_inflated_body"});
    if (!m) return;
    if (const Field* x = m->Get("max_body")) {
      if (auto v = r_.Size(*x)) {
        if (*v == 0) {
          r_.Report(x->value, "max_body: must be larger than 0");
        } else {
          l->max_body_bytes = *v;
        }
      }
    }
    if (const Field* x = m->Get("max_header")) {
      if (auto v = r_.Size(*x)) {
        if (*v < 1024 || *v > (64u << 20)) {
          r_.Report(x->value, "max_header: must be between 1KiB and 64MiB");
        } else {
          l->max_header_bytes = static_cast<uint32_t>(*v);
        }
      }
    }
    if (const Field* x = m->Get("request_timeout")) {
      if (auto d = PositiveDuration(*x)) l->request_timeout = *d;
    }
    if (const Field* x = m->Get("idle_timeout")) {
      if (auto d = PositiveDuration(*x)) l->idle_timeout = *d;
    }
    if (const Field* x = m->Get("max_concurrent")) {
      if (auto v = r_.Int(*x, 1, kMaxConcurrentLimit)) l->max_concurrent = uint32_t(*v);
    }
    if (const Field* x = m->Get("max_concurrent_per_identity")) {
      if (auto v = r_.Int(*x, 1, kMaxConcurrentLimit)) {
        l->max_concurrent_per_identity = uint32_t(*v);
      }
    }
    if (const Field* x = m->Get("max_connections")) {
      if (auto v = r_.Int(*x, 1, kMaxConcurrentLimit)) l->max_connections = uint32_t(*v);
    }
    if (const Field* x = m->Get("max_connections_per_address")) {
      if (auto v = r_.Int(*x, 1, kMaxConcurrentLimit)) {
        l->max_connections_per_address = uint32_t(*v);
      }
    }
    if (const Field* x = m->Get("header_timeout")) {
      if (auto d = PositiveDuration(*x)) l->header_timeout = *d;
    }
    if (const Field* x = m->Get("max_inflated_body")) {
      if (auto v = r_.Size(*x)) {
        if (*v == 0) {
          r_.Report(x->value, "max_inflated_body: must be larger than 0");
        } else {
          l->max_inflated_body_bytes = *v;
        }
      }
    }
    if (l->max_connections_per_address > l->max_connections) {
      r_.Report(f.value, "limits: max_connections_per_address (" +
                             std::to_string(l->max_connections_per_address) +
                             ") exceeds max_connections (" + std::to_string(l->max_connections) +
                             ")");
    }
    if (l->max_concurrent_per_identity > l->max_concurrent) {
      r_.Report(f.value, "limits: max_concurrent_per_identity (" +
                             std::to_string(l->max_concurrent_per_identity) +
                             ") exceeds max_concurrent (" + std::to_string(l->max_concurrent) +
                             ")");
    }
  }

  void ReadRepos(const Field& f, Config* c) {
    if (!f.value.IsSequence()) {
      r_.Report(f.value.IsNull() ? f.key : f.value, "repos: expected a list of repos");
      return;
    }
    std::set<std::string> names;
    for (const YAML::Node& node : f.value) {
      std::optional<Map> m = r_.ReadMap(node, "repo",
                                        {"name", "path", "upstream", "credential",
                                         "credential_user", "ssh_known_hosts", "sync_interval",
                                         "github_app"});
      if (!m) continue;
      RepoConfig repo;
      if (const Field* n = r_.Require(*m, "name", "repo")) {
        if (auto s = r_.String(*n)) {
          if (!ValidRepoName(*s)) {
            r_.Report(n->value, "repo name '" + *s +
                                    "' must match [A-Za-z0-9._-]+ and not start with '.'");
          } else if (!names.insert(*s).second) {
            r_.Report(n->value, "duplicate repo name '" + *s + "'");
          } else {
            repo.name = *s;
          }
        }
      }
      ReadPath(*m, "path", &repo.path, true);
      if (const Field* u = m->Get("upstream")) {
        if (auto s = r_.String(*u)) {
          if (UrlHasPassword(*s)) {
            r_.Report(u->value, "upstream: the URL carries a password or token; put it in a "
                                "credential file and name it in 'credential'");
          } else {
            repo.upstream = *s;
          }
        }
      }
      if (const Field* x = m->Get("credential")) {
        if (auto s = r_.String(*x)) {
          if (!s->empty() && s->front() != '/' && s->find('/') != std::string::npos) {
            r_.Report(x->value, "credential: expected a file name (looked up in "
                                "$CREDENTIALS_DIRECTORY) or an absolute path");
          } else {
            repo.credential = *s;
          }
        }
      }
      if (const Field* x = m->Get("credential_user")) {
        if (auto s = r_.String(*x)) repo.credential_user = *s;
      }
      ReadPath(*m, "ssh_known_hosts", &repo.ssh_known_hosts, false);
      if (const Field* x = m->Get("sync_interval")) {
        if (auto d = r_.Duration(*x)) repo.sync_interval = *d;
      }
      if (const Field* x = m->Get("github_app")) {
        repo.github_app = ReadGithubApp(*x);
        if (!repo.credential.empty()) {
          r_.Report(x->key, "repo '" + repo.name + "': set credential or github_app, not both");
        } else if (repo.github_app) {
          Status serves = GithubAppServes(*repo.github_app, repo.upstream);
          if (!serves.ok()) r_.Report(x->key, "repo '" + repo.name + "': " + serves.message());
        }
      } else if (c->github_app && repo.credential.empty() && GithubAppServes(*c->github_app, repo.upstream).ok()) {
        repo.github_app = c->github_app;  // the top-level default, for its host only
      }
      if (!repo.name.empty()) c->repos.push_back(std::move(repo));
    }
  }

  std::optional<GithubAppConfig> ReadGithubApp(const Field& f) {
    std::optional<Map> m = r_.ReadMap(f.value, "github_app",
                                      {"app_id", "installation_id", "private_key", "api_url", "ca_file"});
    if (!m) return std::nullopt;
    GithubAppConfig g;
    bool ok = true;
    if (const Field* x = r_.Require(*m, "app_id", "github_app")) {
      if (auto v = r_.Int(*x, 1, int64_t{1} << 53)) g.app_id = *v; else ok = false;
    } else {
      ok = false;
    }
    if (const Field* x = r_.Require(*m, "installation_id", "github_app")) {
      if (auto v = r_.Int(*x, 1, int64_t{1} << 53)) g.installation_id = *v; else ok = false;
    } else {
      ok = false;
    }
    if (const Field* x = r_.Require(*m, "private_key", "github_app")) {
      if (auto s = r_.String(*x)) {
        if (s->empty() || (s->front() != '/' && s->find('/') != std::string::npos)) {
          r_.Report(x->value, "github_app.private_key: expected a credential name (looked up in "
                              "$CREDENTIALS_DIRECTORY) or an absolute path");
          ok = false;
        } else {
          g.private_key = *s;
        }
      }
    } else {
      ok = false;
    }
    if (const Field* x = m->Get("api_url")) {
      if (auto s = r_.String(*x)) {
        GithubAppConfig probe;
        probe.app_id = probe.installation_id = 1;
        probe.private_key = "k";
        probe.api_url = *s;
        while (probe.api_url.size() > 8 && probe.api_url.back() == '/') probe.api_url.pop_back();
        Status valid = ValidateGithubApp(probe);
        if (!valid.ok()) {
          r_.Report(x->value, std::string(valid.message()).substr(0, 200));
          ok = false;
        } else {
          g.api_url = probe.api_url;
        }
      }
    }
    ReadPath(*m, "ca_file", &g.ca_file, false);
    if (!ok) return std::nullopt;
    return g;
  }

  void ReadTokens(const Field& f, Config* c) {
    if (!f.value.IsSequence()) {
      r_.Report(f.value.IsNull() ? f.key : f.value, "tokens: expected a list of tokens");
      return;
    }
    std::set<std::string> hashes;
    for (const YAML::Node& node : f.value) {
      std::optional<Map> m = r_.ReadMap(node, "token", {"identity", "groups", "sha256"});
      if (!m) continue;
      StaticTokenConfig t;
      if (const Field* x = r_.Require(*m, "identity", "token")) {
        if (auto s = r_.String(*x)) {
          if (s->empty()) {
            r_.Report(x->value, "identity: must not be empty");
          } else if (s->rfind("local:", 0) == 0) {
            // local:<user> is a push by path on the server; a token must not
            // be able to pass for one (profiles match "local:*").
            r_.Report(x->value, "identity: 'local:' is reserved for pushes by path on the server");
          } else {
            t.identity = *s;
          }
        }
      }
      if (const Field* x = m->Get("groups")) {
        if (auto v = r_.StringList(*x)) t.groups = std::move(*v);
      }
      if (const Field* x = r_.Require(*m, "sha256", "token")) {
        if (auto s = r_.String(*x)) {
          if (!IsHex64(*s)) {
            // Someone may have pasted the token itself here: do not echo it.
            r_.Report(x->value, "sha256: expected 64 hex digits (the SHA-256 of the token, "
                                "never the token itself)");
          } else if (!hashes.insert(Lower(*s)).second) {
            r_.Report(x->value, "sha256: the same token hash is listed twice");
          } else {
            t.sha256 = Lower(*s);
          }
        }
      }
      if (!t.identity.empty() && !t.sha256.empty()) c->tokens.push_back(std::move(t));
    }
  }

  void ReadOidc(const Field& f, Config* c) {
    if (!f.value.IsSequence()) {
      r_.Report(f.value.IsNull() ? f.key : f.value, "oidc: expected a list of issuers");
      return;
    }
    for (const YAML::Node& node : f.value) {
      std::optional<Map> m = r_.ReadMap(
          node, "oidc issuer",
          {"issuer", "audiences", "jwks_file", "discovery", "ca_file", "algorithms",
           "identity_claim", "identity_prefix", "groups_claim", "required_claims", "groups",
           "clock_skew", "jwks_max_age", "jwks_max_stale"});
      if (!m) continue;
      OidcConfig o;
      if (const Field* x = r_.Require(*m, "issuer", "oidc issuer")) {
        if (auto s = r_.String(*x)) {
          if (s->empty()) {
            r_.Report(x->value, "issuer: must not be empty");
          } else {
            o.issuer = *s;
          }
        }
      }
      if (const Field* x = r_.Require(*m, "audiences", "oidc issuer")) {
        if (auto v = r_.StringList(*x)) {
          if (v->empty() || std::any_of(v->begin(), v->end(),
                                        [](const std::string& a) { return a.empty(); })) {
            r_.Report(x->value, "audiences: list at least one non-empty audience");
          }
          o.audiences = std::move(*v);
        }
      }
      ReadPath(*m, "jwks_file", &o.jwks_file, false);
      if (const Field* x = m->Get("discovery")) {
        if (auto b = r_.Bool(*x)) o.discovery = *b;
      }
      ReadPath(*m, "ca_file", &o.ca_file, false);
      if (const Field* x = m->Get("algorithms")) {
        if (auto v = r_.StringList(*x)) {
          size_t i = 0;
          bool good = !v->empty();
          if (v->empty()) r_.Report(x->value, "algorithms: list at least one algorithm");
          for (const std::string& a : *v) {
            const YAML::Node item = x->value[i++];
            if (std::find(std::begin(kAllowedAlgorithms), std::end(kAllowedAlgorithms), a) ==
                std::end(kAllowedAlgorithms)) {
              r_.Report(item, "algorithms: '" + a +
                                  "' is not allowed (use RS256, RS384, RS512, ES256 or ES384)");
              good = false;
            }
          }
          if (good) o.algorithms = std::move(*v);
        }
      }
      if (const Field* x = m->Get("identity_claim")) {
        if (auto s = r_.String(*x)) {
          if (s->empty()) {
            r_.Report(x->value, "identity_claim: must not be empty");
          } else {
            o.identity_claim = *s;
          }
        }
      }
      if (const Field* x = m->Get("identity_prefix")) {
        if (auto s = r_.String(*x)) {
          if (s->rfind("local:", 0) == 0 || std::string("local:").rfind(*s, 0) == 0 && !s->empty()) {
            r_.Report(x->value, "identity_prefix: must not start with (or be a start of) 'local:', "
                                "reserved for pushes by path on the server");
          } else {
            o.identity_prefix = *s;
          }
        }
      }
      if (const Field* x = m->Get("groups_claim")) {
        if (auto s = r_.String(*x)) o.groups_claim = *s;
      }
      if (const Field* x = m->Get("required_claims")) {
        if (auto v = r_.StringMap(*x)) o.required_claims = std::move(*v);
      }
      if (const Field* x = m->Get("groups")) {
        if (auto v = r_.StringList(*x)) o.groups = std::move(*v);
      }
      if (const Field* x = m->Get("clock_skew")) {
        if (auto d = r_.Duration(*x)) {
          if (*d > kMaxClockSkew) {
            r_.Report(x->value, "clock_skew: at most 1h");
          } else {
            o.clock_skew = *d;
          }
        }
      }
      for (auto [name, out] : {std::pair{"jwks_max_age", &o.jwks_max_age},
                               std::pair{"jwks_max_stale", &o.jwks_max_stale}}) {
        if (const Field* x = m->Get(name)) {
          if (auto d = r_.Duration(*x)) {
            if (*d < std::chrono::seconds(1) || *d > std::chrono::hours(24 * 7)) {
              r_.Report(x->value, std::string(name) + ": between 1s and 7d");
            } else {
              *out = *d;
            }
          }
        }
      }
      // Room for at least one refresh (and its retries) before keys go stale.
      if (o.jwks_max_stale < 2 * o.jwks_max_age) {
        r_.Report(node, "oidc issuer: jwks_max_stale must be at least twice jwks_max_age");
      }
      if (o.jwks_file.empty() && !o.discovery) {
        r_.Report(node, "oidc issuer: set jwks_file, or discovery: true");
      }
      if (o.discovery && o.issuer.rfind("https://", 0) != 0 && !o.issuer.empty()) {
        r_.Report(node, "oidc issuer: discovery needs an https:// issuer");
      }
      c->oidc.push_back(std::move(o));
    }
  }

  Reader r_;
};

// Emits a list of strings in flow style ([a, b]).
void EmitList(YAML::Emitter* out, const char* key, const std::vector<std::string>& v) {
  *out << YAML::Key << key << YAML::Value << YAML::Flow << YAML::BeginSeq;
  for (const std::string& s : v) *out << s;
  *out << YAML::EndSeq;
}

bool SameApp(const GithubAppConfig& a, const GithubAppConfig& b) {
  return a.app_id == b.app_id && a.installation_id == b.installation_id &&
         a.private_key == b.private_key && a.api_url == b.api_url && a.ca_file == b.ca_file;
}

void EmitGithubApp(YAML::Emitter* out, const GithubAppConfig& g) {
  *out << YAML::Key << "github_app" << YAML::Value << YAML::BeginMap;
  *out << YAML::Key << "app_id" << YAML::Value << g.app_id;
  *out << YAML::Key << "installation_id" << YAML::Value << g.installation_id;
  *out << YAML::Key << "private_key" << YAML::Value << g.private_key;
  *out << YAML::Key << "api_url" << YAML::Value << g.api_url;
  if (!g.ca_file.empty()) *out << YAML::Key << "ca_file" << YAML::Value << g.ca_file;
  *out << YAML::EndMap;
}

void EmitIfSet(YAML::Emitter* out, const char* key, const std::string& v) {
  if (!v.empty()) *out << YAML::Key << key << YAML::Value << v;
}

}  // namespace

const RepoConfig* Config::FindRepo(const std::string& name) const {
  for (const RepoConfig& r : repos) {
    if (r.name == name) return &r;
  }
  return nullptr;
}

Result<std::shared_ptr<const Config>> ParseConfig(const std::string& yaml,
                                                  const std::string& file) {
  std::vector<Problem> problems;
  auto config = std::make_shared<Config>();
  config->path = file;
  {
    Reader loader(file, &problems);
    std::optional<YAML::Node> root = loader.Load(yaml);
    if (root) {
      try {
        ConfigParser(file, &problems).Parse(*root, config.get());
      } catch (const policy::TooManyProblems&) {
        // Already reported.
      } catch (const std::exception& e) {
        problems.push_back(Problem{file, 1, 1, std::string("cannot read config: ") + e.what()});
      }
    }
  }
  if (!problems.empty()) return Status::InvalidArgument(policy::JoinProblems(&problems));
  return std::shared_ptr<const Config>(std::move(config));
}

Result<std::shared_ptr<const Config>> LoadConfig(const std::string& path) {
  Result<std::string> text = ReadFile(path, kMaxConfigBytes);
  if (!text.ok()) return text.status().WithContext("cannot load config");
  return ParseConfig(*text, path);
}

Status SaveConfig(const Config& c, const std::string& path) {
  YAML::Emitter out;
  try {
    out << YAML::BeginMap;
    out << YAML::Key << "data_dir" << YAML::Value << c.data_dir;
    out << YAML::Key << "policy" << YAML::Value << c.policy_path;
    out << YAML::Key << "listen" << YAML::Value << c.listen;
    if (!c.tls_cert.empty() || !c.tls_key.empty()) {
      out << YAML::Key << "tls" << YAML::Value << YAML::BeginMap;
      EmitIfSet(&out, "cert", c.tls_cert);
      EmitIfSet(&out, "key", c.tls_key);
      out << YAML::EndMap;
    }
    out << YAML::Key << "control_socket" << YAML::Value << c.control_socket;
    EmitIfSet(&out, "server_key_file", c.server_key_file);
    out << YAML::Key << "git_http_backend" << YAML::Value << c.git_http_backend;
    EmitIfSet(&out, "webhook_url", c.webhook_url);
    out << YAML::Key << "replay" << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "max_attempts" << YAML::Value << c.replay_max_attempts;
    out << YAML::Key << "backoff_max" << YAML::Value
        << policy::FormatDuration(c.replay_backoff_max);
    out << YAML::Key << "poll_interval" << YAML::Value
        << policy::FormatDuration(c.replay_poll_interval);
    out << YAML::Key << "io_timeout" << YAML::Value << policy::FormatDuration(c.replay_io_timeout);
    out << YAML::EndMap;
    const ServerLimits& l = c.limits;
    out << YAML::Key << "limits" << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "max_body" << YAML::Value << policy::FormatSize(l.max_body_bytes);
    out << YAML::Key << "max_header" << YAML::Value << policy::FormatSize(l.max_header_bytes);
    out << YAML::Key << "request_timeout" << YAML::Value
        << policy::FormatDuration(l.request_timeout);
    out << YAML::Key << "idle_timeout" << YAML::Value << policy::FormatDuration(l.idle_timeout);
    out << YAML::Key << "max_concurrent" << YAML::Value << l.max_concurrent;
    out << YAML::Key << "max_concurrent_per_identity" << YAML::Value
        << l.max_concurrent_per_identity;
    out << YAML::Key << "max_connections" << YAML::Value << l.max_connections;
    out << YAML::Key << "max_connections_per_address" << YAML::Value
        << l.max_connections_per_address;
    out << YAML::Key << "header_timeout" << YAML::Value << policy::FormatDuration(l.header_timeout);
    out << YAML::Key << "max_inflated_body" << YAML::Value
        << policy::FormatSize(l.max_inflated_body_bytes);
    out << YAML::EndMap;

    if (c.github_app) EmitGithubApp(&out, *c.github_app);
    if (!c.repos.empty()) {
      out << YAML::Key << "repos" << YAML::Value << YAML::BeginSeq;
      for (const RepoConfig& r : c.repos) {
        out << YAML::BeginMap;
        out << YAML::Key << "name" << YAML::Value << r.name;
        if (r.path != c.data_dir + "/repos/" + r.name + ".git") {
          out << YAML::Key << "path" << YAML::Value << r.path;
        }
        EmitIfSet(&out, "upstream", r.upstream);
        EmitIfSet(&out, "credential", r.credential);
        out << YAML::Key << "credential_user" << YAML::Value << r.credential_user;
        EmitIfSet(&out, "ssh_known_hosts", r.ssh_known_hosts);
        out << YAML::Key << "sync_interval" << YAML::Value
            << policy::FormatDuration(r.sync_interval);
        // A repo that took the top-level default keeps taking it.
        bool inherited = r.github_app && c.github_app && r.credential.empty() &&
                         SameApp(*r.github_app, *c.github_app) &&
                         GithubAppServes(*c.github_app, r.upstream).ok();
        if (r.github_app && !inherited) EmitGithubApp(&out, *r.github_app);
        out << YAML::EndMap;
      }
      out << YAML::EndSeq;
    }
    if (!c.tokens.empty()) {
      out << YAML::Key << "tokens" << YAML::Value << YAML::BeginSeq;
      for (const StaticTokenConfig& t : c.tokens) {
        out << YAML::BeginMap;
        out << YAML::Key << "identity" << YAML::Value << t.identity;
        EmitList(&out, "groups", t.groups);
        out << YAML::Key << "sha256" << YAML::Value << t.sha256;
        out << YAML::EndMap;
      }
      out << YAML::EndSeq;
    }
    if (!c.oidc.empty()) {
      out << YAML::Key << "oidc" << YAML::Value << YAML::BeginSeq;
      for (const OidcConfig& o : c.oidc) {
        out << YAML::BeginMap;
        out << YAML::Key << "issuer" << YAML::Value << o.issuer;
        EmitList(&out, "audiences", o.audiences);
        EmitIfSet(&out, "jwks_file", o.jwks_file);
        out << YAML::Key << "discovery" << YAML::Value << (o.discovery ? "true" : "false");
        EmitIfSet(&out, "ca_file", o.ca_file);
        EmitList(&out, "algorithms", o.algorithms);
        out << YAML::Key << "identity_claim" << YAML::Value << o.identity_claim;
        EmitIfSet(&out, "identity_prefix", o.identity_prefix);
        out << YAML::Key << "groups_claim" << YAML::Value << o.groups_claim;
        if (!o.required_claims.empty()) {
          out << YAML::Key << "required_claims" << YAML::Value << YAML::BeginMap;
          for (const auto& [k, v] : o.required_claims) out << YAML::Key << k << YAML::Value << v;
          out << YAML::EndMap;
        }
        EmitList(&out, "groups", o.groups);
        out << YAML::Key << "clock_skew" << YAML::Value << policy::FormatDuration(o.clock_skew);
        if (o.discovery) {
          out << YAML::Key << "jwks_max_age" << YAML::Value
              << policy::FormatDuration(o.jwks_max_age);
          out << YAML::Key << "jwks_max_stale" << YAML::Value
              << policy::FormatDuration(o.jwks_max_stale);
        }
        out << YAML::EndMap;
      }
      out << YAML::EndSeq;
    }
    if (!c.identity_accounts.empty()) {
      out << YAML::Key << "identity_accounts" << YAML::Value << YAML::BeginMap;
      for (const auto& [k, v] : c.identity_accounts) out << YAML::Key << k << YAML::Value << v;
      out << YAML::EndMap;
    }
    out << YAML::EndMap;
  } catch (const std::exception& e) {
    return Status::Internal(std::string("cannot write config as YAML: ") + e.what());
  }
  if (!out.good()) return Status::Internal("cannot write config as YAML: " + out.GetLastError());
  std::string text = "# agentgate configuration (see docs/config.md)\n";
  text += out.c_str();
  text += "\n";
  // Keep the existing file's permission bits; a new file is not world-readable
  // (the webhook URL can be a secret).
  int mode = 0640;
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) mode = static_cast<int>(st.st_mode & 07777);
  return WriteFileAtomic(path, text, mode);
}

}  // namespace ag::config
