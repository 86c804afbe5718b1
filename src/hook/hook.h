// The git hooks of a mirror repo, as library functions the thin programs in
// hooks/ call:
//
//   pre-receive:  loads config and policy (fail closed), finds the pusher's
//                 identity (signed envelope from agentgate-mirror, else
//                 local:<unix user>), checks every ref update (check/check.h),
//                 records each decision in the audit log and each accepted
//                 update as an incoming request, and tells the pusher why.
//                 Any block refuses the whole push (nothing lands).
//   post-receive: the refs really moved: requests become pending/approved,
//                 their tips are pinned, their state refs published.
//
// Both run either in the hook process, or in agentgate-mirror's check server
// (check_server.h) with warm caches, which the hook program asks first.
//
// Output goes to `out` (git shows it to the pusher as "remote:" lines).
//
// Thread-safety: RunPreReceiveWith/RunPostReceiveWith may run on several
// threads at once when each has its own invocation; the HookCache is
// internally locked.
#pragma once

#include <sys/types.h>

#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <string_view>

namespace ag::hook {

struct HookOptions {
  std::string config_path;  // --config, else $AGENTGATE_CONFIG
  std::string repo_name;    // --repo, else $AGENTGATE_REPO
  std::string socket_path;  // --socket, else $AGENTGATE_HOOK_SOCKET: the check server
  // Limits on hostile input.
  size_t max_ref_updates = 1000;
  size_t max_push_options = 100;
  size_t max_push_option_bytes = 4096;
  // Violation lines printed per ref update (the count of the rest is printed).
  size_t max_lines_per_ref = 40;
};

// What git handed the hook: its environment (GIT_*, AGENTGATE_*) and the
// Unix account it runs as.
struct HookInvocation {
  std::map<std::string, std::string> env;
  uid_t uid = 0;
};

// The variables a hook reads, from this process.
HookInvocation CurrentInvocation();

class HookCache;  // config, policy and compiled scanner, reloaded on change

// Returns the hook's exit code: 0 accept, 1 refuse.
int RunPreReceive(const HookOptions& options, std::string_view ref_updates, FILE* out);
int RunPreReceiveWith(const HookOptions& options, const HookInvocation& invocation,
                      std::string_view ref_updates, FILE* out, HookCache* cache);
// Returns 0; problems are reported, since git cannot undo the push anymore.
// *approved (optional) becomes true when a landed request is approved (a
// policy rule allowed it), so the caller can wake the replay worker.
int RunPostReceive(const HookOptions& options, std::string_view ref_updates, FILE* out);
int RunPostReceiveWith(const HookOptions& options, const HookInvocation& invocation,
                       std::string_view ref_updates, FILE* out, HookCache* cache,
                       bool* approved = nullptr);

}  // namespace ag::hook
