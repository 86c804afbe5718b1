#include "control/handlers.h"

#include <functional>
#include <map>

#include "control/protocol.h"
#include "store/freezes.h"
#include "store/requests.h"
#include "util/log.h"

namespace ag::control {
namespace {

using nlohmann::json;

// Field readers that turn a wrong type into InvalidArgument (json throws).
Result<std::string> Str(const json& req, const char* key, bool required) {
  if (!req.contains(key) || req[key].is_null()) {
    if (required) return Status::InvalidArgument(std::string("missing \"") + key + "\"");
    return std::string();
  }
  if (!req[key].is_string()) return Status::InvalidArgument(std::string("\"") + key + "\" must be a string");
  std::string v = req[key].get<std::string>();
  if (v.size() > 16384) return Status::InvalidArgument(std::string("\"") + key + "\" is too long");
  return v;
}

Result<int64_t> Id(const json& req) {
  if (!req.contains("id")) return Status::InvalidArgument("missing \"id\"");
  const json& v = req["id"];
  if (v.is_number_unsigned() && v.get<uint64_t>() >= 1 &&
      v.get<uint64_t>() <= static_cast<uint64_t>(INT64_MAX)) {
    return static_cast<int64_t>(v.get<uint64_t>());
  }
  if (v.is_number_integer() && v.get<int64_t>() >= 1) return v.get<int64_t>();
  if (v.is_string()) return ParseRequestId(v.get<std::string>());
  return Status::InvalidArgument("\"id\" must be a positive whole number");
}

Result<std::map<int64_t, int>> ApprovalCounts(store::Db& db, int64_t min_id, int64_t max_id) {
  AG_ASSIGN_OR_RETURN(store::Stmt q, db.Prepare(
      "SELECT request_id, COUNT(*) FROM approvals WHERE verdict='approve' AND "
      "request_id BETWEEN ? AND ? GROUP BY request_id"));
  q.Bind(1, min_id).Bind(2, max_id);
  std::map<int64_t, int> out;
  for (;;) {
    AG_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) break;
    out[q.Int(0)] = static_cast<int>(q.Int(1));
  }
  return out;
}

// Ids first (from an index: requests_status for a status, the covering
// requests_repo_ref for a repo, the rowid otherwise), then the rows by id: a
// sort never carries whole rows (100,000 requests: see bench/review).
Result<std::vector<store::Request>> Rows(store::Db& db, const std::string& repo,
                                         std::optional<store::RequestStatus> status, int limit,
                                         bool skip_pending) {
  std::string sql = "SELECT id FROM requests WHERE 1=1";
  if (status) sql += " AND status=?1";
  if (skip_pending) sql += " AND status<>'pending'";
  if (!repo.empty()) sql += " AND repo=?2";
  sql += " ORDER BY id DESC LIMIT ?3";
  AG_ASSIGN_OR_RETURN(store::Stmt q, db.Prepare(sql));
  if (status) q.Bind(1, store::StatusName(*status));
  if (!repo.empty()) q.Bind(2, repo);
  q.Bind(3, static_cast<int64_t>(limit));
  std::vector<int64_t> ids;
  for (;;) {
    AG_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) break;
    ids.push_back(q.Int(0));
  }
  std::vector<store::Request> out;
  for (int64_t id : ids) {
    AG_ASSIGN_OR_RETURN(store::Request r, store::GetRequest(db, id));
    out.push_back(std::move(r));
  }
  return out;
}

