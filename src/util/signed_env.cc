#include "util/signed_env.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

#include "util/crypto.h"
#include "util/file.h"

namespace ag {
namespace {

std::string Join(const std::vector<std::string>& parts, char sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i) out.push_back(sep);
    out += parts[i];
  }
  return out;
}

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size() && !s.empty()) {
    size_t end = s.find(sep, start);
    if (end == std::string::npos) end = s.size();
    if (end > start) out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

std::string Payload(const SignedIdentity& id) {
  return id.identity + "\n" + Join(id.groups, ',') + "\n" + id.request_id + "\n" + id.method +
         "\n" + id.claims_json;
}


}  // namespace

std::map<std::string, std::string> SignIdentityEnv(const SignedIdentity& id,
                                                   const std::string& key) {
  return {
      {"AGENTGATE_IDENTITY", id.identity},
      {"AGENTGATE_GROUPS", Join(id.groups, ',')},
      {"AGENTGATE_REQUEST_ID", id.request_id},
      {"AGENTGATE_METHOD", id.method},
      {"AGENTGATE_CLAIMS", id.claims_json},
      {"AGENTGATE_SIGNATURE", HexEncode(HmacSha256(key, Payload(id)))},
  };
}

Result<SignedIdentity> VerifyIdentityEnv(const std::string& key) {
  std::map<std::string, std::string> env;
  for (const char* name : {"AGENTGATE_IDENTITY", "AGENTGATE_GROUPS", "AGENTGATE_REQUEST_ID",
                           "AGENTGATE_METHOD", "AGENTGATE_CLAIMS", "AGENTGATE_SIGNATURE"}) {
    if (const char* v = std::getenv(name)) env[name] = v;
  }
  return VerifyIdentityEnv(key, env);
}

Result<SignedIdentity> VerifyIdentityEnv(const std::string& key,
                                         const std::map<std::string, std::string>& env_map) {
  auto Env = [&env_map](const char* name) -> std::string {
    auto it = env_map.find(name);
    return it == env_map.end() ? std::string() : it->second;
  };
  if (!env_map.count("AGENTGATE_IDENTITY") && !env_map.count("AGENTGATE_SIGNATURE")) {
    return Status::NotFound("no agentgate identity in the environment");
  }
  SignedIdentity id;
  id.identity = Env("AGENTGATE_IDENTITY");
  id.groups = Split(Env("AGENTGATE_GROUPS"), ',');
  id.request_id = Env("AGENTGATE_REQUEST_ID");
  id.method = Env("AGENTGATE_METHOD");
  id.claims_json = Env("AGENTGATE_CLAIMS");
  std::string expected = HexEncode(HmacSha256(key, Payload(id)));
  if (id.identity.empty() || !ConstantTimeEquals(expected, Env("AGENTGATE_SIGNATURE"))) {
    return Status::PermissionDenied("the agentgate identity in the environment is not signed by this server");
  }
  return id;
}

Result<std::string> LoadOrCreateServerKey(const std::string& path) {
  Result<std::string> hex = ReadFile(path, 4096);
  if (!hex.ok() && hex.status().code() != Code::kNotFound) return hex.status();
  if (!hex.ok()) {
    AG_ASSIGN_OR_RETURN(std::string raw, RandomBytes(32));
    // O_EXCL: two processes racing to create the key agree on one.
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0) {
      std::string text = HexEncode(raw) + "\n";
      bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                ::fsync(fd) == 0;
      ::close(fd);
      if (!ok) return ErrnoStatus("cannot write server key " + path);
      return raw;
    }
    if (errno != EEXIST) return ErrnoStatus("cannot create server key " + path);
    AG_ASSIGN_OR_RETURN(std::string again, ReadFile(path, 4096));
    hex = std::move(again);
  }
  std::string text = *hex;
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  if (text.size() != 64) return Status::Corruption("server key " + path + " is not 64 hex characters");
  std::string raw;
  for (size_t i = 0; i < 64; i += 2) {
    auto nib = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    int hi = nib(text[i]), lo = nib(text[i + 1]);
    if (hi < 0 || lo < 0) return Status::Corruption("server key " + path + " is not hex");
    raw.push_back(static_cast<char>(hi * 16 + lo));
  }
  return raw;
}

}  // namespace ag
