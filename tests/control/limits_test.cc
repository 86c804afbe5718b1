// Starvation limits of the control socket, against the real server with real
// Unix accounts (created by the test; forked children switch to them with
// setresuid, so the server sees them through SO_PEERCRED as in production):
// a non-reviewer holding connections cannot lock reviewers out, a silent
// connection is closed, and a non-reviewer learns nothing about requests and
// cannot grow the audit table.
// REQUIRES: root for the tests with accounts (skipped otherwise).
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <regex>
#include <thread>

#include "control/client.h"
#include "control/protocol.h"
#include "control/server.h"
#include "review/review_support.h"

namespace ag::control {
namespace {

using ag::testing::CountRows;
using ag::testing::SeedPending;
using ag::testing::TempDir;
using ag::testing::TestGroup;
using ag::testing::TestUser;
using nlohmann::json;
using std::chrono::milliseconds;

constexpr int kAttempts = 40;  // connections one attacker opens

// A connected socket to `path`, or -1.
int Connect(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// Reads up to `lines` response lines from `fd`, each within `wait`.
std::string ReadLines(int fd, int lines, milliseconds wait) {
  std::string out;
  char buf[4096];
  for (int got = 0; got < lines;) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(wait.count())) <= 0) break;
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
    got = static_cast<int>(std::count(out.begin(), out.end(), '\n'));
  }
  return out;
}

void WriteAll(int fd, const std::string& s) {
  for (size_t off = 0; off < s.size();) {
    ssize_t n = write(fd, s.data() + off, s.size() - off);
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}

// A forked child running as a test account; what it writes to `out` is what
// the parent reads. It stays alive (holding what it opened) until Release().
class ChildAs {
 public:
  // `body(out_fd)` runs as `user` (its uid and primary gid, no other groups).
  ChildAs(const std::string& user, const std::function<void(int)>& body) {
    passwd* pw = getpwnam(user.c_str());
    EXPECT_NE(pw, nullptr) << user;
    if (!pw) return;
    uid_t uid = pw->pw_uid;
    gid_t gid = pw->pw_gid;
    int out[2], hold[2];
    EXPECT_EQ(pipe(out), 0);
    EXPECT_EQ(pipe(hold), 0);
    pid_ = fork();
    if (pid_ == 0) {
      // Only its two pipe ends: the server's sockets and the other children's
      // pipes would keep connections and children alive.
      for (int fd = 3; fd < 4096; ++fd) {
        if (fd != out[1] && fd != hold[0]) close(fd);
      }
      if (setgroups(0, nullptr) != 0 || setresgid(gid, gid, gid) != 0 ||
          setresuid(uid, uid, uid) != 0) {
        _exit(3);
      }
      body(out[1]);
      close(out[1]);
      char c;
      while (read(hold[0], &c, 1) > 0) {}  // until Release() or the parent's exit
      _exit(0);
    }
    close(out[1]);
    close(hold[0]);
    out_ = out[0];
    hold_ = hold[1];
  }
  ~ChildAs() {
    Release();
    if (out_ >= 0) close(out_);
  }
  // Everything the child wrote (it writes once and closes).
  std::string Output() {
    std::string s;
    char buf[4096];
    ssize_t n;
    while (out_ >= 0 && (n = read(out_, buf, sizeof buf)) > 0) s.append(buf, static_cast<size_t>(n));
    return s;
  }
  // Lets the child exit (closing its connections) and reaps it.
  void Release() {
    if (hold_ >= 0) close(hold_);
    hold_ = -1;
    if (pid_ > 0) waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
  int out_ = -1, hold_ = -1;
};

// Opens kAttempts connections, sends nothing, and reports how many the server
// kept (no answer and not closed) as a decimal number.
void HoldConnections(const std::string& socket_path, int out) {
  std::vector<int> fds;
  for (int i = 0; i < kAttempts; ++i) {
    int fd = Connect(socket_path);
    if (fd >= 0) fds.push_back(fd);
  }
  std::this_thread::sleep_for(milliseconds(500));  // the accept thread decides
  int kept = 0;
  for (int fd : fds) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 0) == 0) ++kept;  // refused ones have an answer or are closed
  }
  WriteAll(out, std::to_string(kept));
}

