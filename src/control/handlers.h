// The control socket's commands as one pure function: a parsed request and
// the peer that sent it in, a response out. No sockets here, so the commands
// are testable directly; ControlServer (server.h) adds the transport.
//
// Thread-safety: HandleRequest uses only `db` (one thread) and const inputs.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>

#include "control/access.h"
#include "control/peer.h"
#include "control/refusal_limiter.h"
#include "control/show.h"
#include "review/workflow.h"
#include "store/db.h"

namespace ag::control {

struct HandlerContext {
  const review::ReviewSettings* settings = nullptr;  // REQUIRES: set
  ShowOptions show;
  // Called after a command left a request `approved` (approve with quorum
  // reached, retry): agentgate-mirror wakes the replay worker. May be empty.
  std::function<void()> on_approved;
  // Who may review something (access.h): refusals to anyone else go through
  // `refusals`. Borrowed; null: nobody but root and the daemon's account.
  const ReviewerAccounts* reviewers = nullptr;
  // Rate limit of the audit rows of refusals to accounts that may review
  // nothing. Borrowed, shared by every connection; null: every row written.
  RefusalLimiter* refusals = nullptr;
};

// Runs one command for `peer`. Never throws; every failure is an error
// response (see protocol.h).
nlohmann::json HandleRequest(store::Db& db, const HandlerContext& ctx, const Peer& peer,
                             const nlohmann::json& request);

}  // namespace ag::control
