#include "git/inspect.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "util/text.h"
#include "util/utf8.h"

namespace ag::git {
namespace {

struct Delta {
  FileStatus status;
  uint32_t old_mode = 0;
  uint32_t new_mode = 0;
  git_oid old_oid{};
  git_oid new_oid{};
};

using DeltaMap = std::map<std::string, Delta>;

FileStatus StatusOf(git_delta_t t) {
  switch (t) {
    case GIT_DELTA_ADDED: return FileStatus::kAdded;
    case GIT_DELTA_DELETED: return FileStatus::kDeleted;
    case GIT_DELTA_TYPECHANGE: return FileStatus::kTypeChanged;
    default: return FileStatus::kModified;
  }
}

Status DiffTrees(git_repository* repo, git_tree* old_tree, git_tree* new_tree, size_t max_files,
                 DeltaMap* out) {
  git_diff_options opts = GIT_DIFF_OPTIONS_INIT;
  opts.flags = GIT_DIFF_INCLUDE_TYPECHANGE | GIT_DIFF_SKIP_BINARY_CHECK;
  git_diff* d = nullptr;
  int rc = git_diff_tree_to_tree(&d, repo, old_tree, new_tree, &opts);
  DiffPtr diff(d);
  if (rc != 0) return GitStatus(rc, "cannot diff trees");
  size_t n = git_diff_num_deltas(d);
  if (n > max_files) {
    return Status::ResourceExhausted("a commit changes " + std::to_string(n) +
                                     " files, more than the limit of " + std::to_string(max_files));
  }
  for (size_t i = 0; i < n; ++i) {
    const git_diff_delta* delta = git_diff_get_delta(d, i);
    Delta rec;
    rec.status = StatusOf(delta->status);
    rec.old_mode = rec.status == FileStatus::kAdded ? 0 : delta->old_file.mode;
    rec.new_mode = rec.status == FileStatus::kDeleted ? 0 : delta->new_file.mode;
    rec.old_oid = delta->old_file.id;
    rec.new_oid = delta->new_file.id;
    const char* path = delta->new_file.path ? delta->new_file.path : delta->old_file.path;
    (*out)[path] = rec;
  }
  return Status::Ok();
}

// Line numbers (new side) added going from `old_blob` (may be null) to
// `new_blob`; with `texts`, also their content.
struct LineCollector {
  std::set<int> numbers;
  std::map<int, std::string>* texts = nullptr;
};

int OnLine(const git_diff_delta*, const git_diff_hunk*, const git_diff_line* line, void* payload) {
  auto* c = static_cast<LineCollector*>(payload);
  if (line->origin != GIT_DIFF_LINE_ADDITION || line->new_lineno <= 0) return 0;
  c->numbers.insert(line->new_lineno);
  if (c->texts) {
    std::string text(line->content, line->content_len);
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    (*c->texts)[line->new_lineno] = std::move(text);
  }
  return 0;
}

Status AddedLines(git_repository* repo, const git_oid* old_oid, git_blob* new_blob,
                  const std::string& path, LineCollector* out) {
  BlobPtr old_owner;
  if (old_oid && !git_oid_is_zero(old_oid)) {
    git_blob* b = nullptr;
    int rc = git_blob_lookup(&b, repo, old_oid);
    if (rc != 0) return GitStatus(rc, "cannot read old blob of " + path);
    old_owner.reset(b);
  }
  git_diff_options opts = GIT_DIFF_OPTIONS_INIT;
  opts.context_lines = 0;
  opts.flags = GIT_DIFF_FORCE_TEXT;
  int rc = git_diff_blobs(old_owner.get(), path.c_str(), new_blob, path.c_str(), &opts, nullptr,
                          nullptr, nullptr, OnLine, out);
  if (rc != 0) return GitStatus(rc, "cannot diff " + path);
  return Status::Ok();
}

}  // namespace

Result<std::vector<RefUpdate>> ParseRefUpdates(std::string_view input, size_t max_updates) {
  std::vector<RefUpdate> out;
  size_t pos = 0;
  int line_no = 0;
  while (pos < input.size()) {
    size_t end = input.find('\n', pos);
    if (end == std::string_view::npos) end = input.size();
    std::string_view line = input.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (line.empty()) continue;
    if (out.size() >= max_updates) {
      return Status::ResourceExhausted("more than " + std::to_string(max_updates) +
                                       " ref updates in one push");
    }
    size_t a = line.find(' ');
    size_t b = a == std::string_view::npos ? a : line.find(' ', a + 1);
    if (b == std::string_view::npos) {
      return Status::InvalidArgument("malformed ref update on line " + std::to_string(line_no));
    }
    RefUpdate u{std::string(line.substr(0, a)), std::string(line.substr(a + 1, b - a - 1)),
                std::string(line.substr(b + 1))};
    if (!ParseOid(u.old_oid).ok() || !ParseOid(u.new_oid).ok() || u.ref_name.empty()) {
      return Status::InvalidArgument("malformed ref update on line " + std::to_string(line_no));
    }
    // Everything recorded and shown is UTF-8 text: a ref name git allows
    // but that is not UTF-8 is refused rather than recorded altered.
    if (!IsUtf8(u.ref_name)) {
      return Status::InvalidArgument("the ref name on line " + std::to_string(line_no) +
                                     " is not UTF-8; agentgate accepts UTF-8 ref names only");
    }
    out.push_back(std::move(u));
  }
  return out;
}

Result<std::string> PeelToCommit(git_repository* repo, std::string_view oid_hex) {
  AG_ASSIGN_OR_RETURN(git_oid oid, ParseOid(oid_hex));
  git_object* obj = nullptr;
  int rc = git_object_lookup(&obj, repo, &oid, GIT_OBJECT_ANY);
  ObjectPtr owner(obj);
  if (rc != 0) return GitStatus(rc, "cannot read object " + std::string(oid_hex));
  git_object* peeled = nullptr;
  rc = git_object_peel(&peeled, obj, GIT_OBJECT_COMMIT);
  ObjectPtr peeled_owner(peeled);
  if (rc != 0) {
    return Status::NotFound("object " + std::string(oid_hex) + " does not point to a commit");
  }
  return OidHex(*git_object_id(peeled));
}

Result<bool> IsFastForward(git_repository* repo, std::string_view ancestor,
                           std::string_view descendant) {
  AG_ASSIGN_OR_RETURN(git_oid a, ParseOid(ancestor));
  AG_ASSIGN_OR_RETURN(git_oid d, ParseOid(descendant));
  if (git_oid_equal(&a, &d)) return true;
  int rc = git_graph_descendant_of(repo, &d, &a);
  if (rc < 0) return GitStatus(rc, "cannot compare history");
  return rc == 1;
}

namespace {

struct OidHash {
  size_t operator()(const git_oid& o) const {
    size_t h;
    std::memcpy(&h, o.id, sizeof h);  // an oid's bytes are already uniform
    return h;
  }
};
struct OidEq {
  bool operator()(const git_oid& a, const git_oid& b) const { return git_oid_equal(&a, &b); }
};

}  // namespace

Result<bool> Inspector::WalkQuarantine(const std::vector<std::string>& tips,
                                       std::vector<git_oid>* order) {
  // Depth-first from the tips, parents before children (post-order), through
  // the commits missing from the existing objects; the first existing ones
  // are the boundary.
  std::unordered_set<git_oid, OidHash, OidEq> done, boundary;
  std::unordered_map<git_oid, std::vector<git_oid>, OidHash, OidEq> parents;
  struct Frame {
    git_oid id;
    size_t next = 0;  // index of the next parent to visit
  };
  std::vector<Frame> stack;
  auto enter = [&](const git_oid& id) -> Status {
    if (done.count(id) || parents.count(id)) return Status::Ok();  // visited (or on the stack)
    if (git_odb_exists_ext(options_.existing_objects, &id, GIT_ODB_LOOKUP_NO_REFRESH) == 1) {
      boundary.insert(id);
      done.insert(id);
      return Status::Ok();
    }
    if (parents.size() >= options_.max_commits) {
      return Status::ResourceExhausted("the push brings more than " +
                                       std::to_string(options_.max_commits) +
                                       " new commits; inspection refused");
    }
    git_commit* c = nullptr;
    int rc = git_commit_lookup(&c, repo_, &id);
    CommitPtr commit(c);
    if (rc != 0) return GitStatus(rc, "cannot read commit " + OidHex(id));
    std::vector<git_oid>& ps = parents[id];
    for (unsigned i = 0; i < git_commit_parentcount(c); ++i) ps.push_back(*git_commit_parent_id(c, i));
    stack.push_back({id});
    return Status::Ok();
  };
  for (const std::string& tip : tips) {
    AG_ASSIGN_OR_RETURN(git_oid id, ParseOid(tip));
    AG_RETURN_IF_ERROR(enter(id));
    while (!stack.empty()) {
      Frame& top = stack.back();
      const std::vector<git_oid>& ps = parents[top.id];
      if (top.next < ps.size()) {
        git_oid parent = ps[top.next++];
        AG_RETURN_IF_ERROR(enter(parent));  // may grow the stack: `top` is stale now
        continue;
      }
      order->push_back(top.id);
      done.insert(top.id);
      stack.pop_back();
    }
  }
  if (boundary.empty()) return true;
  // Existing commits the walk stopped at must be reachable from a ref; the
  // cheap proof is that each is the tip of HEAD or of a pushed ref.
  std::vector<std::string> names;
  for (const std::string& name : options_.boundary_refs) {
    if (name.rfind("refs/", 0) == 0) names.push_back(name);  // not FETCH_HEAD and the like
  }
  // HEAD counts only as the branch it names: a detached HEAD is no ref.
  git_reference* head = nullptr;
  if (options_.hide_glob == "refs/*" && git_reference_lookup(&head, repo_, "HEAD") == 0) {
    ReferencePtr owner(head);
    if (git_reference_type(head) == GIT_REFERENCE_SYMBOLIC) {
      std::string target = git_reference_symbolic_target(head);
      if (target.rfind("refs/", 0) == 0) names.push_back(target);
    }
  }
  for (const std::string& name : names) {
    git_oid id;
    if (git_reference_name_to_id(&id, repo_, name.c_str()) != 0) continue;
    Result<std::string> peeled = PeelToCommit(repo_, OidHex(id));
    if (!peeled.ok()) continue;
    AG_ASSIGN_OR_RETURN(git_oid commit, ParseOid(*peeled));
    boundary.erase(commit);
  }
  if (options_.known_boundary) {
    for (auto it = boundary.begin(); it != boundary.end();) {
      it = options_.known_boundary(*it) ? boundary.erase(it) : std::next(it);
    }
  }
  if (!boundary.empty()) order->clear();
  return boundary.empty();
}

Status Inspector::Walk(const std::vector<std::string>& tips, ChangeVisitor* visitor,
                       std::vector<CommitInfo>* commits) {
  walked_quarantine_ = false;
  if (tips.empty()) return Status::Ok();
  std::vector<git_oid> order;
  if (options_.hide_refs && options_.hide_commits.empty() && options_.existing_objects) {
    AG_ASSIGN_OR_RETURN(bool walked, WalkQuarantine(tips, &order));
    if (walked) {
      walked_quarantine_ = true;
      return VisitAll(order, visitor, commits);
    }
  }
  git_revwalk* w = nullptr;
  int rc = git_revwalk_new(&w, repo_);
  RevwalkPtr walk(w);
  if (rc != 0) return GitStatus(rc, "cannot start the walk");
  git_revwalk_sorting(w, GIT_SORT_TOPOLOGICAL | GIT_SORT_REVERSE);
  for (const std::string& tip : tips) {
    AG_ASSIGN_OR_RETURN(git_oid oid, ParseOid(tip));
    rc = git_revwalk_push(w, &oid);
    if (rc != 0) return GitStatus(rc, "cannot walk from " + tip);
  }
  // Everything reachable from an existing ref was inspected when it arrived
  // (or came from upstream): hide it, so cost follows the push.
  if (options_.hide_refs) {
    rc = git_revwalk_hide_glob(w, options_.hide_glob.c_str());
    if (rc != 0 && rc != GIT_ENOTFOUND) return GitStatus(rc, "cannot hide existing refs");
  }
  for (const std::string& hidden : options_.hide_commits) {
    AG_ASSIGN_OR_RETURN(git_oid oid, ParseOid(hidden));
    rc = git_revwalk_hide(w, &oid);
    if (rc != 0) return GitStatus(rc, "cannot hide " + hidden);
  }

  git_oid oid;
  while ((rc = git_revwalk_next(&oid, w)) == 0) {
    if (order.size() >= options_.max_commits) {
      return Status::ResourceExhausted("the push brings more than " +
                                       std::to_string(options_.max_commits) +
                                       " new commits; inspection refused");
    }
    order.push_back(oid);
  }
  if (rc != GIT_ITEROVER) return GitStatus(rc, "walk failed");
  return VisitAll(order, visitor, commits);
}

Status Inspector::VisitAll(const std::vector<git_oid>& order, ChangeVisitor* visitor,
                           std::vector<CommitInfo>* commits) {
  int rc = 0;
  for (const git_oid& id : order) {
    git_commit* c = nullptr;
    rc = git_commit_lookup(&c, repo_, &id);
    CommitPtr commit(c);
    if (rc != 0) return GitStatus(rc, "cannot read commit " + OidHex(id));
    CommitInfo info;
    info.oid = OidHex(id);
    const char* summary = git_commit_summary(c);
    info.summary = summary ? summary : "";
    const char* message = git_commit_message_raw(c);
    info.message = message ? message : "";
    if (const git_signature* a = git_commit_author(c)) {
      info.author = std::string(a->name ? a->name : "") + " <" + (a->email ? a->email : "") + ">";
    }
    for (unsigned i = 0; i < git_commit_parentcount(c); ++i) {
      info.parents.push_back(OidHex(*git_commit_parent_id(c, i)));
    }
    AG_RETURN_IF_ERROR(visitor->OnCommit(info));
    if (visitor->WantsChanges(info)) AG_RETURN_IF_ERROR(DiffCommit(info, c, visitor));
    commits->push_back(std::move(info));
  }
  return Status::Ok();
}

Status Inspector::DiffCommit(const CommitInfo& info, git_commit* commit, ChangeVisitor* visitor) {
  git_tree* t = nullptr;
  int rc = git_commit_tree(&t, commit);
  TreePtr tree(t);
  if (rc != 0) return GitStatus(rc, "cannot read the tree of " + info.oid);

  // One delta map per parent (the empty tree for a root commit).
  std::vector<DeltaMap> per_parent(std::max<size_t>(1, info.parents.size()));
  if (info.parents.empty()) {
    AG_RETURN_IF_ERROR(DiffTrees(repo_, nullptr, t, options_.max_files_per_commit, &per_parent[0]));
  }
  for (unsigned i = 0; i < info.parents.size(); ++i) {
    git_commit* p = nullptr;
    rc = git_commit_parent(&p, commit, i);
    CommitPtr parent(p);
    if (rc != 0) return GitStatus(rc, "cannot read a parent of " + info.oid);
    git_tree* pt = nullptr;
    rc = git_commit_tree(&pt, p);
    TreePtr ptree(pt);
    if (rc != 0) return GitStatus(rc, "cannot read a parent tree of " + info.oid);
    AG_RETURN_IF_ERROR(DiffTrees(repo_, pt, t, options_.max_files_per_commit, &per_parent[i]));
  }

  for (const auto& [path, first] : per_parent[0]) {
    // A merge introduces a path only when it differs from every parent.
    bool in_all = true;
    for (size_t i = 1; i < per_parent.size() && in_all; ++i) {
      in_all = per_parent[i].count(path) > 0;
    }
    if (!in_all) continue;

    FileChange change;
    change.status = first.status;
    change.path = path;
    change.old_mode = first.old_mode;
    change.new_mode = first.new_mode;
    bool has_blob = change.status != FileStatus::kDeleted && change.new_mode != kModeGitlink;
    if (change.status != FileStatus::kDeleted) change.new_blob = OidHex(first.new_oid);
    if (has_blob) {
      git_odb* o = nullptr;
      rc = git_repository_odb(&o, repo_);
      OdbPtr odb(o);
      if (rc != 0) return GitStatus(rc, "cannot open the object database");
      size_t size = 0;
      git_object_t type;
      rc = git_odb_read_header(&size, &type, o, &first.new_oid);
      if (rc != 0) return GitStatus(rc, "cannot read blob header of " + path);
      change.new_size = size;
      if (size > options_.max_diff_blob_bytes) {
        change.lines_skipped = true;
      } else {
        git_blob* b = nullptr;
        rc = git_blob_lookup(&b, repo_, &first.new_oid);
        BlobPtr blob(b);
        if (rc != 0) return GitStatus(rc, "cannot read blob of " + path);
        change.binary = LooksBinary(std::string_view(static_cast<const char*>(git_blob_rawcontent(b)),
                                                       static_cast<size_t>(git_blob_rawsize(b))));
        if (change.new_mode == kModeLink) {
          change.symlink_target.assign(static_cast<const char*>(git_blob_rawcontent(b)),
                                       static_cast<size_t>(git_blob_rawsize(b)));
        } else if (!change.binary) {
          std::map<int, std::string> texts;
          LineCollector first_lines;
          first_lines.texts = &texts;
          const git_oid* old0 = first.status == FileStatus::kAdded ? nullptr : &first.old_oid;
          AG_RETURN_IF_ERROR(AddedLines(repo_, old0, b, path, &first_lines));
          std::set<int> keep = std::move(first_lines.numbers);
          for (size_t i = 1; i < per_parent.size() && !keep.empty(); ++i) {
            const Delta& d = per_parent[i].at(path);
            LineCollector other;
            const git_oid* oldi = d.status == FileStatus::kAdded ? nullptr : &d.old_oid;
            AG_RETURN_IF_ERROR(AddedLines(repo_, oldi, b, path, &other));
            std::set<int> both;
            std::set_intersection(keep.begin(), keep.end(), other.numbers.begin(),
                                  other.numbers.end(), std::inserter(both, both.begin()));
            keep = std::move(both);
          }
          change.added.reserve(keep.size());
          for (int n : keep) change.added.push_back({n, std::move(texts[n])});
        }
      }
    }
    AG_RETURN_IF_ERROR(visitor->OnFile(info, change));
  }
  return Status::Ok();
}

}  // namespace ag::git
