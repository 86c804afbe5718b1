// `agentgate token`: static agent tokens.
//
//   agentgate token new --identity NAME [--groups a,b]
//       prints a fresh token once, and the agentgate.yaml entry holding only
//       its SHA-256; the token is not stored anywhere.
//   agentgate token hash
//       reads a token from stdin (without echo on a terminal) and prints its
//       SHA-256 hex, never the token.
//
// Exit codes: 0 done, 2 usage or system error.
#include <termios.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>
#include <vector>

#include "cli/command.h"
#include "identity/token.h"
#include "util/crypto.h"

namespace ag::cli {
namespace {

constexpr size_t kMaxTokenInput = 16u << 10;

int New(const std::string& identity, const std::vector<std::string>& groups) {
  Status s = identity::ValidateName(identity);
  if (!s.ok()) {
    std::fprintf(stderr, "agentgate token new: --identity: %s\n", s.message().c_str());
    return kExitError;
  }
  for (const std::string& g : groups) {
    s = identity::ValidateName(g);
    if (!s.ok()) {
      std::fprintf(stderr, "agentgate token new: --groups: %s\n", s.message().c_str());
      return kExitError;
    }
  }
  Result<std::string> token = identity::NewToken();
  if (!token.ok()) {
    std::fprintf(stderr, "agentgate token new: %s\n", token.status().ToString().c_str());
    return kExitError;
  }
  std::string snippet = identity::TokenConfigSnippet(identity, groups, Sha256Hex(*token));
  std::fprintf(stdout,
               "# Token for %s. It is shown only now; agentgate keeps only its hash.\n"
               "# Give it to the agent as the HTTP password or a Bearer token.\n"
               "%s\n"
               "# Add this entry to the tokens: list of agentgate.yaml:\n"
               "%s",
               identity.c_str(), token->c_str(), snippet.c_str());
  std::fflush(stdout);
  return kExitOk;
}

// Reads one line (the token) from stdin; turns echo off on a terminal.
Result<std::string> ReadToken() {
  termios saved{};
  bool tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) == 0;
  if (tty) {
    std::fprintf(stderr, "token: ");
    termios quiet = saved;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
  }
  std::string line;
  bool too_long = false;
  for (int c; (c = std::fgetc(stdin)) != EOF && c != '\n';) {
    if (line.size() >= kMaxTokenInput) {
      too_long = true;
      break;
    }
    line.push_back(static_cast<char>(c));
  }
  if (tty) {
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
    std::fprintf(stderr, "\n");
  }
  if (too_long) return Status::InvalidArgument("token longer than 16 KiB");
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.empty()) return Status::InvalidArgument("no token on stdin");
  return line;
}

int Hash() {
  Result<std::string> token = ReadToken();
  if (!token.ok()) {
    std::fprintf(stderr, "agentgate token hash: %s\n", token.status().message().c_str());
    return kExitError;
  }
  std::fprintf(stdout, "%s\n", Sha256Hex(*token).c_str());
  return kExitOk;
}

int RunToken(int argc, char** argv) {
  CLI::App app{"Create and hash static agent tokens.", "agentgate token"};
  app.require_subcommand(1);
  std::string identity;
  std::vector<std::string> groups;
  CLI::App* new_cmd = app.add_subcommand("new", "generate a token and its config entry");
  new_cmd->add_option("--identity", identity, "policy identity the token maps to")->required();
  new_cmd->add_option("--groups", groups, "comma-separated groups")->delimiter(',');
  CLI::App* hash_cmd =
      app.add_subcommand("hash", "print the SHA-256 of a token read from stdin");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kExitOk : kExitError;
  }
  if (new_cmd->parsed()) return New(identity, groups);
  if (hash_cmd->parsed()) return Hash();
  return kExitError;
}

}  // namespace
AG_REGISTER_COMMAND(token, "token", "create and hash static agent tokens", RunToken);
}  // namespace ag::cli
