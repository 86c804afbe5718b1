#include "git/git.h"

#include <mutex>
#include <vector>

namespace ag::git {

void GitInit() {
  static std::once_flag once;
  std::call_once(once, [] {
    git_libgit2_init();
    git_libgit2_opts(GIT_OPT_SET_OWNER_VALIDATION, 0);
  });
}

Status GitStatus(int rc, std::string_view what) {
  const git_error* e = git_error_last();
  std::string msg(what);
  msg += ": ";
  msg += (e && e->message) ? e->message : ("libgit2 error " + std::to_string(rc));
  if (rc == GIT_ENOTFOUND) return Status::NotFound(std::move(msg));
  if (rc == GIT_EEXISTS) return Status::AlreadyExists(std::move(msg));
  if (rc == GIT_EAUTH) return Status::Unauthenticated(std::move(msg));
  if (rc == GIT_ELOCKED || rc == GIT_EMODIFIED) return Status::Conflict(std::move(msg));
  if (e && (e->klass == GIT_ERROR_NET || e->klass == GIT_ERROR_HTTP || e->klass == GIT_ERROR_SSH)) {
    return Status::Unavailable(std::move(msg));
  }
  return Status::Internal(std::move(msg));
}

Result<RepoPtr> OpenRepo(const std::string& path) {
  GitInit();
  git_repository* r = nullptr;
  int rc = git_repository_open_ext(&r, path.c_str(), GIT_REPOSITORY_OPEN_NO_SEARCH, nullptr);
  RepoPtr repo(r);
  if (rc != 0) return GitStatus(rc, "cannot open repository " + path);
  return repo;
}

Result<RepoPtr> OpenRepoFromEnv() {
  GitInit();
  git_repository* r = nullptr;
  int rc = git_repository_open_ext(&r, nullptr, GIT_REPOSITORY_OPEN_FROM_ENV, nullptr);
  RepoPtr repo(r);
  if (rc != 0) return GitStatus(rc, "cannot open the pushed-to repository");
  return repo;
}

std::string OidHex(const git_oid& oid) {
  char buf[GIT_OID_HEXSZ + 1];
  git_oid_tostr(buf, sizeof buf, &oid);
  return buf;
}

Result<git_oid> ParseOid(std::string_view hex) {
  git_oid oid;
  if (hex.size() != GIT_OID_HEXSZ || git_oid_fromstrn(&oid, hex.data(), hex.size()) != 0) {
    return Status::InvalidArgument("not an object id: '" + std::string(hex.substr(0, 64)) + "'");
  }
  return oid;
}

bool IsZeroOid(std::string_view hex) { return hex == kZeroOid; }

Status SetRef(git_repository* repo, const std::string& ref_name, std::string_view new_hex,
              const std::string& log_message) {
  if (IsZeroOid(new_hex)) {
    int rc = git_reference_remove(repo, ref_name.c_str());
    if (rc != 0 && rc != GIT_ENOTFOUND) return GitStatus(rc, "cannot delete " + ref_name);
    return Status::Ok();
  }
  AG_ASSIGN_OR_RETURN(git_oid oid, ParseOid(new_hex));
  git_reference* ref = nullptr;
  int rc = git_reference_create(&ref, repo, ref_name.c_str(), &oid, /*force=*/1,
                                log_message.c_str());
  ReferencePtr owner(ref);
  if (rc != 0) return GitStatus(rc, "cannot set " + ref_name);
  return Status::Ok();
}

Result<std::string> ResolveRef(git_repository* repo, const std::string& ref_name) {
  git_oid oid;
  int rc = git_reference_name_to_id(&oid, repo, ref_name.c_str());
  if (rc != 0) return GitStatus(rc, "cannot resolve " + ref_name);
  return OidHex(oid);
}

Status PublishRequestState(git_repository* repo, int64_t id, std::string_view status,
                           std::string_view new_hex, bool pin) {
  std::string prefix = "refs/agentgate/state/" + std::to_string(id) + "/";
  std::string target = prefix + std::string(status);
  std::string glob = prefix + "*";
  std::vector<std::string> stale;
  git_reference_iterator* it = nullptr;
  int rc = git_reference_iterator_glob_new(&it, repo, glob.c_str());
  RefIteratorPtr iter(it);
  if (rc != 0) return GitStatus(rc, "cannot list " + glob);
  const char* name = nullptr;
  while (git_reference_next_name(&name, it) == 0) {
    if (target != name) stale.emplace_back(name);
  }
  std::string msg = "agentgate: request " + std::to_string(id) + " " + std::string(status);
  if (IsZeroOid(new_hex)) {
    stale.push_back(target);  // nothing to point at: no state ref at all
  } else {
    AG_RETURN_IF_ERROR(SetRef(repo, target, new_hex, msg));
  }
  if (pin && !IsZeroOid(new_hex)) {
    AG_RETURN_IF_ERROR(SetRef(repo, "refs/agentgate/requests/" + std::to_string(id), new_hex, msg));
  }
  for (const std::string& s : stale) AG_RETURN_IF_ERROR(SetRef(repo, s, kZeroOid, msg));
  return Status::Ok();
}

}  // namespace ag::git
