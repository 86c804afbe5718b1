// Fuzz target: JWKS documents (identity::ParseJwks: RSA and EC members,
// base64url big numbers, "use", "alg", "kid", limits), then key lookup and
// signature verification with every accepted key. The signature and signing
// input are fixed: nothing random may verify, and nothing may crash.
#include <cstdint>
#include <string>

#include "fuzz_support.h"
#include "identity/jwk.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ag::identity;
  auto keys = ParseJwks(ag::fuzz::AsText(data, size));
  if (!keys.ok()) return 0;
  if ((*keys)->size() == 0 || (*keys)->size() > kMaxJwksKeys) ag::fuzz::Fail("key count");
  static const Algorithm kAlgs[] = {Algorithm::kRs256, Algorithm::kRs384, Algorithm::kRs512,
                                    Algorithm::kEs256, Algorithm::kEs384};
  const std::string input = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0";
  for (const Jwk& k : (*keys)->keys()) {
    for (Algorithm alg : kAlgs) {
      bool kid_known = false;
      const Jwk* found = (*keys)->Find(k.kid, alg, &kid_known);
      if (!k.kid.empty() && !kid_known) ag::fuzz::Fail("Find does not know a present kid");
      if (found && found->type != KeyTypeFor(alg)) ag::fuzz::Fail("Find gave the wrong key type");
      if (k.type != KeyTypeFor(alg)) continue;
      for (size_t n : {size_t{0}, size_t{64}, size_t{96}, size_t{256}, size_t{512}}) {
        std::string sig(n, '\x5a');
        if (VerifySignature(alg, k, input, sig)) ag::fuzz::Fail("a constant signature verifies");
      }
    }
  }
  return 0;
}
