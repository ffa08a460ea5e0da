#include "envelope/backup_stream.h"

#include <algorithm>
#include <array>
#include <cstring>

#include "envelope/errors.h"
#include "envelope/plain_framed.h"
#include "envelope/zstd_stream.h"

namespace coffer::envelope {
namespace {

// A zstd stage over the framed stage it owns.
class CompressedSink final : public ByteSink {
 public:
  CompressedSink(std::unique_ptr<ByteSink> inner, std::unique_ptr<ByteSink> zstd)
      : inner_(std::move(inner)), zstd_(std::move(zstd)) {}
  ~CompressedSink() override {
    zstd_.reset();  // aborts `inner_` unless closed; destroyed before it
  }
  Status Write(ByteView data) override { return zstd_->Write(data); }
  Status Close() override { return zstd_->Close(); }
  void Abort() override { zstd_->Abort(); }

 private:
  std::unique_ptr<ByteSink> inner_;
  std::unique_ptr<ByteSink> zstd_;
};

class DecompressedSource final : public ByteSource {
 public:
  DecompressedSource(std::unique_ptr<ByteSource> inner, const PipelineOptions& pipeline)
      : inner_(std::move(inner)),
        zstd_(CreateZstdDecompressSource(*inner_, {.pipeline = pipeline})) {}
  Result<size_t> Read(std::span<uint8_t> out) override { return zstd_->Read(out); }

 private:
  std::unique_ptr<ByteSource> inner_;
  std::unique_ptr<ByteSource> zstd_;
};

// Gives back the bytes read ahead to recognise the format, then the rest.
class PrefixedSource final : public ByteSource {
 public:
  PrefixedSource(Bytes prefix, std::unique_ptr<ByteSource> rest)
      : prefix_(std::move(prefix)), rest_(std::move(rest)) {}
  Result<size_t> Read(std::span<uint8_t> out) override {
    if (pos_ < prefix_.size()) {
      size_t n = std::min(out.size(), prefix_.size() - pos_);
      std::memcpy(out.data(), prefix_.data() + pos_, n);
      pos_ += n;
      return n;
    }
    return rest_->Read(out);
  }

