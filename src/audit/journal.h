#pragma once
// The audit journal: append-only segment files of length-prefixed, checksummed
// records, each carrying the SHA-256 of the record before it, so that any edit,
// deletion or reordering is found (docs/formats/audit-journal.md; constants in
// audit/journal_format.h). Payloads are opaque byte strings (CloudTrail records,
// built by the audit service).
//
// Journal is the writer: Append() queues a payload and returns at once; one
// writer thread takes everything queued, writes it with one write(2) per segment
// it touches, syncs once (group commit) and only then calls each caller back with
// its sequence number. Sequence numbers and chain hashes follow queue order.
//
// JournalReader, VerifyJournal() and ForEachRecord() are read-only and never
// write a byte: an operator's `coffer audit verify`, the LookupEvents index and
// the digest signer read with them, also while a Journal appends.
//
// Errors: damage in a journal (a failed check, a broken chain, a gap, a missing
// or foreign segment) is never repaired; it is reported by file, byte offset and
// sequence. Only a torn tail (a partial record at the very end, left by a crash
// during a write, never acknowledged) is cut off, by Journal::Open, with a
// warning in the log.
#include <any>
#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "audit/announcement.h"
#include "audit/journal_format.h"
#include "common/status.h"

namespace coffer::audit {

// SHA-256 of a record's full encoding; the chain links records by it.
using RecordHash = std::array<uint8_t, journal_format::kHashSize>;

// "DATA_DIR/audit".
std::string JournalDirectory(const std::string& data_dir);
// "0000000000000042.journal" for 42.
std::string SegmentFileName(uint64_t first_sequence);

// The first problem a reader found in a journal.
struct JournalProblem {
  enum class Kind {
    kTornTail,  // a partial record at the very end: a crash during a write
    kDamage,    // anything else: an operator must act
  };
  Kind kind = Kind::kDamage;
  std::string segment;    // file name, "0000000000000001.journal"
  uint64_t offset = 0;    // byte offset in it of the segment header or the record
  uint64_t sequence = 0;  // the sequence the record there should carry
  std::string what;       // "checksum mismatch (payload)", "sequence 7 follows 5", …

  // "0000000000000001.journal offset 236, record 4: checksum mismatch (payload)".
  std::string ToString() const;
};

// What a reader found: counts of what verified, and the first problem if any.
struct VerifyReport {
  uint64_t segments = 0;                                // segment files opened
  uint64_t records = 0;                                 // records that passed every check
  uint64_t first_sequence = 0;                          // of the first record read; 0 when none
  uint64_t last_sequence = 0;                           // of the last good record; 0 when none
  RecordHash last_hash = journal_format::kGenesisHash;  // of the last good record
  // Where the good part ends: the segment holding the last good record (or the
  // last good segment header) and the byte offset just after it. Empty and 0 when
  // the journal has no segment.
  std::string end_segment;
  uint64_t end_offset = 0;
  std::optional<JournalProblem> problem;

  // True when the whole journal verified: no damage and no torn tail.
  bool ok() const { return !problem.has_value(); }
  bool damaged() const { return problem && problem->kind == JournalProblem::Kind::kDamage; }
};

// One record as read.
struct JournalRecord {
  uint64_t sequence = 0;
  std::string payload;
  RecordHash hash{};      // SHA-256 of this record's encoding
  RecordHash previous{};  // the hash of the record before (genesis for record 1)
  std::string segment;    // file name of the segment holding it
  uint64_t offset = 0;    // byte offset of the record in that segment
};

// Reads a journal directory front to back, checking every segment header and
// record (checksums, sequence continuity, the chain) in the order given in the
// format document, and stops at the first problem. Never writes. Not thread-safe;
// use one reader per thread. A reader sees the segments that existed when it was
// opened, each up to the size it had when the reader reached it.
class JournalReader {
 public:
  // Lists the segments of `dir`. With from_sequence > 1, segments that end before
  // it are skipped unread (the chain is then checked from the first record read)
  // and records before it are checked but not returned.
  static Result<std::unique_ptr<JournalReader>> Open(std::string dir, uint64_t from_sequence = 1);
  ~JournalReader();
  JournalReader(const JournalReader&) = delete;
  JournalReader& operator=(const JournalReader&) = delete;

