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

#include <atomic>
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

  // Judged ranges (check::RangeResult), in memory only: a restart judges
  // the first push on a pending branch whole again. At most this many
  // commits held by the stored ranges; past it, the ranges start again.
  static constexpr size_t kMaxRangeCommits = 300000;
  std::shared_ptr<const check::RangeResult> FindRange(const std::string& version, const std::string& key);
  void PutRange(const std::string& version, const std::string& key,
                std::shared_ptr<const check::RangeResult> range);
  // Pushes that found a judged range (for tests and the service log).
  size_t range_hits() const { return range_hits_.load(); }

 private:
  // Empties both maps when `version` is a new one. REQUIRES(mu_)
  void SwitchTo(const std::string& version);

  std::mutex mu_;
  std::string version_;  // GUARDED_BY(mu_)
  std::unordered_map<std::string, std::shared_ptr<const check::CommitResult>> map_;  // GUARDED_BY(mu_)
  std::unordered_map<std::string, std::shared_ptr<const check::RangeResult>> ranges_;  // GUARDED_BY(mu_)
  size_t range_commits_ = 0;  // GUARDED_BY(mu_): own commits of the ranges stored
  std::atomic<size_t> range_hits_{0};
};

class PushCommitCache : public check::CommitCache {
 public:
  // Borrows both; `db` may be null (memory only).
  PushCommitCache(SharedCommitResults* shared, store::Db* db, std::string version)
      : shared_(shared), db_(db), version_(std::move(version)) {}

  std::shared_ptr<const check::CommitResult> Find(const std::string& commit) override;
  void Store(const std::string& commit, std::shared_ptr<const check::CommitResult> result) override;
  std::shared_ptr<const check::RangeResult> FindRange(const std::string& key) override {
    return shared_->FindRange(version_, key);
  }
  void StoreRange(const std::string& key, std::shared_ptr<const check::RangeResult> range) override {
    shared_->PutRange(version_, key, std::move(range));
  }

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
