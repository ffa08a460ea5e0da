#include "engines/sqlite_engine.h"

#include <dirent.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <thread>
#include <utility>

#include "common/files.h"
#include "engines/sqlite_differential.h"

namespace coffer::engines {
namespace {

using sqlite::Digest;

constexpr std::string_view kSuffix = ".db";
constexpr std::string_view kRestoringSuffix = ".restoring";
constexpr std::string_view kPendingBaseSuffix = ".base.pending";
constexpr std::string_view kBaseSuffix = ".base";
constexpr std::string_view kChainSuffix = ".restoring.chain";
constexpr std::string_view kChainMagic = "coffer sqlite restoring v1";
constexpr unsigned kFileMode = 0600;
// Pages copied per step of the online backup: writers of the source wait at
// most one step.
constexpr int kPagesPerStep = 1024;
// A write to the source by another connection restarts a stepwise copy; after
// this many restarts the rest is copied in one step, so that a steadily
// written database is still backed up (its writers then wait for the copy).
constexpr int kMaxRestarts = 3;
constexpr auto kBusyWait = std::chrono::milliseconds(5);
// How long a connection waits for a lock held by another before SQLITE_BUSY.
constexpr auto kBusyTimeout = SqliteEngine::kDefaultLockTimeout;

std::string Seconds(std::chrono::milliseconds d) {
  const auto ms = d.count();
  return ms % 1000 == 0 ? std::to_string(ms / 1000) + " s" : std::to_string(ms) + " ms";
}

Status SqliteError(sqlite3* db, int rc, const std::string& what) {
  std::string message = what + ": " + (db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  if (rc == SQLITE_NOTADB || rc == SQLITE_CORRUPT) return DataLossError(std::move(message));
  return InternalError(std::move(message));
}

// Reads whether `db` is in WAL mode into `wal`; SQLITE_BUSY when a lock held
// by another connection for the whole busy wait kept the pragma from reading.
int ReadJournalMode(sqlite3* db, bool& wal) {
  sqlite3_stmt* stmt = nullptr;
  wal = false;
  int rc = sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &stmt, nullptr);
  if (rc == SQLITE_OK) rc = sqlite3_step(stmt);
  if (rc == SQLITE_ROW) {
    const unsigned char* mode = sqlite3_column_text(stmt, 0);
    wal = mode != nullptr && std::string_view(reinterpret_cast<const char*>(mode)) == "wal";
  }
  sqlite3_finalize(stmt);
  return rc;
}

Status NotFound(std::string_view database) {
  return Status(StatusCode::kNotFound, "DatabaseNotFound",
                "Database " + std::string(database) + " does not exist");
}
Status AlreadyExists(std::string_view database) {
  return Status(StatusCode::kAlreadyExists, "DatabaseAlreadyExists",
                "Database " + std::string(database) + " already exists");
}
Status NotRestoring(std::string_view database) {
  return Status(StatusCode::kFailedPrecondition, "DatabaseNotRestoring",
                "Database " + std::string(database) + " is not in the restoring state");
}
Status NoBase(std::string message) {
  return Status(StatusCode::kFailedPrecondition, "NoDifferentialBase", std::move(message));
}
Status BaseMismatch(std::string message) {
  return Status(StatusCode::kDataLoss, "DifferentialBaseMismatch", std::move(message));
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [&](char x, char y) { return lower(x) == lower(y); });
}

struct Db {
  sqlite3* db = nullptr;
  ~Db() { sqlite3_close_v2(db); }
};

Status Open(const std::string& path, int flags, Db& out) {
  int rc = sqlite3_open_v2(path.c_str(), &out.db, flags, nullptr);
  if (rc != SQLITE_OK) return SqliteError(out.db, rc, "open " + path);
  sqlite3_busy_timeout(out.db, static_cast<int>(std::chrono::milliseconds(kBusyTimeout).count()));
  return Status::Ok();
}

// Writes `contents` over the file at `path` and fsyncs it.
Status WriteAndSync(const std::string& path, std::string_view contents) {
  int fd = ::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  if (fd < 0) return PosixError("open " + path, errno);
  size_t done = 0;
  while (done < contents.size()) {
    ssize_t n = ::write(fd, contents.data() + done, contents.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      Status error = PosixError("write " + path, errno);
      ::close(fd);
      return error;
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    Status error = PosixError("fsync " + path, errno);
    ::close(fd);
    return error;
  }
  if (::close(fd) != 0) return PosixError("close " + path, errno);
  return Status::Ok();
}

// The companions SQLite may keep beside a database file.
constexpr const char* kCompanionSuffixes[] = {"-wal", "-shm", "-journal"};

Status RemoveIfPresent(const std::string& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return PosixError("remove " + path, errno);
  return Status::Ok();
}

// Removes a SQLite database file and the files SQLite keeps beside it, those
// first: a WAL or journal left without its database would be applied to the
// next database of that name.
Status RemoveDatabaseFiles(const std::string& path) {
  for (const char* suffix : kCompanionSuffixes) RETURN_IF_ERROR(RemoveIfPresent(path + suffix));
  return RemoveIfPresent(path);
}

// A temporary file of a running backup or restore, DIR/.KIND-XXXXXX (starting
// with '.': never a database), locked while this object lives (common/files.h)
// so that RemoveLeftovers leaves it alone, even from another process. Removed,
// with the companions SQLite kept beside it, when destroyed, unless released.
// Destroy it only after SQLite's connections to the file are closed: closing a
// descriptor drops the process's fcntl locks on the file, SQLite's included.
class TemporaryFile {
 public:
  static Result<TemporaryFile> Create(const std::string& dir, std::string_view kind) {
    std::string path = dir + "/." + std::string(kind) + "-XXXXXX";
    ASSIGN_OR_RETURN(UniqueFd fd, CreateLockedTemporaryFile(path, kFileMode));
    return TemporaryFile(std::move(path), std::move(fd));
  }
  TemporaryFile(TemporaryFile&& other) noexcept
      : path_(std::exchange(other.path_, std::string())), fd_(std::move(other.fd_)) {}
  TemporaryFile& operator=(TemporaryFile&&) = delete;
  // The companions go first: one is never left without its file, so that
  // RemoveLeftovers can tell an abandoned one. The lock goes last.
  ~TemporaryFile() {
    if (path_.empty()) return;
    for (const char* suffix : kCompanionSuffixes) ::unlink((path_ + suffix).c_str());
    ::unlink(path_.c_str());
  }

  const std::string& path() const { return path_; }
  // Open read-write; not to be closed.
  int fd() const { return fd_.get(); }
  // The file was renamed away: nothing to remove (the lock holds until destruction).
  void Release() { path_.clear(); }

 private:
  TemporaryFile(std::string path, UniqueFd fd) : path_(std::move(path)), fd_(std::move(fd)) {}

  std::string path_;
  UniqueFd fd_;
};

// mkstemp's six characters.
bool IsUniqueSuffix(std::string_view s) {
  return s.size() == 6 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
         });
}

