#include "audit/story.h"

#include <sstream>

#include "util/display.h"
#include "util/time.h"

namespace ag::audit {
namespace {

using Json = nlohmann::ordered_json;

Json ParseOr(const std::string& text, Json fallback) {
  Json j = Json::parse(text, nullptr, false);
  return j.is_discarded() ? fallback : j;
}

// The fields of a finding that may be shown; everything else is dropped.
Json SafeFinding(const Json& f) {
  Json out = Json::object();
  if (!f.is_object()) return out;
  for (const char* k : {"rule_id", "rule", "description", "path", "line", "column", "masked",
                        "fingerprint", "commit", "allowed_inline", "outcome"}) {
    if (f.contains(k)) out[k] = f[k];
  }
  if (!out.contains("masked")) out["masked"] = "****";
  return out;
}

std::string Str(const Json& j, const char* key) {
  if (!j.is_object() || !j.contains(key)) return "";
  const Json& v = j[key];
  return v.is_string() ? v.get<std::string>() : v.dump();
}

std::string Short(const std::string& oid) { return oid.substr(0, 12); }

// Every stored value the text shows passes through here: the agent chose
// the ref, push options, commit messages, paths and identity claims.
std::string E(std::string_view text) { return EscapeForTerminal(text); }

// One line summing up an audit row's data for the timeline.
std::string EventDetail(const store::AuditEvent& e) {
  Json d = ParseOr(e.data_json, Json::object());
  if (!d.is_object()) return "";
  std::string out;
  auto add = [&](const std::string& label, const std::string& v) {
    if (v.empty()) return;
    if (!out.empty()) out += "  ";
    out += label + "=" + E(v);
  };
  add("outcome", Str(d, "outcome"));
  add("from", Str(d, "from"));
  add("to", Str(d, "to"));
  add("reason", Str(d, "reason"));
  add("comment", Str(d, "comment"));
  add("attempt", Str(d, "attempt"));
  add("result", Str(d, "result"));
  add("error", Str(d, "error"));
  return out;
}

}  // namespace

Result<Story> LoadStory(store::Db& db, int64_t id) {
  Story s;
  AG_ASSIGN_OR_RETURN(s.request, store::GetRequest(db, id));
  {
    AG_ASSIGN_OR_RETURN(store::Stmt q, db.Prepare(
        "SELECT reviewer, verdict, comment, at FROM approvals WHERE request_id = ? "
        "ORDER BY at, id"));
    q.Bind(1, id);
    for (;;) {
      AG_ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) break;
      s.reviews.push_back({q.Text(0), q.Text(1), q.Text(2), q.Int(3)});
    }
  }
  // Its own rows, plus the hook's push.decision for the same push (which is
  // written before the request has an id: matched by repo and new oid).
  AG_ASSIGN_OR_RETURN(store::Stmt q, db.Prepare(
      std::string("SELECT ") + store::kAuditColumns + " FROM audit "
      "WHERE request_id = ?1 OR (request_id IS NULL AND kind = 'push.decision' AND repo = ?2 "
      "AND instr(data_json, ?3) > 0 AND at BETWEEN ?4 - 3600 AND ?4 + 3600) ORDER BY seq"));
  q.Bind(1, id).Bind(2, s.request.repo).Bind(3, s.request.new_oid).Bind(4, s.request.created_at);
  for (;;) {
    AG_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) break;
    s.events.push_back(store::ReadAuditRow(q));
  }
  return s;
}

Json StoryJson(const Story& s) {
  const store::Request& r = s.request;
  Json j;
  j["id"] = r.id;
  j["repo"] = r.repo;
  j["ref"] = r.ref;
  j["old"] = r.old_oid;
  j["new"] = r.new_oid;
  j["status"] = std::string(store::StatusName(r.status));
  j["status_reason"] = r.status_reason;
  j["outcome"] = r.outcome;
  j["identity"] = {{"identity", r.identity},
                   {"method", r.method},
                   {"groups", ParseOr(r.groups_json, Json::array())},
                   {"claims", ParseOr(r.claims_json, Json::object())},
                   {"http_request_id", r.http_request_id}};
  j["push_options"] = ParseOr(r.push_options_json, Json::array());
  j["commits"] = ParseOr(r.commits_json, Json::array());
  j["rules"] = ParseOr(r.rules_json, Json::array());
  Json findings = Json::array();
  Json stored = ParseOr(r.findings_json, Json::array());
  if (stored.is_array()) {
    for (const Json& f : stored) findings.push_back(SafeFinding(f));
  }
  j["findings"] = findings;
  j["notes"] = ParseOr(r.notes_json, Json::array());
  j["upstream_base"] = r.upstream_base;
  j["upstream_moved"] = r.upstream_moved;
  j["quorum"] = r.quorum;
  j["replay_attempts"] = r.replay_attempts;
  j["created_at"] = IsoUtc(r.created_at);
  j["updated_at"] = IsoUtc(r.updated_at);
  j["expires_at"] = IsoUtc(r.expires_at);
  Json reviews = Json::array();
  for (const Review& v : s.reviews) {
    reviews.push_back({{"reviewer", v.reviewer}, {"verdict", v.verdict},
                       {"comment", v.comment}, {"at", IsoUtc(v.at)}});
  }
  j["reviews"] = reviews;
  Json events = Json::array();
  for (const store::AuditEvent& e : s.events) {
    events.push_back({{"seq", e.seq}, {"at", IsoUtc(e.at)}, {"kind", e.kind},
                      {"actor", e.actor}, {"data", ParseOr(e.data_json, Json(e.data_json))},
                      {"hash", e.hash}});
  }
  j["events"] = events;
  return j;
}

