// Replay with GitHub App installation tokens (issue 16) against a real
// upstream (nginx + git http-backend, Basic auth) that accepts only the
// tokens a token endpoint issued and that have not expired; the endpoint
// (tests/replay/fake_github_app.py) plays GitHub's for real: HTTPS, the
// App's RS256 JWT verified with its public key by openssl, iss/iat/exp
// checked, tokens limited to one repository and the permissions asked.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "e2e/upstream_fixture.h"
#include "replay/replay_env.h"
#include "replay/worker.h"
#include "sync/sync.h"

namespace ag::replay {
namespace {

using ag::testing::Child;
using ag::testing::Cmd;
using ag::testing::HttpUpstream;
using ag::testing::ReadAll;
using ag::testing::ReplayEnv;
using ag::testing::TempDir;
using nlohmann::json;
using store::RequestStatus;

constexpr int64_t kAppId = 4242;
constexpr int64_t kInstallation = 77;

class ReplayGithubAppTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(up_.ok()) << up_.error_log();
    const std::string d = dir_.path();
    for (const char* name : {"app", "other"}) {
      ASSERT_EQ(Cmd("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out " + d + "/" + name +
                    ".pem 2>/dev/null && chmod 600 " + d + "/" + name + ".pem && openssl pkey -in " + d + "/" +
                    name + ".pem -pubout -out " + d + "/" + name + ".pub")
                    .rc,
                0);
    }
    ASSERT_EQ(Cmd("cp " + d + "/app.pub " + d + "/public.pem").rc, 0);
    ASSERT_EQ(Cmd("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout " + d +
                  "/tls.key -out " + d + "/tls.pem -days 2 -subj /CN=localhost -addext "
                  "subjectAltName=DNS:localhost 2>/dev/null")
                  .rc,
              0);
    port_ = ag::testing::FreePort();
    ASSERT_TRUE(server_.Start({"python3", std::string(AG_SOURCE_DIR) + "/tests/replay/fake_github_app.py",
                               "--dir", d, "--port", std::to_string(port_), "--cert", d + "/tls.pem", "--key",
                               d + "/tls.key", "--app-id", std::to_string(kAppId), "--installation-id",
                               std::to_string(kInstallation), "--repo", "upstream", "--htpasswd",
                               up_.root() + "/htpasswd"},
                              d + "/server.log"));
    ASSERT_TRUE(ag::testing::WaitFor([&] { return ag::testing::CanConnect(port_); })) << ReadAll(d + "/server.log");
  }

  // The repo replays with the App instead of its token file.
  void UseApp(ReplayEnv& env, int64_t installation = kInstallation) {
    config::RepoConfig& r = env.config()->repos[0];
    r.credential.clear();
    config::GithubAppConfig app;
    app.app_id = kAppId;
    app.installation_id = installation;
    app.private_key = dir_.path() + "/app.pem";
    app.api_url = "https://localhost:" + std::to_string(port_);
    app.ca_file = dir_.path() + "/tls.pem";
    r.github_app = app;
  }
  void Set(const std::string& file, const std::string& value) {
    ag::testing::WriteFile(dir_.path() + "/" + file, value + "\n");
  }
  // What the endpoint was asked, oldest first.
  std::vector<json> Mints() {
    std::vector<json> out;
    std::istringstream in(ReadAll(dir_.path() + "/mints.jsonl"));
    for (std::string line; std::getline(in, line);) {
      if (!line.empty()) out.push_back(json::parse(line));
    }
    return out;
  }
  std::vector<std::string> Issued() {
    std::vector<std::string> out;
    std::istringstream in(ReadAll(dir_.path() + "/issued"));
    for (std::string line; std::getline(in, line);) {
      if (!line.empty()) out.push_back(line);
    }
    return out;
  }
  // Runs the worker once with stderr (the service log) captured into *log.
  void RunOnce(ReplayWorker& w, std::string* log) {
    ::testing::internal::CaptureStderr();
    auto stats = w.RunOnce();
    *log += ::testing::internal::GetCapturedStderr();
    ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  }

  HttpUpstream up_;
  TempDir dir_{"ag-ghapp"};
  Child server_;
  int port_ = 0;
};

