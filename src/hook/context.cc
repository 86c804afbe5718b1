#include "hook/context.h"

#include <pwd.h>
#include <unistd.h>

#include <cstdlib>

#include "util/signed_env.h"

namespace ag::hook {

Result<HookContext> LoadHookContext(const HookOptions& options) {
  HookContext ctx;
  std::string config_path = options.config_path;
  if (config_path.empty()) {
    const char* env = std::getenv("AGENTGATE_CONFIG");
    if (env) config_path = env;
  }
  if (config_path.empty()) {
    return Status::FailedPrecondition("no configuration: pass --config or set AGENTGATE_CONFIG");
  }
  AG_ASSIGN_OR_RETURN(ctx.config, config::LoadConfig(config_path));

  std::string repo_name = options.repo_name;
  if (repo_name.empty()) {
    const char* env = std::getenv("AGENTGATE_REPO");
    if (env) repo_name = env;
  }
  ctx.repo = ctx.config->FindRepo(repo_name);
  if (!ctx.repo) {
    return Status::FailedPrecondition("repository '" + repo_name + "' is not configured");
  }

  AG_ASSIGN_OR_RETURN(ctx.server_key, LoadOrCreateServerKey(ctx.config->key_path()));

  Result<SignedIdentity> signed_id = VerifyIdentityEnv(ctx.server_key);
  if (signed_id.ok()) {
    ctx.identity = signed_id->identity;
    ctx.groups = signed_id->groups;
    ctx.method = signed_id->method;
    ctx.claims_json = signed_id->claims_json.empty() ? "{}" : signed_id->claims_json;
    ctx.http_request_id = signed_id->request_id;
  } else if (signed_id.status().code() == Code::kNotFound) {
    // No envelope: a push by path on this machine. The Unix account is the
    // identity; it cannot claim to be an agent.
    struct passwd pw;
    struct passwd* found = nullptr;
    char buf[4096];
    uid_t uid = ::geteuid();
    std::string user = (getpwuid_r(uid, &pw, buf, sizeof buf, &found) == 0 && found)
                           ? found->pw_name
                           : "uid" + std::to_string(uid);
    ctx.identity = "local:" + user;
    ctx.method = "local";
  } else {
    return signed_id.status();  // forged or stale envelope: refuse
  }
  return ctx;
}

}  // namespace ag::hook
