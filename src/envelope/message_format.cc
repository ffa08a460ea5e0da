#include "envelope/message_format.h"

#include <cstdio>
#include <set>
#include <utility>

#include "crypto/hkdf.h"
#include "envelope/errors.h"

namespace coffer::envelope {
namespace {

using crypto::SecretBytes;

std::string Hex16(uint16_t v) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%04x", v);
  return buf;
}

std::string Hex8(uint8_t v) {
  char buf[4];
  std::snprintf(buf, sizeof buf, "%02x", v);
  return buf;
}

Status Malformed(std::string message) { return DataLoss(kMalformedMessage, std::move(message)); }

Status ContextTooLong(std::string what) {
  return Invalid(kInvalidEncryptionContext, "encryption context " + what);
}

// Reads a u16-length-prefixed field.
Status ReadField(HeaderInput& in, ByteView& out) {
  ByteView length;
  RETURN_IF_ERROR(in.Read(2, length));
  return in.Read(LoadU16(length.data()), out);
}

void AppendField(Bytes& out, ByteView field) {
  AppendU16(out, static_cast<uint16_t>(field.size()));
  Append(out, field);
}

// A HeaderInput over a buffer.
class BufferInput final : public HeaderInput {
 public:
  explicit BufferInput(ByteView data, size_t max) : reader_(data), max_(max) {}
  Status Read(size_t n, ByteView& out) override {
    if (reader_.position() + n > max_) {
      return LimitExceeded("message header larger than " + std::to_string(max_) + " bytes");
    }
    if (!reader_.ReadBytes(n, out)) {
      return DataLoss(kTruncatedMessage, "message ends inside the header");
    }
    return Status::Ok();
  }
  size_t position() const { return reader_.position(); }

 private:
  ByteReader reader_;
  size_t max_;
};

}  // namespace

std::optional<AlgorithmSuite> SuiteFromId(uint16_t id) {
  switch (id) {
    case 0x0478:
      return AlgorithmSuite::kAes256GcmHkdfSha512Commit;
    case 0x0578:
      return AlgorithmSuite::kAes256GcmHkdfSha512CommitEcdsaP384;
    default:
      return std::nullopt;
  }
}

bool IsVersion1SuiteId(uint16_t id) {
  // algorithm-suites.md#supported-algorithm-suites-enum, message format version 1.
  switch (id) {
    case 0x0014:
    case 0x0046:
    case 0x0078:
    case 0x0114:
    case 0x0146:
    case 0x0178:
    case 0x0214:
    case 0x0346:
    case 0x0378:
      return true;
    default:
      return false;
  }
}

std::string SuiteName(AlgorithmSuite suite) { return Hex16(static_cast<uint16_t>(suite)); }

Result<Bytes> SerializeEncryptionContext(const EncryptionContext& context) {
  Bytes out;
  if (context.empty()) return out;  // message-header.md#aad: no count for an empty context
  if (context.size() > kMaxFieldLength) return ContextTooLong("has more than 65535 pairs");
  AppendU16(out, static_cast<uint16_t>(context.size()));
  // std::map iterates in byte order of the keys, the order the format requires.
  for (const auto& [key, value] : context) {
    if (key.size() > kMaxFieldLength) return ContextTooLong("key longer than 65535 bytes");
    if (value.size() > kMaxFieldLength) {
      return ContextTooLong("value of '" + key + "' longer than 65535 bytes");
    }
    AppendField(out, AsBytes(key));
    AppendField(out, AsBytes(value));
  }
  if (out.size() > kMaxFieldLength) return ContextTooLong("longer than 65535 bytes serialized");
  return out;
}

Result<EncryptionContext> ParseEncryptionContext(ByteView serialized) {
  ByteReader r(serialized);
  uint16_t count = 0;
  if (!r.ReadU16(count) || count == 0) {
    return Malformed("encryption context: a non-empty AAD field must hold at least one pair");
  }
  EncryptionContext context;
  for (uint16_t i = 0; i < count; ++i) {
    uint16_t key_length = 0, value_length = 0;
    ByteView key, value;
    if (!r.ReadU16(key_length) || !r.ReadBytes(key_length, key) || !r.ReadU16(value_length) ||
        !r.ReadBytes(value_length, value)) {
      return Malformed("encryption context: pair " + std::to_string(i + 1) + " of " +
                       std::to_string(count) + " runs past the AAD field");
    }
    // structures.md#encryption-context: a key appears once.
    if (!context.emplace(ToString(key), ToString(value)).second) {
      return Malformed("encryption context: duplicate key '" + ToString(key) + "'");
    }
  }
  if (r.remaining() != 0) {
    return Malformed("encryption context: " + std::to_string(r.remaining()) +
                     " bytes after the last pair");
  }
  return context;
}

