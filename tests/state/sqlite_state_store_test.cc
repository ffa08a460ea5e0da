#include "state/sqlite_state_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <thread>
#include <vector>

#include "common/random.h"
#include "testing/files.h"

namespace coffer::state {
namespace {

using ::coffer::testing::FileMode;
using ::coffer::testing::ReadFile;
using ::coffer::testing::SnapshotDirectory;
using ::coffer::testing::TempDir;
using ::coffer::testing::WriteFile;
using ::testing::HasSubstr;

std::unique_ptr<SqliteStateStore> OpenOrDie(const std::string& path) {
  auto store = SqliteStateStore::Open(path);
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  if (!store.ok()) std::abort();
  return std::move(store).value();
}

Status Put(StateStore& store, std::string_view table, std::string_view key,
           std::string_view value) {
  return store.Update([&](Transaction& txn) { return txn.Put(table, key, value); });
}

std::optional<std::string> Get(StateStore& store, std::string_view table, std::string_view key) {
  std::optional<std::string> value;
  Status st = store.View([&](const ReadTransaction& txn) -> Status {
    ASSIGN_OR_RETURN(value, txn.Get(table, key));
    return Status::Ok();
  });
  EXPECT_TRUE(st.ok()) << st.ToString();
  return value;
}

std::vector<std::string> ScanKeys(StateStore& store, std::string_view table,
                                  std::string_view prefix, std::string_view start_after = "",
                                  size_t limit = 0) {
  std::vector<Entry> entries;
  Status st = store.View([&](const ReadTransaction& txn) -> Status {
    ASSIGN_OR_RETURN(entries, txn.Scan(table, prefix, start_after, limit));
    return Status::Ok();
  });
  EXPECT_TRUE(st.ok()) << st.ToString();
  std::vector<std::string> keys;
  for (const Entry& e : entries) keys.push_back(e.key);
  return keys;
}

// Runs SQL on a file through SQLite directly, as another program would.
void ExecSql(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* err = nullptr;
  int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  EXPECT_EQ(rc, SQLITE_OK) << (err != nullptr ? err : "");
  sqlite3_free(err);
  ASSERT_EQ(sqlite3_close(db), SQLITE_OK);
}

int64_t QuerySql(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK);
  EXPECT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  int64_t v = sqlite3_column_int64(stmt, 0);
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return v;
}

class SqliteStateStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { store_ = OpenOrDie(path_); }

  TempDir dir_;
  std::string path_ = dir_.File("state.db");
  std::unique_ptr<SqliteStateStore> store_;
};

TEST_F(SqliteStateStoreTest, PutGetOverwriteDelete) {
  EXPECT_EQ(Get(*store_, "t", "k"), std::nullopt);
  ASSERT_TRUE(Put(*store_, "t", "k", "v1").ok());
  EXPECT_EQ(Get(*store_, "t", "k"), "v1");
  ASSERT_TRUE(Put(*store_, "t", "k", "v2").ok());
  EXPECT_EQ(Get(*store_, "t", "k"), "v2");
  ASSERT_TRUE(store_->Update([](Transaction& txn) { return txn.Delete("t", "k"); }).ok());
  EXPECT_EQ(Get(*store_, "t", "k"), std::nullopt);
  // Deleting a missing key is not an error.
  EXPECT_TRUE(store_->Update([](Transaction& txn) { return txn.Delete("t", "nope"); }).ok());
}

TEST_F(SqliteStateStoreTest, ReadsOwnWritesInsideUpdate) {
  Status st = store_->Update([](Transaction& txn) -> Status {
    RETURN_IF_ERROR(txn.Put("t", "a", "1"));
    ASSIGN_OR_RETURN(auto v, txn.Get("t", "a"));
    if (v != "1") return InternalError("did not read own write");
    ASSIGN_OR_RETURN(auto entries, txn.Scan("t", "", "", 0));
    if (entries.size() != 1) return InternalError("scan did not see own write");
    return Status::Ok();
  });
  EXPECT_TRUE(st.ok()) << st.ToString();
}

