#include "mirror/routes.h"

#include <gtest/gtest.h>

namespace ag::mirror {
namespace {

config::Config TestConfig() {
  config::Config c;
  config::RepoConfig demo;
  demo.name = "demo";
  demo.path = "/srv/repos/demo.git";
  config::RepoConfig other;
  other.name = "my.repo-2_x";
  other.path = "/srv/elsewhere/x";
  c.repos = {demo, other};
  return c;
}

TEST(RoutesTest, GitRoutesMatchConfiguredRepos) {
  config::Config c = TestConfig();
  auto m = MatchRoute("GET", "/demo.git/info/refs?service=git-upload-pack", c);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->route->kind, RouteKind::kInfoRefs);
  EXPECT_EQ(m->repo->name, "demo");
  EXPECT_EQ(m->service, "git-upload-pack");
  EXPECT_EQ(m->query, "service=git-upload-pack");
  EXPECT_EQ(m->path_info, "/demo.git/info/refs");

  m = MatchRoute("POST", "/demo/git-receive-pack", c);  // without .git
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->route->kind, RouteKind::kReceivePack);
  EXPECT_EQ(m->path_info, "/demo.git/git-receive-pack");

  m = MatchRoute("POST", "/my.repo-2_x.git/git-upload-pack", c);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->path_info, "/x/git-upload-pack");  // basename of the configured path
}

TEST(RoutesTest, HealthAndMetrics) {
  config::Config c = TestConfig();
  auto m = MatchRoute("GET", "/healthz", c);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->route->kind, RouteKind::kHealthz);
  EXPECT_FALSE(m->IsGit());
  EXPECT_TRUE(MatchRoute("GET", "/metrics", c).ok());
  EXPECT_EQ(RouteErrorStatus(MatchRoute("POST", "/healthz", c).status()), 405);
  EXPECT_EQ(RouteErrorStatus(MatchRoute("GET", "/demo.git/git-upload-pack", c).status()), 405);
}

// Each row is an attack or a mistake that must be a 404 without touching disk.
TEST(RoutesTest, RefusesTraversalAndUnknownRepos) {
  config::Config c = TestConfig();
  const char* bad[] = {
      "/other.git/info/refs?service=git-upload-pack",            // not configured
      "/../demo.git/info/refs?service=git-upload-pack",          // dot-dot segment
      "/demo.git/../demo.git/info/refs?service=git-upload-pack",
      "/%2e%2e/demo.git/info/refs?service=git-upload-pack",      // encoded dot-dot
      "/demo%2egit/info/refs?service=git-upload-pack",           // any percent-encoding
      "/./demo.git/info/refs?service=git-upload-pack",
      "//demo.git/info/refs?service=git-upload-pack",            // empty segment
      "/demo.git//info/refs?service=git-upload-pack",
      "/srv/repos/demo.git/info/refs?service=git-upload-pack",   // absolute path
      "/demo.git/objects/info/packs",                            // dumb HTTP files
      "/demo.git/HEAD",
      "/demo.git/info/refs/extra?service=git-upload-pack",       // extra segments
      "/a/demo.git/git-upload-pack",
      "http://host/demo.git/git-upload-pack",                    // absolute-form
      "demo.git/git-upload-pack",
      "/..git/git-upload-pack",
      "/.git/git-upload-pack",
      "/de\\mo.git/git-upload-pack",
      "/",
      "",
  };
  for (const char* target : bad) {
    auto m = MatchRoute(target[0] == '/' && std::string_view(target).find("upload") != std::string_view::npos &&
                                std::string_view(target).find("info/refs") == std::string_view::npos
                            ? "POST"
                            : "GET",
                        target, c);
    ASSERT_FALSE(m.ok()) << target;
    EXPECT_EQ(RouteErrorStatus(m.status()), 404) << target;
  }
}

TEST(RoutesTest, InfoRefsNeedsSmartService) {
  config::Config c = TestConfig();
  for (const char* target : {"/demo.git/info/refs", "/demo.git/info/refs?service=git-evil",
                             "/demo.git/info/refs?service="}) {
    auto m = MatchRoute("GET", target, c);
    ASSERT_FALSE(m.ok()) << target;
    EXPECT_EQ(RouteErrorStatus(m.status()), 400) << target;
  }
  auto m = MatchRoute("GET", "/demo.git/info/refs?x=1&service=git-receive-pack", c);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->query, "service=git-receive-pack");  // rebuilt, extra params dropped
}

TEST(RoutesTest, RepoNames) {
  EXPECT_TRUE(IsValidRepoName("a"));
  EXPECT_TRUE(IsValidRepoName("A-b_c.9"));
  EXPECT_FALSE(IsValidRepoName(""));
  EXPECT_FALSE(IsValidRepoName("."));
  EXPECT_FALSE(IsValidRepoName(".."));
  EXPECT_FALSE(IsValidRepoName("a/b"));
  EXPECT_FALSE(IsValidRepoName("a b"));
  EXPECT_FALSE(IsValidRepoName(std::string(101, 'a')));
}

}  // namespace
}  // namespace ag::mirror
