// Several pushes at once through one check server: its workers share the
// HookCache (config, policy and scanner, the Db pool, per-commit results)
// and call on_approved from several threads. Run under TSan by
// scripts/sanitize; every outcome must still be exactly the sequential one.
#include <atomic>
#include <thread>
#include <vector>

#include "hook/check_server.h"
#include "hook/hook_fixture.h"

namespace ag::testing {
namespace {

class CheckServerConcurrencyTest : public HookFixture {};

TEST_F(CheckServerConcurrencyTest, ConcurrentPushesAreEachJudgedOnce) {
  UsePolicyFile(std::string(AG_SOURCE_DIR) + "/policies/examples/docs-auto-approve.yaml");
  std::atomic<int> approvals{0};
  hook::CheckServerOptions o;
  o.config_path = config_;
  o.socket_path = hook::HookSocketPath(root_ + "/data");
  o.max_connections = 4;
  o.on_approved = [&approvals] { ++approvals; };
  // The store exists before the first push, as agentgate-mirror opens it at
  // start (concurrent first opens of a new file race to switch it to WAL).
  ASSERT_NE(OpenDb(), nullptr);
  auto server = hook::CheckServer::Start(o);
  ASSERT_TRUE(server.ok()) << server.status().ToString();

  // One commit every push carries (its check result is shared between the
  // workers), then per push a docs change (approved by policy), a code change
  // (held for review) or a private key (blocked).
  ASSERT_EQ(Git(work_, "checkout -q -b shared").exit_code, 0);
  Write("docs/shared.md", "shared\n");
  Commit("shared");
  constexpr int kPushes = 9;
  enum Kind { kApproved, kHeld, kBlocked };
  auto kind = [](int i) { return static_cast<Kind>(i % 3); };
  std::vector<std::string> clones;
  for (int i = 0; i < kPushes; ++i) {
    std::string w = root_ + "/w" + std::to_string(i);
    ASSERT_EQ(Sh("git clone -q -b shared " + Quote(work_) + " " + Quote(w)).exit_code, 0);
    Git(w, "remote set-url origin " + Quote(bare_));
    Git(w, "config user.email agent@example.com");
    Git(w, "config user.name Agent");
    std::string n = std::to_string(i);
    std::string file = kind(i) == kApproved ? "docs/d" + n : kind(i) == kHeld ? "src/s" + n : "secrets/" + n + "/id_rsa";
    WriteFile(w + "/" + file, "change " + n + "\n");
    Git(w, "add -A");
    ASSERT_EQ(Git(w, "commit -q -m c" + std::to_string(i)).exit_code, 0);
    clones.push_back(w);
  }

  std::vector<RunResult> results(kPushes);
  std::vector<std::thread> threads;
  for (int i = 0; i < kPushes; ++i) {
    threads.emplace_back([&, i] {
      results[i] = Git(clones[i], "push --porcelain origin HEAD:refs/heads/agent/c" + std::to_string(i));
    });
  }
  for (auto& t : threads) t.join();
  (*server)->Stop();  // on_approved runs after the answer: join the workers first

  int accepted = 0;
  for (int i = 0; i < kPushes; ++i) {
    const RunResult& r = results[i];
    std::string ref = "refs/heads/agent/c" + std::to_string(i);
    if (kind(i) == kBlocked) {
      EXPECT_NE(r.exit_code, 0) << r.output;
      EXPECT_NE(r.output.find("denied-paths"), std::string::npos) << r.output;
      EXPECT_EQ(BareRef(ref), "");
    } else {
      ++accepted;
      EXPECT_EQ(r.exit_code, 0) << r.output;
      EXPECT_NE(BareRef(ref), "") << r.output;
      if (kind(i) == kApproved) EXPECT_NE(r.output.find("approved by policy"), std::string::npos) << r.output;
    }
  }
  EXPECT_EQ(approvals.load(), kPushes / 3);
  EXPECT_EQ((*server)->served(), 2 * accepted + (kPushes - accepted));  // no post-receive when refused
  EXPECT_EQ(Requests().size(), static_cast<size_t>(accepted));
}

// Pushes racing for the same ref: one lands; a loser that the check passed
// is refused because the ref moved while it was checked, and that refusal is
// audited (push.overtaken), as every decision of the gate is.
TEST_F(CheckServerConcurrencyTest, APushOvertakenWhileCheckedIsRefusedAndAudited) {
  hook::CheckServerOptions o;
  o.config_path = config_;
  o.socket_path = hook::HookSocketPath(root_ + "/data");
  o.max_connections = 6;
  ASSERT_NE(OpenDb(), nullptr);
  auto server = hook::CheckServer::Start(o);
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  constexpr int kPushes = 6;
  std::vector<std::string> clones;
  for (int i = 0; i < kPushes; ++i) {
    std::string w = root_ + "/r" + std::to_string(i);
    ASSERT_EQ(Sh("git clone -q " + Quote(work_) + " " + Quote(w)).exit_code, 0);
    Git(w, "remote set-url origin " + Quote(bare_));
    Git(w, "config user.email agent@example.com");
    Git(w, "config user.name Agent");
    WriteFile(w + "/src/race" + std::to_string(i) + ".py", "x = " + std::to_string(i) + "\n");
    Git(w, "add -A");
    ASSERT_EQ(Git(w, "commit -q -m race" + std::to_string(i)).exit_code, 0);
    clones.push_back(w);
  }
  std::vector<RunResult> results(kPushes);
  std::vector<std::thread> threads;
  for (int i = 0; i < kPushes; ++i) {
    threads.emplace_back([&, i] { results[i] = Git(clones[i], "push --porcelain origin HEAD:refs/heads/agent/race"); });
  }
  for (auto& t : threads) t.join();
  (*server)->Stop();
  int landed = 0, overtaken = 0;
  for (const RunResult& r : results) {
    if (r.exit_code == 0) ++landed;
    if (r.output.find("while this push was checked (a concurrent push won)") != std::string::npos) ++overtaken;
  }
  EXPECT_EQ(landed, 1);
  auto db = OpenDb();
  ASSERT_NE(db, nullptr);
  auto count = db->Prepare("SELECT count(*) FROM audit WHERE kind = 'push.overtaken' AND "
                           "data_json LIKE '%refs/heads/agent/race%' AND data_json LIKE '%concurrent push won%'");
  ASSERT_TRUE(count.ok());
  ASSERT_TRUE(*count->Step());
  EXPECT_EQ(count->Int(0), overtaken);
  std::printf("%d of %d pushes overtaken while checked\n", overtaken, kPushes);
}

}  // namespace
}  // namespace ag::testing
