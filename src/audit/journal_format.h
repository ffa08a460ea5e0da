#pragma once
// Constants of the audit journal format, as written down in
// docs/formats/audit-journal.md. Changing any of them changes the on-disk
// format: add a new version instead.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace coffer::audit::journal_format {

// The journal lives in DATA_DIR/audit (mode 0700); segments are 0600.
inline constexpr std::string_view kDirectoryName = "audit";
inline constexpr unsigned kDirectoryMode = 0700;
inline constexpr unsigned kSegmentFileMode = 0600;

// Segment file name: the first sequence number, zero-padded to 16 digits, then
// ".journal". A segment under construction carries kTempSuffix after that.
inline constexpr size_t kSegmentNameDigits = 16;
inline constexpr std::string_view kSegmentSuffix = ".journal";
inline constexpr std::string_view kTempSuffix = ".tmp";

// segment-header = magic(8) ‖ version(u32) ‖ first-sequence(u64) ‖ crc32c(bytes 0..19)(u32)
inline constexpr std::array<uint8_t, 8> kMagic = {'C', 'F', 'F', 'R', 'A', 'U', 'D', 'J'};
inline constexpr uint32_t kVersion = 1;
inline constexpr size_t kSegmentVersionOffset = 8;
inline constexpr size_t kSegmentFirstSequenceOffset = 12;
inline constexpr size_t kSegmentCheckOffset = 20;
inline constexpr size_t kSegmentHeaderSize = 24;

// record = length(u32) ‖ crc32c(payload)(u32) ‖ previous(32) ‖ sequence(u64)
//          ‖ crc32c(bytes 0..47)(u32) ‖ payload
inline constexpr size_t kRecordLengthOffset = 0;
inline constexpr size_t kRecordPayloadCheckOffset = 4;
inline constexpr size_t kRecordPreviousOffset = 8;
inline constexpr size_t kRecordSequenceOffset = 40;
inline constexpr size_t kRecordHeaderCheckOffset = 48;
inline constexpr size_t kRecordHeaderSize = 52;
inline constexpr size_t kMaxPayloadSize = size_t{16} << 20;

// The chain: SHA-256 of each record's full encoding; record 1 chains to 32 zero bytes.
inline constexpr size_t kHashSize = 32;
inline constexpr std::array<uint8_t, kHashSize> kGenesisHash = {};
inline constexpr uint64_t kFirstSequence = 1;

// Writer defaults.
inline constexpr uint64_t kDefaultSegmentSize = uint64_t{64} << 20;
// The smallest segment size accepted: a header and one empty record.
inline constexpr uint64_t kMinSegmentSize = kSegmentHeaderSize + kRecordHeaderSize;

}  // namespace coffer::audit::journal_format
