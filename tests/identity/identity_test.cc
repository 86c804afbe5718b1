// Authenticator end to end, without network: static tokens and JWTs verified
// against a JWKS file, with keys generated and tokens signed in the test.
#include "identity/identity.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <thread>

#include "identity/base64.h"
#include "identity/test_keys.h"
#include "util/crypto.h"

namespace ag::identity {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::UnorderedElementsAre;
using namespace ag::identity::testing;

constexpr char kIssuer[] = "https://token.actions.example.com";
constexpr char kStaticToken[] = "ag_static-token-for-tests_0123456789";
constexpr int64_t kNow = 1800000000;

std::chrono::system_clock::time_point At(int64_t seconds) {
  return std::chrono::system_clock::time_point(std::chrono::seconds(seconds));
}

class IdentityTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    rsa_ = new TestKey(MakeRsaKey("rsa-1"));
    ec_ = new TestKey(MakeEcKey("ec-1"));
    ec384_ = new TestKey(MakeEcKey("ec-384", "P-384"));
    other_rsa_ = new TestKey(MakeRsaKey("rsa-1"));  // same kid, different key
  }
  static void TearDownTestSuite() {
    delete rsa_;
    delete ec_;
    delete ec384_;
    delete other_rsa_;
  }

  void SetUp() override {
    jwks_path_ = dir_.path() + "/jwks.json";
    std::ofstream(jwks_path_) << Jwks({rsa_, ec_, ec384_});
    config_.tokens.push_back({"agent-static", {"agents"}, Sha256Hex(kStaticToken)});
    config::OidcConfig oidc;
    oidc.issuer = kIssuer;
    oidc.audiences = {"agentgate", "other-aud"};
    oidc.jwks_file = jwks_path_;
    oidc.algorithms = {"RS256", "ES256"};
    oidc.identity_prefix = "gha:";
    oidc.groups = {"ci"};
    oidc.clock_skew = std::chrono::seconds(60);
    config_.oidc.push_back(oidc);
  }

  std::unique_ptr<Authenticator> Make() {
    auto auth = Authenticator::Create(config_);
    EXPECT_TRUE(auth.ok()) << auth.status().ToString();
    return auth.ok() ? std::move(auth).value() : nullptr;
  }

  static json Claims() {
    return {{"iss", kIssuer},
            {"aud", "agentgate"},
            {"sub", "repo:org/app:ref:refs/heads/main"},
            {"iat", kNow - 10},
            {"nbf", kNow - 10},
            {"exp", kNow + 300},
            {"repository", "org/app"},
            {"workflow", "ci"},
            {"run_id", 12345}};
  }
  static json Header(const TestKey& k, const std::string& alg) {
    return {{"alg", alg}, {"kid", k.kid}, {"typ", "JWT"}};
  }
  static std::string Rs256(const json& claims) { return SignJwt(*rsa_, Header(*rsa_, "RS256"), claims); }

  static std::string Bearer(const std::string& token) { return "Bearer " + token; }
  static std::string Basic(const std::string& user, const std::string& token) {
    return "Basic " + Base64Encode(user + ":" + token);
  }

  // The failure message for `authorization`, after checking it is a clean
  // Unauthenticated that does not echo the credential.
  std::string Refused(const std::string& authorization, int64_t now = kNow) {
    auto auth = Make();
    if (!auth) return "<no authenticator>";
    auto r = auth->Authenticate(authorization, At(now));
    EXPECT_FALSE(r.ok());
    if (r.ok()) return "<accepted as " + r->name + ">";
    EXPECT_EQ(r.status().code(), Code::kUnauthenticated);
    std::string token = authorization.substr(authorization.find(' ') + 1);
    if (token.size() > 8) {
      EXPECT_THAT(r.status().message(), Not(HasSubstr(token)));
    }
    return r.status().message();
  }

  static TestKey* rsa_;
  static TestKey* ec_;
  static TestKey* ec384_;
  static TestKey* other_rsa_;
  TempDir dir_;
  std::string jwks_path_;
  config::Config config_;
};

