// Retention: after a request reaches a final state (replayed, rejected,
// expired, superseded, aborted, failed, conflict) and the retention period
// has passed, its pinned refs (refs/agentgate/requests/<id> and
// refs/agentgate/state/<id>/*) are deleted from the mirror repo, so that
// `git gc` may drop the pushed objects no other ref reaches. The request row
// and every audit row stay; one `audit.pruned` event per repo records the
// ids, the cutoff and the chain head at that moment, so the chain still
// verifies and says what was removed.
//
// Idempotent: a request whose refs are already gone is not counted again.
// Refs of ids the database does not know are left alone.
//
// Thread-safety: as store::Db; opens one git_repository per repo per call.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "store/db.h"

namespace ag::audit {

struct PruneTarget {
  std::string name;  // repo name as in the config and the requests table
  std::string path;  // its bare mirror repo
};

struct PruneOptions {
  int64_t cutoff = 0;           // prune requests whose last change is older than this
  std::string actor = "agentgate";
  bool dry_run = false;         // report only; no ref deleted, no event appended
};

struct PrunedRepo {
  std::string repo;
  std::vector<int64_t> ids;     // requests whose refs were deleted
  int refs_deleted = 0;
  int64_t audit_seq = 0;        // the audit.pruned row; 0 when none was written
  std::string error;            // set when this repo could not be pruned
};

// True for the states after which nothing more happens to a request.
bool IsFinalStatus(std::string_view status);

// Prunes every target. A repo that fails is reported in its PrunedRepo and
// the others still run; the status is non-OK only when the database fails.
Result<std::vector<PrunedRepo>> PruneRequests(store::Db& db,
                                              const std::vector<PruneTarget>& targets,
                                              const PruneOptions& options);

}  // namespace ag::audit
