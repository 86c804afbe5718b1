// A bounded HTTPS GET with libcurl, for OIDC discovery documents and JWKS.
// TLS verification is always on; only https:// URLs (and redirects to them)
// are followed; the response size and the time are bounded.
//
// Thread-safety: safe from any thread (one curl handle per call).
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "util/status.h"

namespace ag::identity {

struct HttpsGetOptions {
  std::string ca_file;                              // CA bundle (PEM); empty = system store
  std::chrono::milliseconds connect_timeout{5000};  // TCP + TLS handshake
  std::chrono::milliseconds timeout{10000};         // whole transfer
  size_t max_bytes = 1u << 20;                      // response body limit (1 MiB)
  int max_redirects = 3;                            // https -> https only
  // When set, the transfer stops (Unavailable "aborted") soon after *abort
  // turns true (checked about every second, and on each chunk received).
  const std::atomic<bool>* abort = nullptr;
};

// Returns the body of a 200 response. Unavailable for network/TLS errors and
// other status codes, ResourceExhausted past max_bytes, InvalidArgument for a
// URL that is not https://.
Result<std::string> HttpsGet(const std::string& url, const HttpsGetOptions& options);

// Added after the first version: one request with a body, for APIs (the
// GitHub App token endpoint). Every status code is returned (the caller
// names the failure); Unavailable only when no response came.
struct HttpsResponse {
  long status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names; the last value of each
};
Result<HttpsResponse> HttpsPost(const std::string& url, const std::vector<std::string>& headers,
                                const std::string& body, const HttpsGetOptions& options);

}  // namespace ag::identity
