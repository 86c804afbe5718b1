// Test helpers: generate RSA and EC keys with OpenSSL, publish them as a
// JWKS, and sign JWTs with them (including deliberately wrong ones).
#pragma once

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

#include "identity/base64.h"
#include "identity/jwk.h"
#include "util/crypto.h"

namespace ag::identity::testing {

using nlohmann::json;

struct TestKey {
  std::string kid;
  std::string kty;  // "RSA" or "EC"
  std::string crv;  // "P-256" / "P-384" for EC
  EvpPkeyPtr pkey;

  json Jwk() const {
    json j = {{"kid", kid}, {"kty", kty}, {"use", "sig"}};
    if (kty == "RSA") {
      j["n"] = Base64UrlEncode(BnParam(OSSL_PKEY_PARAM_RSA_N, 0));
      j["e"] = Base64UrlEncode(BnParam(OSSL_PKEY_PARAM_RSA_E, 0));
    } else {
      size_t size = crv == "P-256" ? 32 : 48;
      j["crv"] = crv;
      j["x"] = Base64UrlEncode(BnParam(OSSL_PKEY_PARAM_EC_PUB_X, size));
      j["y"] = Base64UrlEncode(BnParam(OSSL_PKEY_PARAM_EC_PUB_Y, size));
    }
    return j;
  }

  std::string PublicPem() const {
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
    PEM_write_bio_PUBKEY(bio.get(), pkey.get());
    char* data = nullptr;
    long n = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<size_t>(n));
  }

  // Big-endian bytes of a BIGNUM parameter, left-padded to `pad` bytes.
  std::string BnParam(const char* name, size_t pad) const {
    BIGNUM* bn = nullptr;
    if (EVP_PKEY_get_bn_param(pkey.get(), name, &bn) != 1) throw std::runtime_error(name);
    size_t n = pad ? pad : static_cast<size_t>(BN_num_bytes(bn));
    std::string out(n, '\0');
    BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n));
    BN_free(bn);
    return out;
  }
};

inline TestKey MakeRsaKey(const std::string& kid, unsigned bits = 2048) {
  TestKey k{kid, "RSA", "", EvpPkeyPtr(EVP_RSA_gen(bits))};
  if (!k.pkey) throw std::runtime_error("EVP_RSA_gen");
  return k;
}

inline TestKey MakeEcKey(const std::string& kid, const std::string& crv = "P-256") {
  TestKey k{kid, "EC", crv, EvpPkeyPtr(EVP_EC_gen(crv == "P-256" ? "P-256" : "P-384"))};
  if (!k.pkey) throw std::runtime_error("EVP_EC_gen");
  return k;
}

inline std::string Jwks(std::initializer_list<const TestKey*> keys) {
  json arr = json::array();
  for (const TestKey* k : keys) arr.push_back(k->Jwk());
  return json{{"keys", arr}}.dump();
}

inline std::string Segment(const json& j) { return Base64UrlEncode(j.dump()); }

// Raw JWS signature of `input` with `key` for `alg` (ES*: raw R||S).
inline std::string RawSign(const TestKey& key, const std::string& alg, const std::string& input) {
  const EVP_MD* md = alg.ends_with("256") ? EVP_sha256()
                     : alg.ends_with("384") ? EVP_sha384()
                                            : EVP_sha512();
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  size_t len = 0;
  if (EVP_DigestSignInit(ctx.get(), nullptr, md, nullptr, key.pkey.get()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()),
                     input.size()) != 1) {
    throw std::runtime_error("sign init");
  }
  std::string sig(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                     reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1) {
    throw std::runtime_error("sign");
  }
  sig.resize(len);
  if (key.kty == "RSA") return sig;
  // DER -> R||S
  const unsigned char* p = reinterpret_cast<const unsigned char*>(sig.data());
  ECDSA_SIG* es = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size()));
  size_t size = key.crv == "P-256" ? 32 : 48;
  std::string raw(2 * size, '\0');
  BN_bn2binpad(ECDSA_SIG_get0_r(es), reinterpret_cast<unsigned char*>(raw.data()),
               static_cast<int>(size));
  BN_bn2binpad(ECDSA_SIG_get0_s(es), reinterpret_cast<unsigned char*>(raw.data() + size),
               static_cast<int>(size));
  ECDSA_SIG_free(es);
  return raw;
}

// A compact JWS. `header` gets no defaults: pass alg (and kid) yourself.
inline std::string SignJwt(const TestKey& key, const json& header, const json& claims) {
  std::string input = Segment(header) + "." + Segment(claims);
  return input + "." + Base64UrlEncode(RawSign(key, header.at("alg"), input));
}

// An HS256 JWS with `secret` as the HMAC key (the key-confusion attack).
inline std::string SignHs256(const std::string& secret, const json& header, const json& claims) {
  std::string input = Segment(header) + "." + Segment(claims);
  return input + "." + Base64UrlEncode(HmacSha256(secret, input));
}

// A temp dir removed at destruction.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "ag-identity-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace ag::identity::testing
