#include "mirror/child.h"

#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/process/async_pipe.hpp>
#include <boost/process/child.hpp>
#include <boost/process/env.hpp>
#include <boost/process/environment.hpp>
#include <boost/process/exe.hpp>
#include <boost/process/extend.hpp>
#include <boost/process/io.hpp>
#include <cstring>
#include <optional>

namespace ag::mirror {

namespace net = boost::asio;
namespace bp = boost::process;

struct CgiChild::Impl {
  explicit Impl(net::io_context& ioc) : in(ioc), out(ioc), err(ioc) {}
  bp::async_pipe in, out, err;
  bp::child child;
  int pidfd = -1;
  std::optional<net::posix::stream_descriptor> exit_watch;
  bool reaped = false;
  int exit_code = -1;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point ended{};

  // Blocking reap: only after SIGKILL (destructor, failed start).
  void Reap() { (void)DoReap(0); }
  // Non-blocking reap for the event loop: false when the child still runs.
  bool TryReap() { return DoReap(WNOHANG); }

  bool DoReap(int flags) {
    if (reaped) return true;
    int status = 0;
    pid_t pid = child.id();
    pid_t r;
    do {
      r = ::waitpid(pid, &status, flags);
    } while (r < 0 && errno == EINTR);
    if (r == 0) return false;  // WNOHANG: still running
    reaped = true;
    ended = std::chrono::steady_clock::now();
    if (r == pid) {
      if (WIFEXITED(status)) exit_code = WEXITSTATUS(status);
      else if (WIFSIGNALED(status)) exit_code = 128 + WTERMSIG(status);
    }
    child.detach();  // reaped here; bp must not wait or terminate it again
    return true;
  }
};

namespace {

// Runs in the forked child before exec: nothing but 0, 1 and 2 survives exec
// (listening socket, client sockets, other children's pipes, epoll fds).
struct CloseInheritedFds {
  template <class Executor>
  void operator()(Executor&) const {
    ::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
  }
};

}  // namespace

CgiChild::CgiChild(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::unique_ptr<CgiChild>> CgiChild::Spawn(net::io_context& ioc, const std::string& program,
                                                  const std::map<std::string, std::string>& env) {
  try {
    auto impl = std::make_shared<Impl>(ioc);
    bp::environment child_env;  // starts empty
    for (const auto& [k, v] : env) child_env[k] = v;
    std::error_code ec;
    impl->child = bp::child(bp::exe = program, child_env, bp::std_in < impl->in,
                            bp::std_out > impl->out, bp::std_err > impl->err, ec,
                            bp::extend::on_exec_setup = CloseInheritedFds{});
    if (ec) return Status::Internal("cannot start " + program + ": " + ec.message());
    impl->started = std::chrono::steady_clock::now();
    // syscall: glibc 2.36's <sys/pidfd.h> lacks extern "C" for C++.
    impl->pidfd = static_cast<int>(::syscall(SYS_pidfd_open, impl->child.id(), 0));
    if (impl->pidfd < 0) {
      int e = errno;
      ::kill(impl->child.id(), SIGKILL);
      impl->Reap();
      return Status::Internal(std::string("pidfd_open: ") + std::strerror(e));
    }
    impl->exit_watch.emplace(ioc, impl->pidfd);
    return std::unique_ptr<CgiChild>(new CgiChild(std::move(impl)));
  } catch (const std::exception& e) {
    return Status::Internal(std::string("cannot start ") + program + ": " + e.what());
  }
}

CgiChild::~CgiChild() {
  boost::system::error_code ec;
  impl_->in.close(ec);
  impl_->out.close(ec);
  impl_->err.close(ec);
  if (!impl_->reaped) {
    Kill();
    impl_->Reap();
  }
  if (impl_->exit_watch) impl_->exit_watch->close(ec);  // closes the pidfd
}

void CgiChild::AsyncWriteStdin(const void* data, size_t n, IoHandler handler) {
  net::async_write(impl_->in, net::buffer(data, n), std::move(handler));
}

void CgiChild::CloseStdin() {
  boost::system::error_code ec;
  impl_->in.close(ec);
}

void CgiChild::AsyncReadStdout(void* buf, size_t n, IoHandler handler) {
  impl_->out.async_read_some(net::buffer(buf, n), std::move(handler));
}

void CgiChild::AsyncReadStderr(void* buf, size_t n, IoHandler handler) {
  impl_->err.async_read_some(net::buffer(buf, n), std::move(handler));
}

namespace {

// Calls `handler` once the child has exited and is reaped. The event loop
// never blocks: the pidfd's readiness is only a hint, confirmed with a
// WNOHANG reap; if the child still runs (a wake-up we did not expect, or an
// error on the pidfd), it is checked again after a short timer.
void WaitExitOn(std::weak_ptr<CgiChild::Impl> weak, net::io_context& ioc,
                CgiChild::ExitHandler handler, bool use_pidfd);

}  // namespace

void CgiChild::AsyncWaitExit(ExitHandler handler) {
  WaitExitOn(impl_, static_cast<net::io_context&>(impl_->exit_watch->get_executor().context()),
             std::move(handler), /*use_pidfd=*/true);
}

namespace {

void WaitExitOn(std::weak_ptr<CgiChild::Impl> weak, net::io_context& ioc,
                CgiChild::ExitHandler handler, bool use_pidfd) {
  std::shared_ptr<CgiChild::Impl> impl = weak.lock();
  if (!impl) return;
  auto on_ready = [weak, &ioc, handler = std::move(handler)](const boost::system::error_code& ec) mutable {
    std::shared_ptr<CgiChild::Impl> impl = weak.lock();
    if (!impl || ec == net::error::operation_aborted) return;  // CgiChild destroyed
    if (impl->TryReap()) {
      handler(impl->exit_code);
      return;
    }
    // Still running: poll, without blocking the loop, until it exits.
    WaitExitOn(weak, ioc, std::move(handler), /*use_pidfd=*/false);
  };
  if (use_pidfd) {
    impl->exit_watch->async_wait(net::posix::stream_descriptor::wait_read, std::move(on_ready));
  } else {
    auto timer = std::make_shared<net::steady_timer>(ioc, std::chrono::milliseconds(20));
    timer->async_wait([timer, on_ready = std::move(on_ready)](const boost::system::error_code& ec) mutable {
      on_ready(ec);
    });
  }
}

}  // namespace

void CgiChild::Kill() {
  if (impl_->reaped || impl_->pidfd < 0) return;
  ::syscall(SYS_pidfd_send_signal, impl_->pidfd, SIGKILL, nullptr, 0);
}

pid_t CgiChild::pid() const { return impl_->child.id(); }
bool CgiChild::exited() const { return impl_->reaped; }
std::chrono::steady_clock::duration CgiChild::run_time() const {
  auto end = impl_->reaped ? impl_->ended : std::chrono::steady_clock::now();
  return end - impl_->started;
}

}  // namespace ag::mirror
