// A stalled upstream: libgit2 1.5 would wait for it forever; the stall guard
// cuts the connection so the worker retries later.
#include "replay/stall.h"

#include <arpa/inet.h>
#include <git2.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "git/git.h"
#include "replay/remote.h"

namespace ag::replay {
namespace {

// Accepts TCP connections on 127.0.0.1 and never says a word.
class BlackHole {
 public:
  explicit BlackHole(const char* address = "127.0.0.1", int port = 0) : address_(address) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    ::inet_pton(AF_INET, address, &a.sin_addr);
    a.sin_port = htons(static_cast<uint16_t>(port));
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(fd_, 16), 0);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] {
      while (!stop_) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, 50) <= 0) continue;
        int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (c >= 0) held_.push_back(c);
      }
    });
  }
  ~BlackHole() {
    stop_ = true;
    thread_.join();
    for (int c : held_) ::close(c);
    ::close(fd_);
  }
  int port() const { return port_; }
  int Connect() const {
    int c = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    ::inet_pton(AF_INET, address_, &a.sin_addr);
    a.sin_port = htons(static_cast<uint16_t>(port_));
    EXPECT_EQ(::connect(c, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    return c;
  }

 private:
  const char* address_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::vector<int> held_;  // touched by the thread only, then after join
  std::thread thread_;
};

bool IsCut(int fd) { return ::send(fd, "x", 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0; }

TEST(StallTest, UpstreamPorts) {
  EXPECT_EQ(UpstreamPort("https://github.com/o/r.git"), 443);
  EXPECT_EQ(UpstreamPort("http://127.0.0.1:8080/r.git"), 8080);
  EXPECT_EQ(UpstreamPort("https://user@host:8443/r"), 8443);
  EXPECT_EQ(UpstreamPort("http://[::1]:9000/r.git"), 9000);
  EXPECT_EQ(UpstreamPort("http://[::1]/r.git"), 80);
  EXPECT_EQ(UpstreamPort("ssh://git@host:2222/o/r.git"), 2222);
  EXPECT_EQ(UpstreamPort("ssh://git@host/o/r.git"), 22);
  EXPECT_EQ(UpstreamPort("git@github.com:o/r.git"), 22);
  EXPECT_EQ(UpstreamPort("git://host/o/r.git"), 9418);
  EXPECT_EQ(UpstreamPort("file:///srv/r.git"), 0);
  EXPECT_EQ(UpstreamPort("/srv/r.git"), 0);
  EXPECT_EQ(UpstreamPort("./a:b/r.git"), 0);
}

TEST(StallTest, CutsOnlyNewSocketsToTheUpstreamPort) {
  BlackHole upstream, other;
  int old_conn = upstream.Connect();  // open before the guard's snapshot
  std::set<std::string> before = OpenSockets();
  int fresh = upstream.Connect();
  int elsewhere = other.Connect();
  {
    StallGuard guard(std::chrono::milliseconds(100), upstream.port(), &before);
    for (int i = 0; i < 500 && !guard.fired(); ++i) ::usleep(10000);  // bounded wait
    ASSERT_TRUE(guard.fired());
  }
  EXPECT_TRUE(IsCut(fresh));
  EXPECT_FALSE(IsCut(old_conn));
  EXPECT_FALSE(IsCut(elsewhere));
  for (int fd : {old_conn, fresh, elsewhere}) ::close(fd);
}

TEST(StallTest, OnceThePeerIsKnownOtherHostsOnThePortAreLeftAlone) {
  // Two listeners on the same port, different loopback addresses: a session
  // that went to 127.0.0.1 must not cut a connection to 127.0.0.2.
  BlackHole ours("127.0.0.1");
  BlackHole theirs("127.0.0.2", ours.port());
  std::set<std::string> before = OpenSockets();
  int mine = ours.Connect();
  EXPECT_EQ(PeersOf(ours.port(), before), (std::set<std::string>{"127.0.0.1"}));
  int other = theirs.Connect();
  {
    StallGuard guard(std::chrono::milliseconds(100), ours.port(), &before);
    guard.SetPeers({"127.0.0.1"});
    for (int i = 0; i < 500 && !guard.fired(); ++i) ::usleep(10000);  // bounded wait
    ASSERT_TRUE(guard.fired());
  }
  EXPECT_TRUE(IsCut(mine));
  EXPECT_FALSE(IsCut(other));
  ::close(mine);
  ::close(other);
}

TEST(StallTest, ProgressKeepsTheConnection) {
  BlackHole upstream;
  std::set<std::string> before = OpenSockets();
  int conn = upstream.Connect();
  {
    StallGuard guard(std::chrono::seconds(30), upstream.port(), &before);
    guard.Progress();
    EXPECT_FALSE(guard.fired());
  }  // the guard goes before its deadline: nothing is cut
  EXPECT_FALSE(IsCut(conn));
  ::close(conn);
}

TEST(StallTest, ConnectToAStalledUpstreamFailsAsUnavailable) {
  // Without the guard this call never returns (the test would time out).
  BlackHole upstream;
  git::GitInit();
  std::string dir = std::filesystem::temp_directory_path() / ("ag-stall-" + std::to_string(::getpid()));
  git_repository* r = nullptr;
  ASSERT_EQ(git_repository_init(&r, dir.c_str(), 1), 0);
  git::RepoPtr repo(r);
  SessionOptions so;
  so.io_timeout = std::chrono::milliseconds(300);
  auto session = UpstreamSession::Connect(
      repo.get(), "http://127.0.0.1:" + std::to_string(upstream.port()) + "/r.git", nullptr,
      GIT_DIRECTION_PUSH, so);
  ASSERT_FALSE(session.ok());
  EXPECT_EQ(session.status().code(), Code::kUnavailable) << session.status().ToString();
  EXPECT_NE(session.status().message().find("upstream sent nothing"), std::string::npos)
      << session.status().ToString();
  repo.reset();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace ag::replay
