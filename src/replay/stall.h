// StallGuard: cuts the upstream connection of a libgit2 network call that
// moves no data for too long. libgit2 1.5 (Debian 12) has no I/O timeout
// (GIT_OPT_SET_SERVER_TIMEOUT came in 1.7): an upstream that accepts the
// connection and then says nothing would hold the replay or sync worker for
// good. While a guard lives, a thread of its own waits; when `idle` passes
// without Progress(), it shuts down (SHUT_RDWR) every socket this process
// opened since `before` (told apart by inode, so a reused descriptor number
// does not hide one) whose peer port is the upstream's, so the blocked call
// fails and the caller retries later as for any network error.
//
// Which sockets: those opened since `before`, to the upstream's port, and -
// once the session knows them (SetPeers: the addresses its connection went
// to) - to those addresses only. While connecting, before any address is
// known, another thread's new connection to the same port (a webhook POST to
// another host on 443, say) is cut too and retried by its owner. Through an
// HTTP proxy the port is the proxy's, which this does not know. Usage:
//   std::set<std::string> before = OpenSockets();  // before the connection opens
//   StallGuard guard(idle, UpstreamPort(url), &before);
//   rc = git_remote_connect(...);              // callbacks call guard.Progress()
//   if (rc != 0 && guard.fired()) ... "upstream sent nothing for N s" ...
//
// Thread-safety: Progress() and fired() from any thread; one owner.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <string>
#include <thread>

namespace ag::replay {

// The sockets open in this process now ("socket:[inode]", /proc/self/fd).
std::set<std::string> OpenSockets();

// The TCP port a git URL connects to: http 80, https 443, ssh (ssh:// or
// user@host:path) 22, git:// 9418, unless the URL names one; 0 for file://
// and local paths.
int UpstreamPort(const std::string& url);

// The addresses (as inet_ntop prints them) of the sockets opened since
// `before` whose peer port is `port`: where a session's connection went.
std::set<std::string> PeersOf(int port, const std::set<std::string>& before);

class StallGuard {
 public:
  // REQUIRES: `before` outlives the guard. `idle` zero or `port` 0: watches
  // nothing.
  StallGuard(std::chrono::milliseconds idle, int port, const std::set<std::string>* before);
  ~StallGuard();  // stops watching
  StallGuard(const StallGuard&) = delete;
  StallGuard& operator=(const StallGuard&) = delete;

  // Data moved: the idle clock starts again.
  void Progress();
  // Cuts only sockets to these addresses from now on (empty: any address).
  void SetPeers(std::set<std::string> peers);
  // True once the guard cut the connection.
  bool fired() const;

 private:
  void Watch();
  void Cut();

  const std::chrono::milliseconds idle_;
  const int port_;
  const std::set<std::string>* const before_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::chrono::steady_clock::time_point deadline_;  // GUARDED_BY(mu_)
  bool done_ = false;                                // GUARDED_BY(mu_)
  bool fired_ = false;                               // GUARDED_BY(mu_)
  std::set<std::string> peers_;                      // GUARDED_BY(mu_)
  std::thread thread_;
};

}  // namespace ag::replay
