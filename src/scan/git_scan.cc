// ScanGitHistory on the shared walker (git::Inspector): one revwalk, each
// commit against each parent, a merge's own additions only.
#include "scan/git_scan.h"

#include "git/git.h"
#include "git/inspect.h"

namespace ag::scan {
namespace {

// More commits than this in one history scan: fail rather than run unbounded.
constexpr size_t kMaxHistoryCommits = 10'000'000;

// Resolves a revision (ref, oid, HEAD~2...) to a commit oid.
Result<std::string> RevToCommit(git_repository* repo, const std::string& rev) {
  git_object* obj = nullptr;
  int rc = git_revparse_single(&obj, repo, rev.c_str());
  git::ObjectPtr owner(obj);
  if (rc != 0) return git::GitStatus(rc, "range '" + rev + "'");
  return git::PeelToCommit(repo, git::OidHex(*git_object_id(obj)));
}

// Every ref's commit (refs that do not peel to a commit are skipped).
Result<std::vector<std::string>> AllRefTips(git_repository* repo) {
  git_reference_iterator* it = nullptr;
  int rc = git_reference_iterator_glob_new(&it, repo, "refs/*");
  git::RefIteratorPtr owner(it);
  if (rc != 0) return git::GitStatus(rc, "cannot list refs");
  std::vector<std::string> tips;
  git_reference* ref = nullptr;
  while ((rc = git_reference_next(&ref, it)) == 0) {
    git::ReferencePtr ref_owner(ref);
    git_reference* resolved = nullptr;
    if (git_reference_resolve(&resolved, ref) != 0) continue;  // dangling symref
    git::ReferencePtr resolved_owner(resolved);
    const git_oid* oid = git_reference_target(resolved);
    if (!oid) continue;
    Result<std::string> commit = git::PeelToCommit(repo, git::OidHex(*oid));
    if (commit.ok()) tips.push_back(*commit);
  }
  if (rc != GIT_ITEROVER) return git::GitStatus(rc, "cannot list refs");
  return tips;
}

class ScanVisitor final : public git::ChangeVisitor {
 public:
  ScanVisitor(const Scanner& scanner, uint64_t max_blob_bytes, WalkResult* result)
      : scanner_(scanner), max_blob_bytes_(max_blob_bytes), result_(result) {}

  Status OnCommit(const git::CommitInfo&) override {
    ++result_->files;
    return Status::Ok();
  }

  Status OnFile(const git::CommitInfo& commit, const git::FileChange& change) override {
    if (change.status != git::FileStatus::kDeleted && change.new_mode != git::kModeLink &&
        change.new_mode != git::kModeGitlink) {
      size_t before = result_->findings.size();
      scanner_.ScanPath(change.path, &result_->findings);  // key stores, by name
      for (size_t i = before; i < result_->findings.size(); ++i)
        result_->findings[i].commit = commit.oid;
    }
    if (change.lines_skipped) {
      result_->skipped.push_back({change.path, "larger than " + std::to_string(max_blob_bytes_) +
                                                   " bytes in " + commit.oid});
      return Status::Ok();
    }
    if (change.binary) {
      result_->skipped.push_back({change.path, std::string(kSkipReasonBinary) + " in " + commit.oid});
      return Status::Ok();
    }
    lines_.clear();
    if (change.new_mode == git::kModeLink) {
      if (!change.symlink_target.empty()) lines_.push_back({1, change.symlink_target});
    } else {
      for (const git::AddedLine& l : change.added) lines_.push_back({l.number, l.text});
    }
    if (lines_.empty()) return Status::Ok();
    for (const Line& l : lines_) result_->bytes += l.text.size() + 1;
    return scanner_.ScanCommitLines(commit.oid, change.path, lines_, &result_->findings,
                                    &result_->skipped);
  }

 private:
  const Scanner& scanner_;
  const uint64_t max_blob_bytes_;
  WalkResult* result_;
  std::vector<Line> lines_;  // views into the change, valid during OnFile
};

}  // namespace

Status ScanGitHistory(const Scanner& scanner, const std::string& repo_path,
                      const std::string& range, WalkResult* result, uint64_t max_blob_bytes) {
  AG_ASSIGN_OR_RETURN(git::RepoPtr repo, git::OpenRepo(repo_path));
  git::InspectOptions options;
  options.hide_refs = false;
  options.max_commits = kMaxHistoryCommits;
  options.max_diff_blob_bytes = max_blob_bytes;
  std::vector<std::string> tips;
  if (size_t dots = range.find(".."); dots != std::string::npos) {
    const std::string from = range.substr(0, dots), to = range.substr(dots + 2);
    if (from.empty() || to.empty() || to.front() == '.')
      return Status::InvalidArgument("range '" + range + "': expected A..B");
    AG_ASSIGN_OR_RETURN(std::string hidden, RevToCommit(repo.get(), from));
    AG_ASSIGN_OR_RETURN(std::string tip, RevToCommit(repo.get(), to));
    options.hide_commits.push_back(std::move(hidden));
    tips.push_back(std::move(tip));
  } else if (!range.empty()) {
    AG_ASSIGN_OR_RETURN(std::string tip, RevToCommit(repo.get(), range));
    tips.push_back(std::move(tip));
  } else {
    AG_ASSIGN_OR_RETURN(tips, AllRefTips(repo.get()));
  }
  git::Inspector inspector(repo.get(), options);
  ScanVisitor visitor(scanner, max_blob_bytes, result);
  std::vector<git::CommitInfo> commits;
  return inspector.Walk(tips, &visitor, &commits);
}

}  // namespace ag::scan
