#include "audit/export.h"

#include <nlohmann/json.hpp>

#include "audit/time_spec.h"
#include "util/time.h"

namespace ag::audit {

std::string ExportLine(const store::AuditEvent& e) {
  nlohmann::ordered_json j;
  j["seq"] = e.seq;
  j["at"] = IsoUtc(e.at);
  j["kind"] = e.kind;
  j["actor"] = e.actor;
  j["repo"] = e.repo;
  j["request_id"] = e.request_id ? nlohmann::ordered_json(*e.request_id) : nullptr;
  nlohmann::ordered_json data = nlohmann::ordered_json::parse(e.data_json, nullptr, false);
  if (data.is_discarded()) {
    j["data"] = nullptr;
    j["data_json"] = e.data_json;
  } else {
    j["data"] = data;
    // ordered_json keeps the stored key order; spacing or escapes may still differ.
    if (data.dump() != e.data_json) j["data_json"] = e.data_json;
  }
  j["prev_hash"] = e.prev_hash;
  j["hash"] = e.hash;
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Result<store::AuditEvent> ParseExportLine(const std::string& line) {
  nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Status::InvalidArgument("not a JSON object");
  try {
    store::AuditEvent e;
    e.seq = j.at("seq").get<int64_t>();
    AG_ASSIGN_OR_RETURN(e.at, ParseTimeSpec(j.at("at").get<std::string>(), 0));
    e.kind = j.at("kind").get<std::string>();
    e.actor = j.at("actor").get<std::string>();
    e.repo = j.at("repo").get<std::string>();
    if (!j.at("request_id").is_null()) e.request_id = j.at("request_id").get<int64_t>();
    if (j.contains("data_json")) {
      e.data_json = j.at("data_json").get<std::string>();
    } else {
      // Re-serialise in the order the line gives (ordered_json).
      e.data_json = nlohmann::ordered_json::parse(line).at("data").dump();
    }
    e.prev_hash = j.at("prev_hash").get<std::string>();
    e.hash = j.at("hash").get<std::string>();
    return e;
  } catch (const std::exception& ex) {
    return Status::InvalidArgument(std::string("export line: ") + ex.what());
  }
}

Result<int64_t> ExportAudit(store::Db& db, const ExportOptions& options, std::ostream& out) {
  AG_ASSIGN_OR_RETURN(store::Stmt q, db.Prepare(
      std::string("SELECT ") + store::kAuditColumns + " FROM audit "
      "WHERE seq > ? AND at >= ? AND (? = '' OR repo = ?) ORDER BY seq"));
  q.Bind(1, options.after_seq)
      .Bind(2, options.since.value_or(INT64_MIN))
      .Bind(3, options.repo)
      .Bind(4, options.repo);
  int64_t n = 0;
  for (;;) {
    AG_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) break;
    out << ExportLine(store::ReadAuditRow(q)) << '\n';
    if (!out) return Status::Io("export: cannot write the output");
    ++n;
  }
  out.flush();
  if (!out) return Status::Io("export: cannot write the output");
  return n;
}

}  // namespace ag::audit