// Sends `request` `times` times on one connection; writes the answer lines.
void Ask(const std::string& socket_path, const json& request, int times, int out) {
  int fd = Connect(socket_path);
  if (fd < 0) return WriteAll(out, "connect failed\n");
  std::string lines;
  for (int i = 0; i < times; ++i) lines += request.dump() + "\n";
  WriteAll(fd, lines);
  WriteAll(out, ReadLines(fd, times, milliseconds(5000)));
  close(fd);
}

std::vector<json> ParseLines(const std::string& text) {
  std::vector<json> out;
  size_t start = 0;
  for (size_t eol; (eol = text.find('\n', start)) != std::string::npos; start = eol + 1) {
    out.push_back(json::parse(text.substr(start, eol - start), nullptr, false));
  }
  return out;
}

class LimitsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = store::Db::Open(dir_ / "agentgate.db");
    ASSERT_TRUE(db.ok());
    db_ = std::move(db).value();
    socket_ = dir_ / "run/control.sock";
  }

  ControlServerOptions Options() {
    ControlServerOptions o;
    o.socket_path = socket_;
    o.db_path = dir_ / "agentgate.db";
    return o;
  }

  void Start(const ControlServerOptions& o) {
    server_ = std::make_unique<ControlServer>(o, settings_);
    Status s = server_->Start();
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  TempDir dir_;
  std::unique_ptr<store::Db> db_;
  std::string socket_;
  review::ReviewSettings settings_;
  std::unique_ptr<ControlServer> server_;
};

// Real accounts: two that may review nothing, a reviewer by name and one by group.
class AccountsTest : public LimitsTest {
 protected:
  static void SetUpTestSuite() {
    if (geteuid() != 0) return;
    std::string p = ag::testing::UniquePrefix();
    group_ = new TestGroup(p + "-lrg");
    mallory_ = new TestUser(p + "-lm1");
    trudy_ = new TestUser(p + "-lm2");
    alice_ = new TestUser(p + "-lrv");
    carol_ = new TestUser(p + "-lgr", {p + "-lrg"});
  }
  static void TearDownTestSuite() {
    delete carol_;
    delete alice_;
    delete trudy_;
    delete mallory_;
    delete group_;
  }
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root to create users";
    LimitsTest::SetUp();
    chmod(dir_.path().c_str(), 0755);
  }
  // alice reviews by the policy's default reviewers, carol through a rule's group.
  ControlServerOptions Options() {
    ControlServerOptions o = LimitsTest::Options();
    settings_.default_reviewers.users = {alice_->name()};
    o.reviewers.groups = {group_->name()};
    return o;
  }

  static inline TestGroup* group_ = nullptr;
  static inline TestUser *mallory_ = nullptr, *trudy_ = nullptr, *alice_ = nullptr,
                         *carol_ = nullptr;
};

TEST(LimitsDefaults, AreTheDocumentedOnes) {
  ControlServerOptions o;
  EXPECT_EQ(o.max_connections, 32);
  EXPECT_EQ(o.reviewer_connections, 8);
  EXPECT_EQ(o.max_connections_per_uid, 4);
  EXPECT_EQ(o.request_deadline, milliseconds(5000));
  EXPECT_EQ(o.refusal_audit_interval, milliseconds(60000));
}

TEST_F(LimitsTest, ContradictoryLimitsAreRefused) {
  ControlServerOptions o = Options();
  o.reviewer_connections = o.max_connections;
  EXPECT_EQ(ControlServer(o, settings_).Start().code(), Code::kInvalidArgument);
  o = Options();
  o.max_connections_per_uid = 0;
  EXPECT_EQ(ControlServer(o, settings_).Start().code(), Code::kInvalidArgument);
}

