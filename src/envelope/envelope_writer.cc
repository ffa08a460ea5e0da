#include "envelope/envelope_writer.h"

#include <cstring>
#include <utility>

#include "common/validation.h"
#include "crypto/aes_gcm.h"
#include "crypto/ecdsa.h"
#include "envelope/errors.h"
#include "envelope/framed_stream.h"

namespace coffer::envelope {
namespace {

using crypto::SecretBytes;
using internal::FrameJob;

// Seals ESDK frames (message-body.md#framed-data) with the message's derived key.
class EsdkSealer final : public internal::FrameSealer {
 public:
  EsdkSealer(std::unique_ptr<crypto::AesGcm> aead, const MessageHeader& header,
             std::unique_ptr<crypto::EcdsaP384Signer> signer)
      : aead_(std::move(aead)),
        message_id_(header.message_id.begin(), header.message_id.end()),
        signer_(std::move(signer)) {}

  size_t PrefixSize(bool final_frame) const override {
    return final_frame ? kFinalFrameHeaderSize : kRegularFrameHeaderSize;
  }
  size_t SuffixSize() const override { return kTagSize; }

  Status Seal(FrameJob& job) const override {
    const size_t prefix = PrefixSize(job.final_frame);
    uint8_t* frame = job.buffer.data() + job.content_offset - prefix;
    uint8_t* p = frame;
    if (job.final_frame) {
      StoreU32(p, kSequenceNumberEnd);  // message-body.md#sequence-number-end
      p += 4;
    }
    StoreU32(p, job.sequence);
    p += 4;
    const std::array<uint8_t, kIvSize> iv = FrameIv(job.sequence);
    std::memcpy(p, iv.data(), iv.size());
    p += kIvSize;
    if (job.final_frame) {
      StoreU32(p, static_cast<uint32_t>(job.content_size));  // encrypted content length
      p += 4;
    }
    std::span<uint8_t> content = job.content();
    const Bytes aad = FrameAad(message_id_, job.final_frame, job.sequence, job.content_size);
    std::span<uint8_t, kTagSize> tag(job.buffer.data() + job.content_offset + job.content_size,
                                     kTagSize);
    RETURN_IF_ERROR(aead_->SealInto(iv, content, aad, content, tag));
    job.frame_offset = job.content_offset - prefix;
    job.frame_size = prefix + job.content_size + kTagSize;
    return Status::Ok();
  }

  void OnFrameWritten(ByteView frame) override {
    // message-footer.md#signature: the signature covers header and body.
    if (signer_ != nullptr) signer_->Update(frame);
  }

  Result<Bytes> Trailer() override {
    if (signer_ == nullptr) return Bytes();
    // message-footer.md: signature length u16 ‖ DER signature.
    ASSIGN_OR_RETURN(Bytes signature, signer_->Finish());
    Bytes footer;
    AppendU16(footer, static_cast<uint16_t>(signature.size()));
    Append(footer, signature);
    return footer;
  }

