#pragma once
// The errors of the backup stream readers and writers (EnvelopeReader/Writer,
// PlainFramedReader/Writer). Each failure has its own error name, so callers
// and tests tell them apart without parsing messages; the message says what
// was found and where. Codes: kDataLoss for damaged, truncated or forged data,
// kInvalidArgument for input that is not what the caller said it is (not a
// backup stream, wrong key, wrong context, a suite the caller does not accept),
// kResourceExhausted for a stream beyond the reader's configured limits.
#include <string>

#include "common/status.h"

namespace coffer::envelope {

// Not a message of this format at all: unknown version, algorithm suite id,
// content type or magic. kInvalidArgument.
inline constexpr char kNotAnEsdkMessage[] = "NotAnEsdkMessage";
inline constexpr char kNotAPlainFramedStream[] = "NotAPlainFramedStream";
// A real ESDK suite that coffer does not accept here (format version 1 suites
// without key commitment, or a suite the caller's options exclude). kInvalidArgument.
inline constexpr char kUnsupportedAlgorithmSuite[] = "UnsupportedAlgorithmSuite";
// An ESDK message with non-framed content (content type 01), which coffer does
// not read. kInvalidArgument.
inline constexpr char kUnsupportedContentType[] = "UnsupportedContentType";
// A plain framed stream of a later format version. kInvalidArgument.
inline constexpr char kUnsupportedFormatVersion[] = "UnsupportedFormatVersion";
// The structure breaks the format (a zero count, a length out of range, a
// duplicate context key, a missing or misplaced public key). kDataLoss.
inline constexpr char kMalformedMessage[] = "MalformedMessage";
// The ESDK header's authentication tag does not verify. kDataLoss.
inline constexpr char kHeaderAuthenticationFailed[] = "HeaderAuthenticationFailed";
// The plain stream header's CRC-32C does not match. kDataLoss.
inline constexpr char kHeaderChecksumMismatch[] = "HeaderChecksumMismatch";
// The data key does not match the header's key commitment: another key. kDataLoss.
inline constexpr char kKeyCommitmentMismatch[] = "KeyCommitmentMismatch";
// No encrypted data key of the message can be unwrapped by the keyring. kInvalidArgument.
inline constexpr char kNoDecryptableDataKey[] = "NoDecryptableDataKey";
// The message's encryption context lacks a pair the caller required, or differs. kInvalidArgument.
inline constexpr char kEncryptionContextMismatch[] = "EncryptionContextMismatch";
// An ESDK frame's tag does not verify. kDataLoss.
inline constexpr char kFrameAuthenticationFailed[] = "FrameAuthenticationFailed";
// A plain frame's CRC-32C does not match. kDataLoss.
inline constexpr char kFrameChecksumMismatch[] = "FrameChecksumMismatch";
// A frame's sequence number is not the next one: reordered, duplicated or
// missing frames. kDataLoss.
inline constexpr char kFrameOutOfSequence[] = "FrameOutOfSequence";
// The stream ends inside the header, inside a frame, before the final frame or
// before the footer. kDataLoss.
inline constexpr char kTruncatedMessage[] = "TruncatedMessage";
// Bytes follow the end of the message. kDataLoss.
inline constexpr char kTrailingData[] = "TrailingData";
// The footer's signature does not verify. kDataLoss.
inline constexpr char kSignatureVerificationFailed[] = "SignatureVerificationFailed";
// The plain stream's final frame states a total length the frames do not add up to. kDataLoss.
inline constexpr char kLengthMismatch[] = "LengthMismatch";
// The stream needs more than the reader's limits allow (header size, frame
// length, number of encrypted data keys). kResourceExhausted.
inline constexpr char kLimitExceeded[] = "LimitExceeded";
// Caller-supplied input the writer cannot encode (a reserved context key, a
// field too long for its length prefix). kInvalidArgument.
inline constexpr char kInvalidEncryptionContext[] = "InvalidEncryptionContext";

inline Status DataLoss(const char* name, std::string message) {
  return Status(StatusCode::kDataLoss, name, std::move(message));
}
inline Status Invalid(const char* name, std::string message) {
  return Status(StatusCode::kInvalidArgument, name, std::move(message));
}
inline Status LimitExceeded(std::string message) {
  return Status(StatusCode::kResourceExhausted, kLimitExceeded, std::move(message));
}

}  // namespace coffer::envelope
