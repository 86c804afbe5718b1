// OIDC discovery over real HTTPS: an openssl s_server on 127.0.0.1 serves
// /.well-known/openid-configuration and the JWKS; keys are fetched, cached,
// refreshed on an unknown kid at most once per interval, and TLS is verified.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

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
    options_.on_fetch_error = [this](const Status& s) {
      std::lock_guard<std::mutex> lock(mu_);
      fetch_errors_.push_back(s.ToString());
    };
  }

  std::unique_ptr<OidcIssuer> MakeIssuer() {
    auto issuer = OidcIssuer::Create(config_, options_);
    EXPECT_TRUE(issuer.ok()) << issuer.status().ToString();
    return issuer.ok() ? std::move(issuer).value() : nullptr;
  }

  std::string Token(const TestKey& key, const std::string& kid, int64_t now) const {
    json claims = {{"iss", issuer_}, {"aud", "agentgate"}, {"sub", "agent-1"},
                   {"iat", now},     {"exp", now + 600}};
    return SignJwt(key, {{"alg", key.kty == "RSA" ? "RS256" : "ES256"}, {"kid", kid}}, claims);
  }

  // Verifies through the issuer directly, so fetch_count() can be watched.
  Status Verify(const OidcIssuer& issuer, const std::string& token, int64_t now) {
    Result<Jwt> jwt = ParseJwt(token);
    if (!jwt.ok()) return jwt.status();
    return issuer.Verify(*jwt, At(now)).status();
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
  std::mutex mu_;
  std::vector<std::string> fetch_errors_;
};

TestKey* DiscoveryTest::k1_ = nullptr;
TestKey* DiscoveryTest::k2_ = nullptr;

TEST_F(DiscoveryTest, FetchesKeysLazilyAndCachesThem) {
  auto issuer = MakeIssuer();
  EXPECT_EQ(issuer->fetch_count(), 0u);  // nothing fetched at Create
  EXPECT_TRUE(Verify(*issuer, Token(*k1_, "k1", kT0), kT0).ok()) << server_.log();
  EXPECT_EQ(issuer->fetch_count(), 1u);
  for (int i = 1; i <= 5; ++i) {
    EXPECT_TRUE(Verify(*issuer, Token(*k1_, "k1", kT0 + i), kT0 + i).ok());
  }
  EXPECT_EQ(issuer->fetch_count(), 1u);
  // Cached keys keep working when the issuer goes away.
  server_.Stop();
  EXPECT_TRUE(Verify(*issuer, Token(*k1_, "k1", kT0 + 10), kT0 + 10).ok());
  EXPECT_TRUE(Errors().empty());
}

TEST_F(DiscoveryTest, ThroughTheAuthenticator) {
  config::Config config;
  config.oidc.push_back(config_);
  auto auth = Authenticator::Create(config, options_);
  ASSERT_TRUE(auth.ok()) << auth.status().ToString();
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

  // Once the interval has passed, the unknown kid triggers one refetch.
  EXPECT_TRUE(Verify(*issuer, Token(*k2_, "k2", kT0 + 61), kT0 + 61).ok());
  EXPECT_EQ(issuer->fetch_count(), 2u);
  EXPECT_TRUE(Verify(*issuer, Token(*k1_, "k1", kT0 + 62), kT0 + 62).ok());
  EXPECT_FALSE(Verify(*issuer, Token(*k2_, "bogus", kT0 + 63), kT0 + 63).ok());
  EXPECT_EQ(issuer->fetch_count(), 2u);
  EXPECT_FALSE(Verify(*issuer, Token(*k2_, "bogus", kT0 + 130), kT0 + 130).ok());
  EXPECT_EQ(issuer->fetch_count(), 3u);
  EXPECT_TRUE(Errors().empty());
}

TEST_F(DiscoveryTest, RemovedKeysStopWorkingAfterMaxAge) {
  options_.jwks_max_age = std::chrono::seconds(300);
  auto issuer = MakeIssuer();
  ASSERT_TRUE(Verify(*issuer, Token(*k1_, "k1", kT0), kT0).ok()) << server_.log();
  server_.Put("keys/jwks.json", Jwks({k2_}));  // k1 revoked
  EXPECT_TRUE(Verify(*issuer, Token(*k1_, "k1", kT0 + 100), kT0 + 100).ok());  // still cached
  EXPECT_EQ(Verify(*issuer, Token(*k1_, "k1", kT0 + 301), kT0 + 301).message(),
            "unknown signing key");
  EXPECT_TRUE(Verify(*issuer, Token(*k2_, "k2", kT0 + 302), kT0 + 302).ok());
}

TEST_F(DiscoveryTest, TlsIsVerified) {
  config_.ca_file.clear();  // the system store does not trust the test certificate
  auto issuer = MakeIssuer();
  EXPECT_EQ(Verify(*issuer, Token(*k1_, "k1", kT0), kT0).message(), "unknown signing key");
  ASSERT_EQ(Errors().size(), 1u);
  EXPECT_THAT(Errors()[0], HasSubstr("certificate"));
  // A failed fetch is rate limited too.
  EXPECT_FALSE(Verify(*issuer, Token(*k1_, "k1", kT0 + 1), kT0 + 1).ok());
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
  EXPECT_EQ(Verify(*issuer, Token(*k1_, "k1", kT0), kT0).message(), "unknown signing key");
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
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      if (Verify(*issuer, Token(*k1_, i % 2 ? "k1" : "nope", kT0), kT0).ok()) ++ok;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 4);
  EXPECT_EQ(issuer->fetch_count(), 1u);
}

}  // namespace
}  // namespace ag::identity
