#include "audit/journal.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <any>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <filesystem>
#include <future>
#include <limits>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "common/bytes.h"
#include "common/files.h"
#include "common/logging.h"
#include "common/thread_pool.h"
#include "crypto/crc32c.h"
#include "crypto/hash.h"

namespace coffer::audit {

namespace jf = journal_format;
using crypto::Crc32c;

namespace {

// Reads are done in chunks of this size (or one record, when larger).
constexpr size_t kReadChunk = size_t{1} << 20;

// A record of the last segment that fails a check is read again after each of
// these pauses before it is called damage (format document, rule 16).
constexpr std::chrono::milliseconds kRereadPauses[] = {std::chrono::milliseconds(1),
                                                       std::chrono::milliseconds(10)};

// The filler fills zeros ahead when the writer used this much of them.
constexpr uint64_t kZeroFillChunk = uint64_t{256} << 10;

RecordHash ToRecordHash(const Bytes& digest) {
  RecordHash h{};
  std::copy_n(digest.begin(), h.size(), h.begin());
  return h;
}

std::string Join(const std::string& dir, std::string_view name) {
  std::string path = dir;
  if (path.empty() || path.back() != '/') path += '/';
  path += name;
  return path;
}

// "0000000000000042.journal" -> 42; nullopt for any other name.
std::optional<uint64_t> ParseSegmentName(std::string_view name) {
  if (name.size() != jf::kSegmentNameDigits + jf::kSegmentSuffix.size()) return std::nullopt;
  if (name.substr(jf::kSegmentNameDigits) != jf::kSegmentSuffix) return std::nullopt;
  uint64_t n = 0;
  for (size_t i = 0; i < jf::kSegmentNameDigits; ++i) {
    if (name[i] < '0' || name[i] > '9') return std::nullopt;
    n = n * 10 + static_cast<uint64_t>(name[i] - '0');
  }
  return n;
}

bool IsTempSegmentName(std::string_view name) {
  if (name.size() <= jf::kTempSuffix.size()) return false;
  if (name.substr(name.size() - jf::kTempSuffix.size()) != jf::kTempSuffix) return false;
  return ParseSegmentName(name.substr(0, name.size() - jf::kTempSuffix.size())).has_value();
}

struct SegmentEntry {
  uint64_t first_sequence;
  std::string name;
};

// The segment files of `dir`, in order of their first sequence.
Result<std::vector<SegmentEntry>> ListSegments(const std::string& dir) {
  std::error_code ec;
  std::filesystem::directory_iterator it(dir, ec);
  if (ec) return PosixError("read directory " + dir, ec.value());
  std::vector<SegmentEntry> segments;
  for (; it != std::filesystem::directory_iterator(); it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (auto first = ParseSegmentName(name)) segments.push_back({*first, std::move(name)});
  }
  if (ec) return PosixError("read directory " + dir, ec.value());
  std::sort(segments.begin(), segments.end(), [](const SegmentEntry& a, const SegmentEntry& b) {
    return a.first_sequence < b.first_sequence;
  });
  return segments;
}

// A segment file opened for reading, read through a window buffer. The size is
// taken when it is opened: a live writer's later appends are not seen.
class SegmentFile {
 public:
  static Result<std::unique_ptr<SegmentFile>> Open(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return PosixError("open " + path, errno);
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      int err = errno;
      ::close(fd);
      return PosixError("stat " + path, err);
    }
    return std::unique_ptr<SegmentFile>(
        new SegmentFile(path, fd, static_cast<uint64_t>(st.st_size)));
  }
  ~SegmentFile() { ::close(fd_); }
  SegmentFile(const SegmentFile&) = delete;
  SegmentFile& operator=(const SegmentFile&) = delete;

  uint64_t size() const { return size_; }

  // The file's size now (a live writer may have grown it since it was opened).
  Result<uint64_t> CurrentSize() const {
    struct stat st {};
    if (::fstat(fd_, &st) != 0) return PosixError("stat " + path_, errno);
    return static_cast<uint64_t>(st.st_size);
  }

  // Drops what was read, so that the next Read reads the file again.
  void Forget() { window_size_ = 0; }

  // Up to n bytes at `offset`: fewer only at the end of the file. Valid until
  // the next call.
  Result<ByteView> Read(uint64_t offset, size_t n) {
    if (offset >= size_) return ByteView();
    n = static_cast<size_t>(std::min<uint64_t>(n, size_ - offset));
    if (offset < window_offset_ || offset + n > window_offset_ + window_size_) {
      size_t want =
          static_cast<size_t>(std::min<uint64_t>(std::max(n, kReadChunk), size_ - offset));
      if (buffer_.size() < want) buffer_.resize(want);
      size_t have = 0;
      while (have < want) {
        ssize_t got =
            ::pread(fd_, buffer_.data() + have, want - have, static_cast<off_t>(offset + have));
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) return PosixError("read " + path_, errno);
        if (got == 0) break;  // the file shrank since it was opened
        have += static_cast<size_t>(got);
      }
      window_offset_ = offset;
      window_size_ = have;
      n = std::min(n, have);
    }
    return ByteView(buffer_.data() + (offset - window_offset_), n);
  }

 private:
  SegmentFile(std::string path, int fd, uint64_t size)
      : path_(std::move(path)), fd_(fd), size_(size) {}

  std::string path_;
  int fd_;
  uint64_t size_;
  Bytes buffer_;
  uint64_t window_offset_ = 0;
  size_t window_size_ = 0;
};

std::string DamageMessage(const std::string& dir, const JournalProblem& problem) {
  return "audit journal " + dir + " is damaged: " + problem.ToString() +
         ". coffer will not append to a damaged journal, so calls that must be audited fail. "
         "To recover: run `coffer audit verify --data-dir " +
         ParentDirectory(dir) + "` to see the damage, move " + problem.segment +
         " and every later segment out of " + dir +
         " (keep them as evidence), then restart coffer.";
}

Status WriteAll(int fd, ByteView data, uint64_t offset, const std::string& path) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n =
        ::pwrite(fd, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return PosixError("write " + path, errno);
    }
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

