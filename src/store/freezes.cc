#include "store/freezes.h"

#include <atomic>
#include <nlohmann/json.hpp>

#include "store/audit.h"
#include "store/requests.h"

namespace ag::store {
namespace {

constexpr size_t kMaxField = 1000;

// Bumped by every freeze and thaw this process commits: a FreezeCache in
// the same process (the daemon's HTTP server) re-reads at once.
std::atomic<uint64_t> g_generation{0};

Status Check(FreezeScope scope, const std::string& name, const std::string* reason) {
  if (scope != FreezeScope::kAll && name.empty())
    return Status::InvalidArgument(std::string("a ") + std::string(FreezeScopeName(scope)) +
                                   " freeze needs a name");
  if (name.size() > kMaxField) return Status::InvalidArgument("name is too long");
  // A name that only looks like another ("agent-b " for agent-b) would
  // freeze nobody and say it did.
  for (char c : name)
    if (static_cast<unsigned char>(c) < 0x21 || c == 0x7f)
      return Status::InvalidArgument("a name has no spaces or control characters");
  if (reason && reason->empty()) return Status::InvalidArgument("a freeze needs a reason");
  if (reason && reason->size() > kMaxField) return Status::InvalidArgument("reason is too long");
  return Status::Ok();
}

std::string KeyName(FreezeScope scope, const std::string& name) {
  return scope == FreezeScope::kAll ? "*" : name;
}

}  // namespace

const char* const kRequestFrozenSql =
    "EXISTS (SELECT 1 FROM freezes f WHERE f.scope = 'all' OR "
    "(f.scope = 'identity' AND f.name = requests.identity) OR "
    "(f.scope = 'group' AND EXISTS (SELECT 1 FROM json_each(requests.groups_json) g "
    "WHERE g.value = f.name)))";

std::string_view FreezeScopeName(FreezeScope s) {
  switch (s) {
    case FreezeScope::kIdentity: return "identity";
    case FreezeScope::kGroup: return "group";
    case FreezeScope::kAll: return "all";
  }
  return "identity";
}

std::optional<FreezeScope> ParseFreezeScope(std::string_view s) {
  if (s == "identity") return FreezeScope::kIdentity;
  if (s == "group") return FreezeScope::kGroup;
  if (s == "all") return FreezeScope::kAll;
  return std::nullopt;
}

Status AddFreeze(Db& db, FreezeScope scope, const std::string& name, const std::string& reason,
                 const std::string& by) {
  AG_RETURN_IF_ERROR(Check(scope, name, &reason));
  const std::string key = KeyName(scope, name);
  Transaction tx(db);
  AG_RETURN_IF_ERROR(tx.status());
  AG_ASSIGN_OR_RETURN(Stmt q, db.Prepare(
      "INSERT INTO freezes (scope, name, reason, by, at) VALUES (?1, ?2, ?3, ?4, strftime('%s','now')) "
      "ON CONFLICT (scope, name) DO UPDATE SET reason = ?3, by = ?4, at = strftime('%s','now')"));
  q.Bind(1, FreezeScopeName(scope)).Bind(2, key).Bind(3, reason).Bind(4, by);
  AG_RETURN_IF_ERROR(q.Run());
  AuditEvent e;
  e.kind = "freeze";
  e.actor = by;
  e.data_json = nlohmann::json{{"scope", FreezeScopeName(scope)}, {"name", key}, {"reason", reason}}
                    .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  AG_RETURN_IF_ERROR(AppendAudit(db, std::move(e)).status());
  AG_RETURN_IF_ERROR(tx.Commit());
  g_generation.fetch_add(1);
  return Status::Ok();
}

Status RemoveFreeze(Db& db, FreezeScope scope, const std::string& name, const std::string& by) {
  AG_RETURN_IF_ERROR(Check(scope, name, nullptr));
  const std::string key = KeyName(scope, name);
  Transaction tx(db);
  AG_RETURN_IF_ERROR(tx.status());
  AG_ASSIGN_OR_RETURN(Stmt q, db.Prepare("DELETE FROM freezes WHERE scope = ?1 AND name = ?2"));
  q.Bind(1, FreezeScopeName(scope)).Bind(2, key);
  AG_RETURN_IF_ERROR(q.Run());
  if (db.Changes() == 0)
    return Status::NotFound(std::string(FreezeScopeName(scope)) +
                            (scope == FreezeScope::kAll ? "" : " " + key) + " is not frozen");
  AuditEvent e;
  e.kind = "thaw";
  e.actor = by;
  e.data_json = nlohmann::json{{"scope", FreezeScopeName(scope)}, {"name", key}}
                    .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  AG_RETURN_IF_ERROR(AppendAudit(db, std::move(e)).status());
  AG_RETURN_IF_ERROR(tx.Commit());
  g_generation.fetch_add(1);
  return Status::Ok();
}

Result<std::vector<Freeze>> ListFreezes(Db& db) {
  AG_ASSIGN_OR_RETURN(Stmt q, db.Prepare(
      "SELECT scope, name, reason, by, at FROM freezes ORDER BY "
      "CASE scope WHEN 'all' THEN 0 WHEN 'identity' THEN 1 ELSE 2 END, name"));
  std::vector<Freeze> out;
  for (;;) {
    AG_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) break;
    Freeze f;
    f.scope = ParseFreezeScope(q.Text(0)).value_or(FreezeScope::kAll);  // CHECK constraint
    f.name = q.Text(1);
    f.reason = q.Text(2);
    f.by = q.Text(3);
    f.at = q.Int(4);
    out.push_back(std::move(f));
  }
  return out;
}

