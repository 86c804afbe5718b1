// The client side of the control socket, used by the `agentgate` reviewer
// commands (list, show, approve, reject, retry), and the CLI's shared
// plumbing: finding the socket, turning responses into exit codes.
//
// Thread-safety: no shared state.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "util/status.h"

namespace ag::control {

struct ClientOptions {
  std::chrono::milliseconds timeout{60000};  // per read or write. Default 60 s.
  size_t max_response_bytes = 64u << 20;     // Default 64 MiB.
};

// Sends one request, returns the daemon's response object (ok or not). A
// transport failure is a non-OK Status; a daemon that is not running gives
// Unavailable: "agentgate-mirror is not running (cannot connect to <socket>):
// start it with `systemctl start agentgate-mirror`".
Result<nlohmann::json> Call(const std::string& socket_path, const nlohmann::json& request,
                            const ClientOptions& options = {});

inline constexpr const char* kDefaultConfigPath = "/etc/agentgate/agentgate.yaml";
inline constexpr const char* kDefaultSocketPath = "/run/agentgate/control.sock";

// The socket to use: `socket_flag` if set; else `control_socket` from the
// config file (`config_flag`, else $AGENTGATE_CONFIG, else the default path;
// only the default path may be missing, giving the default socket).
Result<std::string> FindSocket(const std::string& socket_flag, const std::string& config_flag);

// Prints "agentgate <command>: <message>" on stderr for a failed call or an
// error response and returns the exit code: 1 for a refusal, 2 otherwise.
int ReportFailure(const char* command, const Status& transport_or_response);
int ReportResponseError(const char* command, const nlohmann::json& response);

// What a reviewer command does: find the socket, send `request`, and return
// the "result" of an OK response; otherwise print the reason and set
// `*exit_code` (1 refused, 2 error) and return nullopt.
std::optional<nlohmann::json> CallForCli(const char* command, const std::string& socket_flag,
                                         const std::string& config_flag,
                                         const nlohmann::json& request, int* exit_code);

}  // namespace ag::control
