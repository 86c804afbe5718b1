// End to end: hostile and oversized pushes each get a decision and a clear
// message; none crashes the hook or leaves a half-written record.
#include <nlohmann/json.hpp>

#include "hook/hook_fixture.h"
#include "store/audit.h"

namespace ag::testing {
namespace {

class HookLimitsTest : public HookFixture {
 protected:
  std::string MachineOutcome(const std::string& output, const std::string& ref) {
    std::istringstream in(output);
    std::string line;
    while (std::getline(in, line)) {
      size_t at = line.find("agentgate: {");
      if (at == std::string::npos) continue;
      auto j = nlohmann::json::parse(line.substr(at + 11), nullptr, false);
      if (!j.is_discarded() && j.value("ref", "") == ref) return j.value("outcome", "");
    }
    return "";
  }
  void ExpectChainIntact() {
    auto db = OpenDb();
    ASSERT_TRUE(db);
    auto v = store::VerifyAudit(*db);
    ASSERT_TRUE(v.ok());
    EXPECT_FALSE(v->first_broken_seq.has_value());
    auto incoming = store::ListRequests(*db, {.status = store::RequestStatus::kIncoming});
    ASSERT_TRUE(incoming.ok());
    EXPECT_TRUE(incoming->empty()) << "a half-recorded request was left behind";
  }
};

TEST_F(HookLimitsTest, HugeBlobIsBlockedWithoutLoadingIt) {
  ASSERT_EQ(Git(work_, "checkout -q -b agent/huge").exit_code, 0);
  ASSERT_EQ(Sh("head -c 200000000 /dev/urandom > " + work_ + "/big.bin").exit_code, 0);
  Commit("200 MB");
  RunResult r = Push("agent/huge");
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_EQ(MachineOutcome(r.output, "refs/heads/agent/huge"), "block") << r.output;
  EXPECT_NE(r.output.find("max-blob-size"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("190.7 MiB > 10.0 MiB"), std::string::npos) << r.output;
  ExpectChainIntact();
}

TEST_F(HookLimitsTest, TenThousandFilesInOneCommitGetADecision) {
  ASSERT_EQ(Git(work_, "checkout -q -b agent/wide").exit_code, 0);
  for (int i = 0; i < 10000; ++i) {
    Write("gen/d" + std::to_string(i % 100) + "/f" + std::to_string(i) + ".txt",
          "line " + std::to_string(i) + "\n");
  }
  Commit("10,000 files");
  RunResult r = Push("agent/wide");
  ASSERT_EQ(r.exit_code, 0) << r.output.substr(0, 4000);
  EXPECT_EQ(MachineOutcome(r.output, "refs/heads/agent/wide"), "hold");
  ASSERT_EQ(Requests().size(), 1u);
  ExpectChainIntact();
}

TEST_F(HookLimitsTest, TwoThousandCommitsAreBlockedByTheCommitLimit) {
  // git fast-import builds 2,000 commits on top of main in one go.
  std::string stream;
  for (int i = 1; i <= 2000; ++i) {
    std::string content = "commit " + std::to_string(i) + "\n";
    stream += "commit refs/heads/agent/long\nmark :" + std::to_string(i) +
              "\ncommitter Agent <agent@example.com> 1700000000 +0000\ndata 3\nc" +
              std::to_string(i % 10) + "\n";
    if (i == 1) stream += "from " + base_ + "\n";
    stream += "M 100644 inline log.txt\ndata " + std::to_string(content.size()) + "\n" + content + "\n";
  }
  WriteFile(root_ + "/stream", stream);
  ASSERT_EQ(Sh("git -C " + work_ + " fast-import --quiet < " + root_ + "/stream").exit_code, 0);
  RunResult r = Push("agent/long");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(MachineOutcome(r.output, "refs/heads/agent/long"), "block") << r.output;
  EXPECT_NE(r.output.find("2000 > 1000"), std::string::npos) << r.output;
  ExpectChainIntact();
}

TEST_F(HookLimitsTest, OneBlockRefusesTheWholeMultiRefPush) {
  ASSERT_EQ(Git(work_, "checkout -q -b agent/good").exit_code, 0);
  Write("src/app.py", "print('fine')\n");
  Commit("fine");
  ASSERT_EQ(Git(work_, "checkout -q -b agent/bad main").exit_code, 0);
  Write("id_rsa", "nope\n");
  Commit("key");
  RunResult r = Push("agent/good agent/bad");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(MachineOutcome(r.output, "refs/heads/agent/bad"), "block");
  EXPECT_NE(r.output.find("would be held for review"), std::string::npos) << r.output;
  EXPECT_EQ(BareRef("refs/heads/agent/good"), "");
  EXPECT_TRUE(Requests().empty());
  ExpectChainIntact();
}

TEST_F(HookLimitsTest, UnreadableConfigRefusesThePush) {
  WriteFile(config_, "data_dir: [unclosed\n");
  ASSERT_EQ(Git(work_, "checkout -q -b agent/x").exit_code, 0);
  Commit("x");
  RunResult r = Push("agent/x");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("push refused"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(config_ + ":"), std::string::npos) << r.output;
  EXPECT_EQ(BareRef("refs/heads/agent/x"), "");
}

TEST_F(HookLimitsTest, UnwritableStoreRefusesThePush) {
  std::filesystem::remove_all(root_ + "/data");
  WriteFile(root_ + "/data", "a file where the data folder should be\n");
  ASSERT_EQ(Git(work_, "checkout -q -b agent/x").exit_code, 0);
  Commit("x");
  RunResult r = Push("agent/x");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("push refused"), std::string::npos) << r.output;
  EXPECT_EQ(BareRef("refs/heads/agent/x"), "");
}

}  // namespace
}  // namespace ag::testing
