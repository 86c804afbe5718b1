// LooksBinary: the one definition of "binary" that the hook, `agentgate scan`
// and docs/scanner.md share: a NUL byte in the first 8000 bytes (git's own
// test). A byte-order mark or a few control characters do not make a text
// file binary: an agent could otherwise hide a secret from the scanner by
// starting a file with them.
//
// Thread-safety: a pure function.
#pragma once

#include <cstring>
#include <string_view>

namespace ag {

inline constexpr size_t kBinaryProbeBytes = 8000;

inline bool LooksBinary(std::string_view data) {
  return std::memchr(data.data(), 0, data.size() < kBinaryProbeBytes ? data.size() : kBinaryProbeBytes) !=
         nullptr;
}

}  // namespace ag
