// Requests: one per accepted ref update, from the pre-receive hook until it is
// replayed upstream (or rejected, expired, superseded, ...). Every state change
// here appends an audit event in the same transaction.
//
// Life of a request:
//   incoming --(post-receive: the ref landed)--> pending | approved
//   incoming --(the push failed after the check)--> aborted
//   pending  --> approved | rejected | expired | superseded | conflict
//   approved --> replaying --> replayed | conflict | failed (| approved again on retry)
//
// Thread-safety: as Db (one thread per Db).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "store/db.h"

namespace ag::store {

enum class RequestStatus {
  kIncoming, kPending, kApproved, kRejected, kExpired, kSuperseded,
  kConflict, kReplaying, kReplayed, kFailed, kAborted,
};
std::string_view StatusName(RequestStatus s);
std::optional<RequestStatus> ParseStatus(std::string_view s);

struct Request {
  int64_t id = 0;
  std::string repo, ref, old_oid, new_oid;
  std::string identity;
  std::string groups_json = "[]";
  std::string method;
  std::string claims_json = "{}";
  std::string http_request_id;
  RequestStatus status = RequestStatus::kIncoming;
  std::string outcome = "hold";          // "hold" or "allow"
  std::string rules_json = "[]";         // [{"id","outcome","message"}] that decided it
  std::string findings_json = "[]";      // masked findings
  std::string notes_json = "[]";         // skip notes (binary, too large)
  std::string push_options_json = "[]";  // GIT_PUSH_OPTION_* values
  // Trailers of the pushed commits ([{"key","value","commit"}], masked,
  // bounded: hook/trailers.h). Added in schema 6.
  std::string trailers_json = "[]";
  std::string commits_json = "[]";       // the range: commit ids upstream lacked, oldest first
  // Added after the first version: for InsertRequest only (never filled on
  // read). The range is commits_base's range plus commits_own_json: stored
  // as that when commits_base holds one (at most kMaxRangeChain deep), so a
  // push on a long pending branch writes its new commits, not the branch.
  int64_t commits_base = 0;
  std::string commits_own_json = "[]";
  // What the caller knows of commits_base's range (its size and newest
  // commit) and of this one's: a base whose stored range does not match is
  // not used (the whole range is stored).
  int64_t commits_base_size = 0;
  std::string commits_base_last;
  int64_t commits_size = 0;
  std::string commits_last;
  std::string upstream_base;             // upstream value the replay leases on
  int quorum = 1;
  std::string review_users_json = "[]";
  std::string review_groups_json = "[]";
  int64_t created_at = 0, updated_at = 0, expires_at = 0;
  std::string status_reason;
  bool upstream_moved = false;
  int replay_attempts = 0;
  int64_t next_attempt_at = 0;
};

// Inserts `r` as incoming (id and times filled in from `ttl_seconds`), with
// an audit event "request.created". Returns the id.
Result<int64_t> InsertRequest(Db& db, Request r, int64_t ttl_seconds);

// Ranges stored as a base request plus their own commits chain at most this
// deep; the next one is stored whole.
inline constexpr int kMaxRangeChain = 32;

// The range of request `id` (commits_json as a JSON array), put together
// from its chain of bases. "[]" for a request without one.
Result<std::string> RequestCommits(Db& db, int64_t id);

// Called once the ref really moved (post-receive): the incoming request for
// (repo, ref, old, new) becomes pending, or approved when its outcome is
// allow; pending requests on the same ref are superseded (their ids are
// appended to *superseded when non-null). Returns the id, or NotFound when no
// incoming request matches.
Result<int64_t> LandRequest(Db& db, std::string_view repo, std::string_view ref,
                            std::string_view old_oid, std::string_view new_oid,
                            std::vector<int64_t>* superseded = nullptr);

// Compare-and-set of the status with an audit event naming `actor`. Fails
// with FailedPrecondition when the request is not in `from`.
Status TransitionRequest(Db& db, int64_t id, RequestStatus from, RequestStatus to,
                         std::string_view actor, std::string_view reason,
                         std::string_view audit_kind);

// Without `with_commits`, commits_json is left "[]" (the range is not read).
Result<Request> GetRequest(Db& db, int64_t id, bool with_commits = true);

// The commit a request's refs point at (refs/agentgate/requests/<id> and
// refs/agentgate/state/<id>/<status>): its new tip, or for a ref deletion the
// tip being deleted, so a held deletion has a state ref to follow and the
// deleted history stays reachable for review and audit.
inline const std::string& StateTip(const Request& r) {
  return r.new_oid.find_first_not_of('0') == std::string::npos ? r.old_oid : r.new_oid;
}

struct RequestFilter {
  std::string repo;                     // empty = any
  std::optional<RequestStatus> status;  // unset = any
  int limit = 1000;                     // newest first
};
Result<std::vector<Request>> ListRequests(Db& db, const RequestFilter& filter);

// The newest approved or replaying request on (repo, ref) whose new value is
// `old_oid`: a push of `old_oid..` chains after it. nullopt when none.
Result<std::optional<int64_t>> ChainedRequest(Db& db, std::string_view repo, std::string_view ref,
                                              std::string_view old_oid);

// Rejections stick: approved requests (not yet replaying) and incoming ones
// (judged, their push still landing) of the same repo whose range shares a
// commit with the just-rejected request `rejected_id` are rejected too
// (reason names it), in the caller's transaction: an approval given, or a
// push judged, before the rejection must not carry a rejected commit
// upstream. Returns their ids.
Result<std::vector<int64_t>> RejectApprovedSharingCommits(Db& db, int64_t rejected_id,
                                                          std::string_view actor);

// Every commit of the rejected requests of `repo`: commit id -> the newest
// rejected request that showed it. The hook holds any range that holds one.
Result<std::unordered_map<std::string, int64_t>> RejectedCommits(Db& db, std::string_view repo);

// The commits of the requests of `repo` that `where` selects (an SQL
// condition on the table `requests`), with their chained bases, each with
// the newest such request that holds it. RejectedCommits and
// store::FrozenCommits are this with their own condition.
Result<std::unordered_map<std::string, int64_t>> CommitsOfRequests(Db& db, std::string_view repo,
                                                                   std::string_view where);

// Marks incoming requests older than `older_than_seconds` aborted (their push
// never landed) and pending ones past expires_at expired. Returns how many.
Result<int> SweepRequests(Db& db, int64_t now, int64_t incoming_grace_seconds);

}  // namespace ag::store
