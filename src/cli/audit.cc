// `agentgate audit verify|export|show|prune|anchor`: the audit log for
// operators and auditors. See docs/audit.md and docs/cli.md.
//
// The database comes from --db, else from the config (--config FILE, else
// $AGENTGATE_CONFIG, else /etc/agentgate/agentgate.yaml). verify, export and
// show open it read-only; prune and anchor need the daemon's account.
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <optional>

#include "audit/anchor.h"
#include "audit/config_source.h"
#include "audit/export.h"
#include "audit/prune.h"
#include "audit/story.h"
#include "audit/time_spec.h"
#include "cli/command.h"
#include "store/db.h"
#include "util/file.h"
#include "util/log.h"
#include "util/signed_env.h"
#include "util/time.h"

namespace ag::cli {
namespace {

struct Common {
  std::string config;
  std::string db;
};

struct Paths {
  std::string db;
  std::string data_dir;
  std::string key;
  std::shared_ptr<const config::Config> config;  // null with --db alone
};

std::string Dirname(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// --db alone: the data dir is the DB's folder. With a config (needed by
// prune for its repos, or given with --config) the data dir, key and DB come
// from it, and --db still overrides the DB file.
Result<Paths> ResolvePaths(const Common& c, bool need_config) {
  Paths p;
  if (need_config || !c.config.empty() || c.db.empty()) {
    AG_ASSIGN_OR_RETURN(p.config, audit::LoadOpsConfig(c.config));
    p.db = p.config->db_path();
    p.data_dir = p.config->data_dir;
    p.key = p.config->key_path();
  }
  if (!c.db.empty()) {
    p.db = c.db;
    if (!p.config) {
      p.data_dir = Dirname(c.db);
      p.key = p.data_dir + "/server.key";
    }
  }
  return p;
}

// The server key when its file exists; empty when it does not.
Result<std::string> KeyIfPresent(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return std::string();
    return ErrnoStatus("cannot read the server key " + path);
  }
  return LoadOrCreateServerKey(path);
}

Result<std::unique_ptr<store::Db>> OpenDb(const std::string& path, bool read_only) {
  store::DbOptions o;
  o.read_only = read_only;
  o.create = false;
  return store::Db::Open(path, o);
}

std::string UnixUser() {
  struct passwd* pw = ::getpwuid(::geteuid());
  return pw != nullptr ? pw->pw_name : "uid:" + std::to_string(::geteuid());
}

int Fail(const Status& st) {
  std::fprintf(stderr, "agentgate audit: %s\n", st.message().c_str());
  return kExitError;
}

int Verify(const Common& c, const std::string& expect) {
  Result<Paths> p = ResolvePaths(c, false);
  if (!p.ok()) return Fail(p.status());
  audit::VerifyOptions vo;
  vo.anchor_path = audit::AnchorPath(p->data_dir);
  Result<std::string> key = KeyIfPresent(p->key);
  if (!key.ok()) return Fail(key.status());
  vo.key = *key;
  if (!expect.empty()) {
    Result<audit::ChainHead> h = audit::ParseHead(expect);
    if (!h.ok()) return Fail(h.status());
    vo.expected = *h;
  }
  Result<std::unique_ptr<store::Db>> db = OpenDb(p->db, true);
  if (!db.ok()) return Fail(db.status());
  Result<audit::ChainReport> r = audit::VerifyChain(**db, vo);
  if (!r.ok()) return Fail(r.status());
  if (!r->intact) {
    std::printf("audit chain BROKEN at row %lld: %s\n",
                static_cast<long long>(r->first_broken_seq.value_or(0)), r->reason.c_str());
    return kExitRefused;
  }
  std::printf("audit chain intact: %lld rows (head %s)\n", static_cast<long long>(r->rows),
              r->head.seq == 0 ? "empty"
                               : (std::to_string(r->head.seq) + ":" + r->head.hash.substr(0, 12)).c_str());
  if (r->anchor) {
    std::printf("anchor: row %lld reached, anchored %s\n", static_cast<long long>(r->anchor->seq),
                IsoUtc(r->anchor->at).c_str());
  }
  if (vo.expected) std::printf("expected head %s reached\n", expect.c_str());
  if (!r->notes.empty()) std::fprintf(stderr, "warning: %s\n", r->notes.c_str());
  return kExitOk;
}

int Export(const Common& c, const std::string& since, const std::string& repo, int64_t after,
           const std::string& output) {
  Result<Paths> p = ResolvePaths(c, false);
  if (!p.ok()) return Fail(p.status());
  audit::ExportOptions eo;
  eo.repo = repo;
  eo.after_seq = after;
  if (!since.empty()) {
    Result<int64_t> t = audit::ParseTimeSpec(since, store::NowSeconds());
    if (!t.ok()) return Fail(t.status());
    eo.since = *t;
  }
  Result<std::unique_ptr<store::Db>> db = OpenDb(p->db, true);
  if (!db.ok()) return Fail(db.status());
  std::ofstream file;
  std::ostream* out = &std::cout;
  if (!output.empty() && output != "-") {
    file.open(output, std::ios::out | std::ios::trunc);
    if (!file) return Fail(ErrnoStatus("cannot write " + output));
    out = &file;
  }
  std::ios::sync_with_stdio(false);
  Result<int64_t> n = audit::ExportAudit(**db, eo, *out);
  if (!n.ok()) return Fail(n.status());
  std::fprintf(stderr, "exported %lld rows\n", static_cast<long long>(*n));
  return kExitOk;
}

int Show(const Common& c, int64_t id, bool json) {
  Result<Paths> p = ResolvePaths(c, false);
  if (!p.ok()) return Fail(p.status());
  Result<std::unique_ptr<store::Db>> db = OpenDb(p->db, true);
  if (!db.ok()) return Fail(db.status());
  Result<audit::Story> s = audit::LoadStory(**db, id);
  if (!s.ok()) {
    if (s.status().code() == Code::kNotFound) {
      std::fprintf(stderr, "agentgate audit: no request %lld\n", static_cast<long long>(id));
      return kExitError;
    }
    return Fail(s.status());
  }
  if (json) {
    std::printf("%s\n", audit::StoryJson(*s).dump(2, ' ', false,
                                                  nlohmann::json::error_handler_t::replace).c_str());
  } else {
    std::fputs(audit::RenderStoryText(*s).c_str(), stdout);
  }
  return kExitOk;
}

int Prune(const Common& c, const std::string& older_than, const std::string& repo, bool dry_run) {
  Result<int64_t> age = audit::ParseDuration(older_than);
  if (!age.ok()) return Fail(age.status());
  Result<Paths> p = ResolvePaths(c, true);
  if (!p.ok()) return Fail(p.status());
  std::vector<audit::PruneTarget> targets;
  for (const config::RepoConfig& r : p->config->repos) {
    if (!repo.empty() && r.name != repo) continue;
    targets.push_back({r.name, audit::RepoPath(*p->config, r)});
  }
  if (!repo.empty() && targets.empty()) {
    return Fail(Status::NotFound("no repo '" + repo + "' in the config"));
  }
  Result<std::unique_ptr<store::Db>> db = OpenDb(p->db, dry_run);
  if (!db.ok()) return Fail(db.status());
  audit::PruneOptions po;
  po.cutoff = store::NowSeconds() - *age;
  po.actor = UnixUser();
  po.dry_run = dry_run;
  Result<std::vector<audit::PrunedRepo>> out = audit::PruneRequests(**db, targets, po);
  if (!out.ok()) return Fail(out.status());
  bool any_error = false;
  for (const audit::PrunedRepo& r : *out) {
    std::printf("%s: %s%zu request(s), %d ref(s)%s\n", r.repo.c_str(),
                dry_run ? "would prune " : "pruned ", r.ids.size(), r.refs_deleted,
                r.audit_seq ? (", audit row " + std::to_string(r.audit_seq)).c_str() : "");
    if (!r.error.empty()) {
      any_error = true;
      std::fprintf(stderr, "agentgate audit: %s: %s\n", r.repo.c_str(), r.error.c_str());
    }
    LogInfo("audit.prune", {{"repo", r.repo}, {"requests", std::to_string(r.ids.size())},
                            {"refs", std::to_string(r.refs_deleted)},
                            {"cutoff", IsoUtc(po.cutoff)},
                            {"dry_run", dry_run ? "true" : "false"}});
  }
  std::printf("cutoff %s; run 'git gc' in the mirror repos to drop unreachable objects\n",
              IsoUtc(po.cutoff).c_str());
  return any_error ? kExitError : kExitOk;
}

int AnchorCmd(const Common& c) {
  Result<Paths> p = ResolvePaths(c, false);
  if (!p.ok()) return Fail(p.status());
  Result<std::string> key = LoadOrCreateServerKey(p->key);
  if (!key.ok()) return Fail(key.status());
  Result<std::unique_ptr<store::Db>> db = OpenDb(p->db, true);
  if (!db.ok()) return Fail(db.status());
  Result<audit::Anchor> a =
      audit::WriteAnchor(**db, audit::AnchorPath(p->data_dir), *key, store::NowSeconds());
  if (!a.ok()) {
    LogError("audit.anchor_refused", {{"error", a.status().message()}});
    std::fprintf(stderr, "agentgate audit: %s\n", a.status().message().c_str());
    return a.status().code() == Code::kFailedPrecondition ? kExitRefused : kExitError;
  }
  // The journal keeps this line out of the daemon's reach: a copy of the head.
  LogInfo("audit.anchor", {{"seq", std::to_string(a->seq)}, {"hash", a->hash}});
  std::printf("anchored row %lld (%s)\n", static_cast<long long>(a->seq), a->hash.c_str());
  return kExitOk;
}

int RunAudit(int argc, char** argv) {
  CLI::App app{"The tamper-evident audit log: verify, export, show, prune, anchor.",
               "agentgate audit"};
  app.require_subcommand(1);
  Common c;
  app.add_option("--config", c.config,
                 "config file (default $AGENTGATE_CONFIG, else /etc/agentgate/agentgate.yaml)");
  app.add_option("--db", c.db, "the database file (overrides the config's data_dir)");

  std::string expect;
  CLI::App* verify = app.add_subcommand(
      "verify", "check the hash chain and the anchor; exit 1 names the first broken row");
  verify->add_option("--expect-head", expect,
                     "SEQ:HASH kept elsewhere (journal, SIEM): the chain must still reach it");

  std::string since, repo, output;
  int64_t after = 0;
  CLI::App* exp = app.add_subcommand("export", "write the rows as JSON Lines (for a SIEM)");
  exp->add_option("--since", since, "rows at or after T: ISO 8601 (2026-01-02T03:04:05Z) or a "
                                    "duration back from now (24h, 7d)");
  exp->add_option("--repo", repo, "rows of this repo only");
  exp->add_option("--after-seq", after, "rows after this seq only (incremental export)");
  exp->add_option("-o,--output", output, "write to FILE instead of stdout");

  int64_t id = 0;
  bool json = false;
  CLI::App* show = app.add_subcommand("show", "the whole story of one request, in time order");
  show->add_option("ID", id, "request id")->required();
  show->add_flag("--json", json, "one JSON object instead of text");

  std::string older_than, prune_repo;
  bool dry_run = false;
  CLI::App* prune = app.add_subcommand(
      "prune", "retention: unpin old finished requests' objects; audit rows stay");
  prune->add_option("--older-than", older_than,
                    "finished requests last changed longer ago than this (e.g. 90d)")
      ->required();
  prune->add_option("--repo", prune_repo, "this repo only");
  prune->add_flag("--dry-run", dry_run, "say what would be pruned; change nothing");

  CLI::App* anchor = app.add_subcommand(
      "anchor", "record the chain head in <data_dir>/audit.anchor (signed with the server key)");

  for (CLI::App* sub : {verify, exp, show, prune, anchor}) {
    sub->add_option("--config", c.config, "config file");
    sub->add_option("--db", c.db, "the database file");
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? kExitOk : kExitError;
  }
  if (verify->parsed()) return Verify(c, expect);
  if (exp->parsed()) return Export(c, since, repo, after, output);
  if (show->parsed()) return Show(c, id, json);
  if (prune->parsed()) return Prune(c, older_than, prune_repo, dry_run);
  return AnchorCmd(c);
}

}  // namespace
AG_REGISTER_COMMAND(audit, "audit", "verify, export, show, prune and anchor the audit log",
                    RunAudit);
}  // namespace ag::cli
