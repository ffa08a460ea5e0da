#include "engines/sqlite_engine.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <mutex>
#include <string>
#include <thread>

#include "engines/sqlite_differential.h"
#include "testing/status_matchers.h"

namespace coffer::engines {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

// Counts what is written and keeps nothing.
class CountingSink final : public ByteSink {
 public:
  Status Write(ByteView data) override {
    bytes += data.size();
    return Status::Ok();
  }
  Status Close() override { return Status::Ok(); }
  void Abort() override {}
  uint64_t bytes = 0;
};

// Fails once more than `limit` bytes were written (an upload that broke).
class FailingSink final : public ByteSink {
 public:
  explicit FailingSink(uint64_t limit) : limit_(limit) {}
  Status Write(ByteView data) override {
    written_ += data.size();
    if (written_ > limit_) return UnavailableError("the upload broke");
    return Status::Ok();
  }
  Status Close() override { return Status::Ok(); }
  void Abort() override {}

 private:
  uint64_t limit_;
  uint64_t written_ = 0;
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

class SqliteEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/coffer-engine-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    auto engine = SqliteEngine::Create(dir_);
    ASSERT_OK(engine.status());
    engine_ = std::move(engine).value();
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }

  void ExecPath(const std::string& path, const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 10000);
    char* error = nullptr;
    int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
    std::string message = error != nullptr ? error : "";
    sqlite3_free(error);
    sqlite3_close(db);
    ASSERT_EQ(rc, SQLITE_OK) << message;
  }
  void Exec(const std::string& database, const std::string& sql) {
    ExecPath(engine_->DatabasePath(database), sql);
  }

  // "rows:checksum" of the customers table.
  std::string Fingerprint(const std::string& database) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open_v2(engine_->DatabasePath(database).c_str(), &db, SQLITE_OPEN_READONLY,
                              nullptr),
              SQLITE_OK);
    sqlite3_stmt* stmt = nullptr;
    sqlite3_prepare_v2(db, "SELECT count(*), total(id * 31 + length(name)) FROM customers", -1,
                       &stmt, nullptr);
    std::string out;
    if (sqlite3_step(stmt) == SQLITE_ROW) {
      out = std::to_string(sqlite3_column_int64(stmt, 0)) + ":" +
            std::to_string(sqlite3_column_double(stmt, 1));
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return out;
  }

  // "tables:rows:checksum" over every column of every row of every table (FNV-1a
  // of the values as text, in rowid order).
  std::string RowsDigest(const std::string& database) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open_v2(engine_->DatabasePath(database).c_str(), &db, SQLITE_OPEN_READONLY,
                              nullptr),
              SQLITE_OK);
    std::vector<std::string> tables;
    sqlite3_stmt* stmt = nullptr;
    sqlite3_prepare_v2(db, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name", -1,
                       &stmt, nullptr);
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      tables.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)));
    }
    sqlite3_finalize(stmt);
    uint64_t hash = 1469598103934665603ull;
    uint64_t rows = 0;
    auto mix = [&](const void* data, size_t size) {
      for (size_t i = 0; i < size; ++i) {
        hash = (hash ^ static_cast<const uint8_t*>(data)[i]) * 1099511628211ull;
      }
    };
    for (const std::string& table : tables) {
      mix(table.data(), table.size());
      sqlite3_prepare_v2(db, ("SELECT * FROM \"" + table + "\" ORDER BY rowid").c_str(), -1, &stmt,
                         nullptr);
      while (sqlite3_step(stmt) == SQLITE_ROW) {
        ++rows;
        for (int c = 0; c < sqlite3_column_count(stmt); ++c) {
          const void* blob = sqlite3_column_blob(stmt, c);
          int size = sqlite3_column_bytes(stmt, c);
          mix(&c, sizeof c);
          if (blob != nullptr) mix(blob, static_cast<size_t>(size));
          mix(&size, sizeof size);
        }
      }
      sqlite3_finalize(stmt);
    }
    sqlite3_close(db);
    return std::to_string(tables.size()) + ":" + std::to_string(rows) + ":" + std::to_string(hash);
  }

  void MakeCustomers(const std::string& database, int rows) {
    Exec(database,
         "PRAGMA journal_mode=WAL; CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT);"
         "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < " +
             std::to_string(rows) +
             ") INSERT INTO customers SELECT i, printf('customer-%d', i) FROM n;");
  }

  std::vector<std::string> Files() {
    std::vector<std::string> names;
    FILE* p = ::popen(("ls -A " + dir_).c_str(), "r");
    char line[512];
    while (std::fgets(line, sizeof line, p) != nullptr) {
      std::string s(line);
      s.pop_back();
      names.push_back(s);
    }
    ::pclose(p);
    std::sort(names.begin(), names.end());
    return names;
  }

  // Files() less the -wal and -shm files of online databases (which SQLite
  // leaves after a read-only connection, such as those of this test).
  std::vector<std::string> EngineFiles() {
    std::vector<std::string> out;
    for (const std::string& f : Files()) {
      if (f[0] != '.' && (f.ends_with("-wal") || f.ends_with("-shm"))) continue;
      out.push_back(f);
    }
    return out;
  }

  // Files a finished operation must not leave: temporary files, and the
  // companions SQLite keeps beside a database while it is open, of the
  // engine's own files (an online database in WAL mode keeps its -wal and -shm
  // files after a read-only connection).
  std::vector<std::string> Leftovers() {
    std::vector<std::string> out;
    for (const std::string& f : Files()) {
      if (f.starts_with(".snapshot-") || f.starts_with(".restore-") ||
          f.find(".tmp") != std::string::npos ||
          (f.starts_with('.') &&
           (f.ends_with("-wal") || f.ends_with("-shm") || f.ends_with("-journal")))) {
        out.push_back(f);
      }
    }
    return out;
  }

  Bytes Full(const std::string& database) {
    Bytes out;
    auto sink = MemorySink(out);
    EXPECT_OK(engine_->BackupFull(database, *sink));
    return out;
  }
  Bytes Differential(const std::string& database) {
    Bytes out;
    auto sink = MemorySink(out);
    EXPECT_OK(engine_->BackupDifferential(database, *sink));
    return out;
  }
  Status RestoreFull(const std::string& target, const Bytes& backup, bool norecovery) {
    auto source = MemorySource(backup);
    return engine_->RestoreFull(target, *source, RestoreOptions{.norecovery = norecovery});
  }
  Status RestoreDifferential(const std::string& target, const Bytes& backup, bool norecovery) {
    auto source = MemorySource(backup);
    return engine_->RestoreDifferential(target, *source, RestoreOptions{.norecovery = norecovery});
  }
  // The restoring copy and its chain file (their sizes and hashes), to show
  // they were not touched.
  std::string RestoringState(const std::string& database) {
    std::string file = ReadFile(engine_->RestoringPath(database));
    std::string chain = ReadFile(dir_ + "/." + database + ".restoring.chain");
    return std::to_string(file.size()) + ":" + std::to_string(std::hash<std::string>()(file)) +
           "|" + chain;
  }

  std::string dir_;
  std::unique_ptr<SqliteEngine> engine_;
};