// `visible` says which requests the caller may see (MayView); null: all.
Result<json> List(store::Db& db, const json& req,
                  const std::function<bool(const store::Request&)>& visible) {
  AG_ASSIGN_OR_RETURN(std::string repo, Str(req, "repo", false));
  AG_ASSIGN_OR_RETURN(std::string status_name, Str(req, "status", false));
  std::optional<store::RequestStatus> status;
  if (!status_name.empty()) {
    status = store::ParseStatus(status_name);
    if (!status) return Status::InvalidArgument("unknown status '" + status_name + "'");
  }
  int limit = kDefaultListLimit;
  if (req.contains("limit")) {
    if (!req["limit"].is_number_integer() || req["limit"].get<int64_t>() < 1) {
      return Status::InvalidArgument("\"limit\" must be a positive whole number");
    }
    limit = static_cast<int>(std::min<int64_t>(req["limit"].get<int64_t>(), kMaxListLimit));
  }
  // A reviewer sees the requests they may review: look further, then keep
  // `limit` of those.
  const int wanted = limit;
  if (visible) limit = kMaxListLimit;
  std::vector<store::Request> rows;
  if (status) {
    AG_ASSIGN_OR_RETURN(rows, Rows(db, repo, status, limit, false));
  } else {
    // Pending first (what a reviewer acts on), then the rest, newest first.
    AG_ASSIGN_OR_RETURN(rows, Rows(db, repo, store::RequestStatus::kPending, limit, false));
    if (static_cast<int>(rows.size()) < limit) {
      AG_ASSIGN_OR_RETURN(std::vector<store::Request> rest,
                          Rows(db, repo, std::nullopt, limit - static_cast<int>(rows.size()), true));
      for (auto& r : rest) rows.push_back(std::move(r));
    }
  }
  if (visible) {
    std::vector<store::Request> kept;
    for (auto& r : rows) {
      if (static_cast<int>(kept.size()) < wanted && visible(r)) kept.push_back(std::move(r));
    }
    rows = std::move(kept);
  }
  std::map<int64_t, int> counts;
  if (!rows.empty()) {
    int64_t lo = rows[0].id, hi = rows[0].id;
    for (const auto& r : rows) lo = std::min(lo, r.id), hi = std::max(hi, r.id);
    AG_ASSIGN_OR_RETURN(counts, ApprovalCounts(db, lo, hi));
  }
  AG_ASSIGN_OR_RETURN(std::vector<store::Freeze> freezes, store::ListFreezes(db));
  json out = json::array();
  for (const auto& r : rows) {
    json row = Summary(r, counts.count(r.id) ? counts[r.id] : 0);
    const bool open = r.status == store::RequestStatus::kPending ||
                      r.status == store::RequestStatus::kApproved ||
                      r.status == store::RequestStatus::kReplaying;
    if (open && !freezes.empty() && store::FreezeFor(freezes, r.identity, store::GroupsOf(r.groups_json)))
      row["frozen"] = true;  // cannot be approved nor replayed until thawed
    out.push_back(std::move(row));
  }
  return out;
}

bool InRequirement(const Peer& peer, const policy::ReviewRequirement& r) {
  for (const std::string& u : r.users)
    if (u == peer.user) return true;
  for (const std::string& g : r.groups)
    for (const std::string& mine : peer.groups)
      if (g == mine) return true;
  return false;
}

json FreezeJson(const store::Freeze& f) {
  return {{"scope", store::FreezeScopeName(f.scope)}, {"name", f.name}, {"reason", f.reason},
          {"by", f.by}, {"at", f.at}};
}

// `freeze` / `thaw` / `freezes` (store/freezes.h): reviewers and root may
// freeze; root, the daemon's account and the policy's admins may thaw.
Result<json> FreezeCommand(store::Db& db, const HandlerContext& ctx, const Peer& peer,
                           const std::string& cmd, const json& req) {
  static const ReviewerAccounts kNobody;
  const bool reviewer = MayReviewSomething(peer, ctx.reviewers ? *ctx.reviewers : kNobody);
  if (cmd == "freezes") {
    if (!reviewer) return Status::PermissionDenied(peer.user + " may review nothing and may not list freezes");
    AG_ASSIGN_OR_RETURN(std::vector<store::Freeze> all, store::ListFreezes(db));
    json out = json::array();
    for (const auto& f : all) out.push_back(FreezeJson(f));
    return out;
  }
  AG_ASSIGN_OR_RETURN(std::string scope_name, Str(req, "scope", true));
  std::optional<store::FreezeScope> scope = store::ParseFreezeScope(scope_name);
  if (!scope) return Status::InvalidArgument("scope must be identity, group or all");
  AG_ASSIGN_OR_RETURN(std::string name, Str(req, "name", *scope != store::FreezeScope::kAll));
  if (cmd == "freeze") {
    if (!reviewer) return Status::PermissionDenied(peer.user + " may review nothing and may not freeze");
    AG_ASSIGN_OR_RETURN(std::string reason, Str(req, "reason", true));
    AG_RETURN_IF_ERROR(store::AddFreeze(db, *scope, name, reason, peer.user));
  } else {
    if (!SeesAll(peer) && !InRequirement(peer, ctx.settings->admins))
      return Status::PermissionDenied(peer.user + " is not root or one of the policy's admins: only they may thaw");
    AG_RETURN_IF_ERROR(store::RemoveFreeze(db, *scope, name, peer.user));
  }
  LogInfo(cmd == "freeze" ? "review.freeze" : "review.thaw",
          {{"scope", scope_name}, {"name", *scope == store::FreezeScope::kAll ? "*" : name}, {"by", peer.user}});
  return json{{"scope", scope_name}, {"name", *scope == store::FreezeScope::kAll ? "*" : name},
              {"frozen", cmd == "freeze"}};
}

