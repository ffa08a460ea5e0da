#pragma once
// The AWS Encryption SDK message format as coffer reads and writes it: the
// constants (this is the one header of them), the message header, and the
// pieces every frame and keyring derives from it. The grammar is written down
// in docs/formats/backup-stream.md; the authority is
// aws-encryption-sdk-specification data-format/*.md and framework/algorithm-suites.md.
//
// Pure functions over bytes, safe from any thread.
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.h"
#include "common/status.h"
#include "crypto/secret_bytes.h"
#include "envelope/keyring.h"

namespace coffer::envelope {

// message-header.md#version: coffer writes and reads version 2 (the suites
// with key commitment). Version 1 is recognized only to refuse it clearly.
inline constexpr uint8_t kMessageFormatVersion1 = 0x01;
inline constexpr uint8_t kMessageFormatVersion2 = 0x02;

// algorithm-suites.md: the two committing suites of message format version 2.
enum class AlgorithmSuite : uint16_t {
  // ALG_AES_256_GCM_HKDF_SHA512_COMMIT_KEY: coffer's default.
  kAes256GcmHkdfSha512Commit = 0x0478,
  // ALG_AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384: the JS SDK's default.
  kAes256GcmHkdfSha512CommitEcdsaP384 = 0x0578,
};

// The suite with `id`, when it is one of the two above.
std::optional<AlgorithmSuite> SuiteFromId(uint16_t id);
// True for the suite ids of message format version 1 (0x0014 … 0x0378).
bool IsVersion1SuiteId(uint16_t id);
// Whether the suite signs the message (a footer, a public key in the context).
inline bool IsSigned(AlgorithmSuite suite) {
  return suite == AlgorithmSuite::kAes256GcmHkdfSha512CommitEcdsaP384;
}
// "0x0478".
std::string SuiteName(AlgorithmSuite suite);

// Sizes (algorithm-suites.md, message-header.md, message-body.md).
inline constexpr size_t kMessageIdSize = 32;
inline constexpr size_t kDataKeySize = 32;    // AES-256 data key (the HKDF input)
inline constexpr size_t kCommitKeySize = 32;  // "algorithm suite data" of version 2
inline constexpr size_t kIvSize = 12;
inline constexpr size_t kTagSize = 16;

// message-header.md#content-type.
inline constexpr uint8_t kContentTypeNonFramed = 0x01;
inline constexpr uint8_t kContentTypeFramed = 0x02;

// message-body.md#framed-data.
inline constexpr uint32_t kSequenceNumberEnd = 0xFFFFFFFF;
inline constexpr uint32_t kMaxSequenceNumber = 0xFFFFFFFF;  // at most 2^32 - 1 frames
inline constexpr uint32_t kMaxFrameLength = 0xFFFFFFFF;
// Regular frame: sequence ‖ IV, then content ‖ tag.
inline constexpr size_t kRegularFrameHeaderSize = 4 + kIvSize;
// Final frame: FFFFFFFF ‖ sequence ‖ IV ‖ content length, then content ‖ tag.
inline constexpr size_t kFinalFrameHeaderSize = 4 + 4 + kIvSize + 4;

// message-body-aad.md#body-aad-content.
inline constexpr std::string_view kFrameAadContent = "AWSKMSEncryptionClient Frame";
inline constexpr std::string_view kFinalFrameAadContent = "AWSKMSEncryptionClient Final Frame";

// algorithm-suites.md#key-derivation-algorithm (HKDF-SHA512 with commitment):
// the info labels of the two expansions.
inline constexpr std::string_view kDeriveKeyLabel = "DERIVEKEY";
inline constexpr std::string_view kCommitKeyLabel = "COMMITKEY";

// structures.md#encryption-context: keys with this prefix are reserved for the
// SDK; callers may not set them. The signing suites carry the verification key
// (base64 of the compressed P-384 point) under kPublicKeyContextKey.
inline constexpr std::string_view kReservedContextPrefix = "aws-crypto-";
inline constexpr std::string_view kPublicKeyContextKey = "aws-crypto-public-key";

// Every variable-length header field has a u16 length.
inline constexpr size_t kMaxFieldLength = 0xFFFF;

// coffer's choice for the frames it writes: large frames for throughput.
inline constexpr uint32_t kDefaultFrameLength = 1u << 20;

// What a reader accepts; beyond these the header is refused with LimitExceeded
// before anything large is allocated.
struct HeaderLimits {
  size_t max_header_size = size_t{1} << 20;  // header body and tag
  size_t max_encrypted_data_keys = 64;
  uint32_t max_frame_length = 64u << 20;
};

// The message header (message-header.md), version 2, framed content.
struct MessageHeader {
  AlgorithmSuite suite = AlgorithmSuite::kAes256GcmHkdfSha512Commit;
  std::array<uint8_t, kMessageIdSize> message_id{};
  EncryptionContext context;  // reserved keys included
  std::vector<EncryptedDataKey> encrypted_data_keys;
  uint32_t frame_length = kDefaultFrameLength;
  std::array<uint8_t, kCommitKeySize> commit_key{};  // the suite data
};

// The serialization of an encryption context that the header's AAD field
// holds and raw keyrings authenticate (message-header.md#key-value-pairs):
// empty for an empty context, otherwise count u16 ‖ the pairs sorted by key,
// each {key length u16, key, value length u16, value}. InvalidEncryptionContext
// when a key or value is longer than 65535 bytes or the whole is.
Result<Bytes> SerializeEncryptionContext(const EncryptionContext& context);
// The inverse, for a non-empty serialization. Pairs in any order are accepted
// (older SDKs sorted differently); a duplicate key, a zero count or bytes left
// over are MalformedMessage.
Result<EncryptionContext> ParseEncryptionContext(ByteView serialized);

// The header body: every field up to and excluding the header auth tag.
// Fails on fields too long for their length prefix, no EDKs, a zero frame length.
Result<Bytes> SerializeHeaderBody(const MessageHeader& header);

// Where the parser takes bytes from: a buffer or a stream. Read() gives exactly
// n bytes (valid until the next Read) or an error (TruncatedMessage at the end
// of the input, LimitExceeded past the header size limit).
class HeaderInput {
 public:
  virtual ~HeaderInput() = default;
  virtual Status Read(size_t n, ByteView& out) = 0;
};

// Parses a header body field by field, refusing as early as possible: a wrong
// version or suite after the first bytes, an oversized count before the items.
// Errors: NotAnEsdkMessage, UnsupportedAlgorithmSuite, UnsupportedContentType,
// MalformedMessage, LimitExceeded, and those of `in`.
Status ParseHeaderBody(HeaderInput& in, const HeaderLimits& limits, MessageHeader& header);

// A header parsed from the front of a buffer.
struct ParsedHeader {
  MessageHeader header;
  Bytes body;  // the serialized header body, as read
  std::array<uint8_t, kTagSize> auth_tag{};
  size_t size = 0;  // body and tag
};
Result<ParsedHeader> ParseHeader(ByteView message, const HeaderLimits& limits);

// message-body-aad.md: message id ‖ content string ‖ sequence u32 ‖ length u64.
Bytes FrameAad(ByteView message_id, bool final_frame, uint32_t sequence, uint64_t content_length);
// The IV coffer writes: 8 zero bytes ‖ sequence u32, unique within the message
// as message-body.md#iv requires. Readers take the IV from the frame.
std::array<uint8_t, kIvSize> FrameIv(uint32_t sequence);

// algorithm-suites.md#hkdf-sha512-with-commitment:
//   PRK = HKDF-Extract(SHA-512, salt = message id, IKM = data key)
//   encryption key = HKDF-Expand(PRK, suite id u16 ‖ "DERIVEKEY", 32)
//   commit key = HKDF-Expand(PRK, "COMMITKEY", 32)
struct MessageKeys {
  crypto::SecretBytes encryption_key;
  crypto::SecretBytes commit_key;  // public once written, but compared in constant time
};
Result<MessageKeys> DeriveMessageKeys(AlgorithmSuite suite, const crypto::SecretBytes& data_key,
                                      ByteView message_id);

}  // namespace coffer::envelope
