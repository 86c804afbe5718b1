#include "control/access.h"

#include <unistd.h>

namespace ag::control {

void ReviewerAccounts::Add(const policy::ReviewRequirement& r) {
  users.insert(r.users.begin(), r.users.end());
  groups.insert(r.groups.begin(), r.groups.end());
}

ReviewerAccounts ReviewerAccountsOf(const policy::Policy* policy) {
  ReviewerAccounts out;
  if (!policy) return out;
  out.Add(policy->reviewers);
  for (const policy::Rule& rule : policy->rules) out.Add(rule.review);
  return out;
}

bool SeesAll(const Peer& peer) { return peer.uid == 0 || peer.uid == ::geteuid(); }

bool MayReviewSomething(const Peer& peer, const ReviewerAccounts& reviewers) {
  if (SeesAll(peer)) return true;
  if (!peer.user.empty() && reviewers.users.count(peer.user)) return true;
  for (const std::string& g : peer.groups) {
    if (reviewers.groups.count(g)) return true;
  }
  return false;
}

}  // namespace ag::control
