// JSON Web Keys (RFC 7517) for verifying JWT signatures: parsing a JWKS
// document into OpenSSL public keys, and JWS signature verification
// (RFC 7518 RS256/RS384/RS512/ES256/ES384) over those keys.
//
// Only asymmetric signing keys are kept: "oct" (symmetric) keys, keys whose
// "use" is not "sig", RSA moduli under 2048 bits and EC curves other than
// P-256/P-384 are skipped, so an HMAC can never be checked against them.
//
// Thread-safety: a KeySet is immutable after ParseJwks; share it as
// shared_ptr<const KeySet> and call its const methods from any thread.
#pragma once

#include <openssl/evp.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace ag::identity {

struct EvpPkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, EvpPkeyFree>;

enum class KeyType { kRsa, kEcP256, kEcP384 };

// A JWS algorithm we implement. Everything else ("none", HS*, PS*, EdDSA) is
// refused before any key is looked at.
enum class Algorithm { kRs256, kRs384, kRs512, kEs256, kEs384 };

// Parses "RS256", ...; nullopt for anything we do not implement.
std::optional<Algorithm> ParseAlgorithm(std::string_view name);
std::string_view AlgorithmName(Algorithm alg);
// The key type an algorithm needs (ES256 needs P-256, ES384 P-384).
KeyType KeyTypeFor(Algorithm alg);

struct Jwk {
  std::string kid;  // may be empty
  std::string alg;  // the JWK's own "alg" if present; must then equal the token's
  KeyType type = KeyType::kRsa;
  EvpPkeyPtr key;
};

// Not copyable (owns OpenSSL keys).
class KeySet {
 public:
  KeySet() = default;
  KeySet(const KeySet&) = delete;
  KeySet& operator=(const KeySet&) = delete;

  const std::vector<Jwk>& keys() const { return keys_; }
  size_t size() const { return keys_.size(); }

  // The key to verify a token signed with `alg` and header `kid`:
  // - kid non-empty: the key with that kid whose type fits `alg`;
  // - kid empty: the only key whose type fits `alg`.
  // Returns nullptr when there is none (or several without a kid).
  // `*kid_known` (optional) is set when some key has that kid, whatever its type.
  const Jwk* Find(std::string_view kid, Algorithm alg, bool* kid_known = nullptr) const;

 private:
  friend Result<std::shared_ptr<const KeySet>> ParseJwks(std::string_view json);
  std::vector<Jwk> keys_;
};

// Bounds on what ParseJwks accepts.
inline constexpr size_t kMaxJwksKeys = 64;

// Parses a JWKS document ({"keys": [...]}). Unusable keys are skipped; fails
// with InvalidArgument when the document is malformed or no usable key is left.
Result<std::shared_ptr<const KeySet>> ParseJwks(std::string_view json);

// Verifies a JWS signature (`signature` raw bytes, as decoded from base64url)
// over `signing_input` ("header.payload") with `key`. ES* signatures are the
// raw R||S form and are converted to DER here. Returns true only when valid.
bool VerifySignature(Algorithm alg, const Jwk& key, std::string_view signing_input,
                     std::string_view signature);

}  // namespace ag::identity
