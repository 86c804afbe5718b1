#include "review/workflow.h"

#include <pwd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <string_view>

#include "git/git.h"
#include "store/audit.h"
#include "store/freezes.h"
#include "util/log.h"

namespace ag::review {
namespace {

using store::Request;
using store::RequestStatus;

enum class Verdict { kApprove, kReject };

Result<std::vector<std::string>> ParseNames(const std::string& json, const char* what) {
  try {
    nlohmann::json j = nlohmann::json::parse(json);
    std::vector<std::string> out;
    if (!j.is_array()) throw std::runtime_error("not an array");
    for (const auto& v : j) out.push_back(v.get<std::string>());
    return out;
  } catch (const std::exception& e) {
    return Status::Corruption(std::string("stored ") + what + " is not a list of names: " +
                              e.what());
  }
}

bool Contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

std::string Id(int64_t id) { return "request " + std::to_string(id); }

// Why a request that is not pending cannot be decided, in words.
Status NotPending(const Request& r) {
  std::string msg = Id(r.id) + " is " + std::string(store::StatusName(r.status));
  if (r.status == RequestStatus::kIncoming) msg = Id(r.id) + " has not landed yet (incoming)";
  else if (r.status == RequestStatus::kApproved || r.status == RequestStatus::kRejected)
    msg = Id(r.id) + " is already " + std::string(store::StatusName(r.status));
  if (!r.status_reason.empty()) msg += " (" + r.status_reason + ")";
  return Status::FailedPrecondition(msg);
}

// How a request's pushing identity relates to the reviewer (see workflow.h,
// "Self-review").
enum class Pusher {
  kOther,     // another person
  kSelf,      // the reviewer's own push: the same uid
  kSameName,  // a token/OIDC identity named like the reviewer's account: fail closed
};

struct PusherMatch {
  Pusher kind = Pusher::kOther;
  std::string why;  // kSameName: the clause for the refusal
};

// "uid<N>", the local identity of a uid with no account name (hook/context.cc) -> N.
std::optional<uid_t> NamelessUid(const std::string& name) {
  constexpr size_t kMaxDigits = 10;  // uid_t is 32 bits
  if (name.size() <= 3 || name.size() > 3 + kMaxDigits || name.compare(0, 3, "uid") != 0) {
    return std::nullopt;
  }
  uint64_t v = 0;
  for (size_t i = 3; i < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9') return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(name[i] - '0');
  }
  if (v > std::numeric_limits<uid_t>::max()) return std::nullopt;
  return static_cast<uid_t>(v);
}

// Whether account `name` is the reviewer's: the same name, or the same uid.
Result<bool> SameAccount(const std::string& name, const std::string& user,
                         std::optional<uid_t> user_uid) {
  if (name == user) return true;
  if (!user_uid || name.empty()) return false;
  AG_ASSIGN_OR_RETURN(std::optional<uid_t> uid, AccountUid(name));
  return uid && *uid == *user_uid;
}

Result<PusherMatch> MatchPusher(const Request& r, const ReviewSettings& s,
                                const std::string& user) {
  AG_ASSIGN_OR_RETURN(std::optional<uid_t> user_uid, AccountUid(user));
  const std::string& identity = r.identity;
  static constexpr std::string_view kLocal = "local:";
  // A push by path: the Unix account that ran git, by name or as uid<N>.
  if (identity.compare(0, kLocal.size(), kLocal) == 0) {
    std::string name = identity.substr(kLocal.size());
    AG_ASSIGN_OR_RETURN(bool same, SameAccount(name, user, user_uid));
    std::optional<uid_t> nameless = NamelessUid(name);
    if (same || (user_uid && nameless && *nameless == *user_uid)) {
      return PusherMatch{Pusher::kSelf, ""};
    }
    return PusherMatch{};
  }
  // A person's identity, mapped to its account by the config.
  auto it = s.identity_accounts.find(identity);
  if (it != s.identity_accounts.end()) {
    AG_ASSIGN_OR_RETURN(bool same, SameAccount(it->second, user, user_uid));
    if (same) return PusherMatch{Pusher::kSelf, ""};
  }
  // A token or OIDC identity named like the reviewer's account, or like an
  // alias of it: nothing tells the two apart, so it counts as the reviewer.
  if (identity == user) {
    return PusherMatch{Pusher::kSameName, "matches the reviewer's account name " + user};
  }
  AG_ASSIGN_OR_RETURN(bool alias, SameAccount(identity, user, user_uid));
  if (alias) {
    return PusherMatch{Pusher::kSameName, "is the name of an account with " + user + "'s uid " +
                                              std::to_string(*user_uid)};
  }
  return PusherMatch{};
}

// Refuses `action` ("approve", "retry") of `r` by its own pusher.
Status RefuseSelfReview(const Request& r, const PusherMatch& m, const std::string& user,
                        const char* action) {
  if (m.kind == Pusher::kOther) return Status::Ok();
  if (m.kind == Pusher::kSelf) {
    return Status::PermissionDenied(user + " pushed " + Id(r.id) + " (as " + r.identity +
                                    ") and cannot " + action + " it");
  }
  return Status::PermissionDenied(user + " cannot " + action + " " + Id(r.id) +
                                  ": its pushing identity '" + r.identity + "' " + m.why +
                                  " (agents must never run under, or be named as, a "
                                  "reviewer's account)");
}

// Who may decide `r`, and how many approvals it needs.
struct Reviewers {
  std::vector<std::string> users, groups;
  int quorum = 1;
};

Result<Reviewers> ReviewersOf(const Request& r, const ReviewSettings& s) {
  Reviewers out;
  AG_ASSIGN_OR_RETURN(out.users, ParseNames(r.review_users_json, "review_users"));
  AG_ASSIGN_OR_RETURN(out.groups, ParseNames(r.review_groups_json, "review_groups"));
  out.quorum = std::max(1, r.quorum);
  if (out.users.empty() && out.groups.empty()) {
    out.users = s.default_reviewers.users;
    out.groups = s.default_reviewers.groups;
    out.quorum = std::max(out.quorum, s.default_reviewers.quorum);
  }
  return out;
}

Status CheckAuthorised(const Request& r, const Reviewers& who, const Reviewer& reviewer) {
  if (reviewer.user.empty()) return Status::PermissionDenied("unknown reviewer account");
  if (who.users.empty() && who.groups.empty()) {
    return Status::PermissionDenied("nobody may review " + Id(r.id) +
                                    ": the policy names no reviewers");
  }
  if (Contains(who.users, reviewer.user)) return Status::Ok();
  for (const std::string& g : reviewer.groups) {
    if (Contains(who.groups, g)) return Status::Ok();
  }
  std::string msg = reviewer.user + " is not a reviewer of " + Id(r.id) + " (reviewers:";
  for (const auto& u : who.users) msg += " " + u;
  for (const auto& g : who.groups) msg += " group:" + g;
  return Status::PermissionDenied(msg + ")");
}

Status CheckBinding(const Request& r, const Binding& b) {
  if (b.ref == r.ref && b.old_oid == r.old_oid && b.new_oid == r.new_oid) return Status::Ok();
  return Status::Conflict(Id(r.id) + " is " + r.ref + " " + r.old_oid.substr(0, 12) + ".." +
                          r.new_oid.substr(0, 12) + ", not what was reviewed (" + b.ref + " " +
                          b.old_oid.substr(0, 12) + ".." + b.new_oid.substr(0, 12) +
                          "): run `agentgate show " + std::to_string(r.id) + "` again");
}

Result<int> CountApprovals(store::Db& db, int64_t id, std::vector<std::string>* names) {
  AG_ASSIGN_OR_RETURN(store::Stmt q, db.Prepare(
      "SELECT reviewer FROM approvals WHERE request_id=? AND verdict='approve' ORDER BY id"));
  q.Bind(1, id);
  int n = 0;
  for (;;) {
    AG_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) break;
    ++n;
    if (names) names->push_back(q.Text(0));
  }
  return n;
}

// The reviewer's earlier verdict on `id`, if any.
Result<std::optional<std::string>> EarlierVerdict(store::Db& db, int64_t id,
                                                  const std::string& user) {
  AG_ASSIGN_OR_RETURN(store::Stmt q, db.Prepare(
      "SELECT verdict FROM approvals WHERE request_id=? AND reviewer=?"));
  q.Bind(1, id).Bind(2, user);
  AG_ASSIGN_OR_RETURN(bool row, q.Step());
  if (!row) return std::optional<std::string>();
  return std::optional<std::string>(q.Text(0));
}

Status Audit(store::Db& db, const Request& r, const std::string& kind, const std::string& actor,
             nlohmann::json data) {
  store::AuditEvent e;
  e.kind = kind;
  e.actor = actor;
  e.repo = r.repo;
  e.request_id = r.id;
  data["ref"] = r.ref;
  data["old"] = r.old_oid;
  data["new"] = r.new_oid;
  e.data_json = data.dump();
  return store::AppendAudit(db, e).status();
}

// Records a refused attempt in the audit log (its own transaction: the
// decision's was rolled back). Best effort: a locked database is logged.
void AuditRefusal(store::Db& db, const Request& r, const Reviewer& reviewer,
                  const char* action, const Status& why) {
  // Rate-limited for accounts that may review nothing (Reviewer::admit_refusal).
  int64_t suppressed = 0;
  if (reviewer.admit_refusal && !reviewer.admit_refusal(&suppressed)) return;
  nlohmann::json data = {{"action", action}, {"why", why.message()},
                         {"code", CodeName(why.code())}};
  if (suppressed > 0) data["suppressed"] = suppressed;
  Status s = [&]() -> Status {
    store::Transaction tx(db);
    AG_RETURN_IF_ERROR(tx.status());
    AG_RETURN_IF_ERROR(Audit(db, r, "review.refused", reviewer.user, std::move(data)));
    return tx.Commit();
  }();
  LogWarn("review.refused", {{"request", std::to_string(r.id)}, {"reviewer", reviewer.user},
                             {"action", action}, {"why", why.message()}});
  if (!s.ok()) LogError("review.audit_failed", {{"error", s.ToString()}});
}

// Request `id`, or NoSuchRequestFor when there is none.
Result<Request> LoadFor(store::Db& db, int64_t id, const Reviewer& reviewer) {
  Result<Request> r = store::GetRequest(db, id);
  if (!r.ok() && r.status().code() == Code::kNotFound) return NoSuchRequestFor(reviewer, id);
  return r;
}

// The checks every decision on a pending request shares. Marks an expired
// request expired (committing `tx`) before refusing; `*expired` tells the
// caller to publish it.
Status CheckPendingAndFresh(store::Db& db, store::Transaction& tx, const Request& r,
                            bool* expired) {
  // Already decided, expired, superseded, replayed: decisions are final.
  if (r.status != RequestStatus::kPending) return NotPending(r);
  // A stale request cannot be approved after its deadline, even if the sweeper lags.
  if (store::NowSeconds() > r.expires_at) {
    AG_RETURN_IF_ERROR(store::TransitionRequest(db, r.id, RequestStatus::kPending,
                                                RequestStatus::kExpired, "agentgate",
                                                "no decision before the deadline",
                                                "request.expired"));
    AG_RETURN_IF_ERROR(tx.Commit());
    *expired = true;
    return Status::FailedPrecondition(Id(r.id) + " expired (no decision before the deadline)");
  }
  return Status::Ok();
}

Result<DecisionResult> Decide(store::Db& db, const ReviewSettings& settings, int64_t id,
                              const Reviewer& reviewer, Verdict verdict,
                              const std::optional<Binding>& expected, const std::string& text) {
  const char* action = verdict == Verdict::kApprove ? "approve" : "reject";
  std::optional<Request> loaded;
  bool publish = false;
  std::vector<int64_t> also_rejected;  // approved requests sharing a rejected commit
  Status unauthorised;  // the real reason behind a NoSuchRequestFor, for the audit row
  Result<DecisionResult> out = [&]() -> Result<DecisionResult> {
    store::Transaction tx(db);
    AG_RETURN_IF_ERROR(tx.status());
    // The request exists (an unknown id is refused, not created).
    AG_ASSIGN_OR_RETURN(Request r, LoadFor(db, id, reviewer));
    loaded = r;
    AG_ASSIGN_OR_RETURN(Reviewers who, ReviewersOf(r, settings));
    AG_ASSIGN_OR_RETURN(PusherMatch pusher, MatchPusher(r, settings, reviewer.user));
    // Only the policy's reviewers decide (the pusher, by uid, may withdraw its own push).
    // First of all: anyone else gets the answer for an unknown id and learns nothing.
    if (!(verdict == Verdict::kReject && pusher.kind == Pusher::kSelf)) {
      unauthorised = CheckAuthorised(r, who, reviewer);
      if (!unauthorised.ok()) return NoSuchRequestFor(reviewer, id);
    }
    // Pending and not past its deadline. Except: an approved request whose
    // pusher was frozen since (or that carries a frozen pusher's commits)
    // waits for the thaw, and a reviewer may still take it back (reject),
    // or a thaw would release what caused the freeze.
    RequestStatus from = RequestStatus::kPending;
    if (verdict == Verdict::kReject && r.status == RequestStatus::kApproved) {
      AG_ASSIGN_OR_RETURN(std::vector<store::Freeze> freezes, store::ListFreezes(db));
      bool frozen = store::FreezeFor(freezes, r.identity, store::GroupsOf(r.groups_json)).has_value();
      if (!frozen) {
        AG_ASSIGN_OR_RETURN(auto commits, store::FrozenCommits(db, r.repo));
        AG_ASSIGN_OR_RETURN(auto carried, store::FrozenCommitOf(db, id, commits));
        frozen = carried.has_value();
      }
      if (frozen) from = RequestStatus::kApproved;
    }
    if (from == RequestStatus::kPending) AG_RETURN_IF_ERROR(CheckPendingAndFresh(db, tx, r, &publish));
    // Approving on top of a moved upstream would replay onto a base nobody reviewed.
    if (verdict == Verdict::kApprove && r.upstream_moved) {
      return Status::FailedPrecondition(Id(id) +
                                        ": upstream moved; re-push on top of upstream");
    }
    // A frozen pusher's requests wait for the thaw (store/freezes.h); a
    // rejection still goes through.
    if (verdict == Verdict::kApprove) {
      AG_ASSIGN_OR_RETURN(std::vector<store::Freeze> freezes, store::ListFreezes(db));
      if (auto f = store::FreezeFor(freezes, r.identity, store::GroupsOf(r.groups_json)))
        return Status::FailedPrecondition(Id(id) + " cannot be approved: " +
                                          store::FrozenMessage(*f, r.identity, true));
      // Nor one that carries a frozen pusher's commits (another agent built
      // on them, or pushed them again under its own name).
      AG_ASSIGN_OR_RETURN(auto frozen, store::FrozenCommits(db, r.repo));
      AG_ASSIGN_OR_RETURN(auto carried, store::FrozenCommitOf(db, id, frozen));
      if (carried)
        return Status::FailedPrecondition(Id(id) + " cannot be approved: it carries commit " +
                                          carried->first.substr(0, 12) + " of " + Id(carried->second) +
                                          ", whose pusher is frozen");
    }
    // The decision binds to what the reviewer saw: a swapped request is refused.
    if (expected) AG_RETURN_IF_ERROR(CheckBinding(r, *expected));
    // No self-approval: the pushing person (by uid, or by name: fail closed) cannot approve.
    if (verdict == Verdict::kApprove) {
      AG_RETURN_IF_ERROR(RefuseSelfReview(r, pusher, reviewer.user, "approve"));
    }
    // One verdict per reviewer: approving twice never counts twice.
    AG_ASSIGN_OR_RETURN(std::optional<std::string> earlier, EarlierVerdict(db, id, reviewer.user));
    if (earlier && verdict == Verdict::kApprove) {
      return Status::AlreadyExists(reviewer.user + " already " +
                                   (*earlier == "approve" ? "approved " : "rejected ") + Id(id));
    }
    int64_t now = store::NowSeconds();
    AG_ASSIGN_OR_RETURN(store::Stmt ins, db.Prepare(
        "INSERT INTO approvals (request_id, reviewer, verdict, comment, ref, old_oid, new_oid, at) "
        "VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(request_id, reviewer) DO UPDATE SET "
        "verdict=excluded.verdict, comment=excluded.comment, at=excluded.at"));
    ins.Bind(1, id).Bind(2, reviewer.user).Bind(3, action).Bind(4, text).Bind(5, r.ref)
        .Bind(6, r.old_oid).Bind(7, r.new_oid).Bind(8, now);
    AG_RETURN_IF_ERROR(ins.Run());

    DecisionResult res;
    res.id = id;
    res.quorum = who.quorum;
    std::vector<std::string> names;
    AG_ASSIGN_OR_RETURN(res.approvals, CountApprovals(db, id, &names));
    nlohmann::json data = {{"approvals", res.approvals}, {"quorum", who.quorum}};
    data[verdict == Verdict::kApprove ? "comment" : "reason"] = text;
    AG_RETURN_IF_ERROR(Audit(db, r, verdict == Verdict::kApprove ? "review.approve" : "review.reject",
                             reviewer.user, data));
    if (verdict == Verdict::kReject) {
      // Any rejection rejects.
      AG_RETURN_IF_ERROR(store::TransitionRequest(db, id, from, RequestStatus::kRejected,
                                                  reviewer.user, text, "request.rejected"));
      res.status = RequestStatus::kRejected;
      res.message = "rejected " + Id(id);
      // Rejections stick: an approved request that would carry one of these
      // commits upstream (approved before this rejection) is rejected too.
      AG_ASSIGN_OR_RETURN(also_rejected, store::RejectApprovedSharingCommits(db, id, reviewer.user));
      for (int64_t other : also_rejected) res.message += "; " + Id(other) + " shared its commits: rejected too";
    } else if (res.approvals >= who.quorum) {
      // Quorum of distinct reviewers reached: the replay worker takes it.
      std::string by;
      for (const auto& n : names) by += (by.empty() ? "" : ", ") + n;
      AG_RETURN_IF_ERROR(store::TransitionRequest(db, id, RequestStatus::kPending,
                                                  RequestStatus::kApproved, reviewer.user,
                                                  "approved by " + by, "request.approved"));
      res.status = RequestStatus::kApproved;
      res.message = "approved " + Id(id) + " (" + std::to_string(res.approvals) + " of " +
                    std::to_string(who.quorum) + "); it will be replayed upstream";
    } else {
      res.status = RequestStatus::kPending;
      res.message = "approval recorded for " + Id(id) + " (" + std::to_string(res.approvals) +
                    " of " + std::to_string(who.quorum) + "); it waits for more reviewers";
    }
    AG_RETURN_IF_ERROR(tx.Commit());
    publish = res.status != RequestStatus::kPending;
    return res;
  }();
  if (publish && loaded) {
    auto now = store::GetRequest(db, id);
    if (now.ok()) (void)PublishState(settings, *now);
  }
  for (int64_t other : also_rejected) {
    auto now = store::GetRequest(db, other);
    if (now.ok()) (void)PublishState(settings, *now);
  }
  if (!out.ok() && loaded && IsRefusal(out.status().code())) {
    AuditRefusal(db, *loaded, reviewer, action, unauthorised.ok() ? out.status() : unauthorised);
  }
  if (out.ok()) {
    LogInfo(verdict == Verdict::kApprove ? "review.approve" : "review.reject",
            {{"request", std::to_string(id)}, {"reviewer", reviewer.user},
             {"status", std::string(store::StatusName(out->status))},
             {"approvals", std::to_string(out->approvals)},
             {"quorum", std::to_string(out->quorum)}});
  }
  return out;
}

}  // namespace