TEST_F(SqliteStateStoreTest, TablesAreSeparate) {
  ASSERT_TRUE(Put(*store_, "t", "k", "in t").ok());
  ASSERT_TRUE(Put(*store_, "t1", "k", "in t1").ok());
  ASSERT_TRUE(Put(*store_, "t1", "k2", "in t1").ok());
  EXPECT_EQ(Get(*store_, "t", "k"), "in t");
  EXPECT_EQ(Get(*store_, "t1", "k"), "in t1");
  EXPECT_EQ(Get(*store_, "u", "k"), std::nullopt);
  EXPECT_THAT(ScanKeys(*store_, "t", ""), ::testing::ElementsAre("k"));
  EXPECT_THAT(ScanKeys(*store_, "t1", ""), ::testing::ElementsAre("k", "k2"));
}

TEST_F(SqliteStateStoreTest, EmptyKeyAndBinaryValues) {
  const std::string value("\x00\x01\xff\x00", 4);
  ASSERT_TRUE(Put(*store_, "t", "", value).ok());
  ASSERT_TRUE(Put(*store_, "t", "a", "").ok());
  EXPECT_EQ(Get(*store_, "t", ""), value);
  EXPECT_EQ(Get(*store_, "t", "a"), "");
  EXPECT_THAT(ScanKeys(*store_, "t", ""), ::testing::ElementsAre("", "a"));
  // An empty start_after means "from the first", so the empty key is included.
  EXPECT_THAT(ScanKeys(*store_, "t", "", "", 1), ::testing::ElementsAre(""));
}

TEST_F(SqliteStateStoreTest, ScanByPrefixStartAfterAndLimit) {
  for (const char* k : {"a", "ab", "abc", "abd", "ac", "b", "aa"}) {
    ASSERT_TRUE(Put(*store_, "t", k, std::string("v") + k).ok());
  }
  EXPECT_THAT(ScanKeys(*store_, "t", "ab"), ::testing::ElementsAre("ab", "abc", "abd"));
  EXPECT_THAT(ScanKeys(*store_, "t", "a"),
              ::testing::ElementsAre("a", "aa", "ab", "abc", "abd", "ac"));
  EXPECT_THAT(ScanKeys(*store_, "t", "a", "ab"), ::testing::ElementsAre("abc", "abd", "ac"));
  EXPECT_THAT(ScanKeys(*store_, "t", "a", "ab", 2), ::testing::ElementsAre("abc", "abd"));
  // start_after before the prefix range, and past it.
  EXPECT_THAT(ScanKeys(*store_, "t", "ab", "a"), ::testing::ElementsAre("ab", "abc", "abd"));
  EXPECT_THAT(ScanKeys(*store_, "t", "ab", "ac"), ::testing::ElementsAre());
  // start_after need not be a stored key.
  EXPECT_THAT(ScanKeys(*store_, "t", "", "abcz"), ::testing::ElementsAre("abd", "ac", "b"));
  EXPECT_THAT(ScanKeys(*store_, "t", "zz"), ::testing::ElementsAre());

  std::vector<Entry> entries;
  ASSERT_TRUE(store_
                  ->View([&](const ReadTransaction& txn) -> Status {
                    ASSIGN_OR_RETURN(entries, txn.Scan("t", "ab", "", 0));
                    return Status::Ok();
                  })
                  .ok());
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[1].key, "abc");
  EXPECT_EQ(entries[1].value, "vabc");
}

TEST_F(SqliteStateStoreTest, PagesThroughATableWithStartAfter) {
  for (int i = 0; i < 25; ++i) {
    char key[8];
    std::snprintf(key, sizeof key, "k%03d", i);
    ASSERT_TRUE(Put(*store_, "t", key, "v").ok());
  }
  std::vector<std::string> all;
  std::string after;
  while (true) {
    std::vector<std::string> page = ScanKeys(*store_, "t", "k", after, 10);
    if (page.empty()) break;
    EXPECT_LE(page.size(), 10u);
    all.insert(all.end(), page.begin(), page.end());
    after = page.back();
  }
  ASSERT_EQ(all.size(), 25u);
  EXPECT_TRUE(std::is_sorted(all.begin(), all.end()));
}