TestKey* IdentityTest::rsa_ = nullptr;
TestKey* IdentityTest::ec_ = nullptr;
TestKey* IdentityTest::ec384_ = nullptr;
TestKey* IdentityTest::other_rsa_ = nullptr;

// --- static tokens and header parsing ---

TEST_F(IdentityTest, StaticTokenAsBasicPasswordWithAnyUser) {
  auto auth = Make();
  for (std::string user : {"x-access-token", "git", ""}) {
    auto r = auth->Authenticate(Basic(user, kStaticToken), At(kNow));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->name, "agent-static");
    EXPECT_EQ(r->method, "token");
    EXPECT_THAT(r->groups, UnorderedElementsAre("agents"));
  }
}

TEST_F(IdentityTest, StaticTokenAsBearerAnyCaseScheme) {
  auto auth = Make();
  for (std::string scheme : {"Bearer ", "bearer ", "BEARER  "}) {
    auto r = auth->Authenticate(scheme + kStaticToken, At(kNow));
    ASSERT_TRUE(r.ok()) << scheme << r.status().ToString();
    EXPECT_EQ(r->name, "agent-static");
  }
  auto r = auth->Authenticate("basic " + Base64Encode(std::string("u:") + kStaticToken), At(kNow));
  EXPECT_TRUE(r.ok());
}

TEST_F(IdentityTest, StaticTokenPicksTheRightEntryAmongMany) {
  config_.tokens.insert(config_.tokens.begin(), {"first", {}, Sha256Hex("ag_first")});
  config_.tokens.push_back({"last", {"g"}, Sha256Hex("ag_last")});
  auto auth = Make();
  EXPECT_EQ(auth->Authenticate(Bearer("ag_first"), At(kNow))->name, "first");
  EXPECT_EQ(auth->Authenticate(Bearer("ag_last"), At(kNow))->name, "last");
  EXPECT_EQ(auth->Authenticate(Bearer(kStaticToken), At(kNow))->name, "agent-static");
}

TEST_F(IdentityTest, UpperCaseHashInConfigWorks) {
  std::string hex = Sha256Hex("ag_upper");
  for (char& c : hex) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  config_.tokens.push_back({"upper", {}, hex});
  EXPECT_EQ(Make()->Authenticate(Bearer("ag_upper"), At(kNow))->name, "upper");
}

TEST_F(IdentityTest, WrongStaticTokenRefused) {
  EXPECT_EQ(Refused(Bearer("ag_wrong-token-wrong-token")), "invalid token");
  EXPECT_EQ(Refused(Basic("git", "ag_wrong-token-wrong-token")), "invalid token");
  // A prefix or extension of the real token is not the token.
  EXPECT_EQ(Refused(Bearer(std::string(kStaticToken) + "x")), "invalid token");
}

TEST_F(IdentityTest, StaticTokenRefusedWhenNoneConfigured) {
  config_.tokens.clear();
  EXPECT_EQ(Refused(Bearer(kStaticToken)), "invalid token");
}

TEST_F(IdentityTest, MissingCredentialsRefused) {
  EXPECT_EQ(Refused(""), "no credentials");
  EXPECT_EQ(Refused("   "), "no credentials");
  EXPECT_EQ(Refused("Basic " + Base64Encode("git:")), "no token given as the password");
  EXPECT_EQ(Refused("Bearer"), "malformed Authorization header");
  EXPECT_EQ(Refused("Bearer "), "malformed Authorization header");
}

TEST_F(IdentityTest, MalformedHeaderRefused) {
  EXPECT_EQ(Refused("Basic !!!notbase64!!!"), "malformed Authorization header");
  EXPECT_EQ(Refused("Basic " + Base64Encode("no-colon-here")), "malformed Authorization header");
  EXPECT_EQ(Refused("Basic YWJj="), "malformed Authorization header");  // bad padding
  EXPECT_EQ(Refused("Bearer two words"), "malformed Authorization header");
  EXPECT_EQ(Refused("Bearer tok\x01" "en"), "malformed Authorization header");
  EXPECT_THAT(Refused("Digest username=x"), HasSubstr("unsupported authorization scheme"));
  EXPECT_THAT(Refused(kStaticToken), HasSubstr("unsupported authorization scheme"));
}

