// Fuzz target: the sqlite engine's DIFFERENTIAL restore (SqliteEngine::RestoreDifferential
// over engines/sqlite_differential.h: ReadDifferentialHeader, ApplyDifferential, then
// SQLite's integrity check of the result; docs/formats/sqlite-differential.md). The
// stream a restore applies is authenticated only when the backup was encrypted: for an
// unencrypted one it is whatever the object holds.
//
// Each input is restored into the restoring database of sqlite_differential_fixture.h
// (a small database, 512-byte pages, restored from its FULL backup WITH NORECOVERY).
//
// Input: a control byte, then the rest.
//   control bits 0-1  mode: 0 raw: the rest is the stream;
//                           1 edited: the fixture's real DIFFERENTIAL backup, damaged by
//                             the edits the rest gives;
//                           2 resealed: the rest is the stream, resealed (below);
//                           3 edited and resealed
//           bit 2     WITH NORECOVERY (else the restore brings the database online)
//           bits 3-4  size of the source's reads: all it has, 1, 7, 517 bytes
// Edits, 3 bytes each (at most 16): position u16 (modulo the stream's size), operation
// byte b: b & 3 = 0: XOR the byte with (b >> 2) | 1; 1: truncate there; 2: duplicate
// (b >> 2) + 1 bytes there; 3: delete (b >> 2) + 1 bytes there.
// Resealing makes a damaged stream pass the checks a writer could satisfy anyway, so
// that pages of the fuzzer's choosing reach SQLite: the base digest becomes the
// fixture's, and when the records after the header are well-formed (page numbers
// increasing and within the page count, whole pages) and give every page, everything
// after them is replaced by the end record that matches them (their count, the
// snapshot digest of the database they make).
//
// Properties (besides no crash, no leak, no sanitizer report), against a reference
// reading of the format written here from the format document:
//  - a restore succeeds only for a stream the reference accepts, and then leaves
//    exactly the database the reference rebuilds (restoring, with the chain file
//    recording the DIFFERENTIAL's digest, or online with nothing else left);
//  - a stream the reference refuses is refused with kDataLoss;
//  - a stream the reference accepts is refused only by SQLite's check of the result;
//  - after a refusal the instance directory is as it was, byte for byte: the restoring
//    copy and its chain file unchanged, no temporary file left.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.h"
#include "common/status.h"
#include "common/stream.h"
#include "crypto/hash.h"
#include "fuzz_util.h"
#include "sqlite_differential_fixture.h"

