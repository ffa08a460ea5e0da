#include "state/sqlite_state_store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/files.h"

// Concurrency: one sqlite3 connection (opened SQLITE_OPEN_NOMUTEX) guarded by
// Impl::mu. Update() and View() hold the mutex for the whole transaction, so
// transactions of one process run one at a time; other processes are
// serialized by SQLite's own file locks (BEGIN IMMEDIATE waits up to
// kBusyTimeoutMs, then the call fails with kUnavailable). A function passed to
// Update() or View() must not call Update() or View() on the same store: the
// call is refused with kInternal instead of deadlocking.

namespace coffer::state {
namespace {

// PRAGMA application_id of every coffer state store ("CFFR"). A file that has
// schema objects but not this id is not ours and is never written.
constexpr int32_t kApplicationId = 0x43464652;

// kMigrations[i] takes the schema from version i to version i + 1, in the same
// transaction as the user_version update. Append only; never edit an entry
// that has shipped.
constexpr const char* kMigrations[] = {
    // 1: ordered key-value tables. Keys are BLOBs, which SQLite compares with
    // memcmp, so SQL order is byte order.
    "CREATE TABLE kv (tbl TEXT NOT NULL, k BLOB NOT NULL, v BLOB NOT NULL,"
    " PRIMARY KEY (tbl, k)) WITHOUT ROWID",
};
constexpr int kSchemaVersion = static_cast<int>(std::size(kMigrations));

constexpr int kBusyTimeoutMs = 5000;
// The first 16 bytes of every SQLite 3 database file, NUL included.
constexpr char kSqliteHeader[16] = "SQLite format 3";

Status SqliteError(int rc, std::string_view what, std::string_view detail) {
  std::string msg(what);
  msg += ": ";
  msg += detail.empty() ? std::string_view(sqlite3_errstr(rc)) : detail;
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return UnavailableError(std::move(msg));
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return DataLossError(std::move(msg));
    default:
      return InternalError(std::move(msg));
  }
}

Status SqliteError(sqlite3* db, int rc, std::string_view what) {
  return SqliteError(rc, what, db != nullptr ? sqlite3_errmsg(db) : "");
}

// Creates an empty file with mode 0600 if `path` does not exist, so that
// SQLite (which creates with 0644 & ~umask) never makes a readable store.
Status CreateIfMissing(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    if (errno == EEXIST) return Status::Ok();
    return PosixError("create state store " + path, errno);
  }
  // The mode given to open() is masked by the umask; set it exactly.
  int rc = ::fchmod(fd, 0600);
  int err = errno;
  if (rc == 0) {
    rc = ::fsync(fd);
    err = errno;
  }
  ::close(fd);
  if (rc != 0) return PosixError("create state store " + path, err);
  return SyncDirectory(ParentDirectory(path));
}

// Fails unless the file is empty or starts with the SQLite header. Checked
// with plain reads so that SQLite never gets to interpret a foreign file.
Status CheckSqliteHeader(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return PosixError("open state store " + path, errno);
  char header[sizeof kSqliteHeader];
  size_t have = 0;
  while (have < sizeof header) {
    ssize_t n = ::read(fd, header + have, sizeof header - have);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return PosixError("read state store " + path, err);
    }
    if (n == 0) break;
    have += static_cast<size_t>(n);
  }
  ::close(fd);
  if (have == 0) return Status::Ok();
  if (have < sizeof header || std::memcmp(header, kSqliteHeader, sizeof header) != 0) {
    return FailedPreconditionError(path +
                                   " is not a coffer state store (not an SQLite database); "
                                   "refusing to open it");
  }
  return Status::Ok();
}

struct ConnectionCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using Connection = std::unique_ptr<sqlite3, ConnectionCloser>;

