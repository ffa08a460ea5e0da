#pragma once
// DatabaseEngine: how the backup service reaches the databases of one
// instance (ARCHITECTURE "Backups"): a consistent snapshot of a database as a
// byte stream, and a restore of such a stream into a new database that
// appears under its name only once complete and checked.
//
// Contract, for every engine:
//  - Backups write a snapshot consistent as of one moment while the database
//    stays in use, in bounded memory, and do not close the sink.
//  - A FULL backup becomes the base of later DIFFERENTIAL backups only once
//    the service calls CommitFullBackup (after the object is stored): a FULL
//    backup that failed to upload never becomes a base.
//  - RestoreFull creates `target`, which must not exist (AlreadyExists
//    otherwise, and nothing is touched); names are compared case-insensitively
//    ("Customers" exists when "customers" does), a database in the restoring
//    state counts as existing. It restores under a temporary name and renames
//    only after the stream ended and the engine's check passed. After any
//    failure no database of the target name exists and nothing is left.
//  - With `norecovery` the restored database stays in the restoring state: it
//    is kept under a staging name, not listed, until a DIFFERENTIAL restore
//    (RestoreDifferential) or FinishRestore brings it online. A restore chain
//    is FULL (norecovery) → at most one DIFFERENTIAL → online.
//  - Database names are checked by ValidateDatabaseName before anything else.
// Engines are safe for concurrent use on different databases.
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "common/stream.h"

namespace coffer::engines {

// 1–128 characters of A–Z a–z 0–9 _ - (a SQL Server database name, less the
// characters that would need quoting in a file name). kInvalidArgument otherwise.
Status ValidateDatabaseName(std::string_view name);

struct RestoreOptions {
  // Leave the database in the restoring state (RDS's @with_norecovery=1).
  bool norecovery = false;
};

// The one of `names` that `database` names: an exact match, else the only one
// equal to it but for case. NotFound "DatabaseNotFound" when none is;
// FailedPrecondition "AmbiguousDatabaseName" when several are, but for case.
Result<std::string> PickDatabase(const std::vector<std::string>& names, std::string_view database);

class DatabaseEngine {
 public:
  virtual ~DatabaseEngine() = default;

  // "sqlite", "postgres".
  virtual std::string_view name() const = 0;
  // The engine's version, recorded in a backup ("3.40.1", "15.18").
  virtual std::string version() const = 0;

  // Online databases, sorted by name (restoring ones are not listed).
  virtual Result<std::vector<std::string>> ListDatabases() = 0;
  // True when an online or restoring database has this name, compared
  // case-insensitively.
  virtual Result<bool> Exists(std::string_view database) = 0;
  // The database's size in bytes as the engine stores it, for progress: 0 when
  // not known.
  virtual Result<uint64_t> DatabaseSize(std::string_view /*database*/) { return uint64_t{0}; }

  // NotFound "DatabaseNotFound" "Database <name> does not exist" for a missing
  // database.
  virtual Status BackupFull(std::string_view database, ByteSink& sink) = 0;
  // Called once the FULL backup just taken of `database` is stored: it becomes
  // the base of the next DIFFERENTIAL backups. Engines without differentials do
  // nothing.
  virtual Status CommitFullBackup(std::string_view database) = 0;
  // The changes since the committed FULL base. FailedPrecondition
  // "NoDifferentialBase" when there is none; Unimplemented
  // "DifferentialNotSupported" for an engine without differentials.
  virtual Status BackupDifferential(std::string_view database, ByteSink& sink) = 0;

  virtual Status RestoreFull(std::string_view target, ByteSource& source,
                             const RestoreOptions& options) = 0;
  // Applies a DIFFERENTIAL backup to `target`, which must be in the restoring
  // state (FailedPrecondition "DatabaseNotRestoring" otherwise) and restored from
  // the differential's own FULL base (DataLoss "DifferentialBaseMismatch"
  // otherwise). After a failure `target` stays as it was, still restoring.
  virtual Status RestoreDifferential(std::string_view target, ByteSource& source,
                                     const RestoreOptions& options) = 0;
  // Brings a restoring database online (RDS's rds_finish_restore), after the
  // engine's check. FailedPrecondition "DatabaseNotRestoring" when it is not.
  virtual Status FinishRestore(std::string_view target) = 0;
  // Removes a database in the restoring state (a chain given up); NotFound when
  // there is none.
  virtual Status DropRestoring(std::string_view target) = 0;
  // Removes a database (RDS's rds_drop_database), online or in the restoring
  // state, with what the engine keeps for it (the base of its differential
  // backups), and returns its name as it was. The name is compared
  // case-insensitively; an exact match wins, and several that differ only by
  // case are refused (FailedPrecondition "AmbiguousDatabaseName"). Sessions
  // still open on it are ended. NotFound "DatabaseNotFound" when there is none.
  virtual Result<std::string> DropDatabase(std::string_view database) = 0;

  // Removes the temporary files that backups and restores cut short by a crash
  // left in the instance; those of operations still running, in this process or
  // another, stay. Returns how many files were removed. Engines that keep no
  // such files do nothing.
  virtual Result<int> RemoveLeftovers() { return 0; }

  // The caller's stop signal (a task cancelled, the server stopping): a wait
  // inside the engine, for a database another connection holds locked, polls
  // it and ends with its error. Unset: nothing interrupts.
  void set_interrupt(std::function<Status()> check) { interrupt_ = std::move(check); }

 protected:
  Status Interrupted() const { return interrupt_ ? interrupt_() : Status::Ok(); }

 private:
  std::function<Status()> interrupt_;
};

}  // namespace coffer::engines
