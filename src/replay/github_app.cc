#include "replay/github_app.h"

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <ctime>
#include <mutex>
#include <nlohmann/json.hpp>

#include "identity/base64.h"
#include "identity/https_get.h"
#include "util/log.h"

namespace ag::replay {
namespace {

using nlohmann::json;
using Clock = std::chrono::system_clock;

struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};

std::string Permissions(const Access& access) {
  std::string p = std::string("contents: ") + (access.write ? "write" : "read");
  if (access.write && access.workflows) p += ", workflows: write";
  return p;
}

// GitHub's own words for a refusal ("message" of its JSON), bounded and
// printable, or empty.
std::string GithubMessage(const std::string& body) {
  json j = json::parse(body, nullptr, false);
  if (!j.is_object() || !j.contains("message") || !j["message"].is_string()) return "";
  std::string m = j["message"].get<std::string>().substr(0, 200);
  for (char& c : m) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  }
  return m;
}

Result<Clock::time_point> ParseTime(const std::string& iso) {
  std::tm tm{};
  const char* end = strptime(iso.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm);
  if (!end || *end) return Status::InvalidArgument("expires_at '" + iso.substr(0, 40) + "' is not a UTC time");
  return Clock::from_time_t(timegm(&tm));
}

std::string FormatTime(Clock::time_point t) {
  std::time_t tt = Clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

struct Cached {
  std::shared_ptr<const Credential> credential;
  Clock::time_point expires_at;
  Clock::time_point refresh_at;
};

std::mutex g_mu;
std::map<std::string, Cached>* g_cache = nullptr;  // GUARDED_BY(g_mu); never freed (process-wide)

}  // namespace

std::string RepositoryName(const std::string& upstream_url) {
  std::string u = upstream_url;
  while (!u.empty() && u.back() == '/') u.pop_back();
  if (u.size() > 4 && u.compare(u.size() - 4, 4, ".git") == 0) u.resize(u.size() - 4);
  size_t slash = u.find_last_of("/:");
  return slash == std::string::npos ? u : u.substr(slash + 1);
}

Result<std::string> GithubAppJwt(int64_t app_id, const std::string& private_key_pem, Clock::time_point now) {
  std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(private_key_pem.data(), static_cast<int>(private_key_pem.size())));
  if (!bio) return Status::Internal("cannot read the GitHub App key");
  std::unique_ptr<EVP_PKEY, PkeyFree> key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) return Status::InvalidArgument("the GitHub App private key is not a PEM private key");
  if (EVP_PKEY_base_id(key.get()) != EVP_PKEY_RSA) {
    return Status::InvalidArgument("the GitHub App private key is not an RSA key (GitHub Apps sign with RS256)");
  }
  int64_t t = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  // iat a minute back for clock drift; exp under GitHub's 10-minute cap.
  std::string header = identity::Base64UrlEncode(R"({"alg":"RS256","typ":"JWT"})");
  std::string payload = identity::Base64UrlEncode(
      json({{"iat", t - 60}, {"exp", t + 540}, {"iss", app_id}}).dump());
  std::string input = header + "." + payload;
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  size_t len = 0;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.get()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()),
                     input.size()) != 1) {
    return Status::Internal("cannot sign the GitHub App JWT");
  }
  std::string sig(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                     reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1) {
    return Status::Internal("cannot sign the GitHub App JWT");
  }
  sig.resize(len);
  return input + "." + identity::Base64UrlEncode(sig);
}

