// Prometheus counters of agentgate-mirror, rendered as text format 0.0.4 on
// GET /metrics:
//   agentgate_http_requests_total{route,code}   requests answered
//   agentgate_http_request_bytes_total          request body bytes read
//   agentgate_http_response_bytes_total         response body bytes written
//   agentgate_auth_failures_total{reason}       missing / invalid / forbidden /
//                                               unavailable (OIDC keys: 503) / error
//   agentgate_oidc_fetches_total{issuer,result} discovery + JWKS fetches: ok / error
//   agentgate_http_in_flight                    git requests being served
//   agentgate_http_connections                  open client connections
//   agentgate_http_connections_dropped_total{reason}
//                                               refused / shed / header_timeout /
//                                               no_descriptors (docs/mirror.md)
//   agentgate_pushes_total{result}              receive-pack requests: ok / error
//   agentgate_hook_duration_seconds             histogram of receive-pack child run time
//                                               (index-pack plus the hooks)
//   agentgate_queue_depth                       pending requests in the store
//
// Thread-safety: every method may be called from any thread (one mutex).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

namespace ag::mirror {

class Metrics {
 public:
  void CountRequest(std::string_view route, int code);
  void AddBytes(uint64_t in, uint64_t out);
  void CountAuthFailure(std::string_view reason);
  void AddInFlight(int delta);
  void AddConnections(int delta);
  // `reason`: one of kDropReasons.
  void CountConnectionDropped(std::string_view reason);
  static constexpr const char* kDropReasons[] = {"refused", "shed", "header_timeout",
                                                 "no_descriptors"};
  void CountPush(bool ok);
  void CountOidcFetch(std::string_view issuer, bool ok);
  void ObserveHookSeconds(double seconds);

  // The exposition text; `queue_depth` comes from QueueDepth().
  std::string Render(int64_t queue_depth) const;

 private:
  static constexpr double kBuckets[] = {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300};
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;  // GUARDED_BY(mu_)
  std::map<std::string, uint64_t> auth_failures_;             // GUARDED_BY(mu_)
  std::map<std::string, uint64_t> pushes_;                    // GUARDED_BY(mu_)
  std::map<std::pair<std::string, bool>, uint64_t> oidc_fetches_;  // GUARDED_BY(mu_)
  uint64_t bytes_in_ = 0, bytes_out_ = 0;                     // GUARDED_BY(mu_)
  int64_t in_flight_ = 0;                                     // GUARDED_BY(mu_)
  int64_t connections_ = 0;                                   // GUARDED_BY(mu_)
  std::map<std::string, uint64_t> dropped_;                   // GUARDED_BY(mu_)
  uint64_t hook_buckets_[std::size(kBuckets)] = {};           // GUARDED_BY(mu_)
  uint64_t hook_count_ = 0;                                   // GUARDED_BY(mu_)
  double hook_sum_ = 0;                                       // GUARDED_BY(mu_)
};

// `SELECT count(*) FROM requests WHERE status='pending'` on the store at
// `db_path`, read-only. 0 when the file or the table does not exist (the
// store is optional for the server). Blocking: call off the network thread.
int64_t QueueDepth(const std::string& db_path);

}  // namespace ag::mirror
