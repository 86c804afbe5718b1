#include "hook/check_server.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <nlohmann/json.hpp>

#include "config/config.h"
#include "hook/context.h"
#include "util/file.h"
#include "util/log.h"

namespace ag::hook {
namespace {

using nlohmann::json;

Status SetTimeouts(int fd, std::chrono::seconds t) {
  struct timeval tv{static_cast<time_t>(t.count()), 0};
  if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0 ||
      setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) != 0) {
    return ErrnoStatus("setsockopt");
  }
  return Status::Ok();
}

Status WriteAll(int fd, std::string_view data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("write to the check socket");
    }
    off += static_cast<size_t>(n);
  }
  return Status::Ok();
}

// Reads one '\n'-terminated line of at most `limit` bytes.
Result<std::string> ReadLine(int fd, size_t limit) {
  std::string line;
  char buf[65536];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("read from the check socket");
    }
    if (n == 0) return Status::Unavailable("the check socket closed early");
    size_t searched = line.size();
    line.append(buf, static_cast<size_t>(n));
    size_t nl = line.find('\n', searched);
    if (nl != std::string::npos) {
      line.resize(nl);
      return line;
    }
    if (line.size() > limit) return Status::ResourceExhausted("check request too large");
  }
}

Result<sockaddr_un> Address(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    return Status::InvalidArgument("socket path too long: " + path);
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return addr;
}

}  // namespace

std::string HookSocketPath(const std::string& data_dir) {
  config::Config c;
  c.data_dir = data_dir;
  return c.hook_socket_path();
}

Result<std::unique_ptr<CheckServer>> CheckServer::Start(const CheckServerOptions& options) {
  std::unique_ptr<CheckServer> server(new CheckServer(options));
  server->cache_ = {new HookCache(), [](HookCache* c) { delete c; }};
  AG_ASSIGN_OR_RETURN(sockaddr_un addr, Address(options.socket_path));
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ErrnoStatus("socket");
  server->listen_fd_ = fd;
  ::unlink(options.socket_path.c_str());  // a stale socket of a killed daemon
  // Created 0600 from the start: no window where others could connect.
  mode_t old = ::umask(0177);
  int rc = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::umask(old);
  if (rc != 0) return ErrnoStatus("cannot bind " + options.socket_path);
  if (::listen(fd, 64) != 0) return ErrnoStatus("cannot listen on " + options.socket_path);
  size_t workers = std::max<size_t>(1, options.max_connections);
  // The workers' commits (libgit2 git_signature_now -> mktime -> tzset)
  // reload the time zone on every call while TZ is unset (glibc frees and
  // copies its name each time, under a lock TSan cannot see: CI's TSan run
  // reported it). TZ=":/etc/localtime" names the same zone and makes the
  // reload a no-op; agentgate-mirror sets it first thing in main(), before any
  // thread, so this only acts in tests that start a server in-process.
  if (!std::getenv("TZ")) ::setenv("TZ", ":/etc/localtime", 0);
  ::tzset();
  for (size_t i = 0; i < workers; ++i) {
    server->workers_.emplace_back([s = server.get()] { s->Work(); });
  }
  LogInfo("check_server.listening", {{"socket", options.socket_path}});
  return server;
}

CheckServer::~CheckServer() { Stop(); }

size_t CheckServer::range_hits() const { return cache_ ? cache_->commit_results()->range_hits() : 0; }

void CheckServer::Stop() {
  if (stopping_.exchange(true)) return;
  // Wakes the workers blocked in accept() (Linux: EINVAL).
  if (listen_fd_ >= 0) ::shutdown(listen_fd_, SHUT_RDWR);
  auto deadline = std::chrono::steady_clock::now() + options_.stop_grace;
  for (int i = 0; i < 1000000 && std::chrono::steady_clock::now() < deadline; ++i) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (active_fds_.empty()) break;
    }
    ::usleep(10000);
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (int fd : active_fds_) ::shutdown(fd, SHUT_RDWR);  // their reads and writes fail now
  }
  for (std::thread& t : workers_) {
    if (t.joinable()) t.join();
  }
  if (listen_fd_ >= 0) ::close(listen_fd_);
  listen_fd_ = -1;
  ::unlink(options_.socket_path.c_str());
}

