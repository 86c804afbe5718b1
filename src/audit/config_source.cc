#include "audit/config_source.h"

#include <cstdlib>

namespace ag::audit {

std::string ConfigPath(const std::string& flag) {
  if (!flag.empty()) return flag;
  const char* env = std::getenv("AGENTGATE_CONFIG");
  if (env != nullptr && *env != '\0') return env;
  return kDefaultConfigPath;
}

Result<std::shared_ptr<const config::Config>> LoadOpsConfig(const std::string& flag) {
#ifdef AG_HAVE_CONFIG
  return config::LoadConfig(ConfigPath(flag));
#else
  return Status::FailedPrecondition("this build has no config loader; pass --db");
#endif
}

std::string RepoPath(const config::Config& config, const config::RepoConfig& repo) {
  if (!repo.path.empty()) return repo.path;
  return config.data_dir + "/repos/" + repo.name + ".git";
}

}  // namespace ag::audit