// Creates `dir` with mode 0700 (exactly) when missing and makes the new entry durable.
Status EnsureJournalDirectory(const std::string& dir) {
  if (::mkdir(dir.c_str(), jf::kDirectoryMode) == 0) {
    if (::chmod(dir.c_str(), jf::kDirectoryMode) != 0) return PosixError("chmod " + dir, errno);
    return SyncDirectory(ParentDirectory(dir));
  }
  if (errno != EEXIST) return PosixError("create directory " + dir, errno);
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) return PosixError("stat " + dir, errno);
  if (!S_ISDIR(st.st_mode)) return FailedPreconditionError(dir + " exists and is not a directory");
  return Status::Ok();
}

}  // namespace

std::string JournalDirectory(const std::string& data_dir) {
  return Join(data_dir, jf::kDirectoryName);
}

std::string SegmentFileName(uint64_t first_sequence) {
  std::string digits = std::to_string(first_sequence);
  if (digits.size() < jf::kSegmentNameDigits) {
    digits.insert(0, jf::kSegmentNameDigits - digits.size(), '0');
  }
  return digits + std::string(jf::kSegmentSuffix);
}

std::string JournalProblem::ToString() const {
  return segment + " offset " + std::to_string(offset) + ", record " + std::to_string(sequence) +
         ": " + what;
}

// ---------------------------------------------------------------------------
// Reading

struct JournalReader::Impl {
  std::string dir;
  uint64_t from_sequence = jf::kFirstSequence;
  std::vector<SegmentEntry> segments;
  size_t next_segment = 0;  // index of the next segment to open

  // The segment being read.
  std::unique_ptr<SegmentFile> file;
  size_t index = 0;  // of `file` in `segments`
  uint64_t offset = 0;
  uint64_t records_in_segment = 0;

  // The chain so far. Not anchored when the walk began past the first segment:
  // then the first segment's header and first record are taken as they are.
  bool anchored = true;
  uint64_t last_sequence = 0;
  RecordHash last_hash = jf::kGenesisHash;

  VerifyReport report;
  bool done = false;
  bool writer_may_write = true;  // false: NoWriter()
  crypto::Sha256Hasher hasher;

  bool IsLastSegment() const { return index + 1 == segments.size(); }
  uint64_t ExpectedSequence() const { return last_sequence + 1; }

  // Records the problem; Next() then returns false for good.
  Result<bool> Fail(JournalProblem::Kind kind, uint64_t at, uint64_t sequence, std::string what) {
    report.problem = JournalProblem{kind, segments[index].name, at, sequence, std::move(what)};
    done = true;
    file.reset();
    return false;
  }
  Result<bool> Damage(uint64_t at, std::string what) {
    return Fail(JournalProblem::Kind::kDamage, at, ExpectedSequence(), std::move(what));
  }
  Result<bool> Torn(uint64_t at, std::string what) {
    return Fail(JournalProblem::Kind::kTornTail, at, ExpectedSequence(),
                "torn tail (" + std::move(what) + ")");
  }

  // Opens segments[next_segment] and checks its header (steps 1-7 of the format
  // document, except 7, checked at its end). Returns false on a problem.
  Result<bool> OpenSegment();
  // Reads the record at `offset` of the current segment; true with *out filled.
  Result<bool> ReadRecord(JournalRecord* out);
  // The walk ends here without a problem: the records of the last segment end at
  // `offset`, and only zeros follow.
  Result<bool> End() {
    done = true;
    file.reset();
    return false;
  }
  // Whether every byte from `at` to the end of the current segment is zero.
  Result<bool> ZeroToEnd(uint64_t at);
  // Whether the bytes [begin, end) of the current segment, a record's, end in a
  // zero byte with nothing but zeros after them: a write cut short over zeros
  // (format document, rule 15).
  Result<bool> CutShortOverZeros(uint64_t begin, uint64_t end);
  // Whether the record at `at` of the last segment, whose bytes `failed` failed a
  // check, is being written while it is read: bytes follow it, and reading it
  // again gives other bytes (format document, rule 16).
  Result<bool> WrittenWhileRead(uint64_t at, const Bytes& failed);
  // For the record (or record header: `what`) at `at` of the last segment whose
  // bytes `failed` failed a check: a torn tail when it was cut short over zeros
  // (rule 15) or is being written (rule 16), else damage named `damage`.
  // `failed` is a copy: the reads reuse the buffer.
  Result<bool> TornOrDamage(uint64_t at, const Bytes& failed, const std::string& what,
                            std::string damage);
};

Result<bool> JournalReader::Impl::OpenSegment() {
  index = next_segment++;
  const SegmentEntry& entry = segments[index];
  ASSIGN_OR_RETURN(file, SegmentFile::Open(Join(dir, entry.name)));
  ++report.segments;
  offset = 0;
  records_in_segment = 0;
  if (!anchored) {
    // The walk starts here: take the sequence from the file name (checked below).
    last_sequence = entry.first_sequence - 1;
  }
  ASSIGN_OR_RETURN(ByteView header, file->Read(0, jf::kSegmentHeaderSize));
  if (header.size() < jf::kSegmentHeaderSize) {
    return Damage(0, "segment header incomplete (" + std::to_string(header.size()) + " of " +
                         std::to_string(jf::kSegmentHeaderSize) + " bytes)");
  }
  if (!std::equal(jf::kMagic.begin(), jf::kMagic.end(), header.begin())) {
    return Damage(0, "not an audit journal segment (bad magic)");
  }
  uint32_t version = LoadU32(header.data() + jf::kSegmentVersionOffset);
  if (version != jf::kVersion) {
    return Damage(0, "segment format version " + std::to_string(version) +
                         "; this coffer reads version " + std::to_string(jf::kVersion));
  }
  if (Crc32c(header.first(jf::kSegmentCheckOffset)) !=
      LoadU32(header.data() + jf::kSegmentCheckOffset)) {
    return Damage(0, "checksum mismatch (segment header)");
  }
  uint64_t first = LoadU64(header.data() + jf::kSegmentFirstSequenceOffset);
  if (first != entry.first_sequence) {
    return Damage(0, "segment header says first sequence " + std::to_string(first) +
                         " but the file name says " + std::to_string(entry.first_sequence));
  }
  if (first != ExpectedSequence()) {
    if (last_sequence == 0) {
      return Damage(0, "journal starts at sequence " + std::to_string(first) +
                           ", not 1 (a segment is missing or out of place)");
    }
    return Damage(0, "sequence " + std::to_string(first) + " follows " +
                         std::to_string(last_sequence) + " (a segment is missing or out of place)");
  }
  offset = jf::kSegmentHeaderSize;
  report.end_segment = entry.name;
  report.end_offset = offset;
  return true;
}