TEST_F(LimitsTest, SilentConnectionIsClosedAfterTheRequestDeadline) {
  ControlServerOptions o = Options();
  o.io_timeout = milliseconds(5000);  // longer than the test waits: not what closes it
  o.request_deadline = milliseconds(300);
  Start(o);
  int fd = Connect(socket_);
  ASSERT_GE(fd, 0);
  auto t0 = std::chrono::steady_clock::now();
  std::string got = ReadLines(fd, 1, milliseconds(3000));
  auto waited = std::chrono::steady_clock::now() - t0;
  EXPECT_NE(got.find("deadline_exceeded"), std::string::npos) << got;
  EXPECT_NE(got.find("no request line within 300 ms"), std::string::npos) << got;
  EXPECT_LT(waited, milliseconds(2000));
  pollfd p{fd, POLLIN, 0};
  ASSERT_EQ(poll(&p, 1, 2000), 1);
  char c;
  EXPECT_EQ(recv(fd, &c, 1, 0), 0);  // and closed
  close(fd);
  // The deadline is per request line: a client that asks in time is answered,
  // then cut off when it falls silent.
  fd = Connect(socket_);
  ASSERT_GE(fd, 0);
  WriteAll(fd, "{\"cmd\":\"list\"}\n");
  std::string first = ReadLines(fd, 1, milliseconds(3000));
  EXPECT_NE(first.find("\"ok\":true"), std::string::npos) << first;
  std::string second = ReadLines(fd, 1, milliseconds(3000));
  EXPECT_NE(second.find("deadline_exceeded"), std::string::npos) << second;
  close(fd);
}

TEST_F(AccountsTest, NonReviewersHoldingConnectionsDoNotLockReviewersOut) {
  ControlServerOptions o = Options();
  o.max_connections = 8;
  o.reviewer_connections = 3;
  o.max_connections_per_uid = 4;
  o.request_deadline = milliseconds(20000);  // they stay held while we ask
  o.io_timeout = milliseconds(20000);
  Start(o);
  ChildAs m(mallory_->name(), [&](int out) { HoldConnections(socket_, out); });
  int held_m = std::stoi("0" + m.Output());
  ChildAs t(trudy_->name(), [&](int out) { HoldConnections(socket_, out); });
  int held_t = std::stoi("0" + t.Output());
  EXPECT_EQ(held_m, 4);           // the per-uid cap
  EXPECT_EQ(held_t, 8 - 3 - 4);   // what is left outside the reviewers' slots
  // Root, a reviewer by name and one by group are still served (`agentgate list`).
  auto root = Call(socket_, {{"cmd", "list"}});
  ASSERT_TRUE(root.ok()) << root.status().ToString();
  EXPECT_TRUE((*root)["ok"].get<bool>()) << root->dump();
  for (const TestUser* u : {alice_, carol_}) {
    ChildAs r(u->name(), [&](int out) { Ask(socket_, {{"cmd", "list"}}, 1, out); });
    std::vector<json> answer = ParseLines(r.Output());
    ASSERT_EQ(answer.size(), 1u) << u->name();
    EXPECT_TRUE(answer[0].value("ok", false)) << u->name() << ": " << answer[0].dump();
  }
  // Reviewers may take every slot left: 8 at once in all.
  std::this_thread::sleep_for(milliseconds(200));  // the list connections are closed
  ChildAs a(alice_->name(), [&](int out) { HoldConnections(socket_, out); });
  EXPECT_EQ(std::stoi("0" + a.Output()), 3);  // 4 + 1 + 3
  m.Release();
  t.Release();
  a.Release();
}