// The names of the engine's temporary files: TemporaryFile's (.snapshot-XXXXXX,
// .restore-XXXXXX), and the temporary file of an atomic write of a pending base
// manifest (.NAME.base.pending.tmp-XXXXXX) or, in earlier versions, of a
// restore's file (.restore-XXXXXX.tmp-XXXXXX). The exact shapes matter: a
// database may be named "snapshot-1", and its manifest is .snapshot-1.base.
bool IsTemporaryName(std::string_view file) {
  size_t tmp = file.rfind(".tmp-");
  if (tmp != std::string_view::npos && IsUniqueSuffix(file.substr(tmp + 5))) {
    file = file.substr(0, tmp);
    if (file.starts_with('.') && file.ends_with(kPendingBaseSuffix) &&
        ValidateDatabaseName(file.substr(1, file.size() - 1 - kPendingBaseSuffix.size())).ok()) {
      return true;
    }
  }
  for (std::string_view kind : {".snapshot-", ".restore-"}) {
    if (file.starts_with(kind) && IsUniqueSuffix(file.substr(kind.size()))) return true;
  }
  return false;
}

// Opens `path` read-write (so that closing it folds a WAL-mode database back
// into its one file; a read-only connection would leave -wal and -shm files
// behind) and requires PRAGMA quick_check to answer "ok": every page, record
// and b-tree is checked, in linear time (integrity_check also cross-checks
// every index entry, which takes 8 times as long on a 1 GiB database; the
// stream itself was authenticated or checksummed frame by frame).
Status CheckIntegrity(const std::string& path, std::string_view database) {
  {
    Db restored;
    RETURN_IF_ERROR(Open(path, SQLITE_OPEN_READWRITE, restored));
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v2(restored.db, "PRAGMA quick_check", -1, &stmt, nullptr);
    if (rc != SQLITE_OK)
      return SqliteError(restored.db, rc, "check the restored " + std::string(database));
    std::string verdict;
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
      const unsigned char* text = sqlite3_column_text(stmt, 0);
      verdict = text != nullptr ? reinterpret_cast<const char*>(text) : "";
    }
    sqlite3_finalize(stmt);
    if (rc != SQLITE_ROW)
      return SqliteError(restored.db, rc, "check the restored " + std::string(database));
    if (verdict != "ok") {
      return DataLossError("the restored " + std::string(database) +
                           " fails SQLite's integrity check: " + verdict);
    }
  }
  for (const char* suffix : {"-wal", "-shm"}) ::unlink((path + suffix).c_str());
  return Status::Ok();
}

// Feeds what is read through a digester.
class DigestingSource final : public ByteSource {
 public:
  DigestingSource(ByteSource& inner, sqlite::SnapshotDigester& digester)
      : inner_(inner), digester_(digester) {}
  Result<size_t> Read(std::span<uint8_t> out) override {
    ASSIGN_OR_RETURN(size_t n, inner_.Read(out));
    RETURN_IF_ERROR(digester_.Update(ByteView(out.data(), n)));
    return n;
  }