namespace coffer::fuzz {
namespace {

constexpr std::string_view kMagic = "COFFERSQLDIFF1";
constexpr size_t kHeaderSize = 58;  // magic, page size, base pages, base digest, pages
constexpr size_t kDigestAt = 22;
constexpr size_t kEndSize = 1 + 4 + 32;

uint32_t U32(ByteView b, size_t at) {
  return uint32_t{b[at]} << 24 | uint32_t{b[at + 1]} << 16 | uint32_t{b[at + 2]} << 8 |
         uint32_t{b[at + 3]};
}

void PutU32(Bytes& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(v >> shift));
}

// H("coffer sqlite snapshot v1" ‖ u32 page_size ‖ H(page 1) ‖ … ‖ u64 length)
Bytes SnapshotDigest(ByteView database, uint32_t page_size) {
  Bytes chain(AsBytes("coffer sqlite snapshot v1").begin(),
              AsBytes("coffer sqlite snapshot v1").end());
  PutU32(chain, page_size);
  for (size_t at = 0; at < database.size(); at += page_size) {
    Bytes h =
        crypto::Sha256(database.subspan(at, std::min<size_t>(page_size, database.size() - at)));
    chain.insert(chain.end(), h.begin(), h.end());
  }
  const uint64_t length = database.size();
  PutU32(chain, static_cast<uint32_t>(length >> 32));
  PutU32(chain, static_cast<uint32_t>(length));
  return crypto::Sha256(chain);
}

struct Header {
  uint32_t page_size = 0;
  uint32_t base_pages = 0;
  uint32_t pages = 0;
};

std::optional<Header> ReadHeader(ByteView s) {
  if (s.size() < kHeaderSize || AsChars(s.first(kMagic.size())) != kMagic) return std::nullopt;
  Header h{U32(s, 14), U32(s, 18), U32(s, 54)};
  const bool power_of_two = (h.page_size & (h.page_size - 1)) == 0;
  if (h.page_size < 512 || h.page_size > 65536 || !power_of_two || h.base_pages == 0 ||
      h.pages == 0) {
    return std::nullopt;
  }
  return h;
}

// The page records after the header: the well-formed ones (numbers increasing, within
// the page count, whole pages), and where they end.
struct Records {
  std::vector<std::pair<uint32_t, size_t>> pages;  // number, offset of the page's bytes
  size_t end = kHeaderSize;
};

Records ReadRecords(ByteView s, const Header& h) {
  Records r;
  uint32_t last = 0;
  while (r.end + 5 + h.page_size <= s.size() && s[r.end] == 'P') {
    uint32_t number = U32(s, r.end + 1);
    if (number <= last || number > h.pages) break;
    r.pages.emplace_back(number, r.end + 5);
    r.end += 5 + h.page_size;
    last = number;
  }
  return r;
}

// The database the records make of the base, or nullopt when a page past the base has
// no record (or the base is not base_pages pages).
std::optional<Bytes> Rebuild(ByteView s, const Header& h, const Records& r, ByteView base) {
  if (base.size() != uint64_t{h.base_pages} * h.page_size) return std::nullopt;
  Bytes out;
  size_t k = 0;
  for (uint64_t number = 1; number <= h.pages; ++number) {
    if (k < r.pages.size() && r.pages[k].first == number) {
      ByteView page = s.subspan(r.pages[k].second, h.page_size);
      out.insert(out.end(), page.begin(), page.end());
      ++k;
    } else if (number <= h.base_pages) {
      ByteView page = base.subspan((number - 1) * h.page_size, h.page_size);
      out.insert(out.end(), page.begin(), page.end());
    } else {
      return std::nullopt;
    }
  }
  return out;
}

// The reference reading: the database the stream makes of `base` (digest `base_digest`),
// or nullopt when it is not a valid DIFFERENTIAL backup of it.
std::optional<Bytes> Reference(ByteView s, ByteView base, ByteView base_digest) {
  std::optional<Header> h = ReadHeader(s);
  if (!h) return std::nullopt;
  if (!std::equal(base_digest.begin(), base_digest.end(), s.begin() + kDigestAt)) {
    return std::nullopt;
  }
  Records r = ReadRecords(s, *h);
  // Then exactly the end record, the last thing in the stream.
  if (s.size() != r.end + kEndSize || s[r.end] != 'E') return std::nullopt;
  if (U32(s, r.end + 1) != r.pages.size()) return std::nullopt;
  std::optional<Bytes> rebuilt = Rebuild(s, *h, r, base);
  if (!rebuilt) return std::nullopt;
  Bytes digest = SnapshotDigest(*rebuilt, h->page_size);
  if (!std::equal(digest.begin(), digest.end(), s.begin() + r.end + 5)) return std::nullopt;
  return rebuilt;
}

void Reseal(Bytes& s, ByteView base, ByteView base_digest) {
  if (s.size() < kHeaderSize || AsChars(ByteView(s).first(kMagic.size())) != kMagic) return;
  std::copy(base_digest.begin(), base_digest.end(), s.begin() + kDigestAt);
  std::optional<Header> h = ReadHeader(s);
  if (!h) return;
  Records r = ReadRecords(s, *h);
  std::optional<Bytes> rebuilt = Rebuild(s, *h, r, base);
  if (!rebuilt) return;
  Bytes digest = SnapshotDigest(*rebuilt, h->page_size);
  s.resize(r.end);
  s.push_back('E');
  PutU32(s, static_cast<uint32_t>(r.pages.size()));
  s.insert(s.end(), digest.begin(), digest.end());
}

// Whether a refusal is SQLite's verdict on the rebuilt database (opening it, or its
// integrity check), the only reason to refuse a stream the reference accepts.
bool IsSqliteVerdict(const Status& s) {
  const std::string& m = s.message();
  return (s.code() == StatusCode::kDataLoss || s.code() == StatusCode::kInternal) &&
         (m.find("fails SQLite's integrity check") != std::string::npos ||
          m.find("check the restored") != std::string::npos ||
          (m.starts_with("open ") && m.find("/.restore-") != std::string::npos));
}

std::string Hex(ByteView b) { return HexEncode(b); }

}  // namespace
}  // namespace coffer::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace coffer;
  using namespace coffer::fuzz;
  if (size < 1) return 0;
  FuzzSqliteDifferential& fixture = FuzzSqliteDifferential::Get();
  const uint8_t control = data[0];
  ByteView rest(data + 1, size - 1);
  const int mode = control & 3;
  const bool norecovery = (control & 4) != 0;
  static constexpr size_t kChunks[] = {SIZE_MAX, 1, 7, 517};
  const size_t chunk = kChunks[(control >> 3) & 3];

  const ByteView base = AsBytes(fixture.base());
  const ByteView base_digest = ByteView(fixture.differential()).subspan(kDigestAt, 32);
  Bytes stream;
  if (mode == 0 || mode == 2) {
    stream.assign(rest.begin(), rest.end());
  } else {
    stream = fixture.differential();
    for (size_t i = 0; i + 3 <= rest.size() && i < 3 * 16; i += 3) {
      EditStream(stream, static_cast<uint16_t>(rest[i] << 8 | rest[i + 1]), rest[i + 2]);
    }
  }
  if (mode >= 2) Reseal(stream, base, base_digest);

  const std::optional<Bytes> expected = Reference(stream, base, base_digest);
  ChunkedSource source(stream, chunk);
  const Status st = fixture.engine().RestoreDifferential(FuzzSqliteDifferential::kTarget, source,
                                                         {.norecovery = norecovery});
  const auto files = FuzzSqliteDifferential::Files(fixture.instance_dir());
  const std::string target(FuzzSqliteDifferential::kTarget);
  if (!st.ok()) {
    const std::string where = st.ToString();
    if (expected) {
      FUZZ_CHECK_MSG(IsSqliteVerdict(st), where);
    } else {
      FUZZ_CHECK_MSG(st.code() == StatusCode::kDataLoss, where);
    }
    FUZZ_CHECK_MSG(files == fixture.set_up_files(), where + ": the instance directory changed");
    return 0;
  }
  FUZZ_CHECK_MSG(expected.has_value(), "restored a stream the reference refuses");
  const std::string rebuilt(AsChars(*expected));
  if (norecovery) {
    const std::string chain = "coffer sqlite restoring v1\nfull " + Hex(base_digest) +
                              "\ndifferential " + Hex(SnapshotDigest(*expected, U32(stream, 14))) +
                              "\n";
    const std::vector<std::pair<std::string, std::string>> want = {
        {"." + target + ".restoring", rebuilt}, {"." + target + ".restoring.chain", chain}};
    FUZZ_CHECK_MSG(files == want, "the restoring database is not the rebuilt one");
  } else {
    const std::vector<std::pair<std::string, std::string>> want = {{target + ".db", rebuilt}};
    FUZZ_CHECK_MSG(files == want, "the online database is not the rebuilt one");
  }
  fixture.Reset();
  return 0;
}
