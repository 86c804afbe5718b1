// `agentgate doctor [--config FILE] [--user NAME] [--credentials-dir DIR]
// [--offline]`: checks an installation and says what to fix. One line per
// check, "ok: ...", "WARN: ...; fix: ..." or "FAIL: ...; fix: ..."; exit 0
// when no check failed (warnings do not fail), 1 when any failed, 2 on a
// usage error.
//
// Checks, in order: the config loads; the policy loads; no token identity is
// a policy reviewer's Unix account (WARN); the service user exists; the data
// dir, the database and the server key belong to it and are not writable (the
// key: not readable) by anyone else; each repo opens, has the agentgate hooks
// and receive.advertisePushOptions; each upstream answers (libgit2 connect +
// ls with the repo's credential, so a refused token shows).
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "audit/config_source.h"
#include "cli/command.h"
#include "control/peer.h"
#include "git/git.h"
#include "policy/policy.h"
#include "replay/credentials.h"
#include "replay/github_app.h"
#include "replay/remote.h"
#include "review/workflow.h"
#include "util/file.h"

namespace ag::cli {
namespace {

struct DoctorOptions {
  std::string config;
  std::string user = "agentgate";
  std::string credentials_dir = "/etc/agentgate/credentials";
  bool offline = false;  // skip the upstream checks
};

class Report {
 public:
  void Ok(const std::string& what) { std::printf("ok: %s\n", what.c_str()); }
  void Fail(const std::string& what, const std::string& fix) {
    ++failures_;
    std::printf("FAIL: %s; fix: %s\n", what.c_str(), fix.c_str());
  }
  // A risk the installation still runs with: printed, does not fail doctor.
  void Warn(const std::string& what, const std::string& fix) {
    ++warnings_;
    std::printf("WARN: %s; fix: %s\n", what.c_str(), fix.c_str());
  }
  int failures() const { return failures_; }
  int warnings() const { return warnings_; }

 private:
  int failures_ = 0;
  int warnings_ = 0;
};

std::string Octal(mode_t m) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(m & 07777));
  return buf;
}

// A path that must exist, belong to `uid`, and carry none of `forbidden` bits.
// `uid` unset: the service user is missing; ownership is not checked.
void CheckPath(Report& r, const std::string& label, const std::string& path,
               std::optional<uid_t> uid, const std::string& user, mode_t forbidden,
               bool want_dir) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    r.Fail(label + " " + path + " is missing (" + std::strerror(errno) + ")",
           want_dir ? "create it: install -d -o " + user + " -m 0750 " + path
                    : "start agentgate-mirror once (it creates it) or restore it from a backup");
    return;
  }
  if (want_dir != S_ISDIR(st.st_mode) || (!want_dir && !S_ISREG(st.st_mode))) {
    r.Fail(label + " " + path + " is not a " + (want_dir ? "directory" : "regular file"),
           "move it away and let agentgate recreate it");
    return;
  }
  if (uid && st.st_uid != *uid) {
    struct passwd* pw = ::getpwuid(st.st_uid);
    r.Fail(label + " " + path + " belongs to " +
               (pw ? std::string(pw->pw_name) : std::to_string(st.st_uid)) + ", not " + user,
           "chown " + user + " " + path);
    return;
  }
  if ((st.st_mode & forbidden) != 0) {
    r.Fail(label + " " + path + " has mode " + Octal(st.st_mode),
           "chmod " + Octal(st.st_mode & ~forbidden) + " " + path);
    return;
  }
  r.Ok(label + " " + path + " (" + user + ", " + Octal(st.st_mode) + ")");
}

void CheckHook(Report& r, const std::string& repo, const std::string& dir, const char* name) {
  std::string path = dir + "/hooks/" + name;
  std::string program = std::string("agentgate-") + name;
  Result<std::string> text = ReadFile(path, 1 << 20);
  if (!text.ok()) {
    r.Fail("repo " + repo + ": no " + name + " hook at " + path,
           "agentgate repo hooks " + repo + " (installs the hooks)");
    return;
  }
  if (::access(path.c_str(), X_OK) != 0) {
    r.Fail("repo " + repo + ": " + path + " is not executable", "chmod 0755 " + path);
    return;
  }
  if (text->find(program) == std::string::npos) {
    r.Fail("repo " + repo + ": " + path + " does not run " + program,
           "agentgate repo hooks " + repo + " (reinstalls the hooks)");
    return;
  }
  r.Ok("repo " + repo + ": " + name + " hook runs " + program);
}

