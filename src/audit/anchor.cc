#include "audit/anchor.h"

#include <nlohmann/json.hpp>

#include "store/audit.h"
#include "util/crypto.h"
#include "util/file.h"

namespace ag::audit {
namespace {

constexpr std::string_view kAnchorDomain = "agentgate-audit-anchor-v1";

std::string AnchorMac(const Anchor& a, const std::string& key) {
  std::string payload(kAnchorDomain);
  payload += '\n' + std::to_string(a.seq) + '\n' + a.hash + '\n' + std::to_string(a.at);
  return HexEncode(HmacSha256(key, payload));
}

// A deferred read transaction, so the walk and the head see one snapshot.
class ReadSnapshot {
 public:
  explicit ReadSnapshot(store::Db& db) : db_(db), status_(db.Exec("BEGIN DEFERRED")) {}
  ~ReadSnapshot() {
    if (status_.ok()) (void)db_.Exec("ROLLBACK");
  }
  ReadSnapshot(const ReadSnapshot&) = delete;
  ReadSnapshot& operator=(const ReadSnapshot&) = delete;
  const Status& status() const { return status_; }

 private:
  store::Db& db_;
  Status status_;
};

Result<std::optional<std::string>> HashAt(store::Db& db, int64_t seq) {
  AG_ASSIGN_OR_RETURN(store::Stmt q, db.Prepare("SELECT hash FROM audit WHERE seq = ?"));
  q.Bind(1, seq);
  AG_ASSIGN_OR_RETURN(bool row, q.Step());
  if (!row) return std::optional<std::string>();
  return std::optional<std::string>(q.Text(0));
}

bool HashMatches(const std::string& stored, const std::string& expected) {
  return !expected.empty() && stored.size() >= expected.size() &&
         stored.compare(0, expected.size(), expected) == 0;
}

// Checks that the chain reaches `want` (seq and hash); sets the report's
// failure otherwise. `what` names where `want` came from.
Status CheckReaches(store::Db& db, const ChainHead& want, const std::string& what,
                    ChainReport* r) {
  if (want.seq <= 0) return Status::Ok();
  if (r->head.seq < want.seq) {
    r->intact = false;
    r->first_broken_seq = r->head.seq + 1;
    r->reason = (r->head.seq + 1 == want.seq
                     ? "row " + std::to_string(want.seq) + " is missing: "
                     : "rows " + std::to_string(r->head.seq + 1) + ".." +
                           std::to_string(want.seq) + " are missing: ") + what + " records row " + std::to_string(want.seq) +
                " but the chain ends at row " + std::to_string(r->head.seq) +
                " (the newest rows were removed)";
    return Status::Ok();
  }
  AG_ASSIGN_OR_RETURN(std::optional<std::string> h, HashAt(db, want.seq));
  if (!h || !HashMatches(*h, want.hash)) {
    r->intact = false;
    r->first_broken_seq = want.seq;
    r->reason = "row " + std::to_string(want.seq) + " differs from " + what +
                " (hash " + want.hash.substr(0, 12) + "): the chain was rewritten";
  }
  return Status::Ok();
}

}  // namespace

std::string AnchorPath(const std::string& data_dir) { return data_dir + "/audit.anchor"; }

std::string AnchorText(const Anchor& a, const std::string& key) {
  nlohmann::ordered_json j;
  j["version"] = 1;
  j["seq"] = a.seq;
  j["hash"] = a.hash;
  j["at"] = a.at;
  j["mac"] = AnchorMac(a, key);
  return j.dump() + "\n";
}

Result<Anchor> ReadAnchor(const std::string& path, const std::string& key) {
  AG_ASSIGN_OR_RETURN(std::string text, ReadFile(path, 4096));
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  Anchor a;
  std::string mac;
  try {
    if (j.is_discarded() || !j.is_object() || j.at("version").get<int>() != 1) {
      return Status::Corruption("anchor " + path + " is not an agentgate anchor file");
    }
    a.seq = j.at("seq").get<int64_t>();
    a.hash = j.at("hash").get<std::string>();
    a.at = j.at("at").get<int64_t>();
    mac = j.at("mac").get<std::string>();
  } catch (const std::exception&) {
    return Status::Corruption("anchor " + path + " is not an agentgate anchor file");
  }
  if (key.empty() || !ConstantTimeEquals(mac, AnchorMac(a, key))) {
    return Status::Corruption("anchor " + path +
                              " does not verify under the server key (altered or foreign)");
  }
  return a;
}

Result<ChainHead> ParseHead(const std::string& text) {
  size_t colon = text.find(':');
  ChainHead h;
  auto bad = [&] {
    return Status::InvalidArgument("'" + text.substr(0, 80) + "' is not SEQ:HASH");
  };
  if (colon == std::string::npos || colon == 0) return bad();
  try {
    size_t used = 0;
    h.seq = std::stoll(text.substr(0, colon), &used);
    if (used != colon || h.seq <= 0) return bad();
  } catch (const std::exception&) {
    return bad();
  }
  h.hash = text.substr(colon + 1);
  if (h.hash.size() < 12 || h.hash.size() > 64 ||
      h.hash.find_first_not_of("0123456789abcdef") != std::string::npos) {
    return bad();
  }
  return h;
}

Result<ChainReport> VerifyChain(store::Db& db, const VerifyOptions& options) {
  ChainReport r;
  ReadSnapshot snap(db);
  AG_RETURN_IF_ERROR(snap.status());
  AG_ASSIGN_OR_RETURN(store::AuditVerification v, store::VerifyAudit(db));
  r.rows = v.rows;
  {
    AG_ASSIGN_OR_RETURN(store::Stmt q, db.Prepare(
        "SELECT (SELECT seq FROM audit ORDER BY seq LIMIT 1), seq, hash FROM audit "
        "ORDER BY seq DESC LIMIT 1"));
    AG_ASSIGN_OR_RETURN(bool row, q.Step());
    if (row) {
      r.head.seq = q.Int(1);
      r.head.hash = q.Text(2);
      int64_t first = q.Int(0);
      if (first != 1) {  // the earliest problem: VerifyAudit starts at the first row present
        v.first_broken_seq = 1;
        v.reason = first == 2 ? "row 1 is missing"
                              : "rows 1.." + std::to_string(first - 1) + " are missing";
      }
    }
  }
  r.intact = !v.first_broken_seq.has_value();
  r.first_broken_seq = v.first_broken_seq;
  r.reason = v.reason;
  if (!r.intact) return r;

  if (!options.anchor_path.empty()) {
    Result<Anchor> a = ReadAnchor(options.anchor_path, options.key);
    if (!a.ok() && a.status().code() == Code::kNotFound) {
      r.notes = "no anchor at " + options.anchor_path +
                ": removal of the newest rows would not be detected (run 'agentgate audit anchor')";
    } else if (!a.ok()) {
      r.intact = false;
      r.reason = a.status().message();
      return r;
    } else {
      r.anchor = *a;
      AG_RETURN_IF_ERROR(CheckReaches(db, {a->seq, a->hash}, "the anchor", &r));
      if (!r.intact) return r;
    }
  }
  if (options.expected) {
    AG_RETURN_IF_ERROR(CheckReaches(db, *options.expected, "the expected head", &r));
  }
  return r;
}

Result<Anchor> WriteAnchor(store::Db& db, const std::string& path, const std::string& key,
                           int64_t now) {
  VerifyOptions vo;
  vo.anchor_path = path;
  vo.key = key;
  AG_ASSIGN_OR_RETURN(ChainReport r, VerifyChain(db, vo));
  if (!r.intact) {
    return Status::FailedPrecondition("not anchoring a broken chain: " + r.reason);
  }
  Anchor a;
  a.seq = r.head.seq;
  a.hash = r.head.hash;
  a.at = now;
  if (r.anchor && r.anchor->seq == a.seq) return *r.anchor;  // nothing new
  AG_RETURN_IF_ERROR(WriteFileAtomic(path, AnchorText(a, key), 0640));
  return a;
}

}  // namespace ag::audit
