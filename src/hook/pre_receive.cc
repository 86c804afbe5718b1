#include <algorithm>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>

#include "check/check.h"
#include "git/git.h"
#include "hook/context.h"
#include "hook/hook.h"
#include "hook/trailers.h"
#include "policy/policy.h"
#include "scan/scanner.h"
#include "store/audit.h"
#include "store/freezes.h"
#include "store/requests.h"
#include "util/log.h"
#include "util/utf8.h"

namespace ag::hook {
namespace {

using nlohmann::json;

void Say(FILE* out, const std::string& line) { std::fprintf(out, "agentgate: %s\n", line.c_str()); }

// A push refused after it was judged because something moved meanwhile (a
// concurrent push won the ref, a rejection came): the refusal is a decision
// of the gate too, audited in a transaction of its own.
void AuditOvertaken(store::Db& db, const HookContext& ctx, const std::vector<git::RefUpdate>& updates,
                    const Status& why, const char* kind = "push.overtaken") {
  json refs = json::array();
  for (const git::RefUpdate& u : updates) refs.push_back({{"ref", u.ref_name}, {"old", u.old_oid}, {"new", u.new_oid}});
  store::AuditEvent e;
  e.kind = kind;
  e.actor = ctx.identity;
  e.repo = ctx.repo->name;
  e.data_json = json({{"updates", refs}, {"reason", why.message()}, {"http_request_id", ctx.http_request_id}}).dump();
  Result<int64_t> seq = store::AppendAudit(db, e);
  if (!seq.ok()) LogWarn("push.overtaken_not_audited", {{"repo", ctx.repo->name}, {"error", seq.status().message()}});
}

int Refuse(FILE* out, const Status& why) {
  Say(out, "push refused: " + why.message());
  Say(out, "nothing was accepted; fix the cause above and push again");
  json j = {{"outcome", "block"}, {"error", why.message()}};
  Say(out, j.dump());
  return 1;
}

// Push options the agent sent (`git push -o ...`). A value that holds a
// secret is stored masked; *raw receives them as sent, for the check.
Result<std::vector<std::string>> PushOptions(const HookOptions& options,
                                             const HookInvocation& inv,
                                             const scan::Scanner& scanner,
                                             std::vector<std::string>* raw) {
  std::vector<std::string> out;
  auto env = [&inv](const std::string& name) -> const std::string* {
    auto it = inv.env.find(name);
    return it == inv.env.end() ? nullptr : &it->second;
  };
  const std::string* count_env = env("GIT_PUSH_OPTION_COUNT");
  if (!count_env) return out;
  long count = std::strtol(count_env->c_str(), nullptr, 10);
  if (count < 0 || static_cast<size_t>(count) > options.max_push_options) {
    return Status::ResourceExhausted("more than " + std::to_string(options.max_push_options) +
                                     " push options");
  }
  for (long i = 0; i < count; ++i) {
    const std::string* v = env("GIT_PUSH_OPTION_" + std::to_string(i));
    std::string value = v ? *v : "";
    if (value.size() > options.max_push_option_bytes) {
      return Status::ResourceExhausted("a push option is longer than " +
                                       std::to_string(options.max_push_option_bytes) + " bytes");
    }
    if (!IsUtf8(value)) return Status::InvalidArgument("push option " + std::to_string(i) + " is not UTF-8");
    raw->push_back(value);
    std::vector<scan::Finding> found;
    std::vector<scan::SkipNote> skipped;
    Status s = scanner.ScanText("push-option", value, &found, &skipped);
    if (!s.ok() || !found.empty() || !skipped.empty()) value = scan::Mask(value);
    out.push_back(std::move(value));
  }
  return out;
}

// A JSON array of commit ids (hex: nothing to escape), built directly: a
// range can hold 10,000 of them and nlohmann's tree would cost ~2 ms.
std::string OidList(const std::vector<std::string>& oids) {
  std::string out = "[";
  out.reserve(2 + oids.size() * 43);
  for (size_t i = 0; i < oids.size(); ++i) {
    if (i) out += ',';
    out += '"';
    out += oids[i];
    out += '"';
  }
  out += ']';
  return out;
}

json ViolationJson(const check::Violation& v) {
  json j = {{"rule", v.rule_id}, {"outcome", policy::OutcomeName(v.outcome)}, {"message", v.message}};
  if (!v.path.empty()) j["path"] = v.path;
  if (v.line > 0) j["line"] = v.line;
  if (!v.commit.empty()) j["commit"] = v.commit;
  if (!v.detail.empty()) j["detail"] = v.detail;
  return j;
}

json FindingJson(const scan::Finding& f) {
  json j = {{"rule", f.rule_id}, {"path", f.path},       {"line", f.line},
            {"column", f.column}, {"masked", f.masked}, {"fingerprint", f.fingerprint},
            {"commit", f.commit}};
  if (f.checksum != scan::Finding::Checksum::kNone)
    j["checksum"] = f.checksum == scan::Finding::Checksum::kValid ? "valid" : "invalid";
  if (!f.encoding.empty()) j["encoding"] = f.encoding;
  return j;
}

std::string UpstreamRefFor(const std::string& ref) {
  static constexpr std::string_view kHeads = "refs/heads/";
  static constexpr std::string_view kTags = "refs/tags/";
  if (ref.rfind(kHeads, 0) == 0) return "refs/agentgate/upstream/heads/" + ref.substr(kHeads.size());
  if (ref.rfind(kTags, 0) == 0) return "refs/agentgate/upstream/tags/" + ref.substr(kTags.size());
  return "";
}

void Report(FILE* out, const check::RefDecision& d, const std::optional<int64_t>& request,
            size_t max_lines) {
  const std::string& ref = d.update.ref_name;
  std::string rules;
  for (const std::string& r : d.rules) rules += (rules.empty() ? "" : ", ") + r;
  switch (d.outcome) {
    case policy::Outcome::kBlock:
      Say(out, ref + ": BLOCKED by " + rules);
      break;
    case policy::Outcome::kHold:
      if (!request) {
        Say(out, ref + ": would be held for review (" + rules + "), but the push is refused");
        break;
      }
      // The ref has not moved yet: git updates it after this hook, and a
      // concurrent push may win the race (post-receive confirms).
      Say(out, ref + ": checked; will be held for review as request " +
                   std::to_string(request.value_or(0)) + " (" + rules + ") once the ref update lands");
      break;
    case policy::Outcome::kAllow:
      if (!request) {
        Say(out, ref + ": would be auto-approved (" + rules + "), but the push is refused");
        break;
      }
      Say(out, ref + ": checked; will be auto-approved by rule " + rules + " as request " +
                   std::to_string(request.value_or(0)) + " once the ref update lands");
      break;
  }
  size_t shown = 0;
  for (const check::Violation& v : d.violations) {
    if (v.outcome == policy::Outcome::kAllow) continue;
    if (shown++ >= max_lines) continue;
    std::string where = v.path.empty() ? "" : " " + v.path + (v.line > 0 ? ":" + std::to_string(v.line) : "");
    std::string commit = v.commit.empty() ? "" : " in " + v.commit.substr(0, 12);
    Say(out, "  [" + std::string(policy::OutcomeName(v.outcome)) + " " + v.rule_id + "]" + where +
                 commit + (v.detail.empty() ? "" : ": " + v.detail));
    Say(out, "      " + v.message);
  }
  if (shown > max_lines) Say(out, "  ... and " + std::to_string(shown - max_lines) + " more");
  for (const scan::SkipNote& n : d.notes) Say(out, "  note: " + n.path + ": " + n.reason);
  json machine = {{"ref", ref},
                  {"outcome", policy::OutcomeName(d.outcome)},
                  {"request", request ? json(*request) : json(nullptr)},
                  {"rules", d.rules},
                  {"violations", json::array()},
                  {"findings", json::array()}};
  size_t n = 0;
  for (const check::Violation& v : d.violations) {
    if (n++ < max_lines) machine["violations"].push_back(ViolationJson(v));
  }
  n = 0;
  for (const scan::Finding& f : d.findings) {
    if (n++ < max_lines) machine["findings"].push_back(FindingJson(f));
  }
  Say(out, machine.dump());
}

}  // namespace

int RunPreReceive(const HookOptions& options, std::string_view input, FILE* out) {
  HookCache cache;
  return RunPreReceiveWith(options, CurrentInvocation(), input, out, &cache);
}

int RunPreReceiveWith(const HookOptions& options, const HookInvocation& invocation,
                      std::string_view input, FILE* out, HookCache* cache) {
  Result<HookContext> ctx_or = LoadHookContext(options, invocation, cache);
  if (!ctx_or.ok()) return Refuse(out, ctx_or.status());
  HookContext& ctx = *ctx_or;

  Result<std::vector<git::RefUpdate>> updates = git::ParseRefUpdates(input, options.max_ref_updates);
  if (!updates.ok()) return Refuse(out, updates.status());
  if (updates->empty()) return 0;

  Result<HookCache::Rules> rules = cache->PolicyAndScanner(ctx.config->policy_path, ctx.server_key);
  if (!rules.ok()) return Refuse(out, rules.status());
  const policy::Policy& pol = *rules->policy;
  const std::shared_ptr<const scan::Scanner> scanner = rules->scanner;

  std::vector<std::string> raw_push_options;
  Result<std::vector<std::string>> push_options =
      PushOptions(options, invocation, *scanner, &raw_push_options);
  if (!push_options.ok()) return Refuse(out, push_options.status());

  git::OdbPtr existing_objects;
  Result<git::RepoPtr> repo = OpenPushedRepo(ctx, invocation, &existing_objects);
  if (!repo.ok()) return Refuse(out, repo.status());

  Result<std::unique_ptr<store::Db>> opened = cache->TakeDb(ctx.config->db_path());
  if (!opened.ok()) return Refuse(out, opened.status().WithContext("the decision cannot be recorded"));
  PooledDb db(cache, std::move(*opened));

  check::PushContext push{ctx.repo->name, ctx.identity, ctx.groups};
  check::CheckOptions check_options;
  check_options.inspect.max_diff_blob_bytes = pol.secrets.max_blob_bytes;
  check_options.inspect.existing_objects = existing_objects.get();
  PushCommitCache commit_cache(cache->commit_results(), &*db, rules->check_version);
  check_options.cache = &commit_cache;
  check_options.push_options = std::move(raw_push_options);
  Result<std::unordered_map<std::string, int64_t>> rejected = store::RejectedCommits(*db, ctx.repo->name);
  if (!rejected.ok()) return Refuse(out, rejected.status().WithContext("rejected requests cannot be read"));
  check_options.rejected_commits = std::move(*rejected);
  Result<std::vector<check::RefDecision>> decisions =
      check::CheckPush(repo->get(), pol, *scanner, push, *updates, check_options);
  if (!decisions.ok()) return Refuse(out, decisions.status().WithContext("the push could not be checked"));

  bool blocked = std::any_of(decisions->begin(), decisions->end(), [](const check::RefDecision& d) {
    return d.outcome == policy::Outcome::kBlock;
  });

  // What the agent said it was doing in its commits (hook/trailers.h), read
  // before the store's write lock is taken.
  std::vector<json> trailers(decisions->size(), json::array());
  for (size_t i = 0; i < decisions->size(); ++i) {
    Result<std::vector<Trailer>> t = CollectTrailers(repo->get(), (*decisions)[i].commits, *scanner);
    if (!t.ok()) return Refuse(out, t.status().WithContext("the commit trailers cannot be read"));
    for (const Trailer& x : *t) trailers[i].push_back({{"key", x.key}, {"value", x.value}, {"commit", x.commit}});
  }

  // Record every decision, and the accepted updates as requests, atomically.
  std::vector<std::optional<int64_t>> request_ids(decisions->size());
  {
    store::Transaction tx(*db);
    if (!tx.status().ok()) return Refuse(out, tx.status().WithContext("the decision cannot be recorded"));
    // The kill switch, read under the store's write lock: a push that was
    // already under way when its identity was frozen lands nothing.
    Result<std::vector<store::Freeze>> freezes = store::ListFreezes(*db);
    if (!freezes.ok()) return Refuse(out, freezes.status().WithContext("the freeze list cannot be read"));
    if (auto f = store::FreezeFor(*freezes, ctx.identity, ctx.groups)) {
      Status why = Status::PermissionDenied(store::FrozenMessage(*f, ctx.identity));
      tx.Rollback();
      AuditOvertaken(*db, ctx, *updates, why, "push.frozen");
      return Refuse(out, why);
    }
    // Nor may anyone else carry a frozen pusher's commits upstream (built
    // on them, or pushed again under another name).
    Result<std::unordered_map<std::string, int64_t>> frozen_commits = store::FrozenCommits(*db, ctx.repo->name);
    if (!frozen_commits.ok()) return Refuse(out, frozen_commits.status().WithContext("the freeze list cannot be read"));
    for (const check::RefDecision& d : *decisions) {
      for (const std::string& c : d.commits) {
        auto it = frozen_commits->find(c);
        if (it == frozen_commits->end()) continue;
        Status why = Status::PermissionDenied(
            d.update.ref_name + " carries commit " + c.substr(0, 12) + " of request " +
            std::to_string(it->second) + ", whose pusher is frozen: it waits for the thaw");
        tx.Rollback();
        AuditOvertaken(*db, ctx, *updates, why, "push.frozen");
        return Refuse(out, why);
      }
    }
    // A concurrent push to the same ref that already landed makes git refuse
    // this one's ref update: say so now rather than announce a request that
    // can never land. Read under the store's write lock, so a winner landing
    // after this read finds this push's incoming request and aborts it.
    if (!blocked) {
      for (const check::RefDecision& d : *decisions) {
        Result<std::string> now = git::ResolveRef(repo->get(), d.update.ref_name);
        std::string current = now.ok() ? *now : std::string(git::kZeroOid);
        if (current != d.update.old_oid) {
          Status why = Status::Conflict(d.update.ref_name + " moved to " + current.substr(0, 12) +
                                        " while this push was checked (a concurrent push won); "
                                        "fetch and push again");
          tx.Rollback();
          AuditOvertaken(*db, ctx, *updates, why);
          return Refuse(out, why);
        }
      }
      // A rejection that came while this push was checked: its commits are
      // judged again (rejections stick), so the push is refused for now.
      Result<std::unordered_map<std::string, int64_t>> now_rejected = store::RejectedCommits(*db, ctx.repo->name);
      if (!now_rejected.ok()) {
        return Refuse(out, now_rejected.status().WithContext("rejected requests cannot be read"));
      }
      if (*now_rejected != check_options.rejected_commits) {
        for (const check::RefDecision& d : *decisions) {
          for (const std::string& c : d.commits) {
            auto it = now_rejected->find(c);
            if (it != now_rejected->end() && !check_options.rejected_commits.count(c)) {
              Status why = Status::Conflict("request " + std::to_string(it->second) + ", which holds commit " +
                                            c.substr(0, 12) + " of this push, was rejected while the push "
                                            "was checked; push again to have it judged with that rejection");
              tx.Rollback();
              AuditOvertaken(*db, ctx, *updates, why);
              return Refuse(out, why);
            }
          }
        }
      }
    }
    json groups_json = ctx.groups;
    json options_json = *push_options;
    for (size_t i = 0; i < decisions->size(); ++i) {
      const check::RefDecision& d = (*decisions)[i];
      json violations = json::array();
      for (const check::Violation& v : d.violations) violations.push_back(ViolationJson(v));
      json findings = json::array();
      for (const scan::Finding& f : d.findings) findings.push_back(FindingJson(f));
      json notes = json::array();
      for (const scan::SkipNote& n : d.notes) notes.push_back({{"path", n.path}, {"reason", n.reason}});
      json rules = json::array();
      for (const check::Violation& v : d.violations) {
        if (std::find(d.rules.begin(), d.rules.end(), v.rule_id) != d.rules.end()) {
          rules.push_back({{"id", v.rule_id}, {"outcome", policy::OutcomeName(v.outcome)},
                           {"message", v.message}});
        }
      }
      if (d.violations.empty()) {
        // No rule fired: the policy's default outcome decided.
        rules.push_back({{"id", "default"}, {"outcome", policy::OutcomeName(d.outcome)},
                         {"message", "no rule decided; the policy's default_outcome applies"}});
      }
      if (!blocked) {
        store::Request r;
        r.repo = ctx.repo->name;
        r.ref = d.update.ref_name;
        r.old_oid = d.update.old_oid;
        r.new_oid = d.update.new_oid;
        r.identity = ctx.identity;
        r.groups_json = groups_json.dump();
        r.method = ctx.method;
        r.claims_json = ctx.claims_json;
        r.http_request_id = ctx.http_request_id;
        r.outcome = d.outcome == policy::Outcome::kAllow ? "allow" : "hold";
        r.rules_json = rules.dump();
        r.findings_json = findings.dump();
        r.notes_json = notes.dump();
        r.push_options_json = options_json.dump();
        r.trailers_json = trailers[i].dump();
        r.commits_json = OidList(d.commits);
        r.commits_size = static_cast<int64_t>(d.commits.size());
        r.commits_last = d.commits.empty() ? "" : d.commits.back();
        // On a judged range this request's range is that range's request's
        // plus its own commits: stored so (store/requests.h).
        if (d.range_base && d.range_base->size > 0 && d.range_base->size <= d.commits.size()) {
          r.commits_base = d.range_base->RecordedIn(ctx.repo->name);
          r.commits_base_size = static_cast<int64_t>(d.range_base->size);
          r.commits_base_last = d.commits[d.range_base->size - 1];
          r.commits_own_json = OidList(std::vector<std::string>(
              d.commits.begin() + static_cast<std::ptrdiff_t>(d.range_base->size), d.commits.end()));
        }
        std::string upstream_ref = UpstreamRefFor(d.update.ref_name);
        Result<std::string> base = upstream_ref.empty()
                                       ? Result<std::string>(Status::NotFound(""))
                                       : git::ResolveRef(repo->get(), upstream_ref);
        r.upstream_base = base.ok() ? *base : std::string(git::kZeroOid);
        // A fast-forward of a ref whose previous request is approved but not
        // yet replayed leases on that request's tip: the replay worker takes
        // a ref's requests in order, so the series lands without a conflict.
        Result<std::optional<int64_t>> chained =
            store::ChainedRequest(*db, ctx.repo->name, d.update.ref_name, d.update.old_oid);
        if (!chained.ok()) return Refuse(out, chained.status().WithContext("the request cannot be recorded"));
        if (*chained && !d.update.is_create()) r.upstream_base = d.update.old_oid;
        policy::ReviewRequirement review = d.review;
        if (review.users.empty() && review.groups.empty()) {
          review.users = pol.reviewers.users;
          review.groups = pol.reviewers.groups;
        }
        r.quorum = std::max({1, review.quorum, pol.reviewers.quorum});
        r.review_users_json = json(review.users).dump();
        r.review_groups_json = json(review.groups).dump();
        Result<int64_t> id = store::InsertRequest(*db, r, pol.request_ttl.count());
        if (!id.ok()) return Refuse(out, id.status().WithContext("the request cannot be recorded"));
        request_ids[i] = *id;
      }
      store::AuditEvent e;
      e.kind = "push.decision";
      e.actor = ctx.identity;
      e.repo = ctx.repo->name;
      e.request_id = request_ids[i];
      json data = {{"ref", d.update.ref_name},     {"old", d.update.old_oid},
                   {"new", d.update.new_oid},      {"outcome", policy::OutcomeName(d.outcome)},
                   {"push_refused", blocked},      {"rules", d.rules},
                   {"violations", violations},     {"findings", findings},
                   {"notes", notes},               {"push_options", options_json},
                   {"trailers", trailers[i]},
                   {"groups", groups_json},        {"method", ctx.method},
                   {"http_request_id", ctx.http_request_id},
                   {"commits", d.commits.size()}};
      e.data_json = data.dump();
      Result<int64_t> seq = store::AppendAudit(*db, e);
      if (!seq.ok()) return Refuse(out, seq.status().WithContext("the decision cannot be recorded"));
    }
    if (!blocked) {
      // Refused pushes leave nothing behind, cached results included.
      Status cached = commit_cache.Persist(*db);
      if (!cached.ok()) return Refuse(out, cached.WithContext("the decision cannot be recorded"));
    }
    Status committed = tx.Commit();
    if (committed.ok()) {
      for (size_t i = 0; i < decisions->size(); ++i) {
        const check::RefDecision& d = (*decisions)[i];
        if (request_ids[i] && d.range) d.range->SetRecorded(ctx.repo->name, *request_ids[i]);
      }
    }
    if (!committed.ok()) return Refuse(out, committed.WithContext("the decision cannot be recorded"));
  }

  for (size_t i = 0; i < decisions->size(); ++i) {
    Report(out, (*decisions)[i], request_ids[i], options.max_lines_per_ref);
  }
  if (blocked) {
    Say(out, "push refused: at least one ref update is blocked, so nothing of this push was accepted");
    return 1;
  }
  return 0;
}

}  // namespace ag::hook
