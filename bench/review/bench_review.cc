// Benchmark of the review path (issue 5): fills a store with N requests
// (default 100,000; 1,000 pending, the rest in final states), serves it with
// the real ControlServer in-process, and times
//   - `agentgate list` (the real CLI binary, process start to exit), in
//     several forms;
//   - the approve round trip: one approve request over the socket, and the
//     whole `agentgate approve` (show + approve, process included).
// Prints medians and p95 in milliseconds. Not a test: built only on request
// (target review_bench), run by bench/review/run.sh.
//
//   review_bench AGENTGATE_BINARY [REQUESTS] [RUNS]
#include <sys/wait.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "control/client.h"
#include "control/server.h"
#include "store/requests.h"

namespace {

using Clock = std::chrono::steady_clock;

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

void Report(const char* what, std::vector<double> v) {
  std::sort(v.begin(), v.end());
  double median = v[v.size() / 2];
  double p95 = v[std::min(v.size() - 1, v.size() * 95 / 100)];
  std::printf("%-44s median %7.2f ms   p95 %7.2f ms   (n=%zu)\n", what, median, p95, v.size());
}

// Runs argv with stdout/stderr to /dev/null; returns wall time, or -1.
double TimeProcess(const std::vector<std::string>& args) {
  auto t0 = Clock::now();
  pid_t pid = fork();
  if (pid == 0) {
    FILE* null = std::fopen("/dev/null", "w");
    dup2(fileno(null), 1);
    dup2(fileno(null), 2);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  double ms = Ms(Clock::now() - t0);
  return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? ms : -1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: review_bench AGENTGATE_BINARY [REQUESTS] [RUNS]\n");
    return 2;
  }
  std::string bin = argv[1];
  int total = argc > 2 ? std::atoi(argv[2]) : 100000;
  int runs = argc > 3 ? std::atoi(argv[3]) : 30;
  char tmpl[] = "/tmp/ag-bench-review-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  std::string db_path = dir + "/agentgate.db";
  auto db = ag::store::Db::Open(db_path);
  if (!db.ok()) return std::fprintf(stderr, "%s\n", db.status().ToString().c_str()), 2;

  auto fill_start = Clock::now();
  const char* finals[] = {"replayed", "replayed", "replayed", "rejected", "expired", "superseded"};
  {
    ag::store::Transaction tx(**db);
    for (int i = 0; i < total; ++i) {
      ag::store::Request r;
      r.repo = i % 10 == 0 ? "other" : "demo";
      r.ref = "refs/heads/agent/task-" + std::to_string(i);
      r.old_oid = std::string(40, '0');
      char hex[41];
      std::snprintf(hex, sizeof hex, "%040x", i + 1);
      r.new_oid = hex;
      r.identity = "agent-" + std::to_string(i % 7);
      r.rules_json = R"([{"id":"workflows","outcome":"hold","message":"CI change"}])";
      r.review_users_json = R"(["root"])";
      auto id = ag::store::InsertRequest(**db, r, 72 * 3600);
      if (!id.ok()) return std::fprintf(stderr, "%s\n", id.status().ToString().c_str()), 2;
    }
    // 1% pending (what reviewers look at), the rest decided long ago.
    if (!(*db)->Exec("UPDATE requests SET status='pending' WHERE id % 100 = 0").ok()) return 2;
    for (int k = 0; k < 6; ++k) {
      std::string sql = "UPDATE requests SET status='" + std::string(finals[k]) +
                        "' WHERE status='incoming' AND id % 6 = " + std::to_string(k);
      if (!(*db)->Exec(sql).ok()) return 2;
    }
    if (!tx.Commit().ok()) return 2;
  }
  std::printf("filled %d requests in %.1f s (%s)\n", total, Ms(Clock::now() - fill_start) / 1000,
              db_path.c_str());

  std::string sock = dir + "/control.sock";
  ag::control::ControlServerOptions options;
  options.socket_path = sock;
  options.db_path = db_path;
  ag::control::ControlServer server(options, {});
  if (auto s = server.Start(); !s.ok()) return std::fprintf(stderr, "%s\n", s.ToString().c_str()), 2;

  struct Case {
    const char* name;
    std::vector<std::string> args;
  } cases[] = {
      {"agentgate list", {bin, "list", "--socket", sock}},
      {"agentgate list --json", {bin, "list", "--json", "--socket", sock}},
      {"agentgate list --status pending", {bin, "list", "--status", "pending", "--socket", sock}},
      {"agentgate list --repo other (10% of rows)", {bin, "list", "--repo", "other", "--socket", sock}},
      {"agentgate list --repo demo (90% of rows)", {bin, "list", "--repo", "demo", "--socket", sock}},
      {"agentgate list --status replayed --json", {bin, "list", "--status", "replayed", "--json", "--socket", sock}},
      {"agentgate version (process start only)", {bin, "version"}},
      // Not root: list looks through the newest 10,000 requests for the ones
      // the account may review (this one reviews none). runuser adds its start.
      {"agentgate list as an account that reviews nothing (runuser -u nobody)",
       {"/usr/sbin/runuser", "-u", "nobody", "--", bin, "list", "--socket", sock}},
      {"runuser -u nobody -- agentgate version (the runuser part)",
       {"/usr/sbin/runuser", "-u", "nobody", "--", bin, "version"}},
  };
  ::chmod(dir.c_str(), 0711);  // nobody reaches the socket (0666) through it
  for (const Case& c : cases) {
    if (c.args[0] == "/usr/sbin/runuser" && (::geteuid() != 0 || ::access(c.args[0].c_str(), X_OK) != 0)) {
      continue;  // needs root and runuser
    }
    std::vector<double> t;
    for (int i = 0; i < runs; ++i) {
      double ms = TimeProcess(c.args);
      if (ms < 0) return std::fprintf(stderr, "%s failed\n", c.name), 2;
      t.push_back(ms);
    }
    Report(c.name, t);
  }

  // Approve round trips on pending requests (ids divisible by 100).
  std::vector<double> rpc, cli;
  for (int i = 0; i < runs && (i + 1) * 200 <= total; ++i) {
    int64_t id = (i + 1) * 200;  // socket approve
    auto r = ag::store::GetRequest(**db, id);
    if (!r.ok()) return 2;
    auto t0 = Clock::now();
    auto resp = ag::control::Call(sock, {{"cmd", "approve"}, {"id", id}, {"ref", r->ref},
                                         {"old", r->old_oid}, {"new", r->new_oid}});
    rpc.push_back(Ms(Clock::now() - t0));
    if (!resp.ok() || !(*resp)["ok"].get<bool>()) {
      return std::fprintf(stderr, "approve failed: %s\n", resp.ok() ? resp->dump().c_str() : "io"), 2;
    }
    double ms = TimeProcess({bin, "approve", std::to_string(id - 100), "--socket", sock});
    if (ms < 0) return std::fprintf(stderr, "agentgate approve failed\n"), 2;
    cli.push_back(ms);
  }
  Report("approve over the socket (one request)", rpc);
  Report("agentgate approve (process, show+approve)", cli);
  server.Stop();
  if (!std::getenv("KEEP")) std::filesystem::remove_all(dir);
  else std::printf("kept %s\n", dir.c_str());
  return 0;
}