Result<bool> JournalReader::Impl::ZeroToEnd(uint64_t at) {
  while (at < file->size()) {
    ASSIGN_OR_RETURN(ByteView chunk, file->Read(at, kReadChunk));
    if (chunk.empty()) break;
    if (std::any_of(chunk.begin(), chunk.end(), [](uint8_t b) { return b != 0; })) return false;
    at += chunk.size();
  }
  return true;
}

Result<bool> JournalReader::Impl::CutShortOverZeros(uint64_t begin, uint64_t end) {
  if (end <= begin) return false;
  ASSIGN_OR_RETURN(ByteView last, file->Read(end - 1, 1));
  if (last.empty() || last[0] != 0) return false;
  return ZeroToEnd(end);
}

Result<bool> JournalReader::Impl::WrittenWhileRead(uint64_t at, const Bytes& failed) {
  if (!writer_may_write) return false;
  ASSIGN_OR_RETURN(uint64_t size_now, file->CurrentSize());
  // At the end of the file: no write goes on past it.
  if (size_now <= at + failed.size()) return false;
  for (size_t i = 0; i <= std::size(kRereadPauses); ++i) {
    if (i > 0) std::this_thread::sleep_for(kRereadPauses[i - 1]);
    file->Forget();
    ASSIGN_OR_RETURN(ByteView again, file->Read(at, failed.size()));
    if (!std::equal(failed.begin(), failed.end(), again.begin(), again.end())) return true;
  }
  return false;
}

Result<bool> JournalReader::Impl::TornOrDamage(uint64_t at, const Bytes& failed,
                                               const std::string& what, std::string damage) {
  ASSIGN_OR_RETURN(bool cut, CutShortOverZeros(at, at + failed.size()));
  if (cut) return Torn(at, what + " cut short, zeros after");
  ASSIGN_OR_RETURN(bool writing, WrittenWhileRead(at, failed));
  if (writing) return Torn(at, what + " being written");
  return Damage(at, std::move(damage));
}

Result<bool> JournalReader::Impl::ReadRecord(JournalRecord* out) {
  const uint64_t at = offset;
  const uint64_t remaining = file->size() - at;
  const bool last = IsLastSegment();
  auto cut_short = [&](std::string torn_what) {
    if (last) return Torn(at, std::move(torn_what));
    return Damage(at, "segment ends inside a record but is not the last segment");
  };
  if (remaining < jf::kRecordHeaderSize) {
    if (last) {
      ASSIGN_OR_RETURN(bool zeros, ZeroToEnd(at));
      if (zeros) return End();
    }
    return cut_short(std::to_string(remaining) + " bytes, less than a record header");
  }
  ASSIGN_OR_RETURN(ByteView header, file->Read(at, jf::kRecordHeaderSize));
  if (header.size() < jf::kRecordHeaderSize) {
    return cut_short(std::to_string(header.size()) + " bytes, less than a record header");
  }
  if (Crc32c(header.first(jf::kRecordHeaderCheckOffset)) !=
      LoadU32(header.data() + jf::kRecordHeaderCheckOffset)) {
    const char* damage = "checksum mismatch (record header)";
    if (!last) return Damage(at, damage);
    const Bytes failed(header.begin(), header.end());  // ZeroToEnd reuses the buffer
    ASSIGN_OR_RETURN(bool zeros, ZeroToEnd(at));
    if (zeros) return End();
    return TornOrDamage(at, failed, "record header", damage);
  }
  const uint32_t length = LoadU32(header.data() + jf::kRecordLengthOffset);
  const uint32_t payload_check = LoadU32(header.data() + jf::kRecordPayloadCheckOffset);
  const uint64_t sequence = LoadU64(header.data() + jf::kRecordSequenceOffset);
  RecordHash previous{};
  std::copy_n(header.data() + jf::kRecordPreviousOffset, previous.size(), previous.begin());
  if (length > jf::kMaxPayloadSize) {
    return Damage(at, "length " + std::to_string(length) + " exceeds the maximum (" +
                          std::to_string(jf::kMaxPayloadSize) + ")");
  }
  const uint64_t record_size = jf::kRecordHeaderSize + uint64_t{length};
  if (remaining < record_size) {
    return cut_short("record of " + std::to_string(record_size) + " bytes, " +
                     std::to_string(remaining) + " present");
  }
  ASSIGN_OR_RETURN(ByteView record, file->Read(at, static_cast<size_t>(record_size)));
  if (record.size() < record_size) {
    return cut_short("record of " + std::to_string(record_size) + " bytes, " +
                     std::to_string(record.size()) + " present");
  }
  ByteView payload = record.subspan(jf::kRecordHeaderSize);
  if (Crc32c(payload) != payload_check) {
    const char* damage = "checksum mismatch (payload)";
    if (!last) return Damage(at, damage);
    return TornOrDamage(at, Bytes(record.begin(), record.end()), "record", damage);
  }
  if (sequence != ExpectedSequence()) {
    return Damage(
        at, "sequence " + std::to_string(sequence) + " follows " + std::to_string(last_sequence));
  }
  if (anchored) {  // else this is the first record read: nothing to compare with
    if (previous != last_hash) {
      if (sequence == jf::kFirstSequence) {
        return Damage(at,
                      "chain broken: previous-hash of the first record is not the genesis value");
      }
      return Damage(
          at, "chain broken: previous-hash does not match record " + std::to_string(last_sequence));
    }
  }
  hasher.Update(record);
  RecordHash hash = ToRecordHash(hasher.Finish());

  offset = at + record_size;
  ++records_in_segment;
  ++report.records;
  if (report.first_sequence == 0) report.first_sequence = sequence;
  report.last_sequence = sequence;
  report.last_hash = hash;
  report.end_segment = segments[index].name;
  report.end_offset = offset;
  last_sequence = sequence;
  last_hash = hash;
  anchored = true;

  if (sequence < from_sequence) return false;
  out->sequence = sequence;
  out->payload.assign(AsChars(payload));
  out->hash = hash;
  out->previous = previous;
  out->segment = segments[index].name;
  out->offset = at;
  return true;
}

