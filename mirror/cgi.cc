#include "mirror/cgi.h"

#include <nlohmann/json.hpp>

#include "util/signed_env.h"

namespace ag::mirror {
namespace {

std::string ParentDir(const std::string& path) {
  std::string p = path;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  size_t slash = p.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return p.substr(0, slash);
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

}  // namespace

std::string SanitizeHeaderValue(std::string_view value, size_t max_len) {
  if (value.size() > max_len) return "";
  for (char c : value) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f) return "";
  }
  return std::string(value);
}

std::map<std::string, std::string> BuildCgiEnv(const CgiRequest& request,
                                               const config::Config& config,
                                               const std::string& config_path,
                                               const std::string& server_key,
                                               const std::string& inherited_path,
                                               const std::string& inherited_home) {
  const RouteMatch& route = *request.route;
  const identity::Identity& id = *request.identity;
  std::map<std::string, std::string> env;
  // The CGI contract of git http-backend.
  env["GATEWAY_INTERFACE"] = "CGI/1.1";
  env["SERVER_PROTOCOL"] = "HTTP/1.1";
  env["SERVER_SOFTWARE"] = "agentgate-mirror";
  env["GIT_PROJECT_ROOT"] = ParentDir(route.repo->path);
  env["PATH_INFO"] = route.path_info;
  env["REQUEST_METHOD"] = request.method;
  env["QUERY_STRING"] = route.query;
  env["GIT_HTTP_EXPORT_ALL"] = "1";
  env["REMOTE_USER"] = id.name;
  env["REMOTE_ADDR"] = request.remote_addr;
  if (!request.content_type.empty()) env["CONTENT_TYPE"] = SanitizeHeaderValue(request.content_type);
  if (request.content_length) env["CONTENT_LENGTH"] = std::to_string(*request.content_length);
  std::string protocol = SanitizeHeaderValue(request.git_protocol);
  if (!protocol.empty()) env["GIT_PROTOCOL"] = protocol;
  // Never HTTP_CONTENT_ENCODING: gzip bodies are inflated (and bounded) by
  // the mirror; http-backend would inflate them without a bound.
  // receive-pack refuses a pack larger than max_body (index-pack
  // --max-input-size), whatever the encoding on the wire: a gzip push body
  // inflates up to max_inflated_body, its pack no further than this. For
  // every mirror, however it was created (git reads GIT_CONFIG_COUNT since
  // 2.31; Debian 12 has 2.39).
  env["GIT_CONFIG_COUNT"] = "1";
  env["GIT_CONFIG_KEY_0"] = "receive.maxInputSize";
  env["GIT_CONFIG_VALUE_0"] = std::to_string(config.limits.max_body_bytes);
  env["PATH"] = inherited_path.empty() ? "/usr/local/bin:/usr/bin:/bin" : inherited_path;
  if (!inherited_home.empty()) env["HOME"] = inherited_home;
  // What the hooks need to find their configuration.
  env["AGENTGATE_CONFIG"] = config_path;
  env["AGENTGATE_REPO"] = route.repo->name;
  env["AGENTGATE_DATA_DIR"] = config.data_dir;
  // The signed identity envelope (AGENTGATE_IDENTITY, _GROUPS, _REQUEST_ID, ...).
  SignedIdentity signed_id;
  signed_id.identity = id.name;
  signed_id.groups = id.groups;
  signed_id.request_id = request.request_id;
  signed_id.method = id.method;
  signed_id.claims_json = nlohmann::json(id.claims).dump();
  for (auto& [k, v] : SignIdentityEnv(signed_id, server_key)) env[k] = v;
  return env;
}

Result<size_t> CgiHeaderParser::Feed(std::string_view data) {
  if (done_) return size_t{0};
  size_t old = block_.size();
  size_t take = std::min(data.size(), kMaxHeaderBytes + 4 - std::min(old, kMaxHeaderBytes + 4));
  block_.append(data.substr(0, take));
  // Look for the blank line, starting a little before the new bytes.
  size_t from = old >= 3 ? old - 3 : 0;
  size_t end = std::string::npos;
  size_t sep_len = 0;
  for (size_t i = from; i < block_.size(); ++i) {
    if (block_.compare(i, 4, "\r\n\r\n") == 0) { end = i; sep_len = 4; break; }
    if (block_.compare(i, 2, "\n\n") == 0) { end = i; sep_len = 2; break; }
  }
  if (end == std::string::npos) {
    if (block_.size() > kMaxHeaderBytes) {
      return Status::InvalidArgument("CGI header block too large");
    }
    return take;
  }
  size_t consumed = end + sep_len - old;
  block_.resize(end);
  AG_RETURN_IF_ERROR(ParseBlock());
  done_ = true;
  return consumed;
}

Status CgiHeaderParser::ParseBlock() {
  std::string_view rest = block_;
  while (!rest.empty()) {
    size_t nl = rest.find('\n');
    std::string_view line = Trim(rest.substr(0, nl));
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    if (line.empty()) continue;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      return Status::InvalidArgument("malformed CGI header line");
    }
    std::string name(Trim(line.substr(0, colon)));
    std::string value(Trim(line.substr(colon + 1)));
    std::string lower;
    for (char c : name) lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    if (lower == "status") {
      if (value.size() < 3) return Status::InvalidArgument("malformed CGI Status line");
      int code = 0;
      for (int i = 0; i < 3; ++i) {
        char c = value[i];
        if (c < '0' || c > '9') return Status::InvalidArgument("malformed CGI Status line");
        code = code * 10 + (c - '0');
      }
      if (code < 100 || code > 599) return Status::InvalidArgument("CGI status out of range");
      status_ = code;
      reason_ = std::string(Trim(std::string_view(value).substr(3)));
    } else {
      headers_.emplace_back(std::move(name), std::move(value));
    }
  }
  return Status::Ok();
}

}  // namespace ag::mirror
