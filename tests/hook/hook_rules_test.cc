// End to end: the real git client pushes to a real bare repo whose
// pre-receive and post-receive hooks are agentgate's; one test per rule.
#include <nlohmann/json.hpp>
#include <set>

#include "hook/hook_fixture.h"
#include "scan/rules.h"

namespace ag::testing {
namespace {

// Built at run time so this file holds no literal secret.
std::string FakeAwsKey() { return std::string("AKIA") + "Z7VRSQ5TXNAMEQ3K"; }
// GitHub tokens end in a CRC32 of their random part (issue 13): a token with
// a valid one is blocked, one with a wrong one is held for a human.
std::string FakeGithubToken() {
  const std::string payload = "r8Kq2Xw7Lm4Np9Tb6Vc3Zs1Ye5Ud0H";
  return std::string("ghp_") + payload + scan::Crc32Base62(payload);
}
std::string GithubTokenWithBadChecksum() {
  std::string t = FakeGithubToken();
  t.back() = t.back() == '0' ? '1' : '0';
  return t;
}

class HookRulesTest : public HookFixture {
 protected:
  // The parsed machine-readable line for `ref` from a push's output.
  nlohmann::json Machine(const std::string& output, const std::string& ref) {
    std::istringstream in(output);
    std::string line;
    const std::string marker = "agentgate: {";
    while (std::getline(in, line)) {
      size_t at = line.find(marker);
      if (at == std::string::npos) continue;
      auto j = nlohmann::json::parse(line.substr(at + marker.size() - 1), nullptr, false);
      if (!j.is_discarded() && j.value("ref", "") == ref) return j;
    }
    return nlohmann::json();
  }
  bool Fired(const nlohmann::json& m, const std::string& rule) {
    if (!m.is_object()) return false;
    for (const auto& v : m["violations"]) {
      if (v.value("rule", "") == rule) return true;
    }
    return false;
  }
  void Branch(const std::string& name) { ASSERT_EQ(Git(work_, "checkout -q -b " + name).exit_code, 0); }

  // On a new branch `name`: a commit with a secret that the bare repo then
  // holds on no ref (fetched, its ref dropped; with `detach_head` the bare
  // HEAD is left detached on it), and a commit on top that removes the secret.
  // Returns the leaking commit.
  std::string UnreachableLeak(const std::string& name, bool detach_head) {
    Branch(name);
    Write("src/settings.py", "KEY = \"" + FakeAwsKey() + "\"\n");
    Commit("leak");
    std::string leak = Head();
    EXPECT_EQ(Git(bare_, "fetch -q " + Quote(work_) + " " + name + ":refs/tmp/leak").exit_code, 0);
    if (detach_head) EXPECT_EQ(Git(bare_, "update-ref --no-deref HEAD " + leak).exit_code, 0);
    EXPECT_EQ(Git(bare_, "update-ref -d refs/tmp/leak").exit_code, 0);
    EXPECT_EQ(Git(bare_, "cat-file -e " + leak).exit_code, 0);  // there, unreachable
    Write("src/settings.py", "KEY = os.environ['KEY']\n");
    Commit("fix");
    return leak;
  }
  // Pushing `name` is refused for the secret in `leak`; nothing lands.
  void ExpectBlockedForSecretIn(const std::string& name, const std::string& leak) {
    RunResult r = Push(name);
    EXPECT_NE(r.exit_code, 0) << r.output;
    nlohmann::json m = Machine(r.output, "refs/heads/" + name);
    ASSERT_TRUE(Fired(m, "secrets")) << r.output;
    EXPECT_EQ(m["findings"][0]["commit"], leak);
    EXPECT_EQ(BareRef("refs/heads/" + name), "");
  }
};

TEST_F(HookRulesTest, CleanChangeIsHeldAsPendingRequest) {
  Branch("agent/feature");
  Write("src/app.py", "print('hello, world')\n");
  Commit("greet the world");
  RunResult r = Push("agent/feature");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  nlohmann::json m = Machine(r.output, "refs/heads/agent/feature");
  ASSERT_TRUE(m.is_object()) << r.output;
  EXPECT_EQ(m["outcome"], "hold");
  EXPECT_EQ(m["rules"], nlohmann::json::array({"default"}));
  auto reqs = Requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].status, store::RequestStatus::kPending);
  EXPECT_EQ(reqs[0].identity.rfind("local:", 0), 0u);
  EXPECT_EQ(reqs[0].new_oid, Head());
  EXPECT_EQ(reqs[0].upstream_base, std::string(40, '0'));  // new branch upstream
  std::string id = std::to_string(reqs[0].id);
  EXPECT_EQ(BareRef("refs/agentgate/requests/" + id), Head());
  EXPECT_EQ(BareRef("refs/agentgate/state/" + id + "/pending"), Head());
  EXPECT_EQ(BareRef("refs/heads/agent/feature"), Head());
  EXPECT_NE(r.output.find("held for review as request " + id), std::string::npos) << r.output;
}