TEST_F(ReplayGithubAppTest, ReplayPushesWithATokenLimitedToTheRepoAndKeepsItOutOfEveryRecord) {
  ReplayEnv env(up_.url(), up_.repo().path(), "not-a-valid-token");
  UseApp(env);
  std::string log;
  std::string c = env.Commit("", "a.txt", "hello\n");
  int64_t id = env.Approve("refs/heads/main", up_.seed_head(), c);
  ReplayWorker w(env.config());
  RunOnce(w, &log);
  EXPECT_EQ(env.Get(id).status, RequestStatus::kReplayed) << env.Get(id).status_reason;
  EXPECT_EQ(up_.repo().Ref("refs/heads/main"), c);
  std::vector<json> mints = Mints();
  ASSERT_EQ(mints.size(), 1u);
  EXPECT_EQ(mints[0]["status"], 201);
  EXPECT_EQ(mints[0]["repositories"], json::array({"upstream"}));
  EXPECT_EQ(mints[0]["permissions"], json({{"contents", "write"}}));

  // A second replay within the token's life reuses it.
  std::string c2 = env.Commit(c, "b.txt", "again\n");
  int64_t id2 = env.Approve("refs/heads/main", c, c2);
  RunOnce(w, &log);
  EXPECT_EQ(env.Get(id2).status, RequestStatus::kReplayed) << env.Get(id2).status_reason;
  EXPECT_EQ(Mints().size(), 1u);

  // The token is in no record: service log, store (and its WAL), audit.
  std::vector<std::string> issued = Issued();
  ASSERT_EQ(issued.size(), 1u);
  std::string store = ReadAll(env.path("agentgate.db")) + ReadAll(env.path("agentgate.db-wal"));
  EXPECT_NE(log.find("github_app.token"), std::string::npos) << log;
  EXPECT_EQ(log.find(issued[0]), std::string::npos) << log;
  EXPECT_EQ(store.find(issued[0]), std::string::npos);
  EXPECT_EQ(env.AuditOf(id).find(issued[0]), std::string::npos);
  EXPECT_EQ(log.find("BEGIN PRIVATE KEY"), std::string::npos);
}

TEST_F(ReplayGithubAppTest, AReplayAfterTheTokenExpiredMintsANewOne) {
  Set("ttl", "2");
  ReplayEnv env(up_.url(), up_.repo().path(), "not-a-valid-token");
  UseApp(env);
  std::string log;
  std::string c = env.Commit("", "a.txt", "one\n");
  int64_t id = env.Approve("refs/heads/main", up_.seed_head(), c);
  ReplayWorker w(env.config());
  RunOnce(w, &log);
  ASSERT_EQ(env.Get(id).status, RequestStatus::kReplayed) << env.Get(id).status_reason;
  // The upstream stops accepting the token once it expires.
  ASSERT_TRUE(ag::testing::WaitFor([&] { return ReadAll(up_.root() + "/htpasswd").empty(); }));
  std::string c2 = env.Commit(c, "b.txt", "two\n");
  int64_t id2 = env.Approve("refs/heads/main", c, c2);
  RunOnce(w, &log);
  EXPECT_EQ(env.Get(id2).status, RequestStatus::kReplayed) << env.Get(id2).status_reason;
  EXPECT_EQ(up_.repo().Ref("refs/heads/main"), c2);
  EXPECT_EQ(Issued().size(), 2u);
}

TEST_F(ReplayGithubAppTest, ARevokedKeyIsNamedAndTheReplayFailsAfterItsAttempts) {
  // The App's key was replaced on GitHub: the one agentgate holds no longer verifies.
  ASSERT_EQ(Cmd("cp " + dir_.path() + "/other.pub " + dir_.path() + "/public.pem").rc, 0);
  ReplayEnv env(up_.url(), up_.repo().path(), "not-a-valid-token");
  UseApp(env);
  std::string log;
  std::string c = env.Commit("", "a.txt", "x\n");
  int64_t id = env.Approve("refs/heads/main", up_.seed_head(), c);
  ReplayWorker w(env.config());
  RunOnce(w, &log);
  store::Request r = env.Get(id);
  EXPECT_EQ(r.status, RequestStatus::kApproved);  // retried per replay.*
  EXPECT_NE(r.status_reason.find("refused the App's JWT"), std::string::npos) << r.status_reason;
  for (int i = 0; i < 3 && env.Get(id).status == RequestStatus::kApproved; ++i) RunOnce(w, &log);
  r = env.Get(id);
  EXPECT_EQ(r.status, RequestStatus::kFailed) << r.status_reason;
  EXPECT_NE(r.status_reason.find("private key is not this App's"), std::string::npos) << r.status_reason;
  EXPECT_EQ(up_.repo().Ref("refs/heads/main"), up_.seed_head());
  for (const json& m : Mints()) EXPECT_EQ(m["status"], 401);
  EXPECT_TRUE(Issued().empty());
}

