// `agentgate config check FILE`: validates the daemon configuration. Exit 0
// and "FILE: ok (N repos, M tokens, K oidc issuers)" when it is valid;
// otherwise exit 2 and one "FILE:LINE:COL: message" line per problem on
// stderr. The policy the configuration names is not loaded here; check it
// with `agentgate policy check`.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "cli/command.h"
#include "config/config.h"

namespace ag::cli {
namespace {

int RunConfig(int argc, char** argv) {
  CLI::App app{"Validate the daemon configuration.", "agentgate config"};
  app.require_subcommand(1);
  std::string file;
  CLI::App* check =
      app.add_subcommand("check", "validate a configuration file (exit 0 ok, 2 problems)");
  check->add_option("FILE", file, "the configuration file")->required();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kExitOk : kExitError;
  }
  Result<std::shared_ptr<const config::Config>> c = config::LoadConfig(file);
  if (!c.ok()) {
    // Problems come one "FILE:LINE:COL: message" per line; other failures
    // (unreadable file) are one line naming the file.
    if (c.status().code() == Code::kInvalidArgument) {
      std::fprintf(stderr, "%s\n", c.status().message().c_str());
    } else {
      std::fprintf(stderr, "%s: %s\n", file.c_str(), c.status().message().c_str());
    }
    return kExitError;
  }
  std::printf("%s: ok (%zu repos, %zu tokens, %zu oidc issuers)\n", file.c_str(),
              (*c)->repos.size(), (*c)->tokens.size(), (*c)->oidc.size());
  return kExitOk;
}

}  // namespace
AG_REGISTER_COMMAND(config, "config", "validate the configuration (config check FILE)",
                    RunConfig);
}  // namespace ag::cli
