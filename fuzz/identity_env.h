// Shared by the identity fuzz targets (jwt, auth_header): signing
// keys, their JWKS, and an Authenticator configured with one static token and
// one OIDC issuer, as agentgate.yaml would configure them.
//
// The keys are generated per process: a token with a valid signature is
// built by the target itself from a header and claims in the input, so no
// token-shaped literal sits in the corpus.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "config/config.h"
#include "fuzz_support.h"
#include "identity/identity.h"
#include "tests/identity/test_keys.h"
#include "util/crypto.h"

namespace ag::fuzz {

inline constexpr const char* kIssuer = "https://token.actions.example.com";
inline constexpr const char* kStaticToken = "ag_fuzz-static-token-0123456789abcdefghijklmn";
// 2026-01-01T00:00:00Z: the seeds' claims are valid at this time.
inline constexpr int64_t kNowSeconds = 1767225600;

inline std::chrono::system_clock::time_point FuzzNow() {
  return std::chrono::system_clock::time_point(std::chrono::seconds(kNowSeconds));
}

struct IdentityEnv {
  TempDir dir;
  identity::testing::TestKey rsa = identity::testing::MakeRsaKey("rsa-1");
  identity::testing::TestKey ec256 = identity::testing::MakeEcKey("ec-256", "P-256");
  identity::testing::TestKey ec384 = identity::testing::MakeEcKey("ec-384", "P-384");
  std::unique_ptr<identity::Authenticator> auth;

  IdentityEnv() {
    WriteFile(dir / "jwks.json", identity::testing::Jwks({&rsa, &ec256, &ec384}));
    config::Config c;
    config::StaticTokenConfig t;
    t.identity = "agent-static";
    t.groups = {"agents"};
    t.sha256 = Sha256Hex(kStaticToken);
    c.tokens.push_back(t);
    config::OidcConfig o;
    o.issuer = kIssuer;
    o.audiences = {"agentgate", "https://git.example.com"};
    o.jwks_file = dir / "jwks.json";
    o.algorithms = {"RS256", "RS384", "RS512", "ES256", "ES384"};
    o.identity_prefix = "gha:";
    o.required_claims = {{"repository_owner", "example-org"}};
    o.groups = {"ci"};
    c.oidc.push_back(o);
    auto a = identity::Authenticator::Create(c);
    if (!a.ok()) {
      std::fprintf(stderr, "%s\n", a.status().ToString().c_str());
      Fail("Authenticator::Create");
    }
    auth = std::move(*a);
  }

  // The key a token with header "alg" `alg` is signed with.
  const identity::testing::TestKey& KeyFor(const std::string& alg) const {
    if (alg.rfind("RS", 0) == 0) return rsa;
    if (alg == "ES384") return ec384;
    return ec256;
  }
};

}  // namespace ag::fuzz
