// AuditLog (src/audit/audit_log.cc): records made durable through the journal, the
// LookupEvents index in the state store (every attribute, time range, paging, newest
// first), its rows per value, second and transaction (docs/formats/audit-index.md)
// against a brute-force model, catching up, dropping entries and rebuilding an index of
// format 1 at open, and refusing when the journal is damaged.
#include "audit/audit_log.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <future>
#include <limits>
#include <random>
#include <set>
#include <thread>
#include <tuple>
#include <vector>

#include "audit/cloudtrail_record.h"
#include "audit/journal.h"
#include "common/bytes.h"
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
constexpr char kKeyC[] =
    "arn:aws:kms:us-east-1:111122223333:key/cccccccc-0000-4000-8000-000000000003";
constexpr int64_t kEpoch = 1767225600;  // At(0) in epoch seconds

TimePoint At(int64_t seconds) {
  return FromEpochMillis(kEpoch * 1000) + std::chrono::seconds(seconds);
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
  std::string resource_type = "AWS::KMS::Key";
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
  for (const auto& k : s.keys) e.resources.push_back(AuditResource::Of(k, s.resource_type));
  return BuildCloudTrailRecord(e);
}

// What a record says, for the model below.
bool Matches(const EventSpec& s, const LookupRequest::Attribute& a) {
  switch (a.key) {
    case LookupAttributeKey::kEventId:
      return s.id == a.value;
    case LookupAttributeKey::kEventName:
      return s.name == a.value;
    case LookupAttributeKey::kReadOnly:
      return (s.read_only ? "true" : "false") == a.value;
    case LookupAttributeKey::kUsername:
      return !s.user.empty() && s.user == a.value;
    case LookupAttributeKey::kResourceType:
      return !s.keys.empty() && s.resource_type == a.value;
    case LookupAttributeKey::kResourceName:
      return std::find(s.keys.begin(), s.keys.end(), a.value) != s.keys.end();
    case LookupAttributeKey::kEventSource:
      return s.source == a.value;
    case LookupAttributeKey::kAccessKeyId:
      return !s.access_key.empty() && s.access_key == a.value;
  }
  return false;
}

struct ModelEvent {
  int64_t time;  // At(time)
  uint64_t sequence;
  std::string id;
  bool operator==(const ModelEvent&) const = default;
};

// Brute force: every written event (`written[i]` is record i + 1) the request selects,
// newest first by (event time, sequence); max_results and the cursor are left out.
std::vector<ModelEvent> Expected(const std::vector<EventSpec>& written, const LookupRequest& r) {
  std::vector<ModelEvent> out;
  for (size_t i = 0; i < written.size(); ++i) {
    const EventSpec& s = written[i];
    if (r.attribute && !Matches(s, *r.attribute)) continue;
    if (r.start_time && At(s.time) < *r.start_time) continue;
    if (r.end_time && At(s.time) > *r.end_time) continue;
    out.push_back({s.time, i + 1, s.id});
  }
  std::sort(out.begin(), out.end(), [](const ModelEvent& a, const ModelEvent& b) {
    return std::tie(a.time, a.sequence) > std::tie(b.time, b.sequence);
  });
  return out;
}

// One index row as docs/formats/audit-index.md (version 2) lays it out.
// audit.meta index_format of the current index format.
const std::string kFormat3("\0\0\0\3", 4);

// A time-ordered eventID: `bucket` picks its first 13 characters (the part the
// EventId rows group by), `n` the rest.
std::string TimeOrderedId(uint32_t bucket, uint32_t n) {
  char id[40];
  std::snprintf(id, sizeof id, "%08x-0000-7%03x-8000-%012x", bucket, n % 4096, n);
  return id;
}

struct Row {
  int64_t time;  // At(time)
  uint64_t min_sequence;
  std::vector<uint64_t> sequences;
  bool operator==(const Row&) const = default;
};

uint64_t KeyU64(std::string_view s, size_t at) {
  return LoadU64(reinterpret_cast<const uint8_t*>(s.data() + at));
}

