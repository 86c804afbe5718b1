// OIDC discovery over real HTTPS: an openssl s_server on 127.0.0.1 serves
// /.well-known/openid-configuration and the JWKS; keys are fetched by the
// issuer's own thread (at once, then when old or on an unknown kid, at most
// once per interval, sooner after a failure), TLS is verified, keys past
// jwks_max_stale fail closed, and no Verify ever waits for the network. The
// cache's clock is the test's: it follows the times passed to Verify.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <csignal>
#include <mutex>

#include "identity/https_get.h"
#include "identity/identity.h"
#include "identity/oidc.h"
#include "identity/test_keys.h"
#include "identity/tls_server.h"

namespace ag::identity {
namespace {

using ::testing::HasSubstr;
using namespace ag::identity::testing;

constexpr int64_t kT0 = 1800000000;

std::chrono::system_clock::time_point At(int64_t seconds) {
  return std::chrono::system_clock::time_point(std::chrono::seconds(seconds));
}

class DiscoveryTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    k1_ = new TestKey(MakeRsaKey("k1"));
    k2_ = new TestKey(MakeEcKey("k2"));
  }
  static void TearDownTestSuite() {
    delete k1_;
    delete k2_;
  }

  void SetUp() override {
    ASSERT_TRUE(server_.ok()) << server_.log();
    issuer_ = server_.base_url();
    server_.Put(".well-known/openid-configuration",
                json{{"issuer", issuer_}, {"jwks_uri", issuer_ + "/keys/jwks.json"}}.dump());
    server_.Put("keys/jwks.json", Jwks({k1_}));
    config_.issuer = issuer_;
    config_.audiences = {"agentgate"};
    config_.discovery = true;
    config_.ca_file = server_.ca_file();
    options_.on_fetch = [this](const std::string& issuer, const Status& s) {
      EXPECT_EQ(issuer, issuer_);
      std::lock_guard<std::mutex> lock(mu_);
      if (!s.ok()) fetch_errors_.push_back(s.ToString());
    };
    clock_ = kT0;
    options_.clock = [this] { return At(clock_.load()); };
  }

  // The issuer, its first fetch (queued by Create) finished.
  std::unique_ptr<OidcIssuer> MakeIssuer() {
    auto issuer = OidcIssuer::Create(config_, options_);
    EXPECT_TRUE(issuer.ok()) << issuer.status().ToString();
    if (!issuer.ok()) return nullptr;
    EXPECT_TRUE((*issuer)->WaitForFetches(std::chrono::seconds(30)));
    return std::move(issuer).value();
  }

  std::string Token(const TestKey& key, const std::string& kid, int64_t now) const {
    json claims = {{"iss", issuer_}, {"aud", "agentgate"}, {"sub", "agent-1"},
                   {"iat", now},     {"exp", now + 600}};
    return SignJwt(key, {{"alg", key.kty == "RSA" ? "RS256" : "ES256"}, {"kid", kid}}, claims);
  }

  // Verifies through the issuer directly, so fetch_count() can be watched;
  // the cache's clock is moved to `now` first.
  Status Verify(const OidcIssuer& issuer, const std::string& token, int64_t now) {
    clock_ = now;
    Result<Jwt> jwt = ParseJwt(token);
    if (!jwt.ok()) return jwt.status();
    return issuer.Verify(*jwt, At(now)).status();
  }
  // Verify, then (when it queued a fetch) the same once that fetch is done.
  Status VerifyAfterFetch(const OidcIssuer& issuer, const std::string& token, int64_t now) {
    Status first = Verify(issuer, token, now);
    EXPECT_TRUE(issuer.WaitForFetches(std::chrono::seconds(30)));
    return first.code() == Code::kUnavailable ? Verify(issuer, token, now) : first;
  }

  std::vector<std::string> Errors() {
    std::lock_guard<std::mutex> lock(mu_);
    return fetch_errors_;
  }

