#include "store/requests.h"

#include <nlohmann/json.hpp>

#include "store/audit.h"

namespace ag::store {
namespace {

constexpr const char* kColumns =
    "id, repo, ref, old_oid, new_oid, identity, groups_json, method, claims_json, "
    "http_request_id, status, outcome, rules_json, findings_json, notes_json, "
    "push_options_json, commits_json, upstream_base, quorum, review_users_json, "
    "review_groups_json, created_at, updated_at, expires_at, status_reason, upstream_moved, "
    "replay_attempts, next_attempt_at, trailers_json";

Request ReadRow(const Stmt& q) {
  Request r;
  int c = 0;
  r.id = q.Int(c++);
  r.repo = q.Text(c++);
  r.ref = q.Text(c++);
  r.old_oid = q.Text(c++);
  r.new_oid = q.Text(c++);
  r.identity = q.Text(c++);
  r.groups_json = q.Text(c++);
  r.method = q.Text(c++);
  r.claims_json = q.Text(c++);
  r.http_request_id = q.Text(c++);
  r.status = ParseStatus(q.Text(c++)).value_or(RequestStatus::kFailed);
  r.outcome = q.Text(c++);
  r.rules_json = q.Text(c++);
  r.findings_json = q.Text(c++);
  r.notes_json = q.Text(c++);
  r.push_options_json = q.Text(c++);
  r.commits_json = q.Text(c++);
  r.upstream_base = q.Text(c++);
  r.quorum = static_cast<int>(q.Int(c++));
  r.review_users_json = q.Text(c++);
  r.review_groups_json = q.Text(c++);
  r.created_at = q.Int(c++);
  r.updated_at = q.Int(c++);
  r.expires_at = q.Int(c++);
  r.status_reason = q.Text(c++);
  r.upstream_moved = q.Int(c++) != 0;
  r.replay_attempts = static_cast<int>(q.Int(c++));
  r.next_attempt_at = q.Int(c++);
  r.trailers_json = q.Text(c++);
  return r;
}

std::string RefData(std::string_view ref, std::string_view old_oid, std::string_view new_oid,
                    std::string_view reason) {
  nlohmann::json j = {{"ref", ref}, {"old", old_oid}, {"new", new_oid}};
  if (!reason.empty()) j["reason"] = reason;
  return j.dump();
}

}  // namespace

std::string_view StatusName(RequestStatus s) {
  switch (s) {
    case RequestStatus::kIncoming: return "incoming";
    case RequestStatus::kPending: return "pending";
    case RequestStatus::kApproved: return "approved";
    case RequestStatus::kRejected: return "rejected";
    case RequestStatus::kExpired: return "expired";
    case RequestStatus::kSuperseded: return "superseded";
    case RequestStatus::kConflict: return "conflict";
    case RequestStatus::kReplaying: return "replaying";
    case RequestStatus::kReplayed: return "replayed";
    case RequestStatus::kFailed: return "failed";
    case RequestStatus::kAborted: return "aborted";
  }
  return "unknown";
}

std::optional<RequestStatus> ParseStatus(std::string_view s) {
  for (int i = 0; i <= static_cast<int>(RequestStatus::kAborted); ++i) {
    auto st = static_cast<RequestStatus>(i);
    if (StatusName(st) == s) return st;
  }
  return std::nullopt;
}

Result<int64_t> InsertRequest(Db& db, Request r, int64_t ttl_seconds) {
  int64_t now = NowSeconds();
  AG_ASSIGN_OR_RETURN(Stmt ins, db.Prepare(
      "INSERT INTO requests (repo, ref, old_oid, new_oid, identity, groups_json, method, "
      "claims_json, http_request_id, status, outcome, rules_json, findings_json, notes_json, "
      "push_options_json, commits_json, upstream_base, quorum, review_users_json, "
      "review_groups_json, created_at, updated_at, expires_at, trailers_json) "
      "VALUES (?,?,?,?,?,?,?,?,?,'incoming',?,?,?,?,?,?,?,?,?,?,?,?,?,?)"));
  ins.Bind(1, r.repo).Bind(2, r.ref).Bind(3, r.old_oid).Bind(4, r.new_oid).Bind(5, r.identity)
      .Bind(6, r.groups_json).Bind(7, r.method).Bind(8, r.claims_json).Bind(9, r.http_request_id)
      .Bind(10, r.outcome).Bind(11, r.rules_json).Bind(12, r.findings_json).Bind(13, r.notes_json)
      .Bind(14, r.push_options_json).Bind(15, "[]").Bind(16, r.upstream_base)
      .Bind(17, static_cast<int64_t>(r.quorum)).Bind(18, r.review_users_json)
      .Bind(19, r.review_groups_json).Bind(20, now).Bind(21, now).Bind(22, now + ttl_seconds)
      .Bind(23, r.trailers_json);
  AG_RETURN_IF_ERROR(ins.Run().WithContext("insert request"));
  int64_t id = db.LastInsertId();
  if (r.commits_size == 0 && r.commits_json.size() > 2) {  // callers other than the hook
    auto list = nlohmann::json::parse(r.commits_json, nullptr, false);
    if (list.is_array() && !list.empty()) {
      r.commits_size = static_cast<int64_t>(list.size());
      r.commits_last = list.back().is_string() ? list.back().get<std::string>() : "";
    }
  }
  // The range: as its base's plus its own commits when the base is there
  // and the chain not too deep, else whole.
  int64_t depth = -1;
  if (r.commits_base > 0) {
    AG_ASSIGN_OR_RETURN(Stmt base, db.Prepare(
        "SELECT c.depth FROM request_commits c JOIN requests b ON b.id = c.request_id "
        "WHERE c.request_id = ? AND b.repo = ? AND c.size = ? AND c.last_commit = ?"));
    base.Bind(1, r.commits_base).Bind(2, r.repo).Bind(3, r.commits_base_size).Bind(4, r.commits_base_last);
    AG_ASSIGN_OR_RETURN(bool found, base.Step());
    if (found && base.Int(0) + 1 <= kMaxRangeChain) depth = base.Int(0) + 1;
  }
  AG_ASSIGN_OR_RETURN(Stmt range, db.Prepare("INSERT INTO request_commits (request_id, base_request, depth, "
                                             "size, last_commit, commits_json) VALUES (?,?,?,?,?,?)"));
  range.Bind(1, id).Bind(4, r.commits_size).Bind(5, r.commits_last);
  if (depth > 0) {
    range.Bind(2, r.commits_base).Bind(3, depth).Bind(6, r.commits_own_json);
  } else {
    range.BindNull(2).Bind(3, int64_t{0}).Bind(6, r.commits_json);
  }
  AG_RETURN_IF_ERROR(range.Run().WithContext("insert request commits"));
  AuditEvent e;
  e.kind = "request.created";
  e.actor = r.identity;
  e.repo = r.repo;
  e.request_id = id;
  e.data_json = RefData(r.ref, r.old_oid, r.new_oid, r.outcome);
  AG_RETURN_IF_ERROR(AppendAudit(db, e).status());
  return id;
}

Result<int64_t> LandRequest(Db& db, std::string_view repo, std::string_view ref,
                            std::string_view old_oid, std::string_view new_oid,
                            std::vector<int64_t>* superseded_out) {
  AG_ASSIGN_OR_RETURN(Stmt find, db.Prepare(
      "SELECT id, outcome, identity FROM requests WHERE repo=? AND ref=? AND old_oid=? AND "
      "new_oid=? AND status='incoming' ORDER BY id DESC LIMIT 1"));
  find.Bind(1, repo).Bind(2, ref).Bind(3, old_oid).Bind(4, new_oid);
  AG_ASSIGN_OR_RETURN(bool row, find.Step());
  if (!row) return Status::NotFound("no incoming request for " + std::string(ref));
  int64_t id = find.Int(0);
  bool allow = find.Text(1) == "allow";
  std::string identity = find.Text(2);
  int64_t now = NowSeconds();

  // Older pending requests on this ref are superseded: their approvals bind to
  // a value the ref no longer has.
  AG_ASSIGN_OR_RETURN(Stmt older, db.Prepare(
      "SELECT id FROM requests WHERE repo=? AND ref=? AND status='pending' AND id<>?"));
  older.Bind(1, repo).Bind(2, ref).Bind(3, id);
  std::vector<int64_t> superseded;
  for (;;) {
    AG_ASSIGN_OR_RETURN(bool r, older.Step());
    if (!r) break;
    superseded.push_back(older.Int(0));
  }
  for (int64_t old_id : superseded) {
    AG_RETURN_IF_ERROR(TransitionRequest(db, old_id, RequestStatus::kPending,
                                         RequestStatus::kSuperseded, identity,
                                         "superseded by request " + std::to_string(id),
                                         "request.superseded"));
  }
  if (superseded_out) {
    superseded_out->insert(superseded_out->end(), superseded.begin(), superseded.end());
  }
  // Concurrent pushes from the same old value to other new values lost the
  // race: git refuses their ref update ("cannot lock ref"), so they never
  // land. Abort them now instead of leaving them incoming until the sweeper.
  AG_ASSIGN_OR_RETURN(Stmt lost, db.Prepare(
      "SELECT id FROM requests WHERE repo=? AND ref=? AND old_oid=? AND new_oid<>? AND "
      "status='incoming'"));
  lost.Bind(1, repo).Bind(2, ref).Bind(3, old_oid).Bind(4, new_oid);
  std::vector<int64_t> losers;
  for (;;) {
    AG_ASSIGN_OR_RETURN(bool r, lost.Step());
    if (!r) break;
    losers.push_back(lost.Int(0));
  }
  for (int64_t loser : losers) {
    AG_RETURN_IF_ERROR(TransitionRequest(db, loser, RequestStatus::kIncoming, RequestStatus::kAborted,
                                         identity,
                                         "lost the race: request " + std::to_string(id) +
                                             " updated the ref first",
                                         "request.aborted"));
  }
  AG_ASSIGN_OR_RETURN(Stmt upd, db.Prepare(
      "UPDATE requests SET status=?, updated_at=? WHERE id=? AND status='incoming'"));
  upd.Bind(1, allow ? "approved" : "pending").Bind(2, now).Bind(3, id);
  AG_RETURN_IF_ERROR(upd.Run());
  AuditEvent e;
  e.kind = allow ? "request.auto_approved" : "request.pending";
  e.actor = identity;
  e.repo = std::string(repo);
  e.request_id = id;
  e.data_json = RefData(ref, old_oid, new_oid, "");
  AG_RETURN_IF_ERROR(AppendAudit(db, e).status());
  return id;
}

Status TransitionRequest(Db& db, int64_t id, RequestStatus from, RequestStatus to,
                         std::string_view actor, std::string_view reason,
                         std::string_view audit_kind) {
  AG_ASSIGN_OR_RETURN(Stmt upd, db.Prepare(
      "UPDATE requests SET status=?, status_reason=?, updated_at=? WHERE id=? AND status=?"));
  upd.Bind(1, StatusName(to)).Bind(2, reason).Bind(3, NowSeconds()).Bind(4, id)
      .Bind(5, StatusName(from));
  AG_RETURN_IF_ERROR(upd.Run());
  if (db.Changes() != 1) {
    return Status::FailedPrecondition("request " + std::to_string(id) + " is not " +
                                      std::string(StatusName(from)));
  }
  AG_ASSIGN_OR_RETURN(Request r, GetRequest(db, id));
  AuditEvent e;
  e.kind = std::string(audit_kind);
  e.actor = std::string(actor);
  e.repo = r.repo;
  e.request_id = id;
  nlohmann::json j = {{"from", StatusName(from)}, {"to", StatusName(to)}, {"ref", r.ref},
                      {"old", r.old_oid}, {"new", r.new_oid}};
  if (!reason.empty()) j["reason"] = reason;
  e.data_json = j.dump();
  return AppendAudit(db, e).status();
}

Result<std::string> RequestCommits(Db& db, int64_t id) {
  std::vector<std::string> parts;  // newest link first
  int64_t at = id;
  for (int link = 0; at > 0; ++link) {
    if (link > kMaxRangeChain) return Status::Corruption("the range of request " + std::to_string(id) +
                                                     " chains deeper than " + std::to_string(kMaxRangeChain));
    AG_ASSIGN_OR_RETURN(Stmt q, db.Prepare("SELECT base_request, commits_json FROM request_commits "
                                           "WHERE request_id = ?"));
    q.Bind(1, at);
    AG_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) {
      if (link == 0) return std::string("[]");
      return Status::Corruption("the range of request " + std::to_string(id) + " names request " +
                              std::to_string(at) + ", which has none");
    }
    at = q.IsNull(0) ? 0 : q.Int(0);
    parts.push_back(q.Text(1));
  }
  if (parts.size() == 1) return std::move(parts.front());
  std::string out = "[";
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
    std::string_view inner(*it);
    if (inner.size() < 2) continue;
    inner = inner.substr(1, inner.size() - 2);  // without [ ]
    if (inner.empty()) continue;
    if (out.size() > 1) out += ',';
    out += inner;
  }
  out += ']';
  return out;
}

