// ControlServer: the daemon side of the control socket (protocol.h). It
// listens on a Unix stream socket, reads the caller's uid from SO_PEERCRED
// (never from the request), and answers list / show / approve / reject /
// retry with the review workflow over the store.
//
// The socket is mode 0666 so any local account can connect: authorisation is
// by peer credentials, per request, in the workflow. The parent folder is
// created (0755) when missing. Every connection has a read/write timeout, a
// deadline for each request line and a bounded request size. So that no local
// account can starve the reviewers:
//   - each uid holds at most `max_connections_per_uid` connections at once;
//   - accounts that may review nothing (access.h) share what is left of
//     `max_connections` after `reviewer_connections`, kept for those that may;
//   - a connection that sends no request line within `request_deadline` is
//     closed;
//   - refusals to accounts that may review nothing write at most one audit row
//     per account per `refusal_audit_interval` (refusal_limiter.h).
//
// Thread-safety: Start() and Stop() from one controlling thread. The server
// runs an accept thread plus one short-lived thread per connection, each with
// its own Db.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include <map>

#include "control/access.h"
#include "control/handlers.h"
#include "control/refusal_limiter.h"
#include "review/workflow.h"
#include "util/status.h"

namespace ag::control {

struct ControlServerOptions {
  std::string socket_path;                     // REQUIRES: set (config.control_socket)
  std::string db_path;                         // REQUIRES: set (config.db_path())
  int db_busy_timeout_ms = 5000;               // wait for another writer. Default 5 s.
  size_t max_request_bytes = 64 << 10;         // one request line. Default 64 KiB.
  std::chrono::milliseconds io_timeout{10000};  // per read or write. Default 10 s.
  // Whole connection: a client trickling bytes is cut off here. Default 60 s.
  std::chrono::milliseconds connection_deadline{60000};
  int max_connections = 32;                    // served at once; more are told to retry
  // Of max_connections, kept for accounts that may review (root, the daemon's
  // account, the policy's reviewers: access.h). REQUIRES: < max_connections.
  // Default 8.
  int reviewer_connections = 8;
  // Held at once by one uid, whoever it is. REQUIRES: >= 1. Default 4.
  int max_connections_per_uid = 4;
  // From the connection (or the previous answer) to a whole request line; a
  // silent connection is closed. Default 5 s.
  std::chrono::milliseconds request_deadline{5000};
  int max_requests_per_connection = 100;
  // Who may review something besides root and the daemon's account (the
  // server adds the settings' default reviewers). Default: nobody else.
  ReviewerAccounts reviewers;
  // At most one `review.refused` row per account that may review nothing per
  // this interval; the rest are counted ("suppressed": N). Default 60 s.
  std::chrono::milliseconds refusal_audit_interval{60000};
  size_t refusal_audit_max_accounts = 10000;  // windows tracked at once. Default 10,000.
  ShowOptions show;
  // See HandlerContext::on_approved. Default none.
  std::function<void()> on_approved;
};

class ControlServer {
 public:
  ControlServer(ControlServerOptions options, review::ReviewSettings settings);
  ~ControlServer();  // Stop()s
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // Binds and listens (replacing a stale socket file; AlreadyExists when a
  // live server answers on it), then starts the accept thread.
  // InvalidArgument when the connection limits contradict each other.
  Status Start();
  // Stops accepting, interrupts open connections, joins every thread and
  // removes the socket file. Idempotent.
  void Stop();

 private:
  void AcceptLoop();
  // Admits connection `fd` or answers why not and closes it. Accept thread.
  void Admit(int fd);
  void Serve(int fd, const Result<Peer>& peer);

  const ControlServerOptions options_;
  const review::ReviewSettings settings_;
  ReviewerAccounts reviewers_;  // options_.reviewers and the default reviewers
  RefusalLimiter refusals_;
  HandlerContext ctx_;
  int listen_fd_ = -1;
  int wake_[2] = {-1, -1};  // Stop() writes to wake_[1]
  std::thread accept_thread_;
  std::mutex mu_;
  std::condition_variable idle_;
  std::set<int> open_fds_;  // GUARDED_BY(mu_)
  int active_ = 0;          // GUARDED_BY(mu_)
  int unprivileged_ = 0;    // GUARDED_BY(mu_): held by accounts that may review nothing
  std::map<uid_t, int> per_uid_;  // GUARDED_BY(mu_): uids with a connection open
  bool stopping_ = false;   // GUARDED_BY(mu_)
};

}  // namespace ag::control
