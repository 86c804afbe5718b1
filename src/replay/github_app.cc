#include "replay/github_app.h"

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <algorithm>
#include <cctype>
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

// expires_at, which GitHub sets one hour ahead: anything else is clamped
// to [now, now + 1 h] so a wrong answer never keeps a token longer.
Result<Clock::time_point> ParseExpiry(const std::string& iso, Clock::time_point now) {
  std::tm tm{};
  const char* end = strptime(iso.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (end && *end == '.') {  // fractional seconds
    ++end;
    while (*end >= '0' && *end <= '9') ++end;
  }
  if (!end || std::string_view(end) != "Z" || tm.tm_year > 1100 || tm.tm_year < 70) {
    return Status::Unavailable("the token endpoint's expires_at '" + iso.substr(0, 40) + "' is not a UTC time");
  }
  std::time_t t = timegm(&tm);
  if (t == static_cast<std::time_t>(-1)) return Status::Unavailable("the token endpoint's expires_at is out of range");
  Clock::time_point at = Clock::from_time_t(t);
  return std::clamp(at, now, now + std::chrono::hours(1));
}

std::string FormatTime(Clock::time_point t) {
  std::time_t tt = Clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// One repository and permission set: its token, and while GitHub
// rate-limits the App, until when. `mu` is held while minting, so callers
// for the same slot wait for that one mint and others are not held up.
struct Slot {
  std::mutex mu;
  std::shared_ptr<const Credential> credential;  // GUARDED_BY(mu)
  Clock::time_point refresh_at;                  // GUARDED_BY(mu)
  Clock::time_point blocked_until;               // GUARDED_BY(mu)
  std::string blocked_reason;                    // GUARDED_BY(mu)
};

std::mutex g_mu;
std::map<std::string, std::shared_ptr<Slot>>* g_slots = nullptr;  // GUARDED_BY(g_mu); process-wide

std::string SlotKey(const config::RepoConfig& repo, const Access& access) {
  const config::GithubAppConfig& app = *repo.github_app;
  std::string key;
  for (const std::string& part : {app.api_url, std::to_string(app.app_id), std::to_string(app.installation_id),
                                  app.private_key, app.ca_file, RepositoryFullName(repo.upstream),
                                  Permissions(access)}) {
    key += part;
    key += '\0';
  }
  return key;
}

std::shared_ptr<Slot> SlotFor(const std::string& key) {
  std::lock_guard<std::mutex> lock(g_mu);
  if (!g_slots) g_slots = new std::map<std::string, std::shared_ptr<Slot>>();
  std::shared_ptr<Slot>& slot = (*g_slots)[key];
  if (!slot) slot = std::make_shared<Slot>();
  return slot;
}

// The path of an upstream URL without query, fragment, trailing '/' and
// ".git" (any case).
std::string RepoPath(const std::string& url) {
  std::string u = url.substr(0, url.find_first_of("?#"));
  size_t scheme = u.find("://");
  if (scheme != std::string::npos) {
    size_t path = u.find('/', scheme + 3);
    u = path == std::string::npos ? "" : u.substr(path + 1);
  }
  while (!u.empty() && u.back() == '/') u.pop_back();
  if (u.size() > 4) {
    std::string tail = u.substr(u.size() - 4);
    for (char& c : tail) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (tail == ".git") u.resize(u.size() - 4);
  }
  return u;
}

bool SameName(std::string a, std::string b) {
  for (char& c : a) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (char& c : b) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return a == b;
}

}  // namespace

std::string RepositoryName(const std::string& upstream_url) {
  std::string path = RepoPath(upstream_url);
  size_t slash = path.find_last_of("/:");
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string RepositoryFullName(const std::string& upstream_url) {
  std::string path = RepoPath(upstream_url);
  size_t last = path.rfind('/');
  if (last == std::string::npos) return path;
  size_t before = path.rfind('/', last - 1);
  return before == std::string::npos ? path : path.substr(before + 1);
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

Result<MintedToken> MintGithubAppToken(const config::GithubAppConfig& app, const std::string& full_name,
                                       const Access& access, Clock::time_point* rate_limited_until) {
  const std::string who = "GitHub App " + std::to_string(app.app_id);
  const std::string repository = RepositoryName("x/" + full_name);
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
  const std::string target = "installation " + std::to_string(app.installation_id) + ", repository " + repository;
  if (r->status == 201) {
    json j = json::parse(r->body, nullptr, false);
    Wipe(r->body);
    std::string token;
    if (j.is_object() && j.contains("token") && j["token"].is_string()) {
      json& t = j["token"];
      token = t.get<std::string>();
      Wipe(t.get_ref<std::string&>());
    }
    MintedToken out;
    Status problem = Status::Ok();
    if (token.empty() || token.size() > 1024 ||
        !std::all_of(token.begin(), token.end(), [](char c) { return c > 0x20 && c < 0x7f; })) {
      problem = Status::Unavailable(who + ": the token endpoint answered without a well-formed token");
    } else if (!j.contains("expires_at") || !j["expires_at"].is_string()) {
      problem = Status::Unavailable(who + ": the token endpoint answered a token without its expiry");
    } else {
      Result<Clock::time_point> expiry = ParseExpiry(j["expires_at"].get<std::string>(), Clock::now());
      if (expiry.ok()) out.expires_at = *expiry; else problem = expiry.status().WithContext(who);
    }
    if (problem.ok() && j.contains("permissions") && j["permissions"].is_object()) {
      for (const auto& [k, v] : j["permissions"].items()) {
        if (v.is_string()) out.permissions[k] = v.get<std::string>();
      }
    }
    if (problem.ok() && j.contains("repositories") && j["repositories"].is_array()) {
      for (const json& repo : j["repositories"]) {
        if (repo.is_object() && repo.contains("full_name") && repo["full_name"].is_string()) {
          out.repositories.push_back(repo["full_name"].get<std::string>());
        }
      }
    }
    // The token must be limited to this repository and nothing else.
    const std::string want = full_name.find('/') == std::string::npos ? "" : full_name;
    bool scoped = out.repositories.size() == 1 &&
                  (want.empty() ? SameName(RepositoryName("x/" + out.repositories[0]), repository)
                                : SameName(out.repositories[0], want));
    if (problem.ok() && !scoped) {
      problem = Status::Unavailable(who + ": GitHub's token is not limited to " +
                                    (want.empty() ? repository : want) + " alone (it lists " +
                                    std::to_string(out.repositories.size()) + " repositories); not used");
    }
    if (!problem.ok()) {
      Wipe(token);
      return problem;
    }
    out.credential = std::make_shared<const Credential>(CredentialKind::kToken, std::move(token), "x-access-token");
    return out;
  }
  std::string said = GithubMessage(r->body);
  Wipe(r->body);
  std::string quoted = said.empty() ? "" : ": " + said;
  auto says = [&](const char* words) {
    std::string lower = said;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return lower.find(words) != std::string::npos;
  };
  if (r->status == 422 && says("not accessible")) {
    return Status::Unavailable(who + " is not installed on " + repository + " (" + target + "; HTTP 422" + quoted +
                               "): add the repository to the App's installation");
  }
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
      bool limited = r->status == 429 || retry != r->headers.end() || says("rate limit") ||
                     (remaining != r->headers.end() && remaining->second == "0");
      if (limited) {
        // Until when: the reset time or Retry-After, within [now, now + 2 h].
        Clock::time_point now = Clock::now(), until = now + std::chrono::seconds(60);
        char* end = nullptr;
        if (reset != r->headers.end()) {
          long long at = std::strtoll(reset->second.c_str(), &end, 10);
          if (end && !*end && at > 0 && at < (1LL << 40)) until = Clock::from_time_t(static_cast<std::time_t>(at));
        } else if (retry != r->headers.end()) {
          long long in = std::strtoll(retry->second.c_str(), &end, 10);
          if (end && !*end && in >= 0 && in < 86400) until = now + std::chrono::seconds(in);
        }
        until = std::clamp(until, now, now + std::chrono::hours(2));
        if (rate_limited_until) *rate_limited_until = until;
        return Status::Unavailable(who + ": rate limited by GitHub until " + FormatTime(until) + " (HTTP " +
                                   std::to_string(r->status) + quoted + "); the replay waits for it");
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
  AG_RETURN_IF_ERROR(config::GithubAppServes(app, repo.upstream));
  const std::string full_name = RepositoryFullName(repo.upstream);
  std::shared_ptr<Slot> slot = SlotFor(SlotKey(repo, access));
  std::lock_guard<std::mutex> lock(slot->mu);  // one minting per slot; others go on
  Clock::time_point now = Clock::now();
  if (slot->credential && now < slot->refresh_at) return slot->credential;
  if (now < slot->blocked_until) return Status::Unavailable(slot->blocked_reason);
  Clock::time_point limited{};
  Result<MintedToken> minted = MintGithubAppToken(app, full_name, access, &limited);
  if (!minted.ok()) {
    if (limited > now) {  // no new request to GitHub before it resets
      slot->blocked_until = limited;
      slot->blocked_reason = std::string(minted.status().message());
    }
    return minted.status();
  }
  now = Clock::now();
  slot->credential = minted->credential;
  auto life = minted->expires_at - now;
  auto margin = std::min<Clock::duration>(std::chrono::minutes(5), life / 2);
  slot->refresh_at = minted->expires_at - margin;
  slot->blocked_until = {};
  LogInfo("github_app.token", {{"app", std::to_string(app.app_id)},
                               {"installation", std::to_string(app.installation_id)},
                               {"repository", full_name},
                               {"permissions", Permissions(access)},
                               {"expires_at", FormatTime(minted->expires_at)}});
  return minted->credential;
}

Clock::time_point GithubAppBlockedUntil(const config::RepoConfig& repo) {
  Clock::time_point until{};
  if (!repo.github_app) return until;
  for (bool write : {false, true}) {
    for (bool workflows : {false, true}) {
      Access a;
      a.write = write;
      a.workflows = workflows;
      std::shared_ptr<Slot> slot = SlotFor(SlotKey(repo, a));
      std::lock_guard<std::mutex> lock(slot->mu);
      until = std::max(until, slot->blocked_until);
    }
  }
  return until;
}

void ForgetGithubAppToken(const config::RepoConfig& repo, const Access& access) {
  if (!repo.github_app) return;
  std::shared_ptr<Slot> slot = SlotFor(SlotKey(repo, access));
  std::lock_guard<std::mutex> lock(slot->mu);
  slot->credential.reset();
  slot->refresh_at = {};
}

}  // namespace ag::replay
