// AuditLog (src/audit/audit_log.cc): records made durable through the journal, the
// LookupEvents index in the state store (every attribute, time range, paging, newest
// first), catching up and dropping entries at open, and refusing when the journal is
// damaged.
#include "audit/audit_log.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <future>
#include <set>
#include <thread>
#include <vector>

#include "audit/cloudtrail_record.h"
#include "audit/journal.h"
#include "common/clock.h"
#include "policy/evaluate.h"
#include "state/sqlite_state_store.h"
#include "testing/files.h"

namespace coffer::audit {
namespace {

using ::coffer::testing::ReadFile;
using ::coffer::testing::TempDir;
using ::coffer::testing::WriteFile;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kAccount[] = "111122223333";
constexpr char kKeyA[] =
    "arn:aws:kms:us-east-1:111122223333:key/aaaaaaaa-0000-4000-8000-000000000001";
constexpr char kKeyB[] =
    "arn:aws:kms:us-east-1:111122223333:key/bbbbbbbb-0000-4000-8000-000000000002";

TimePoint At(int64_t seconds) {
  return FromEpochMillis(1767225600000) + std::chrono::seconds(seconds);
}

struct EventSpec {
  std::string name = "Decrypt";
  std::string source = "kms.amazonaws.com";
  std::string user = "Alice";  // "" : unauthenticated
  std::string access_key = "AKIAEXAMPLEALICE0001";
  int64_t time = 0;
  bool read_only = true;
  std::vector<std::string> keys = {kKeyA};
  std::string id;
};

std::string MakeRecord(const EventSpec& s) {
  AuditEvent e;
  if (!s.user.empty()) {
    e.principal = policy::Principal::IamUser("arn:aws:iam::111122223333:user/" + s.user,
                                             "AIDAEXAMPLE" + s.user);
  }
  e.access_key_id = s.access_key;
  e.account_id = kAccount;
  e.region = "us-east-1";
  e.event_time = At(s.time);
  e.event_source = s.source;
  e.event_name = s.name;
  e.source_ip = "127.0.0.1";
  e.user_agent = "test";
  e.request_id = "req-" + s.id;
  e.event_id = s.id;
  e.read_only = s.read_only;
  for (const auto& k : s.keys) e.resources.push_back(AuditResource::Of(k, "AWS::KMS::Key"));
  return BuildCloudTrailRecord(e);
}

class AuditLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    OpenStore();
    OpenLog();
  }
  void OpenStore() {
    auto store = state::SqliteStateStore::Open(tmp_.File("state.db"));
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
  }
  void OpenLog() {
    AuditLogOptions options;
    options.journal.sync = false;
    options.journal.segment_size = segment_size_;
    options.index_delay = index_delay_;
    options.index_batch_records = index_batch_records_;
    auto log = AuditLog::Open(JournalDirectory(tmp_.path()), *store_, options);
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    log_ = std::move(log).value();
  }
  void Reopen() {
    log_.reset();
    OpenLog();
  }
  Status RecordAndWait(std::string record) {
    std::promise<Status> done;
    log_->Record(std::move(record), [&](Status s) { done.set_value(std::move(s)); });
    return done.get_future().get();
  }
  // Records the events and returns their event ids in the order recorded.
  void RecordAll(std::vector<EventSpec> specs) {
    for (auto& s : specs) {
      if (s.id.empty()) s.id = "evt-" + std::to_string(next_id_++);
      ASSERT_TRUE(RecordAndWait(MakeRecord(s)).ok());
    }
  }
  std::vector<std::string> Ids(const LookupRequest& request) {
    auto result = log_->Lookup(request);
    EXPECT_TRUE(result.ok()) << result.status().ToString();
    std::vector<std::string> ids;
    if (!result.ok()) return ids;
    for (const auto& e : result->events) ids.push_back(e.summary.event_id);
    return ids;
  }
  static LookupRequest By(LookupAttributeKey key, std::string value) {
    LookupRequest r;
    r.attribute = LookupRequest::Attribute{key, std::move(value)};
    return r;
  }

  TempDir tmp_;
  uint64_t segment_size_ = journal_format::kDefaultSegmentSize;
  std::chrono::milliseconds index_delay_{20};
  size_t index_batch_records_ = 4096;
  std::unique_ptr<state::SqliteStateStore> store_;
  std::unique_ptr<AuditLog> log_;
  int next_id_ = 1;
};

