#include "control/client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "control/protocol.h"
#include "review/workflow.h"
#include "util/display.h"
#include "util/file.h"

namespace ag::control {
namespace {

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

}  // namespace

Result<nlohmann::json> Call(const std::string& socket_path, const nlohmann::json& request,
                            const ClientOptions& options) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.empty() || socket_path.size() >= sizeof addr.sun_path) {
    return Status::InvalidArgument("control socket path is empty or too long: " + socket_path);
  }
  std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
  Fd s;
  s.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s.fd < 0) return ErrnoStatus("socket");
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(options.timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((options.timeout.count() % 1000) * 1000);
  setsockopt(s.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(s.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (connect(s.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int e = errno;
    if (e == ENOENT || e == ECONNREFUSED || e == ENOTDIR) {
      return Status::Unavailable("agentgate-mirror is not running (cannot connect to " +
                                 socket_path +
                                 "): start it with `systemctl start agentgate-mirror`");
    }
    return Status::Io("cannot connect to " + socket_path + ": " + std::strerror(e));
  }
  std::string line = request.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  size_t off = 0;
  while (off < line.size()) {
    ssize_t n = send(s.fd, line.data() + off, line.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return ErrnoStatus("cannot send to " + socket_path);
    off += static_cast<size_t>(n);
  }
  std::string buffer;
  size_t eol;
  while ((eol = buffer.find('\n')) == std::string::npos) {
    if (buffer.size() > options.max_response_bytes) {
      return Status::ResourceExhausted("the daemon's answer is larger than " +
                                       std::to_string(options.max_response_bytes) + " bytes");
    }
    char chunk[65536];
    ssize_t n = recv(s.fd, chunk, sizeof chunk, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return Status::DeadlineExceeded("agentgate-mirror did not answer in time on " + socket_path);
    }
    if (n < 0) return ErrnoStatus("cannot read from " + socket_path);
    if (n == 0) return Status::Unavailable("agentgate-mirror closed the connection without an answer");
    buffer.append(chunk, static_cast<size_t>(n));
  }
  nlohmann::json response =
      nlohmann::json::parse(buffer.substr(0, eol), nullptr, /*allow_exceptions=*/false);
  if (response.is_discarded() || !response.is_object() || !response.contains("ok")) {
    return Status::Internal("agentgate-mirror sent a malformed answer");
  }
  return response;
}

Result<std::string> FindSocket(const std::string& socket_flag, const std::string& config_flag) {
  if (!socket_flag.empty()) return socket_flag;
  std::string path = config_flag;
  bool explicit_path = !path.empty();
  if (path.empty()) {
    if (const char* env = std::getenv("AGENTGATE_CONFIG"); env && *env) {
      path = env;
      explicit_path = true;
    }
  }
  if (path.empty()) path = kDefaultConfigPath;
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    if (explicit_path) return Status::InvalidArgument("config file " + path + " does not exist");
    return std::string(kDefaultSocketPath);
  }
  if (access(path.c_str(), R_OK) != 0) {
    return Status::PermissionDenied("cannot read " + path + " (" + std::strerror(errno) +
                                    "): pass --socket PATH");
  }
  // Only the one key the CLI needs: reviewers need not read the rest.
  try {
    YAML::Node root = YAML::LoadFile(path);
    YAML::Node sock = root["control_socket"];
    if (!sock) return std::string(kDefaultSocketPath);
    std::string value = sock.as<std::string>();
    if (value.empty()) return Status::InvalidArgument(path + ": control_socket is empty");
    if (value[0] != '/') {
      value = (std::filesystem::path(path).parent_path() / value).lexically_normal().string();
    }
    return value;
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument(path + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
}

int ReportFailure(const char* command, const Status& s) {
  std::fprintf(stderr, "agentgate %s: %s\n", command, s.message().c_str());
  return review::IsRefusal(s.code()) ? 1 : 2;
}

int ReportResponseError(const char* command, const nlohmann::json& response) {
  Status s = StatusFromResponse(response);
  bool refused = response.is_object() && response.value("refused", false);
  const char* kind = refused ? "refused" : "error";
  std::fprintf(stderr, "agentgate %s: %s: %s\n", command, kind, EscapeForTerminal(s.message()).c_str());
  return refused ? 1 : 2;
}

std::optional<nlohmann::json> CallForCli(const char* command, const std::string& socket_flag,
                                         const std::string& config_flag,
                                         const nlohmann::json& request, int* exit_code) {
  Result<std::string> socket = FindSocket(socket_flag, config_flag);
  if (!socket.ok()) {
    std::fprintf(stderr, "agentgate %s: %s\n", command, socket.status().message().c_str());
    *exit_code = 2;
    return std::nullopt;
  }
  Result<nlohmann::json> response = Call(*socket, request);
  if (!response.ok()) {
    // Transport failures are system errors, whatever their code.
    std::fprintf(stderr, "agentgate %s: %s\n", command, EscapeForTerminal(response.status().message()).c_str());
    *exit_code = 2;
    return std::nullopt;
  }
  if (!response->value("ok", false)) {
    *exit_code = ReportResponseError(command, *response);
    return std::nullopt;
  }
  *exit_code = 0;
  return response->contains("result") ? (*response)["result"] : nlohmann::json();
}

}  // namespace ag::control
