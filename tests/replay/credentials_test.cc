// Credential files: where they are looked up, the permission check, what
// kind they are, and the URL/secret scrubbing of messages.
#include "replay/credentials.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include "e2e/upstream_fixture.h"

namespace ag::replay {
namespace {

using ag::testing::TempDir;
using ag::testing::WriteFile;

config::RepoConfig Repo(const std::string& upstream, const std::string& credential) {
  config::RepoConfig r;
  r.name = "demo";
  r.upstream = upstream;
  r.credential = credential;
  return r;
}

TEST(Credentials, TokenFromAbsolutePathIsTrimmed) {
  TempDir d;
  WriteFile(d / "tok", "  ghs_secret123\n", 0600);
  auto c = LoadCredential(Repo("https://github.com/o/r.git", d / "tok"));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ((*c)->kind(), CredentialKind::kToken);
  EXPECT_EQ((*c)->secret(), "ghs_secret123");
  EXPECT_EQ((*c)->user(), "x-access-token");
}

TEST(Credentials, NameIsLookedUpInCredentialsDirectory) {
  TempDir d;
  WriteFile(d / "github", "ghs_fromdir\n", 0400);
  ::setenv("CREDENTIALS_DIRECTORY", d.path().c_str(), 1);
  auto c = LoadCredential(Repo("https://github.com/o/r.git", "github"));
  ::unsetenv("CREDENTIALS_DIRECTORY");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ((*c)->secret(), "ghs_fromdir");
  // Without the variable a bare name is an error, not a relative path.
  auto missing = LoadCredential(Repo("https://github.com/o/r.git", "github"));
  EXPECT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("CREDENTIALS_DIRECTORY"), std::string::npos);
  EXPECT_FALSE(LoadCredential(Repo("https://x/y", "../etc/passwd")).ok());
}

TEST(Credentials, GroupOrOtherReadableFileIsRefused) {
  TempDir d;
  for (int mode : {0640, 0604, 0660, 0644}) {
    WriteFile(d / "tok", "ghs_leaky\n", mode);
    auto c = LoadCredential(Repo("https://github.com/o/r.git", d / "tok"));
    ASSERT_FALSE(c.ok()) << mode;
    EXPECT_EQ(c.status().code(), Code::kPermissionDenied);
    EXPECT_NE(c.status().message().find("chmod 600"), std::string::npos);
    EXPECT_EQ(c.status().message().find("ghs_leaky"), std::string::npos);
  }
}

TEST(Credentials, SshUpstreamTakesAPrivateKey) {
  TempDir d;
  WriteFile(d / "key", "-----BEGIN EC PRIVATE KEY-----\nabc\n-----END EC PRIVATE KEY-----\n", 0600);
  auto c = LoadCredential(Repo("ssh://git@github.com/o/r.git", d / "key"));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ((*c)->kind(), CredentialKind::kSshKey);
  WriteFile(d / "notkey", "ghs_token\n", 0600);
  EXPECT_FALSE(LoadCredential(Repo("git@github.com:o/r.git", d / "notkey")).ok());
}

TEST(Credentials, EmptyCredentialIsNone) {
  auto c = LoadCredential(Repo("file:///srv/x.git", ""));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ((*c)->kind(), CredentialKind::kNone);
}

TEST(Credentials, UrlKinds) {
  EXPECT_TRUE(IsSshUrl("ssh://git@github.com/o/r.git"));
  EXPECT_TRUE(IsSshUrl("git@github.com:o/r.git"));
  EXPECT_FALSE(IsSshUrl("https://github.com/o/r.git"));
  EXPECT_FALSE(IsSshUrl("/srv/git/r.git"));
  EXPECT_FALSE(IsSshUrl("file:///srv/git/r.git"));
}

TEST(Credentials, ScrubRemovesUserinfoAndSecret) {
  EXPECT_EQ(StripUserinfo("https://u:ghs_x@github.com/o/r.git"), "https://github.com/o/r.git");
  EXPECT_EQ(StripUserinfo("https://github.com/o/r.git"), "https://github.com/o/r.git");
  EXPECT_EQ(StripUserinfo("ssh://git@host:22/r"), "ssh://host:22/r");
  Credential c(CredentialKind::kToken, "ghs_topsecret", "x");
  std::string m = Scrub("cannot reach https://x:ghs_topsecret@h/r (token ghs_topsecret) and "
                        "http://a:b@other/x",
                        "https://x:ghs_topsecret@h/r", &c);
  EXPECT_EQ(m.find("ghs_topsecret"), std::string::npos) << m;
  EXPECT_EQ(m.find("a:b@"), std::string::npos) << m;
  EXPECT_NE(m.find("https://h/r"), std::string::npos) << m;
}

}  // namespace
}  // namespace ag::replay
