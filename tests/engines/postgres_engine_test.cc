// The postgres engine against a real server: COFFER_TEST_PG_DSN (a superuser's
// libpq DSN; scripts/pg-test-server.sh starts a throwaway server and prints
// it). Without it the tests are skipped, except on CI (CI=true), where they
// fail. COFFER_TEST_PG_PASSWORD_DSN, when set, is a role authenticated by
// password over TCP.
#include "engines/postgres_engine.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "testing/status_matchers.h"

namespace coffer::engines {
namespace {

using ::coffer::testing::IsError;
using ::coffer::testing::IsOkAndHolds;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : "";
}

std::string Upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// The DSN's parameters with dbname replaced, as keyword/value arrays.
struct Params {
  std::vector<std::string> keys, values;
  Params(const std::string& dsn, const std::string& database) {
    char* error = nullptr;
    PQconninfoOption* options = PQconninfoParse(dsn.c_str(), &error);
    PQfreemem(error);
    if (options == nullptr) return;
    for (PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
      if (o->val == nullptr || *o->val == '\0' || std::string(o->keyword) == "dbname") continue;
      keys.emplace_back(o->keyword);
      values.emplace_back(o->val);
    }
    PQconninfoFree(options);
    keys.emplace_back("dbname");
    values.emplace_back(database);
  }
  // "k='v' …" for a tool's --dbname.
  std::string Conninfo() const {
    std::string out;
    for (size_t i = 0; i < keys.size(); ++i) {
      out += keys[i] + "='";
      for (char c : values[i]) {
        if (c == '\'' || c == '\\') out += '\\';
        out += c;
      }
      out += "' ";
    }
    return out;
  }
};

std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}

// A connection of the test's own to one database.
class Db {
 public:
  Db(const std::string& dsn, const std::string& database) {
    Params p(dsn, database);
    std::vector<const char*> keys, values;
    for (size_t i = 0; i < p.keys.size(); ++i) {
      keys.push_back(p.keys[i].c_str());
      values.push_back(p.values[i].c_str());
    }
    keys.push_back(nullptr);
    values.push_back(nullptr);
    conn_ = PQconnectdbParams(keys.data(), values.data(), 0);
    EXPECT_EQ(PQstatus(conn_), CONNECTION_OK) << database << ": " << PQerrorMessage(conn_);
    PQsetNoticeProcessor(
        conn_, [](void*, const char*) {}, nullptr);
  }
  ~Db() { PQfinish(conn_); }
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  // Runs `sql` (one or more statements); false, with a test failure unless
  // `may_fail`, when it fails.
  bool Exec(const std::string& sql, bool may_fail = false) {
    PGresult* r = PQexec(conn_, sql.c_str());
    ExecStatusType st = PQresultStatus(r);
    bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
    if (!ok && !may_fail) ADD_FAILURE() << sql << ": " << PQerrorMessage(conn_);
    PQclear(r);
    return ok;
  }
  std::vector<std::vector<std::string>> Rows(const std::string& sql) {
    PGresult* r = PQexec(conn_, sql.c_str());
    std::vector<std::vector<std::string>> rows;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
      ADD_FAILURE() << sql << ": " << PQerrorMessage(conn_);
    } else {
      for (int i = 0; i < PQntuples(r); ++i) {
        rows.emplace_back();
        for (int j = 0; j < PQnfields(r); ++j) rows.back().emplace_back(PQgetvalue(r, i, j));
      }
    }
    PQclear(r);
    return rows;
  }
  // The first value of the first row ("" when there is none).
  std::string Value(const std::string& sql) {
    auto rows = Rows(sql);
    return rows.empty() || rows[0].empty() ? "" : rows[0][0];
  }
  std::string Quote(const std::string& identifier) {
    char* q = PQescapeIdentifier(conn_, identifier.c_str(), identifier.size());
    std::string out = q != nullptr ? q : "";
    PQfreemem(q);
    return out;
  }

 private:
  PGconn* conn_ = nullptr;
};

// A source that fails after `limit` bytes of `data`.
class FailingSource final : public ByteSource {
 public:
  FailingSource(ByteView data, size_t limit) : data_(data), limit_(limit) {}
  Result<size_t> Read(std::span<uint8_t> out) override {
    if (pos_ >= limit_) return UnavailableError("the object store went away");
    size_t n = std::min({out.size(), limit_ - pos_, data_.size() - pos_});
    std::copy_n(data_.begin() + pos_, n, out.begin());
    pos_ += n;
    return n;
  }

 private:
  ByteView data_;
  size_t limit_;
  size_t pos_ = 0;
};

// A sink that fails once it took `limit` bytes.
class FailingSink final : public ByteSink {
 public:
  explicit FailingSink(size_t limit) : limit_(limit) {}
  Status Write(ByteView data) override {
    taken_ += data.size();
    if (taken_ > limit_) return UnavailableError("the upload failed");
    return Status::Ok();
  }
  Status Close() override { return Status::Ok(); }
  void Abort() override {}

