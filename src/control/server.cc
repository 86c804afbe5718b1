#include "control/server.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <filesystem>

#include "control/protocol.h"
#include "util/file.h"
#include "util/log.h"

namespace ag::control {
namespace {

Status MakeAddress(const std::string& path, sockaddr_un* addr) {
  *addr = {};
  addr->sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr->sun_path) {
    return Status::InvalidArgument("control socket path is empty or too long: " + path);
  }
  std::memcpy(addr->sun_path, path.c_str(), path.size() + 1);
  return Status::Ok();
}

bool WriteAll(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

void SetTimeouts(int fd, std::chrono::milliseconds t) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(t.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((t.count() % 1000) * 1000);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

}  // namespace

ControlServer::ControlServer(ControlServerOptions options, review::ReviewSettings settings)
    : options_(std::move(options)),
      settings_(std::move(settings)),
      reviewers_(options_.reviewers),
      refusals_(options_.refusal_audit_interval, options_.refusal_audit_max_accounts) {
  reviewers_.Add(settings_.default_reviewers);
  ctx_.settings = &settings_;
  ctx_.show = options_.show;
  ctx_.on_approved = options_.on_approved;
  ctx_.reviewers = &reviewers_;
  ctx_.refusals = &refusals_;
}

ControlServer::~ControlServer() { Stop(); }

Status ControlServer::Start() {
  if (options_.max_connections_per_uid < 1 || options_.reviewer_connections < 0 ||
      options_.reviewer_connections >= options_.max_connections ||
      options_.refusal_audit_max_accounts < 1) {
    return Status::InvalidArgument(
        "control socket limits: need max_connections_per_uid >= 1, 0 <= reviewer_connections "
        "< max_connections and refusal_audit_max_accounts >= 1");
  }
  sockaddr_un addr;
  AG_RETURN_IF_ERROR(MakeAddress(options_.socket_path, &addr));
  std::filesystem::path parent = std::filesystem::path(options_.socket_path).parent_path();
  if (!parent.empty()) {
    std::error_code ec;
    if (std::filesystem::create_directories(parent, ec)) {
      chmod(parent.c_str(), 0755);
    } else if (ec) {
      return Status::Io("cannot create " + parent.string() + ": " + ec.message());
    }
  }
  // A socket file left by a crashed daemon is replaced; a live one is not.
  struct stat st{};
  if (lstat(options_.socket_path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return Status::AlreadyExists(options_.socket_path + " exists and is not a socket");
    }
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool live = probe >= 0 && connect(probe, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    if (probe >= 0) close(probe);
    if (live) return Status::AlreadyExists("another server listens on " + options_.socket_path);
    unlink(options_.socket_path.c_str());
  }
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ErrnoStatus("socket");
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    Status s = ErrnoStatus("bind " + options_.socket_path);
    close(fd);
    return s;
  }
  // Any local account may connect; SO_PEERCRED says who it is.
  if (chmod(options_.socket_path.c_str(), 0666) != 0 || listen(fd, 64) != 0) {
    Status s = ErrnoStatus("listen " + options_.socket_path);
    close(fd);
    unlink(options_.socket_path.c_str());
    return s;
  }
  if (pipe2(wake_, O_CLOEXEC) != 0) {
    Status s = ErrnoStatus("pipe");
    close(fd);
    unlink(options_.socket_path.c_str());
    return s;
  }
  listen_fd_ = fd;
  {
    std::lock_guard<std::mutex> l(mu_);
    stopping_ = false;
  }
  accept_thread_ = std::thread([this] { AcceptLoop(); });
  LogInfo("control.listening", {{"socket", options_.socket_path}});
  return Status::Ok();
}

void ControlServer::Stop() {
  if (listen_fd_ < 0) return;
  {
    std::lock_guard<std::mutex> l(mu_);
    stopping_ = true;
    for (int fd : open_fds_) shutdown(fd, SHUT_RDWR);
  }
  char c = 'x';
  (void)!write(wake_[1], &c, 1);
  if (accept_thread_.joinable()) accept_thread_.join();
  {
    std::unique_lock<std::mutex> l(mu_);
    idle_.wait(l, [this] { return active_ == 0; });
  }
  close(listen_fd_);
  listen_fd_ = -1;
  close(wake_[0]);
  close(wake_[1]);
  wake_[0] = wake_[1] = -1;
  unlink(options_.socket_path.c_str());
  LogInfo("control.stopped", {{"socket", options_.socket_path}});
}

void ControlServer::AcceptLoop() {
  for (;;) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
    int n = poll(fds, 2, -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 || (fds[1].revents & POLLIN)) return;
    if (!(fds[0].revents & POLLIN)) continue;
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    SetTimeouts(fd, options_.io_timeout);
    Admit(fd);
  }
}

void ControlServer::Admit(int fd) {
  const Status busy = Status::Unavailable("agentgate-mirror is busy; try again");
  auto refuse = [fd](const Status& why) {
    WriteAll(fd, ErrorResponse(why).dump() + "\n");
    close(fd);
  };
  // Who is asking: the kernel says, the request cannot.
  Result<Peer> cred = PeerCredentials(fd);
  if (!cred.ok()) return refuse(cred.status());
  const uid_t uid = cred->uid;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (stopping_) return refuse(busy);
    // One account holding many connections: stops it starving the others
    // (checked before the account lookup, so a flood costs no NSS call).
    auto it = per_uid_.find(uid);
    if (it != per_uid_.end() && it->second >= options_.max_connections_per_uid) {
      return refuse(Status::ResourceExhausted(
          "too many connections from uid " + std::to_string(uid) + " (at most " +
          std::to_string(options_.max_connections_per_uid) + " at once); try again"));
    }
  }
  Result<Peer> peer = AccountOf(uid);
  if (peer.ok()) peer->pid = cred->pid;
  const bool may_review = MayReviewSomething(peer.ok() ? *peer : *cred, reviewers_);
  {
    std::lock_guard<std::mutex> l(mu_);
    if (stopping_ || active_ >= options_.max_connections) return refuse(busy);
    // Accounts that may review nothing never take the reviewers' slots.
    if (!may_review &&
        unprivileged_ >= options_.max_connections - options_.reviewer_connections) {
      return refuse(busy);
    }
    ++active_;
    ++per_uid_[uid];
    if (!may_review) ++unprivileged_;
    open_fds_.insert(fd);
  }
  std::thread([this, fd, uid, may_review, peer = std::move(peer)] {
    Serve(fd, peer);
    std::lock_guard<std::mutex> l(mu_);
    open_fds_.erase(fd);
    close(fd);
    if (--per_uid_[uid] == 0) per_uid_.erase(uid);
    if (!may_review) --unprivileged_;
    if (--active_ == 0) idle_.notify_all();
  }).detach();
}