struct StatementFinalizer {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using Statement = std::unique_ptr<sqlite3_stmt, StatementFinalizer>;

// Opens `filename` (a path, or a URI with SQLITE_OPEN_URI) naming the store at `path`.
Result<Connection> OpenConnection(const std::string& path, int flags,
                                  const std::string& filename = "") {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(filename.empty() ? path.c_str() : filename.c_str(), &raw,
                           flags | SQLITE_OPEN_NOMUTEX, nullptr);
  Connection db(raw);
  if (rc != SQLITE_OK) return SqliteError(db.get(), rc, "open state store " + path);
  sqlite3_extended_result_codes(db.get(), 1);
  return db;
}

Status Exec(sqlite3* db, const std::string& sql, std::string_view what) {
  char* err = nullptr;
  int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  if (rc == SQLITE_OK) return Status::Ok();
  std::string detail = err != nullptr ? err : "";
  sqlite3_free(err);
  return SqliteError(rc, what, detail);
}

Result<Statement> Prepare(sqlite3* db, std::string_view sql) {
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()),
                              SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
  Statement stmt(raw);
  if (rc != SQLITE_OK) return SqliteError(db, rc, "prepare state store statement");
  return stmt;
}

// Runs a query returning one integer (a PRAGMA or a count).
Result<int64_t> QueryInt(sqlite3* db, std::string_view sql, std::string_view what) {
  ASSIGN_OR_RETURN(Statement stmt, Prepare(db, sql));
  int rc = sqlite3_step(stmt.get());
  if (rc != SQLITE_ROW) return SqliteError(db, rc == SQLITE_DONE ? SQLITE_ERROR : rc, what);
  return sqlite3_column_int64(stmt.get(), 0);
}

// What a file holds, as far as deciding whether to open it goes.
struct SchemaFacts {
  int64_t application_id = 0;
  int64_t user_version = 0;
  int64_t schema_objects = 0;
};

Result<SchemaFacts> ReadSchemaFacts(sqlite3* db, const std::string& path) {
  const std::string what = "read state store " + path;
  SchemaFacts facts;
  ASSIGN_OR_RETURN(facts.application_id, QueryInt(db, "PRAGMA application_id", what));
  ASSIGN_OR_RETURN(facts.user_version, QueryInt(db, "PRAGMA user_version", what));
  ASSIGN_OR_RETURN(facts.schema_objects, QueryInt(db, "SELECT count(*) FROM sqlite_schema", what));
  return facts;
}

// OK when the file is a coffer store this build can open, or an empty
// database that may become one.
Status CheckSchemaFacts(const SchemaFacts& facts, const std::string& path) {
  if (facts.application_id == 0 && facts.user_version == 0 && facts.schema_objects == 0) {
    return Status::Ok();  // empty: a new store
  }
  if (facts.application_id != kApplicationId) {
    return FailedPreconditionError(path +
                                   " is an SQLite database but not a coffer state store "
                                   "(application_id " +
                                   std::to_string(facts.application_id) + "); refusing to open it");
  }
  if (facts.user_version > kSchemaVersion) {
    return FailedPreconditionError("state store " + path + " has schema version " +
                                   std::to_string(facts.user_version) +
                                   ", written by a newer coffer; this build knows versions up to " +
                                   std::to_string(kSchemaVersion) + ". Upgrade coffer.");
  }
  if (facts.user_version < 0) {
    return DataLossError("state store " + path + " has an invalid schema version " +
                         std::to_string(facts.user_version));
  }
  return Status::Ok();
}

// A "file:" URI naming `path` read-only and immutable. The path is made
// absolute and percent-encoded so that no character of it is read as URI syntax.
std::string ImmutableUri(const std::string& path) {
  std::error_code ec;
  std::string absolute = std::filesystem::absolute(path, ec).string();
  if (ec) absolute = path;
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string uri = "file://";
  for (unsigned char c : absolute) {
    if (std::isalnum(c) != 0 || c == '/' || c == '.' || c == '_' || c == '-' || c == '~') {
      uri.push_back(static_cast<char>(c));
    } else {
      uri.push_back('%');
      uri.push_back(kHex[c >> 4]);
      uri.push_back(kHex[c & 0xf]);
    }
  }
  return uri + "?immutable=1";
}

