// Audit export: the audit table as JSON Lines for a SIEM, one object per row,
// streamed from SQLite (one row in memory at a time):
//
//   {"seq":7,"at":"2026-01-02T03:04:05Z","kind":"request.approved","actor":"alice",
//    "repo":"demo","request_id":3,"data":{...},"prev_hash":"…","hash":"…"}
//
// `data` is the stored data_json parsed. When re-serialising `data` would not
// give back the stored bytes exactly, the object also carries "data_json"
// (the stored text) so every exported row stays verifiable against its hash
// (ParseExportLine + store::AuditHash).
//
// Thread-safety: as store::Db (one thread per Db).
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>

#include "store/audit.h"
#include "store/db.h"

namespace ag::audit {

struct ExportOptions {
  std::optional<int64_t> since;  // rows with at >= since; unset = all
  std::string repo;              // rows of this repo only; empty = all
  int64_t after_seq = 0;         // rows with seq > after_seq (incremental export)
};

// Writes the matching rows to `out` in seq order. Returns how many.
Result<int64_t> ExportAudit(store::Db& db, const ExportOptions& options, std::ostream& out);

// One row as its export object (one line, no newline).
std::string ExportLine(const store::AuditEvent& e);

// Parses an exported line back into the row it came from.
Result<store::AuditEvent> ParseExportLine(const std::string& line);

}  // namespace ag::audit
