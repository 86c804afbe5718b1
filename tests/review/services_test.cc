// The sweeper and the webhook notifier, against a real store, a real bare
// repo and a tiny HTTP listener on 127.0.0.1 that records what it receives.
#include "review/services.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <functional>
#include <nlohmann/json.hpp>
#include <thread>

#include "review/review_support.h"

namespace ag::review {
namespace {

using ag::testing::Seed;
using ag::testing::SeedPending;
using ag::testing::StatusOf;
using ag::testing::TempDir;

// Accepts HTTP requests on 127.0.0.1, answers each with the next status in
// `statuses` (the last one repeats) and keeps the bodies.
class TinyHttp {
 public:
  explicit TinyHttp(std::vector<int> statuses) : statuses_(std::move(statuses)) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    socklen_t len = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    listen(fd_, 16);
    thread_ = std::thread([this] { Run(); });
  }
  ~TinyHttp() {
    stop_ = true;
    thread_.join();
    close(fd_);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/hooks/SECRETPATH"; }
  std::vector<std::string> bodies() {
    std::lock_guard<std::mutex> l(mu_);
    return bodies_;
  }
  int requests() { return requests_.load(); }

 private:
  void Run() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      int c = accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      std::string data;
      char buf[4096];
      size_t need = std::string::npos;
      while (need == std::string::npos || data.size() < need) {
        ssize_t n = recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        data.append(buf, static_cast<size_t>(n));
        size_t hdr = data.find("\r\n\r\n");
        if (hdr != std::string::npos && need == std::string::npos) {
          size_t cl = data.find("Content-Length: ");
          size_t len = cl == std::string::npos ? 0 : std::stoul(data.substr(cl + 16));
          need = hdr + 4 + len;
        }
      }
      int n = requests_++;
      int status = statuses_[std::min<size_t>(static_cast<size_t>(n), statuses_.size() - 1)];
      {
        std::lock_guard<std::mutex> l(mu_);
        size_t hdr = data.find("\r\n\r\n");
        if (status == 200 && hdr != std::string::npos) bodies_.push_back(data.substr(hdr + 4));
      }
      std::string resp = "HTTP/1.1 " + std::to_string(status) +
                         " X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
      send(c, resp.data(), resp.size(), MSG_NOSIGNAL);
      close(c);
    }
  }

  int fd_ = -1;
  int port_ = 0;
  std::vector<int> statuses_;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
  std::mutex mu_;
  std::vector<std::string> bodies_;
  std::thread thread_;
};

bool WaitFor(const std::function<bool()>& cond) {
  for (int i = 0; i < 500; ++i) {  // up to 10 s: a bound, not a timing assertion
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return cond();
}

class ServicesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = store::Db::Open(dir_ / "agentgate.db");
    ASSERT_TRUE(db.ok());
    db_ = std::move(db).value();
  }
  // Notifier options for these tests: this store, `webhook`, polling every
  // 50 ms, first retry after `backoff`.
  NotifierOptions NotifyTo(const std::string& webhook, std::chrono::milliseconds backoff) {
    NotifierOptions o;
    o.db_path = dir_ / "agentgate.db";
    o.webhook_url = webhook;
    o.poll_interval = std::chrono::milliseconds(50);
    o.backoff_initial = backoff;
    return o;
  }
  TempDir dir_;
  std::unique_ptr<store::Db> db_;
};

// A push that landed while its post-receive could not record it stays in
// review: the sweeper lands it from the mirror's ref; a push that did not
// land is aborted.
TEST_F(ServicesTest, SweeperLandsStrandedPushesAndAbortsTheRest) {
  auto repo = ag::testing::MakeRepo(dir_.path());  // refs/heads/agent/x == tip
  ReviewSettings settings;
  settings.repo_paths["demo"] = repo.path;
  auto incoming = [&](const std::string& ref, const std::string& new_oid) {
    store::Request r;
    r.repo = "demo";
    r.ref = ref;
    r.old_oid = repo.base;
    r.new_oid = new_oid;
    r.identity = "agent-1";
    store::Transaction tx(*db_);
    EXPECT_TRUE(tx.status().ok());
    auto id = store::InsertRequest(*db_, r, 3600);
    EXPECT_TRUE(id.ok() && tx.Commit().ok());
    return id.ok() ? *id : 0;
  };
  int64_t stranded = incoming("refs/heads/agent/x", repo.tip);
  int64_t lost = incoming("refs/heads/agent/never", repo.first);
  Sweeper sweeper({.db_path = dir_ / "agentgate.db", .incoming_grace_seconds = -1}, settings);
  auto n = sweeper.SweepOnce();
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(*n, 2);
  EXPECT_EQ(StatusOf(*db_, stranded), "pending");
  EXPECT_EQ(StatusOf(*db_, lost), "aborted");
  std::string out;
  ag::testing::Sh("git -C " + repo.path + " rev-parse refs/agentgate/requests/" + std::to_string(stranded), &out);
  EXPECT_EQ(out, repo.tip + "\n");
}

