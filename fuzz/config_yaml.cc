// Fuzz target: the daemon configuration loader (config::ParseConfig) on
// arbitrary text, then lookups on the loaded config.
#include <cstdint>
#include <string>

#include "config/config.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(ag::fuzz::AsText(data, size));
  auto config = ag::config::ParseConfig(text, "/etc/agentgate/agentgate.yaml");
  if (!config.ok()) {
    if (config.status().message().empty()) ag::fuzz::Fail("a refused config without a reason");
    return 0;
  }
  const ag::config::Config& c = **config;
  for (const ag::config::RepoConfig& r : c.repos) {
    if (c.FindRepo(r.name) == nullptr) ag::fuzz::Fail("FindRepo misses a configured repo");
  }
  (void)c.db_path();
  (void)c.key_path();
  (void)c.hook_socket_path();
  return 0;
}
