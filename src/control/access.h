// Who may do what on the control socket, from the peer's account alone (no
// request needed): root and the daemon's own account see every request; the
// accounts the policy names as reviewers anywhere (its default reviewers and
// every rule's `review:` users and groups) may review something. The control
// server keeps connection slots for those (server.h) and rate-limits the
// audit rows of refusals to everyone else (refusal_limiter.h).
//
// Thread-safety: plain functions and an immutable struct.
#pragma once

#include <set>
#include <string>

#include "control/peer.h"
#include "policy/policy.h"

namespace ag::control {

// Every user and group the policy names as a reviewer.
struct ReviewerAccounts {
  std::set<std::string> users, groups;

  // Adds `r`'s users and groups.
  void Add(const policy::ReviewRequirement& r);
};

// The policy's default reviewers and every rule's review users and groups;
// empty for a null policy.
ReviewerAccounts ReviewerAccountsOf(const policy::Policy* policy);

// Root and the daemon's own account (geteuid): they see every request.
bool SeesAll(const Peer& peer);

// SeesAll, or the peer's account or one of its groups is in `reviewers`.
bool MayReviewSomething(const Peer& peer, const ReviewerAccounts& reviewers);

}  // namespace ag::control
