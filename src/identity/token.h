// Static agent tokens: generation and the configuration entry that stores
// only their hash. Used by `agentgate token`.
//
// Thread-safety: pure functions; safe from any thread.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace ag::identity {

inline constexpr size_t kTokenRandomBytes = 32;
inline constexpr std::string_view kTokenPrefix = "ag_";

// A fresh token: "ag_" + base64url(32 random bytes). Internal on RNG failure.
Result<std::string> NewToken();

// InvalidArgument unless `name` is a usable identity or group name:
// 1..128 characters from [A-Za-z0-9._:@/-] (no quoting needed anywhere).
Status ValidateName(std::string_view name);

// The YAML entry for the `tokens:` list of agentgate.yaml, e.g.
//   tokens:
//     - identity: agent-ci
//       groups: [agents, ci]
//       sha256: 6b86b273...
std::string TokenConfigSnippet(const std::string& identity, const std::vector<std::string>& groups,
                               const std::string& sha256_hex);

}  // namespace ag::identity