void CheckServer::Work() {
  while (!stopping_.load()) {
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (stopping_.load()) return;
      ::usleep(10000);  // EMFILE and the like: do not spin
      continue;
    }
    {
      // Under the lock Stop() reads the set with: a connection is either
      // seen (and waited for, then cut) by Stop, or not served at all.
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_.load()) {
        ::close(fd);  // a client that connected as the daemon stops: refused
        return;
      }
      active_fds_.insert(fd);
    }
    Serve(fd);
    {
      std::lock_guard<std::mutex> lock(mu_);
      active_fds_.erase(fd);
    }
    ::close(fd);
  }
}

void CheckServer::Serve(int fd) {
  auto reply = [fd](int exit_code, const std::string& output) {
    json j = {{"exit", exit_code}, {"output", output}};
    (void)WriteAll(fd, j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n");
  };
  if (!SetTimeouts(fd, options_.io_timeout).ok()) return;
  ucred cred{};
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return;
  Result<std::string> line = ReadLine(fd, options_.max_request_bytes);
  if (!line.ok()) return reply(1, "agentgate: push refused: " + line.status().message() + "\n");
  json req = json::parse(*line, nullptr, false);
  if (req.is_discarded() || !req.is_object()) {
    return reply(1, "agentgate: push refused: malformed check request\n");
  }
  HookOptions options;
  options.config_path = options_.config_path;  // the daemon's own, never the client's
  options.repo_name = req.value("repo", "");
  HookInvocation inv;
  inv.uid = cred.uid;
  if (req.contains("env") && req["env"].is_object()) {
    for (const auto& [k, v] : req["env"].items()) {
      if (v.is_string() && (k.rfind("GIT_", 0) == 0 || k.rfind("AGENTGATE_", 0) == 0)) {
        inv.env[k] = v.get<std::string>();
      }
    }
  }
  std::string input = req.value("input", "");
  std::string hook = req.value("hook", "");
  char* buf = nullptr;
  size_t size = 0;
  FILE* out = ::open_memstream(&buf, &size);
  if (!out) return reply(1, "agentgate: push refused: out of memory\n");
  int exit_code = 1;
  bool approved = false;
  if (hook == "pre-receive") {
    exit_code = RunPreReceiveWith(options, inv, input, out, cache_.get());
  } else if (hook == "post-receive") {
    exit_code = RunPostReceiveWith(options, inv, input, out, cache_.get(), &approved);
  } else {
    std::fprintf(out, "agentgate: push refused: unknown hook '%s'\n", hook.substr(0, 40).c_str());
  }
  std::fclose(out);
  ++served_;
  std::string output(buf, size);
  ::free(buf);
  reply(exit_code, output);
  if (approved && options_.on_approved) options_.on_approved();
}

Result<int> DelegateHook(const std::string& socket_path, std::string_view hook,
                         const HookOptions& options, const HookInvocation& invocation,
                         std::string_view input, FILE* out) {
  AG_ASSIGN_OR_RETURN(sockaddr_un addr, Address(socket_path));
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ErrnoStatus("socket");
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    return Status::Unavailable("no check server at " + socket_path);
  }
  // From here on the request may have been acted upon: no silent fallback.
  AG_RETURN_IF_ERROR(SetTimeouts(fd, std::chrono::seconds(600)).WithContext("check socket"));
  json req = {{"hook", hook}, {"repo", options.repo_name}, {"env", invocation.env},
              {"input", input}};
  std::string request;
  try {
    request = req.dump() + "\n";  // strict: never a ref name altered on the way
  } catch (const json::exception&) {
    return Status::InvalidArgument(
        "the push carries text that is not UTF-8 (a ref name, a push option or a path)");
  }
  Status sent = WriteAll(fd, request);
  if (!sent.ok()) return Status::Internal(sent.message());
  Result<std::string> line = ReadLine(fd, 64u << 20);
  if (!line.ok()) return Status::Internal("the check server did not answer: " + line.status().message());
  json resp = json::parse(*line, nullptr, false);
  if (resp.is_discarded() || !resp.contains("exit")) {
    return Status::Internal("the check server sent a malformed answer");
  }
  std::string output = resp.value("output", "");
  std::fwrite(output.data(), 1, output.size(), out);
  // Only an exact 0 accepts (an exit status is taken modulo 256).
  return resp["exit"].is_number_integer() && resp["exit"].get<int>() == 0 ? 0 : 1;
}

}  // namespace ag::hook