TEST_F(SqliteStateStoreTest, BinaryKeysWithZeroAndFfBytesScanInByteOrder) {
  const std::string ff("\xff", 1), ffff("\xff\xff", 2), ff00("\xff\x00", 2), zero("\x00", 1),
      zero_ff("\x00\xff", 2), a_ff("a\xff", 2), a_ff_ff("a\xff\xff", 3), fe_ff("\xfe\xff", 2);
  for (const std::string& k :
       {ff, ffff, ff00, zero, zero_ff, a_ff, a_ff_ff, fe_ff, std::string("a"), std::string("b")}) {
    ASSERT_TRUE(Put(*store_, "t", k, "v").ok());
  }
  EXPECT_THAT(ScanKeys(*store_, "t", ff), ::testing::ElementsAre(ff, ff00, ffff));
  EXPECT_THAT(ScanKeys(*store_, "t", ffff), ::testing::ElementsAre(ffff));
  EXPECT_THAT(ScanKeys(*store_, "t", a_ff), ::testing::ElementsAre(a_ff, a_ff_ff));
  EXPECT_THAT(ScanKeys(*store_, "t", zero), ::testing::ElementsAre(zero, zero_ff));
  EXPECT_THAT(ScanKeys(*store_, "t", ""), ::testing::ElementsAre(zero, zero_ff, "a", a_ff, a_ff_ff,
                                                                 "b", fe_ff, ff, ff00, ffff));
  EXPECT_THAT(ScanKeys(*store_, "t", ff, ff), ::testing::ElementsAre(ff00, ffff));
  EXPECT_EQ(Get(*store_, "t", ff00), "v");
}

// Scan agrees with a std::map (whose std::string order is byte order) on
// random keys over an alphabet of edge bytes, random prefixes, cursors and limits.
TEST_F(SqliteStateStoreTest, ScanMatchesAReferenceModel) {
  SeededRandom random(1234);
  const std::string alphabet("\x00\x01\x7f\x80\xfe\xff", 6);
  auto random_key = [&](size_t max_len) {
    return random.String(random.NextU64() % (max_len + 1), alphabet);
  };
  std::map<std::string, std::string> model;
  ASSERT_TRUE(store_
                  ->Update([&](Transaction& txn) -> Status {
                    for (int i = 0; i < 300; ++i) {
                      std::string k = random_key(4);
                      model[k] = "v" + std::to_string(i);
                      RETURN_IF_ERROR(txn.Put("t", k, model[k]));
                    }
                    return Status::Ok();
                  })
                  .ok());
  for (int round = 0; round < 300; ++round) {
    std::string prefix = random_key(2);
    std::string after = random.NextU64() % 2 == 0 ? "" : random_key(4);
    size_t limit = random.NextU64() % 4 == 0 ? 0 : random.NextU64() % 20;
    std::vector<std::string> want;
    for (auto it = after.empty() ? model.begin() : model.upper_bound(after); it != model.end();
         ++it) {
      if (it->first.compare(0, prefix.size(), prefix) != 0) continue;
      want.push_back(it->first);
      if (limit != 0 && want.size() == limit) break;
    }
    EXPECT_EQ(ScanKeys(*store_, "t", prefix, after, limit), want)
        << "prefix " << HexEncode(AsBytes(prefix)) << " after " << HexEncode(AsBytes(after))
        << " limit " << limit;
  }
}

TEST_F(SqliteStateStoreTest, FailedUpdateLeavesNothing) {
  ASSERT_TRUE(Put(*store_, "t", "kept", "old").ok());
  Status st = store_->Update([](Transaction& txn) -> Status {
    RETURN_IF_ERROR(txn.Put("t", "new", "x"));
    RETURN_IF_ERROR(txn.Put("t", "kept", "changed"));
    RETURN_IF_ERROR(txn.Delete("t", "kept"));
    return FailedPreconditionError("changed my mind");
  });
  EXPECT_EQ(st, FailedPreconditionError("changed my mind"));
  EXPECT_EQ(Get(*store_, "t", "new"), std::nullopt);
  EXPECT_EQ(Get(*store_, "t", "kept"), "old");
  // The store is usable afterwards.
  EXPECT_TRUE(Put(*store_, "t", "after", "y").ok());
  EXPECT_EQ(Get(*store_, "t", "after"), "y");
}

TEST_F(SqliteStateStoreTest, NestedTransactionsAreRefused) {
  Status inner;
  Status outer = store_->Update([&](Transaction& txn) -> Status {
    RETURN_IF_ERROR(txn.Put("t", "k", "v"));
    inner = store_->Update([](Transaction&) { return Status::Ok(); });
    Status view = store_->View([](const ReadTransaction&) { return Status::Ok(); });
    if (view.code() != StatusCode::kInternal) return InternalError("nested View not refused");
    return Status::Ok();
  });
  EXPECT_TRUE(outer.ok()) << outer.ToString();
  EXPECT_EQ(inner.code(), StatusCode::kInternal);
  EXPECT_THAT(inner.message(), HasSubstr("do not nest"));
  EXPECT_EQ(Get(*store_, "t", "k"), "v");
}

