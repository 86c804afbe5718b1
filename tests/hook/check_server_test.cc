// The hooks delegate to the check server when it runs, and fall back to
// running in-process when it does not; results are the same either way.
#include "hook/check_server.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <thread>

#include "hook/hook_fixture.h"

namespace ag::testing {
namespace {

class CheckServerTest : public HookFixture {
 protected:
  std::unique_ptr<hook::CheckServer> StartServer(
      std::chrono::milliseconds stop_grace = std::chrono::milliseconds(60000)) {
    hook::CheckServerOptions o;
    o.config_path = config_;
    o.socket_path = SocketPath();
    o.stop_grace = stop_grace;
    o.on_approved = [this] { ++approvals_; };
    auto s = hook::CheckServer::Start(o);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(s).value() : nullptr;
  }
  std::string SocketPath() const { return hook::HookSocketPath(root_ + "/data"); }
  // A Unix socket at the check server's path: bound (a stale socket file) or
  // connected to a server there. -1 on failure.
  enum class At { kBind, kConnect };
  int HookSocket(At at) const {
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, SocketPath().c_str(), sizeof addr.sun_path - 1);
    auto* a = reinterpret_cast<sockaddr*>(&addr);
    if ((at == At::kBind ? ::bind(fd, a, sizeof addr) : ::connect(fd, a, sizeof addr)) != 0) {
      ::close(fd);
      return -1;
    }
    return fd;
  }
  std::atomic<int> approvals_{0};  // on_approved calls
};

TEST_F(CheckServerTest, HooksDelegateToTheServer) {
  auto server = StartServer();
  ASSERT_TRUE(server);
  ASSERT_EQ(Git(work_, "checkout -q -b agent/a").exit_code, 0);
  Write(".github/workflows/ci.yml", "on: push\n");
  Commit("ci");
  RunResult r = Push("agent/a");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("held for review as request 1 (protected-paths)"), std::string::npos) << r.output;
  EXPECT_EQ(server->served(), 2);  // pre-receive and post-receive
  auto reqs = Requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].status, store::RequestStatus::kPending);
  EXPECT_EQ(BareRef("refs/agentgate/requests/1"), Head());

  // A block through the server refuses the push and keeps nothing.
  Write("secrets/id_rsa", "nope\n");
  Commit("key");
  RunResult blocked = Push("agent/a");
  EXPECT_NE(blocked.exit_code, 0);
  EXPECT_NE(blocked.output.find("denied-paths"), std::string::npos) << blocked.output;
  EXPECT_EQ(server->served(), 3);
}

TEST_F(CheckServerTest, ShellScriptHooksFindTheServerThroughTheConfig) {
  // Hooks installed by earlier versions name only --config and --repo: the
  // full program reads the config's data_dir and still asks the server.
  InstallHooks(HookStyle::kShellScript);
  auto server = StartServer();
  ASSERT_TRUE(server);
  ASSERT_EQ(Git(work_, "checkout -q -b agent/s").exit_code, 0);
  Commit("x");
  RunResult r = Push("agent/s");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(server->served(), 2);
  EXPECT_EQ(Requests().size(), 1u);
}

TEST_F(CheckServerTest, HookFileWithoutServerRunsInProcess) {
  // No daemon: the small hook program execs agentgate-hook, which does the
  // work itself; the outcome is the same as through the server.
  ASSERT_EQ(Git(work_, "checkout -q -b agent/n").exit_code, 0);
  Write(".github/workflows/ci.yml", "on: push\n");
  Commit("ci");
  RunResult r = Push("agent/n");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("held for review as request 1 (protected-paths)"), std::string::npos) << r.output;
  auto reqs = Requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].status, store::RequestStatus::kPending);
  EXPECT_EQ(BareRef("refs/agentgate/requests/1"), Head());
}

TEST_F(CheckServerTest, ServerThatDiesMidRequestRefusesThePush) {
  // A server that takes the request and closes without answering: the hook
  // must refuse (fail closed), not run a second time in-process.
  int fd = HookSocket(At::kBind);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::listen(fd, 4), 0);
  std::thread dying([fd] {
    int c = ::accept(fd, nullptr, nullptr);
    if (c < 0) return;
    char buf[4096];
    (void)::recv(c, buf, sizeof buf, 0);  // takes (part of) the request
    ::close(c);
  });
  ASSERT_EQ(Git(work_, "checkout -q -b agent/k").exit_code, 0);
  Commit("x");
  RunResult r = Push("agent/k");
  dying.join();
  ::close(fd);
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("the check server did not answer"), std::string::npos) << r.output;
  EXPECT_EQ(BareRef("refs/heads/agent/k"), "");
  EXPECT_TRUE(Requests().empty());
}

