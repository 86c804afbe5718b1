// The replay worker: pushes approved requests upstream with a lease, exactly
// once in effect, never forced (docs/replay.md).
//
// For each request, in id order per (repo, ref) and one at a time per ref:
//   approved -> replaying   (committed before anything is sent upstream)
//   connect, list upstream's ref:
//     == new_oid        -> replayed (already there: idempotent, no push)
//     == upstream_base  -> push "<pinned>:<ref>" on the same connection
//     else              -> conflict "upstream moved from <base> to <actual>"
//   push declined       -> failed, with the upstream's message
//   network error / 5xx -> back to approved with replay_attempts+1 and
//                          next_attempt_at = now + backoff (jittered), until
//                          config.replay_max_attempts, then failed
//   credential refused  -> failed "upstream refused the credential"
// A request found in `replaying` (the daemon died mid-push) goes through the
// same lease logic, so a crash at any point ends replayed exactly once.
//
// Thread-safety: Start()/Stop() from one thread. RunOnce() must not run
// while the worker thread runs (tests call it without Start()). The worker
// opens its own Db and git handles.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "config/config.h"
#include "store/db.h"
#include "util/status.h"

namespace ag::replay {

struct WorkerOptions {
  // How often the thread looks for work when not woken. Default 2 s.
  std::chrono::milliseconds poll_interval{2000};
  // First retry delay; doubles per attempt up to config.replay_backoff_max.
  // Default 2 s.
  std::chrono::seconds base_backoff{2};
  // Actor named in audit events. Default "agentgate".
  std::string actor = "agentgate";
  // Upper bound on requests handled by one RunOnce. Default 10000.
  int max_per_pass = 10000;
};

struct PassStats {
  int replayed = 0;   // now replayed (pushed or already there)
  int pushed = 0;     // of which a push was sent
  int conflicts = 0;
  int failed = 0;
  int retried = 0;    // back to approved for a later attempt
  int handled() const { return replayed + conflicts + failed + retried; }
};

class ReplayWorker {
 public:
  explicit ReplayWorker(std::shared_ptr<const config::Config> config, WorkerOptions options = {});
  ~ReplayWorker();  // Stop()
  ReplayWorker(const ReplayWorker&) = delete;
  ReplayWorker& operator=(const ReplayWorker&) = delete;

  // Starts the thread (which first resumes requests left in `replaying`).
  Status Start();
  // Asks the thread to stop after the current request and joins it.
  void Stop();
  // Makes the thread look for work now (e.g. right after an approval).
  void Wake();

  // One pass over every eligible request; each request gets at most one
  // attempt per pass. Errors are store errors; per-request outcomes are in
  // the store and counted in the stats.
  Result<PassStats> RunOnce();

 private:
  void Loop();
  Result<PassStats> Pass(store::Db& db);
  // The next request to handle (0: none), skipping `tried`.
  Result<int64_t> PickNext(store::Db& db, const std::set<int64_t>& tried);
  int64_t Backoff(int attempts);

  std::shared_ptr<const config::Config> config_;
  WorkerOptions options_;
  std::mt19937_64 rng_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;   // GUARDED_BY(mu_)
  bool wake_ = false;   // GUARDED_BY(mu_)
  std::thread thread_;
};

// failed -> approved with the attempt counter reset (what `agentgate retry ID`
// does). FailedPrecondition when the request is not failed.
Status RetryRequest(store::Db& db, int64_t id, std::string_view actor);

// "refs/heads/x" -> "refs/agentgate/upstream/heads/x" (tags likewise); other
// refs -> "refs/agentgate/upstream/" + the part after "refs/".
std::string UpstreamTrackingRef(const std::string& ref);

}  // namespace ag::replay