TEST_F(AccountsTest, NonReviewerLearnsNothingAndCannotGrowTheAudit) {
  const int kTimes = 50;
  ControlServerOptions o = Options();
  o.refusal_audit_interval = milliseconds(3000);
  Start(o);
  int64_t id = SeedPending(*db_, {.ref = "refs/heads/agent/secret-plan", .users = {alice_->name()}});
  const int64_t unknown = id + 1000;
  auto approve = [](int64_t which) {
    return json{{"cmd", "approve"}, {"id", which}, {"ref", "refs/heads/wrong"},
                {"old", std::string(40, '0')}, {"new", std::string(40, '2')}};
  };
  auto refused_rows = [&](const std::string& actor) {
    return CountRows(*db_, "SELECT COUNT(*) FROM audit WHERE kind='review.refused' AND actor='" +
                               actor + "'");
  };
  // The same answer for a request it may not see and for no request at all.
  auto t0 = std::chrono::steady_clock::now();
  ChildAs burst(mallory_->name(), [&](int out) { Ask(socket_, approve(id), kTimes, out); });
  std::vector<json> answers = ParseLines(burst.Output());
  ChildAs probe(mallory_->name(), [&](int out) {
    Ask(socket_, approve(unknown), 1, out);
    Ask(socket_, {{"cmd", "show"}, {"id", id}}, 1, out);
    Ask(socket_, {{"cmd", "show"}, {"id", unknown}}, 1, out);
    Ask(socket_, {{"cmd", "retry"}, {"id", id}}, 1, out);
    Ask(socket_, {{"cmd", "reject"}, {"id", id}, {"reason", "x"}}, 1, out);
  });
  std::vector<json> others = ParseLines(probe.Output());
  auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_EQ(answers.size(), static_cast<size_t>(kTimes));
  ASSERT_EQ(others.size(), 5u);
  auto any_id = [](json a) {  // the answer with every request id read as N
    a["error"] = std::regex_replace(a.value("error", ""), std::regex("request [0-9]+"), "request N");
    return a;
  };
  const json& none = others[0];
  EXPECT_EQ(none["code"], "not_found") << none.dump();
  EXPECT_NE(none.value("error", "").find("no request " + std::to_string(unknown)), std::string::npos);
  EXPECT_EQ(others[2], none);  // show of an unknown id: the same
  for (const json& a : {answers[0], answers[kTimes - 1], others[1], others[3], others[4]}) {
    EXPECT_EQ(any_id(a), any_id(none)) << a.dump();
    EXPECT_EQ(a.dump().find("refs/heads"), std::string::npos) << a.dump();
    EXPECT_EQ(a.dump().find("secret-plan"), std::string::npos) << a.dump();
  }
  // 50 refusals, one row; the rest are counted in the next one.
  ASSERT_LT(took, o.refusal_audit_interval) << "too slow to test the interval";
  EXPECT_EQ(refused_rows(mallory_->name()), 1);
  std::this_thread::sleep_for(o.refusal_audit_interval);
  ChildAs later(mallory_->name(), [&](int out) { Ask(socket_, approve(id), 1, out); });
  ASSERT_EQ(ParseLines(later.Output()).size(), 1u);
  EXPECT_EQ(refused_rows(mallory_->name()), 2);
  // 49 approves, 1 retry, 1 reject held back (the unknown id has no row to write).
  EXPECT_EQ(CountRows(*db_, "SELECT COUNT(*) FROM audit WHERE kind='review.refused' AND actor='" +
                                mallory_->name() + "' AND data_json LIKE '%\"suppressed\":51%'"),
            1);
  // A reviewer's refusals are all written (it may review something).
  int64_t other = SeedPending(*db_, {.ref = "refs/heads/agent/other", .users = {"nobody-else"}});
  ChildAs rev(alice_->name(), [&](int out) { Ask(socket_, approve(other), 3, out); });
  ASSERT_EQ(ParseLines(rev.Output()).size(), 3u);
  EXPECT_EQ(refused_rows(alice_->name()), 3);
}

}  // namespace
}  // namespace ag::control