// Writers move amounts between accounts, so the total is invariant; every
// View must see the same total whatever it interleaves with.
TEST_F(SqliteStateStoreTest, ViewSeesAConsistentSnapshot) {
  constexpr int kAccounts = 5;
  constexpr int kInitial = 100;
  ASSERT_TRUE(store_
                  ->Update([&](Transaction& txn) -> Status {
                    for (int i = 0; i < kAccounts; ++i) {
                      RETURN_IF_ERROR(txn.Put("acct", std::to_string(i), std::to_string(kInitial)));
                    }
                    return Status::Ok();
                  })
                  .ok());
  std::atomic<bool> stop{false};
  std::atomic<int> bad_views{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < 2; ++w) {
    threads.emplace_back([&, w] {
      SeededRandom random(w + 1);
      for (int i = 0; i < 200; ++i) {
        std::string from = std::to_string(random.NextU64() % kAccounts);
        std::string to = std::to_string(random.NextU64() % kAccounts);
        Status st = store_->Update([&](Transaction& txn) -> Status {
          ASSIGN_OR_RETURN(auto a, txn.Get("acct", from));
          RETURN_IF_ERROR(txn.Put("acct", from, std::to_string(std::stoi(*a) - 1)));
          ASSIGN_OR_RETURN(auto b, txn.Get("acct", to));
          return txn.Put("acct", to, std::to_string(std::stoi(*b) + 1));
        });
        EXPECT_TRUE(st.ok()) << st.ToString();
      }
    });
  }
  std::atomic<int> views{0};
  std::thread reader([&] {
    do {
      int total = 0;
      Status st = store_->View([&](const ReadTransaction& txn) -> Status {
        // Point reads first, then a scan: both must agree with one snapshot.
        for (int i = 0; i < kAccounts; ++i) {
          // Read in place: moving the optional out trips GCC 12's
          // -Wmaybe-uninitialized false positive.
          Result<std::optional<std::string>> v = txn.Get("acct", std::to_string(i));
          if (!v.ok()) return v.status();
          if (!v->has_value()) return InternalError("account missing");
          total += std::stoi(**v);
          std::this_thread::yield();
        }
        ASSIGN_OR_RETURN(auto entries, txn.Scan("acct", "", "", 0));
        int scanned = 0;
        for (const Entry& e : entries) scanned += std::stoi(e.value);
        if (scanned != total) bad_views++;
        return Status::Ok();
      });
      EXPECT_TRUE(st.ok()) << st.ToString();
      if (total != kAccounts * kInitial) bad_views++;
      views++;
    } while (!stop.load());
  });
  for (auto& t : threads) t.join();
  stop = true;
  reader.join();
  EXPECT_GT(views.load(), 0);
  EXPECT_EQ(bad_views.load(), 0);
}

TEST_F(SqliteStateStoreTest, ConcurrentUpdatesAllLand) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 50;
  ASSERT_TRUE(Put(*store_, "t", "counter", "0").ok());
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        Status st = store_->Update([&](Transaction& txn) -> Status {
          ASSIGN_OR_RETURN(auto c, txn.Get("t", "counter"));
          RETURN_IF_ERROR(txn.Put("t", "counter", std::to_string(std::stoi(*c) + 1)));
          return txn.Put("t", "w/" + std::to_string(t) + "/" + std::to_string(i), "x");
        });
        EXPECT_TRUE(st.ok()) << st.ToString();
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(Get(*store_, "t", "counter"), std::to_string(kThreads * kPerThread));
  EXPECT_EQ(ScanKeys(*store_, "t", "w/").size(), static_cast<size_t>(kThreads * kPerThread));
}

TEST_F(SqliteStateStoreTest, TwoStoresOnOneFileSeeEachOthersCommits) {
  auto other = OpenOrDie(path_);
  ASSERT_TRUE(Put(*store_, "t", "k", "from first").ok());
  EXPECT_EQ(Get(*other, "t", "k"), "from first");
  ASSERT_TRUE(Put(*other, "t", "k", "from second").ok());
  EXPECT_EQ(Get(*store_, "t", "k"), "from second");
}