Result<MintedToken> MintGithubAppToken(const config::GithubAppConfig& app, const std::string& repository,
                                       const Access& access) {
  const std::string who = "GitHub App " + std::to_string(app.app_id);
  Result<std::string> pem_or = ReadCredentialFile(app.private_key);
  if (!pem_or.ok()) return pem_or.status().WithContext(who + " private key");
  std::string pem = std::move(*pem_or);
  Result<std::string> jwt = GithubAppJwt(app.app_id, pem, Clock::now());
  Wipe(pem);
  if (!jwt.ok()) return jwt.status().WithContext(who);

  json permissions = {{"contents", access.write ? "write" : "read"}};
  if (access.write && access.workflows) permissions["workflows"] = "write";
  json body = {{"repositories", {repository}}, {"permissions", permissions}};
  std::string url = app.api_url + "/app/installations/" + std::to_string(app.installation_id) + "/access_tokens";
  std::vector<std::string> headers = {"Accept: application/vnd.github+json", "Authorization: Bearer " + *jwt,
                                      "X-GitHub-Api-Version: 2022-11-28", "Content-Type: application/json"};
  identity::HttpsGetOptions options;
  options.ca_file = app.ca_file;
  options.max_bytes = 256 << 10;
  options.max_redirects = 0;
  Result<identity::HttpsResponse> r = identity::HttpsPost(url, headers, body.dump(), options);
  Wipe(*jwt);
  for (std::string& h : headers) Wipe(h);
  if (!r.ok()) return Status::Unavailable(who + ": cannot reach " + app.api_url + ": " + r.status().message());
  std::string said = GithubMessage(r->body);
  std::string quoted = said.empty() ? "" : ": " + said;
  const std::string target = "installation " + std::to_string(app.installation_id) + ", repository " + repository;
  if (r->status == 201) {
    json j = json::parse(r->body, nullptr, false);
    if (!j.is_object() || !j.contains("token") || !j["token"].is_string() || !j.contains("expires_at") ||
        !j["expires_at"].is_string()) {
      return Status::Unavailable(who + ": the token endpoint answered without a token and its expiry");
    }
    MintedToken out;
    AG_ASSIGN_OR_RETURN(out.expires_at, ParseTime(j["expires_at"].get<std::string>()));
    if (j.contains("permissions") && j["permissions"].is_object()) {
      for (const auto& [k, v] : j["permissions"].items()) {
        if (v.is_string()) out.permissions[k] = v.get<std::string>();
      }
    }
    if (j.contains("repositories") && j["repositories"].is_array()) {
      for (const json& repo : j["repositories"]) {
        if (repo.is_object() && repo.contains("full_name") && repo["full_name"].is_string()) {
          out.repositories.push_back(repo["full_name"].get<std::string>());
        }
      }
    }
    std::string token = j["token"].get<std::string>();
    j.clear();
    Wipe(r->body);
    if (token.empty() || token.find_first_of("\r\n ") != std::string::npos) {
      return Status::Unavailable(who + ": the token endpoint answered a malformed token");
    }
    out.credential = std::make_shared<const Credential>(CredentialKind::kToken, std::move(token), "x-access-token");
    return out;
  }
  Wipe(r->body);
  switch (r->status) {
    case 401:
      return Status::Unavailable(who + ": GitHub refused the App's JWT (HTTP 401" + quoted +
                                 "): the private key is not this App's (revoked or replaced?) or this "
                                 "machine's clock is off");
    case 404:
      return Status::Unavailable(who + " is not installed where asked (" + target + "; HTTP 404" + quoted +
                                 "): check installation_id and that the App can access the repository");
    case 422:
      return Status::Unavailable(who + " may not have " + Permissions(access) + " on " + repository +
                                 " (HTTP 422" + quoted + "): grant the permission in the App's settings");
    case 403:
    case 429: {
      auto remaining = r->headers.find("x-ratelimit-remaining");
      auto reset = r->headers.find("x-ratelimit-reset");
      auto retry = r->headers.find("retry-after");
      bool limited = r->status == 429 || retry != r->headers.end() ||
                     (remaining != r->headers.end() && remaining->second == "0");
      if (limited) {
        std::string when;
        if (reset != r->headers.end()) {
          char* end = nullptr;
          long long at = std::strtoll(reset->second.c_str(), &end, 10);
          if (end && !*end && at > 0) when = " until " + FormatTime(Clock::from_time_t(static_cast<std::time_t>(at)));
        } else if (retry != r->headers.end()) {
          when = " for " + retry->second.substr(0, 12) + " s";
        }
        return Status::Unavailable(who + ": rate limited by GitHub" + when + " (HTTP " +
                                   std::to_string(r->status) + quoted + "); the replay retries");
      }
      return Status::Unavailable(who + ": forbidden (HTTP 403" + quoted + "): the App is suspended, or may not grant " +
                                 Permissions(access) + " on " + repository);
    }
    default:
      return Status::Unavailable(who + ": the token endpoint answered HTTP " + std::to_string(r->status) + quoted);
  }
}

Result<std::shared_ptr<const Credential>> GithubAppToken(const config::RepoConfig& repo, const Access& access) {
  const config::GithubAppConfig& app = *repo.github_app;
  const std::string repository = RepositoryName(repo.upstream);
  const std::string key = app.api_url + " " + std::to_string(app.app_id) + " " + std::to_string(app.installation_id) +
                          " " + app.private_key + " " + repository + " " + Permissions(access);
  std::lock_guard<std::mutex> lock(g_mu);  // one minting at a time
  if (!g_cache) g_cache = new std::map<std::string, Cached>();
  Clock::time_point now = Clock::now();
  auto it = g_cache->find(key);
  if (it != g_cache->end() && now < it->second.refresh_at) return it->second.credential;
  AG_ASSIGN_OR_RETURN(MintedToken minted, MintGithubAppToken(app, repository, access));
  Cached c;
  c.credential = minted.credential;
  c.expires_at = minted.expires_at;
  auto life = minted.expires_at - now;
  auto margin = std::min<Clock::duration>(std::chrono::minutes(5), life / 2);
  c.refresh_at = minted.expires_at - margin;
  (*g_cache)[key] = c;
  LogInfo("github_app.token", {{"app", std::to_string(app.app_id)},
                               {"installation", std::to_string(app.installation_id)},
                               {"repository", repository},
                               {"permissions", Permissions(access)},
                               {"expires_at", FormatTime(minted.expires_at)}});
  return minted.credential;
}

}  // namespace ag::replay
