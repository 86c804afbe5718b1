// JWKS parsing: which keys are kept, and signature verification edge cases.
#include "identity/jwk.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "identity/test_keys.h"

namespace ag::identity {
namespace {

using ::testing::HasSubstr;
using namespace ag::identity::testing;

TEST(JwkTest, ParsesRsaAndEcKeys) {
  TestKey rsa = MakeRsaKey("r");
  TestKey ec = MakeEcKey("e");
  TestKey ec384 = MakeEcKey("e384", "P-384");
  auto set = ParseJwks(Jwks({&rsa, &ec, &ec384}));
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  EXPECT_EQ((*set)->size(), 3u);
  EXPECT_NE((*set)->Find("r", Algorithm::kRs256), nullptr);
  EXPECT_NE((*set)->Find("e", Algorithm::kEs256), nullptr);
  EXPECT_NE((*set)->Find("e384", Algorithm::kEs384), nullptr);
  bool known = false;
  EXPECT_EQ((*set)->Find("e", Algorithm::kRs256, &known), nullptr);
  EXPECT_TRUE(known);
  EXPECT_EQ((*set)->Find("zzz", Algorithm::kRs256, &known), nullptr);
  EXPECT_FALSE(known);
}

TEST(JwkTest, SkipsUnusableKeys) {
  TestKey good = MakeEcKey("good");
  TestKey weak = MakeRsaKey("weak", 1024);
  json enc = good.Jwk();
  enc["kid"] = "enc";
  enc["use"] = "enc";
  json off_curve = good.Jwk();
  off_curve["kid"] = "off-curve";
  std::string y = *Base64UrlDecode(off_curve["y"].get<std::string>());
  y[31] ^= 1;
  off_curve["y"] = Base64UrlEncode(y);
  json short_x = good.Jwk();
  short_x["kid"] = "short";
  short_x["x"] = Base64UrlEncode(Base64UrlDecode(short_x["x"].get<std::string>())->substr(1));
  json wrong_alg = good.Jwk();
  wrong_alg["kid"] = "hs";
  wrong_alg["alg"] = "HS256";
  json doc = {{"keys",
               {good.Jwk(), weak.Jwk(), enc, off_curve, short_x, wrong_alg,
                {{"kty", "oct"}, {"k", "c2VjcmV0"}, {"kid", "oct"}},
                {{"kty", "OKP"}, {"crv", "Ed25519"}, {"x", "AAAA"}, {"kid", "ed"}},
                "not an object"}}};
  auto set = ParseJwks(doc.dump());
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  ASSERT_EQ((*set)->size(), 1u);
  EXPECT_EQ((*set)->keys()[0].kid, "good");
}

TEST(JwkTest, RejectsMalformedDocuments) {
  EXPECT_THAT(ParseJwks("not json").status().message(), HasSubstr("not a JSON object"));
  EXPECT_THAT(ParseJwks("[]").status().message(), HasSubstr("not a JSON object"));
  EXPECT_THAT(ParseJwks("{}").status().message(), HasSubstr("no \"keys\" array"));
  EXPECT_THAT(ParseJwks(R"({"keys":[]})").status().message(), HasSubstr("no usable"));
  json many = {{"keys", json::array()}};
  for (int i = 0; i < 65; ++i) many["keys"].push_back({{"kty", "oct"}});
  EXPECT_THAT(ParseJwks(many.dump()).status().message(), HasSubstr("more than 64"));
}

TEST(JwkTest, JwkAlgPinsTheAlgorithm) {
  TestKey rsa = MakeRsaKey("r");
  json j = rsa.Jwk();
  j["alg"] = "RS512";
  auto set = ParseJwks(json{{"keys", {j}}}.dump());
  ASSERT_TRUE(set.ok());
  EXPECT_EQ((*set)->Find("r", Algorithm::kRs256), nullptr);
  EXPECT_NE((*set)->Find("r", Algorithm::kRs512), nullptr);
}

TEST(JwkTest, VerifySignature) {
  TestKey ec = MakeEcKey("e");
  auto set = ParseJwks(Jwks({&ec}));
  ASSERT_TRUE(set.ok());
  const Jwk& key = (*set)->keys()[0];
  std::string sig = RawSign(ec, "ES256", "a.b");
  EXPECT_TRUE(VerifySignature(Algorithm::kEs256, key, "a.b", sig));
  EXPECT_FALSE(VerifySignature(Algorithm::kEs256, key, "a.c", sig));
  EXPECT_FALSE(VerifySignature(Algorithm::kEs256, key, "a.b", sig + "x"));
  EXPECT_FALSE(VerifySignature(Algorithm::kEs256, key, "a.b", ""));
  EXPECT_FALSE(VerifySignature(Algorithm::kRs256, key, "a.b", sig));
  EXPECT_FALSE(VerifySignature(Algorithm::kEs256, key, "a.b", std::string(64, '\0')));
}

}  // namespace
}  // namespace ag::identity