TEST_F(ReplayGithubAppTest, AnAppNotInstalledAndARateLimitAreNamed) {
  ReplayEnv env(up_.url(), up_.repo().path(), "not-a-valid-token");
  UseApp(env, kInstallation + 1);
  std::string log;
  std::string c = env.Commit("", "a.txt", "x\n");
  int64_t id = env.Approve("refs/heads/main", up_.seed_head(), c);
  ReplayWorker w(env.config());
  RunOnce(w, &log);
  EXPECT_NE(env.Get(id).status_reason.find("is not installed where asked"), std::string::npos)
      << env.Get(id).status_reason;

  // Rate limited: the replay waits for the reset without using an attempt,
  // and asks GitHub nothing before it.
  UseApp(env);
  Set("rate_limited", "1");
  Set("rate_reset_in", "2");
  ReplayWorker limited(env.config());
  int attempts = env.Get(id).replay_attempts;
  RunOnce(limited, &log);
  store::Request r = env.Get(id);
  EXPECT_EQ(r.status, RequestStatus::kApproved);
  EXPECT_NE(r.status_reason.find("rate limited by GitHub until "), std::string::npos) << r.status_reason;
  EXPECT_EQ(r.replay_attempts, attempts);
  EXPECT_GT(r.next_attempt_at, store::NowSeconds());
  size_t asked = Mints().size();
  RunOnce(limited, &log);  // not due yet
  EXPECT_EQ(Mints().size(), asked);
  Set("rate_limited", "0");
  ASSERT_TRUE(ag::testing::WaitFor([&] {
    std::string ignored;
    RunOnce(limited, &ignored);
    return env.Get(id).status != RequestStatus::kApproved;
  }));
  EXPECT_EQ(env.Get(id).status, RequestStatus::kReplayed) << env.Get(id).status_reason;
}

// A token GitHub revoked before its expiry (here: the upstream stops taking
// it) is dropped and a new one minted on the next attempt.
TEST_F(ReplayGithubAppTest, ATokenRevokedEarlyIsReplacedOnTheNextAttempt) {
  ReplayEnv env(up_.url(), up_.repo().path(), "not-a-valid-token");
  UseApp(env);
  std::string log;
  ReplayWorker w(env.config());
  std::string c = env.Commit("", "a.txt", "one\n");
  int64_t id = env.Approve("refs/heads/main", up_.seed_head(), c);
  RunOnce(w, &log);
  ASSERT_EQ(env.Get(id).status, RequestStatus::kReplayed) << env.Get(id).status_reason;
  ag::testing::WriteFile(up_.root() + "/htpasswd", "");  // revoked upstream
  std::string c2 = env.Commit(c, "b.txt", "two\n");
  int64_t id2 = env.Approve("refs/heads/main", c, c2);
  RunOnce(w, &log);
  EXPECT_EQ(env.Get(id2).status, RequestStatus::kApproved);
  EXPECT_NE(env.Get(id2).status_reason.find("refused the GitHub App's token"), std::string::npos)
      << env.Get(id2).status_reason;
  RunOnce(w, &log);
  EXPECT_EQ(env.Get(id2).status, RequestStatus::kReplayed) << env.Get(id2).status_reason;
  EXPECT_EQ(Issued().size(), 2u);
}

TEST_F(ReplayGithubAppTest, OnlyAPushThatChangesWorkflowsAsksForWorkflowsWrite) {
  Set("grants", "contents:write workflows:write");
  ReplayEnv env(up_.url(), up_.repo().path(), "not-a-valid-token");
  UseApp(env);
  std::string log;
  ReplayWorker w(env.config());
  std::string c = env.Commit("", ".github/workflows/ci.yml", "on: push\n");
  int64_t id = env.Approve("refs/heads/main", up_.seed_head(), c);
  RunOnce(w, &log);
  EXPECT_EQ(env.Get(id).status, RequestStatus::kReplayed) << env.Get(id).status_reason;
  std::string c2 = env.Commit(c, "docs.md", "docs\n");
  int64_t id2 = env.Approve("refs/heads/main", c, c2);
  RunOnce(w, &log);
  EXPECT_EQ(env.Get(id2).status, RequestStatus::kReplayed) << env.Get(id2).status_reason << up_.error_log()
      << ReadAll(up_.root() + "/htpasswd") << ReadAll(dir_.path() + "/issued") << log;
  std::vector<json> mints = Mints();
  ASSERT_EQ(mints.size(), 2u);
  EXPECT_EQ(mints[0]["permissions"], json({{"contents", "write"}, {"workflows", "write"}}));
  EXPECT_EQ(mints[1]["permissions"], json({{"contents", "write"}}));
}

