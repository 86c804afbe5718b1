// Fuzz target: the HTTP Authorization header as the mirror receives it
// (identity::ExtractToken: Basic / Bearer, case, blanks, base64; then
// Authenticator::Authenticate: static token hashes, or a JWT for the OIDC
// issuer). A refusal's message must never contain the header's token.
#include <cstdint>
#include <string>

#include "fuzz_support.h"
#include "identity/credentials.h"
#include "identity_env.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using ag::fuzz::Fail;
  static ag::fuzz::IdentityEnv* env = new ag::fuzz::IdentityEnv;
  std::string_view header = ag::fuzz::AsText(data, size);

  auto small = ag::identity::ExtractToken(header, 64);
  if (small.ok() && header.size() > 64) Fail("ExtractToken ignores max_bytes");
  auto token = ag::identity::ExtractToken(header, 16u << 10);
  if (token.ok()) {
    if (token->empty()) Fail("an empty token");
    for (unsigned char c : *token) {
      if (c <= 0x20 || c >= 0x7f) Fail("a token with blanks, controls or non-ASCII");
    }
  }
  auto id = env->auth->Authenticate(header, ag::fuzz::FuzzNow());
  if (id.ok()) {
    if (!token.ok()) Fail("authenticated a header ExtractToken refuses");
    if (id->method == "token" && *token != ag::fuzz::kStaticToken) Fail("wrong static token");
  } else if (token.ok() && token->size() >= 12 &&
             id.status().message().find(*token) != std::string::npos) {
    Fail("a refusal names the token");
  }
  return 0;
}