TEST_F(IdentityTest, OversizedHeaderRefused) {
  std::string big = "Bearer " + std::string(20000, 'a');
  EXPECT_EQ(Refused(big), "Authorization header too large");
  AuthenticatorOptions options;
  options.max_header_bytes = 64;
  auto auth = Authenticator::Create(config_, options);
  ASSERT_TRUE(auth.ok());
  EXPECT_FALSE((*auth)->Authenticate("Bearer " + std::string(60, 'a'), At(kNow)).ok());
  EXPECT_EQ((*auth)->Authenticate("Bearer " + std::string(60, 'a'), At(kNow)).status().message(),
            "Authorization header too large");
}

// --- JWTs against a JWKS file ---

TEST_F(IdentityTest, ValidRs256) {
  auto r = Make()->Authenticate(Bearer(Rs256(Claims())), At(kNow));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->name, "gha:repo:org/app:ref:refs/heads/main");
  EXPECT_EQ(r->method, "oidc");
  EXPECT_THAT(r->groups, UnorderedElementsAre("ci"));
  EXPECT_EQ(r->claims.at("repository"), "org/app");
  EXPECT_EQ(r->claims.at("workflow"), "ci");
  EXPECT_EQ(r->claims.at("iss"), kIssuer);
  EXPECT_EQ(r->claims.at("aud"), "agentgate");
  EXPECT_EQ(r->claims.count("run_id"), 0u);  // not a kept claim (and not a string)
}

TEST_F(IdentityTest, ValidEs256AsBasicPassword) {
  std::string jwt = SignJwt(*ec_, Header(*ec_, "ES256"), Claims());
  auto r = Make()->Authenticate(Basic("x-access-token", jwt), At(kNow));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->name, "gha:repo:org/app:ref:refs/heads/main");
}

TEST_F(IdentityTest, Es384WhenAllowed) {
  std::string jwt = SignJwt(*ec384_, Header(*ec384_, "ES384"), Claims());
  EXPECT_EQ(Refused(Bearer(jwt)), "algorithm not allowed");
  config_.oidc[0].algorithms = {"ES384"};
  EXPECT_TRUE(Make()->Authenticate(Bearer(jwt), At(kNow)).ok());
}

TEST_F(IdentityTest, Rs512WhenAllowed) {
  config_.oidc[0].algorithms = {"RS512"};
  std::string jwt = SignJwt(*rsa_, Header(*rsa_, "RS512"), Claims());
  EXPECT_TRUE(Make()->Authenticate(Bearer(jwt), At(kNow)).ok());
  EXPECT_EQ(Refused(Bearer(Rs256(Claims()))), "algorithm not allowed");
}

TEST_F(IdentityTest, AudienceArrayContainingOneConfigured) {
  json c = Claims();
  c["aud"] = {"somebody-else", "other-aud"};
  auto r = Make()->Authenticate(Bearer(Rs256(c)), At(kNow));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->claims.at("aud"), "other-aud");
}

TEST_F(IdentityTest, ExpiredRefused) {
  json c = Claims();
  c["exp"] = kNow - 61;  // beyond the 60 s skew
  EXPECT_EQ(Refused(Bearer(Rs256(c))), "token expired");
  c["exp"] = kNow - 30;  // within the skew: accepted
  EXPECT_TRUE(Make()->Authenticate(Bearer(Rs256(c)), At(kNow)).ok());
}

TEST_F(IdentityTest, MissingExpRefused) {
  json c = Claims();
  c.erase("exp");
  EXPECT_EQ(Refused(Bearer(Rs256(c))), "token has no expiry");
  c["exp"] = "tomorrow";
  EXPECT_EQ(Refused(Bearer(Rs256(c))), "malformed time claim");
}

TEST_F(IdentityTest, NotYetValidRefused) {
  json c = Claims();
  c["nbf"] = kNow + 120;
  EXPECT_EQ(Refused(Bearer(Rs256(c))), "token not yet valid");
}