Result<Request> GetRequest(Db& db, int64_t id, bool with_commits) {
  AG_ASSIGN_OR_RETURN(Stmt q, db.Prepare(std::string("SELECT ") + kColumns +
                                         " FROM requests WHERE id=?"));
  q.Bind(1, id);
  AG_ASSIGN_OR_RETURN(bool row, q.Step());
  if (!row) return Status::NotFound("no request " + std::to_string(id));
  Request r = ReadRow(q);
  if (with_commits) {
    AG_ASSIGN_OR_RETURN(r.commits_json, RequestCommits(db, id));
  }
  return r;
}

Result<std::vector<Request>> ListRequests(Db& db, const RequestFilter& filter) {
  std::string sql = std::string("SELECT ") + kColumns + " FROM requests WHERE 1=1";
  if (!filter.repo.empty()) sql += " AND repo=?1";
  if (filter.status) sql += " AND status=?2";
  sql += " ORDER BY id DESC LIMIT ?3";
  AG_ASSIGN_OR_RETURN(Stmt q, db.Prepare(sql));
  if (!filter.repo.empty()) q.Bind(1, filter.repo);
  if (filter.status) q.Bind(2, StatusName(*filter.status));
  q.Bind(3, static_cast<int64_t>(filter.limit));
  std::vector<Request> out;
  for (;;) {
    AG_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) break;
    out.push_back(ReadRow(q));
  }
  for (Request& r : out) {
    AG_ASSIGN_OR_RETURN(r.commits_json, RequestCommits(db, r.id));
  }
  return out;
}

