// Per-commit check results kept across pushes (check::CommitCache): an
// in-memory map shared by the check server's pushes, backed by the store's
// commit_checks table so a restart or a hook run without the server costs
// lookups too. Results are keyed by commit and a version that changes with
// the policy file, the rule files, the fingerprint key and the program, so a
// policy edit never reuses a stale verdict. Internal to src/hook.
//
// Thread-safety: SharedCommitResults locks inside; a PushCommitCache belongs
// to one push (one thread).
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "check/check.h"
#include "store/db.h"

namespace ag::hook {

// The version of every per-commit result under this policy: a hash of the
// policy file, its rule files, the fingerprint key and this program.
Result<std::string> CheckVersion(const policy::Policy& policy, const std::string& key);

class SharedCommitResults {
 public:
  // Holds at most this many results; past it, the map starts again.
  static constexpr size_t kMaxEntries = 200000;

  std::shared_ptr<const check::CommitResult> Find(const std::string& version, const std::string& oid);
  void Put(const std::string& version, const std::string& oid,
           std::shared_ptr<const check::CommitResult> result);

 private:
  std::mutex mu_;
  std::string version_;  // GUARDED_BY(mu_)
  std::unordered_map<std::string, std::shared_ptr<const check::CommitResult>> map_;  // GUARDED_BY(mu_)
};

class PushCommitCache : public check::CommitCache {
 public:
  // Borrows both; `db` may be null (memory only).
  PushCommitCache(SharedCommitResults* shared, store::Db* db, std::string version)
      : shared_(shared), db_(db), version_(std::move(version)) {}

  std::shared_ptr<const check::CommitResult> Find(const std::string& commit) override;
  void Store(const std::string& commit, std::shared_ptr<const check::CommitResult> result) override;

  // Writes the results computed during this push to the store (inside the
  // caller's transaction).
  Status Persist(store::Db& db);

  size_t hits() const { return hits_; }
  size_t computed() const { return fresh_.size(); }

 private:
  SharedCommitResults* shared_;
  store::Db* db_;
  std::string version_;
  std::vector<std::pair<std::string, std::shared_ptr<const check::CommitResult>>> fresh_;
  size_t hits_ = 0;
};

// The JSON form stored in commit_checks (masked values only, as everywhere).
std::string CommitResultToJson(const check::CommitResult& r);
Result<check::CommitResult> CommitResultFromJson(std::string_view json);

}  // namespace ag::hook
