// Issue 7's secret-leak search at the store level: known fake secrets and a
// known agent token go through the paths the hooks and the daemon use
// (masked findings, fingerprints, audit events, log lines, exports, the
// story), then the database files, the log and every export are searched for
// them. The end-to-end version through the real hook reuses leak_check.h.
#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "audit/export.h"
#include "audit/story.h"
#include "leak_check.h"
#include "store/audit.h"
#include "store/db.h"
#include "store/requests.h"
#include "util/crypto.h"
#include "util/log.h"
#ifdef AG_HAVE_SCAN
#include "scan/scanner.h"
#endif

namespace ag {
namespace {

using ag::testing::AssertNoLeak;
using ag::testing::NoLeak;

// Built by concatenation so this source file is not itself a finding.
const std::string kAwsKey = std::string("AKIA") + "Q3EGRJSK4XH7Z2WM";
const std::string kAwsSecret = std::string("wJalrXUtnFEMI/K7MDENG/") + "bPxRfiCYq9Zk3Lm2Tt";
const std::string kGithubToken = std::string("ghp_") + "R8m2Kq9Xz4Vb7Nc1Lp5Wd3Hf6Jg0Ts2Ya8Qe";
const std::string kAgentToken = std::string("ag_") + "5f2c9e71b04d4a8e9c3b7a61d2e8f0c4b9a7d3e1";

std::string MaskValue(const std::string& v) {
#ifdef AG_HAVE_SCAN
  return scan::Mask(v);
#else
  return v.substr(0, 4) + "****";
#endif
}

class LeakTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ag-leak-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    log_ = dir_ + "/daemon.log";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Runs `fn` with stderr (where ag::Log writes) going to the log file.
  template <typename Fn>
  void WithLog(Fn fn) {
    int saved = ::dup(2);
    int fd = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    ASSERT_GE(fd, 0);
    ::dup2(fd, 2);
    ::close(fd);
    fn();
    ::dup2(saved, 2);
    ::close(saved);
  }