 private:
  ByteSource& inner_;
  sqlite::SnapshotDigester& digester_;
};

// Feeds what is written through a digester.
class DigestingSink final : public ByteSink {
 public:
  DigestingSink(ByteSink& inner, sqlite::SnapshotDigester& digester)
      : inner_(inner), digester_(digester) {}
  Status Write(ByteView data) override {
    RETURN_IF_ERROR(digester_.Update(data));
    return inner_.Write(data);
  }
  Status Close() override { return inner_.Close(); }
  void Abort() override { inner_.Abort(); }

 private:
  ByteSink& inner_;
  sqlite::SnapshotDigester& digester_;
};

// What a restoring database was restored from (the .NAME.restoring.chain file):
//   coffer sqlite restoring v1
//   full <hex snapshot digest of the FULL stream | unknown>
//   differential <none | hex snapshot digest of the DIFFERENTIAL's result>
struct Chain {
  std::optional<Digest> full;
  std::optional<Digest> differential;
};

std::string EncodeChain(const Chain& chain) {
  auto hex = [](const std::optional<Digest>& d, std::string_view none) {
    return d ? HexEncode(*d) : std::string(none);
  };
  return std::string(kChainMagic) + "\nfull " + hex(chain.full, "unknown") + "\ndifferential " +
         hex(chain.differential, "none") + "\n";
}

// An absent or unreadable chain file leaves the base unknown: no DIFFERENTIAL
// backup applies, FinishRestore still does.
Chain ReadChain(const std::string& path) {
  Chain chain;
  int raw = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (raw < 0) return chain;
  UniqueFd fd(raw);
  char buffer[512];
  ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
  if (n <= 0) return chain;
  std::string_view text(buffer, static_cast<size_t>(n));
  auto line = [&]() {
    size_t end = text.find('\n');
    std::string_view l = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    return l;
  };
  auto digest = [](std::string_view l, std::string_view key) -> std::optional<Digest> {
    if (!l.starts_with(key)) return std::nullopt;
    auto bytes = HexDecode(l.substr(key.size()));
    if (!bytes.ok() || bytes->size() != Digest().size()) return std::nullopt;
    Digest d;
    std::copy(bytes->begin(), bytes->end(), d.begin());
    return d;
  };
  if (line() != kChainMagic) return chain;
  std::string_view full = line();
  std::string_view differential = line();
  if (!differential.starts_with("differential ")) return chain;
  chain.full = digest(full, "full ");
  chain.differential = digest(differential, "differential ");
  if (!chain.differential && differential != "differential none") {
    // Unreadable: treat it as applied, the safe side.
    chain.differential = Digest{};
  }
  return chain;
}

}  // namespace

Status ValidateDatabaseName(std::string_view name) {
  bool ok =
      !name.empty() && name.size() <= 128 && std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '_' || c == '-';
      });
  if (ok) return Status::Ok();
  return InvalidArgumentError("'" + std::string(name) +
                              "' is not a database name (1-128 of A-Z a-z 0-9 _ -)");
}

Result<std::string> PickDatabase(const std::vector<std::string>& names, std::string_view database) {
  std::vector<std::string> matches;
  for (const std::string& name : names) {
    if (name == database) return name;
    if (EqualsIgnoreCase(name, database)) matches.push_back(name);
  }
  if (matches.empty()) return NotFound(database);
  if (matches.size() > 1) {
    std::sort(matches.begin(), matches.end());
    std::string list;
    for (const std::string& m : matches) list += (list.empty() ? "" : ", ") + m;
    return Status(StatusCode::kFailedPrecondition, "AmbiguousDatabaseName",
                  "Several databases are named " + std::string(database) + " but for case (" +
                      list + "): name one exactly");
  }
  return matches.front();
}

Result<std::unique_ptr<SqliteEngine>> SqliteEngine::Create(std::string dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) return PosixError("instance directory " + dir, errno);
  if (!S_ISDIR(st.st_mode)) return FailedPreconditionError(dir + " is not a directory");
  return std::unique_ptr<SqliteEngine>(new SqliteEngine(std::move(dir)));
}

std::string SqliteEngine::version() const { return sqlite3_libversion(); }

std::string SqliteEngine::DatabasePath(std::string_view database) const {
  return FilePath(database, Kind::kOnline);
}

std::string SqliteEngine::RestoringPath(std::string_view database) const {
  return FilePath(database, Kind::kRestoring);
}

std::string SqliteEngine::FilePath(std::string_view name, Kind kind) const {
  switch (kind) {
    case Kind::kOnline:
      return dir_ + "/" + std::string(name) + std::string(kSuffix);
    case Kind::kRestoring:
      return dir_ + "/." + std::string(name) + std::string(kRestoringSuffix);
    case Kind::kPendingBase:
      return dir_ + "/." + std::string(name) + std::string(kPendingBaseSuffix);
  }
  return {};
}

