#include "audit/audit_log.h"

#include <algorithm>
#include <any>
#include <array>
#include <chrono>
#include <cstring>
#include <functional>
#include <limits>
#include <optional>
#include <unordered_map>
#include <utility>

#include "common/bytes.h"
#include "common/logging.h"
#include "common/thread_pool.h"

namespace coffer::audit {
namespace {

constexpr std::string_view kAllTable = "audit.index.all";
constexpr std::string_view kMetaTable = "audit.meta";
constexpr std::string_view kIndexedSequenceKey = "indexed_sequence";
constexpr std::string_view kIndexFormatKey = "index_format";
// docs/formats/audit-index.md. Version 1 (no index_format row) kept one row per record;
// version 2 one EventId row per record.
constexpr uint32_t kIndexFormat = 3;
// One row entry: u64 sequence ‖ u64 segment ‖ u64 offset.
constexpr size_t kEntrySize = 24;
// Records indexed per transaction while catching up at open.
constexpr size_t kCatchUpBatch = 1024;
// Rows read per scan while dropping entries of records the journal lost.
constexpr size_t kDropScan = 4096;
// Rows read by a lookup's first scan; each further scan reads twice as many, up to
// kLookupScanMax. A row may hold thousands of entries: a small page rarely needs more.
constexpr size_t kLookupScanFirst = 4;
constexpr size_t kLookupScanMax = 256;

struct AttributeName {
  LookupAttributeKey key;
  std::string_view name;
  std::string_view table;
};
constexpr std::array<AttributeName, 8> kAttributes = {{
    {LookupAttributeKey::kEventId, "EventId", "audit.index.EventId"},
    {LookupAttributeKey::kEventName, "EventName", "audit.index.EventName"},
    {LookupAttributeKey::kReadOnly, "ReadOnly", "audit.index.ReadOnly"},
    {LookupAttributeKey::kUsername, "Username", "audit.index.Username"},
    {LookupAttributeKey::kResourceType, "ResourceType", "audit.index.ResourceType"},
    {LookupAttributeKey::kResourceName, "ResourceName", "audit.index.ResourceName"},
    {LookupAttributeKey::kEventSource, "EventSource", "audit.index.EventSource"},
    {LookupAttributeKey::kAccessKeyId, "AccessKeyId", "audit.index.AccessKeyId"},
}};

constexpr std::string_view TableOf(LookupAttributeKey key) {
  for (const AttributeName& a : kAttributes) {
    if (a.key == key) return a.table;
  }
  return kAllTable;
}

// Every index table: "all" first, then the attributes' in kAttributes order.
constexpr std::array<std::string_view, kAttributes.size() + 1> IndexTables() {
  std::array<std::string_view, kAttributes.size() + 1> tables{};
  tables[0] = kAllTable;
  for (size_t i = 0; i < kAttributes.size(); ++i) tables[i + 1] = kAttributes[i].table;
  return tables;
}
constexpr std::array<std::string_view, kAttributes.size() + 1> kIndexTables = IndexTables();

void PutU32(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(v >> shift));
}
void PutU64(std::string& out, uint64_t v) {
  uint8_t bytes[8];
  StoreU64(bytes, v);
  out.append(reinterpret_cast<const char*>(bytes), sizeof bytes);
}
uint64_t GetU64(std::string_view s, size_t at) {
  return LoadU64(reinterpret_cast<const uint8_t*>(s.data() + at));
}

// Newest first: the time with its sign bit flipped (order-preserving as unsigned),
// then inverted.
uint64_t TimeKey(int64_t seconds) {
  return ~(static_cast<uint64_t>(seconds) ^ (uint64_t{1} << 63));
}
int64_t TimeOfKey(uint64_t k) { return static_cast<int64_t>(~k ^ (uint64_t{1} << 63)); }

int64_t FloorSeconds(TimePoint t) {
  return std::chrono::floor<std::chrono::seconds>(t.time_since_epoch()).count();
}
int64_t CeilSeconds(TimePoint t) {
  return std::chrono::ceil<std::chrono::seconds>(t.time_since_epoch()).count();
}

// The value an eventID is indexed under: its first 13 characters. For a time-ordered
// (version 7) UUID those are its 48-bit millisecond timestamp, which the records of one
// millisecond share; a lookup reads the records of its row and keeps the one whose
// eventID matches.
constexpr size_t kEventIdBucket = 13;
std::string_view EventIdBucket(std::string_view event_id) {
  return event_id.substr(0, kEventIdBucket);
}

std::string Prefix(std::string_view table, std::string_view value) {
  std::string p;
  if (table == kAllTable) return p;
  p.reserve(4 + value.size() + 16);
  PutU32(p, static_cast<uint32_t>(value.size()));
  p.append(value);
  return p;
}

// A row's key: prefix ‖ u64 ~T ‖ u64 ~min_sequence.
std::string RowKey(std::string_view table, std::string_view value, int64_t time,
                   uint64_t min_sequence) {
  std::string k = Prefix(table, value);
  PutU64(k, TimeKey(time));
  PutU64(k, ~min_sequence);
  return k;
}

std::string SequenceValue(uint64_t s) {
  std::string v;
  PutU64(v, s);
  return v;
}

std::string FormatValue() {
  std::string v;
  PutU32(v, kIndexFormat);
  return v;
}

// A journal record to index: where the journal holds it, and the fields LookupEvents
// filters on.
struct RecordToIndex {
  uint64_t sequence = 0;
  uint64_t segment = 0;
  uint64_t offset = 0;
  AuditEventSummary summary;
};

// The records' index fields: the summary AuditLog::Record(event) attached, or else
// the payload parsed. A payload that is not a CloudTrail record is left out (with a
// warning): it is not indexed, but counts as indexed.
std::vector<RecordToIndex> SummarizeRecords(const std::string& dir,
                                            std::vector<DurableRecord>& records) {
  std::vector<RecordToIndex> out;
  out.reserve(records.size());
  for (DurableRecord& r : records) {
    if (auto* summary = std::any_cast<AuditEventSummary>(&r.note)) {
      out.push_back({r.sequence, r.segment, r.offset, std::move(*summary)});
      continue;
    }
    Result<AuditEventSummary> parsed = ParseCloudTrailRecord(r.payload);
    if (!parsed.ok()) {
      Log().warn("audit journal {}: record {} is not a CloudTrail record ({}); not indexed", dir,
                 r.sequence, parsed.status().message());
      continue;
    }
    out.push_back({r.sequence, r.segment, r.offset, std::move(parsed).value()});
  }
  return out;
}

void PutEntry(std::string& out, const RecordToIndex& r) {
  PutU64(out, r.sequence);
  PutU64(out, r.segment);
  PutU64(out, r.offset);
}

// One row to write: the records of a batch with one value in one table in one second.
struct RowGroup {
  std::string_view table;
  std::string_view value;
  int64_t second;
  std::vector<uint32_t> members;  // indexes into the batch, ascending
};
struct RowGroupKey {
  std::string_view table;
  std::string_view value;
  int64_t second;
  bool operator==(const RowGroupKey&) const = default;
};
struct RowGroupKeyHash {
  size_t operator()(const RowGroupKey& k) const {
    size_t h = std::hash<std::string_view>()(k.value);
    h ^= std::hash<std::string_view>()(k.table) +
         static_cast<size_t>(k.second) * 0x9e3779b97f4a7c15ULL;
    return h;
  }
};

// Writes the index rows of `records` (ascending by sequence, each past every record
// indexed before: rows of one value and second then cover disjoint sequence ranges)
// and indexed_sequence = `indexed_through`, in `tx`.
Status IndexRecords(state::Transaction& tx, const std::vector<RecordToIndex>& records,
                    uint64_t indexed_before, uint64_t indexed_through) {
  std::vector<RowGroup> groups;
  std::unordered_map<RowGroupKey, uint32_t, RowGroupKeyHash> group_of;
  group_of.reserve(64);
  for (uint32_t i = 0; i < records.size(); ++i) {
    const RecordToIndex& r = records[i];
    // Rows of one value and second must cover disjoint sequence ranges (the order
    // and the paging depend on it): refuse anything else rather than misindex.
    if (r.sequence <= (i == 0 ? indexed_before : records[i - 1].sequence)) {
      return InternalError("record " + std::to_string(r.sequence) +
                           " is not past the records indexed before it (" +
                           std::to_string(i == 0 ? indexed_before : records[i - 1].sequence) + ")");
    }
    const AuditEventSummary& s = r.summary;
    const int64_t t = FloorSeconds(s.event_time);
    auto add = [&](std::string_view table, std::string_view v) {
      auto [it, inserted] =
          group_of.try_emplace(RowGroupKey{table, v, t}, static_cast<uint32_t>(groups.size()));
      if (inserted) groups.push_back(RowGroup{table, v, t, {}});
      std::vector<uint32_t>& members = groups[it->second].members;
      // A resource type or name named twice in one record gives one entry.
      if (members.empty() || members.back() != i) members.push_back(i);
    };
    add(kAllTable, "");
    add(TableOf(LookupAttributeKey::kEventId), EventIdBucket(s.event_id));
    add(TableOf(LookupAttributeKey::kEventName), s.event_name);
    add(TableOf(LookupAttributeKey::kEventSource), s.event_source);
    add(TableOf(LookupAttributeKey::kReadOnly), s.read_only ? "true" : "false");
    if (!s.username.empty()) add(TableOf(LookupAttributeKey::kUsername), s.username);
    if (!s.access_key_id.empty()) add(TableOf(LookupAttributeKey::kAccessKeyId), s.access_key_id);
    for (const LookupResource& res : s.resources) {
      if (!res.resource_type.empty()) {
        add(TableOf(LookupAttributeKey::kResourceType), res.resource_type);
      }
      if (!res.resource_name.empty()) {
        add(TableOf(LookupAttributeKey::kResourceName), res.resource_name);
      }
    }
  }
  std::string value;
  for (const RowGroup& g : groups) {
    value.clear();
    value.reserve(g.members.size() * kEntrySize);
    for (auto m = g.members.rbegin(); m != g.members.rend(); ++m) PutEntry(value, records[*m]);
    RETURN_IF_ERROR(tx.Put(
        g.table, RowKey(g.table, g.value, g.second, records[g.members.front()].sequence), value));
  }
  return tx.Put(kMetaTable, kIndexedSequenceKey, SequenceValue(indexed_through));
}

struct IndexMeta {
  uint64_t indexed_sequence = 0;
  bool current_format = false;  // index_format = kIndexFormat
  bool has_rows = false;        // some index table holds a row
};

Result<IndexMeta> ReadIndexMeta(state::StateStore& store) {
  IndexMeta meta;
  RETURN_IF_ERROR(store.View([&](const state::ReadTransaction& tx) -> Status {
    ASSIGN_OR_RETURN(std::optional<std::string> v, tx.Get(kMetaTable, kIndexedSequenceKey));
    if (v) {
      if (v->size() != 8) return DataLossError("audit index: bad indexed_sequence value");
      meta.indexed_sequence = GetU64(*v, 0);
    }
    ASSIGN_OR_RETURN(std::optional<std::string> format, tx.Get(kMetaTable, kIndexFormatKey));
    meta.current_format = format && *format == FormatValue();
    for (std::string_view table : kIndexTables) {
      ASSIGN_OR_RETURN(std::vector<state::Entry> first, tx.Scan(table, "", "", 1));
      if (!first.empty()) {
        meta.has_rows = true;
        break;
      }
    }
    return Status::Ok();
  }));
  return meta;
}

// Calls `fn` with every row of every index table, in `tx`.
Status ForEachIndexRow(
    state::Transaction& tx,
    const std::function<Status(std::string_view table, const state::Entry&)>& fn) {
  for (std::string_view table : kIndexTables) {
    std::string after;
    while (true) {
      ASSIGN_OR_RETURN(std::vector<state::Entry> rows, tx.Scan(table, "", after, kDropScan));
      if (rows.empty()) break;
      for (const state::Entry& row : rows) RETURN_IF_ERROR(fn(table, row));
      after = rows.back().key;
    }
  }
  return Status::Ok();
}

// Deletes every index row and indexed_sequence (an index in an older format), and
// marks the index as in the current format.
Status StartIndex(state::StateStore& store) {
  return store.Update([&](state::Transaction& tx) -> Status {
    RETURN_IF_ERROR(ForEachIndexRow(tx, [&](std::string_view table, const state::Entry& row) {
      return tx.Delete(table, row.key);
    }));
    RETURN_IF_ERROR(tx.Delete(kMetaTable, kIndexedSequenceKey));
    return tx.Put(kMetaTable, kIndexFormatKey, FormatValue());
  });
}

// Removes the entries of records past `last` (the journal no longer holds them).
// Entries run by sequence, descending: those past `last` lead a row. A row keeps its
// key (its smallest sequence) unless it is left empty and deleted.
Status DropEntriesAfter(state::StateStore& store, uint64_t last) {
  return store.Update([&](state::Transaction& tx) -> Status {
    RETURN_IF_ERROR(ForEachIndexRow(tx, [&](std::string_view table, const state::Entry& row) {
      const std::string_view v = row.value;
      if (v.empty() || v.size() % kEntrySize != 0) return Status::Ok();  // a lookup reports it
      size_t drop = 0;
      while (drop < v.size() && GetU64(v, drop) > last) drop += kEntrySize;
      if (drop == 0) return Status::Ok();
      if (drop == v.size()) return tx.Delete(table, row.key);
      return tx.Put(table, row.key, v.substr(drop));
    }));
    return tx.Put(kMetaTable, kIndexedSequenceKey, SequenceValue(last));
  });
}

// The record at (segment, offset), which the index says holds record `sequence`.
Result<LookupEvent> ReadEvent(const std::string& dir, uint64_t sequence, uint64_t segment,
                              uint64_t offset) {
  LookupEvent event;
  event.sequence = sequence;
  ASSIGN_OR_RETURN(event.record, ReadRecordAt(dir, segment, offset, sequence));
  Result<AuditEventSummary> summary = ParseCloudTrailRecord(event.record);
  if (!summary.ok()) {
    return DataLossError("audit journal " + dir + ": record " + std::to_string(sequence) +
                         " is not a CloudTrail record: " + summary.status().message());
  }
  event.summary = std::move(summary).value();
  return event;
}

uint64_t SegmentOfName(std::string_view name) {
  uint64_t n = 0;
  for (size_t i = 0; i < journal_format::kSegmentNameDigits && i < name.size(); ++i) {
    n = n * 10 + static_cast<uint64_t>(name[i] - '0');
  }
  return n;
}

}  // namespace

