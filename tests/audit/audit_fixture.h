// Shared fixture for the audit tests: a temp data dir with a fresh database,
// helpers to add requests and events, and a raw SQLite handle for tampering.
#pragma once

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>

#include "store/audit.h"
#include "store/db.h"
#include "store/requests.h"

namespace ag::audit::testing {

class AuditFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ag-audit-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    auto db = store::Db::Open(db_path());
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = std::move(*db);
  }
  void TearDown() override {
    db_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::string db_path() const { return dir_ + "/agentgate.db"; }

  // A request on `repo` pushed by agent-ci; returns its id (pending).
  int64_t AddRequest(const std::string& repo = "demo", const std::string& ref = "refs/heads/main",
                     const std::string& new_oid = std::string(40, 'b')) {
    store::Request r;
    r.repo = repo;
    r.ref = ref;
    r.old_oid = std::string(40, 'a');
    r.new_oid = new_oid;
    r.identity = "agent-ci";
    r.method = "token";
    r.groups_json = R"(["agents"])";
    r.claims_json = R"({"sub":"agent-ci"})";
    r.push_options_json = R"(["task=JIRA-42","prompt=https://example.test/p/1"])";
    r.commits_json = "[\"" + new_oid + "\"]";
    r.rules_json = R"([{"id":"secrets","outcome":"hold","message":"1 finding"}])";
    r.findings_json =
        R"([{"rule_id":"aws-access-key-id","path":"cfg.env","line":3,"masked":"AKIA****",)"
        R"("fingerprint":"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}])";
    auto id = store::InsertRequest(*db_, r, 3600);
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    auto landed = store::LandRequest(*db_, r.repo, r.ref, r.old_oid, r.new_oid);
    EXPECT_TRUE(landed.ok()) << landed.status().ToString();
    return *id;
  }

  int64_t Append(const std::string& kind, const std::string& data = "{}",
                 const std::string& repo = "demo") {
    store::AuditEvent e;
    e.kind = kind;
    e.actor = "test";
    e.repo = repo;
    e.data_json = data;
    store::Transaction tx(*db_);
    EXPECT_TRUE(tx.status().ok());
    auto seq = store::AppendAudit(*db_, e);
    EXPECT_TRUE(seq.ok()) << seq.status().ToString();
    EXPECT_TRUE(tx.Commit().ok());
    return *seq;
  }

  // Runs SQL on the file through a separate raw connection, as an attacker
  // with write access would (dropping the append-only triggers first).
  void Tamper(const std::string& sql) {
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(db_path().c_str(), &raw), SQLITE_OK);
    std::string all = "DROP TRIGGER IF EXISTS audit_no_update; DROP TRIGGER IF EXISTS "
                      "audit_no_delete; " + sql;
    char* err = nullptr;
    int rc = sqlite3_exec(raw, all.c_str(), nullptr, nullptr, &err);
    std::string msg = err ? err : "";
    sqlite3_free(err);
    sqlite3_close(raw);
    ASSERT_EQ(rc, SQLITE_OK) << msg;
  }

  std::string dir_;
  std::unique_ptr<store::Db> db_;
};

}  // namespace ag::audit::testing
