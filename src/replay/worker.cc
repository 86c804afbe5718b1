#include "replay/worker.h"

#include <functional>
#include <map>
#include <set>
#include <vector>

#include "git/git.h"
#include "replay/credentials.h"
#include "replay/github_app.h"
#include "replay/remote.h"
#include "store/freezes.h"
#include "store/requests.h"
#include "util/log.h"

namespace ag::replay {
namespace {

using store::RequestStatus;

const config::RepoConfig* FindRepo(const config::Config& c, const std::string& name) {
  for (const auto& r : c.repos) {
    if (r.name == name) return &r;
  }
  return nullptr;
}

std::string Short(const std::string& oid) { return oid.substr(0, 12); }

// One request's context while it is being handled.
struct Job {
  store::Db& db;
  git_repository* repo;
  const config::RepoConfig& rc;
  store::Request r;
  const WorkerOptions& options;
  PassStats& stats;
  bool resumed = false;  // found `replaying`: an earlier attempt may have pushed
};

// Moves the request from replaying to `to` with an audit event, and
// publishes the new state for the agent.
Status Finish(Job& j, RequestStatus to, const std::string& reason, const char* kind) {
  {
    store::Transaction tx(j.db);
    AG_RETURN_IF_ERROR(tx.status());
    AG_RETURN_IF_ERROR(store::TransitionRequest(j.db, j.r.id, RequestStatus::kReplaying, to,
                                                j.options.actor, reason, kind));
    AG_RETURN_IF_ERROR(tx.Commit());
  }
  Status pub = git::PublishRequestState(j.repo, j.r.id, store::StatusName(to), store::StateTip(j.r), false);
  if (!pub.ok()) LogWarn("replay.publish_failed", {{"id", std::to_string(j.r.id)}, {"error", pub.message()}});
  return Status::Ok();
}

Status Done(Job& j, bool pushed) {
  const std::string tracking = UpstreamTrackingRef(j.r.ref);
  Status st = git::SetRef(j.repo, tracking, j.r.new_oid,
                          "agentgate: replayed request " + std::to_string(j.r.id));
  if (!st.ok()) LogWarn("replay.tracking_ref_failed", {{"ref", tracking}, {"error", st.message()}});
  // "Already had it" only when upstream had it before agentgate pushed: a
  // resumed request may have been pushed by its interrupted attempt.
  const char* reason = pushed      ? "pushed to upstream"
                       : j.resumed ? "upstream has it: pushed by an earlier, interrupted attempt or by someone else"
                                   : "upstream already had it";
  AG_RETURN_IF_ERROR(Finish(j, RequestStatus::kReplayed, reason, "replay.done"));
  ++j.stats.replayed;
  if (pushed) ++j.stats.pushed;
  LogInfo("replay.done", {{"id", std::to_string(j.r.id)}, {"repo", j.r.repo}, {"ref", j.r.ref},
                          {"new", Short(j.r.new_oid)}, {"pushed", pushed ? "true" : "false"}});
  return Status::Ok();
}

Status Fail(Job& j, const std::string& reason) {
  AG_RETURN_IF_ERROR(Finish(j, RequestStatus::kFailed, reason, "replay.failed"));
  ++j.stats.failed;
  LogWarn("replay.failed", {{"id", std::to_string(j.r.id)}, {"repo", j.r.repo}, {"ref", j.r.ref},
                            {"reason", reason}});
  return Status::Ok();
}

Status Conflict(Job& j, const std::string& reason) {
  AG_RETURN_IF_ERROR(Finish(j, RequestStatus::kConflict, reason, "replay.conflict"));
  ++j.stats.conflicts;
  LogWarn("replay.conflict", {{"id", std::to_string(j.r.id)}, {"repo", j.r.repo},
                              {"ref", j.r.ref}, {"reason", reason}});
  return Status::Ok();
}

// Retries later (back to approved) or gives up (failed) after a transient error.
Status RetryLater(Job& j, const config::Config& config, const std::string& error,
                  const std::function<int64_t(int)>& backoff) {
  int attempts = j.r.replay_attempts + 1;
  if (attempts >= config.replay_max_attempts) {
    return Fail(j, "gave up after " + std::to_string(attempts) + " attempts: " + error);
  }
  int64_t next = store::NowSeconds() + backoff(attempts);
  {
    store::Transaction tx(j.db);
    AG_RETURN_IF_ERROR(tx.status());
    AG_ASSIGN_OR_RETURN(store::Stmt upd, j.db.Prepare(
        "UPDATE requests SET replay_attempts=?, next_attempt_at=? WHERE id=? AND status='replaying'"));
    upd.Bind(1, static_cast<int64_t>(attempts)).Bind(2, next).Bind(3, j.r.id);
    AG_RETURN_IF_ERROR(upd.Run());
    AG_RETURN_IF_ERROR(store::TransitionRequest(
        j.db, j.r.id, RequestStatus::kReplaying, RequestStatus::kApproved, j.options.actor,
        "attempt " + std::to_string(attempts) + " failed: " + error, "replay.attempt"));
    AG_RETURN_IF_ERROR(tx.Commit());
  }
  Status pub = git::PublishRequestState(j.repo, j.r.id, "approved", store::StateTip(j.r), false);
  if (!pub.ok()) LogWarn("replay.publish_failed", {{"id", std::to_string(j.r.id)}, {"error", pub.message()}});
  ++j.stats.retried;
  LogWarn("replay.attempt_failed", {{"id", std::to_string(j.r.id)}, {"repo", j.r.repo},
                                    {"attempt", std::to_string(attempts)},
                                    {"next_in_s", std::to_string(next - store::NowSeconds())},
                                    {"error", error}});
  return Status::Ok();
}

// Waits for GitHub's rate limit to reset: back to approved, due at `until`,
// without using one of replay.max_attempts.
Status WaitForRateLimit(Job& j, std::chrono::system_clock::time_point until, const std::string& reason) {
  int64_t next = std::chrono::duration_cast<std::chrono::seconds>(until.time_since_epoch()).count() + 1;
  {
    store::Transaction tx(j.db);
    AG_RETURN_IF_ERROR(tx.status());
    AG_ASSIGN_OR_RETURN(store::Stmt upd, j.db.Prepare(
        "UPDATE requests SET next_attempt_at=? WHERE id=? AND status='replaying'"));
    upd.Bind(1, next).Bind(2, j.r.id);
    AG_RETURN_IF_ERROR(upd.Run());
    AG_RETURN_IF_ERROR(store::TransitionRequest(j.db, j.r.id, RequestStatus::kReplaying, RequestStatus::kApproved,
                                                j.options.actor, "waiting: " + reason, "replay.attempt"));
    AG_RETURN_IF_ERROR(tx.Commit());
  }
  Status pub = git::PublishRequestState(j.repo, j.r.id, "approved", store::StateTip(j.r), false);
  if (!pub.ok()) LogWarn("replay.publish_failed", {{"id", std::to_string(j.r.id)}, {"error", pub.message()}});
  ++j.stats.retried;
  LogWarn("replay.rate_limited", {{"id", std::to_string(j.r.id)}, {"repo", j.r.repo},
                                  {"next_in_s", std::to_string(next - store::NowSeconds())}});
  return Status::Ok();
}

// Decides what an upstream error means for the request.
Status OnUpstreamError(Job& j, const config::Config& config, const Status& err,
                       const std::function<int64_t(int)>& backoff) {
  switch (err.code()) {
    case Code::kUnavailable:
      return RetryLater(j, config, err.message(), backoff);
    case Code::kUnauthenticated:
      if (err.message().find("upstream refused the credential") != std::string::npos) {
        return Fail(j, err.message());
      }
      return Fail(j, "upstream refused the credential (" + err.message() + ")");
    default:
      return Fail(j, err.message());
  }
}

// True when a commit between `base` (upstream's value; zero: none) and
// `tip` changes .github/workflows/: GitHub refuses such a push from a token
// without workflows: write. Unknown (history unreadable, or past 100,000
// commits) counts as true.
bool ChangesWorkflows(git_repository* repo, const std::string& base, const std::string& tip) {
  auto workflows = [&](const git_oid& commit_id, git_oid* out) -> int {  // 1 found, 0 none, -1 error
    git_commit* c = nullptr;
    if (git_commit_lookup(&c, repo, &commit_id) != 0) return -1;
    git::CommitPtr commit(c);
    git_tree* t = nullptr;
    if (git_commit_tree(&t, c) != 0) return -1;
    git::TreePtr tree(t);
    git_tree_entry* e = nullptr;
    int rc = git_tree_entry_bypath(&e, t, ".github/workflows");
    if (rc == GIT_ENOTFOUND) return 0;
    if (rc != 0) return -1;
    *out = *git_tree_entry_id(e);
    git_tree_entry_free(e);
    return 1;
  };
  git_revwalk* w = nullptr;
  if (git_revwalk_new(&w, repo) != 0) return true;
  git::RevwalkPtr walk(w);
  auto tip_id = git::ParseOid(tip);
  if (!tip_id.ok() || git_revwalk_push(w, &*tip_id) != 0) return true;
  if (!git::IsZeroOid(base)) {
    auto base_id = git::ParseOid(base);
    if (!base_id.ok() || git_revwalk_hide(w, &*base_id) != 0) return true;
  }
  git_oid id;
  for (int n = 0; git_revwalk_next(&id, w) == 0; ++n) {
    if (n >= 100000) return true;
    git_oid mine{};
    int has = workflows(id, &mine);
    if (has < 0) return true;
    git_commit* c = nullptr;
    if (git_commit_lookup(&c, repo, &id) != 0) return true;
    git::CommitPtr commit(c);
    unsigned parents = git_commit_parentcount(c);
    if (parents == 0 && has) return true;
    for (unsigned i = 0; i < parents; ++i) {
      git_oid theirs{};
      int had = workflows(*git_commit_parent_id(c, i), &theirs);
      if (had < 0 || had != has || (has && !git_oid_equal(&mine, &theirs))) return true;
    }
  }
  return false;
}

// The lease: connect, compare upstream's value, push on the same connection.
Status Handle(Job& j, const config::Config& config, const std::function<int64_t(int)>& backoff) {
  const std::string zero(git::kZeroOid);
  const std::string base = j.r.upstream_base.empty() ? zero : j.r.upstream_base;
  const bool deletion = git::IsZeroOid(j.r.new_oid);
  const std::string pinned = "refs/agentgate/requests/" + std::to_string(j.r.id);
  if (!deletion) {
    auto pin = git::ResolveRef(j.repo, pinned);
    if (!pin.ok() || *pin != j.r.new_oid) {
      // post-receive pins a request just after landing it: a policy-approved
      // request can be picked up in between. The pushed ref still at the
      // commit is the same proof; pin it here.
      auto at = git::ResolveRef(j.repo, j.r.ref);
      bool pinned_now = at.ok() && *at == j.r.new_oid &&
                        git::SetRef(j.repo, pinned, j.r.new_oid,
                                    "agentgate: request " + std::to_string(j.r.id) + " pinned by the replay")
                            .ok();
      if (!pinned_now) {
        if (store::NowSeconds() - j.r.updated_at < 60) {
          return RetryLater(j, config, "the approved commit is not pinned at " + pinned + " yet", backoff);
        }
        return Fail(j, "the mirror does not hold the approved commit at " + pinned);
      }
    }
  }
  Access access;
  access.write = true;
  access.workflows = !deletion && ChangesWorkflows(j.repo, base, j.r.new_oid);
  auto cred = LoadCredential(j.rc, access);
  if (!cred.ok()) {
    // A GitHub App that cannot mint now (unreachable, rate limited, key
    // refused) is retried per replay.*; a credential file that cannot be
    // read is an admin's fix.
    if (j.rc.github_app && cred.status().code() == Code::kUnavailable) {
      auto until = GithubAppBlockedUntil(j.rc);
      if (until > std::chrono::system_clock::now()) {
        return WaitForRateLimit(j, until, std::string(cred.status().message()));
      }
      return RetryLater(j, config, cred.status().message(), backoff);
    }
    return Fail(j, "upstream credential: " + cred.status().message());
  }
  SessionOptions so;
  so.ssh_known_hosts = j.rc.ssh_known_hosts;
  so.io_timeout = config.replay_io_timeout;
  auto session = UpstreamSession::Connect(j.repo, j.rc.upstream, *cred, GIT_DIRECTION_PUSH, so);
  if (!session.ok() && j.rc.github_app && session.status().code() == Code::kUnauthenticated) {
    // A token GitHub revoked before its expiry (App uninstalled, key
    // rotated): mint a new one on the next attempt.
    ForgetGithubAppToken(j.rc, access);
    return RetryLater(j, config, "upstream refused the GitHub App's token; a new one is minted next time",
                      backoff);
  }
  if (!session.ok()) return OnUpstreamError(j, config, session.status(), backoff);
  const std::string actual = (*session)->RefOr0(j.r.ref);
  if (actual == j.r.new_oid) return Done(j, /*pushed=*/false);
  if (actual != base) {
    return Conflict(j, "upstream moved from " + Short(base) + " to " + Short(actual));
  }
  std::vector<RefRejection> rejections;
  Status pushed = (*session)->Push({(deletion ? std::string() : pinned) + ":" + j.r.ref}, &rejections);
  if (!pushed.ok()) return OnUpstreamError(j, config, pushed, backoff);
  if (!rejections.empty()) {
    // A declined lease may be our own earlier attempt landing late (the
    // daemon died while upstream was still applying it): look again.
    auto again = UpstreamSession::Connect(j.repo, j.rc.upstream, *cred, GIT_DIRECTION_PUSH, so);
    if (again.ok()) {
      const std::string now = (*again)->RefOr0(j.r.ref);
      if (now == j.r.new_oid) return Done(j, /*pushed=*/true);
      if (now != base) {
        return Conflict(j, "upstream moved from " + Short(base) + " to " + Short(now));
      }
    }
    return Fail(j, "upstream declined " + rejections[0].ref + ": " +
                       Scrub(rejections[0].message, j.rc.upstream, cred->get()));
  }
  return Done(j, /*pushed=*/true);
}

}  // namespace

std::string UpstreamTrackingRef(const std::string& ref) { return git::UpstreamTrackingRef(ref); }

ReplayWorker::ReplayWorker(std::shared_ptr<const config::Config> config, WorkerOptions options)
    : config_(std::move(config)), options_(std::move(options)), rng_(std::random_device{}()) {}

ReplayWorker::~ReplayWorker() { Stop(); }

Status ReplayWorker::Start() {
  if (thread_.joinable()) return Status::FailedPrecondition("replay worker already started");
  // Open once here so a broken store fails Start() rather than the thread.
  AG_ASSIGN_OR_RETURN(auto db, store::Db::Open(config_->db_path()));
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = false;
    wake_ = true;
  }
  db.reset();
  thread_ = std::thread([this] { Loop(); });
  LogInfo("replay.started", {{"repos", std::to_string(config_->repos.size())}});
  return Status::Ok();
}

