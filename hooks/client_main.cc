// agentgate-pre-receive / agentgate-post-receive: the programs git runs on
// every push, kept as small as a process can be. Each hands the hook's work
// to agentgate-mirror's check server (src/hook/check_server.h), which holds
// the config, the policy, the compiled rules and libgit2 warm, and prints
// what the server says. Linked statically against libc and libstdc++ only
// (no libgit2, RE2, SQLite, OpenSSL to load), so starting one costs about
// what starting /bin/true costs: this is most of what a small push pays.
//
// When no check server answers (agentgate-mirror is stopped), it execs the
// full program, `agentgate-hook HOOK --in-process ARGS...`, from its own
// folder, before reading stdin, so that program does the same work in its
// own process. Once a request was sent there is no fallback: a failure is a
// refusal (fail closed), never a second run.
//
// Usage:
//   agentgate-pre-receive [--config FILE] [--repo NAME] [--socket PATH] [HOOK_FILE]
// --socket defaults to $AGENTGATE_HOOK_SOCKET, else $AGENTGATE_DATA_DIR/hook.sock
// (agentgate-mirror sets it); with neither, the full program finds it in the
// config. HOOK_FILE holds more flags, one per line (`--repo=demo`; `#` starts
// a comment): `agentgate repo add` installs each hook as such a file whose
// first line is `#!<this program>`, so git starts this program directly, with
// no shell in between. Exit: the server's answer (0 accept, 1 refuse).
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#ifndef AG_HOOK_NAME
#error "AG_HOOK_NAME must name the hook (pre-receive or post-receive)"
#endif

extern char** environ;

namespace {

constexpr std::string_view kHook = AG_HOOK_NAME;
constexpr size_t kMaxInput = 4u << 20;     // ref update lines git sends
constexpr size_t kMaxAnswer = 64u << 20;   // what the server may say
constexpr int kIoTimeoutSeconds = 600;     // per read or write on the socket
constexpr size_t kMaxHookFile = 64u << 10; // a hook file is a few lines

// pre-receive: refuses the push. post-receive: the push has landed already
// (git ignores this exit code), so it warns; the daemon's sweeper records a
// landed push whose post-receive did not.
int Refuse(const std::string& why) {
  if (kHook == "post-receive") {
    std::fprintf(stderr, "agentgate: warning: %s (the push landed; agentgate records it later)\n",
                 why.c_str());
    return 0;
  }
  std::fprintf(stderr, "agentgate: push refused: %s\n", why.c_str());
  return 1;
}

const char* Env(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? v : nullptr;
}

// The full program, beside this one; empty when this one cannot be found
// (never a bare name: that would resolve against the repository).
std::string FullProgram() {
  char self[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return "";
  std::string path(self, static_cast<size_t>(n));
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return "";
  return path.substr(0, slash + 1) + "agentgate-hook";
}

// Replaces this process with the full program; returns only on failure.
int ExecFull(std::vector<std::string> flags, bool in_process) {
  std::string full = FullProgram();
  if (full.empty()) return Refuse("cannot find agentgate-hook (/proc/self/exe is not readable)");
  flags.insert(flags.begin(), std::string(kHook));
  if (in_process) flags.insert(flags.begin() + 1, "--in-process");
  std::vector<char*> args;
  args.push_back(full.data());
  for (std::string& f : flags) args.push_back(f.data());
  args.push_back(nullptr);
  ::execv(full.c_str(), args.data());
  return Refuse("cannot run " + full + ": " + std::strerror(errno));
}

// Appends the flags of a hook file: one per line, blank lines and lines
// starting with '#' (the #! line too) skipped. False when it cannot be read.
bool ReadHookFile(const char* path, std::vector<std::string>* flags) {
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  std::string text;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {  // EISDIR, EIO: not a hook file we can trust
      int saved = errno;
      ::close(fd);
      errno = saved;
      return false;
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > kMaxHookFile) break;
  }
  ::close(fd);
  if (text.size() > kMaxHookFile) {
    errno = EFBIG;
    return false;
  }
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) {
      line.pop_back();
    }
    size_t start = line.find_first_not_of(" \t");
    if (start == std::string::npos || line[start] == '#') continue;
    flags->push_back(line.substr(start));
  }
  return true;
}

