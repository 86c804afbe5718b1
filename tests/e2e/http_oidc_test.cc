// End to end: agentgate-mirror with an OIDC issuer (JWKS file) and the real
// git client sending a Bearer JWT. A valid token clones; every bad one is
// refused at the door with 401 and never reaches git or the log.
#include <gtest/gtest.h>

#include <chrono>

#include "e2e/fixture.h"
#include "identity/test_keys.h"

namespace ag::e2e {
namespace {

namespace idt = ag::identity::testing;
using nlohmann::json;

class HttpOidcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    rsa_ = idt::MakeRsaKey("k1");
    other_ = idt::MakeRsaKey("k1");  // same kid, different key: a forged signature
    std::string jwks = keys_.path() + "/jwks.json";
    testing::WriteFile(jwks, idt::Jwks({&rsa_}));
    MirrorOptions options;
    options.extra_yaml = "oidc:\n  - issuer: https://issuer.example\n    audiences: [agentgate]\n"
                         "    jwks_file: " + jwks + "\n    identity_prefix: \"oidc:\"\n    groups: [agents]\n";
    server_ = std::make_unique<MirrorServer>(options);
    ASSERT_TRUE(server_->Start().ok()) << server_->Log();
  }

  json Claims(int64_t exp_offset = 300) const {
    int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                      std::chrono::system_clock::now().time_since_epoch()).count();
    return {{"iss", "https://issuer.example"}, {"aud", "agentgate"}, {"sub", "ci-bot"},
            {"iat", now}, {"nbf", now}, {"exp", now + exp_offset}};
  }
  std::string Sign(const json& claims, const std::string& kid = "k1") const {
    return idt::SignJwt(rsa_, {{"alg", "RS256"}, {"typ", "JWT"}, {"kid", kid}}, claims);
  }
  testing::RunResult LsRemote(const std::string& jwt) const {
    return server_->Git("-c http.extraHeader=" + testing::Quote("Authorization: Bearer " + jwt) +
                        " ls-remote " + server_->Url("demo"));
  }

  idt::TempDir keys_;
  idt::TestKey rsa_, other_;
  std::unique_ptr<MirrorServer> server_;
};

TEST_F(HttpOidcTest, ValidTokenIsServedAsItsIdentity) {
  testing::RunResult r = LsRemote(Sign(Claims()));
  EXPECT_EQ(r.exit_code, 0) << r.output << server_->Log();
  EXPECT_NE(server_->Log().find("identity=oidc:ci-bot"), std::string::npos) << server_->Log();
}

TEST_F(HttpOidcTest, EveryBadTokenIsRefused) {
  json wrong_aud = Claims();
  wrong_aud["aud"] = "someone-else";
  json wrong_iss = Claims();
  wrong_iss["iss"] = "https://evil.example";
  json future_nbf = Claims();
  future_nbf["nbf"] = future_nbf["iat"].get<int64_t>() + 3600;
  std::string good = Sign(Claims());
  std::string tampered = good;
  tampered[tampered.size() - 5] = tampered[tampered.size() - 5] == 'A' ? 'B' : 'A';
  std::string none = idt::Segment({{"alg", "none"}, {"kid", "k1"}}) + "." + idt::Segment(Claims()) + ".";
  struct Case {
    const char* name;
    std::string jwt;
  } cases[] = {
      {"expired", Sign(Claims(-3600))},
      {"wrong audience", Sign(wrong_aud)},
      {"wrong issuer", Sign(wrong_iss)},
      {"not yet valid", Sign(future_nbf)},
      {"bad signature", tampered},
      {"signed by another key", idt::SignJwt(other_, {{"alg", "RS256"}, {"kid", "k1"}}, Claims())},
      {"unknown kid", Sign(Claims(), "k2")},
      {"alg none", none},
      {"HS256 with a guessable key", idt::SignHs256("agentgate", {{"alg", "HS256"}, {"kid", "k1"}}, Claims())},
  };
  for (const Case& c : cases) {
    testing::RunResult r = LsRemote(c.jwt);
    EXPECT_NE(r.exit_code, 0) << c.name << ": " << r.output;
    EXPECT_EQ(r.output.find("refs/heads"), std::string::npos) << c.name << ": " << r.output;
    HttpResponse h = server_->Request("GET /demo.git/info/refs?service=git-upload-pack HTTP/1.1\r\nHost: x\r\n"
                                      "Authorization: Bearer " + c.jwt + "\r\n\r\n");
    EXPECT_EQ(h.status, 401) << c.name;
    EXPECT_EQ(server_->Log().find(c.jwt), std::string::npos) << c.name << ": the token reached the log";
  }
  // Each refusal was counted and logged with its reason (9 cases, git and raw).
  std::string log = server_->Log();
  size_t failures = 0;
  for (size_t at = log.find("event=auth_failure"); at != std::string::npos; at = log.find("event=auth_failure", at + 1)) {
    ++failures;
  }
  EXPECT_GE(failures, 18u) << log;
}

}  // namespace
}  // namespace ag::e2e