void ReplayWorker::Stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) {
    thread_.join();
    LogInfo("replay.stopped");
  }
}

void ReplayWorker::Wake() {
  {
    std::lock_guard<std::mutex> l(mu_);
    wake_ = true;
  }
  cv_.notify_all();
}

void ReplayWorker::Loop() {
  std::unique_ptr<store::Db> db;
  for (;;) {
    {
      std::unique_lock<std::mutex> l(mu_);
      cv_.wait_for(l, options_.poll_interval, [this] { return stop_ || wake_; });
      if (stop_) return;
      wake_ = false;
    }
    if (!db) {
      auto opened = store::Db::Open(config_->db_path());
      if (!opened.ok()) {
        LogError("replay.store_unavailable", {{"error", opened.status().message()}});
        continue;
      }
      db = std::move(opened).value();
    }
    auto stats = Pass(*db);
    if (!stats.ok()) {
      LogError("replay.pass_failed", {{"error", stats.status().message()}});
      db.reset();  // reopen next time
    }
  }
}

Result<PassStats> ReplayWorker::RunOnce() {
  AG_ASSIGN_OR_RETURN(auto db, store::Db::Open(config_->db_path()));
  return Pass(*db);
}

int64_t ReplayWorker::Backoff(int attempts) {
  int64_t cap = std::max<int64_t>(0, config_->replay_backoff_max.count());
  int64_t d = options_.base_backoff.count();
  for (int i = 1; i < attempts && d < cap; ++i) d *= 2;
  d = std::min(d, cap);
  if (d <= 1) return d;
  // Jitter: uniformly in [d/2, d].
  std::uniform_int_distribution<int64_t> dist(d / 2, d);
  return dist(rng_);
}