 private:
  size_t limit_;
  size_t taken_ = 0;
};

class PostgresEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dsn_ = Env("COFFER_TEST_PG_DSN");
    if (dsn_.empty()) {
      if (Env("CI") == "true") {
        FAIL() << "CI=true but COFFER_TEST_PG_DSN is unset: the postgres engine's tests need a "
                  "server (eval \"$(scripts/pg-test-server.sh start)\", as scripts/test.sh does)";
      }
      GTEST_SKIP() << "COFFER_TEST_PG_DSN is unset: no PostgreSQL server to test against (eval "
                      "\"$(scripts/pg-test-server.sh start)\" starts one)";
    }
    auto engine = PostgresEngine::Create(dsn_);
    ASSERT_OK(engine.status());
    engine_ = std::move(engine).value();
  }

  void TearDown() override {
    if (dsn_.empty() || created_.empty()) return;
    Db admin(dsn_, MaintenanceDb());
    for (const std::string& name : created_) {
      admin.Exec("DROP DATABASE IF EXISTS " + admin.Quote(name) + " WITH (FORCE)");
    }
  }

  std::string MaintenanceDb() const {
    char* error = nullptr;
    PQconninfoOption* options = PQconninfoParse(dsn_.c_str(), &error);
    PQfreemem(error);
    std::string db = "postgres";
    for (PQconninfoOption* o = options; o != nullptr && o->keyword != nullptr; ++o) {
      if (std::string(o->keyword) == "dbname" && o->val != nullptr && *o->val != '\0') db = o->val;
    }
    PQconninfoFree(options);
    return db;
  }

  // A database name of this test process, dropped (with its staging
  // database) at the end of the test.
  std::string Name(const std::string& suffix) {
    static std::atomic<int> counter{0};
    std::string name =
        "pgt" + std::to_string(::getpid()) + "_" + std::to_string(counter++) + "_" + suffix;
    created_.push_back(name);
    created_.push_back(PostgresEngine::StagingName(name));
    return name;
  }

  void CreateDatabase(const std::string& name) {
    Db admin(dsn_, MaintenanceDb());
    admin.Exec("CREATE DATABASE " + admin.Quote(name));
  }

  // Names of every database of the server.
  std::vector<std::string> AllDatabases() {
    Db admin(dsn_, MaintenanceDb());
    std::vector<std::string> names;
    for (auto& row : admin.Rows("SELECT datname FROM pg_database")) names.push_back(row[0]);
    return names;
  }

  bool ServerHas(const std::string& name) {
    auto names = AllDatabases();
    return std::find(names.begin(), names.end(), name) != names.end();
  }

  // Nothing of a restore of `target` is left.
  void ExpectNothingLeft(const std::string& target) {
    EXPECT_FALSE(ServerHas(target)) << target;
    EXPECT_FALSE(ServerHas(PostgresEngine::StagingName(target))) << "staging of " << target;
    ASSERT_OK_AND_ASSIGN(bool exists, engine_->Exists(target));
    EXPECT_FALSE(exists);
  }

  // Tables of several types (bytea, numeric, unicode text, NULLs, arrays,
  // jsonb), sequences, indexes, a view, a function, a large object and a
  // second schema.
  void MakeSample(const std::string& database, int rows = 3000) {
    CreateDatabase(database);
    Db db(dsn_, database);
    const std::string n = std::to_string(rows);
    db.Exec(R"sql(
      CREATE SEQUENCE ticket_seq START 1000 INCREMENT 7;
      CREATE TABLE customers (
        id bigserial PRIMARY KEY,
        name text NOT NULL,
        balance numeric(20, 4),
        photo bytea,
        note text,
        created timestamptz DEFAULT '2024-01-01 12:00:00+00');
      CREATE INDEX customers_lower_name ON customers (lower(name));
      CREATE TABLE orders (
        id integer PRIMARY KEY DEFAULT nextval('ticket_seq'),
        customer bigint NOT NULL REFERENCES customers (id),
        amount numeric,
        items jsonb,
        tags text[]);
      CREATE INDEX orders_customer ON orders (customer);
      CREATE TABLE empty_table (x integer);
      CREATE SCHEMA accounting;
      CREATE TABLE accounting.rates (k text PRIMARY KEY, v double precision);
      INSERT INTO accounting.rates VALUES ('nan', 'NaN'), ('inf', 'Infinity'), ('pi', pi()),
        ('null', NULL);
      CREATE VIEW rich_customers AS SELECT id, name FROM customers WHERE balance > 50000;
      CREATE FUNCTION add_one(integer) RETURNS integer LANGUAGE sql AS 'SELECT $1 + 1';
      SELECT lo_from_bytea(424242, decode(repeat('00ff10', 30000), 'hex'));
    )sql");
    db.Exec(
        "INSERT INTO customers (name, balance, photo, note) SELECT "
        "'Kunde ' || i || ' — Zoë, 東京, 😀', (i * 12345.6789) % 100000, "
        "CASE WHEN i % 5 = 0 THEN NULL ELSE decode(md5(i::text), 'hex') || '\\x00ff00'::bytea "
        "END, CASE WHEN i % 3 = 0 THEN NULL WHEN i % 3 = 1 THEN '' ELSE repeat('ä', i % 50 + 1) "
        "END FROM generate_series(1, " +
        n + ") i");
    db.Exec("INSERT INTO orders (customer, amount, items, tags) SELECT (i % " + n +
            ") + 1, i * 0.01, jsonb_build_object('n', i, 's', 'ü'), ARRAY['a', NULL, 'ß'] "
            "FROM generate_series(1, " +
            std::to_string(rows * 2) + ") i");
  }

  // Row counts and checksums of every table, the sequences, the indexes, the
  // large objects, a view and a function of `database`.
  std::string Fingerprint(const std::string& database) {
    Db db(dsn_, database);
    std::string out;
    for (auto& row : db.Rows("SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname), "
                             "c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = "
                             "c.relnamespace WHERE c.relkind IN ('r', 'S') AND n.nspname NOT IN "
                             "('pg_catalog', 'information_schema') AND n.nspname NOT LIKE "
                             "'pg_toast%' ORDER BY 1")) {
      const std::string& table = row[0];
      if (row[1] == "S") {
        out += table + " " + db.Value("SELECT last_value || '/' || is_called FROM " + table) + "\n";
      } else {
        out += table + " " +
               db.Value(
                   "SELECT count(*) || ' rows ' || md5(coalesce(string_agg(t::text, "
                   "E'\\n' ORDER BY t::text), '')) FROM " +
                   table + " t") +
               "\n";
      }
    }
    out += "indexes " +
           db.Value(
               "SELECT string_agg(indexdef, '; ' ORDER BY indexdef) FROM pg_indexes WHERE "
               "schemaname NOT IN ('pg_catalog', 'information_schema')") +
           "\n";
    out += "large objects " +
           db.Value(
               "SELECT coalesce(string_agg(oid || ':' || md5(lo_get(oid)), ',' ORDER BY "
               "oid), '') FROM pg_largeobject_metadata") +
           "\n";
    return out;
  }

  Bytes Backup(const std::string& database) {
    Bytes backup;
    auto sink = MemorySink(backup);
    EXPECT_OK(engine_->BackupFull(database, *sink));
    return backup;
  }

  Status Restore(const std::string& target, ByteView backup, bool norecovery = false) {
    auto source = MemorySource(backup);
    return engine_->RestoreFull(target, *source, RestoreOptions{.norecovery = norecovery});
  }

  std::string dsn_;
  std::unique_ptr<PostgresEngine> engine_;
  std::vector<std::string> created_;
};

