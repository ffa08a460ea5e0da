#pragma once
// Byte strings and their text encodings (hex, base64) and big-endian integers.
#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace coffer {

using Bytes = std::vector<uint8_t>;
using ByteView = std::span<const uint8_t>;

inline ByteView AsBytes(std::string_view s) {
  return ByteView(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}
inline std::string_view AsChars(ByteView b) {
  return std::string_view(reinterpret_cast<const char*>(b.data()), b.size());
}
inline Bytes ToBytes(std::string_view s) { return Bytes(s.begin(), s.end()); }
inline std::string ToString(ByteView b) { return std::string(AsChars(b)); }

// Lower-case hex.
std::string HexEncode(ByteView data);
// Accepts upper and lower case; fails on odd length or a non-hex digit.
Result<Bytes> HexDecode(std::string_view hex);

// Standard base64 (RFC 4648 section 4) with padding.
std::string Base64Encode(ByteView data);
// Strict: standard alphabet, padding required, no whitespace, canonical trailing bits.
Result<Bytes> Base64Decode(std::string_view text);

// UUIDs: 16 bytes <-> the canonical 8-4-4-4-12 text. ParseUuid accepts lower
// and upper case and nothing else; FormatUuid writes lower case.
bool ParseUuid(std::string_view text, std::array<uint8_t, 16>& out);
std::string FormatUuid(const uint8_t* bytes);

// Big-endian integers, as used by every binary format of coffer.
void AppendU16(Bytes& out, uint16_t v);
void AppendU32(Bytes& out, uint32_t v);
void AppendU64(Bytes& out, uint64_t v);
inline void Append(Bytes& out, ByteView data) { out.insert(out.end(), data.begin(), data.end()); }
uint16_t LoadU16(const uint8_t* p);
uint32_t LoadU32(const uint8_t* p);
uint64_t LoadU64(const uint8_t* p);
// Writes `v` big-endian at `p` (4 or 8 bytes).
void StoreU32(uint8_t* p, uint32_t v);
void StoreU64(uint8_t* p, uint64_t v);

// Reads a byte string front to back; every read checks the remaining length.
class ByteReader {
 public:
  explicit ByteReader(ByteView data) : data_(data) {}
  bool ReadU8(uint8_t& v);
  bool ReadU16(uint16_t& v);
  bool ReadU32(uint32_t& v);
  bool ReadU64(uint64_t& v);
  bool ReadBytes(size_t n, ByteView& v);
  size_t remaining() const { return data_.size() - pos_; }
  size_t position() const { return pos_; }
  ByteView rest() const { return data_.subspan(pos_); }

 private:
  ByteView data_;
  size_t pos_ = 0;
};

}  // namespace coffer