TEST_F(ServicesTest, SweeperExpiresAndPublishes) {
  auto repo = ag::testing::MakeRepo(dir_.path());
  ReviewSettings settings;
  settings.repo_paths["demo"] = repo.path;
  int64_t stale = SeedPending(*db_, {.old_oid = repo.base, .new_oid = repo.tip, .ttl_seconds = -5});
  int64_t fresh = SeedPending(*db_, {.ref = "refs/heads/agent/y", .old_oid = repo.base,
                                     .new_oid = repo.first});
  Sweeper sweeper({.db_path = dir_ / "agentgate.db"}, settings);
  auto n = sweeper.SweepOnce();
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(*n, 1);
  EXPECT_EQ(StatusOf(*db_, stale), "expired");
  EXPECT_EQ(StatusOf(*db_, fresh), "pending");
  std::string out;
  ag::testing::Sh("git -C " + repo.path + " for-each-ref --format='%(refname)' refs/agentgate/state/",
                  &out);
  EXPECT_EQ(out, "refs/agentgate/state/" + std::to_string(stale) + "/expired\n");
  // And as a service with its own thread.
  int64_t later = SeedPending(*db_, {.ref = "refs/heads/agent/z", .ttl_seconds = -5});
  ASSERT_TRUE(sweeper.Start().ok());
  EXPECT_TRUE(WaitFor([&] { return StatusOf(*db_, later) == "expired"; }));
  sweeper.Stop();
}

TEST_F(ServicesTest, NotifierPostsNewPendingRequestsWithRetries) {
  SeedPending(*db_, {.ref = "refs/heads/agent/before"});  // before Start: not announced
  TinyHttp http({500, 200});                             // the first attempt fails
  NotifierOptions o = NotifyTo(http.url(), std::chrono::milliseconds(20));
  Notifier notifier(o);
  ASSERT_TRUE(notifier.Start().ok());
  int64_t id = SeedPending(*db_, {});
  ASSERT_TRUE(WaitFor([&] { return notifier.sent() == 1; }));
  notifier.Stop();
  auto bodies = http.bodies();
  ASSERT_EQ(bodies.size(), 1u);
  auto j = nlohmann::json::parse(bodies[0]);
  EXPECT_EQ(j["text"], "agentgate: request " + std::to_string(id) +
                           " on demo refs/heads/agent/x by agent-1 waits for review "
                           "(rules: workflows)");
  EXPECT_EQ(j["request"], id);
  EXPECT_EQ(http.requests(), 2);  // one failure, one retry
  EXPECT_EQ(RedactUrl(http.url()).find("SECRETPATH"), std::string::npos);
}

