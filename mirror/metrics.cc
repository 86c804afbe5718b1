#include "mirror/metrics.h"

#include <sqlite3.h>
#include <unistd.h>

#include <cstdio>
#include <memory>

namespace ag::mirror {

void Metrics::CountRequest(std::string_view route, int code) {
  std::lock_guard<std::mutex> lock(mu_);
  ++requests_[{std::string(route), code}];
}

void Metrics::AddBytes(uint64_t in, uint64_t out) {
  std::lock_guard<std::mutex> lock(mu_);
  bytes_in_ += in;
  bytes_out_ += out;
}

void Metrics::CountAuthFailure(std::string_view reason) {
  std::lock_guard<std::mutex> lock(mu_);
  ++auth_failures_[std::string(reason)];
}

void Metrics::AddInFlight(int delta) {
  std::lock_guard<std::mutex> lock(mu_);
  in_flight_ += delta;
}

void Metrics::AddConnections(int delta) {
  std::lock_guard<std::mutex> lock(mu_);
  connections_ += delta;
}

void Metrics::CountConnectionDropped(std::string_view reason) {
  std::lock_guard<std::mutex> lock(mu_);
  ++dropped_[std::string(reason)];
}

void Metrics::CountPush(bool ok) {
  std::lock_guard<std::mutex> lock(mu_);
  ++pushes_[ok ? "ok" : "error"];
}

void Metrics::CountOidcFetch(std::string_view issuer, bool ok) {
  std::lock_guard<std::mutex> lock(mu_);
  ++oidc_fetches_[{std::string(issuer), ok}];
}

void Metrics::ObserveHookSeconds(double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  for (size_t i = 0; i < std::size(kBuckets); ++i) {
    if (seconds <= kBuckets[i]) ++hook_buckets_[i];
  }
  ++hook_count_;
  hook_sum_ += seconds;
}

std::string Metrics::Render(int64_t queue_depth) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  char line[256];
  out += "# HELP agentgate_http_requests_total HTTP requests answered, by route and status code.\n";
  out += "# TYPE agentgate_http_requests_total counter\n";
  for (const auto& [key, n] : requests_) {
    std::snprintf(line, sizeof line, "agentgate_http_requests_total{route=\"%s\",code=\"%d\"} %llu\n",
                  key.first.c_str(), key.second, static_cast<unsigned long long>(n));
    out += line;
  }
  out += "# HELP agentgate_http_request_bytes_total Request body bytes read.\n";
  out += "# TYPE agentgate_http_request_bytes_total counter\n";
  out += "agentgate_http_request_bytes_total " + std::to_string(bytes_in_) + "\n";
  out += "# HELP agentgate_http_response_bytes_total Response body bytes written.\n";
  out += "# TYPE agentgate_http_response_bytes_total counter\n";
  out += "agentgate_http_response_bytes_total " + std::to_string(bytes_out_) + "\n";
  out += "# HELP agentgate_auth_failures_total Refused authentications, by reason.\n";
  out += "# TYPE agentgate_auth_failures_total counter\n";
  for (const char* reason : {"missing", "invalid", "forbidden", "unavailable", "error"}) {
    auto it = auth_failures_.find(reason);
    out += std::string("agentgate_auth_failures_total{reason=\"") + reason + "\"} " +
           std::to_string(it == auth_failures_.end() ? 0 : it->second) + "\n";
  }
  out += "# HELP agentgate_oidc_fetches_total OIDC discovery and JWKS fetches, by issuer and result.\n";
  out += "# TYPE agentgate_oidc_fetches_total counter\n";
  for (const auto& [key, n] : oidc_fetches_) {
    // Issuers are configured https:// URLs; quotes and backslashes escaped all the same.
    std::string issuer;
    for (char c : key.first) {
      if (c == '"' || c == '\\') issuer += '\\';
      if (c != '\n') issuer += c;
    }
    out += "agentgate_oidc_fetches_total{issuer=\"" + issuer + "\",result=\"" +
           (key.second ? "ok" : "error") + "\"} " + std::to_string(n) + "\n";
  }
  out += "# HELP agentgate_http_in_flight Git requests being served.\n";
  out += "# TYPE agentgate_http_in_flight gauge\n";
  out += "agentgate_http_in_flight " + std::to_string(in_flight_) + "\n";
  out += "# HELP agentgate_http_connections Open client connections.\n";
  out += "# TYPE agentgate_http_connections gauge\n";
  out += "agentgate_http_connections " + std::to_string(connections_) + "\n";
  out += "# HELP agentgate_http_connections_dropped_total Connections closed by the starvation limits.\n";
  out += "# TYPE agentgate_http_connections_dropped_total counter\n";
  for (const char* reason : kDropReasons) {
    auto it = dropped_.find(reason);
    out += std::string("agentgate_http_connections_dropped_total{reason=\"") + reason + "\"} " +
           std::to_string(it == dropped_.end() ? 0 : it->second) + "\n";
  }
  out += "# HELP agentgate_pushes_total receive-pack requests, by result of the backend.\n";
  out += "# TYPE agentgate_pushes_total counter\n";
  for (const char* result : {"ok", "error"}) {
    auto it = pushes_.find(result);
    out += std::string("agentgate_pushes_total{result=\"") + result + "\"} " +
           std::to_string(it == pushes_.end() ? 0 : it->second) + "\n";
  }
  out += "# HELP agentgate_hook_duration_seconds Run time of receive-pack children (pack indexing and hooks).\n";
  out += "# TYPE agentgate_hook_duration_seconds histogram\n";
  for (size_t i = 0; i < std::size(kBuckets); ++i) {
    std::snprintf(line, sizeof line, "agentgate_hook_duration_seconds_bucket{le=\"%g\"} %llu\n",
                  kBuckets[i], static_cast<unsigned long long>(hook_buckets_[i]));
    out += line;
  }
  out += "agentgate_hook_duration_seconds_bucket{le=\"+Inf\"} " + std::to_string(hook_count_) + "\n";
  std::snprintf(line, sizeof line, "agentgate_hook_duration_seconds_sum %.6f\n", hook_sum_);
  out += line;
  out += "agentgate_hook_duration_seconds_count " + std::to_string(hook_count_) + "\n";
  out += "# HELP agentgate_queue_depth Pushes waiting for review.\n";
  out += "# TYPE agentgate_queue_depth gauge\n";
  out += "agentgate_queue_depth " + std::to_string(queue_depth) + "\n";
  return out;
}

int64_t QueueDepth(const std::string& db_path) {
  if (::access(db_path.c_str(), R_OK) != 0) return 0;
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(db_path.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr);
  std::unique_ptr<sqlite3, decltype(&sqlite3_close)> db(raw, &sqlite3_close);
  if (rc != SQLITE_OK) return 0;
  sqlite3_busy_timeout(db.get(), 200);
  sqlite3_stmt* stmt_raw = nullptr;
  rc = sqlite3_prepare_v2(db.get(), "SELECT count(*) FROM requests WHERE status='pending'", -1,
                          &stmt_raw, nullptr);
  std::unique_ptr<sqlite3_stmt, decltype(&sqlite3_finalize)> stmt(stmt_raw, &sqlite3_finalize);
  if (rc != SQLITE_OK) return 0;  // no table yet
  if (sqlite3_step(stmt.get()) != SQLITE_ROW) return 0;
  return sqlite3_column_int64(stmt.get(), 0);
}

}  // namespace ag::mirror