TEST_F(AuditLogTest, RecordsAreDurableAndFoundNewestFirst) {
  RecordAll({{.time = 10, .id = "a"},
             {.time = 30, .id = "b"},
             {.time = 20, .id = "c"},
             {.time = 30, .id = "d"}});
  EXPECT_TRUE(log_->Health().ok());
  EXPECT_EQ(log_->journal().last_sequence(), 4u);
  // Newest first by (event time, sequence): d and b share a time, d came later.
  EXPECT_THAT(Ids({}), ElementsAre("d", "b", "c", "a"));

  auto result = log_->Lookup(By(LookupAttributeKey::kEventId, "c"));
  ASSERT_TRUE(result.ok());
  ASSERT_EQ(result->events.size(), 1u);
  const LookupEvent& e = result->events[0];
  EXPECT_EQ(e.sequence, 3u);
  EXPECT_EQ(e.record, MakeRecord({.time = 20, .id = "c"}));
  EXPECT_EQ(e.summary.event_name, "Decrypt");
  EXPECT_EQ(e.summary.username, "Alice");
  EXPECT_EQ(e.summary.event_time, At(20));
  EXPECT_FALSE(result->next.has_value());
}

TEST_F(AuditLogTest, EveryLookupAttribute) {
  RecordAll({
      {.name = "Encrypt",
       .user = "Alice",
       .access_key = "AKIAALICE",
       .time = 1,
       .read_only = true,
       .keys = {kKeyA},
       .id = "e1"},
      {.name = "CreateAlias",
       .user = "Bob",
       .access_key = "AKIABOB",
       .time = 2,
       .read_only = false,
       .keys = {kKeyA, kKeyB},
       .id = "e2"},
      {.name = "CreateUser",
       .source = "iam.amazonaws.com",
       .user = "Bob",
       .access_key = "AKIABOB",
       .time = 3,
       .read_only = false,
       .keys = {},
       .id = "e3"},
      {.name = "Decrypt",
       .user = "",
       .access_key = "AKIAUNKNOWN",
       .time = 4,
       .keys = {},
       .id = "e4"},
  });
  using K = LookupAttributeKey;
  EXPECT_THAT(Ids(By(K::kEventId, "e2")), ElementsAre("e2"));
  EXPECT_THAT(Ids(By(K::kEventName, "CreateAlias")), ElementsAre("e2"));
  EXPECT_THAT(Ids(By(K::kEventName, "Create")), ElementsAre());  // exact, not a prefix
  EXPECT_THAT(Ids(By(K::kReadOnly, "true")), ElementsAre("e4", "e1"));
  EXPECT_THAT(Ids(By(K::kReadOnly, "false")), ElementsAre("e3", "e2"));
  EXPECT_THAT(Ids(By(K::kUsername, "Bob")), ElementsAre("e3", "e2"));
  EXPECT_THAT(Ids(By(K::kUsername, "Alice")), ElementsAre("e1"));
  EXPECT_THAT(Ids(By(K::kResourceType, "AWS::KMS::Key")), ElementsAre("e2", "e1"));
  EXPECT_THAT(Ids(By(K::kResourceName, kKeyB)), ElementsAre("e2"));
  EXPECT_THAT(Ids(By(K::kResourceName, kKeyA)), ElementsAre("e2", "e1"));
  EXPECT_THAT(Ids(By(K::kEventSource, "iam.amazonaws.com")), ElementsAre("e3"));
  EXPECT_THAT(Ids(By(K::kEventSource, "kms.amazonaws.com")), ElementsAre("e4", "e2", "e1"));
  EXPECT_THAT(Ids(By(K::kAccessKeyId, "AKIAUNKNOWN")), ElementsAre("e4"));
  EXPECT_THAT(Ids(By(K::kAccessKeyId, "AKIABOB")), ElementsAre("e3", "e2"));
}

TEST_F(AuditLogTest, AttributeNames) {
  for (auto key : {LookupAttributeKey::kEventId, LookupAttributeKey::kEventName,
                   LookupAttributeKey::kReadOnly, LookupAttributeKey::kUsername,
                   LookupAttributeKey::kResourceType, LookupAttributeKey::kResourceName,
                   LookupAttributeKey::kEventSource, LookupAttributeKey::kAccessKeyId}) {
    EXPECT_EQ(ParseLookupAttributeKey(LookupAttributeKeyName(key)), key);
  }
  EXPECT_EQ(LookupAttributeKeyName(LookupAttributeKey::kResourceName), "ResourceName");
  EXPECT_FALSE(ParseLookupAttributeKey("eventname").has_value());
}

TEST_F(AuditLogTest, TimeRangeIsInclusive) {
  RecordAll({{.time = 10, .id = "t10"},
             {.time = 20, .id = "t20"},
             {.time = 30, .id = "t30"},
             {.time = 40, .id = "t40"}});
  LookupRequest r;
  r.start_time = At(20);
  r.end_time = At(30);
  EXPECT_THAT(Ids(r), ElementsAre("t30", "t20"));
  // Fractions: start rounds up, end rounds down to the events' whole seconds.
  r.start_time = At(19) + std::chrono::milliseconds(500);
  r.end_time = At(30) + std::chrono::milliseconds(999);
  EXPECT_THAT(Ids(r), ElementsAre("t30", "t20"));
  r.start_time = At(20) + std::chrono::milliseconds(1);
  EXPECT_THAT(Ids(r), ElementsAre("t30"));
  r = {};
  r.end_time = At(15);
  EXPECT_THAT(Ids(r), ElementsAre("t10"));
  r = By(LookupAttributeKey::kUsername, "Alice");
  r.start_time = At(35);
  EXPECT_THAT(Ids(r), ElementsAre("t40"));
  r.start_time = At(41);
  EXPECT_THAT(Ids(r), ElementsAre());
}

