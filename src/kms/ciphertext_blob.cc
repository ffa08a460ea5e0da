#include "kms/ciphertext_blob.h"

#include "crypto/hash.h"
#include "kms/errors.h"

namespace coffer::kms {
namespace {
int HexNibble(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

bool ParseUuid(std::string_view text, std::array<uint8_t, 16>& out) {
  if (text.size() != 36) return false;
  size_t j = 0;
  for (size_t i = 0; i < 36;) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (text[i] != '-') return false;
      ++i;
      continue;
    }
    int hi = HexNibble(text[i]), lo = HexNibble(text[i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[j++] = static_cast<uint8_t>(hi << 4 | lo);
    i += 2;
  }
  return j == 16;
}

std::string FormatUuid(const uint8_t* b) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out.push_back(kHex[b[i] >> 4]);
    out.push_back(kHex[b[i] & 0xf]);
  }
  return out;
}

Bytes BlobHeader(std::string_view key_uuid, uint32_t material_version) {
  std::array<uint8_t, 16> id{};
  bool parsed = ParseUuid(key_uuid, id);
  assert(parsed && "key ids are canonical UUIDs");
  (void)parsed;
  Bytes h;
  h.reserve(kBlobHeaderSize);
  h.push_back(kBlobVersion);
  Append(h, id);
  AppendU32(h, material_version);
  Bytes digest = crypto::Sha256(h);
  h.insert(h.end(), digest.begin(), digest.begin() + 4);
  return h;
}

Result<BlobView> ParseBlob(ByteView blob) {
  if (blob.size() < kBlobOverhead || blob[0] != kBlobVersion) return errors::InvalidCiphertext();
  Bytes digest = crypto::Sha256(blob.first(kBlobCheckedSize));
  if (!std::equal(digest.begin(), digest.begin() + 4, blob.begin() + kBlobCheckedSize)) {
    return errors::InvalidCiphertext();
  }
  BlobView v;
  v.key_id = FormatUuid(blob.data() + 1);
  v.material_version = LoadU32(blob.data() + 1 + kBlobKeyIdSize);
  v.header = blob.first(kBlobHeaderSize);
  v.nonce = blob.subspan(kBlobHeaderSize, kBlobNonceSize);
  size_t ct_size = blob.size() - kBlobOverhead;
  v.ciphertext = blob.subspan(kBlobHeaderSize + kBlobNonceSize, ct_size);
  v.tag = blob.last(kBlobTagSize);
  if (v.material_version == 0) return errors::InvalidCiphertext();
  return v;
}

Result<Bytes> EncodeEncryptionContext(const EncryptionContext& context) {
  // std::map orders std::string keys by char_traits<char>::compare, which
  // compares as unsigned char: the UTF-8 byte order the format requires.
  if (context.size() > 0xffff) {
    return errors::ValidationError("Encryption context has too many entries");
  }
  Bytes out;
  AppendU16(out, static_cast<uint16_t>(context.size()));
  for (const auto& [k, v] : context) {
    if (k.size() > 0xffff || v.size() > 0xffff) {
      return errors::ValidationError("Encryption context key or value is too long");
    }
    AppendU16(out, static_cast<uint16_t>(k.size()));
    Append(out, AsBytes(k));
    AppendU16(out, static_cast<uint16_t>(v.size()));
    Append(out, AsBytes(v));
  }
  return out;
}

}  // namespace coffer::kms
