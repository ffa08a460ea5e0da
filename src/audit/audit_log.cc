#include "audit/audit_log.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <limits>
#include <utility>

#include "common/bytes.h"
#include "common/logging.h"

namespace coffer::audit {
namespace {

constexpr std::string_view kAllTable = "audit.index.all";
constexpr std::string_view kMetaTable = "audit.meta";
constexpr std::string_view kIndexedSequenceKey = "indexed_sequence";
// Records indexed per transaction while catching up at open.
constexpr size_t kCatchUpBatch = 1024;
// Entries read per scan while dropping entries of records the journal lost.
constexpr size_t kDropScan = 4096;

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

std::string_view TableOf(LookupAttributeKey key) {
  for (const AttributeName& a : kAttributes) {
    if (a.key == key) return a.table;
  }
  return kAllTable;
}

void PutU32(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(v >> shift));
}
void PutU64(std::string& out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>(v >> shift));
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

std::string Prefix(std::string_view table, std::string_view value) {
  std::string p;
  if (table == kAllTable) return p;
  p.reserve(4 + value.size() + 16);
  PutU32(p, static_cast<uint32_t>(value.size()));
  p.append(value);
  return p;
}

std::string Key(std::string_view table, std::string_view value, int64_t time, uint64_t sequence) {
  std::string k = Prefix(table, value);
  PutU64(k, TimeKey(time));
  PutU64(k, ~sequence);
  return k;
}

std::string Location(const DurableRecord& r) {
  std::string v;
  v.reserve(24);
  PutU64(v, r.sequence);
  PutU64(v, r.segment);
  PutU64(v, r.offset);
  return v;
}

std::string SequenceValue(uint64_t s) {
  std::string v;
  PutU64(v, s);
  return v;
}

// Writes the index entries of `records` and the last indexed sequence, in `tx`.
Status IndexRecords(state::Transaction& tx, const std::string& dir,
                    const std::vector<DurableRecord>& records) {
  for (const DurableRecord& r : records) {
    Result<AuditEventSummary> parsed = ParseCloudTrailRecord(r.payload);
    if (!parsed.ok()) {
      Log().warn("audit journal {}: record {} is not a CloudTrail record ({}); not indexed", dir,
                 r.sequence, parsed.status().message());
      continue;
    }
    const AuditEventSummary& s = *parsed;
    const int64_t t = FloorSeconds(s.event_time);
    const std::string location = Location(r);
    auto put = [&](std::string_view table, std::string_view value) {
      return tx.Put(table, Key(table, value, t, r.sequence), location);
    };
    RETURN_IF_ERROR(put(kAllTable, ""));
    RETURN_IF_ERROR(put(TableOf(LookupAttributeKey::kEventId), s.event_id));
    RETURN_IF_ERROR(put(TableOf(LookupAttributeKey::kEventName), s.event_name));
    RETURN_IF_ERROR(put(TableOf(LookupAttributeKey::kEventSource), s.event_source));
    RETURN_IF_ERROR(put(TableOf(LookupAttributeKey::kReadOnly), s.read_only ? "true" : "false"));
    if (!s.username.empty()) {
      RETURN_IF_ERROR(put(TableOf(LookupAttributeKey::kUsername), s.username));
    }
    if (!s.access_key_id.empty()) {
      RETURN_IF_ERROR(put(TableOf(LookupAttributeKey::kAccessKeyId), s.access_key_id));
    }
    // Put is idempotent: a type or name named twice gives one entry.
    for (const LookupResource& res : s.resources) {
      if (!res.resource_type.empty()) {
        RETURN_IF_ERROR(put(TableOf(LookupAttributeKey::kResourceType), res.resource_type));
      }
      if (!res.resource_name.empty()) {
        RETURN_IF_ERROR(put(TableOf(LookupAttributeKey::kResourceName), res.resource_name));
      }
    }
  }
  if (records.empty()) return Status::Ok();
  return tx.Put(kMetaTable, kIndexedSequenceKey, SequenceValue(records.back().sequence));
}

Result<uint64_t> ReadIndexedSequence(state::StateStore& store) {
  uint64_t indexed = 0;
  RETURN_IF_ERROR(store.View([&](const state::ReadTransaction& tx) -> Status {
    ASSIGN_OR_RETURN(std::optional<std::string> v, tx.Get(kMetaTable, kIndexedSequenceKey));
    if (v) {
      if (v->size() != 8) return DataLossError("audit index: bad indexed_sequence value");
      indexed = GetU64(*v, 0);
    }
    return Status::Ok();
  }));
  return indexed;
}

// Removes the entries of records past `last` (the journal no longer holds them).
Status DropEntriesAfter(state::StateStore& store, uint64_t last) {
  return store.Update([&](state::Transaction& tx) -> Status {
    std::vector<std::string_view> tables = {kAllTable};
    for (const AttributeName& a : kAttributes) tables.push_back(a.table);
    for (std::string_view table : tables) {
      std::string after;
      while (true) {
        ASSIGN_OR_RETURN(std::vector<state::Entry> entries, tx.Scan(table, "", after, kDropScan));
        if (entries.empty()) break;
        for (const state::Entry& e : entries) {
          if (e.value.size() == 24 && GetU64(e.value, 0) > last) {
            RETURN_IF_ERROR(tx.Delete(table, e.key));
          }
        }
        after = entries.back().key;
      }
    }
    return tx.Put(kMetaTable, kIndexedSequenceKey, SequenceValue(last));
  });
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
  ASSIGN_OR_RETURN(uint64_t indexed, ReadIndexedSequence(store));
  if (log->journal_->status().ok()) {
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
        RETURN_IF_ERROR(
            store.Update([&](state::Transaction& tx) { return IndexRecords(tx, dir, batch); }));
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
  log->indexer_ = std::thread([self] { self->IndexerLoop(); });
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
    // The index is rebuilt from the journal after a crash: its commits need not wait
    // for an fsync (which would compete with the journal's).
    Status st = store_.UpdateRebuildable(
        [&](state::Transaction& tx) { return IndexRecords(tx, dir_, batch); });
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
  const std::string prefix = Prefix(table, request.attribute ? request.attribute->value : "");

  // Start after the later (in index order) of: the newest key past end_time, the cursor.
  std::string start_after;
  if (request.end_time) {
    const int64_t end = FloorSeconds(*request.end_time);
    if (end < std::numeric_limits<int64_t>::max()) {
      // Every key of time end + 1 is at most this one.
      start_after = prefix;
      PutU64(start_after, TimeKey(end + 1));
      PutU64(start_after, ~uint64_t{0});
    }
  }
  if (request.after) {
    std::string cursor = Key(table, request.attribute ? request.attribute->value : "",
                             request.after->event_time, request.after->sequence);
    if (cursor > start_after) start_after = std::move(cursor);
  }
  const std::optional<int64_t> start =
      request.start_time ? std::optional<int64_t>(CeilSeconds(*request.start_time)) : std::nullopt;

  struct Hit {
    int64_t time;
    uint64_t sequence, segment, offset;
  };
  std::vector<Hit> hits;
  bool more = false;
  RETURN_IF_ERROR(store_.View([&](const state::ReadTransaction& tx) -> Status {
    ASSIGN_OR_RETURN(std::vector<state::Entry> entries,
                     tx.Scan(table, prefix, start_after, request.max_results + 1));
    for (const state::Entry& e : entries) {
      if (e.key.size() != prefix.size() + 16 || e.value.size() != 24) {
        return DataLossError("audit index: a malformed entry in " + std::string(table));
      }
      const int64_t time = TimeOfKey(GetU64(e.key, prefix.size()));
      if (start && time < *start) break;
      if (hits.size() == request.max_results) {
        more = true;
        break;
      }
      hits.push_back({time, GetU64(e.value, 0), GetU64(e.value, 8), GetU64(e.value, 16)});
    }
    return Status::Ok();
  }));

  LookupResult result;
  result.events.reserve(hits.size());
  for (const Hit& h : hits) {
    LookupEvent event;
    event.sequence = h.sequence;
    ASSIGN_OR_RETURN(event.record, ReadRecordAt(dir_, h.segment, h.offset, h.sequence));
    Result<AuditEventSummary> summary = ParseCloudTrailRecord(event.record);
    if (!summary.ok()) {
      return DataLossError("audit journal " + dir_ + ": record " + std::to_string(h.sequence) +
                           " is not a CloudTrail record: " + summary.status().message());
    }
    event.summary = std::move(summary).value();
    result.events.push_back(std::move(event));
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