TEST_F(SqliteStateStoreTest, DataSurvivesReopen) {
  ASSERT_TRUE(Put(*store_, "t", "k", "v").ok());
  store_.reset();
  store_ = OpenOrDie(path_);
  EXPECT_EQ(Get(*store_, "t", "k"), "v");
}

// An overwritten or deleted value (a secret stored before it was sealed, the
// sealed material of a deleted key) is overwritten with zeros in the file, not
// left in free space; a clean close leaves no write-ahead log holding it either.
TEST_F(SqliteStateStoreTest, OverwrittenAndDeletedValuesLeaveNoTraceOnceClosed) {
  const std::string small = "old-small-value-4b1d";
  const std::string large = "old-large-value-9e2c" + std::string(9000, 'x') + "end-9e2c";
  ASSERT_TRUE(Put(*store_, "t", "a", small).ok());
  ASSERT_TRUE(Put(*store_, "t", "b", large).ok());
  ASSERT_TRUE(Put(*store_, "t", "keep", "kept-value-77aa").ok());
  ASSERT_TRUE(Put(*store_, "t", "a", "new").ok());
  ASSERT_TRUE(store_->Update([](Transaction& txn) { return txn.Delete("t", "b"); }).ok());
  store_.reset();
  EXPECT_FALSE(std::filesystem::exists(path_ + "-wal"));
  std::ifstream in(path_, std::ios::binary);
  const std::string file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(file.find("kept-value-77aa"), std::string::npos);
  EXPECT_EQ(file.find("old-small-value-4b1d"), std::string::npos);
  EXPECT_EQ(file.find("old-large-value-9e2c"), std::string::npos);
  EXPECT_EQ(file.find("end-9e2c"), std::string::npos);
}

TEST(SqliteStateStoreExclusiveTest, KeepsOthersOutAndItsDataAcrossReopen) {
  TempDir dir;
  std::string path = dir.File("state.db");
  {
    auto store = SqliteStateStore::Open(path, {.exclusive = true});
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    ASSERT_TRUE(Put(**store, "t", "k", "v").ok());
    EXPECT_EQ(Get(**store, "t", "k"), "v");
    // Another program cannot read the file while the store holds it.
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
    int rc = sqlite3_exec(db, "SELECT count(*) FROM sqlite_master", nullptr, nullptr, nullptr);
    EXPECT_EQ(rc, SQLITE_BUSY);
    sqlite3_close(db);
    // No shared-memory index: WAL's index lives in the process.
    EXPECT_FALSE(std::filesystem::exists(path + "-shm"));
  }
  // Closed: others get in again, and the data is there.
  EXPECT_EQ(QuerySql(path, "SELECT count(*) FROM sqlite_master") > 0, true);
  auto reopened = OpenOrDie(path);
  EXPECT_EQ(Get(*reopened, "t", "k"), "v");
}

// Derived data (the audit index): no write-ahead log beside the file, rollbacks
// still undo a failed update, and a clean close leaves everything in the file.
TEST(SqliteStateStoreRebuildableTest, KeepsNoWriteAheadLogAndStillRollsBack) {
  TempDir dir;
  std::string path = dir.File("index.db");
  {
    auto store = SqliteStateStore::Open(path, {.exclusive = true, .durable = false});
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    ASSERT_TRUE(
        (*store)->UpdateRebuildable([](Transaction& tx) { return tx.Put("t", "k", "v"); }).ok());
    Status failed = (*store)->UpdateRebuildable([](Transaction& tx) -> Status {
      RETURN_IF_ERROR(tx.Put("t", "k", "changed"));
      RETURN_IF_ERROR(tx.Put("t", "k2", std::string(100000, 'x')));
      return InvalidArgumentError("no");
    });
    EXPECT_FALSE(failed.ok());
    EXPECT_EQ(Get(**store, "t", "k"), "v");
    EXPECT_EQ(Get(**store, "t", "k2"), std::nullopt);
    for (const char* suffix : {"-wal", "-shm", "-journal"}) {
      EXPECT_FALSE(std::filesystem::exists(path + suffix)) << suffix;
    }
  }
  EXPECT_EQ(QuerySql(path, "SELECT count(*) FROM kv"), 1);
  // A file left in WAL mode (by an earlier version) is taken over the same way.
  ExecSql(path, "PRAGMA journal_mode = WAL");
  auto again = SqliteStateStore::Open(path, {.exclusive = true, .durable = false});
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(Get(**again, "t", "k"), "v");
  ASSERT_TRUE(Put(**again, "t", "k3", "w").ok());
  EXPECT_FALSE(std::filesystem::exists(path + "-wal"));
}

