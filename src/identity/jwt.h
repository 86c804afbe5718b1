// JWS compact serialisation (RFC 7515) as far as agentgate needs it: split a
// token into its parts and decode header and claims. Nothing here checks a
// signature or a claim; see oidc.h.
//
// Thread-safety: pure functions; safe from any thread.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "util/status.h"

namespace ag::identity {

struct Jwt {
  std::string signing_input;  // "<header>.<payload>" exactly as received
  std::string signature;      // raw signature bytes (may be empty: alg "none")
  nlohmann::json header;      // a JSON object
  nlohmann::json claims;      // a JSON object
};

// True when `token` has the shape of a JWS: three '.'-separated base64url
// segments, the first two non-empty (the third may be empty, as with "none",
// so such tokens are refused as JWTs rather than as unknown static tokens).
bool LooksLikeJwt(std::string_view token);

// Decodes the parts. Unauthenticated("malformed token") on any error; the
// message never contains the token.
Result<Jwt> ParseJwt(std::string_view token);

}  // namespace ag::identity
