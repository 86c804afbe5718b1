#include "identity/jwk.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/param_build.h>

#include <nlohmann/json.hpp>

#include "identity/base64.h"

namespace ag::identity {
namespace {

using nlohmann::json;

struct BnFree {
  void operator()(BIGNUM* p) const { BN_free(p); }
};
using BnPtr = std::unique_ptr<BIGNUM, BnFree>;
struct ParamBldFree {
  void operator()(OSSL_PARAM_BLD* p) const { OSSL_PARAM_BLD_free(p); }
};
struct ParamFree {
  void operator()(OSSL_PARAM* p) const { OSSL_PARAM_free(p); }
};
struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
};
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree>;
struct MdCtxFree {
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};
struct EcdsaSigFree {
  void operator()(ECDSA_SIG* p) const { ECDSA_SIG_free(p); }
};

constexpr int kMinRsaBits = 2048;
constexpr size_t kMaxRsaModulusBytes = 2048;  // 16384-bit modulus

// A string member of a JWK, or empty when absent or not a string.
std::string StringMember(const json& obj, const char* name) {
  auto it = obj.find(name);
  if (it == obj.end() || !it->is_string()) return "";
  return it->get<std::string>();
}

BnPtr DecodeBn(const json& obj, const char* name, size_t max_bytes) {
  std::string text = StringMember(obj, name);
  if (text.empty()) return nullptr;
  std::optional<std::string> raw = Base64UrlDecode(text);
  if (!raw || raw->empty() || raw->size() > max_bytes) return nullptr;
  return BnPtr(BN_bin2bn(reinterpret_cast<const unsigned char*>(raw->data()),
                         static_cast<int>(raw->size()), nullptr));
}

EvpPkeyPtr FromData(const char* type, OSSL_PARAM_BLD* bld) {
  std::unique_ptr<OSSL_PARAM, ParamFree> params(OSSL_PARAM_BLD_to_param(bld));
  if (!params) return nullptr;
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1) return nullptr;
  EVP_PKEY* raw = nullptr;
  if (EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) return nullptr;
  return EvpPkeyPtr(raw);
}

EvpPkeyPtr RsaKey(const json& jwk) {
  BnPtr n = DecodeBn(jwk, "n", kMaxRsaModulusBytes);
  BnPtr e = DecodeBn(jwk, "e", 8);
  if (!n || !e) return nullptr;
  if (BN_num_bits(n.get()) < kMinRsaBits) return nullptr;  // weak keys are not trusted
  std::unique_ptr<OSSL_PARAM_BLD, ParamBldFree> bld(OSSL_PARAM_BLD_new());
  if (!bld || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, e.get()) != 1) {
    return nullptr;
  }
  return FromData("RSA", bld.get());
}

EvpPkeyPtr EcKey(const json& jwk, KeyType type) {
  const size_t size = type == KeyType::kEcP256 ? 32 : 48;
  const char* group = type == KeyType::kEcP256 ? "prime256v1" : "secp384r1";
  std::optional<std::string> x = Base64UrlDecode(StringMember(jwk, "x"));
  std::optional<std::string> y = Base64UrlDecode(StringMember(jwk, "y"));
  // RFC 7518 6.2.1.2: coordinates are exactly the field size.
  if (!x || !y || x->size() != size || y->size() != size) return nullptr;
  std::string point = "\x04" + *x + *y;  // uncompressed SEC1 point
  std::unique_ptr<OSSL_PARAM_BLD, ParamBldFree> bld(OSSL_PARAM_BLD_new());
  if (!bld ||
      OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, group, 0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                       point.size()) != 1) {
    return nullptr;
  }
  EvpPkeyPtr key = FromData("EC", bld.get());
  if (!key) return nullptr;
  // The point must lie on the curve (invalid-curve attacks).
  PkeyCtxPtr check(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
  if (!check || EVP_PKEY_public_check(check.get()) != 1) return nullptr;
  return key;
}

// Converts a raw R||S signature to DER, or "" when malformed.
std::string RawEcdsaToDer(std::string_view raw, size_t size) {
  if (raw.size() != 2 * size) return "";
  const auto* p = reinterpret_cast<const unsigned char*>(raw.data());
  BnPtr r(BN_bin2bn(p, static_cast<int>(size), nullptr));
  BnPtr s(BN_bin2bn(p + size, static_cast<int>(size), nullptr));
  std::unique_ptr<ECDSA_SIG, EcdsaSigFree> sig(ECDSA_SIG_new());
  if (!r || !s || !sig) return "";
  if (ECDSA_SIG_set0(sig.get(), r.get(), s.get()) != 1) return "";
  r.release();  // owned by sig now
  s.release();
  int len = i2d_ECDSA_SIG(sig.get(), nullptr);
  if (len <= 0) return "";
  std::string der(static_cast<size_t>(len), '\0');
  auto* out = reinterpret_cast<unsigned char*>(der.data());
  if (i2d_ECDSA_SIG(sig.get(), &out) != len) return "";
  return der;
}

}  // namespace

