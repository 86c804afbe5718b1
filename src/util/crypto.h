// Small wrappers over OpenSSL 3: hashes, HMAC, random bytes, hex, and a
// constant-time compare. Used for token hashes, secret fingerprints and the
// audit hash chain.
//
// Thread-safety: all functions are safe to call from any thread.
#pragma once

#include <string>
#include <string_view>

#include "util/status.h"

namespace ag {

// Lower-case hex of the bytes of `data`.
std::string HexEncode(std::string_view data);

// Raw 32-byte SHA-256 of `data`.
std::string Sha256(std::string_view data);
inline std::string Sha256Hex(std::string_view data) { return HexEncode(Sha256(data)); }

// Raw 32-byte HMAC-SHA256 of `data` under `key`.
std::string HmacSha256(std::string_view key, std::string_view data);

// `n` bytes from the OS CSPRNG, or an Internal status.
Result<std::string> RandomBytes(size_t n);

// True when a and b are equal; time depends only on the lengths.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace ag
