// Parsing of the HTTP Authorization header into the bearer of a credential.
//
//   Basic base64(user:token)   the password is the token; the user is ignored
//   Bearer token               RFC 6750
//
// Scheme names are case-insensitive; surrounding blanks are ignored.
//
// Thread-safety: pure function; safe from any thread.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "util/status.h"

namespace ag::identity {

// Returns the token. Unauthenticated with a client-safe message (never the
// header's content) when the header is empty, longer than `max_bytes`, of
// another scheme, or malformed.
Result<std::string> ExtractToken(std::string_view authorization, size_t max_bytes);

}  // namespace ag::identity
