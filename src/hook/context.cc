#include "hook/context.h"

#include <pwd.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

#include "util/signed_env.h"

namespace ag::hook {
namespace {

std::string EnvOf(const HookInvocation& inv, const char* name) {
  auto it = inv.env.find(name);
  return it == inv.env.end() ? std::string() : it->second;
}

std::string RealPath(const std::string& path) {
  char* r = ::realpath(path.c_str(), nullptr);
  if (!r) return "";
  std::string out = r;
  ::free(r);
  return out;
}

}  // namespace

HookInvocation CurrentInvocation() {
  HookInvocation inv;
  inv.uid = ::geteuid();
  for (char** e = environ; e && *e; ++e) {
    std::string_view kv = *e;
    size_t eq = kv.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view name = kv.substr(0, eq);
    if (name.rfind("GIT_", 0) == 0 || name.rfind("AGENTGATE_", 0) == 0) {
      inv.env.emplace(std::string(name), std::string(kv.substr(eq + 1)));
    }
  }
  return inv;
}

HookCache::Stamp HookCache::StampOf(const std::string& path) {
  Stamp s;
  s.path = path;
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) {
    s.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
    s.size = st.st_size;
  }
  return s;
}

Result<std::shared_ptr<const config::Config>> HookCache::Config(const std::string& path) {
  Stamp now = StampOf(path);
  std::lock_guard<std::mutex> lock(mu_);
  if (config_ && now == config_stamp_ && now.mtime_ns >= 0) return config_;
  AG_ASSIGN_OR_RETURN(std::shared_ptr<const config::Config> loaded, config::LoadConfig(path));
  config_ = loaded;
  config_stamp_ = now;
  return loaded;
}

Result<std::string> HookCache::ServerKey(const std::string& path) {
  Stamp now = StampOf(path);
  std::lock_guard<std::mutex> lock(mu_);
  if (!key_.empty() && now == key_stamp_ && now.mtime_ns >= 0) return key_;
  AG_ASSIGN_OR_RETURN(std::string key, LoadOrCreateServerKey(path));
  key_ = key;
  key_stamp_ = StampOf(path);
  return key;
}

Result<HookCache::Rules> HookCache::PolicyAndScanner(const std::string& policy_path,
                                                     const std::string& key) {
  Stamp now = StampOf(policy_path);
  std::lock_guard<std::mutex> lock(mu_);
  if (rules_.policy && now == policy_stamp_ && now.mtime_ns >= 0 && key == scanner_key_) {
    return rules_;
  }
  Result<std::shared_ptr<const policy::Policy>> policy = policy::LoadPolicy(policy_path);
  if (!policy.ok()) {
    return Status::FailedPrecondition(
        "the policy does not load (every push is refused until an admin fixes it):\n" +
        policy.status().message());
  }
  const policy::Policy& pol = **policy;
  scan::ScannerOptions scan_options;
  scan_options.rule_files = pol.secrets.rule_files;
  scan_options.builtin_rules = pol.secrets.builtin_rules;
  scan_options.honor_inline_allow = pol.secrets.honor_inline_allow;
  scan_options.max_blob_bytes = pol.secrets.max_blob_bytes;
  scan_options.fingerprint_key = key;
  Result<std::shared_ptr<const scan::Scanner>> scanner = scan::Scanner::Create(scan_options);
  if (!scanner.ok()) return scanner.status().WithContext("secret rules do not load");
  Result<std::string> version = CheckVersion(pol, key);
  if (!version.ok()) return version.status().WithContext("the policy's files cannot be read");
  rules_ = {*policy, *scanner, *version};
  policy_stamp_ = now;
  scanner_key_ = key;
  return rules_;
}

Result<std::unique_ptr<store::Db>> HookCache::TakeDb(const std::string& path) {
  std::vector<std::unique_ptr<store::Db>> stale;  // closed outside the lock
  {
    std::lock_guard<std::mutex> lock(mu_);
    // Connections to another file (the config moved data_dir) are dropped.
    for (auto it = idle_dbs_.begin(); it != idle_dbs_.end();) {
      if ((*it)->path() != path) {
        stale.push_back(std::move(*it));
        it = idle_dbs_.erase(it);
      } else {
        ++it;
      }
    }
    if (!idle_dbs_.empty()) {
      std::unique_ptr<store::Db> db = std::move(idle_dbs_.back());
      idle_dbs_.pop_back();
      return db;
    }
  }
  return store::Db::Open(path);
}

