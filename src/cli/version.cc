// `agentgate version`: prints the version.
#include <cstdio>

#include "cli/command.h"

namespace ag::cli {
namespace {

int RunVersion(int argc, char** argv) {
  std::printf("agentgate 0.1.0\n");
  return kExitOk;
}

}  // namespace
AG_REGISTER_COMMAND(version, "version", "print the version", RunVersion);
}  // namespace ag::cli
