// Helpers shared by the fuzz targets (fuzz/*.cc): a temp folder removed at
// exit (tests/testing/shell.h's), file writing for APIs that take paths, and
// splitting one input into fields. Each target is its own program; nothing here is thread-safe or
// meant for src/.
#pragma once

#include <stdlib.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "tests/testing/shell.h"

namespace ag::fuzz {

// Stops the program with a message: a failed invariant is a finding.
[[noreturn]] inline void Fail(const char* what) {
  std::fprintf(stderr, "fuzz invariant failed: %s\n", what);
  std::abort();
}

// A folder under $TMPDIR (or /tmp) for the program's lifetime: the tests' own.
using TempDir = ag::testing::TempDir;

inline void WriteFile(const std::string& path, std::string_view data) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f || std::fwrite(data.data(), 1, data.size(), f) != data.size()) Fail("write");
  std::fclose(f);
}

// `data` split at each `sep` (at most `max` fields; the last keeps the rest).
inline std::vector<std::string_view> Split(std::string_view data, char sep, size_t max) {
  std::vector<std::string_view> out;
  while (out.size() + 1 < max) {
    size_t at = data.find(sep);
    if (at == std::string_view::npos) break;
    out.push_back(data.substr(0, at));
    data.remove_prefix(at + 1);
  }
  out.push_back(data);
  return out;
}

inline std::string_view AsText(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

}  // namespace ag::fuzz
