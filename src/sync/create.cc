#include <sys/stat.h>

#include <filesystem>

#include "git/git.h"
#include "sync/sync.h"
#include "util/file.h"
#include "util/log.h"

namespace ag::sync {
namespace {

Status SetConfig(git_repository* repo, const char* key, const char* value) {
  git_config* c = nullptr;
  int rc = git_repository_config(&c, repo);
  git::ConfigPtr owner(c);
  if (rc != 0) return git::GitStatus(rc, "cannot open the mirror's config");
  rc = git_config_set_string(c, key, value);
  if (rc != 0) return git::GitStatus(rc, std::string("cannot set ") + key);
  return Status::Ok();
}

// A hook file: git starts the program of its #! line (no shell) with the
// file's path, and the program reads its flags from the lines below
// (hooks/client_main.cc).
std::string HookFile(const config::Config& config, const config::RepoConfig& repo,
                     const CreateOptions& options, std::string_view hook) {
  return "#!" + options.bindir + "/agentgate-" + std::string(hook) +
         "\n# Installed by `agentgate repo add`: git runs the program above, which reads these flags.\n"
         "--config=" + options.config_path + "\n--repo=" + repo.name +
         "\n--socket=" + config.hook_socket_path() + "\n";
}

Status CheckHookOptions(const config::Config& config, const config::RepoConfig& repo,
                        const CreateOptions& options) {
  if (options.config_path.empty() || options.config_path[0] != '/') {
    return Status::InvalidArgument("the config path written into the hooks must be absolute");
  }
  // Hook files hold one flag per line, behind a #! line the kernel limits.
  for (const std::string* v : {&options.config_path, &config.data_dir, &options.bindir, &repo.name}) {
    if (v->find_first_of("\n\r") != std::string::npos) {
      return Status::InvalidArgument("a path or name with a line break cannot go into a hook: " + *v);
    }
  }
  // The kernel ends a #! program at the first blank, and reads 255 bytes of
  // the line (Linux >= 5.1) or 127 (older kernels): keep to the smaller.
  if (options.bindir.find_first_of(" \t") != std::string::npos ||
      options.bindir.size() + sizeof("#!/agentgate-post-receive") > 127) {
    return Status::InvalidArgument("the hooks cannot start programs from " + options.bindir +
                                   " (a #! line allows no blanks and 127 bytes)");
  }
  return Status::Ok();
}

Status Build(const config::Config& config, const config::RepoConfig& repo,
             const CreateOptions& options, const std::string& path) {
  git_repository_init_options init = GIT_REPOSITORY_INIT_OPTIONS_INIT;
  init.flags = GIT_REPOSITORY_INIT_BARE | GIT_REPOSITORY_INIT_MKPATH | GIT_REPOSITORY_INIT_NO_REINIT;
  init.initial_head = "main";
  git_repository* r = nullptr;
  int rc = git_repository_init_ext(&r, path.c_str(), &init);
  git::RepoPtr mirror(r);
  if (rc != 0) return git::GitStatus(rc, "cannot create " + path);
  // Agents send push options (review notes); git refuses them unless advertised.
  AG_RETURN_IF_ERROR(SetConfig(mirror.get(), "receive.advertisePushOptions", "true"));
  // Reflogs for every ref: part of the audit trail.
  AG_RETURN_IF_ERROR(SetConfig(mirror.get(), "core.logAllRefUpdates", "true"));
  // git http-backend serves receive-pack only behind agentgate-mirror, which
  // has authenticated the client already.
  AG_RETURN_IF_ERROR(SetConfig(mirror.get(), "http.receivepack", "true"));
  mirror.reset();

  AG_RETURN_IF_ERROR(InstallHooks(config, repo, options));
  AG_ASSIGN_OR_RETURN(SyncResult first, SyncRepo(config, repo, nullptr));
  LogInfo("repo.created", {{"repo", repo.name}, {"path", path},
                           {"head", first.default_branch.empty() ? "refs/heads/main" : first.default_branch},
                           {"refs", std::to_string(first.client_updated)}});
  return Status::Ok();
}

}  // namespace

Status InstallHooks(const config::Config& config, const config::RepoConfig& repo,
                    const CreateOptions& options) {
  AG_RETURN_IF_ERROR(CheckHookOptions(config, repo, options));
  const std::string path = MirrorPath(config, repo);
  std::error_code ec;
  std::filesystem::create_directories(path + "/hooks", ec);
  if (ec) return Status::Io("cannot create " + path + "/hooks: " + ec.message());
  for (const char* hook : {"pre-receive", "post-receive"}) {
    AG_RETURN_IF_ERROR(WriteFileAtomic(path + "/hooks/" + hook,
                                       HookFile(config, repo, options, hook), 0755));
  }
  return Status::Ok();
}

Status CreateMirror(const config::Config& config, const config::RepoConfig& repo,
                    const CreateOptions& options) {
  git::GitInit();
  const std::string path = MirrorPath(config, repo);
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) return Status::AlreadyExists(path + " already exists");
  AG_RETURN_IF_ERROR(CheckHookOptions(config, repo, options));
  Status st = Build(config, repo, options, path);
  if (!st.ok()) std::filesystem::remove_all(path, ec);
  return st;
}

}  // namespace ag::sync
