// `agentgate approve ID [--comment TEXT]`: approves a pending request. It
// first fetches the request (as `show` does) and sends back the ref, old and
// new ids it saw, so the approval binds to exactly what was reviewed; the
// daemon refuses it if the request no longer matches. --expect OID binds it
// to the new commit id the reviewer saw in an earlier `agentgate show`.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <string>

#include "cli/command.h"
#include "control/client.h"
#include "control/protocol.h"

namespace ag::cli {
namespace {

int RunApprove(int argc, char** argv) {
  CLI::App app{"Approve a pending request."};
  std::string socket, config, id_text, comment;
  app.add_option("id", id_text, "request id")->required();
  std::string expect;
  app.add_option("--comment", comment, "recorded in the audit log");
  app.add_option("--expect", expect,
                 "the new commit id you reviewed (from `agentgate show`); refused if it differs");
  app.add_option("--socket", socket, "control socket (default: from the config)");
  app.add_option("--config", config, "config file");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kExitOk : kExitError;
  }
  Result<int64_t> id = control::ParseRequestId(id_text);
  if (!id.ok()) return control::ReportFailure("approve", id.status());
  int rc = 0;
  auto shown = control::CallForCli("approve", socket, config, {{"cmd", "show"}, {"id", *id}}, &rc);
  if (!shown) return rc;
  std::string ref = shown->value("ref", ""), old_oid = shown->value("old", ""),
              new_oid = shown->value("new", "");
  // With --expect the approval binds to what the reviewer read earlier, not
  // to what the daemon says now.
  if (!expect.empty()) new_oid = expect;
  auto result = control::CallForCli("approve", socket, config,
                                    {{"cmd", "approve"}, {"id", *id}, {"ref", ref},
                                     {"old", old_oid}, {"new", new_oid}, {"comment", comment}},
                                    &rc);
  if (!result) return rc;
  std::printf("%s\n  %s %s..%s\n", result->value("message", "approved").c_str(), ref.c_str(),
              old_oid.substr(0, 12).c_str(), new_oid.substr(0, 12).c_str());
  return kExitOk;
}

}  // namespace
AG_REGISTER_COMMAND(approve, "approve", "approve a pending request", RunApprove);
}  // namespace ag::cli
