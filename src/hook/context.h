// What both hooks load before they can do anything: configuration, the repo's
// entry, the server key, the pusher's identity. Internal to src/hook.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "hook/hook.h"
#include "util/status.h"

namespace ag::hook {

struct HookContext {
  std::shared_ptr<const config::Config> config;
  const config::RepoConfig* repo = nullptr;
  std::string server_key;
  std::string identity;
  std::vector<std::string> groups;
  std::string method;          // "token", "oidc" or "local"
  std::string claims_json = "{}";
  std::string http_request_id;
};

// Fails with a message fit for the pusher.
Result<HookContext> LoadHookContext(const HookOptions& options);

}  // namespace ag::hook
