#include "review/services.h"

#include <curl/curl.h>

#include <nlohmann/json.hpp>

#include "git/git.h"
#include "store/requests.h"
#include "util/display.h"
#include "util/log.h"

namespace ag::review {
namespace {

// An incoming request whose push did land although post-receive could not
// record it (store locked, hook killed, daemon restarted mid-push): the
// mirror's ref holds its new value. Land it now rather than abort it, so a
// pushed change is never silently lost from review. Returns how many.
Result<int> LandStranded(store::Db& db, const ReviewSettings& settings, int64_t cutoff) {
  std::vector<int64_t> ids;
  {
    AG_ASSIGN_OR_RETURN(store::Stmt q, db.Prepare(
        "SELECT id FROM requests WHERE status='incoming' AND created_at < ?1 ORDER BY id"));
    q.Bind(1, cutoff);
    for (;;) {
      AG_ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) break;
      ids.push_back(q.Int(0));
    }
  }
  int landed = 0;
  for (int64_t id : ids) {
    Result<store::Request> r = store::GetRequest(db, id);
    if (!r.ok()) continue;
    Result<git::RepoPtr> repo = OpenMirrorRepo(settings, r->repo);
    if (!repo.ok()) continue;
    Result<std::string> value = git::ResolveRef(repo->get(), r->ref);
    bool moved = value.ok() ? *value == r->new_oid
                            : value.status().code() == Code::kNotFound && git::IsZeroOid(r->new_oid);
    if (!moved) continue;  // the push did not land: the sweep aborts it
    std::vector<int64_t> superseded;
    {
      store::Transaction tx(db);
      AG_RETURN_IF_ERROR(tx.status());
      Result<int64_t> ok = store::LandRequest(db, r->repo, r->ref, r->old_oid, r->new_oid, &superseded);
      if (!ok.ok()) continue;
      AG_RETURN_IF_ERROR(tx.Commit());
    }
    ++landed;
    LogWarn("review.landed_stranded", {{"request", std::to_string(id)}, {"ref", r->ref}});
    for (int64_t old_id : superseded) {
      if (auto old_request = store::GetRequest(db, old_id); old_request.ok()) {
        (void)PublishState(settings, *old_request);
      }
    }
    if (auto now = store::GetRequest(db, id); now.ok()) {
      Status s = git::PublishRequestState(repo->get(), id, store::StatusName(now->status),
                                          store::StateTip(*now), /*pin=*/true);
      if (!s.ok()) LogWarn("review.publish_failed", {{"request", std::to_string(id)}, {"error", s.ToString()}});
    }
  }
  return landed;
}

}  // namespace

// ---- Sweeper ---------------------------------------------------------------

Sweeper::Sweeper(SweeperOptions options, ReviewSettings settings)
    : options_(std::move(options)), settings_(std::move(settings)) {}

Sweeper::~Sweeper() { Stop(); }

Status Sweeper::Start() {
  AG_RETURN_IF_ERROR(store::Db::Open(options_.db_path).status().WithContext("sweeper"));
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = false;
  }
  thread_ = std::thread([this] { Run(); });
  return Status::Ok();
}

void Sweeper::Stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Sweeper::Run() {
  std::unique_lock<std::mutex> l(mu_);
  while (!stop_) {
    l.unlock();
    auto n = SweepOnce();
    if (!n.ok()) LogError("review.sweep_failed", {{"error", n.status().ToString()}});
    l.lock();
    cv_.wait_for(l, options_.interval, [this] { return stop_; });
  }
}

Result<int> Sweeper::SweepOnce() {
  AG_ASSIGN_OR_RETURN(std::unique_ptr<store::Db> db, store::Db::Open(options_.db_path));
  int64_t now = store::NowSeconds();
  std::vector<int64_t> candidates;
  AG_ASSIGN_OR_RETURN(int landed,
                      LandStranded(*db, settings_, now - options_.incoming_grace_seconds));
  int changed = 0;
  {
    store::Transaction tx(*db);
    AG_RETURN_IF_ERROR(tx.status());
    AG_ASSIGN_OR_RETURN(store::Stmt q, db->Prepare(
        "SELECT id FROM requests WHERE (status='incoming' AND created_at < ?1) OR "
        "(status='pending' AND expires_at < ?2)"));
    q.Bind(1, now - options_.incoming_grace_seconds).Bind(2, now);
    for (;;) {
      AG_ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) break;
      candidates.push_back(q.Int(0));
    }
    AG_ASSIGN_OR_RETURN(changed, store::SweepRequests(*db, now, options_.incoming_grace_seconds));
    AG_RETURN_IF_ERROR(tx.Commit());
  }
  for (int64_t id : candidates) {
    auto r = store::GetRequest(*db, id);
    if (!r.ok()) continue;
    if (r->status != store::RequestStatus::kExpired &&
        r->status != store::RequestStatus::kAborted) continue;
    LogInfo("review.swept", {{"request", std::to_string(id)},
                             {"status", std::string(store::StatusName(r->status))}});
    (void)PublishState(settings_, *r);
  }
  return changed + landed;
}

