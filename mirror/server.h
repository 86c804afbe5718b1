// agentgate-mirror's HTTP server: Boost.Beast over one io_context on one
// network thread (the git work happens in the http-backend children; the
// server only moves bytes), plus a small pool for blocking calls
// (authentication that may fetch a JWKS, the store's queue depth).
//
// Layers (see docs/mirror.md): Listener (accepts; admits connections against
// the caps in connections.h, survives EMFILE), Session (owns the stream,
// applies limits and timeouts, one request at a time, inflates gzip bodies
// with a bound: inflate.h), the route table in routes.h, the CGI bridge in
// cgi.h / child.h, and one shared ServerState.
//
// Thread-safety: RunServer blocks the calling thread until SIGTERM/SIGINT.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "config/config.h"
#include "util/status.h"

namespace ag::mirror {

struct ServerOptions {
  // Absolute path of the config file, passed to hooks as AGENTGATE_CONFIG.
  std::string config_path;
  // Seconds to let in-flight requests finish after SIGTERM before children
  // are killed. Default 30.
  int shutdown_grace_seconds = 30;
  // Called once with "host:port" when the socket listens (main prints it).
  std::function<void(const std::string&)> on_listening;
};

// Serves until SIGTERM or SIGINT, then drains and returns OK. Returns an error
// when the listen address, TLS files or authenticator cannot be set up.
Status RunServer(std::shared_ptr<const config::Config> config, const ServerOptions& options);

}  // namespace ag::mirror
