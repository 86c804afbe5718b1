// Symlink targets resolved through the pushed tree, the way a checkout of it
// would resolve them: a target that stays inside lexically can still leave
// the tree through the other links of the same tree (`docs/l0 -> ..`,
// `docs/l1 -> l0/..`, ..., `docs/passwd.md -> l7/etc/passwd`).
//
// Thread-safety: stateless; the repository and tree are borrowed and, like
// every libgit2 handle, used by one thread at a time.
#pragma once

#include <string_view>

#include "git/git.h"

namespace ag::git {

// A symlink's target is at most this long in a checkout (PATH_MAX - 1);
// a longer one is counted as escaping (fail closed).
inline constexpr size_t kMaxSymlinkTargetBytes = 4095;

// Linux's MAXSYMLINKS: links followed in one resolution before ELOOP.
inline constexpr int kDefaultMaxSymlinkHops = 40;

// Resolves the symlink at `link_path` (whose target is `target`) through the
// tree `root` as a checkout of it would: each component that is itself a
// symlink in the tree is replaced by its target (relative to its folder),
// `..` steps back a component of the resolved (physical) location, with at
// most `max_hops` links followed, the one at `link_path` included (ELOOP ->
// counted as escaping: fail closed). A component missing from the tree (or
// under a file or submodule) cannot be a link: the walk goes on lexically
// there, and looks links up again once `..` brings it back into the tree.
//
// Returns true when the final path, or any intermediate one, leaves the tree
// (an absolute target, `..` past the root), when the hop limit is hit, or when
// a target holds a NUL byte or is longer than kMaxSymlinkTargetBytes.
// Returns a non-OK Status when the repository cannot be read (a link's blob
// is missing, ...): callers must treat that as declined, not as inside.
//
// `root` may be null: then no component is a link and the answer is the pure
// lexical one (check::SymlinkEscapes). `repo` may be null only then.
Result<bool> SymlinkEscapesTree(git_repository* repo, git_tree* root, std::string_view link_path,
                                std::string_view target, int max_hops = kDefaultMaxSymlinkHops);

}  // namespace ag::git