void AppendU32(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(v >> shift));
}
void AppendU64(std::string& out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>(v >> shift));
}
uint64_t TimeKey(int64_t seconds) {
  return ~(static_cast<uint64_t>(seconds) ^ (uint64_t{1} << 63));
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
  // Records the events (in written_, with their ids).
  void RecordAll(std::vector<EventSpec> specs) {
    for (auto& s : specs) {
      if (s.id.empty()) s.id = "evt-" + std::to_string(next_id_++);
      ASSERT_TRUE(RecordAndWait(MakeRecord(s)).ok());
      written_.push_back(s);
    }
  }
  // The rows of an index table, in key order: the "all" table with `value` "".
  std::vector<Row> Rows(std::string_view table, std::string_view value = "") {
    std::string prefix;
    if (table != "audit.index.all") {
      AppendU32(prefix, static_cast<uint32_t>(value.size()));
      prefix.append(value);
    }
    std::vector<Row> rows;
    Status st = store_->View([&](const state::ReadTransaction& tx) -> Status {
      ASSIGN_OR_RETURN(std::vector<state::Entry> entries, tx.Scan(table, prefix, "", 0));
      for (const auto& e : entries) {
        EXPECT_EQ(e.key.size(), prefix.size() + 16);
        EXPECT_EQ(e.value.size() % 24, 0u);
        if (e.key.size() != prefix.size() + 16) continue;
        Row row;
        row.time =
            static_cast<int64_t>(~KeyU64(e.key, prefix.size()) ^ (uint64_t{1} << 63)) - kEpoch;
        row.min_sequence = ~KeyU64(e.key, prefix.size() + 8);
        for (size_t at = 0; at + 24 <= e.value.size(); at += 24) {
          row.sequences.push_back(KeyU64(e.value, at));
        }
        rows.push_back(std::move(row));
      }
      return Status::Ok();
    });
    EXPECT_TRUE(st.ok()) << st.ToString();
    return rows;
  }
  std::optional<std::string> Meta(std::string_view key) {
    std::optional<std::string> value;
    EXPECT_TRUE(store_
                    ->View([&](const state::ReadTransaction& tx) -> Status {
                      ASSIGN_OR_RETURN(value, tx.Get("audit.meta", key));
                      return Status::Ok();
                    })
                    .ok());
    return value;
  }
  // Pages through `r` with `page` results a page and expects exactly the model's
  // answer: the same events in the same order, full pages, a cursor at the last event
  // of every page but the last.
  void ExpectPagesMatchModel(LookupRequest r, size_t page) {
    const std::vector<ModelEvent> expected = Expected(written_, r);
    r.max_results = page;
    std::vector<ModelEvent> got;
    for (size_t pages = 0; pages <= expected.size() + 1; ++pages) {
      auto result = log_->Lookup(r);
      ASSERT_TRUE(result.ok()) << result.status().ToString();
      const size_t remaining = expected.size() - std::min(expected.size(), got.size());
      EXPECT_EQ(result->events.size(), std::min(page, remaining));
      for (const auto& e : result->events) {
        got.push_back(
            {FloorSeconds(e.summary.event_time) - kEpoch, e.sequence, e.summary.event_id});
      }
      EXPECT_EQ(result->next.has_value(), got.size() < expected.size());
      if (!result->next) break;
      ASSERT_FALSE(result->events.empty());
      EXPECT_EQ(*result->next, (LookupCursor{got.back().time + kEpoch, got.back().sequence}));
      r.after = result->next;
    }
    EXPECT_EQ(got, expected);
  }
  static int64_t FloorSeconds(TimePoint t) {
    return std::chrono::floor<std::chrono::seconds>(t.time_since_epoch()).count();
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
  std::vector<EventSpec> written_;  // written_[i]: record i + 1
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

// Rows per (value, event second, transaction); entries newest first; event times that
// go back across sequences still come out by (time, sequence), newest first.
TEST_F(AuditLogTest, RowsHoldTheRecordsOfOneSecondAndOneTransaction) {
  index_delay_ = std::chrono::minutes(10);  // one transaction per WaitIndexed
  Reopen();
  EXPECT_EQ(Meta("index_format"), kFormat3);
  const std::vector<std::string> key_a_twice = {kKeyA, kKeyA};
  RecordAll({{.time = 10, .keys = key_a_twice, .id = "a1"},
             {.time = 10, .id = "a2"},
             {.time = 9, .id = "a3"},
             {.time = 11, .id = "a4"},
             {.time = 10, .keys = key_a_twice, .id = "a5"}});
  ASSERT_TRUE(log_->WaitIndexed().ok());
  RecordAll({{.time = 10, .id = "b1"}, {.time = 9, .id = "b2"}});
  ASSERT_TRUE(log_->WaitIndexed().ok());

  const std::vector<Row> rows = {
      {11, 4, {4}}, {10, 6, {6}}, {10, 1, {5, 2, 1}}, {9, 7, {7}}, {9, 3, {3}}};
  EXPECT_EQ(Rows("audit.index.all"), rows);
  EXPECT_EQ(Rows("audit.index.EventName", "Decrypt"), rows);
  EXPECT_EQ(Rows("audit.index.ResourceName", kKeyA), rows);  // named twice: one entry
  EXPECT_EQ(Rows("audit.index.EventId", "a5"), (std::vector<Row>{{10, 5, {5}}}));
  EXPECT_EQ(Rows("audit.index.EventId").size(), 0u);  // the empty value: none
  EXPECT_THAT(Ids({}), ElementsAre("a4", "b1", "a5", "a2", "a1", "b2", "a3"));
  for (size_t page : {1, 2, 3, 7}) {
    ExpectPagesMatchModel({}, page);
    ExpectPagesMatchModel(By(LookupAttributeKey::kResourceName, kKeyA), page);
  }

  // Cursors inside, between and around rows.
  auto after = [&](int64_t time, uint64_t sequence) {
    LookupRequest r;
    r.after = LookupCursor{time, sequence};
    return Ids(r);
  };
  EXPECT_THAT(after(kEpoch + 10, 5), ElementsAre("a2", "a1", "b2", "a3"));
  EXPECT_THAT(after(kEpoch + 10, 6), ElementsAre("a5", "a2", "a1", "b2", "a3"));
  EXPECT_THAT(after(kEpoch + 10, 2), ElementsAre("a1", "b2", "a3"));
  EXPECT_THAT(after(kEpoch + 10, 1), ElementsAre("b2", "a3"));
  EXPECT_THAT(after(kEpoch + 10, 0), ElementsAre("b2", "a3"));
  EXPECT_THAT(after(kEpoch + 10, 100), ElementsAre("b1", "a5", "a2", "a1", "b2", "a3"));
  EXPECT_THAT(after(kEpoch + 11, 100), ElementsAre("a4", "b1", "a5", "a2", "a1", "b2", "a3"));
  EXPECT_THAT(after(kEpoch + 9, 3), ElementsAre());
  EXPECT_THAT(after(std::numeric_limits<int64_t>::min(), 0), ElementsAre());
  EXPECT_THAT(after(std::numeric_limits<int64_t>::min(), 1), ElementsAre());
  EXPECT_THAT(after(std::numeric_limits<int64_t>::max(), std::numeric_limits<uint64_t>::max()),
              ElementsAre("a4", "b1", "a5", "a2", "a1", "b2", "a3"));
  LookupRequest r = By(LookupAttributeKey::kUsername, "Alice");
  r.end_time = At(10) + std::chrono::milliseconds(999);
  r.after = LookupCursor{kEpoch + 10, 2};
  EXPECT_THAT(Ids(r), ElementsAre("a1", "b2", "a3"));
  r.after = LookupCursor{kEpoch + 11, 1};  // before the end time: the end time decides
  EXPECT_THAT(Ids(r), ElementsAre("b1", "a5", "a2", "a1", "b2", "a3"));
  r.start_time = At(10);
  EXPECT_THAT(Ids(r), ElementsAre("b1", "a5", "a2", "a1"));

  // A reopen keeps the rows (a rebuild would write one row per second).
  Reopen();
  EXPECT_EQ(Rows("audit.index.all"), rows);
  RecordAll({{.time = 10, .id = "c1"}});
  EXPECT_THAT(Ids({}), ElementsAre("a4", "c1", "b1", "a5", "a2", "a1", "b2", "a3"));
}

// Random events (attribute values from small sets, event times that jitter back and
// forth) written in transactions of random sizes; every lookup, paged with 1, 2, 3 and
// 7 results a page, must give what a brute-force filter and sort gives.
TEST_F(AuditLogTest, LookupsMatchABruteForceModel) {
  index_delay_ = std::chrono::minutes(10);
  index_batch_records_ = 16;  // also cut by size while a group is recorded
  Reopen();
  std::mt19937 rng(20260101);
  auto uniform = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  auto pick = [&](const std::vector<std::string>& v) {
    return v[static_cast<size_t>(uniform(0, static_cast<int>(v.size()) - 1))];
  };
  const std::vector<std::string> names = {"Encrypt", "Decrypt", "GenerateDataKey"};
  const std::vector<std::string> sources = {"kms.amazonaws.com", "kms.amazonaws.com",
                                            "iam.amazonaws.com"};
  const std::vector<std::string> users = {"Alice", "Bob", ""};
  const std::vector<std::string> access_keys = {"AKIA1", "AKIA2", ""};
  const std::vector<std::string> keys = {kKeyA, kKeyB, kKeyC};
  const std::vector<std::string> types = {"AWS::KMS::Key", "AWS::IAM::Role"};
  constexpr int kEvents = 240;
  for (int i = 0; i < kEvents;) {
    std::vector<EventSpec> group;
    for (int n = uniform(1, 40); n > 0 && i < kEvents; --n, ++i) {
      EventSpec s{.name = pick(names),
                  .source = pick(sources),
                  .user = pick(users),
                  .access_key = pick(access_keys),
                  .time = i / 20 + uniform(-2, 2),
                  .read_only = uniform(0, 1) == 1,
                  .keys = {},
                  // Seven records a bucket; records 100 and 101 share an id.
                  .id = TimeOrderedId(static_cast<uint32_t>(i / 7),
                                      static_cast<uint32_t>(i == 101 ? 100 : i)),
                  .resource_type = pick(types)};
      for (const std::string& k : keys) {
        if (uniform(0, 2) == 0) s.keys.push_back(k);
      }
      if (!s.keys.empty() && uniform(0, 4) == 0) s.keys.push_back(s.keys.front());
      group.push_back(std::move(s));
    }
    RecordAll(std::move(group));
    ASSERT_TRUE(log_->WaitIndexed().ok());
  }

  std::vector<std::optional<LookupRequest::Attribute>> queries = {std::nullopt};
  auto add = [&](LookupAttributeKey key, const std::vector<std::string>& values) {
    for (const auto& v : values) queries.push_back(LookupRequest::Attribute{key, v});
  };
  add(LookupAttributeKey::kEventId,
      {TimeOrderedId(0, 0), TimeOrderedId(11, 77), TimeOrderedId(34, 239), TimeOrderedId(14, 100),
       TimeOrderedId(14, 102), TimeOrderedId(14, 9999), TimeOrderedId(14, 100).substr(0, 13),
       "missing"});
  add(LookupAttributeKey::kEventName, {"Encrypt", "Decrypt", "GenerateDataKey", "Sign"});
  add(LookupAttributeKey::kReadOnly, {"true", "false"});
  add(LookupAttributeKey::kUsername, {"Alice", "Bob", ""});
  add(LookupAttributeKey::kResourceType, types);
  add(LookupAttributeKey::kResourceName, keys);
  add(LookupAttributeKey::kEventSource, {"kms.amazonaws.com", "iam.amazonaws.com"});
  add(LookupAttributeKey::kAccessKeyId, {"AKIA1", "AKIA2"});
  auto random_time = [&] {
    return At(uniform(-4, 16)) + std::chrono::milliseconds(uniform(0, 999));
  };
  auto check_all = [&] {
    for (const auto& attribute : queries) {
      for (int bounds = 0; bounds < 3; ++bounds) {
        LookupRequest r;
        r.attribute = attribute;
        if (bounds > 0) {
          const int which = uniform(0, 2);  // start, end, both
          if (which != 1) r.start_time = random_time();
          if (which != 0) r.end_time = random_time();
        }
        for (size_t page : {1, 2, 3, 7}) {
          SCOPED_TRACE(::testing::Message()
                       << (attribute ? std::string(LookupAttributeKeyName(attribute->key)) + "=" +
                                           attribute->value
                                     : "all")
                       << " bounds " << bounds << " page " << page);
          ExpectPagesMatchModel(r, page);
          if (HasFailure()) return;
        }
      }
    }
  };
  check_all();
  EXPECT_GT(Rows("audit.index.all").size(), 10u);
  EXPECT_LT(Rows("audit.index.all").size(), size_t{kEvents});

  // Rebuilt from the journal at open (other rows: transactions of up to 1024 records),
  // the same answers.
  log_.reset();
  store_.reset();
  std::filesystem::remove(tmp_.File("state.db"));
  OpenStore();
  OpenLog();
  EXPECT_EQ(log_->indexed_sequence(), uint64_t{kEvents});
  check_all();
}

// EventId rows group the records whose eventIDs share their first 13 characters (a
// version-7 UUID's millisecond); a lookup returns only the records with the very id.
TEST_F(AuditLogTest, EventIdRowsHoldTheRecordsOfOneBucket) {
  index_delay_ = std::chrono::minutes(10);
  Reopen();
  RecordAll({{.time = 10, .id = TimeOrderedId(7, 1)},
             {.time = 10, .id = TimeOrderedId(7, 2)},
             {.time = 10, .id = TimeOrderedId(8, 3)},
             {.time = 11, .id = TimeOrderedId(7, 4)},
             {.time = 10, .id = "e5"}});
  ASSERT_TRUE(log_->WaitIndexed().ok());
  const std::string bucket7 = TimeOrderedId(7, 0).substr(0, 13);
  EXPECT_EQ(Rows("audit.index.EventId", bucket7),
            (std::vector<Row>{{11, 4, {4}}, {10, 1, {2, 1}}}));
  EXPECT_EQ(Rows("audit.index.EventId", TimeOrderedId(8, 0).substr(0, 13)),
            (std::vector<Row>{{10, 3, {3}}}));
  EXPECT_EQ(Rows("audit.index.EventId", "e5"), (std::vector<Row>{{10, 5, {5}}}));
  for (uint32_t n : {1, 2, 3, 4}) {
    EXPECT_THAT(Ids(By(LookupAttributeKey::kEventId, TimeOrderedId(n == 3 ? 8 : 7, n))),
                ElementsAre(TimeOrderedId(n == 3 ? 8 : 7, n)));
  }
  EXPECT_THAT(Ids(By(LookupAttributeKey::kEventId, TimeOrderedId(7, 9))), ElementsAre());
  EXPECT_THAT(Ids(By(LookupAttributeKey::kEventId, bucket7)), ElementsAre());
  EXPECT_THAT(Ids(By(LookupAttributeKey::kEventId, "e5")), ElementsAre("e5"));
}

// A transaction's rows span the segment moved away: they are rewritten without the
// lost records, keeping their keys, or deleted when nothing is left.
TEST_F(AuditLogTest, OpenRewritesRowsThatHoldRecordsTheJournalNoLongerHolds) {
  segment_size_ = 2048;
  index_delay_ = std::chrono::minutes(10);
  Reopen();
  std::vector<EventSpec> specs;
  for (int i = 0; i < 16; ++i) {
    specs.push_back(
        {.user = i % 3 == 0 ? "Bob" : "Alice", .time = 5 + i % 2, .id = "d" + std::to_string(i)});
  }
  specs.back().time = 7;  // only in the segment moved away
  RecordAll(specs);
  ASSERT_TRUE(log_->WaitIndexed().ok());
  ASSERT_EQ(Rows("audit.index.all").size(), 3u);
  log_.reset();
  // The operator moves the segments from the last one starting at or before record 14
  // away: the rows of seconds 5 and 6 then hold records on both sides.
  std::vector<std::string> segments;
  for (const auto& entry : std::filesystem::directory_iterator(JournalDirectory(tmp_.path()))) {
    std::string name = entry.path().filename().string();
    if (name.ends_with(".journal")) segments.push_back(name);
  }
  std::sort(segments.begin(), segments.end());
  uint64_t first_moved = 0;
  for (const std::string& name : segments) {
    if (std::stoull(name.substr(0, 16)) <= 14) first_moved = std::stoull(name.substr(0, 16));
  }
  ASSERT_GE(first_moved, 3u);
  for (const std::string& name : segments) {
    if (std::stoull(name.substr(0, 16)) >= first_moved) {
      std::filesystem::rename(JournalDirectory(tmp_.path()) + "/" + name, tmp_.File(name));
    }
  }
  OpenLog();
  const uint64_t kept = first_moved - 1;
  EXPECT_EQ(log_->indexed_sequence(), kept);
  written_.resize(kept);

  // Second 6: the even sequences, second 5: the odd ones, second 7 is gone.
  std::vector<Row> rows = {{6, 2, {}}, {5, 1, {}}};
  for (uint64_t seq = kept; seq >= 1; --seq) rows[seq % 2].sequences.push_back(seq);
  EXPECT_EQ(Rows("audit.index.all"), rows);
  EXPECT_TRUE(Rows("audit.index.EventId", "d15").empty());
  for (size_t page : {1, 2, 3, 7}) {
    ExpectPagesMatchModel({}, page);
    ExpectPagesMatchModel(By(LookupAttributeKey::kUsername, "Bob"), page);
    ExpectPagesMatchModel(By(LookupAttributeKey::kUsername, "Alice"), page);
  }
  // New records continue the journal, in the same seconds.
  RecordAll({{.time = 5, .id = "n1"}, {.time = 6, .id = "n2"}, {.time = 7, .id = "n3"}});
  ASSERT_TRUE(log_->WaitIndexed().ok());
  for (size_t page : {1, 3}) {
    ExpectPagesMatchModel({}, page);
    ExpectPagesMatchModel(By(LookupAttributeKey::kUsername, "Alice"), page);
  }
}

// An index written by format 1 (one row per record, no index_format) is deleted and
// rebuilt from the journal at open.
TEST_F(AuditLogTest, OpenRebuildsAnIndexOfFormat1) {
  RecordAll({{.time = 7, .id = "u1"},
             {.name = "Encrypt", .time = 7, .id = "u2"},
             {.time = 8, .id = "u3"},
             {.user = "Bob", .time = 7, .id = "u4"},
             {.time = 8, .keys = {kKeyB}, .id = "u5"},
             {.time = 7, .id = "u6"}});
  log_.reset();
  store_.reset();
  std::filesystem::remove(tmp_.File("state.db"));
  OpenStore();

  // Format 1: key = [u32 len ‖ value] ‖ u64 ~T ‖ u64 ~sequence, value = one location.
  ASSERT_TRUE(store_
                  ->Update([&](state::Transaction& tx) -> Status {
                    ASSIGN_OR_RETURN(auto reader,
                                     JournalReader::Open(JournalDirectory(tmp_.path())));
                    JournalRecord record;
                    uint64_t last = 0;
                    while (true) {
                      ASSIGN_OR_RETURN(bool got, reader->Next(&record));
                      if (!got) break;
                      ASSIGN_OR_RETURN(AuditEventSummary s, ParseCloudTrailRecord(record.payload));
                      std::string location;
                      AppendU64(location, record.sequence);
                      AppendU64(location, std::stoull(record.segment.substr(0, 16)));
                      AppendU64(location, record.offset);
                      auto put = [&](std::string_view table, std::optional<std::string> value) {
                        std::string key;
                        if (value) {
                          AppendU32(key, static_cast<uint32_t>(value->size()));
                          key += *value;
                        }
                        AppendU64(key, TimeKey(FloorSeconds(s.event_time)));
                        AppendU64(key, ~record.sequence);
                        return tx.Put(table, key, location);
                      };
                      RETURN_IF_ERROR(put("audit.index.all", std::nullopt));
                      RETURN_IF_ERROR(put("audit.index.EventId", s.event_id));
                      RETURN_IF_ERROR(put("audit.index.EventName", s.event_name));
                      RETURN_IF_ERROR(put("audit.index.Username", s.username));
                      for (const auto& res : s.resources) {
                        RETURN_IF_ERROR(put("audit.index.ResourceName", res.resource_name));
                      }
                      // A row no record backs: it must not survive the rebuild.
                      RETURN_IF_ERROR(put("audit.index.EventName", std::string("Stale")));
                      last = record.sequence;
                    }
                    std::string indexed;
                    AppendU64(indexed, last);
                    return tx.Put("audit.meta", "indexed_sequence", indexed);
                  })
                  .ok());
  ASSERT_EQ(Rows("audit.index.all").size(), 6u);
  ASSERT_FALSE(Meta("index_format").has_value());

  OpenLog();
  EXPECT_EQ(Meta("index_format"), kFormat3);
  EXPECT_EQ(log_->indexed_sequence(), 6u);
  EXPECT_EQ(Rows("audit.index.all"), (std::vector<Row>{{8, 3, {5, 3}}, {7, 1, {6, 4, 2, 1}}}));
  EXPECT_TRUE(Rows("audit.index.EventName", "Stale").empty());
  EXPECT_THAT(Ids(By(LookupAttributeKey::kEventName, "Stale")), ElementsAre());
  EXPECT_EQ(Rows("audit.index.ResourceName", kKeyA),
            (std::vector<Row>{{8, 3, {3}}, {7, 1, {6, 4, 2, 1}}}));
  EXPECT_THAT(Ids({}), ElementsAre("u5", "u3", "u6", "u4", "u2", "u1"));
  for (size_t page : {1, 2, 7}) {
    ExpectPagesMatchModel({}, page);
    ExpectPagesMatchModel(By(LookupAttributeKey::kUsername, "Alice"), page);
    ExpectPagesMatchModel(By(LookupAttributeKey::kResourceName, kKeyB), page);
  }
}

// An index of format 2 (one EventId row per record, under the whole eventID) is deleted
// and rebuilt in the current format at open.
TEST_F(AuditLogTest, OpenRebuildsAnIndexOfFormat2) {
  const std::string id = TimeOrderedId(3, 1);
  RecordAll({{.time = 7, .id = id}, {.time = 7, .id = TimeOrderedId(3, 2)}});
  log_.reset();
  std::string key;
  AppendU32(key, static_cast<uint32_t>(id.size()));
  key += id;
  AppendU64(key, TimeKey(FloorSeconds(At(7))));
  AppendU64(key, ~uint64_t{1});
  std::string location;
  for (uint64_t v : {uint64_t{1}, uint64_t{1}, uint64_t{24}}) AppendU64(location, v);
  ASSERT_TRUE(store_
                  ->Update([&](state::Transaction& tx) -> Status {
                    RETURN_IF_ERROR(tx.Put("audit.index.EventId", key, location));
                    return tx.Put("audit.meta", "index_format", std::string("\0\0\0\2", 4));
                  })
                  .ok());
  ASSERT_EQ(Rows("audit.index.EventId", id).size(), 1u);

  OpenLog();
  EXPECT_EQ(Meta("index_format"), kFormat3);
  EXPECT_TRUE(Rows("audit.index.EventId", id).empty());
  EXPECT_EQ(Rows("audit.index.EventId", id.substr(0, 13)), (std::vector<Row>{{7, 1, {2, 1}}}));
  EXPECT_THAT(Ids(By(LookupAttributeKey::kEventId, id)), ElementsAre(id));
}

}  // namespace
}  // namespace coffer::audit
