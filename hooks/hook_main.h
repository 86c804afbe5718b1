// Shared main() body of the hook programs: flags, stdin, then the check
// server of agentgate-mirror when it runs (warm caches), else the hook's work
// in this process.
#pragma once

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <string>

#include "config/config.h"
#include "hook/check_server.h"
#include "hook/context.h"
#include "hook/hook.h"

namespace ag::hook {

inline int HookMain(int argc, char** argv, const char* name,
                    int (*run)(const HookOptions&, const HookInvocation&, std::string_view, FILE*,
                               HookCache*)) {
  std::signal(SIGPIPE, SIG_IGN);
  HookOptions options;
  CLI::App app{std::string(name) + ": agentgate's git hook (git runs it; see docs/hooks.md)"};
  app.add_option("--config", options.config_path, "agentgate config file (default $AGENTGATE_CONFIG)");
  app.add_option("--repo", options.repo_name, "configured repo name (default $AGENTGATE_REPO)");
  app.add_option("--socket", options.socket_path,
                 "check server socket (default $AGENTGATE_HOOK_SOCKET, else "
                 "$AGENTGATE_DATA_DIR/hook.sock, else <data_dir of the config>/hook.sock)");
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
  HookInvocation invocation = CurrentInvocation();
  auto env = [&invocation](const char* k) {
    auto it = invocation.env.find(k);
    return it == invocation.env.end() ? std::string() : it->second;
  };
  if (options.repo_name.empty()) options.repo_name = env("AGENTGATE_REPO");
  std::string socket = options.socket_path.empty() ? env("AGENTGATE_HOOK_SOCKET") : options.socket_path;
  // agentgate-mirror names its data folder for its children: no config parse.
  if (socket.empty() && !env("AGENTGATE_DATA_DIR").empty()) socket = HookSocketPath(env("AGENTGATE_DATA_DIR"));
  std::string config_path = options.config_path.empty() ? env("AGENTGATE_CONFIG") : options.config_path;
  if (socket.empty() && !config_path.empty()) {
    Result<std::shared_ptr<const config::Config>> config = config::LoadConfig(config_path);
    if (config.ok()) socket = HookSocketPath((*config)->data_dir);
  }
  if (!socket.empty()) {
    Result<int> delegated = DelegateHook(socket, name + std::string_view("agentgate-").size(),
                                         options, invocation, input, stderr);
    if (delegated.ok()) return *delegated;
    if (delegated.status().code() != Code::kUnavailable) {
      std::fprintf(stderr, "agentgate: push refused: %s\n", delegated.status().message().c_str());
      return 1;
    }
  }
  HookCache cache;
  int rc = run(options, invocation, input, stderr, &cache);
  std::fflush(stderr);
  return rc;
}

}  // namespace ag::hook