std::string_view LookupAttributeKeyName(LookupAttributeKey key) {
  for (const AttributeName& a : kAttributes) {
    if (a.key == key) return a.name;
  }
  return "";
}

std::optional<LookupAttributeKey> ParseLookupAttributeKey(std::string_view name) {
  for (const AttributeName& a : kAttributes) {
    if (a.name == name) return a.key;
  }
  return std::nullopt;
}

AuditLog::AuditLog(std::string dir, state::StateStore& store, AuditLogOptions options)
    : dir_(std::move(dir)), store_(store), options_(std::move(options)) {}

AuditLog::~AuditLog() { Close(); }

Result<std::unique_ptr<AuditLog>> AuditLog::Open(std::string dir, state::StateStore& store,
                                                 AuditLogOptions options) {
  if (options.index_batch_records == 0) {
    return InvalidArgumentError("index_batch_records must be at least 1");
  }
  std::unique_ptr<AuditLog> log(new AuditLog(dir, store, options));
  AuditLog* self = log.get();
  options.journal.on_durable_batch = [self](std::vector<DurableRecord>&& batch) {
    self->OnDurableBatch(std::move(batch));
  };
  ASSIGN_OR_RETURN(log->journal_, Journal::Open(dir, options.journal));
  ASSIGN_OR_RETURN(IndexMeta meta, ReadIndexMeta(store));
  uint64_t indexed = meta.indexed_sequence;
  // A damaged journal is not read: its index is kept as it is (rows of format 1 read
  // as rows of one entry).
  if (log->journal_->status().ok()) {
    if (!meta.current_format) {
      if (meta.has_rows || indexed > 0) {
        Log().warn(
            "audit index: the index of the journal {} is in an older format; deleting it and "
            "rebuilding it from the journal in format {}",
            dir, kIndexFormat);
      }
      RETURN_IF_ERROR(StartIndex(store));
      indexed = 0;
    }
    // Nothing appends yet: every record in the journal now is durable.
    const uint64_t last = log->journal_->last_sequence();
    if (indexed > last) {
      Log().warn(
          "audit index: records {} to {} are indexed but no longer in the journal {}; dropping "
          "their entries",
          last + 1, indexed, dir);
      RETURN_IF_ERROR(DropEntriesAfter(store, last));
      indexed = last;
    } else if (indexed < last) {
      ASSIGN_OR_RETURN(std::unique_ptr<JournalReader> reader,
                       JournalReader::Open(dir, indexed + 1));
      std::vector<DurableRecord> batch;
      auto flush = [&]() -> Status {
        if (batch.empty()) return Status::Ok();
        const std::vector<RecordToIndex> records = SummarizeRecords(dir, batch);
        RETURN_IF_ERROR(store.Update([&](state::Transaction& tx) {
          return IndexRecords(tx, records, indexed, batch.back().sequence);
        }));
        indexed = batch.back().sequence;
        batch.clear();
        return Status::Ok();
      };
      JournalRecord record;
      while (true) {
        ASSIGN_OR_RETURN(bool got, reader->Next(&record));
        if (!got || record.sequence > last) break;
        batch.push_back({record.sequence, SegmentOfName(record.segment), record.offset,
                         std::move(record.payload)});
        if (batch.size() >= kCatchUpBatch) RETURN_IF_ERROR(flush());
      }
      RETURN_IF_ERROR(flush());
      if (indexed < last) {
        return DataLossError("audit index: the journal " + dir + " ends at record " +
                             std::to_string(indexed) + " while reading, not at " +
                             std::to_string(last));
      }
    }
  }
  log->indexed_ = indexed;
  log->indexer_ = std::thread([self] {
    SetCurrentThreadName("coffer-index");
    self->IndexerLoop();
  });
  return log;
}