// Inspects the file through a read-only connection: a read-only connection
// rolls back no hot journal and checkpoints no WAL, so a refused file is left
// exactly as it was.
Status InspectReadOnly(const std::string& path) {
  RETURN_IF_ERROR(CheckSqliteHeader(path));
  // Without a WAL file beside it the database file is the whole truth, and an
  // immutable connection reads it without locks and without creating -wal or
  // -shm files. With one, only a connection using the WAL sees committed data.
  const bool has_wal = ::access((path + "-wal").c_str(), F_OK) == 0;
  ASSIGN_OR_RETURN(
      Connection db,
      has_wal ? OpenConnection(path, SQLITE_OPEN_READONLY)
              : OpenConnection(path, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, ImmutableUri(path)));
  Result<SchemaFacts> facts = ReadSchemaFacts(db.get(), path);
  if (!facts.ok()) {
    if ((sqlite3_errcode(db.get()) & 0xff) == SQLITE_NOTADB) {
      return FailedPreconditionError(path +
                                     " is not a coffer state store (not an SQLite database); "
                                     "refusing to open it");
    }
    return facts.status();
  }
  return CheckSchemaFacts(*facts, path);
}

void BindTable(sqlite3_stmt* stmt, int index, std::string_view table) {
  static const char kEmpty = 0;
  sqlite3_bind_text64(stmt, index, table.empty() ? &kEmpty : table.data(), table.size(),
                      SQLITE_STATIC, SQLITE_UTF8);
}

// Always binds a BLOB, also when empty: a null data pointer would bind NULL.
void BindBlob(sqlite3_stmt* stmt, int index, std::string_view bytes) {
  static const char kEmpty = 0;
  sqlite3_bind_blob64(stmt, index, bytes.empty() ? &kEmpty : bytes.data(), bytes.size(),
                      SQLITE_STATIC);
}

std::string ColumnBytes(sqlite3_stmt* stmt, int column) {
  const void* data = sqlite3_column_blob(stmt, column);
  int size = sqlite3_column_bytes(stmt, column);
  if (data == nullptr || size <= 0) return std::string();
  return std::string(static_cast<const char*>(data), static_cast<size_t>(size));
}

// Resets a cached statement when a use of it ends, so that it holds no read
// lock and no pointer to the caller's bytes.
class StatementUse {
 public:
  explicit StatementUse(sqlite3_stmt* stmt) : stmt_(stmt) {}
  ~StatementUse() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  StatementUse(const StatementUse&) = delete;
  StatementUse& operator=(const StatementUse&) = delete;
  sqlite3_stmt* get() const { return stmt_; }

 private:
  sqlite3_stmt* stmt_;
};

bool BytesLess(std::string_view a, std::string_view b) {
  size_t n = std::min(a.size(), b.size());
  int c = n == 0 ? 0 : std::memcmp(a.data(), b.data(), n);
  return c < 0 || (c == 0 && a.size() < b.size());
}

// The least byte string greater than every string starting with `prefix`, or
// nullopt when there is none (`prefix` is empty or all 0xff).
std::optional<std::string> PrefixEnd(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty() && static_cast<uint8_t>(end.back()) == 0xff) end.pop_back();
  if (end.empty()) return std::nullopt;
  end.back() = static_cast<char>(static_cast<uint8_t>(end.back()) + 1);
  return end;
}

}  // namespace

struct SqliteStateStore::Impl {
  std::string path;
  bool durable = true;  // SqliteOptions::durable
  Connection db;
  std::mutex mu;
  // The thread inside Update() or View(), to refuse re-entry instead of deadlocking.
  std::atomic<std::thread::id> owner;

  // SqliteOptions::read_cache_bytes. Guarded by mu, as every transaction is:
  // a View reads committed state only, and an Update drops what it wrote, so
  // the cache never answers with anything but the committed value. Only values
  // found are kept: keys that name nothing (an unauthenticated caller may choose
  // them) cannot fill it.
  size_t cache_budget = 0;
  size_t cache_used = 0;
  std::unordered_map<std::string, std::string> cache;
  // What one entry costs beyond its key and value: the node, the key's and the
  // value's heap blocks, its bucket.
  static constexpr size_t kCacheEntryOverhead = 128;