Result<int> SweepRequests(Db& db, int64_t now, int64_t incoming_grace_seconds) {
  int changed = 0;
  struct Sweep {
    const char* sql;
    RequestStatus from, to;
    const char* reason;
    const char* kind;
  };
  const Sweep sweeps[] = {
      {"SELECT id FROM requests WHERE status='incoming' AND created_at < ?",
       RequestStatus::kIncoming, RequestStatus::kAborted, "the push did not land",
       "request.aborted"},
      {"SELECT id FROM requests WHERE status='pending' AND expires_at < ?",
       RequestStatus::kPending, RequestStatus::kExpired, "no decision before the deadline",
       "request.expired"},
  };
  for (const Sweep& s : sweeps) {
    AG_ASSIGN_OR_RETURN(Stmt q, db.Prepare(s.sql));
    q.Bind(1, s.to == RequestStatus::kAborted ? now - incoming_grace_seconds : now);
    std::vector<int64_t> ids;
    for (;;) {
      AG_ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) break;
      ids.push_back(q.Int(0));
    }
    for (int64_t id : ids) {
      Status st = TransitionRequest(db, id, s.from, s.to, "agentgate", s.reason, s.kind);
      if (st.ok()) ++changed;
      else if (st.code() != Code::kFailedPrecondition) return st;
    }
  }
  return changed;
}