TEST_F(SqliteEngineTest, NamesAreChecked) {
  EXPECT_OK(ValidateDatabaseName("customers_2024-a"));
  for (std::string_view bad : {"", "../etc", "a b", "a.db", "x/y"}) {
    EXPECT_FALSE(ValidateDatabaseName(bad).ok()) << bad;
  }
  EXPECT_FALSE(ValidateDatabaseName(std::string(129, 'a')).ok());
  EXPECT_FALSE(engine_->Exists("../x").ok());
}

TEST_F(SqliteEngineTest, BackupAndRestoreGiveTheSameRows) {
  MakeCustomers("customers", 20000);
  Bytes backup;
  auto sink = MemorySink(backup);
  ASSERT_OK(engine_->BackupFull("customers", *sink));
  auto source = MemorySource(backup);
  ASSERT_OK(engine_->RestoreFull("restored", *source, {}));
  EXPECT_EQ(Fingerprint("restored"), Fingerprint("customers"));
  EXPECT_EQ(Fingerprint("restored").rfind("20000:", 0), 0u);
  ASSERT_OK_AND_ASSIGN(auto names, engine_->ListDatabases());
  EXPECT_THAT(names, ElementsAre("customers", "restored"));
  struct stat st {};
  ASSERT_EQ(::stat(engine_->DatabasePath("restored").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // No temporary file is left; the pending base manifest waits for a commit.
  EXPECT_THAT(Leftovers(), IsEmpty());
  EXPECT_THAT(EngineFiles(), ElementsAre(".customers.base.pending", "customers.db", "restored.db"));
}

TEST_F(SqliteEngineTest, TheSnapshotIsConsistentWhileWritersRun) {
  MakeCustomers("busy", 5000);
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (int i = 0; !stop; ++i) {
      Exec("busy", "BEGIN; INSERT INTO customers(name) VALUES ('a" + std::to_string(i) +
                       "'); INSERT INTO customers(name) VALUES ('b" + std::to_string(i) +
                       "'); COMMIT;");
    }
  });
  Bytes backup;
  auto sink = MemorySink(backup);
  Status st = engine_->BackupFull("busy", *sink);
  stop = true;
  writer.join();
  ASSERT_OK(st);
  auto source = MemorySource(backup);
  ASSERT_OK(engine_->RestoreFull("copy", *source, {}));
  // Rows come in pairs within a transaction: a consistent snapshot holds an odd
  // number of them only if it split one.
  std::string rows = Fingerprint("copy");
  long count = std::stol(rows.substr(0, rows.find(':')));
  EXPECT_GE(count, 5000);
  EXPECT_EQ((count - 5000) % 2, 0) << rows;
}

TEST_F(SqliteEngineTest, ABackupOfADatabaseLockedTooLongFailsAndLeavesNothing) {
  using Clock = std::chrono::steady_clock;
  // The limit counts from the first wait: not once per step that waits.
  engine_->set_lock_timeout(std::chrono::milliseconds(600));
  for (const std::string mode : {"DELETE", "WAL"}) {
    SCOPED_TRACE(mode);
    const std::string name = "locked_" + mode;
    MakeCustomers(name, 100);
    Exec(name, "PRAGMA journal_mode=" + mode);
    Full(name);
    ASSERT_OK(engine_->CommitFullBackup(name));
    // Another connection takes the write lock and, in exclusive locking mode,
    // keeps it until it closes: no reader gets in meanwhile.
    sqlite3* holder = nullptr;
    ASSERT_EQ(sqlite3_open(engine_->DatabasePath(name).c_str(), &holder), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(holder,
                           "PRAGMA locking_mode=EXCLUSIVE; "
                           "INSERT INTO customers(name) VALUES ('held');",
                           nullptr, nullptr, nullptr),
              SQLITE_OK);
    const std::string message = "Database " + name +
                                " stayed locked by another connection for 600 ms; nothing was "
                                "backed up. Try again once that connection has committed or "
                                "closed";
    for (bool full : {true, false}) {
      CountingSink sink;
      const Clock::time_point start = Clock::now();
      Status st = full ? engine_->BackupFull(name, sink) : engine_->BackupDifferential(name, sink);
      EXPECT_THAT(st, testing::IsError("DatabaseLocked", message)) << full;
      EXPECT_LT(Clock::now() - start, std::chrono::milliseconds(1100)) << full;
      EXPECT_THAT(Leftovers(), IsEmpty());
    }
    // A cancel ends the wait at once, whatever the limit.
    engine_->set_lock_timeout(std::chrono::minutes(10));
    engine_->set_interrupt(
        [] { return Status(StatusCode::kFailedPrecondition, "TaskCancelled", "cancelled"); });
    CountingSink sink;
    EXPECT_THAT(engine_->BackupFull(name, sink), testing::IsError("TaskCancelled", "cancelled"));
    engine_->set_interrupt(nullptr);
    engine_->set_lock_timeout(std::chrono::milliseconds(600));
    // Once the lock is gone, the same backups succeed.
    sqlite3_close(holder);
    Full(name);
    ASSERT_OK(engine_->CommitFullBackup(name));
    Differential(name);
    EXPECT_THAT(Leftovers(), IsEmpty());
  }
}

TEST_F(SqliteEngineTest, RestoreRefusesAnExistingNameAndTouchesNothing) {
  MakeCustomers("customers", 100);
  MakeCustomers("taken", 7);
  Bytes backup;
  auto sink = MemorySink(backup);
  ASSERT_OK(engine_->BackupFull("customers", *sink));
  auto source = MemorySource(backup);
  EXPECT_THAT(engine_->RestoreFull("taken", *source, {}),
              testing::IsError("DatabaseAlreadyExists", "Database taken already exists"));
  EXPECT_EQ(Fingerprint("taken").rfind("7:", 0), 0u);
}

