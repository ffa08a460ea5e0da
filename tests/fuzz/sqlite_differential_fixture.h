#pragma once
// The sqlite engine for sqlite_differential_fuzz and its seed writer: a small database
// (page size 512) made in a scratch directory (fuzz_util.h), its FULL backup, a
// DIFFERENTIAL backup after changes (rows updated, deleted and added, so that pages
// change and the database grows past its base), and a second instance directory where
// the FULL backup is restored WITH NORECOVERY as the database `kTarget`, which every
// input's DIFFERENTIAL restore then targets.
//
// The database is made by the same statements in every process, so its backups are the
// same bytes as long as the SQLite library is the same version (its header records the
// version): the DIFFERENTIAL backup committed in the seed corpus then matches the FULL
// backup restored here.
//
// Reset() puts the restoring database back as it was set up (after a DIFFERENTIAL
// restore succeeded, which replaces it or brings it online). Not thread-safe; fuzz
// targets run one input at a time.
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/bytes.h"
#include "common/status.h"
#include "common/stream.h"
#include "engines/sqlite_engine.h"
#include "fuzz_util.h"

namespace coffer::fuzz {

class FuzzSqliteDifferential {
 public:
  static constexpr char kTarget[] = "fuzzdb";

  // The fixture of this process, set up on first use. Aborts if it cannot be.
  static FuzzSqliteDifferential& Get() {
    static FuzzSqliteDifferential fixture;
    return fixture;
  }

  engines::SqliteEngine& engine() { return *engine_; }
  // The instance directory of engine().
  const std::string& instance_dir() const { return instance_dir_; }
  const Bytes& full() const { return full_; }
  const Bytes& differential() const { return differential_; }

  // Everything in the instance directory, by name, with its contents.
  static std::vector<std::pair<std::string, std::string>> Files(const std::string& dir) {
    std::vector<std::pair<std::string, std::string>> files;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
      std::ifstream in(entry.path(), std::ios::binary);
      files.emplace_back(entry.path().filename().string(),
                         std::string(std::istreambuf_iterator<char>(in), {}));
    }
    std::sort(files.begin(), files.end());
    return files;
  }
  // The instance directory as set up: the restoring copy and its chain file.
  const std::vector<std::pair<std::string, std::string>>& set_up_files() const {
    return set_up_files_;
  }
  // The restoring copy as set up: the FULL backup's bytes.
  const std::string& base() const { return base_; }

  // Back to the restoring database of the set-up, whatever state `kTarget` is in.
  void Reset() {
    for (const auto& [name, contents] : Files(instance_dir_)) {
      ::unlink((instance_dir_ + "/" + name).c_str());
    }
    auto source = MemorySource(full_);
    Must(engine_->RestoreFull(kTarget, *source, {.norecovery = true}), "restore the FULL backup");
    if (Files(instance_dir_) != set_up_files_) Die("reset", "the restoring copy differs");
  }

 private:
  FuzzSqliteDifferential()
      : source_dir_(dir_.File("source")), instance_dir_(dir_.File("instance")) {
    std::filesystem::create_directory(source_dir_);
    std::filesystem::create_directory(instance_dir_);
    auto source = engines::SqliteEngine::Create(source_dir_);
    Must(source.status(), "open the source instance");
    Exec(
        "PRAGMA page_size=512; PRAGMA journal_mode=DELETE;"
        "CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT NOT NULL,"
        "  balance INTEGER NOT NULL CHECK (balance >= 0));"
        "CREATE INDEX customers_name ON customers(name);"
        "INSERT INTO customers(name, balance) VALUES ('alice', 10), ('bob', 20), ('carol', 30),"
        "  ('dave', 40), ('erin', 50), ('frank', 60), ('grace', 70), ('heidi', 80);");
    {
      auto sink = MemorySink(full_);
      Must((*source)->BackupFull("customers", *sink), "FULL backup");
    }
    Must((*source)->CommitFullBackup("customers"), "commit the FULL backup");
    Exec(
        "UPDATE customers SET balance = balance + 1 WHERE id % 3 = 0;"
        "DELETE FROM customers WHERE name = 'bob';"
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 24)"
        "  INSERT INTO customers(name, balance)"
        "  SELECT 'customer number ' || i || ' of the differential', i * 7 FROM n;");
    {
      auto sink = MemorySink(differential_);
      Must((*source)->BackupDifferential("customers", *sink), "DIFFERENTIAL backup");
    }
    auto engine = engines::SqliteEngine::Create(instance_dir_);
    Must(engine.status(), "open the instance");
    engine_ = std::move(engine).value();
    auto full = MemorySource(full_);
    Must(engine_->RestoreFull(kTarget, *full, {.norecovery = true}), "restore the FULL backup");
    set_up_files_ = Files(instance_dir_);
    for (const auto& [name, contents] : set_up_files_) {
      if (name == "." + std::string(kTarget) + ".restoring") base_ = contents;
    }
    if (base_.size() != full_.size()) Die("set up", "no restoring copy of the FULL backup");
  }

  void Exec(const char* sql) {
    sqlite3* db = nullptr;
    const std::string path = source_dir_ + "/customers.db";
    int rc =
        sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
    char* error = nullptr;
    if (rc == SQLITE_OK) rc = sqlite3_exec(db, sql, nullptr, nullptr, &error);
    std::string message = error != nullptr ? error : sqlite3_errstr(rc);
    sqlite3_free(error);
    sqlite3_close_v2(db);
    if (rc != SQLITE_OK) Die("make the database", message);
  }

  static void Must(const Status& s, const char* what) {
    if (!s.ok()) Die(what, s.ToString());
  }
  [[noreturn]] static void Die(const char* what, const std::string& why) {
    std::fprintf(stderr, "FuzzSqliteDifferential: %s: %s\n", what, why.c_str());
    std::abort();
  }

  ScratchDirectory dir_;
  std::string source_dir_;
  std::string instance_dir_;
  std::unique_ptr<engines::SqliteEngine> engine_;
  Bytes full_;
  Bytes differential_;
  std::string base_;
  std::vector<std::pair<std::string, std::string>> set_up_files_;
};

}  // namespace coffer::fuzz