  static TestKey* k1_;
  static TestKey* k2_;
  TlsServer server_;
  std::string issuer_;
  config::OidcConfig config_;
  AuthenticatorOptions options_;
  std::atomic<int64_t> clock_{kT0};
  std::mutex mu_;
  std::vector<std::string> fetch_errors_;
};

TestKey* DiscoveryTest::k1_ = nullptr;
TestKey* DiscoveryTest::k2_ = nullptr;

TEST_F(DiscoveryTest, FetchesKeysAtOnceAndCachesThem) {
  auto issuer = MakeIssuer();
  EXPECT_EQ(issuer->fetch_count(), 1u);  // queued by Create, before any token
  for (int i = 0; i <= 5; ++i) {
    EXPECT_TRUE(Verify(*issuer, Token(*k1_, "k1", kT0 + i), kT0 + i).ok()) << server_.log();
  }
  EXPECT_EQ(issuer->fetch_count(), 1u);
  // Cached keys keep working when the issuer goes away (within jwks_max_age).
  server_.Stop();
  EXPECT_TRUE(Verify(*issuer, Token(*k1_, "k1", kT0 + 10), kT0 + 10).ok());
  EXPECT_TRUE(Errors().empty());
}

TEST_F(DiscoveryTest, ThroughTheAuthenticator) {
  config::Config config;
  config.oidc.push_back(config_);
  std::atomic<int> fetched{0};
  options_.on_fetch = [&](const std::string&, const Status& s) { fetched += s.ok(); };
  auto auth = Authenticator::Create(config, options_);
  ASSERT_TRUE(auth.ok()) << auth.status().ToString();
  for (int i = 0; i < 3000 && fetched.load() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  auto id = (*auth)->Authenticate("Bearer " + Token(*k1_, "k1", kT0), At(kT0));
  ASSERT_TRUE(id.ok()) << id.status().ToString() << "\n" << server_.log();
  EXPECT_EQ(id->name, "agent-1");
  EXPECT_EQ(id->method, "oidc");
}

TEST_F(DiscoveryTest, UnknownKidRefreshesAtMostOncePerInterval) {
  auto issuer = MakeIssuer();
  ASSERT_TRUE(Verify(*issuer, Token(*k1_, "k1", kT0), kT0).ok()) << server_.log();
  ASSERT_EQ(issuer->fetch_count(), 1u);

  // The issuer rotates in k2; within the interval of the last fetch a token
  // signed with it is refused without asking the issuer again...
  server_.Put("keys/jwks.json", Jwks({k1_, k2_}));
  EXPECT_EQ(Verify(*issuer, Token(*k2_, "k2", kT0 + 1), kT0 + 1).message(),
            "unknown signing key");
  // ...and a flood of bogus kids costs nothing either.
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(Verify(*issuer, Token(*k2_, "bogus-" + std::to_string(i), kT0 + 2), kT0 + 2)
                  .message(),
              "unknown signing key");
  }
  EXPECT_EQ(issuer->fetch_count(), 1u);

  // Once the interval has passed, the unknown kid queues one refetch: "retry"
  // (503) while it runs, then accepted.
  Status first = Verify(*issuer, Token(*k2_, "k2", kT0 + 61), kT0 + 61);
  EXPECT_EQ(first.code(), Code::kUnavailable) << first.ToString();
  ASSERT_TRUE(issuer->WaitForFetches(std::chrono::seconds(30)));
  EXPECT_EQ(issuer->fetch_count(), 2u);
  EXPECT_TRUE(Verify(*issuer, Token(*k2_, "k2", kT0 + 61), kT0 + 61).ok());
  EXPECT_TRUE(Verify(*issuer, Token(*k1_, "k1", kT0 + 62), kT0 + 62).ok());
  EXPECT_EQ(Verify(*issuer, Token(*k2_, "bogus", kT0 + 63), kT0 + 63).message(),
            "unknown signing key");
  EXPECT_EQ(issuer->fetch_count(), 2u);
  EXPECT_FALSE(VerifyAfterFetch(*issuer, Token(*k2_, "bogus", kT0 + 130), kT0 + 130).ok());
  EXPECT_EQ(issuer->fetch_count(), 3u);
  EXPECT_TRUE(Errors().empty());
}