Result<int64_t> ReplayWorker::PickNext(store::Db& db, const std::set<int64_t>& tried) {
  // The oldest approved-or-replaying request of each (repo, ref) is its
  // ref's head; later ones wait for it. The statement is done (reset) when
  // this returns: a read left open across the upstream push would pin a
  // snapshot, and the worker's next BEGIN IMMEDIATE would fail with
  // "database is locked" whenever anything wrote meanwhile.
  // A frozen pusher's approved requests wait (store/freezes.h), and hold
  // their ref's queue; one replaying in this process finishes (or fails:
  // then it is approved again, and waits); one found replaying after a
  // restart waits for the thaw too.
  AG_ASSIGN_OR_RETURN(store::Stmt q, db.Prepare(
      std::string("SELECT id, repo, ref, status, next_attempt_at, ") + store::kRequestFrozenSql +
      " FROM requests WHERE status IN ('approved','replaying') ORDER BY id"));
  std::set<std::pair<std::string, std::string>> seen;
  int64_t now = store::NowSeconds();
  for (;;) {
    AG_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return 0;
    auto key = std::make_pair(q.Text(1), q.Text(2));
    if (!seen.insert(key).second) continue;
    int64_t id = q.Int(0);
    if (tried.count(id)) continue;
    if (q.Text(3) == "approved" && q.Int(4) > now) continue;
    // Frozen: waits, approved or (after a crash) replaying alike.
    if (q.Int(5) != 0) continue;
    if (!FindRepo(*config_, key.first)) continue;
    return id;
  }
}

