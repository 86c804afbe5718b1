// Fuzz target: JWT parsing and verification as the mirror does it for each
// request (Authenticator::Authenticate with "Bearer <jwt>": ParseJwt, the
// issuer lookup, the header checks, the JWKS key, the signature, then every
// claim check of OidcIssuer::Verify).
//
// Input, one of:
//   <token>                  a raw token (no newline): parse + verify as is;
//   <header>\n<claims>       two JSON texts, base64url-encoded and SIGNED here
//                            with the key the header's "alg" names, so the
//                            claim checks see fuzzed claims behind a valid
//                            signature.
// A refusal's message must never contain the token.
#include <cstdint>
#include <string>

#include "fuzz_support.h"
#include "identity/base64.h"
#include "identity/jwt.h"
#include "identity_env.h"

namespace {

using ag::fuzz::Fail;
using nlohmann::json;

std::string SignedToken(const ag::fuzz::IdentityEnv& env, std::string_view header,
                        std::string_view claims) {
  json h = json::parse(header, nullptr, /*allow_exceptions=*/false);
  std::string alg = "ES256";
  if (h.is_object() && h.contains("alg") && h["alg"].is_string()) alg = h["alg"].get<std::string>();
  std::string input = ag::identity::Base64UrlEncode(header) + "." +
                      ag::identity::Base64UrlEncode(claims);
  return input + "." + ag::identity::Base64UrlEncode(
                           ag::identity::testing::RawSign(env.KeyFor(alg), alg, input));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static ag::fuzz::IdentityEnv* env = new ag::fuzz::IdentityEnv;
  std::string_view in = ag::fuzz::AsText(data, size);
  std::string token;
  size_t nl = in.find('\n');
  if (nl == std::string_view::npos) {
    token = std::string(in);
    auto jwt = ag::identity::ParseJwt(token);
    if (jwt.ok() && !ag::identity::LooksLikeJwt(token)) {
      Fail("ParseJwt accepts what LooksLikeJwt refuses");
    }
  } else {
    token = SignedToken(*env, in.substr(0, nl), in.substr(nl + 1));
  }
  auto id = env->auth->Authenticate("Bearer " + token, ag::fuzz::FuzzNow());
  if (id.ok()) {
    if (id->name.empty()) Fail("an identity without a name");
    if (id->method == "oidc" && id->name.rfind("gha:", 0) != 0) Fail("identity_prefix missing");
    if (id->method == "oidc" && id->claims.count("repository_owner") &&
        id->claims.at("repository_owner") != "example-org") {
      Fail("required_claims not enforced");
    }
  } else if (token.size() >= 12 && token.find_first_of("0123456789._-") != std::string::npos &&
             id.status().message().find(token) != std::string::npos) {
    // (A token of plain words can be part of a fixed message by chance: the
    // fuzzer found "malformed Authorizati" in "malformed Authorization
    // header". Tokens and JWTs have digits, dots or dashes.)
    Fail("a refusal names the token");
  }
  return 0;
}
