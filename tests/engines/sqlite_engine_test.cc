#include "engines/sqlite_engine.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <string>
#include <thread>

#include "testing/status_matchers.h"

namespace coffer::engines {
namespace {

using ::testing::ElementsAre;

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

  void Exec(const std::string& database, const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(engine_->DatabasePath(database).c_str(), &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 10000);
    char* error = nullptr;
    int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
    std::string message = error != nullptr ? error : "";
    sqlite3_free(error);
    sqlite3_close(db);
    ASSERT_EQ(rc, SQLITE_OK) << message;
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
    return names;
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
  ASSERT_OK(engine_->RestoreFull("restored", *source));
  EXPECT_EQ(Fingerprint("restored"), Fingerprint("customers"));
  EXPECT_EQ(Fingerprint("restored").rfind("20000:", 0), 0u);
  ASSERT_OK_AND_ASSIGN(auto names, engine_->ListDatabases());
  EXPECT_THAT(names, ElementsAre("customers", "restored"));
  struct stat st {};
  ASSERT_EQ(::stat(engine_->DatabasePath("restored").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // No temporary file is left.
  for (const std::string& f : Files())
    EXPECT_NE(f[0], '.') << f << " in " << ::testing::PrintToString(Files());
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
  ASSERT_OK(engine_->RestoreFull("copy", *source));
  // Rows come in pairs within a transaction: a consistent snapshot holds an odd
  // number of them only if it split one.
  std::string rows = Fingerprint("copy");
  long count = std::stol(rows.substr(0, rows.find(':')));
  EXPECT_GE(count, 5000);
  EXPECT_EQ((count - 5000) % 2, 0) << rows;
}

TEST_F(SqliteEngineTest, RestoreRefusesAnExistingNameAndTouchesNothing) {
  MakeCustomers("customers", 100);
  MakeCustomers("taken", 7);
  Bytes backup;
  auto sink = MemorySink(backup);
  ASSERT_OK(engine_->BackupFull("customers", *sink));
  auto source = MemorySource(backup);
  EXPECT_THAT(engine_->RestoreFull("taken", *source),
              testing::IsError("DatabaseAlreadyExists", "Database taken already exists"));
  EXPECT_EQ(Fingerprint("taken").rfind("7:", 0), 0u);
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
    Status st = engine_->RestoreFull("target", *source);
    EXPECT_FALSE(st.ok());
    ASSERT_OK_AND_ASSIGN(bool exists, engine_->Exists("target"));
    EXPECT_FALSE(exists) << st.ToString();
  }
  for (const std::string& f : Files()) EXPECT_NE(f[0], '.') << f;
}

TEST_F(SqliteEngineTest, BackupOfAMissingDatabase) {
  Bytes backup;
  auto sink = MemorySink(backup);
  EXPECT_THAT(engine_->BackupFull("nothing", *sink),
              testing::IsError("DatabaseNotFound", "Database nothing does not exist"));
}

}  // namespace
}  // namespace coffer::engines