void CheckRepo(Report& r, const config::Config& config, const config::RepoConfig& repo,
               std::optional<uid_t> uid, const DoctorOptions& o) {
  std::string path = audit::RepoPath(config, repo);
  Result<git::RepoPtr> opened = git::OpenRepo(path);
  if (!opened.ok()) {
    r.Fail("repo " + repo.name + ": " + opened.status().message(),
           "agentgate repo add " + repo.name + " (creates the mirror)");
    return;
  }
  CheckPath(r, "repo " + repo.name, path, uid, o.user, 0002, true);
  CheckHook(r, repo.name, path, "pre-receive");
  CheckHook(r, repo.name, path, "post-receive");

  git_config* raw = nullptr;
  int value = 0;
  int rc = git_repository_config_snapshot(&raw, opened->get());
  git::ConfigPtr cfg(raw);
  if (rc == 0) rc = git_config_get_bool(&value, cfg.get(), "receive.advertisePushOptions");
  if (rc != 0 || value == 0) {
    r.Fail("repo " + repo.name + ": receive.advertisePushOptions is not true (agents' "
           "'git push -o' fails)",
           "git -C " + path + " config receive.advertisePushOptions true");
  } else {
    r.Ok("repo " + repo.name + ": receive.advertisePushOptions");
  }

  if (repo.upstream.empty()) {
    r.Ok("repo " + repo.name + ": no upstream (local mirror only)");
    return;
  }
  if (o.offline) {
    r.Ok("repo " + repo.name + ": upstream not checked (--offline)");
    return;
  }
  std::string where = replay::StripUserinfo(repo.upstream);
  Result<std::shared_ptr<const replay::Credential>> cred = replay::LoadCredential(repo);
  if (repo.github_app) {
    // Mint what the replay will ask for, and say what GitHub granted.
    replay::Access push;
    push.write = true;
    Result<replay::MintedToken> minted =
        replay::MintGithubAppToken(*repo.github_app, replay::RepositoryFullName(repo.upstream), push);
    if (!minted.ok()) {
      r.Fail("repo " + repo.name + ": " + minted.status().message(),
             "see docs/replay.md \"GitHub App\" (the key is '" + repo.github_app->private_key + "')");
      return;
    }
    std::string perms, repos;
    for (const auto& [k, v] : minted->permissions) perms += (perms.empty() ? "" : ", ") + k + ": " + v;
    for (const std::string& n : minted->repositories) repos += (repos.empty() ? "" : ", ") + n;
    r.Ok("repo " + repo.name + ": GitHub App " + std::to_string(repo.github_app->app_id) + " minted a token for " +
         (repos.empty() ? std::string("its installation's repositories") : repos) + " (" + perms + ")");
    cred = minted->credential;
  }
  if (!cred.ok()) {
    r.Fail("repo " + repo.name + ": credential '" + repo.credential + "': " +
               cred.status().message(),
           "put the token in " + o.credentials_dir + "/" + repo.credential +
               " (mode 0600, owner root; systemd passes it with LoadCredential=)");
    return;
  }
  replay::SessionOptions so;
  so.ssh_known_hosts = repo.ssh_known_hosts;
  so.io_timeout = std::min<std::chrono::milliseconds>(config.replay_io_timeout, std::chrono::seconds(20));
  Result<std::unique_ptr<replay::UpstreamSession>> s = replay::UpstreamSession::Connect(
      opened->get(), repo.upstream, *cred, GIT_DIRECTION_FETCH, so);
  if (!s.ok()) {
    std::string msg = replay::Scrub(s.status().message(), repo.upstream, cred->get());
    switch (s.status().code()) {
      case Code::kUnauthenticated:
        r.Fail("repo " + repo.name + ": upstream " + where + " refused the credential",
               "renew the token in '" + repo.credential + "' (and check credential_user)");
        break;
      case Code::kPermissionDenied:
        r.Fail("repo " + repo.name + ": upstream " + where + " is not trusted: " + msg,
               "add its host key to ssh_known_hosts or fix the CA bundle");
        break;
      default:
        r.Fail("repo " + repo.name + ": upstream " + where + " unreachable: " + msg,
               "check the URL, DNS, proxy and firewall from this host");
    }
    return;
  }
  r.Ok("repo " + repo.name + ": upstream " + where + " answers (" +
       std::to_string((*s)->refs().size()) + " refs" +
       ((*cred)->kind() == replay::CredentialKind::kNone ? "" : ", credential accepted") + ")");
}

// Why token identity `identity` is a policy reviewer's Unix account, or ""
// when it is not. The account (`identity` itself or an alias with its uid)
// counts when it is named in `users`, or is in one of `groups`.
std::string ReviewerAccount(const std::string& identity, const std::vector<std::string>& users,
                            const std::vector<std::string>& groups) {
  auto named = [](const std::vector<std::string>& v, const std::string& s) {
    return std::find(v.begin(), v.end(), s) != v.end();
  };
  if (named(users, identity)) return "names reviewer account " + identity;
  Result<std::optional<uid_t>> uid = review::AccountUid(identity);
  if (!uid.ok()) return "cannot be told apart from a reviewer (" + uid.status().message() + ")";
  if (!*uid) return "";
  for (const std::string& u : users) {
    Result<std::optional<uid_t>> other = review::AccountUid(u);
    if (other.ok() && *other == *uid) {
      return "is Unix account " + identity + ", uid " + std::to_string(**uid) +
             " like reviewer " + u;
    }
  }
  Result<control::Peer> account = control::AccountOf(**uid);
  if (!account.ok()) return "";
  for (const std::string& g : account->groups) {
    if (named(groups, g)) return "is Unix account " + identity + ", in reviewer group " + g;
  }
  return "";
}