std::string SqliteEngine::BasePath(std::string_view name) const {
  return dir_ + "/." + std::string(name) + std::string(kBaseSuffix);
}

std::string SqliteEngine::ChainPath(std::string_view name) const {
  return dir_ + "/." + std::string(name) + std::string(kChainSuffix);
}

Result<std::vector<SqliteEngine::Entry>> SqliteEngine::Scan() const {
  DIR* d = ::opendir(dir_.c_str());
  if (d == nullptr) return PosixError("open directory " + dir_, errno);
  std::vector<Entry> entries;
  auto add = [&](std::string_view name, Kind kind) {
    if (ValidateDatabaseName(name).ok()) entries.push_back({std::string(name), kind});
  };
  while (dirent* e = ::readdir(d)) {
    std::string_view file(e->d_name);
    if (file.ends_with(kSuffix)) {
      add(file.substr(0, file.size() - kSuffix.size()), Kind::kOnline);
    } else if (file.starts_with('.') && file.ends_with(kRestoringSuffix)) {
      add(file.substr(1, file.size() - 1 - kRestoringSuffix.size()), Kind::kRestoring);
    } else if (file.starts_with('.') && file.ends_with(kPendingBaseSuffix)) {
      add(file.substr(1, file.size() - 1 - kPendingBaseSuffix.size()), Kind::kPendingBase);
    }
  }
  ::closedir(d);
  return entries;
}

Result<std::optional<std::string>> SqliteEngine::Find(std::string_view name, Kind kind) const {
  ASSIGN_OR_RETURN(std::vector<Entry> entries, Scan());
  std::optional<std::string> found;
  for (const Entry& e : entries) {
    if (e.kind != kind) continue;
    if (e.name == name) return std::optional<std::string>(e.name);
    if (!found && EqualsIgnoreCase(e.name, name)) found = e.name;
  }
  return found;
}

Result<std::string> SqliteEngine::FindOnline(std::string_view database) const {
  RETURN_IF_ERROR(ValidateDatabaseName(database));
  ASSIGN_OR_RETURN(std::optional<std::string> online, Find(database, Kind::kOnline));
  if (online) return *online;
  ASSIGN_OR_RETURN(std::optional<std::string> restoring, Find(database, Kind::kRestoring));
  if (restoring) {
    return Status(
        StatusCode::kFailedPrecondition, "DatabaseRestoring",
        "Database " + *restoring + " is in the restoring state: finish or drop its restore first");
  }
  return NotFound(database);
}

Result<std::string> SqliteEngine::FindRestoring(std::string_view target) const {
  RETURN_IF_ERROR(ValidateDatabaseName(target));
  ASSIGN_OR_RETURN(std::optional<std::string> restoring, Find(target, Kind::kRestoring));
  if (!restoring) return NotRestoring(target);
  return *restoring;
}

Result<std::vector<std::string>> SqliteEngine::ListDatabases() {
  ASSIGN_OR_RETURN(std::vector<Entry> entries, Scan());
  std::vector<std::string> names;
  for (Entry& e : entries) {
    if (e.kind == Kind::kOnline) names.push_back(std::move(e.name));
  }
  std::sort(names.begin(), names.end());
  return names;
}

Result<bool> SqliteEngine::Exists(std::string_view database) {
  RETURN_IF_ERROR(ValidateDatabaseName(database));
  ASSIGN_OR_RETURN(std::vector<Entry> entries, Scan());
  return std::any_of(entries.begin(), entries.end(), [&](const Entry& e) {
    return e.kind != Kind::kPendingBase && EqualsIgnoreCase(e.name, database);
  });
}

Result<uint64_t> SqliteEngine::DatabaseSize(std::string_view database) {
  ASSIGN_OR_RETURN(std::string name, FindOnline(database));
  struct stat st {};
  const std::string path = FilePath(name, Kind::kOnline);
  if (::stat(path.c_str(), &st) != 0) return PosixError("stat " + path, errno);
  return static_cast<uint64_t>(st.st_size);
}

Status SqliteEngine::LinkNoClobber(const std::string& from, const std::string& name, Kind kind,
                                   bool ending_restore) const {
  const std::string path = FilePath(name, kind);
  // link(2) fails with EEXIST instead of replacing: a database that appeared
  // meanwhile under the same name is never overwritten.
  if (::link(from.c_str(), path.c_str()) != 0) {
    if (errno == EEXIST) return AlreadyExists(name);
    return PosixError("link " + from + " to " + path, errno);
  }
  // One of another case, or in the other state, may have appeared too (the
  // name was checked free when the restore started): then this one gives way.
  auto entries = Scan();
  bool conflict = !entries.ok();
  if (entries.ok()) {
    for (const Entry& e : *entries) {
      if (e.kind == Kind::kPendingBase || !EqualsIgnoreCase(e.name, name)) continue;
      if (e.name == name && e.kind == kind) continue;
      if (e.name == name && e.kind == Kind::kRestoring && ending_restore) continue;
      conflict = true;
    }
  }
  if (conflict) {
    ::unlink(path.c_str());
    if (!entries.ok()) return entries.status();
    return AlreadyExists(name);
  }
  return Status::Ok();
}

