// agentgate-hook: the hooks' work in a process of its own.
//
//   agentgate-hook pre-receive|post-receive [--config FILE] [--repo NAME]
//                  [--socket PATH] [--in-process]
//
// git does not run this directly: it runs the small agentgate-pre-receive /
// agentgate-post-receive (client_main.cc), which ask agentgate-mirror's check
// server and exec this program when it cannot. Without --in-process it first
// tries the check server itself (the socket from --socket, the environment or
// the config's data_dir), as the small programs do; with it, it loads the
// config, policy and rules and does the work here (src/hook). Exit 0 accepts
// the push, 1 refuses it.
#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdlib>
#include <cstdio>
#include <string>
#include <unistd.h>

#include "config/config.h"
#include "hook/check_server.h"
#include "hook/context.h"
#include "hook/hook.h"

namespace ag::hook {
namespace {

int Main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  HookOptions options;
  std::string hook;
  bool in_process = false;
  CLI::App app{"agentgate-hook: agentgate's git hooks in a process of their own (see docs/hooks.md)"};
  app.add_option("hook", hook, "pre-receive or post-receive")
      ->required()
      ->check(CLI::IsMember({"pre-receive", "post-receive"}));
  app.add_option("--config", options.config_path, "agentgate config file (default $AGENTGATE_CONFIG)");
  app.add_option("--repo", options.repo_name, "configured repo name (default $AGENTGATE_REPO)");
  app.add_option("--socket", options.socket_path,
                 "check server socket (default $AGENTGATE_HOOK_SOCKET, else "
                 "$AGENTGATE_DATA_DIR/hook.sock, else <data_dir of the config>/hook.sock)");
  app.add_flag("--in-process", in_process, "do not ask the check server: do the work here");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 1;
  }
  // Bounded read of the ref updates (git sends one line per ref).
  std::string input;
  constexpr size_t kMaxInput = 4u << 20;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(0, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      std::fprintf(stderr, "agentgate: push refused: cannot read the ref updates\n");
      return 1;
    }
    if (n == 0) break;
    input.append(buf, static_cast<size_t>(n));
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
  if (!in_process) {
    std::string socket = options.socket_path.empty() ? env("AGENTGATE_HOOK_SOCKET") : options.socket_path;
    // agentgate-mirror names its data folder for its children: no config parse.
    if (socket.empty() && !env("AGENTGATE_DATA_DIR").empty()) {
      socket = HookSocketPath(env("AGENTGATE_DATA_DIR"));
    }
    std::string config_path = options.config_path.empty() ? env("AGENTGATE_CONFIG") : options.config_path;
    if (socket.empty() && !config_path.empty()) {
      Result<std::shared_ptr<const config::Config>> config = config::LoadConfig(config_path);
      if (config.ok()) socket = HookSocketPath((*config)->data_dir);
    }
    if (!socket.empty()) {
      Result<int> delegated = DelegateHook(socket, hook, options, invocation, input, stderr);
      if (delegated.ok()) return *delegated;
      if (delegated.status().code() != Code::kUnavailable) {
        if (hook == "post-receive") {  // landed already: the sweeper records it
          std::fprintf(stderr, "agentgate: warning: %s (the push landed; agentgate records it later)\n",
                       delegated.status().message().c_str());
          return 0;
        }
        std::fprintf(stderr, "agentgate: push refused: %s\n", delegated.status().message().c_str());
        return 1;
      }
    }
  }
  HookCache cache;
  int rc = hook == "pre-receive" ? RunPreReceiveWith(options, invocation, input, stderr, &cache)
                                 : RunPostReceiveWith(options, invocation, input, stderr, &cache);
  std::fflush(stderr);
  return rc;
}

}  // namespace
}  // namespace ag::hook

int main(int argc, char** argv) { return ag::hook::Main(argc, argv); }
