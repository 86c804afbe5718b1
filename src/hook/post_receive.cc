#include <cstdlib>
#include <string>

#include "git/git.h"
#include "git/inspect.h"
#include "hook/context.h"
#include "hook/hook.h"
#include "store/requests.h"
#include "util/log.h"

namespace ag::hook {

int RunPostReceive(const HookOptions& options, std::string_view input, FILE* out) {
  HookCache cache;
  return RunPostReceiveWith(options, CurrentInvocation(), input, out, &cache);
}

int RunPostReceiveWith(const HookOptions& options, const HookInvocation& invocation,
                       std::string_view input, FILE* out, HookCache* cache, bool* approved) {
  auto warn = [out](const std::string& what, const Status& s) {
    std::fprintf(out, "agentgate: warning: %s: %s\n", what.c_str(), s.message().c_str());
    LogWarn("post_receive.failed", {{"what", what}, {"error", s.ToString()}});
    return 0;
  };
  Result<HookContext> ctx = LoadHookContext(options, invocation, cache);
  if (!ctx.ok()) return warn("cannot load the configuration", ctx.status());
  Result<std::vector<git::RefUpdate>> updates = git::ParseRefUpdates(input, options.max_ref_updates);
  if (!updates.ok()) return warn("cannot read the ref updates", updates.status());
  Result<std::unique_ptr<store::Db>> opened = cache->TakeDb(ctx->config->db_path());
  if (!opened.ok()) return warn("cannot open the database", opened.status());
  PooledDb db(cache, std::move(*opened));
  Result<git::RepoPtr> repo = git::OpenRepo(ctx->repo->path);
  if (!repo.ok()) return warn("cannot open the repository", repo.status());

  for (const git::RefUpdate& u : *updates) {
    int64_t id = 0;
    std::vector<int64_t> superseded;
    {
      store::Transaction tx(*db);
      if (!tx.status().ok()) return warn("cannot record " + u.ref_name, tx.status());
      Result<int64_t> landed = store::LandRequest(*db, ctx->repo->name, u.ref_name, u.old_oid, u.new_oid, &superseded);
      if (!landed.ok()) {
        warn("no request recorded for " + u.ref_name, landed.status());
        continue;
      }
      Status c = tx.Commit();
      if (!c.ok()) {
        warn("cannot record " + u.ref_name, c);
        continue;
      }
      id = *landed;
    }
    for (int64_t old_id : superseded) {
      Result<store::Request> old_request = store::GetRequest(*db, old_id, /*with_commits=*/false);
      if (!old_request.ok()) continue;
      Status s = git::PublishRequestState(repo->get(), old_id, "superseded", store::StateTip(*old_request),
                                          /*pin=*/false);
      if (!s.ok()) warn("cannot publish the state of request " + std::to_string(old_id), s);
    }
    Result<store::Request> r = store::GetRequest(*db, id, /*with_commits=*/false);
    if (!r.ok()) {
      warn("cannot read request " + std::to_string(id), r.status());
      continue;
    }
    std::string_view status = store::StatusName(r->status);
    Status published = git::PublishRequestState(repo->get(), id, status, store::StateTip(*r), /*pin=*/true);
    if (!published.ok()) warn("cannot publish the state of request " + std::to_string(id), published);
    if (r->status == store::RequestStatus::kApproved) {
      if (approved) *approved = true;
      std::fprintf(out, "agentgate: request %lld (%s) is approved by policy and queued for upstream\n",
                   static_cast<long long>(id), u.ref_name.c_str());
    } else {
      std::fprintf(out,
                   "agentgate: request %lld (%s) is %s; follow it with: git ls-remote <this remote> "
                   "'refs/agentgate/state/%lld/*'\n",
                   static_cast<long long>(id), u.ref_name.c_str(), std::string(status).c_str(),
                   static_cast<long long>(id));
    }
  }
  return 0;
}

}  // namespace ag::hook
