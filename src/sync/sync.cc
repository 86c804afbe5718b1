#include "sync/sync.h"

#include <map>
#include <set>
#include <vector>

#include <nlohmann/json.hpp>

#include "git/git.h"
#include "replay/credentials.h"
#include "replay/remote.h"
#include "replay/worker.h"
#include "store/audit.h"
#include "util/log.h"

namespace ag::sync {
namespace {

constexpr const char* kTrackingPrefix = "refs/agentgate/upstream/";

bool Followed(const std::string& ref) {
  return ref.rfind("refs/heads/", 0) == 0 || ref.rfind("refs/tags/", 0) == 0;
}

// Every ref under `prefix` in the mirror: name -> oid hex.
Result<std::map<std::string, std::string>> RefsUnder(git_repository* repo,
                                                     const std::string& prefix) {
  std::map<std::string, std::string> out;
  git_reference_iterator* it = nullptr;
  int rc = git_reference_iterator_new(&it, repo);
  git::RefIteratorPtr iter(it);
  if (rc != 0) return git::GitStatus(rc, "cannot list refs");
  git_reference* ref = nullptr;
  while (git_reference_next(&ref, it) == 0) {
    git::ReferencePtr owner(ref);
    std::string name = git_reference_name(ref);
    if (name.rfind(prefix, 0) != 0 || git_reference_type(ref) != GIT_REFERENCE_DIRECT) continue;
    out[name] = git::OidHex(*git_reference_target(ref));
  }
  return out;
}

// Sets `name` to `to` only if it still holds `from` (zero = must not exist).
Status CompareAndSetRef(git_repository* repo, const std::string& name, const std::string& from,
                        const std::string& to, const std::string& message) {
  git_reference* out = nullptr;
  int rc;
  if (git::IsZeroOid(to)) {
    git_reference* cur = nullptr;
    rc = git_reference_lookup(&cur, repo, name.c_str());
    git::ReferencePtr owner(cur);
    if (rc == GIT_ENOTFOUND) return Status::Ok();
    if (rc != 0) return git::GitStatus(rc, "cannot read " + name);
    if (git_reference_type(cur) != GIT_REFERENCE_DIRECT ||
        git::OidHex(*git_reference_target(cur)) != from) {
      return Status::Conflict(name + " changed meanwhile");
    }
    rc = git_reference_delete(cur);
    return rc == 0 ? Status::Ok() : git::GitStatus(rc, "cannot delete " + name);
  }
  AG_ASSIGN_OR_RETURN(git_oid to_oid, git::ParseOid(to));
  if (git::IsZeroOid(from)) {
    rc = git_reference_create(&out, repo, name.c_str(), &to_oid, /*force=*/0, message.c_str());
  } else {
    AG_ASSIGN_OR_RETURN(git_oid from_oid, git::ParseOid(from));
    rc = git_reference_create_matching(&out, repo, name.c_str(), &to_oid, /*force=*/1, &from_oid,
                                       message.c_str());
  }
  git::ReferencePtr owner(out);
  if (rc == GIT_EEXISTS || rc == GIT_EMODIFIED) return Status::Conflict(name + " changed meanwhile");
  if (rc != 0) return git::GitStatus(rc, "cannot set " + name);
  return Status::Ok();
}

// Refs with a request that still needs the client-visible value left alone.
// A `conflict` counts only while it is its ref's newest request: once the
// ref was pushed again (and that request replayed, or anything else), the
// ref follows upstream again.
Result<std::set<std::string>> ActiveRefs(store::Db& db, const std::string& repo) {
  AG_ASSIGN_OR_RETURN(store::Stmt q, db.Prepare(
      "SELECT DISTINCT ref FROM requests r WHERE repo=? AND (status IN "
      "('incoming','pending','approved','replaying') OR (status='conflict' AND NOT EXISTS "
      "(SELECT 1 FROM requests l WHERE l.repo=r.repo AND l.ref=r.ref AND l.id>r.id)))"));
  q.Bind(1, repo);
  std::set<std::string> out;
  for (;;) {
    AG_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) break;
    out.insert(q.Text(0));
  }
  return out;
}

Result<int> FlagMovedRequests(store::Db& db, const std::string& repo,
                              const std::map<std::string, std::string>& upstream) {
  struct Moved {
    int64_t id;
    std::string ref, base, now;
  };
  std::vector<Moved> moved;
  {
    AG_ASSIGN_OR_RETURN(store::Stmt q, db.Prepare(
        "SELECT id, ref, upstream_base FROM requests WHERE repo=? AND status='pending' "
        "AND upstream_moved=0 ORDER BY id"));
    q.Bind(1, repo);
    for (;;) {
      AG_ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) break;
      std::string ref = q.Text(1);
      std::string base = q.Text(2).empty() ? std::string(git::kZeroOid) : q.Text(2);
      auto it = upstream.find(ref);
      std::string now = it == upstream.end() ? std::string(git::kZeroOid) : it->second;
      if (now != base) moved.push_back({q.Int(0), ref, base, now});
    }
  }
  int flagged = 0;
  for (const Moved& m : moved) {
    store::Transaction tx(db);
    AG_RETURN_IF_ERROR(tx.status());
    AG_ASSIGN_OR_RETURN(store::Stmt upd, db.Prepare(
        "UPDATE requests SET upstream_moved=1, updated_at=? WHERE id=? AND status='pending' "
        "AND upstream_moved=0"));
    upd.Bind(1, store::NowSeconds()).Bind(2, m.id);
    AG_RETURN_IF_ERROR(upd.Run());
    if (db.Changes() != 1) continue;  // decided meanwhile
    store::AuditEvent e;
    e.kind = "request.upstream_moved";
    e.actor = "agentgate";
    e.repo = repo;
    e.request_id = m.id;
    e.data_json = nlohmann::json{{"ref", m.ref}, {"base", m.base}, {"upstream", m.now}}.dump();
    AG_RETURN_IF_ERROR(store::AppendAudit(db, e).status());
    AG_RETURN_IF_ERROR(tx.Commit());
    ++flagged;
    LogInfo("sync.upstream_moved", {{"repo", repo}, {"id", std::to_string(m.id)}, {"ref", m.ref},
                                    {"base", m.base.substr(0, 12)}, {"upstream", m.now.substr(0, 12)}});
  }
  return flagged;
}

}  // namespace