std::string RenderStoryText(const Story& s) {
  const store::Request& r = s.request;
  std::ostringstream o;
  o << "request " << r.id << "  " << E(r.repo) << "  " << E(r.ref) << "  " << E(Short(r.old_oid))
    << ".." << E(Short(r.new_oid)) << "\n";
  o << "status:       " << store::StatusName(r.status);
  if (!r.status_reason.empty()) o << " (" << E(r.status_reason) << ")";
  o << "\noutcome:      " << E(r.outcome) << "\n";
  o << "pushed by:    " << E(r.identity);
  if (!r.method.empty()) o << " (" << E(r.method) << ")";
  o << "\n";
  Json groups = ParseOr(r.groups_json, Json::array());
  if (!groups.empty()) o << "groups:       " << E(groups.dump()) << "\n";
  Json claims = ParseOr(r.claims_json, Json::object());
  if (!claims.empty()) o << "claims:       " << E(claims.dump()) << "\n";
  if (!r.http_request_id.empty()) o << "http request: " << E(r.http_request_id) << "\n";
  o << "created:      " << IsoUtc(r.created_at) << "\n";
  o << "expires:      " << IsoUtc(r.expires_at) << "\n";
  if (!r.upstream_base.empty()) o << "lease base:   " << E(Short(r.upstream_base)) << "\n";
  if (r.upstream_moved) o << "upstream moved since the push was checked\n";

  Json options = ParseOr(r.push_options_json, Json::array());
  o << "\npush options (" << options.size() << ")\n";
  for (const Json& p : options) {
    o << "  " << E(p.is_string() ? p.get<std::string>() : p.dump()) << "\n";
  }

  Json commits = ParseOr(r.commits_json, Json::array());
  o << "\ncommits (" << commits.size() << ")\n";
  for (const Json& c : commits) {
    o << "  " << E(c.is_string() ? c.get<std::string>() : c.dump()) << "\n";
  }

  Json rules = ParseOr(r.rules_json, Json::array());
  o << "\nrules (" << rules.size() << ")\n";
  for (const Json& x : rules) {
    o << "  " << E(Str(x, "outcome")) << "  " << E(Str(x, "id"));
    std::string m = Str(x, "message");
    if (!m.empty()) o << ": " << E(m);
    o << "\n";
  }

  Json stored = ParseOr(r.findings_json, Json::array());
  o << "\nfindings (" << (stored.is_array() ? stored.size() : 0) << ", values masked)\n";
  if (stored.is_array()) {
    for (const Json& raw : stored) {
      Json f = SafeFinding(raw);
      std::string rule = Str(f, "rule_id").empty() ? Str(f, "rule") : Str(f, "rule_id");
      o << "  " << E(rule) << "  " << E(Str(f, "path"));
      if (!Str(f, "line").empty()) o << ":" << E(Str(f, "line"));
      o << "  " << E(Str(f, "masked"));
      std::string fp = Str(f, "fingerprint");
      if (!fp.empty()) o << "  fp " << E(fp.substr(0, 12));
      std::string c = Str(f, "commit");
      if (!c.empty()) o << "  in " << E(Short(c));
      o << "\n";
    }
  }
  Json notes = ParseOr(r.notes_json, Json::array());
  if (notes.is_array() && !notes.empty()) {
    o << "\nnot inspected (" << notes.size() << ")\n";
    for (const Json& n : notes) {
      o << "  " << E(Str(n, "path")) << ": " << E(Str(n, "reason")) << "\n";
    }
  }

  o << "\nreviews (" << s.reviews.size() << " of quorum " << r.quorum << ")\n";
  for (const Review& v : s.reviews) {
    o << "  " << IsoUtc(v.at) << "  " << E(v.reviewer) << "  " << E(v.verdict);
    if (!v.comment.empty()) o << "  \"" << E(v.comment) << "\"";
    o << "\n";
  }

  o << "\ntimeline\n";
  for (const store::AuditEvent& e : s.events) {
    o << "  " << IsoUtc(e.at) << "  #" << e.seq << "  " << E(e.kind) << "  by " << E(e.actor);
    std::string d = EventDetail(e);
    if (!d.empty()) o << "  " << d;  // escaped value by value
    o << "\n";
  }
  if (r.replay_attempts > 0) o << "\nreplay attempts: " << r.replay_attempts << "\n";
  return o.str();
}

}  // namespace ag::audit
