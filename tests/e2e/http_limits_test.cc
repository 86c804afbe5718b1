// agentgate-mirror at the door: every authentication failure is a 401 (403,
// 503 where due), unknown repos and traversal are 404, limits answer 413 /
// 431 / 408 / 429, /healthz and /metrics, clean shutdown on SIGTERM.
#include <gtest/gtest.h>

#include <thread>

#include "e2e/fixture.h"

namespace ag::e2e {
namespace {

using testing::Quote;

std::string Get(const std::string& target, const std::string& extra = "") {
  return "GET " + target + " HTTP/1.1\r\nHost: t\r\nConnection: close\r\n" + extra + "\r\n";
}

std::string Base64(const std::string& in) {
  static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    out += {k[v >> 18], k[(v >> 12) & 63], k[(v >> 6) & 63], k[v & 63]};
  }
  if (i + 1 == in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    out += {k[v >> 18], k[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += {k[v >> 18], k[(v >> 12) & 63], k[(v >> 6) & 63], '='};
  }
  return out;
}

class HttpDoorTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(server_.Start().ok()) << server_.Log(); }
  void TearDown() override {
    if (HasFailure()) std::fprintf(stderr, "--- server log ---\n%s\n", server_.Log().c_str());
  }
  std::string Auth() const { return "Authorization: Bearer " + server_.token() + "\r\n"; }
  MirrorServer server_;
};

TEST_F(HttpDoorTest, HealthzAndMetrics) {
  HttpResponse h = server_.Request(Get("/healthz"));
  EXPECT_EQ(h.status, 200);
  EXPECT_EQ(h.body, "ok\n");
  server_.Request(Get("/demo.git/info/refs?service=git-upload-pack"));  // one 401
  HttpResponse m = server_.Request(Get("/metrics"));
  ASSERT_EQ(m.status, 200);
  EXPECT_NE(m.body.find("agentgate_http_requests_total{route=\"healthz\",code=\"200\"}"), std::string::npos) << m.body;
  EXPECT_NE(m.body.find("agentgate_auth_failures_total{reason=\"missing\"} 1"), std::string::npos) << m.body;
  EXPECT_NE(m.body.find("agentgate_http_in_flight 0"), std::string::npos);
  EXPECT_NE(m.body.find("agentgate_queue_depth 0"), std::string::npos);
}

TEST_F(HttpDoorTest, EveryAuthenticationFailureIs401) {
  const std::string target = "/demo.git/info/refs?service=git-upload-pack";
  const std::string none_jwt = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJhZ2VudC1jaSIsImV4cCI6OTk5OTk5OTk5OX0.";
  const std::string expired_hs = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4IiwiZXhwIjoxfQ.c2lnbmF0dXJl";
  std::vector<std::pair<std::string, std::string>> cases = {
      {"no credentials", ""},
      {"wrong bearer token", "Authorization: Bearer agt_wrong\r\n"},
      {"wrong basic password", "Authorization: Basic " + Base64("agent:agt_wrong") + "\r\n"},
      {"token as user name", "Authorization: Basic " + Base64(server_.token() + ":") + "\r\n"},
      {"truncated token", "Authorization: Bearer " + server_.token().substr(0, 10) + "\r\n"},
      {"alg none JWT", "Authorization: Bearer " + none_jwt + "\r\n"},
      {"HS256 JWT, expired", "Authorization: Bearer " + expired_hs + "\r\n"},
      {"unknown scheme", "Authorization: Digest " + server_.token() + "\r\n"},
      {"forged identity headers", "Remote-User: agent-ci\r\nX-Agentgate-Identity: agent-ci\r\n"},
  };
  for (const auto& [what, header] : cases) {
    HttpResponse r = server_.Request(Get(target, header));
    EXPECT_EQ(r.status, 401) << what << "\n" << r.head;
    EXPECT_NE(r.head.find("WWW-Authenticate: Basic realm=\"agentgate\""), std::string::npos) << what;
    // POSTs too.
    r = server_.Request("POST /demo.git/git-receive-pack HTTP/1.1\r\nHost: t\r\nConnection: close\r\n" + header +
                        "Content-Type: application/x-git-receive-pack-request\r\nContent-Length: 4\r\n\r\n0000");
    EXPECT_EQ(r.status, 401) << what;
  }
  EXPECT_EQ(server_.Request(Get(target, Auth())).status, 200);
  // git itself gives up with the wrong token, and shows why.
  std::string bad_url = "http://agent:agt_wrong@127.0.0.1:" + std::to_string(server_.port()) + "/demo.git";
  auto g = server_.Git("ls-remote " + Quote(bad_url));
  EXPECT_NE(g.exit_code, 0);
  EXPECT_NE(g.output.find("Authentication failed"), std::string::npos) << g.output;
  // Failures are logged with a reason and never with the token.
  std::string log = server_.Log();
  EXPECT_NE(log.find("event=auth_failure"), std::string::npos);
  EXPECT_NE(log.find("reason=invalid"), std::string::npos);
  EXPECT_EQ(log.find(server_.token()), std::string::npos);
  EXPECT_EQ(log.find("agt_wrong"), std::string::npos);
  HttpResponse m = server_.Request(Get("/metrics"));
  EXPECT_NE(m.body.find("agentgate_auth_failures_total{reason=\"invalid\"}"), std::string::npos);
}

TEST_F(HttpDoorTest, UnknownReposAndTraversalAre404) {
  const char* targets[] = {
      "/other.git/info/refs?service=git-upload-pack",
      "/../demo.git/info/refs?service=git-upload-pack",
      "/demo.git/../../etc/passwd",
      "/%2e%2e/demo.git/info/refs?service=git-upload-pack",
      "/..%2f..%2fetc/info/refs?service=git-upload-pack",
      "//info/refs?service=git-upload-pack",
      "/demo.git/HEAD",
      "/demo.git/objects/info/packs",
      "/data/repos/demo.git/info/refs?service=git-upload-pack",
  };
  for (const char* t : targets) {
    HttpResponse r = server_.Request(Get(t, Auth()));
    EXPECT_EQ(r.status, 404) << t;
  }
  std::string abs = server_.RepoPath("demo") + "/info/refs?service=git-upload-pack";
  EXPECT_EQ(server_.Request(Get(abs, Auth())).status, 404);
  // git sees a clean error for a repo outside the configuration.
  std::string url = "http://agent:" + server_.token() + "@127.0.0.1:" + std::to_string(server_.port()) + "/other.git";
  auto g = server_.Git("ls-remote " + Quote(url));
  EXPECT_NE(g.exit_code, 0);
  EXPECT_NE(g.output.find("not found"), std::string::npos) << g.output;
}

TEST_F(HttpDoorTest, OversizedHeaderIs431) {
  std::string big(32 << 10, 'a');
  HttpResponse r = server_.Request(Get("/healthz", "X-Big: " + big + "\r\n"));
  EXPECT_EQ(r.status, 431);
}

TEST(HttpLimitsTest, OversizedBodyIs413) {
  MirrorOptions options;
  options.limits_yaml = "  max_body: 64KiB\n";
  MirrorServer server(options);
  ASSERT_TRUE(server.Start().ok()) << server.Log();
  std::string auth = "Authorization: Bearer " + server.token() + "\r\n";
  std::string head = "POST /demo.git/git-receive-pack HTTP/1.1\r\nHost: t\r\n" + auth +
                     "Content-Type: application/x-git-receive-pack-request\r\n";
  // Declared too large: refused from the header.
  HttpResponse r = server.Request(head + "Content-Length: 200000\r\n\r\n" + std::string(200000, 'x'));
  EXPECT_EQ(r.status, 413) << r.head;
  // Chunked and too large: refused while streaming, before any response.
  std::string chunked = head + "Transfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 4; ++i) chunked += "8000\r\n" + std::string(0x8000, '0') + "\r\n";
  chunked += "0\r\n\r\n";
  r = server.Request(chunked);
  EXPECT_EQ(r.status, 413) << r.head;
  // git fails to push a pack past the limit.
  auto g = server.Shell("git init -q b && cd b && head -c 300000 /dev/urandom > f && git add f && "
                        "git commit -qm big && git push " + Quote(server.AuthUrl("demo")) + " HEAD:main");
  EXPECT_NE(g.exit_code, 0) << g.output;
  auto ls = server.Git("ls-remote " + Quote(server.AuthUrl("demo")));
  EXPECT_EQ(ls.exit_code, 0) << ls.output;
  EXPECT_EQ(ls.output.find("refs/heads/main"), std::string::npos);
  // A small push still works.
  g = server.Shell("git init -q s && cd s && git commit -q --allow-empty -m s && git push -q " +
                   Quote(server.AuthUrl("demo")) + " HEAD:main");
  EXPECT_EQ(g.exit_code, 0) << g.output << server.Log();
}

TEST(HttpLimitsTest, SilentClientIsDisconnected) {
  MirrorOptions options;
  options.limits_yaml = "  idle_timeout: 2s\n";
  MirrorServer server(options);
  ASSERT_TRUE(server.Start().ok()) << server.Log();
  // Half a header, then nothing: the server closes the connection (RawHttp
  // returns on close; its own timeout is far longer).
  auto start = std::chrono::steady_clock::now();
  HttpResponse r = RawHttp(server.port(), "GET /healthz HTTP/1.1\r\nHost: t\r\n", std::chrono::seconds(60));
  EXPECT_EQ(r.status, 0);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(50));
}

