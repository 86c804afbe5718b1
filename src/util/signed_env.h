// The identity envelope the mirror hands to git hooks through the child
// environment, signed with the server key so a hook can tell an identity set
// by agentgate-mirror from one set by anybody else (a local user pushing by
// path cannot forge it without the key).
//
//   AGENTGATE_IDENTITY     policy identity ("agent-ci")
//   AGENTGATE_GROUPS       comma-separated groups
//   AGENTGATE_REQUEST_ID   the HTTP request id (for logs and audit)
//   AGENTGATE_METHOD       "token" or "oidc"
//   AGENTGATE_CLAIMS       selected claims as a JSON object (may be "{}")
//   AGENTGATE_SIGNATURE    hex HMAC-SHA256(key, the five values joined by '\n')
//
// Thread-safety: pure functions; safe from any thread.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "util/status.h"

namespace ag {

struct SignedIdentity {
  std::string identity;
  std::vector<std::string> groups;
  std::string request_id;
  std::string method;
  std::string claims_json = "{}";
};

// The environment variables (name -> value) for `id`, signed with `key`.
std::map<std::string, std::string> SignIdentityEnv(const SignedIdentity& id, const std::string& key);

// Reads the variables from the process environment. NotFound when none is
// set; PermissionDenied when they are set but the signature does not verify.
Result<SignedIdentity> VerifyIdentityEnv(const std::string& key);
// Same, from an explicit environment (name -> value).
Result<SignedIdentity> VerifyIdentityEnv(const std::string& key,
                                         const std::map<std::string, std::string>& env);

// Reads the server key (hex, 32 bytes) from `path`, creating it with mode 0600
// when it does not exist. The returned value is the raw key.
Result<std::string> LoadOrCreateServerKey(const std::string& path);

}  // namespace ag
