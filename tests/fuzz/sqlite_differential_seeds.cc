// Writes the seeds of sqlite_differential_fuzz in its input format (a control byte, then
// the stream or the edits): the DIFFERENTIAL backup of sqlite_differential_fixture.h,
// restored online and WITH NORECOVERY and read in small pieces, truncations of it, a
// byte too many, and edited and resealed variants. Run it again when the fixture or the
// SQLite library changes, so that the raw seeds still match the fixture's FULL backup.
// Usage: sqlite_differential_seeds DIR   (e.g. tests/fuzz/corpus/sqlite_differential_fuzz)
#include <cstdio>
#include <fstream>
#include <string>

#include "sqlite_differential_fixture.h"

namespace {

using coffer::Bytes;

// The control byte's bits (sqlite_differential_fuzz.cc).
constexpr uint8_t kRaw = 0, kEdited = 1, kResealed = 2, kEditedResealed = 3;
constexpr uint8_t kNoRecovery = 4;
constexpr uint8_t kReadsOf1 = 1 << 3, kReadsOf7 = 2 << 3;

bool Write(const std::string& dir, const std::string& name, uint8_t control, const Bytes& rest) {
  std::string path = dir + "/" + name;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.put(static_cast<char>(control));
  out.write(reinterpret_cast<const char*>(rest.data()), static_cast<std::streamsize>(rest.size()));
  if (!out) {
    std::perror(path.c_str());
    return false;
  }
  std::printf("%s (%zu bytes)\n", path.c_str(), rest.size() + 1);
  return true;
}

Bytes Prefix(const Bytes& b, size_t n) {
  return Bytes(b.begin(), b.begin() + std::min(n, b.size()));
}

// One edit: position, operation byte.
Bytes EditOf(uint16_t position, uint8_t op) {
  return {static_cast<uint8_t>(position >> 8), static_cast<uint8_t>(position), op};
}

}  // namespace

int main(int argc, char** argv) {
  using coffer::fuzz::FuzzSqliteDifferential;
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  const Bytes& diff = FuzzSqliteDifferential::Get().differential();
  const size_t header = 58, record = 5 + 512, end = 37;
  Bytes longer = diff;
  longer.push_back(0);
  Bytes first_page_changed = diff;
  first_page_changed[header + 5 + 60] ^= 0x01;  // page 1's header: the user version
  Bytes fewer_pages = diff;
  fewer_pages[57] = 3;  // the page count: only the base's first pages, no records needed
  Bytes edits = EditOf(static_cast<uint16_t>(header + 5 + 200), 0x04 << 2);
  Bytes two_edits = EditOf(static_cast<uint16_t>(header + 5 + 100), 0x01 << 2);
  Bytes truncate = EditOf(static_cast<uint16_t>(diff.size() - end - 100), 1);
  two_edits.insert(two_edits.end(), truncate.begin(), truncate.end());
  bool ok = Write(dir, "real-norecovery", kRaw | kNoRecovery, diff) &&
            Write(dir, "real-online", kRaw, diff) &&
            Write(dir, "real-reads-of-1", kRaw | kNoRecovery | kReadsOf1, diff) &&
            Write(dir, "real-reads-of-7", kRaw | kReadsOf7, diff) &&
            Write(dir, "truncated-magic", kRaw, Prefix(diff, 10)) &&
            Write(dir, "truncated-header", kRaw, Prefix(diff, header - 1)) &&
            Write(dir, "truncated-header-only", kRaw, Prefix(diff, header)) &&
            Write(dir, "truncated-in-page", kRaw, Prefix(diff, header + 5 + 100)) &&
            Write(dir, "truncated-after-page", kRaw, Prefix(diff, header + record)) &&
            Write(dir, "truncated-no-end", kRaw, Prefix(diff, diff.size() - end)) &&
            Write(dir, "truncated-in-end", kRaw, Prefix(diff, diff.size() - 1)) &&
            Write(dir, "trailing-byte", kRaw, longer) &&
            Write(dir, "resealed-page-1-changed", kResealed | kNoRecovery, first_page_changed) &&
            Write(dir, "resealed-fewer-pages", kResealed, fewer_pages) &&
            Write(dir, "edited-xor", kEdited | kNoRecovery, edits) &&
            Write(dir, "edited-resealed", kEditedResealed | kNoRecovery, edits) &&
            Write(dir, "edited-resealed-truncated", kEditedResealed, two_edits);
  return ok ? 0 : 1;
}
