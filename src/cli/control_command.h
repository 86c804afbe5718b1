// The plumbing every reviewer command (list, show, approve, reject, retry)
// shares: the --socket and --config flags, the optional request id argument,
// parsing, and one call to agentgate-mirror over the control socket with its
// errors printed as "agentgate <name>: ..." and turned into an exit code.
// This file registers no command.
//
// Use: construct, add the command's own flags to app() (and AddRequestId()
// first if it takes one), Parse(), then Call() as often as needed.
//
// Thread-safety: one object per command run; not copyable (CLI::App holds
// pointers into it).
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace ag::cli {

class ControlCommand {
 public:
  // `name` is the subcommand ("approve"), `description` the --help title.
  ControlCommand(const char* name, const std::string& description);
  ControlCommand(const ControlCommand&) = delete;
  ControlCommand& operator=(const ControlCommand&) = delete;

  // The parser, for the command's own flags. REQUIRES: before Parse().
  CLI::App& app() { return app_; }

  // Adds the required positional "id" (a request id). REQUIRES: before Parse().
  void AddRequestId();

  // Adds --socket and --config, then parses argv and the request id (if
  // added). Returns nullopt to go on, or the exit code to return now: 0 after
  // --help, kExitError on a usage error, the printed failure's code on a bad id.
  std::optional<int> Parse(int argc, char** argv);

  // The parsed request id. REQUIRES: AddRequestId() and Parse() returned nullopt.
  int64_t id() const { return id_; }

  // Sends `request` over the control socket and returns the "result" of an
  // OK response; otherwise prints why, sets *exit_code (1 refused, 2 error)
  // and returns nullopt. See control::CallForCli.
  std::optional<nlohmann::json> Call(const nlohmann::json& request, int* exit_code) const;

 private:
  const char* name_;
  CLI::App app_;
  std::string socket_, config_;
  bool takes_id_ = false;
  std::string id_text_;
  int64_t id_ = 0;
};

}  // namespace ag::cli
