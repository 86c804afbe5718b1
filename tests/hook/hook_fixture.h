// A real mirror repo with agentgate's hooks installed, a config, a policy and
// a SQLite store in a temp folder, and a work clone that pushes to it with the
// real git client. Pushes run as the local Unix user (identity local:<user>)
// or, with AsAgent(), carry a signed identity envelope as agentgate-mirror
// would set it.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "store/db.h"
#include "store/requests.h"
#include "testing/shell.h"
#include "util/signed_env.h"

namespace ag::testing {

class HookFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = tmp_.path();
    bare_ = root_ + "/mirror.git";
    work_ = root_ + "/work";
    config_ = root_ + "/agentgate.yaml";
    policy_ = root_ + "/policy.yaml";
    ASSERT_EQ(Sh("git init -q --bare -b main " + bare_).exit_code, 0);
    ASSERT_EQ(Git(bare_, "config receive.advertisePushOptions true").exit_code, 0);
    ASSERT_EQ(Sh("git init -q -b main " + work_).exit_code, 0);
    Git(work_, "config user.email agent@example.com");
    Git(work_, "config user.name Agent");
    Git(work_, "config core.compression 0");
    Git(work_, "remote add origin " + bare_);
    // History that exists before agentgate guards the repo.
    WriteFile(work_ + "/README.md", "# demo\n");
    WriteFile(work_ + "/src/app.py", "print('hello')\n");
    WriteFile(work_ + "/package.json", "{}\n");
    WriteFile(work_ + "/run.sh", "#!/bin/sh\necho run\n");
    WriteFile(work_ + "/docs/guide.md", "guide\n");
    Git(work_, "add -A");
    Git(work_, "commit -q -m initial");
    ASSERT_EQ(Git(work_, "push -q origin main").exit_code, 0);
    base_ = Head();
    ASSERT_EQ(Git(bare_, "update-ref refs/agentgate/upstream/heads/main " + base_).exit_code, 0);

    UsePolicyFile(std::string(AG_SOURCE_DIR) + "/policies/default.yaml");
    WriteFile(config_, "data_dir: " + root_ + "/data\npolicy: " + policy_ +
                           "\nrepos:\n  - name: demo\n    path: " + bare_ + "\n");
    std::filesystem::create_directories(root_ + "/data");
    InstallHooks(HookStyle::kHookFile);
  }

  // kHookFile: what `agentgate repo add` installs (git starts the hook
  // program from the file's #! line; flags below it, the check server's
  // socket among them). kShellScript: a shell script that execs the program
  // with --config and --repo only, as earlier versions installed.
  enum class HookStyle { kHookFile, kShellScript };
  void InstallHooks(HookStyle style) {
    for (const char* hook : {"pre-receive", "post-receive"}) {
      std::string program = std::string(AG_BIN_DIR) + "/agentgate-" + hook;
      std::string text = style == HookStyle::kHookFile
                             ? "#!" + program + "\n# test hook file\n--config=" + config_ +
                                   "\n--repo=demo\n--socket=" + root_ + "/data/hook.sock\n"
                             : "#!/bin/sh\nexec " + program + " --config " + config_ + " --repo demo\n";
      WriteFile(bare_ + "/hooks/" + hook, text);
      std::filesystem::permissions(bare_ + "/hooks/" + hook, std::filesystem::perms::owner_all);
    }
  }

  void UsePolicyFile(const std::string& path) {
    WriteFile(policy_, ReadFileOrEmpty(path));
  }
  void UsePolicy(const std::string& yaml) { WriteFile(policy_, yaml); }

  RunResult Git(const std::string& dir, const std::string& args) {
    return Sh("git -C " + Quote(dir) + " " + args);
  }
  std::string Head(const std::string& rev = "HEAD") {
    std::string out = Git(work_, "rev-parse " + rev).output;
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
  }
  std::string BareRef(const std::string& ref) {
    RunResult r = Git(bare_, "rev-parse --verify -q " + ref);
    std::string out = r.exit_code == 0 ? r.output : "";
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
  }
  void Commit(const std::string& message) {
    Git(work_, "add -A");
    RunResult r = Git(work_, "commit -q --allow-empty -m " + Quote(message));
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  void Write(const std::string& rel, const std::string& content) { WriteFile(work_ + "/" + rel, content); }

  // Pushes as the local user, or as `agent_` when set.
  RunResult Push(const std::string& args) {
    std::string env;
    for (const auto& [k, v] : agent_env_) env += k + "=" + Quote(v) + " ";
    return Sh(env + "git -C " + Quote(work_) + " push --porcelain origin " + args);
  }

  // Later pushes carry a signed identity envelope for `identity`.
  void AsAgent(const std::string& identity, std::vector<std::string> groups = {"agents"}) {
    Result<std::string> key = LoadOrCreateServerKey(root_ + "/data/server.key");
    ASSERT_TRUE(key.ok()) << key.status().ToString();
    SignedIdentity id;
    id.identity = identity;
    id.groups = std::move(groups);
    id.request_id = "test-request";
    id.method = "token";
    agent_env_ = SignIdentityEnv(id, *key);
  }

  std::unique_ptr<store::Db> OpenDb() {
    auto db = store::Db::Open(root_ + "/data/agentgate.db");
    EXPECT_TRUE(db.ok()) << db.status().ToString();
    return db.ok() ? std::move(db).value() : nullptr;
  }

  std::vector<store::Request> Requests() {
    auto db = OpenDb();
    if (!db) return {};
    auto all = store::ListRequests(*db, {});
    return all.ok() ? *all : std::vector<store::Request>{};
  }

  // Every byte of the store and its WAL, for leak checks.
  std::string StoreBytes() {
    return ReadFileOrEmpty(root_ + "/data/agentgate.db") +
           ReadFileOrEmpty(root_ + "/data/agentgate.db-wal");
  }

  TempDir tmp_;
  std::string root_, bare_, work_, config_, policy_, base_;
  std::map<std::string, std::string> agent_env_;
};

}  // namespace ag::testing
