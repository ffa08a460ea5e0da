#pragma once
// Where the request pipeline sends each call's CloudTrail record (ARCHITECTURE.md,
// Audit: "a call is answered only after its record is durable").
//
// Implementations: audit::AuditLog (the journal in DATA_DIR/audit); tests use
// their own. Thread-safe: Record, Announce, RecordAnnounced and Health are called
// from any thread at once.
#include <functional>
#include <string>
#include <utility>

#include "audit/announcement.h"
#include "audit/cloudtrail_record.h"
#include "common/status.h"

namespace coffer::audit {

class AuditSink {
 public:
  virtual ~AuditSink() = default;

  // Takes one call's record (written as audit::BuildCloudTrailRecord(event)) and
  // returns at once; calls `on_durable` exactly once, from any thread (possibly
  // this one, before Record returns): OK once the record is durable, or the error
  // that kept it from being recorded. `on_durable` must not block for long.
  virtual void Record(const AuditEvent& event, std::function<void(Status)> on_durable) = 0;

  // Says that a call has started whose record will follow through RecordAnnounced:
  // the sink may hold a batch it is about to sync for it (audit/announcement.h).
  // Dropping the announcement withdraws it. By default nothing is announced.
  virtual Announcement Announce() { return Announcement(); }
  // Record, for an announced record; the announcement ends here.
  virtual void RecordAnnounced(const AuditEvent& event, std::function<void(Status)> on_durable,
                               Announcement announced) {
    announced.Withdraw();
    Record(event, std::move(on_durable));
  }

  // OK, or why nothing can be recorded now (a damaged or failed journal, a closed
  // log): the pipeline then executes nothing.
  virtual Status Health() const = 0;
};

}  // namespace coffer::audit
