#include "mirror/cgi.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include "util/signed_env.h"

namespace ag::mirror {
namespace {

TEST(CgiHeaderParserTest, PlainOkWithoutStatus) {
  CgiHeaderParser p;
  std::string out = "Expires: Fri, 01 Jan 1980 00:00:00 GMT\r\nContent-Type: application/x-git-upload-pack-advertisement\r\n\r\n001e# service";
  auto used = p.Feed(out);
  ASSERT_TRUE(used.ok());
  EXPECT_TRUE(p.done());
  EXPECT_EQ(p.status(), 200);
  EXPECT_EQ(out.substr(*used), "001e# service");
  ASSERT_EQ(p.headers().size(), 2u);
  EXPECT_EQ(p.headers()[1].first, "Content-Type");
}

TEST(CgiHeaderParserTest, StatusAfterOtherHeadersAndSplitFeeds) {
  CgiHeaderParser p;
  std::string out =
      "Expires: Fri, 01 Jan 1980 00:00:00 GMT\r\nPragma: no-cache\r\n"
      "Cache-Control: no-cache, max-age=0, must-revalidate\r\nStatus: 403 Forbidden\r\n"
      "Content-Type: text/plain\r\n\r\nbody";
  size_t consumed = 0;
  for (size_t i = 0; i < out.size() && !p.done(); ++i) {  // one byte at a time
    auto used = p.Feed(out.substr(i, 1));
    ASSERT_TRUE(used.ok());
    consumed += *used;
  }
  ASSERT_TRUE(p.done());
  EXPECT_EQ(p.status(), 403);
  EXPECT_EQ(p.reason(), "Forbidden");
  EXPECT_EQ(out.substr(consumed), "body");
  for (const auto& h : p.headers()) EXPECT_NE(h.first, "Status");
}

TEST(CgiHeaderParserTest, BadInput) {
  CgiHeaderParser big;
  std::string line = "X-Long: " + std::string(CgiHeaderParser::kMaxHeaderBytes, 'a');
  EXPECT_FALSE(big.Feed(line).ok());
  CgiHeaderParser bad_status;
  EXPECT_FALSE(bad_status.Feed("Status: abc\r\n\r\n").ok());
  CgiHeaderParser no_colon;
  EXPECT_FALSE(no_colon.Feed("garbage\r\n\r\n").ok());
}

TEST(CgiEnvTest, BuiltFromScratchAndSigned) {
  config::Config c;
  c.data_dir = "/var/lib/agentgate";
  config::RepoConfig repo;
  repo.name = "demo";
  repo.path = "/srv/repos/demo.git";
  c.repos = {repo};
  auto match = MatchRoute("POST", "/demo.git/git-receive-pack", c);
  ASSERT_TRUE(match.ok());
  identity::Identity id;
  id.name = "agent-ci";
  id.groups = {"agents", "ci"};
  id.method = "token";
  CgiRequest req;
  req.method = "POST";
  req.route = &*match;
  req.content_type = "application/x-git-receive-pack-request";
  req.git_protocol = "version=2";
  req.remote_addr = "127.0.0.1";
  req.request_id = "abcd";
  req.identity = &id;
  auto env = BuildCgiEnv(req, c, "/etc/agentgate/agentgate.yaml", "k3y", "/usr/bin:/bin", "");
  EXPECT_EQ(env["GIT_PROJECT_ROOT"], "/srv/repos");
  EXPECT_EQ(env["PATH_INFO"], "/demo.git/git-receive-pack");
  EXPECT_EQ(env["REQUEST_METHOD"], "POST");
  EXPECT_EQ(env["REMOTE_USER"], "agent-ci");
  EXPECT_EQ(env["GIT_PROTOCOL"], "version=2");
  EXPECT_EQ(env.count("HTTP_CONTENT_ENCODING"), 0u);  // the mirror inflates gzip bodies
  EXPECT_EQ(env["GIT_HTTP_EXPORT_ALL"], "1");
  // receive-pack's pack bound is max_body, for every mirror.
  EXPECT_EQ(env["GIT_CONFIG_COUNT"], "1");
  EXPECT_EQ(env["GIT_CONFIG_KEY_0"], "receive.maxInputSize");
  EXPECT_EQ(env["GIT_CONFIG_VALUE_0"], std::to_string(c.limits.max_body_bytes));
  EXPECT_EQ(env["AGENTGATE_CONFIG"], "/etc/agentgate/agentgate.yaml");
  EXPECT_EQ(env["AGENTGATE_REPO"], "demo");
  EXPECT_EQ(env["AGENTGATE_IDENTITY"], "agent-ci");
  EXPECT_EQ(env["AGENTGATE_REQUEST_ID"], "abcd");
  EXPECT_EQ(env.count("CONTENT_LENGTH"), 0u);  // chunked: unknown
  EXPECT_EQ(env.count("HOME"), 0u);

  // The envelope verifies with the same key, and only with it.
  for (const auto& [k, v] : env) {
    if (k.rfind("AGENTGATE_", 0) == 0) setenv(k.c_str(), v.c_str(), 1);
  }
  auto verified = VerifyIdentityEnv("k3y");
  ASSERT_TRUE(verified.ok()) << verified.status().ToString();
  EXPECT_EQ(verified->identity, "agent-ci");
  EXPECT_EQ(verified->groups, (std::vector<std::string>{"agents", "ci"}));
  EXPECT_FALSE(VerifyIdentityEnv("other").ok());
}

TEST(CgiEnvTest, HeaderValuesAreSanitised) {
  EXPECT_EQ(SanitizeHeaderValue("version=2"), "version=2");
  EXPECT_EQ(SanitizeHeaderValue("a\nAGENTGATE_IDENTITY=x"), "");
  EXPECT_EQ(SanitizeHeaderValue(std::string(300, 'a')), "");
}

}  // namespace
}  // namespace ag::mirror
