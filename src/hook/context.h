// What both hooks load before they can do anything: configuration, the repo's
// entry, the server key, the pusher's identity, and (pre-receive) the policy
// and the compiled scanner. Internal to src/hook.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "config/config.h"
#include "git/git.h"
#include "hook/commit_cache.h"
#include "hook/hook.h"
#include "policy/policy.h"
#include "scan/scanner.h"
#include "store/db.h"
#include "util/status.h"

namespace ag::hook {

// Loaded files, kept while their modification time and size stay the same,
// so the check server pays for parsing and compiling once.
class HookCache {
 public:
  Result<std::shared_ptr<const config::Config>> Config(const std::string& path);
  Result<std::string> ServerKey(const std::string& path);
  struct Rules {
    std::shared_ptr<const policy::Policy> policy;
    std::shared_ptr<const scan::Scanner> scanner;
    std::string check_version;  // keys per-commit results (hook/commit_cache.h)
  };
  Result<Rules> PolicyAndScanner(const std::string& policy_path, const std::string& key);

  // A store connection for one hook run, opened (and migrated) once and then
  // reused: the check server pays SQLite's open, pragmas and schema check on
  // its first push only. Give it back with ReturnDb when done (a connection
  // that is dropped instead is simply closed).
  Result<std::unique_ptr<store::Db>> TakeDb(const std::string& path);
  void ReturnDb(std::unique_ptr<store::Db> db);

  // Per-commit check results shared by the pushes this cache serves.
  SharedCommitResults* commit_results() { return &commit_results_; }

 private:
  struct Stamp {
    std::string path;
    int64_t mtime_ns = -1;
    int64_t size = -1;
    bool operator==(const Stamp&) const = default;
  };
  static Stamp StampOf(const std::string& path);

  std::mutex mu_;
  Stamp config_stamp_;                                  // GUARDED_BY(mu_)
  std::shared_ptr<const config::Config> config_;        // GUARDED_BY(mu_)
  Stamp key_stamp_;                                     // GUARDED_BY(mu_)
  std::string key_;                                     // GUARDED_BY(mu_)
  Stamp policy_stamp_;                                  // GUARDED_BY(mu_)
  std::string scanner_key_;                             // GUARDED_BY(mu_)
  Rules rules_;                                         // GUARDED_BY(mu_)
  std::vector<std::unique_ptr<store::Db>> idle_dbs_;    // GUARDED_BY(mu_)
  SharedCommitResults commit_results_;                  // locks inside
};

// A connection taken from a HookCache, given back when it goes out of scope.
class PooledDb {
 public:
  PooledDb(HookCache* cache, std::unique_ptr<store::Db> db) : cache_(cache), db_(std::move(db)) {}
  ~PooledDb() {
    if (db_) cache_->ReturnDb(std::move(db_));
  }
  PooledDb(const PooledDb&) = delete;
  PooledDb& operator=(const PooledDb&) = delete;
  store::Db& operator*() { return *db_; }
  store::Db* operator->() { return db_.get(); }

 private:
  HookCache* cache_;
  std::unique_ptr<store::Db> db_;
};

struct HookContext {
  std::shared_ptr<const config::Config> config;
  const config::RepoConfig* repo = nullptr;
  std::string server_key;
  std::string identity;
  std::vector<std::string> groups;
  std::string method;          // "token", "oidc" or "local"
  std::string claims_json = "{}";
  std::string http_request_id;
};

// Fails with a message fit for the pusher.
Result<HookContext> LoadHookContext(const HookOptions& options, const HookInvocation& invocation,
                                    HookCache* cache);

// Opens the configured repo; inside a push, also sees the quarantined objects
// (GIT_OBJECT_DIRECTORY, which must lie under the repo's objects/ folder).
// When `existing` is not null and there is a quarantine, *existing receives
// the repo's objects without it (for InspectOptions::existing_objects).
Result<git::RepoPtr> OpenPushedRepo(const HookContext& ctx, const HookInvocation& invocation,
                                    git::OdbPtr* existing = nullptr);

}  // namespace ag::hook