TEST_F(IdentityTest, IssuedInTheFutureRefused) {
  json c = Claims();
  c["iat"] = kNow + 120;
  EXPECT_EQ(Refused(Bearer(Rs256(c))), "token issued in the future");
  c["iat"] = kNow + 30;  // clock skew tolerated
  EXPECT_TRUE(Make()->Authenticate(Bearer(Rs256(c)), At(kNow)).ok());
}

TEST_F(IdentityTest, WrongAudienceRefused) {
  json c = Claims();
  c["aud"] = "some-other-service";
  EXPECT_EQ(Refused(Bearer(Rs256(c))), "audience not accepted");
  c["aud"] = json::array({"x", "y"});
  EXPECT_EQ(Refused(Bearer(Rs256(c))), "audience not accepted");
  c.erase("aud");
  EXPECT_EQ(Refused(Bearer(Rs256(c))), "audience not accepted");
}

TEST_F(IdentityTest, WrongIssuerRefused) {
  json c = Claims();
  c["iss"] = "https://evil.example.com";
  EXPECT_EQ(Refused(Bearer(Rs256(c))), "issuer not accepted");
  c["iss"] = std::string(kIssuer) + "/";  // exact match only
  EXPECT_EQ(Refused(Bearer(Rs256(c))), "issuer not accepted");
  c.erase("iss");
  EXPECT_EQ(Refused(Bearer(Rs256(c))), "issuer not accepted");
}

TEST_F(IdentityTest, BadSignatureRefused) {
  std::string jwt = Rs256(Claims());
  size_t dot = jwt.rfind('.');
  std::string sig = *Base64UrlDecode(jwt.substr(dot + 1));
  sig[sig.size() / 2] ^= 0x01;
  EXPECT_EQ(Refused(Bearer(jwt.substr(0, dot + 1) + Base64UrlEncode(sig))),
            "signature does not verify");

  // Claims changed after signing.
  json c = Claims();
  c["sub"] = "repo:org/admin:ref:refs/heads/main";
  std::string forged = Segment(Header(*rsa_, "RS256")) + "." + Segment(c) + jwt.substr(dot);
  EXPECT_EQ(Refused(Bearer(forged)), "signature does not verify");

  // Signed by another key under the trusted kid.
  EXPECT_EQ(Refused(Bearer(SignJwt(*other_rsa_, Header(*rsa_, "RS256"), Claims()))),
            "signature does not verify");

  // ES256 with a flipped byte, and with a truncated signature.
  std::string es = SignJwt(*ec_, Header(*ec_, "ES256"), Claims());
  size_t edot = es.rfind('.');
  std::string esig = *Base64UrlDecode(es.substr(edot + 1));
  std::string flipped = esig;
  flipped[5] ^= 0x80;
  EXPECT_EQ(Refused(Bearer(es.substr(0, edot + 1) + Base64UrlEncode(flipped))),
            "signature does not verify");
  EXPECT_EQ(Refused(Bearer(es.substr(0, edot + 1) + Base64UrlEncode(esig.substr(0, 63)))),
            "signature does not verify");
}

TEST_F(IdentityTest, AlgNoneRefused) {
  json h = {{"alg", "none"}, {"kid", rsa_->kid}};
  std::string unsigned_jwt = Segment(h) + "." + Segment(Claims()) + ".";
  EXPECT_EQ(Refused(Bearer(unsigned_jwt)), "algorithm not allowed");
  h["alg"] = "None";
  EXPECT_EQ(Refused(Bearer(Segment(h) + "." + Segment(Claims()) + ".")), "algorithm not allowed");
  // none with a (meaningless) signature part attached.
  h["alg"] = "none";
  EXPECT_EQ(Refused(Bearer(Segment(h) + "." + Segment(Claims()) + ".c2ln")),
            "algorithm not allowed");
}

TEST_F(IdentityTest, Hs256WithThePublicKeyAsSecretRefused) {
  json h = {{"alg", "HS256"}, {"kid", rsa_->kid}};
  for (const std::string& secret : {rsa_->PublicPem(), rsa_->Jwk().dump(), ec_->PublicPem()}) {
    EXPECT_EQ(Refused(Bearer(SignHs256(secret, h, Claims()))), "algorithm not allowed");
  }
  // Even an issuer configured to allow HS256 is refused at start-up.
  config_.oidc[0].algorithms = {"RS256", "HS256"};
  auto auth = Authenticator::Create(config_);
  ASSERT_FALSE(auth.ok());
  EXPECT_EQ(auth.status().code(), Code::kInvalidArgument);
  EXPECT_THAT(auth.status().message(), HasSubstr("HS256"));
}