TEST_F(PostgresEngineTest, VersionIsTheServers) {
  Db db(dsn_, MaintenanceDb());
  const std::string server = db.Value("SHOW server_version");
  EXPECT_EQ(engine_->version(), server.substr(0, server.find(' ')));
  EXPECT_THAT(engine_->version(), ::testing::MatchesRegex("[0-9]+\\.[0-9]+"));
  EXPECT_EQ(engine_->name(), "postgres");
}

TEST_F(PostgresEngineTest, BackupAndRestoreGiveTheSameDatabase) {
  const std::string source = Name("src"), target = Name("dst");
  MakeSample(source);
  const std::string before = Fingerprint(source);
  EXPECT_THAT(before, HasSubstr("public.customers 3000 rows"));
  EXPECT_THAT(before, HasSubstr("public.orders 6000 rows"));
  EXPECT_THAT(before, HasSubstr("accounting.rates 4 rows"));
  EXPECT_THAT(before, HasSubstr("public.ticket_seq 42993/true"));  // 1000 + 7 × 5999
  EXPECT_THAT(before, HasSubstr("customers_lower_name"));

  Bytes backup = Backup(source);
  // A pg_dump custom archive, uncompressed (the text is there as it is), that
  // records the server's version.
  ASSERT_GT(backup.size(), 5u);
  EXPECT_EQ(std::string(backup.begin(), backup.begin() + 5), "PGDMP");
  const std::string text(backup.begin(), backup.end());
  EXPECT_THAT(text, HasSubstr("Kunde 17 — Zoë, 東京, 😀"));
  EXPECT_THAT(text, HasSubstr(engine_->version()));

  ASSERT_OK(Restore(target, backup));
  EXPECT_EQ(Fingerprint(target), before);
  {
    Db restored(dsn_, target);
    Db original(dsn_, source);
    // The sequence goes on where it was; the view and the function are there.
    EXPECT_EQ(restored.Value("SELECT nextval('ticket_seq')"),
              original.Value("SELECT nextval('ticket_seq')"));
    EXPECT_EQ(restored.Value("SELECT count(*) FROM rich_customers"),
              original.Value("SELECT count(*) FROM rich_customers"));
    EXPECT_EQ(restored.Value("SELECT add_one(41)"), "42");
    // NULLs stay NULLs, empty strings empty strings.
    EXPECT_EQ(restored.Value("SELECT count(*) FROM customers WHERE note IS NULL"), "1000");
    EXPECT_EQ(restored.Value("SELECT count(*) FROM customers WHERE note = ''"), "1000");
  }
  ASSERT_OK_AND_ASSIGN(auto names, engine_->ListDatabases());
  EXPECT_THAT(names, Contains(source));
  EXPECT_THAT(names, Contains(target));
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  EXPECT_FALSE(ServerHas(PostgresEngine::StagingName(target)));
  ASSERT_OK_AND_ASSIGN(bool exists, engine_->Exists(Upper(target)));
  EXPECT_TRUE(exists);
}