 private:
  Bytes prefix_;
  size_t pos_ = 0;
  std::unique_ptr<ByteSource> rest_;
};

}  // namespace

std::string_view CompressionName(Compression compression) {
  return compression == Compression::kZstd ? "zstd" : "none";
}

Result<Compression> ParseCompression(std::string_view name) {
  if (name == "zstd") return Compression::kZstd;
  if (name == "none") return Compression::kNone;
  return InvalidArgumentError("unknown compression '" + std::string(name) +
                              "': expected zstd or none");
}

uint64_t MaxBackupStreamSize(uint64_t input_size, const BackupWriterOptions& options) {
  uint64_t content = input_size;
  if (options.compression == Compression::kZstd) {
    // ZSTD_compressBound: n + n/256 + a little per frame; 64 bytes covers a
    // frame's header, block headers' rounding and checksum with room to spare.
    const uint64_t frames = input_size / std::max<size_t>(options.zstd_frame_input_size, 1) + 1;
    content += input_size / 128 + frames * 64;
  }
  const uint64_t frame_length = std::max<uint32_t>(options.frame_length, 1);
  // Per frame at most 4 (final marker) + 4 (sequence) + 12 (IV) + 4 (length) + 16 (tag);
  // the plain format's frames carry less.
  const uint64_t frames = content / frame_length + 2;
  return content + frames * 40 + (uint64_t{1} << 20);
}

Result<std::unique_ptr<ByteSink>> OpenBackupWriter(std::unique_ptr<ByteSink> downstream,
                                                   Random& random,
                                                   const BackupWriterOptions& options) {
  std::unique_ptr<ByteSink> framed;
  EncryptionContext context = options.context;
  for (const char* key : {kFormatVersionContextKey, kCompressionContextKey}) {
    if (context.count(key) != 0) {
      downstream->Abort();
      return Invalid(kInvalidEncryptionContext,
                     std::string("the encryption context key ") + key + " is set by coffer");
    }
  }
  context[kFormatVersionContextKey] = kFormatVersion;
  context[kCompressionContextKey] = std::string(CompressionName(options.compression));
  if (options.keyring != nullptr) {
    EnvelopeWriterOptions writer;
    writer.suite = options.suite;
    writer.frame_length = options.frame_length;
    writer.pipeline = options.pipeline;
    auto created =
        EnvelopeWriter::Create(*options.keyring, context, random, std::move(downstream), writer);
    if (!created.ok()) return created.status();
    framed = std::move(created).value();
  } else {
    PlainFramedWriterOptions writer;
    writer.frame_length = options.frame_length;
    writer.context = std::move(context);
    writer.pipeline = options.pipeline;
    auto created = PlainFramedWriter::Create(std::move(downstream), random, writer);
    if (!created.ok()) return created.status();
    framed = std::move(created).value();
  }
  if (options.compression == Compression::kNone) return framed;
  ZstdOptions zstd_options;
  zstd_options.level = options.zstd_level;
  zstd_options.frame_input_size = options.zstd_frame_input_size;
  zstd_options.pipeline = options.pipeline;
  auto zstd = CreateZstdCompressSink(*framed, zstd_options);
  if (!zstd.ok()) {
    framed->Abort();
    return zstd.status();
  }
  return std::unique_ptr<ByteSink>(
      std::make_unique<CompressedSink>(std::move(framed), std::move(zstd).value()));
}

Result<std::unique_ptr<ByteSource>> OpenBackupReader(std::unique_ptr<ByteSource> upstream,
                                                     const BackupReaderOptions& options,
                                                     BackupStreamInfo* info) {
  Bytes prefix(plain_format::kMagic.size());
  auto got = ReadFull(*upstream, prefix);
  if (!got.ok()) return got.status();
  prefix.resize(*got);
  bool plain = AsChars(prefix) == plain_format::kMagic;
  // Version 1 messages are ESDK messages too: the reader refuses their suites by name.
  bool esdk = !prefix.empty() &&
              (prefix[0] == kMessageFormatVersion2 || prefix[0] == kMessageFormatVersion1);
  if (!plain && !esdk) {
    return Invalid("NotABackupStream",
                   prefix.empty() ? "the stream is empty: it is not a coffer backup stream"
                                  : "the stream is neither an AWS Encryption SDK message nor a "
                                    "coffer plain framed stream");
  }
  if (options.require_encrypted && *options.require_encrypted != esdk) {
    return esdk ? Invalid("Encrypted", "the stream is encrypted")
                : Invalid("NotEncrypted", "the stream is not encrypted");
  }
  auto source = std::make_unique<PrefixedSource>(std::move(prefix), std::move(upstream));
  BackupStreamInfo about;
  std::unique_ptr<ByteSource> framed;
  if (esdk) {
    if (options.keyring == nullptr) {
      return Invalid(kNoDecryptableDataKey, "the stream is encrypted and no key was given");
    }
    EnvelopeReaderOptions reader;
    reader.expected_context = options.expected_context;
    reader.pipeline = options.pipeline;
    auto created = EnvelopeReader::Create(*options.keyring, std::move(source), reader);
    if (!created.ok()) return created.status();
    about.encrypted = true;
    about.header = (*created)->header();
    about.context = about.header->context;
    about.compression = Compression::kNone;  // unless named: written by another ESDK
    framed = std::move(created).value();
  } else {
    PlainFramedReaderOptions reader;
    reader.pipeline = options.pipeline;
    auto created = PlainFramedReader::Create(std::move(source), reader);
    if (!created.ok()) return created.status();
    about.context = (*created)->context();
    // A version 1 stream says nothing of itself: its caller knows.
    if (!about.context.empty()) {
      RETURN_IF_ERROR(CheckExpectedContext(about.context, options.expected_context));
    }
    about.compression = options.plain_compression;
    framed = std::move(created).value();
  }
  if (auto named = about.context.find(kCompressionContextKey); named != about.context.end()) {
    auto compression = ParseCompression(named->second);
    if (!compression.ok()) {
      return Invalid(kMalformedMessage, "the stream's " + std::string(kCompressionContextKey) +
                                            " is '" + named->second + "'");
    }
    about.compression = *compression;
  }
  if (info != nullptr) *info = about;
  if (about.compression == Compression::kNone) return framed;
  return std::unique_ptr<ByteSource>(
      std::make_unique<DecompressedSource>(std::move(framed), options.pipeline));
}

}  // namespace coffer::envelope