void AuditLog::OnDurableBatch(std::vector<DurableRecord>&& batch) {
  std::lock_guard<std::mutex> lock(mu_);
  const bool was_empty = queue_.empty();
  if (was_empty) {
    queue_ = std::move(batch);
  } else {
    queue_.insert(queue_.end(), std::make_move_iterator(batch.begin()),
                  std::make_move_iterator(batch.end()));
  }
  // Wakes the indexer for the first records (it then gathers for index_delay) and
  // when a transaction is full.
  if (was_empty || queue_.size() >= options_.index_batch_records) work_cv_.notify_one();
}

void AuditLog::IndexerLoop() {
  std::vector<DurableRecord> batch;
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      work_cv_.wait(lock, [&] { return !queue_.empty() || stopping_; });
      // Gather records for up to index_delay (one transaction for many batches: the
      // store's lock is taken, and its commit synced, that much less often), unless a
      // lookup is waiting, the transaction is full or the log is closing.
      work_cv_.wait_for(lock, options_.index_delay, [&] {
        return stopping_ || lookups_waiting_ > 0 || queue_.size() >= options_.index_batch_records;
      });
      if (queue_.empty()) return;
      batch.swap(queue_);
      if (!index_error_.ok()) {  // indexing stopped; Open catches up after a restart
        batch.clear();
        continue;
      }
    }
    // Parsed before the transaction, which then holds the store for less time.
    const std::vector<RecordToIndex> records = SummarizeRecords(dir_, batch);
    uint64_t indexed_before;
    {
      std::lock_guard<std::mutex> lock(mu_);
      indexed_before = indexed_;
    }
    // The index is rebuilt from the journal after a crash: its commits need not wait
    // for an fsync (which would compete with the journal's).
    Status st = store_.UpdateRebuildable([&](state::Transaction& tx) {
      return IndexRecords(tx, records, indexed_before, batch.back().sequence);
    });
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (st.ok()) {
        indexed_ = batch.back().sequence;
      } else {
        index_error_ = Status(st.code(), "audit index: " + st.message());
        Log().error(
            "audit index: indexing records {} to {} failed: {}; lookups fail until "
            "coffer restarts",
            batch.front().sequence, batch.back().sequence, st.ToString());
      }
    }
    indexed_cv_.notify_all();
    batch.clear();
  }
}