std::optional<Algorithm> ParseAlgorithm(std::string_view name) {
  if (name == "RS256") return Algorithm::kRs256;
  if (name == "RS384") return Algorithm::kRs384;
  if (name == "RS512") return Algorithm::kRs512;
  if (name == "ES256") return Algorithm::kEs256;
  if (name == "ES384") return Algorithm::kEs384;
  return std::nullopt;
}

std::string_view AlgorithmName(Algorithm alg) {
  switch (alg) {
    case Algorithm::kRs256: return "RS256";
    case Algorithm::kRs384: return "RS384";
    case Algorithm::kRs512: return "RS512";
    case Algorithm::kEs256: return "ES256";
    case Algorithm::kEs384: return "ES384";
  }
  return "?";
}

KeyType KeyTypeFor(Algorithm alg) {
  switch (alg) {
    case Algorithm::kEs256: return KeyType::kEcP256;
    case Algorithm::kEs384: return KeyType::kEcP384;
    default: return KeyType::kRsa;
  }
}

const Jwk* KeySet::Find(std::string_view kid, Algorithm alg, bool* kid_known) const {
  if (kid_known) *kid_known = false;
  const KeyType want = KeyTypeFor(alg);
  const std::string_view alg_name = AlgorithmName(alg);
  auto fits = [&](const Jwk& k) {
    return k.type == want && (k.alg.empty() || k.alg == alg_name);
  };
  if (!kid.empty()) {
    for (const Jwk& k : keys_) {
      if (k.kid != kid) continue;
      if (kid_known) *kid_known = true;
      if (fits(k)) return &k;
    }
    return nullptr;
  }
  const Jwk* only = nullptr;
  for (const Jwk& k : keys_) {
    if (!fits(k)) continue;
    if (only) return nullptr;  // ambiguous without a kid
    only = &k;
  }
  return only;
}

Result<std::shared_ptr<const KeySet>> ParseJwks(std::string_view text) {
  json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return Status::InvalidArgument("JWKS is not a JSON object");
  }
  auto keys = doc.find("keys");
  if (keys == doc.end() || !keys->is_array()) {
    return Status::InvalidArgument("JWKS has no \"keys\" array");
  }
  if (keys->size() > kMaxJwksKeys) {
    return Status::InvalidArgument("JWKS has more than " + std::to_string(kMaxJwksKeys) + " keys");
  }
  auto set = std::make_shared<KeySet>();
  for (const json& jwk : *keys) {
    if (!jwk.is_object()) continue;
    std::string use = StringMember(jwk, "use");
    if (!use.empty() && use != "sig") continue;
    std::string kty = StringMember(jwk, "kty");
    Jwk k;
    k.kid = StringMember(jwk, "kid");
    k.alg = StringMember(jwk, "alg");
    if (kty == "RSA") {
      k.type = KeyType::kRsa;
      k.key = RsaKey(jwk);
    } else if (kty == "EC") {
      std::string crv = StringMember(jwk, "crv");
      if (crv == "P-256") {
        k.type = KeyType::kEcP256;
      } else if (crv == "P-384") {
        k.type = KeyType::kEcP384;
      } else {
        continue;
      }
      k.key = EcKey(jwk, k.type);
    } else {
      continue;  // "oct", "OKP", unknown: never used
    }
    if (!k.key) continue;
    // A JWK "alg" naming something we do not implement makes the key unusable.
    if (!k.alg.empty()) {
      std::optional<Algorithm> a = ParseAlgorithm(k.alg);
      if (!a || KeyTypeFor(*a) != k.type) continue;
    }
    set->keys_.push_back(std::move(k));
  }
  ERR_clear_error();  // skipped keys may have left errors on this thread's queue
  if (set->keys_.empty()) return Status::InvalidArgument("JWKS has no usable signing key");
  return std::shared_ptr<const KeySet>(std::move(set));
}

bool VerifySignature(Algorithm alg, const Jwk& key, std::string_view signing_input,
                     std::string_view signature) {
  if (!key.key || key.type != KeyTypeFor(alg)) return false;
  const EVP_MD* md = nullptr;
  std::string der;
  switch (alg) {
    case Algorithm::kRs256: md = EVP_sha256(); break;
    case Algorithm::kRs384: md = EVP_sha384(); break;
    case Algorithm::kRs512: md = EVP_sha512(); break;
    case Algorithm::kEs256:
      md = EVP_sha256();
      der = RawEcdsaToDer(signature, 32);
      if (der.empty()) return false;
      signature = der;
      break;
    case Algorithm::kEs384:
      md = EVP_sha384();
      der = RawEcdsaToDer(signature, 48);
      if (der.empty()) return false;
      signature = der;
      break;
  }
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  bool ok = ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, md, nullptr, key.key.get()) == 1 &&
            EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                             signature.size(),
                             reinterpret_cast<const unsigned char*>(signing_input.data()),
                             signing_input.size()) == 1;
  ERR_clear_error();
  return ok;
}

}  // namespace ag::identity