TEST_F(HookRulesTest, SecretAddedAndRemovedInsideOnePushIsBlockedAndMasked) {
  Branch("agent/leak");
  Write("src/settings.py", "AWS_ACCESS_KEY_ID = \"" + FakeAwsKey() + "\"\n");
  Commit("add settings");
  std::string leaking = Head();
  Write("src/settings.py", "AWS_ACCESS_KEY_ID = os.environ['AWS_ACCESS_KEY_ID']\n");
  Commit("read the key from the environment");
  RunResult r = Push("agent/leak");
  EXPECT_NE(r.exit_code, 0) << r.output;
  nlohmann::json m = Machine(r.output, "refs/heads/agent/leak");
  ASSERT_TRUE(m.is_object()) << r.output;
  EXPECT_EQ(m["outcome"], "block");
  EXPECT_TRUE(Fired(m, "secrets")) << r.output;
  ASSERT_FALSE(m["findings"].empty());
  EXPECT_EQ(m["findings"][0]["commit"], leaking);
  EXPECT_EQ(m["findings"][0]["path"], "src/settings.py");
  EXPECT_NE(m["findings"][0]["masked"].get<std::string>().find("****"), std::string::npos);
  // Never the whole secret: not to the pusher, not in the store.
  EXPECT_EQ(r.output.find(FakeAwsKey()), std::string::npos);
  EXPECT_EQ(StoreBytes().find(FakeAwsKey()), std::string::npos);
  EXPECT_EQ(BareRef("refs/heads/agent/leak"), "");  // nothing landed
  EXPECT_TRUE(Requests().empty());
}

// A token of the right shape whose checksum fails was not issued by the
// provider (a typo, a made-up or test value): held for a human, who sees why;
// the same token with a valid checksum is blocked.
TEST_F(HookRulesTest, TokenWithAFailingChecksumIsHeldNotBlocked) {
  Branch("agent/crc");
  Write("src/ci.py", "gh = '" + GithubTokenWithBadChecksum() + "'\n");
  Commit("ci token");
  RunResult r = Push("agent/crc");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  nlohmann::json m = Machine(r.output, "refs/heads/agent/crc");
  ASSERT_TRUE(m.is_object()) << r.output;
  EXPECT_EQ(m["outcome"], "hold");
  ASSERT_TRUE(Fired(m, "secrets")) << r.output;
  EXPECT_EQ(m["findings"][0]["checksum"], "invalid");
  bool said = false;
  for (const auto& v : m["violations"])
    said = said || v.value("detail", "").find("checksum invalid") != std::string::npos;
  EXPECT_TRUE(said) << r.output;
  EXPECT_EQ(r.output.find(GithubTokenWithBadChecksum()), std::string::npos);
  ASSERT_EQ(Requests().size(), 1u);

  Write("src/ci.py", "gh = '" + FakeGithubToken() + "'\n");
  Commit("the real one");
  RunResult valid = Push("agent/crc");
  EXPECT_NE(valid.exit_code, 0) << valid.output;
  nlohmann::json mv = Machine(valid.output, "refs/heads/agent/crc");
  EXPECT_EQ(mv["outcome"], "block") << valid.output;
  bool valid_said = false;
  for (const auto& f : mv["findings"]) valid_said = valid_said || f.value("checksum", "") == "valid";
  EXPECT_TRUE(valid_said) << valid.output;
}

// Review findings: made-up tokens (held) in numbers must not bury a real
// one (blocked): the violation cap counts each outcome apart, and a file
// with more findings than the scanner keeps is refused outright.
TEST_F(HookRulesTest, ManyHeldFindingsNeverHideABlockingOne) {
  auto bad = [](int i) {
    std::string payload = "r8Kq2Xw7Lm4Np9Tb6Vc3Zs1Ye5Ud" + std::to_string(10 + i % 90);
    std::string check = scan::Crc32Base62(payload);
    check[5] = check[5] == '0' ? '1' : '0';
    return "ghp_" + payload + check;
  };
  Branch("agent/many");
  std::string text;
  for (int i = 0; i < 60; ++i) text += "t" + std::to_string(i) + " = '" + bad(i) + "'\n";
  text += "zz = '" + FakeGithubToken() + "'\n";
  Write("fixtures.py", text);
  Commit("fixtures");
  RunResult r = Push("agent/many");
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_EQ(Machine(r.output, "refs/heads/agent/many")["outcome"], "block") << r.output;

  ASSERT_EQ(Git(work_, "checkout -q -b agent/flood main").exit_code, 0);
  std::string flood;
  for (int i = 0; i < 1010; ++i) flood += "t" + std::to_string(i) + " = '" + bad(i) + "'\n";
  Write("flood.py", flood);
  Commit("flood");
  RunResult f = Push("agent/flood");
  EXPECT_NE(f.exit_code, 0) << f.output.substr(0, 2000);
  nlohmann::json m = Machine(f.output, "refs/heads/agent/flood");
  EXPECT_EQ(m["outcome"], "block");
  bool said = false;
  for (const auto& v : m["violations"])
    said = said || (v.value("outcome", "") == "block" &&
                    v.value("detail", "").find("too many findings") != std::string::npos);
  std::string blocks;
  for (const auto& v : m["violations"])
    if (v.value("outcome", "") == "block") blocks += v.dump() + "\n";
  EXPECT_TRUE(said) << blocks << m["notes"].dump().substr(0, 1000) << m["violations"].size();
}

