#include "engines/sqlite_differential.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/files.h"

namespace coffer::engines::sqlite {
namespace {

constexpr std::string_view kSqliteMagic{"SQLite format 3\0", 16};
constexpr std::string_view kDigestDomain = "coffer sqlite snapshot v1";
constexpr std::string_view kManifestMagic = "COFFERSQLBASE1";
// page size u32 ‖ pages u32 ‖ length u64 ‖ digest [32] ‖ magic again.
constexpr size_t kManifestTrailerSize = 4 + 4 + 8 + 32 + kManifestMagic.size();
constexpr std::string_view kDifferentialMagic = "COFFERSQLDIFF1";
static_assert(kDifferentialHeaderSize == kDifferentialMagic.size() + 4 + 4 + 32 + 4);
constexpr uint8_t kPageRecord = 'P';
constexpr uint8_t kEndRecord = 'E';
constexpr size_t kHashSize = 32;
// Bytes read, hashed or written in one go.
constexpr size_t kBlockSize = 1 << 20;

bool ValidPageSize(uint32_t size) {
  return size >= 512 && size <= 65536 && (size & (size - 1)) == 0;
}

Digest ToDigest(const Bytes& bytes) {
  Digest d{};
  std::copy_n(bytes.begin(), d.size(), d.begin());
  return d;
}

// Reads exactly out.size() bytes at `offset`; false at an early end of file.
Result<bool> PreadFull(int fd, std::span<uint8_t> out, uint64_t offset, const std::string& name) {
  size_t done = 0;
  while (done < out.size()) {
    ssize_t n =
        ::pread(fd, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return PosixError("read " + name, errno);
    }
    if (n == 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

// `length` bytes of a shared descriptor from `offset` on.
class RangeSource final : public ByteSource {
 public:
  RangeSource(std::shared_ptr<UniqueFd> fd, uint64_t offset, uint64_t length, std::string name)
      : fd_(std::move(fd)), offset_(offset), left_(length), name_(std::move(name)) {}
  Result<size_t> Read(std::span<uint8_t> out) override {
    size_t n = static_cast<size_t>(std::min<uint64_t>(out.size(), left_));
    if (n == 0) return size_t{0};
    ASSIGN_OR_RETURN(bool whole, PreadFull(fd_->get(), out.first(n), offset_, name_));
    if (!whole) return DataLossError(name_ + " ends early");
    offset_ += n;
    left_ -= n;
    return n;
  }

 private:
  std::shared_ptr<UniqueFd> fd_;
  uint64_t offset_;
  uint64_t left_;
  std::string name_;
};

class DifferentialSourceImpl final : public ByteSource {
 public:
  DifferentialSourceImpl(std::unique_ptr<ByteSource> snapshot, uint32_t pages, const BaseInfo& base,
                         std::unique_ptr<ByteSource> base_hashes)
      : snapshot_(std::move(snapshot)),
        pages_(pages),
        base_(base),
        base_hashes_(std::move(base_hashes)),
        chain_(base.page_size),
        pages_per_block_(std::max<size_t>(1, kBlockSize / base.page_size)) {
    out_.reserve(kBlockSize + kBlockSize / 512 * 5 + kDifferentialHeaderSize);
    Append(out_, AsBytes(kDifferentialMagic));
    AppendU32(out_, base.page_size);
    AppendU32(out_, base.pages);
    Append(out_, base.digest);
    AppendU32(out_, pages);
  }

  Result<size_t> Read(std::span<uint8_t> out) override {
    if (!error_.ok()) return error_;
    size_t done = 0;
    while (done < out.size()) {
      if (pos_ == out_.size()) {
        if (finished_) break;
        out_.clear();
        pos_ = 0;
        Status st = Fill();
        if (!st.ok()) {
          error_ = st;
          return st;
        }
        continue;
      }
      size_t n = std::min(out.size() - done, out_.size() - pos_);
      std::memcpy(out.data() + done, out_.data() + pos_, n);
      pos_ += n;
      done += n;
    }
    return done;
  }

 private:
  // The records of the next block of pages, or the end record.
  Status Fill() {
    const uint32_t page_size = base_.page_size;
    if (next_ > pages_) {
      out_.push_back(kEndRecord);
      AppendU32(out_, records_);
      Append(out_, chain_.Finish(uint64_t{pages_} * page_size));
      finished_ = true;
      return Status::Ok();
    }
    const size_t count = std::min<uint64_t>(pages_per_block_, uint64_t{pages_} - next_ + 1);
    block_.resize(count * page_size);
    ASSIGN_OR_RETURN(size_t got, ReadFull(*snapshot_, block_));
    if (got != block_.size()) return InternalError("the snapshot ended before its last page");
    // Base hashes for the pages of this block the base has.
    const size_t in_base =
        next_ > base_.pages ? 0 : std::min<uint64_t>(count, uint64_t{base_.pages} - next_ + 1);
    hashes_.resize(in_base * kHashSize);
    ASSIGN_OR_RETURN(size_t hashed, ReadFull(*base_hashes_, hashes_));
    if (hashed != hashes_.size()) return DataLossError("the base manifest ends early");
    for (size_t i = 0; i < count; ++i) {
      ByteView page(block_.data() + i * page_size, page_size);
      hasher_.Update(page);
      Bytes hash = hasher_.Finish();
      chain_.Add(hash);
      const bool same =
          i < in_base && std::equal(hash.begin(), hash.end(), hashes_.begin() + i * kHashSize);
      if (same) continue;
      out_.push_back(kPageRecord);
      AppendU32(out_, static_cast<uint32_t>(next_ + i));
      Append(out_, page);
      ++records_;
    }
    next_ += count;
    return Status::Ok();
  }

  std::unique_ptr<ByteSource> snapshot_;
  const uint32_t pages_;
  const BaseInfo base_;
  std::unique_ptr<ByteSource> base_hashes_;
  crypto::Sha256Hasher hasher_;
  DigestChain chain_;
  const size_t pages_per_block_;
  Bytes block_;
  Bytes hashes_;
  Bytes out_;  // bytes produced and not yet read: out_[pos_, size)
  size_t pos_ = 0;
  uint64_t next_ = 1;  // the next page to read
  uint32_t records_ = 0;
  bool finished_ = false;
  Status error_;
};

// Base pages read sequentially in blocks.
class BaseReader {
 public:
  BaseReader(int fd, uint32_t page_size, uint32_t pages)
      : fd_(fd),
        page_size_(page_size),
        pages_(pages),
        pages_per_block_(std::max<size_t>(1, kBlockSize / page_size)) {}

  Result<ByteView> Page(uint64_t number) {
    if (number < first_ || number >= first_ + count_) {
      first_ = number;
      count_ = std::min<uint64_t>(pages_per_block_, uint64_t{pages_} - number + 1);
      block_.resize(count_ * page_size_);
      ASSIGN_OR_RETURN(bool whole,
                       PreadFull(fd_, block_, (number - 1) * page_size_, "the restoring database"));
      if (!whole) return DataLossError("the restoring database is shorter than its FULL backup");
    }
    return ByteView(block_.data() + (number - first_) * page_size_, page_size_);
  }

 private:
  int fd_;
  uint32_t page_size_;
  uint32_t pages_;
  size_t pages_per_block_;
  Bytes block_;
  uint64_t first_ = 0;
  uint64_t count_ = 0;
};

// Reads a source in large blocks, so that the small reads of record headers
// do not each reach it. Never reads it again once it has ended.
class BufferedSource final : public ByteSource {
 public:
  explicit BufferedSource(ByteSource& in) : in_(in), buffer_(kBlockSize) {}
  Result<size_t> Read(std::span<uint8_t> out) override {
    if (pos_ == end_) {
      if (ended_) return size_t{0};
      ASSIGN_OR_RETURN(size_t n, in_.Read(buffer_));
      pos_ = 0;
      end_ = n;
      if (n == 0) {
        ended_ = true;
        return size_t{0};
      }
    }
    size_t n = std::min(out.size(), end_ - pos_);
    std::memcpy(out.data(), buffer_.data() + pos_, n);
    pos_ += n;
    return n;
  }

 private:
  ByteSource& in_;
  Bytes buffer_;
  size_t pos_ = 0;
  size_t end_ = 0;
  bool ended_ = false;
};

Status EndsEarly() { return DataLossError("the DIFFERENTIAL backup ends early (truncated)"); }

}  // namespace

bool StartsAsDifferential(ByteView head) {
  return head.size() >= kDifferentialMagic.size() &&
         AsChars(head.first(kDifferentialMagic.size())) == kDifferentialMagic;
}

Status BackupTypeMismatch(bool found_differential) {
  return Status(StatusCode::kInvalidArgument, "BackupTypeMismatch",
                found_differential ? "The backup is a DIFFERENTIAL backup, not a FULL one."
                                   : "The backup is a FULL backup, not a DIFFERENTIAL one.");
}

uint32_t PageSizeOf(ByteView header) {
  if (header.size() < kDatabaseHeaderSize) return 0;
  if (AsChars(header.first(kSqliteMagic.size())) != kSqliteMagic) return 0;
  uint32_t size = LoadU16(header.data() + 16);
  if (size == 1) size = 65536;
  return ValidPageSize(size) ? size : 0;
}

DigestChain::DigestChain(uint32_t page_size) {
  outer_.Update(AsBytes(kDigestDomain));
  Bytes size;
  AppendU32(size, page_size);
  outer_.Update(size);
}

void DigestChain::Add(ByteView page_hash) { outer_.Update(page_hash); }

Digest DigestChain::Finish(uint64_t length) {
  Bytes tail;
  AppendU64(tail, length);
  outer_.Update(tail);
  return ToDigest(outer_.Finish());
}

SnapshotDigester::SnapshotDigester(PageCallback on_page) : on_page_(std::move(on_page)) {
  partial_.reserve(kDatabaseHeaderSize);
}

Status SnapshotDigester::Page(ByteView page) {
  page_hasher_.Update(page);
  Bytes hash = page_hasher_.Finish();
  chain_->Add(hash);
  if (on_page_) return on_page_(hash);
  return Status::Ok();
}

Status SnapshotDigester::Update(ByteView data) {
  length_ += data.size();
  while (!data.empty() && !not_sqlite_) {
    if (page_size_ == 0) {
      size_t take = std::min(data.size(), kDatabaseHeaderSize - partial_.size());
      Append(partial_, data.first(take));
      data = data.subspan(take);
      if (partial_.size() < kDatabaseHeaderSize) return Status::Ok();
      page_size_ = PageSizeOf(partial_);
      if (page_size_ == 0) {
        not_sqlite_ = true;
        partial_.clear();
        return Status::Ok();
      }
      chain_.emplace(page_size_);
      partial_.reserve(page_size_);
      continue;
    }
    if (partial_.empty() && data.size() >= page_size_) {
      RETURN_IF_ERROR(Page(data.first(page_size_)));
      data = data.subspan(page_size_);
      continue;
    }
    size_t take = std::min<size_t>(data.size(), page_size_ - partial_.size());
    Append(partial_, data.first(take));
    data = data.subspan(take);
    if (partial_.size() == page_size_) {
      RETURN_IF_ERROR(Page(partial_));
      partial_.clear();
    }
  }
  return Status::Ok();
}

std::optional<Digest> SnapshotDigester::Finish() {
  if (not_sqlite_ || page_size_ == 0) return std::nullopt;
  if (!partial_.empty()) {
    // A short last page: part of the digest, not of the page hashes.
    page_hasher_.Update(partial_);
    chain_->Add(page_hasher_.Finish());
    partial_.clear();
  }
  return chain_->Finish(length_);
}

ManifestWriter::ManifestWriter(ByteSink& sink) : sink_(sink) {
  buffer_.reserve(64 << 10);
  Append(buffer_, AsBytes(kManifestMagic));
}

Status ManifestWriter::Flush() {
  if (buffer_.empty()) return Status::Ok();
  Status st = sink_.Write(buffer_);
  buffer_.clear();
  return st;
}

Status ManifestWriter::Add(ByteView page_hash) {
  Append(buffer_, page_hash);
  ++hashes_;
  if (buffer_.size() >= (64 << 10)) return Flush();
  return Status::Ok();
}

Status ManifestWriter::Finish(const BaseInfo& info) {
  if (hashes_ != info.pages) return InternalError("a base manifest lacks page hashes");
  AppendU32(buffer_, info.page_size);
  AppendU32(buffer_, info.pages);
  AppendU64(buffer_, uint64_t{info.pages} * info.page_size);
  Append(buffer_, info.digest);
  Append(buffer_, AsBytes(kManifestMagic));
  return Flush();
}

Result<Manifest> OpenManifest(const std::string& path) {
  int raw = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (raw < 0) {
    if (errno == ENOENT) return NotFoundError(path + " does not exist");
    return PosixError("open " + path, errno);
  }
  auto fd = std::make_shared<UniqueFd>(raw);
  struct stat st {};
  if (::fstat(fd->get(), &st) != 0) return PosixError("stat " + path, errno);
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  auto damaged = [&](std::string why) {
    return DataLossError("the base manifest " + path + " is damaged (" + why + ")");
  };
  if (size < kManifestMagic.size() + kManifestTrailerSize) return damaged("too short");
  Bytes magic(kManifestMagic.size());
  Bytes trailer(kManifestTrailerSize);
  ASSIGN_OR_RETURN(bool whole, PreadFull(fd->get(), magic, 0, path));
  ASSIGN_OR_RETURN(bool whole_trailer,
                   PreadFull(fd->get(), trailer, size - kManifestTrailerSize, path));
  if (!whole || !whole_trailer) return damaged("too short");
  if (AsChars(magic) != kManifestMagic ||
      AsChars(ByteView(trailer).last(kManifestMagic.size())) != kManifestMagic) {
    return damaged("not a base manifest");
  }
  Manifest m;
  m.info.page_size = LoadU32(trailer.data());
  m.info.pages = LoadU32(trailer.data() + 4);
  const uint64_t length = LoadU64(trailer.data() + 8);
  std::copy_n(trailer.begin() + 16, kHashSize, m.info.digest.begin());
  if (!ValidPageSize(m.info.page_size) || m.info.pages == 0 ||
      length != uint64_t{m.info.pages} * m.info.page_size ||
      size != kManifestMagic.size() + uint64_t{m.info.pages} * kHashSize + kManifestTrailerSize) {
    return damaged("inconsistent sizes");
  }
  // The page hashes must give the recorded digest: a damaged manifest would
  // leave changed pages out of a DIFFERENTIAL backup.
  DigestChain chain(m.info.page_size);
  RangeSource check(fd, kManifestMagic.size(), uint64_t{m.info.pages} * kHashSize, path);
  Bytes block(kBlockSize / kHashSize * kHashSize);
  for (;;) {
    ASSIGN_OR_RETURN(size_t n, ReadFull(check, block));
    if (n == 0) break;
    for (size_t i = 0; i + kHashSize <= n; i += kHashSize) {
      chain.Add(ByteView(block.data() + i, kHashSize));
    }
  }
  if (chain.Finish(length) != m.info.digest) return damaged("its page hashes do not match");
  m.hashes = std::make_unique<RangeSource>(fd, kManifestMagic.size(),
                                           uint64_t{m.info.pages} * kHashSize, path);
  return m;
}

std::unique_ptr<ByteSource> DifferentialSource(std::unique_ptr<ByteSource> snapshot, uint32_t pages,
                                               const BaseInfo& base,
                                               std::unique_ptr<ByteSource> base_hashes) {
  return std::make_unique<DifferentialSourceImpl>(std::move(snapshot), pages, base,
                                                  std::move(base_hashes));
}

Result<DifferentialHeader> ReadDifferentialHeader(ByteSource& stream) {
  Bytes bytes(kDifferentialHeaderSize);
  ASSIGN_OR_RETURN(size_t n, ReadFull(stream, bytes));
  const ByteView head = ByteView(bytes).first(n);
  if (!StartsAsDifferential(head)) {
    if (head.size() >= kSqliteMagic.size() &&
        AsChars(head.first(kSqliteMagic.size())) == kSqliteMagic) {
      return BackupTypeMismatch(/*found_differential=*/false);
    }
    return DataLossError("not a DIFFERENTIAL backup of a sqlite database");
  }
  if (n < bytes.size()) return EndsEarly();
  const uint8_t* p = bytes.data() + kDifferentialMagic.size();
  DifferentialHeader h;
  h.page_size = LoadU32(p);
  h.base_pages = LoadU32(p + 4);
  std::copy_n(p + 8, kHashSize, h.base_digest.begin());
  h.pages = LoadU32(p + 8 + kHashSize);
  if (!ValidPageSize(h.page_size) || h.base_pages == 0 || h.pages == 0) {
    return DataLossError("the DIFFERENTIAL backup has a damaged header");
  }
  return h;
}

Result<Digest> ApplyDifferential(const DifferentialHeader& header, ByteSource& unbuffered,
                                 int base_fd, int out_fd) {
  BufferedSource stream(unbuffered);
  const uint32_t page_size = header.page_size;
  BaseReader base(base_fd, page_size, header.base_pages);
  DigestChain chain(page_size);
  crypto::Sha256Hasher hasher;
  Bytes page(page_size);
  Bytes out;
  out.reserve(kBlockSize + page_size);

  // The record ahead: a page record's number, or the end record's fields.
  uint64_t next_record = 0;  // 0: the end record was read
  uint64_t last_record = 0;
  uint32_t records = 0;
  uint32_t end_records = 0;
  Digest end_digest{};
  auto read_record = [&]() -> Status {
    uint8_t fields[1 + 4 + kHashSize];
    ASSIGN_OR_RETURN(size_t n, ReadFull(stream, std::span<uint8_t>(fields, 5)));
    if (n < 5) return EndsEarly();
    if (fields[0] == kPageRecord) {
      next_record = LoadU32(fields + 1);
      if (next_record <= last_record || next_record > header.pages) {
        return DataLossError("the DIFFERENTIAL backup is damaged (page " +
                             std::to_string(next_record) + " out of order or out of range)");
      }
      last_record = next_record;
      return Status::Ok();
    }
    if (fields[0] != kEndRecord) {
      return DataLossError("the DIFFERENTIAL backup is damaged (unknown record)");
    }
    end_records = LoadU32(fields + 1);
    ASSIGN_OR_RETURN(size_t d, ReadFull(stream, end_digest));
    if (d < end_digest.size()) return EndsEarly();
    next_record = 0;
    return Status::Ok();
  };

  RETURN_IF_ERROR(read_record());
  for (uint64_t number = 1; number <= header.pages; ++number) {
    ByteView content;
    if (next_record == number) {
      ASSIGN_OR_RETURN(size_t n, ReadFull(stream, page));
      if (n < page.size()) return EndsEarly();
      ++records;
      content = page;
      RETURN_IF_ERROR(read_record());
    } else {
      if (number > header.base_pages) {
        return DataLossError("the DIFFERENTIAL backup is damaged (page " + std::to_string(number) +
                             " is missing)");
      }
      ASSIGN_OR_RETURN(content, base.Page(number));
    }
    hasher.Update(content);
    chain.Add(hasher.Finish());
    Append(out, content);
    if (out.size() >= kBlockSize) {
      RETURN_IF_ERROR(WriteAll(out_fd, out, "the restored database"));
      out.clear();
    }
  }
  // Page numbers are checked against the page count, so every page record was
  // used and the end record is what was read last.
  if (next_record != 0) return InternalError("a DIFFERENTIAL page record was left over");
  if (end_records != records) {
    return DataLossError("the DIFFERENTIAL backup is damaged (its record count does not match)");
  }
  uint8_t extra;
  ASSIGN_OR_RETURN(size_t more, stream.Read(std::span<uint8_t>(&extra, 1)));
  if (more != 0) return DataLossError("the DIFFERENTIAL backup has bytes after its end record");
  if (chain.Finish(uint64_t{header.pages} * page_size) != end_digest) {
    return DataLossError(
        "the database rebuilt from the DIFFERENTIAL backup does not match the snapshot it was "
        "taken from (damaged backup or restoring copy)");
  }
  RETURN_IF_ERROR(WriteAll(out_fd, out, "the restored database"));
  return end_digest;
}

}  // namespace coffer::engines::sqlite