TEST_F(PostgresEngineTest, TheBackupRestoresWithPlainPgRestore) {
  // Disaster recovery without coffer: the stream is an ordinary archive.
  const std::string source = Name("src"), manual = Name("manual");
  MakeSample(source, 500);
  Bytes backup = Backup(source);
  char path[] = "/tmp/coffer-pg-backup-XXXXXX";
  int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, backup.data(), backup.size()), static_cast<ssize_t>(backup.size()));
  ::close(fd);
  Db admin(dsn_, MaintenanceDb());
  admin.Exec("CREATE DATABASE " + admin.Quote(manual) + " TEMPLATE template0");
  created_.push_back(manual);
  const std::string command =
      ShellQuote(engine_->pg_restore_path()) +
      " --exit-on-error --no-owner --dbname=" + ShellQuote(Params(dsn_, manual).Conninfo()) + " " +
      path;
  EXPECT_EQ(std::system(command.c_str()), 0) << command;
  ::unlink(path);
  EXPECT_EQ(Fingerprint(manual), Fingerprint(source));
}

TEST_F(PostgresEngineTest, ListsOnlyDatabasesOfCoffer) {
  const std::string plain = Name("listed"), odd = Name("with.dot");
  CreateDatabase(plain);
  CreateDatabase(odd);
  ASSERT_OK_AND_ASSIGN(auto names, engine_->ListDatabases());
  EXPECT_THAT(names, Contains(plain));
  for (const std::string& hidden :
       {odd, std::string("postgres"), std::string("template0"), std::string("template1")}) {
    EXPECT_THAT(names, Not(Contains(hidden)));
  }
  for (const std::string& name : names) EXPECT_THAT(name, Not(HasSubstr("coffer_restoring_")));
  ASSERT_OK_AND_ASSIGN(bool exists, engine_->Exists("postgres"));
  EXPECT_TRUE(exists);
}

