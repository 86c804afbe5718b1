// The unit files: `systemd-analyze verify` finds nothing to complain about in
// a root staged by scripts/install, `systemd-analyze security` rates the
// daemon OK or better, and agentgate-wait-ready waits for /healthz.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <regex>

#include "ops_util.h"

namespace ag::testing {
namespace {

const char* kUnits[] = {"agentgate-mirror.service", "agentgate-maintenance.service",
                        "agentgate-maintenance.timer"};

class UnitsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (Sh("command -v systemd-analyze").code != 0) GTEST_SKIP() << "no systemd-analyze";
    root_ = TempDir("ag-units");
    bin_ = root_ + "-bin";
    std::filesystem::create_directories(bin_);
    for (const char* p : {"agentgate", "agentgate-mirror", "agentgate-pre-receive",
                          "agentgate-post-receive", "agentgate-hook"}) {
      std::ofstream(bin_ + "/" + p) << "#!/bin/sh\nexit 0\n";
      std::filesystem::permissions(bin_ + "/" + p, std::filesystem::perms(0755));
    }
    CommandResult in = Sh(Src("scripts/install") + " --root " + root_ + " --bin-dir " + bin_ +
                          " --no-systemctl --no-users");
    ASSERT_EQ(in.code, 0) << in.output;
    // verify resolves the units' dependencies (sysinit.target, ...) in the root.
    std::filesystem::create_directories(root_ + "/usr/lib/systemd");
    ASSERT_EQ(Sh("cp -a /usr/lib/systemd/system " + root_ + "/usr/lib/systemd/").code, 0);
    // ...and the programs they run from the system (ExecReload's /bin/kill),
    // in a merged /usr as on Debian 12.
    ASSERT_EQ(Sh("mkdir -p " + root_ + "/usr/bin && cp /usr/bin/kill " + root_ +
                 "/usr/bin/ && ln -s usr/bin " + root_ + "/bin")
                  .code,
              0);
  }
  void TearDown() override {
    if (!root_.empty()) std::filesystem::remove_all(root_);
    if (!bin_.empty()) std::filesystem::remove_all(bin_);
  }
  CommandResult Verify() {
    std::string cmd = "systemd-analyze verify --root=" + root_;
    for (const char* u : kUnits) cmd += std::string(" /etc/systemd/system/") + u;
    return Sh(cmd);
  }
  std::string root_, bin_;
};

TEST_F(UnitsTest, VerifyIsClean) {
  CommandResult r = Verify();
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(r.output, "") << "systemd-analyze verify warns";
}

TEST_F(UnitsTest, VerifyCatchesABrokenUnit) {
  std::string unit = root_ + "/etc/systemd/system/agentgate-mirror.service";
  ASSERT_EQ(Sh("sed -i 's/^ProtectSystem=strict/ProtectSystem=stricter/' " + unit).code, 0);
  CommandResult r = Verify();
  EXPECT_NE(r.output.find("agentgate-mirror.service:"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("Failed to parse protect system"), std::string::npos) << r.output;
}

TEST_F(UnitsTest, SecurityRatingIsOkOrBetter) {
  CommandResult r = Sh("systemd-analyze security --offline=true --root=" + root_ +
                       " agentgate-mirror.service");
  std::smatch m;
  std::regex overall("Overall exposure level for agentgate-mirror.service: ([0-9.]+) (\\w+)");
  ASSERT_TRUE(std::regex_search(r.output, m, overall)) << r.output;
  double score = std::stod(m[1]);
  std::string level = m[2];
  std::printf("systemd-analyze security agentgate-mirror.service: %.1f %s\n", score, level.c_str());
  EXPECT_TRUE(level == "OK" || level == "SAFE") << r.output;
  EXPECT_LT(score, 2.0);
}

TEST_F(UnitsTest, DaemonUnitHasTheRequiredSettings) {
  std::ifstream in(Src("systemd/agentgate-mirror.service"));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (const char* want :
       {"User=agentgate", "Group=agentgate",
        "LoadCredential=upstream-token:/etc/agentgate/credentials/upstream-token",
        "StateDirectory=agentgate", "RuntimeDirectory=agentgate", "RuntimeDirectoryMode=0755",
        "ConfigurationDirectory=agentgate", "NoNewPrivileges=yes", "ProtectSystem=strict",
        "ProtectHome=yes", "PrivateTmp=yes", "PrivateDevices=yes",
        "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6", "SystemCallFilter=@system-service",
        "SystemCallArchitectures=native", "CapabilityBoundingSet=\n", "UMask=0027",
        "ExecStartPost=/usr/lib/agentgate/agentgate-wait-ready"}) {
    EXPECT_NE(text.find(want), std::string::npos) << want;
  }
}

// A free TCP port on 127.0.0.1 (bound then released).
int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

TEST(WaitReady, WaitsForHealthz) {
  if (Sh("command -v python3 && command -v curl").code != 0) GTEST_SKIP() << "needs python3, curl";
  std::string dir = TempDir("ag-ready");
  int port = FreePort();
  std::ofstream(dir + "/agentgate.yaml") << "listen: \"127.0.0.1:" << port << "\"  # test\n";
  std::string ready = Src("systemd/agentgate-wait-ready") + " --config " + dir + "/agentgate.yaml";
  CommandResult down = Sh(ready + " --timeout 1");
  EXPECT_EQ(down.code, 1) << down.output;
  EXPECT_NE(down.output.find("/healthz did not answer"), std::string::npos) << down.output;

  std::ofstream(dir + "/healthz") << "ok\n";
  pid_t pid = ::fork();
  if (pid == 0) {
    ::execlp("python3", "python3", "-m", "http.server", "--bind", "127.0.0.1", "--directory",
             dir.c_str(), std::to_string(port).c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ASSERT_GT(pid, 0);
  CommandResult up = Sh(ready + " --timeout 30");
  ::kill(pid, SIGTERM);
  ::waitpid(pid, nullptr, 0);
  EXPECT_EQ(up.code, 0) << up.output;
  EXPECT_EQ(Sh(ready + " --bogus").code, 2);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace ag::testing
