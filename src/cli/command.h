// The `agentgate` command line is a table of subcommands, one file each
// (src/cli/<name>.cc). A file registers its command at start-up with
// AG_REGISTER_COMMAND; main() dispatches on argv[1].
//
// Exit codes shared by every command (documented in docs/cli.md):
//   0  done / clean
//   1  refused or found something (not a reviewer, findings, broken chain)
//   2  usage error or system error (bad flags, unreadable file, daemon down)
//
// Thread-safety: registration happens during static initialisation only.
#pragma once

#include <string>
#include <vector>

namespace ag::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitRefused = 1;
inline constexpr int kExitError = 2;

struct Command {
  const char* name;     // "scan", "policy", "list"
  const char* summary;  // one line for `agentgate --help`
  // argv[0] is "agentgate <name>"; the rest are the command's arguments.
  int (*run)(int argc, char** argv);
};

bool RegisterCommand(const Command& command);
const std::vector<Command>& Commands();

}  // namespace ag::cli

#define AG_REGISTER_COMMAND(ident, name, summary, fn) \
  static const bool ag_command_registered_##ident =   \
      ::ag::cli::RegisterCommand({name, summary, fn})