TEST(SqliteStateStoreReadCacheTest, NeedsExclusiveLocking) {
  TempDir dir;
  auto store = SqliteStateStore::Open(dir.File("state.db"), {.read_cache_bytes = 1 << 20});
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(store.status().message(), HasSubstr("exclusive"));
}

// Every read through the cache answers what a store without one answers: random
// writes (committed, rolled back, rebuildable) and reads (several per View, found
// and missing keys) against a model, with a budget small enough that the cache
// fills and is dropped many times.
TEST(SqliteStateStoreReadCacheTest, AnswersLikeTheStoreUnderRandomWritesAndRollbacks) {
  TempDir dir;
  auto opened =
      SqliteStateStore::Open(dir.File("state.db"), {.exclusive = true, .read_cache_bytes = 2048});
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  StateStore& store = **opened;
  SeededRandom random(77);
  std::map<std::pair<std::string, std::string>, std::string> model;
  auto table = [&] { return std::string(random.NextU64() % 2 == 0 ? "a" : "b"); };
  auto key = [&] { return "k" + std::to_string(random.NextU64() % 40); };
  for (int round = 0; round < 3000; ++round) {
    const uint64_t op = random.NextU64() % 10;
    if (op < 5) {
      // A View reading several keys, each checked against the model.
      std::vector<std::pair<std::string, std::string>> keys;
      for (int i = 0; i < 3; ++i) keys.emplace_back(table(), key());
      std::vector<std::optional<std::string>> got;
      ASSERT_TRUE(store
                      .View([&](const ReadTransaction& tx) -> Status {
                        for (const auto& [t, k] : keys) {
                          ASSIGN_OR_RETURN(auto v, tx.Get(t, k));
                          got.push_back(std::move(v));
                        }
                        return Status::Ok();
                      })
                      .ok());
      for (size_t i = 0; i < keys.size(); ++i) {
        auto it = model.find(keys[i]);
        std::optional<std::string> want =
            it == model.end() ? std::nullopt : std::optional<std::string>(it->second);
        ASSERT_EQ(got[i], want) << "round " << round << " " << keys[i].first << "/"
                                << keys[i].second;
      }
      continue;
    }
    // An update of a few keys; some are rolled back, some are rebuildable.
    const bool fail = op == 9;
    const bool rebuildable = op == 8;
    auto changes = model;
    auto fn = [&](Transaction& tx) -> Status {
      for (int i = 0; i < 3; ++i) {
        std::pair<std::string, std::string> k(table(), key());
        if (random.NextU64() % 3 == 0) {
          RETURN_IF_ERROR(tx.Delete(k.first, k.second));
          changes.erase(k);
        } else {
          std::string v(static_cast<size_t>(random.NextU64() % 300), 'x');
          v += std::to_string(round);
          RETURN_IF_ERROR(tx.Put(k.first, k.second, v));
          changes[k] = v;
        }
      }
      if (fail) return FailedPreconditionError("rolled back");
      return Status::Ok();
    };
    Status st = rebuildable ? store.UpdateRebuildable(fn) : store.Update(fn);
    if (fail) {
      ASSERT_FALSE(st.ok());
    } else {
      ASSERT_TRUE(st.ok()) << st.ToString();
      model = std::move(changes);
    }
  }
}

TEST_F(SqliteStateStoreTest, RebuildableUpdatesCommitAtomicallyAndRollBackOnError) {
  ASSERT_TRUE(
      store_->UpdateRebuildable([](Transaction& tx) { return tx.Put("t", "k", "v"); }).ok());
  EXPECT_EQ(Get(*store_, "t", "k"), "v");
  Status failed = store_->UpdateRebuildable([](Transaction& tx) -> Status {
    RETURN_IF_ERROR(tx.Put("t", "k", "changed"));
    RETURN_IF_ERROR(tx.Put("t", "k2", "new"));
    return InvalidArgumentError("no");
  });
  EXPECT_FALSE(failed.ok());
  EXPECT_EQ(Get(*store_, "t", "k"), "v");
  EXPECT_EQ(Get(*store_, "t", "k2"), std::nullopt);
  // Ordinary updates go on as before, and everything is there after a reopen.
  ASSERT_TRUE(Put(*store_, "t", "k3", "durable").ok());
  store_.reset();
  store_ = OpenOrDie(path_);
  EXPECT_EQ(Get(*store_, "t", "k"), "v");
  EXPECT_EQ(Get(*store_, "t", "k3"), "durable");
}