  static std::string CacheKey(std::string_view table, std::string_view key) {
    std::string k;
    k.reserve(table.size() + 1 + key.size());
    k.append(table);
    k.push_back('\0');  // table names hold no NUL
    k.append(key);
    return k;
  }
  void CacheInsert(std::string key, const std::string& value) {
    const size_t size = key.size() + value.size() + kCacheEntryOverhead;
    if (size > cache_budget) return;
    if (cache_used + size > cache_budget) {
      cache.clear();
      cache_used = 0;
    }
    if (cache.emplace(std::move(key), value).second) cache_used += size;
  }
  void CacheErase(const std::string& key) {
    auto it = cache.find(key);
    if (it == cache.end()) return;
    cache_used -= it->first.size() + it->second.size() + kCacheEntryOverhead;
    cache.erase(it);
  }

  Statement begin_immediate;
  Statement begin_deferred;
  Statement commit;
  Statement rollback;
  Statement get;
  Statement put;
  Statement del;
  Statement scan_bounded;
  Statement scan_unbounded;

  ~Impl() {
    // Statements first: a connection with live statements does not close.
    for (Statement* s : {&begin_immediate, &begin_deferred, &commit, &rollback, &get, &put, &del,
                         &scan_bounded, &scan_unbounded}) {
      s->reset();
    }
    db.reset();
  }

  Status PrepareStatements() {
    sqlite3* c = db.get();
    ASSIGN_OR_RETURN(begin_immediate, Prepare(c, "BEGIN IMMEDIATE"));
    ASSIGN_OR_RETURN(begin_deferred, Prepare(c, "BEGIN DEFERRED"));
    ASSIGN_OR_RETURN(commit, Prepare(c, "COMMIT"));
    ASSIGN_OR_RETURN(rollback, Prepare(c, "ROLLBACK"));
    ASSIGN_OR_RETURN(get, Prepare(c, "SELECT v FROM kv WHERE tbl = ?1 AND k = ?2"));
    ASSIGN_OR_RETURN(put, Prepare(c,
                                  "INSERT INTO kv (tbl, k, v) VALUES (?1, ?2, ?3)"
                                  " ON CONFLICT (tbl, k) DO UPDATE SET v = excluded.v"));
    ASSIGN_OR_RETURN(del, Prepare(c, "DELETE FROM kv WHERE tbl = ?1 AND k = ?2"));
    ASSIGN_OR_RETURN(scan_bounded, Prepare(c,
                                           "SELECT k, v FROM kv WHERE tbl = ?1 AND k >= ?2"
                                           " AND k < ?3 ORDER BY k LIMIT ?4"));
    ASSIGN_OR_RETURN(scan_unbounded, Prepare(c,
                                             "SELECT k, v FROM kv WHERE tbl = ?1 AND k >= ?2"
                                             " ORDER BY k LIMIT ?3"));
    return Status::Ok();
  }

  // Steps a statement that returns no rows.
  Status Run(sqlite3_stmt* stmt, std::string_view what) {
    StatementUse use(stmt);
    int rc = sqlite3_step(stmt);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) return SqliteError(db.get(), rc, what);
    return Status::Ok();
  }

  bool InTransaction() const { return sqlite3_get_autocommit(db.get()) == 0; }

  // Ends whatever transaction is open. A failed statement may already have
  // rolled it back (SQLITE_FULL, SQLITE_IOERR), hence the check.
  void RollbackIfOpen() {
    if (InTransaction()) Run(rollback.get(), "state store rollback").IgnoreError();
  }

  // Brings the schema to kSchemaVersion in one transaction, re-checking under
  // the write lock what InspectReadOnly() saw.
  Status Migrate() {
    RETURN_IF_ERROR(Exec(db.get(), "BEGIN IMMEDIATE", "migrate state store " + path));
    Status st = [&]() -> Status {
      ASSIGN_OR_RETURN(SchemaFacts facts, ReadSchemaFacts(db.get(), path));
      RETURN_IF_ERROR(CheckSchemaFacts(facts, path));
      if (facts.application_id == kApplicationId && facts.user_version == kSchemaVersion) {
        return Status::Ok();
      }
      for (int64_t v = facts.user_version; v < kSchemaVersion; ++v) {
        RETURN_IF_ERROR(
            Exec(db.get(), kMigrations[v],
                 "migrate state store " + path + " to schema version " + std::to_string(v + 1)));
      }
      RETURN_IF_ERROR(Exec(db.get(), "PRAGMA application_id = " + std::to_string(kApplicationId),
                           "migrate state store " + path));
      return Exec(db.get(), "PRAGMA user_version = " + std::to_string(kSchemaVersion),
                  "migrate state store " + path);
    }();
    if (st.ok()) st = Exec(db.get(), "COMMIT", "migrate state store " + path);
    if (!st.ok() && InTransaction()) {
      Exec(db.get(), "ROLLBACK", "migrate state store " + path).IgnoreError();
    }
    return st;
  }
};