void ControlServer::Serve(int fd, const Result<Peer>& peer) {
  using Clock = std::chrono::steady_clock;
  std::string buffer;
  std::unique_ptr<store::Db> db;
  const auto deadline = Clock::now() + options_.connection_deadline;
  for (int served = 0; served < options_.max_requests_per_connection; ++served) {
    // Each request line is due within request_deadline: a silent client is cut off.
    const auto line_due = std::min(deadline, Clock::now() + options_.request_deadline);
    size_t eol;
    while ((eol = buffer.find('\n')) == std::string::npos) {
      if (buffer.size() > options_.max_request_bytes) {
        WriteAll(fd, ErrorResponse(Status::ResourceExhausted(
                         "request larger than " + std::to_string(options_.max_request_bytes) +
                         " bytes")).dump() + "\n");
        return;
      }
      const auto now = Clock::now();
      if (now >= deadline) {
        WriteAll(fd, ErrorResponse(Status::DeadlineExceeded(
                         "connection open too long")).dump() + "\n");
        return;
      }
      if (now >= line_due) {
        WriteAll(fd, ErrorResponse(Status::DeadlineExceeded(
                         "no request line within " +
                         std::to_string(options_.request_deadline.count()) + " ms")).dump() +
                         "\n");
        return;
      }
      // Wait no longer than the line is due (recv alone waits io_timeout).
      auto wait = std::chrono::ceil<std::chrono::milliseconds>(line_due - now);
      pollfd p{fd, POLLIN, 0};
      int ready = poll(&p, 1, static_cast<int>(std::min<int64_t>(wait.count(), INT32_MAX)));
      if (ready < 0 && errno == EINTR) continue;
      if (ready < 0) return;
      if (ready == 0) continue;  // the checks above answer
      char chunk[4096];
      ssize_t n = recv(fd, chunk, sizeof chunk, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;  // closed, timed out or interrupted by Stop()
      buffer.append(chunk, static_cast<size_t>(n));
    }
    std::string line = buffer.substr(0, eol);
    buffer.erase(0, eol + 1);
    if (line.size() > options_.max_request_bytes) {
      WriteAll(fd, ErrorResponse(Status::ResourceExhausted("request too large")).dump() + "\n");
      return;
    }
    nlohmann::json response;
    nlohmann::json request = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    std::string cmd = request.is_object() && request.contains("cmd") && request["cmd"].is_string()
                          ? request["cmd"].get<std::string>().substr(0, 20)
                          : "?";
    if (!peer.ok()) {
      response = ErrorResponse(peer.status());
    } else if (request.is_discarded()) {
      response = ErrorResponse(Status::InvalidArgument("the request is not valid JSON"));
    } else {
      if (!db) {
        store::DbOptions dbo;
        dbo.busy_timeout_ms = options_.db_busy_timeout_ms;
        dbo.create = false;
        auto opened = store::Db::Open(options_.db_path, dbo);
        if (opened.ok()) db = std::move(opened).value();
        else response = ErrorResponse(opened.status());
      }
      if (db) response = HandleRequest(*db, ctx_, *peer, request);
    }
    LogInfo("control.request", {{"user", peer.ok() ? peer->user : "?"},
                                {"uid", peer.ok() ? std::to_string(peer->uid) : "?"},
                                {"cmd", cmd},
                                {"ok", response.value("ok", false) ? "true" : "false"},
                                {"code", response.value("code", "ok")}});
    if (!WriteAll(fd, response.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) +
                          "\n")) {
      return;
    }
  }
}

}  // namespace ag::control