std::optional<Freeze> FreezeFor(const std::vector<Freeze>& freezes, const std::string& identity,
                                const std::vector<std::string>& groups) {
  for (FreezeScope scope : {FreezeScope::kAll, FreezeScope::kIdentity, FreezeScope::kGroup}) {
    for (const Freeze& f : freezes) {
      if (f.scope != scope) continue;
      if (scope == FreezeScope::kAll) return f;
      if (scope == FreezeScope::kIdentity && f.name == identity) return f;
      if (scope == FreezeScope::kGroup)
        for (const std::string& g : groups)
          if (g == f.name) return f;
    }
  }
  return std::nullopt;
}

std::vector<std::string> GroupsOf(const std::string& groups_json) {
  std::vector<std::string> out;
  nlohmann::json j = nlohmann::json::parse(groups_json, nullptr, false);
  if (!j.is_array()) return out;
  for (const auto& g : j)
    if (g.is_string()) out.push_back(g.get<std::string>());
  return out;
}

std::string FrozenMessage(const Freeze& f, const std::string& identity, bool with_by) {
  std::string what = f.scope == FreezeScope::kAll      ? "every agent is frozen"
                     : f.scope == FreezeScope::kGroup ? "identity " + identity + " is frozen (group " +
                                                             f.name + ")"
                                                       : "identity " + identity + " is frozen";
  return what + (with_by ? " by " + f.by : std::string()) + ": " + f.reason +
         " (a reviewer or admin must thaw it)";
}

Result<std::unordered_map<std::string, int64_t>> FrozenCommits(Db& db, std::string_view repo) {
  AG_ASSIGN_OR_RETURN(std::vector<Freeze> freezes, ListFreezes(db));
  if (freezes.empty()) return std::unordered_map<std::string, int64_t>();
  return CommitsOfRequests(db, repo,
                           std::string("requests.status NOT IN ('replayed', 'rejected') AND ") +
                               kRequestFrozenSql);
}

Result<std::optional<std::pair<std::string, int64_t>>> FrozenCommitOf(
    Db& db, int64_t id, const std::unordered_map<std::string, int64_t>& frozen) {
  std::optional<std::pair<std::string, int64_t>> none;
  if (frozen.empty()) return none;
  AG_ASSIGN_OR_RETURN(std::string range, RequestCommits(db, id));
  nlohmann::json list = nlohmann::json::parse(range, nullptr, false);
  if (!list.is_array()) return none;
  for (const auto& c : list) {
    if (!c.is_string()) continue;
    auto it = frozen.find(c.get<std::string>());
    if (it != frozen.end() && it->second != id)
      return std::optional<std::pair<std::string, int64_t>>(std::make_pair(it->first, it->second));
  }
  return none;
}

FreezeCache::FreezeCache(std::string db_path, std::chrono::milliseconds max_age)
    : db_path_(std::move(db_path)), max_age_(max_age) {}

FreezeCache::~FreezeCache() = default;

Result<std::optional<Freeze>> FreezeCache::Check(const std::string& identity,
                                                 const std::vector<std::string>& groups) {
  std::lock_guard<std::mutex> lock(mu_);
  const auto now = std::chrono::steady_clock::now();
  const uint64_t generation = g_generation.load();
  if (!have_ || now - loaded_ >= max_age_ || generation != generation_) {
    if (!db_) {
      DbOptions o;
      o.busy_timeout_ms = 2000;
      AG_ASSIGN_OR_RETURN(db_, Db::Open(db_path_, o));
    }
    AG_ASSIGN_OR_RETURN(freezes_, ListFreezes(*db_));
    loaded_ = now;
    generation_ = generation;
    have_ = true;
  }
  return FreezeFor(freezes_, identity, groups);
}

}  // namespace ag::store
