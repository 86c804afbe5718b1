#include "identity/base64.h"

#include <gtest/gtest.h>

#include "identity/credentials.h"

namespace ag::identity {
namespace {

TEST(Base64Test, RoundTripsEveryLength) {
  std::string data;
  for (int i = 0; i < 70; ++i) {
    EXPECT_EQ(Base64Decode(Base64Encode(data)), data);
    EXPECT_EQ(Base64UrlDecode(Base64UrlEncode(data)), data);
    data.push_back(static_cast<char>(i * 37 + 250));
  }
}

TEST(Base64Test, KnownVectors) {  // RFC 4648 section 10
  EXPECT_EQ(Base64Encode("f"), "Zg==");
  EXPECT_EQ(Base64Encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(Base64UrlEncode("fo"), "Zm8");
  EXPECT_EQ(Base64UrlEncode("\xfb\xff"), "-_8");
  EXPECT_EQ(Base64Encode("\xfb\xff"), "+/8=");
}

TEST(Base64Test, StrictDecoding) {
  EXPECT_EQ(Base64Decode("Zg"), "f");  // padding optional
  EXPECT_FALSE(Base64Decode("Zg="));   // but correct when present
  EXPECT_FALSE(Base64Decode("Z"));
  EXPECT_FALSE(Base64Decode("Zh=="));  // non-zero trailing bits
  EXPECT_FALSE(Base64Decode("Zm9v YmFy"));
  EXPECT_FALSE(Base64Decode("-_8="));  // url alphabet in standard decoding
  EXPECT_FALSE(Base64Decode("===="));
  EXPECT_FALSE(Base64UrlDecode("+/8"));
  EXPECT_FALSE(Base64UrlDecode("Zg=="));  // JWS never pads
  EXPECT_EQ(Base64UrlDecode(""), "");
  EXPECT_TRUE(IsBase64Url("abc-_"));
  EXPECT_FALSE(IsBase64Url(""));
  EXPECT_FALSE(IsBase64Url("a.b"));
}

TEST(CredentialsTest, ExtractsTokenFromBothSchemes) {
  EXPECT_EQ(*ExtractToken("Bearer abc", 100), "abc");
  EXPECT_EQ(*ExtractToken("  bEaReR \t abc  ", 100), "abc");
  EXPECT_EQ(*ExtractToken("Basic " + Base64Encode("user:pa:ss"), 100), "pa:ss");
  EXPECT_EQ(*ExtractToken("Basic " + Base64Encode(":tok"), 100), "tok");
}

TEST(CredentialsTest, RefusesCleanly) {
  EXPECT_FALSE(ExtractToken("Bearer abc", 9).ok());
  EXPECT_EQ(ExtractToken("Bearer abc", 9).status().code(), Code::kUnauthenticated);
  EXPECT_FALSE(ExtractToken("Basic", 100).ok());
  EXPECT_FALSE(ExtractToken("Basic " + Base64Encode("user:tok en"), 100).ok());
  EXPECT_FALSE(ExtractToken("Basic " + Base64Encode("user:tok\xff"), 100).ok());
  EXPECT_FALSE(ExtractToken("Bearerabc", 100).ok());
  EXPECT_FALSE(ExtractToken("Bearer \xc3\xa9", 100).ok());
}

}  // namespace
}  // namespace ag::identity
