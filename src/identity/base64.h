// Base64 (RFC 4648 section 4) and base64url (section 5) encoding and strict
// decoding, for HTTP Basic credentials, JWT segments and JWK members.
//
// Decoding is strict: characters outside the alphabet, misplaced padding and
// non-zero trailing bits are errors, so one value has one encoding.
//
// Thread-safety: pure functions; safe from any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace ag::identity {

// Standard alphabet with '=' padding.
std::string Base64Encode(std::string_view data);
// URL-safe alphabet ('-', '_'), no padding (as JWTs use it).
std::string Base64UrlEncode(std::string_view data);

// Standard alphabet; padding optional but, when present, correct.
// Returns nullopt on any malformed input.
std::optional<std::string> Base64Decode(std::string_view text);
// URL-safe alphabet; padding is rejected (JWS compact form never pads).
// Returns nullopt on any malformed input.
std::optional<std::string> Base64UrlDecode(std::string_view text);

// True when `text` is non-empty and only uses the base64url alphabet.
bool IsBase64Url(std::string_view text);

}  // namespace ag::identity
