// Test helpers shared by the review, control and e2e review tests: temp
// folders, seeding requests through the real store API, bare repos built with
// the real git, and real Unix users and groups (created with useradd, removed
// on destruction, also when a test fails).
#pragma once

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "store/db.h"
#include "store/requests.h"

namespace ag::testing {

// A temp folder under /tmp, mode 0755 so test users can reach what is in it.
class TempDir {
 public:
  explicit TempDir(const char* prefix = "ag-review") {
    std::string tmpl = std::string("/tmp/") + prefix + "-XXXXXX";
    path_ = mkdtemp(tmpl.data());
    chmod(path_.c_str(), 0755);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Runs `cmd` with /bin/sh; returns its exit status and fills *out with stdout.
inline int Sh(const std::string& cmd, std::string* out = nullptr) {
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return -1;
  std::string data;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) data.append(buf, n);
  int st = pclose(p);
  if (out) *out = data;
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

inline std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

inline std::string Json(const std::vector<std::string>& names) {
  std::string out = "[";
  for (size_t i = 0; i < names.size(); ++i) out += (i ? ",\"" : "\"") + names[i] + "\"";
  return out + "]";
}

struct Seed {
  std::string repo = "demo";
  std::string ref = "refs/heads/agent/x";
  std::string old_oid = "0000000000000000000000000000000000000000";
  std::string new_oid = "1111111111111111111111111111111111111111";
  std::string identity = "agent-1";
  std::string upstream_base;  // default: old_oid
  int quorum = 1;
  std::vector<std::string> users, groups;
  std::string rules_json = R"([{"id":"workflows","outcome":"hold","message":"CI change"}])";
  std::string findings_json = "[]";
  int64_t ttl_seconds = 3600;
};

// Inserts and lands a request (incoming -> pending), each in its own
// IMMEDIATE transaction like the hooks do. Returns the id (0 on failure,
// with a test failure recorded).
inline int64_t SeedPending(store::Db& db, const Seed& s) {
  store::Request r;
  r.repo = s.repo;
  r.ref = s.ref;
  r.old_oid = s.old_oid;
  r.new_oid = s.new_oid;
  r.identity = s.identity;
  r.upstream_base = s.upstream_base.empty() ? s.old_oid : s.upstream_base;
  r.quorum = s.quorum;
  r.review_users_json = Json(s.users);
  r.review_groups_json = Json(s.groups);
  r.rules_json = s.rules_json;
  r.findings_json = s.findings_json;
  r.method = "token";
  r.push_options_json = R"(["ci.skip"])";
  {
    store::Transaction tx(db);
    EXPECT_TRUE(tx.status().ok()) << tx.status().ToString();
    auto id = store::InsertRequest(db, r, s.ttl_seconds);
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    if (!id.ok()) return 0;
    EXPECT_TRUE(tx.Commit().ok());
  }
  store::Transaction tx(db);
  auto id = store::LandRequest(db, s.repo, s.ref, s.old_oid, s.new_oid);
  EXPECT_TRUE(id.ok()) << id.status().ToString();
  EXPECT_TRUE(tx.Commit().ok());
  return id.ok() ? *id : 0;
}

inline std::string StatusOf(store::Db& db, int64_t id) {
  auto r = store::GetRequest(db, id);
  return r.ok() ? std::string(store::StatusName(r->status)) : r.status().ToString();
}

inline int64_t CountRows(store::Db& db, const std::string& sql) {
  auto q = db.Prepare(sql);
  if (!q.ok()) return -1;
  auto row = q->Step();
  return row.ok() && *row ? q->Int(0) : -1;
}

// A bare repo `<dir>/demo.git` (HEAD -> main) with a base commit on main,
// refs/agentgate/upstream/heads/main at it, and a branch agent/x two commits
// further (adding hello.txt, changing README). Oids are filled in.
struct TestRepo {
  std::string path, base, tip, first;
};

inline TestRepo MakeRepo(const std::string& dir) {
  TestRepo t;
  t.path = dir + "/demo.git";
  std::string work = dir + "/work";
  std::string git = "git -c user.name=Agent -c user.email=agent@example.com -c init.defaultBranch=main ";
  std::string cmd =
      git + "init -q --bare -b main " + t.path + " && " + git + "init -q -b main " + work +
      " && cd " + work + " && printf 'readme\\n' > README && " + git + "add README && " + git +
      "commit -q -m base && " + git + "push -q " + t.path + " main && git -C " + t.path +
      " update-ref refs/agentgate/upstream/heads/main main && " + git +
      "checkout -q -b agent/x && printf 'hello\\n' > hello.txt && " + git + "add hello.txt && " +
      git + "commit -q -m 'add hello' -m 'body line' && printf 'readme\\nmore\\n' > README && " +
      git + "commit -q -am 'extend readme' && " + git + "push -q " + t.path + " agent/x";
  EXPECT_EQ(Sh(cmd + " 2>&1"), 0) << cmd;
  Sh("git -C " + t.path + " rev-parse main", &t.base);
  Sh("git -C " + t.path + " rev-parse agent/x", &t.tip);
  Sh("git -C " + t.path + " rev-parse agent/x~1", &t.first);
  t.base = Trim(t.base);
  t.tip = Trim(t.tip);
  t.first = Trim(t.first);
  return t;
}

// A real Unix group, deleted on destruction.
class TestGroup {
 public:
  explicit TestGroup(std::string name) : name_(std::move(name)) {
    ok_ = Sh("groupadd " + name_ + " 2>&1") == 0;
    EXPECT_TRUE(ok_) << "groupadd " << name_;
  }
  ~TestGroup() {
    if (ok_) Sh("groupdel " + name_ + " 2>&1");
  }
  const std::string& name() const { return name_; }

 private:
  std::string name_;
  bool ok_ = false;
};

// A real Unix account (no home, no login shell), deleted on destruction.
class TestUser {
 public:
  TestUser(std::string name, const std::vector<std::string>& groups = {})
      : name_(std::move(name)) {
    std::string cmd = "useradd -M -N -s /usr/sbin/nologin ";
    if (!groups.empty()) {
      cmd += "-G ";
      for (size_t i = 0; i < groups.size(); ++i) cmd += (i ? "," : "") + groups[i];
      cmd += " ";
    }
    ok_ = Sh(cmd + name_ + " 2>&1") == 0;
    EXPECT_TRUE(ok_) << cmd << name_;
  }
  ~TestUser() {
    if (ok_) Sh("userdel " + name_ + " 2>&1");
  }
  const std::string& name() const { return name_; }

 private:
  std::string name_;
  bool ok_ = false;
};

// A name prefix unique to this test process, short enough for useradd.
inline std::string UniquePrefix() { return "agr" + std::to_string(getpid() % 1000000); }

}  // namespace ag::testing
