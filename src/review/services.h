// The review workflow's background services, each with Start()/Stop() and
// its own thread, hosted by agentgate-mirror:
//   Sweeper   periodically aborts incoming requests whose push never landed
//             and expires pending ones past their deadline (store::SweepRequests),
//             then publishes their state refs.
//   Notifier  tells reviewers about new pending requests: one log line each,
//             and a POST to the configured webhook (JSON with a Slack-compatible
//             `text` field), sent with libcurl from its own thread, with
//             timeouts and retries, so it never blocks a push or a review.
//
// Thread-safety: Start() and Stop() from one controlling thread; Stop() is
// idempotent and joins the threads. Each service opens its own Db.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

#include "review/workflow.h"
#include "util/status.h"

namespace ag::review {

struct SweeperOptions {
  std::string db_path;                       // REQUIRES: set
  std::chrono::milliseconds interval{30000};  // between sweeps. Default 30 s.
  // Incoming requests older than this are landed when the mirror's ref holds
  // their new value (post-receive could not record them), else aborted.
  // Default 10 min.
  int64_t incoming_grace_seconds = 600;
};

class Sweeper {
 public:
  Sweeper(SweeperOptions options, ReviewSettings settings);
  ~Sweeper();  // Stop()s
  Sweeper(const Sweeper&) = delete;
  Sweeper& operator=(const Sweeper&) = delete;

  // Opens the store (fails if it cannot) and starts the thread.
  Status Start();
  void Stop();

  // One sweep now, on the caller's thread, with its own Db. Returns how many
  // requests changed.
  Result<int> SweepOnce();

 private:
  void Run();

  const SweeperOptions options_;
  const ReviewSettings settings_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // GUARDED_BY(mu_)
  std::thread thread_;
};

struct NotifierOptions {
  std::string db_path;                         // REQUIRES: set
  std::string webhook_url;                     // empty: log lines only
  std::chrono::milliseconds poll_interval{2000};  // audit polling. Default 2 s.
  std::chrono::milliseconds timeout{5000};     // per POST, whole transfer. Default 5 s.
  int max_attempts = 5;                        // per notification. Default 5.
  std::chrono::milliseconds backoff_initial{1000};  // doubles per attempt. Default 1 s.
  std::chrono::milliseconds backoff_max{60000};     // Default 60 s.
  size_t max_queue = 1000;                     // unsent notifications held; past it the
                                               // log is read no further until there is room
};

class Notifier {
 public:
  explicit Notifier(NotifierOptions options);
  ~Notifier();  // Stop()s
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  // Reads where it got to (the store's notifier_position; on the very first
  // start, the current last audit seq, so history is not announced) and
  // starts the poll and send threads. After a restart it announces the
  // requests that became pending while it was down and those it had not
  // delivered (or given up on) yet, if they are still pending.
  Status Start();
  void Stop();

  // Counters for tests and metrics.
  int64_t sent() const { return sent_.load(); }
  int64_t failed() const { return failed_.load(); }

  // The message for one pending request, escaped for a terminal
  // (util/display.h; the webhook adds EscapeForSlack). Exposed for tests.
  static std::string Text(const store::Request& r);

 private:
  void Poll();
  void Send();
  bool Post(const std::string& body, long* http_status, std::string* error);
  // Sleeps up to `d`; false when Stop() was asked.
  bool Wait(std::chrono::milliseconds d);

  // Stores "every event up to `seq` is handled" (monotonic); logs failures.
  void SavePosition(store::Db* db, int64_t seq);

  const NotifierOptions options_;
  int64_t last_seq_ = 0;  // only the poll thread touches it after Start()
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;               // GUARDED_BY(mu_)
  // (audit seq, JSON body) of notifications to send; GUARDED_BY(mu_)
  std::deque<std::pair<int64_t, std::string>> queue_;
  std::atomic<int64_t> sent_{0}, failed_{0};
  std::thread poll_thread_, send_thread_;
};

// The webhook URL without path, query or user info, for logs (a Slack
// webhook's path is its secret).
std::string RedactUrl(const std::string& url);

}  // namespace ag::review