json DecisionJson(const review::DecisionResult& d) {
  return {{"id", d.id}, {"status", store::StatusName(d.status)}, {"approvals", d.approvals},
          {"quorum", d.quorum}, {"message", d.message}};
}

Result<json> Dispatch(store::Db& db, const HandlerContext& ctx, const Peer& peer,
                      const json& req) {
  if (!req.is_object()) return Status::InvalidArgument("a request is a JSON object");
  AG_ASSIGN_OR_RETURN(std::string cmd, Str(req, "cmd", true));
  review::Reviewer reviewer{peer.user, peer.groups, {}};
  // An account that may review nothing writes at most one refusal row a while.
  static const ReviewerAccounts kNobody;
  if (ctx.refusals && !MayReviewSomething(peer, ctx.reviewers ? *ctx.reviewers : kNobody)) {
    RefusalLimiter* limiter = ctx.refusals;
    std::string user = peer.user;
    reviewer.admit_refusal = [limiter, user](int64_t* suppressed) {
      return limiter->Admit(user, suppressed);
    };
  }
  // Root and the daemon's own account see every request; anyone else sees
  // those they may review (agents' diffs are not for every local account).
  const bool sees_all = SeesAll(peer);
  std::function<bool(const store::Request&)> visible;
  if (!sees_all) {
    visible = [&ctx, &reviewer](const store::Request& r) {
      return review::MayView(r, *ctx.settings, reviewer);
    };
  }
  if (cmd == "freeze" || cmd == "thaw" || cmd == "freezes") return FreezeCommand(db, ctx, peer, cmd, req);
  if (cmd == "list") return List(db, req, visible);
  if (cmd == "show") {
    AG_ASSIGN_OR_RETURN(int64_t id, Id(req));
    Result<store::Request> found = store::GetRequest(db, id);
    // Unknown and hidden look the same: a non-reviewer learns nothing.
    if (visible && (found.ok() ? !visible(*found) : found.status().code() == Code::kNotFound)) {
      return review::NoSuchRequestFor(reviewer, id);
    }
    if (!found.ok()) return found.status();
    return BuildShow(db, *ctx.settings, *found, ctx.show);
  }
  if (cmd == "approve") {
    AG_ASSIGN_OR_RETURN(int64_t id, Id(req));
    review::Binding b;
    AG_ASSIGN_OR_RETURN(b.ref, Str(req, "ref", true));
    AG_ASSIGN_OR_RETURN(b.old_oid, Str(req, "old", true));
    AG_ASSIGN_OR_RETURN(b.new_oid, Str(req, "new", true));
    AG_ASSIGN_OR_RETURN(std::string comment, Str(req, "comment", false));
    AG_ASSIGN_OR_RETURN(review::DecisionResult d,
                        review::Approve(db, *ctx.settings, id, reviewer, b, comment));
    if (d.status == store::RequestStatus::kApproved && ctx.on_approved) ctx.on_approved();
    return DecisionJson(d);
  }
  if (cmd == "reject") {
    AG_ASSIGN_OR_RETURN(int64_t id, Id(req));
    AG_ASSIGN_OR_RETURN(std::string reason, Str(req, "reason", true));
    std::optional<review::Binding> b;
    if (req.contains("new")) {
      b.emplace();
      AG_ASSIGN_OR_RETURN(b->ref, Str(req, "ref", true));
      AG_ASSIGN_OR_RETURN(b->old_oid, Str(req, "old", true));
      AG_ASSIGN_OR_RETURN(b->new_oid, Str(req, "new", true));
    }
    AG_ASSIGN_OR_RETURN(review::DecisionResult d,
                        review::Reject(db, *ctx.settings, id, reviewer, b, reason));
    return DecisionJson(d);
  }
  if (cmd == "retry") {
    AG_ASSIGN_OR_RETURN(int64_t id, Id(req));
    AG_ASSIGN_OR_RETURN(review::DecisionResult d, review::Retry(db, *ctx.settings, id, reviewer));
    if (d.status == store::RequestStatus::kApproved && ctx.on_approved) ctx.on_approved();
    return DecisionJson(d);
  }
  return Status::InvalidArgument("unknown command '" + cmd.substr(0, 40) + "'");
}

}  // namespace

json HandleRequest(store::Db& db, const HandlerContext& ctx, const Peer& peer,
                   const json& request) {
  try {
    Result<json> r = Dispatch(db, ctx, peer, request);
    return r.ok() ? OkResponse(std::move(r).value()) : ErrorResponse(r.status());
  } catch (const std::exception& e) {
    return ErrorResponse(Status::InvalidArgument(std::string("bad request: ") + e.what()));
  }
}

}  // namespace ag::control
