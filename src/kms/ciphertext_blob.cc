#include "kms/ciphertext_blob.h"

#include "crypto/hash.h"
#include "kms/errors.h"

namespace coffer::kms {
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