TEST_F(HookRulesTest, SecretWrittenIntoAMergeCommitIsBlocked) {
  Branch("agent/merge");
  Write("a.txt", "a\n");
  Commit("a");
  ASSERT_EQ(Git(work_, "checkout -q -b side main").exit_code, 0);
  Write("b.txt", "b\n");
  Commit("b");
  ASSERT_EQ(Git(work_, "checkout -q agent/merge").exit_code, 0);
  ASSERT_EQ(Git(work_, "merge -q --no-ff --no-commit side").exit_code, 0);
  Write("b.txt", "b\ntoken = \"" + FakeGithubToken() + "\"\n");  // the evil merge
  Commit("merge side");
  RunResult r = Push("agent/merge");
  EXPECT_NE(r.exit_code, 0) << r.output;
  nlohmann::json m = Machine(r.output, "refs/heads/agent/merge");
  ASSERT_TRUE(Fired(m, "secrets")) << r.output;
  EXPECT_EQ(m["findings"][0]["commit"], Head());
  EXPECT_EQ(r.output.find(FakeGithubToken()), std::string::npos);
}

TEST_F(HookRulesTest, ContentMergedFromAnotherParentIsNotReportedAgain) {
  // b.txt arrives through the second parent; the merge itself adds nothing.
  Branch("agent/merge-clean");
  Write("a.txt", "a\n");
  Commit("a");
  ASSERT_EQ(Git(work_, "checkout -q -b side main").exit_code, 0);
  Write(".github/workflows/ci.yml", "on: push\n");
  Commit("ci");
  ASSERT_EQ(Git(work_, "checkout -q agent/merge-clean").exit_code, 0);
  ASSERT_EQ(Git(work_, "merge -q --no-ff -m merge side").exit_code, 0);
  RunResult r = Push("agent/merge-clean");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  nlohmann::json m = Machine(r.output, "refs/heads/agent/merge-clean");
  int count = 0;
  for (const auto& v : m["violations"]) count += v["rule"] == "protected-paths";
  EXPECT_EQ(count, 1) << r.output;  // from commit "ci" only, not again from the merge
}

TEST_F(HookRulesTest, ProtectedPathIsHeldWithItsRule) {
  Branch("agent/ci");
  Write(".github/workflows/ci.yml", "on: push\n");
  Commit("ci");
  RunResult r = Push("agent/ci");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  nlohmann::json m = Machine(r.output, "refs/heads/agent/ci");
  EXPECT_EQ(m["outcome"], "hold");
  EXPECT_EQ(m["rules"], nlohmann::json::array({"protected-paths"}));
  auto reqs = Requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_NE(reqs[0].rules_json.find("protected-paths"), std::string::npos);
}

TEST_F(HookRulesTest, DeniedPathIsBlocked) {
  Branch("agent/pem");
  Write("certs/server.pem", "not really a key\n");
  Commit("pem");
  RunResult r = Push("agent/pem");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(Fired(Machine(r.output, "refs/heads/agent/pem"), "denied-paths")) << r.output;
}

TEST_F(HookRulesTest, DeletionIsHeld) {
  Branch("agent/rm");
  ASSERT_EQ(Git(work_, "rm -q docs/guide.md").exit_code, 0);
  Commit("remove the guide");
  RunResult r = Push("agent/rm");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  nlohmann::json m = Machine(r.output, "refs/heads/agent/rm");
  EXPECT_EQ(m["outcome"], "hold");
  EXPECT_TRUE(Fired(m, "deletions"));
}

TEST_F(HookRulesTest, ConfigChangeIsHeld) {
  Branch("agent/deps");
  Write("package.json", "{\"dependencies\": {\"left-pad\": \"1.0.0\"}}\n");
  Commit("deps");
  RunResult r = Push("agent/deps");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(Fired(Machine(r.output, "refs/heads/agent/deps"), "config-changes"));
}

