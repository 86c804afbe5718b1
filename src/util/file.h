// File helpers that report errors as Status with the path and errno text.
//
// Thread-safety: safe from any thread (no shared state).
#pragma once

#include <string>
#include <string_view>

#include "util/status.h"

namespace ag {

// Reads a whole file. Fails with ResourceExhausted past `max_bytes`.
Result<std::string> ReadFile(const std::string& path, size_t max_bytes = 64u << 20);

// Writes `data` to `path` atomically (temp file in the same folder, fsync,
// rename) with permission bits `mode`.
Status WriteFileAtomic(const std::string& path, std::string_view data, int mode = 0644);

// Status for the current errno: "<what>: <strerror>" as kIo.
Status ErrnoStatus(std::string_view what);

}  // namespace ag