TEST_F(IdentityTest, AlgKeyTypeMismatchRefused) {
  // RS256 header naming the EC key, ES256 header naming the RSA key.
  EXPECT_EQ(Refused(Bearer(SignJwt(*rsa_, Header(*ec_, "RS256"), Claims()))),
            "algorithm does not match the signing key");
  EXPECT_EQ(Refused(Bearer(SignJwt(*ec_, Header(*rsa_, "ES256"), Claims()))),
            "algorithm does not match the signing key");
  // ES256 header naming the P-384 key.
  EXPECT_EQ(Refused(Bearer(SignJwt(*ec384_, Header(*ec384_, "ES256"), Claims()))),
            "algorithm does not match the signing key");
}

TEST_F(IdentityTest, UnknownKidRefused) {
  TestKey stranger = MakeEcKey("not-in-jwks");
  EXPECT_EQ(Refused(Bearer(SignJwt(stranger, Header(stranger, "ES256"), Claims()))),
            "unknown signing key");
}

TEST_F(IdentityTest, NoKidUsesTheOnlyKeyOfItsType) {
  json h = {{"alg", "ES256"}};
  auto r = Make()->Authenticate(Bearer(SignJwt(*ec_, h, Claims())), At(kNow));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  // Two RSA keys and no kid: ambiguous, refused.
  TestKey rsa2 = MakeRsaKey("rsa-2");
  std::ofstream(jwks_path_) << Jwks({rsa_, &rsa2, ec_});
  json rh = {{"alg", "RS256"}};
  EXPECT_EQ(Refused(Bearer(SignJwt(*rsa_, rh, Claims()))), "unknown signing key");
}

TEST_F(IdentityTest, AlgNotInAllowListRefused) {
  config_.oidc[0].algorithms = {"ES256"};
  EXPECT_EQ(Refused(Bearer(Rs256(Claims()))), "algorithm not allowed");
  for (std::string alg : {"PS256", "EdDSA", "HS512", "rs256", ""}) {
    json h = {{"alg", alg}, {"kid", rsa_->kid}};
    std::string input = Segment(h) + "." + Segment(Claims());
    EXPECT_EQ(Refused(Bearer(input + "." + Base64UrlEncode(RawSign(*rsa_, "RS256", input)))),
              "algorithm not allowed")
        << alg;
  }
}

TEST_F(IdentityTest, RequiredClaimMismatchRefused) {
  config_.oidc[0].required_claims = {{"repository", "org/app"}, {"workflow", "ci"}};
  EXPECT_TRUE(Make()->Authenticate(Bearer(Rs256(Claims())), At(kNow)).ok());
  json c = Claims();
  c["repository"] = "org/other";
  EXPECT_EQ(Refused(Bearer(Rs256(c))), "claim 'repository' not accepted");
  c = Claims();
  c.erase("workflow");
  EXPECT_EQ(Refused(Bearer(Rs256(c))), "claim 'workflow' not accepted");
}

TEST_F(IdentityTest, GroupsClaimMapping) {
  json c = Claims();
  c["groups"] = {"dev", 42, "ops", json::object(), "a,admins", "bad\nname"};
  auto r = Make()->Authenticate(Bearer(Rs256(c)), At(kNow));
  ASSERT_TRUE(r.ok());
  EXPECT_THAT(r->groups, UnorderedElementsAre("ci", "dev", "ops"));

  config_.oidc[0].groups_claim = "teams";
  c["teams"] = {"red"};
  r = Make()->Authenticate(Bearer(Rs256(c)), At(kNow));
  ASSERT_TRUE(r.ok());
  EXPECT_THAT(r->groups, UnorderedElementsAre("ci", "red"));
}