TEST_F(HookRulesTest, ForcePushIsBlocked) {
  Branch("agent/rewrite");
  Write("x.txt", "1\n");
  Commit("one");
  ASSERT_EQ(Push("agent/rewrite").exit_code, 0);
  Write("x.txt", "2\n");
  Git(work_, "add -A");
  Git(work_, "commit -q --amend -m rewritten");
  RunResult r = Push("--force agent/rewrite");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(Fired(Machine(r.output, "refs/heads/agent/rewrite"), "non-fast-forward")) << r.output;
  // A fast-forward on top is fine.
  ASSERT_EQ(Git(work_, "reset -q --hard origin/agent/rewrite").exit_code, 0);
  Write("x.txt", "3\n");
  Commit("three");
  EXPECT_EQ(Push("agent/rewrite").exit_code, 0);
}

TEST_F(HookRulesTest, RefDeletionIsBlocked) {
  Branch("agent/doomed");
  Commit("empty");
  ASSERT_EQ(Push("agent/doomed").exit_code, 0);
  RunResult r = Push(":agent/doomed");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(Fired(Machine(r.output, "refs/heads/agent/doomed"), "ref-deletion")) << r.output;
  EXPECT_NE(BareRef("refs/heads/agent/doomed"), "");
}

TEST_F(HookRulesTest, HeldRefDeletionHasStateRefsOnTheDeletedTip) {
  // A policy that holds deletions for a human instead of blocking them.
  std::string policy = ReadFileOrEmpty(std::string(AG_SOURCE_DIR) + "/policies/default.yaml");
  size_t at = policy.find("kind: ref_deletion\n    outcome: block");
  ASSERT_NE(at, std::string::npos);
  policy.replace(at, std::string("kind: ref_deletion\n    outcome: block").size(),
                 "kind: ref_deletion\n    outcome: hold");
  UsePolicy(policy);
  Branch("agent/gone");
  Commit("soon deleted");
  std::string tip = Head();
  ASSERT_EQ(Push("agent/gone").exit_code, 0);
  RunResult r = Push(":agent/gone");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(Machine(r.output, "refs/heads/agent/gone")["outcome"], "hold") << r.output;
  EXPECT_EQ(BareRef("refs/heads/agent/gone"), "");
  auto reqs = Requests();  // newest first
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].new_oid, std::string(40, '0'));
  EXPECT_EQ(reqs[0].status, store::RequestStatus::kPending);
  std::string id = std::to_string(reqs[0].id);
  // The agent can follow it, and the deleted history stays reachable.
  EXPECT_EQ(BareRef("refs/agentgate/state/" + id + "/pending"), tip);
  EXPECT_EQ(BareRef("refs/agentgate/requests/" + id), tip);
}

TEST_F(HookRulesTest, TagPushIsBlocked) {
  ASSERT_EQ(Git(work_, "tag -a v1 -m v1").exit_code, 0);
  RunResult r = Push("v1");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(Fired(Machine(r.output, "refs/tags/v1"), "tags")) << r.output;
}

TEST_F(HookRulesTest, AgentMayPushOnlyItsNamespace) {
  AsAgent("agent-7");
  Branch("agent/ok");
  Write("src/app.py", "print(1)\n");
  Commit("change");
  RunResult outside = Push("HEAD:refs/heads/main");
  EXPECT_NE(outside.exit_code, 0);
  EXPECT_TRUE(Fired(Machine(outside.output, "refs/heads/main"), "ref-not-allowed")) << outside.output;
  RunResult inside = Push("agent/ok");
  ASSERT_EQ(inside.exit_code, 0) << inside.output;
  auto reqs = Requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].identity, "agent-7");
  EXPECT_EQ(reqs[0].groups_json, "[\"agents\"]");
  EXPECT_EQ(reqs[0].http_request_id, "test-request");
}

TEST_F(HookRulesTest, ReservedRefsAreBlockedForEveryone) {
  RunResult r = Push("HEAD:refs/agentgate/requests/99");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(Fired(Machine(r.output, "refs/agentgate/requests/99"), "reserved-ref")) << r.output;
}

TEST_F(HookRulesTest, ForgedIdentityEnvelopeIsRefused) {
  AsAgent("agent-7");
  agent_env_["AGENTGATE_IDENTITY"] = "admin";  // tampered after signing
  Branch("agent/forged");
  Commit("x");
  RunResult r = Push("agent/forged");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("not signed by this server"), std::string::npos) << r.output;
  EXPECT_TRUE(Requests().empty());
}

