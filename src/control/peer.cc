#include "control/peer.h"

#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "util/file.h"

namespace ag::control {

Result<Peer> AccountOf(uid_t uid) {
  Peer p;
  p.uid = uid;
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* found = nullptr;
  int rc = 0;
  while ((rc = getpwuid_r(uid, &pw, buf.data(), buf.size(), &found)) == ERANGE &&
         buf.size() < (1u << 20)) {
    buf.resize(buf.size() * 2);
  }
  if (rc != 0) return Status::Io(std::string("getpwuid_r: ") + std::strerror(rc));
  if (!found) return Status::PermissionDenied("uid " + std::to_string(uid) + " has no account");
  p.user = pw.pw_name;
  p.gid = pw.pw_gid;

  std::vector<gid_t> gids(64);
  for (int tries = 0; tries < 8; ++tries) {
    int n = static_cast<int>(gids.size());
    if (getgrouplist(p.user.c_str(), pw.pw_gid, gids.data(), &n) >= 0) {
      gids.resize(static_cast<size_t>(n));
      break;
    }
    gids.resize(static_cast<size_t>(n) > gids.size() ? static_cast<size_t>(n) : gids.size() * 2);
    if (tries == 7) return Status::ResourceExhausted("too many groups for " + p.user);
  }
  std::vector<char> gbuf(16384);
  for (gid_t g : gids) {
    group gr{};
    group* gfound = nullptr;
    while ((rc = getgrgid_r(g, &gr, gbuf.data(), gbuf.size(), &gfound)) == ERANGE &&
           gbuf.size() < (1u << 22)) {
      gbuf.resize(gbuf.size() * 2);
    }
    if (rc == 0 && gfound) p.groups.emplace_back(gr.gr_name);
  }
  return p;
}

Result<Peer> PeerCredentials(int fd) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    return ErrnoStatus("getsockopt(SO_PEERCRED)");
  }
  Peer p;
  p.uid = cred.uid;
  p.gid = cred.gid;
  p.pid = cred.pid;
  return p;
}

Result<Peer> PeerOf(int fd) {
  AG_ASSIGN_OR_RETURN(Peer cred, PeerCredentials(fd));
  AG_ASSIGN_OR_RETURN(Peer p, AccountOf(cred.uid));
  p.pid = cred.pid;
  return p;
}

}  // namespace ag::control