TEST_F(SqliteEngineTest, ARestoreStoppedBeforeItsDatabaseAppearsCreatesNothing) {
  // A cancel that comes once the stream is read and checked still counts: the
  // database would appear only after the last check.
  MakeCustomers("customers", 100);
  Bytes backup;
  auto sink = MemorySink(backup);
  ASSERT_OK(engine_->BackupFull("customers", *sink));
  engine_->set_interrupt(
      [] { return Status(StatusCode::kFailedPrecondition, "TaskCancelled", "cancelled"); });
  for (bool norecovery : {false, true}) {
    auto source = MemorySource(backup);
    RestoreOptions options;
    options.norecovery = norecovery;
    EXPECT_THAT(engine_->RestoreFull("copy", *source, options),
                testing::IsError("TaskCancelled", "cancelled"));
    ASSERT_OK_AND_ASSIGN(bool exists, engine_->Exists("copy"));
    EXPECT_FALSE(exists);
    EXPECT_THAT(Leftovers(), IsEmpty());
  }
}

TEST_F(SqliteEngineTest, DamagedOrForeignStreamsCreateNothing) {
  MakeCustomers("customers", 3000);
  Bytes backup;
  auto sink = MemorySink(backup);
  ASSERT_OK(engine_->BackupFull("customers", *sink));

  Bytes truncated(backup.begin(), backup.begin() + backup.size() / 2);
  Bytes flipped = backup;
  flipped[flipped.size() / 2 + 100] ^= 0xff;
  Bytes garbage = ToBytes("this is not a database, just some bytes of text");
  Bytes empty;
  for (const Bytes* bad : {&truncated, &flipped, &garbage, &empty}) {
    auto source = MemorySource(*bad);
    Status st = engine_->RestoreFull("target", *source, {});
    EXPECT_FALSE(st.ok());
    ASSERT_OK_AND_ASSIGN(bool exists, engine_->Exists("target"));
    EXPECT_FALSE(exists) << st.ToString();
  }
  EXPECT_THAT(Leftovers(), IsEmpty());
}

TEST_F(SqliteEngineTest, BackupOfAMissingDatabase) {
  Bytes backup;
  auto sink = MemorySink(backup);
  EXPECT_THAT(engine_->BackupFull("nothing", *sink),
              testing::IsError("DatabaseNotFound", "Database nothing does not exist"));
}