Status SqliteEngine::BringOnline(const std::string& from, const std::string& name) const {
  RETURN_IF_ERROR(LinkNoClobber(from, name, Kind::kOnline, /*ending_restore=*/true));
  // The database is online: its restoring copy goes, and so do base manifests
  // left by an earlier database of this name (they describe other content:
  // differentials against them would be right, but as large as a FULL).
  RemoveKeptFiles(name).IgnoreError();
  return SyncDirectory(dir_);
}

void SqliteEngine::WaitInterruptibly(sqlite3* db) const {
  sqlite3_busy_handler(db, &SqliteEngine::BusyWait, const_cast<SqliteEngine*>(this));
}

int SqliteEngine::BusyWait(void* engine, int waited) {
  const auto& self = *static_cast<const SqliteEngine*>(engine);
  if (!self.Interrupted().ok()) return 0;
  if (waited * kBusyWait >= self.lock_timeout_) return 0;
  std::this_thread::sleep_for(kBusyWait);
  return 1;
}

Status SqliteEngine::Locked(const std::string& name) const {
  if (Status stop = Interrupted(); !stop.ok()) return stop;
  return Status(StatusCode::kUnavailable, "DatabaseLocked",
                "Database " + name + " stayed locked by another connection for " +
                    Seconds(lock_timeout_) +
                    "; nothing was backed up. Try again once that connection has committed "
                    "or closed");
}

Status SqliteEngine::Snapshot(const std::string& name, const std::string& temp) const {
  Db source, copy;
  RETURN_IF_ERROR(Open(DatabasePath(name), SQLITE_OPEN_READONLY, source));
  RETURN_IF_ERROR(Open(temp, SQLITE_OPEN_READWRITE, copy));
  WaitInterruptibly(source.db);
  sqlite3_backup* backup = sqlite3_backup_init(copy.db, "main", source.db, "main");
  if (backup == nullptr) return SqliteError(copy.db, SQLITE_ERROR, "snapshot " + name);
  // In WAL mode a reader never blocks writers: the whole copy is one read
  // transaction, one consistent snapshot, and nobody waits for it.
  bool wal = false;
  if (ReadJournalMode(source.db, wal) == SQLITE_BUSY) {
    sqlite3_backup_finish(backup);
    return Locked(name);
  }
  int pages = wal ? -1 : kPagesPerStep;
  int rc;
  int restarts = 0;
  int remaining = -1;
  using Clock = std::chrono::steady_clock;
  std::optional<Clock::time_point> locked_since;
  do {
    const Clock::time_point step_started = Clock::now();
    rc = sqlite3_backup_step(backup, pages);
    if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) {
      // Another connection holds the database locked (the step may have waited
      // for it already): wait, unless told to stop or it has lasted too long.
      if (!locked_since) locked_since = step_started;
      if (!Interrupted().ok() || Clock::now() - *locked_since >= lock_timeout_) {
        sqlite3_backup_finish(backup);
        return Locked(name);
      }
      std::this_thread::sleep_for(kBusyWait);
    } else {
      locked_since.reset();
    }
    int now = sqlite3_backup_remaining(backup);
    if (remaining >= 0 && now > remaining && ++restarts >= kMaxRestarts) pages = -1;
    remaining = now;
  } while (rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED);
  sqlite3_backup_finish(backup);
  if (rc != SQLITE_DONE) return SqliteError(copy.db, rc, "snapshot " + name);
  return Status::Ok();
}

