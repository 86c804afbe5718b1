// The check server: agentgate-mirror runs the hooks' work in-process with
// warm caches (config, policy, compiled secret rules, libgit2 initialised),
// so a push pays for none of that. The hook programs connect to it first and
// run in their own process only when it is not there.
//
// Protocol (Unix stream socket, mode 0600, so only the daemon's user and root
// can connect): one JSON line from the hook
//   {"hook":"pre-receive"|"post-receive","repo":NAME,"env":{GIT_*,AGENTGATE_*},"input":"<ref updates>"}
// and one JSON line back: {"exit":N,"output":"<what the pusher sees>"}.
// The config is the server's own; the local identity comes from the peer's
// credentials (SO_PEERCRED), never from the request.
//
// Thread-safety: Start/Stop from one thread. `max_connections` worker
// threads, started with the server, each accept and serve one connection at
// a time (no thread is created per push); more clients wait in the listen
// backlog.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "hook/hook.h"
#include "util/status.h"

namespace ag::hook {

struct CheckServerOptions {
  std::string config_path;  // REQUIRES: the daemon's config file
  std::string socket_path;  // default: <data_dir>/hook.sock (see HookSocketPath)
  size_t max_connections = 16;             // worker threads; more wait in the listen backlog
  std::chrono::seconds io_timeout{600};    // per read or write on a connection
  size_t max_request_bytes = 8u << 20;     // a larger request is refused
  // Stop() waits this long for hooks being served, then cuts their
  // connections (a cut pre-receive refuses its push). Default 60 s.
  std::chrono::milliseconds stop_grace{60000};
  // Called (after the hook has its answer) when a push landed a request a
  // policy rule approved: agentgate-mirror wakes the replay worker. May be
  // empty; must be cheap and thread-safe.
  std::function<void()> on_approved;
};

class CheckServer {
 public:
  // Binds (replacing a stale socket file), listens and starts serving.
  static Result<std::unique_ptr<CheckServer>> Start(const CheckServerOptions& options);
  ~CheckServer();  // Stop()
  CheckServer(const CheckServer&) = delete;
  CheckServer& operator=(const CheckServer&) = delete;

  // Stops accepting, waits up to stop_grace for connections being served,
  // cuts the rest, joins the workers, removes the socket.
  void Stop();

  // Hook runs served so far.
  int served() const { return served_.load(); }
  // Judged ranges reused so far (check::RangeResult).
  size_t range_hits() const;

 private:
  explicit CheckServer(CheckServerOptions options) : options_(std::move(options)) {}
  void Work();  // one worker: accept, serve, repeat until stopping
  void Serve(int fd);

  CheckServerOptions options_;
  int listen_fd_ = -1;
  std::atomic<bool> stopping_{false};
  std::atomic<int> served_{0};
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::set<int> active_fds_;  // GUARDED_BY(mu_): connections being served
  std::unique_ptr<HookCache, void (*)(HookCache*)> cache_{nullptr, nullptr};
};

// <data_dir>/hook.sock: where the daemon listens and the hooks look.
std::string HookSocketPath(const std::string& data_dir);

// Runs `hook` through the check server at `socket_path`. NotFound or
// Unavailable when the server cannot be reached (the caller then runs the
// hook itself); any failure after the request was sent is returned as
// Internal (the caller must fail closed, not run the hook a second time).
Result<int> DelegateHook(const std::string& socket_path, std::string_view hook,
                         const HookOptions& options, const HookInvocation& invocation,
                         std::string_view input, FILE* out);

}  // namespace ag::hook
