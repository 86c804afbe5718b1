// End-to-end fixture for agentgate-mirror: starts the real program (from
// AG_BIN_DIR) on 127.0.0.1 with a temp config, data dir, bare repos and a
// static token; waits for GET /healthz; on destruction sends SIGTERM (then
// SIGKILL after 10 s), reaps the process and removes the temp folder, also
// when a test fails half-way.
//
//   ag::e2e::MirrorServer server;             // one repo "demo", one token
//   ASSERT_TRUE(server.Start().ok()) << server.Log();
//   auto r = server.Git("clone " + server.AuthUrl("demo") + " w");
//   auto h = server.Request("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
//
// Git commands run through /bin/sh in the temp folder with an isolated HOME
// (no user or system config, no prompts). Header-only; tests only.
// Thread-safety: Git() and Request() may be called from several threads;
// Start() and the destructor from the owning thread only.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "testing/shell.h"
#include "util/crypto.h"
#include "util/status.h"

namespace ag::e2e {

struct MirrorOptions {
  std::vector<std::string> repos = {"demo"};  // bare repos <data>/repos/<name>.git, HEAD main
  std::string identity = "agent-ci";          // the static token's identity
  std::vector<std::string> groups = {"agents"};
  std::string limits_yaml;                    // e.g. "  max_body: 64KiB\n"
  bool tls = false;                           // self-signed cert for "localhost"
  std::string extra_yaml;                     // appended to the config
};

struct HttpResponse {
  int status = 0;      // 0: no response (connection closed or refused)
  std::string head;    // status line and headers
  std::string body;    // raw body (chunked encoding not decoded)
};

// A free TCP port on 127.0.0.1 (bound, read, closed: a tiny race is possible).
inline int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

// Sends `raw` to 127.0.0.1:port and reads until the server closes or the
// response is complete (Content-Length or chunked terminator), at most
// `timeout`. Plain HTTP only.
inline HttpResponse RawHttp(int port, const std::string& raw,
                            std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  HttpResponse r;
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return r;
  timeval tv{static_cast<time_t>(timeout.count() / 1000),
             static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return r;
  }
  size_t off = 0;
  while (off < raw.size()) {
    ssize_t n = ::send(fd, raw.data() + off, raw.size() - off, MSG_NOSIGNAL);
    if (n <= 0) break;  // the server may answer (413) and close before all is sent
    off += static_cast<size_t>(n);
  }
  std::string data;
  char buf[16384];
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    data.append(buf, static_cast<size_t>(n));
    size_t end = data.find("\r\n\r\n");
    if (end == std::string::npos) continue;
    std::string head = data.substr(0, end);
    std::string lower;
    for (char c : head) lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    size_t cl = lower.find("content-length:");
    if (cl != std::string::npos && data.size() >= end + 4 + std::stoul(head.substr(cl + 15))) break;
    if (lower.find("transfer-encoding: chunked") != std::string::npos &&
        data.size() >= 5 && data.compare(data.size() - 5, 5, "0\r\n\r\n") == 0) {
      break;
    }
  }
  ::close(fd);
  size_t end = data.find("\r\n\r\n");
  if (data.rfind("HTTP/1.1 ", 0) == 0 && data.size() >= 12) {
    r.status = std::atoi(data.c_str() + 9);
    r.head = data.substr(0, end);
    r.body = end == std::string::npos ? "" : data.substr(end + 4);
  }
  return r;
}

class MirrorServer {
 public:
  explicit MirrorServer(MirrorOptions options = {}) : options_(std::move(options)) {}
  ~MirrorServer() { Stop(); }
  MirrorServer(const MirrorServer&) = delete;
  MirrorServer& operator=(const MirrorServer&) = delete;
  // Before Start(): what it will configure.
  MirrorOptions& options() { return options_; }

  // Writes the config, makes the repos and starts the server; returns when
  // /healthz answers 200, or an error (the server's log is in Log()).
  Status Start() {
    const std::string& t = dir_.path();
    Result<std::string> token = RandomBytes(16);
    if (!token.ok()) return token.status();
    token_ = "agt_" + HexEncode(*token);
    auto sh = [](const std::string& cmd) -> Status {
      testing::RunResult r = testing::Sh(cmd);
      if (r.exit_code != 0) return Status::Internal(cmd + ": " + r.output);
      return Status::Ok();
    };
    AG_RETURN_IF_ERROR(sh("mkdir -p " + t + "/home " + t + "/data/repos " + t + "/work"));
    testing::WriteFile(t + "/home/.gitconfig",
                       "[user]\n\tname = Agent\n\temail = agent@example.com\n"
                       "[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n");
    for (const std::string& repo : options_.repos) {
      std::string path = RepoPath(repo);
      AG_RETURN_IF_ERROR(sh(Env() + " git init -q --bare -b main " + testing::Quote(path) +
                            " && git -C " + testing::Quote(path) +
                            " config receive.advertisePushOptions true"));
    }
    port_ = FreePort();
    std::string yaml = "data_dir: " + t + "/data\npolicy: " + t + "/policy.yaml\nlisten: 127.0.0.1:" +
                       std::to_string(port_) + "\ncontrol_socket: " + t + "/control.sock\n";
    if (options_.tls) {
      AG_RETURN_IF_ERROR(
          sh("openssl req -x509 -newkey rsa:2048 -nodes -keyout " + t + "/key.pem -out " + t +
             "/cert.pem -days 2 -subj /CN=localhost -addext subjectAltName=DNS:localhost"));
      yaml += "tls: {cert: " + t + "/cert.pem, key: " + t + "/key.pem}\n";
    }
    if (!options_.limits_yaml.empty()) yaml += "limits:\n" + options_.limits_yaml;
    yaml += "repos:\n";
    for (const std::string& repo : options_.repos) {
      yaml += "  - name: " + repo + "\n    path: " + RepoPath(repo) + "\n    sync_interval: 0s\n";
    }
    yaml += "tokens:\n  - identity: " + options_.identity + "\n    groups: [";
    for (size_t i = 0; i < options_.groups.size(); ++i) yaml += (i ? ", " : "") + options_.groups[i];
    yaml += "]\n    sha256: " + Sha256Hex(token_) + "\n";
    yaml += options_.extra_yaml;
    testing::WriteFile(t + "/policy.yaml", "");
    testing::WriteFile(ConfigPath(), yaml);
    return Launch();
  }

