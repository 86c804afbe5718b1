#include "scan/git_scan.h"

#include <git2.h>

#include <map>
#include <memory>
#include <set>

namespace ag::scan {
namespace {

template <typename T, void (*F)(T*)>
struct Free {
  void operator()(T* p) const { F(p); }
};
template <typename T, void (*F)(T*)>
using Owned = std::unique_ptr<T, Free<T, F>>;
using RepoPtr = Owned<git_repository, git_repository_free>;
using WalkPtr = Owned<git_revwalk, git_revwalk_free>;
using CommitPtr = Owned<git_commit, git_commit_free>;
using TreePtr = Owned<git_tree, git_tree_free>;
using DiffPtr = Owned<git_diff, git_diff_free>;
using PatchPtr = Owned<git_patch, git_patch_free>;

Status GitError(int rc, const std::string& what) {
  const git_error* e = git_error_last();
  return Status::Internal(what + ": " + (e && e->message ? e->message : "libgit2 error " +
                                                                           std::to_string(rc)));
}

// Added lines of one commit against one parent tree (null: empty tree),
// copied: path -> (line number -> text).
using Added = std::map<std::string, std::map<int, std::string>>;

Status AddedLines(git_repository* repo, git_tree* old_tree, git_tree* new_tree,
                  uint64_t max_blob_bytes, Added* out, std::set<std::string>* binary) {
  git_diff_options opts = GIT_DIFF_OPTIONS_INIT;
  opts.context_lines = 0;
  opts.interhunk_lines = 0;
  opts.max_size = static_cast<git_off_t>(max_blob_bytes);
  git_diff* raw = nullptr;
  int rc = git_diff_tree_to_tree(&raw, repo, old_tree, new_tree, &opts);
  if (rc < 0) return GitError(rc, "diff");
  DiffPtr diff(raw);
  size_t n = git_diff_num_deltas(diff.get());
  for (size_t i = 0; i < n; ++i) {
    const git_diff_delta* d = git_diff_get_delta(diff.get(), i);
    if (d->status == GIT_DELTA_DELETED) continue;
    std::string path = d->new_file.path ? d->new_file.path : "";
    git_patch* praw = nullptr;
    rc = git_patch_from_diff(&praw, diff.get(), i);
    if (rc < 0) return GitError(rc, "patch for " + path);
    PatchPtr patch(praw);
    if (!patch || (git_patch_get_delta(patch.get())->flags & GIT_DIFF_FLAG_BINARY)) {
      binary->insert(path);
      continue;
    }
    auto& lines = (*out)[path];
    size_t hunks = git_patch_num_hunks(patch.get());
    for (size_t h = 0; h < hunks; ++h) {
      int count = git_patch_num_lines_in_hunk(patch.get(), h);
      for (int l = 0; l < count; ++l) {
        const git_diff_line* line = nullptr;
        rc = git_patch_get_line_in_hunk(&line, patch.get(), h, static_cast<size_t>(l));
        if (rc < 0) return GitError(rc, "line of " + path);
        if (line->origin != GIT_DIFF_LINE_ADDITION) continue;
        std::string_view text(line->content, line->content_len);
        if (!text.empty() && text.back() == '\n') text.remove_suffix(1);
        lines[line->new_lineno] = std::string(text);
      }
    }
  }
  return Status::Ok();
}

}  // namespace

Status ScanGitHistory(const Scanner& scanner, const std::string& repo_path,
                      const std::string& range, WalkResult* result, uint64_t max_blob_bytes) {
  git_libgit2_init();  // reference-counted; left initialised for the process
  git_libgit2_opts(GIT_OPT_SET_OWNER_VALIDATION, 0);  // read-only scan of any repo
  git_repository* rraw = nullptr;
  int rc = git_repository_open_ext(&rraw, repo_path.c_str(), GIT_REPOSITORY_OPEN_NO_SEARCH, nullptr);
  if (rc < 0) return GitError(rc, "open " + repo_path);
  RepoPtr repo(rraw);
  git_revwalk* wraw = nullptr;
  if ((rc = git_revwalk_new(&wraw, repo.get())) < 0) return GitError(rc, "revwalk");
  WalkPtr walk(wraw);
  git_revwalk_sorting(walk.get(), GIT_SORT_TOPOLOGICAL | GIT_SORT_REVERSE);
  if (range.find("..") != std::string::npos) rc = git_revwalk_push_range(walk.get(), range.c_str());
  else if (!range.empty()) {
    git_object* obj = nullptr;
    rc = git_revparse_single(&obj, repo.get(), range.c_str());
    if (rc >= 0) {
      rc = git_revwalk_push(walk.get(), git_object_id(obj));
      git_object_free(obj);
    }
  } else {
    rc = git_revwalk_push_glob(walk.get(), "refs/*");
  }
  if (rc < 0) return GitError(rc, "range '" + range + "'");

  git_oid oid;
  while ((rc = git_revwalk_next(&oid, walk.get())) == 0) {
    char hex[GIT_OID_HEXSZ + 1];
    git_oid_tostr(hex, sizeof hex, &oid);
    git_commit* craw = nullptr;
    if ((rc = git_commit_lookup(&craw, repo.get(), &oid)) < 0) return GitError(rc, hex);
    CommitPtr commit(craw);
    git_tree* traw = nullptr;
    if ((rc = git_commit_tree(&traw, commit.get())) < 0) return GitError(rc, hex);
    TreePtr tree(traw);
    ++result->files;
    unsigned parents = git_commit_parentcount(commit.get());
    Added added;
    std::set<std::string> binary;
    for (unsigned p = 0; p < std::max(parents, 1u); ++p) {
      TreePtr ptree;
      if (parents > 0) {
        git_commit* praw = nullptr;
        if ((rc = git_commit_parent(&praw, commit.get(), p)) < 0) return GitError(rc, hex);
        CommitPtr parent(praw);
        git_tree* ptraw = nullptr;
        if ((rc = git_commit_tree(&ptraw, parent.get())) < 0) return GitError(rc, hex);
        ptree.reset(ptraw);
      }
      Added mine;
          AG_RETURN_IF_ERROR(
          AddedLines(repo.get(), ptree.get(), tree.get(), max_blob_bytes, &mine, &binary));
      if (p == 0) {
        added = std::move(mine);
        continue;
      }
      // A merge adds only what is new against every parent.
      for (auto it = added.begin(); it != added.end();) {
        auto other = mine.find(it->first);
        if (other == mine.end()) {
          it = added.erase(it);
          continue;
        }
        std::erase_if(it->second, [&](const auto& kv) { return !other->second.count(kv.first); });
        ++it;
      }
    }
    for (const std::string& path : binary)
      result->skipped.push_back({path, std::string("binary or larger than ") +
                                           std::to_string(max_blob_bytes) + " bytes in " + hex});
    for (const auto& [path, lines] : added) {
      if (lines.empty()) continue;
      std::vector<Line> view;
      view.reserve(lines.size());
      for (const auto& [number, text] : lines) {
        view.push_back({number, text});
        result->bytes += text.size() + 1;
      }
      AG_RETURN_IF_ERROR(scanner.ScanCommitLines(hex, path, view, &result->findings, &result->skipped));
    }
  }
  if (rc != GIT_ITEROVER) return GitError(rc, "walk");
  return Status::Ok();
}

}  // namespace ag::scan
