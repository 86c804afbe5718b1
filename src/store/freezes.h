// The kill switch: identities, groups or everyone frozen by a reviewer or an
// admin (`agentgate freeze`), until thawed. A frozen identity's git and API
// requests are refused (403, with the reason), its pushes refused by the
// hook, its pending requests cannot be approved and its approved requests
// are not replayed. "Frozen" is not a request status: it is derived from
// this table wherever it matters, so thawing restores everything at once.
//
// Thread-safety: as Db (one thread per Db).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "store/db.h"

namespace ag::store {

enum class FreezeScope { kIdentity, kGroup, kAll };
std::string_view FreezeScopeName(FreezeScope s);  // "identity", "group", "all"
std::optional<FreezeScope> ParseFreezeScope(std::string_view s);

struct Freeze {
  FreezeScope scope = FreezeScope::kIdentity;
  std::string name;    // identity or group name; "*" for kAll
  std::string reason;  // shown to the agent (git prints it) and to reviewers
  std::string by;      // the Unix account that froze it
  int64_t at = 0;      // seconds since the epoch
};

// Freezes (or re-freezes with a new reason) and appends a `freeze` audit
// event, in one transaction. `name` is ignored for kAll.
// InvalidArgument: an empty name or reason, or one over 1,000 bytes.
Status AddFreeze(Db& db, FreezeScope scope, const std::string& name, const std::string& reason,
                 const std::string& by);
// Thaws and appends a `thaw` audit event. NotFound when it was not frozen.
Status RemoveFreeze(Db& db, FreezeScope scope, const std::string& name, const std::string& by);
// Every freeze, "all" first, then identities and groups by name.
Result<std::vector<Freeze>> ListFreezes(Db& db);

// The freeze that stops `identity` (member of `groups`), if any: everyone
// first, then the identity, then its groups.
std::optional<Freeze> FreezeFor(const std::vector<Freeze>& freezes, const std::string& identity,
                                const std::vector<std::string>& groups);

// A request's groups_json as a list (malformed: empty).
std::vector<std::string> GroupsOf(const std::string& groups_json);

// SQL condition, true for a row of `requests` whose pusher is frozen (for
// the replay worker's and the review's queries); uses the table name
// `requests`.
extern const char* const kRequestFrozenSql;

// Why a frozen identity is stopped: "identity agent-7 is frozen: REASON (a
// reviewer or admin must thaw it)". `with_by` adds who froze it ("frozen by
// alice"): for reviewers, never for the agent (it would learn which account
// to go after).
std::string FrozenMessage(const Freeze& f, const std::string& identity, bool with_by = false);

// The commits of the requests of frozen pushers in `repo` that are not
// upstream yet (any status but replayed and rejected; with their chained
// bases), each with one such request. Such commits wait for the thaw
// whoever carries them: another identity's push that holds one is refused,
// a request that holds one is neither approved nor replayed. Empty (and no
// query) when nothing is frozen.
Result<std::unordered_map<std::string, int64_t>> FrozenCommits(Db& db, std::string_view repo);

// The first commit of request `id`'s range found in `frozen`, if any.
Result<std::optional<std::pair<std::string, int64_t>>> FrozenCommitOf(
    Db& db, int64_t id, const std::unordered_map<std::string, int64_t>& frozen);

// The freezes as one process sees them, re-read from the database at once
// after a freeze or thaw committed by this process (the daemon's control
// server), and otherwise when older than `max_age` (default 500 ms: a
// freeze written by another process takes effect within that), through its
// own connection. For request
// paths that must not query SQLite each time (the HTTP server).
//
// Thread-safety: Check may be called from many threads at once.
class FreezeCache {
 public:
  explicit FreezeCache(std::string db_path,
                       std::chrono::milliseconds max_age = std::chrono::milliseconds(500));
  ~FreezeCache();
  FreezeCache(const FreezeCache&) = delete;
  FreezeCache& operator=(const FreezeCache&) = delete;

  // The freeze that stops `identity`, if any. A database that cannot be read
  // is an error (callers refuse: fail closed); the connection migrates the
  // schema when it opens.
  Result<std::optional<Freeze>> Check(const std::string& identity,
                                      const std::vector<std::string>& groups);

 private:
  const std::string db_path_;
  const std::chrono::milliseconds max_age_;
  std::mutex mu_;
  std::unique_ptr<Db> db_;  // opened on first use
  std::vector<Freeze> freezes_;
  std::chrono::steady_clock::time_point loaded_{};
  uint64_t generation_ = 0;
  bool have_ = false;
};

}  // namespace ag::store
