// ControlServer: the daemon side of the control socket (protocol.h). It
// listens on a Unix stream socket, reads the caller's uid from SO_PEERCRED
// (never from the request), and answers list / show / approve / reject /
// retry with the review workflow over the store.
//
// The socket is mode 0666 so any local account can connect: authorisation is
// by peer credentials, per request, in the workflow. The parent folder is
// created (0755) when missing. Every connection has a read/write timeout and
// a bounded request size; at most `max_connections` are served at once.
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

#include "control/handlers.h"
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
  int max_requests_per_connection = 100;
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
  Status Start();
  // Stops accepting, interrupts open connections, joins every thread and
  // removes the socket file. Idempotent.
  void Stop();

 private:
  void AcceptLoop();
  void Serve(int fd);

  const ControlServerOptions options_;
  const review::ReviewSettings settings_;
  HandlerContext ctx_;
  int listen_fd_ = -1;
  int wake_[2] = {-1, -1};  // Stop() writes to wake_[1]
  std::thread accept_thread_;
  std::mutex mu_;
  std::condition_variable idle_;
  std::set<int> open_fds_;  // GUARDED_BY(mu_)
  int active_ = 0;          // GUARDED_BY(mu_)
  bool stopping_ = false;   // GUARDED_BY(mu_)
};

}  // namespace ag::control