TEST_F(SqliteEngineTest, AFullAndADifferentialRestoreEveryRow) {
  MakeCustomers("customers", 20000);
  Bytes full = Full("customers");
  ASSERT_OK(engine_->CommitFullBackup("customers"));
  // Inserts, updates and deletes, and a file that grows well past the base.
  Exec("customers",
       "UPDATE customers SET name = name || '-changed' WHERE id BETWEEN 100 AND 200;"
       "DELETE FROM customers WHERE id BETWEEN 5000 AND 5500;"
       "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)"
       "  INSERT INTO customers(name) SELECT printf('new-%d', i) FROM n;"
       "CREATE TABLE documents(id INTEGER PRIMARY KEY, body BLOB);"
       "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500)"
       "  INSERT INTO documents(body) SELECT randomblob(3000) FROM n;");
  Bytes diff = Differential("customers");

  ASSERT_OK(RestoreFull("copy", full, /*norecovery=*/true));
  ASSERT_OK_AND_ASSIGN(bool exists, engine_->Exists("copy"));
  EXPECT_TRUE(exists);
  ASSERT_OK_AND_ASSIGN(auto names, engine_->ListDatabases());
  EXPECT_THAT(names, ElementsAre("customers"));
  ASSERT_OK(RestoreDifferential("copy", diff, /*norecovery=*/false));
  EXPECT_EQ(RowsDigest("copy"), RowsDigest("customers"));
  EXPECT_EQ(RowsDigest("copy").rfind("2:", 0), 0u) << RowsDigest("copy");
  ASSERT_OK_AND_ASSIGN(names, engine_->ListDatabases());
  EXPECT_THAT(names, ElementsAre("copy", "customers"));
  struct stat st {};
  ASSERT_EQ(::stat(engine_->DatabasePath("copy").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_THAT(Leftovers(), IsEmpty());
  EXPECT_THAT(EngineFiles(), ElementsAre(".customers.base", "copy.db", "customers.db"));
}

TEST_F(SqliteEngineTest, ADifferentialAfterAVacuumShrinksTheDatabase) {
  MakeCustomers("customers", 30000);
  Bytes full = Full("customers");
  ASSERT_OK(engine_->CommitFullBackup("customers"));
  Exec("customers", "DELETE FROM customers WHERE id % 3 <> 0; VACUUM;");
  Bytes diff = Differential("customers");
  ASSERT_OK(RestoreFull("copy", full, true));
  ASSERT_OK(RestoreDifferential("copy", diff, false));
  EXPECT_EQ(RowsDigest("copy"), RowsDigest("customers"));
  EXPECT_EQ(Fingerprint("copy").rfind("10000:", 0), 0u);
  struct stat copy {
  }, source{};
  ASSERT_EQ(::stat(engine_->DatabasePath("copy").c_str(), &copy), 0);
  ASSERT_EQ(::stat(engine_->DatabasePath("customers").c_str(), &source), 0);
  EXPECT_EQ(copy.st_size, source.st_size);
  EXPECT_THAT(Leftovers(), IsEmpty());
}

// Returns at most 7 bytes per read, as a source may.
class TricklingSource final : public ByteSource {
 public:
  explicit TricklingSource(const Bytes& data) : data_(data) {}
  Result<size_t> Read(std::span<uint8_t> out) override {
    size_t n = std::min({out.size(), data_.size() - pos_, size_t{7}});
    std::memcpy(out.data(), data_.data() + pos_, n);
    pos_ += n;
    return n;
  }

 private:
  const Bytes& data_;
  size_t pos_ = 0;
};

TEST_F(SqliteEngineTest, StreamsReadInSmallPiecesRestoreTheSame) {
  MakeCustomers("customers", 3000);
  Bytes full = Full("customers");
  ASSERT_OK(engine_->CommitFullBackup("customers"));
  Exec("customers", "UPDATE customers SET name = upper(name) WHERE id % 10 = 0;");
  Bytes diff = Differential("customers");
  TricklingSource full_source(full), diff_source(diff);
  ASSERT_OK(engine_->RestoreFull("copy", full_source, {.norecovery = true}));
  ASSERT_OK(engine_->RestoreDifferential("copy", diff_source, {}));
  EXPECT_EQ(RowsDigest("copy"), RowsDigest("customers"));
}

TEST_F(SqliteEngineTest, ARestoringDatabaseWithoutItsChainTakesNoDifferential) {
  MakeCustomers("customers", 1000);
  Bytes full = Full("customers");
  ASSERT_OK(engine_->CommitFullBackup("customers"));
  Bytes diff = Differential("customers");
  ASSERT_OK(RestoreFull("copy", full, true));
  ASSERT_EQ(::unlink((dir_ + "/.copy.restoring.chain").c_str()), 0);
  EXPECT_THAT(RestoreDifferential("copy", diff, false),
              testing::IsError("DifferentialBaseMismatch",
                               "The DIFFERENTIAL backup is not based on the FULL backup copy was "
                               "restored from"));
  ASSERT_OK(engine_->FinishRestore("copy"));
  EXPECT_EQ(RowsDigest("copy"), RowsDigest("customers"));
}

TEST_F(SqliteEngineTest, ADifferentialNeedsACommittedFull) {
  Bytes out;
  auto sink = MemorySink(out);
  EXPECT_THAT(engine_->BackupDifferential("nothing", *sink),
              testing::IsError("DatabaseNotFound", "Database nothing does not exist"));
  MakeCustomers("customers", 100);
  const char* message =
      "Database customers has no FULL backup to be the base of a DIFFERENTIAL backup; take a "
      "FULL backup first";
  EXPECT_THAT(engine_->BackupDifferential("customers", *sink),
              testing::IsError("NoDifferentialBase", message));
  // A FULL backup that was not committed (its upload did not finish) is no base.
  Full("customers");
  EXPECT_THAT(engine_->BackupDifferential("customers", *sink),
              testing::IsError("NoDifferentialBase", message));
  EXPECT_THAT(Leftovers(), IsEmpty());
}

TEST_F(SqliteEngineTest, AnUncommittedFullDoesNotBecomeTheBase) {
  MakeCustomers("customers", 2000);
  Bytes first = Full("customers");
  ASSERT_OK(engine_->CommitFullBackup("customers"));
  Exec("customers", "INSERT INTO customers(name) VALUES ('after the first');");
  Bytes second = Full("customers");  // never committed
  Exec("customers", "INSERT INTO customers(name) VALUES ('after the second');");
  // A third whose upload broke: no commit possible.
  FailingSink broken(1000);
  EXPECT_FALSE(engine_->BackupFull("customers", broken).ok());
  EXPECT_THAT(
      engine_->CommitFullBackup("customers"),
      testing::IsError("NoPendingFullBackup", "No FULL backup of customers awaits its commit"));
  Bytes diff = Differential("customers");

  ASSERT_OK(RestoreFull("second", second, true));
  std::string before = RestoringState("second");
  EXPECT_THAT(RestoreDifferential("second", diff, false),
              testing::IsError("DifferentialBaseMismatch",
                               "The DIFFERENTIAL backup is not based on the FULL backup second "
                               "was restored from"));
  EXPECT_EQ(RestoringState("second"), before);

  ASSERT_OK(RestoreFull("first", first, true));
  ASSERT_OK(RestoreDifferential("first", diff, false));
  EXPECT_EQ(RowsDigest("first"), RowsDigest("customers"));
  EXPECT_EQ(Fingerprint("first").rfind("2002:", 0), 0u);
  EXPECT_THAT(Leftovers(), IsEmpty());
}

TEST_F(SqliteEngineTest, ADifferentialOfAnotherFullIsRefusedAndTouchesNothing) {
  MakeCustomers("customers", 3000);
  MakeCustomers("other", 2999);
  Full("customers");
  ASSERT_OK(engine_->CommitFullBackup("customers"));
  Bytes other = Full("other");
  ASSERT_OK(engine_->CommitFullBackup("other"));
  Exec("customers", "DELETE FROM customers WHERE id < 10;");
  Bytes diff = Differential("customers");

  ASSERT_OK(RestoreFull("target", other, true));
  std::string before = RestoringState("target");
  EXPECT_THAT(RestoreDifferential("target", diff, true),
              testing::IsError("DifferentialBaseMismatch",
                               "The DIFFERENTIAL backup is not based on the FULL backup target "
                               "was restored from"));
  EXPECT_EQ(RestoringState("target"), before);
  ASSERT_OK_AND_ASSIGN(auto names, engine_->ListDatabases());
  EXPECT_THAT(names, ElementsAre("customers", "other"));
  EXPECT_THAT(Leftovers(), IsEmpty());
  // Still restoring, and still usable.
  ASSERT_OK(engine_->FinishRestore("target"));
  EXPECT_EQ(RowsDigest("target"), RowsDigest("other"));
}

TEST_F(SqliteEngineTest, DamagedDifferentialsAreRefusedAndTouchNothing) {
  MakeCustomers("customers", 5000);
  Bytes full = Full("customers");
  ASSERT_OK(engine_->CommitFullBackup("customers"));
  Exec("customers",
       "UPDATE customers SET name = 'x' WHERE id % 50 = 0;"
       "INSERT INTO customers(name) SELECT name FROM customers WHERE id < 2000;");
  Bytes diff = Differential("customers");
  ASSERT_OK(RestoreFull("copy", full, true));
  const std::string before = RestoringState("copy");

  const size_t header = sqlite::kDifferentialHeaderSize;
  std::vector<std::pair<std::string, Bytes>> bad;
  for (size_t cut : {size_t{0}, size_t{10}, header - 1, header, header + 3, header + 500,
                     diff.size() / 2, diff.size() - 33, diff.size() - 1}) {
    bad.emplace_back("cut at " + std::to_string(cut), Bytes(diff.begin(), diff.begin() + cut));
  }
  auto flipped = [&](size_t at) {
    Bytes b = diff;
    b[at] ^= 0x01;
    return b;
  };
  bad.emplace_back("magic", flipped(0));
  bad.emplace_back("base digest", flipped(30));
  bad.emplace_back("page count", flipped(header - 1));
  bad.emplace_back("record tag", flipped(header));
  bad.emplace_back("page number", flipped(header + 4));
  bad.emplace_back("page content", flipped(header + 5 + 700));
  bad.emplace_back("late page content", flipped(diff.size() - 37 - 100));
  bad.emplace_back("end digest", flipped(diff.size() - 1));
  Bytes longer = diff;
  longer.push_back(0);
  bad.emplace_back("trailing byte", longer);
  bad.emplace_back("text", ToBytes("this is not a differential backup at all"));

  for (const auto& [what, bytes] : bad) {
    Status st = RestoreDifferential("copy", bytes, false);
    EXPECT_FALSE(st.ok()) << what;
    EXPECT_EQ(st.code(), StatusCode::kDataLoss) << what << ": " << st.ToString();
    EXPECT_EQ(RestoringState("copy"), before) << what;
    EXPECT_THAT(Leftovers(), IsEmpty()) << what;
    ASSERT_OK_AND_ASSIGN(auto names, engine_->ListDatabases());
    EXPECT_THAT(names, ElementsAre("customers")) << what;
  }
  // A FULL backup given as a DIFFERENTIAL one, and the other way round, are
  // named for what they are; nothing changes.
  EXPECT_THAT(RestoreDifferential("copy", full, false),
              testing::IsError("BackupTypeMismatch",
                               "The backup is a FULL backup, not a DIFFERENTIAL one."));
  EXPECT_EQ(RestoringState("copy"), before);
  EXPECT_THAT(RestoreFull("other", diff, false),
              testing::IsError("BackupTypeMismatch",
                               "The backup is a DIFFERENTIAL backup, not a FULL one."));
  EXPECT_THAT(Leftovers(), IsEmpty());
  ASSERT_OK_AND_ASSIGN(auto names, engine_->ListDatabases());
  EXPECT_THAT(names, ElementsAre("customers"));
  // The intact one still applies.
  ASSERT_OK(RestoreDifferential("copy", diff, false));
  EXPECT_EQ(RowsDigest("copy"), RowsDigest("customers"));
}

TEST_F(SqliteEngineTest, NorecoveryKeepsTheDatabaseRestoringUntilFinished) {
  MakeCustomers("customers", 4000);
  Bytes full = Full("customers");
  ASSERT_OK(RestoreFull("copy", full, true));
  ASSERT_OK_AND_ASSIGN(bool exists, engine_->Exists("copy"));
  EXPECT_TRUE(exists);
  ASSERT_OK_AND_ASSIGN(auto names, engine_->ListDatabases());
  EXPECT_THAT(names, ElementsAre("customers"));
  Bytes out;
  auto sink = MemorySink(out);
  EXPECT_THAT(engine_->BackupFull("copy", *sink),
              testing::IsError("DatabaseRestoring",
                               "Database copy is in the restoring state: finish or drop its "
                               "restore first"));
  EXPECT_THAT(
      engine_->FinishRestore("customers"),
      testing::IsError("DatabaseNotRestoring", "Database customers is not in the restoring state"));
  EXPECT_THAT(
      engine_->FinishRestore("missing"),
      testing::IsError("DatabaseNotRestoring", "Database missing is not in the restoring state"));

  ASSERT_OK(engine_->FinishRestore("copy"));
  ASSERT_OK_AND_ASSIGN(names, engine_->ListDatabases());
  EXPECT_THAT(names, ElementsAre("copy", "customers"));
  EXPECT_EQ(RowsDigest("copy"), RowsDigest("customers"));
  EXPECT_THAT(
      engine_->FinishRestore("copy"),
      testing::IsError("DatabaseNotRestoring", "Database copy is not in the restoring state"));
  EXPECT_THAT(EngineFiles(), ElementsAre(".customers.base.pending", "copy.db", "customers.db"));
}

TEST_F(SqliteEngineTest, ADifferentialCanLeaveTheDatabaseRestoring) {
  MakeCustomers("customers", 4000);
  Bytes full = Full("customers");
  ASSERT_OK(engine_->CommitFullBackup("customers"));
  Exec("customers", "INSERT INTO customers(name) VALUES ('one'), ('two');");
  Bytes diff = Differential("customers");
  // Only the pages that changed: the header page and the last leaf page.
  EXPECT_LT(diff.size(), 4u * 4096) << diff.size();
  ASSERT_OK(RestoreFull("copy", full, true));
  ASSERT_OK(RestoreDifferential("copy", diff, /*norecovery=*/true));
  ASSERT_OK_AND_ASSIGN(auto names, engine_->ListDatabases());
  EXPECT_THAT(names, ElementsAre("customers"));
  // At most one DIFFERENTIAL backup per chain.
  const std::string before = RestoringState("copy");
  EXPECT_THAT(RestoreDifferential("copy", diff, false),
              testing::IsError("DifferentialAlreadyRestored",
                               "A DIFFERENTIAL backup was already restored to copy: a restore "
                               "chain holds at most one; finish the restore, or restore the FULL "
                               "backup again"));
  EXPECT_EQ(RestoringState("copy"), before);
  ASSERT_OK(engine_->FinishRestore("copy"));
  EXPECT_EQ(RowsDigest("copy"), RowsDigest("customers"));
  EXPECT_EQ(Fingerprint("copy").rfind("4002:", 0), 0u);
  EXPECT_THAT(Leftovers(), IsEmpty());
}

TEST_F(SqliteEngineTest, RestoreDifferentialNeedsARestoringDatabase) {
  MakeCustomers("customers", 100);
  Full("customers");
  ASSERT_OK(engine_->CommitFullBackup("customers"));
  Bytes diff = Differential("customers");
  EXPECT_THAT(
      RestoreDifferential("customers", diff, false),
      testing::IsError("DatabaseNotRestoring", "Database customers is not in the restoring state"));
  EXPECT_THAT(
      RestoreDifferential("missing", diff, false),
      testing::IsError("DatabaseNotRestoring", "Database missing is not in the restoring state"));
  EXPECT_FALSE(RestoreDifferential("../x", diff, false).ok());
}

TEST_F(SqliteEngineTest, NamesCompareCaseInsensitively) {
  MakeCustomers("Customers", 500);
  for (const char* name : {"Customers", "customers", "CUSTOMERS"}) {
    ASSERT_OK_AND_ASSIGN(bool exists, engine_->Exists(name));
    EXPECT_TRUE(exists) << name;
  }
  ASSERT_OK_AND_ASSIGN(bool exists, engine_->Exists("customer"));
  EXPECT_FALSE(exists);
  // A backup finds the database whatever the case it is named in.
  Bytes full = Full("customers");
  ASSERT_OK(engine_->CommitFullBackup("CUSTOMERS"));
  EXPECT_THAT(RestoreFull("customers", full, false),
              testing::IsError("DatabaseAlreadyExists", "Database customers already exists"));
  EXPECT_THAT(RestoreFull("customers", full, true),
              testing::IsError("DatabaseAlreadyExists", "Database customers already exists"));

  // A restoring database too, and it keeps the name it was restored as.
  ASSERT_OK(RestoreFull("Orders", full, true));
  ASSERT_OK_AND_ASSIGN(exists, engine_->Exists("orders"));
  EXPECT_TRUE(exists);
  EXPECT_THAT(RestoreFull("ORDERS", full, false),
              testing::IsError("DatabaseAlreadyExists", "Database ORDERS already exists"));
  Exec("Customers", "INSERT INTO customers(name) VALUES ('late');");
  ASSERT_OK(RestoreDifferential("orders", Differential("customers"), true));
  ASSERT_OK(engine_->FinishRestore("ORDERS"));
  ASSERT_OK_AND_ASSIGN(auto names, engine_->ListDatabases());
  EXPECT_THAT(names, ElementsAre("Customers", "Orders"));
  EXPECT_EQ(RowsDigest("Orders"), RowsDigest("Customers"));
}

TEST_F(SqliteEngineTest, RestoreFullOntoARestoringNameIsRefused) {
  MakeCustomers("customers", 300);
  MakeCustomers("other", 30);
  Bytes full = Full("customers");
  Bytes other = Full("other");
  ASSERT_OK(RestoreFull("copy", full, true));
  const std::string before = RestoringState("copy");
  for (bool norecovery : {false, true}) {
    EXPECT_THAT(RestoreFull("copy", other, norecovery),
                testing::IsError("DatabaseAlreadyExists", "Database copy already exists"));
    EXPECT_EQ(RestoringState("copy"), before);
  }
  ASSERT_OK_AND_ASSIGN(auto names, engine_->ListDatabases());
  EXPECT_THAT(names, ElementsAre("customers", "other"));
  EXPECT_THAT(Leftovers(), IsEmpty());
}

TEST_F(SqliteEngineTest, RestoringDatabasesAreNotListed) {
  MakeCustomers("customers", 300);
  Bytes full = Full("customers");
  ASSERT_OK(RestoreFull("a", full, true));
  ASSERT_OK(RestoreFull("b", full, false));
  ASSERT_OK(RestoreFull("c", full, true));
  ASSERT_OK_AND_ASSIGN(auto names, engine_->ListDatabases());
  EXPECT_THAT(names, ElementsAre("b", "customers"));
  for (const char* name : {"a", "b", "c"}) {
    ASSERT_OK_AND_ASSIGN(bool exists, engine_->Exists(name));
    EXPECT_TRUE(exists) << name;
  }
}

TEST_F(SqliteEngineTest, DropRestoringRemovesOnlyARestoringDatabase) {
  MakeCustomers("customers", 300);
  Bytes full = Full("customers");
  ASSERT_OK(RestoreFull("copy", full, true));
  ASSERT_OK(engine_->DropRestoring("COPY"));
  ASSERT_OK_AND_ASSIGN(bool exists, engine_->Exists("copy"));
  EXPECT_FALSE(exists);
  EXPECT_THAT(engine_->DropRestoring("copy"),
              testing::IsError("DatabaseNotFound", "No database copy is in the restoring state"));
  EXPECT_THAT(
      engine_->DropRestoring("customers"),
      testing::IsError("DatabaseNotFound", "No database customers is in the restoring state"));
  EXPECT_EQ(Fingerprint("customers").rfind("300:", 0), 0u);
  EXPECT_THAT(EngineFiles(), ElementsAre(".customers.base.pending", "customers.db"));
  // The name is free again.
  ASSERT_OK(RestoreFull("copy", full, false));
}

TEST_F(SqliteEngineTest, DropDatabaseRemovesADatabaseAndItsBase) {
  MakeCustomers("customers", 300);
  MakeCustomers("orders", 10);
  Bytes full = Full("customers");
  ASSERT_OK(engine_->CommitFullBackup("customers"));
  Full("customers");  // a FULL awaiting its commit: a pending base
  ASSERT_OK(RestoreFull("copy", full, true));
  EXPECT_THAT(EngineFiles(),
              ElementsAre(".copy.restoring", ".copy.restoring.chain", ".customers.base",
                          ".customers.base.pending", "customers.db", "orders.db"));
  // Online, named in another case: the file and its differential base go,
  // and the name as it was comes back.
  EXPECT_THAT(engine_->DropDatabase("CUSTOMERS"), testing::IsOkAndHolds("customers"));
  EXPECT_THAT(EngineFiles(), ElementsAre(".copy.restoring", ".copy.restoring.chain", "orders.db"));
  // Restoring: as DropRestoring.
  EXPECT_THAT(engine_->DropDatabase("copy"), testing::IsOkAndHolds("copy"));
  EXPECT_THAT(EngineFiles(), ElementsAre("orders.db"));
  EXPECT_THAT(engine_->DropDatabase("customers"),
              testing::IsError("DatabaseNotFound", "Database customers does not exist"));
  EXPECT_EQ(engine_->DropDatabase("bad name").status().code(), StatusCode::kInvalidArgument);
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> listed, engine_->ListDatabases());
  EXPECT_THAT(listed, ElementsAre("orders"));
  // The name is free again, and a DIFFERENTIAL needs a new FULL.
  ASSERT_OK(RestoreFull("customers", full, false));
  Bytes out;
  auto sink = MemorySink(out);
  EXPECT_EQ(engine_->BackupDifferential("customers", *sink).error_name(), "NoDifferentialBase");
}

TEST_F(SqliteEngineTest, DropDatabaseTakesTheExactNameAndRefusesAnAmbiguousOne) {
  MakeCustomers("Orders", 10);
  MakeCustomers("ORDERS", 20);
  EXPECT_THAT(engine_->DropDatabase("orders"),
              testing::IsError("AmbiguousDatabaseName",
                               "Several databases are named orders but for case (ORDERS, "
                               "Orders): name one exactly"));
  EXPECT_THAT(EngineFiles(), ElementsAre("ORDERS.db", "Orders.db"));
  EXPECT_THAT(engine_->DropDatabase("Orders"), testing::IsOkAndHolds("Orders"));
  EXPECT_THAT(EngineFiles(), ElementsAre("ORDERS.db"));
}

TEST_F(SqliteEngineTest, DropDatabaseRemovesSqlitesCompanionsAndARestoringTwin) {
  MakeCustomers("customers", 50);
  Bytes full = Full("customers");
  // What a crash inside FinishRestore, and one with a hot journal, can leave.
  ASSERT_OK(RestoreFull("twin", full, true));
  ASSERT_OK(RestoreFull("twin-online", full, false));
  ASSERT_EQ(::rename((dir_ + "/twin-online.db").c_str(), (dir_ + "/twin.db").c_str()), 0);
  for (const char* suffix : {"-wal", "-journal"}) {
    std::ofstream(dir_ + "/twin.db" + suffix) << "left over";
  }
  auto twins = [&] {
    std::vector<std::string> out;
    for (const std::string& f : Files()) {
      if (f.starts_with("twin") || f.starts_with(".twin")) out.push_back(f);
    }
    return out;
  };
  EXPECT_THAT(twins(), ElementsAre(".twin.restoring", ".twin.restoring.chain", "twin.db",
                                   "twin.db-journal", "twin.db-wal"));
  EXPECT_THAT(engine_->DropDatabase("twin"), testing::IsOkAndHolds("twin"));
  EXPECT_THAT(twins(), IsEmpty());
  EXPECT_THAT(EngineFiles(), ElementsAre(".customers.base.pending", "customers.db"));
}

// A sink whose first Write waits until released, and a source whose first Read
// does: a backup or a restore caught while it runs.
class Gate {
 public:
  // Called by the operation: tells it arrived, waits to be let through.
  void Arrive() {
    std::unique_lock lock(mu_);
    arrived_ = true;
    changed_.notify_all();
    changed_.wait(lock, [&] { return open_; });
  }
  void WaitForArrival() {
    std::unique_lock lock(mu_);
    changed_.wait(lock, [&] { return arrived_; });
  }
  void Open() {
    std::lock_guard lock(mu_);
    open_ = true;
    changed_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable changed_;
  bool arrived_ = false;
  bool open_ = false;
};

class GatedSink final : public ByteSink {
 public:
  explicit GatedSink(Gate& gate) : gate_(gate) {}
  Status Write(ByteView data) override {
    if (bytes == 0) gate_.Arrive();
    bytes += data.size();
    return Status::Ok();
  }
  Status Close() override { return Status::Ok(); }
  void Abort() override {}
  uint64_t bytes = 0;

 private:
  Gate& gate_;
};

class GatedSource final : public ByteSource {
 public:
  GatedSource(Gate& gate, const Bytes& data) : gate_(gate), inner_(MemorySource(data)) {}
  Result<size_t> Read(std::span<uint8_t> out) override {
    if (!arrived_) gate_.Arrive();
    arrived_ = true;
    return inner_->Read(out);
  }

 private:
  Gate& gate_;
  std::unique_ptr<ByteSource> inner_;
  bool arrived_ = false;
};

TEST_F(SqliteEngineTest, RemoveLeftoversRemovesWhatACrashLeft) {
  MakeCustomers("customers", 300);
  // Databases whose own files look like temporary files at first sight.
  MakeCustomers("snapshot-1", 10);
  Bytes full = Full("snapshot-1");
  ASSERT_OK(engine_->CommitFullBackup("snapshot-1"));
  ASSERT_OK(RestoreFull("restore-abcdef", full, true));
  Full("customers");
  const std::vector<std::string> kept = Files();

  // What a backup and a restore killed while they ran leave: nobody holds them.
  const std::vector<std::string> left = {
      ".snapshot-Ab3dE9",                    // the snapshot
      ".snapshot-Ab3dE9-journal",            // SQLite's journal beside it
      ".customers.base.pending.tmp-x1Y2z3",  // the pending base manifest being written
      ".restore-Q9w8E7",                     // a restore's file
      ".restore-Q9w8E7.tmp-a1B2c3",          // the same, as earlier versions wrote it
      ".restore-Zz0000-wal",                 // a companion whose file was already removed
  };
  for (const std::string& name : left) std::ofstream(dir_ + "/" + name) << "partial";

  ASSERT_OK_AND_ASSIGN(int removed, engine_->RemoveLeftovers());
  EXPECT_EQ(removed, static_cast<int>(left.size()));
  EXPECT_EQ(Files(), kept);
  ASSERT_OK_AND_ASSIGN(removed, engine_->RemoveLeftovers());
  EXPECT_EQ(removed, 0);
  EXPECT_EQ(Fingerprint("snapshot-1").rfind("10:", 0), 0u);
  EXPECT_EQ(Fingerprint("customers").rfind("300:", 0), 0u);
  ASSERT_OK(engine_->FinishRestore("restore-abcdef"));
  EXPECT_EQ(RowsDigest("restore-abcdef"), RowsDigest("snapshot-1"));
  ASSERT_OK(engine_->CommitFullBackup("customers"));
}

TEST_F(SqliteEngineTest, RemoveLeftoversKeepsTheFilesOfRunningOperations) {
  MakeCustomers("customers", 5000);
  Bytes full = Full("customers");
  Gate backup_gate, restore_gate;
  GatedSink sink(backup_gate);
  GatedSource source(restore_gate, full);
  Status backed_up, restored;
  std::thread backup([&] { backed_up = engine_->BackupFull("customers", sink); });
  std::thread restore([&] { restored = engine_->RestoreFull("copy", source, {}); });
  backup_gate.WaitForArrival();
  restore_gate.WaitForArrival();
  // The snapshot, the pending base manifest being written, the restore's file.
  const std::vector<std::string> running = Leftovers();
  EXPECT_EQ(running.size(), 3u) << ::testing::PrintToString(running);

  // Another engine on the directory, as another process would see it.
  ASSERT_OK_AND_ASSIGN(auto cleaner, SqliteEngine::Create(dir_));
  ASSERT_OK_AND_ASSIGN(int removed, cleaner->RemoveLeftovers());
  EXPECT_EQ(removed, 0);
  EXPECT_EQ(Leftovers(), running);

  backup_gate.Open();
  restore_gate.Open();
  backup.join();
  restore.join();
  ASSERT_OK(backed_up);
  ASSERT_OK(restored);
  EXPECT_EQ(sink.bytes, full.size());
  EXPECT_EQ(RowsDigest("copy"), RowsDigest("customers"));
  EXPECT_THAT(Leftovers(), IsEmpty());
}

TEST_F(SqliteEngineTest, ADifferentialTakenWhileWritersRunIsConsistent) {
  MakeCustomers("busy", 5000);
  Bytes full = Full("busy");
  ASSERT_OK(engine_->CommitFullBackup("busy"));
  std::atomic<bool> stop{false};
  std::atomic<int> transactions{0};
  std::thread writer([&] {
    for (int i = 0; !stop; ++i) {
      Exec("busy", "BEGIN; INSERT INTO customers(name) VALUES ('a" + std::to_string(i) +
                       "'); INSERT INTO customers(name) VALUES ('b" + std::to_string(i) +
                       "'); COMMIT;");
      ++transactions;
    }
  });
  while (transactions < 20) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  Bytes diff;
  auto sink = MemorySink(diff);
  Status st = engine_->BackupDifferential("busy", *sink);
  stop = true;
  writer.join();
  ASSERT_OK(st);
  ASSERT_OK(RestoreFull("copy", full, true));
  ASSERT_OK(RestoreDifferential("copy", diff, false));
  // Rows come in pairs within a transaction: a consistent snapshot holds an odd
  // number of them only if it split one.
  std::string rows = Fingerprint("copy");
  long count = std::stol(rows.substr(0, rows.find(':')));
  EXPECT_GE(count, 5040);
  EXPECT_EQ((count - 5000) % 2, 0) << rows;
}

TEST_F(SqliteEngineTest, APageSizeChangeNeedsANewFull) {
  Exec("legacy",
       "PRAGMA journal_mode=DELETE; PRAGMA page_size=4096;"
       "CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT);"
       "INSERT INTO customers(name) VALUES ('a'), ('b');");
  Full("legacy");
  ASSERT_OK(engine_->CommitFullBackup("legacy"));
  Exec("legacy", "PRAGMA page_size=8192; VACUUM;");
  Bytes out;
  auto sink = MemorySink(out);
  EXPECT_THAT(engine_->BackupDifferential("legacy", *sink),
              testing::IsError("NoDifferentialBase",
                               "The page size of legacy changed since its last FULL backup (4096 "
                               "to 8192 bytes): a DIFFERENTIAL backup needs a new FULL backup "
                               "first"));
  EXPECT_THAT(Leftovers(), IsEmpty());
  // A new FULL backup is the base again.
  Full("legacy");
  ASSERT_OK(engine_->CommitFullBackup("legacy"));
  Differential("legacy");
}

TEST_F(SqliteEngineTest, ADamagedBaseManifestIsRefused) {
  MakeCustomers("customers", 2000);
  Full("customers");
  ASSERT_OK(engine_->CommitFullBackup("customers"));
  const std::string base = dir_ + "/.customers.base";
  std::string bytes = ReadFile(base);
  bytes[100] ^= 0x01;
  std::ofstream(base, std::ios::binary | std::ios::trunc) << bytes;
  Bytes out;
  auto sink = MemorySink(out);
  Status st = engine_->BackupDifferential("customers", *sink);
  EXPECT_EQ(st.code(), StatusCode::kDataLoss) << st.ToString();
  EXPECT_THAT(Leftovers(), IsEmpty());
}

TEST(SnapshotDigestTest, DoesNotDependOnHowTheStreamIsCut) {
  Bytes stream(3 * 4096 + 17);
  for (size_t i = 0; i < stream.size(); ++i) stream[i] = static_cast<uint8_t>(i * 7 + i / 251);
  std::memcpy(stream.data(), "SQLite format 3\0", 16);
  stream[16] = 0x10;  // 4096
  stream[17] = 0x00;
  int pages = 0;
  sqlite::SnapshotDigester whole([&](ByteView) {
    ++pages;
    return Status::Ok();
  });
  ASSERT_OK(whole.Update(stream));
  auto expected = whole.Finish();
  ASSERT_TRUE(expected.has_value());
  EXPECT_EQ(pages, 3);
  for (size_t step : {1, 7, 99, 100, 101, 4095, 4097, 10000}) {
    sqlite::SnapshotDigester cut;
    for (size_t i = 0; i < stream.size(); i += step) {
      ASSERT_OK(cut.Update(ByteView(stream).subspan(i, std::min(step, stream.size() - i))));
    }
    EXPECT_EQ(cut.Finish(), expected) << step;
  }
  stream[5000] ^= 1;
  sqlite::SnapshotDigester changed;
  ASSERT_OK(changed.Update(stream));
  EXPECT_NE(changed.Finish(), expected);
  sqlite::SnapshotDigester text;
  ASSERT_OK(text.Update(ToBytes("not a database")));
  EXPECT_FALSE(text.Finish().has_value());
  EXPECT_EQ(sqlite::PageSizeOf(stream), 4096u);
  stream[16] = 0x00;
  stream[17] = 0x01;
  EXPECT_EQ(sqlite::PageSizeOf(stream), 65536u);
  stream[17] = 0x03;
  EXPECT_EQ(sqlite::PageSizeOf(stream), 0u);
}

// The cost of page hashing on a large database: set COFFER_SQLITE_BENCH_DB to
// one (python3 ../shared/bench/gen_sqlite.py OUT 1073741824 makes 1 GiB).
TEST(SqliteEngineBench, PageHashingCost) {
  const char* db = std::getenv("COFFER_SQLITE_BENCH_DB");
  if (db == nullptr) GTEST_SKIP() << "COFFER_SQLITE_BENCH_DB is not set";
  const std::string path(db);
  using Clock = std::chrono::steady_clock;
  auto seconds = [](Clock::time_point since) {
    return std::chrono::duration<double>(Clock::now() - since).count();
  };
  const int runs = 3;
  double plain = 1e9, hashed = 1e9;
  uint64_t size = 0;
  for (int run = 0; run < runs; ++run) {
    {
      ASSERT_OK_AND_ASSIGN(auto file, OpenFileSource(path));
      CountingSink sink;
      auto start = Clock::now();
      ASSERT_OK_AND_ASSIGN(size, PumpStream(*file, sink));
      plain = std::min(plain, seconds(start));
    }
    {
      ASSERT_OK_AND_ASSIGN(auto file, OpenFileSource(path));
      CountingSink sink, manifest_sink;
      sqlite::ManifestWriter manifest(manifest_sink);
      sqlite::SnapshotDigester digester([&](ByteView h) { return manifest.Add(h); });
      struct Hashing final : ByteSource {
        ByteSource& in;
        sqlite::SnapshotDigester& d;
        Hashing(ByteSource& i, sqlite::SnapshotDigester& dd) : in(i), d(dd) {}
        Result<size_t> Read(std::span<uint8_t> out) override {
          ASSIGN_OR_RETURN(size_t n, in.Read(out));
          RETURN_IF_ERROR(d.Update(ByteView(out.data(), n)));
          return n;
        }
      } source(*file, digester);
      auto start = Clock::now();
      ASSERT_OK(PumpStream(source, sink).status());
      ASSERT_TRUE(digester.Finish().has_value());
      hashed = std::min(hashed, seconds(start));
    }
  }
  const double mb = static_cast<double>(size) / 1e6;
  std::printf(
      "stream %.0f MB: plain %.3f s (%.0f MB/s), with page hashing %.3f s (%.0f MB/s): "
      "+%.3f s\n",
      mb, plain, mb / plain, hashed, mb / hashed, hashed - plain);

  // The whole engine: FULL backup (snapshot + stream + manifest), then a
  // DIFFERENTIAL backup of the unchanged database.
  char tmpl[] = "/tmp/coffer-engine-bench-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  ASSERT_EQ(std::system(("cp " + path + " " + dir + "/bench.db").c_str()), 0);
  ASSERT_OK_AND_ASSIGN(auto engine, SqliteEngine::Create(dir));
  for (int run = 0; run < 2; ++run) {
    CountingSink full;
    auto start = Clock::now();
    ASSERT_OK(engine->BackupFull("bench", full));
    double t_full = seconds(start);
    ASSERT_OK(engine->CommitFullBackup("bench"));
    CountingSink diff;
    start = Clock::now();
    ASSERT_OK(engine->BackupDifferential("bench", diff));
    double t_diff = seconds(start);
    std::printf(
        "engine: FULL %.3f s (%.0f MB/s), DIFFERENTIAL of the unchanged database %.3f s "
        "(%llu bytes)\n",
        t_full, static_cast<double>(full.bytes) / 1e6 / t_full, t_diff,
        static_cast<unsigned long long>(diff.bytes));
  }
  std::system(("rm -rf " + dir).c_str());
}

}  // namespace
}  // namespace coffer::engines
