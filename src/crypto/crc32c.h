#pragma once
// CRC-32C (Castagnoli: polynomial 0x1EDC6F41, reflected, initial value and final
// XOR 0xFFFFFFFF), the checksum of the audit journal's records and of the frames of
// unencrypted backups. Same values as iSCSI (RFC 3720 §B.4) and LevelDB's crc32c.
// Uses the SSE 4.2 instruction when the CPU has it, a table otherwise; both give
// the same results. Pure functions, safe from any thread. Not a MAC: it detects
// accidental damage, not deliberate changes.
#include <cstdint>

#include "common/bytes.h"

namespace coffer::crypto {

uint32_t Crc32c(ByteView data);

// The CRC-32C of A ‖ data, given crc = Crc32c(A): Crc32cExtend(Crc32c(a), b) ==
// Crc32c(a ‖ b); Crc32cExtend(0, data) == Crc32c(data).
uint32_t Crc32cExtend(uint32_t crc, ByteView data);

namespace internal {
// The two implementations, for tests that compare them.
uint32_t Crc32cPortable(uint32_t crc, ByteView data);
bool Crc32cHardwareAvailable();
uint32_t Crc32cHardware(uint32_t crc, ByteView data);  // only when available
}  // namespace internal

}  // namespace coffer::crypto