TEST_F(HookRulesTest, SizeAndCommitLimits) {
  std::string policy = ReadFileOrEmpty(std::string(AG_SOURCE_DIR) + "/policies/default.yaml");
  size_t at = policy.find("limit: 10MiB");
  ASSERT_NE(at, std::string::npos);
  policy.replace(at, 12, "limit: 1KiB");
  at = policy.find("limit: 1000");
  ASSERT_NE(at, std::string::npos);
  policy.replace(at, 11, "limit: 3");
  UsePolicy(policy);

  Branch("agent/big");
  Write("big.txt", std::string(2048, 'x') + "\n");
  Commit("big");
  RunResult big = Push("agent/big");
  EXPECT_NE(big.exit_code, 0);
  nlohmann::json m = Machine(big.output, "refs/heads/agent/big");
  ASSERT_TRUE(Fired(m, "max-blob-size")) << big.output;

  ASSERT_EQ(Git(work_, "checkout -q -b agent/many main").exit_code, 0);
  for (int i = 0; i < 4; ++i) Commit("c" + std::to_string(i));
  RunResult many = Push("agent/many");
  EXPECT_NE(many.exit_code, 0);
  EXPECT_TRUE(Fired(Machine(many.output, "refs/heads/agent/many"), "max-commits")) << many.output;
}

TEST_F(HookRulesTest, BinaryFileIsHeld) {
  Branch("agent/bin");
  Write("logo.png", std::string("\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16));
  Commit("logo");
  RunResult r = Push("agent/bin");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  nlohmann::json m = Machine(r.output, "refs/heads/agent/bin");
  EXPECT_TRUE(Fired(m, "binary-files")) << r.output;
}

// A key store is a secret by its name: a binary .p12 (not scanned for
// content) is still found by the secrets rule and blocked.
TEST_F(HookRulesTest, KeyStoreFileIsBlockedByItsName) {
  Branch("agent/p12");
  Write("certs/client.p12", std::string("\x30\x82\x0a\x00\x02\x01\x03\0keystore", 16));
  Commit("client certificate");
  RunResult r = Push("agent/p12");
  EXPECT_NE(r.exit_code, 0) << r.output;
  nlohmann::json m = Machine(r.output, "refs/heads/agent/p12");
  ASSERT_TRUE(Fired(m, "secrets")) << r.output;
  EXPECT_EQ(m["findings"][0]["rule"], "pkcs12-file");
  EXPECT_EQ(m["findings"][0]["path"], "certs/client.p12");
  EXPECT_EQ(BareRef("refs/heads/agent/p12"), "");
}

TEST_F(HookRulesTest, SymlinksHeldAndEscapingSymlinksBlocked) {
  Branch("agent/link");
  ASSERT_EQ(Sh("ln -s guide.md " + work_ + "/docs/alias.md").exit_code, 0);
  Commit("in-tree link");
  RunResult in_tree = Push("agent/link");
  ASSERT_EQ(in_tree.exit_code, 0) << in_tree.output;
  nlohmann::json m = Machine(in_tree.output, "refs/heads/agent/link");
  EXPECT_TRUE(Fired(m, "symlinks"));
  EXPECT_FALSE(Fired(m, "symlink-outside"));

  ASSERT_EQ(Sh("ln -s ../../etc/passwd " + work_ + "/docs/passwd").exit_code, 0);
  Commit("escaping link");
  RunResult out = Push("agent/link");
  EXPECT_NE(out.exit_code, 0);
  EXPECT_TRUE(Fired(Machine(out.output, "refs/heads/agent/link"), "symlink-outside")) << out.output;
}

TEST_F(HookRulesTest, SubmoduleIsBlocked) {
  Branch("agent/sub");
  ASSERT_EQ(Git(work_, "update-index --add --cacheinfo 160000," + base_ + ",vendor/lib").exit_code, 0);
  ASSERT_EQ(Git(work_, "commit -q -m submodule").exit_code, 0);
  RunResult r = Push("agent/sub");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(Fired(Machine(r.output, "refs/heads/agent/sub"), "submodules")) << r.output;
}

TEST_F(HookRulesTest, ExecutableBitChangeIsHeld) {
  Branch("agent/chmod");
  ASSERT_EQ(Git(work_, "update-index --chmod=+x src/app.py").exit_code, 0);
  ASSERT_EQ(Git(work_, "commit -q -m chmod").exit_code, 0);
  RunResult r = Push("agent/chmod");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(Fired(Machine(r.output, "refs/heads/agent/chmod"), "executable-bit")) << r.output;
}

TEST_F(HookRulesTest, AllowPathsRuleAutoApproves) {
  UsePolicyFile(std::string(AG_SOURCE_DIR) + "/policies/examples/docs-auto-approve.yaml");
  Branch("agent/docs");
  Write("docs/guide.md", "a better guide\n");
  Commit("docs");
  RunResult r = Push("agent/docs");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  nlohmann::json m = Machine(r.output, "refs/heads/agent/docs");
  EXPECT_EQ(m["outcome"], "allow") << r.output;
  auto reqs = Requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].status, store::RequestStatus::kApproved);
  EXPECT_EQ(BareRef("refs/agentgate/state/" + std::to_string(reqs[0].id) + "/approved"), Head());

  // The same rule does not approve a change outside docs/.
  Write("src/app.py", "print(2)\n");
  Commit("code");
  RunResult code = Push("agent/docs");
  ASSERT_EQ(code.exit_code, 0) << code.output;
  EXPECT_EQ(Machine(code.output, "refs/heads/agent/docs")["outcome"], "hold");
}

