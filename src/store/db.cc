#include "store/db.h"

#include <chrono>

namespace ag::store {

Status MigrateSchema(Db& db);  // schema.cc

namespace {

Status SqliteStatus(int rc, std::string msg) {
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Status::Unavailable(msg + " (database is locked; another process holds it)");
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return Status::Corruption(std::move(msg));
    case SQLITE_CANTOPEN:
      return Status::Io(std::move(msg));
    case SQLITE_PERM:
    case SQLITE_READONLY:
    case SQLITE_AUTH:
      return Status::PermissionDenied(std::move(msg));
    case SQLITE_CONSTRAINT:
      return Status::Conflict(std::move(msg));
    case SQLITE_FULL:
      return Status::ResourceExhausted(std::move(msg));
    default:
      return Status::Internal(std::move(msg));
  }
}

}  // namespace

int64_t NowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Statements kept per connection; more are finalised when given back.
constexpr size_t kMaxCachedStatements = 64;

void Stmt::Finalizer::operator()(sqlite3_stmt* s) const {
  if (!s) return;
  if (!cache || !cache->open || cache->size >= kMaxCachedStatements) {
    sqlite3_finalize(s);
    return;
  }
  sqlite3_reset(s);
  sqlite3_clear_bindings(s);
  cache->idle[sqlite3_sql(s)].push_back(s);
  ++cache->size;
}

Stmt& Stmt::Bind(int index, int64_t v) {
  int rc = sqlite3_bind_int64(stmt_.get(), index, v);
  if (rc != SQLITE_OK && bind_error_.ok()) bind_error_ = SqliteStatus(rc, "bind failed");
  return *this;
}

Stmt& Stmt::Bind(int index, std::string_view v) {
  int rc = sqlite3_bind_text(stmt_.get(), index, v.data(), static_cast<int>(v.size()),
                             SQLITE_TRANSIENT);
  if (rc != SQLITE_OK && bind_error_.ok()) bind_error_ = SqliteStatus(rc, "bind failed");
  return *this;
}

Stmt& Stmt::BindNull(int index) {
  int rc = sqlite3_bind_null(stmt_.get(), index);
  if (rc != SQLITE_OK && bind_error_.ok()) bind_error_ = SqliteStatus(rc, "bind failed");
  return *this;
}

Result<bool> Stmt::Step() {
  if (!bind_error_.ok()) return bind_error_;
  int rc = sqlite3_step(stmt_.get());
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return SqliteStatus(rc, std::string("sqlite: ") + sqlite3_errmsg(db_));
}

Status Stmt::Run() {
  for (int i = 0; i < 1'000'000'000; ++i) {
    AG_ASSIGN_OR_RETURN(bool row, Step());
    if (!row) return Status::Ok();
  }
  return Status::Internal("statement did not finish");
}

int64_t Stmt::Int(int col) const { return sqlite3_column_int64(stmt_.get(), col); }

std::string Stmt::Text(int col) const {
  const unsigned char* p = sqlite3_column_text(stmt_.get(), col);
  int n = sqlite3_column_bytes(stmt_.get(), col);
  return p ? std::string(reinterpret_cast<const char*>(p), static_cast<size_t>(n)) : std::string();
}

bool Stmt::IsNull(int col) const { return sqlite3_column_type(stmt_.get(), col) == SQLITE_NULL; }

Result<std::unique_ptr<Db>> Db::Open(const std::string& path, const DbOptions& options) {
  sqlite3* raw = nullptr;
  int flags = SQLITE_OPEN_NOMUTEX;
  flags |= options.read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE;
  if (options.create && !options.read_only) flags |= SQLITE_OPEN_CREATE;
  int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  std::unique_ptr<sqlite3, Closer> handle(raw);
  if (rc != SQLITE_OK) {
    return SqliteStatus(rc, "cannot open database " + path + ": " +
                                (raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc)));
  }
  sqlite3_busy_timeout(raw, options.busy_timeout_ms);
  // Short-lived processes (hooks, the CLI) must not pay for a checkpoint of
  // the WAL on every close; SQLite's automatic checkpoint (1000 pages) and
  // the daemon keep the WAL bounded.
  sqlite3_db_config(raw, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
  sqlite3_extended_result_codes(raw, 1);
  std::unique_ptr<Db> db(new Db(std::move(handle), path));
  if (!options.read_only) {
    std::string pragmas = "PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON; PRAGMA synchronous=";
    pragmas += options.sync_every_commit ? "FULL;" : "NORMAL;";
    AG_RETURN_IF_ERROR(db->Exec(pragmas).WithContext("database " + path));
    AG_RETURN_IF_ERROR(MigrateSchema(*db).WithContext("database " + path));
  } else {
    AG_RETURN_IF_ERROR(db->Exec("PRAGMA query_only=ON;").WithContext("database " + path));
  }
  return db;
}

Db::~Db() {
  cache_->open = false;
  for (auto& [sql, stmts] : cache_->idle) {
    for (sqlite3_stmt* s : stmts) sqlite3_finalize(s);
  }
  cache_->idle.clear();
  cache_->size = 0;
}

Result<Stmt> Db::Prepare(std::string_view sql) {
  auto it = cache_->idle.find(std::string(sql));
  if (it != cache_->idle.end() && !it->second.empty()) {
    sqlite3_stmt* cached = it->second.back();
    it->second.pop_back();
    --cache_->size;
    return Stmt(db_.get(), cached, cache_);
  }
  sqlite3_stmt* s = nullptr;
  int rc = sqlite3_prepare_v2(db_.get(), sql.data(), static_cast<int>(sql.size()), &s, nullptr);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(s);
    return SqliteStatus(rc, std::string("sqlite prepare: ") + sqlite3_errmsg(db_.get()));
  }
  const char* sql_text = s ? sqlite3_sql(s) : nullptr;
  // Only a statement whose text is exactly `sql` is kept (the cache's key).
  bool cacheable = sql_text && std::string_view(sql_text) == sql;
  return Stmt(db_.get(), s, cacheable ? cache_ : nullptr);
}

Status Db::Run(std::string_view sql) {
  AG_ASSIGN_OR_RETURN(Stmt stmt, Prepare(sql));
  return stmt.Run();
}

Status Db::Exec(std::string_view sql) {
  std::string copy(sql);
  char* err = nullptr;
  int rc = sqlite3_exec(db_.get(), copy.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = std::string("sqlite: ") + (err ? err : sqlite3_errstr(rc));
    sqlite3_free(err);
    return SqliteStatus(rc, std::move(msg));
  }
  return Status::Ok();
}

int64_t Db::LastInsertId() const { return sqlite3_last_insert_rowid(db_.get()); }
int Db::Changes() const { return sqlite3_changes(db_.get()); }

Status Db::Error(std::string_view what) const {
  return SqliteStatus(sqlite3_extended_errcode(db_.get()),
                      std::string(what) + ": " + sqlite3_errmsg(db_.get()));
}

Transaction::Transaction(Db& db) : db_(db) { status_ = db_.Run("BEGIN IMMEDIATE"); }

Transaction::~Transaction() {
  if (!done_ && status_.ok()) (void)db_.Run("ROLLBACK");
}

void Transaction::Rollback() {
  if (!done_ && status_.ok()) (void)db_.Run("ROLLBACK");
  done_ = true;
}

Status Transaction::Commit() {
  if (!status_.ok()) return status_;
  Status s = db_.Run("COMMIT");
  if (s.ok()) done_ = true;
  return s;
}

}  // namespace ag::store
