#pragma once
// The pieces of the sqlite engine's DIFFERENTIAL backups
// (docs/formats/sqlite-differential.md): the snapshot digest that names a FULL
// backup, the base manifest a FULL backup leaves behind, and the DIFFERENTIAL
// stream itself (written as a ByteSource, applied page by page). The engine
// (sqlite_engine.cc) decides which files these run on; nothing here knows
// about database names or states.
//
// Everything streams: memory stays at about one MiB whatever the size of the
// database, and every page is hashed once (SHA-256, which runs at well over a
// GB/s with the CPU's SHA extensions).
#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/bytes.h"
#include "common/status.h"
#include "common/stream.h"
#include "crypto/hash.h"

namespace coffer::engines::sqlite {

using Digest = std::array<uint8_t, 32>;

// The SQLite database header: the first 100 bytes of page 1.
constexpr size_t kDatabaseHeaderSize = 100;

// The page size a SQLite database header gives (bytes 16-17, big-endian, 1
// meaning 65536), or 0 when `header` is shorter than 100 bytes, does not start
// with "SQLite format 3\0" or gives no valid page size.
uint32_t PageSizeOf(ByteView header);

// Whether a backup stream starting with `head` is a DIFFERENTIAL backup (its
// magic).
bool StartsAsDifferential(ByteView head);
// InvalidArgument "BackupTypeMismatch": the backup restored is of the other
// type, a DIFFERENTIAL one (`found_differential`) restored as FULL or a FULL one
// (a database file) read as DIFFERENTIAL by ReadDifferentialHeader.
Status BackupTypeMismatch(bool found_differential);

// The snapshot digest of a stream of `page_size` pages, from the SHA-256 of
// each page (fed in order) and the stream's length:
//   SHA-256("coffer sqlite snapshot v1" ‖ u32 page size ‖ SHA-256(page 1) ‖ …
//           ‖ SHA-256(page n) ‖ u64 length)
class DigestChain {
 public:
  explicit DigestChain(uint32_t page_size);
  void Add(ByteView page_hash);
  Digest Finish(uint64_t length);

 private:
  crypto::Sha256Hasher outer_;
};

// The snapshot digest of a byte stream fed in pieces of any size: the page size
// comes from the header at its start and the last page may be short. Calls
// `on_page` with the SHA-256 of each whole page, in order; an error it returns
// is returned by Update.
class SnapshotDigester {
 public:
  using PageCallback = std::function<Status(ByteView page_hash)>;
  explicit SnapshotDigester(PageCallback on_page = {});

  Status Update(ByteView data);
  // The digest of everything fed, or nullopt when the stream does not start
  // with a SQLite header (such a stream never restores anyway).
  std::optional<Digest> Finish();

  uint32_t page_size() const { return page_size_; }
  uint64_t length() const { return length_; }

 private:
  Status Page(ByteView page);

  PageCallback on_page_;
  crypto::Sha256Hasher page_hasher_;
  std::optional<DigestChain> chain_;
  Bytes partial_;  // the header or a page being completed
  uint32_t page_size_ = 0;
  bool not_sqlite_ = false;
  uint64_t length_ = 0;
};

// What a base manifest records about the FULL backup it was written for.
struct BaseInfo {
  uint32_t page_size = 0;
  uint32_t pages = 0;
  Digest digest{};  // the snapshot digest of the FULL backup's stream
};

// Writes a base manifest to `sink` (not closed): the magic, then each page's
// hash (Add, in order), then the trailer (Finish).
class ManifestWriter {
 public:
  explicit ManifestWriter(ByteSink& sink);
  Status Add(ByteView page_hash);
  Status Finish(const BaseInfo& info);

 private:
  Status Flush();
  ByteSink& sink_;
  Bytes buffer_;
  uint64_t hashes_ = 0;
};

// A base manifest opened and checked (its page hashes give its digest again):
// `hashes` yields the page hashes from the first page on.
struct Manifest {
  BaseInfo info;
  std::unique_ptr<ByteSource> hashes;
};
// NotFound (no such file), DataLoss (damaged) or the error of reading it.
Result<Manifest> OpenManifest(const std::string& path);

// The fixed part at the start of a DIFFERENTIAL stream.
struct DifferentialHeader {
  uint32_t page_size = 0;
  uint32_t base_pages = 0;
  Digest base_digest{};
  uint32_t pages = 0;  // the page count of the database the stream restores
};
constexpr size_t kDifferentialHeaderSize = 14 + 4 + 4 + 32 + 4;

// The DIFFERENTIAL stream of `snapshot` (`pages` pages of base.page_size
// bytes) against the base whose page hashes `base_hashes` yields in order.
std::unique_ptr<ByteSource> DifferentialSource(std::unique_ptr<ByteSource> snapshot, uint32_t pages,
                                               const BaseInfo& base,
                                               std::unique_ptr<ByteSource> base_hashes);

// Reads and checks the header of a DIFFERENTIAL stream. DataLoss when it is
// not one.
Result<DifferentialHeader> ReadDifferentialHeader(ByteSource& stream);

// Writes to `out_fd` (from its current offset) the database the rest of
// `stream` makes of the base at `base_fd` (header.base_pages pages, read with
// pread): each page from the stream when it holds one, else from the base.
// Requires the whole stream, its end record and nothing after it, and that the
// result has the snapshot digest the end record gives, which it returns.
// DataLoss otherwise.
Result<Digest> ApplyDifferential(const DifferentialHeader& header, ByteSource& stream, int base_fd,
                                 int out_fd);

}  // namespace coffer::engines::sqlite
