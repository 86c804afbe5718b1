// The README's first command, end to end: scripts/quickstart --detach (with
// the programs of this build, in a temporary folder), then exactly what it
// tells an agent and a reviewer to type: clone, push (held), list, approve,
// and the change reaches the upstream; --stop stops everything it started.
// REQUIRES: nginx and fcgiwrap (scripts/deps installs them). Skipped without.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <iterator>

#include "ops_util.h"

namespace ag::testing {
namespace {

std::string Q(const std::string& s) {  // single-quoted for sh
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// Gone: no such process, or a zombie (some container inits never reap).
bool Gone(pid_t pid) {
  std::ifstream in(std::string("/proc/") + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t close = text.rfind(')');
  return text.empty() || (close != std::string::npos && close + 2 < text.size() && text[close + 2] == 'Z');
}

class QuickstartTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (Sh("command -v nginx && command -v fcgiwrap").code != 0) {
      GTEST_SKIP() << "needs nginx and fcgiwrap (scripts/deps)";
    }
    dir_ = TempDir("ag-quickstart");
    std::string bin = AG_BIN_DIR;
    env_ = "AG_SKIP_BUILD=1 AG_BUILD_DIR=" + Q(bin.substr(0, bin.rfind('/'))) +
           " AG_QUICKSTART_DIR=" + Q(dir_ + "/qs") + " HOME=" + Q(dir_) + " GIT_CONFIG_NOSYSTEM=1 ";
  }
  void TearDown() override {
    if (dir_.empty()) return;
    (void)Sh(env_ + Q(Src("scripts/quickstart")) + " --stop");
    std::filesystem::remove_all(dir_);
  }
  // Runs `script` in bash with the quickstart's variables loaded.
  CommandResult InDemo(const std::string& script) {
    std::ofstream(dir_ + "/step.sh") << "set -e\nset -a; . " << Q(dir_ + "/qs/env") << "; set +a\n"
                                     << "export PATH=\"$AGENTGATE_BIN:$PATH\"\ncd " << Q(dir_) << "\n"
                                     << script;
    return Sh(env_ + "bash " + Q(dir_ + "/step.sh"));
  }
  std::string dir_, env_;
};

TEST_F(QuickstartTest, TheWholeStoryAsTheReadmeTellsIt) {
  CommandResult start = Sh(env_ + Q(Src("scripts/quickstart")) + " --detach");
  ASSERT_EQ(start.code, 0) << start.output;
  EXPECT_NE(start.output.find("agentgate is running."), std::string::npos) << start.output;

  // The agent, as quickstart prints it.
  CommandResult push = InDemo(
      "git -c credential.helper='!f() { echo username=agent; echo \"password=$AGENTGATE_TOKEN\"; }; f' "
      "clone -q \"$AGENTGATE_URL\" demo && cd demo\n"
      "git config credential.helper '!f() { echo username=agent; echo \"password=$AGENTGATE_TOKEN\"; }; f'\n"
      "git config user.email agent@example.com && git config user.name Agent\n"
      "git switch -q -c agent/hello\n"
      "echo 'print(\"hi\")' > hi.py && git add hi.py && git commit -q -m 'Add hi.py'\n"
      "git push origin agent/hello\n"
      "git ls-remote origin 'refs/agentgate/*'\n");
  ASSERT_EQ(push.code, 0) << push.output;
  EXPECT_NE(push.output.find("held for review as request 1"), std::string::npos) << push.output;
  EXPECT_NE(push.output.find("refs/agentgate/state/1/pending"), std::string::npos) << push.output;

  // The reviewer (this account).
  CommandResult review = InDemo("agentgate list\nagentgate show 1 >/dev/null\nagentgate approve 1\n");
  ASSERT_EQ(review.code, 0) << review.output;
  EXPECT_NE(review.output.find("refs/heads/agent/hello"), std::string::npos) << review.output;
  EXPECT_NE(review.output.find("approved request 1"), std::string::npos) << review.output;

  // The daemon replays it upstream (bounded wait).
  CommandResult upstream = InDemo(
      "for i in $(seq 100); do\n"
      "  out=$(git ls-remote \"$AGENTGATE_UPSTREAM_URL\" refs/heads/agent/hello)\n"
      "  [ -n \"$out\" ] && { echo \"$out\"; exit 0; }\n"
      "  sleep 0.2\n"
      "done\nexit 1\n");
  ASSERT_EQ(upstream.code, 0) << upstream.output;
  std::string tip = InDemo("git -C demo rev-parse HEAD").output;
  ASSERT_GE(tip.size(), 40u);
  EXPECT_NE(upstream.output.find(tip.substr(0, 40)), std::string::npos) << upstream.output;

  // --stop stops what --detach started.
  std::string pid_text = Sh("cat " + Q(dir_ + "/qs/run/mirror.pid")).output;
  pid_t pid = static_cast<pid_t>(std::atoi(pid_text.c_str()));
  ASSERT_GT(pid, 0) << pid_text;
  CommandResult stop = Sh(env_ + Q(Src("scripts/quickstart")) + " --stop");
  EXPECT_EQ(stop.code, 0) << stop.output;
  EXPECT_TRUE(Gone(pid)) << "agentgate-mirror still runs after --stop";
}

TEST_F(QuickstartTest, NeverWipesAFolderItDidNotMake) {
  // AG_QUICKSTART_DIR pointing at someone's data: refused, nothing removed.
  std::filesystem::create_directories(dir_ + "/qs");
  std::ofstream(dir_ + "/qs/precious.txt") << "keep me\n";
  CommandResult start = Sh(env_ + Q(Src("scripts/quickstart")) + " --detach");
  EXPECT_NE(start.code, 0) << start.output;
  EXPECT_NE(start.output.find("refusing to replace it"), std::string::npos) << start.output;
  EXPECT_TRUE(std::filesystem::exists(dir_ + "/qs/precious.txt"));
}

}  // namespace
}  // namespace ag::testing