TEST_F(ServicesTest, NotifierRestartAnnouncesWhatCameWhileDownAndWhatWasNotSent) {
  // The first notifier never retries in time.
  NotifierOptions o = NotifyTo("", std::chrono::seconds(30));
  int64_t unsent = 0;
  {
    TinyHttp failing({500, 500});
    o.webhook_url = failing.url();
    Notifier down(o);
    ASSERT_TRUE(down.Start().ok());
    unsent = SeedPending(*db_, {.ref = "refs/heads/agent/unsent"});
    // Read, queued and tried once (500), then waiting 30 s for a retry: not delivered.
    ASSERT_TRUE(WaitFor([&] { return failing.requests() >= 1; }));
    down.Stop();
    EXPECT_EQ(down.sent(), 0);
  }
  int64_t while_down = SeedPending(*db_, {.ref = "refs/heads/agent/while-down"});
  int64_t decided = SeedPending(*db_, {.ref = "refs/heads/agent/decided"});
  ASSERT_EQ(db_->Exec("UPDATE requests SET status='rejected' WHERE id=" + std::to_string(decided)).ok(), true);
  TinyHttp http({200, 200, 200});
  o.webhook_url = http.url();
  o.backoff_initial = std::chrono::milliseconds(20);
  Notifier up(o);
  ASSERT_TRUE(up.Start().ok());
  ASSERT_TRUE(WaitFor([&] { return up.sent() == 2; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // nothing else comes
  up.Stop();
  std::vector<int64_t> announced;
  for (const std::string& b : http.bodies()) announced.push_back(nlohmann::json::parse(b)["request"]);
  EXPECT_EQ(announced, (std::vector<int64_t>{unsent, while_down}));  // not the decided one
  // And once delivered, a further restart announces nothing again.
  TinyHttp quiet({200});
  o.webhook_url = quiet.url();
  Notifier again(o);
  ASSERT_TRUE(again.Start().ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  again.Stop();
  EXPECT_EQ(quiet.requests(), 0);
}

TEST_F(ServicesTest, NotifierFullQueueDelaysButDropsNothing) {
  // A queue of one and a webhook that fails once: while the first
  // notification waits for its retry, two more requests come; the second
  // waits in the log (it is not dropped) and all three are delivered.
  TinyHttp http({500, 200, 200, 200});
  NotifierOptions o = NotifyTo(http.url(), std::chrono::milliseconds(300));
  o.poll_interval = std::chrono::milliseconds(20);
  o.max_queue = 1;
  Notifier notifier(o);
  ASSERT_TRUE(notifier.Start().ok());
  int64_t a = SeedPending(*db_, {.ref = "refs/heads/agent/a"});
  ASSERT_TRUE(WaitFor([&] { return http.requests() >= 1; }));  // a failed, retry pending
  int64_t b = SeedPending(*db_, {.ref = "refs/heads/agent/b"});
  int64_t c = SeedPending(*db_, {.ref = "refs/heads/agent/c"});
  ASSERT_TRUE(WaitFor([&] { return notifier.sent() == 3; })) << "sent " << notifier.sent();
  notifier.Stop();
  EXPECT_EQ(notifier.failed(), 0);
  std::vector<int64_t> announced;
  for (const std::string& body : http.bodies()) announced.push_back(nlohmann::json::parse(body)["request"]);
  EXPECT_EQ(announced, (std::vector<int64_t>{a, b, c}));
}

TEST_F(ServicesTest, NotifierDrainsABacklogAtOnceNotAPagePerPoll) {
  // Where a first notifier got to is saved; 250 requests come while none
  // runs. The next one, polling once an hour, announces all of them at once
  // (it read 100 per poll_interval before: a `continue` jumped to the wait).
  NotifierOptions o = NotifyTo("", std::chrono::milliseconds(20));
  {
    TinyHttp http({200});
    o.webhook_url = http.url();
    Notifier first(o);
    ASSERT_TRUE(first.Start().ok());
    SeedPending(*db_, {.ref = "refs/heads/agent/first"});
    ASSERT_TRUE(WaitFor([&] { return first.sent() == 1; }));
    first.Stop();
  }
  for (int i = 0; i < 250; ++i) SeedPending(*db_, {.ref = "refs/heads/agent/b" + std::to_string(i)});
  TinyHttp http({200});
  o.webhook_url = http.url();
  o.poll_interval = std::chrono::hours(1);
  Notifier notifier(o);
  ASSERT_TRUE(notifier.Start().ok());
  EXPECT_TRUE(WaitFor([&] { return notifier.sent() == 250; })) << "sent " << notifier.sent();
  notifier.Stop();
}

TEST_F(ServicesTest, NotifierGivesUpWithoutBlocking) {
  TinyHttp http({503});
  NotifierOptions o = NotifyTo(http.url(), std::chrono::milliseconds(10));
  o.max_attempts = 3;
  Notifier notifier(o);
  ASSERT_TRUE(notifier.Start().ok());
  SeedPending(*db_, {});
  ASSERT_TRUE(WaitFor([&] { return notifier.failed() == 1; }));
  EXPECT_EQ(http.requests(), 3);
  EXPECT_EQ(notifier.sent(), 0);
  notifier.Stop();
}

TEST_F(ServicesTest, NotifierUnreachableWebhookAndStopDuringBackoff) {
  // Stop() must not wait for the retry 30 s away.
  NotifierOptions o = NotifyTo("http://127.0.0.1:1/nothing-listens", std::chrono::seconds(30));
  Notifier notifier(o);
  ASSERT_TRUE(notifier.Start().ok());
  SeedPending(*db_, {});
  ASSERT_TRUE(WaitFor([&] {
    auto n = ag::testing::CountRows(*db_, "SELECT COUNT(*) FROM requests");
    return n == 1;
  }));
  notifier.Stop();  // returns although a retry is 30 s away
  EXPECT_EQ(notifier.sent(), 0);
}

}  // namespace
}  // namespace ag::review
