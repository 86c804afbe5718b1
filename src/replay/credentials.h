// Upstream credentials for replay and sync: an https token or an ssh private
// key, read from $CREDENTIALS_DIRECTORY/<name> (systemd LoadCredential=) or
// from an absolute path. The file must not be readable by group or other.
//
// The secret lives only in this object's memory and is overwritten when the
// object is destroyed. It never goes into argv, a child's environment, a log
// line, an error message or the database: callers hand it to libgit2 through
// the credential callback (remote.h) and nowhere else.
//
// Thread-safety: a Credential is immutable after LoadCredential; const methods
// may be called from several threads.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "config/config.h"
#include "util/status.h"

namespace ag::replay {

enum class CredentialKind { kNone, kToken, kSshKey };

class Credential {
 public:
  Credential() = default;
  Credential(CredentialKind kind, std::string secret, std::string user);
  ~Credential();  // wipes the secret
  Credential(const Credential&) = delete;
  Credential& operator=(const Credential&) = delete;

  CredentialKind kind() const { return kind_; }
  // The token or the PEM private key. Never log or copy it into a message.
  const std::string& secret() const { return secret_; }
  // Basic user name for tokens (credential_user); ssh user when the URL has none.
  const std::string& user() const { return user_; }

 private:
  CredentialKind kind_ = CredentialKind::kNone;
  std::string secret_;
  std::string user_;
};

// Resolves `name` to a file path: an absolute path as is, otherwise
// $CREDENTIALS_DIRECTORY/<name>. InvalidArgument for a name with '/' that is
// not absolute, or when CREDENTIALS_DIRECTORY is unset.
Result<std::string> CredentialPath(const std::string& name);

// Loads the repo's credential (kNone when repo.credential is empty). The kind
// follows the upstream URL: ssh (ssh://, user@host:path) takes a private key,
// anything else a token (surrounding whitespace trimmed). PermissionDenied
// when the file is readable by group or other. Messages name the path, never
// the content.
Result<std::shared_ptr<const Credential>> LoadCredential(const config::RepoConfig& repo);

// What an upstream connection will do; a GitHub App token is asked for just
// that (replay/github_app.h). Static credentials ignore it.
struct Access {
  bool write = false;      // push (contents: write); else fetch (contents: read)
  bool workflows = false;  // the push changes .github/workflows/ (workflows: write)
};
Result<std::shared_ptr<const Credential>> LoadCredential(const config::RepoConfig& repo,
                                                         const Access& access);

// The content of credential `name` (CredentialPath), checked as every
// credential file is (not readable by group or other). Wipe it after use.
Result<std::string> ReadCredentialFile(const std::string& name);

// True for ssh:// URLs and scp-like user@host:path.
bool IsSshUrl(std::string_view url);

// `url` without its userinfo ("https://user:tok@host/x" -> "https://host/x").
std::string StripUserinfo(std::string_view url);

// `message` with every occurrence of `url` replaced by StripUserinfo(url),
// any other "scheme://user:pass@" userinfo removed, and the credential's
// secret (when given and non-empty) replaced by "***". Apply it to every
// message that could carry the upstream URL or a libgit2 error.
std::string Scrub(std::string message, std::string_view url, const Credential* credential);

// Overwrites `s` in place with zeros, in a way the compiler keeps.
void Wipe(std::string& s);

}  // namespace ag::replay
