// The mirror's route table: {method, pattern} -> what serves it. Matching is
// pure (no disk, no sockets) so every traversal and name check is unit-tested.
//
// A repo segment is accepted only when it is a configured repo name made of
// [A-Za-z0-9._-] (optionally followed by ".git"); anything else, including
// percent-encoding, "." or ".." segments, empty segments and extra segments,
// is NotFound before any file is touched.
//
// Thread-safety: pure functions over const data; safe from any thread.
#pragma once

#include <string>
#include <string_view>

#include "config/config.h"
#include "util/status.h"

namespace ag::mirror {

enum class RouteKind {
  kHealthz,      // GET /healthz
  kMetrics,      // GET /metrics
  kInfoRefs,     // GET /<repo>.git/info/refs?service=git-upload-pack|git-receive-pack
  kUploadPack,   // POST /<repo>.git/git-upload-pack
  kReceivePack,  // POST /<repo>.git/git-receive-pack
};

struct Route {
  std::string_view method;
  std::string_view pattern;  // "{repo}" matches one repo segment
  RouteKind kind;
  std::string_view name;     // label used in logs and metrics
};

// The table, in match order.
inline constexpr Route kRoutes[] = {
    {"GET", "/healthz", RouteKind::kHealthz, "healthz"},
    {"GET", "/metrics", RouteKind::kMetrics, "metrics"},
    {"GET", "/{repo}/info/refs", RouteKind::kInfoRefs, "info_refs"},
    {"POST", "/{repo}/git-upload-pack", RouteKind::kUploadPack, "upload_pack"},
    {"POST", "/{repo}/git-receive-pack", RouteKind::kReceivePack, "receive_pack"},
};

struct RouteMatch {
  const Route* route = nullptr;
  const config::RepoConfig* repo = nullptr;  // set for git routes; points into the Config
  std::string service;                       // "git-upload-pack" / "git-receive-pack"
  std::string query;                         // the query string passed to the CGI
  std::string path_info;                     // "/<basename of repo path>/info/refs", ...
  bool IsGit() const { return repo != nullptr; }
};

// True for a name made only of [A-Za-z0-9._-], not "." or "..", at most 100 chars.
bool IsValidRepoName(std::string_view name);

// Matches `target` (path and optional query, as sent) against kRoutes.
// Errors: NotFound (404) for an unknown path or repo, FailedPrecondition (405)
// for a known path with another method, InvalidArgument (400) for a bad query.
Result<RouteMatch> MatchRoute(std::string_view method, std::string_view target,
                              const config::Config& config);

// The HTTP status for a MatchRoute error.
int RouteErrorStatus(const Status& status);

}  // namespace ag::mirror