namespace {

using Impl = SqliteStateStore::Impl;

// A transaction over Impl's connection, valid only during the function passed
// to Update() or View(). The first failed statement is kept: every later call
// returns it, and Update() rolls back even if the function ignored it.
class SqliteTransaction final : public Transaction {
 public:
  // A read-only transaction (View) begins its SQLite transaction at its first
  // read that the cache does not answer; a read-write one has begun already.
  enum class Mode { kRead, kWrite };
  SqliteTransaction(Impl& impl, Mode mode)
      : impl_(impl), mode_(mode), begun_(mode == Mode::kWrite) {}

  // Read-write: drops what it wrote from the read cache, whether it committed
  // or not (a failed commit may still have reached the file).
  ~SqliteTransaction() override {
    for (const std::string& k : written_) impl_.CacheErase(k);
  }

  const Status& first_error() const { return first_error_; }

  Result<std::optional<std::string>> Get(std::string_view table,
                                         std::string_view key) const override {
    if (!first_error_.ok()) return first_error_;
    const bool cached = impl_.cache_budget > 0 && mode_ == Mode::kRead;
    std::string cache_key;
    if (cached) {
      cache_key = Impl::CacheKey(table, key);
      if (auto it = impl_.cache.find(cache_key); it != impl_.cache.end()) {
        return std::optional<std::string>(it->second);
      }
    }
    if (Status s = Begin(); !s.ok()) return s;
    StatementUse use(impl_.get.get());
    BindTable(use.get(), 1, table);
    BindBlob(use.get(), 2, key);
    int rc = sqlite3_step(use.get());
    std::optional<std::string> value;
    if (rc == SQLITE_ROW) {
      value = ColumnBytes(use.get(), 0);
    } else if (rc != SQLITE_DONE) {
      return Fail(SqliteError(impl_.db.get(), rc, "state store get"));
    }
    if (cached && value) impl_.CacheInsert(std::move(cache_key), *value);
    return value;
  }

  Result<std::vector<Entry>> Scan(std::string_view table, std::string_view prefix,
                                  std::string_view start_after, size_t limit) const override {
    if (!first_error_.ok()) return first_error_;
    if (Status s = Begin(); !s.ok()) return s;
    // k > start_after  <=>  k >= start_after ‖ 0x00, so one lower bound serves both.
    std::string lower(prefix);
    if (!start_after.empty()) {
      std::string after(start_after);
      after.push_back('\0');
      if (BytesLess(lower, after)) lower = std::move(after);
    }
    std::optional<std::string> upper = PrefixEnd(prefix);
    const int64_t sql_limit =
        limit == 0 ? -1
                   : static_cast<int64_t>(std::min<uint64_t>(
                         limit, static_cast<uint64_t>(std::numeric_limits<int64_t>::max())));

    StatementUse use(upper ? impl_.scan_bounded.get() : impl_.scan_unbounded.get());
    BindTable(use.get(), 1, table);
    BindBlob(use.get(), 2, lower);
    if (upper) {
      BindBlob(use.get(), 3, *upper);
      sqlite3_bind_int64(use.get(), 4, sql_limit);
    } else {
      sqlite3_bind_int64(use.get(), 3, sql_limit);
    }
    std::vector<Entry> entries;
    while (true) {
      int rc = sqlite3_step(use.get());
      if (rc == SQLITE_DONE) break;
      if (rc != SQLITE_ROW) return Fail(SqliteError(impl_.db.get(), rc, "state store scan"));
      entries.push_back(Entry{ColumnBytes(use.get(), 0), ColumnBytes(use.get(), 1)});
    }
    return entries;
  }