JournalReader::JournalReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
JournalReader::~JournalReader() = default;

Result<std::unique_ptr<JournalReader>> JournalReader::Open(std::string dir,
                                                           uint64_t from_sequence) {
  auto impl = std::make_unique<Impl>();
  ASSIGN_OR_RETURN(impl->segments, ListSegments(dir));
  impl->dir = std::move(dir);
  impl->from_sequence = std::max<uint64_t>(from_sequence, jf::kFirstSequence);
  // Skip the segments that end before from_sequence: those followed by a segment
  // that starts at or before it.
  size_t start = 0;
  while (start + 1 < impl->segments.size() &&
         impl->segments[start + 1].first_sequence <= impl->from_sequence) {
    ++start;
  }
  impl->next_segment = start;
  impl->anchored = start == 0;
  return std::unique_ptr<JournalReader>(new JournalReader(std::move(impl)));
}

Result<bool> JournalReader::Next(JournalRecord* record) {
  Impl& r = *impl_;
  while (!r.done) {
    if (!r.file) {
      if (r.next_segment == r.segments.size()) {
        r.done = true;
        break;
      }
      ASSIGN_OR_RETURN(bool opened, r.OpenSegment());
      if (!opened) break;
      continue;
    }
    if (r.offset == r.file->size()) {
      if (r.records_in_segment == 0 && !r.IsLastSegment()) {
        return r.Damage(r.offset, "segment holds no record but is not the last segment");
      }
      r.file.reset();
      continue;
    }
    ASSIGN_OR_RETURN(bool got, r.ReadRecord(record));
    if (got) return true;
  }
  return false;
}

void JournalReader::NoWriter() { impl_->writer_may_write = false; }

const std::optional<JournalProblem>& JournalReader::problem() const {
  return impl_->report.problem;
}

const VerifyReport& JournalReader::report() const { return impl_->report; }

namespace {

Result<VerifyReport> Verify(const std::string& dir, bool writer_may_write) {
  ASSIGN_OR_RETURN(std::unique_ptr<JournalReader> reader, JournalReader::Open(dir));
  if (!writer_may_write) reader->NoWriter();
  JournalRecord record;
  while (true) {
    ASSIGN_OR_RETURN(bool got, reader->Next(&record));
    if (!got) break;
  }
  return reader->report();
}

}  // namespace

Result<VerifyReport> VerifyJournal(const std::string& dir) { return Verify(dir, true); }

Result<std::string> ReadRecordAt(const std::string& dir, uint64_t segment, uint64_t offset,
                                 uint64_t sequence) {
  const std::string name = SegmentFileName(segment);
  const std::string path = Join(dir, name);
  auto bad = [&](std::string_view what) {
    return DataLossError("audit journal " + dir + ": " + name + " offset " +
                         std::to_string(offset) + ", record " + std::to_string(sequence) + ": " +
                         std::string(what));
  };
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return bad("the segment is missing");
    return PosixError("open " + path, errno);
  }
  auto read_at = [&](uint8_t* out, size_t n, uint64_t at) -> Result<size_t> {
    size_t have = 0;
    while (have < n) {
      ssize_t got = ::pread(fd, out + have, n - have, static_cast<off_t>(at + have));
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) return PosixError("read " + path, errno);
      if (got == 0) break;
      have += static_cast<size_t>(got);
    }
    return have;
  };
  uint8_t header[jf::kRecordHeaderSize];
  Result<size_t> got = read_at(header, sizeof header, offset);
  if (!got.ok() || *got < sizeof header) {
    ::close(fd);
    if (!got.ok()) return got.status();
    return bad("no record there (end of the segment)");
  }
  if (Crc32c(ByteView(header, jf::kRecordHeaderCheckOffset)) !=
      LoadU32(header + jf::kRecordHeaderCheckOffset)) {
    ::close(fd);
    return bad("checksum mismatch (record header)");
  }
  if (LoadU64(header + jf::kRecordSequenceOffset) != sequence) {
    ::close(fd);
    return bad("the record there is record " +
               std::to_string(LoadU64(header + jf::kRecordSequenceOffset)));
  }
  const uint32_t length = LoadU32(header + jf::kRecordLengthOffset);
  if (length > jf::kMaxPayloadSize) {
    ::close(fd);
    return bad("length " + std::to_string(length) + " exceeds the maximum");
  }
  std::string payload(length, '\0');
  got = read_at(reinterpret_cast<uint8_t*>(payload.data()), length, offset + jf::kRecordHeaderSize);
  ::close(fd);
  if (!got.ok()) return got.status();
  if (*got < length) return bad("segment ends inside the record");
  if (Crc32c(AsBytes(payload)) != LoadU32(header + jf::kRecordPayloadCheckOffset)) {
    return bad("checksum mismatch (payload)");
  }
  return payload;
}

Status ForEachRecord(const std::string& dir, uint64_t from_sequence, const RecordFn& fn) {
  ASSIGN_OR_RETURN(std::unique_ptr<JournalReader> reader, JournalReader::Open(dir, from_sequence));
  JournalRecord record;
  while (true) {
    ASSIGN_OR_RETURN(bool got, reader->Next(&record));
    if (!got) break;
    RETURN_IF_ERROR(fn(record.sequence, record.payload, record.hash));
  }
  const auto& problem = reader->problem();
  if (problem && problem->kind == JournalProblem::Kind::kDamage) {
    return DataLossError("audit journal " + dir + " is damaged: " + problem->ToString());
  }
  return Status::Ok();
}

