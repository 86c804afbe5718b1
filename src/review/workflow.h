// The review workflow: the rules a reviewer's decision passes before it
// changes a request (approve, reject, retry), over the SQLite store.
//
// Each call runs inside one IMMEDIATE transaction: the checks, the approval
// row, the status change (store::TransitionRequest, compare-and-set) and the
// audit events commit together or not at all, so two reviewers (or a reviewer
// and a new push) racing on one request always leave one consistent state.
// After the commit the request's state ref is published in the mirror repo
// (refs/agentgate/state/<id>/<status>); a failure there is logged, never
// undoes the decision.
//
// Refusals come back as a non-OK Status whose code says why:
//   NotFound            no such request, or one the caller may not decide:
//                       the same answer (NoSuchRequestFor), checked before
//                       anything else, so a non-reviewer learns nothing
//                       about a request (not its ref, ids or status)
//   FailedPrecondition  already decided / expired / superseded / upstream moved
//   PermissionDenied    the pusher itself (the same person: see "Self-review"
//                       below)
//   Conflict            the approval binds to a ref/old/new the request does not have
//   AlreadyExists       this reviewer already approved this request
// Any other code is a system error (database locked or corrupt, ...).
//
// Self-review compares people, not strings. The reviewer is the pusher when
//   - the request was pushed locally as `local:<name>` or `local:uid<N>` and
//     that account (or uid) has the reviewer's uid (aliases in /etc/passwd
//     are one person), or
//   - identity_accounts maps the pushing identity to an account with the
//     reviewer's uid;
// and is treated as the pusher (fail closed) when a token or OIDC identity
// equals the reviewer's account name, or the name of an account with the
// reviewer's uid. The pusher may withdraw (reject) its own request; a mere
// name match only refuses, it grants nothing.
//
// Thread-safety: the functions keep no state; a Db belongs to one thread.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "git/git.h"
#include "policy/policy.h"
#include "store/db.h"
#include "store/requests.h"
#include "util/status.h"

namespace ag::review {

// What the workflow needs from the config and the policy, copied once.
struct ReviewSettings {
  // Policy identity -> Unix account (config.identity_accounts): the pusher's
  // account may not approve its own push.
  std::map<std::string, std::string> identity_accounts;
  // The policy's default reviewers: used when a request names no reviewer
  // users and no groups. Empty too -> nobody may approve (fail closed).
  policy::ReviewRequirement default_reviewers;
  // The policy's admins (may thaw, besides root and the daemon's account).
  policy::ReviewRequirement admins;
  // Repo name -> bare mirror path, for publishing state refs. A repo missing
  // here is not published (logged).
  std::map<std::string, std::string> repo_paths;
};

// Builds settings from a loaded config and (optional) policy. Repos with an
// empty path get <data_dir>/repos/<name>.git.
ReviewSettings SettingsFrom(const config::Config& config, const policy::Policy* policy);

// The Unix account deciding, as the control socket established it
// (SO_PEERCRED): never taken from a request's fields.
struct Reviewer {
  std::string user;
  std::vector<std::string> groups;  // every group of the account (getgrouplist)
  // Asked before a refusal is written to the audit log (`review.refused`):
  // false skips the row; when true, a non-zero *suppressed (refusals not
  // written since the last row) goes into the row's data as "suppressed".
  // Empty: every refusal is written. The control server rate-limits accounts
  // that may review nothing (control/refusal_limiter.h).
  std::function<bool(int64_t* suppressed)> admit_refusal;
};

// The refusal for an unknown id and for a request `reviewer` may not decide
// (or see): NotFound, naming neither the request's ref nor its ids.
Status NoSuchRequestFor(const Reviewer& reviewer, int64_t id);

// What the reviewer was shown; an approval binds to exactly this.
struct Binding {
  std::string ref, old_oid, new_oid;
};

struct DecisionResult {
  int64_t id = 0;
  store::RequestStatus status = store::RequestStatus::kPending;  // after the call
  int approvals = 0;  // distinct approvals so far
  int quorum = 1;
  std::string message;  // one line for the reviewer, e.g. "approved (2 of 2)"
};

// Records `reviewer`'s approval of request `id`; the request becomes approved
// once `quorum` distinct reviewers approved.
Result<DecisionResult> Approve(store::Db& db, const ReviewSettings& settings, int64_t id,
                               const Reviewer& reviewer, const Binding& expected,
                               const std::string& comment);

// Rejects request `id` (one rejection is enough). `expected`, when given, must
// match like an approval's. The pusher (same uid) may reject (withdraw) its own
// request, reviewer or not; a name match alone grants nothing.
Result<DecisionResult> Reject(store::Db& db, const ReviewSettings& settings, int64_t id,
                              const Reviewer& reviewer, const std::optional<Binding>& expected,
                              const std::string& reason);

// Whether `reviewer` may see request `r` (agentgate list / show): exactly
// those who may review it (its reviewers, else the policy's default ones).
// Agents' diffs and findings are not for every local account; root and the
// daemon's own account see everything (the control server checks that).
bool MayView(const store::Request& r, const ReviewSettings& settings, const Reviewer& reviewer);

// A failed replay goes back to approved with its attempts reset, so the
// replay worker tries again. Only a reviewer of the request may do it. A
// conflict is not retried: upstream moved, the agent must re-push on top.
Result<DecisionResult> Retry(store::Db& db, const ReviewSettings& settings, int64_t id,
                             const Reviewer& reviewer);

// The uid of the Unix account `name` (getpwnam_r); nullopt when there is no
// such account. A failed lookup (an NSS error) is an Io error, never "no
// account". Reentrant.
Result<std::optional<uid_t>> AccountUid(const std::string& name);

// True when `code` is a refusal (exit 1), false for system errors (exit 2).
bool IsRefusal(Code code);

// Opens the mirror repo named `repo` (settings.repo_paths). NotFound "repo
// <repo> is not configured" when it has no path; OpenRepo's error otherwise.
Result<git::RepoPtr> OpenMirrorRepo(const ReviewSettings& settings, const std::string& repo);

// Publishes request `id`'s current status as its state ref in the mirror repo.
// Logs and returns the error; callers treat it as best effort.
Status PublishState(const ReviewSettings& settings, const store::Request& request);

}  // namespace ag::review