  Status Put(std::string_view table, std::string_view key, std::string_view value) override {
    if (!first_error_.ok()) return first_error_;
    NoteWrite(table, key);
    StatementUse use(impl_.put.get());
    BindTable(use.get(), 1, table);
    BindBlob(use.get(), 2, key);
    BindBlob(use.get(), 3, value);
    int rc = sqlite3_step(use.get());
    if (rc != SQLITE_DONE) return Fail(SqliteError(impl_.db.get(), rc, "state store put"));
    return Status::Ok();
  }

  Status Delete(std::string_view table, std::string_view key) override {
    if (!first_error_.ok()) return first_error_;
    NoteWrite(table, key);
    StatementUse use(impl_.del.get());
    BindTable(use.get(), 1, table);
    BindBlob(use.get(), 2, key);
    int rc = sqlite3_step(use.get());
    if (rc != SQLITE_DONE) return Fail(SqliteError(impl_.db.get(), rc, "state store delete"));
    return Status::Ok();
  }

 private:
  Status Fail(Status status) const {
    first_error_ = status;
    return status;
  }

  // A deferred transaction takes its snapshot at its first read and keeps it
  // until the scope rolls back; nothing is written.
  Status Begin() const {
    if (begun_) return Status::Ok();
    begun_ = true;
    Status s = impl_.Run(impl_.begin_deferred.get(), "state store begin");
    if (!s.ok()) return Fail(s);
    return s;
  }

  void NoteWrite(std::string_view table, std::string_view key) {
    if (impl_.cache_budget > 0 && !impl_.cache.empty()) {
      written_.push_back(Impl::CacheKey(table, key));
    }
  }

  Impl& impl_;
  const Mode mode_;
  mutable bool begun_;
  mutable Status first_error_;
  std::vector<std::string> written_;
};

// Holds Impl::mu for one transaction and marks the calling thread as inside
// it. The destructor rolls back a transaction still open (the function threw,
// or commit failed).
class TransactionScope {
 public:
  explicit TransactionScope(Impl& impl) : impl_(impl), lock_(impl.mu) {
    impl_.owner.store(std::this_thread::get_id());
  }
  ~TransactionScope() {
    impl_.RollbackIfOpen();
    impl_.owner.store(std::thread::id());
  }
  TransactionScope(const TransactionScope&) = delete;
  TransactionScope& operator=(const TransactionScope&) = delete;

 private:
  Impl& impl_;
  std::lock_guard<std::mutex> lock_;
};

Status CheckNotReentered(const Impl& impl, std::string_view call) {
  if (impl.owner.load() == std::this_thread::get_id()) {
    return InternalError(std::string(call) +
                         " called from inside a state store transaction function; "
                         "transactions do not nest");
  }
  return Status::Ok();
}

}  // namespace

SqliteStateStore::SqliteStateStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

SqliteStateStore::~SqliteStateStore() = default;

int SqliteStateStore::CurrentSchemaVersion() { return kSchemaVersion; }