Status SqliteEngine::BackupFull(std::string_view database, ByteSink& sink) {
  ASSIGN_OR_RETURN(std::string name, FindOnline(database));
  // A FULL backup that was never committed can no longer become the base.
  const std::string pending = FilePath(name, Kind::kPendingBase);
  ::unlink(pending.c_str());
  // A database in rollback-journal mode is streamed straight from its file
  // inside a read transaction: its SHARED lock lets no writer commit until the
  // stream ends, so the file is one consistent snapshot, with no copy made
  // (writers wait for the stream, as for any long reader). A WAL database's
  // file alone is not its snapshot: it is copied with the online backup API.
  std::optional<TemporaryFile> snapshot;
  std::string streamed = DatabasePath(name);
  Db reader;
  RETURN_IF_ERROR(Open(streamed, SQLITE_OPEN_READONLY, reader));
  WaitInterruptibly(reader.db);
  bool wal = false;
  int rc = ReadJournalMode(reader.db, wal);
  if (rc == SQLITE_ROW && !wal) {
    rc = sqlite3_exec(reader.db, "BEGIN; SELECT count(*) FROM sqlite_master;", nullptr, nullptr,
                      nullptr);
  }
  // Busy: another connection held the database locked for the whole busy wait.
  if (rc == SQLITE_BUSY) return Locked(name);
  const bool locked = !wal && rc == SQLITE_OK;
  if (!locked) {
    // WAL, or the file could not be read in place (a hot journal that only a
    // writer may roll back): the online backup API into a copy.
    sqlite3_exec(reader.db, "ROLLBACK", nullptr, nullptr, nullptr);
    ASSIGN_OR_RETURN(TemporaryFile copy, TemporaryFile::Create(dir_, "snapshot"));
    snapshot.emplace(std::move(copy));
    streamed = snapshot->path();
    RETURN_IF_ERROR(Snapshot(name, streamed));
  }

  // The pending base manifest is written as the snapshot streams: one SHA-256
  // pass gives every page's hash and the snapshot digest.
  ASSIGN_OR_RETURN(std::unique_ptr<ByteSink> manifest_file,
                   CreateAtomicFileSink(pending, kFileMode));
  sqlite::ManifestWriter manifest(*manifest_file);
  sqlite::SnapshotDigester digester([&](ByteView hash) { return manifest.Add(hash); });
  ASSIGN_OR_RETURN(std::unique_ptr<ByteSource> file, OpenFileSource(streamed));
  DigestingSource source(*file, digester);
  RETURN_IF_ERROR(PumpStream(source, sink).status());
  if (locked) sqlite3_exec(reader.db, "COMMIT", nullptr, nullptr, nullptr);

  std::optional<Digest> digest = digester.Finish();
  const uint32_t page_size = digester.page_size();
  if (!digest || digester.length() % page_size != 0) {
    return InternalError("the snapshot of " + name + " is not a SQLite database of whole pages");
  }
  sqlite::BaseInfo info;
  info.page_size = page_size;
  info.pages = static_cast<uint32_t>(digester.length() / page_size);
  info.digest = *digest;
  RETURN_IF_ERROR(manifest.Finish(info));
  return manifest_file->Close();
}

Status SqliteEngine::CommitFullBackup(std::string_view database) {
  RETURN_IF_ERROR(ValidateDatabaseName(database));
  ASSIGN_OR_RETURN(std::optional<std::string> name, Find(database, Kind::kPendingBase));
  if (!name) {
    return Status(StatusCode::kFailedPrecondition, "NoPendingFullBackup",
                  "No FULL backup of " + std::string(database) + " awaits its commit");
  }
  const std::string pending = FilePath(*name, Kind::kPendingBase);
  RETURN_IF_ERROR(SyncFile(pending));
  if (::rename(pending.c_str(), BasePath(*name).c_str()) != 0) {
    return PosixError("rename " + pending + " to " + BasePath(*name), errno);
  }
  return SyncDirectory(dir_);
}

Status SqliteEngine::BackupDifferential(std::string_view database, ByteSink& sink) {
  ASSIGN_OR_RETURN(std::string name, FindOnline(database));
  auto manifest = sqlite::OpenManifest(BasePath(name));
  if (!manifest.ok() && manifest.status().code() == StatusCode::kNotFound) {
    return NoBase("Database " + name +
                  " has no FULL backup to be the base of a DIFFERENTIAL backup; take a FULL "
                  "backup first");
  }
  if (!manifest.ok()) {
    return DataLossError(manifest.status().message() + "; take a FULL backup of " + name);
  }
  const sqlite::BaseInfo base = manifest->info;

  ASSIGN_OR_RETURN(TemporaryFile snapshot, TemporaryFile::Create(dir_, "snapshot"));
  const std::string temp = snapshot.path();
  RETURN_IF_ERROR(Snapshot(name, temp));
  ASSIGN_OR_RETURN(std::unique_ptr<ByteSource> file, OpenFileSource(temp));
  Bytes header(sqlite::kDatabaseHeaderSize);
  ASSIGN_OR_RETURN(size_t got, ReadFull(*file, header));
  struct stat st {};
  if (::stat(temp.c_str(), &st) != 0) return PosixError("stat " + temp, errno);
  const uint32_t page_size = sqlite::PageSizeOf(ByteView(header.data(), got));
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (page_size == 0 || size % page_size != 0) {
    return InternalError("the snapshot of " + name + " is not a SQLite database of whole pages");
  }
  if (page_size != base.page_size) {
    return NoBase("The page size of " + name + " changed since its last FULL backup (" +
                  std::to_string(base.page_size) + " to " + std::to_string(page_size) +
                  " bytes): a DIFFERENTIAL backup needs a new FULL backup first");
  }
  ASSIGN_OR_RETURN(file, OpenFileSource(temp));
  auto diff = sqlite::DifferentialSource(std::move(file), static_cast<uint32_t>(size / page_size),
                                         base, std::move(manifest->hashes));
  return PumpStream(*diff, sink).status();
}

