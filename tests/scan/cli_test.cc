// `agentgate scan` end to end: the built binary on real files and a real git
// repository (made with the git CLI): exit codes, JSON lines, no leaks.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "scan/test_util.h"

namespace ag::scan {
namespace {

namespace fs = std::filesystem;
using testing::Cat;
using testing::kAlnum;
using testing::Noise;

struct Proc {
  int code = -1;
  std::string out;
};

// Runs a shell command line, capturing stdout (stderr to a file in `dir`).
Proc Sh(const std::string& cmd) {
  Proc r;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  int status = ::pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

class ScanCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ag-scan-cli-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }
  void Write(const std::string& rel, const std::string& text) {
    fs::create_directories(fs::path(dir_ + "/" + rel).parent_path());
    std::ofstream(dir_ + "/" + rel, std::ios::binary) << text;
  }
  Proc Scan(const std::string& args) {
    return Sh(std::string(AG_BIN_DIR) + "/agentgate scan " + args + " 2>" + dir_ + "/stderr");
  }
  std::string Stderr() {
    std::ifstream in(dir_ + "/stderr");
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  std::string dir_;
};

TEST_F(ScanCliTest, ExitCodes) {
  Write("clean/a.txt", "nothing to see\n");
  EXPECT_EQ(Scan(dir_ + "/clean").code, 0);
  Write("dirty/b.py", Cat({"TOKEN = 'gh", "p_", Noise(36, kAlnum, 1), "'\n"}));
  EXPECT_EQ(Scan(dir_ + "/dirty").code, 1);
  EXPECT_EQ(Scan(dir_ + "/does-not-exist").code, 2);
  EXPECT_EQ(Scan("--no-such-flag " + dir_).code, 2);
  EXPECT_EQ(Scan("").code, 2);  // no paths
  Write("bad.toml", "[[rules]]\nid = 'x'\nregex = '''(unclosed'''\n");
  EXPECT_EQ(Scan("--rules " + dir_ + "/bad.toml " + dir_ + "/clean").code, 2);
  EXPECT_NE(Stderr().find("bad.toml:1"), std::string::npos) << Stderr();
  Write("bad.yaml", "rules: [\n");
  EXPECT_EQ(Scan("--rules " + dir_ + "/bad.yaml " + dir_ + "/clean").code, 2);
  EXPECT_NE(Stderr().find("bad.yaml:"), std::string::npos) << Stderr();
}

TEST_F(ScanCliTest, JsonLinesNeverLeak) {
  const std::string ghp = Cat({"gh", "p_", Noise(36, kAlnum, 2)});
  const std::string pw = Noise(20, kAlnum, 3);
  Write("src/app.py", "x = 1\nTOKEN = '" + ghp + "'\ndb_password = \"" + pw + "\"\n");
  Write("src/.git/config", "token = " + ghp + "\n");  // .git is not walked
  Write("node_modules/m/index.js", "t='" + ghp + "'\n");  // skipped, noted
  std::string bin = "GH=" + ghp;
  bin.push_back('\0');
  Write("img.dat", bin);
  Proc r = Scan("--json " + dir_);
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.out.find(ghp), std::string::npos);
  EXPECT_EQ(r.out.find(pw), std::string::npos);
  EXPECT_EQ(Stderr().find(ghp), std::string::npos);
  std::istringstream lines(r.out);
  std::string line;
  std::vector<std::string> rules;
  while (std::getline(lines, line)) {
    nlohmann::json j = nlohmann::json::parse(line);
    rules.push_back(j["rule"]);
    EXPECT_EQ(j["path"], dir_ + "/src/app.py");
    EXPECT_EQ(j["fingerprint"].get<std::string>().size(), 64u);
    for (const char* k : {"line", "column", "masked", "commit"}) EXPECT_TRUE(j.contains(k)) << k;
  }
  std::sort(rules.begin(), rules.end());
  EXPECT_EQ(rules, (std::vector<std::string>{"generic-secret-quoted", "github-token"}));
  EXPECT_NE(Stderr().find("node_modules: path skipped by rule pack"), std::string::npos) << Stderr();
  EXPECT_NE(Stderr().find("img.dat: binary"), std::string::npos) << Stderr();
}

TEST_F(ScanCliTest, GitHistoryScansEveryCommitAndEvilMerges) {
  const std::string repo = dir_ + "/repo";
  const std::string git = "git -C " + repo +
                          " -c user.name=t -c user.email=t@example.org -c commit.gpgsign=false ";
  ASSERT_EQ(Sh("git init -q -b main " + repo).code, 0);
  Write("repo/a.txt", "hello\n");
  ASSERT_EQ(Sh(git + "add a.txt && " + git + "commit -q -m one").code, 0);
  const std::string base = Sh("git -C " + repo + " rev-parse HEAD").out.substr(0, 40);
  // A secret added and removed inside the range is still found.
  const std::string s1 = Cat({"gh", "p_", Noise(36, kAlnum, 4)});
  Write("repo/a.txt", "hello\ntoken " + s1 + "\n");
  ASSERT_EQ(Sh(git + "commit -q -am two").code, 0);
  Write("repo/a.txt", "hello\n");
  ASSERT_EQ(Sh(git + "commit -q -am three").code, 0);
  // A merge that adds a secret of its own (not in either parent).
  ASSERT_EQ(Sh(git + "checkout -q -b side && echo side > " + repo + "/b.txt && " + git +
               "add b.txt && " + git + "commit -q -m side && " + git + "checkout -q main")
                .code,
            0);
  ASSERT_EQ(Sh(git + "merge -q --no-ff --no-commit side").code, 0);
  const std::string s2 = Cat({"gl", "pat-", Noise(20, kAlnum, 5)});
  Write("repo/c.txt", "GITLAB=" + s2 + "\n");
  ASSERT_EQ(Sh(git + "add c.txt && " + git + "commit -q -m merge").code, 0);

  Proc r = Scan("--json --git " + repo + " --range " + base + "..main");
  EXPECT_EQ(r.code, 1) << Stderr();
  EXPECT_EQ(r.out.find(s1), std::string::npos);
  EXPECT_EQ(r.out.find(s2), std::string::npos);
  std::istringstream lines(r.out);
  std::string line;
  std::vector<std::string> got;
  while (std::getline(lines, line)) {
    nlohmann::json j = nlohmann::json::parse(line);
    EXPECT_EQ(j["commit"].get<std::string>().size(), 40u);
    got.push_back(j["rule"].get<std::string>() + " " + j["path"].get<std::string>() + ":" +
                  std::to_string(j["line"].get<int>()));
  }
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (std::vector<std::string>{"github-token a.txt:2", "gitlab-token c.txt:1"}));
  // Only the first commit: clean.
  EXPECT_EQ(Scan("--git " + repo + " --range " + base).code, 0) << Stderr();
  EXPECT_EQ(Scan("--git " + dir_ + "/nope").code, 2);
}

}  // namespace
}  // namespace ag::scan