TEST_F(SqliteStateStoreTest, FilesAreCreatedWithMode0600) {
  ASSERT_TRUE(Put(*store_, "t", "k", "v").ok());
  EXPECT_EQ(FileMode(path_), 0600u);
  for (const char* suffix : {"-wal", "-shm"}) {
    std::string p = path_ + suffix;
    if (::access(p.c_str(), F_OK) == 0) {
      EXPECT_EQ(FileMode(p), 0600u) << p;
    }
  }
}

TEST_F(SqliteStateStoreTest, RecordsSchemaVersionAndApplicationId) {
  store_.reset();
  EXPECT_EQ(QuerySql(path_, "PRAGMA user_version"), SqliteStateStore::CurrentSchemaVersion());
  EXPECT_NE(QuerySql(path_, "PRAGMA application_id"), 0);
  EXPECT_GE(SqliteStateStore::CurrentSchemaVersion(), 1);
}

TEST(SqliteStateStoreOpenTest, MissingDirectoryIsAnError) {
  TempDir dir;
  auto store = SqliteStateStore::Open(dir.File("no/such/dir/state.db"));
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(store.status().message(), HasSubstr("no/such/dir/state.db"));
}

TEST(SqliteStateStoreOpenTest, EmptyFileBecomesAStore) {
  TempDir dir;
  const std::string path = dir.File("state.db");
  WriteFile(path, "");
  auto store = OpenOrDie(path);
  EXPECT_TRUE(Put(*store, "t", "k", "v").ok());
}

// The read-only inspection opens the file through a URI; characters that mean
// something in a URI must still name the same file.
TEST(SqliteStateStoreOpenTest, PathWithUriCharacters) {
  TempDir dir;
  const std::string path = dir.File("a b%3f?x=1#frag.db");
  {
    auto store = OpenOrDie(path);
    ASSERT_TRUE(Put(*store, "t", "k", "v").ok());
  }
  auto store = OpenOrDie(path);
  EXPECT_EQ(Get(*store, "t", "k"), "v");
  EXPECT_EQ(FileMode(path), 0600u);
}

// A refused file must be left exactly as it was, and no file added beside it.
void ExpectRefusedAndUnchanged(const TempDir& dir, const std::string& path,
                               std::string_view message) {
  const auto before = SnapshotDirectory(dir.path());
  const std::string content = ReadFile(path);
  auto store = SqliteStateStore::Open(path);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kFailedPrecondition) << store.status().ToString();
  EXPECT_THAT(store.status().message(), HasSubstr(message));
  EXPECT_EQ(ReadFile(path), content);
  EXPECT_EQ(SnapshotDirectory(dir.path()), before);
}

TEST(SqliteStateStoreSchemaTest, NewerSchemaVersionIsRefused) {
  TempDir dir;
  const std::string path = dir.File("state.db");
  {
    auto store = OpenOrDie(path);
    ASSERT_TRUE(Put(*store, "t", "k", "v").ok());
  }
  ExecSql(path,
          "PRAGMA user_version = " + std::to_string(SqliteStateStore::CurrentSchemaVersion() + 1));
  ExpectRefusedAndUnchanged(dir, path, "newer coffer");
}

TEST(SqliteStateStoreSchemaTest, ForeignSqliteDatabaseIsRefused) {
  TempDir dir;
  const std::string path = dir.File("app.db");
  ExecSql(path, "CREATE TABLE t (x); INSERT INTO t VALUES (1);");
  ExpectRefusedAndUnchanged(dir, path, "not a coffer state store");
}

TEST(SqliteStateStoreSchemaTest, ForeignWalModeDatabaseIsRefused) {
  TempDir dir;
  const std::string path = dir.File("app.db");
  ExecSql(path, "PRAGMA journal_mode = WAL; CREATE TABLE t (x); INSERT INTO t VALUES (1);");
  ExpectRefusedAndUnchanged(dir, path, "not a coffer state store");
}

TEST(SqliteStateStoreSchemaTest, EmptyDatabaseOfAnotherApplicationIsRefused) {
  TempDir dir;
  const std::string path = dir.File("app.db");
  ExecSql(path, "PRAGMA application_id = 1234; PRAGMA user_version = 1;");
  ExpectRefusedAndUnchanged(dir, path, "not a coffer state store");
}

