// Writes ESDK messages made by coffer's EnvelopeWriter with the raw AES keyring
// of the JavaScript vectors (namespace "coffer-test", name "vector-key", key
// 00..1f) into a directory, each beside its plaintext, for the reverse check:
// testdata/js_decrypt_vectors.mjs decrypts them with the AWS Encryption SDK for
// JavaScript.
//   build/tests/envelope/write_coffer_vectors DIR
//   node tests/envelope/testdata/js_decrypt_vectors.mjs DIR
#include <cstdio>
#include <fstream>
#include <string>

#include "common/random.h"
#include "common/stream.h"
#include "envelope/envelope_writer.h"
#include "envelope/raw_aes_keyring.h"

namespace coffer::envelope {
namespace {

Bytes Pattern(size_t n) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(i * 131 + 7);
  return b;
}

bool WriteFile(const std::string& path, ByteView data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
  return out.good();
}

struct Vector {
  const char* name;
  AlgorithmSuite suite;
  uint32_t frame_length;
  size_t size;
  EncryptionContext context;
};

int Main(const std::string& dir) {
  constexpr AlgorithmSuite k0478 = AlgorithmSuite::kAes256GcmHkdfSha512Commit;
  constexpr AlgorithmSuite k0578 = AlgorithmSuite::kAes256GcmHkdfSha512CommitEcdsaP384;
  const EncryptionContext backup = {
      {"coffer:format", "1"}, {"coffer:engine", "sqlite"}, {"coffer:database", "orders"}};
  const Vector vectors[] = {
      {"coffer-0478-frame64-200", k0478, 64, 200, backup},
      {"coffer-0578-frame64-200", k0578, 64, 200, backup},
      {"coffer-0478-frame64-128", k0478, 64, 128, backup},
      {"coffer-0578-frame4096-0", k0578, 4096, 0, {}},
      {"coffer-0478-frame1-5", k0478, 1, 5, {{"a", "b"}}},
      {"coffer-0478-frame1MiB-3000000", k0478, 1 << 20, 3000000, backup},
  };
  SeededRandom random(2024);
  Bytes key(32);
  for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<uint8_t>(i);
  auto keyring = RawAesKeyring::Create("coffer-test", "vector-key",
                                       crypto::SecretBytes(ByteView(key)), random);
  if (!keyring.ok()) return 1;
  for (const Vector& v : vectors) {
    Bytes plain = Pattern(v.size);
    Bytes message;
    EnvelopeWriterOptions o;
    o.suite = v.suite;
    o.frame_length = v.frame_length;
    auto writer = EnvelopeWriter::Create(**keyring, v.context, random, MemorySink(message), o);
    Status s = writer.ok() ? (*writer)->Write(plain) : writer.status();
    if (s.ok()) s = (*writer)->Close();
    if (!s.ok()) {
      std::fprintf(stderr, "%s: %s\n", v.name, s.ToString().c_str());
      return 1;
    }
    if (!WriteFile(dir + "/" + v.name + ".esdk", message) ||
        !WriteFile(dir + "/" + v.name + ".plain", plain)) {
      std::fprintf(stderr, "%s: cannot write into %s\n", v.name, dir.c_str());
      return 1;
    }
    std::printf("%s: %zu bytes\n", v.name, message.size());
  }
  return 0;
}

}  // namespace
}  // namespace coffer::envelope

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  return coffer::envelope::Main(argv[1]);
}
