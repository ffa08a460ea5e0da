#include "envelope/envelope_reader.h"

#include <algorithm>
#include <utility>

#include "crypto/aes_gcm.h"
#include "crypto/ecdsa.h"
#include "envelope/errors.h"
#include "envelope/framed_stream.h"

namespace coffer::envelope {
namespace {

using crypto::SecretBytes;
using internal::FrameJob;
using internal::UpstreamReader;

// Reads the header straight from upstream, keeping the bytes it read (they
// are authenticated and signed as they are, not as re-serialized).
class StreamHeaderInput final : public HeaderInput {
 public:
  StreamHeaderInput(UpstreamReader& in, size_t max) : in_(in), max_(max) {}

  Status Read(size_t n, ByteView& out) override {
    if (raw_.size() + n > max_) {
      return LimitExceeded("message header larger than " + std::to_string(max_) + " bytes");
    }
    const size_t at = raw_.size();
    raw_.resize(at + n);
    ASSIGN_OR_RETURN(size_t got, in_.ReadFull(std::span<uint8_t>(raw_.data() + at, n)));
    if (got < n) {
      raw_.resize(at + got);
      return DataLoss(kTruncatedMessage, raw_.empty()
                                             ? std::string("empty stream: no message header")
                                             : "stream ends inside the message header (after " +
                                                   std::to_string(raw_.size()) + " bytes)");
    }
    out = ByteView(raw_.data() + at, n);
    return Status::Ok();
  }

  const Bytes& raw() const { return raw_; }

 private:
  UpstreamReader& in_;
  size_t max_;
  Bytes raw_;
};

// Opens ESDK frames (message-body.md#framed-data) and checks the footer.
class EsdkOpener final : public internal::FrameOpener {
 public:
  EsdkOpener(std::unique_ptr<crypto::AesGcm> aead, const MessageHeader& header,
             std::unique_ptr<crypto::EcdsaP384Verifier> verifier)
      : aead_(std::move(aead)),
        message_id_(header.message_id.begin(), header.message_id.end()),
        frame_length_(header.frame_length),
        verifier_(std::move(verifier)) {}

  Status ReadFrame(UpstreamReader& in, FrameJob& job) override {
    job.buffer.Clear();
    job.buffer.Resize(kFinalFrameHeaderSize);
    uint8_t* p = job.buffer.data();
    ASSIGN_OR_RETURN(size_t got, in.ReadFull(std::span<uint8_t>(p, 4)));
    if (got == 0) {
      return DataLoss(kTruncatedMessage, "stream ends before the final frame (after " +
                                             std::to_string(frames_read_) + " frames)");
    }
    if (got < 4) return TruncatedInFrame();
    // decrypt.md#decrypt-the-message-body: the first 4 bytes tell a final frame.
    job.final_frame = LoadU32(p) == kSequenceNumberEnd;
    size_t prefix = job.final_frame ? kFinalFrameHeaderSize : kRegularFrameHeaderSize;
    ASSIGN_OR_RETURN(got, in.ReadFull(std::span<uint8_t>(p + 4, prefix - 4)));
    if (got < prefix - 4) return TruncatedInFrame();
    uint64_t content_size = frame_length_;
    if (job.final_frame) {
      job.sequence = LoadU32(p + 4);
      content_size = LoadU32(p + 4 + 4 + kIvSize);
      // decrypt.md: the final frame's content is at most the frame length.
      if (content_size > frame_length_) {
        return DataLoss(kMalformedMessage,
                        "final frame content length " + std::to_string(content_size) +
                            " exceeds the frame length " + std::to_string(frame_length_));
      }
    } else {
      job.sequence = LoadU32(p);
    }
    job.buffer.Resize(prefix);
    ASSIGN_OR_RETURN(got, in.ReadAppend(job.buffer, content_size + kTagSize));
    if (got < content_size + kTagSize) return TruncatedInFrame();
    job.frame_offset = 0;
    job.frame_size = job.buffer.size();
    job.content_offset = prefix;
    job.content_size = content_size;
    ++frames_read_;
    // decrypt.md#verify-the-signature: the body is signed as read, in order.
    if (verifier_ != nullptr) verifier_->Update(job.frame());
    return Status::Ok();
  }

