#include "control/show.h"

#include "control/protocol.h"
#include "git/git.h"
#include "store/freezes.h"
#include "util/display.h"
#include "util/time.h"

namespace ag::control {
namespace {

using nlohmann::json;

json ParseOr(const std::string& text, json fallback) {
  try {
    return json::parse(text);
  } catch (const std::exception&) {
    return fallback;
  }
}

json RuleIds(const std::string& rules_json) {
  json ids = json::array();
  json rules = ParseOr(rules_json, json::array());
  if (!rules.is_array()) return ids;
  for (const auto& r : rules) {
    if (r.is_object() && r.contains("id") && r["id"].is_string()) ids.push_back(r["id"]);
    else if (r.is_string()) ids.push_back(r);
  }
  return ids;
}

Result<json> Approvals(store::Db& db, int64_t id) {
  AG_ASSIGN_OR_RETURN(store::Stmt q, db.Prepare(
      "SELECT reviewer, verdict, comment, at FROM approvals WHERE request_id=? ORDER BY id"));
  q.Bind(1, id);
  json out = json::array();
  for (;;) {
    AG_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) break;
    out.push_back({{"reviewer", q.Text(0)}, {"verdict", q.Text(1)}, {"comment", q.Text(2)},
                   {"at", IsoUtc(q.Int(3))}});
  }
  return out;
}

// The oid of the default branch's upstream value, if known.
std::optional<git_oid> UpstreamDefault(git_repository* repo) {
  std::vector<std::string> candidates;
  git_reference* head = nullptr;
  if (git_reference_lookup(&head, repo, "HEAD") == 0) {
    git::ReferencePtr owner(head);
    if (git_reference_type(head) == GIT_REFERENCE_SYMBOLIC) {
      std::string target = git_reference_symbolic_target(head);
      if (target.rfind("refs/heads/", 0) == 0) {
        candidates.push_back("refs/agentgate/upstream/heads/" + target.substr(11));
      }
    }
  }
  candidates.push_back("refs/agentgate/upstream/heads/main");
  candidates.push_back("refs/agentgate/upstream/heads/master");
  for (const auto& name : candidates) {
    git_oid oid;
    if (git_reference_name_to_id(&oid, repo, name.c_str()) == 0) return oid;
  }
  return std::nullopt;
}

struct DiffText {
  std::string text;
  size_t max = 0;
  bool truncated = false;
};

int PrintLine(const git_diff_delta*, const git_diff_hunk*, const git_diff_line* line,
              void* payload) {
  auto* out = static_cast<DiffText*>(payload);
  std::string piece;
  if (line->origin == GIT_DIFF_LINE_CONTEXT || line->origin == GIT_DIFF_LINE_ADDITION ||
      line->origin == GIT_DIFF_LINE_DELETION) {
    piece.push_back(line->origin);
  }
  std::string_view content(line->content, line->content_len);
  if (line->origin == GIT_DIFF_LINE_CONTEXT_EOFNL || line->origin == GIT_DIFF_LINE_ADD_EOFNL ||
      line->origin == GIT_DIFF_LINE_DEL_EOFNL) {
    piece.append(content);  // libgit2's own "\ No newline at end of file"
  } else {
    // The agent wrote these bytes (and the paths in the headers): escaped
    // line by line (util/display.h), so a reviewer's terminal shows "\r" or
    // "\x1b[2K" rather than obeying them.
    piece += EscapeLinesForTerminal(content);
  }
  if (out->text.size() + piece.size() > out->max) {
    out->truncated = true;
    return 1;  // stop: the cap is reached
  }
  out->text += piece;
  return 0;
}

const char* DeltaStatus(git_delta_t s) {
  switch (s) {
    case GIT_DELTA_ADDED: return "added";
    case GIT_DELTA_DELETED: return "deleted";
    case GIT_DELTA_MODIFIED: return "modified";
    case GIT_DELTA_RENAMED: return "renamed";
    case GIT_DELTA_COPIED: return "copied";
    case GIT_DELTA_TYPECHANGE: return "typechange";
    default: return "changed";
  }
}

// A path git reports, as display text.
std::string PathText(const char* path) { return EscapeForTerminal(path ? path : ""); }

// Files `commit` changes against its first parent (or the empty tree), with
// line counts, at most `max` of them.
json CommitFiles(git_repository* repo, git_commit* commit, size_t max, bool* truncated) {
  json files = json::array();
  git_tree* t = nullptr;
  if (git_commit_tree(&t, commit) != 0) return files;
  git::TreePtr tree(t);
  git::TreePtr parent_tree;
  if (git_commit_parentcount(commit) > 0) {
    git_commit* p = nullptr;
    if (git_commit_parent(&p, commit, 0) == 0) {
      git::CommitPtr parent(p);
      git_tree* pt = nullptr;
      if (git_commit_tree(&pt, p) == 0) parent_tree.reset(pt);
    }
  }
  git_diff* d = nullptr;
  if (git_diff_tree_to_tree(&d, repo, parent_tree.get(), tree.get(), nullptr) != 0) return files;
  git::DiffPtr diff(d);
  size_t n = git_diff_num_deltas(d);
  *truncated = n > max;
  for (size_t i = 0; i < n && i < max; ++i) {
    const git_diff_delta* delta = git_diff_get_delta(d, i);
    size_t ctx = 0, add = 0, del = 0;
    git_patch* p = nullptr;
    if (git_patch_from_diff(&p, d, i) == 0 && p) {
      git::PatchPtr patch(p);
      git_patch_line_stats(&ctx, &add, &del, p);
    }
    files.push_back({{"path", PathText(delta->new_file.path)},
                     {"status", DeltaStatus(delta->status)},
                     {"additions", add},
                     {"deletions", del}});
  }
  return files;
}

// Commits, files and diff of `r` in `repo`, into `out`.
Status Inspect(git_repository* repo, const store::Request& r, const ShowOptions& options,
               json* out) {
  json& commits = (*out)["commits"] = json::array();
  json& files = (*out)["files"] = json::array();
  (*out)["diff"] = "";
  if (git::IsZeroOid(r.new_oid)) {
    (*out)["diff_base_note"] = "the push deletes " + r.ref;
    return Status::Ok();
  }
  AG_ASSIGN_OR_RETURN(git_oid new_oid, git::ParseOid(r.new_oid));
  git_commit* c = nullptr;
  int rc = git_commit_lookup(&c, repo, &new_oid);
  git::CommitPtr new_commit(c);
  if (rc != 0) return git::GitStatus(rc, "cannot read the pushed commit " + r.new_oid);

  // The base the diff is computed against, and the commits to hide.
  std::optional<git_oid> base;
  git_revwalk* w = nullptr;
  rc = git_revwalk_new(&w, repo);
  git::RevwalkPtr walk(w);
  if (rc != 0) return git::GitStatus(rc, "revwalk");
  git_revwalk_sorting(w, GIT_SORT_TOPOLOGICAL | GIT_SORT_REVERSE);
  if (rc = git_revwalk_push(w, &new_oid); rc != 0) return git::GitStatus(rc, "revwalk push");
  if (!r.upstream_base.empty() && !git::IsZeroOid(r.upstream_base)) {
    AG_ASSIGN_OR_RETURN(git_oid b, git::ParseOid(r.upstream_base));
    base = b;
    if (rc = git_revwalk_hide(w, &b); rc != 0) {
      return git::GitStatus(rc, "cannot read the upstream base " + r.upstream_base);
    }
    (*out)["diff_base"] = r.upstream_base;
    (*out)["diff_base_note"] = "upstream value the replay leases on";
  } else {
    git_revwalk_hide_glob(w, "refs/agentgate/upstream/*");
    if (auto def = UpstreamDefault(repo)) {
      git_oid mb;
      if (git_merge_base(&mb, repo, &new_oid, &*def) == 0) base = mb;
    }
    if (base) {
      (*out)["diff_base"] = git::OidHex(*base);
      (*out)["diff_base_note"] = "new branch: merge-base with upstream's default branch";
    } else {
      (*out)["diff_base"] = "";
      (*out)["diff_base_note"] = "new branch with no upstream history: against the empty tree";
    }
  }

  git_oid oid;
  size_t n = 0;
  bool more = false;
  while (git_revwalk_next(&oid, w) == 0) {
    if (n++ >= options.max_commits) {
      more = true;
      break;
    }
    git_commit* cc = nullptr;
    if (git_commit_lookup(&cc, repo, &oid) != 0) continue;
    git::CommitPtr commit(cc);
    const git_signature* a = git_commit_author(cc);
    const char* msg = git_commit_message(cc);
    bool files_cut = false;
    json commit_files = CommitFiles(repo, cc, options.max_files_per_commit, &files_cut);
    commits.push_back({{"id", git::OidHex(oid)},
                       {"author", EscapeForTerminal(a && a->name ? a->name : "")},
                       {"email", EscapeForTerminal(a && a->email ? a->email : "")},
                       {"time", IsoUtc(a ? a->when.time : 0)},
                       {"parents", git_commit_parentcount(cc)},
                       {"message", EscapeLinesForTerminal(msg ? msg : "")},
                       {"files", std::move(commit_files)},
                       {"files_truncated", files_cut}});
  }
  (*out)["commits_truncated"] = more;

  git_tree* nt = nullptr;
  if (rc = git_commit_tree(&nt, new_commit.get()); rc != 0) return git::GitStatus(rc, "tree");
  git::TreePtr new_tree(nt);
  git::TreePtr base_tree;
  if (base) {
    git_commit* bc = nullptr;
    if (rc = git_commit_lookup(&bc, repo, &*base); rc != 0) return git::GitStatus(rc, "base");
    git::CommitPtr base_commit(bc);
    git_tree* bt = nullptr;
    if (rc = git_commit_tree(&bt, bc); rc != 0) return git::GitStatus(rc, "base tree");
    base_tree.reset(bt);
  }
  git_diff_options dopts = GIT_DIFF_OPTIONS_INIT;
  git_diff* d = nullptr;
  rc = git_diff_tree_to_tree(&d, repo, base_tree.get(), new_tree.get(), &dopts);
  git::DiffPtr diff(d);
  if (rc != 0) return git::GitStatus(rc, "diff");
  git_diff_find_options fopts = GIT_DIFF_FIND_OPTIONS_INIT;
  fopts.flags = GIT_DIFF_FIND_RENAMES;
  (void)git_diff_find_similar(d, &fopts);

  size_t deltas = git_diff_num_deltas(d);
  int64_t total_add = 0, total_del = 0;
  for (size_t i = 0; i < deltas && i < options.max_files; ++i) {
    const git_diff_delta* delta = git_diff_get_delta(d, i);
    json f = {{"path", PathText(delta->new_file.path)},
              {"status", DeltaStatus(delta->status)}};
    if (delta->status == GIT_DELTA_RENAMED || delta->status == GIT_DELTA_COPIED) {
      f["old_path"] = PathText(delta->old_file.path);
    }
    git_patch* p = nullptr;
    size_t ctx = 0, add = 0, del = 0;
    if (git_patch_from_diff(&p, d, i) == 0 && p) {
      git::PatchPtr patch(p);
      git_patch_line_stats(&ctx, &add, &del, p);
    }
    bool binary = (delta->flags & GIT_DIFF_FLAG_BINARY) != 0;
    f["additions"] = add;
    f["deletions"] = del;
    f["binary"] = binary;
    total_add += static_cast<int64_t>(add);
    total_del += static_cast<int64_t>(del);
    files.push_back(std::move(f));
  }
  (*out)["files_truncated"] = deltas > options.max_files;
  (*out)["stat"] = {{"files", deltas}, {"additions", total_add}, {"deletions", total_del}};

  DiffText text;
  text.max = options.max_diff_bytes;
  rc = git_diff_print(d, GIT_DIFF_FORMAT_PATCH, PrintLine, &text);
  if (rc != 0 && !text.truncated) return git::GitStatus(rc, "diff text");
  (*out)["diff"] = std::move(text.text);
  (*out)["diff_truncated"] = text.truncated;
  if (text.truncated) {
    (*out)["diff_note"] = "diff cut at " + std::to_string(options.max_diff_bytes) +
                          " bytes; inspect refs/agentgate/requests/" + std::to_string(r.id) +
                          " in the mirror for the rest";
  }
  return Status::Ok();
}

}  // namespace

