// One live connection to a repo's upstream through libgit2, shared by replay
// and sync: an anonymous remote, the credential callback (capped: libgit2
// would retry a refused token up to 15 times), the ssh host key check, the
// advertised refs, a push that reports per-ref rejections, and a download.
//
// Error codes returned by every method, so callers can decide what to do:
//   kUnauthenticated  upstream refused the credential (401/403, ssh auth)
//   kUnavailable      network error, connection refused, HTTP 5xx: retry later
//   kPermissionDenied the ssh host key or TLS certificate is not trusted
//   other             anything else (404, protocol error): do not retry blindly
// Messages never carry the secret or the userinfo of the URL.
//
// Thread-safety: one UpstreamSession per thread; it borrows `repo`, which must
// outlive it and not be used by another thread meanwhile.
#pragma once

#include <git2.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "git/git.h"
#include "replay/credentials.h"
#include "util/status.h"

namespace ag::replay {

struct SessionOptions {
  // Credential callback invocations allowed per session; the next one fails.
  // Default 2 (one retry after the server's first 401).
  int max_credential_attempts = 2;
  // known_hosts file the ssh host key must appear in; empty = libgit2's own
  // check (~/.ssh/known_hosts).
  std::string ssh_known_hosts;
  // Pack building threads; 0 = one per core.
  unsigned pack_threads = 0;
  // A connection that moves no data this long is cut and the call fails
  // with kUnavailable (replay/stall.h: libgit2 1.5 has no timeout of its
  // own). Zero: never. Default zero; the workers use config.io_timeout.
  std::chrono::milliseconds io_timeout{0};
};

// A rejected ref of a push, as the upstream reported it.
struct RefRejection {
  std::string ref;
  std::string message;  // "pre-receive hook declined", "protected branch", ...
};

class UpstreamSession {
 public:
  // Connects to `url` for push or fetch and reads the advertisement.
  static Result<std::unique_ptr<UpstreamSession>> Connect(
      git_repository* repo, const std::string& url, std::shared_ptr<const Credential> credential,
      git_direction direction, const SessionOptions& options = {});
  ~UpstreamSession();
  UpstreamSession(const UpstreamSession&) = delete;
  UpstreamSession& operator=(const UpstreamSession&) = delete;

  // The advertised refs: name -> oid hex (peeled "^{}" entries left out).
  const std::map<std::string, std::string>& refs() const { return refs_; }
  // The advertised value of `ref`, or the zero oid when absent.
  std::string RefOr0(const std::string& ref) const;

  // Pushes `refspecs` on this connection (never forced: callers must not pass
  // '+'). OK with `rejections` filled when the upstream declined some refs.
  Status Push(const std::vector<std::string>& refspecs, std::vector<RefRejection>* rejections);

  // Downloads the objects `refspecs` need; does not touch any ref.
  Status Download(const std::vector<std::string>& refspecs);

  // Upstream's default branch ("refs/heads/main"), NotFound when it has none.
  Result<std::string> DefaultBranch();

  struct Payload;  // callback state; defined in remote.cc

 private:
  UpstreamSession() = default;
  Status Error(int rc, const std::string& what) const;
  // kUnavailable for a call the stall guard cut.
  Status Stalled(const std::string& what) const;
  // Runs a libgit2 network call under a StallGuard (replay/stall.h): Ok, or
  // the error as Stalled or Error would say it.
  Status Guarded(const std::function<int()>& call, const std::string& what);

  std::unique_ptr<Payload> payload_;
  std::set<std::string> sockets_before_;  // open before the first connection (StallGuard)
  std::set<std::string> peers_;           // addresses the connection went to
  int port_ = 0;              // upstream's TCP port; 0 = local
  git::RemotePtr remote_;
  std::map<std::string, std::string> refs_;
};

}  // namespace ag::replay