  // true: *record holds the next record. false: the end of the journal, or a
  // problem (then problem() says what). An error: the files could not be read.
  Result<bool> Next(JournalRecord* record);

  // The caller holds the journal's writer lock, so nothing is written while it
  // reads: a record that fails a check is not read again (format document, rule 16).
  void NoWriter();

  const std::optional<JournalProblem>& problem() const;
  // What has been read so far (after Next() returned false: the whole journal).
  const VerifyReport& report() const;

  struct Impl;

 private:
  explicit JournalReader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Walks the whole journal in `dir` read-only (what `coffer audit verify` runs).
// The report's problem is the first torn tail or damage; an error Status only
// when the files cannot be read (a missing directory, permissions).
Result<VerifyReport> VerifyJournal(const std::string& dir);

// Calls `fn` for each record with sequence >= from_sequence, in order, with its
// payload and hash (both valid only during the call). A non-OK Status from `fn`
// stops the walk and is returned. A torn tail ends the walk with OK (a live
// writer may be in the middle of a batch); damage ends it with kDataLoss naming
// the problem. Records past Journal::last_sequence() may not be durable yet.
using RecordFn =
    std::function<Status(uint64_t sequence, std::string_view payload, const RecordHash& hash)>;
Status ForEachRecord(const std::string& dir, uint64_t from_sequence, const RecordFn& fn);

// A record the writer has just made durable, as JournalOptions::on_durable_batch
// receives it.
struct DurableRecord {
  uint64_t sequence = 0;
  uint64_t segment = 0;  // the first sequence of its segment: SegmentFileName(segment)
  uint64_t offset = 0;   // byte offset of the record in that segment
  std::string payload;
  std::any note;  // what Append was given with the record, untouched
};

// Reads the one record at `offset` of segment SegmentFileName(segment) in `dir`
// and returns its payload, checking its header and payload checks and that it
// carries `sequence` (not the chain: that needs the records before it). Errors:
// kDataLoss when the bytes there are not that record, I/O errors.
Result<std::string> ReadRecordAt(const std::string& dir, uint64_t segment, uint64_t offset,
                                 uint64_t sequence);

struct JournalOptions {
  // A record goes into a new segment when the current one already holds a record
  // and would grow past this many bytes. At least journal_format::kMinSegmentSize.
  uint64_t segment_size = journal_format::kDefaultSegmentSize;
  // fdatasync every batch, fsync new segments and the directory. false gives up
  // durability (an acknowledged record may be lost in a crash): only for tests
  // and benchmarks that say so.
  bool sync = true;
  // Group commit: with records queued and records announced (Announce) but not
  // yet appended, the writer waits up to this long for the announced ones before
  // it writes and syncs, so that calls already under way share the sync instead
  // of each waiting for the next one. It never waits for a record nobody
  // announced: a lone caller, or callers not yet under way, never wait. Zero:
  // never wait.
  std::chrono::microseconds group_commit_delay{250};
  // Zero fill ahead (0: off). A background thread keeps up to this many bytes
  // past the last record of the last segment written with zeros and synced, so
  // that a batch overwrites blocks the file already has: its fdatasync then
  // writes the data alone, without a file size or block map change (on ext4, a
  // quarter less sync time and half the kernel CPU per sync). The zeros
  // are cut off when the segment rolls and at Close; readers take zeros after the
  // last record as its end (format document, Writing). Needs `sync`.
  uint64_t zero_fill_ahead = 0;
  // When set: called on the writer thread after each batch is durable, before the
  // batch's callbacks, with the records of the batch that are durable, in sequence
  // order (their payloads moved in: the observer may keep them). Never called with
  // an empty vector. Keep it short (hand the records to another thread).
  std::function<void(std::vector<DurableRecord>&&)> on_durable_batch;
  // Records up to this sequence were signed by a digest, so were durable and
  // acknowledged: Open treats a torn tail among them as damage (no crash tears a
  // record after it was signed) and cuts nothing. Zeros after the last record are
  // its end whatever was signed (a crash after segments were moved away leaves
  // them): signed records that are gone are the digest signer's to notice.
  uint64_t signed_sequence = 0;
};

// Counters of one Journal since Open.
struct JournalStats {
  uint64_t records = 0;           // records written and acknowledged
  uint64_t batches = 0;           // batches written (each: one write per segment)
  uint64_t syncs = 0;             // fsync/fdatasync calls, files and directory
  uint64_t bytes = 0;             // bytes written to segment files
  uint64_t segments_created = 0;  // new segment files
  uint64_t zero_fills = 0;        // zero fills ahead, written and synced
  uint64_t writes_in_zeros = 0;   // batch writes that landed in zeros filled ahead
};

// The writer. Thread-safe: Append, AppendAndWait, status, stats and the
// accessors may be called from any thread at once. One Journal per directory:
// Open locks the directory (flock) until Close.
class Journal {
 public:
  // Called exactly once per Append (an empty one is skipped): from the writer
  // thread, with the record's sequence once it is durable or with the error that
  // refused it; after Close(), at once on the calling thread with
  // kFailedPrecondition. It may call Append; AppendAndWait from it fails with
  // kFailedPrecondition (it would wait for itself); it must not destroy the
  // Journal. Callbacks of one batch run one after another: keep them short.
  using DurableCallback = std::function<void(Result<uint64_t>)>;

