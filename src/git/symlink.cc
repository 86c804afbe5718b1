#include "git/symlink.h"

#include <algorithm>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

namespace ag::git {
namespace {

constexpr git_filemode_t kLinkMode = GIT_FILEMODE_LINK;  // 0120000

struct TreeEntryFree {
  void operator()(git_tree_entry* e) const { git_tree_entry_free(e); }
};
using TreeEntryPtr = std::unique_ptr<git_tree_entry, TreeEntryFree>;

// The components of `path`, in order, without "" and ".".
std::vector<std::string> Components(std::string_view path) {
  std::vector<std::string> parts;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t end = path.find('/', pos);
    if (end == std::string_view::npos) end = path.size();
    std::string_view part = path.substr(pos, end - pos);
    if (!part.empty() && part != ".") parts.emplace_back(part);
    pos = end + 1;
  }
  return parts;
}

// Queues the components of `path` on `pending` so that they pop in order.
void PushComponents(std::string_view path, std::vector<std::string>& pending) {
  std::vector<std::string> parts = Components(path);
  pending.insert(pending.end(), std::make_move_iterator(parts.rbegin()),
                 std::make_move_iterator(parts.rend()));
}

// A target a checkout could not (or must not) be trusted to follow.
bool UnfollowableTarget(std::string_view target) {
  return target.size() > kMaxSymlinkTargetBytes || target.find('\0') != std::string_view::npos ||
         (!target.empty() && target.front() == '/');
}

std::string Join(const std::vector<std::string>& dir, const std::string& name) {
  std::string path;
  for (const std::string& c : dir) path += c + "/";
  return path + name;
}

}  // namespace

Result<bool> SymlinkEscapesTree(git_repository* repo, git_tree* root, std::string_view link_path,
                                std::string_view target, int max_hops) {
  // Following the link at `link_path` is the first hop.
  if (max_hops < 1 || UnfollowableTarget(target)) return true;
  int hops_left = max_hops - 1;

  // `dir`: the physical location reached so far, one component each.
  // `in_tree`: how many leading components of `dir` are folders of `root`;
  // links are looked up only while all of them are.
  std::vector<std::string> dir;
  size_t slash = link_path.rfind('/');
  if (slash != std::string_view::npos) dir = Components(link_path.substr(0, slash));
  size_t in_tree = root ? dir.size() : 0;

  std::vector<std::string> pending;  // components still to walk, next at back()
  PushComponents(target, pending);
  while (!pending.empty()) {
    std::string name = std::move(pending.back());
    pending.pop_back();
    if (name == "..") {
      if (dir.empty()) return true;  // `..` past the root of the tree
      dir.pop_back();
      in_tree = std::min(in_tree, dir.size());
      continue;
    }
    if (!root || in_tree != dir.size()) {  // under a missing path: lexical
      dir.push_back(std::move(name));
      continue;
    }
    std::string path = Join(dir, name);
    git_tree_entry* raw = nullptr;
    int rc = git_tree_entry_bypath(&raw, root, path.c_str());
    TreeEntryPtr entry(raw);
    if (rc == GIT_ENOTFOUND) {  // not in the tree: cannot be a link
      dir.push_back(std::move(name));
      continue;
    }
    if (rc != 0) return GitStatus(rc, "cannot look up " + path);
    git_filemode_t mode = git_tree_entry_filemode(entry.get());
    if (mode == GIT_FILEMODE_TREE) {
      dir.push_back(std::move(name));
      ++in_tree;
      continue;
    }
    if (mode != kLinkMode) {  // a file or a submodule: nothing below it is known
      dir.push_back(std::move(name));
      continue;
    }
    // A link: replace it by its target, relative to the folder holding it.
    if (hops_left-- <= 0) return true;  // ELOOP: fail closed
    git_blob* raw_blob = nullptr;
    rc = git_blob_lookup(&raw_blob, repo, git_tree_entry_id(entry.get()));
    BlobPtr blob(raw_blob);
    if (rc != 0) return GitStatus(rc, "cannot read the symlink " + path);
    std::string_view link_target(static_cast<const char*>(git_blob_rawcontent(blob.get())),
                                 static_cast<size_t>(git_blob_rawsize(blob.get())));
    if (UnfollowableTarget(link_target)) return true;
    PushComponents(link_target, pending);
  }
  return false;
}

}  // namespace ag::git