// ---- Notifier --------------------------------------------------------------

namespace {

struct CurlFree {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistFree {
  void operator()(curl_slist* s) const { curl_slist_free_all(s); }
};

size_t Discard(char*, size_t size, size_t n, void*) { return size * n; }

}  // namespace

std::string RedactUrl(const std::string& url) {
  size_t scheme = url.find("://");
  if (scheme == std::string::npos) return "(webhook)";
  size_t host_start = scheme + 3;
  size_t end = url.find_first_of("/?#", host_start);
  std::string host = url.substr(host_start, end == std::string::npos ? std::string::npos
                                                                     : end - host_start);
  size_t at = host.rfind('@');
  if (at != std::string::npos) host = host.substr(at + 1);
  return url.substr(0, host_start) + host + (end == std::string::npos ? "" : "/...");
}

Notifier::Notifier(NotifierOptions options) : options_(std::move(options)) {}

Notifier::~Notifier() { Stop(); }

std::string Notifier::Text(const store::Request& r) {
  std::string rules;
  try {
    for (const auto& rule : nlohmann::json::parse(r.rules_json)) {
      std::string id = rule.is_object() ? rule.value("id", "") : rule.is_string()
                                                                    ? rule.get<std::string>()
                                                                    : "";
      if (!id.empty()) rules += (rules.empty() ? "" : ", ") + id;
    }
  } catch (const std::exception&) {
    rules = "?";
  }
  if (rules.empty()) rules = "default";
  // The agent chose the ref (and its identity's claims): escaped.
  return EscapeForTerminal("agentgate: request " + std::to_string(r.id) + " on " + r.repo +
                           " " + r.ref + " by " + r.identity + " waits for review (rules: " +
                           rules + ")");
}

Status Notifier::Start() {
  AG_ASSIGN_OR_RETURN(std::unique_ptr<store::Db> db, store::Db::Open(options_.db_path));
  AG_ASSIGN_OR_RETURN(store::Stmt saved, db->Prepare("SELECT seq FROM notifier_position WHERE id=1"));
  AG_ASSIGN_OR_RETURN(bool has_position, saved.Step());
  if (has_position) {
    last_seq_ = saved.Int(0);
  } else {
    // First start: what is in the log already is history, not news.
    AG_ASSIGN_OR_RETURN(store::Stmt q, db->Prepare("SELECT COALESCE(MAX(seq), 0) FROM audit"));
    AG_ASSIGN_OR_RETURN(bool row, q.Step());
    last_seq_ = row ? q.Int(0) : 0;
    SavePosition(db.get(), last_seq_);
  }
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = false;
  }
  poll_thread_ = std::thread([this] { Poll(); });
  send_thread_ = std::thread([this] { Send(); });
  return Status::Ok();
}

void Notifier::Stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (poll_thread_.joinable()) poll_thread_.join();
  if (send_thread_.joinable()) send_thread_.join();
}

void Notifier::SavePosition(store::Db* db, int64_t seq) {
  Status s = [&]() -> Status {
    AG_ASSIGN_OR_RETURN(store::Stmt q, db->Prepare(
        "INSERT INTO notifier_position(id, seq) VALUES (1, ?1) "
        "ON CONFLICT(id) DO UPDATE SET seq = excluded.seq WHERE excluded.seq > seq"));
    q.Bind(1, seq);
    return q.Run();
  }();
  if (!s.ok()) LogWarn("notify.position_not_saved", {{"seq", std::to_string(seq)}, {"error", s.ToString()}});
}

bool Notifier::Wait(std::chrono::milliseconds d) {
  std::unique_lock<std::mutex> l(mu_);
  return !cv_.wait_for(l, d, [this] { return stop_; });
}