TEST_F(DiscoveryTest, RemovedKeysStopWorkingAfterMaxAge) {
  config_.jwks_max_age = std::chrono::seconds(300);
  auto issuer = MakeIssuer();
  ASSERT_TRUE(Verify(*issuer, Token(*k1_, "k1", kT0), kT0).ok()) << server_.log();
  server_.Put("keys/jwks.json", Jwks({k2_}));  // k1 revoked
  EXPECT_TRUE(Verify(*issuer, Token(*k1_, "k1", kT0 + 100), kT0 + 100).ok());  // still cached
  // Past max_age: still served from the cache while the refresh runs, never waiting...
  Verify(*issuer, Token(*k1_, "k1", kT0 + 301), kT0 + 301);
  ASSERT_TRUE(issuer->WaitForFetches(std::chrono::seconds(30)));
  EXPECT_EQ(issuer->fetch_count(), 2u);
  // ...and once it is done, k1 is gone.
  EXPECT_EQ(Verify(*issuer, Token(*k1_, "k1", kT0 + 302), kT0 + 302).message(),
            "unknown signing key");
  EXPECT_TRUE(Verify(*issuer, Token(*k2_, "k2", kT0 + 302), kT0 + 302).ok());
}

// Issue 19 row 3: k1 removed while the issuer is down must not stay trusted
// for weeks. Past jwks_max_stale without a successful fetch: 503, whatever
// the kid; the first fetch that works brings service back.
TEST_F(DiscoveryTest, IssuerDownPastMaxStaleFailsClosed) {
  config_.jwks_max_age = std::chrono::seconds(300);
  config_.jwks_max_stale = std::chrono::seconds(3600);
  auto issuer = MakeIssuer();
  ASSERT_TRUE(Verify(*issuer, Token(*k1_, "k1", kT0), kT0).ok()) << server_.log();
  server_.Put("keys/jwks.json", Jwks({k2_}));  // k1 revoked...
  server_.Stop();                               // ...and the issuer goes down
  // Within max_stale: the cached keys, and refreshes that fail (reported).
  for (int64_t t : {int64_t{301}, int64_t{1800}, int64_t{3599}}) {
    EXPECT_TRUE(Verify(*issuer, Token(*k1_, "k1", kT0 + t), kT0 + t).ok()) << t;
    ASSERT_TRUE(issuer->WaitForFetches(std::chrono::seconds(30)));
  }
  EXPECT_FALSE(Errors().empty());
  // +2 h, +7 days, +30 days: refused, 503 (Unavailable), never accepted.
  for (int64_t t : {int64_t{7200}, int64_t{7 * 86400}, int64_t{30 * 86400}}) {
    Status st = Verify(*issuer, Token(*k1_, "k1", kT0 + t), kT0 + t);
    EXPECT_EQ(st.code(), Code::kUnavailable) << t << " " << st.ToString();
    EXPECT_EQ(st.message(), "the signing keys of this issuer are out of date");
    ASSERT_TRUE(issuer->WaitForFetches(std::chrono::seconds(30)));
  }
}