TEST_F(HookRulesTest, MalformedPolicyRefusesEveryPush) {
  UsePolicy("version: 1\nrules:\n  - id: x\n    kind: no_such_kind\n");
  Branch("agent/any");
  Commit("x");
  RunResult r = Push("agent/any");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("policy does not load"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(policy_ + ":4:"), std::string::npos) << r.output;
  EXPECT_EQ(BareRef("refs/heads/agent/any"), "");
}

TEST_F(HookRulesTest, PushOptionsAreRecordedAndSecretsInThemMasked) {
  Branch("agent/opts");
  Commit("x");
  RunResult r = Push("-o task=JIRA-42 agent/opts");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto reqs = Requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(reqs[0].push_options_json), nlohmann::json::array({"task=JIRA-42"}));
  // A push option is scanned like everything the agent writes: a secret in
  // one refuses the push, and the decision records it masked.
  Commit("y");
  RunResult leak = Push("-o task=JIRA-43 -o " + Quote("note=" + FakeGithubToken()) + " agent/opts");
  EXPECT_NE(leak.exit_code, 0) << leak.output;
  EXPECT_NE(leak.output.find("(push option 1)"), std::string::npos) << leak.output;
  EXPECT_EQ(leak.output.find(FakeGithubToken()), std::string::npos) << leak.output;
  std::string audit = StoreBytes();
  EXPECT_NE(audit.find("task=JIRA-43"), std::string::npos);
  EXPECT_EQ(audit.find(FakeGithubToken()), std::string::npos);
}

// What the agent said it was doing (issue 18): its commits' trailers are
// recorded with the request and the decision, masked, each once.
TEST_F(HookRulesTest, CommitTrailersAreRecordedWithThePush) {
  Branch("agent/said");
  Write("a.txt", "a\n");
  Commit("first step\n\nAgent-Session: sess-4711\nPrompt-Id: prompt-9\n"
         "Co-authored-by: Claude <agent@example.com>");
  Write("b.txt", "b\n");
  Commit("second step\n\nThe body says why.\n\nAgent-Session: sess-4711\nPrompt-Id: prompt-10");
  Write("c.txt", "c\n");
  Commit("no trailers here\n\nNot: a trailer block because\nthis line is prose");
  RunResult r = Push("-o task=JIRA-7 agent/said");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto reqs = Requests();
  ASSERT_EQ(reqs.size(), 1u);
  nlohmann::json t = nlohmann::json::parse(reqs[0].trailers_json);
  ASSERT_TRUE(t.is_array());
  std::multiset<std::string> got;
  for (const auto& x : t) got.insert(x.value("key", "") + "=" + x.value("value", ""));
  EXPECT_EQ(got, (std::multiset<std::string>{"Agent-Session=sess-4711", "Prompt-Id=prompt-10",
                                             "Prompt-Id=prompt-9",
                                             "Co-authored-by=Claude <agent@example.com>"}))
      << t.dump();
  EXPECT_NE(StoreBytes().find("prompt-10"), std::string::npos);

  // A secret in a trailer blocks the push (the message is scanned) and is
  // recorded masked in the decision.
  Write("d.txt", "d\n");
  Commit("leak\n\nAgent-Session: " + FakeGithubToken());
  RunResult leak = Push("agent/said");
  EXPECT_NE(leak.exit_code, 0) << leak.output;
  EXPECT_EQ(StoreBytes().find(FakeGithubToken()), std::string::npos);
}

TEST_F(HookRulesTest, NewPushSupersedesThePendingRequest) {
  Branch("agent/twice");
  Commit("one");
  ASSERT_EQ(Push("agent/twice").exit_code, 0);
  Commit("two");
  ASSERT_EQ(Push("agent/twice").exit_code, 0);
  auto reqs = Requests();  // newest first
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].status, store::RequestStatus::kPending);
  EXPECT_EQ(reqs[1].status, store::RequestStatus::kSuperseded);
  EXPECT_EQ(BareRef("refs/agentgate/state/" + std::to_string(reqs[1].id) + "/pending"), "");
}