Result<Bytes> SerializeHeaderBody(const MessageHeader& header) {
  // message-header.md#header-body-version-2-0.
  Bytes out;
  out.push_back(kMessageFormatVersion2);
  AppendU16(out, static_cast<uint16_t>(header.suite));
  Append(out, header.message_id);
  ASSIGN_OR_RETURN(Bytes aad, SerializeEncryptionContext(header.context));
  AppendU16(out, static_cast<uint16_t>(aad.size()));
  Append(out, aad);
  if (header.encrypted_data_keys.empty()) {
    return InvalidArgumentError("a message needs at least one encrypted data key");
  }
  if (header.encrypted_data_keys.size() > kMaxFieldLength) {
    return InvalidArgumentError("more than 65535 encrypted data keys");
  }
  AppendU16(out, static_cast<uint16_t>(header.encrypted_data_keys.size()));
  for (const EncryptedDataKey& edk : header.encrypted_data_keys) {
    if (edk.provider_id.size() > kMaxFieldLength || edk.provider_info.size() > kMaxFieldLength ||
        edk.ciphertext.size() > kMaxFieldLength) {
      return InvalidArgumentError("an encrypted data key field is longer than 65535 bytes");
    }
    AppendField(out, AsBytes(edk.provider_id));
    AppendField(out, edk.provider_info);
    AppendField(out, edk.ciphertext);
  }
  out.push_back(kContentTypeFramed);
  if (header.frame_length == 0) return InvalidArgumentError("frame length must be at least 1");
  AppendU32(out, header.frame_length);
  Append(out, header.commit_key);
  return out;
}

Status ParseHeaderBody(HeaderInput& in, const HeaderLimits& limits, MessageHeader& header) {
  ByteView v;
  // message-header.md#version
  RETURN_IF_ERROR(in.Read(1, v));
  if (v[0] == kMessageFormatVersion1) {
    return Invalid(kUnsupportedAlgorithmSuite,
                   "ESDK message format version 1 (algorithm suites without key commitment) is "
                   "not accepted");
  }
  if (v[0] != kMessageFormatVersion2) {
    return Invalid(kNotAnEsdkMessage,
                   "not an ESDK message: version byte " + Hex8(v[0]) + " (want 02)");
  }
  // message-header.md#algorithm-suite-id
  RETURN_IF_ERROR(in.Read(2, v));
  const uint16_t suite_id = LoadU16(v.data());
  std::optional<AlgorithmSuite> suite = SuiteFromId(suite_id);
  if (!suite) {
    if (IsVersion1SuiteId(suite_id)) {
      return Invalid(kUnsupportedAlgorithmSuite,
                     "algorithm suite " + Hex16(suite_id) + " is not accepted (no key commitment)");
    }
    return Invalid(kNotAnEsdkMessage,
                   "not an ESDK message: unknown algorithm suite " + Hex16(suite_id));
  }
  header.suite = *suite;
  // message-header.md#message-id
  RETURN_IF_ERROR(in.Read(kMessageIdSize, v));
  std::copy(v.begin(), v.end(), header.message_id.begin());
  // message-header.md#aad: length, then the key-value pairs when not empty.
  RETURN_IF_ERROR(ReadField(in, v));
  header.context.clear();
  if (!v.empty()) {
    ASSIGN_OR_RETURN(header.context, ParseEncryptionContext(v));
  }
  // default-cmm.md#decrypt-materials: the verification key is present exactly
  // when the suite signs.
  const bool has_public_key = header.context.contains(std::string(kPublicKeyContextKey));
  if (IsSigned(*suite) && !has_public_key) {
    return Malformed("suite " + SuiteName(*suite) +
                     " signs, but the encryption context has no aws-crypto-public-key");
  }
  if (!IsSigned(*suite) && has_public_key) {
    return Malformed("suite " + SuiteName(*suite) +
                     " does not sign, but the encryption context has aws-crypto-public-key");
  }
  // message-header.md#encrypted-data-keys
  RETURN_IF_ERROR(in.Read(2, v));
  const uint16_t edk_count = LoadU16(v.data());
  if (edk_count == 0) return Malformed("no encrypted data keys");
  if (edk_count > limits.max_encrypted_data_keys) {
    return LimitExceeded(std::to_string(edk_count) + " encrypted data keys (the limit is " +
                         std::to_string(limits.max_encrypted_data_keys) + ")");
  }
  header.encrypted_data_keys.clear();
  header.encrypted_data_keys.reserve(edk_count);
  for (uint16_t i = 0; i < edk_count; ++i) {
    EncryptedDataKey edk;
    RETURN_IF_ERROR(ReadField(in, v));
    edk.provider_id = ToString(v);
    RETURN_IF_ERROR(ReadField(in, v));
    edk.provider_info.assign(v.begin(), v.end());
    RETURN_IF_ERROR(ReadField(in, v));
    edk.ciphertext.assign(v.begin(), v.end());
    header.encrypted_data_keys.push_back(std::move(edk));
  }
  // message-header.md#content-type
  RETURN_IF_ERROR(in.Read(1, v));
  if (v[0] == kContentTypeNonFramed) {
    return Invalid(kUnsupportedContentType,
                   "non-framed ESDK messages are not accepted (content type 01)");
  }
  if (v[0] != kContentTypeFramed) {
    return Invalid(kNotAnEsdkMessage, "not an ESDK message: content type " + Hex8(v[0]));
  }
  // message-header.md#frame-length
  RETURN_IF_ERROR(in.Read(4, v));
  header.frame_length = LoadU32(v.data());
  if (header.frame_length == 0) return Malformed("frame length 0 in a framed message");
  if (header.frame_length > limits.max_frame_length) {
    return LimitExceeded("frame length " + std::to_string(header.frame_length) + " (the limit is " +
                         std::to_string(limits.max_frame_length) + ")");
  }
  // message-header.md#algorithm-suite-data: the commit key.
  RETURN_IF_ERROR(in.Read(kCommitKeySize, v));
  std::copy(v.begin(), v.end(), header.commit_key.begin());
  return Status::Ok();
}

