#include "store/audit.h"

#include <sqlite3.h>

#include "util/crypto.h"

namespace ag::store {

std::string AuditHash(const AuditEvent& e) {
  std::string payload = e.prev_hash;
  payload += '\n' + std::to_string(e.seq);
  payload += '\n' + std::to_string(e.at);
  payload += '\n' + e.kind;
  payload += '\n' + e.actor;
  payload += '\n' + e.repo;
  payload += '\n' + (e.request_id ? std::to_string(*e.request_id) : std::string("-"));
  payload += '\n' + e.data_json;
  return Sha256Hex(payload);
}

Result<int64_t> AppendAudit(Db& db, AuditEvent e) {
  // The read of the last link and the insert must be one write transaction:
  // outside the caller's, take one (another process appending in between
  // would otherwise make this insert collide on seq).
  if (sqlite3_get_autocommit(db.raw())) {
    Transaction tx(db);
    AG_RETURN_IF_ERROR(tx.status());
    AG_ASSIGN_OR_RETURN(int64_t seq, AppendAudit(db, std::move(e)));
    AG_RETURN_IF_ERROR(tx.Commit());
    return seq;
  }
  AG_ASSIGN_OR_RETURN(Stmt last, db.Prepare("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1"));
  AG_ASSIGN_OR_RETURN(bool row, last.Step());
  e.seq = row ? last.Int(0) + 1 : 1;
  e.prev_hash = row ? last.Text(1) : std::string(64, '0');
  if (e.at == 0) e.at = NowSeconds();
  e.hash = AuditHash(e);
  AG_ASSIGN_OR_RETURN(Stmt ins, db.Prepare(
      "INSERT INTO audit (seq, at, kind, actor, repo, request_id, data_json, prev_hash, hash) "
      "VALUES (?,?,?,?,?,?,?,?,?)"));
  ins.Bind(1, e.seq).Bind(2, e.at).Bind(3, e.kind).Bind(4, e.actor).Bind(5, e.repo)
      .Bind(6, e.request_id).Bind(7, e.data_json).Bind(8, e.prev_hash).Bind(9, e.hash);
  AG_RETURN_IF_ERROR(ins.Run().WithContext("audit append"));
  return e.seq;
}

AuditEvent ReadAuditRow(const Stmt& q) {
  AuditEvent e;
  e.seq = q.Int(0);
  e.at = q.Int(1);
  e.kind = q.Text(2);
  e.actor = q.Text(3);
  e.repo = q.Text(4);
  if (!q.IsNull(5)) e.request_id = q.Int(5);
  e.data_json = q.Text(6);
  e.prev_hash = q.Text(7);
  e.hash = q.Text(8);
  return e;
}

Result<AuditVerification> VerifyAudit(Db& db) {
  AuditVerification v;
  AG_ASSIGN_OR_RETURN(Stmt q, db.Prepare(std::string("SELECT ") + kAuditColumns +
                                          " FROM audit ORDER BY seq"));
  std::string prev(64, '0');
  int64_t expected_seq = 0;
  for (;;) {
    AG_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) break;
    AuditEvent e = ReadAuditRow(q);
    ++v.rows;
    if (expected_seq != 0 && e.seq != expected_seq + 1) {
      v.first_broken_seq = expected_seq + 1;
      v.reason = "row " + std::to_string(expected_seq + 1) + " is missing";
      return v;
    }
    if (e.prev_hash != prev) {
      v.first_broken_seq = e.seq;
      v.reason = "row " + std::to_string(e.seq) + " does not link to the previous row";
      return v;
    }
    if (AuditHash(e) != e.hash) {
      v.first_broken_seq = e.seq;
      v.reason = "row " + std::to_string(e.seq) + " was altered (hash mismatch)";
      return v;
    }
    prev = e.hash;
    expected_seq = e.seq;
  }
  return v;
}

}  // namespace ag::store
