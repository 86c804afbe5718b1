// agentgate-mirror against starvation (issue 12, docs/mirror.md
// "Connections"): idle connections over the caps are shed and never starve an
// authenticated clone, busy ones are never shed (the newcomer gets a 503),
// slow headers are cut at header_timeout, gzip bombs are a 413 with nothing
// written, and at the open-file limit the server neither spins nor floods
// its log and serves again once the flood is gone.
//
// Attackers are raw sockets opened by this test on 127.0.0.1; every loop is
// bounded in count and time.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/resource.h>

#include <atomic>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "e2e/fixture.h"

namespace ag::e2e {
namespace {

using testing::Quote;
using Clock = std::chrono::steady_clock;

std::string Get(const std::string& target, const std::string& extra = "") {
  return "GET " + target + " HTTP/1.1\r\nHost: t\r\nConnection: close\r\n" + extra + "\r\n";
}

// A connected client socket to 127.0.0.1:port that sends nothing; -1 on failure.
int Connect(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// True when the server is done with `fd`: closed, reset, or answered (a 503
// before closing).
bool ClosedByServer(int fd) {
  pollfd p{fd, POLLIN | POLLRDHUP, 0};
  if (::poll(&p, 1, 0) <= 0) return false;
  if (p.revents & (POLLHUP | POLLERR | POLLRDHUP)) return true;
  char c;
  ssize_t n = ::recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
  return n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
}

size_t CountOpen(const std::vector<int>& fds) {
  size_t open = 0;
  for (int fd : fds) open += ClosedByServer(fd) ? 0 : 1;
  return open;
}

// Waits (at most `limit`) until at most `want` of `fds` are still open.
size_t WaitOpenAtMost(const std::vector<int>& fds, size_t want, std::chrono::seconds limit) {
  auto deadline = Clock::now() + limit;
  size_t open = CountOpen(fds);
  while (open > want && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    open = CountOpen(fds);
  }
  return open;
}

void CloseAll(std::vector<int>* fds) {
  for (int fd : *fds) ::close(fd);
  fds->clear();
}

size_t CountLines(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

// The value of an unlabelled (or fully labelled) metric line, -1 if absent.
long Metric(MirrorServer& server, const std::string& name) {
  HttpResponse m = server.Request(Get("/metrics"));
  size_t at = m.body.find("\n" + name + " ");
  if (at == std::string::npos) return -1;
  return std::atol(m.body.c_str() + at + name.size() + 2);
}

// One commit on main, pushed through the mirror.
void Seed(MirrorServer& server) {
  auto r = server.Shell(
      "git init -q seed && cd seed && echo hello > f && git add f && git commit -qm seed && "
      "git push -q " +
      Quote(server.AuthUrl("demo")) + " HEAD:main");
  ASSERT_EQ(r.exit_code, 0) << r.output << server.Log();
}

// ---- caps on connections

TEST(HttpStarvationTest, IdleFloodIsShedAndACloneStillWorks) {
  MirrorOptions options;
  options.limits_yaml =
      "  max_connections: 40\n  max_connections_per_address: 20\n  header_timeout: 60s\n";
  MirrorServer server(options);
  ASSERT_TRUE(server.Start().ok()) << server.Log();
  Seed(server);

  // 300 silent connections from one address: the server keeps at most 20
  // (the newest); the others are closed at once, not after header_timeout.
  std::vector<int> fds;
  for (int i = 0; i < 300; ++i) {
    int fd = Connect(server.port());
    ASSERT_GE(fd, 0) << i << ": " << std::strerror(errno) << "\n" << server.Log();
    fds.push_back(fd);
  }
  EXPECT_LE(WaitOpenAtMost(fds, 20, std::chrono::seconds(5)), 20u) << server.Log();
  EXPECT_FALSE(ClosedByServer(fds.back()));  // the oldest idle go first
  long held = Metric(server, "agentgate_http_connections");
  EXPECT_GE(held, 1);
  EXPECT_LE(held, 20);

  // A clone from the same address while a thread keeps opening silent
  // connections (at most 20,000 of them, 60 s).
  std::atomic<bool> stop{false};
  std::atomic<int> opened{0};
  std::thread attacker([&] {
    std::vector<int> mine;
    auto deadline = Clock::now() + std::chrono::seconds(60);
    while (!stop && Clock::now() < deadline && opened < 20000) {
      int fd = Connect(server.port());
      if (fd >= 0) {
        mine.push_back(fd);
        ++opened;
      }
      if (mine.size() >= 200) {  // drop what the server closed: the test's fds stay few
        std::vector<int> still;
        for (int f : mine) {
          if (ClosedByServer(f)) {
            ::close(f);
          } else {
            still.push_back(f);
          }
        }
        mine.swap(still);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    CloseAll(&mine);
  });
  for (int i = 0; i < 500 && opened < 100; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  auto clone = server.Git("clone -q " + Quote(server.AuthUrl("demo")) + " w");
  auto fetch = server.Git("-c protocol.version=0 fetch -q origin", "w");
  int during = opened;
  stop = true;
  attacker.join();
  CloseAll(&fds);
  EXPECT_EQ(clone.exit_code, 0) << clone.output << server.Log();
  EXPECT_EQ(fetch.exit_code, 0) << fetch.output;
  EXPECT_GE(during, 100);  // the flood ran during the clone
  // Shedding is logged once per burst, not once per connection.
  std::string log = server.Log();
  EXPECT_LE(CountLines(log, "event=connection_shed"), 10u) << log.size();
  HttpResponse m = server.Request(Get("/metrics"));
  EXPECT_NE(m.body.find("agentgate_http_connections_dropped_total{reason=\"shed\"}"),
            std::string::npos);
}

TEST(HttpStarvationTest, BusyConnectionsAreNotShedTheNewcomerGets503) {
  MirrorOptions options;
  options.limits_yaml = "  max_connections: 1\n  max_connections_per_address: 1\n";
  MirrorServer server(options);
  ASSERT_TRUE(server.Start().ok()) << server.Log();
  std::string gate = server.dir() + "/gate";
  std::string started = server.dir() + "/hook-started";
  testing::WriteFile(gate, "");
  // The hook holds the push's POST (a busy connection) until the gate goes (30 s at most).
  server.InstallHook("demo", "pre-receive",
                     "#!/bin/sh\ntouch " + started + "\ni=0\nwhile [ -e " + gate +
                         " ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done\nexit 0\n");
  testing::RunResult push;
  std::thread pusher([&] {
    push =
        server.Shell("git init -q p && cd p && git commit -q --allow-empty -m p && git push -q " +
                     Quote(server.AuthUrl("demo")) + " HEAD:main");
  });
  bool in_flight = false;
  for (int i = 0; i < 400 && !in_flight; ++i) {
    in_flight = ::access(started.c_str(), F_OK) == 0;
    if (!in_flight) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  HttpResponse r;
  if (in_flight) r = server.Request(Get("/healthz"));
  ::unlink(gate.c_str());
  pusher.join();
  ASSERT_TRUE(in_flight) << push.output << server.Log();
  EXPECT_EQ(r.status, 503) << r.head;
  EXPECT_EQ(r.body, "agentgate: too many connections, retry\n");
  EXPECT_NE(r.head.find("Retry-After: 1"), std::string::npos);
  EXPECT_EQ(push.exit_code, 0) << push.output;  // the busy connection was left alone
  // Once the push's connection is gone, a new one gets in again.
  for (int i = 0; i < 100; ++i) {
    r = server.Request(Get("/healthz"));
    if (r.status == 200) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(r.status, 200);
}

// ---- the header deadline

TEST(HttpStarvationTest, SlowHeadersAreCutAtHeaderTimeout) {
  MirrorOptions options;
  options.limits_yaml = "  header_timeout: 2s\n  idle_timeout: 60s\n";
  MirrorServer server(options);
  ASSERT_TRUE(server.Start().ok()) << server.Log();
  // A header that trickles in, a byte every 200 ms, never complete: the
  // bytes keep the connection busy, so idle_timeout (60 s) never fires.
  const std::string trickle = "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: aaaaaaaaaaaa";
  int slow = Connect(server.port());
  int silent = Connect(server.port());
  ASSERT_GE(slow, 0);
  ASSERT_GE(silent, 0);
  auto start = Clock::now();
  bool slow_closed = false;
  for (size_t i = 0; i < trickle.size() && !slow_closed; ++i) {  // at most ~9 s
    if (::send(slow, &trickle[i], 1, MSG_NOSIGNAL) != 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    slow_closed = ClosedByServer(slow);
  }
  auto slow_time = Clock::now() - start;
  EXPECT_TRUE(slow_closed);
  EXPECT_LT(slow_time, std::chrono::seconds(5));
  EXPECT_GE(slow_time, std::chrono::milliseconds(1500));
  EXPECT_TRUE(ClosedByServer(silent));
  ::close(slow);
  ::close(silent);
  // A request sent at a normal pace is served, and the cut is counted.
  EXPECT_EQ(server.Request(Get("/healthz")).status, 200);
  HttpResponse m = server.Request(Get("/metrics"));
  EXPECT_NE(m.body.find("agentgate_http_connections_dropped_total{reason=\"header_timeout\"} 2"),
            std::string::npos)
      << m.body;
}

// ---- gzip request bodies

class HttpGzipTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_.Start().ok()) << server_.Log();  // default limits: max_inflated_body 128MiB
    Seed(server_);
  }
  void TearDown() override {
    if (HasFailure()) std::fprintf(stderr, "--- server log ---\n%s\n", server_.Log().c_str());
  }
  std::string Post(const std::string& service, const std::string& body, const std::string& extra) {
    return "POST /demo.git/git-" + service + " HTTP/1.1\r\nHost: t\r\nConnection: close\r\n" +
           "Authorization: Bearer " + server_.token() + "\r\nContent-Type: application/x-git-" +
           service + "-request\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" + extra +
           "\r\n" + body;
  }
  // What a push could change: refs and every file under objects/.
  std::string RepoState() {
    return server_
        .Shell("cd " + Quote(server_.RepoPath("demo")) +
               " && git for-each-ref && find objects refs -type f | sort")
        .output;
  }
  std::string Gzip(const std::string& shell_producer) {
    std::string path = server_.dir() + "/body.gz";
    auto r = testing::Sh(shell_producer + " | gzip -9 -c > " + path);
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return testing::ReadFileOrEmpty(path);
  }
  MirrorServer server_;
};

TEST_F(HttpGzipTest, BombIs413AndNothingIsWritten) {
  std::string bomb = Gzip("head -c 300000000 /dev/zero");  // 300 MB of zeros in ~300 KB
  ASSERT_GT(bomb.size(), 1000u);
  ASSERT_LT(bomb.size(), 1u << 20);
  std::string before = RepoState();
  for (const char* service : {"receive-pack", "upload-pack"}) {
    auto start = Clock::now();
    HttpResponse r = server_.Request(Post(service, bomb, "Content-Encoding: gzip\r\n"));
    EXPECT_EQ(r.status, 413) << service << "\n" << r.head << r.body;
    EXPECT_LT(Clock::now() - start, std::chrono::seconds(15)) << service;
  }
  // The push's children are gone and left nothing behind (quarantine included).
  std::string after;
  for (int i = 0; i < 50; ++i) {
    after = RepoState();
    if (after == before) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(after, before);
  EXPECT_NE(server_.Log().find("reason=inflated_body_limit"), std::string::npos);
  // The server still serves.
  auto clone = server_.Git("clone -q " + Quote(server_.AuthUrl("demo")) + " w");
  EXPECT_EQ(clone.exit_code, 0) << clone.output;
}

TEST_F(HttpGzipTest, GzipBodiesAreInflatedForTheBackend) {
  std::string oid =
      server_.Shell("git -C " + Quote(server_.RepoPath("demo")) + " rev-parse main").output;
  ASSERT_GE(oid.size(), 40u);
  oid.resize(40);
  // A v0 fetch request, gzipped by hand: the backend gets it plain and sends a pack.
  std::string request = "0032want " + oid + "\n00000009done\n";
  std::string plain = server_.dir() + "/request";
  testing::WriteFile(plain, request);
  std::string gz = Gzip("cat " + plain);
  HttpResponse r = server_.Request(Post("upload-pack", gz, "Content-Encoding: gzip\r\n"));
  EXPECT_EQ(r.status, 200) << r.head << r.body;
  EXPECT_NE(r.body.find("PACK"), std::string::npos);
  // Broken, truncated and unknown encodings are refused before the backend.
  r = server_.Request(Post("upload-pack", "not gzip at all", "Content-Encoding: gzip\r\n"));
  EXPECT_EQ(r.status, 400) << r.head;
  r = server_.Request(
      Post("upload-pack", gz.substr(0, gz.size() - 6), "Content-Encoding: gzip\r\n"));
  EXPECT_EQ(r.status, 400) << r.head;
  r = server_.Request(Post("upload-pack", request, "Content-Encoding: br\r\n"));
  EXPECT_EQ(r.status, 415) << r.head;
  r = server_.Request(Post("upload-pack", gz, "Content-Encoding: gzip, gzip\r\n"));
  EXPECT_EQ(r.status, 415) << r.head;
  // Real git gzips fetch requests over 1 KiB: 60 branches make the wants that big.
  auto push =
      server_.Shell("cd seed && for i in $(seq 1 60); do git branch -q b$i; done && git push -q " +
                    Quote(server_.AuthUrl("demo")) + " --all");
  ASSERT_EQ(push.exit_code, 0) << push.output;
  for (const char* version : {"0", "2"}) {
    std::string dir = std::string("many") + version;
    auto clone = server_.Shell(std::string("GIT_TRACE_CURL=") + server_.dir() + "/trace" + version +
                               " git -c protocol.version=" + version + " clone -q --mirror " +
                               Quote(server_.AuthUrl("demo")) + " " + dir);
    ASSERT_EQ(clone.exit_code, 0) << clone.output << server_.Log();
    std::string trace = testing::ReadFileOrEmpty(server_.dir() + "/trace" + version);
    EXPECT_NE(trace.find("Content-Encoding: gzip"), std::string::npos) << "v" << version;
    auto count = server_.Shell("git -C " + dir + " for-each-ref refs/heads | wc -l");
    EXPECT_EQ(std::atoi(count.output.c_str()), 61) << "v" << version;
  }
}

// A gzip push body: its pack may inflate past max_body (the wire bound); git's
// receive.maxInputSize, set by the mirror to max_body, refuses that pack.
class HttpGzipPushTest : public HttpGzipTest {
 protected:
  void SetUp() override {
    server_.options().limits_yaml = "  max_body: 1MiB\n";
    HttpGzipTest::SetUp();
  }
  // A receive-pack request creating refs/heads/<ref> at a new root commit
  // holding `bytes` zeros, its pack stored uncompressed (then gzipped whole).
  std::string PushBody(const std::string& ref, int bytes) {
    std::string dir = server_.dir() + "/" + ref;
    std::string script =
        "set -e; rm -rf " + Quote(dir) + "; git init -q " + Quote(dir) + "; cd " + Quote(dir) +
        "; head -c " + std::to_string(bytes) + " /dev/zero > zeros.bin; git add zeros.bin" +
        "; git -c user.name=a -c user.email=a@x commit -qm zeros" +
        "; new=$(git rev-parse HEAD)" +
        "; echo $new | git -c pack.compression=0 pack-objects --revs --stdout > pack" +
        "; python3 -c 'import sys\n" +
        "line = (\"0\" * 40 + \" \" + sys.argv[1] + \" refs/heads/" + ref +
        "\\0report-status\\n\").encode()\n" +
        "sys.stdout.buffer.write(b\"%04x\" % (len(line) + 4) + line + b\"0000\" + " +
        "open(\"pack\", \"rb\").read())' $new > body";
    auto r = testing::Sh(script);
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return Gzip("cat " + Quote(dir + "/body"));
  }
};

TEST_F(HttpGzipPushTest, PackPastMaxBodyIsRefusedWhateverTheEncoding) {
  // Under max_body once inflated: received (whatever the policy then says).
  std::string small = PushBody("small", 200 << 10);
  HttpResponse r = server_.Request(Post("receive-pack", small, "Content-Encoding: gzip\r\n"));
  EXPECT_EQ(r.status, 200) << r.head << r.body;
  EXPECT_NE(r.body.find("unpack ok"), std::string::npos) << r.body;
  // 4 MiB of pack in a few KiB of gzip: under max_body on the wire, refused
  // by receive-pack; no ref, no object.
  std::string big = PushBody("big", 4 << 20);
  ASSERT_LT(big.size(), 256u << 10);
  std::string before = RepoState();
  r = server_.Request(Post("receive-pack", big, "Content-Encoding: gzip\r\n"));
  EXPECT_EQ(r.status, 200) << r.head << r.body;
  EXPECT_EQ(r.body.find("unpack ok"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("unpack "), std::string::npos) << r.body;
  EXPECT_EQ(RepoState(), before);
}

// ---- the open-file limit

long CpuTicks(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t close = stat.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream fields(stat.substr(close + 2));
  std::string f;
  long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && fields >> f; ++i) {  // fields 14 and 15: utime, stime
    if (i == 14) utime = std::atol(f.c_str());
    if (i == 15) stime = std::atol(f.c_str());
  }
  return utime + stime;
}

size_t OpenDescriptors(pid_t pid) {
  auto r = testing::Sh("ls /proc/" + std::to_string(pid) + "/fd | wc -l");
  return static_cast<size_t>(std::atol(r.output.c_str()));
}

TEST(HttpStarvationTest, AtTheOpenFileLimitNoSpinNoFloodAndServingAgain) {
  MirrorServer server;  // default caps (512 / 64): the descriptor limit comes first
  ASSERT_TRUE(server.Start().ok()) << server.Log();
  Seed(server);
  constexpr rlim_t kLimit = 64;
  size_t baseline = OpenDescriptors(server.pid());
  ASSERT_LT(baseline, kLimit - 8) << "the daemon already holds " << baseline << " descriptors";
  rlimit low{kLimit, kLimit};
  ASSERT_EQ(::prlimit(server.pid(), RLIMIT_NOFILE, &low, nullptr), 0) << std::strerror(errno);
  size_t log_before = server.Log().size();

  // 300 silent connections: far past what the daemon can hold.
  std::vector<int> fds;
  for (int i = 0; i < 300; ++i) {
    int fd = Connect(server.port());
    ASSERT_GE(fd, 0);
    fds.push_back(fd);
  }
  // Each one is either held (at most as many as the daemon has descriptors)
  // or closed at once: none waits unaccepted in the backlog.
  size_t open = WaitOpenAtMost(fds, kLimit, std::chrono::seconds(5));
  EXPECT_LE(open, kLimit);
  // While the flood stays: no busy loop (under 0.5 s of CPU in 3 s) ...
  long ticks_per_s = ::sysconf(_SC_CLK_TCK);
  long cpu0 = CpuTicks(server.pid());
  std::this_thread::sleep_for(std::chrono::seconds(3));
  long cpu = CpuTicks(server.pid()) - cpu0;
  EXPECT_LT(cpu, ticks_per_s / 2) << cpu << " ticks";
  // ... and one more wave gets the same treatment.
  std::vector<int> wave;
  for (int i = 0; i < 100; ++i) {
    int fd = Connect(server.port());
    if (fd >= 0) wave.push_back(fd);
  }
  EXPECT_LE(WaitOpenAtMost(wave, kLimit, std::chrono::seconds(5)), kLimit);
  CloseAll(&fds);
  CloseAll(&wave);

  // Serving again once the flood is gone: a clone, with the same low limit.
  testing::RunResult clone;
  for (int i = 0; i < 20; ++i) {
    clone = server.Git("clone -q " + Quote(server.AuthUrl("demo")) + " w" + std::to_string(i));
    if (clone.exit_code == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  EXPECT_EQ(clone.exit_code, 0) << clone.output << server.Log().substr(log_before, 6000);
  // The log stayed small: a few lines per burst, not one per attempt.
  std::string log = server.Log().substr(log_before);
  EXPECT_LT(log.size(), 8000u) << log.substr(0, 4000);
  EXPECT_LE(CountLines(log, "Too many open files"), 4u) << log.substr(0, 4000);
}

}  // namespace
}  // namespace ag::e2e
