#pragma once
// Helpers for the envelope tests: plaintext patterns, fixed keyrings, sources
// and sinks that misbehave on purpose, and whole-message encrypt/decrypt.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "common/random.h"
#include "common/stream.h"
#include "crypto/secret_bytes.h"
#include "envelope/envelope_reader.h"
#include "envelope/envelope_writer.h"
#include "envelope/keyring.h"
#include "envelope/plain_framed.h"
#include "envelope/raw_aes_keyring.h"
#include "testing/chunked_source.h"

namespace coffer::envelope::testing {

using ::coffer::testing::ChunkedSource;

// Byte i is (i * 131 + 7) mod 256, as generate_js_vectors.mjs writes it.
inline Bytes Pattern(size_t n, uint8_t salt = 0) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(i * 131 + 7 + salt);
  return b;
}

// The wrapping key of the JS vectors and the fuzz target: bytes 00 … 1f.
inline crypto::SecretBytes VectorWrappingKey() {
  Bytes key(32);
  for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<uint8_t>(i);
  return crypto::SecretBytes(ByteView(key));
}

inline std::unique_ptr<RawAesKeyring> VectorKeyring(Random& random) {
  auto keyring = RawAesKeyring::Create("coffer-test", "vector-key", VectorWrappingKey(), random);
  EXPECT_TRUE(keyring.ok()) << keyring.status().ToString();
  return keyring.ok() ? std::move(keyring).value() : nullptr;
}

// A keyring that hands out one fixed data key whatever the context or EDKs:
// lets a test reach the checks that come after the keyring.
class FixedKeyring final : public Keyring {
 public:
  explicit FixedKeyring(crypto::SecretBytes key) : key_(std::move(key)) {}
  Result<DataKeyMaterial> OnEncrypt(const EncryptionContext&) override {
    DataKeyMaterial m;
    m.data_key = key_;
    m.encrypted_data_keys.push_back({"fixed", ToBytes("fixed-key"), ToBytes("not wrapped")});
    return m;
  }
  Result<crypto::SecretBytes> OnDecrypt(const EncryptionContext&,
                                        std::span<const EncryptedDataKey>) override {
    return key_;
  }

 private:
  crypto::SecretBytes key_;
};

// Serves `data`, then fails with `error` instead of ending.
class FailingSource final : public ByteSource {
 public:
  FailingSource(ByteView data, Status error) : data_(data), error_(std::move(error)) {}
  Result<size_t> Read(std::span<uint8_t> out) override {
    if (pos_ == data_.size()) return error_;
    size_t n = std::min(out.size(), data_.size() - pos_);
    std::copy_n(data_.begin() + pos_, n, out.begin());
    pos_ += n;
    return n;
  }

 private:
  ByteView data_;
  Status error_;
  size_t pos_ = 0;
};

// A sink that records what happened to it; fails writes after `fail_after` bytes.
struct SinkLog {
  Bytes bytes;
  bool closed = false;
  bool aborted = false;
  size_t writes = 0;
};
class RecordingSink final : public ByteSink {
 public:
  explicit RecordingSink(SinkLog& log, size_t fail_after = SIZE_MAX)
      : log_(log), fail_after_(fail_after) {}
  Status Write(ByteView data) override {
    if (log_.bytes.size() + data.size() > fail_after_) return UnavailableError("disk full");
    ++log_.writes;
    Append(log_.bytes, data);
    return Status::Ok();
  }
  Status Close() override {
    log_.closed = true;
    return Status::Ok();
  }
  void Abort() override { log_.aborted = true; }

 private:
  SinkLog& log_;
  size_t fail_after_;
};

// Takes everything and keeps nothing.
class NullSink final : public ByteSink {
 public:
  Status Write(ByteView) override { return Status::Ok(); }
  Status Close() override { return Status::Ok(); }
  void Abort() override {}
};

// Writes `plaintext` through `sink` in pieces of `write_chunk` bytes and closes it.
inline Status WriteAll(ByteSink& sink, ByteView plaintext, size_t write_chunk) {
  write_chunk = std::max<size_t>(write_chunk, 1);
  for (size_t at = 0; at < plaintext.size(); at += write_chunk) {
    Status s = sink.Write(plaintext.subspan(at, std::min(write_chunk, plaintext.size() - at)));
    if (!s.ok()) return s;
  }
  return sink.Close();
}

// What a reader gave before it ended or failed.
struct Drained {
  Status status;    // OK when the stream ended cleanly
  Bytes plaintext;  // everything released
};

inline Drained DrainSource(ByteSource& source, size_t read_chunk) {
  Drained out;
  Bytes buf(std::max<size_t>(read_chunk, 1));
  for (;;) {
    Result<size_t> n = source.Read(buf);
    if (!n.ok()) {
      out.status = n.status();
      return out;
    }
    if (*n == 0) return out;
    out.plaintext.insert(out.plaintext.end(), buf.begin(), buf.begin() + *n);
  }
}

inline Result<Bytes> Encrypt(Keyring& keyring, Random& random, ByteView plaintext,
                             const EncryptionContext& context, const EnvelopeWriterOptions& options,
                             size_t write_chunk = 1 << 16) {
  Bytes message;
  ASSIGN_OR_RETURN(auto writer,
                   EnvelopeWriter::Create(keyring, context, random, MemorySink(message), options));
  RETURN_IF_ERROR(WriteAll(*writer, plaintext, write_chunk));
  return message;
}

// Decrypts `message` read `upstream_chunk` bytes at a time; a Create error is
// returned as the Drained status.
inline Drained Decrypt(Keyring& keyring, ByteView message, const EnvelopeReaderOptions& options,
                       size_t read_chunk = 1 << 16, size_t upstream_chunk = SIZE_MAX) {
  auto reader = EnvelopeReader::Create(
      keyring, std::make_unique<ChunkedSource>(message, upstream_chunk), options);
  if (!reader.ok()) return Drained{reader.status(), {}};
  return DrainSource(**reader, read_chunk);
}

}  // namespace coffer::envelope::testing