// Agents must never run under, or be named as, a reviewer's account: the
// review workflow refuses such a reviewer's approvals (fail closed), so a
// token named like one is a misconfiguration. OIDC identities (prefix +
// claim) are not known before a token arrives; only static tokens are checked.
void CheckTokenIdentities(Report& r, const config::Config& c, const policy::Policy& p) {
  std::vector<std::string> users = p.reviewers.users, groups = p.reviewers.groups;
  for (const policy::Rule& rule : p.rules) {
    users.insert(users.end(), rule.review.users.begin(), rule.review.users.end());
    groups.insert(groups.end(), rule.review.groups.begin(), rule.review.groups.end());
  }
  int warned = 0;
  for (const config::StaticTokenConfig& t : c.tokens) {
    std::string why = ReviewerAccount(t.identity, users, groups);
    if (why.empty()) continue;
    ++warned;
    r.Warn("token identity '" + t.identity + "' " + why +
               " (agents must never run under, or be named as, a reviewer's account)",
           "give the agent its own identity in tokens: and its own Unix account");
  }
  if (warned == 0) {
    r.Ok("token identities: none is a reviewer's account (" + std::to_string(c.tokens.size()) +
         " tokens)");
  }
}

int RunDoctor(int argc, char** argv) {
  CLI::App app{"Check the installation and say what to fix.", "agentgate doctor"};
  DoctorOptions o;
  app.add_option("--config", o.config,
                 "config file (default $AGENTGATE_CONFIG, else /etc/agentgate/agentgate.yaml)");
  app.add_option("--user", o.user, "the service account that owns the data (default agentgate)");
  app.add_option("--credentials-dir", o.credentials_dir,
                 "where credentials live when $CREDENTIALS_DIRECTORY is unset "
                 "(default /etc/agentgate/credentials)");
  app.add_flag("--offline", o.offline, "skip the upstream checks");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kExitOk : kExitError;
  }
  // The daemon reads credentials from $CREDENTIALS_DIRECTORY (LoadCredential=);
  // an admin shell has none, so point it at where the unit loads them from.
  const char* creds = std::getenv("CREDENTIALS_DIRECTORY");
  if (creds == nullptr || *creds == '\0') ::setenv("CREDENTIALS_DIRECTORY", o.credentials_dir.c_str(), 1);

  Report r;
  std::string path = audit::ConfigPath(o.config);
  Result<std::shared_ptr<const config::Config>> config = audit::LoadOpsConfig(o.config);
  if (!config.ok()) {
    r.Fail("config " + path + ": " + config.status().message(),
           "fix the file (agentgate config check " + path + ")");
    return kExitRefused;
  }
  r.Ok("config " + path + " loads (" + std::to_string((*config)->repos.size()) + " repos)");
  const config::Config& c = **config;

  Result<std::shared_ptr<const policy::Policy>> pol = policy::LoadPolicy(c.policy_path);
  if (!pol.ok()) {
    r.Fail("policy " + c.policy_path + ": " + pol.status().message(),
           "fix the policy (docs/policy.md); the daemon refuses every push meanwhile");
  } else {
    r.Ok("policy " + c.policy_path + " loads");
    CheckTokenIdentities(r, c, **pol);
  }

  std::optional<uid_t> uid;
  struct passwd* pw = ::getpwnam(o.user.c_str());
  if (pw == nullptr) {
    r.Fail("service user '" + o.user + "' does not exist",
           "run scripts/install, or: useradd --system --home " + c.data_dir + " " + o.user);
  } else {
    uid = pw->pw_uid;
    r.Ok("service user " + o.user + " (uid " + std::to_string(*uid) + ")");
  }
  CheckPath(r, "data dir", c.data_dir, uid, o.user, 0022, true);
  CheckPath(r, "database", c.db_path(), uid, o.user, 0022, false);
  for (const char* suffix : {"-wal", "-shm"}) {
    struct stat st;
    std::string side = c.db_path() + suffix;
    if (::lstat(side.c_str(), &st) == 0) CheckPath(r, "database", side, uid, o.user, 0022, false);
  }
  CheckPath(r, "server key", c.key_path(), uid, o.user, 0077, false);
  for (const config::RepoConfig& repo : c.repos) CheckRepo(r, c, repo, uid, o);
  if (r.failures() > 0) {
    std::printf("%d check(s) failed\n", r.failures());
    return kExitRefused;
  }
  if (r.warnings() > 0) {
    std::printf("all checks passed, %d warning(s)\n", r.warnings());
    return kExitOk;
  }
  std::printf("all checks passed\n");
  return kExitOk;
}

}  // namespace
AG_REGISTER_COMMAND(doctor, "doctor", "check config, policy, permissions and upstreams",
                    RunDoctor);
}  // namespace ag::cli