// ---------------------------------------------------------------------------
// Writing

struct Journal::Impl final : Announcement::Counter {
  struct Pending {
    std::string payload;
    DurableCallback on_durable;
    std::any note;
  };
  // The segment being appended to (writer thread only).
  struct Segment {
    int fd = -1;
    std::string name;
    uint64_t first_sequence = 0;
    uint64_t size = 0;     // its size once the buffer is written
    uint64_t records = 0;  // records in it, those in the buffer included
    bool pending = false;  // not on disk yet: the next Flush creates it
  };

  Impl(std::string d, JournalOptions o, int fd) : dir(std::move(d)), options(o), dir_fd(fd) {}

  void WriterLoop();
  void Withdraw(unsigned tag) override;
  // Under mu: one announcement ended (its record queued, or withdrawn).
  void EndAnnouncement(unsigned tag);
  void WriteBatch(std::vector<Pending>& batch, const Status& refused);
  Status Flush(uint64_t& syncs, uint64_t& bytes);
  void StartSegment();
  Status Sync(int fd, bool data_only, const std::string& what, uint64_t& syncs);

  // Zero fill ahead (format document, Writing).
  bool Filling() const { return options.zero_fill_ahead > 0 && options.sync; }
  // Under fill_mu: whether the filler has work: the writer used a chunk of the
  // zeros ahead. Small fills keep each one's sync short (a sync of records waits
  // for the disk to finish the fill's writes).
  bool NeedsFill() const {
    const uint64_t chunk = std::min(kZeroFillChunk, options.zero_fill_ahead / 2);
    return fill_fd >= 0 && !fill_failed && fill_end < options.segment_size &&
           fill_end - fill_mark + chunk <= options.zero_fill_ahead;
  }
  void FillerLoop();
  // Writer, before it writes up to `end` of the current segment (on disk): waits
  // while the filler writes zeros there.
  void BeforeWrite(uint64_t end);
  // Writer, when the current segment gets no more records: the filler leaves it,
  // and the zeros past its last record are cut, so that only the last segment
  // ever ends in zeros.
  Status SealSegment(uint64_t& syncs);

  const std::string dir;
  const JournalOptions options;
  int dir_fd;  // open and flock()ed from Open to Close
  std::thread::id writer_id;

  // Writer thread only.
  Segment segment;
  uint64_t next_sequence = jf::kFirstSequence;
  RecordHash chain_hash = jf::kGenesisHash;
  Bytes buffer;
  crypto::Sha256Hasher hasher;

  mutable std::mutex mu;
  std::condition_variable work;
  std::deque<Pending> queue;
  // The queue length the writer waits for (1: any record); the maximum while it
  // writes or waits for announced records. Append wakes it only then.
  size_t wake_at = 1;
  // Records announced and not yet appended or withdrawn, in two generations: an
  // announcement is counted in announced[generation] of its time. A writer about
  // to hold a batch starts a new generation and waits for the old one only, so
  // that calls starting meanwhile (a busy server always has some) cannot keep
  // it waiting.
  std::array<size_t, 2> announced{};
  unsigned generation = 0;
  bool awaiting_announced = false;  // the writer waits for announced[awaited] to end
  unsigned awaited = 0;
  bool closing = false;
  Status failed;
  JournalStats stats;
  uint64_t durable_sequence = 0;
  RecordHash durable_hash = jf::kGenesisHash;

  std::mutex close_mu;  // serializes Close(): the join and closing the files
  std::thread writer;

  // The filler: writes zeros past the writer's end in the current segment.
  std::mutex fill_mu;
  std::condition_variable fill_cv;  // work for the filler, or a fill done
  int fill_fd = -1;                 // the segment it may extend; -1: none
  uint64_t fill_end = 0;            // that file's size; past fill_mark, synced zeros
  uint64_t fill_mark = 0;           // the writer's end in it
  bool filling = false;             // writing zeros from fill_end on now
  bool fill_failed = false;         // a fill failed: no more (records need none)
  bool fill_stop = false;
  uint64_t zero_fills = 0;
  uint64_t writes_in_zeros = 0;
  std::thread filler;
};

void Journal::Impl::FillerLoop() {
  static const Bytes kZeros(kZeroFillChunk);
  std::unique_lock<std::mutex> lock(fill_mu);
  while (true) {
    fill_cv.wait(lock, [&] { return fill_stop || NeedsFill(); });
    if (fill_stop) return;
    const int fd = fill_fd;
    const uint64_t from = fill_end;
    const uint64_t to = std::min(fill_mark + options.zero_fill_ahead, options.segment_size);
    filling = true;
    lock.unlock();
    Status st;
    for (uint64_t at = from; at < to && st.ok(); at += kZeros.size()) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(kZeros.size(), to - at));
      st = WriteAll(fd, ByteView(kZeros.data(), n), at, dir);
    }
    if (st.ok() && ::fdatasync(fd) != 0) st = PosixError("sync", errno);
    lock.lock();
    filling = false;
    if (st.ok()) {
      fill_end = to;
      ++zero_fills;
    } else {
      // Records do not need the zeros: the writer goes on extending the file itself.
      fill_failed = true;
      Log().warn("audit journal {}: filling zeros ahead failed ({}); records are appended", dir,
                 st.ToString());
    }
    fill_cv.notify_all();
  }
}

void Journal::Impl::BeforeWrite(uint64_t end) {
  if (!Filling()) return;
  std::unique_lock<std::mutex> lock(fill_mu);
  fill_cv.wait(lock, [&] { return !filling || end <= fill_end; });
  const bool in_zeros = end <= fill_end;
  fill_mark = end;
  fill_end = std::max(fill_end, end);
  if (in_zeros) ++writes_in_zeros;
  if (NeedsFill()) fill_cv.notify_all();
}