ReviewSettings SettingsFrom(const config::Config& config, const policy::Policy* policy) {
  ReviewSettings s;
  s.identity_accounts = config.identity_accounts;
  if (policy) s.default_reviewers = policy->reviewers;
  if (policy) s.admins = policy->admins;
  for (const auto& repo : config.repos) {
    s.repo_paths[repo.name] =
        repo.path.empty() ? config.data_dir + "/repos/" + repo.name + ".git" : repo.path;
  }
  return s;
}

Result<std::optional<uid_t>> AccountUid(const std::string& name) {
  constexpr size_t kMaxBuffer = 1u << 20;  // getpwnam_r's buffer stops growing here
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* found = nullptr;
  int rc = 0;
  while ((rc = getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found)) == ERANGE &&
         buf.size() < kMaxBuffer) {
    buf.resize(buf.size() * 2);
  }
  // POSIX leaves "not found" as 0 with no entry; glibc's NSS may say so with these.
  if (rc == ENOENT || rc == ESRCH || rc == EBADF || rc == EPERM) return std::optional<uid_t>();
  if (rc != 0) return Status::Io("getpwnam_r(" + name + "): " + std::strerror(rc));
  if (!found) return std::optional<uid_t>();
  return std::optional<uid_t>(pw.pw_uid);
}