TEST_F(HookRulesTest, OddRefNamesAndEmptyPushes) {
  Branch("agent/ünï-côdé#1");
  Commit("x");
  RunResult r = Push("agent/ünï-côdé#1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(Machine(r.output, "refs/heads/agent/ünï-côdé#1")["outcome"], "hold") << r.output;
  RunResult again = Push("agent/ünï-côdé#1");  // nothing new: git runs no hook
  EXPECT_EQ(again.exit_code, 0) << again.output;
  EXPECT_EQ(Requests().size(), 1u);
}

TEST_F(HookRulesTest, DetachedHeadDoesNotCountAsARef) {
  // HEAD left detached at a commit no ref reaches: building on that commit
  // must not make it "already inspected".
  std::string leak = UnreachableLeak("agent/detached", /*detach_head=*/true);
  ExpectBlockedForSecretIn("agent/detached", leak);
}

TEST_F(HookRulesTest, RefNameThatIsNotUtf8IsRefusedClearly) {
  // git allows any byte >= 0x80 in a ref name; agentgate records and shows
  // UTF-8 text, so it refuses such a name instead of recording it altered.
  Branch("agent/plain");
  Commit("x");
  RunResult r = Push("HEAD:refs/heads/agent/a$(printf '\\377')b");
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("not UTF-8"), std::string::npos) << r.output;
  EXPECT_TRUE(Requests().empty());
  EXPECT_EQ(Git(bare_, "for-each-ref refs/heads/agent").output, "");
}

TEST_F(HookRulesTest, EveryDecisionIsAudited) {
  Branch("agent/audit");
  Write("certs/x.pem", "k\n");
  Commit("pem");
  ASSERT_NE(Push("agent/audit").exit_code, 0);
  auto db = OpenDb();
  ASSERT_TRUE(db);
  auto q = db->Prepare("SELECT kind, actor, data_json FROM audit WHERE kind='push.decision'");
  ASSERT_TRUE(q.ok());
  auto row = q->Step();
  ASSERT_TRUE(row.ok() && *row);
  EXPECT_EQ(q->Text(1).rfind("local:", 0), 0u);
  auto data = nlohmann::json::parse(q->Text(2));
  EXPECT_EQ(data["outcome"], "block");
  EXPECT_EQ(data["ref"], "refs/heads/agent/audit");
}

// The unit judged is the range the replay would forward: every commit of the
// new tip that upstream lacks, including commits the mirror already holds
// (another agent's pending work, an earlier push of the same branch). A
// commit on top of a held change carries that change's rules with it.
TEST_F(HookRulesTest, BranchFromAnotherAgentBranchIsJudgedWithTheCommitsBelowIt) {
  Branch("agent/one");
  Write(".github/workflows/ci.yml", "on: push\n");
  Commit("ci");
  std::string ci = Head();
  ASSERT_EQ(Push("agent/one").exit_code, 0);
  // agent/two starts at agent/one's tip: "ci" is not upstream, so it counts.
  Branch("agent/two");
  Write("src/app.py", "print('two')\n");
  Commit("two");
  RunResult r = Push("agent/two");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  nlohmann::json m = Machine(r.output, "refs/heads/agent/two");
  EXPECT_TRUE(Fired(m, "protected-paths")) << r.output;
  auto reqs = Requests();  // newest first
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(nlohmann::json::parse(reqs[0].commits_json), nlohmann::json::array({ci, Head()}));
  // A fast-forward of a pushed ref is judged with what it builds on too.
  ASSERT_EQ(Git(work_, "checkout -q agent/one").exit_code, 0);
  Write("docs/guide.md", "more\n");
  Commit("docs");
  RunResult again = Push("agent/one");
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_TRUE(Fired(Machine(again.output, "refs/heads/agent/one"), "protected-paths")) << again.output;
  EXPECT_EQ(nlohmann::json::parse(Requests()[0].commits_json), nlohmann::json::array({ci, Head()}));
}

// Once upstream has a commit (sync moved refs/agentgate/upstream/*), it is no
// longer in any range: only what upstream lacks is judged.
TEST_F(HookRulesTest, CommitsUpstreamHasAreNotJudgedAgain) {
  Branch("agent/one");
  Write(".github/workflows/ci.yml", "on: push\n");
  Commit("ci");
  ASSERT_EQ(Push("agent/one").exit_code, 0);
  ASSERT_EQ(Git(bare_, "update-ref refs/agentgate/upstream/heads/main " + Head()).exit_code, 0);
  Write("src/app.py", "print('two')\n");
  Commit("two");
  RunResult r = Push("agent/one");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_FALSE(Fired(Machine(r.output, "refs/heads/agent/one"), "protected-paths")) << r.output;
  EXPECT_EQ(nlohmann::json::parse(Requests()[0].commits_json), nlohmann::json::array({Head()}));
}

