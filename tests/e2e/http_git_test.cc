// agentgate-mirror with the real git client over real HTTP: clone, fetch and
// push (protocol v0 and v2), a large push through the probe + chunked path,
// concurrent clones and pushes, the identity the hook sees, TLS.
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "e2e/fixture.h"
#include "util/signed_env.h"

namespace ag::e2e {
namespace {

using testing::Quote;

class HttpGitTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(server_.Start().ok()) << server_.Log(); }
  void TearDown() override {
    if (HasFailure()) std::fprintf(stderr, "--- server log ---\n%s\n", server_.Log().c_str());
  }
  static MirrorOptions Options() {
    MirrorOptions options;
    options.limits_yaml = "  max_concurrent: 64\n  max_concurrent_per_identity: 32\n";
    return options;
  }
  MirrorServer server_{Options()};
};

TEST_F(HttpGitTest, CloneFetchPushWithProtocolV0AndV2) {
  for (const char* version : {"0", "2"}) {
    std::string v = std::string("-c protocol.version=") + version + " ";
    std::string w = std::string("w") + version;
    auto r = server_.Git(v + "clone " + Quote(server_.AuthUrl("demo")) + " " + w);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    r = server_.Shell("cd " + w + " && echo " + version + " > f" + version + " && git add . && git commit -qm v" +
                      version + " && git " + v + "push -q origin HEAD:main");
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  // Both pushes landed, in order; a v2 fetch in the first clone sees the second.
  auto r = server_.Git("-c protocol.version=2 fetch -q origin", "w0");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = server_.Git("log --format=%s origin/main", "w0");
  EXPECT_EQ(r.output, "v2\nv0\n");
  // v0 ls-remote with a Bearer header instead of Basic credentials.
  r = server_.Git("-c protocol.version=0 " + server_.BearerConfig() + " ls-remote " + Quote(server_.Url("demo")));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("refs/heads/main"), std::string::npos);
  // The request log names the identity and never the token.
  std::string log = server_.Log();
  EXPECT_NE(log.find("event=request"), std::string::npos);
  EXPECT_NE(log.find("identity=agent-ci"), std::string::npos);
  EXPECT_EQ(log.find(server_.token()), std::string::npos);
}

TEST_F(HttpGitTest, LargePushAndCloneBack) {
  auto r = server_.Git("clone -q " + Quote(server_.AuthUrl("demo")) + " big");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // 30 MB of random data: over git's 1 MiB post buffer, so git sends the
  // 4-byte probe and then a chunked body without Content-Length.
  r = server_.Shell("cd big && head -c 31457280 /dev/urandom > blob.bin && git add blob.bin && git commit -qm big && "
                    "git push -q origin HEAD:main && sha256sum blob.bin");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::string sum = r.output.substr(0, 64);
  r = server_.Git("clone -q " + Quote(server_.AuthUrl("demo")) + " back");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = server_.Shell("cd back && sha256sum blob.bin");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output.substr(0, 64), sum);
  // The server saw the big body (bytes_in counts request body bytes).
  std::string log = server_.Log();
  bool big_request = false;
  for (size_t pos = log.find("bytes_in="); pos != std::string::npos; pos = log.find("bytes_in=", pos + 1)) {
    if (std::stoull(log.substr(pos + 9)) > 30000000) big_request = true;
  }
  EXPECT_TRUE(big_request);
}

