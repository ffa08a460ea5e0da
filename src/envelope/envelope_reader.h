#pragma once
// EnvelopeReader: a ByteSource that decrypts an AWS Encryption SDK message
// (docs/formats/backup-stream.md) read from an upstream ByteSource. It reads
// messages of both committing suites (0x0478, 0x0578) and any frame length up
// to its limit, whoever wrote them (coffer or any ESDK).
//
// Create() reads and authenticates the header before returning: the suite is
// allowed, the context holds what the caller expects, the keyring yields the
// data key, the key commitment matches (constant time) and the header tag
// verifies. Read() then reads frames ahead, opens them on worker threads and
// releases plaintext strictly in order, each frame only after its tag
// verified. The final frame's plaintext is held back until everything after
// it checked out: for 0x0578 the footer signature over header and body, and
// for both that no byte follows the message. (So, as in the ESDKs, plaintext
// of earlier frames is released before the signature is checked: a caller
// must treat its output as unverified until Read returns 0, which it does only
// for a message that verified completely; the backup restore does so by
// renaming the restored database only then.)
//
// From the first failure on nothing more is released and every Read returns
// that same error; frames before the failing one were released in full. Errors
// carry the names of envelope/errors.h.
//
// Memory: the header (max_header_size) plus (frames in flight + 2) × frame
// length, where frames in flight is at most pipeline.max_in_flight and at most
// max_buffered_bytes / frame length (at least 1). A frame is allocated as its
// bytes arrive, so a forged length costs no more than the bytes that came.
//
// Not safe for concurrent use (the opening runs on the workers).
#include <memory>
#include <set>

#include "common/stream.h"
#include "envelope/frame_pipeline.h"
#include "envelope/keyring.h"
#include "envelope/message_format.h"

namespace coffer::envelope {

namespace internal {
class FramedReader;
}

// EncryptionContextMismatch unless every pair of `expected` is in `actual`
// with the same value (`actual` may hold more).
Status CheckExpectedContext(const EncryptionContext& actual, const EncryptionContext& expected);

struct EnvelopeReaderOptions {
  // Each pair must be in the message's context with the same value; the
  // message may hold more. Reserved ("aws-crypto-") keys may not be given.
  EncryptionContext expected_context;
  // Suites accepted; others fail with UnsupportedAlgorithmSuite.
  std::set<AlgorithmSuite> allowed_suites = {AlgorithmSuite::kAes256GcmHkdfSha512Commit,
                                             AlgorithmSuite::kAes256GcmHkdfSha512CommitEcdsaP384};
  HeaderLimits limits;
  size_t max_buffered_bytes = 64u << 20;
  PipelineOptions pipeline;
};

class EnvelopeReader final : public ByteSource {
 public:
  // Reads the header from `upstream` (owned from now on). `keyring` is used
  // only during Create. Errors: NotAnEsdkMessage,
  // UnsupportedAlgorithmSuite, UnsupportedContentType, MalformedMessage,
  // LimitExceeded, TruncatedMessage, EncryptionContextMismatch, the keyring's
  // (NoDecryptableDataKey for raw keyrings), KeyCommitmentMismatch,
  // HeaderAuthenticationFailed, and upstream's errors unchanged.
  static Result<std::unique_ptr<EnvelopeReader>> Create(Keyring& keyring,
                                                        std::unique_ptr<ByteSource> upstream,
                                                        const EnvelopeReaderOptions& options = {});
  ~EnvelopeReader() override;

  Result<size_t> Read(std::span<uint8_t> out) override;

  // The authenticated header: suite, message id, whole context (reserved keys
  // included), EDKs (for "aws-kms", provider_info is the key ARN), frame length.
  const MessageHeader& header() const { return header_; }
  // Plaintext bytes released so far.
  uint64_t plaintext_size() const;

 private:
  EnvelopeReader(MessageHeader header, std::unique_ptr<internal::FramedReader> core);

  MessageHeader header_;
  std::unique_ptr<internal::FramedReader> core_;
};

}  // namespace coffer::envelope
