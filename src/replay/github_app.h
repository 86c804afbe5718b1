// Upstream tokens minted by a GitHub App (config::GithubAppConfig), for the
// replay and sync: an RS256 JWT signed with the App's private key buys, from
// POST {api_url}/app/installations/{id}/access_tokens, an installation token
// limited to the one repository and to what the connection does
// (contents: read for a fetch, contents: write for a push, plus
// workflows: write only for a push that changes .github/workflows/). Tokens
// live one hour; each is kept in memory until 5 minutes before it expires
// (half its life, when GitHub gives less than 10 minutes) and never written
// to disk, a log, argv, an environment or the database.
//
// Failures are Unavailable (the replay retries per replay.*) with a message
// for the admin: a refused JWT (wrong or revoked key, clock skew), an App not
// installed on the repository, a suspended App or missing permission, a
// rate limit and when it resets. Messages never hold the key, a JWT or a token.
//
// Thread-safety: every function may be called from any thread; one minting
// per repository and permission set at a time, none holding up another's.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "replay/credentials.h"
#include "util/status.h"

namespace ag::replay {

// A token for `repo` (which has github_app set) good for `access`: from
// the cache, or minted now.
Result<std::shared_ptr<const Credential>> GithubAppToken(const config::RepoConfig& repo,
                                                         const Access& access);

// What one minting got (agentgate doctor prints it; the token is not kept).
struct MintedToken {
  std::shared_ptr<const Credential> credential;
  std::chrono::system_clock::time_point expires_at;
  std::map<std::string, std::string> permissions;  // e.g. contents -> write
  std::vector<std::string> repositories;           // full names
};
// `full_name` is "owner/name" (or "name"); GitHub's token must list that
// one repository. On a rate limit, *rate_limited_until (when given) is set
// to when it resets.
Result<MintedToken> MintGithubAppToken(const config::GithubAppConfig& app, const std::string& full_name,
                                       const Access& access,
                                       std::chrono::system_clock::time_point* rate_limited_until = nullptr);

// The App's JWT ({"iat": now - 60, "exp": now + 540, "iss": app_id}, RS256)
// from a PEM RSA private key. InvalidArgument for a key that is not RSA.
Result<std::string> GithubAppJwt(int64_t app_id, const std::string& private_key_pem,
                                 std::chrono::system_clock::time_point now);

// "https://host/owner/name.git?x#y" -> "name": the repository a token is
// limited to; RepositoryFullName gives "owner/name" ("name" when the path
// has one segment).
std::string RepositoryName(const std::string& upstream_url);
std::string RepositoryFullName(const std::string& upstream_url);

// While GitHub rate-limits this App (a mint answered so), the time it resets;
// epoch when it does not. The replay waits for it without using an attempt.
std::chrono::system_clock::time_point GithubAppBlockedUntil(const config::RepoConfig& repo);

// Drops the cached token of `repo` for `access`: upstream refused it (the
// App was uninstalled, or its token revoked, before the token's expiry).
void ForgetGithubAppToken(const config::RepoConfig& repo, const Access& access);

}  // namespace ag::replay
