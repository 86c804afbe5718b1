// Scanning files and directory trees on disk with a Scanner: recursive,
// `.git` folders and symlinks not followed, one reused read buffer (memory
// stays at about max_blob_bytes however large the tree).
//
// Thread-safety: stateless functions; the Scanner may be shared.
#pragma once

#include <string>
#include <vector>

#include "scan/scanner.h"

namespace ag::scan {

struct WalkOptions {
  // Files larger than this are noted, not read. Default 10 MiB (set it to
  // the scanner's max_blob_bytes).
  uint64_t max_blob_bytes = 10u << 20;
};

struct WalkResult {
  std::vector<Finding> findings;
  std::vector<SkipNote> skipped;
  std::vector<std::string> errors;  // unreadable paths: the scan is incomplete
  uint64_t files = 0;
  uint64_t bytes = 0;
};

// Scans every file under `paths` (files or directories). Never fails as a
// whole: per-path errors land in result->errors.
void ScanPaths(const Scanner& scanner, const std::vector<std::string>& paths,
               const WalkOptions& options, WalkResult* result);

}  // namespace ag::scan
