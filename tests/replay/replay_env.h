// A replay test environment: a data dir with the store, a bare mirror cloned
// from a test upstream, a Config naming them, and helpers that create
// approved requests the way post-receive leaves them (commit in the mirror's
// odb pinned at refs/agentgate/requests/<id>, status approved).
//
// Test code only. Thread-safety: one thread.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "config/config.h"
#include "e2e/upstream_fixture.h"
#include "store/db.h"
#include "store/requests.h"

namespace ag::testing {

class ReplayEnv {
 public:
  // `upstream_url` is what the worker uses; `upstream_path` is the bare repo
  // on disk (the mirror is cloned from it directly).
  ReplayEnv(const std::string& upstream_url, const std::string& upstream_path,
            const std::string& secret, const std::string& credential_user = "x-access-token")
      : dir_("ag-replay") {
    mirror_ = dir_ / "repos/demo.git";
    Cmd("git clone -q --bare " + ShellQuote(upstream_path) + " " + ShellQuote(mirror_));
    // What sync would have recorded.
    Cmd("git --git-dir=" + ShellQuote(mirror_) +
       " for-each-ref --format='update refs/agentgate/upstream/heads/%(refname:lstrip=2) "
       "%(objectname)' refs/heads | git --git-dir=" + ShellQuote(mirror_) + " update-ref --stdin");
    Cmd("git clone -q " + ShellQuote(mirror_) + " " + ShellQuote(dir_ / "work"));
    credential_path_ = dir_ / "credential";
    WriteFile(credential_path_, secret + "\n", 0600);
    auto c = std::make_shared<config::Config>();
    c->data_dir = dir_.path();
    c->replay_max_attempts = 3;
    c->replay_backoff_max = std::chrono::seconds(0);
    config::RepoConfig r;
    r.name = "demo";
    r.path = mirror_;
    r.upstream = upstream_url;
    r.credential = credential_path_;
    r.credential_user = credential_user;
    c->repos.push_back(r);
    config_ = c;
    auto db = store::Db::Open(c->db_path());
    EXPECT_TRUE(db.ok()) << db.status().ToString();
    if (db.ok()) db_ = std::move(db).value();
  }

  std::shared_ptr<config::Config> config() { return config_; }
  store::Db& db() { return *db_; }
  const std::string& mirror() const { return mirror_; }
  std::string path(const std::string& rel) const { return dir_ / rel; }
  BareRepo mirror_repo() const { return BareRepo(mirror_); }

  // Makes a commit on top of `parent` (an oid; empty = upstream's main as the
  // mirror knows it) touching `file`; returns its oid.
  std::string Commit(const std::string& parent, const std::string& file,
                     const std::string& content) {
    std::string w = ShellQuote(dir_ / "work");
    std::string p = parent.empty() ? "origin/main" : parent;
    Cmd("cd " + w + " && git fetch -q origin && git checkout -q --detach " + p);
    WriteFile(dir_ / ("work/" + file), content);
    Cmd("cd " + w + " && git add -A && git -c user.name=agent -c user.email=a@x commit -q -m " +
       ShellQuote("change " + file));
    return ShOut("cd " + w + " && git rev-parse HEAD");
  }

  // Inserts a request for ref `ref` from `base` to `commit` (which must be in
  // the work tree), lands it approved and pins the commit in the mirror.
  int64_t Approve(const std::string& ref, const std::string& base, const std::string& commit) {
    store::Request r;
    r.repo = "demo";
    r.ref = ref;
    r.old_oid = base;
    r.new_oid = commit;
    r.identity = "agent:test";
    r.outcome = "allow";
    r.upstream_base = base;
    auto id = store::InsertRequest(*db_, r, 3600);
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    if (!id.ok()) return 0;
    auto landed = store::LandRequest(*db_, "demo", ref, base, commit);
    EXPECT_TRUE(landed.ok()) << landed.status().ToString();
    Cmd("cd " + ShellQuote(dir_ / "work") + " && git push -q origin " + commit +
       ":refs/agentgate/requests/" + std::to_string(*id));
    return *id;
  }

  store::Request Get(int64_t id) {
    auto r = store::GetRequest(*db_, id);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : store::Request{};
  }

  // Every audit row's kind and data for request `id`, one per line.
  std::string AuditOf(int64_t id) {
    std::string out;
    auto q = db_->Prepare("SELECT kind, data_json FROM audit WHERE request_id=? ORDER BY seq");
    if (!q.ok()) return out;
    q->Bind(1, id);
    while (true) {
      auto row = q->Step();
      if (!row.ok() || !*row) break;
      out += q->Text(0) + " " + q->Text(1) + "\n";
    }
    return out;
  }

 private:
  TempDir dir_;
  std::string mirror_, credential_path_;
  std::shared_ptr<config::Config> config_;
  std::unique_ptr<store::Db> db_;
};

}  // namespace ag::testing