TEST_F(IdentityTest, IdentityClaimAndPrefix) {
  config_.oidc[0].identity_claim = "repository";
  config_.oidc[0].identity_prefix = "repo/";
  auto r = Make()->Authenticate(Bearer(Rs256(Claims())), At(kNow));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->name, "repo/org/app");

  config_.oidc[0].identity_prefix = "";
  EXPECT_EQ(Make()->Authenticate(Bearer(Rs256(Claims())), At(kNow))->name, "org/app");

  json c = Claims();
  c.erase("repository");
  EXPECT_EQ(Refused(Bearer(Rs256(c))), "identity claim 'repository' missing or invalid");
  c["repository"] = "line\nbreak";
  EXPECT_EQ(Refused(Bearer(Rs256(c))), "identity claim 'repository' missing or invalid");
  // With no prefix, a claim spelled like a push by path on the server
  // ("local:root" matches the local profile) is refused.
  c["repository"] = "local:root";
  EXPECT_EQ(Refused(Bearer(Rs256(c))), "identity 'local:root' is reserved for pushes by path on the server");
}

TEST_F(IdentityTest, MalformedJwtRefused) {
  EXPECT_EQ(Refused(Bearer("aaaa.bbbb.cccc")), "malformed token");
  std::string jwt = Rs256(Claims());
  EXPECT_EQ(Refused(Bearer(Base64UrlEncode("[1,2]") + jwt.substr(jwt.find('.')))),
            "malformed token");
  // A "crit" header we do not understand.
  json h = Header(*rsa_, "RS256");
  h["crit"] = {"b64"};
  EXPECT_EQ(Refused(Bearer(SignJwt(*rsa_, h, Claims()))), "unsupported critical header");
}

TEST_F(IdentityTest, JwtRefusedWhenNoIssuerConfigured) {
  config_.oidc.clear();
  EXPECT_EQ(Refused(Bearer(Rs256(Claims()))), "OIDC tokens are not accepted");
}

TEST_F(IdentityTest, AuthenticateFromManyThreads) {
  auto auth = Make();
  std::string good = Rs256(Claims());
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      for (int j = 0; j < 20; ++j) {
        if (auth->Authenticate(Bearer(good), At(kNow)).ok() &&
            auth->Authenticate(Bearer(kStaticToken), At(kNow)).ok()) {
          ++ok;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 160);
}

// --- configuration errors ---

TEST_F(IdentityTest, BadConfigurationRejectedAtCreate) {
  auto expect_invalid = [&](const config::Config& c, const std::string& what) {
    auto auth = Authenticator::Create(c);
    ASSERT_FALSE(auth.ok()) << what;
    EXPECT_EQ(auth.status().code(), Code::kInvalidArgument) << what;
    EXPECT_THAT(auth.status().message(), HasSubstr(what));
  };
  config::Config c = config_;
  c.tokens[0].sha256 = "abc";
  expect_invalid(c, "64 hex digits");
  c = config_;
  c.tokens.push_back(c.tokens[0]);
  expect_invalid(c, "configured twice");
  c = config_;
  c.oidc.push_back(c.oidc[0]);
  expect_invalid(c, "configured twice");
  c = config_;
  c.oidc[0].algorithms = {"none"};
  expect_invalid(c, "'none' is not allowed");
  c = config_;
  c.oidc[0].jwks_file = dir_.path() + "/missing.json";
  expect_invalid(c, "missing.json");
  c = config_;
  c.oidc[0].jwks_file = "";
  expect_invalid(c, "set jwks_file, or discovery");
  c = config_;
  c.oidc[0].discovery = true;
  c.oidc[0].issuer = "http://plain.example";
  expect_invalid(c, "discovery needs an https:// issuer");
  c = config_;
  c.oidc[0].audiences.clear();
  expect_invalid(c, "no audiences");
  c = config_;
  std::ofstream(dir_.path() + "/oct.json")
      << R"({"keys":[{"kty":"oct","k":"c2VjcmV0","kid":"rsa-1"}]})";
  c.oidc[0].jwks_file = dir_.path() + "/oct.json";
  expect_invalid(c, "no usable signing key");
}

}  // namespace
}  // namespace ag::identity
