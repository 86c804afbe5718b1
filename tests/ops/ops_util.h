// Small helpers for the operations tests: run a shell command and capture its
// output and exit code, make and remove temp dirs, read a file's mode.
#pragma once

#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <string>

namespace ag::testing {

struct CommandResult {
  int code = -1;
  std::string output;  // stdout and stderr
};

inline CommandResult Sh(const std::string& cmd) {
  CommandResult r;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return r;
  char buf[512];
  while (std::fgets(buf, sizeof buf, p)) r.output += buf;
  int st = ::pclose(p);
  r.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

inline std::string TempDir(const char* prefix) {
  std::string tmpl = std::string("/tmp/") + prefix + "-XXXXXX";
  char* d = ::mkdtemp(tmpl.data());
  return d ? std::string(d) : std::string();
}

// Permission bits (07777) of `path`, or -1 when it does not exist.
inline int ModeOf(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return -1;
  return static_cast<int>(st.st_mode & 07777);
}

inline std::string Src(const std::string& rel) { return std::string(AG_SOURCE_DIR) + "/" + rel; }

}  // namespace ag::testing
