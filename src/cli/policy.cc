// `agentgate policy check FILE`: validates a policy file. Exit 0 and
// "FILE: ok (N rules, M profiles)" when it is valid; otherwise exit 2 and one
// "FILE:LINE:COL: message" line per problem on stderr. The secret rule packs
// the policy names are compiled too, so a bad regex is caught here rather
// than by the first push.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "cli/command.h"
#include "policy/policy.h"
#include "scan/scanner.h"

namespace ag::cli {
namespace {

// Compiles the scanner the hook would build for this policy.
Status CheckSecretRules(const policy::Policy& p) {
  bool uses_secrets = false;
  for (const policy::Rule& r : p.rules) uses_secrets |= r.kind == policy::RuleKind::kSecrets;
  if (!uses_secrets) return Status::Ok();
  scan::ScannerOptions options;
  options.compile_eagerly = true;  // a check must find every bad rule now, not at first use
  options.rule_files = p.secrets.rule_files;
  options.builtin_rules = p.secrets.builtin_rules;
  options.max_blob_bytes = p.secrets.max_blob_bytes;
  Result<std::shared_ptr<const scan::Scanner>> s = scan::Scanner::Create(options);
  return s.status();
}

int Check(const std::string& file) {
  std::vector<policy::Problem> problems;
  Result<std::shared_ptr<const policy::Policy>> p = policy::LoadPolicy(file, &problems);
  if (!p.ok()) {
    if (problems.empty()) {
      std::fprintf(stderr, "%s: %s\n", file.c_str(), p.status().message().c_str());
    }
    for (const policy::Problem& problem : problems) {
      std::fprintf(stderr, "%s\n", problem.ToString().c_str());
    }
    return kExitError;
  }
  Status rules = CheckSecretRules(**p);
  if (!rules.ok()) {
    std::fprintf(stderr, "%s: the secret rules do not load: %s\n", file.c_str(),
                 rules.message().c_str());
    return kExitError;
  }
  std::printf("%s: ok (%zu rules, %zu profiles)\n", file.c_str(), (*p)->rules.size(),
              (*p)->profiles.size());
  return kExitOk;
}

int RunPolicy(int argc, char** argv) {
  CLI::App app{"Validate policy files.", "agentgate policy"};
  app.require_subcommand(1);
  std::string file;
  CLI::App* check = app.add_subcommand("check", "validate a policy file (exit 0 ok, 2 problems)");
  check->add_option("FILE", file, "the policy file")->required();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kExitOk : kExitError;
  }
  return Check(file);
}

}  // namespace
AG_REGISTER_COMMAND(policy, "policy", "validate a policy file (policy check FILE)", RunPolicy);
}  // namespace ag::cli