bool IsRefusal(Code code) {
  switch (code) {
    case Code::kNotFound:
    case Code::kFailedPrecondition:
    case Code::kPermissionDenied:
    case Code::kConflict:
    case Code::kAlreadyExists:
      return true;
    default:
      return false;
  }
}

Result<git::RepoPtr> OpenMirrorRepo(const ReviewSettings& settings, const std::string& repo) {
  auto it = settings.repo_paths.find(repo);
  if (it == settings.repo_paths.end()) {
    return Status::NotFound("repo " + repo + " is not configured");
  }
  return git::OpenRepo(it->second);
}

Status PublishState(const ReviewSettings& settings, const store::Request& r) {
  auto repo = OpenMirrorRepo(settings, r.repo);
  Status s = repo.ok() ? git::PublishRequestState(repo->get(), r.id, store::StatusName(r.status),
                                                  store::StateTip(r), /*pin=*/false)
                       : repo.status();
  if (!s.ok()) {
    LogWarn("review.publish_failed", {{"request", std::to_string(r.id)},
                                      {"status", std::string(store::StatusName(r.status))},
                                      {"error", s.ToString()}});
  }
  return s;
}

Status NoSuchRequestFor(const Reviewer& reviewer, int64_t id) {
  return Status::NotFound(reviewer.user + " is not a reviewer of " + Id(id) +
                          " and may not see it, or there is no " + Id(id));
}

