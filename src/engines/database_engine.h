#pragma once
// DatabaseEngine: how the backup service reaches the databases of one
// instance (ARCHITECTURE "Backups"): a consistent FULL snapshot of a database
// as a byte stream, and a restore of such a stream into a new database that
// appears under its name only once complete and checked.
//
// Contract, for every engine:
//  - BackupFull writes a snapshot consistent as of one moment while the
//    database stays in use, in bounded memory, and does not close the sink.
//  - RestoreFull creates `target`, which must not exist (AlreadyExists
//    otherwise, and nothing is touched); it restores under a temporary name and
//    renames only after the stream ended and the engine's check passed. After
//    any failure no database of the target name exists and nothing is left.
//  - Database names are checked by ValidateDatabaseName before anything else.
// Engines are safe for concurrent use on different databases.
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "common/stream.h"

namespace coffer::engines {

// 1–128 characters of A–Z a–z 0–9 _ - (a SQL Server database name, less the
// characters that would need quoting in a file name). kInvalidArgument otherwise.
Status ValidateDatabaseName(std::string_view name);

class DatabaseEngine {
 public:
  virtual ~DatabaseEngine() = default;

  // "sqlite", "postgres".
  virtual std::string_view name() const = 0;
  // The engine's version, recorded in a backup ("3.40.1").
  virtual std::string version() const = 0;

  virtual Result<std::vector<std::string>> ListDatabases() = 0;
  virtual Result<bool> Exists(std::string_view database) = 0;

  // NotFound "Database <name> does not exist" for a missing database.
  virtual Status BackupFull(std::string_view database, ByteSink& sink) = 0;
  virtual Status RestoreFull(std::string_view target, ByteSource& source) = 0;
};

}  // namespace coffer::engines
