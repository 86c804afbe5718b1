// Where the operator commands (audit, doctor) find the configuration:
// --config FILE, else $AGENTGATE_CONFIG, else /etc/agentgate/agentgate.yaml.
//
// Thread-safety: reads the environment; call from one thread at start-up.
#pragma once

#include <memory>
#include <string>

#include "config/config.h"
#include "util/status.h"

namespace ag::audit {

inline constexpr const char* kDefaultConfigPath = "/etc/agentgate/agentgate.yaml";

// The config file to use given the --config flag (empty when not given).
std::string ConfigPath(const std::string& flag);

// Loads it with config::LoadConfig. Unimplemented builds (no ag_config)
// return FailedPrecondition.
Result<std::shared_ptr<const config::Config>> LoadOpsConfig(const std::string& flag);

// The bare mirror path of `repo` (its `path`, or <data_dir>/repos/<name>.git).
std::string RepoPath(const config::Config& config, const config::RepoConfig& repo);

}  // namespace ag::audit
