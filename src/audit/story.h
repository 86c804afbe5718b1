// The story of one request, for `agentgate audit show ID`: who pushed it
// (identity, method, groups, claims), what the agent said (push options),
// what was pushed (ref, old..new, commits), what the checks found (rules,
// masked findings, skip notes), who decided (reviewers with comments) and
// what the replay did, every step with its time, in time order.
//
// Findings are shown by a fixed list of fields (rule, path, line, masked
// value, fingerprint prefix); anything else a stored finding might carry is
// left out, so `show` cannot print more than the hook chose to store masked.
//
// Thread-safety: as store::Db (one thread per Db).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "store/audit.h"
#include "store/db.h"
#include "store/requests.h"

namespace ag::audit {

struct Review {
  std::string reviewer;
  std::string verdict;  // "approve" or "reject"
  std::string comment;
  int64_t at = 0;
};

struct Story {
  store::Request request;
  std::vector<Review> reviews;              // in time order
  std::vector<store::AuditEvent> events;    // its audit rows (and its push.decision), seq order
};

// Loads request `id`. NotFound when there is no such request.
Result<Story> LoadStory(store::Db& db, int64_t id);

// The story as text for a terminal (every stored value escaped by
// util/display.h: the agent chose the ref, push options, paths...), and as
// one JSON object (the values as stored).
std::string RenderStoryText(const Story& story);
nlohmann::ordered_json StoryJson(const Story& story);

}  // namespace ag::audit
