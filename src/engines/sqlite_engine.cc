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

#include "common/files.h"

namespace coffer::engines {
namespace {

constexpr std::string_view kSuffix = ".db";
constexpr unsigned kFileMode = 0600;
// Pages copied per step of the online backup: writers of the source wait at
// most one step.
constexpr int kPagesPerStep = 1024;
constexpr auto kBusyWait = std::chrono::milliseconds(5);

Status SqliteError(sqlite3* db, int rc, const std::string& what) {
  std::string message = what + ": " + (db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  if (rc == SQLITE_NOTADB || rc == SQLITE_CORRUPT) return DataLossError(std::move(message));
  return InternalError(std::move(message));
}

struct Db {
  sqlite3* db = nullptr;
  ~Db() { sqlite3_close_v2(db); }
};

Status Open(const std::string& path, int flags, Db& out) {
  int rc = sqlite3_open_v2(path.c_str(), &out.db, flags, nullptr);
  if (rc != SQLITE_OK) return SqliteError(out.db, rc, "open " + path);
  sqlite3_busy_timeout(out.db, 10000);
  return Status::Ok();
}

// A unique temporary file name in `dir`, starting with '.' (never a database).
Result<std::string> TemporaryFile(const std::string& dir, std::string_view kind) {
  std::string path = dir + "/." + std::string(kind) + "-XXXXXX";
  int fd = ::mkostemp(path.data(), O_CLOEXEC);
  if (fd < 0) return PosixError("create a temporary file in " + dir, errno);
  ::fchmod(fd, kFileMode);
  ::close(fd);
  return path;
}

class RemoveOnExit {
 public:
  explicit RemoveOnExit(std::string path) : path_(std::move(path)) {}
  ~RemoveOnExit() {
    if (path_.empty()) return;
    for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
      ::unlink((path_ + suffix).c_str());
    }
  }

 private:
  std::string path_;
};

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

Result<std::unique_ptr<SqliteEngine>> SqliteEngine::Create(std::string dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) return PosixError("instance directory " + dir, errno);
  if (!S_ISDIR(st.st_mode)) return FailedPreconditionError(dir + " is not a directory");
  return std::unique_ptr<SqliteEngine>(new SqliteEngine(std::move(dir)));
}

std::string SqliteEngine::version() const { return sqlite3_libversion(); }

std::string SqliteEngine::DatabasePath(std::string_view database) const {
  return dir_ + "/" + std::string(database) + std::string(kSuffix);
}

Result<std::vector<std::string>> SqliteEngine::ListDatabases() {
  DIR* d = ::opendir(dir_.c_str());
  if (d == nullptr) return PosixError("open directory " + dir_, errno);
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d)) {
    std::string_view file(e->d_name);
    if (file.size() <= kSuffix.size() || !file.ends_with(kSuffix)) continue;
    std::string_view name = file.substr(0, file.size() - kSuffix.size());
    if (ValidateDatabaseName(name).ok()) names.emplace_back(name);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

Result<bool> SqliteEngine::Exists(std::string_view database) {
  RETURN_IF_ERROR(ValidateDatabaseName(database));
  struct stat st {};
  if (::stat(DatabasePath(database).c_str(), &st) == 0) return true;
  if (errno == ENOENT) return false;
  return PosixError("stat " + DatabasePath(database), errno);
}

Status SqliteEngine::BackupFull(std::string_view database, ByteSink& sink) {
  ASSIGN_OR_RETURN(bool exists, Exists(database));
  if (!exists) {
    return Status(StatusCode::kNotFound, "DatabaseNotFound",
                  "Database " + std::string(database) + " does not exist");
  }
  ASSIGN_OR_RETURN(std::string temp, TemporaryFile(dir_, "snapshot"));
  RemoveOnExit remove(temp);
  {
    Db source, copy;
    RETURN_IF_ERROR(Open(DatabasePath(database), SQLITE_OPEN_READONLY, source));
    RETURN_IF_ERROR(Open(temp, SQLITE_OPEN_READWRITE, copy));
    sqlite3_backup* backup = sqlite3_backup_init(copy.db, "main", source.db, "main");
    if (backup == nullptr)
      return SqliteError(copy.db, SQLITE_ERROR, "snapshot " + std::string(database));
    int rc;
    do {
      rc = sqlite3_backup_step(backup, kPagesPerStep);
      if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) std::this_thread::sleep_for(kBusyWait);
    } while (rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED);
    sqlite3_backup_finish(backup);
    if (rc != SQLITE_DONE) return SqliteError(copy.db, rc, "snapshot " + std::string(database));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<ByteSource> file, OpenFileSource(temp));
  return PumpStream(*file, sink).status();
}

Status SqliteEngine::RestoreFull(std::string_view target, ByteSource& source) {
  ASSIGN_OR_RETURN(bool exists, Exists(target));
  const std::string path = DatabasePath(target);
  auto already = [&] {
    return Status(StatusCode::kAlreadyExists, "DatabaseAlreadyExists",
                  "Database " + std::string(target) + " already exists");
  };
  if (exists) return already();
  ASSIGN_OR_RETURN(std::string temp, TemporaryFile(dir_, "restore"));
  RemoveOnExit remove(temp);
  {
    ASSIGN_OR_RETURN(std::unique_ptr<ByteSink> out, CreateAtomicFileSink(temp, kFileMode));
    ASSIGN_OR_RETURN(uint64_t size, PumpStream(source, *out));
    RETURN_IF_ERROR(out->Close());
    if (size == 0) return DataLossError("the backup of " + std::string(target) + " is empty");
  }
  {
    // Read-write, so that closing it folds a WAL-mode database back into its one
    // file (a read-only connection would leave -wal and -shm files behind).
    Db restored;
    RETURN_IF_ERROR(Open(temp, SQLITE_OPEN_READWRITE, restored));
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v2(restored.db, "PRAGMA integrity_check", -1, &stmt, nullptr);
    if (rc != SQLITE_OK)
      return SqliteError(restored.db, rc, "check the restored " + std::string(target));
    std::string verdict;
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
      const unsigned char* text = sqlite3_column_text(stmt, 0);
      verdict = text != nullptr ? reinterpret_cast<const char*>(text) : "";
    }
    sqlite3_finalize(stmt);
    if (rc != SQLITE_ROW)
      return SqliteError(restored.db, rc, "check the restored " + std::string(target));
    if (verdict != "ok") {
      return DataLossError("the restored " + std::string(target) +
                           " fails SQLite's integrity check: " + verdict);
    }
  }
  for (const char* suffix : {"-wal", "-shm"}) ::unlink((temp + suffix).c_str());
  RETURN_IF_ERROR(SyncFile(temp));
  // link(2) fails with EEXIST instead of replacing: a database that appeared
  // meanwhile under the target name is never overwritten.
  if (::link(temp.c_str(), path.c_str()) != 0) {
    if (errno == EEXIST) return already();
    return PosixError("link " + temp + " to " + path, errno);
  }
  return SyncDirectory(dir_);
}

}  // namespace coffer::engines