Result<std::unordered_map<std::string, int64_t>> RejectedCommits(Db& db, std::string_view repo) {
  return CommitsOfRequests(db, repo, "requests.status = 'rejected'");
}

Result<std::unordered_map<std::string, int64_t>> CommitsOfRequests(Db& db, std::string_view repo,
                                                                   std::string_view where) {
  AG_ASSIGN_OR_RETURN(Stmt st, db.Prepare(
      "WITH RECURSIVE chain(root, id) AS ("
      "  SELECT requests.id, requests.id FROM requests WHERE requests.repo = ? AND (" +
      std::string(where) +
      ")  UNION ALL SELECT chain.root, c.base_request FROM chain "
      "  JOIN request_commits c ON c.request_id = chain.id WHERE c.base_request IS NOT NULL) "
      "SELECT j.value, max(chain.root) FROM chain "
      "JOIN request_commits c ON c.request_id = chain.id, json_each(c.commits_json) j "
      "GROUP BY j.value"));
  st.Bind(1, repo);
  std::unordered_map<std::string, int64_t> out;
  while (true) {
    AG_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out[st.Text(0)] = st.Int(1);
  }
  return out;
}

Result<std::optional<int64_t>> ChainedRequest(Db& db, std::string_view repo, std::string_view ref,
                                              std::string_view old_oid) {
  AG_ASSIGN_OR_RETURN(Stmt st, db.Prepare("SELECT max(id) FROM requests WHERE repo = ? AND ref = ? "
                                          "AND new_oid = ? AND status IN ('approved','replaying')"));
  st.Bind(1, repo).Bind(2, ref).Bind(3, old_oid);
  AG_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row || st.IsNull(0)) return std::optional<int64_t>();
  return std::optional<int64_t>(st.Int(0));
}