Status SqliteEngine::RestoreFull(std::string_view target, ByteSource& source,
                                 const RestoreOptions& options) {
  ASSIGN_OR_RETURN(bool exists, Exists(target));
  if (exists) return AlreadyExists(target);
  const std::string name(target);
  ASSIGN_OR_RETURN(TemporaryFile restored, TemporaryFile::Create(dir_, "restore"));
  const std::string temp = restored.path();
  // The snapshot digest of the stream as written names the FULL backup a
  // DIFFERENTIAL backup must be based on.
  sqlite::SnapshotDigester digester;
  {
    // Written through the descriptor that holds the lock: the temporary file
    // is never replaced by another, unlocked one.
    std::unique_ptr<ByteSink> file = DescriptorSink(restored.fd(), temp);
    DigestingSink digesting(*file, digester);
    ByteSink& out = options.norecovery ? static_cast<ByteSink&>(digesting) : *file;
    ASSIGN_OR_RETURN(uint64_t size, PumpStream(source, out));
    RETURN_IF_ERROR(out.Close());
    if (size == 0) return DataLossError("the backup of " + name + " is empty");
  }
  // A DIFFERENTIAL backup given as FULL says so, rather than failing the check
  // as "not a database".
  uint8_t head[32] = {};
  const ssize_t got = ::pread(restored.fd(), head, sizeof head, 0);
  if (got < 0) return PosixError("read " + temp, errno);
  if (sqlite::StartsAsDifferential(ByteView(head, static_cast<size_t>(got)))) {
    return sqlite::BackupTypeMismatch(/*found_differential=*/true);
  }
  RETURN_IF_ERROR(CheckIntegrity(temp, name));
  RETURN_IF_ERROR(SyncFile(temp));
  // The last moment a cancel can take effect: from here on the database appears.
  RETURN_IF_ERROR(Interrupted());
  if (!options.norecovery) {
    RETURN_IF_ERROR(LinkNoClobber(temp, name, Kind::kOnline, /*ending_restore=*/false));
    // Base manifests of an earlier database of this name describe other content.
    ::unlink(BasePath(name).c_str());
    ::unlink(FilePath(name, Kind::kPendingBase).c_str());
    return SyncDirectory(dir_);
  }
  // Restoring: the chain file (what it was restored from) is ready before the
  // database appears under its restoring name.
  Chain chain;
  chain.full = digester.Finish();
  ASSIGN_OR_RETURN(TemporaryFile chain_file, TemporaryFile::Create(dir_, "restore"));
  const std::string chain_temp = chain_file.path();
  RETURN_IF_ERROR(WriteAndSync(chain_temp, EncodeChain(chain)));
  RETURN_IF_ERROR(LinkNoClobber(temp, name, Kind::kRestoring, /*ending_restore=*/false));
  if (::rename(chain_temp.c_str(), ChainPath(name).c_str()) != 0) {
    Status error = PosixError("rename " + chain_temp + " to " + ChainPath(name), errno);
    ::unlink(RestoringPath(name).c_str());
    SyncDirectory(dir_).IgnoreError();
    return error;
  }
  chain_file.Release();
  return SyncDirectory(dir_);
}