TEST_F(PostgresEngineTest, NamesAreChecked) {
  EXPECT_FALSE(engine_->Exists("../x").ok());
  Bytes out;
  auto sink = MemorySink(out);
  EXPECT_EQ(engine_->BackupFull("a b", *sink).code(), StatusCode::kInvalidArgument);
  Bytes nothing;
  // PostgreSQL names have at most 63 bytes; coffer_restoring_ is the engine's.
  EXPECT_EQ(Restore(std::string(64, 'a'), nothing).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Restore("coffer_restoring_x", nothing).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Restore("COFFER_RESTORING_x", nothing).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(engine_->FinishRestore("x/y").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(engine_->DropRestoring("").code(), StatusCode::kInvalidArgument);
}

TEST_F(PostgresEngineTest, RestoreRefusesAnExistingNameInAnyCase) {
  const std::string source = Name("src"), existing = Name("Existing");
  MakeSample(source, 100);
  CreateDatabase(existing);
  {
    Db db(dsn_, existing);
    db.Exec("CREATE TABLE keep (v text); INSERT INTO keep VALUES ('untouched')");
  }
  const std::string before = Fingerprint(existing);
  Bytes backup = Backup(source);
  std::string lower = existing;
  std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
  for (const std::string& target : {existing, lower, Upper(existing)}) {
    EXPECT_THAT(Restore(target, backup),
                IsError("DatabaseAlreadyExists", "Database " + target + " already exists"));
    EXPECT_THAT(Restore(target, backup, /*norecovery=*/true),
                IsError("DatabaseAlreadyExists", "Database " + target + " already exists"));
    EXPECT_FALSE(ServerHas(PostgresEngine::StagingName(target)));
  }
  EXPECT_EQ(Fingerprint(existing), before);
  EXPECT_FALSE(ServerHas(lower));
}

TEST_F(PostgresEngineTest, ABrokenStreamFailsAndLeavesNothing) {
  const std::string source = Name("src");
  MakeSample(source, 2000);
  Bytes backup = Backup(source);
  ASSERT_GT(backup.size(), 100000u);

  struct Case {
    std::string name;
    Bytes bytes;
  };
  std::vector<Case> cases;
  cases.push_back({"empty", {}});
  cases.push_back({"header only", Bytes(backup.begin(), backup.begin() + 100)});
  cases.push_back({"first half", Bytes(backup.begin(), backup.begin() + backup.size() / 2)});
  cases.push_back({"all but the last byte", Bytes(backup.begin(), backup.end() - 1)});
  Bytes bad_magic = backup;
  bad_magic[0] = 'X';
  cases.push_back({"bad magic", bad_magic});
  Bytes bad_version = backup;
  bad_version[5] = 0x7f;  // the archive format's major version
  cases.push_back({"unknown format version", bad_version});
  Bytes trailing = backup;
  trailing.resize(backup.size() + (2 << 20), 0x5a);
  cases.push_back({"data after the archive", trailing});
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string target = Name("broken");
    Status st = Restore(target, c.bytes);
    EXPECT_EQ(st.code(), StatusCode::kDataLoss) << st.ToString();
    ExpectNothingLeft(target);
    const std::string restoring = Name("broken_nr");
    st = Restore(restoring, c.bytes, /*norecovery=*/true);
    EXPECT_EQ(st.code(), StatusCode::kDataLoss) << st.ToString();
    ExpectNothingLeft(restoring);
  }
}

TEST_F(PostgresEngineTest, ASourceFailureStopsTheRestoreAndLeavesNothing) {
  const std::string source = Name("src"), target = Name("dst");
  MakeSample(source, 2000);
  Bytes backup = Backup(source);
  for (size_t limit : {size_t{0}, size_t{1000}, backup.size() / 2, backup.size()}) {
    SCOPED_TRACE(limit);
    // At backup.size() the source fails where its end would be (an envelope
    // whose final authentication fails).
    FailingSource failing(backup, limit);
    EXPECT_EQ(engine_->RestoreFull(target, failing, {}),
              UnavailableError("the object store went away"));
    ExpectNothingLeft(target);
  }
}

TEST_F(PostgresEngineTest, BackupOfAMissingDatabaseIsNotFound) {
  const std::string missing = Name("missing");
  Bytes out;
  auto sink = MemorySink(out);
  EXPECT_THAT(engine_->BackupFull(missing, *sink),
              IsError("DatabaseNotFound", "Database " + missing + " does not exist"));
  EXPECT_TRUE(out.empty());
}

TEST_F(PostgresEngineTest, BackupFindsTheDatabaseWhateverTheCase) {
  const std::string source = Name("MixedCase");
  MakeSample(source, 50);
  Bytes backup;
  auto sink = MemorySink(backup);
  ASSERT_OK(engine_->BackupFull(Upper(source), *sink));
  const std::string target = Name("copy");
  ASSERT_OK(Restore(target, backup));
  EXPECT_EQ(Fingerprint(target), Fingerprint(source));
}

TEST_F(PostgresEngineTest, DifferentialIsRefused) {
  const std::string source = Name("src");
  MakeSample(source, 10);
  Bytes out;
  auto sink = MemorySink(out);
  Status st = engine_->BackupDifferential(source, *sink);
  EXPECT_EQ(st.error_name(), "DifferentialNotSupported") << st.ToString();
  EXPECT_THAT(st.message(), HasSubstr("DIFFERENTIAL"));
  EXPECT_TRUE(out.empty());
  EXPECT_OK(engine_->CommitFullBackup(source));
  EXPECT_EQ(engine_->BackupDifferential(source, *sink).error_name(), "DifferentialNotSupported");

  const std::string target = Name("dst");
  ASSERT_OK(Restore(target, Backup(source), /*norecovery=*/true));
  auto none = MemorySource(out);
  st = engine_->RestoreDifferential(target, *none, {});
  EXPECT_EQ(st.error_name(), "DifferentialNotSupported") << st.ToString();
  // The restoring database is as it was.
  ASSERT_OK(engine_->FinishRestore(target));
  EXPECT_EQ(Fingerprint(target), Fingerprint(source));
}

TEST_F(PostgresEngineTest, NoRecoveryWaitsForFinishRestore) {
  const std::string source = Name("src"), target = Name("Later");
  MakeSample(source, 300);
  Bytes backup = Backup(source);
  ASSERT_OK(Restore(target, backup, /*norecovery=*/true));

  // Restoring: it exists, under its staging name, closed to connections, not listed.
  for (const std::string& name : {target, Upper(target)}) {
    ASSERT_OK_AND_ASSIGN(bool exists, engine_->Exists(name));
    EXPECT_TRUE(exists) << name;
  }
  EXPECT_FALSE(ServerHas(target));
  const std::string staging = PostgresEngine::StagingName(target);
  {
    Db admin(dsn_, MaintenanceDb());
    EXPECT_EQ(admin.Value("SELECT datallowconn FROM pg_database WHERE datname = '" + staging + "'"),
              "f");
  }
  ASSERT_OK_AND_ASSIGN(auto names, engine_->ListDatabases());
  EXPECT_THAT(names, Not(Contains(target)));
  EXPECT_THAT(names, Not(Contains(staging)));
  Bytes out;
  auto sink = MemorySink(out);
  EXPECT_EQ(engine_->BackupFull(target, *sink).error_name(), "DatabaseRestoring");
  EXPECT_THAT(Restore(target, backup),
              IsError("DatabaseAlreadyExists", "Database " + target + " already exists"));
  EXPECT_THAT(Restore(Upper(target), backup),
              IsError("DatabaseAlreadyExists", "Database " + Upper(target) + " already exists"));

  // Finishing by any case brings it online under the name it was restored as.
  ASSERT_OK(engine_->FinishRestore(Upper(target)));
  EXPECT_TRUE(ServerHas(target));
  EXPECT_FALSE(ServerHas(staging));
  ASSERT_OK_AND_ASSIGN(names, engine_->ListDatabases());
  EXPECT_THAT(names, Contains(target));
  EXPECT_EQ(Fingerprint(target), Fingerprint(source));
  {
    Db admin(dsn_, MaintenanceDb());
    EXPECT_EQ(admin.Value("SELECT coalesce(shobj_description(oid, 'pg_database'), '<none>') FROM "
                          "pg_database WHERE datname = '" +
                          target + "'"),
              "<none>");
  }

  EXPECT_THAT(
      engine_->FinishRestore(target),
      IsError("DatabaseNotRestoring", "Database " + target + " is not in the restoring state"));
  EXPECT_EQ(engine_->DropRestoring(target).code(), StatusCode::kNotFound);
  EXPECT_TRUE(ServerHas(target));
}

TEST_F(PostgresEngineTest, FinishRestoreNeedsARestoringDatabase) {
  const std::string online = Name("online"), missing = Name("missing");
  CreateDatabase(online);
  EXPECT_THAT(
      engine_->FinishRestore(online),
      IsError("DatabaseNotRestoring", "Database " + online + " is not in the restoring state"));
  EXPECT_THAT(
      engine_->FinishRestore(missing),
      IsError("DatabaseNotRestoring", "Database " + missing + " is not in the restoring state"));
  EXPECT_TRUE(ServerHas(online));
}

TEST_F(PostgresEngineTest, FinishRestoreRefusesANameTakenMeanwhile) {
  const std::string source = Name("src"), target = Name("taken");
  MakeSample(source, 50);
  ASSERT_OK(Restore(target, Backup(source), /*norecovery=*/true));
  CreateDatabase(Upper(target));  // behind the engine's back
  created_.push_back(Upper(target));
  EXPECT_THAT(engine_->FinishRestore(target),
              IsError("DatabaseAlreadyExists", "Database " + target + " already exists"));
  // Still restoring: the chain can be given up.
  EXPECT_TRUE(ServerHas(PostgresEngine::StagingName(target)));
  ASSERT_OK(engine_->DropRestoring(target));
  EXPECT_FALSE(ServerHas(PostgresEngine::StagingName(target)));
  EXPECT_TRUE(ServerHas(Upper(target)));
}

TEST_F(PostgresEngineTest, DropRestoringRemovesTheRestoringDatabase) {
  const std::string source = Name("src"), target = Name("given_up");
  MakeSample(source, 100);
  ASSERT_OK(Restore(target, Backup(source), /*norecovery=*/true));
  ASSERT_OK(engine_->DropRestoring(Upper(target)));
  ExpectNothingLeft(target);
  EXPECT_THAT(engine_->DropRestoring(target),
              IsError("DatabaseNotFound", "No database " + target + " is in the restoring state"));
  EXPECT_EQ(engine_->FinishRestore(target).error_name(), "DatabaseNotRestoring");
  // An online database is not dropped.
  EXPECT_EQ(engine_->DropRestoring(source).code(), StatusCode::kNotFound);
  EXPECT_TRUE(ServerHas(source));
  // The name is free again.
  ASSERT_OK(Restore(target, Backup(source)));
  EXPECT_EQ(Fingerprint(target), Fingerprint(source));
}

TEST_F(PostgresEngineTest, DropDatabaseRemovesOnlineAndRestoringDatabases) {
  const std::string source = Name("drop_src"), target = Name("drop_copy");
  MakeSample(source, 50);
  ASSERT_OK(Restore(target, Backup(source), /*norecovery=*/true));
  {
    // A session still open on the database does not stop the drop.
    Db session(dsn_, source);
    EXPECT_THAT(engine_->DropDatabase(Upper(source)), IsOkAndHolds(source));
  }
  ExpectNothingLeft(source);
  ASSERT_OK(engine_->DropDatabase(target).status());  // restoring
  ExpectNothingLeft(target);
  EXPECT_THAT(engine_->DropDatabase(source),
              IsError("DatabaseNotFound", "Database " + source + " does not exist"));
  // Never the maintenance database, a template or a staging name.
  for (const char* system : {"postgres", "template0", "template1"}) {
    Status refused = engine_->DropDatabase(system).status();
    EXPECT_EQ(refused.code(), StatusCode::kInvalidArgument) << system;
    EXPECT_EQ(refused.message(),
              "database " + std::string(system) +
                  " is the server's own or the one the instance's DSN names: coffer does not "
                  "drop it");
  }
  EXPECT_TRUE(ServerHas("postgres"));
  EXPECT_TRUE(ServerHas("template1"));
  EXPECT_EQ(engine_->DropDatabase(PostgresEngine::StagingName(target)).status().code(),
            StatusCode::kInvalidArgument);
  // Two databases equal but for case: only by the exact name.
  const std::string lower = Name("twocase"), upper = Upper(lower);
  created_.push_back(upper);
  CreateDatabase(lower);
  CreateDatabase(upper);
  std::string mixed = lower;
  mixed[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(mixed[0])));
  EXPECT_EQ(engine_->DropDatabase(mixed).status().error_name(), "AmbiguousDatabaseName");
  EXPECT_THAT(engine_->DropDatabase(upper), IsOkAndHolds(upper));
  EXPECT_TRUE(ServerHas(lower));
  EXPECT_FALSE(ServerHas(upper));
}

