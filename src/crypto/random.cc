#include "crypto/random.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstring>

#include "crypto/openssl_util.h"

namespace coffer::crypto {
namespace {

// Small requests (nonces, ids) are served from a per-thread buffer filled by
// RAND_bytes 4 KiB at a time: each RAND_bytes call takes the DRBG's lock and
// costs more than the few bytes it returns. Bytes are handed out once and wiped
// as they go. A fork() makes the child discard its copy of the buffer, so parent
// and child never hand out the same bytes.
constexpr size_t kBufferSize = 4096;
constexpr size_t kMaxBuffered = 64;

std::atomic<uint64_t> fork_generation{0};

void OnForkChild() { fork_generation.fetch_add(1, std::memory_order_relaxed); }

void DrbgBytes(uint8_t* out, size_t size) {
  // RAND_bytes takes an int length.
  constexpr size_t kMaxChunk = INT_MAX;
  while (size > 0) {
    const size_t n = std::min(size, kMaxChunk);
    if (RAND_bytes(out, static_cast<int>(n)) != 1) internal::OpenSslFatal("RAND_bytes");
    out += n;
    size -= n;
  }
}

struct ThreadBuffer {
  uint8_t bytes[kBufferSize];
  size_t used = kBufferSize;  // empty
  uint64_t generation = 0;
  ~ThreadBuffer() { OPENSSL_cleanse(bytes, sizeof(bytes)); }
};

void BufferedBytes(uint8_t* out, size_t size) {
  static const bool registered = [] {
    return pthread_atfork(nullptr, nullptr, OnForkChild) == 0;
  }();
  if (!registered) internal::OpenSslFatal("pthread_atfork");
  thread_local ThreadBuffer buffer;
  const uint64_t generation = fork_generation.load(std::memory_order_relaxed);
  if (buffer.generation != generation || kBufferSize - buffer.used < size) {
    DrbgBytes(buffer.bytes, kBufferSize);
    buffer.used = 0;
    buffer.generation = generation;
  }
  std::memcpy(out, buffer.bytes + buffer.used, size);
  OPENSSL_cleanse(buffer.bytes + buffer.used, size);
  buffer.used += size;
}

}  // namespace

void OpenSslRandom::Fill(std::span<uint8_t> out) {
  if (out.empty()) return;
  if (out.size() <= kMaxBuffered) {
    BufferedBytes(out.data(), out.size());
  } else {
    DrbgBytes(out.data(), out.size());
  }
}

SecretBytes RandomSecret(Random& random, size_t size) {
  SecretBytes secret(size);
  random.Fill(RevealSecretMutable(secret));
  return secret;
}

}  // namespace coffer::crypto
