// The whole loop as a test fixture: a real upstream (nginx + fcgiwrap + git
// http-backend with a token), `agentgate repo add`, the real agentgate-mirror
// daemon with the real hooks, and an agent's clone over HTTP with a static
// token. Each test names its policy (and any extra config lines) in
// LoopOptions; the test's own Unix user (root in CI) is the reviewer unless
// the policy says otherwise.
//
// Thread-safety: one fixture per test, used from the test's thread.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "e2e/fixture.h"
#include "e2e/upstream_fixture.h"

namespace ag::testing {

struct LoopOptions {
  std::string policy;        // the policy file's text
  std::string extra_config;  // more top-level config lines (webhook_url: ...)
  // More agents: {identity, group}; each gets a token (LoopTest::TokenOf).
  std::vector<std::pair<std::string, std::string>> more_agents;
  // The config's `replay:` mapping. Default: the worker never looks for work
  // on its own (approvals and policy-approved pushes wake it).
  std::string replay = "{poll_interval: 1h}";
};

class LoopTest : public ::testing::Test {
 protected:
  // The policy every test of the fixture uses.
  virtual LoopOptions Options() = 0;

  void SetUp() override {
    ASSERT_TRUE(upstream_.ok()) << upstream_.error_log();
    const std::string& t = dir_.path();
    port_ = e2e::FreePort();
    LoopOptions o = Options();
    WriteFile(t + "/upstream-token", upstream_.token() + "\n", 0600);
    WriteFile(t + "/policy.yaml", o.policy);
    std::vector<std::pair<std::string, std::string>> agents = {{"agent-ci", "agents"}};
    agents.insert(agents.end(), o.more_agents.begin(), o.more_agents.end());
    std::string tokens = "tokens:\n";
    for (const auto& [identity, group] : agents) {
      tokens_.push_back({identity, RandomToken("agt_")});
      tokens += "  - identity: " + identity + "\n    groups: [" + group + "]\n    sha256: " +
                Sha256Hex(tokens_.back().second) + "\n";
    }
    // The replay worker never looks for work on its own: approvals and
    // policy-approved pushes wake it.
    WriteFile(config_, "data_dir: " + t + "/data\npolicy: " + t + "/policy.yaml\nlisten: 127.0.0.1:" +
                           std::to_string(port_) + "\ncontrol_socket: " + t + "/control.sock\n" +
                           "replay: " + o.replay + "\n" + o.extra_config + tokens);
    CmdResult add = Cmd(Bin("agentgate") + " repo add demo --upstream " + upstream_.url() +
                        " --credential " + t + "/upstream-token --config " + config_);
    ASSERT_EQ(add.rc, 0) << add.out;
    ASSERT_TRUE(daemon_.Start({Bin("agentgate-mirror"), "--config", config_}, t + "/daemon.log"));
    ASSERT_TRUE(WaitFor([&] {
      return e2e::RawHttp(port_, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").status == 200;
    })) << ReadAll(t + "/daemon.log");
    WriteFile(t + "/home/.gitconfig", "[user]\n\tname = Agent\n\temail = agent@example.com\n");
    CmdResult clone = Git("clone -q " + AgentUrl() + " " + t + "/work");
    ASSERT_EQ(clone.rc, 0) << clone.out;
  }

  // The reviewer line for a policy: this test's Unix user.
  static std::string Me() { return ShOut("id -un"); }
  static std::string Bin(const std::string& name) { return std::string(AG_BIN_DIR) + "/" + name; }
  std::string TokenOf(const std::string& identity) const {
    for (const auto& [id, token] : tokens_) {
      if (id == identity) return token;
    }
    return "";
  }
  std::string AgentUrl(const std::string& identity = "agent-ci") const {
    return "http://agent:" + TokenOf(identity) + "@127.0.0.1:" + std::to_string(port_) + "/demo.git";
  }
  CmdResult Git(const std::string& args) const {
    return Cmd("HOME=" + dir_.path() + "/home GIT_CONFIG_NOSYSTEM=1 GIT_TERMINAL_PROMPT=0 git " + args);
  }
  std::string WorkDir() const { return dir_.path() + "/work"; }
  CmdResult Work(const std::string& args) const { return Git("-C " + WorkDir() + " " + args); }
  CmdResult Agentgate(const std::string& args) const {
    return Cmd(Bin("agentgate") + " " + args + " --config " + config_);
  }
  std::string DaemonLog() const { return ReadAll(dir_.path() + "/daemon.log"); }

  HttpUpstream upstream_{2};
  TempDir dir_{"ag-loop"};
  std::string config_ = dir_.path() + "/agentgate.yaml";
  int port_ = 0;
  std::vector<std::pair<std::string, std::string>> tokens_;  // identity, token
  Child daemon_;
};

}  // namespace ag::testing