std::string MirrorPath(const config::Config& config, const config::RepoConfig& repo) {
  return repo.path.empty() ? config.data_dir + "/repos/" + repo.name + ".git" : repo.path;
}

Result<SyncResult> SyncRepo(const config::Config& config, const config::RepoConfig& repo,
                            store::Db* db) {
  if (repo.upstream.empty()) return Status::FailedPrecondition("repo " + repo.name + " has no upstream");
  AG_ASSIGN_OR_RETURN(git::RepoPtr mirror, git::OpenRepo(MirrorPath(config, repo)));
  AG_ASSIGN_OR_RETURN(auto cred, replay::LoadCredential(repo, replay::Access{}));
  replay::SessionOptions so;
  so.ssh_known_hosts = repo.ssh_known_hosts;
  so.io_timeout = config.replay_io_timeout;
  AG_ASSIGN_OR_RETURN(auto session, replay::UpstreamSession::Connect(
                                        mirror.get(), repo.upstream, cred, GIT_DIRECTION_FETCH, so));
  std::map<std::string, std::string> upstream;
  for (const auto& [name, oid] : session->refs()) {
    if (Followed(name)) upstream[name] = oid;
  }
  SyncResult result;
  if (!upstream.empty()) {
    AG_RETURN_IF_ERROR(session->Download({"+refs/heads/*:refs/agentgate/upstream/heads/*",
                                          "+refs/tags/*:refs/agentgate/upstream/tags/*"}));
    auto head = session->DefaultBranch();
    if (head.ok()) result.default_branch = *head;
  }
  session.reset();

  // 1. Tracking refs: upstream's values; remember the previous ones.
  AG_ASSIGN_OR_RETURN(auto tracking, RefsUnder(mirror.get(), kTrackingPrefix));
  std::map<std::string, std::string> previous;  // client ref -> last upstream value
  for (const auto& [name, oid] : tracking) {
    std::string client = "refs/" + name.substr(std::string(kTrackingPrefix).size());
    if (!Followed(client)) continue;
    previous[client] = oid;
    if (!upstream.count(client)) {
      AG_RETURN_IF_ERROR(git::SetRef(mirror.get(), name, git::kZeroOid, "agentgate: sync prune"));
      ++result.tracking_updated;
    }
  }
  for (const auto& [client, oid] : upstream) {
    std::string name = replay::UpstreamTrackingRef(client);
    auto it = tracking.find(name);
    if (it != tracking.end() && it->second == oid) continue;
    AG_RETURN_IF_ERROR(git::SetRef(mirror.get(), name, oid, "agentgate: sync"));
    ++result.tracking_updated;
  }

  // 2. Client-visible refs follow upstream where nothing is in flight. The
  // refs' values are read BEFORE the active set: a push that lands after
  // the read fails the compare-and-set below (its ref moved), and one that
  // landed before it has its request (incoming at least) in the active set.
  auto current = [&](const std::string& ref) {
    auto v = git::ResolveRef(mirror.get(), ref);
    return v.ok() ? *v : std::string(git::kZeroOid);
  };
  std::map<std::string, std::string> seen;  // ref -> value when the active set was computed
  for (const auto& [ref, oid] : upstream) seen[ref] = current(ref);
  for (const auto& [ref, last] : previous) seen.emplace(ref, current(ref));
  std::set<std::string> active;
  if (db) {
    AG_ASSIGN_OR_RETURN(active, ActiveRefs(*db, repo.name));
  }
  auto follow = [&](const std::string& ref, const std::string& to) -> Status {
    if (active.count(ref)) return Status::Ok();
    std::string from = seen.count(ref) ? seen[ref] : current(ref);
    if (from == to) return Status::Ok();
    Status st = CompareAndSetRef(mirror.get(), ref, from, to, "agentgate: sync follows upstream");
    if (st.code() == Code::kConflict) return Status::Ok();  // a push won; next sync decides
    if (st.ok()) ++result.client_updated;
    return st;
  };
  for (const auto& [ref, oid] : upstream) AG_RETURN_IF_ERROR(follow(ref, oid));
  for (const auto& [ref, last] : previous) {
    // Deleted upstream: remove only what still shows upstream's last value.
    if (upstream.count(ref) || seen[ref] != last) continue;
    AG_RETURN_IF_ERROR(follow(ref, std::string(git::kZeroOid)));
  }
  if (!result.default_branch.empty()) {
    // An empty mirror's HEAD follows upstream's default branch.
    git_reference* head = nullptr;
    if (git_repository_head_unborn(mirror.get()) == 1 &&
        git_reference_symbolic_create(&head, mirror.get(), "HEAD", result.default_branch.c_str(),
                                      1, "agentgate: upstream HEAD") == 0) {
      git_reference_free(head);
    }
  }

  // 3. Pending requests whose lease base moved.
  if (db) {
    AG_ASSIGN_OR_RETURN(result.flagged, FlagMovedRequests(*db, repo.name, upstream));
  }
  return result;
}

