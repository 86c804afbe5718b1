#include "replay/stall.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>

namespace ag::replay {

namespace {

// Calls f(fd, "socket:[inode]") for each socket open in this process.
template <typename F>
void ForEachSocket(F f) {
  DIR* d = ::opendir("/proc/self/fd");
  if (!d) return;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    char link[64];
    std::string path = std::string("/proc/self/fd/") + e->d_name;
    ssize_t n = ::readlink(path.c_str(), link, sizeof link - 1);
    if (n <= 0) continue;
    std::string id(link, static_cast<size_t>(n));
    if (id.rfind("socket:", 0) == 0) f(std::atoi(e->d_name), id);
  }
  ::closedir(d);
}

}  // namespace

std::set<std::string> OpenSockets() {
  std::set<std::string> ids;
  ForEachSocket([&ids](int, const std::string& id) { ids.insert(id); });
  return ids;
}

int UpstreamPort(const std::string& url) {
  std::string rest;
  int port = 0;
  auto scheme = [&](const char* s, int default_port) {
    std::string p = std::string(s) + "://";
    if (url.compare(0, p.size(), p) != 0) return false;
    rest = url.substr(p.size());
    port = default_port;
    return true;
  };
  if (!scheme("https", 443) && !scheme("http", 80) && !scheme("ssh", 22) &&
      !scheme("git+ssh", 22) && !scheme("ssh+git", 22) && !scheme("git", 9418)) {
    // scp-like user@host:path (not a local path, not another scheme).
    size_t colon = url.find(':');
    size_t slash = url.find('/');
    if (url.find("://") == std::string::npos && colon != std::string::npos &&
        (slash == std::string::npos || colon < slash) && colon > 0) {
      return 22;
    }
    return 0;  // file://, a local path
  }
  std::string authority = rest.substr(0, rest.find('/'));
  size_t at = authority.rfind('@');
  if (at != std::string::npos) authority = authority.substr(at + 1);
  size_t colon = authority.rfind(':');
  size_t bracket = authority.rfind(']');
  if (colon != std::string::npos && (bracket == std::string::npos || colon > bracket)) {
    int p = std::atoi(authority.c_str() + colon + 1);
    if (p > 0 && p < 65536) port = p;
  }
  return port;
}

StallGuard::StallGuard(std::chrono::milliseconds idle, int port, const std::set<std::string>* before)
    : idle_(idle), port_(port), before_(before) {
  if (idle_.count() <= 0 || port_ <= 0 || !before_) return;
  deadline_ = std::chrono::steady_clock::now() + idle_;
  thread_ = std::thread([this] { Watch(); });
}

StallGuard::~StallGuard() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    done_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void StallGuard::Progress() {
  std::lock_guard<std::mutex> lock(mu_);
  deadline_ = std::chrono::steady_clock::now() + idle_;
}

bool StallGuard::fired() const {
  std::lock_guard<std::mutex> lock(mu_);
  return fired_;
}

void StallGuard::Watch() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!done_) {
    if (std::chrono::steady_clock::now() < deadline_) {
      auto until = deadline_;
      cv_.wait_until(lock, until);
      continue;
    }
    fired_ = true;
    lock.unlock();
    Cut();
    lock.lock();
    // Cut again if the call goes on without data (a new connection).
    deadline_ = std::chrono::steady_clock::now() + idle_;
  }
}

namespace {

// "address port" of a connected socket's peer; empty when not TCP/IP.
std::string PeerOf(int fd, int* port) {
  sockaddr_storage peer{};
  socklen_t len = sizeof peer;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) != 0) return "";
  char host[INET6_ADDRSTRLEN] = "";
  if (peer.ss_family == AF_INET) {
    auto* a = reinterpret_cast<sockaddr_in*>(&peer);
    *port = ntohs(a->sin_port);
    ::inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
  } else if (peer.ss_family == AF_INET6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&peer);
    *port = ntohs(a->sin6_port);
    ::inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
  } else {
    return "";
  }
  return host;
}

}  // namespace

std::set<std::string> PeersOf(int port, const std::set<std::string>& before) {
  std::set<std::string> peers;
  ForEachSocket([&](int fd, const std::string& id) {
    if (before.count(id)) return;
    int p = 0;
    std::string host = PeerOf(fd, &p);
    if (!host.empty() && p == port) peers.insert(host);
  });
  return peers;
}

void StallGuard::SetPeers(std::set<std::string> peers) {
  std::lock_guard<std::mutex> lock(mu_);
  peers_ = std::move(peers);
}

void StallGuard::Cut() {
  std::set<std::string> peers;
  {
    std::lock_guard<std::mutex> lock(mu_);
    peers = peers_;
  }
  ForEachSocket([&](int fd, const std::string& id) {
    if (before_->count(id)) return;
    int port = 0;
    std::string host = PeerOf(fd, &port);
    if (host.empty() || port != port_) return;
    if (!peers.empty() && !peers.count(host)) return;  // another host on the same port
    ::shutdown(fd, SHUT_RDWR);
  });
}

}  // namespace ag::replay
