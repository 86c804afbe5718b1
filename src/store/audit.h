// The append-only, hash-chained audit log. Every row holds the hash of the
// previous row; changing, removing or reordering a row breaks the chain at
// that row, and VerifyAudit names it. Triggers refuse UPDATE and DELETE.
//
// REQUIRES: AppendAudit runs inside the caller's Transaction, so the event and
// the change it describes commit together (or not at all).
//
// Thread-safety: as Db (one thread per Db).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "store/db.h"

namespace ag::store {

struct AuditEvent {
  int64_t seq = 0;                    // assigned on append
  int64_t at = 0;                     // seconds; 0 = now
  std::string kind;                   // "push.decision", "request.approved", ...
  std::string actor;                  // identity or unix user or "agentgate"
  std::string repo;
  std::optional<int64_t> request_id;
  std::string data_json = "{}";       // masked details; never a secret or a token
  std::string prev_hash;
  std::string hash;
};

// Appends `event` (seq, at, prev_hash, hash are filled in). Returns its seq.
Result<int64_t> AppendAudit(Db& db, AuditEvent event);

// The hash a row must carry, given its fields and the previous row's hash.
std::string AuditHash(const AuditEvent& e);

struct AuditVerification {
  int64_t rows = 0;
  std::optional<int64_t> first_broken_seq;  // set when the chain is broken
  std::string reason;                       // why that row is broken
};

// The audit columns in the order ReadAuditRow reads them. A query that reads
// events selects these first: "SELECT " + kAuditColumns + " FROM audit ...".
inline constexpr char kAuditColumns[] =
    "seq, at, kind, actor, repo, request_id, data_json, prev_hash, hash";

// The event in the current row of `q`, whose columns 0..8 are kAuditColumns.
// REQUIRES: the last q.Step() returned true.
AuditEvent ReadAuditRow(const Stmt& q);

// Walks the whole chain. OK with first_broken_seq unset means intact.
Result<AuditVerification> VerifyAudit(Db& db);

}  // namespace ag::store