void AuditLog::Record(const AuditEvent& event, std::function<void(Status)> on_durable) {
  RecordAnnounced(event, std::move(on_durable), Announcement());
}

Announcement AuditLog::Announce() { return journal_->Announce(); }

void AuditLog::RecordAnnounced(const AuditEvent& event, std::function<void(Status)> on_durable,
                               Announcement announced) {
  journal_->Append(
      BuildCloudTrailRecord(event),
      [cb = std::move(on_durable)](Result<uint64_t> r) { cb(r.ok() ? Status::Ok() : r.status()); },
      std::make_any<AuditEventSummary>(SummarizeEvent(event)), std::move(announced));
}

void AuditLog::Record(std::string record, std::function<void(Status)> on_durable) {
  journal_->Append(std::move(record), [cb = std::move(on_durable)](Result<uint64_t> r) {
    cb(r.ok() ? Status::Ok() : r.status());
  });
}

Status AuditLog::Health() const {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return FailedPreconditionError("the audit log " + dir_ + " is closed");
  }
  return journal_->status();
}

Status AuditLog::WaitIndexed() const {
  const uint64_t target = journal_->last_sequence();
  std::unique_lock<std::mutex> lock(mu_);
  if (indexed_ >= target || !index_error_.ok()) return index_error_;
  ++lookups_waiting_;  // the indexer writes what it has at once
  work_cv_.notify_one();
  indexed_cv_.wait(lock, [&] { return indexed_ >= target || !index_error_.ok(); });
  --lookups_waiting_;
  return index_error_;
}