void HookCache::ReturnDb(std::unique_ptr<store::Db> db) {
  // A connection left inside a transaction (a bug) is not reused.
  if (!db || !sqlite3_get_autocommit(db->raw())) return;
  constexpr size_t kMaxIdle = 4;  // more are closed: hooks rarely run in parallel
  std::lock_guard<std::mutex> lock(mu_);
  if (idle_dbs_.size() < kMaxIdle) idle_dbs_.push_back(std::move(db));
}

Result<HookContext> LoadHookContext(const HookOptions& options, const HookInvocation& inv,
                                    HookCache* cache) {
  HookContext ctx;
  std::string config_path =
      options.config_path.empty() ? EnvOf(inv, "AGENTGATE_CONFIG") : options.config_path;
  if (config_path.empty()) {
    return Status::FailedPrecondition("no configuration: pass --config or set AGENTGATE_CONFIG");
  }
  AG_ASSIGN_OR_RETURN(ctx.config, cache->Config(config_path));

  std::string repo_name = options.repo_name.empty() ? EnvOf(inv, "AGENTGATE_REPO") : options.repo_name;
  ctx.repo = ctx.config->FindRepo(repo_name);
  if (!ctx.repo) {
    return Status::FailedPrecondition("repository '" + repo_name + "' is not configured");
  }
  AG_ASSIGN_OR_RETURN(ctx.server_key, cache->ServerKey(ctx.config->key_path()));

  Result<SignedIdentity> signed_id = VerifyIdentityEnv(ctx.server_key, inv.env);
  if (signed_id.ok()) {
    ctx.identity = signed_id->identity;
    ctx.groups = signed_id->groups;
    ctx.method = signed_id->method;
    ctx.claims_json = signed_id->claims_json.empty() ? "{}" : signed_id->claims_json;
    ctx.http_request_id = signed_id->request_id;
  } else if (signed_id.status().code() == Code::kNotFound) {
    // No envelope: a push by path on this machine. The Unix account is the
    // identity; it cannot claim to be an agent.
    struct passwd pw;
    struct passwd* found = nullptr;
    char buf[4096];
    std::string user = (getpwuid_r(inv.uid, &pw, buf, sizeof buf, &found) == 0 && found)
                           ? found->pw_name
                           : "uid" + std::to_string(inv.uid);
    ctx.identity = "local:" + user;
    ctx.method = "local";
  } else {
    return signed_id.status();  // forged or stale envelope: refuse
  }
  return ctx;
}

Result<git::RepoPtr> OpenPushedRepo(const HookContext& ctx, const HookInvocation& inv,
                                    git::OdbPtr* existing) {
  AG_ASSIGN_OR_RETURN(git::RepoPtr repo, git::OpenRepo(ctx.repo->path));
  std::string quarantine = EnvOf(inv, "GIT_QUARANTINE_PATH");
  if (quarantine.empty()) quarantine = EnvOf(inv, "GIT_OBJECT_DIRECTORY");
  if (quarantine.empty()) return repo;
  // Relative to the repo (git runs hooks with GIT_DIR=.) or absolute; either
  // way it must be inside this repo's objects/ folder.
  if (quarantine.front() != '/') quarantine = ctx.repo->path + "/" + quarantine;
  std::string real = RealPath(quarantine);
  std::string objects = RealPath(ctx.repo->path + "/objects");
  if (real.empty() || objects.empty() || real.rfind(objects + "/", 0) != 0) {
    return Status::PermissionDenied("the pushed objects are not inside the repository");
  }
  git_odb* o = nullptr;
  if (existing) {
    // Opened before the quarantine is added to the repo's own.
    int rc = git_odb_open(&o, objects.c_str());
    existing->reset(o);
    if (rc != 0) return git::GitStatus(rc, "cannot open the object database");
  }
  int rc = git_repository_odb(&o, repo.get());
  git::OdbPtr odb(o);
  if (rc != 0) return git::GitStatus(rc, "cannot open the object database");
  rc = git_odb_add_disk_alternate(o, real.c_str());
  if (rc != 0) return git::GitStatus(rc, "cannot see the pushed objects");
  return repo;
}

}  // namespace ag::hook