  // SIGTERM, up to 10 s, then SIGKILL; always reaps. Returns the exit code
  // (or 128+signal; -1 when not running).
  int Stop() {
    if (pid_ <= 0) return -1;
    ::kill(pid_, SIGTERM);
    int status = 0;
    for (int i = 0; i < 1000; ++i) {
      pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return 128 + SIGKILL;
  }

  // Runs "git <args>" with `cwd` relative to the temp folder ("" = its work/).
  testing::RunResult Git(const std::string& args, const std::string& cwd = "") const {
    std::string dir = dir_.path() + "/work" + (cwd.empty() ? "" : "/" + cwd);
    return testing::Sh("cd " + testing::Quote(dir) + " && " + Env() + " git " + args);
  }
  // Runs any shell command with the same environment, in work/.
  testing::RunResult Shell(const std::string& cmd) const {
    return testing::Sh("cd " + testing::Quote(dir_.path() + "/work") + " && " + Env() + " " + cmd);
  }

  HttpResponse Request(const std::string& raw) const { return RawHttp(port_, raw); }

  // http://127.0.0.1:PORT/<repo>.git (https://localhost:PORT with tls).
  std::string Url(const std::string& repo) const {
    return (options_.tls ? "https://localhost:" : "http://127.0.0.1:") + std::to_string(port_) + "/" +
           repo + ".git";
  }
  // The URL with the token as the Basic password.
  std::string AuthUrl(const std::string& repo) const {
    return (options_.tls ? "https://agent:" + token_ + "@localhost:"
                         : "http://agent:" + token_ + "@127.0.0.1:") +
           std::to_string(port_) + "/" + repo + ".git";
  }
  // "-c http.extraHeader='Authorization: Bearer <token>'" for git.
  std::string BearerConfig() const {
    return "-c http.extraHeader=" + testing::Quote("Authorization: Bearer " + token_);
  }

  const std::string& token() const { return token_; }
  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  const std::string& dir() const { return dir_.path(); }
  std::string RepoPath(const std::string& repo) const { return dir_.path() + "/data/repos/" + repo + ".git"; }
  std::string ConfigPath() const { return dir_.path() + "/agentgate.yaml"; }
  std::string ServerKeyPath() const { return dir_.path() + "/data/server.key"; }
  std::string Log() const { return testing::ReadFileOrEmpty(dir_.path() + "/server.log"); }
  std::string Stdout() const { return testing::ReadFileOrEmpty(dir_.path() + "/server.out"); }

  // Installs an executable hook script in `repo` (e.g. "pre-receive").
  void InstallHook(const std::string& repo, const std::string& hook, const std::string& script) const {
    std::string path = RepoPath(repo) + "/hooks/" + hook;
    testing::WriteFile(path, script);
    ::chmod(path.c_str(), 0755);
  }

  // "export ...;": the environment every command gets: isolated HOME, no
  // prompts, the test CA for TLS.
  std::string Env() const {
    std::string env = "export HOME=" + dir_.path() + "/home GIT_CONFIG_NOSYSTEM=1 GIT_TERMINAL_PROMPT=0 "
                      "GIT_ASKPASS=/bin/false";
    if (options_.tls) env += " GIT_SSL_CAINFO=" + dir_.path() + "/cert.pem";
    return env + ";";
  }

 private:
  Status Launch() {
    std::string bin = std::string(AG_BIN_DIR) + "/agentgate-mirror";
    std::string out = dir_.path() + "/server.out";
    std::string log = dir_.path() + "/server.log";
    std::string config = ConfigPath();
    std::string home = dir_.path() + "/home";
    pid_ = ::fork();
    if (pid_ < 0) return Status::Internal("fork failed");
    if (pid_ == 0) {
      int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      int e = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(o, 1);
      ::dup2(e, 2);
      ::setenv("HOME", home.c_str(), 1);
      ::setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
      ::execl(bin.c_str(), bin.c_str(), "--config", config.c_str(), "--shutdown-grace", "5",
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return Status::Unavailable("agentgate-mirror exited during start-up");
      }
      if (options_.tls) {
        testing::RunResult r = testing::Sh("curl -sf --cacert " + dir_.path() + "/cert.pem https://localhost:" +
                                           std::to_string(port_) + "/healthz");
        if (r.exit_code == 0) return Status::Ok();
      } else if (RawHttp(port_, "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
                         std::chrono::seconds(2)).status == 200) {
        return Status::Ok();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return Status::DeadlineExceeded("agentgate-mirror did not answer /healthz");
  }

  MirrorOptions options_;
  testing::TempDir dir_;
  std::string token_;
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace ag::e2e
