// Fuzz target: control-socket requests as agentgate-mirror serves them
// (src/control/server.cc reads one JSON object per line, parses it, and runs
// control::HandleRequest against the store). Every command is reachable:
// list, show, approve, reject, retry, and unknown ones.
//
// Input: up to 8 lines, each one request on the same connection. Each line
// is run for two peers: root (sees every request) and "alice", a reviewer
// named in the default reviewers who sees only what she may review. The
// store holds a few requests on a real mirror repo (so `show` builds a diff
// and `approve` publishes state refs); it is restored after every input that
// changed it, so each input starts from the same state.
#include <sqlite3.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

#include "control/handlers.h"
#include "control/protocol.h"
#include "fuzz_support.h"
#include "store/requests.h"

namespace {

using ag::fuzz::Fail;
using nlohmann::json;

// A bare repo <dir>/demo.git: main (upstream's, tracked under
// refs/agentgate/upstream/heads/main) and agent/x two commits further. Dates
// are fixed, so the commit ids are the same in every run (seeds use them).
std::string MakeRepo(const ag::fuzz::TempDir& dir, std::string* base, std::string* tip) {
  const std::string repo = dir / "demo.git", work = dir / "work";
  const std::string git = "git -c user.name=Agent -c user.email=agent@example.com ";
  const std::string cmd =
      "set -e; export GIT_AUTHOR_DATE=2026-01-01T00:00:00Z GIT_COMMITTER_DATE=2026-01-01T00:00:00Z; " +
      git + "init -q --bare -b main " + repo + "; " + git + "init -q -b main " +
      work + "; cd " + work + "; printf 'readme\\n' > README; " + git + "add README; " + git +
      "commit -q -m base; " + git + "push -q " + repo + " main; git -C " + repo +
      " update-ref refs/agentgate/upstream/heads/main main; " + git +
      "checkout -q -b agent/x; printf 'hello\\n' > hello.txt; " + git + "add hello.txt; " + git +
      "commit -q -m 'add hello'; printf 'readme\\nmore\\n' > README; " + git +
      "commit -q -am 'extend readme'; " + git + "push -q " + repo + " agent/x; git -C " + repo +
      " rev-parse main > " + dir.path() + "/base; git -C " + repo + " rev-parse agent/x > " +
      dir.path() + "/tip";
  if (std::system(("(" + cmd + ") >/dev/null 2>&1").c_str()) != 0) Fail("git repo setup");
  auto read = [&](const char* name) {
    std::string s(40, '\0');
    FILE* f = std::fopen((dir / name).c_str(), "r");
    if (!f || std::fread(s.data(), 1, 40, f) != 40) Fail("rev-parse");
    std::fclose(f);
    return s;
  };
  *base = read("base");
  *tip = read("tip");
  return repo;
}

void Seed(ag::store::Db& db, ag::store::Request r) {
  {
    ag::store::Transaction tx(db);
    if (!tx.status().ok() || !ag::store::InsertRequest(db, r, 3600).ok() || !tx.Commit().ok()) {
      Fail("InsertRequest");
    }
  }
  ag::store::Transaction tx(db);
  if (!ag::store::LandRequest(db, r.repo, r.ref, r.old_oid, r.new_oid).ok() ||
      !tx.Commit().ok()) {
    Fail("LandRequest");
  }
}

struct Env {
  ag::fuzz::TempDir dir;
  std::unique_ptr<ag::store::Db> db;
  sqlite3* snapshot = nullptr;  // the seeded store, restored after each input
  int64_t clean_changes = 0;
  ag::review::ReviewSettings settings;
  ag::control::HandlerContext ctx;
  ag::control::Peer root{0, 0, 1, "root", {"root"}};
  ag::control::Peer alice{4242, 4242, 2, "alice", {"alice", "reviewers"}};

  Env() {
    std::string base, tip;
    settings.repo_paths["demo"] = MakeRepo(dir, &base, &tip);
    settings.default_reviewers.users = {"alice", "root"};
    ctx.settings = &settings;
    ctx.show.max_diff_bytes = 4096;
    auto opened = ag::store::Db::Open(dir / "agentgate.db");
    if (!opened.ok()) Fail("Db::Open");
    db = std::move(*opened);

    ag::store::Request r;
    r.repo = "demo";
    r.identity = "agent-1";
    r.method = "token";
    r.push_options_json = R"(["ci.skip"])";
    r.rules_json = R"([{"id":"workflows","outcome":"hold","message":"CI change"}])";
    r.ref = "refs/heads/agent/x";  // id 1: a branch update with a finding
    r.old_oid = base;
    r.new_oid = tip;
    r.upstream_base = base;
    r.findings_json = R"([{"rule":"aws-key","path":"hello.txt","line":1,"masked":"AKIA****"}])";
    Seed(*db, r);
    r.ref = "refs/heads/agent/new";  // id 2: a new branch, quorum 2 of a group
    r.old_oid = std::string(40, '0');
    r.upstream_base = "";
    r.quorum = 2;
    r.review_groups_json = R"(["reviewers"])";
    r.findings_json = "[]";
    Seed(*db, r);
    r.ref = "refs/heads/agent/gone";  // id 3: a deletion, reviewed by bob only
    r.old_oid = tip;
    r.new_oid = std::string(40, '0');
    r.quorum = 1;
    r.review_users_json = R"(["bob"])";
    r.review_groups_json = "[]";
    Seed(*db, r);
    if (!db->Exec("UPDATE requests SET status='failed' WHERE id=3").ok()) Fail("UPDATE");

    if (sqlite3_open(":memory:", &snapshot) != SQLITE_OK) Fail("sqlite3_open");
    Copy(db->raw(), snapshot);
    clean_changes = sqlite3_total_changes64(db->raw());
  }

  static void Copy(sqlite3* from, sqlite3* to) {
    sqlite3_backup* b = sqlite3_backup_init(to, "main", from, "main");
    if (!b || sqlite3_backup_step(b, -1) != SQLITE_DONE || sqlite3_backup_finish(b) != SQLITE_OK) {
      Fail("sqlite3_backup");
    }
  }

  void Restore() {
    if (sqlite3_total_changes64(db->raw()) == clean_changes) return;
    Copy(snapshot, db->raw());
    clean_changes = sqlite3_total_changes64(db->raw());
  }
};

void CheckResponse(const json& response) {
  if (!response.is_object() || !response.contains("ok") || !response["ok"].is_boolean()) {
    Fail("a response without \"ok\"");
  }
  if (!response["ok"].get<bool>() &&
      (!response.contains("code") || !response["code"].is_string() ||
       !response.contains("error") || !response["error"].is_string())) {
    Fail("an error response without code and error");
  }
  // What the server writes back (invalid UTF-8 replaced, never a throw).
  (void)response.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Env* env = new Env;
  auto lines = ag::fuzz::Split(ag::fuzz::AsText(data, size), '\n', 8);
  for (std::string_view line : lines) {
    json request = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (request.is_discarded()) continue;  // the server answers "not valid JSON"
    for (const ag::control::Peer* peer : {&env->alice, &env->root}) {
      CheckResponse(ag::control::HandleRequest(*env->db, env->ctx, *peer, request));
    }
  }
  env->Restore();
  return 0;
}
