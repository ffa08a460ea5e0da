#pragma once
// EnvelopeWriter: a ByteSink that encrypts what it is given into an AWS
// Encryption SDK message (docs/formats/backup-stream.md) and writes the message
// to a downstream ByteSink. Any ESDK decrypts the result with the same key.
//
// Create() gets a data key from the keyring, writes the message header
// downstream, and returns the writer. Write() cuts the plaintext into frames of
// frame_length bytes and seals them on worker threads, at most
// max_in_flight at a time, writing them downstream in order; memory stays
// around (max_in_flight + 2) × frame_length. Close() seals the final frame
// (possibly empty), writes the footer for the signing suite and closes
// downstream; only then is the message complete.
//
// Errors are permanent. Any failure, Abort(), or destruction before a
// successful Close() aborts downstream, so no partial message is left complete.
// Not safe for concurrent use: one thread drives a writer (the sealing runs on
// the workers).
#include <memory>

#include "common/random.h"
#include "common/stream.h"
#include "envelope/frame_pipeline.h"
#include "envelope/keyring.h"
#include "envelope/message_format.h"

namespace coffer::envelope {

namespace internal {
class FramedWriter;
}

struct EnvelopeWriterOptions {
  AlgorithmSuite suite = AlgorithmSuite::kAes256GcmHkdfSha512Commit;
  uint32_t frame_length = kDefaultFrameLength;  // 1 .. 2^32 - 1
  PipelineOptions pipeline;
};

class EnvelopeWriter final : public ByteSink {
 public:
  // `context`: the caller's encryption context; keys starting "aws-crypto-"
  // are reserved (InvalidEncryptionContext), as are keys and values that are
  // not UTF-8 or too long for the header. For the signing suite the writer
  // adds "aws-crypto-public-key" (a fresh P-384 key pair per message). The
  // keyring sees the context with that key, as the header stores it.
  // `keyring` and `random` are used only during Create: the keyring for the
  // data key, `random` for the message id and the signing key. Keyring errors
  // are returned unchanged. On any error `downstream` (owned from now on) is
  // aborted.
  static Result<std::unique_ptr<EnvelopeWriter>> Create(Keyring& keyring,
                                                        const EncryptionContext& context,
                                                        Random& random,
                                                        std::unique_ptr<ByteSink> downstream,
                                                        const EnvelopeWriterOptions& options = {});
  ~EnvelopeWriter() override;

  Status Write(ByteView data) override;
  Status Close() override;
  void Abort() override;

  // The header as written (context with reserved keys, EDKs, message id).
  const MessageHeader& header() const { return header_; }
  // Plaintext bytes written so far, and message bytes sent downstream.
  uint64_t plaintext_size() const;
  uint64_t message_size() const;

 private:
  EnvelopeWriter(MessageHeader header, std::unique_ptr<internal::FramedWriter> core);

  MessageHeader header_;
  std::unique_ptr<internal::FramedWriter> core_;
};

}  // namespace coffer::envelope
