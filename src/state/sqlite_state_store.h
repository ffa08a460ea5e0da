#pragma once
// The SQLite implementation of StateStore: one database file in WAL mode with
// synchronous=FULL, so a committed transaction is on disk before Update()
// returns.
//
// The schema carries a version (PRAGMA user_version); Open() applies pending
// migrations in one transaction and refuses a file written by a newer coffer.
// A file that is not a coffer store is refused and left unchanged.
//
// A coffer store is marked with PRAGMA application_id; a file that is neither
// empty nor so marked is refused (kFailedPrecondition), as is one whose
// user_version is newer than CurrentSchemaVersion(). Files are created with
// mode 0600.
//
// Concurrency: one SQLite connection guarded by a mutex, so the transactions
// of one process run one at a time (a View() waits for a running Update() and
// the other way round); other processes are serialized by SQLite's locks. The
// function passed to Update() or View() must not call Update() or View() on the
// same store: such a call fails with kInternal. The Transaction it receives is
// valid only until it returns.
//
// Errors: SQLITE_BUSY/LOCKED → kUnavailable (retry), SQLITE_CORRUPT/NOTADB →
// kDataLoss, anything else → kInternal, each with SQLite's message. After a
// failed statement every later call in the same transaction returns that error
// and Update() rolls back even if the function returned OK.
#include <memory>
#include <string>

#include "state/state_store.h"

namespace coffer::state {

struct SqliteOptions {
  // Holds SQLite's file locks for the life of the store (PRAGMA locking_mode =
  // EXCLUSIVE): no other process can open the file meanwhile, and transactions
  // skip the per-transaction fcntl locks and the shared-memory index, which
  // makes them several times cheaper. For a server that owns its data directory.
  bool exclusive = false;
  // false: for derived data that its owner rebuilds. Nothing is ever synced
  // (PRAGMA synchronous = OFF) and there is no write-ahead log: the rollback
  // journal is kept in memory (PRAGMA journal_mode = MEMORY), so a commit writes
  // each page once, into the file, instead of into the log and again at the
  // checkpoint. A process that dies in the middle of a commit, an operating
  // system crash or a power loss may leave the file damaged: the owner must then
  // throw it away (the server does so for the audit index unless it was closed
  // cleanly).
  bool durable = true;
  // Up to this many bytes of values found by Get are kept in memory and
  // answered without SQLite. Only with `exclusive`: every write then goes
  // through this object, which drops the entries a transaction wrote. 0: none.
  size_t read_cache_bytes = 0;
  // SQLite's page cache of this connection, in bytes (PRAGMA cache_size); 0:
  // SQLite's default (2 MB).
  size_t page_cache_bytes = 0;
};

class SqliteStateStore final : public StateStore {
 public:
  // Opens or creates the store at `path` (file mode 0600).
  static Result<std::unique_ptr<SqliteStateStore>> Open(const std::string& path,
                                                        SqliteOptions options = {});
  ~SqliteStateStore() override;

  Status Update(const std::function<Status(Transaction&)>& fn) override;
  // Commits with synchronous=NORMAL: in WAL mode the commit is not fsynced (the
  // WAL is, at the next checkpoint or durable commit).
  Status UpdateRebuildable(const std::function<Status(Transaction&)>& fn) override;
  Status View(const std::function<Status(const ReadTransaction&)>& fn) const override;

  // The schema version this build writes.
  static int CurrentSchemaVersion();

  struct Impl;

 private:
  explicit SqliteStateStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace coffer::state