bool MayView(const store::Request& r, const ReviewSettings& settings, const Reviewer& reviewer) {
  Result<Reviewers> who = ReviewersOf(r, settings);
  return who.ok() && CheckAuthorised(r, *who, reviewer).ok();
}

Result<DecisionResult> Approve(store::Db& db, const ReviewSettings& settings, int64_t id,
                               const Reviewer& reviewer, const Binding& expected,
                               const std::string& comment) {
  return Decide(db, settings, id, reviewer, Verdict::kApprove, expected, comment);
}

Result<DecisionResult> Reject(store::Db& db, const ReviewSettings& settings, int64_t id,
                              const Reviewer& reviewer, const std::optional<Binding>& expected,
                              const std::string& reason) {
  if (reason.empty()) return Status::InvalidArgument("a rejection needs a reason");
  return Decide(db, settings, id, reviewer, Verdict::kReject, expected, reason);
}

Result<DecisionResult> Retry(store::Db& db, const ReviewSettings& settings, int64_t id,
                             const Reviewer& reviewer) {
  std::optional<Request> loaded;
  Status unauthorised;  // the real reason behind a NoSuchRequestFor, for the audit row
  Result<DecisionResult> out = [&]() -> Result<DecisionResult> {
    store::Transaction tx(db);
    AG_RETURN_IF_ERROR(tx.status());
    // The request exists.
    AG_ASSIGN_OR_RETURN(Request r, LoadFor(db, id, reviewer));
    loaded = r;
    AG_ASSIGN_OR_RETURN(Reviewers who, ReviewersOf(r, settings));
    // Retrying is a reviewer's action, with the same who-may rules as approving;
    // checked first: anyone else gets the answer for an unknown id.
    unauthorised = CheckAuthorised(r, who, reviewer);
    if (!unauthorised.ok()) return NoSuchRequestFor(reviewer, id);
    // A conflict means upstream moved: replaying again would force or fail again.
    if (r.status == RequestStatus::kConflict) {
      return Status::FailedPrecondition(Id(id) +
                                        " is conflict: upstream moved; re-push on top of upstream");
    }
    // Only a failed replay is retried (approved ones are still in the queue).
    if (r.status != RequestStatus::kFailed) {
      return Status::FailedPrecondition(Id(id) + " is " + std::string(store::StatusName(r.status)) +
                                        ", not failed: nothing to retry");
    }
    // Nor by the pushing person (same rule as approving).
    AG_ASSIGN_OR_RETURN(PusherMatch pusher, MatchPusher(r, settings, reviewer.user));
    AG_RETURN_IF_ERROR(RefuseSelfReview(r, pusher, reviewer.user, "retry"));
    AG_RETURN_IF_ERROR(store::TransitionRequest(db, id, RequestStatus::kFailed,
                                                RequestStatus::kApproved, reviewer.user,
                                                "retry requested", "request.retry"));
    AG_ASSIGN_OR_RETURN(store::Stmt upd, db.Prepare(
        "UPDATE requests SET replay_attempts=0, next_attempt_at=0 WHERE id=?"));
    upd.Bind(1, id);
    AG_RETURN_IF_ERROR(upd.Run());
    AG_RETURN_IF_ERROR(tx.Commit());
    DecisionResult res;
    res.id = id;
    res.status = RequestStatus::kApproved;
    res.quorum = who.quorum;
    res.message = Id(id) + " is approved again; the replay worker will retry it";
    return res;
  }();
  if (out.ok()) {
    auto now = store::GetRequest(db, id);
    if (now.ok()) (void)PublishState(settings, *now);
    LogInfo("review.retry", {{"request", std::to_string(id)}, {"reviewer", reviewer.user}});
  } else if (loaded && IsRefusal(out.status().code())) {
    AuditRefusal(db, *loaded, reviewer, "retry", unauthorised.ok() ? out.status() : unauthorised);
  }
  return out;
}

}  // namespace ag::review
