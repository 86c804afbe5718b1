// agentgate-mirror: the smart-HTTP front of the mirror (see docs/mirror.md).
//
//   agentgate-mirror --config /etc/agentgate/agentgate.yaml
//
// Exit codes: 0 stopped by SIGTERM/SIGINT; 2 bad flags or configuration, or
// the server could not start (address in use, TLS files, keys).
#include <signal.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "config/config.h"
#include "control/daemon.h"
#include "hook/check_server.h"
#include "mirror/server.h"
#include "replay/worker.h"
#include "sync/sync.h"

int main(int argc, char** argv) {
  // Before any thread: libgit2's commits call mktime, which reloads the time
  // zone on every call while TZ is unset (hook/check_server.cc). Same zone.
  if (!std::getenv("TZ")) ::setenv("TZ", ":/etc/localtime", 0);
  CLI::App app{"agentgate-mirror: the guarded git mirror's HTTP server"};
  std::string config_path;
  int grace = 30;
  app.add_option("--config", config_path, "configuration file (YAML)")->required();
  app.add_option("--shutdown-grace", grace, "seconds in-flight requests get after SIGTERM");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }

  // A client hanging up must surface as EPIPE, not kill the daemon; children
  // must stay waitable (an ignored SIGCHLD breaks waitpid).
  ::signal(SIGPIPE, SIG_IGN);
  ::signal(SIGCHLD, SIG_DFL);
  // SIGHUP (systemctl reload) never stops the daemon: ignored until the
  // server's handler takes it over (it reloads the TLS certificate).
  ::signal(SIGHUP, SIG_IGN);

  std::error_code fs_ec;
  std::string absolute = std::filesystem::absolute(config_path, fs_ec).lexically_normal().string();
  if (fs_ec) absolute = config_path;
  auto config = ag::config::LoadConfig(absolute);
  if (!config.ok()) {
    std::fprintf(stderr, "agentgate-mirror: bad configuration: %s\n", config.status().message().c_str());
    return 2;
  }
  // The replay worker (src/replay) exists before anything that wakes it: an
  // approval over the control socket, a push a policy rule approves.
  ag::replay::WorkerOptions replay_options;
  replay_options.poll_interval = (*config)->replay_poll_interval;
  ag::replay::ReplayWorker replay_worker(*config, replay_options);
  auto wake_replay = [&replay_worker] { replay_worker.Wake(); };

  // The hooks' work, with warm caches (src/hook/check_server.h). The data
  // folder holds the database, the server key and this socket.
  std::filesystem::create_directories((*config)->data_dir, fs_ec);
  ag::hook::CheckServerOptions check_options;
  check_options.config_path = absolute;
  check_options.socket_path = ag::hook::HookSocketPath((*config)->data_dir);
  check_options.on_approved = wake_replay;
  auto check_server = ag::hook::CheckServer::Start(check_options);
  if (!check_server.ok()) {
    std::fprintf(stderr, "agentgate-mirror: check server: %s\n",
                 check_server.status().ToString().c_str());
    return 2;
  }

  ag::mirror::ServerOptions options;
  options.config_path = absolute;
  options.shutdown_grace_seconds = grace;
  options.on_listening = [](const std::string& where) {
    std::printf("listening on %s\n", where.c_str());
    std::fflush(stdout);
  };
  // Replay and sync workers (src/replay, src/sync): started before serving,
  // stopped after the server returns.
  ag::sync::SyncWorker sync_worker(*config);
  if (ag::Status s = replay_worker.Start(); !s.ok()) {
    std::fprintf(stderr, "agentgate-mirror: replay worker: %s\n", s.ToString().c_str());
    return 2;
  }
  if (ag::Status s = sync_worker.Start(); !s.ok()) {
    std::fprintf(stderr, "agentgate-mirror: sync worker: %s\n", s.ToString().c_str());
    return 2;
  }
  // Review (src/control, src/review): the control socket reviewers' `agentgate`
  // commands talk to, the sweeper and the webhook notifier. Without a policy
  // (unreadable) requests naming no reviewers cannot be approved: fail closed.
  auto review_policy = ag::policy::LoadPolicy((*config)->policy_path);
  if (!review_policy.ok()) {
    std::fprintf(stderr, "agentgate-mirror: review: no default reviewers: %s\n",
                 review_policy.status().ToString().c_str());
  }
  ag::control::ReviewServices review;
  if (ag::Status s = review.Start(**config, review_policy.ok() ? review_policy->get() : nullptr,
                                  wake_replay);
      !s.ok()) {
    std::fprintf(stderr, "agentgate-mirror: review services: %s\n", s.ToString().c_str());
    return 2;
  }
  ag::Status status = ag::mirror::RunServer(*config, options);
  review.Stop();
  sync_worker.Stop();
  replay_worker.Stop();
  if (!status.ok()) {
    std::fprintf(stderr, "agentgate-mirror: %s\n", status.ToString().c_str());
    return 2;
  }
  return 0;
}
