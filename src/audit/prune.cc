#include "audit/prune.h"

#include <map>

#include <nlohmann/json.hpp>

#include "git/git.h"
#include "store/audit.h"
#include "store/requests.h"
#include "util/log.h"
#include "util/time.h"

namespace ag::audit {
namespace {

// Collects the request refs of `repo`: id -> ref names.
Status CollectRequestRefs(git_repository* repo, std::map<int64_t, std::vector<std::string>>* out) {
  for (const char* glob : {"refs/agentgate/requests/*", "refs/agentgate/state/*"}) {
    git_reference_iterator* raw = nullptr;
    int rc = git_reference_iterator_glob_new(&raw, repo, glob);
    git::RefIteratorPtr it(raw);
    if (rc != 0) return git::GitStatus(rc, "list request refs");
    const char* name = nullptr;
    while ((rc = git_reference_next_name(&name, it.get())) == 0) {
      std::string ref(name);
      size_t start = ref.find('/', std::string_view("refs/agentgate/").size()) + 1;
      size_t end = ref.find('/', start);
      std::string id_text = ref.substr(start, end == std::string::npos ? std::string::npos
                                                                       : end - start);
      if (id_text.empty() || id_text.find_first_not_of("0123456789") != std::string::npos ||
          id_text.size() > 18) {
        continue;  // not ours to judge
      }
      (*out)[std::stoll(id_text)].push_back(ref);
    }
    if (rc != GIT_ITEROVER) return git::GitStatus(rc, "list request refs");
  }
  return Status::Ok();
}

Result<PrunedRepo> PruneOne(store::Db& db, const PruneTarget& t, const PruneOptions& o) {
  PrunedRepo out;
  out.repo = t.name;
  AG_ASSIGN_OR_RETURN(git::RepoPtr repo, git::OpenRepo(t.path));
  std::map<int64_t, std::vector<std::string>> refs;
  AG_RETURN_IF_ERROR(CollectRequestRefs(repo.get(), &refs));
  // Decide first, record second, delete last: no ref is deleted without an
  // audit row naming it. A ref whose deletion fails is found again next run.
  std::vector<std::string> doomed;
  for (const auto& [id, names] : refs) {
    Result<store::Request> r = store::GetRequest(db, id);
    if (!r.ok()) {
      if (r.status().code() == Code::kNotFound) continue;
      return r.status();
    }
    if (r->repo != t.name || !IsFinalStatus(store::StatusName(r->status)) ||
        r->updated_at >= o.cutoff) {
      continue;
    }
    out.ids.push_back(id);
    doomed.insert(doomed.end(), names.begin(), names.end());
  }
  out.refs_deleted = static_cast<int>(doomed.size());
  if (out.ids.empty() || o.dry_run) return out;

  {
    store::Transaction tx(db);
    AG_RETURN_IF_ERROR(tx.status());
    AG_ASSIGN_OR_RETURN(store::Stmt head, db.Prepare(
        "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1"));
    AG_ASSIGN_OR_RETURN(bool row, head.Step());
    nlohmann::ordered_json data;
    data["ids"] = out.ids;
    data["count"] = out.ids.size();
    data["refs"] = doomed.size();
    data["cutoff"] = IsoUtc(o.cutoff);
    data["head_seq"] = row ? head.Int(0) : 0;
    data["head_hash"] = row ? head.Text(1) : std::string(64, '0');
    store::AuditEvent e;
    e.kind = "audit.pruned";
    e.actor = o.actor;
    e.repo = t.name;
    e.data_json = data.dump();
    AG_ASSIGN_OR_RETURN(out.audit_seq, store::AppendAudit(db, e));
    AG_RETURN_IF_ERROR(tx.Commit());
  }
  int failed = 0;
  for (const std::string& name : doomed) {
    int rc = git_reference_remove(repo.get(), name.c_str());
    if (rc != 0 && rc != GIT_ENOTFOUND) {
      Status st = git::GitStatus(rc, "delete " + name);
      LogWarn("audit.prune_ref_failed", {{"repo", t.name}, {"ref", name}, {"error", st.message()}});
      ++failed;
    }
  }
  if (failed > 0) {
    out.refs_deleted -= failed;
    out.error = std::to_string(failed) + " ref(s) could not be deleted; the next run retries";
  }
  return out;
}

}  // namespace

bool IsFinalStatus(std::string_view s) {
  return s == "replayed" || s == "rejected" || s == "expired" || s == "superseded" ||
         s == "aborted" || s == "failed" || s == "conflict";
}

Result<std::vector<PrunedRepo>> PruneRequests(store::Db& db,
                                              const std::vector<PruneTarget>& targets,
                                              const PruneOptions& options) {
  std::vector<PrunedRepo> out;
  for (const PruneTarget& t : targets) {
    Result<PrunedRepo> one = PruneOne(db, t, options);
    if (one.ok()) {
      out.push_back(std::move(*one));
      continue;
    }
    // A repo that cannot be opened must not stop the others; a store
    // failure after refs were deleted is reported with the repo.
    PrunedRepo failed;
    failed.repo = t.name;
    failed.error = one.status().message();
    LogError("audit.prune_failed", {{"repo", t.name}, {"error", failed.error}});
    out.push_back(std::move(failed));
  }
  return out;
}

}  // namespace ag::audit
