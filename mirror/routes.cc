#include "mirror/routes.h"

#include <vector>

namespace ag::mirror {
namespace {

std::vector<std::string_view> SplitPath(std::string_view path) {
  std::vector<std::string_view> out;
  size_t start = 1;  // path starts with '/'
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    out.push_back(path.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

std::string_view Basename(std::string_view path) {
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

// The value of `service=` in `query`, or "" when absent.
std::string_view ServiceParam(std::string_view query) {
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view item = query.substr(0, amp);
    if (item.substr(0, 8) == "service=") return item.substr(8);
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return {};
}

}  // namespace

bool IsValidRepoName(std::string_view name) {
  if (name.empty() || name.size() > 100 || name == "." || name == "..") return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

Result<RouteMatch> MatchRoute(std::string_view method, std::string_view target,
                              const config::Config& config) {
  size_t q = target.find('?');
  std::string_view path = target.substr(0, q);
  std::string_view query = q == std::string_view::npos ? std::string_view() : target.substr(q + 1);
  // Checklist, one line per attack:
  if (path.empty() || path[0] != '/') return Status::NotFound("not found");          // absolute-form, garbage
  if (path.find('%') != std::string_view::npos) return Status::NotFound("not found");  // %2e%2e, %2f
  if (path.find('\\') != std::string_view::npos) return Status::NotFound("not found");  // backslash paths
  if (path.find('\0') != std::string_view::npos) return Status::NotFound("not found");  // NUL truncation
  std::vector<std::string_view> segments = SplitPath(path);
  for (std::string_view s : segments) {
    if (s.empty() || s == "." || s == "..") return Status::NotFound("not found");  // //, /./, /../
  }

  bool path_matched = false;
  for (const Route& route : kRoutes) {
    std::vector<std::string_view> pattern = SplitPath(route.pattern);
    if (pattern.size() != segments.size()) continue;  // extra segments never match
    const config::RepoConfig* repo = nullptr;
    bool ok = true;
    for (size_t i = 0; i < pattern.size() && ok; ++i) {
      if (pattern[i] == "{repo}") {
        std::string_view name = segments[i];
        if (name.size() > 4 && name.substr(name.size() - 4) == ".git") name.remove_suffix(4);
        if (!IsValidRepoName(name)) return Status::NotFound("not found");  // names only
        repo = config.FindRepo(std::string(name));
        if (repo == nullptr) return Status::NotFound("no such repository");  // unconfigured repo
      } else if (pattern[i] != segments[i]) {
        ok = false;
      }
    }
    if (!ok) continue;
    path_matched = true;
    if (route.method != method) continue;

    RouteMatch match;
    match.route = &route;
    match.repo = repo;
    if (repo == nullptr) return match;
    std::string base(Basename(repo->path));
    switch (route.kind) {
      case RouteKind::kInfoRefs: {
        std::string_view service = ServiceParam(query);
        if (service != "git-upload-pack" && service != "git-receive-pack") {
          return Status::InvalidArgument("only smart HTTP is served: ?service=git-upload-pack or git-receive-pack");
        }
        match.service = std::string(service);
        match.query = "service=" + match.service;  // rebuilt, not copied from the client
        match.path_info = "/" + base + "/info/refs";
        break;
      }
      case RouteKind::kUploadPack:
        match.service = "git-upload-pack";
        match.path_info = "/" + base + "/git-upload-pack";
        break;
      case RouteKind::kReceivePack:
        match.service = "git-receive-pack";
        match.path_info = "/" + base + "/git-receive-pack";
        break;
      default:
        break;
    }
    return match;
  }
  if (path_matched) return Status::FailedPrecondition("method not allowed");
  return Status::NotFound("not found");
}

int RouteErrorStatus(const Status& status) {
  switch (status.code()) {
    case Code::kFailedPrecondition: return 405;
    case Code::kInvalidArgument: return 400;
    default: return 404;
  }
}

}  // namespace ag::mirror
