#pragma once
// The sqlite engine, the embedded default: an instance is a directory whose
// databases are the files NAME.db in it (mode 0600). Files whose names start
// with '.' are the engine's own and never databases:
//   .NAME.base             the base manifest of the committed FULL backup
//   .NAME.base.pending     that of the last FULL backup, until committed
//   .NAME.restoring        a database in the restoring state
//   .NAME.restoring.chain  what it was restored from
//   .snapshot-*, .restore-*  temporary files of a running backup or restore
//   .NAME.base.pending.tmp-*  the pending base manifest being written
// Temporary files are locked (flock) by the process using them, so that
// RemoveLeftovers removes only those a crash left.
//
// BackupFull streams a database in rollback-journal mode straight from its
// file inside a read transaction: the SHARED lock keeps writers from
// committing until the stream ends, so the file is a consistent snapshot and
// no copy is made. A WAL database (whose file alone is not its snapshot) is
// first copied with SQLite's online backup API into a temporary file beside the
// databases, which is streamed and removed. Memory stays small whatever the
// size. While it streams, it hashes every page (SHA-256) into the
// pending base manifest; CommitFullBackup makes that the base.
//
// BackupDifferential snapshots the same way and streams only the pages whose
// hash differs from the base's, plus the pages past the base's end
// (docs/formats/sqlite-differential.md). Differentials compare content, so a
// DIFFERENTIAL backup restores exactly its snapshot whatever happened to the
// database in between (even a VACUUM); only a page size change needs a new
// FULL backup.
//
// RestoreFull writes the stream into a temporary file, fsyncs it, opens it with
// SQLite and requires PRAGMA quick_check to answer "ok", then links it in
// under NAME.db (or .NAME.restoring with norecovery) only if no database of
// that name, in any case, appeared meanwhile. RestoreDifferential rebuilds the
// restoring database into a temporary file (the restoring copy is never
// written), requires the result to be exactly the snapshot the DIFFERENTIAL
// backup was taken from and to pass the integrity check, then replaces the
// restoring copy or brings it online.
//
// Operations on one database are not meant to run concurrently with each other
// (the backup service runs one at a time per database); on different databases
// they may.
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "engines/database_engine.h"

struct sqlite3;

namespace coffer::engines {

class SqliteEngine final : public DatabaseEngine {
 public:
  // `dir` must exist.
  static Result<std::unique_ptr<SqliteEngine>> Create(std::string dir);

  std::string_view name() const override { return "sqlite"; }
  // How long a backup waits for a database another connection holds locked
  // before it fails with "DatabaseLocked".
  static constexpr std::chrono::milliseconds kDefaultLockTimeout{10'000};
  void set_lock_timeout(std::chrono::milliseconds timeout) { lock_timeout_ = timeout; }
  std::string version() const override;
  Result<std::vector<std::string>> ListDatabases() override;
  Result<bool> Exists(std::string_view database) override;
  // The size of the database file.
  Result<uint64_t> DatabaseSize(std::string_view database) override;
  Status BackupFull(std::string_view database, ByteSink& sink) override;
  Status CommitFullBackup(std::string_view database) override;
  Status BackupDifferential(std::string_view database, ByteSink& sink) override;
  Status RestoreFull(std::string_view target, ByteSource& source,
                     const RestoreOptions& options) override;
  Status RestoreDifferential(std::string_view target, ByteSource& source,
                             const RestoreOptions& options) override;
  Status FinishRestore(std::string_view target) override;
  Status DropRestoring(std::string_view target) override;
  // Removes the database file and the files SQLite keeps beside it, and its
  // differential base. A process that still has the file open keeps writing
  // to a file that no longer has a name.
  Result<std::string> DropDatabase(std::string_view database) override;
  // The temporary files above (and the -journal, -wal, -shm files SQLite kept
  // beside them) that no process has locked.
  Result<int> RemoveLeftovers() override;

  // DIR/NAME.db.
  std::string DatabasePath(std::string_view database) const;
  // DIR/.NAME.restoring: the file of a database in the restoring state.
  std::string RestoringPath(std::string_view database) const;

 private:
  explicit SqliteEngine(std::string dir) : dir_(std::move(dir)) {}

  enum class Kind { kOnline, kRestoring, kPendingBase };
  struct Entry {
    std::string name;
    Kind kind;
  };
  Result<std::vector<Entry>> Scan() const;
  // The name on disk of a database of this kind whose name equals `name`
  // case-insensitively (an exact match first), or nullopt.
  Result<std::optional<std::string>> Find(std::string_view name, Kind kind) const;
  // The name on disk of the online database `database`; NotFound
  // "DatabaseNotFound" or FailedPrecondition "DatabaseRestoring" otherwise.
  Result<std::string> FindOnline(std::string_view database) const;
  // The name on disk of the restoring database `target`, or FailedPrecondition
  // "DatabaseNotRestoring".
  Result<std::string> FindRestoring(std::string_view target) const;
  // Links `from` to the file of `name` as `kind`; AlreadyExists when another
  // database of that name (in any case, in either state) exists, except the
  // restoring copy of `name` itself when `ending_restore`.
  Status LinkNoClobber(const std::string& from, const std::string& name, Kind kind,
                       bool ending_restore) const;
  // Unavailable "DatabaseLocked" for `name`, or the interruption when there is one.
  Status Locked(const std::string& name) const;
  // Takes a consistent copy of the online database `name` into `temp`.
  Status Snapshot(const std::string& name, const std::string& temp) const;
  // Makes `db` wait for locks as the busy timeout would, but stop waiting at
  // once when the caller's interrupt (set_interrupt) says so.
  void WaitInterruptibly(sqlite3* db) const;
  static int BusyWait(void* engine, int waited);
  // Brings `from` (a checked database: the restoring copy of `name`, or one
  // rebuilt from it) online as `name`, then removes the restoring copy.
  Status BringOnline(const std::string& temp, const std::string& name) const;

  std::string FilePath(std::string_view name, Kind kind) const;
  std::string BasePath(std::string_view name) const;
  std::string ChainPath(std::string_view name) const;
  // Removes what the engine keeps beside the database `name` other than its
  // file: the base manifests of its DIFFERENTIAL backups, and a restoring copy
  // with its chain. Files not there are fine.
  Status RemoveKeptFiles(const std::string& name) const;

  std::string dir_;
  std::chrono::milliseconds lock_timeout_ = kDefaultLockTimeout;
};

}  // namespace coffer::engines
