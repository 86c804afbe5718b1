// Chain verification with a truncation anchor.
//
// A hash chain shows a row that was changed, removed or reordered, but not
// the removal of the newest rows: what is left is still a valid chain. The
// anchor closes that gap. `agentgate audit anchor` (run by the maintenance
// timer) records the chain head (seq, hash, time) in <data_dir>/audit.anchor,
// signed with HMAC-SHA256 under the server key. VerifyChain then requires the
// chain to still contain the anchored row with the anchored hash. The anchor
// never moves backwards: WriteAnchor refuses when the chain no longer reaches
// the previous anchor.
//
// What it guarantees (docs/audit.md): rows up to the last anchor cannot be
// removed or rewritten by anyone without the server key. Someone holding the
// daemon's account (DB, key and anchor file) can rewind both; against that,
// keep a copy off the host: the anchor line goes to the journal, export rows
// go to a SIEM, and VerifyChain checks an `expected` head taken from there.
//
// Thread-safety: as store::Db (one thread per Db).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "store/db.h"

namespace ag::audit {

struct ChainHead {
  int64_t seq = 0;   // 0: the audit table is empty
  std::string hash;  // hash of row `seq`
};

struct Anchor {
  int64_t seq = 0;
  std::string hash;
  int64_t at = 0;    // when it was written
};

// "<data_dir>/audit.anchor".
std::string AnchorPath(const std::string& data_dir);

// Reads and checks an anchor file. NotFound when absent; Corruption when it
// does not parse or its MAC does not verify under `key` (raw server key).
Result<Anchor> ReadAnchor(const std::string& path, const std::string& key);

// The anchor file's text for `a` under `key`.
std::string AnchorText(const Anchor& a, const std::string& key);

struct ChainReport {
  int64_t rows = 0;
  ChainHead head;
  bool intact = false;
  std::optional<int64_t> first_broken_seq;  // set when a row is broken or missing
  std::string reason;                       // why it is not intact
  std::optional<Anchor> anchor;             // the anchor checked, if any
  std::string notes;                        // warnings (no anchor, ...)
};

struct VerifyOptions {
  std::string anchor_path;             // empty: no anchor check
  std::string key;                     // raw server key; empty: an existing anchor is a failure
  std::optional<ChainHead> expected;   // a head kept elsewhere (journal, SIEM)
};

// Walks the chain (store::VerifyAudit) in one read snapshot, then checks the
// anchor and `expected`. OK with intact=false means "broken, see reason"; a
// non-OK status means the check itself could not run.
Result<ChainReport> VerifyChain(store::Db& db, const VerifyOptions& options);

// Verifies the chain and moves the anchor to its head. FailedPrecondition
// when the chain is broken or no longer reaches the existing anchor (the
// anchor is then left as it is). Returns the new anchor.
Result<Anchor> WriteAnchor(store::Db& db, const std::string& path, const std::string& key,
                           int64_t now);

// Parses "SEQ:HASH" (HASH may be a prefix of 12+ hex characters).
Result<ChainHead> ParseHead(const std::string& text);

}  // namespace ag::audit
