// libgit2 basics shared by every concern: one-time library init, RAII owners
// for every handle type we use, and libgit2 errors as ag::Status.
//
// Thread-safety: call GitInit() once per process before any other use (it is
// idempotent and thread-safe). Handles belong to one thread at a time; use one
// git_repository per thread or request.
#pragma once

#include <git2.h>

#include <memory>
#include <string>
#include <string_view>

#include "util/status.h"

namespace ag::git {

// git_libgit2_init once per process; also turns off owner validation (the
// daemon's repos are owned by its own user; FACTS.md: libgit2 1.5.1 reports
// a misleading error otherwise). Safe to call repeatedly.
void GitInit();

// Status for a libgit2 return code: "<what>: <git_error_last message>",
// reading the thread-local error right away (it may be NULL).
Status GitStatus(int rc, std::string_view what);

#define AG_GIT_OWNER(name, type, free_fn)                  \
  struct name##Free {                                      \
    void operator()(type* p) const { free_fn(p); }         \
  };                                                       \
  using name##Ptr = std::unique_ptr<type, name##Free>

AG_GIT_OWNER(Repo, git_repository, git_repository_free);
AG_GIT_OWNER(Commit, git_commit, git_commit_free);
AG_GIT_OWNER(Tree, git_tree, git_tree_free);
AG_GIT_OWNER(Blob, git_blob, git_blob_free);
AG_GIT_OWNER(Object, git_object, git_object_free);
AG_GIT_OWNER(Diff, git_diff, git_diff_free);
AG_GIT_OWNER(Patch, git_patch, git_patch_free);
AG_GIT_OWNER(Revwalk, git_revwalk, git_revwalk_free);
AG_GIT_OWNER(Reference, git_reference, git_reference_free);
AG_GIT_OWNER(Remote, git_remote, git_remote_free);
AG_GIT_OWNER(Odb, git_odb, git_odb_free);
AG_GIT_OWNER(Config, git_config, git_config_free);
AG_GIT_OWNER(RefIterator, git_reference_iterator, git_reference_iterator_free);
AG_GIT_OWNER(Buf, git_buf, git_buf_dispose);

#undef AG_GIT_OWNER

// Opens a repository (bare or not) at `path`.
Result<RepoPtr> OpenRepo(const std::string& path);

// Opens the repository git runs a hook in, seeing the quarantined objects of
// the push (GIT_DIR, GIT_OBJECT_DIRECTORY, GIT_ALTERNATE_OBJECT_DIRECTORIES).
Result<RepoPtr> OpenRepoFromEnv();

// Hex of an oid, and parse of one (InvalidArgument when not 40 hex).
std::string OidHex(const git_oid& oid);
Result<git_oid> ParseOid(std::string_view hex);
inline constexpr std::string_view kZeroOid = "0000000000000000000000000000000000000000";
bool IsZeroOid(std::string_view hex);

// Sets (or with a zero `new_hex`, deletes) `ref_name` without touching the
// working tree. `log_message` goes to the reflog.
Status SetRef(git_repository* repo, const std::string& ref_name, std::string_view new_hex,
              const std::string& log_message);

// Resolves `ref_name` to an oid hex; NotFound when it does not exist.
Result<std::string> ResolveRef(git_repository* repo, const std::string& ref_name);

// Points refs/agentgate/state/<id>/<status> at `new_hex` (the request's tip,
// store::StateTip: the deleted tip for a ref deletion) and removes the
// request's other state refs, so `git ls-remote <mirror> 'refs/agentgate/*'`
// shows each request's current status. Also pins refs/agentgate/requests/<id>
// when `pin` is true. A zero `new_hex` only removes the state refs.
Status PublishRequestState(git_repository* repo, int64_t id, std::string_view status,
                           std::string_view new_hex, bool pin);

// The mirror's view of upstream: sync writes upstream's refs here, and
// everything reachable from them is what upstream already has.
inline constexpr const char* kUpstreamRefsGlob = "refs/agentgate/upstream/*";

// "refs/heads/x" -> "refs/agentgate/upstream/heads/x" (tags likewise); other
// refs -> "refs/agentgate/upstream/" + the part after "refs/".
inline std::string UpstreamTrackingRef(const std::string& ref) {
  if (ref.rfind("refs/", 0) == 0) return "refs/agentgate/upstream/" + ref.substr(5);
  return "refs/agentgate/upstream/" + ref;
}

}  // namespace ag::git
