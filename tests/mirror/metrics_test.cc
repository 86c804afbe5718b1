#include "mirror/metrics.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

namespace ag::mirror {
namespace {

TEST(MetricsTest, RendersPrometheusText) {
  Metrics m;
  m.CountRequest("info_refs", 200);
  m.CountRequest("info_refs", 200);
  m.CountRequest("receive_pack", 401);
  m.AddBytes(10, 20);
  m.CountAuthFailure("invalid");
  m.AddInFlight(2);
  m.AddInFlight(-1);
  m.CountPush(true);
  m.AddConnections(3);
  m.AddConnections(-1);
  m.CountConnectionDropped("shed");
  m.CountConnectionDropped("shed");
  m.ObserveHookSeconds(0.2);
  m.ObserveHookSeconds(7);
  std::string text = m.Render(3);
  EXPECT_NE(text.find("agentgate_http_requests_total{route=\"info_refs\",code=\"200\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("agentgate_http_requests_total{route=\"receive_pack\",code=\"401\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("agentgate_http_request_bytes_total 10\n"), std::string::npos);
  EXPECT_NE(text.find("agentgate_http_response_bytes_total 20\n"), std::string::npos);
  EXPECT_NE(text.find("agentgate_auth_failures_total{reason=\"invalid\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("agentgate_auth_failures_total{reason=\"missing\"} 0\n"), std::string::npos);
  EXPECT_NE(text.find("agentgate_http_in_flight 1\n"), std::string::npos);
  EXPECT_NE(text.find("agentgate_pushes_total{result=\"ok\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("agentgate_http_connections 2\n"), std::string::npos);
  EXPECT_NE(text.find("agentgate_http_connections_dropped_total{reason=\"shed\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("agentgate_http_connections_dropped_total{reason=\"refused\"} 0\n"), std::string::npos);
  EXPECT_NE(text.find("agentgate_hook_duration_seconds_bucket{le=\"0.25\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("agentgate_hook_duration_seconds_bucket{le=\"10\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("agentgate_hook_duration_seconds_count 2\n"), std::string::npos);
  EXPECT_NE(text.find("agentgate_queue_depth 3\n"), std::string::npos);
}

TEST(MetricsTest, QueueDepthFromStoreOrZero) {
  char dir_template[] = "/tmp/ag-metrics-XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  std::string db = std::string(dir_template) + "/agentgate.db";
  EXPECT_EQ(QueueDepth(db), 0);  // no file
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(db.c_str(), &raw), SQLITE_OK);
  EXPECT_EQ(QueueDepth(db), 0);  // no table
  ASSERT_EQ(sqlite3_exec(raw,
                         "CREATE TABLE requests(id INTEGER PRIMARY KEY, status TEXT);"
                         "INSERT INTO requests(status) VALUES ('pending'),('pending'),('approved');",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(raw);
  EXPECT_EQ(QueueDepth(db), 2);
  unlink(db.c_str());
  rmdir(dir_template);
}

}  // namespace
}  // namespace ag::mirror
