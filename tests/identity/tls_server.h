// Test helper: a real HTTPS static file server on 127.0.0.1 (openssl s_server
// -WWW) with a fresh self-signed certificate for "localhost", serving the
// files of a temp folder. Stopped and cleaned up at destruction.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "identity/test_keys.h"

namespace ag::identity::testing {

// Runs argv to completion in `dir` with output to `log`; returns the exit code.
inline int RunIn(const std::string& dir, const std::vector<std::string>& args,
                 const std::string& log) {
  pid_t pid = fork();
  if (pid == 0) {
    if (chdir(dir.c_str()) != 0) _exit(126);
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    std::vector<char*> argv;
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execvp(argv[0], argv.data());
    _exit(127);
  }
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

inline int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  int port = -1;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  close(fd);
  return port;
}

inline bool CanConnect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  close(fd);
  return ok;
}

class TlsServer {
 public:
  // Creates the certificate and starts the server; check ok() afterwards.
  TlsServer() {
    www_ = dir_.path() + "/www";
    std::filesystem::create_directories(www_);
    log_ = dir_.path() + "/server.log";
    cert_ = dir_.path() + "/cert.pem";
    key_ = dir_.path() + "/key.pem";
    int rc = RunIn(dir_.path(),
                   {"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key_, "-out", cert_, "-days",
                    "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"},
                   log_);
    if (rc != 0) return;
    for (int attempt = 0; attempt < 5 && pid_ <= 0; ++attempt) Start();
  }
  ~TlsServer() { Stop(); }
  TlsServer(const TlsServer&) = delete;
  TlsServer& operator=(const TlsServer&) = delete;

  bool ok() const { return pid_ > 0; }
  int port() const { return port_; }
  std::string base_url() const { return "https://localhost:" + std::to_string(port_); }
  const std::string& ca_file() const { return cert_; }
  std::string log() const {
    std::ifstream in(log_);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  // Writes a file served at /<path>.
  void Put(const std::string& path, const std::string& content) {
    std::filesystem::path p = std::filesystem::path(www_) / path;
    std::filesystem::create_directories(p.parent_path());
    std::string tmp = p.string() + ".tmp";
    std::ofstream(tmp) << content;
    std::filesystem::rename(tmp, p);
  }

  // Pause: the process is stopped (SIGSTOP): connections are accepted by the
  // kernel and never answered, a hanging issuer. Resume: SIGCONT.
  bool Pause() { return pid_ > 0 && kill(pid_, SIGSTOP) == 0; }
  void Resume() {
    if (pid_ > 0) kill(pid_, SIGCONT);
  }

  void Stop() {
    if (pid_ > 0) {
      kill(pid_, SIGCONT);
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }

 private:
  void Start() {
    port_ = FreePort();
    if (port_ <= 0) return;
    std::string accept = "127.0.0.1:" + std::to_string(port_);
    pid_t pid = fork();
    if (pid == 0) {
      if (chdir(www_.c_str()) != 0) _exit(126);
      int fd = open(log_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
      if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
      }
      int null = open("/dev/null", O_RDONLY);
      if (null >= 0) dup2(null, 0);
      execlp("openssl", "openssl", "s_server", "-WWW", "-quiet", "-accept", accept.c_str(),
             "-cert", cert_.c_str(), "-key", key_.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    if (pid < 0) return;
    // Wait until it accepts connections, or until it exits (port taken).
    for (int i = 0; i < 200; ++i) {
      if (waitpid(pid, nullptr, WNOHANG) == pid) return;
      if (CanConnect(port_)) {
        pid_ = pid;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    kill(pid, SIGTERM);
    waitpid(pid, nullptr, 0);
  }

  TempDir dir_;
  std::string www_, log_, cert_, key_;
  int port_ = -1;
  pid_t pid_ = -1;
};

}  // namespace ag::identity::testing