TEST_F(CheckServerTest, PolicyApprovedPushWakesTheReplayWorker) {
  // agentgate-mirror wakes its replay worker through on_approved: once for a
  // push a rule approved, never for one held for review.
  UsePolicyFile(std::string(AG_SOURCE_DIR) + "/policies/examples/docs-auto-approve.yaml");
  auto server = StartServer();
  ASSERT_TRUE(server);
  ASSERT_EQ(Git(work_, "checkout -q -b agent/docs").exit_code, 0);
  Write("src/app.py", "print(2)\n");
  Commit("code");
  ASSERT_EQ(Push("agent/docs").exit_code, 0);
  EXPECT_EQ(approvals_.load(), 0);  // held
  ASSERT_EQ(Git(work_, "checkout -q -b agent/docs2 main").exit_code, 0);
  Write("docs/guide.md", "a better guide\n");
  Commit("docs");
  RunResult r = Push("agent/docs2");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("approved by policy"), std::string::npos) << r.output;
  server->Stop();  // the call comes after the answer: join the workers first
  EXPECT_EQ(approvals_.load(), 1);
}

TEST_F(CheckServerTest, RefNameThatIsNotUtf8IsRefusedNotAltered) {
  // The hook client refuses to send it (JSON is UTF-8): the server never
  // sees, records or pins a ref name other than the one git updates.
  auto server = StartServer();
  ASSERT_TRUE(server);
  ASSERT_EQ(Git(work_, "checkout -q -b agent/u").exit_code, 0);
  Commit("x");
  RunResult r = Push("HEAD:refs/heads/agent/a$(printf '\\377')b");
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("not UTF-8"), std::string::npos) << r.output;
  EXPECT_EQ(server->served(), 0);
  EXPECT_TRUE(Requests().empty());
}

TEST_F(CheckServerTest, StopCutsAClientThatNeverFinishes) {
  // A hook that connects and then hangs must not keep the daemon from
  // stopping: after the grace period its connection is cut.
  auto server = StartServer(std::chrono::milliseconds(100));
  ASSERT_TRUE(server);
  int fd = HookSocket(At::kConnect);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::send(fd, "{", 1, 0), 1);  // half a request, never the rest
  server->Stop();                        // returns: the test would time out otherwise
  char buf[256];
  ssize_t n = ::recv(fd, buf, sizeof buf, 0);
  ::close(fd);
  EXPECT_LE(n, 0) << "the connection was answered instead of cut";
  EXPECT_FALSE(std::filesystem::exists(SocketPath()));
}

TEST_F(CheckServerTest, AgentIdentityTravelsThroughTheServer) {
  auto server = StartServer();
  ASSERT_TRUE(server);
  AsAgent("agent-9");
  ASSERT_EQ(Git(work_, "checkout -q -b agent/b").exit_code, 0);
  Commit("x");
  ASSERT_EQ(Push("agent/b").exit_code, 0);
  RunResult outside = Push("HEAD:refs/heads/main");
  EXPECT_NE(outside.exit_code, 0);
  EXPECT_NE(outside.output.find("ref-not-allowed"), std::string::npos) << outside.output;
  auto reqs = Requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].identity, "agent-9");
  EXPECT_GE(server->served(), 3);
}

TEST_F(CheckServerTest, StaleSocketFallsBackToInProcess) {
  // A socket file with nobody listening (a killed daemon).
  int fd = HookSocket(At::kBind);
  ASSERT_GE(fd, 0);
  ::close(fd);
  ASSERT_EQ(Git(work_, "checkout -q -b agent/c").exit_code, 0);
  Commit("x");
  RunResult r = Push("agent/c");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(Requests().size(), 1u);
}

TEST_F(CheckServerTest, PolicyChangesAreSeenWithoutRestart) {
  auto server = StartServer();
  ASSERT_TRUE(server);
  ASSERT_EQ(Git(work_, "checkout -q -b agent/d").exit_code, 0);
  Commit("x");
  ASSERT_EQ(Push("agent/d").exit_code, 0);
  UsePolicy("version: 1\nrules: [oops\n");
  Commit("y");
  RunResult r = Push("agent/d");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("policy does not load"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace ag::testing
