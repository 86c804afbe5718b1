#include "replay/remote.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <sstream>

#include "replay/stall.h"

namespace ag::replay {

struct UpstreamSession::Payload {
  std::string url;
  std::shared_ptr<const Credential> credential;
  SessionOptions options;
  int credential_calls = 0;
  bool auth_refused = false;
  bool host_untrusted = false;
  std::vector<RefRejection>* rejections = nullptr;
  std::string remote_text;  // "remote:" lines of the last operation, bounded
  StallGuard* guard = nullptr;  // of the call in progress; data moving resets it
};

namespace {

constexpr const char* kAuthRefused = "upstream refused the credential";

// Decodes standard base64; empty on error.
std::string Base64Decode(const std::string& in) {
  std::string out(in.size() / 4 * 3 + 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  if (n < 0) return {};
  size_t pad = 0;
  if (!in.empty() && in.back() == '=') ++pad;
  if (in.size() > 1 && in[in.size() - 2] == '=') ++pad;
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

bool HostMatches(const std::string& patterns, const char* host) {
  std::stringstream ss(patterns);
  std::string p;
  while (std::getline(ss, p, ',')) {
    if (p == host) return true;
    // "[host]:port"
    if (p.size() > 2 && p[0] == '[') {
      size_t close = p.find(']');
      if (close != std::string::npos && p.substr(1, close - 1) == host) return true;
    }
  }
  return false;
}

int CredentialCb(git_credential** out, const char* url, const char* username_from_url,
                 unsigned int allowed_types, void* data) {
  auto* p = static_cast<UpstreamSession::Payload*>(data);
  const Credential* c = p->credential.get();
  std::string user = (username_from_url && *username_from_url) ? username_from_url
                     : c ? c->user() : std::string();
  if (allowed_types & GIT_CREDENTIAL_USERNAME) {
    return git_credential_username_new(out, user.c_str());
  }
  if (!c || c->kind() == CredentialKind::kNone) {
    p->auth_refused = true;
    git_error_set_str(GIT_ERROR_NET, "upstream asks for a credential and none is configured");
    return GIT_EUSER;
  }
  if (++p->credential_calls > p->options.max_credential_attempts) {
    p->auth_refused = true;
    git_error_set_str(GIT_ERROR_NET, kAuthRefused);
    return GIT_EUSER;
  }
  if (c->kind() == CredentialKind::kToken && (allowed_types & GIT_CREDENTIAL_USERPASS_PLAINTEXT)) {
    return git_credential_userpass_plaintext_new(out, c->user().c_str(), c->secret().c_str());
  }
  if (c->kind() == CredentialKind::kSshKey && (allowed_types & GIT_CREDENTIAL_SSH_MEMORY)) {
    return git_credential_ssh_key_memory_new(out, user.c_str(), nullptr, c->secret().c_str(),
                                             nullptr);
  }
  p->auth_refused = true;
  git_error_set_str(GIT_ERROR_NET, "the configured credential does not fit what upstream asks for");
  return GIT_EUSER;
}

int CertificateCb(git_cert* cert, int valid, const char* host, void* data) {
  auto* p = static_cast<UpstreamSession::Payload*>(data);
  if (cert->cert_type != GIT_CERT_HOSTKEY_LIBSSH2 || p->options.ssh_known_hosts.empty()) {
    return GIT_PASSTHROUGH;
  }
  auto* hk = reinterpret_cast<git_cert_hostkey*>(cert);
  if (!(hk->type & GIT_CERT_SSH_RAW)) {
    p->host_untrusted = true;
    return GIT_ECERTIFICATE;
  }
  std::string key(hk->hostkey, hk->hostkey_len);
  std::ifstream in(p->options.ssh_known_hosts);
  std::string line;
  for (int lines = 0; lines < 100000 && std::getline(in, line); ++lines) {
    if (line.empty() || line[0] == '#') continue;
    std::stringstream ss(line);
    std::string hosts, type, b64;
    if (!(ss >> hosts >> type >> b64)) continue;
    if (HostMatches(hosts, host) && Base64Decode(b64) == key) return 0;
  }
  p->host_untrusted = true;
  git_error_set_str(GIT_ERROR_SSH, "upstream ssh host key is not in ssh_known_hosts");
  return GIT_ECERTIFICATE;
}

void Moved(UpstreamSession::Payload* p) {
  if (p->guard) p->guard->Progress();
}

int TransferCb(const git_indexer_progress*, void* data) {
  Moved(static_cast<UpstreamSession::Payload*>(data));
  return 0;
}

int PushTransferCb(unsigned int, unsigned int, size_t, void* data) {
  Moved(static_cast<UpstreamSession::Payload*>(data));
  return 0;
}

int PackProgressCb(int, uint32_t, uint32_t, void* data) {
  Moved(static_cast<UpstreamSession::Payload*>(data));
  return 0;
}

int PushUpdateCb(const char* refname, const char* status, void* data) {
  auto* p = static_cast<UpstreamSession::Payload*>(data);
  if (status && p->rejections) p->rejections->push_back({refname, status});
  return 0;
}

// Keeps what the upstream says on the sideband (its hook's messages), so a
// declined push can be explained. Bounded by kMaxRemoteText.
constexpr size_t kMaxRemoteText = 4096;
int SidebandCb(const char* str, int len, void* data) {
  auto* p = static_cast<UpstreamSession::Payload*>(data);
  Moved(p);
  if (len > 0 && p->remote_text.size() < kMaxRemoteText) {
    p->remote_text.append(str, std::min<size_t>(static_cast<size_t>(len),
                                                kMaxRemoteText - p->remote_text.size()));
  }
  return 0;
}

void FillCallbacks(git_remote_callbacks* cb, UpstreamSession::Payload* p) {
  cb->credentials = CredentialCb;
  cb->certificate_check = CertificateCb;
  cb->push_update_reference = PushUpdateCb;
  cb->sideband_progress = SidebandCb;
  cb->transfer_progress = TransferCb;
  cb->push_transfer_progress = PushTransferCb;
  cb->pack_progress = PackProgressCb;
  cb->payload = p;
}

}  // namespace

UpstreamSession::~UpstreamSession() {
  if (remote_) git_remote_disconnect(remote_.get());
}

Status UpstreamSession::Error(int rc, const std::string& what) const {
  const git_error* e = git_error_last();
  std::string detail = (e && e->message) ? e->message : "libgit2 error " + std::to_string(rc);
  int klass = e ? e->klass : 0;
  std::string url = StripUserinfo(payload_->url);
  auto msg = [&](const std::string& m) {
    return Scrub(what + " " + url + ": " + m, payload_->url, payload_->credential.get());
  };
  if (payload_->auth_refused || rc == GIT_EAUTH) {
    return Status::Unauthenticated(msg(payload_->auth_refused ? kAuthRefused : detail));
  }
  if (payload_->host_untrusted || rc == GIT_ECERTIFICATE) {
    return Status::PermissionDenied(msg("host not trusted: " + detail));
  }
  if (detail.find("status code: 401") != std::string::npos ||
      detail.find("status code: 403") != std::string::npos) {
    return Status::Unauthenticated(msg(std::string(kAuthRefused) + " (" + detail + ")"));
  }
  if (detail.find("status code: 5") != std::string::npos) return Status::Unavailable(msg(detail));
  if (klass == GIT_ERROR_HTTP && detail.find("status code: 4") != std::string::npos) {
    return Status::Internal(msg(detail));
  }
  if (klass == GIT_ERROR_NET || klass == GIT_ERROR_SSH || klass == GIT_ERROR_OS ||
      klass == GIT_ERROR_HTTP || klass == GIT_ERROR_SSL) {
    return Status::Unavailable(msg(detail));
  }
  return Status::Internal(msg(detail));
}

Status UpstreamSession::Stalled(const std::string& what) const {
  return Status::Unavailable(Scrub(what + " " + StripUserinfo(payload_->url) + ": upstream sent nothing for " +
                                       std::to_string(payload_->options.io_timeout.count() / 1000) +
                                       " s; connection cut (replay.io_timeout)",
                                   payload_->url, payload_->credential.get()));
}

Status UpstreamSession::Guarded(const std::function<int()>& call, const std::string& what) {
  StallGuard guard(payload_->options.io_timeout, port_, &sockets_before_);
  guard.SetPeers(peers_);
  payload_->guard = &guard;
  int rc = call();
  payload_->guard = nullptr;
  if (rc == 0) return Status::Ok();
  return guard.fired() ? Stalled(what) : Error(rc, what);
}

Result<std::unique_ptr<UpstreamSession>> UpstreamSession::Connect(
    git_repository* repo, const std::string& url, std::shared_ptr<const Credential> credential,
    git_direction direction, const SessionOptions& options) {
  git::GitInit();
  std::unique_ptr<UpstreamSession> s(new UpstreamSession());
  s->payload_ = std::make_unique<Payload>();
  s->payload_->url = url;
  s->payload_->credential = std::move(credential);
  s->payload_->options = options;
  git_remote* r = nullptr;
  int rc = git_remote_create_anonymous(&r, repo, url.c_str());
  s->remote_.reset(r);
  if (rc != 0) return s->Error(rc, "cannot use upstream");
  git_remote_callbacks cb = GIT_REMOTE_CALLBACKS_INIT;
  FillCallbacks(&cb, s->payload_.get());
  s->port_ = UpstreamPort(url);
  if (options.io_timeout.count() > 0 && s->port_ > 0) s->sockets_before_ = OpenSockets();
  AG_RETURN_IF_ERROR(s->Guarded(
      [&] { return git_remote_connect(s->remote_.get(), direction, &cb, nullptr, nullptr); },
      "cannot connect to upstream"));
  // From now on only connections to where this one went are the session's.
  if (options.io_timeout.count() > 0 && s->port_ > 0) {
    s->peers_ = PeersOf(s->port_, s->sockets_before_);
  }
  const git_remote_head** heads = nullptr;
  size_t n = 0;
  rc = git_remote_ls(&heads, &n, s->remote_.get());
  if (rc != 0) return s->Error(rc, "cannot list upstream refs");
  for (size_t i = 0; i < n; ++i) {
    std::string name = heads[i]->name;
    if (name.size() > 3 && name.compare(name.size() - 3, 3, "^{}") == 0) continue;
    s->refs_[name] = git::OidHex(heads[i]->oid);
  }
  return s;
}

std::string UpstreamSession::RefOr0(const std::string& ref) const {
  auto it = refs_.find(ref);
  return it == refs_.end() ? std::string(git::kZeroOid) : it->second;
}

Status UpstreamSession::Push(const std::vector<std::string>& refspecs,
                             std::vector<RefRejection>* rejections) {
  std::vector<char*> specs;
  for (const std::string& s : refspecs) {
    if (!s.empty() && s[0] == '+') return Status::InvalidArgument("refusing a forced refspec");
    specs.push_back(const_cast<char*>(s.c_str()));
  }
  git_strarray arr{specs.data(), specs.size()};
  git_push_options opts = GIT_PUSH_OPTIONS_INIT;
  FillCallbacks(&opts.callbacks, payload_.get());
  opts.pb_parallelism = payload_->options.pack_threads;
  payload_->rejections = rejections;
  payload_->remote_text.clear();
  Status pushed = Guarded([&] { return git_remote_upload(remote_.get(), &arr, &opts); },
                          "push to upstream failed:");
  payload_->rejections = nullptr;
  AG_RETURN_IF_ERROR(pushed);
  if (rejections && !rejections->empty()) {
    // Add the upstream's own words (its hook's output) to each rejection.
    std::string said;
    std::string line;
    for (char ch : payload_->remote_text) {
      if (ch == '\n' || ch == '\r') {
        if (!line.empty() && said.size() < 1024) said += (said.empty() ? "" : "; ") + line;
        line.clear();
      } else if (static_cast<unsigned char>(ch) >= 0x20) {
        line += ch;
      }
    }
    if (!line.empty() && said.size() < 1024) said += (said.empty() ? "" : "; ") + line;
    if (!said.empty()) {
      for (RefRejection& r : *rejections) r.message += " (remote: " + said + ")";
    }
  }
  return Status::Ok();
}

Status UpstreamSession::Download(const std::vector<std::string>& refspecs) {
  std::vector<char*> specs;
  for (const std::string& s : refspecs) specs.push_back(const_cast<char*>(s.c_str()));
  git_strarray arr{specs.data(), specs.size()};
  git_fetch_options opts = GIT_FETCH_OPTIONS_INIT;
  FillCallbacks(&opts.callbacks, payload_.get());
  opts.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
  return Guarded([&] { return git_remote_download(remote_.get(), &arr, &opts); },
                 "fetch from upstream failed:");
}

Result<std::string> UpstreamSession::DefaultBranch() {
  git_buf buf = GIT_BUF_INIT;
  int rc = git_remote_default_branch(&buf, remote_.get());
  git::BufPtr owner(&buf);
  if (rc == GIT_ENOTFOUND) return Status::NotFound("upstream has no default branch");
  if (rc != 0) return Error(rc, "cannot read upstream's default branch from");
  return std::string(buf.ptr, buf.size);
}

}  // namespace ag::replay
