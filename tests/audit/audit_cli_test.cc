// `agentgate audit ...` as a real process: exit codes and messages.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "audit_fixture.h"

namespace ag::audit {
namespace {

struct Out {
  int code = -1;
  std::string text;  // stdout and stderr
};

// Runs `agentgate ARGS`, or a whole command line when ARGS starts with a
// variable assignment.
Out Agentgate(const std::string& args) {
  Out o;
  std::string cmd = (args.find('=') != std::string::npos && args.find('=') < args.find(' ')
                         ? args
                         : std::string(AG_BIN_DIR) + "/agentgate " + args) + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return o;
  char buf[512];
  while (std::fgets(buf, sizeof buf, p)) o.text += buf;
  int st = ::pclose(p);
  o.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return o;
}

class AuditCliTest : public testing::AuditFixture {
 protected:
  std::string Db() const { return "--db " + db_path(); }
};

TEST_F(AuditCliTest, VerifyIntactThenBroken) {
  AddRequest();
  Append("x");
  Out ok = Agentgate("audit verify " + Db());
  EXPECT_EQ(ok.code, 0) << ok.text;
  EXPECT_NE(ok.text.find("audit chain intact: 3 rows (head 3:"), std::string::npos) << ok.text;
  EXPECT_NE(ok.text.find("no anchor"), std::string::npos) << ok.text;

  Tamper("UPDATE audit SET actor = 'mallory' WHERE seq = 2");
  Out bad = Agentgate("audit verify " + Db());
  EXPECT_EQ(bad.code, 1) << bad.text;
  EXPECT_NE(bad.text.find("BROKEN at row 2"), std::string::npos) << bad.text;
}

TEST_F(AuditCliTest, AnchorCatchesTruncation) {
  for (int i = 0; i < 5; ++i) Append("x");
  Out a = Agentgate("audit anchor " + Db());
  ASSERT_EQ(a.code, 0) << a.text;
  EXPECT_NE(a.text.find("anchored row 5"), std::string::npos) << a.text;
  EXPECT_NE(a.text.find("event=audit.anchor"), std::string::npos) << a.text;  // the log line
  Out ok = Agentgate("audit verify " + Db());
  EXPECT_EQ(ok.code, 0) << ok.text;
  EXPECT_NE(ok.text.find("anchor: row 5 reached"), std::string::npos) << ok.text;

  Tamper("DELETE FROM audit WHERE seq = 5");
  Out bad = Agentgate("audit verify " + Db());
  EXPECT_EQ(bad.code, 1) << bad.text;
  EXPECT_NE(bad.text.find("row 5 is missing"), std::string::npos) << bad.text;
  Out refused = Agentgate("audit anchor " + Db());
  EXPECT_EQ(refused.code, 1) << refused.text;
}

TEST_F(AuditCliTest, ExportFiltersAndWritesAFile) {
  AddRequest("demo");
  AddRequest("other", "refs/heads/dev", std::string(40, 'c'));
  std::string file = dir_ + "/out.jsonl";
  Out o = Agentgate("audit export " + Db() + " --since 24h --repo other -o " + file);
  ASSERT_EQ(o.code, 0) << o.text;
  std::ifstream in(file);
  int n = 0;
  for (std::string line; std::getline(in, line); ++n) {
    nlohmann::json j = nlohmann::json::parse(line);
    EXPECT_EQ(j["repo"], "other");
  }
  EXPECT_EQ(n, 2);  // created, pending
  EXPECT_NE(o.text.find("exported 2 rows"), std::string::npos) << o.text;
  Out none = Agentgate("audit export " + Db() + " --since 2999-01-01");
  EXPECT_EQ(none.code, 0);
  EXPECT_NE(none.text.find("exported 0 rows"), std::string::npos);
  Out bad = Agentgate("audit export " + Db() + " --since yesterday");
  EXPECT_EQ(bad.code, 2) << bad.text;
}

TEST_F(AuditCliTest, ShowTextJsonAndUnknown) {
  int64_t id = AddRequest();
  Out text = Agentgate("audit show " + std::to_string(id) + " " + Db());
  EXPECT_EQ(text.code, 0) << text.text;
  EXPECT_NE(text.text.find("pushed by:    agent-ci (token)"), std::string::npos) << text.text;
  EXPECT_NE(text.text.find("task=JIRA-42"), std::string::npos) << text.text;
  Out json = Agentgate("audit show " + std::to_string(id) + " --json " + Db());
  EXPECT_EQ(json.code, 0) << json.text;
  EXPECT_EQ(nlohmann::json::parse(json.text)["status"], "pending");
  Out missing = Agentgate("audit show 999 " + Db());
  EXPECT_EQ(missing.code, 2);
  EXPECT_NE(missing.text.find("no request 999"), std::string::npos) << missing.text;
}

TEST_F(AuditCliTest, PruneThroughTheConfig) {
  std::string config = dir_ + "/agentgate.yaml";
  std::ofstream(config) << "data_dir: " << dir_ << "\nrepos:\n  - {name: demo}\n";
  ::system(("git init -q --bare -b main " + dir_ + "/repos/demo.git").c_str());
  Out o = Agentgate("audit prune --older-than 90d --config " + config);
  EXPECT_EQ(o.code, 0) << o.text;
  EXPECT_NE(o.text.find("demo: pruned 0 request(s)"), std::string::npos) << o.text;
  Out viaenv = Agentgate("AGENTGATE_CONFIG=" + config + " " + std::string(AG_BIN_DIR) +
                         "/agentgate audit verify");
  EXPECT_EQ(viaenv.code, 0) << viaenv.text;
  Out bad = Agentgate("audit prune --older-than soon --config " + config);
  EXPECT_EQ(bad.code, 2);
  Out norepo = Agentgate("audit prune --older-than 1d --repo nope --config " + config);
  EXPECT_EQ(norepo.code, 2) << norepo.text;
}

TEST(AuditCli, HelpAndUsage) {
  EXPECT_EQ(Agentgate("audit --help").code, 0);
  EXPECT_EQ(Agentgate("audit verify --help").code, 0);
  EXPECT_EQ(Agentgate("audit").code, 2);
  EXPECT_EQ(Agentgate("audit frobnicate").code, 2);
  Out missing = Agentgate("audit verify --db /nonexistent/agentgate.db");
  EXPECT_EQ(missing.code, 2) << missing.text;
}

}  // namespace
}  // namespace ag::audit
