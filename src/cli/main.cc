// agentgate: the admin and reviewer command line. Dispatches to the command
// files registered in this folder.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>

#include "cli/command.h"

namespace ag::cli {

std::vector<Command>& MutableCommands() {
  static std::vector<Command> commands;
  return commands;
}

bool RegisterCommand(const Command& command) {
  MutableCommands().push_back(command);
  return true;
}

const std::vector<Command>& Commands() { return MutableCommands(); }

namespace {

void PrintUsage(FILE* out) {
  std::vector<Command> sorted = Commands();
  std::sort(sorted.begin(), sorted.end(),
            [](const Command& a, const Command& b) { return std::strcmp(a.name, b.name) < 0; });
  std::fprintf(out, "usage: agentgate COMMAND [ARGS...]\n\ncommands:\n");
  for (const Command& c : sorted) std::fprintf(out, "  %-10s %s\n", c.name, c.summary);
  std::fprintf(out,
               "\nRun 'agentgate COMMAND --help' for a command's options.\n"
               "Exit codes: 0 done, 1 refused or found something, 2 usage or system error.\n");
}

}  // namespace
}  // namespace ag::cli

int main(int argc, char** argv) {
  using namespace ag::cli;
  if (argc < 2) {
    PrintUsage(stderr);
    return kExitError;
  }
  std::string name = argv[1];
  if (name == "--help" || name == "-h" || name == "help") {
    PrintUsage(stdout);
    return kExitOk;
  }
  if (name == "--version") {
    std::printf("agentgate 0.1.0\n");
    return kExitOk;
  }
  for (const Command& c : Commands()) {
    if (name == c.name) {
      std::string argv0 = std::string("agentgate ") + c.name;
      argv[1] = argv0.data();
      return c.run(argc - 1, argv + 1);
    }
  }
  std::fprintf(stderr, "agentgate: unknown command '%s'\n\n", name.c_str());
  PrintUsage(stderr);
  return kExitError;
}
