// Who is on the other end of a Unix socket: the kernel's peer credentials
// (SO_PEERCRED) resolved to an account name and its groups. This is the only
// source of a reviewer's identity; nothing the client sends can change it.
//
// Thread-safety: reentrant (getpwuid_r, getgrgid_r).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "util/status.h"

namespace ag::control {

struct Peer {
  uid_t uid = 0;
  gid_t gid = 0;
  pid_t pid = 0;
  std::string user;                 // account name of uid
  std::vector<std::string> groups;  // names of every group of the account (getgrouplist)
};

// The kernel's credentials (SO_PEERCRED) of connected socket `fd`, without
// looking the account up: uid, gid and pid are set, user and groups empty.
Result<Peer> PeerCredentials(int fd);

// Reads SO_PEERCRED of connected socket `fd`. PermissionDenied when the uid
// has no account (a deleted user cannot review).
Result<Peer> PeerOf(int fd);

// The account name and group names of `uid` (also used by tests).
Result<Peer> AccountOf(uid_t uid);

}  // namespace ag::control