SyncWorker::SyncWorker(std::shared_ptr<const config::Config> config, SyncOptions options)
    : config_(std::move(config)), options_(options) {}

SyncWorker::~SyncWorker() { Stop(); }

Status SyncWorker::SyncOne(store::Db* db, const config::RepoConfig& repo) {
  auto r = SyncRepo(*config_, repo, db);
  if (!r.ok()) {
    // A dead upstream: keep serving, try again next interval.
    LogWarn("sync.failed", {{"repo", repo.name}, {"error", r.status().message()}});
    return Status::Ok();
  }
  if (r->tracking_updated || r->client_updated || r->flagged) {
    LogInfo("sync.done", {{"repo", repo.name}, {"tracking", std::to_string(r->tracking_updated)},
                          {"client", std::to_string(r->client_updated)},
                          {"flagged", std::to_string(r->flagged)}});
  }
  return Status::Ok();
}

Status SyncWorker::RunOnce() {
  AG_ASSIGN_OR_RETURN(auto db, store::Db::Open(config_->db_path()));
  for (const auto& repo : config_->repos) {
    if (repo.upstream.empty()) continue;
    AG_RETURN_IF_ERROR(SyncOne(db.get(), repo));
  }
  return Status::Ok();
}

Status SyncWorker::Start() {
  if (thread_.joinable()) return Status::FailedPrecondition("sync worker already started");
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = false;
  }
  thread_ = std::thread([this] { Loop(); });
  LogInfo("sync.started", {{"repos", std::to_string(config_->repos.size())}});
  return Status::Ok();
}

void SyncWorker::Stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) {
    thread_.join();
    LogInfo("sync.stopped");
  }
}

void SyncWorker::Loop() {
  using Clock = std::chrono::steady_clock;
  std::map<std::string, Clock::time_point> due;
  for (const auto& r : config_->repos) due[r.name] = Clock::now();
  std::unique_ptr<store::Db> db;
  for (;;) {
    {
      std::unique_lock<std::mutex> l(mu_);
      if (stop_) return;
    }
    for (const auto& repo : config_->repos) {
      if (repo.upstream.empty() || repo.sync_interval.count() <= 0) continue;
      if (Clock::now() < due[repo.name]) continue;
      due[repo.name] = Clock::now() + repo.sync_interval;
      if (!db) {
        auto opened = store::Db::Open(config_->db_path());
        if (!opened.ok()) {
          LogError("sync.store_unavailable", {{"error", opened.status().message()}});
          continue;
        }
        db = std::move(opened).value();
      }
      Status st = SyncOne(db.get(), repo);
      if (!st.ok()) {
        LogError("sync.store_error", {{"repo", repo.name}, {"error", st.message()}});
        db.reset();
      }
      std::lock_guard<std::mutex> l(mu_);
      if (stop_) return;
    }
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait_for(l, options_.tick, [this] { return stop_; });
  }
}

}  // namespace ag::sync