bool WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  ::signal(SIGPIPE, SIG_IGN);
  // The command line, with a hook file's lines in place of its path.
  std::vector<std::string> flags;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      std::printf(
          "agentgate-%s: agentgate's git hook (git runs it; see docs/hooks.md)\n"
          "usage: agentgate-%s [--config FILE] [--repo NAME] [--socket PATH] [HOOK_FILE]\n",
          AG_HOOK_NAME, AG_HOOK_NAME);
      return 0;
    }
    bool takes_value = !flags.empty() && (flags.back() == "--config" || flags.back() == "--repo" ||
                                          flags.back() == "--socket");
    if (arg.substr(0, 2) != "--" && !takes_value) {
      if (!ReadHookFile(argv[i], &flags)) {
        return Refuse("cannot read the hook file " + std::string(arg) + ": " + std::strerror(errno));
      }
      continue;
    }
    flags.emplace_back(arg);
  }
  std::string socket_path, repo;
  for (size_t i = 0; i < flags.size(); ++i) {
    std::string_view arg = flags[i];
    // Flags the full program takes too; values are checked there or by the server.
    for (std::string_view flag : {"--config", "--repo", "--socket"}) {
      std::string value;
      if (arg == flag) {
        if (i + 1 >= flags.size()) return Refuse(std::string(flag) + " needs a value");
        value = flags[i + 1];
      } else if (arg.size() > flag.size() && arg.substr(0, flag.size()) == flag &&
                 arg[flag.size()] == '=') {
        value = std::string(arg.substr(flag.size() + 1));
      } else {
        continue;
      }
      if (flag == "--socket") socket_path = value;
      if (flag == "--repo") repo = value;
    }
  }
  if (repo.empty() && Env("AGENTGATE_REPO")) repo = Env("AGENTGATE_REPO");
  if (socket_path.empty() && Env("AGENTGATE_HOOK_SOCKET")) socket_path = Env("AGENTGATE_HOOK_SOCKET");
  if (socket_path.empty() && Env("AGENTGATE_DATA_DIR")) {
    socket_path = std::string(Env("AGENTGATE_DATA_DIR")) + "/hook.sock";
  }
  // Only a config to go by: the full program reads it and asks the server.
  if (socket_path.empty()) return ExecFull(flags, /*in_process=*/false);

  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof addr.sun_path) return Refuse("socket path too long: " + socket_path);
  std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Refuse(std::string("socket: ") + std::strerror(errno));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return ExecFull(flags, /*in_process=*/true);  // no server: do it here
  }
  // From here on the server may act on the request: no fallback.
  timeval tv{kIoTimeoutSeconds, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);

  std::string input;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(0, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Refuse(std::string("cannot read the ref updates: ") + std::strerror(errno));
    if (n == 0) break;
    input.append(buf, static_cast<size_t>(n));
    if (input.size() > kMaxInput) return Refuse("too many ref updates");
  }
  nlohmann::json env = nlohmann::json::object();
  for (char** e = environ; e && *e; ++e) {
    std::string_view kv = *e;
    size_t eq = kv.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view name = kv.substr(0, eq);
    if (name.substr(0, 4) == "GIT_" || name.substr(0, 10) == "AGENTGATE_") {
      env[std::string(name)] = std::string(kv.substr(eq + 1));
    }
  }
  nlohmann::json request = {{"hook", kHook}, {"repo", repo}, {"env", env}, {"input", input}};
  std::string line;
  try {
    // Strict: a byte that is not UTF-8 is refused, never replaced (the server
    // would check a ref name git is not updating).
    line = request.dump() + "\n";
  } catch (const nlohmann::json::exception&) {
    return Refuse("the push carries text that is not UTF-8 (a ref name, a push option or a path)");
  }
  if (!WriteAll(fd, line)) return Refuse("cannot reach the check server at " + socket_path);

  std::string answer;
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Refuse("the check server did not answer");
    size_t searched = answer.size();
    answer.append(buf, static_cast<size_t>(n));
    size_t nl = answer.find('\n', searched);
    if (nl != std::string::npos) {
      answer.resize(nl);
      break;
    }
    if (answer.size() > kMaxAnswer) return Refuse("the check server's answer is too long");
  }
  ::close(fd);
  nlohmann::json reply = nlohmann::json::parse(answer, nullptr, /*allow_exceptions=*/false);
  if (reply.is_discarded() || !reply.is_object() || !reply.contains("exit") ||
      !reply["exit"].is_number_integer()) {
    return Refuse("the check server sent a malformed answer");
  }
  if (reply.contains("output") && reply["output"].is_string()) {
    const std::string& output = reply["output"].get_ref<const std::string&>();
    std::fwrite(output.data(), 1, output.size(), stderr);
  }
  // Only an exact 0 accepts (an exit status is taken modulo 256 by the kernel).
  if (reply["exit"].get<int>() == 0) return 0;
  return kHook == "post-receive" ? 0 : 1;
}