TEST_F(PostgresEngineTest, ConcurrentRestoresOfOneNameLetOneWin) {
  const std::string source = Name("src"), target = Name("Race");
  MakeSample(source, 500);
  Bytes backup = Backup(source);
  Status results[2];
  std::thread a([&] { results[0] = Restore(target, backup); });
  std::thread b([&] { results[1] = Restore(Upper(target), backup); });
  a.join();
  b.join();
  EXPECT_EQ(results[0].ok() + results[1].ok(), 1)
      << results[0].ToString() << " / " << results[1].ToString();
  for (const Status& st : results) {
    if (!st.ok()) {
      EXPECT_EQ(st.error_name(), "DatabaseAlreadyExists") << st.ToString();
    }
  }
  const std::string winner = results[0].ok() ? target : Upper(target);
  created_.push_back(Upper(target));
  EXPECT_TRUE(ServerHas(winner));
  EXPECT_FALSE(ServerHas(results[0].ok() ? Upper(target) : target));
  EXPECT_FALSE(ServerHas(PostgresEngine::StagingName(target)));
  EXPECT_EQ(Fingerprint(winner), Fingerprint(source));
}

TEST_F(PostgresEngineTest, TheDumpIsConsistentWhileWritersRun) {
  const std::string source = Name("busy"), target = Name("copy");
  CreateDatabase(source);
  constexpr int kAccounts = 200;
  {
    Db db(dsn_, source);
    db.Exec(
        "CREATE TABLE accounts (id integer PRIMARY KEY, balance bigint NOT NULL);"
        "INSERT INTO accounts SELECT i, 1000 FROM generate_series(1, " +
        std::to_string(kAccounts) +
        ") i;"
        // Between the two in the dump, to make it take a while.
        "CREATE TABLE filler (id integer, payload text);"
        "INSERT INTO filler SELECT i, repeat(md5(i::text), 4) FROM generate_series(1, 200000) i;"
        "CREATE TABLE transfers (id bigserial PRIMARY KEY, source integer, target integer, "
        "amount bigint);");
  }
  std::atomic<bool> stop{false};
  std::atomic<long> commits{0};
  auto writer = [&](int seed) {
    Db db(dsn_, source);
    unsigned state = static_cast<unsigned>(seed);
    while (!stop) {
      state = state * 1103515245 + 12345;
      int from = static_cast<int>(state >> 8) % kAccounts + 1;
      int to = static_cast<int>(state >> 16) % kAccounts + 1;
      int amount = static_cast<int>(state >> 4) % 100 + 1;
      // Each transfer moves money and records it, in one transaction.
      std::string sql =
          "BEGIN; UPDATE accounts SET balance = balance - " + std::to_string(amount) +
          " WHERE id = " + std::to_string(from) + "; UPDATE accounts SET balance = balance + " +
          std::to_string(amount) + " WHERE id = " + std::to_string(to) +
          "; INSERT INTO transfers (source, target, amount) VALUES (" + std::to_string(from) +
          ", " + std::to_string(to) + ", " + std::to_string(amount) + "); COMMIT;";
      if (db.Exec(sql, /*may_fail=*/true)) {
        ++commits;
      } else {
        db.Exec("ROLLBACK", true);  // a deadlock between the writers: try again
      }
    }
  };
  std::thread w1(writer, 1), w2(writer, 2);
  while (commits < 50) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const long before = commits;
  Bytes backup = Backup(source);
  const long during = commits - before;
  stop = true;
  w1.join();
  w2.join();
  EXPECT_GT(during, 0) << "no transaction committed while the backup ran";

  ASSERT_OK(Restore(target, backup));
  Db db(dsn_, target);
  EXPECT_EQ(db.Value("SELECT sum(balance) FROM accounts"), std::to_string(kAccounts * 1000));
  // Every balance is 1000 plus what the recorded transfers brought.
  EXPECT_EQ(db.Value("SELECT count(*) FROM accounts a WHERE balance <> 1000 + "
                     "(SELECT coalesce(sum(amount), 0) FROM transfers WHERE target = a.id) - "
                     "(SELECT coalesce(sum(amount), 0) FROM transfers WHERE source = a.id)"),
            "0");
  EXPECT_GT(std::stol(db.Value("SELECT count(*) FROM transfers")), 0);
  EXPECT_EQ(db.Value("SELECT count(*) FROM filler"), "200000");
}

