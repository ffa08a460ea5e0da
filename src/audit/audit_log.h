#pragma once
// AuditLog: the audit sink of a data directory — the journal in DATA_DIR/audit
// (audit/journal.h) — and the index LookupEvents reads, in the state store.
//
// Record() appends to the journal; the caller is called back once the record is
// durable (group commit). After each durable batch the journal hands the batch's
// records to a background indexer, which parses them (ParseCloudTrailRecord) and
// writes their index entries in one state-store transaction together with the
// last indexed sequence (gathering batches for up to AuditLogOptions::index_delay,
// so that a busy server indexes in a few large transactions). Open() first catches up: it indexes
// every journal record past the stored last indexed sequence (and drops entries of records the
// journal no longer holds, e.g. segments an operator moved away).
//
// The index (tables in the state store; docs/formats/audit-index.md, version 3):
//   "audit.index.all"            every record
//   "audit.index.<Attribute>"    one per LookupEvents attribute (EventId, EventName,
//                                ReadOnly, Username, ResourceType, ResourceName,
//                                EventSource, AccessKeyId)
// One row per value, event second and indexer transaction (EventId: per the first 13
// characters of the eventID, a time-ordered UUID's millisecond; a lookup reads the
// records of the row and keeps the one with the very id):
// key   = u32 len ‖ value ‖ u64 ~time ‖ u64 ~min_sequence  (the "all" table: no value part)
// value = n × (u64 sequence ‖ u64 segment (its first sequence) ‖ u64 offset), sequence
//         descending
// (big-endian; time = event time in epoch seconds, sign bit flipped, so that rows in
// key order and entries in row order are newest first by (event time, sequence)).
// "audit.meta" holds "indexed_sequence" (u64) and "index_format" (u32 3); Open()
// rebuilds an index of an older format from the journal. A lookup scans one table and
// reads each record from the journal by its (segment, offset) with ReadRecordAt.
//
// Thread-safe.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "audit/audit_sink.h"
#include "audit/cloudtrail_record.h"
#include "audit/journal.h"
#include "common/clock.h"
#include "common/status.h"
#include "state/state_store.h"

namespace coffer::audit {

enum class LookupAttributeKey {
  kEventId,
  kEventName,
  kReadOnly,
  kUsername,
  kResourceType,
  kResourceName,
  kEventSource,
  kAccessKeyId,
};

// "EventName" ↔ kEventName, as LookupEvents spells the AttributeKey.
std::string_view LookupAttributeKeyName(LookupAttributeKey key);
std::optional<LookupAttributeKey> ParseLookupAttributeKey(std::string_view name);

// Where a page ended: the (event time, sequence) of its last event. The next page
// holds the events strictly older in index order.
struct LookupCursor {
  int64_t event_time = 0;  // epoch seconds
  uint64_t sequence = 0;
  bool operator==(const LookupCursor&) const = default;
};

struct LookupRequest {
  struct Attribute {
    LookupAttributeKey key;
    std::string value;
  };
  std::optional<Attribute> attribute;  // none: every event
  // Inclusive bounds on the event time; none: unbounded.
  std::optional<TimePoint> start_time;
  std::optional<TimePoint> end_time;
  size_t max_results = 50;  // at least 1
  std::optional<LookupCursor> after;
};

struct LookupEvent {
  uint64_t sequence = 0;
  std::string record;  // the CloudTrail record, as journaled
  AuditEventSummary summary;
};

struct LookupResult {
  std::vector<LookupEvent> events;  // newest first
  // Set when more events match: pass it as LookupRequest::after for the next page.
  std::optional<LookupCursor> next;
};

// Answers LookupEvents (the endpoint's view of an AuditLog).
class EventLookup {
 public:
  virtual ~EventLookup() = default;
  virtual Result<LookupResult> Lookup(const LookupRequest& request) const = 0;
};

struct AuditLogOptions {
  JournalOptions journal;  // its on_durable_batch is the AuditLog's own
  // The indexer gathers durable records for up to index_delay, or until it holds
  // index_batch_records, before it writes them in one transaction; a lookup that
  // waits for the index makes it write at once.
  std::chrono::milliseconds index_delay{50};
  size_t index_batch_records = 4096;
};

class AuditLog final : public AuditSink, public EventLookup {
 public:
  // Opens the journal in `dir` (DATA_DIR/audit) and catches the index in `store` up
  // with it. `store` must outlive the AuditLog. A damaged journal opens refusing
  // (Health() says why; lookups still read the index).
  static Result<std::unique_ptr<AuditLog>> Open(std::string dir, state::StateStore& store,
                                                AuditLogOptions options = {});
  ~AuditLog() override;
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // Appends the event's record; the indexer gets its fields from the event
  // (SummarizeEvent), not by parsing the record again.
  void Record(const AuditEvent& event, std::function<void(Status)> on_durable) override;
  Announcement Announce() override;
  void RecordAnnounced(const AuditEvent& event, std::function<void(Status)> on_durable,
                       Announcement announced) override;
  // Appends a record given as text (the indexer parses it; text that is not a
  // CloudTrail record is kept but not indexed).
  void Record(std::string record, std::function<void(Status)> on_durable);
  Status Health() const override;

  // Waits until every record durable when it is called is indexed, then looks up.
  // Errors: kInvalidArgument for max_results 0; the indexer's error if indexing
  // failed; kDataLoss when a record the index points at is damaged or gone.
  Result<LookupResult> Lookup(const LookupRequest& request) const override;

  // Waits until every record durable now is indexed (or indexing failed).
  Status WaitIndexed() const;
  uint64_t indexed_sequence() const;

  // Writes what is queued, indexes it, and stops. Later records fail. Idempotent.
  void Close();

  Journal& journal() { return *journal_; }

 private:
  AuditLog(std::string dir, state::StateStore& store, AuditLogOptions options);
  void OnDurableBatch(std::vector<DurableRecord>&& batch);
  void IndexerLoop();

  const std::string dir_;
  state::StateStore& store_;
  const AuditLogOptions options_;
  std::unique_ptr<Journal> journal_;

  mutable std::mutex mu_;
  mutable std::condition_variable indexed_cv_;  // indexed_ moved or index_error_ set
  mutable std::condition_variable work_cv_;     // records queued, a lookup waits, closing
  std::vector<DurableRecord> queue_;
  bool stopping_ = false;
  uint64_t indexed_ = 0;
  mutable int lookups_waiting_ = 0;  // in WaitIndexed: the indexer does not wait
  Status index_error_;
  std::thread indexer_;
};

}  // namespace coffer::audit