Status SqliteEngine::RestoreDifferential(std::string_view target, ByteSource& source,
                                         const RestoreOptions& options) {
  ASSIGN_OR_RETURN(std::string name, FindRestoring(target));
  const std::string restoring = RestoringPath(name);
  Chain chain = ReadChain(ChainPath(name));
  ASSIGN_OR_RETURN(sqlite::DifferentialHeader header, sqlite::ReadDifferentialHeader(source));
  if (chain.differential) {
    return Status(StatusCode::kFailedPrecondition, "DifferentialAlreadyRestored",
                  "A DIFFERENTIAL backup was already restored to " + name +
                      ": a restore chain holds at most one; finish the restore, or restore the "
                      "FULL backup again");
  }
  if (!chain.full || *chain.full != header.base_digest) {
    return BaseMismatch("The DIFFERENTIAL backup is not based on the FULL backup " + name +
                        " was restored from");
  }
  int raw = ::open(restoring.c_str(), O_RDONLY | O_CLOEXEC);
  if (raw < 0) return PosixError("open " + restoring, errno);
  UniqueFd base(raw);
  struct stat st {};
  if (::fstat(base.get(), &st) != 0) return PosixError("stat " + restoring, errno);
  if (static_cast<uint64_t>(st.st_size) != uint64_t{header.base_pages} * header.page_size) {
    return BaseMismatch("The restoring copy of " + name +
                        " no longer matches the FULL backup it was restored from");
  }

  ASSIGN_OR_RETURN(TemporaryFile restored, TemporaryFile::Create(dir_, "restore"));
  const std::string temp = restored.path();
  {
    raw = ::open(temp.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
    if (raw < 0) return PosixError("open " + temp, errno);
    UniqueFd out(raw);
    ASSIGN_OR_RETURN(Digest result,
                     sqlite::ApplyDifferential(header, source, base.get(), out.get()));
    chain.differential = result;
    if (::fsync(out.get()) != 0) return PosixError("fsync " + temp, errno);
    if (::close(out.release()) != 0) return PosixError("close " + temp, errno);
  }
  RETURN_IF_ERROR(CheckIntegrity(temp, name));
  RETURN_IF_ERROR(SyncFile(temp));
  RETURN_IF_ERROR(Interrupted());  // as in RestoreFull: the last moment a cancel counts
  if (!options.norecovery) return BringOnline(temp, name);
  // Still restoring: the rebuilt copy replaces the old one in one rename, then
  // the chain file, written beforehand, records that a DIFFERENTIAL backup was
  // applied. Should the second rename not happen (a crash), a second
  // DIFFERENTIAL backup would still be accepted only if it rebuilt exactly its
  // own snapshot, which ApplyDifferential requires.
  ASSIGN_OR_RETURN(TemporaryFile chain_file, TemporaryFile::Create(dir_, "restore"));
  const std::string chain_temp = chain_file.path();
  RETURN_IF_ERROR(WriteAndSync(chain_temp, EncodeChain(chain)));
  if (::rename(temp.c_str(), restoring.c_str()) != 0) {
    return PosixError("rename " + temp + " to " + restoring, errno);
  }
  restored.Release();
  if (::rename(chain_temp.c_str(), ChainPath(name).c_str()) != 0) {
    return PosixError("rename " + chain_temp + " to " + ChainPath(name), errno);
  }
  chain_file.Release();
  return SyncDirectory(dir_);
}

Status SqliteEngine::FinishRestore(std::string_view target) {
  ASSIGN_OR_RETURN(std::string name, FindRestoring(target));
  const std::string restoring = RestoringPath(name);
  RETURN_IF_ERROR(CheckIntegrity(restoring, name));
  RETURN_IF_ERROR(SyncFile(restoring));
  return BringOnline(restoring, name);
}

Result<int> SqliteEngine::RemoveLeftovers() {
  ASSIGN_OR_RETURN(int removed, RemoveAbandonedFiles(dir_, IsTemporaryName));
  // Then the companions SQLite kept beside temporary files that are gone: one
  // whose file is still there belongs to it, in use or just removed above.
  ASSIGN_OR_RETURN(int companions, RemoveAbandonedFiles(dir_, [&](std::string_view file) {
                     for (std::string_view suffix : kCompanionSuffixes) {
                       if (!file.ends_with(suffix)) continue;
                       std::string_view of = file.substr(0, file.size() - suffix.size());
                       struct stat st {};
                       return IsTemporaryName(of) &&
                              ::lstat((dir_ + "/" + std::string(of)).c_str(), &st) != 0 &&
                              errno == ENOENT;
                     }
                     return false;
                   }));
  return removed + companions;
}

Result<std::string> SqliteEngine::DropDatabase(std::string_view database) {
  RETURN_IF_ERROR(ValidateDatabaseName(database));
  ASSIGN_OR_RETURN(std::vector<Entry> entries, Scan());
  std::vector<std::string> online, restoring;
  for (const Entry& e : entries) {
    if (e.kind == Kind::kOnline) online.push_back(e.name);
    if (e.kind == Kind::kRestoring) restoring.push_back(e.name);
  }
  Result<std::string> name = PickDatabase(online, database);
  if (!name.ok()) {
    if (name.status().code() != StatusCode::kNotFound) return name.status();
    ASSIGN_OR_RETURN(std::string restoring_name, PickDatabase(restoring, database));
    RETURN_IF_ERROR(DropRestoring(restoring_name));
    return restoring_name;
  }
  // What the engine keeps beside it first: a crash in between leaves a
  // database without a base (the next DIFFERENTIAL asks for a FULL), never a
  // base without its database. A restoring copy of the same name exists only
  // after a crash inside FinishRestore; it goes too, or the name would come back.
  RETURN_IF_ERROR(RemoveKeptFiles(*name));
  RETURN_IF_ERROR(RemoveDatabaseFiles(DatabasePath(*name)));
  RETURN_IF_ERROR(SyncDirectory(dir_));
  return *name;
}

Status SqliteEngine::DropRestoring(std::string_view target) {
  RETURN_IF_ERROR(ValidateDatabaseName(target));
  ASSIGN_OR_RETURN(std::optional<std::string> name, Find(target, Kind::kRestoring));
  if (!name) {
    return Status(StatusCode::kNotFound, "DatabaseNotFound",
                  "No database " + std::string(target) + " is in the restoring state");
  }
  ::unlink(ChainPath(*name).c_str());
  RemoveDatabaseFiles(RestoringPath(*name)).IgnoreError();
  return SyncDirectory(dir_);
}

Status SqliteEngine::RemoveKeptFiles(const std::string& name) const {
  for (const std::string& path :
       {BasePath(name), FilePath(name, Kind::kPendingBase), ChainPath(name)}) {
    RETURN_IF_ERROR(RemoveIfPresent(path));
  }
  return RemoveDatabaseFiles(RestoringPath(name));
}

}  // namespace coffer::engines
