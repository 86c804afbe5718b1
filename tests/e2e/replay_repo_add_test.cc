// `agentgate repo add` against the real nginx upstream with a token: the
// mirror is created, recorded in the config, and `git clone <mirror path>`
// reads it. Drives the built program, as an admin would.
#include <gtest/gtest.h>

#include "e2e/upstream_fixture.h"

namespace {

using ag::testing::HttpUpstream;
using ag::testing::ReadAll;
using ag::testing::Cmd;
using ag::testing::ShellQuote;
using ag::testing::ShOut;
using ag::testing::TempDir;
using ag::testing::WriteFile;

const std::string kAgentgate = std::string(AG_BIN_DIR) + "/agentgate";

TEST(RepoAdd, CreatesAWorkingMirrorAndRecordsIt) {
  HttpUpstream up(3);
  ASSERT_TRUE(up.ok()) << up.error_log();
  TempDir dir("ag-repoadd");
  WriteFile(dir / "token", up.token() + "\n", 0600);
  WriteFile(dir / "agentgate.yaml", "data_dir: " + dir.path() + "/data\n");
  auto r = Cmd(kAgentgate + " repo add demo --upstream " + up.url() + " --config " +
              ShellQuote(dir / "agentgate.yaml") + " --credential " + ShellQuote(dir / "token"));
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_EQ(r.out.find(up.token()), std::string::npos);
  std::string mirror = dir.path() + "/data/repos/demo.git";
  // Recorded in the config, without the token.
  std::string yaml = ReadAll(dir / "agentgate.yaml");
  EXPECT_NE(yaml.find("demo"), std::string::npos) << yaml;
  EXPECT_NE(yaml.find(up.url()), std::string::npos) << yaml;
  EXPECT_EQ(yaml.find(up.token()), std::string::npos);
  auto check = Cmd(kAgentgate + " config check " + ShellQuote(dir / "agentgate.yaml"));
  EXPECT_EQ(check.rc, 0) << check.out;
  // Hooks start the programs next to agentgate (#!) with the absolute config.
  std::string hook = ReadAll(mirror + "/hooks/pre-receive");
  EXPECT_EQ(hook.rfind("#!" + std::string(AG_BIN_DIR) + "/agentgate-pre-receive\n", 0), 0u) << hook;
  EXPECT_NE(hook.find("\n--config=" + (dir / "agentgate.yaml") + "\n"), std::string::npos) << hook;
  EXPECT_NE(hook.find("\n--repo=demo\n"), std::string::npos) << hook;
  EXPECT_NE(hook.find("\n--socket=" + dir.path() + "/data/hook.sock\n"), std::string::npos) << hook;
  // `repo hooks` rewrites them (an upgrade from shell-script hooks, a repair).
  WriteFile(mirror + "/hooks/pre-receive", "#!/bin/sh\nexit 0\n", 0755);
  ::unlink((mirror + "/hooks/post-receive").c_str());
  auto hooks = Cmd(kAgentgate + " repo hooks demo --config " + ShellQuote(dir / "agentgate.yaml"));
  ASSERT_EQ(hooks.rc, 0) << hooks.out;
  EXPECT_EQ(ReadAll(mirror + "/hooks/pre-receive"), hook);
  EXPECT_EQ(ReadAll(mirror + "/hooks/post-receive").rfind("#!" + std::string(AG_BIN_DIR) + "/agentgate-post-receive\n", 0), 0u);
  auto unknown = Cmd(kAgentgate + " repo hooks nope --config " + ShellQuote(dir / "agentgate.yaml"));
  EXPECT_EQ(unknown.rc, 1) << unknown.out;
  EXPECT_NE(unknown.out.find("no repo named 'nope'"), std::string::npos) << unknown.out;
  // A plain git clone of the mirror reads upstream's history.
  auto clone = Cmd("git clone -q " + ShellQuote(mirror) + " " + ShellQuote(dir / "clone"));
  ASSERT_EQ(clone.rc, 0) << clone.out;
  EXPECT_EQ(ShOut("git -C " + ShellQuote(dir / "clone") + " rev-parse HEAD"), up.seed_head());
  EXPECT_EQ(ShOut("git -C " + ShellQuote(dir / "clone") + " rev-list --count HEAD"), "3");
  // The same name again is refused (exit 1), and nothing changes.
  auto again = Cmd(kAgentgate + " repo add demo --upstream " + up.url() + " --config " +
                  ShellQuote(dir / "agentgate.yaml"));
  EXPECT_EQ(again.rc, 1) << again.out;
  EXPECT_EQ(ReadAll(dir / "agentgate.yaml"), yaml);
  // A URL with the token in it is refused before anything is created.
  auto leaky = Cmd(kAgentgate + " repo add leaky --upstream " + up.url_with_token() + " --config " +
                  ShellQuote(dir / "agentgate.yaml"));
  EXPECT_EQ(leaky.rc, 2);
  EXPECT_EQ(leaky.out.find(up.token()), std::string::npos) << leaky.out;
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/data/repos/leaky.git"));
  // A wrong token: refused with a clear reason, nothing left behind.
  WriteFile(dir / "bad", "ghs_not_the_token\n", 0600);
  auto bad = Cmd(kAgentgate + " repo add other --upstream " + up.url() + " --config " +
                ShellQuote(dir / "agentgate.yaml") + " --credential " + ShellQuote(dir / "bad"));
  EXPECT_EQ(bad.rc, 2) << bad.out;
  EXPECT_NE(bad.out.find("upstream refused the credential"), std::string::npos) << bad.out;
  EXPECT_EQ(bad.out.find("ghs_not_the_token"), std::string::npos) << bad.out;
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/data/repos/other.git"));
}

}  // namespace