Result<PassStats> ReplayWorker::Pass(store::Db& db) {
  PassStats stats;
  std::set<int64_t> tried;
  std::map<std::string, git::RepoPtr> repos;
  for (int n = 0; n < options_.max_per_pass; ++n) {
    {
      std::lock_guard<std::mutex> l(mu_);
      if (stop_ && thread_.joinable()) break;
    }
    AG_ASSIGN_OR_RETURN(int64_t pick, PickNext(db, tried));
    if (pick == 0) break;
    tried.insert(pick);
    AG_ASSIGN_OR_RETURN(store::Request r, store::GetRequest(db, pick));
    const config::RepoConfig& rc = *FindRepo(*config_, r.repo);
    if (!repos.count(r.repo)) {
      std::string path = rc.path.empty() ? config_->data_dir + "/repos/" + rc.name + ".git" : rc.path;
      auto opened = git::OpenRepo(path);
      if (!opened.ok()) {
        LogError("replay.repo_unavailable", {{"repo", r.repo}, {"error", opened.status().message()}});
        continue;
      }
      repos[r.repo] = std::move(opened).value();
    }
    git_repository* repo = repos[r.repo].get();

    const bool resumed = r.status == RequestStatus::kReplaying;
    if (r.status == RequestStatus::kApproved) {
      // Durable before anything goes upstream.
      store::Transaction tx(db);
      AG_RETURN_IF_ERROR(tx.status());
      // Frozen since it was picked: it waits (the freeze was committed first).
      AG_ASSIGN_OR_RETURN(std::vector<store::Freeze> freezes, store::ListFreezes(db));
      if (store::FreezeFor(freezes, r.identity, store::GroupsOf(r.groups_json))) continue;
      // Nor one carrying a frozen pusher's commits.
      AG_ASSIGN_OR_RETURN(auto frozen, store::FrozenCommits(db, r.repo));
      AG_ASSIGN_OR_RETURN(auto carried, store::FrozenCommitOf(db, r.id, frozen));
      if (carried) continue;
      Status st = store::TransitionRequest(db, r.id, RequestStatus::kApproved,
                                           RequestStatus::kReplaying, options_.actor, "",
                                           "replay.start");
      if (st.code() == Code::kFailedPrecondition) continue;  // changed under us
      AG_RETURN_IF_ERROR(st);
      AG_RETURN_IF_ERROR(tx.Commit());
      r.status = RequestStatus::kReplaying;
      Status pub = git::PublishRequestState(repo, r.id, "replaying", store::StateTip(r), false);
      if (!pub.ok()) LogWarn("replay.publish_failed", {{"id", std::to_string(r.id)}, {"error", pub.message()}});
    } else {
      LogInfo("replay.resume", {{"id", std::to_string(r.id)}, {"repo", r.repo}, {"ref", r.ref}});
    }

    Job job{db, repo, rc, r, options_, stats, resumed};
    AG_RETURN_IF_ERROR(Handle(job, *config_, [this](int a) { return Backoff(a); }));
  }
  return stats;
}

}  // namespace ag::replay

namespace ag::replay {

Status RetryRequest(store::Db& db, int64_t id, std::string_view actor) {
  store::Transaction tx(db);
  AG_RETURN_IF_ERROR(tx.status());
  AG_RETURN_IF_ERROR(store::TransitionRequest(db, id, RequestStatus::kFailed,
                                              RequestStatus::kApproved, actor, "retry requested",
                                              "replay.retry"));
  AG_ASSIGN_OR_RETURN(store::Stmt upd, db.Prepare(
      "UPDATE requests SET replay_attempts=0, next_attempt_at=0 WHERE id=?"));
  upd.Bind(1, id);
  AG_RETURN_IF_ERROR(upd.Run());
  return tx.Commit();
}

}  // namespace ag::replay