Result<ParsedHeader> ParseHeader(ByteView message, const HeaderLimits& limits) {
  BufferInput in(message, limits.max_header_size);
  ParsedHeader parsed;
  RETURN_IF_ERROR(ParseHeaderBody(in, limits, parsed.header));
  parsed.body.assign(message.begin(), message.begin() + in.position());
  // message-header.md#header-authentication-version-2-0: the tag alone, no IV.
  ByteView tag;
  RETURN_IF_ERROR(in.Read(kTagSize, tag));
  std::copy(tag.begin(), tag.end(), parsed.auth_tag.begin());
  parsed.size = in.position();
  return parsed;
}

Bytes FrameAad(ByteView message_id, bool final_frame, uint32_t sequence, uint64_t content_length) {
  std::string_view content = final_frame ? kFinalFrameAadContent : kFrameAadContent;
  Bytes aad;
  aad.reserve(message_id.size() + content.size() + 12);
  Append(aad, message_id);
  Append(aad, AsBytes(content));
  AppendU32(aad, sequence);
  AppendU64(aad, content_length);
  return aad;
}

std::array<uint8_t, kIvSize> FrameIv(uint32_t sequence) {
  std::array<uint8_t, kIvSize> iv{};
  iv[8] = static_cast<uint8_t>(sequence >> 24);
  iv[9] = static_cast<uint8_t>(sequence >> 16);
  iv[10] = static_cast<uint8_t>(sequence >> 8);
  iv[11] = static_cast<uint8_t>(sequence);
  return iv;
}

Result<MessageKeys> DeriveMessageKeys(AlgorithmSuite suite, const SecretBytes& data_key,
                                      ByteView message_id) {
  if (data_key.size() != kDataKeySize) {
    return InvalidArgumentError("data key must be " + std::to_string(kDataKeySize) +
                                " bytes, got " + std::to_string(data_key.size()));
  }
  using crypto::HashAlgorithm;
  ASSIGN_OR_RETURN(SecretBytes prk,
                   crypto::HkdfExtract(HashAlgorithm::kSha512, data_key, message_id));
  Bytes info;
  AppendU16(info, static_cast<uint16_t>(suite));
  Append(info, AsBytes(kDeriveKeyLabel));
  MessageKeys keys;
  ASSIGN_OR_RETURN(keys.encryption_key,
                   crypto::HkdfExpand(HashAlgorithm::kSha512, prk, info, kDataKeySize));
  ASSIGN_OR_RETURN(keys.commit_key, crypto::HkdfExpand(HashAlgorithm::kSha512, prk,
                                                       AsBytes(kCommitKeyLabel), kCommitKeySize));
  return keys;
}

}  // namespace coffer::envelope
