#include "common/random.h"

#include <sys/random.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "common/bytes.h"

namespace coffer {

uint64_t Random::NextU64() {
  uint8_t b[8];
  Fill(b);
  uint64_t v;
  std::memcpy(&v, b, sizeof v);
  return v;
}

std::string Random::Uuid() {
  uint8_t b[16];
  Fill(b);
  b[6] = (b[6] & 0x0f) | 0x40;  // version 4
  b[8] = (b[8] & 0x3f) | 0x80;  // RFC 4122 variant
  return FormatUuid(b);
}

std::string Random::TimeOrderedUuid(uint64_t unix_ms) {
  uint8_t b[16];
  Fill(b);
  for (int i = 0; i < 6; ++i) b[i] = static_cast<uint8_t>(unix_ms >> (40 - 8 * i));
  b[6] = (b[6] & 0x0f) | 0x70;  // version 7
  b[8] = (b[8] & 0x3f) | 0x80;  // RFC 9562 variant
  return FormatUuid(b);
}

std::string Random::String(size_t n, std::string_view alphabet) {
  std::string out;
  out.reserve(n);
  const uint32_t size = static_cast<uint32_t>(alphabet.size());
  const uint32_t limit = 256 - 256 % size;  // reject bytes that would bias
  while (out.size() < n) {
    uint8_t buf[64];
    Fill(buf);
    for (uint8_t byte : buf) {
      if (byte >= limit) continue;
      out.push_back(alphabet[byte % size]);
      if (out.size() == n) break;
    }
  }
  return out;
}

void SystemRandom::Fill(std::span<uint8_t> out) {
  size_t done = 0;
  while (done < out.size()) {
    ssize_t n = getrandom(out.data() + done, out.size() - done, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      std::fprintf(stderr, "coffer: getrandom failed: %s\n", std::strerror(errno));
      std::abort();
    }
    done += static_cast<size_t>(n);
  }
}

namespace {
uint64_t SplitMix64(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
}  // namespace

SeededRandom::SeededRandom(uint64_t seed) {
  for (auto& s : s_) s = SplitMix64(seed);
}

uint64_t SeededRandom::Next() {
  const uint64_t result = Rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = Rotl(s_[3], 45);
  return result;
}

void SeededRandom::Fill(std::span<uint8_t> out) {
  std::lock_guard lock(mu_);
  size_t i = 0;
  while (i < out.size()) {
    uint64_t v = Next();
    for (int k = 0; k < 8 && i < out.size(); ++k, ++i) out[i] = static_cast<uint8_t>(v >> (8 * k));
  }
}

}  // namespace coffer
