// `agentgate repo add NAME --upstream URL [--config FILE] [--path P]
//                    [--credential NAME] [--credential-user U]
//                    [--ssh-known-hosts FILE] [--sync-interval SECONDS]
//                    [--github-app ID --github-installation ID --github-app-key NAME
//                     [--github-api-url URL] [--github-ca-file FILE]]`
//   creates the bare mirror of URL (https://, ssh://, file:// or a local
//   path): HEAD as upstream's, hooks installed, push options advertised, a
//   first fetch of upstream; then records the repo in the config file
//   (atomically). Refuses a name or a path that is already in use.
//
// `agentgate repo hooks NAME [--config FILE]`
//   rewrites the hook files of a configured repo's mirror (after an upgrade
//   or a move of the programs; hooks of earlier versions were shell scripts).
//
// The hooks are hook files: git starts <folder of this program>/agentgate-
// pre-receive (post-receive) from their #! line, and the program reads the
// absolute config path, the repo name and the check server's socket below it.
//
// Exit codes: 0 done, 1 refused (add: name or path in use; hooks: no such
// repo), 2 usage or system error.
#include <limits.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <string>

#include "cli/command.h"
#include "config/config.h"
#include "replay/credentials.h"
#include "sync/sync.h"

namespace ag::cli {
namespace {

std::string BinDir() {
  char buf[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "/usr/lib/agentgate";
  buf[n] = '\0';
  return std::filesystem::path(buf).parent_path().string();
}

int Fail(const Status& s, const char* command = "add") {
  std::fprintf(stderr, "agentgate repo %s: %s\n", command, s.message().c_str());
  return s.code() == Code::kAlreadyExists || s.code() == Code::kNotFound ? kExitRefused : kExitError;
}

int Hooks(const std::string& config_arg, const std::string& name) {
  std::error_code ec;
  std::string config_path = std::filesystem::absolute(config_arg, ec).lexically_normal().string();
  auto loaded = config::LoadConfig(config_path);
  if (!loaded.ok()) return Fail(loaded.status(), "hooks");
  const config::RepoConfig* repo = (*loaded)->FindRepo(name);
  if (!repo) return Fail(Status::NotFound("no repo named '" + name + "' in " + config_path), "hooks");
  const std::string path = sync::MirrorPath(**loaded, *repo);
  if (!std::filesystem::is_directory(path + "/objects", ec)) {
    return Fail(Status::NotFound("no mirror at " + path + " (agentgate repo add creates it)"), "hooks");
  }
  sync::CreateOptions options;
  options.config_path = config_path;
  options.bindir = BinDir();
  Status st = sync::InstallHooks(**loaded, *repo, options);
  if (!st.ok()) return Fail(st, "hooks");
  std::printf("installed %s/hooks/pre-receive and post-receive (running %s/agentgate-*)\n",
              path.c_str(), options.bindir.c_str());
  return kExitOk;
}

int Add(const std::string& config_arg, config::RepoConfig repo, int64_t sync_interval,
        const config::GithubAppConfig& app) {
  if (app.app_id != 0 || app.installation_id != 0 || !app.private_key.empty()) {
    if (app.app_id <= 0 || app.installation_id <= 0 || app.private_key.empty()) {
      return Fail(Status::InvalidArgument(
          "a GitHub App needs --github-app ID, --github-installation ID and --github-app-key NAME"));
    }
    if (!repo.credential.empty()) {
      return Fail(Status::InvalidArgument("use --credential or a GitHub App, not both"));
    }
    config::GithubAppConfig given = app;
    std::error_code abs_ec;
    if (!given.ca_file.empty()) {  // the daemon does not run from here
      given.ca_file = std::filesystem::absolute(given.ca_file, abs_ec).lexically_normal().string();
    }
    Status valid = config::ValidateGithubApp(given);
    if (valid.ok()) valid = config::GithubAppServes(given, repo.upstream);
    if (!valid.ok()) return Fail(valid);
    repo.github_app = given;
  }
  std::error_code ec;
  std::string config_path = std::filesystem::absolute(config_arg, ec).lexically_normal().string();
  auto loaded = config::LoadConfig(config_path);
  if (!loaded.ok()) return Fail(loaded.status());
  config::Config next = **loaded;
  for (char c : repo.name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') {
      return Fail(Status::InvalidArgument("repo name '" + repo.name + "' must match [A-Za-z0-9._-]+"));
    }
  }
  if (repo.name.empty() || repo.name[0] == '.') {
    return Fail(Status::InvalidArgument("repo name must not be empty or start with '.'"));
  }
  if (next.FindRepo(repo.name)) {
    return Fail(Status::AlreadyExists("a repo named '" + repo.name + "' is already configured"));
  }
  if (sync_interval >= 0) repo.sync_interval = std::chrono::seconds(sync_interval);
  // A local upstream path becomes absolute: the daemon does not run from here.
  if (!repo.upstream.empty() && repo.upstream.find("://") == std::string::npos &&
      !replay::IsSshUrl(repo.upstream)) {
    repo.upstream = std::filesystem::absolute(repo.upstream, ec).lexically_normal().string();
  }
  if (repo.upstream != replay::StripUserinfo(repo.upstream)) {
    return Fail(Status::InvalidArgument(
        "the upstream URL carries credentials; put the token in a file and use --credential"));
  }
  if (!repo.path.empty()) {
    repo.path = std::filesystem::absolute(repo.path, ec).lexically_normal().string();
  }
  const std::string path = sync::MirrorPath(next, repo);
  for (const config::RepoConfig& other : next.repos) {
    if (sync::MirrorPath(next, other) == path) {
      return Fail(Status::AlreadyExists("repo '" + other.name + "' already uses " + path));
    }
  }
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  sync::CreateOptions options;
  options.config_path = config_path;
  options.bindir = BinDir();
  Status st = sync::CreateMirror(next, repo, options);
  if (!st.ok()) return Fail(st);
  repo.path = path;  // explicit; SaveConfig leaves the default out
  next.repos.push_back(repo);
  st = config::SaveConfig(next, config_path);
  if (!st.ok()) {
    std::filesystem::remove_all(path, ec);
    return Fail(st.WithContext("cannot record the repo in " + config_path));
  }
  std::printf("created %s\n  mirror:   %s\n  upstream: %s\n  recorded in %s\n", repo.name.c_str(),
              path.c_str(), replay::StripUserinfo(repo.upstream).c_str(), config_path.c_str());
  return kExitOk;
}

int RunRepo(int argc, char** argv) {
  CLI::App app{"Manage mirrored repositories."};
  app.require_subcommand(1);
  CLI::App* add = app.add_subcommand("add", "create the mirror of an upstream and record it");
  std::string config_path;
  const char* env = std::getenv("AGENTGATE_CONFIG");
  config_path = env && *env ? env : "/etc/agentgate/agentgate.yaml";
  config::RepoConfig repo;
  int64_t sync_interval = -1;
  add->add_option("name", repo.name, "repo name, served as /<name>.git")->required();
  add->add_option("--upstream", repo.upstream, "upstream URL or path")->required();
  add->add_option("--config", config_path,
                  "config file (default $AGENTGATE_CONFIG, else /etc/agentgate/agentgate.yaml)");
  add->add_option("--path", repo.path, "bare mirror path (default <data_dir>/repos/<name>.git)");
  add->add_option("--credential", repo.credential,
                  "credential file name in $CREDENTIALS_DIRECTORY, or an absolute path");
  add->add_option("--credential-user", repo.credential_user,
                  "HTTP Basic user name for the token (default x-access-token)");
  add->add_option("--ssh-known-hosts", repo.ssh_known_hosts, "known_hosts file for ssh upstreams");
  add->add_option("--sync-interval", sync_interval, "seconds between syncs (default 60, 0 = none)");
  config::GithubAppConfig github;
  add->add_option("--github-app", github.app_id, "replay and sync with tokens of this GitHub App (its id)");
  add->add_option("--github-installation", github.installation_id, "the App's installation id");
  add->add_option("--github-app-key", github.private_key,
                  "the App's private key: credential name in $CREDENTIALS_DIRECTORY, or an absolute path");
  add->add_option("--github-api-url", github.api_url, "GitHub API (default https://api.github.com)");
  add->add_option("--github-ca-file", github.ca_file, "CA bundle for the GitHub API (a private CA)");
  CLI::App* hooks = app.add_subcommand("hooks", "rewrite the hooks of a configured repo's mirror");
  std::string hooks_name;
  hooks->add_option("name", hooks_name, "configured repo name")->required();
  hooks->add_option("--config", config_path,
                    "config file (default $AGENTGATE_CONFIG, else /etc/agentgate/agentgate.yaml)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kExitOk : kExitError;
  }
  if (hooks->parsed()) return Hooks(config_path, hooks_name);
  return Add(config_path, repo, sync_interval, github);
}

}  // namespace
AG_REGISTER_COMMAND(repo, "repo",
                    "add a mirrored repository (repo add NAME --upstream URL), or rewrite its "
                    "hooks (repo hooks NAME)",
                    RunRepo);
}  // namespace ag::cli