TEST_F(HttpGitTest, ConcurrentPushesAndClones) {
  auto r = server_.Shell("git init -q seed && cd seed && echo base > base && git add . && git commit -qm base && "
                         "git push -q " + Quote(server_.AuthUrl("demo")) + " HEAD:main");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  constexpr int kPushes = 8;
  constexpr int kClones = 4;
  std::vector<testing::RunResult> results(kPushes + kClones);
  std::vector<std::thread> threads;
  for (int i = 0; i < kPushes; ++i) {
    threads.emplace_back([&, i] {
      std::string d = "p" + std::to_string(i);
      results[i] = server_.Shell("git clone -q " + Quote(server_.AuthUrl("demo")) + " " + d + " && cd " + d +
                                 " && head -c 200000 /dev/urandom > f && git add f && git commit -qm " + d +
                                 " && git push -q origin HEAD:refs/heads/b" + std::to_string(i));
    });
  }
  for (int i = 0; i < kClones; ++i) {
    threads.emplace_back([&, i] {
      results[kPushes + i] = server_.Git("clone -q " + Quote(server_.AuthUrl("demo")) + " c" + std::to_string(i));
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& res : results) EXPECT_EQ(res.exit_code, 0) << res.output;
  r = server_.Git("ls-remote " + Quote(server_.AuthUrl("demo")));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (int i = 0; i < kPushes; ++i) {
    EXPECT_NE(r.output.find("refs/heads/b" + std::to_string(i) + "\n"), std::string::npos) << r.output;
  }
}

// A burst like bench/http's 50 concurrent pushes, with a hook that keeps
// each receive-pack busy for a moment: the daemon must keep serving (its
// event loop never blocks on a child) and every push must land. Each push
// runs under `timeout`, so a stalled daemon fails the test instead of
// hanging it.
TEST(HttpBurstTest, BurstOfConcurrentPushesAllLand) {
  MirrorOptions options;
  options.limits_yaml = "  max_concurrent: 256\n  max_concurrent_per_identity: 128\n";
  MirrorServer server_(options);
  ASSERT_TRUE(server_.Start().ok()) << server_.Log();
  auto r = server_.Shell("git init -q seed && cd seed && echo base > base && git add . && git commit -qm base && "
                         "git push -q " + Quote(server_.AuthUrl("demo")) + " HEAD:main");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  server_.InstallHook("demo", "pre-receive", "#!/bin/sh\ncat >/dev/null\nsleep 0.2\nexit 0\n");
  constexpr int kPushes = 40;
  for (int i = 0; i < kPushes; ++i) {
    r = server_.Shell("git clone -q " + Quote(server_.AuthUrl("demo")) + " q" + std::to_string(i) +
                      " && cd q" + std::to_string(i) + " && git commit -q --allow-empty -m q" + std::to_string(i));
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  std::vector<testing::RunResult> results(kPushes);
  std::vector<std::thread> threads;
  for (int i = 0; i < kPushes; ++i) {
    threads.emplace_back([&, i] {
      results[i] = server_.Shell("cd q" + std::to_string(i) + " && timeout 120 git push -q origin HEAD:refs/heads/q" +
                                 std::to_string(i));
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& res : results) EXPECT_EQ(res.exit_code, 0) << res.output;
  auto health = server_.Request("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(health.status, 200);
  r = server_.Git("ls-remote " + Quote(server_.AuthUrl("demo")));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (int i = 0; i < kPushes; ++i) {
    EXPECT_NE(r.output.find("refs/heads/q" + std::to_string(i) + "\n"), std::string::npos);
  }
  // Every git-http-backend child was reaped: none is left a zombie.
  auto zombies = testing::Sh("ps --ppid " + std::to_string(server_.pid()) + " -o stat= | grep -c Z");
  EXPECT_EQ(zombies.output, "0\n") << zombies.output;
}

TEST_F(HttpGitTest, HookSeesTheAuthenticatedIdentityOnly) {
  std::string out = server_.dir() + "/hook.env";
  server_.InstallHook("demo", "pre-receive",
                      "#!/bin/sh\nenv | grep -E '^(AGENTGATE_|REMOTE_USER=)' | sort > " + out +
                          "\nls -l /proc/$$/fd /proc/$PPID/fd 2>/dev/null | grep -c socket: > " + out +
                          ".sockets\nexit 0\n");
  // Headers a client might try to forge the identity with.
  std::string forge = "-c http.extraHeader='Remote-User: mallory' -c http.extraHeader='X-Agentgate-Identity: mallory' "
                      "-c http.extraHeader='Agentgate-Identity: mallory' ";
  auto r = server_.Shell("git init -q h && cd h && git commit -q --allow-empty -m one && git " + forge + "push -q " +
                         Quote(server_.AuthUrl("demo")) + " HEAD:main");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::string env = testing::ReadFileOrEmpty(out);
  EXPECT_NE(env.find("AGENTGATE_IDENTITY=agent-ci\n"), std::string::npos) << env;
  EXPECT_NE(env.find("REMOTE_USER=agent-ci\n"), std::string::npos) << env;
  EXPECT_NE(env.find("AGENTGATE_GROUPS=agents\n"), std::string::npos) << env;
  EXPECT_NE(env.find("AGENTGATE_REPO=demo\n"), std::string::npos) << env;
  EXPECT_NE(env.find("AGENTGATE_CONFIG=" + server_.ConfigPath() + "\n"), std::string::npos) << env;
  EXPECT_NE(env.find("AGENTGATE_REQUEST_ID="), std::string::npos) << env;
  EXPECT_EQ(env.find("mallory"), std::string::npos) << env;
  // No socket of the server leaks into http-backend, receive-pack or the hook.
  EXPECT_EQ(testing::ReadFileOrEmpty(out + ".sockets"), "0\n");

  // The envelope verifies with the server key.
  Result<std::string> key = LoadOrCreateServerKey(server_.ServerKeyPath());
  ASSERT_TRUE(key.ok());
  std::map<std::string, std::string> vars;
  size_t start = 0;
  while (start < env.size()) {
    size_t nl = env.find('\n', start);
    std::string line = env.substr(start, nl - start);
    size_t eq = line.find('=');
    if (eq != std::string::npos) vars[line.substr(0, eq)] = line.substr(eq + 1);
    start = nl == std::string::npos ? env.size() : nl + 1;
  }
  for (const char* name : {"AGENTGATE_IDENTITY", "AGENTGATE_GROUPS", "AGENTGATE_REQUEST_ID",
                           "AGENTGATE_METHOD", "AGENTGATE_CLAIMS", "AGENTGATE_SIGNATURE"}) {
    ::setenv(name, vars[name].c_str(), 1);
  }
  Result<SignedIdentity> verified = VerifyIdentityEnv(*key);
  EXPECT_TRUE(verified.ok()) << verified.status().ToString();
}

TEST(HttpTlsTest, CloneAndPushOverTls) {
  MirrorOptions options;
  options.tls = true;
  MirrorServer server(options);
  ASSERT_TRUE(server.Start().ok()) << server.Log();
  auto r = server.Shell("git init -q t && cd t && echo tls > f && git add f && git commit -qm tls && git push -q " +
                        Quote(server.AuthUrl("demo")) + " HEAD:main");
  ASSERT_EQ(r.exit_code, 0) << r.output << server.Log();
  r = server.Git("clone -q " + Quote(server.AuthUrl("demo")) + " back");
  ASSERT_EQ(r.exit_code, 0) << r.output << server.Log();
  EXPECT_EQ(testing::ReadFileOrEmpty(server.dir() + "/work/back/f"), "tls\n");
  // Without the CA, git refuses the self-signed certificate.
  r = testing::Sh("cd " + server.dir() + " && HOME=" + server.dir() + "/home GIT_TERMINAL_PROMPT=0 git ls-remote " +
                  Quote(server.AuthUrl("demo")));
  EXPECT_NE(r.exit_code, 0);
}

// What `openssl s_client` gets from the listener with these arguments: the
// "New, <protocol>, Cipher is <suite>" line (and the session block's
// "Protocol"/"Cipher" lines, which TLS 1.3 prints only once a ticket came),
// or "" when the handshake fails.
std::string Handshake(MirrorServer& server, const std::string& args) {
  auto r = testing::Sh("echo | timeout 10 openssl s_client -connect 127.0.0.1:" +
                       std::to_string(server.port()) + " -servername localhost " + args +
                       " 2>&1 | grep -E '^New,|^ *(Protocol|Cipher) *:' | tr -s ' '");
  std::string out = r.output;
  if (out.find("Cipher : 0000") != std::string::npos || out.find("(NONE)") != std::string::npos) {
    return "";
  }
  return out;
}

// The SHA-256 fingerprint of the certificate the listener presents.
std::string ServedFingerprint(MirrorServer& server) {
  return testing::Sh("echo | timeout 10 openssl s_client -connect 127.0.0.1:" +
                     std::to_string(server.port()) +
                     " -servername localhost 2>/dev/null | openssl x509 -noout -fingerprint "
                     "-sha256")
      .output;
}

std::string FileFingerprint(const std::string& pem) {
  return testing::Sh("openssl x509 -noout -fingerprint -sha256 -in " + pem).output;
}

TEST(HttpTlsTest, OnlyForwardSecretAeadSuites) {
  MirrorOptions options;
  options.tls = true;
  MirrorServer server(options);
  ASSERT_TRUE(server.Start().ok()) << server.Log();
  // TLS 1.3 with its default suites; TLS 1.2 with ECDHE + AEAD.
  EXPECT_NE(Handshake(server, "-tls1_3").find("TLSv1.3"), std::string::npos)
      << testing::Sh("echo | timeout 10 openssl s_client -connect 127.0.0.1:" +
                     std::to_string(server.port()) + " -servername localhost -tls1_3 2>&1")
             .output
      << server.Log();
  for (const char* ok : {"ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384",
                         "ECDHE-RSA-CHACHA20-POLY1305"}) {
    std::string got = Handshake(server, std::string("-tls1_2 -cipher ") + ok);
    EXPECT_NE(got.find(ok), std::string::npos) << ok << ": " << got;
  }
  // Refused: CBC, static RSA key exchange, finite-field DHE, old protocols.
  for (const char* bad : {"AES128-SHA", "AES256-SHA", "AES128-GCM-SHA256", "AES256-SHA256",
                          "ECDHE-RSA-AES128-SHA", "ECDHE-RSA-AES256-SHA384",
                          "DHE-RSA-AES128-GCM-SHA256"}) {
    EXPECT_EQ(Handshake(server, std::string("-tls1_2 -cipher ") + bad), "") << bad;
  }
  // OpenSSL 3 refuses TLS 1.0/1.1 at its default security level on the client
  // side too; @SECLEVEL=0 makes the client offer them, so the refusal is ours.
  for (const char* old : {"-tls1", "-tls1_1"}) {
    EXPECT_EQ(Handshake(server, std::string(old) + " -cipher DEFAULT@SECLEVEL=0"), "") << old;
  }
  // The server still serves (a refused handshake is not a crash).
  auto r = server.Git("ls-remote " + Quote(server.AuthUrl("demo")));
  EXPECT_EQ(r.exit_code, 0) << r.output << server.Log();
}

TEST(HttpTlsTest, SighupReloadsTheCertificateAndNeverStops) {
  MirrorOptions options;
  options.tls = true;
  MirrorServer server(options);
  ASSERT_TRUE(server.Start().ok()) << server.Log();
  const std::string cert = server.dir() + "/cert.pem", key = server.dir() + "/key.pem";
  std::string first = FileFingerprint(cert);
  ASSERT_FALSE(first.empty());
  EXPECT_EQ(ServedFingerprint(server), first);

  // A renewed certificate (new key too), then SIGHUP: served from then on.
  auto r = testing::Sh("openssl req -x509 -newkey rsa:2048 -nodes -keyout " + key + " -out " +
                       cert + " -days 3 -subj /CN=localhost -addext subjectAltName=DNS:localhost");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::string second = FileFingerprint(cert);
  ASSERT_NE(second, first);
  ASSERT_EQ(::kill(server.pid(), SIGHUP), 0);
  std::string served;
  for (int i = 0; i < 100 && served != second; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    served = ServedFingerprint(server);
  }
  EXPECT_EQ(served, second) << server.Log();
  EXPECT_NE(server.Log().find("tls_reloaded"), std::string::npos) << server.Log();
  r = server.Git("ls-remote " + Quote(server.AuthUrl("demo")));
  EXPECT_EQ(r.exit_code, 0) << r.output << server.Log();

  // A broken certificate file: the reload fails, logged, and the previous
  // certificate is still served; so is a key that does not match it.
  const std::string served_pem = server.dir() + "/served.pem";
  ASSERT_EQ(testing::Sh("cp " + cert + " " + served_pem).exit_code, 0);
  testing::WriteFile(cert, "-----BEGIN CERTIFICATE-----\nnot a certificate\n");
  ASSERT_EQ(::kill(server.pid(), SIGHUP), 0);
  for (int i = 0; i < 100 && server.Log().find("tls_reload_failed") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_NE(server.Log().find("tls_reload_failed"), std::string::npos) << server.Log();
  EXPECT_EQ(ServedFingerprint(server), second);
  // (git's CA file is the broken cert.pem now: curl with the served copy.)
  r = testing::Sh("curl -sS --cacert " + served_pem + " https://localhost:" +
                  std::to_string(server.port()) + "/healthz");
  EXPECT_EQ(r.output, "ok\n") << server.Log();
  EXPECT_EQ(::kill(server.pid(), 0), 0);  // still running
  EXPECT_EQ(server.Log().find("event=shutdown"), std::string::npos) << server.Log();
}

}  // namespace
}  // namespace ag::e2e
