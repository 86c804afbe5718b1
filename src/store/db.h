// A thin RAII layer over SQLite: one Db per thread (or per process), prepared
// statements (kept and reused per SQL text, so a long-lived connection parses
// each statement once), IMMEDIATE transactions, and SQLite errors as
// ag::Status.
//
// Open() sets WAL mode, foreign keys, a busy timeout, and runs the schema
// migrations (schema.cc), so every program sees the same schema version.
//
// Thread-safety: a Db and its statements belong to one thread at a time.
// Several processes may open the same file; SQLite's locking and IMMEDIATE
// transactions serialise writers.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "util/status.h"

namespace ag::store {

struct DbOptions {
  // How long a writer waits for another's lock before giving up. Default 10 s.
  int busy_timeout_ms = 10000;
  // Open read-only (no migrations; fails if the schema is older). Default false.
  bool read_only = false;
  // Create the file if missing. Default true.
  bool create = true;
  // fsync on every commit (synchronous=FULL). Default false: WAL with
  // synchronous=NORMAL, which survives any process crash (kill -9) with every
  // committed transaction and stays consistent on power loss, where it may
  // drop the last commits: the same guarantee git gives its refs by default.
  bool sync_every_commit = false;
};

class Db;

// Statements a Db keeps for reuse, shared with the statements it lends so
// that one outliving its Db is finalised rather than returned.
struct StmtCache {
  std::unordered_map<std::string, std::vector<sqlite3_stmt*>> idle;
  size_t size = 0;     // statements in `idle`
  bool open = true;    // false once the Db is gone
};

// A prepared statement. Bind with 1-based indexes; Step() returns true while
// a row is available. Not copyable; on destruction it is reset and given
// back to its Db for the next Prepare of the same SQL (or finalised).
class Stmt {
 public:
  Stmt(Stmt&&) = default;
  Stmt& operator=(Stmt&&) = default;

  Stmt& Bind(int index, int64_t v);
  Stmt& Bind(int index, std::string_view v);
  Stmt& Bind(int index, const char* v) { return Bind(index, std::string_view(v)); }
  Stmt& Bind(int index, const std::string& v) { return Bind(index, std::string_view(v)); }
  Stmt& BindNull(int index);
  Stmt& Bind(int index, std::optional<int64_t> v) { return v ? Bind(index, *v) : BindNull(index); }

  // Advances. Ok(true): a row is ready; Ok(false): done. A failed bind is
  // reported here.
  Result<bool> Step();
  // Runs to completion, ignoring rows.
  Status Run();

  int64_t Int(int col) const;
  std::string Text(int col) const;
  bool IsNull(int col) const;

 private:
  friend class Db;
  struct Finalizer {
    std::shared_ptr<StmtCache> cache;  // null: finalise
    void operator()(sqlite3_stmt* s) const;
  };
  Stmt(sqlite3* db, sqlite3_stmt* s, std::shared_ptr<StmtCache> cache)
      : db_(db), stmt_(s, Finalizer{std::move(cache)}) {}
  sqlite3* db_;
  std::unique_ptr<sqlite3_stmt, Finalizer> stmt_;
  Status bind_error_;
};

class Db {
 public:
  // Opens (and migrates) the database at `path`. Caller owns the result.
  static Result<std::unique_ptr<Db>> Open(const std::string& path, const DbOptions& options = {});

  ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  // A statement for `sql` (one statement), reused when this connection
  // prepared the same text before and that statement is free.
  Result<Stmt> Prepare(std::string_view sql);
  // Runs one statement without results through Prepare (BEGIN, COMMIT...).
  Status Run(std::string_view sql);
  // Runs one or more statements without results (parsed every time).
  Status Exec(std::string_view sql);
  int64_t LastInsertId() const;
  int Changes() const;
  const std::string& path() const { return path_; }
  sqlite3* raw() { return db_.get(); }

  // Status for the connection's last error: "<what>: <sqlite message>".
  Status Error(std::string_view what) const;

 private:
  struct Closer {
    void operator()(sqlite3* d) const { sqlite3_close_v2(d); }
  };
  Db(std::unique_ptr<sqlite3, Closer> db, std::string path) : db_(std::move(db)), path_(std::move(path)) {}
  std::unique_ptr<sqlite3, Closer> db_;
  std::string path_;
  std::shared_ptr<StmtCache> cache_ = std::make_shared<StmtCache>();
};

// BEGIN IMMEDIATE on construction (check status()), ROLLBACK on destruction
// unless Commit() succeeded. Usage:
//   Transaction tx(db);  AG_RETURN_IF_ERROR(tx.status());  ...  return tx.Commit();
class Transaction {
 public:
  explicit Transaction(Db& db);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  const Status& status() const { return status_; }
  Status Commit();
  // Ends the transaction now, keeping nothing (the destructor's default).
  void Rollback();

 private:
  Db& db_;
  Status status_;
  bool done_ = false;
};

// Seconds since the epoch, the unit of every time column.
int64_t NowSeconds();

}  // namespace ag::store
