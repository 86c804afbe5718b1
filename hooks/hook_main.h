// Shared main() body of the hook programs: flags, stdin, dispatch.
#pragma once

#include <CLI/CLI.hpp>
#include <csignal>
#include <iostream>
#include <iterator>
#include <string>

#include "hook/hook.h"

namespace ag::hook {

inline int HookMain(int argc, char** argv, const char* name,
                    int (*run)(const HookOptions&, std::string_view, FILE*)) {
  std::signal(SIGPIPE, SIG_IGN);
  HookOptions options;
  CLI::App app{std::string(name) + ": agentgate's git hook (git runs it; see docs/hooks.md)"};
  app.add_option("--config", options.config_path, "agentgate config file (default $AGENTGATE_CONFIG)");
  app.add_option("--repo", options.repo_name, "configured repo name (default $AGENTGATE_REPO)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 1;
  }
  // Bounded read of the ref updates (git sends one line per ref).
  std::string input;
  constexpr size_t kMaxInput = 4u << 20;
  char buf[65536];
  while (std::cin.read(buf, sizeof buf) || std::cin.gcount() > 0) {
    input.append(buf, static_cast<size_t>(std::cin.gcount()));
    if (input.size() > kMaxInput) {
      std::fprintf(stderr, "agentgate: push refused: too many ref updates\n");
      return 1;
    }
  }
  int rc = run(options, input, stderr);
  std::fflush(stderr);
  return rc;
}

}  // namespace ag::hook
