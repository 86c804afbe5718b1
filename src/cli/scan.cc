// `agentgate scan`: scans files and directories, or the added lines of a
// git repository's commits, for secrets. Exit 0 clean, 1 findings, 2 errors
// (an incomplete scan is an error even when it also found something).
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "scan/git_scan.h"
#include "scan/scanner.h"
#include "scan/walk.h"
#include "util/file.h"

namespace ag::cli {
namespace {

struct Flags {
  std::vector<std::string> rules;
  std::vector<std::string> paths;
  bool json = false;
  bool no_builtin = false;
  bool honor_inline_allow = false;
  std::string gitleaks_default;
  std::string key_file;
  uint64_t max_bytes = 10u << 20;
  std::string git_repo;
  std::string range;
  std::string builtin_dir;
  bool no_decode = false;
};

const char* ChecksumName(scan::Finding::Checksum c) {
  switch (c) {
    case scan::Finding::Checksum::kValid: return "valid";
    case scan::Finding::Checksum::kInvalid: return "invalid";
    case scan::Finding::Checksum::kNone: break;
  }
  return "";
}

void PrintJson(const scan::Finding& f) {
  nlohmann::json j = {{"rule", f.rule_id},   {"path", f.path},
                      {"line", f.line},      {"column", f.column},
                      {"masked", f.masked},  {"fingerprint", f.fingerprint},
                      {"commit", f.commit},  {"allowed_inline", f.allowed_inline}};
  if (f.checksum != scan::Finding::Checksum::kNone) j["checksum"] = ChecksumName(f.checksum);
  if (!f.encoding.empty()) j["encoding"] = f.encoding;
  std::string out = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::fprintf(stdout, "%s\n", out.c_str());
}

void PrintHuman(const scan::Finding& f, bool colour) {
  const char* red = colour ? "\033[31m" : "";
  const char* dim = colour ? "\033[2m" : "";
  const char* off = colour ? "\033[0m" : "";
  std::string where = f.path + ":" + std::to_string(f.line) + ":" + std::to_string(f.column);
  if (!f.commit.empty()) where = f.commit.substr(0, 12) + " " + where;
  std::string notes;
  if (!f.encoding.empty()) notes += " (" + f.encoding + ")";
  if (f.checksum == scan::Finding::Checksum::kValid) notes += " (checksum valid)";
  if (f.checksum == scan::Finding::Checksum::kInvalid) notes += " (checksum INVALID)";
  if (f.allowed_inline) notes += " (allowed inline)";
  std::fprintf(stdout, "%s%s%s %s%s%s %s%s%s%s\n", red, f.rule_id.c_str(), off, where.c_str(),
               dim, "", f.masked.c_str(), off, notes.c_str(), "");
  std::fprintf(stdout, "    %s%s  fingerprint %s%s\n", dim, f.description.c_str(),
               f.fingerprint.substr(0, 16).c_str(), off);
}

int RunScan(int argc, char** argv) {
  Flags flags;
  CLI::App app{"Scan files, directories or git history for secrets.", "agentgate scan"};
  app.add_option("--rules", flags.rules,
                 "rule pack: agentgate YAML or gitleaks TOML (.toml); repeatable")
      ->allow_extra_args(false);
  app.add_flag("--json", flags.json, "one JSON object per finding per line");
  app.add_flag("--no-builtin", flags.no_builtin, "do not load the built-in agentgate rules");
  app.add_flag("--honor-inline-allow", flags.honor_inline_allow,
               "lines marked agentgate:allow / gitleaks:allow do not count (still printed)");
  app.add_option("--gitleaks-default", flags.gitleaks_default,
                 "gitleaks default config for [extend] useDefault = true");
  app.add_option("--fingerprint-key-file", flags.key_file, "file holding the fingerprint key");
  app.add_option("--max-bytes", flags.max_bytes, "skip (and note) files larger than this")
      ->capture_default_str();
  app.add_option("--git", flags.git_repo, "scan the added lines of the commits of this repository");
  app.add_option("--range", flags.range, "A..B: commits reachable from B and not from A (--git)");
  app.add_option("--builtin-dir", flags.builtin_dir,
                 "read the built-in pack from this checkout folder (policies/rules) instead "
                 "of the compiled-in copy (rule authors)");
  app.add_flag("--no-decode", flags.no_decode, "do not decode and scan base64 runs");
  app.add_option("paths", flags.paths, "files and directories to scan");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kExitOk : kExitError;
  }
  if (flags.git_repo.empty() == flags.paths.empty()) {
    std::fprintf(stderr, "agentgate scan: give PATH... or --git REPO (not both)\n");
    return kExitError;
  }
  if (!flags.range.empty() && flags.git_repo.empty()) {
    std::fprintf(stderr, "agentgate scan: --range needs --git\n");
    return kExitError;
  }

  scan::ScannerOptions options;
  options.rule_files = flags.rules;
  options.builtin_rules = !flags.no_builtin;
  options.honor_inline_allow = flags.honor_inline_allow;
  options.gitleaks_default_config = flags.gitleaks_default;
  options.max_blob_bytes = flags.max_bytes;
  options.builtin_dir = flags.builtin_dir;
  options.decode_base64 = !flags.no_decode;
  if (!flags.key_file.empty()) {
    Result<std::string> key = ReadFile(flags.key_file, 4096);
    if (!key.ok() || key->empty()) {
      std::fprintf(stderr, "agentgate scan: fingerprint key: %s\n",
                   key.ok() ? "empty file" : key.status().ToString().c_str());
      return kExitError;
    }
    options.fingerprint_key = *key;
  }
  Result<std::shared_ptr<const scan::Scanner>> scanner = scan::Scanner::Create(options);
  if (!scanner.ok()) {
    std::fprintf(stderr, "agentgate scan: %s\n", scanner.status().message().c_str());
    return kExitError;
  }

  scan::WalkResult result;
  if (!flags.git_repo.empty()) {
    Status s =
        scan::ScanGitHistory(**scanner, flags.git_repo, flags.range, &result, flags.max_bytes);
    if (!s.ok()) result.errors.push_back(s.ToString());
  } else {
    scan::WalkOptions walk;
    walk.max_blob_bytes = flags.max_bytes;
    scan::ScanPaths(**scanner, flags.paths, walk, &result);
  }

  bool colour = !flags.json && ::isatty(STDOUT_FILENO);
  size_t counted = 0;
  for (const scan::Finding& f : result.findings) {
    if (!(f.allowed_inline && flags.honor_inline_allow)) ++counted;
    if (flags.json) PrintJson(f);
    else PrintHuman(f, colour);
  }
  for (const scan::SkipNote& n : result.skipped)
    std::fprintf(stderr, "agentgate scan: skipped %s: %s\n", n.path.c_str(), n.reason.c_str());
  for (const std::string& e : result.errors)
    std::fprintf(stderr, "agentgate scan: error: %s\n", e.c_str());
  std::fprintf(stderr, "agentgate scan: %zu finding(s), %zu skipped, %zu error(s)\n",
               result.findings.size(), result.skipped.size(), result.errors.size());
  if (!result.errors.empty()) return kExitError;
  return counted > 0 ? kExitRefused : kExitOk;
}

}  // namespace
AG_REGISTER_COMMAND(scan, "scan", "scan files, directories or git history for secrets", RunScan);
}  // namespace ag::cli