Status Journal::Impl::SealSegment(uint64_t& syncs) {
  if (segment.fd < 0) return Status::Ok();
  {
    std::unique_lock<std::mutex> lock(fill_mu);
    fill_cv.wait(lock, [&] { return !filling; });
    fill_fd = -1;
  }
  // Asked of the file: zeros a crash left (filled by an earlier run), or a fill
  // that failed halfway, are past the records too.
  const std::string path = Join(dir, segment.name);
  struct stat st {};
  if (::fstat(segment.fd, &st) != 0) return PosixError("stat " + path, errno);
  if (static_cast<uint64_t>(st.st_size) <= segment.size) return Status::Ok();
  if (::ftruncate(segment.fd, static_cast<off_t>(segment.size)) != 0) {
    return PosixError("cut the zeros off " + path, errno);
  }
  return Sync(segment.fd, false, path, syncs);
}

Status Journal::Impl::Sync(int fd, bool data_only, const std::string& what, uint64_t& syncs) {
  if (!options.sync) return Status::Ok();
  ++syncs;
  int rc = data_only ? ::fdatasync(fd) : ::fsync(fd);
  if (rc != 0) return PosixError("sync " + what, errno);
  return Status::Ok();
}

void Journal::Impl::StartSegment() {
  if (segment.fd >= 0) ::close(segment.fd);  // flushed and synced by the caller
  segment = Segment{};
  segment.name = SegmentFileName(next_sequence);
  segment.first_sequence = next_sequence;
  segment.pending = true;
  segment.size = jf::kSegmentHeaderSize;
  uint8_t header[jf::kSegmentHeaderSize];
  std::copy(jf::kMagic.begin(), jf::kMagic.end(), header);
  StoreU32(header + jf::kSegmentVersionOffset, jf::kVersion);
  StoreU64(header + jf::kSegmentFirstSequenceOffset, next_sequence);
  StoreU32(header + jf::kSegmentCheckOffset, Crc32c(ByteView(header, jf::kSegmentCheckOffset)));
  buffer.assign(header, header + sizeof header);
}

Status Journal::Impl::Flush(uint64_t& syncs, uint64_t& bytes) {
  if (buffer.empty()) return Status::Ok();
  const std::string path = Join(dir, segment.name);
  if (segment.pending) {
    // A new segment appears only when complete: temp file, sync, rename, sync
    // the directory (format document, Writing).
    const std::string temp = path + std::string(jf::kTempSuffix);
    ::unlink(temp.c_str());
    int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, jf::kSegmentFileMode);
    if (fd < 0) return PosixError("create " + temp, errno);
    auto fail = [&](Status st) {
      ::close(fd);
      ::unlink(temp.c_str());
      return st;
    };
    // The umask may only narrow the mode; fchmod makes it exact.
    if (::fchmod(fd, jf::kSegmentFileMode) != 0) return fail(PosixError("chmod " + temp, errno));
    if (Status st = WriteAll(fd, buffer, 0, temp); !st.ok()) return fail(st);
    if (Status st = Sync(fd, false, temp, syncs); !st.ok()) return fail(st);
    if (::rename(temp.c_str(), path.c_str()) != 0) {
      return fail(PosixError("rename " + temp + " to " + path, errno));
    }
    segment.fd = fd;
    segment.pending = false;
    if (options.sync) {
      ++syncs;
      if (::fsync(dir_fd) != 0) return PosixError("sync directory " + dir, errno);
    }
    if (Filling()) {
      std::lock_guard<std::mutex> lock(fill_mu);
      fill_fd = fd;
      fill_end = fill_mark = segment.size;
      fill_cv.notify_all();
    }
  } else {
    BeforeWrite(segment.size);
    RETURN_IF_ERROR(WriteAll(segment.fd, buffer, segment.size - buffer.size(), path));
    RETURN_IF_ERROR(Sync(segment.fd, true, path, syncs));
  }
  bytes += buffer.size();
  buffer.clear();
  return Status::Ok();
}

