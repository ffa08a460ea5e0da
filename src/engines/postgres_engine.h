#pragma once
// The postgres engine: the databases of a real PostgreSQL server, reached with
// libpq (the catalogue, CREATE/ALTER/DROP DATABASE) and the client tools
// pg_dump and pg_restore (the data).
//
// A FULL backup is the output of `pg_dump --format=custom --compress=0`: one
// snapshot (pg_dump's repeatable-read transaction) while the database stays in
// use, streamed from the child's standard output into the sink in bounded
// memory, uncompressed so that coffer's pipeline compresses it in parallel. It
// stays a plain pg_dump archive: `pg_restore` restores it by hand, without
// coffer. The archive's header records the server's version, and version()
// is what the service records beside it.
//
// RestoreFull creates the staging database StagingName(target) from
// template0, has `pg_restore --no-owner --exit-on-error` read the stream on
// its standard input, and renames the staging database to `target` only after
// pg_restore succeeded and the stream ended, and only if no database of that
// name (compared case-insensitively) appeared meanwhile. After any failure the
// staging database is dropped (its sessions terminated). Database-level
// properties (ACL, settings, comment) are not restored: pg_restore applies
// them only with --create, which would restore under the original name.
//
// With norecovery the restored database stays under its staging name, closed
// to connections (ALLOW_CONNECTIONS false), its comment recording the target:
// FinishRestore opens and renames it, DropRestoring drops it. Staging names
// derive from the lower-cased target, so concurrent restores of one name
// (whatever its case) meet on one staging database and all but the first are
// refused; they are never listed, and a staging name counts as its target in
// Exists. PostgreSQL names are at most 63 bytes: longer targets are refused.
//
// DIFFERENTIAL backups are refused (pg_dump has none).
//
// The password of the DSN reaches the client tools in their environment
// (PGPASSWORD), never on their command line or in a message (an sslpassword,
// which has no variable, does not reach them: use an unencrypted client key or
// a password). Every operation
// opens its own connection, so the engine is safe for concurrent use.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engines/database_engine.h"

namespace coffer::engines {

struct PostgresOptions {
  // The directory of pg_dump and pg_restore. Empty: the client tools of the
  // server's major version in Debian's layout (/usr/lib/postgresql/N/bin) when
  // they are there, else pg_dump and pg_restore on PATH.
  std::string tools_dir;
};

class PostgresEngine final : public DatabaseEngine {
 public:
  // `dsn`: a libpq connection string ("host=… port=… user=… dbname=postgres")
  // or URI, naming the maintenance database the engine connects to. The role
  // needs CREATEDB (restores) and CONNECT on the databases it backs up.
  // Connects once to read the server's version.
  static Result<std::unique_ptr<PostgresEngine>> Create(const std::string& dsn,
                                                        PostgresOptions options = {});
  ~PostgresEngine() override;

  std::string_view name() const override { return "postgres"; }
  // The server's version ("15.18").
  std::string version() const override { return version_; }

  // Non-template databases the role may connect to, except `postgres`, staging
  // databases and names ValidateDatabaseName refuses, sorted.
  Result<std::vector<std::string>> ListDatabases() override;
  Result<bool> Exists(std::string_view database) override;
  // pg_database_size: what the server stores, indexes included (a dump is
  // smaller), for progress only.
  Result<uint64_t> DatabaseSize(std::string_view database) override;

  Status BackupFull(std::string_view database, ByteSink& sink) override;
  // Nothing to do: there are no differentials.
  Status CommitFullBackup(std::string_view database) override;
  Status BackupDifferential(std::string_view database, ByteSink& sink) override;

  Status RestoreFull(std::string_view target, ByteSource& source,
                     const RestoreOptions& options) override;
  Status RestoreDifferential(std::string_view target, ByteSource& source,
                             const RestoreOptions& options) override;
  Status FinishRestore(std::string_view target) override;
  // Drops the staging database of `target`: one restored with norecovery, or
  // one a crashed restore left behind (a restore still running fails).
  Status DropRestoring(std::string_view target) override;
  // DROP DATABASE … WITH (FORCE) (before PostgreSQL 13: its sessions ended
  // first), of a database ListDatabases lists: never "postgres", a template,
  // the DSN's own database or a staging database.
  Result<std::string> DropDatabase(std::string_view database) override;

  // "coffer_restoring_" and 16 hex digits of a hash of the lower-cased target.
  static std::string StagingName(std::string_view target);
  // The client tools in use.
  const std::string& pg_dump_path() const { return pg_dump_; }
  const std::string& pg_restore_path() const { return pg_restore_; }

 private:
  class Connection;

  PostgresEngine() = default;
  // A new connection to the maintenance database.
  Result<std::unique_ptr<Connection>> Connect() const;
  // libpq's connection string for the tools, without the password, for `database`.
  std::string ToolConninfo(const std::string& database) const;
  // The environment of the tools: ours, with PGPASSWORD when the DSN has a password.
  std::vector<std::string> ToolEnvironment() const;
  // Drops `database` (its exact name), ending its sessions.
  Status DropNamed(Connection& conn, const std::string& database) const;
  // Drops a staging database after a failed restore, logging what goes wrong.
  void DropStaging(const std::string& staging) const;

  // The DSN's parameters (keyword, value), without the password.
  std::vector<std::pair<std::string, std::string>> params_;
  std::string password_;
  bool has_password_ = false;
  std::string version_;
  int version_num_ = 0;
  std::string pg_dump_;
  std::string pg_restore_;
};

}  // namespace coffer::engines
