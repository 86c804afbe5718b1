#include "hook/commit_cache.h"

#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "util/crypto.h"
#include "util/file.h"

namespace ag::hook {
namespace {

using nlohmann::json;

// Bump when what a check finds in a commit changes without the policy,
// rule files or the program's file changing (it rarely needs to: the
// program's own identity is hashed in as well).
constexpr int kCheckCodeVersion = 2;

std::string ProgramStamp() {
  struct stat st;
  if (::stat("/proc/self/exe", &st) != 0) return "unknown";
  return std::to_string(st.st_size) + ":" + std::to_string(st.st_mtim.tv_sec) + "." +
         std::to_string(st.st_mtim.tv_nsec) + ":" + std::to_string(st.st_ino);
}

}  // namespace

Result<std::string> CheckVersion(const policy::Policy& policy, const std::string& key) {
  std::string material = "agentgate-check " + std::to_string(kCheckCodeVersion) + "\n" + ProgramStamp() + "\n";
  AG_ASSIGN_OR_RETURN(std::string text, ReadFile(policy.path));
  material += Sha256Hex(text) + "\n";
  for (const std::string& f : policy.secrets.rule_files) {
    AG_ASSIGN_OR_RETURN(std::string rules, ReadFile(f));
    material += Sha256Hex(rules) + "\n";
  }
  material += HmacSha256(key, "commit-checks");  // the fingerprints depend on the key
  return Sha256Hex(material).substr(0, 32);
}

std::shared_ptr<const check::CommitResult> SharedCommitResults::Find(const std::string& version,
                                                                     const std::string& oid) {
  std::lock_guard<std::mutex> lock(mu_);
  if (version != version_) return nullptr;
  auto it = map_.find(oid);
  return it == map_.end() ? nullptr : it->second;
}

void SharedCommitResults::SwitchTo(const std::string& version) {
  if (version == version_) return;
  map_.clear();
  ranges_.clear();
  range_commits_ = 0;
  version_ = version;
}

void SharedCommitResults::Put(const std::string& version, const std::string& oid,
                              std::shared_ptr<const check::CommitResult> result) {
  std::lock_guard<std::mutex> lock(mu_);
  SwitchTo(version);
  if (map_.size() >= kMaxEntries) map_.clear();
  map_[oid] = std::move(result);
}

std::shared_ptr<const check::RangeResult> SharedCommitResults::FindRange(const std::string& version,
                                                                         const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  if (version != version_) return nullptr;
  auto it = ranges_.find(key);
  if (it == ranges_.end()) return nullptr;
  ++range_hits_;
  return it->second;
}

void SharedCommitResults::PutRange(const std::string& version, const std::string& key,
                                   std::shared_ptr<const check::RangeResult> range) {
  std::lock_guard<std::mutex> lock(mu_);
  SwitchTo(version);
  size_t n = range->own.size() + 1;
  if (range_commits_ + n > kMaxRangeCommits) {
    ranges_.clear();
    range_commits_ = 0;
  }
  auto [it, added] = ranges_.emplace(key, nullptr);
  if (!added) range_commits_ -= it->second->own.size() + 1;
  it->second = std::move(range);
  range_commits_ += n;
}

std::shared_ptr<const check::CommitResult> PushCommitCache::Find(const std::string& commit) {
  if (std::shared_ptr<const check::CommitResult> hit = shared_->Find(version_, commit)) {
    ++hits_;
    return hit;
  }
  if (!db_) return nullptr;
  Result<store::Stmt> st = db_->Prepare("SELECT result_json FROM commit_checks WHERE version = ? AND oid = ?");
  if (!st.ok()) return nullptr;  // a miss: the commit is diffed again
  st->Bind(1, version_).Bind(2, commit);
  Result<bool> row = st->Step();
  if (!row.ok() || !*row) return nullptr;
  Result<check::CommitResult> parsed = CommitResultFromJson(st->Text(0));
  if (!parsed.ok()) return nullptr;
  auto result = std::make_shared<const check::CommitResult>(std::move(*parsed));
  shared_->Put(version_, commit, result);
  ++hits_;
  return result;
}

void PushCommitCache::Store(const std::string& commit, std::shared_ptr<const check::CommitResult> result) {
  shared_->Put(version_, commit, result);
  fresh_.emplace_back(commit, std::move(result));
}

Status PushCommitCache::Persist(store::Db& db) {
  for (const auto& [oid, result] : fresh_) {  // Prepare reuses the cached statement
    AG_ASSIGN_OR_RETURN(store::Stmt one, db.Prepare("INSERT OR IGNORE INTO commit_checks (version, oid, result_json) "
                                                    "VALUES (?, ?, ?)"));
    one.Bind(1, version_).Bind(2, oid).Bind(3, CommitResultToJson(*result));
    AG_RETURN_IF_ERROR(one.Run());
  }
  return Status::Ok();
}

std::string CommitResultToJson(const check::CommitResult& r) {
  json j = {{"v", json::array()}, {"f", json::array()}, {"n", json::array()}, {"p", r.paths}};
  for (const check::Violation& v : r.violations) {
    j["v"].push_back({v.rule_id, static_cast<int>(v.outcome), v.message, v.path, v.line, v.commit, v.detail});
  }
  for (const scan::Finding& f : r.findings) {
    j["f"].push_back({f.rule_id, f.description, f.path, f.line, f.column, f.masked, f.fingerprint, f.commit,
                      f.allowed_inline, static_cast<int>(f.checksum), f.encoding});
  }
  for (const scan::SkipNote& n : r.notes) j["n"].push_back({n.path, n.reason});
  return j.dump();
}

Result<check::CommitResult> CommitResultFromJson(std::string_view text) {
  try {
    json j = json::parse(text);
    check::CommitResult r;
    for (const json& v : j.at("v")) {
      int outcome = v.at(1).get<int>();
      if (outcome < 0 || outcome > 2) return Status::InvalidArgument("bad outcome in a cached result");
      r.violations.push_back({v.at(0).get<std::string>(), static_cast<policy::Outcome>(outcome),
                              v.at(2).get<std::string>(), v.at(3).get<std::string>(), v.at(4).get<int>(),
                              v.at(5).get<std::string>(), v.at(6).get<std::string>()});
    }
    for (const json& f : j.at("f")) {
      scan::Finding x;
      x.rule_id = f.at(0).get<std::string>();
      x.description = f.at(1).get<std::string>();
      x.path = f.at(2).get<std::string>();
      x.line = f.at(3).get<int>();
      x.column = f.at(4).get<int>();
      x.masked = f.at(5).get<std::string>();
      x.fingerprint = f.at(6).get<std::string>();
      x.commit = f.at(7).get<std::string>();
      x.allowed_inline = f.at(8).get<bool>();
      if (f.size() > 10) {  // written since issue 13
        int c = f.at(9).get<int>();
        if (c < 0 || c > 2) return Status::InvalidArgument("bad checksum in a cached result");
        x.checksum = static_cast<scan::Finding::Checksum>(c);
        x.encoding = f.at(10).get<std::string>();
      }
      r.findings.push_back(std::move(x));
    }
    for (const json& n : j.at("n")) r.notes.push_back({n.at(0).get<std::string>(), n.at(1).get<std::string>()});
    r.paths = j.at("p").get<std::vector<std::string>>();
    return r;
  } catch (const std::exception& e) {
    return Status::InvalidArgument(std::string("bad cached result: ") + e.what());
  }
}

}  // namespace ag::hook