Result<std::vector<int64_t>> RejectApprovedSharingCommits(Db& db, int64_t rejected_id,
                                                          std::string_view actor) {
  std::vector<int64_t> ids;
  {
    AG_ASSIGN_OR_RETURN(Stmt q, db.Prepare(
        "WITH RECURSIVE "
        "xs(id) AS (SELECT ?1 UNION ALL SELECT c.base_request FROM xs JOIN request_commits c "
        "  ON c.request_id = xs.id WHERE c.base_request IS NOT NULL), "
        "xc(oid) AS (SELECT j.value FROM xs JOIN request_commits c ON c.request_id = xs.id, "
        "  json_each(c.commits_json) j), "
        "ac(root, id) AS (SELECT a.id, a.id FROM requests a, requests x WHERE x.id = ?1 AND "
        "  a.repo = x.repo AND a.id <> x.id AND a.status IN ('approved', 'incoming') "
        "  UNION ALL SELECT ac.root, c.base_request FROM ac JOIN request_commits c "
        "  ON c.request_id = ac.id WHERE c.base_request IS NOT NULL) "
        "SELECT DISTINCT ac.root, (SELECT status FROM requests WHERE id = ac.root) FROM ac "
        "JOIN request_commits c ON c.request_id = ac.id, "
        "json_each(c.commits_json) j WHERE j.value IN (SELECT oid FROM xc) ORDER BY ac.root"));
    q.Bind(1, rejected_id);
    std::vector<std::pair<int64_t, bool>> found;  // id, incoming
    for (;;) {
      AG_ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) break;
      found.emplace_back(q.Int(0), q.Text(1) == "incoming");
    }
    for (const auto& [id, incoming] : found) {
      // An incoming request was judged before this rejection (its push is
      // landing now): it must not become approved or pending unmarked.
      AG_RETURN_IF_ERROR(TransitionRequest(
          db, id, incoming ? RequestStatus::kIncoming : RequestStatus::kApproved, RequestStatus::kRejected, actor,
          "holds commits of request " + std::to_string(rejected_id) +
              (incoming ? ", rejected while this push was checked" : ", rejected after this approval") +
              "; push again for a new review",
          "request.rejected"));
      ids.push_back(id);
    }
  }
  return ids;
}

}  // namespace ag::store