Result<std::unique_ptr<SqliteStateStore>> SqliteStateStore::Open(const std::string& path,
                                                                 SqliteOptions options) {
  RETURN_IF_ERROR(CreateIfMissing(path));
  // Nothing below writes to the file until it is known to be a coffer store
  // (or empty) and of a schema version this build understands.
  RETURN_IF_ERROR(InspectReadOnly(path));

  auto impl = std::make_unique<Impl>();
  impl->path = path;
  ASSIGN_OR_RETURN(impl->db, OpenConnection(path, SQLITE_OPEN_READWRITE));
  sqlite3* db = impl->db.get();
  const std::string what = "configure state store " + path;
  int rc = sqlite3_busy_timeout(db, kBusyTimeoutMs);
  if (rc != SQLITE_OK) return SqliteError(db, rc, what);
  // Before the first read, so that WAL mode keeps its index in process memory.
  if (options.exclusive) RETURN_IF_ERROR(Exec(db, "PRAGMA locking_mode = EXCLUSIVE", what));
  {
    // journal_mode answers with the mode in effect, which is not WAL when the
    // file system cannot do it; synchronous=FULL then would not be enough.
    const char* wanted = options.durable ? "wal" : "memory";
    ASSIGN_OR_RETURN(Statement stmt, Prepare(db, std::string("PRAGMA journal_mode = ") + wanted));
    rc = sqlite3_step(stmt.get());
    if (rc != SQLITE_ROW) return SqliteError(db, rc, what);
    const unsigned char* mode = sqlite3_column_text(stmt.get(), 0);
    if (mode == nullptr || std::strcmp(reinterpret_cast<const char*>(mode), wanted) != 0) {
      return FailedPreconditionError(
          "state store " + path + ": cannot set journal mode " + wanted + " (got " +
          (mode == nullptr ? std::string("nothing") : reinterpret_cast<const char*>(mode)) + ")");
    }
  }
  impl->durable = options.durable;
  if (options.read_cache_bytes > 0 && !options.exclusive) {
    return InvalidArgumentError("state store " + path +
                                ": a read cache needs exclusive locking (another process could "
                                "write the file behind it)");
  }
  impl->cache_budget = options.read_cache_bytes;
  RETURN_IF_ERROR(
      Exec(db, options.durable ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = OFF", what));
  RETURN_IF_ERROR(Exec(db, "PRAGMA foreign_keys = ON", what));
  // A value overwritten or deleted (a secret from before it was sealed, the
  // sealed material of a deleted key) is zeroed in the file, not left in free
  // space. Debian's SQLite does so by default; others may not.
  if (options.durable) RETURN_IF_ERROR(Exec(db, "PRAGMA secure_delete = ON", what));
  if (options.page_cache_bytes > 0) {
    // A negative cache_size is in KiB.
    RETURN_IF_ERROR(
        Exec(db, "PRAGMA cache_size = -" + std::to_string((options.page_cache_bytes + 1023) / 1024),
             what));
  }
  RETURN_IF_ERROR(impl->Migrate());
  RETURN_IF_ERROR(impl->PrepareStatements());
  return std::unique_ptr<SqliteStateStore>(new SqliteStateStore(std::move(impl)));
}

Status SqliteStateStore::Update(const std::function<Status(Transaction&)>& fn) {
  RETURN_IF_ERROR(CheckNotReentered(*impl_, "StateStore::Update"));
  TransactionScope scope(*impl_);
  RETURN_IF_ERROR(impl_->Run(impl_->begin_immediate.get(), "state store begin"));
  SqliteTransaction txn(*impl_, SqliteTransaction::Mode::kWrite);
  Status st = fn(txn);
  if (st.ok()) st = txn.first_error();
  if (!st.ok()) return st;  // the scope rolls back
  return impl_->Run(impl_->commit.get(), "state store commit");
}

Status SqliteStateStore::UpdateRebuildable(const std::function<Status(Transaction&)>& fn) {
  RETURN_IF_ERROR(CheckNotReentered(*impl_, "StateStore::UpdateRebuildable"));
  TransactionScope scope(*impl_);
  const std::string what = "state store " + impl_->path;
  if (impl_->durable) RETURN_IF_ERROR(Exec(impl_->db.get(), "PRAGMA synchronous = NORMAL", what));
  Status st = impl_->Run(impl_->begin_immediate.get(), "state store begin");
  if (st.ok()) {
    SqliteTransaction txn(*impl_, SqliteTransaction::Mode::kWrite);
    st = fn(txn);
    if (st.ok()) st = txn.first_error();
    if (st.ok()) st = impl_->Run(impl_->commit.get(), "state store commit");
  }
  impl_->RollbackIfOpen();
  // Every other transaction stays durable; failing to restore that is fatal to
  // the promise of Update, so it is reported even when the update succeeded.
  if (!impl_->durable) return st;  // never synced in the first place
  Status restored = Exec(impl_->db.get(), "PRAGMA synchronous = FULL", what);
  return st.ok() ? restored : st;
}

Status SqliteStateStore::View(const std::function<Status(const ReadTransaction&)>& fn) const {
  RETURN_IF_ERROR(CheckNotReentered(*impl_, "StateStore::View"));
  TransactionScope scope(*impl_);
  SqliteTransaction txn(*impl_, SqliteTransaction::Mode::kRead);
  Status st = fn(txn);
  if (st.ok()) st = txn.first_error();
  return st;
}

}  // namespace coffer::state
