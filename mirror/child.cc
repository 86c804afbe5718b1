#include "mirror/child.h"

#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
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

  void Reap() {
    if (reaped) return;
    int status = 0;
    pid_t pid = child.id();
    pid_t r;
    do {
      r = ::waitpid(pid, &status, 0);
    } while (r < 0 && errno == EINTR);
    reaped = true;
    ended = std::chrono::steady_clock::now();
    if (r == pid) {
      if (WIFEXITED(status)) exit_code = WEXITSTATUS(status);
      else if (WIFSIGNALED(status)) exit_code = 128 + WTERMSIG(status);
    }
    child.detach();  // reaped here; bp must not wait or terminate it again
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

void CgiChild::AsyncWaitExit(ExitHandler handler) {
  std::weak_ptr<Impl> weak = impl_;
  // The pidfd becomes readable when the child exits; reaping is then instant.
  impl_->exit_watch->async_wait(
      net::posix::stream_descriptor::wait_read,
      [weak, handler = std::move(handler)](const boost::system::error_code& ec) {
        std::shared_ptr<Impl> impl = weak.lock();
        if (!impl || ec == net::error::operation_aborted) return;  // CgiChild destroyed
        impl->Reap();
        handler(impl->exit_code);
      });
}

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