// `agentgate doctor` mints a token and says what GitHub granted; a key
// GitHub no longer takes is a FAIL line that names it.
TEST_F(ReplayGithubAppTest, DoctorMintsAndListsWhatGithubGranted) {
  ReplayEnv env(up_.url(), up_.repo().path(), "not-a-valid-token");
  UseApp(env);
  const std::string config = env.path("agentgate.yaml");
  config::Config saved = *env.config();
  saved.replay_backoff_max = std::chrono::seconds(1);  // the test env's 0 is not a valid file value
  saved.policy_path = std::string(AG_SOURCE_DIR) + "/policies/default.yaml";
  ASSERT_TRUE(config::SaveConfig(saved, config).ok());
  auto doctor = [&] {
    return Cmd(std::string(AG_BIN_DIR) + "/agentgate doctor --config " + config + " 2>&1").out;
  };
  std::string ok = doctor();
  EXPECT_NE(ok.find("ok: repo demo: GitHub App 4242 minted a token for agentgate-test/upstream (contents: write)"),
            std::string::npos)
      << ok;
  ASSERT_EQ(Cmd("cp " + dir_.path() + "/other.pub " + dir_.path() + "/public.pem").rc, 0);
  std::string bad = doctor();
  EXPECT_NE(bad.find("FAIL: repo demo: GitHub App 4242: GitHub refused the App's JWT"), std::string::npos) << bad;
  for (const std::string& t : Issued()) EXPECT_EQ((ok + bad).find(t), std::string::npos);
}

// `agentgate repo add --github-app` records the App and fetches with a token
// it minted; a key given as a relative path with '/' is refused up front.
TEST_F(ReplayGithubAppTest, RepoAddSetsUpTheApp) {
  const std::string d = dir_.path();
  const std::string config = d + "/agentgate.yaml";
  ag::testing::WriteFile(config, "data_dir: " + d + "/data\npolicy: " + std::string(AG_SOURCE_DIR) +
                                     "/policies/default.yaml\n");
  const std::string add = std::string(AG_BIN_DIR) + "/agentgate repo add demo --config " + config + " --upstream " +
                          up_.url() + " --github-app " + std::to_string(kAppId) + " --github-installation " +
                          std::to_string(kInstallation) + " --github-api-url https://localhost:" +
                          std::to_string(port_) + " 2>&1";
  auto bad = Cmd(add + " --github-app-key keys/app.pem");
  EXPECT_NE(bad.rc, 0) << bad.out;
  EXPECT_NE(bad.out.find("private_key"), std::string::npos) << bad.out;
  // The test CA, as for a GitHub Enterprise Server with a private CA.
  auto ok = Cmd(add + " --github-ca-file " + d + "/tls.pem --github-app-key " + d + "/app.pem");
  ASSERT_EQ(ok.rc, 0) << ok.out;
  std::string text = ReadAll(config);
  EXPECT_NE(text.find("app_id: 4242"), std::string::npos) << text;
  EXPECT_NE(text.find("installation_id: 77"), std::string::npos) << text;
  std::vector<json> mints = Mints();
  ASSERT_FALSE(mints.empty());
  EXPECT_EQ(mints.back()["permissions"], json({{"contents", "read"}}));
  EXPECT_EQ(mints.back()["status"], 201);
}

// Sync fetches with a token that may only read.
TEST_F(ReplayGithubAppTest, SyncFetchesWithAReadOnlyToken) {
  ReplayEnv env(up_.url(), up_.repo().path(), "not-a-valid-token");
  UseApp(env);
  auto synced = sync::SyncRepo(*env.config(), env.config()->repos[0], &env.db());
  ASSERT_TRUE(synced.ok()) << synced.status().ToString();
  std::vector<json> mints = Mints();
  ASSERT_EQ(mints.size(), 1u);
  EXPECT_EQ(mints[0]["permissions"], json({{"contents", "read"}}));
  EXPECT_EQ(mints[0]["status"], 201);
}

}  // namespace
}  // namespace ag::replay