TEST(HttpLimitsTest, PerIdentityConcurrencyIs429) {
  MirrorOptions options;
  options.limits_yaml = "  max_concurrent: 4\n  max_concurrent_per_identity: 1\n";
  MirrorServer server(options);
  ASSERT_TRUE(server.Start().ok()) << server.Log();
  std::string gate = server.dir() + "/gate";
  std::string started = server.dir() + "/hook-started";
  testing::WriteFile(gate, "");
  // The hook says it runs (the push's POST is then in flight, not just its
  // first GET), and holds the push open until the gate file goes (at most 30 s).
  server.InstallHook("demo", "pre-receive",
                     "#!/bin/sh\ntouch " + started + "\ni=0\nwhile [ -e " + gate +
                         " ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done\nexit 0\n");
  testing::RunResult push;
  std::thread pusher([&] {
    push = server.Shell("git init -q p && cd p && git commit -q --allow-empty -m p && git push -q " +
                        Quote(server.AuthUrl("demo")) + " HEAD:main");
  });
  // Wait until the push's hook runs.
  bool in_flight = false;
  for (int i = 0; i < 400 && !in_flight; ++i) {
    in_flight = ::access(started.c_str(), F_OK) == 0;
    if (!in_flight) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (!in_flight) {
    ::unlink(gate.c_str());
    pusher.join();
    FAIL() << "the push's hook never ran: " << push.output << server.Log();
  }
  EXPECT_NE(server.Request(Get("/metrics")).body.find("agentgate_http_in_flight 1"), std::string::npos);
  HttpResponse r = server.Request(Get("/demo.git/info/refs?service=git-upload-pack",
                                      "Authorization: Bearer " + server.token() + "\r\n"));
  EXPECT_EQ(r.status, 429) << r.head;
  EXPECT_NE(r.head.find("Retry-After"), std::string::npos);
  ::unlink(gate.c_str());
  pusher.join();
  EXPECT_EQ(push.exit_code, 0) << push.output;
  // The client can finish before the server has reaped the child and freed
  // the slot: the slot must come back, within a bounded wait.
  for (int i = 0; i < 100; ++i) {
    r = server.Request(Get("/demo.git/info/refs?service=git-upload-pack",
                           "Authorization: Bearer " + server.token() + "\r\n"));
    if (r.status != 429) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(r.status, 200);
}

TEST(HttpLifecycleTest, SigtermStopsCleanlyAndBadConfigExits2) {
  MirrorServer server;
  ASSERT_TRUE(server.Start().ok()) << server.Log();
  EXPECT_NE(server.Stdout().find("listening on 127.0.0.1:" + std::to_string(server.port())), std::string::npos);
  EXPECT_EQ(server.Stop(), 0) << server.Log();
  testing::WriteFile(server.dir() + "/bad.yaml", "listen: [oops\nnot_a_key: 1\n");
  auto r = testing::Sh(std::string(AG_BIN_DIR) + "/agentgate-mirror --config " + server.dir() + "/bad.yaml");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("bad configuration"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace ag::e2e