void Journal::Impl::WriteBatch(std::vector<Pending>& batch, const Status& refused) {
  std::vector<std::optional<Result<uint64_t>>> results(batch.size());
  uint64_t syncs = 0, bytes = 0, records = 0, segments_created = 0;
  uint64_t last_durable = 0;
  RecordHash last_durable_hash{};
  std::vector<DurableRecord> durable;
  Status error = refused;
  if (error.ok()) {
    // Records encoded into the buffer but not yet flushed: (index, sequence, hash).
    struct Unflushed {
      size_t index;
      uint64_t sequence;
      RecordHash hash;
      uint64_t segment;
      uint64_t offset;
    };
    std::vector<Unflushed> unflushed;
    auto flush = [&]() -> Status {
      bool created = segment.pending;
      RETURN_IF_ERROR(Flush(syncs, bytes));
      if (created) ++segments_created;
      for (const Unflushed& u : unflushed) {
        results[u.index] = u.sequence;
        if (options.on_durable_batch) {
          durable.push_back({u.sequence, u.segment, u.offset, std::move(batch[u.index].payload),
                             std::move(batch[u.index].note)});
        }
        last_durable = u.sequence;
        last_durable_hash = u.hash;
        ++records;
      }
      unflushed.clear();
      return Status::Ok();
    };
    for (size_t i = 0; i < batch.size() && error.ok(); ++i) {
      const std::string& payload = batch[i].payload;
      if (payload.size() > jf::kMaxPayloadSize) {
        results[i] = InvalidArgumentError("audit record of " + std::to_string(payload.size()) +
                                          " bytes exceeds the maximum of " +
                                          std::to_string(jf::kMaxPayloadSize) + " bytes");
        continue;
      }
      const uint64_t record_size = jf::kRecordHeaderSize + payload.size();
      const bool have_segment = segment.fd >= 0 || segment.pending;
      if (have_segment && segment.records > 0 &&
          segment.size + record_size > options.segment_size) {
        error = flush();
        if (error.ok()) error = SealSegment(syncs);
        if (!error.ok()) break;
        StartSegment();
      } else if (!have_segment) {
        StartSegment();
      }
      uint8_t header[jf::kRecordHeaderSize];
      StoreU32(header + jf::kRecordLengthOffset, static_cast<uint32_t>(payload.size()));
      StoreU32(header + jf::kRecordPayloadCheckOffset, Crc32c(AsBytes(payload)));
      std::copy(chain_hash.begin(), chain_hash.end(), header + jf::kRecordPreviousOffset);
      StoreU64(header + jf::kRecordSequenceOffset, next_sequence);
      StoreU32(header + jf::kRecordHeaderCheckOffset,
               Crc32c(ByteView(header, jf::kRecordHeaderCheckOffset)));
      hasher.Update(ByteView(header, sizeof header));
      hasher.Update(AsBytes(payload));
      chain_hash = ToRecordHash(hasher.Finish());
      buffer.insert(buffer.end(), header, header + sizeof header);
      const ByteView payload_bytes = AsBytes(payload);
      buffer.insert(buffer.end(), payload_bytes.begin(), payload_bytes.end());
      unflushed.push_back({i, next_sequence, chain_hash, segment.first_sequence, segment.size});
      ++next_sequence;
      segment.size += record_size;
      ++segment.records;
    }
    if (error.ok()) error = flush();
    if (!error.ok()) {
      Log().error("audit journal {}: {}; every later append fails", dir, error.ToString());
    }
  }
  {
    std::lock_guard<std::mutex> lock(mu);
    if (!error.ok() && failed.ok()) failed = error;
    if (records > 0) {
      durable_sequence = last_durable;
      durable_hash = last_durable_hash;
    }
    stats.records += records;
    stats.syncs += syncs;
    stats.bytes += bytes;
    stats.segments_created += segments_created;
    if (refused.ok()) ++stats.batches;
  }
  if (!durable.empty()) options.on_durable_batch(std::move(durable));
  for (size_t i = 0; i < batch.size(); ++i) {
    if (!batch[i].on_durable) continue;  // fire and forget
    batch[i].on_durable(results[i].has_value() ? std::move(*results[i]) : Result<uint64_t>(error));
  }
}

void Journal::Impl::EndAnnouncement(unsigned tag) {
  if (--announced[tag] == 0 && awaiting_announced && tag == awaited) work.notify_one();
}

void Journal::Impl::Withdraw(unsigned tag) {
  std::lock_guard<std::mutex> lock(mu);
  EndAnnouncement(tag);
}

void Journal::Impl::WriterLoop() {
  std::vector<Pending> batch;
  while (true) {
    Status refused;
    {
      std::unique_lock<std::mutex> lock(mu);
      wake_at = 1;
      work.wait(lock, [&] { return !queue.empty() || closing; });
      if (queue.empty()) return;                     // closing, and everything queued is written
      wake_at = std::numeric_limits<size_t>::max();  // from here on, only announcements
      // Calls under way have announced their records: they are microseconds from
      // appending. Hold the batch for them so that they share its sync rather than
      // wait for the next one.
      if (options.sync && announced[generation] > 0 && options.group_commit_delay.count() > 0) {
        awaited = generation;
        generation ^= 1;
        awaiting_announced = true;
        work.wait_for(lock, options.group_commit_delay,
                      [&] { return announced[awaited] == 0 || closing; });
        awaiting_announced = false;
      }
      batch.assign(std::make_move_iterator(queue.begin()), std::make_move_iterator(queue.end()));
      queue.clear();
      refused = failed;
    }
    WriteBatch(batch, refused);
    batch.clear();
  }
}

Journal::Journal(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Journal::~Journal() { Close(); }

Result<std::unique_ptr<Journal>> Journal::Open(std::string dir, JournalOptions options) {
  if (options.segment_size < jf::kMinSegmentSize) {
    return InvalidArgumentError("audit journal segment size " +
                                std::to_string(options.segment_size) + " is below the minimum of " +
                                std::to_string(jf::kMinSegmentSize) + " bytes");
  }
  RETURN_IF_ERROR(EnsureJournalDirectory(dir));
  int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) return PosixError("open directory " + dir, errno);
  // One writer per journal: two would interleave records and fork the chain.
  if (::flock(dir_fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    ::close(dir_fd);
    if (err == EWOULDBLOCK) {
      return FailedPreconditionError("the audit journal " + dir +
                                     " is in use by another writer; stop it first");
    }
    return PosixError("lock " + dir, err);
  }
  auto impl = std::make_unique<Impl>(dir, options, dir_fd);
  // From here on the Impl owns dir_fd; a Journal made from it closes it.
  std::unique_ptr<Journal> journal(new Journal(std::move(impl)));
  Impl& j = *journal->impl_;

  ASSIGN_OR_RETURN(VerifyReport report, Verify(dir, /*writer_may_write=*/false));  // locked above
  if (report.problem && !report.damaged() && report.last_sequence < options.signed_sequence) {
    // A torn tail where a digest signed records: not a crash's, but lost
    // records. Damage, so nothing is cut.
    report.problem->kind = JournalProblem::Kind::kDamage;
    report.problem->what += "; records up to " + std::to_string(options.signed_sequence) +
                            " were signed by a digest, so this is not a write a crash tore";
  }
  if (report.damaged()) {
    // Nothing is modified: the operator decides (format document, Recovery).
    j.failed = DataLossError(DamageMessage(dir, *report.problem));
    Log().error("{}", j.failed.message());
  } else {
    if (report.problem) {  // a torn tail, in the last segment
      const std::string path = Join(dir, report.end_segment);
      int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
      if (fd < 0) return PosixError("open " + path, errno);
      struct stat st {};
      int rc = ::fstat(fd, &st);
      if (rc == 0) rc = ::ftruncate(fd, static_cast<off_t>(report.end_offset));
      if (rc == 0) rc = ::fsync(fd);
      int err = errno;
      ::close(fd);
      if (rc != 0) return PosixError("truncate the torn tail of " + path, err);
      Log().warn(
          "audit journal {}: {}; cut {} bytes off {} at offset {} (a crash during a write; "
          "those bytes were never acknowledged)",
          dir, report.problem->ToString(), static_cast<uint64_t>(st.st_size) - report.end_offset,
          report.end_segment, report.end_offset);
    }
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
      std::string name = entry.path().filename().string();
      if (!IsTempSegmentName(name)) continue;
      Log().info("audit journal {}: removing {}, a segment whose creation was interrupted", dir,
                 name);
      if (::unlink(entry.path().c_str()) != 0) return PosixError("remove " + name, errno);
    }
    if (ec) return PosixError("read directory " + dir, ec.value());
    if (!report.end_segment.empty()) {
      const std::string path = Join(dir, report.end_segment);
      j.segment.fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
      if (j.segment.fd < 0) return PosixError("open " + path, errno);
      j.segment.name = report.end_segment;
      j.segment.first_sequence = *ParseSegmentName(report.end_segment);
      j.segment.size = report.end_offset;
      // Only whether it holds a record matters (a segment never rolls before its first).
      j.segment.records = report.end_offset > jf::kSegmentHeaderSize ? 1 : 0;
      struct stat st {};
      if (::fstat(j.segment.fd, &st) != 0) return PosixError("stat " + path, errno);
      // Zeros past the last record (filled ahead before a crash) stay to be written over.
      j.fill_fd = j.segment.fd;
      j.fill_end = std::max<uint64_t>(static_cast<uint64_t>(st.st_size), j.segment.size);
      j.fill_mark = j.segment.size;
    }
    j.next_sequence = report.last_sequence + 1;
    j.chain_hash = report.last_hash;
    j.durable_sequence = report.last_sequence;
    j.durable_hash = report.last_hash;
  }
  j.writer = std::thread([&j] {
    SetCurrentThreadName("coffer-journal");
    j.WriterLoop();
  });
  j.writer_id = j.writer.get_id();
  if (j.Filling() && j.failed.ok()) {
    j.filler = std::thread([&j] {
      SetCurrentThreadName("coffer-jfill");
      j.FillerLoop();
    });
  }
  return journal;
}

