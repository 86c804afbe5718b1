// The CGI side of git http-backend: the child's environment, built from
// scratch (nothing a client sends can set AGENTGATE_* or REMOTE_USER), and an
// incremental parser for the header block the child writes before its body.
//
// Thread-safety: BuildCgiEnv is pure. A CgiHeaderParser is used by one
// request at a time.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config.h"
#include "identity/identity.h"
#include "mirror/routes.h"
#include "util/status.h"

namespace ag::mirror {

struct CgiRequest {
  std::string method;                      // "GET" / "POST"
  const RouteMatch* route = nullptr;       // REQUIRES: route->IsGit()
  std::string content_type;                // Content-Type as sent
  // Only when the client sent one and the body is passed on as sent (not
  // chunked, not gzip: the mirror inflates those, mirror/inflate.h).
  std::optional<uint64_t> content_length;
  std::string git_protocol;                // Git-Protocol header ("version=2")
  std::string remote_addr;
  std::string request_id;
  const identity::Identity* identity = nullptr;  // the authenticated caller
};

// The complete environment for one http-backend child. `config_path` is the
// absolute path of the loaded config; `server_key` the raw HMAC key;
// `inherited_path` / `inherited_home` are the daemon's own PATH and HOME
// (admin-controlled; may be empty).
std::map<std::string, std::string> BuildCgiEnv(const CgiRequest& request,
                                               const config::Config& config,
                                               const std::string& config_path,
                                               const std::string& server_key,
                                               const std::string& inherited_path,
                                               const std::string& inherited_home);

// Keeps only characters safe in a header-derived variable; "" if anything else.
std::string SanitizeHeaderValue(std::string_view value, size_t max_len = 256);

// Parses "Name: value\r\n" lines up to the empty line. A "Status: 404 Not
// Found" line sets the status (200 when absent) wherever it appears.
class CgiHeaderParser {
 public:
  static constexpr size_t kMaxHeaderBytes = 64 << 10;

  // Feeds bytes. Returns how many of them belong to the header block; once
  // done() the rest of the data is body. Errors: InvalidArgument for a header
  // block past kMaxHeaderBytes or a malformed Status line.
  Result<size_t> Feed(std::string_view data);

  bool done() const { return done_; }
  int status() const { return status_; }
  std::string_view reason() const { return reason_; }
  // Headers other than Status, in order.
  const std::vector<std::pair<std::string, std::string>>& headers() const { return headers_; }

 private:
  Status ParseBlock();
  std::string block_;
  bool done_ = false;
  int status_ = 200;
  std::string reason_;
  std::vector<std::pair<std::string, std::string>> headers_;
};

}  // namespace ag::mirror