TEST(SqliteStateStoreSchemaTest, RandomBytesAreRefused) {
  TempDir dir;
  const std::string path = dir.File("state.db");
  SeededRandom random(99);
  std::string junk(8192, '\0');
  random.Fill(std::span<uint8_t>(reinterpret_cast<uint8_t*>(junk.data()), junk.size()));
  WriteFile(path, junk);
  ExpectRefusedAndUnchanged(dir, path, "not an SQLite database");
}

TEST(SqliteStateStoreSchemaTest, ShortTextFileIsRefused) {
  TempDir dir;
  const std::string path = dir.File("state.db");
  WriteFile(path, "hello\n");
  ExpectRefusedAndUnchanged(dir, path, "not an SQLite database");
}

TEST(SqliteStateStoreSchemaTest, SqliteHeaderFollowedByJunkIsRefusedAndUnchanged) {
  TempDir dir;
  const std::string path = dir.File("state.db");
  SeededRandom random(7);
  std::string junk(4096, '\0');
  random.Fill(std::span<uint8_t>(reinterpret_cast<uint8_t*>(junk.data()), junk.size()));
  std::memcpy(junk.data(), "SQLite format 3", 16);
  WriteFile(path, junk);
  const auto before = SnapshotDirectory(dir.path());
  auto store = SqliteStateStore::Open(path);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(SnapshotDirectory(dir.path()), before);
}

// A child process commits transactions and reports each acknowledged one on a
// pipe; the parent kills it with SIGKILL mid-stream. Every acknowledged
// transaction must be in the store afterwards, and every transaction (two
// keys) must be all there or not at all.
TEST(SqliteStateStoreDurabilityTest, AcknowledgedWritesSurviveSigkill) {
  TempDir dir;
  const std::string path = dir.File("state.db");
  constexpr uint32_t kKillAfter = 300;
  auto key = [](const char* table_prefix, uint32_t i) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%s%08u", table_prefix, i);
    return std::string(buf);
  };
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(fds[0]);
    auto store = SqliteStateStore::Open(path);
    if (!store.ok()) ::_exit(2);
    for (uint32_t i = 0; i < 1000000; ++i) {
      Status st = (*store)->Update([&](Transaction& txn) -> Status {
        RETURN_IF_ERROR(txn.Put("t", key("a/", i), std::string(200, 'x')));
        return txn.Put("t", key("b/", i), std::to_string(i));
      });
      if (!st.ok()) ::_exit(3);
      if (::write(fds[1], &i, sizeof i) != sizeof i) ::_exit(4);
    }
    ::_exit(0);
  }
  ::close(fds[1]);
  std::vector<uint32_t> acknowledged;
  bool killed = false;
  while (true) {
    uint32_t i;
    ssize_t n = ::read(fds[0], &i, sizeof i);
    if (n == 0) break;
    ASSERT_EQ(n, static_cast<ssize_t>(sizeof i));
    acknowledged.push_back(i);
    if (!killed && acknowledged.size() == kKillAfter) {
      ASSERT_EQ(::kill(pid, SIGKILL), 0);
      killed = true;
    }
  }
  ::close(fds[0]);
  int wstatus = 0;
  ASSERT_EQ(::waitpid(pid, &wstatus, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(wstatus)) << "child exited with " << WEXITSTATUS(wstatus);
  EXPECT_EQ(WTERMSIG(wstatus), SIGKILL);
  ASSERT_GE(acknowledged.size(), kKillAfter);

  auto store = OpenOrDie(path);
  for (uint32_t i : acknowledged) {
    EXPECT_EQ(Get(*store, "t", key("b/", i)), std::to_string(i)) << i;
    EXPECT_EQ(Get(*store, "t", key("a/", i)), std::string(200, 'x')) << i;
  }
  // Whatever landed beyond the last acknowledgement landed whole.
  std::vector<std::string> a = ScanKeys(*store, "t", "a/");
  std::vector<std::string> b = ScanKeys(*store, "t", "b/");
  ASSERT_EQ(a.size(), b.size());
  EXPECT_GE(a.size(), acknowledged.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i], key("a/", static_cast<uint32_t>(i)));
    EXPECT_EQ(b[i], key("b/", static_cast<uint32_t>(i)));
  }
}

}  // namespace
}  // namespace coffer::state