  Status OpenFrame(FrameJob& job) const override {
    const uint8_t* frame = job.buffer.data();
    ByteView iv(frame + (job.final_frame ? 8 : 4), kIvSize);
    ByteView tag(frame + job.content_offset + job.content_size, kTagSize);
    const Bytes aad = FrameAad(message_id_, job.final_frame, job.sequence, job.content_size);
    std::span<uint8_t> content = job.content();
    Status s = aead_->OpenInto(iv, content, tag, aad, content);
    if (s.ok()) return s;
    if (s.code() != StatusCode::kDataLoss) return s;
    return DataLoss(kFrameAuthenticationFailed,
                    std::string(job.final_frame ? "final frame " : "frame ") +
                        std::to_string(job.sequence) +
                        " failed authentication: damaged, or not of this message");
  }

  Status Finish(UpstreamReader& in) override {
    if (verifier_ == nullptr) return Status::Ok();
    // message-footer.md: signature length u16 ‖ signature.
    uint8_t length_bytes[2];
    ASSIGN_OR_RETURN(size_t got, in.ReadFull(length_bytes));
    if (got < 2) return DataLoss(kTruncatedMessage, "stream ends before the footer");
    Bytes signature(LoadU16(length_bytes));
    ASSIGN_OR_RETURN(got, in.ReadFull(signature));
    if (got < signature.size()) return DataLoss(kTruncatedMessage, "stream ends inside the footer");
    if (!verifier_->Finish(signature)) {
      return DataLoss(kSignatureVerificationFailed,
                      "the footer's ECDSA P-384 signature does not verify: the message was "
                      "changed after it was signed");
    }
    return Status::Ok();
  }

 private:
  Status TruncatedInFrame() const {
    return DataLoss(kTruncatedMessage,
                    "stream ends inside frame " + std::to_string(frames_read_ + 1));
  }