TEST_F(PostgresEngineTest, ASinkFailureStopsPgDump) {
  const std::string source = Name("src");
  MakeSample(source, 5000);
  FailingSink sink(64 << 10);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(engine_->BackupFull(source, sink), UnavailableError("the upload failed"));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
  // pg_dump was reaped: this process has no child left.
  errno = 0;
  EXPECT_EQ(::waitpid(-1, nullptr, WNOHANG), -1);
  EXPECT_EQ(errno, ECHILD);
  // The database is as usable as before.
  Bytes backup = Backup(source);
  EXPECT_GT(backup.size(), size_t{64 << 10});
}

class FakeTools {
 public:
  // pg_dump and pg_restore that print their arguments and whether PGPASSWORD
  // holds `password`, then fail.
  explicit FakeTools(const std::string& password) {
    char tmpl[] = "/tmp/coffer-pg-tools-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    for (const char* tool : {"pg_dump", "pg_restore"}) {
      const std::string path = dir_ + "/" + tool;
      std::ofstream(path) << "#!/bin/sh\n"
                          << "cat >/dev/null\n"
                          << "if [ \"$PGPASSWORD\" = '" << password
                          << "' ]; then pw=environment; else pw=missing; fi\n"
                          << "echo \"fake " << tool << ": password $pw; arguments: $*\" >&2\n"
                          << "exit 3\n";
      ::chmod(path.c_str(), 0755);
    }
  }
  ~FakeTools() { std::system(("rm -rf " + dir_).c_str()); }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
};