 private:
  std::unique_ptr<crypto::AesGcm> aead_;
  Bytes message_id_;
  std::unique_ptr<crypto::EcdsaP384Signer> signer_;
};

Status CheckContext(const EncryptionContext& context) {
  for (const auto& [key, value] : context) {
    // structures.md#encryption-context: "aws-crypto-" keys belong to the SDK.
    if (key.starts_with(kReservedContextPrefix)) {
      return Invalid(kInvalidEncryptionContext,
                     "encryption context key '" + key + "' is reserved (prefix aws-crypto-)");
    }
    if (!DecodeUtf8(key) || !DecodeUtf8(value)) {
      return Invalid(kInvalidEncryptionContext, "encryption context keys and values must be UTF-8");
    }
  }
  return Status::Ok();
}

Result<std::unique_ptr<internal::FramedWriter>> Start(Keyring& keyring,
                                                      const EncryptionContext& context,
                                                      Random& random,
                                                      std::unique_ptr<ByteSink>& downstream,
                                                      const EnvelopeWriterOptions& options,
                                                      MessageHeader& header) {
  if (downstream == nullptr) return InvalidArgumentError("envelope writer: no downstream sink");
  if (options.frame_length == 0) {
    return InvalidArgumentError("envelope writer: frame length must be at least 1");
  }
  if (!SuiteFromId(static_cast<uint16_t>(options.suite))) {
    return Invalid(kUnsupportedAlgorithmSuite, "envelope writer: algorithm suite " +
                                                   SuiteName(options.suite) + " is not supported");
  }
  RETURN_IF_ERROR(CheckContext(context));
  header.suite = options.suite;
  header.frame_length = options.frame_length;
  header.context = context;

  std::unique_ptr<crypto::EcdsaP384PrivateKey> signing_key;
  if (IsSigned(options.suite)) {
    // default-cmm.md#get-encryption-materials: a fresh key pair per message,
    // its public half in the context.
    ASSIGN_OR_RETURN(signing_key, crypto::EcdsaP384PrivateKey::Generate(random));
    header.context.emplace(std::string(kPublicKeyContextKey),
                           Base64Encode(signing_key->public_key().compressed_point()));
  }
  // Checked before the keyring is called: a context too long for the header
  // must not cost a data key.
  RETURN_IF_ERROR(SerializeEncryptionContext(header.context).status());

  ASSIGN_OR_RETURN(DataKeyMaterial material, keyring.OnEncrypt(header.context));
  if (material.data_key.size() != kDataKeySize) {
    return InternalError("keyring returned a data key of " +
                         std::to_string(material.data_key.size()) + " bytes, want 32");
  }
  if (material.encrypted_data_keys.empty()) {
    return InternalError("keyring returned no encrypted data key");
  }
  header.encrypted_data_keys = std::move(material.encrypted_data_keys);
  random.Fill(header.message_id);

  ASSIGN_OR_RETURN(MessageKeys keys,
                   DeriveMessageKeys(header.suite, material.data_key, header.message_id));
  ByteView commit = RevealSecret(keys.commit_key);
  std::copy(commit.begin(), commit.end(), header.commit_key.begin());
  ASSIGN_OR_RETURN(Bytes header_bytes, SerializeHeaderBody(header));

  // message-header.md#header-authentication-version-2-0: AES-GCM over an
  // empty plaintext with the header body as AAD and an all-zero IV.
  ASSIGN_OR_RETURN(std::unique_ptr<crypto::AesGcm> aead,
                   crypto::AesGcm::Create(keys.encryption_key));
  const std::array<uint8_t, kIvSize> zero_iv{};
  ASSIGN_OR_RETURN(Bytes tag, aead->Seal(zero_iv, ByteView(), header_bytes));
  Append(header_bytes, tag);

  std::unique_ptr<crypto::EcdsaP384Signer> signer;
  if (signing_key != nullptr) {
    ASSIGN_OR_RETURN(signer, signing_key->NewSigner());
    signer->Update(header_bytes);
  }
  auto sealer = std::make_unique<EsdkSealer>(std::move(aead), header, std::move(signer));
  auto core = std::make_unique<internal::FramedWriter>(std::move(sealer), std::move(downstream),
                                                       options.frame_length, options.pipeline);
  RETURN_IF_ERROR(core->WriteRaw(header_bytes));
  return core;
}

}  // namespace

Result<std::unique_ptr<EnvelopeWriter>> EnvelopeWriter::Create(
    Keyring& keyring, const EncryptionContext& context, Random& random,
    std::unique_ptr<ByteSink> downstream, const EnvelopeWriterOptions& options) {
  MessageHeader header;
  Result<std::unique_ptr<internal::FramedWriter>> core =
      Start(keyring, context, random, downstream, options, header);
  if (!core.ok()) {
    // Still ours when Start failed before handing it to the core (which aborts
    // it itself on failure).
    if (downstream != nullptr) downstream->Abort();
    return core.status();
  }
  return std::unique_ptr<EnvelopeWriter>(
      new EnvelopeWriter(std::move(header), std::move(core).value()));
}

EnvelopeWriter::EnvelopeWriter(MessageHeader header, std::unique_ptr<internal::FramedWriter> core)
    : header_(std::move(header)), core_(std::move(core)) {}

EnvelopeWriter::~EnvelopeWriter() = default;

Status EnvelopeWriter::Write(ByteView data) { return core_->Write(data); }
Status EnvelopeWriter::Close() { return core_->Close(); }
void EnvelopeWriter::Abort() { core_->Abort(); }
uint64_t EnvelopeWriter::plaintext_size() const { return core_->plaintext_size(); }
uint64_t EnvelopeWriter::message_size() const { return core_->stream_size(); }

}  // namespace coffer::envelope
