// Versioned schema migrations. Each entry runs once, in order, inside one
// transaction with the bump of PRAGMA user_version. Never edit a shipped
// migration: append a new one.
#include <array>
#include <string>

#include "store/db.h"

namespace ag::store {
namespace {

constexpr std::array<const char*, 6> kMigrations = {
    // 1: requests, approvals, the hash-chained audit log.
    R"sql(
CREATE TABLE requests (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  repo            TEXT NOT NULL,
  ref             TEXT NOT NULL,
  old_oid         TEXT NOT NULL,
  new_oid         TEXT NOT NULL,
  identity        TEXT NOT NULL,
  groups_json     TEXT NOT NULL DEFAULT '[]',
  method          TEXT NOT NULL DEFAULT '',
  claims_json     TEXT NOT NULL DEFAULT '{}',
  http_request_id TEXT NOT NULL DEFAULT '',
  status          TEXT NOT NULL CHECK (status IN ('incoming','pending','approved','rejected',
                    'expired','superseded','conflict','replaying','replayed','failed','aborted')),
  outcome         TEXT NOT NULL CHECK (outcome IN ('hold','allow')),
  rules_json      TEXT NOT NULL DEFAULT '[]',
  findings_json   TEXT NOT NULL DEFAULT '[]',
  notes_json      TEXT NOT NULL DEFAULT '[]',
  push_options_json TEXT NOT NULL DEFAULT '[]',
  commits_json    TEXT NOT NULL DEFAULT '[]',
  upstream_base   TEXT NOT NULL DEFAULT '',
  quorum          INTEGER NOT NULL DEFAULT 1,
  review_users_json  TEXT NOT NULL DEFAULT '[]',
  review_groups_json TEXT NOT NULL DEFAULT '[]',
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL,
  expires_at      INTEGER NOT NULL,
  status_reason   TEXT NOT NULL DEFAULT '',
  upstream_moved  INTEGER NOT NULL DEFAULT 0,
  replay_attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX requests_status ON requests(status, id);
CREATE INDEX requests_repo_ref ON requests(repo, ref, status);

CREATE TABLE approvals (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  request_id  INTEGER NOT NULL REFERENCES requests(id),
  reviewer    TEXT NOT NULL,
  verdict     TEXT NOT NULL CHECK (verdict IN ('approve','reject')),
  comment     TEXT NOT NULL DEFAULT '',
  ref         TEXT NOT NULL,
  old_oid     TEXT NOT NULL,
  new_oid     TEXT NOT NULL,
  at          INTEGER NOT NULL,
  UNIQUE (request_id, reviewer)
);

CREATE TABLE audit (
  seq         INTEGER PRIMARY KEY AUTOINCREMENT,
  at          INTEGER NOT NULL,
  kind        TEXT NOT NULL,
  actor       TEXT NOT NULL,
  repo        TEXT NOT NULL DEFAULT '',
  request_id  INTEGER,
  data_json   TEXT NOT NULL DEFAULT '{}',
  prev_hash   TEXT NOT NULL,
  hash        TEXT NOT NULL
);
CREATE INDEX audit_request ON audit(request_id, seq);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
)sql",
    // 2: where the review notifier got to in the audit log, so a restart
    // announces what came while it was down and what it had not sent yet.
    R"sql(
CREATE TABLE notifier_position (
  id   INTEGER PRIMARY KEY CHECK (id = 1),
  seq  INTEGER NOT NULL
);
)sql",
    // 3: per-commit check results (violations, findings with masked values,
    // notes, paths) keyed by commit and policy/rules version, so a range the
    // hook judged before costs lookups (docs/hooks.md, "The range rule").
    R"sql(
CREATE TABLE commit_checks (
  version     TEXT NOT NULL,
  oid         TEXT NOT NULL,
  result_json TEXT NOT NULL,
  PRIMARY KEY (version, oid)
) WITHOUT ROWID;
)sql",
    // 4: a request's range (commit ids, oldest first) in a row of its own,
    // as the range of an earlier request (base_request) plus its own commits
    // when it extends one (store/requests.h, kMaxRangeChain). Every status
    // change rewrites the request's row, and SQLite rewrites a row whole:
    // with the range inside, landing, superseding, approving and replaying
    // a request on a 10,000-commit pending branch each rewrote ~410 KB, and
    // each push on it stored the whole branch again. requests.commits_json
    // stays (always '[]' from now on).
    R"sql(
CREATE TABLE request_commits (
  request_id   INTEGER PRIMARY KEY,
  base_request INTEGER,
  depth        INTEGER NOT NULL DEFAULT 0,
  size         INTEGER NOT NULL DEFAULT 0,  -- commits in the whole range
  last_commit  TEXT NOT NULL DEFAULT '',    -- the range's newest commit
  commits_json TEXT NOT NULL
);
INSERT INTO request_commits (request_id, size, last_commit, commits_json)
  SELECT id, json_array_length(commits_json), coalesce(json_extract(commits_json, '$[#-1]'), ''),
         commits_json FROM requests;
UPDATE requests SET commits_json = '[]';
)sql",
    // 5: the kill switch (store/freezes.h): identities, groups or everyone
    // stopped by a reviewer or an admin until thawed.
    R"sql(
CREATE TABLE freezes (
  scope      TEXT NOT NULL CHECK (scope IN ('identity','group','all')),
  name       TEXT NOT NULL,
  reason     TEXT NOT NULL,
  by         TEXT NOT NULL,
  at         INTEGER NOT NULL,
  PRIMARY KEY (scope, name)
) WITHOUT ROWID;
)sql",
    // 6: what the agent said it was doing, from its commits' trailers
    // (Agent-Session:, Prompt-Id:, Co-authored-by: ...), masked and bounded
    // (hook/trailers.h).
    R"sql(
ALTER TABLE requests ADD COLUMN trailers_json TEXT NOT NULL DEFAULT '[]';
)sql",
};

}  // namespace

Status MigrateSchema(Db& db) {
  AG_ASSIGN_OR_RETURN(Stmt version_stmt, db.Prepare("PRAGMA user_version"));
  AG_ASSIGN_OR_RETURN(bool row, version_stmt.Step());
  int64_t version = row ? version_stmt.Int(0) : 0;
  if (version > static_cast<int64_t>(kMigrations.size())) {
    return Status::FailedPrecondition("schema version " + std::to_string(version) +
                                      " is newer than this program knows (" +
                                      std::to_string(kMigrations.size()) + "): upgrade agentgate");
  }
  for (size_t v = static_cast<size_t>(version); v < kMigrations.size(); ++v) {
    Transaction tx(db);
    AG_RETURN_IF_ERROR(tx.status());
    // Another process may have migrated while we waited for the lock.
    AG_ASSIGN_OR_RETURN(Stmt again, db.Prepare("PRAGMA user_version"));
    AG_ASSIGN_OR_RETURN(bool r, again.Step());
    if (r && again.Int(0) > static_cast<int64_t>(v)) continue;
    AG_RETURN_IF_ERROR(db.Exec(kMigrations[v]).WithContext("migration " + std::to_string(v + 1)));
    AG_RETURN_IF_ERROR(db.Exec("PRAGMA user_version = " + std::to_string(v + 1)));
    AG_RETURN_IF_ERROR(tx.Commit());
  }
  return Status::Ok();
}

}  // namespace ag::store
