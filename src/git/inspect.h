// Inspection of what a push brings: every new commit reachable from the
// pushed tips and from no existing ref, found in ONE revwalk for all refs of
// the push, each commit diffed against each of its parents.
//
// Merges: a path (or an added line) counts as introduced by a merge only when
// it differs from EVERY parent, so a secret written into a merge ("evil
// merge") is found while content merged in from an existing branch is not
// reported again.
//
// Cost follows the size of the push: the walk stops at existing refs, diffs
// are tree-to-tree (unchanged subtrees are skipped by oid), and blobs are read
// only when they changed.
//
// Thread-safety: one Inspector per thread; it borrows the repository.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "git/git.h"

namespace ag::git {

// git's vocabulary: one line of pre-receive input.
struct RefUpdate {
  std::string old_oid;
  std::string new_oid;
  std::string ref_name;
  bool is_delete() const { return IsZeroOid(new_oid); }
  bool is_create() const { return IsZeroOid(old_oid); }
};

// Parses "old new ref\n" lines. InvalidArgument on a malformed line.
Result<std::vector<RefUpdate>> ParseRefUpdates(std::string_view input, size_t max_updates);

// One line added by a change, 1-based in the new file.
struct AddedLine {
  int number = 0;
  std::string text;
};

enum class FileStatus { kAdded, kModified, kDeleted, kTypeChanged };

struct FileChange {
  FileStatus status = FileStatus::kModified;
  std::string path;
  uint32_t old_mode = 0;  // 0 when added
  uint32_t new_mode = 0;  // 0 when deleted
  std::string new_blob;   // hex; empty when deleted
  uint64_t new_size = 0;  // bytes of the new blob (0 for gitlinks)
  bool binary = false;    // new blob has a NUL in its first 8000 bytes
  bool lines_skipped = false;  // new blob too large to diff line by line
  std::string symlink_target;  // new blob's content when new_mode is a symlink
  std::vector<AddedLine> added;  // added lines (text files only)
};

struct CommitInfo {
  std::string oid;
  std::vector<std::string> parents;
  std::string summary;  // first line of the message
  std::string message;  // the whole message (scanned: the agent wrote it)
  std::string author;   // "Name <email>" of the author
};

struct InspectOptions {
  // More new commits than this: the walk stops and Walk returns
  // ResourceExhausted (the hook blocks the push). Default 100,000.
  size_t max_commits = 100000;
  // Blobs larger than this are not diffed line by line (lines_skipped).
  // Default 10 MiB.
  uint64_t max_diff_blob_bytes = 10u << 20;
  // Changed files per commit beyond which inspection fails closed. Default 200,000.
  size_t max_files_per_commit = 200000;

  // Added after the first version (additions only):
  // Hide every commit reachable from a ref under refs/ (what a push already
  // had). Default true: the pre-receive behaviour. False for history scans
  // of an explicit range (`agentgate scan --git --range A..B`).
  bool hide_refs = true;
  // Commits (hex oids) hidden with everything they reach, in addition to
  // refs/ when hide_refs is true. Default none.
  std::vector<std::string> hide_commits;

  // The repository's objects without the push's quarantine (borrowed, may be
  // null; pre-receive sets it). With it and hide_refs, a commit missing from
  // them is new without consulting any ref, and the walk stops at the first
  // commits that are there. When each of those is the tip of the branch HEAD
  // names or of one of `boundary_refs`, no other ref is read: a push into a
  // repository with many refs costs what the push brings. Otherwise the walk
  // hides every ref under refs/ as without it. Default null.
  git_odb* existing_objects = nullptr;
  // Refs (full names under refs/; others are ignored) whose current tips the
  // walk may stop at. They must match `hide_glob`. With the default glob,
  // HEAD's branch is always one (a detached HEAD is not). Default none.
  std::vector<std::string> boundary_refs;
  // Which refs hide_refs hides. Default "refs/*" (everything the repository
  // has). Pre-receive uses "refs/agentgate/upstream/*": the commits upstream
  // lacks are the range the replay would forward, and all of it is judged.
  std::string hide_glob = "refs/*";
  // Existing commits whose range the caller already knows (a tip judged
  // before, check::RangeResult): with existing_objects, the walk may stop at
  // those too; the caller adds their ranges. Asked only for existing commits
  // the walk stopped at that no boundary ref explains. Default none.
  std::function<bool(const git_oid&)> known_boundary;
};

// Receives each new commit and its changes, oldest first (topological).
class ChangeVisitor {
 public:
  virtual ~ChangeVisitor() = default;
  virtual Status OnCommit(const CommitInfo& commit) = 0;
  // `change` is valid only during the call.
  virtual Status OnFile(const CommitInfo& commit, const FileChange& change) = 0;
  // Called after OnCommit: false when the visitor already knows the commit's
  // changes (a cached result), so the commit is not diffed. Default true.
  virtual bool WantsChanges(const CommitInfo& commit) { return true; }
};

inline constexpr uint32_t kModeLink = 0120000;
inline constexpr uint32_t kModeGitlink = 0160000;
inline constexpr uint32_t kModeExec = 0100755;
inline constexpr uint32_t kModeFile = 0100644;

class Inspector {
 public:
  Inspector(git_repository* repo, InspectOptions options) : repo_(repo), options_(options) {}

  // Walks the commits reachable from `tips` (commit oids; annotated tags must
  // be peeled by the caller, see PeelToCommit) and from no ref under refs/
  // (options.hide_refs) nor from options.hide_commits.
  // Calls the visitor for each; appends the commits to *commits in visit order.
  Status Walk(const std::vector<std::string>& tips, ChangeVisitor* visitor,
              std::vector<CommitInfo>* commits);

  // After Walk: true when it walked only the quarantine's commits (stopping
  // at boundary refs' tips and known_boundary commits), false when it walked
  // everything the hidden refs do not reach.
  bool walked_quarantine() const { return walked_quarantine_; }

 private:
  Status DiffCommit(const CommitInfo& info, git_commit* commit, ChangeVisitor* visitor);
  // The new commits through options_.existing_objects, oldest first. Ok(false)
  // when the walk reached an existing commit that is no boundary ref's tip
  // (the caller then walks hiding every ref).
  Result<bool> WalkQuarantine(const std::vector<std::string>& tips, std::vector<git_oid>* order);
  // Reads, reports and diffs each commit of `order`.
  Status VisitAll(const std::vector<git_oid>& order, ChangeVisitor* visitor,
                  std::vector<CommitInfo>* commits);

  git_repository* repo_;
  InspectOptions options_;
  bool walked_quarantine_ = false;
};

// Peels `oid` (a commit or an annotated tag, possibly nested) to a commit.
// NotFound when it does not peel to a commit (a tag of a tree or blob).
Result<std::string> PeelToCommit(git_repository* repo, std::string_view oid);

// True when `ancestor` is reachable from `descendant` (or equal): a
// fast-forward from ancestor to descendant.
Result<bool> IsFastForward(git_repository* repo, std::string_view ancestor,
                           std::string_view descendant);

}  // namespace ag::git
