// Sync: keeps each mirror's view of upstream current, and creates mirrors.
//
// SyncRepo, per repo (the SyncWorker runs it every repo.sync_interval):
//   1. fetch upstream's refs/heads/* and refs/tags/* (same credential as
//      replay) into refs/agentgate/upstream/heads/* and .../tags/*, pruning
//      the ones upstream deleted;
//   2. every client-visible refs/heads/X, refs/tags/X with no request in
//      incoming/pending/approved/replaying/conflict follows upstream (create or
//      update, compare-and-set); a branch upstream deleted is removed only if
//      the client ref still holds upstream's last value. Refs upstream never
//      had (refs/heads/agent/**) are never touched;
//   3. pending requests whose upstream_base no longer equals upstream's value
//      get upstream_moved=1 and an audit event request.upstream_moved.
// A dead upstream is a warning in the log; the mirror keeps serving.
//
// Thread-safety: SyncRepo and CreateMirror may run on any thread, each with
// its own handles. SyncWorker: Start()/Stop() from one thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "config/config.h"
#include "store/db.h"
#include "util/status.h"

namespace ag::sync {

struct SyncResult {
  int tracking_updated = 0;  // refs/agentgate/upstream/* set or deleted
  int client_updated = 0;    // client-visible refs moved to upstream's value
  int flagged = 0;           // pending requests newly marked upstream_moved
  std::string default_branch;  // upstream's HEAD ("refs/heads/main"), "" if none
};

// The mirror's path: repo.path, or <data_dir>/repos/<name>.git.
std::string MirrorPath(const config::Config& config, const config::RepoConfig& repo);

// One sync of `repo` (steps above). `db` may be null: then every client ref
// follows upstream and nothing is flagged (a new mirror has no requests).
// Errors: as replay::UpstreamSession (kUnavailable when upstream is down).
Result<SyncResult> SyncRepo(const config::Config& config, const config::RepoConfig& repo,
                            store::Db* db);

struct CreateOptions {
  std::string config_path;  // absolute path written into the hook files
  std::string bindir;       // folder holding agentgate-pre-receive / -post-receive
};

// Creates the bare mirror for `repo` (refuses an existing path): HEAD as
// upstream's default branch (else main), receive.advertisePushOptions,
// core.logAllRefUpdates, http.receivepack (the daemon authenticates), the
// pre-receive/post-receive hook files (`#!<bindir>/agentgate-pre-receive`
// then `--config=`, `--repo=`, `--socket=` lines: git starts the hook program
// directly, docs/hooks.md), and a first SyncRepo. On failure the new folder
// is removed.
Status CreateMirror(const config::Config& config, const config::RepoConfig& repo,
                    const CreateOptions& options);

// (Re)writes the hook files of `repo`'s existing mirror, atomically, as
// CreateMirror does (`agentgate repo hooks`: after an upgrade, a move of the
// programs, or to repair them). InvalidArgument when a path cannot go into a
// hook file (not absolute, a line break, a #! line too long or with blanks).
Status InstallHooks(const config::Config& config, const config::RepoConfig& repo,
                    const CreateOptions& options);

struct SyncOptions {
  // Upper bound on one sleep of the worker thread. Default 1 s.
  std::chrono::milliseconds tick{1000};
};

// Runs SyncRepo for every repo with a non-zero sync_interval, each on its own
// schedule, on one thread.
class SyncWorker {
 public:
  explicit SyncWorker(std::shared_ptr<const config::Config> config, SyncOptions options = {});
  ~SyncWorker();  // Stop()
  SyncWorker(const SyncWorker&) = delete;
  SyncWorker& operator=(const SyncWorker&) = delete;

  Status Start();
  void Stop();
  // Syncs every repo once, now (tests; `agentgate` tools). Returns the first
  // store error; upstream errors are logged and skipped.
  Status RunOnce();

 private:
  void Loop();
  Status SyncOne(store::Db* db, const config::RepoConfig& repo);

  std::shared_ptr<const config::Config> config_;
  SyncOptions options_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // GUARDED_BY(mu_)
  std::thread thread_;
};

}  // namespace ag::sync