void Journal::Append(std::string payload, DurableCallback on_durable, std::any note) {
  Append(std::move(payload), std::move(on_durable), std::move(note), Announcement());
}

void Journal::Append(std::string payload, DurableCallback on_durable, std::any note,
                     Announcement announced) {
  Impl& j = *impl_;
  {
    std::lock_guard<std::mutex> lock(j.mu);
    if (!j.closing) {
      j.queue.push_back({std::move(payload), std::move(on_durable), std::move(note)});
      if (j.queue.size() >= j.wake_at) j.work.notify_one();
      // Ended together with the push: the writer never sees the announcement gone
      // and the record not yet there. (Another journal's is withdrawn on return.)
      if (announced.Of(j)) {
        announced.Release();
        j.EndAnnouncement(announced.tag());
      }
      return;
    }
  }
  announced.Withdraw();
  if (on_durable) on_durable(FailedPreconditionError("audit journal " + j.dir + " is closed"));
}

Announcement Journal::Announce() {
  Impl& j = *impl_;
  std::lock_guard<std::mutex> lock(j.mu);
  if (j.closing) return Announcement();
  ++j.announced[j.generation];
  return Announcement(&j, j.generation);
}

Result<uint64_t> Journal::AppendAndWait(std::string payload) {
  if (std::this_thread::get_id() == impl_->writer_id) {
    return FailedPreconditionError(
        "AppendAndWait called from an on_durable callback would wait for itself");
  }
  std::promise<Result<uint64_t>> done;
  std::future<Result<uint64_t>> result = done.get_future();
  Append(std::move(payload), [&done](Result<uint64_t> r) { done.set_value(std::move(r)); });
  return result.get();
}

void Journal::Close() {
  Impl& j = *impl_;
  {
    std::lock_guard<std::mutex> lock(j.mu);
    j.closing = true;
  }
  j.work.notify_all();
  // From a callback the writer cannot join itself; it stops once the queue is
  // drained, and the destructor (which must run elsewhere) joins it.
  if (std::this_thread::get_id() == j.writer_id) return;
  std::lock_guard<std::mutex> lock(j.close_mu);
  if (j.writer.joinable()) j.writer.join();
  {
    std::lock_guard<std::mutex> fill_lock(j.fill_mu);
    j.fill_stop = true;
  }
  j.fill_cv.notify_all();
  if (j.filler.joinable()) j.filler.join();
  if (j.segment.fd >= 0) {
    // The journal at rest ends with its last record: cut the zeros filled ahead.
    const bool healthy = [&j] {
      std::lock_guard<std::mutex> mu_lock(j.mu);
      return j.failed.ok();
    }();
    struct stat st {};
    if (healthy && ::fstat(j.segment.fd, &st) == 0 &&
        static_cast<uint64_t>(st.st_size) > j.segment.size) {
      if (::ftruncate(j.segment.fd, static_cast<off_t>(j.segment.size)) != 0 ||
          (j.options.sync && ::fsync(j.segment.fd) != 0)) {
        Log().warn("audit journal {}: cutting the zeros past the last record of {}: {}", j.dir,
                   j.segment.name, std::strerror(errno));
      }
    }
    ::close(j.segment.fd);
    j.segment.fd = -1;
  }
  if (j.dir_fd >= 0) {
    ::close(j.dir_fd);  // releases the flock
    j.dir_fd = -1;
  }
}

Status Journal::status() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->failed;
}

uint64_t Journal::last_sequence() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->durable_sequence;
}

RecordHash Journal::last_hash() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->durable_hash;
}

JournalStats Journal::stats() const {
  JournalStats stats;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    stats = impl_->stats;
  }
  std::lock_guard<std::mutex> lock(impl_->fill_mu);
  stats.zero_fills = impl_->zero_fills;
  stats.writes_in_zeros = impl_->writes_in_zeros;
  return stats;
}

const std::string& Journal::dir() const { return impl_->dir; }

}  // namespace coffer::audit
