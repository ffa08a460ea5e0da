#pragma once
// The sqlite engine, the embedded default: an instance is a directory whose
// databases are the files NAME.db in it (mode 0600).
//
// BackupFull takes the snapshot with SQLite's online backup API into a
// temporary file beside the databases (so the database stays usable: writers
// only wait for single steps), then streams that file and removes it; memory
// stays small whatever the size, and disk use is one extra copy while the
// backup runs. RestoreFull writes the stream into a temporary file, fsyncs it,
// opens it with SQLite and requires PRAGMA integrity_check to answer "ok",
// then links it in under NAME.db only if that name is still free.
#include <memory>
#include <string>

#include "engines/database_engine.h"

namespace coffer::engines {

class SqliteEngine final : public DatabaseEngine {
 public:
  // `dir` must exist.
  static Result<std::unique_ptr<SqliteEngine>> Create(std::string dir);

  std::string_view name() const override { return "sqlite"; }
  std::string version() const override;
  Result<std::vector<std::string>> ListDatabases() override;
  Result<bool> Exists(std::string_view database) override;
  Status BackupFull(std::string_view database, ByteSink& sink) override;
  Status RestoreFull(std::string_view target, ByteSource& source) override;

  // DIR/NAME.db.
  std::string DatabasePath(std::string_view database) const;

 private:
  explicit SqliteEngine(std::string dir) : dir_(std::move(dir)) {}
  std::string dir_;
};

}  // namespace coffer::engines