void Notifier::Poll() {
  std::unique_ptr<store::Db> db;
  bool again = false;  // a full page was read: more is waiting, poll at once
  do {
    again = false;
    if (!db) {
      auto opened = store::Db::Open(options_.db_path);
      if (!opened.ok()) {
        LogError("notify.db_failed", {{"error", opened.status().ToString()}});
        continue;
      }
      db = std::move(opened).value();
    }
    std::vector<std::pair<int64_t, int64_t>> events;  // seq, request id
    Status s = [&]() -> Status {
      AG_ASSIGN_OR_RETURN(store::Stmt q, db->Prepare(
          "SELECT seq, request_id FROM audit WHERE seq > ? AND kind='request.pending' "
          "ORDER BY seq LIMIT 100"));
      q.Bind(1, last_seq_);
      for (;;) {
        AG_ASSIGN_OR_RETURN(bool row, q.Step());
        if (!row) break;
        events.emplace_back(q.Int(0), q.Int(1));
      }
      return Status::Ok();
    }();
    if (!s.ok()) {
      LogError("notify.poll_failed", {{"error", s.ToString()}});
      db.reset();
      continue;
    }
    bool full = false;
    for (const auto& [seq, id] : events) {
      if (!options_.webhook_url.empty()) {
        // A full queue (a long webhook outage): read no further; the events
        // stay in the log and are read again once there is room.
        std::lock_guard<std::mutex> l(mu_);
        if (queue_.size() >= options_.max_queue) {
          full = true;
          break;
        }
      }
      last_seq_ = seq;
      auto r = store::GetRequest(*db, id);
      // Decided meanwhile (while the daemon was down, say): no news.
      if (!r.ok() || r->status != store::RequestStatus::kPending) continue;
      std::string text = Text(*r);
      LogInfo("review.pending", {{"request", std::to_string(id)},
                                 {"repo", EscapeForTerminal(r->repo)},
                                 {"ref", EscapeForTerminal(r->ref)},
                                 {"identity", EscapeForTerminal(r->identity)},
                                 {"text", text}});
      if (options_.webhook_url.empty()) continue;
      // Chat apps act on "<!channel>" or "<url|label>" in `text`: Slack
      // escaping on top. The other fields are data, as stored.
      nlohmann::json body = {{"text", EscapeForSlack(text)}, {"request", id}, {"repo", r->repo},
                             {"ref", r->ref}, {"identity", r->identity}};
      {
        std::lock_guard<std::mutex> l(mu_);
        queue_.emplace_back(seq, body.dump());
      }
      cv_.notify_all();
    }
    // Log lines only: the events are handled once read. With a webhook the
    // send thread saves the position as it delivers.
    if (options_.webhook_url.empty() && !events.empty()) SavePosition(db.get(), last_seq_);
    // A full page means more is waiting: poll again at once (unless the
    // queue is full: then wait for the sender). A `continue` here would jump
    // to the wait below: the backlog drained 100 events per poll_interval.
    again = events.size() == 100 && !full;
  } while (Wait(again ? std::chrono::milliseconds(0) : options_.poll_interval));
}

bool Notifier::Post(const std::string& body, long* http_status, std::string* error) {
  std::unique_ptr<CURL, CurlFree> curl(curl_easy_init());
  if (!curl) {
    *error = "curl_easy_init failed";
    return false;
  }
  curl_slist* h = curl_slist_append(nullptr, "Content-Type: application/json");
  std::unique_ptr<curl_slist, SlistFree> headers(h);
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, options_.webhook_url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.timeout.count()));
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options_.timeout.count()));
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, Discard);
  CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK) {
    *error = curl_easy_strerror(rc);
    return false;
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, http_status);
  if (*http_status >= 200 && *http_status < 300) return true;
  *error = "HTTP " + std::to_string(*http_status);
  return false;
}

void Notifier::Send() {
  std::unique_ptr<store::Db> db;  // for the position, opened when first needed
  for (;;) {
    std::string body;
    int64_t seq = 0;
    {
      std::unique_lock<std::mutex> l(mu_);
      cv_.wait(l, [this] { return stop_ || !queue_.empty(); });
      if (stop_) return;  // what is still queued is announced after a restart
      seq = queue_.front().first;
      body = std::move(queue_.front().second);
      queue_.pop_front();
    }
    auto backoff = options_.backoff_initial;
    for (int attempt = 1;; ++attempt) {
      long status = 0;
      std::string error;
      if (Post(body, &status, &error)) {
        sent_++;
        LogInfo("notify.sent", {{"webhook", RedactUrl(options_.webhook_url)},
                                {"attempt", std::to_string(attempt)}});
        break;
      }
      // A 4xx other than 408/429 will not get better by retrying.
      bool permanent = status >= 400 && status < 500 && status != 408 && status != 429;
      if (permanent || attempt >= options_.max_attempts) {
        failed_++;
        LogError("notify.failed", {{"webhook", RedactUrl(options_.webhook_url)},
                                   {"attempt", std::to_string(attempt)}, {"error", error}});
        break;
      }
      LogWarn("notify.retry", {{"webhook", RedactUrl(options_.webhook_url)},
                               {"attempt", std::to_string(attempt)}, {"error", error}});
      if (!Wait(backoff)) return;  // stopping mid-retry: sent again after a restart
      backoff = std::min(backoff * 2, options_.backoff_max);
    }
    // Delivered or given up: a restart starts after it.
    if (!db) {
      auto opened = store::Db::Open(options_.db_path);
      if (opened.ok()) db = std::move(opened).value();
      else LogWarn("notify.position_not_saved", {{"error", opened.status().ToString()}});
    }
    if (db) SavePosition(db.get(), seq);
  }
}

}  // namespace ag::review