// Issue 19 row 5: after an outage, valid tokens work again as soon as a
// retry succeeds (jwks_retry_after_failure, not a whole refresh interval).
TEST_F(DiscoveryTest, EarlyRetryAfterAFailedFetch) {
  server_.Put("keys/jwks.json", "not json");  // the JWKS endpoint is broken at start
  auto issuer = MakeIssuer();
  Status st = Verify(*issuer, Token(*k1_, "k1", kT0), kT0);
  EXPECT_EQ(st.code(), Code::kUnavailable) << st.ToString();  // 503, not 401
  EXPECT_EQ(st.message(), "the signing keys of this issuer are not available yet");
  ASSERT_EQ(Errors().size(), 1u);
  server_.Put("keys/jwks.json", Jwks({k1_}));  // the issuer recovers
  // 2 s after the failure: not yet (5 s); 6 s after: a retry, then accepted.
  EXPECT_EQ(Verify(*issuer, Token(*k1_, "k1", kT0 + 2), kT0 + 2).code(), Code::kUnavailable);
  ASSERT_TRUE(issuer->WaitForFetches(std::chrono::seconds(30)));
  EXPECT_EQ(issuer->fetch_count(), 1u);
  EXPECT_TRUE(VerifyAfterFetch(*issuer, Token(*k1_, "k1", kT0 + 6), kT0 + 6).ok());
  EXPECT_EQ(issuer->fetch_count(), 2u);
}

// Issue 19 row 4: a slow or hanging issuer never holds a Verify: tokens whose
// key is cached are answered at once, unknown kids get 503 at once.
TEST_F(DiscoveryTest, AHangingIssuerBlocksNoVerify) {
  auto issuer = MakeIssuer();
  ASSERT_TRUE(Verify(*issuer, Token(*k1_, "k1", kT0), kT0).ok());
  ASSERT_TRUE(server_.Pause());  // accepts TCP, never answers
  auto start = std::chrono::steady_clock::now();
  // Unknown kid past the interval: a fetch starts and hangs.
  Status st = Verify(*issuer, Token(*k2_, "forged", kT0 + 61), kT0 + 61);
  EXPECT_EQ(st.code(), Code::kUnavailable) << st.ToString();
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(Verify(*issuer, Token(*k2_, "forged-" + std::to_string(i), kT0 + 62), kT0 + 62)
                  .code(),
              Code::kUnavailable);
    EXPECT_TRUE(Verify(*issuer, Token(*k1_, "k1", kT0 + 62), kT0 + 62).ok());
  }
  // All of that while the fetch hangs (the fetch's own timeouts are 5 s + 10 s).
  EXPECT_FALSE(issuer->WaitForFetches(std::chrono::milliseconds(0)));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(4));
  // The fetch thread picks the queued fetch up when it is scheduled (CI found
  // it not yet started under load): one fetch, however many tokens asked.
  for (int i = 0; i < 300 && issuer->fetch_count() < 2u; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(issuer->fetch_count(), 2u);
  server_.Resume();
  // Destroying the issuer mid-fetch aborts the transfer (no 10 s join).
}

