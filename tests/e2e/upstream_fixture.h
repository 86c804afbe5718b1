// Test upstreams for replay and sync, all REAL servers on 127.0.0.1:
//   HttpUpstream: nginx + fcgiwrap + git http-backend with HTTP Basic auth
//                 (htpasswd, apr1), receive-pack enabled, one bare repo.
//   SshUpstream:  Debian's sshd on a free port with a generated host key and
//                 one authorized key; git over ssh to a bare repo.
// Plus small helpers the tests share: a temp dir, running a command, a
// child process owner, a free port.
//
// Every server and child is stopped and reaped by its owner's destructor,
// also when a test fails. Header-only; test code only.
//
// Thread-safety: use each object from one thread.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "testing/shell.h"

namespace ag::testing {

inline std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += "'\\''";
    else out += c;
  }
  return out + "'";
}

struct CmdResult {
  int rc = -1;
  std::string out;  // stdout and stderr together
};

// Runs `cmd` with /bin/sh, capturing stdout and stderr (as .rc and .out;
// testing/shell.h's Sh returns .exit_code and .output).
inline CmdResult Cmd(const std::string& cmd) {
  CmdResult r;
  FILE* p = popen(("(" + cmd + ") 2>&1").c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  int st = pclose(p);
  r.rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

// Output of `cmd` with the trailing newline removed ("" on failure).
inline std::string ShOut(const std::string& cmd) {
  CmdResult r = Cmd(cmd);
  if (r.rc != 0) return "";
  while (!r.out.empty() && (r.out.back() == '\n' || r.out.back() == '\r')) r.out.pop_back();
  return r.out;
}

inline std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A free TCP port on 127.0.0.1 (bound then released; good enough for tests).
inline int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  int port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}

inline bool CanConnect(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

// Polls `ready` every 20 ms, at most `limit`.
template <typename F>
bool WaitFor(F ready, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (ready()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return ready();
}

// Owns one child process: started with argv (no shell), output to `log`;
// SIGTERM then SIGKILL and reaped on Stop() or destruction.
class Child {
 public:
  Child() = default;
  Child(const std::vector<std::string>& argv, const std::string& log) { Start(argv, log); }
  ~Child() { Stop(); }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  bool Start(const std::vector<std::string>& argv, const std::string& log) {
    Stop();
    pid_ = ::fork();
    if (pid_ == 0) {
      ::setpgid(0, 0);
      int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
      }
      int devnull = ::open("/dev/null", O_RDONLY);
      if (devnull >= 0) ::dup2(devnull, 0);
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      ::execvp(args[0], args.data());
      ::_exit(127);
    }
    return pid_ > 0;
  }
  bool running() {
    if (pid_ <= 0) return false;
    int st;
    pid_t r = ::waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
      pid_ = -1;
      exit_status_ = st;
      return false;
    }
    return true;
  }
  // Sends `sig` to the child's process group.
  void Signal(int sig) {
    if (pid_ > 0) ::kill(-pid_, sig);
  }
  // Waits for exit up to `limit`; returns the wait status or -1.
  int Wait(std::chrono::milliseconds limit) {
    if (pid_ <= 0) return exit_status_;
    WaitFor([&] { return !running(); }, limit);
    return pid_ > 0 ? -1 : exit_status_;
  }
  void Kill9() {
    if (pid_ <= 0) return;
    ::kill(-pid_, SIGKILL);
    ::kill(pid_, SIGKILL);
    int st;
    ::waitpid(pid_, &st, 0);
    exit_status_ = st;
    pid_ = -1;
  }
  void Stop() {
    if (pid_ <= 0) return;
    ::kill(-pid_, SIGTERM);
    ::kill(pid_, SIGTERM);
    if (!WaitFor([&] { return !running(); }, std::chrono::seconds(5))) Kill9();
    pid_ = -1;
  }
  pid_t pid() const { return pid_; }
  int exit_status() const { return exit_status_; }

 private:
  pid_t pid_ = -1;
  int exit_status_ = -1;
};

inline std::string RandomToken(const std::string& prefix = "tok_") {
  std::random_device rd;
  static const char kAlphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  std::string t = prefix;
  for (int i = 0; i < 32; ++i) t += kAlphabet[rd() % (sizeof kAlphabet - 1)];
  return t;
}

// A bare upstream repository with helpers to inspect and change it directly.
class BareRepo {
 public:
  explicit BareRepo(std::string path) : path_(std::move(path)) {}
  const std::string& path() const { return path_; }
  std::string Git(const std::string& args) const {
    return ShOut("git --git-dir=" + ShellQuote(path_) + " " + args);
  }
  // The value of `ref`, or "" when it does not exist.
  std::string Ref(const std::string& ref) const {
    return Git("rev-parse -q --verify " + ShellQuote(ref + "^{}"));
  }
  // Installs a pre-receive hook that prints `message` and declines.
  void DeclinePushes(const std::string& message) const {
    WriteFile(path_ + "/hooks/pre-receive",
              "#!/bin/sh\necho " + ShellQuote(message) + " >&2\nexit 1\n", 0755);
  }
  void AcceptPushes() const { ::unlink((path_ + "/hooks/pre-receive").c_str()); }

 private:
  std::string path_;
};

// Creates a bare repo at `path` (HEAD main) holding `commits` commits on main,
// made in a scratch work tree under `scratch`. Returns main's value.
inline std::string MakeUpstreamRepo(const std::string& path, const std::string& scratch,
                                    int commits) {
  Cmd("git init -q --bare -b main " + ShellQuote(path));
  Cmd("git --git-dir=" + ShellQuote(path) + " config http.receivepack true");
  if (commits <= 0) return "";
  std::string w = scratch + "/seed";
  Cmd("git init -q -b main " + ShellQuote(w));
  for (int i = 0; i < commits; ++i) {
    WriteFile(w + "/file" + std::to_string(i) + ".txt", "seed " + std::to_string(i) + "\n");
    Cmd("cd " + ShellQuote(w) + " && git add -A && git -c user.name=seed -c user.email=s@x "
       "commit -q -m 'seed " + std::to_string(i) + "'");
  }
  Cmd("cd " + ShellQuote(w) + " && git push -q " + ShellQuote(path) + " main");
  std::string head = ShOut("git -C " + ShellQuote(w) + " rev-parse HEAD");
  std::filesystem::remove_all(w);
  return head;
}

// nginx + fcgiwrap + git http-backend serving <root>/srv/upstream.git at
// http://127.0.0.1:<port>/upstream.git, Basic auth user `user()` with
// password `token()`.
class HttpUpstream {
 public:
  explicit HttpUpstream(int seed_commits = 2, std::string user = "x-access-token")
      : dir_("ag-upstream"), user_(std::move(user)), token_(RandomToken("ghs_")),
        repo_(dir_ / "srv/upstream.git") {
    std::filesystem::create_directories(dir_ / "srv");
    std::filesystem::create_directories(dir_ / "tmp");
    head_ = MakeUpstreamRepo(repo_.path(), dir_.path(), seed_commits);
    std::string hash = ShOut("printf '%s' " + ShellQuote(token_) + " | openssl passwd -apr1 -stdin");
    WriteFile(dir_ / "htpasswd", user_ + ":" + hash + "\n", 0600);
    port_ = FreePort();
    WriteConfig();
    ok_ = Start();
  }
  ~HttpUpstream() { Stop(); }

  bool ok() const { return ok_; }
  int port() const { return port_; }
  const std::string& user() const { return user_; }
  const std::string& token() const { return token_; }
  const BareRepo& repo() const { return repo_; }
  const std::string& seed_head() const { return head_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/upstream.git"; }
  // The URL with the credentials in it, for the git command line in tests.
  std::string url_with_token() const {
    return "http://" + user_ + ":" + token_ + "@127.0.0.1:" + std::to_string(port_) + "/upstream.git";
  }
  std::string root() const { return dir_.path(); }
  std::string error_log() const { return ReadAll(dir_ / "error.log"); }

  // Starts (or restarts) fcgiwrap and nginx; true once nginx accepts.
  bool Start() {
    nginx_.Stop();
    fcgi_.Stop();
    ::unlink((dir_ / "fcgi.sock").c_str());
    fcgi_.Start({"fcgiwrap", "-c", "4", "-s", "unix:" + (dir_ / "fcgi.sock")}, dir_ / "fcgiwrap.log");
    if (!WaitFor([&] { return std::filesystem::exists(dir_ / "fcgi.sock"); })) return false;
    nginx_.Start({"nginx", "-p", dir_.path(), "-c", dir_ / "nginx.conf", "-e", dir_ / "error.log"},
                 dir_ / "nginx.out");
    return WaitFor([&] { return CanConnect(port_); });
  }
  // Stops fcgiwrap only: nginx answers 502 Bad Gateway.
  void StopBackend() { fcgi_.Stop(); }
  // Stops both servers: the upstream is "down" (connection refused).
  void Stop() {
    nginx_.Stop();
    fcgi_.Stop();
    WaitFor([&] { return !CanConnect(port_); }, std::chrono::seconds(5));
  }

 private:
  void WriteConfig() {
    std::string d = dir_.path();
    std::ostringstream c;
    c << "user root;\n"
         "daemon off;\n"
         "worker_processes 1;\n"
         "pid " << d << "/nginx.pid;\n"
         "error_log " << d << "/error.log;\n"
         "events { worker_connections 256; }\n"
         "http {\n"
         "  access_log " << d << "/access.log;\n"
         "  client_body_temp_path " << d << "/tmp/body;\n"
         "  fastcgi_temp_path " << d << "/tmp/fastcgi;\n"
         "  proxy_temp_path " << d << "/tmp/proxy;\n"
         "  uwsgi_temp_path " << d << "/tmp/uwsgi;\n"
         "  scgi_temp_path " << d << "/tmp/scgi;\n"
         "  server {\n"
         "    listen 127.0.0.1:" << port_ << ";\n"
         "    client_max_body_size 0;\n"
         "    location / {\n"
         "      auth_basic \"upstream\";\n"
         "      auth_basic_user_file " << d << "/htpasswd;\n"
         "      include /etc/nginx/fastcgi_params;\n"
         "      fastcgi_pass unix:" << d << "/fcgi.sock;\n"
         "      fastcgi_param SCRIPT_FILENAME /usr/lib/git-core/git-http-backend;\n"
         "      fastcgi_param GIT_HTTP_EXPORT_ALL \"\";\n"
         "      fastcgi_param GIT_PROJECT_ROOT " << d << "/srv;\n"
         "      fastcgi_param PATH_INFO $uri;\n"
         "      fastcgi_param REMOTE_USER $remote_user;\n"
         "      fastcgi_param GIT_PROTOCOL $http_git_protocol;\n"
         "      fastcgi_param HTTP_CONTENT_ENCODING $http_content_encoding;\n"
         "      fastcgi_request_buffering off;\n"
         "      fastcgi_buffering off;\n"
         "    }\n"
         "  }\n"
         "}\n";
    WriteFile(dir_ / "nginx.conf", c.str());
  }

  TempDir dir_;
  std::string user_, token_;
  BareRepo repo_;
  std::string head_;
  int port_ = 0;
  Child fcgi_, nginx_;
  bool ok_ = false;
};

// sshd on 127.0.0.1:<port> accepting one generated ECDSA key for root (the
// test user); the repo is at ssh://<user>@127.0.0.1:<port><root>/upstream.git.
// libssh2 1.10 has no rsa-sha2, so keys are ECDSA P-256 in PEM.
class SshUpstream {
 public:
  explicit SshUpstream(int seed_commits = 2)
      : dir_("ag-ssh"), repo_(dir_ / "upstream.git") {
    head_ = MakeUpstreamRepo(repo_.path(), dir_.path(), seed_commits);
    std::filesystem::create_directories("/run/sshd");
    Cmd("ssh-keygen -q -t ecdsa -b 256 -m PEM -N '' -f " + ShellQuote(dir_ / "host_key"));
    Cmd("ssh-keygen -q -t ecdsa -b 256 -m PEM -N '' -f " + ShellQuote(dir_ / "client_key"));
    Cmd("cp " + ShellQuote(dir_ / "client_key.pub") + " " + ShellQuote(dir_ / "authorized_keys"));
    ::chmod((dir_ / "authorized_keys").c_str(), 0600);
    port_ = FreePort();
    std::string host_pub = ReadAll(dir_ / "host_key.pub");
    std::istringstream hp(host_pub);
    std::string type, b64;
    hp >> type >> b64;
    WriteFile(dir_ / "known_hosts",
              "[127.0.0.1]:" + std::to_string(port_) + " " + type + " " + b64 + "\n");
    std::string user = ShOut("id -un");
    user_ = user.empty() ? "root" : user;
    std::ostringstream c;
    c << "Port " << port_ << "\nListenAddress 127.0.0.1\n"
      << "HostKey " << (dir_ / "host_key") << "\n"
      << "AuthorizedKeysFile " << (dir_ / "authorized_keys") << "\n"
      << "PidFile " << (dir_ / "sshd.pid") << "\n"
      << "PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
      << "PubkeyAuthentication yes\nPermitRootLogin prohibit-password\n"
      << "StrictModes no\nUsePAM no\nLogLevel VERBOSE\n";
    WriteFile(dir_ / "sshd_config", c.str());
    sshd_.Start({"/usr/sbin/sshd", "-D", "-e", "-f", dir_ / "sshd_config"}, dir_ / "sshd.log");
    ok_ = WaitFor([&] { return CanConnect(port_); });
  }
  ~SshUpstream() { sshd_.Stop(); }

  bool ok() const { return ok_; }
  const BareRepo& repo() const { return repo_; }
  const std::string& seed_head() const { return head_; }
  std::string url() const {
    return "ssh://" + user_ + "@127.0.0.1:" + std::to_string(port_) + repo_.path();
  }
  std::string private_key_path() const { return dir_ / "client_key"; }
  std::string known_hosts_path() const { return dir_ / "known_hosts"; }
  std::string log() const { return ReadAll(dir_ / "sshd.log"); }
  // GIT_SSH_COMMAND for the git command line in tests.
  std::string git_ssh_command() const {
    return "ssh -i " + private_key_path() + " -o UserKnownHostsFile=" + known_hosts_path() +
           " -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes";
  }

 private:
  TempDir dir_;
  BareRepo repo_;
  std::string head_;
  int port_ = 0;
  std::string user_;
  Child sshd_;
  bool ok_ = false;
};

}  // namespace ag::testing