  std::string dir_, log_;
};

TEST_F(LeakTest, NoSecretOrTokenInTheDatabaseLogsOrExports) {
  const std::string key(32, 'k');
  std::string data = dir_ + "/data";
  std::filesystem::create_directories(data);
  SetLogLevel(LogLevel::kDebug);
  std::unique_ptr<store::Db> db;
  int64_t id = 0;
  WithLog([&] {
    auto opened = store::Db::Open(data + "/agentgate.db");
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    db = std::move(*opened);

    // What the mirror logs on authentication: identity and a token hash prefix.
    std::string token_id = Sha256Hex(kAgentToken).substr(0, 12);
    LogInfo("auth.ok", {{"identity", "agent-ci"}, {"method", "token"}, {"token", token_id}});
    LogWarn("auth.failed", {{"reason", "unknown token"}, {"token", Sha256Hex("ag_bad").substr(0, 12)}});

    // What the hook records: masked findings with fingerprints.
    nlohmann::json findings = nlohmann::json::array();
    for (const auto& [rule, value] : std::vector<std::pair<std::string, std::string>>{
             {"aws-access-key-id", kAwsKey}, {"aws-secret-access-key", kAwsSecret},
             {"github-pat", kGithubToken}}) {
      findings.push_back({{"rule_id", rule}, {"path", "config/prod.env"}, {"line", 3},
                          {"masked", MaskValue(value)},
                          {"fingerprint", HexEncode(HmacSha256(key, value))}});
      LogInfo("scan.finding", {{"rule", rule}, {"masked", MaskValue(value)}});
    }
    store::Request r;
    r.repo = "demo";
    r.ref = "refs/heads/main";
    r.old_oid = std::string(40, '0');
    r.new_oid = std::string(40, 'b');
    r.identity = "agent-ci";
    r.method = "token";
    r.claims_json = R"({"token":")" + token_id + R"("})";
    r.push_options_json = R"(["task=JIRA-7"])";
    r.findings_json = findings.dump();
    r.rules_json = R"([{"id":"secrets","outcome":"hold","message":"3 findings"}])";
    store::AuditEvent decision;
    decision.kind = "push.decision";
    decision.actor = "agent-ci";
    decision.repo = "demo";
    decision.data_json = nlohmann::json({{"ref", r.ref}, {"new", r.new_oid}, {"outcome", "hold"},
                                         {"findings", findings}, {"push_options", {"task=JIRA-7"}}})
                             .dump();
    {
      store::Transaction tx(*db);
      ASSERT_TRUE(tx.status().ok());
      ASSERT_TRUE(store::AppendAudit(*db, decision).ok());
      ASSERT_TRUE(tx.Commit().ok());
    }
    auto inserted = store::InsertRequest(*db, r, 3600);
    ASSERT_TRUE(inserted.ok()) << inserted.status().ToString();
    id = *inserted;
    ASSERT_TRUE(store::LandRequest(*db, r.repo, r.ref, r.old_oid, r.new_oid).ok());
    ASSERT_TRUE(store::TransitionRequest(*db, id, store::RequestStatus::kPending,
                                         store::RequestStatus::kApproved, "alice",
                                         "test fixture keys", "request.approved").ok());
    LogInfo("request.approved", {{"id", std::to_string(id)}, {"reviewer", "alice"}});
  });
  ASSERT_TRUE(db);

  std::string jsonl = dir_ + "/export.jsonl";
  {
    std::ofstream out(jsonl);
    ASSERT_TRUE(audit::ExportAudit(*db, {}, out).ok());
  }
  auto story = audit::LoadStory(*db, id);
  ASSERT_TRUE(story.ok());
  std::ofstream(dir_ + "/show.txt") << audit::RenderStoryText(*story);
  std::ofstream(dir_ + "/show.json") << audit::StoryJson(*story).dump(2);
  db.reset();

  // The searched files really hold the records (a search of empty files
  // proves nothing).
  std::ifstream exported(jsonl);
  std::string all((std::istreambuf_iterator<char>(exported)), std::istreambuf_iterator<char>());
  EXPECT_NE(all.find(MaskValue(kAwsKey)), std::string::npos);
  EXPECT_NE(all.find("push.decision"), std::string::npos);
  std::ifstream logs(log_);
  std::string log_text((std::istreambuf_iterator<char>(logs)), std::istreambuf_iterator<char>());
  EXPECT_NE(log_text.find("event=scan.finding"), std::string::npos) << log_text;

  AssertNoLeak({data, log_, jsonl, dir_ + "/show.txt", dir_ + "/show.json"},
               {kAwsKey, kAwsSecret, kGithubToken, kAgentToken});
}

TEST_F(LeakTest, TheSearchFindsAPlantedSecretWithoutPrintingIt) {
  std::ofstream(dir_ + "/raw.txt") << "x=" << kGithubToken << "\n";
  std::ofstream(dir_ + "/hex.txt") << ag::testing::LeakHex(kAgentToken);
  std::filesystem::create_directories(dir_ + "/sub");
  std::ofstream(dir_ + "/sub/clean.txt") << "nothing here\n";
  ::testing::AssertionResult r = NoLeak({dir_}, {kGithubToken, kAgentToken});
  ASSERT_FALSE(r);
  std::string msg = r.message();
  EXPECT_NE(msg.find("raw.txt"), std::string::npos) << msg;
  EXPECT_NE(msg.find("hex.txt"), std::string::npos) << msg;
  EXPECT_EQ(msg.find(kGithubToken), std::string::npos);
  EXPECT_EQ(msg.find(kAgentToken), std::string::npos);
  EXPECT_TRUE(NoLeak({dir_ + "/sub"}, {kGithubToken}));
  EXPECT_FALSE(NoLeak({dir_ + "/missing"}, {kGithubToken}));
}

}  // namespace
}  // namespace ag