  // Opens the journal in `dir` (DATA_DIR/audit; created 0700 when missing, its
  // parent must exist) and recovers it: reads every segment and checks the whole
  // chain. A torn tail is truncated away and logged (Log().warn). Damage leaves
  // every file as it is and opens the journal refusing: every append then fails
  // with kDataLoss and a message naming the segment, offset and record and saying
  // what the operator must do (also logged, and returned by status()). Errors:
  // kInvalidArgument for bad options, kFailedPrecondition when another Journal
  // holds the directory, I/O errors.
  static Result<std::unique_ptr<Journal>> Open(std::string dir, JournalOptions options = {});

  // Close().
  ~Journal();
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  // Queues `payload` (at most journal_format::kMaxPayloadSize bytes, else the
  // callback gets kInvalidArgument and nothing is written) and returns at once.
  // After a failed write or sync every pending and later append fails with that
  // first error. `note` is not written: it goes with the record to
  // JournalOptions::on_durable_batch (the audit log passes the record's index
  // fields, so that its indexer need not parse the payload again).
  void Append(std::string payload, DurableCallback on_durable, std::any note = {});
  // Append for an announced record: the announcement ends as the record is queued.
  void Append(std::string payload, DurableCallback on_durable, std::any note,
              Announcement announced);

  // Announces a record the caller will Append soon (see JournalOptions::
  // group_commit_delay); drop the announcement to withdraw it. Empty once closed.
  Announcement Announce();

  // Append, then wait until the record is durable: its sequence, or the error.
  Result<uint64_t> AppendAndWait(std::string payload);

  // Writes everything queued, stops the writer thread, closes the files and
  // releases the directory. Later appends fail at once. Idempotent.
  void Close();

  // OK, or the error every append now fails with (damage found by Open, or the
  // first failed write or sync).
  Status status() const;
  // The sequence and hash of the last durable record (0 and genesis when none,
  // and while the journal refuses because Open found damage).
  uint64_t last_sequence() const;
  RecordHash last_hash() const;
  JournalStats stats() const;
  const std::string& dir() const;

  struct Impl;

 private:
  explicit Journal(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace coffer::audit
