// One git http-backend child: spawned with an environment built from scratch,
// stdin/stdout/stderr as asynchronous pipes on the server's io_context, every
// inherited descriptor above 2 closed on exec, and its exit watched through a
// pidfd (no SIGCHLD handler, no blocking wait on the network thread).
//
// Ownership: the caller owns the CgiChild. Destroying it while the child runs
// kills the child (SIGKILL) and reaps it; a child is always reaped exactly once.
//
// Thread-safety: not thread-safe; use from the io_context's thread only.
// Completion handlers run on that io_context.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include <boost/system/error_code.hpp>

#include "util/status.h"

namespace boost::asio {
class io_context;
}

namespace ag::mirror {

class CgiChild {
 public:
  using IoHandler = std::function<void(const boost::system::error_code&, size_t)>;
  using ExitHandler = std::function<void(int exit_code)>;

  // Starts `program` (absolute path, no arguments) with exactly `env`.
  static Result<std::unique_ptr<CgiChild>> Spawn(boost::asio::io_context& ioc,
                                                 const std::string& program,
                                                 const std::map<std::string, std::string>& env);
  ~CgiChild();
  CgiChild(const CgiChild&) = delete;
  CgiChild& operator=(const CgiChild&) = delete;

  // Writes all of [data, data+n) to the child's stdin. `data` must stay valid
  // until the handler runs.
  void AsyncWriteStdin(const void* data, size_t n, IoHandler handler);
  // Closes stdin (the child sees EOF).
  void CloseStdin();
  // Reads some bytes of stdout / stderr; error::eof at the end.
  void AsyncReadStdout(void* buf, size_t n, IoHandler handler);
  void AsyncReadStderr(void* buf, size_t n, IoHandler handler);
  // Calls `handler` once, when the child has exited and been reaped.
  // exit_code is the status, or 128+signal, or -1 when unknown.
  void AsyncWaitExit(ExitHandler handler);
  // Sends SIGKILL unless already reaped. Safe to call more than once.
  void Kill();

  pid_t pid() const;
  bool exited() const;
  std::chrono::steady_clock::duration run_time() const;

  struct Impl;  // opaque; defined in child.cc

 private:
  explicit CgiChild(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;  // shared with a pending exit watch
};

}  // namespace ag::mirror