TEST_F(AuditLogTest, PagesWithACursor) {
  std::vector<EventSpec> specs;
  for (int i = 0; i < 23; ++i) specs.push_back({.time = i / 3, .id = "p" + std::to_string(i)});
  RecordAll(specs);
  for (bool by_attribute : {false, true}) {
    LookupRequest r =
        by_attribute ? By(LookupAttributeKey::kEventName, "Decrypt") : LookupRequest{};
    r.max_results = 5;
    r.start_time = At(1);  // leaves out p0, p1, p2
    std::vector<std::string> all;
    int pages = 0;
    while (true) {
      auto result = log_->Lookup(r);
      ASSERT_TRUE(result.ok());
      ++pages;
      EXPECT_LE(result->events.size(), 5u);
      for (const auto& e : result->events) all.push_back(e.summary.event_id);
      if (!result->next) break;
      r.after = result->next;
    }
    EXPECT_EQ(pages, 4);
    ASSERT_EQ(all.size(), 20u);
    for (int i = 0; i < 20; ++i) EXPECT_EQ(all[i], "p" + std::to_string(22 - i));
  }
  LookupRequest exact;
  exact.max_results = 23;
  auto result = log_->Lookup(exact);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->events.size(), 23u);
  EXPECT_FALSE(result->next.has_value());  // no more: no cursor
  exact.max_results = 0;
  EXPECT_EQ(log_->Lookup(exact).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(AuditLogTest, ConcurrentRecordsAreAllIndexedBeforeALookup) {
  constexpr int kThreads = 8, kEach = 50;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        std::promise<Status> done;
        log_->Record(MakeRecord({.time = i, .id = std::to_string(t) + "-" + std::to_string(i)}),
                     [&](Status s) { done.set_value(std::move(s)); });
        if (!done.get_future().get().ok()) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  // No explicit wait: Lookup waits for the indexer itself.
  LookupRequest r;
  r.max_results = 50;
  std::set<std::string> seen;
  while (true) {
    auto result = log_->Lookup(r);
    ASSERT_TRUE(result.ok());
    for (const auto& e : result->events) EXPECT_TRUE(seen.insert(e.summary.event_id).second);
    if (!result->next) break;
    r.after = result->next;
  }
  EXPECT_EQ(seen.size(), size_t{kThreads * kEach});
  EXPECT_EQ(log_->indexed_sequence(), uint64_t{kThreads * kEach});
  EXPECT_GT(log_->journal().stats().records, 0u);
}

TEST_F(AuditLogTest, IndexSurvivesAReopenAndSpansSegments) {
  segment_size_ = 2048;  // a few records per segment
  Reopen();
  std::vector<EventSpec> specs;
  for (int i = 0; i < 30; ++i) specs.push_back({.time = i, .id = "s" + std::to_string(i)});
  RecordAll(specs);
  EXPECT_GT(log_->journal().stats().segments_created, 3u);
  Reopen();
  EXPECT_EQ(log_->indexed_sequence(), 30u);
  EXPECT_THAT(Ids(By(LookupAttributeKey::kEventId, "s0")), ElementsAre("s0"));
  EXPECT_THAT(Ids(By(LookupAttributeKey::kEventId, "s17")), ElementsAre("s17"));
  RecordAll({{.time = 100, .id = "after"}});
  LookupRequest r;
  r.max_results = 2;
  EXPECT_THAT(Ids(r), ElementsAre("after", "s29"));
}

TEST_F(AuditLogTest, OpenCatchesUpWithTheJournal) {
  RecordAll({{.time = 1, .id = "x1"}, {.time = 2, .id = "x2"}});
  log_.reset();
  // A new, empty state store: the index is rebuilt from the journal at open.
  store_.reset();
  std::filesystem::remove(tmp_.File("state.db"));
  OpenStore();
  OpenLog();
  EXPECT_EQ(log_->indexed_sequence(), 2u);
  EXPECT_THAT(Ids({}), ElementsAre("x2", "x1"));
  RecordAll({{.time = 3, .id = "x3"}});
  EXPECT_THAT(Ids({}), ElementsAre("x3", "x2", "x1"));
}

TEST_F(AuditLogTest, OpenDropsEntriesOfRecordsTheJournalNoLongerHolds) {
  segment_size_ = 2048;
  Reopen();
  std::vector<EventSpec> specs;
  for (int i = 0; i < 12; ++i) specs.push_back({.time = i, .id = "d" + std::to_string(i)});
  RecordAll(specs);
  log_.reset();
  // The operator moves the last segment away (as after damage).
  std::string last;
  for (const auto& entry : std::filesystem::directory_iterator(JournalDirectory(tmp_.path()))) {
    std::string name = entry.path().filename().string();
    if (name.ends_with(".journal") && name > last) last = name;
  }
  ASSERT_NE(last, SegmentFileName(1));
  const uint64_t first_moved = std::stoull(last.substr(0, 16));
  std::filesystem::rename(JournalDirectory(tmp_.path()) + "/" + last, tmp_.File(last));
  OpenLog();
  EXPECT_EQ(log_->indexed_sequence(), first_moved - 1);
  LookupRequest r;
  auto ids = Ids(r);
  EXPECT_EQ(ids.size(), first_moved - 1);
  EXPECT_EQ(ids.front(), "d" + std::to_string(first_moved - 2));
  // New records continue the journal and the index.
  RecordAll({{.time = 50, .id = "new"}});
  EXPECT_THAT(Ids(By(LookupAttributeKey::kEventId, "new")), ElementsAre("new"));
}

TEST_F(AuditLogTest, ARecordThatIsNotCloudTrailIsKeptButNotIndexed) {
  EXPECT_TRUE(RecordAndWait("not json").ok());
  RecordAll({{.time = 1, .id = "ok"}});
  EXPECT_EQ(log_->journal().last_sequence(), 2u);
  EXPECT_TRUE(log_->WaitIndexed().ok());
  EXPECT_EQ(log_->indexed_sequence(), 2u);
  EXPECT_THAT(Ids({}), ElementsAre("ok"));
}

TEST_F(AuditLogTest, ADamagedJournalRefusesAndSaysWhy) {
  RecordAll({{.time = 1, .id = "g1"}, {.time = 2, .id = "g2"}});
  log_.reset();
  const std::string segment = JournalDirectory(tmp_.path()) + "/" + SegmentFileName(1);
  std::string bytes = ReadFile(segment);
  bytes[bytes.size() - 3] ^= 0x20;  // in the last payload
  WriteFile(segment, bytes);
  OpenLog();
  Status health = log_->Health();
  EXPECT_EQ(health.code(), StatusCode::kDataLoss);
  EXPECT_THAT(health.message(), HasSubstr("damaged"));
  EXPECT_FALSE(RecordAndWait(MakeRecord({.time = 3, .id = "g3"})).ok());
  // The index is kept; the damaged record cannot be read back.
  EXPECT_THAT(Ids(By(LookupAttributeKey::kEventId, "g1")), ElementsAre("g1"));
  EXPECT_EQ(log_->Lookup(By(LookupAttributeKey::kEventId, "g2")).status().code(),
            StatusCode::kDataLoss);
}

TEST_F(AuditLogTest, ClosedLogRefuses) {
  RecordAll({{.time = 1, .id = "c1"}});
  log_->Close();
  EXPECT_FALSE(log_->Health().ok());
  EXPECT_FALSE(RecordAndWait(MakeRecord({.time = 2, .id = "c2"})).ok());
  EXPECT_THAT(Ids({}), ElementsAre("c1"));
}

TEST_F(AuditLogTest, TheIndexerGathersRecordsButALookupDoesNotWaitForIt) {
  index_delay_ = std::chrono::minutes(10);
  Reopen();
  RecordAll({{.time = 1, .id = "g1"}, {.time = 2, .id = "g2"}});
  EXPECT_EQ(log_->indexed_sequence(), 0u);  // still gathering
  const auto start = std::chrono::steady_clock::now();
  EXPECT_THAT(Ids({}), ElementsAre("g2", "g1"));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_EQ(log_->indexed_sequence(), 2u);
  RecordAll({{.time = 3, .id = "g3"}});
  log_->Close();  // indexes what it gathered
  EXPECT_EQ(log_->indexed_sequence(), 3u);
}

TEST_F(AuditLogTest, AFullTransactionIsWrittenWithoutWaiting) {
  index_delay_ = std::chrono::minutes(10);
  index_batch_records_ = 3;
  Reopen();
  RecordAll({{.time = 1, .id = "f1"}, {.time = 2, .id = "f2"}, {.time = 3, .id = "f3"}});
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (log_->indexed_sequence() < 3 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(log_->indexed_sequence(), 3u);
  index_batch_records_ = 0;
  log_.reset();
  EXPECT_EQ(AuditLog::Open(JournalDirectory(tmp_.path()), *store_,
                           AuditLogOptions{.index_batch_records = 0})
                .status()
                .code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace coffer::audit