uint64_t AuditLog::indexed_sequence() const {
  std::lock_guard<std::mutex> lock(mu_);
  return indexed_;
}

Result<LookupResult> AuditLog::Lookup(const LookupRequest& request) const {
  if (request.max_results == 0) return InvalidArgumentError("max_results must be at least 1");
  RETURN_IF_ERROR(WaitIndexed());
  const std::string_view table = request.attribute ? TableOf(request.attribute->key) : kAllTable;
  // EventId rows hold every record of their bucket: the records are read and matched.
  const bool by_event_id =
      request.attribute && request.attribute->key == LookupAttributeKey::kEventId;
  std::string_view value = request.attribute ? std::string_view(request.attribute->value) : "";
  if (by_event_id) value = EventIdBucket(value);
  const std::string prefix = Prefix(table, value);

  // The first row to read: the least key ≥ prefix ‖ bound (a row key's last 16 bytes,
  // as a 128-bit number), the later in key order of the end time's and the cursor's.
  using Bound = std::pair<uint64_t, uint64_t>;  // (~T, ~min_sequence)
  Bound first{0, 0};
  if (request.end_time) {  // the first row with T ≤ end
    first = std::max(first, Bound{TimeKey(FloorSeconds(*request.end_time)), 0});
  }
  if (request.after) {
    const LookupCursor& c = *request.after;
    if (c.sequence > 0) {
      // Rows of c.event_time with min_sequence ≥ c.sequence hold no entry before the cursor.
      first = std::max(first, Bound{TimeKey(c.event_time), ~(c.sequence - 1)});
    } else if (TimeKey(c.event_time) != std::numeric_limits<uint64_t>::max()) {
      first = std::max(first, Bound{TimeKey(c.event_time) + 1, 0});  // the next second
    } else {
      return LookupResult{};  // nothing is older than (the least time, sequence 0)
    }
  }
  // Scan's bound is exclusive: every row key is prefix + 16 bytes, so key ≥ prefix ‖
  // first ⇔ key > prefix ‖ (first − 1), and key > prefix holds for every row.
  std::string start_after = prefix;
  if (first != Bound{0, 0}) {
    PutU64(start_after, first.second == 0 ? first.first - 1 : first.first);
    PutU64(start_after, first.second - 1);
  }
  const std::optional<int64_t> start =
      request.start_time ? std::optional<int64_t>(CeilSeconds(*request.start_time)) : std::nullopt;

  struct Hit {
    int64_t time;
    uint64_t sequence, segment, offset;
    std::optional<LookupEvent> event;  // read already (EventId lookups)
  };
  std::vector<Hit> hits;
  bool more = false;
  RETURN_IF_ERROR(store_.View([&](const state::ReadTransaction& tx) -> Status {
    size_t scan = kLookupScanFirst;
    while (true) {
      // Every row holds at least one entry: max_results + 1 rows are always enough.
      const size_t wanted = request.max_results - hits.size();
      const size_t limit = wanted < scan ? wanted + 1 : scan;
      ASSIGN_OR_RETURN(std::vector<state::Entry> rows, tx.Scan(table, prefix, start_after, limit));
      for (const state::Entry& row : rows) {
        const std::string_view v = row.value;
        if (row.key.size() != prefix.size() + 16 || v.empty() || v.size() % kEntrySize != 0 ||
            GetU64(v, v.size() - kEntrySize) != ~GetU64(row.key, prefix.size() + 8)) {
          return DataLossError("audit index: a malformed row in " + std::string(table));
        }
        const int64_t time = TimeOfKey(GetU64(row.key, prefix.size()));
        if (start && time < *start) return Status::Ok();
        for (size_t at = 0; at < v.size(); at += kEntrySize) {
          const uint64_t sequence = GetU64(v, at);
          if (at > 0 && sequence >= GetU64(v, at - kEntrySize)) {
            return DataLossError("audit index: a malformed row in " + std::string(table));
          }
          // The cursor's first row may hold entries at or after the cursor.
          if (request.after &&
              (time > request.after->event_time ||
               (time == request.after->event_time && sequence >= request.after->sequence))) {
            continue;
          }
          Hit hit{time, sequence, GetU64(v, at + 8), GetU64(v, at + 16), std::nullopt};
          if (by_event_id) {
            ASSIGN_OR_RETURN(hit.event, ReadEvent(dir_, hit.sequence, hit.segment, hit.offset));
            if (hit.event->summary.event_id != request.attribute->value) continue;
          }
          if (hits.size() == request.max_results) {
            more = true;
            return Status::Ok();
          }
          hits.push_back(std::move(hit));
        }
      }
      if (rows.size() < limit) return Status::Ok();
      start_after = rows.back().key;
      scan = std::min(scan * 2, kLookupScanMax);
    }
  }));

  LookupResult result;
  result.events.reserve(hits.size());
  for (Hit& h : hits) {
    if (!h.event) {
      ASSIGN_OR_RETURN(h.event, ReadEvent(dir_, h.sequence, h.segment, h.offset));
    }
    result.events.push_back(std::move(*h.event));
  }
  if (more && !hits.empty()) result.next = LookupCursor{hits.back().time, hits.back().sequence};
  return result;
}

void AuditLog::Close() {
  if (journal_) journal_->Close();  // the last batches reach OnDurableBatch first
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  work_cv_.notify_all();
  if (indexer_.joinable()) indexer_.join();
}

}  // namespace coffer::audit