json Summary(const store::Request& r, int approvals) {
  return {{"id", r.id},
          {"repo", r.repo},
          {"ref", r.ref},
          {"old", r.old_oid},
          {"new", r.new_oid},
          {"status", store::StatusName(r.status)},
          {"identity", r.identity},
          {"created", IsoUtc(r.created_at)},
          {"updated", IsoUtc(r.updated_at)},
          {"expires", IsoUtc(r.expires_at)},
          {"rules", RuleIds(r.rules_json)},
          {"quorum", r.quorum},
          {"approvals", approvals},
          {"upstream_moved", r.upstream_moved},
          {"status_reason", r.status_reason}};
}

Result<json> BuildShow(store::Db& db, const review::ReviewSettings& settings,
                       const store::Request& r, const ShowOptions& options) {
  AG_ASSIGN_OR_RETURN(json approvals, Approvals(db, r.id));
  int approved = 0;
  for (const auto& a : approvals) approved += a["verdict"] == "approve";
  json out = Summary(r, approved);
  out["replay_attempts"] = r.replay_attempts;
  AG_ASSIGN_OR_RETURN(std::vector<store::Freeze> freezes, store::ListFreezes(db));
  if (auto f = store::FreezeFor(freezes, r.identity, store::GroupsOf(r.groups_json)))
    out["frozen"] = store::FrozenMessage(*f, r.identity, true);  // not approvable nor replayed now
  out["method"] = r.method;
  out["groups"] = ParseOr(r.groups_json, json::array());
  out["http_request_id"] = r.http_request_id;
  out["outcome"] = r.outcome;
  out["push_options"] = ParseOr(r.push_options_json, json::array());
  out["trailers"] = ParseOr(r.trailers_json, json::array());
  out["upstream_base"] = r.upstream_base;
  out["review_users"] = ParseOr(r.review_users_json, json::array());
  out["review_groups"] = ParseOr(r.review_groups_json, json::array());
  if (out["review_users"].empty() && out["review_groups"].empty()) {
    out["review_users"] = settings.default_reviewers.users;
    out["review_groups"] = settings.default_reviewers.groups;
    out["reviewers_default"] = true;
  }
  out["rule_details"] = ParseOr(r.rules_json, json::array());
  // Findings were masked by the hook before they were stored.
  out["findings"] = ParseOr(r.findings_json, json::array());
  out["notes"] = ParseOr(r.notes_json, json::array());
  out["approval_list"] = std::move(approvals);

  auto repo = review::OpenMirrorRepo(settings, r.repo);
  Status s = repo.ok() ? Inspect(repo->get(), r, options, &out) : repo.status();
  if (!s.ok()) out["repo_error"] = s.message();

  // Commits a reviewer rejected before come first, marked: approving this
  // request approves them (docs/review.md, "Rejections stick").
  AG_ASSIGN_OR_RETURN(auto rejected, store::RejectedCommits(db, r.repo));
  if (!rejected.empty() && out.contains("commits")) {
    json first = json::array(), rest = json::array();
    for (json& c : out["commits"]) {
      auto it = rejected.find(c.value("id", ""));
      if (it != rejected.end() && it->second != r.id) {
        c["rejected_in"] = it->second;
        first.push_back(std::move(c));
      } else {
        rest.push_back(std::move(c));
      }
    }
    for (json& c : rest) first.push_back(std::move(c));
    out["commits"] = std::move(first);
  }
  return out;
}

}  // namespace ag::control