TEST_F(HookRulesTest, UnreachableCommitTheRepositoryHoldsIsInspected) {
  // A commit with a secret that is in the mirror's objects but on no ref (a
  // branch upstream force-pushed away, say) is not "already inspected".
  std::string leak = UnreachableLeak("agent/old", /*detach_head=*/false);
  ExpectBlockedForSecretIn("agent/old", leak);
}

}  // namespace
}  // namespace ag::testing

namespace ag::testing {
namespace {

// What the agent writes outside a file's lines is scanned too: the commit
// message, the author, a file name, a symlink target and a push option.
TEST_F(HookRulesTest, SecretsOutsideFileLinesAreFound) {
  const std::string token = FakeGithubToken();
  struct Case {
    std::string name;
    std::function<void()> make;
    std::string push_option;
  };
  std::vector<Case> cases = {
      {"message", [&] { Write("a.txt", "a\n"); Commit("fix\n\n" + token); }, ""},
      {"file-name", [&] { Write(token + ".txt", "b\n"); Commit("b"); }, ""},
      {"symlink-target", [&] {
         ASSERT_EQ(Sh("ln -s " + token + " " + Quote(work_ + "/link")).exit_code, 0);
         Commit("link");
       }, ""},
      {"push-option", [&] { Write("c.txt", "c\n"); Commit("c"); }, "task=" + token},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    ASSERT_EQ(Git(work_, "checkout -q -b agent/" + c.name + " main").exit_code, 0);
    c.make();
    RunResult r = Push((c.push_option.empty() ? "" : "-o " + Quote(c.push_option) + " ") + "agent/" + c.name);
    EXPECT_NE(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("github-token"), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find(token), std::string::npos) << r.output;
  }
}

}  // namespace
}  // namespace ag::testing

namespace ag::testing {
namespace {

// Trojan Source: a bidirectional override or an invisible character in an
// added line, a commit message, a file name or the ref name is held for a
// human, whatever the policy would allow (here: everything).
TEST_F(HookRulesTest, HiddenUnicodeIsHeldForAHuman) {
  UsePolicy("version: 1\ndefault_outcome: allow\nprofiles:\n  - name: all\n    refs: [\"refs/heads/**\"]\n");
  const std::string rlo = "\xE2\x80\xAE", zwsp = "\xE2\x80\x8B";
  struct Case {
    std::string name;
    std::function<void()> make;
  };
  std::vector<Case> cases = {
      {"line", [&] { Write("a.py", "ok = 1\nif user == 'admin" + rlo + " ' :\n"); Commit("a"); }},
      {"message", [&] { Write("b.py", "b = 1\n"); Commit("fix" + zwsp + "es"); }},
      {"file-name", [&] { Write("c" + rlo + "txt.py", "c\n"); Commit("c"); }},
      {"control", [&] { Write("d.py", "d = 1\n"); Commit("d"); }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    ASSERT_EQ(Git(work_, "checkout -q -b agent/" + c.name + " main").exit_code, 0);
    c.make();
    RunResult r = Push("agent/" + c.name);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    nlohmann::json m = Machine(r.output, "refs/heads/agent/" + c.name);
    EXPECT_EQ(Fired(m, "hidden-unicode"), c.name != "control") << r.output;
    EXPECT_EQ(m["outcome"], c.name == "control" ? "allow" : "hold") << r.output;
  }
}

}  // namespace
}  // namespace ag::testing

namespace ag::testing {
namespace {

// An annotated tag's name, tagger and message are the agent's words too.
TEST_F(HookRulesTest, SecretInAnAnnotatedTagMessageIsFound) {
  UsePolicy("version: 1\ndefault_outcome: hold\nprofiles:\n  - name: all\n    refs: [\"refs/**\"]\n"
            "rules:\n  - {id: secrets, kind: secrets}\n");
  const std::string token = FakeGithubToken();
  Commit("tagged");
  ASSERT_EQ(Git(work_, "tag -a v1 -m " + Quote("release\n\n" + token)).exit_code, 0);
  RunResult r = Push("refs/tags/v1");
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("(tag message)"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find(token), std::string::npos) << r.output;
  ASSERT_EQ(Git(work_, "tag -a v2 -m clean").exit_code, 0);
  RunResult clean = Push("refs/tags/v2");
  EXPECT_EQ(clean.exit_code, 0) << clean.output;
}

}  // namespace
}  // namespace ag::testing
