// Scanning git history: the added lines of every commit in a range, each
// against every parent (a merge's own additions are the lines it adds
// relative to all of its parents, so an "evil merge" is caught and the
// merged branch is not reported twice). Root commits: their whole tree.
//
// Built on git::Inspector (src/git/inspect.h), the walker the pre-receive
// hook uses, with explicit hidden commits instead of refs/.
//
// Thread-safety: opens its own git_repository per call; safe from any thread.
#pragma once

#include <string>

#include "scan/scanner.h"
#include "scan/walk.h"

namespace ag::scan {

// Scans the commits of `range` ("A..B", or a single rev meaning everything
// reachable from it; empty: everything reachable from any ref) in the
// repository at `repo_path`. Findings carry the commit id; binary and
// oversize files become SkipNotes. result->files counts commits, ->bytes
// added bytes scanned. A non-OK status means the walk could not be done.
Status ScanGitHistory(const Scanner& scanner, const std::string& repo_path,
                      const std::string& range, WalkResult* result,
                      uint64_t max_blob_bytes = 10u << 20);

}  // namespace ag::scan