  std::unique_ptr<crypto::AesGcm> aead_;
  Bytes message_id_;
  uint32_t frame_length_;
  std::unique_ptr<crypto::EcdsaP384Verifier> verifier_;
  uint32_t frames_read_ = 0;
};

// The verification key of a signing suite (default-cmm.md#decrypt-materials).
Result<std::unique_ptr<crypto::EcdsaP384PublicKey>> VerificationKey(const MessageHeader& header) {
  auto it = header.context.find(std::string(kPublicKeyContextKey));
  if (it == header.context.end()) {
    return DataLoss(kMalformedMessage, "no aws-crypto-public-key in the encryption context");
  }
  Result<Bytes> point = Base64Decode(it->second);
  if (!point.ok()) {
    return DataLoss(kMalformedMessage, "aws-crypto-public-key is not base64");
  }
  Result<std::unique_ptr<crypto::EcdsaP384PublicKey>> key =
      crypto::EcdsaP384PublicKey::FromCompressedPoint(*point);
  if (!key.ok()) {
    return DataLoss(kMalformedMessage, "aws-crypto-public-key: " + key.status().message());
  }
  return key;
}

}  // namespace

Status CheckExpectedContext(const EncryptionContext& actual, const EncryptionContext& expected) {
  for (const auto& [key, value] : expected) {
    auto it = actual.find(key);
    if (it == actual.end()) {
      return Invalid(kEncryptionContextMismatch,
                     "encryption context mismatch: the message has no key '" + key + "'");
    }
    if (it->second != value) {
      return Invalid(kEncryptionContextMismatch,
                     "encryption context mismatch: the message's value for '" + key +
                         "' is not the expected one");
    }
  }
  return Status::Ok();
}

Result<std::unique_ptr<EnvelopeReader>> EnvelopeReader::Create(
    Keyring& keyring, std::unique_ptr<ByteSource> upstream, const EnvelopeReaderOptions& options) {
  if (upstream == nullptr) return InvalidArgumentError("envelope reader: no upstream source");
  for (const auto& [key, value] : options.expected_context) {
    if (key.starts_with(kReservedContextPrefix)) {
      return Invalid(kInvalidEncryptionContext,
                     "expected encryption context key '" + key + "' is reserved");
    }
  }
  auto in = std::make_unique<UpstreamReader>(std::move(upstream));

  // decrypt.md#parse-the-header
  StreamHeaderInput header_in(*in, options.limits.max_header_size);
  MessageHeader header;
  RETURN_IF_ERROR(ParseHeaderBody(header_in, options.limits, header));
  const size_t body_size = header_in.raw().size();
  ByteView tag;
  RETURN_IF_ERROR(header_in.Read(kTagSize, tag));
  const Bytes& header_bytes = header_in.raw();
  const ByteView body(header_bytes.data(), body_size);
  const ByteView auth_tag(header_bytes.data() + body_size, kTagSize);

  if (!options.allowed_suites.contains(header.suite)) {
    return Invalid(kUnsupportedAlgorithmSuite,
                   "algorithm suite " + SuiteName(header.suite) + " is not allowed here");
  }
  // cmm-interface.md#decrypt-materials: the caller's context, checked before
  // the keyring is asked (a KMS call) for a message that is not the one wanted.
  RETURN_IF_ERROR(CheckExpectedContext(header.context, options.expected_context));
  std::unique_ptr<crypto::EcdsaP384PublicKey> public_key;
  if (IsSigned(header.suite)) {
    ASSIGN_OR_RETURN(public_key, VerificationKey(header));
  }

  // decrypt.md#get-the-decryption-materials
  ASSIGN_OR_RETURN(SecretBytes data_key,
                   keyring.OnDecrypt(header.context, header.encrypted_data_keys));
  if (data_key.size() != kDataKeySize) {
    return InternalError("keyring returned a data key of " + std::to_string(data_key.size()) +
                         " bytes, want 32");
  }
  ASSIGN_OR_RETURN(MessageKeys keys, DeriveMessageKeys(header.suite, data_key, header.message_id));
  // algorithm-suites.md#hkdf-sha512-with-commitment: the derived commit key
  // must equal the header's, compared in constant time; otherwise the key is
  // not the message's key.
  if (!crypto::ConstantTimeEquals(RevealSecret(keys.commit_key), header.commit_key)) {
    return DataLoss(kKeyCommitmentMismatch,
                    "the data key does not match the message's key commitment: another key");
  }
  // decrypt.md#verify-the-header: the tag over the header body, zero IV.
  ASSIGN_OR_RETURN(std::unique_ptr<crypto::AesGcm> aead,
                   crypto::AesGcm::Create(keys.encryption_key));
  const std::array<uint8_t, kIvSize> zero_iv{};
  Status auth = aead->OpenInto(zero_iv, ByteView(), auth_tag, body, std::span<uint8_t>());
  if (!auth.ok()) {
    if (auth.code() != StatusCode::kDataLoss) return auth;
    return DataLoss(kHeaderAuthenticationFailed, "the message header failed authentication");
  }

  std::unique_ptr<crypto::EcdsaP384Verifier> verifier;
  if (public_key != nullptr) {
    ASSIGN_OR_RETURN(verifier, public_key->NewVerifier());
    verifier->Update(header_bytes);
  }
  auto opener = std::make_unique<EsdkOpener>(std::move(aead), header, std::move(verifier));
  auto core =
      std::make_unique<internal::FramedReader>(std::move(opener), std::move(in), options.pipeline);
  const uint64_t per_frame = uint64_t{header.frame_length} + kFinalFrameHeaderSize + kTagSize;
  core->LimitInFlight(
      static_cast<size_t>(std::max<uint64_t>(1, options.max_buffered_bytes / per_frame)));
  return std::unique_ptr<EnvelopeReader>(new EnvelopeReader(std::move(header), std::move(core)));
}

EnvelopeReader::EnvelopeReader(MessageHeader header, std::unique_ptr<internal::FramedReader> core)
    : header_(std::move(header)), core_(std::move(core)) {}

EnvelopeReader::~EnvelopeReader() = default;

Result<size_t> EnvelopeReader::Read(std::span<uint8_t> out) { return core_->Read(out); }

uint64_t EnvelopeReader::plaintext_size() const { return core_->released(); }

}  // namespace coffer::envelope
