// scripts/install into a staging root with real (temporary) accounts: files,
// owners and modes; defaults never overwrite an admin's files; data already
// there is made private to the service user.
#include <grp.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <unistd.h>

#include <fstream>

#include "ops_util.h"

namespace ag::testing {
namespace {

class InstallTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "creating accounts needs root";
    root_ = TempDir("ag-install");
    bin_ = root_ + "-bin";
    std::filesystem::create_directories(bin_);
    for (const char* p : {"agentgate", "agentgate-mirror", "agentgate-pre-receive",
                          "agentgate-post-receive", "agentgate-hook"}) {
      std::ofstream(bin_ + "/" + p) << "#!/bin/sh\necho " << p << "\n";
      std::filesystem::permissions(bin_ + "/" + p, std::filesystem::perms(0755));
    }
    std::string suffix = std::to_string(::getpid());
    user_ = "agtest" + suffix;
    group_ = "agrevtest" + suffix;
  }
  void TearDown() override {
    if (root_.empty()) return;
    (void)Sh("userdel " + user_);
    (void)Sh("groupdel " + user_);
    (void)Sh("groupdel " + group_);
    std::filesystem::remove_all(root_);
    std::filesystem::remove_all(bin_);
  }
  CommandResult Install() {
    return Sh(Src("scripts/install") + " --root " + root_ + " --bin-dir " + bin_ +
              " --no-systemctl --user " + user_ + " --reviewers-group " + group_);
  }
  std::string Owner(const std::string& rel) {
    struct stat st;
    if (::lstat((root_ + rel).c_str(), &st) != 0) return "missing";
    struct passwd* pw = ::getpwuid(st.st_uid);
    struct group* gr = ::getgrgid(st.st_gid);
    return std::string(pw ? pw->pw_name : "?") + ":" + (gr ? gr->gr_name : "?");
  }
  int Mode(const std::string& rel) { return ModeOf(root_ + rel); }

  std::string root_, bin_, user_, group_;
};

TEST_F(InstallTest, InstallsFilesAccountsAndModes) {
  CommandResult r = Install();
  ASSERT_EQ(r.code, 0) << r.output;

  struct passwd* pw = ::getpwnam(user_.c_str());
  ASSERT_NE(pw, nullptr);
  EXPECT_STREQ(pw->pw_dir, "/var/lib/agentgate");
  EXPECT_NE(std::string(pw->pw_shell).find("nologin"), std::string::npos);
  EXPECT_LT(pw->pw_uid, 1000u) << "a system user";
  EXPECT_NE(::getgrnam(group_.c_str()), nullptr);

  for (const char* p : {"agentgate", "agentgate-mirror", "agentgate-pre-receive",
                        "agentgate-post-receive", "agentgate-hook", "agentgate-wait-ready",
                        "agentgate-setup"}) {
    EXPECT_EQ(Mode(std::string("/usr/lib/agentgate/") + p), 0755) << p;
  }
  std::error_code ec;
  EXPECT_EQ(std::filesystem::read_symlink(root_ + "/usr/bin/agentgate", ec).string(),
            "/usr/lib/agentgate/agentgate");
  for (const char* u : {"agentgate-mirror.service", "agentgate-maintenance.service",
                        "agentgate-maintenance.timer"}) {
    EXPECT_EQ(Mode(std::string("/etc/systemd/system/") + u), 0644) << u;
  }
  EXPECT_EQ(Mode("/etc/agentgate"), 0755);
  EXPECT_EQ(Mode("/etc/agentgate/agentgate.yaml"), 0644);
  EXPECT_EQ(Owner("/etc/agentgate/agentgate.yaml"), "root:" + user_);
  EXPECT_EQ(Mode("/etc/agentgate/policy.yaml"), 0644);
  EXPECT_EQ(Mode("/etc/agentgate/credentials"), 0700);
  EXPECT_EQ(Owner("/etc/agentgate/credentials"), "root:root");
  EXPECT_EQ(Mode("/etc/default/agentgate"), 0644);
  EXPECT_EQ(Mode("/var/lib/agentgate"), 0750);
  EXPECT_EQ(Owner("/var/lib/agentgate"), user_ + ":" + user_);
  EXPECT_EQ(Mode("/var/lib/agentgate/repos"), 0750);
  EXPECT_EQ(Owner("/var/lib/agentgate/repos"), user_ + ":" + user_);
  EXPECT_EQ(Mode("/usr/share/agentgate/policy.yaml"), 0644);
}

TEST_F(InstallTest, KeepsAdminFilesAndMakesDataPrivate) {
  ASSERT_EQ(Install().code, 0);
  std::ofstream(root_ + "/etc/agentgate/agentgate.yaml") << "data_dir: /srv/mine\n";
  std::string data = root_ + "/var/lib/agentgate";
  std::ofstream(data + "/agentgate.db") << "db";
  std::ofstream(data + "/server.key") << "key";
  ::chmod((data + "/agentgate.db").c_str(), 0666);
  ::chmod((data + "/server.key").c_str(), 0644);
  ::chmod(data.c_str(), 0777);

  CommandResult r = Install();
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("kept existing"), std::string::npos) << r.output;
  std::ifstream in(root_ + "/etc/agentgate/agentgate.yaml");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text, "data_dir: /srv/mine\n");
  EXPECT_EQ(Mode("/var/lib/agentgate"), 0750);
  EXPECT_EQ(Mode("/var/lib/agentgate/agentgate.db"), 0640);
  EXPECT_EQ(Owner("/var/lib/agentgate/agentgate.db"), user_ + ":" + user_);
  EXPECT_EQ(Mode("/var/lib/agentgate/server.key"), 0600);
  EXPECT_EQ(Owner("/var/lib/agentgate/server.key"), user_ + ":" + user_);
}

TEST_F(InstallTest, RefusesWithoutTheBuiltPrograms) {
  std::filesystem::remove(bin_ + "/agentgate-mirror");
  CommandResult r = Install();
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("agentgate-mirror is missing"), std::string::npos) << r.output;
  EXPECT_EQ(Sh("getent passwd " + user_).code, 2) << "no account made on a failed install";
}

}  // namespace
}  // namespace ag::testing