TEST_F(PostgresEngineTest, ThePasswordReachesTheToolsInTheirEnvironmentOnly) {
  if (dsn_.find("://") != std::string::npos) GTEST_SKIP() << "the DSN is a URI";
  // The test server trusts local connections: a password is accepted and unused.
  const std::string password = "sekret-7Hq2";
  FakeTools tools(password);
  ASSERT_OK_AND_ASSIGN(auto engine, PostgresEngine::Create(dsn_ + " password=" + password,
                                                           {.tools_dir = tools.dir()}));
  const std::string source = Name("src");
  MakeSample(source, 10);
  Bytes out;
  auto sink = MemorySink(out);
  Status st = engine->BackupFull(source, *sink);
  EXPECT_EQ(st.code(), StatusCode::kInternal);
  EXPECT_THAT(st.message(), HasSubstr("exited with status 3"));
  EXPECT_THAT(st.message(), HasSubstr("fake pg_dump: password environment; arguments: "));
  EXPECT_THAT(st.message(), HasSubstr("--format=custom --compress=0"));
  EXPECT_THAT(st.message(), Not(HasSubstr(password)));

  const std::string target = Name("dst");
  const Bytes backup = Backup(source);
  auto source_bytes = MemorySource(backup);
  st = engine->RestoreFull(target, *source_bytes, {});
  EXPECT_THAT(st.message(), HasSubstr("fake pg_restore: password environment; arguments: "));
  EXPECT_THAT(st.message(), HasSubstr("--no-owner --exit-on-error"));
  EXPECT_THAT(st.message(), Not(HasSubstr(password)));
  ExpectNothingLeft(target);
}

TEST_F(PostgresEngineTest, PasswordAuthentication) {
  const std::string password_dsn = Env("COFFER_TEST_PG_PASSWORD_DSN");
  if (password_dsn.empty()) {
    GTEST_SKIP() << "COFFER_TEST_PG_PASSWORD_DSN is unset (scripts/pg-test-server.sh sets it)";
  }
  ASSERT_OK_AND_ASSIGN(auto engine, PostgresEngine::Create(password_dsn));
  const std::string source = Name("src"), target = Name("dst");
  MakeSample(source, 200);
  Bytes backup;
  auto sink = MemorySink(backup);
  ASSERT_OK(engine->BackupFull(source, *sink));
  auto in = MemorySource(backup);
  ASSERT_OK(engine->RestoreFull(target, *in, {}));
  EXPECT_EQ(Fingerprint(target), Fingerprint(source));
}

TEST_F(PostgresEngineTest, CreateNeedsAServerAndAValidDsn) {
  EXPECT_EQ(PostgresEngine::Create("host=/nonexistent/socket/dir port=1 connect_timeout=2")
                .status()
                .code(),
            StatusCode::kUnavailable);
  auto bad = PostgresEngine::Create("postgresql://user:s3cret@[::1");
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), Not(HasSubstr("s3cret")));
  EXPECT_EQ(PostgresEngine::Create(dsn_, {.tools_dir = "/nonexistent"}).status().code(),
            StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace coffer::engines