// Refreshes come without tokens too (reviewer finding: refreshing only on a
// token left the first one after a quiet spell longer than jwks_max_stale
// with 503). Real clock here: the fetch thread's timer is real time.
TEST_F(DiscoveryTest, KeysAreRefreshedWithoutTokens) {
  options_.clock = nullptr;
  config_.jwks_max_age = std::chrono::seconds(1);
  config_.jwks_max_stale = std::chrono::seconds(2);
  auto issuer = MakeIssuer();
  ASSERT_EQ(issuer->fetch_count(), 1u);
  server_.Put("keys/jwks.json", Jwks({k2_}));  // rotated while nobody pushes
  for (int i = 0; i < 100 && issuer->fetch_count() < 3; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_GE(issuer->fetch_count(), 3u);  // ~1 s apart, no Verify called
  ASSERT_TRUE(issuer->WaitForFetches(std::chrono::seconds(30)));
  int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  Result<Jwt> jwt = ParseJwt(Token(*k2_, "k2", now));
  ASSERT_TRUE(jwt.ok());
  EXPECT_TRUE(issuer->Verify(*jwt, At(now)).ok());  // the new key, first try
  EXPECT_TRUE(Errors().empty());
}

TEST_F(DiscoveryTest, TlsIsVerified) {
  config_.ca_file.clear();  // the system store does not trust the test certificate
  auto issuer = MakeIssuer();
  EXPECT_EQ(Verify(*issuer, Token(*k1_, "k1", kT0), kT0).message(),
            "the signing keys of this issuer are not available yet");
  ASSERT_EQ(Errors().size(), 1u);
  EXPECT_THAT(Errors()[0], HasSubstr("certificate"));
  EXPECT_THAT(Errors()[0], HasSubstr(issuer_));
  // A failed fetch is rate limited too.
  EXPECT_FALSE(Verify(*issuer, Token(*k1_, "k1", kT0 + 1), kT0 + 1).ok());
  ASSERT_TRUE(issuer->WaitForFetches(std::chrono::seconds(30)));
  EXPECT_EQ(issuer->fetch_count(), 1u);
}

TEST_F(DiscoveryTest, IpLiteralFailsTheNameCheck) {
  HttpsGetOptions http;
  http.ca_file = server_.ca_file();
  auto r = HttpsGet("https://127.0.0.1:" + std::to_string(server_.port()) + "/keys/jwks.json",
                    http);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  auto good = HttpsGet(server_.base_url() + "/keys/jwks.json", http);
  EXPECT_TRUE(good.ok()) << good.status().ToString();
}

TEST_F(DiscoveryTest, DiscoveryDocumentMustNameTheIssuer) {
  server_.Put(".well-known/openid-configuration",
              json{{"issuer", "https://evil.example"},
                   {"jwks_uri", issuer_ + "/keys/jwks.json"}}.dump());
  auto issuer = MakeIssuer();
  EXPECT_EQ(Verify(*issuer, Token(*k1_, "k1", kT0), kT0).code(), Code::kUnavailable);
  ASSERT_EQ(Errors().size(), 1u);
  EXPECT_THAT(Errors()[0], HasSubstr("\"issuer\" does not match"));
}

TEST_F(DiscoveryTest, JwksUriMustBeHttps) {
  server_.Put(".well-known/openid-configuration",
              json{{"issuer", issuer_}, {"jwks_uri", "http://localhost:1/jwks.json"}}.dump());
  auto issuer = MakeIssuer();
  EXPECT_FALSE(Verify(*issuer, Token(*k1_, "k1", kT0), kT0).ok());
  ASSERT_EQ(Errors().size(), 1u);
  EXPECT_THAT(Errors()[0], HasSubstr("non-https"));
}

TEST_F(DiscoveryTest, ResponseSizeIsBounded) {
  options_.max_http_response_bytes = 256;
  server_.Put("keys/jwks.json", Jwks({k1_}));  // an RSA JWK is larger than 256 bytes
  auto issuer = MakeIssuer();
  EXPECT_FALSE(Verify(*issuer, Token(*k1_, "k1", kT0), kT0).ok());
  ASSERT_EQ(Errors().size(), 1u);
  EXPECT_THAT(Errors()[0], HasSubstr("larger than 256 bytes"));
}

TEST_F(DiscoveryTest, ConcurrentUnknownKidsFetchOnce) {
  auto issuer = MakeIssuer();
  clock_ = kT0 + 61;
  std::vector<std::thread> threads;
  std::atomic<int> ok{0}, retry{0};
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      Result<Jwt> jwt = ParseJwt(Token(*k1_, i % 2 ? "k1" : "nope", kT0 + 61));
      ASSERT_TRUE(jwt.ok());
      Status st = issuer->Verify(*jwt, At(kT0 + 61)).status();
      if (st.ok()) ++ok;
      if (st.code() == Code::kUnavailable) ++retry;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 4);     // cached kid: never held by the fetch
  EXPECT_GE(retry.load(), 1);  // the first unknown kid queued the fetch
  ASSERT_TRUE(issuer->WaitForFetches(std::chrono::seconds(30)));
  EXPECT_EQ(issuer->fetch_count(), 2u);
}

}  // namespace
}  // namespace ag::identity
