#include "replay/credentials.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "replay/github_app.h"
#include "util/file.h"

namespace ag::replay {
namespace {

constexpr size_t kMaxCredentialBytes = 64 << 10;

std::string Trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

// Reads the file through one descriptor (no TOCTOU between the mode check and
// the read), refusing group/other-readable files.
Result<std::string> ReadSecretFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return ErrnoStatus("cannot open credential file " + path);
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st;
  if (::fstat(fd, &st) != 0) return ErrnoStatus("cannot stat credential file " + path);
  if (!S_ISREG(st.st_mode)) return Status::InvalidArgument("credential " + path + " is not a regular file");
  if (st.st_mode & (S_IRWXG | S_IRWXO)) {
    return Status::PermissionDenied("credential file " + path +
                                    " is accessible by group or other (mode " +
                                    [&] {
                                      char b[8];
                                      std::snprintf(b, sizeof b, "%04o", st.st_mode & 07777);
                                      return std::string(b);
                                    }() +
                                    "); chmod 600 it");
  }
  if (static_cast<size_t>(st.st_size) > kMaxCredentialBytes) {
    return Status::ResourceExhausted("credential file " + path + " is too large");
  }
  std::string out(static_cast<size_t>(st.st_size), '\0');
  size_t got = 0;
  while (got < out.size()) {
    ssize_t n = ::read(fd, out.data() + got, out.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      Wipe(out);
      return ErrnoStatus("cannot read credential file " + path);
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  out.resize(got);
  return out;
}

}  // namespace

Credential::Credential(CredentialKind kind, std::string secret, std::string user)
    : kind_(kind), secret_(std::move(secret)), user_(std::move(user)) {}

Credential::~Credential() { Wipe(secret_); }

void Wipe(std::string& s) {
  if (s.empty()) return;
  volatile char* p = s.data();
  for (size_t i = 0; i < s.size(); ++i) p[i] = 0;
  s.clear();
}

bool IsSshUrl(std::string_view url) {
  if (url.rfind("ssh://", 0) == 0 || url.rfind("git+ssh://", 0) == 0 ||
      url.rfind("ssh+git://", 0) == 0) {
    return true;
  }
  if (url.find("://") != std::string_view::npos) return false;
  // scp-like: [user@]host:path, with no '/' before the ':'.
  size_t colon = url.find(':');
  size_t slash = url.find('/');
  return colon != std::string_view::npos && colon > 0 && (slash == std::string_view::npos || colon < slash);
}

std::string StripUserinfo(std::string_view url) {
  size_t scheme = url.find("://");
  if (scheme == std::string_view::npos) return std::string(url);
  size_t host = scheme + 3;
  size_t end = url.find_first_of("/?#", host);
  std::string_view authority = url.substr(host, end == std::string_view::npos ? url.npos : end - host);
  size_t at = authority.rfind('@');
  if (at == std::string_view::npos) return std::string(url);
  std::string out(url.substr(0, host));
  out += url.substr(host + at + 1);
  return out;
}

std::string Scrub(std::string message, std::string_view url, const Credential* credential) {
  if (!url.empty()) {
    std::string clean = StripUserinfo(url);
    for (size_t pos = 0; (pos = message.find(url, pos)) != std::string::npos;) {
      message.replace(pos, url.size(), clean);
      pos += clean.size();
    }
  }
  // Any other URL with a password in it: drop the userinfo.
  for (size_t pos = 0; (pos = message.find("://", pos)) != std::string::npos;) {
    size_t host = pos + 3;
    size_t end = message.find_first_of("/ \t\n'\"", host);
    if (end == std::string::npos) end = message.size();
    size_t at = message.rfind('@', end);
    if (at != std::string::npos && at >= host) message.erase(host, at + 1 - host);
    pos = host;
  }
  if (credential && credential->secret().size() >= 4) {
    const std::string& s = credential->secret();
    for (size_t pos = 0; (pos = message.find(s, pos)) != std::string::npos;) {
      message.replace(pos, s.size(), "***");
      pos += 3;
    }
  }
  return message;
}

Result<std::string> CredentialPath(const std::string& name) {
  if (name.empty()) return Status::InvalidArgument("empty credential name");
  if (name[0] == '/') return name;
  if (name.find('/') != std::string::npos || name == "." || name == "..") {
    return Status::InvalidArgument("credential '" + name +
                                   "' must be a plain name (looked up in $CREDENTIALS_DIRECTORY) "
                                   "or an absolute path");
  }
  const char* dir = std::getenv("CREDENTIALS_DIRECTORY");
  if (!dir || !*dir) {
    return Status::InvalidArgument("credential '" + name +
                                   "' is a name but $CREDENTIALS_DIRECTORY is not set "
                                   "(use systemd LoadCredential= or an absolute path)");
  }
  return std::string(dir) + "/" + name;
}

Result<std::string> ReadCredentialFile(const std::string& name) {
  AG_ASSIGN_OR_RETURN(std::string path, CredentialPath(name));
  return ReadSecretFile(path);
}

Result<std::shared_ptr<const Credential>> LoadCredential(const config::RepoConfig& repo,
                                                         const Access& access) {
  if (repo.github_app) return GithubAppToken(repo, access);
  return LoadCredential(repo);
}

Result<std::shared_ptr<const Credential>> LoadCredential(const config::RepoConfig& repo) {
  if (repo.credential.empty()) return std::make_shared<const Credential>();
  AG_ASSIGN_OR_RETURN(std::string path, CredentialPath(repo.credential));
  AG_ASSIGN_OR_RETURN(std::string data, ReadSecretFile(path));
  if (IsSshUrl(repo.upstream)) {
    if (data.find("PRIVATE KEY-----") == std::string::npos) {
      Wipe(data);
      return Status::InvalidArgument("credential " + path + " is not a PEM/OpenSSH private key");
    }
    return std::make_shared<const Credential>(CredentialKind::kSshKey, std::move(data),
                                              repo.credential_user);
  }
  std::string token = Trim(data);
  Wipe(data);
  if (token.empty()) return Status::InvalidArgument("credential file " + path + " is empty");
  if (token.find_first_of("\r\n") != std::string::npos) {
    Wipe(token);
    return Status::InvalidArgument("credential file " + path + " holds more than one line");
  }
  return std::make_shared<const Credential>(CredentialKind::kToken, std::move(token),
                                            repo.credential_user);
}

}  // namespace ag::replay
