#pragma once
// Random: the only source of randomness in coffer. Logic takes a Random& so
// that tests can use a SeededRandom and get the same ids every run.
//
// SystemRandom draws from the kernel CSPRNG (getrandom(2)) and is what a
// server uses; SeededRandom is deterministic and for tests only.
// Implementations are safe for concurrent use.
#include <cstdint>
#include <mutex>
#include <span>
#include <string>

namespace coffer {

class Random {
 public:
  virtual ~Random() = default;
  // Fills `out` with random bytes. Aborts the process if the source fails:
  // running on without randomness would be worse than stopping.
  virtual void Fill(std::span<uint8_t> out) = 0;

  uint64_t NextU64();
  // A random version-4 UUID, lower case: "1234abcd-…".
  std::string Uuid();
  // A version-7 UUID (RFC 9562): `unix_ms` (milliseconds since the epoch, 48
  // bits) first, then 74 random bits. Ids made later sort later (to the
  // millisecond), so an index keyed by them grows at its end instead of
  // touching a random page per id.
  std::string TimeOrderedUuid(uint64_t unix_ms);
  // `n` characters from `alphabet`, chosen without modulo bias.
  std::string String(size_t n, std::string_view alphabet);
};

class SystemRandom final : public Random {
 public:
  void Fill(std::span<uint8_t> out) override;
};

// xoshiro256** seeded by splitmix64: deterministic, NOT cryptographic.
class SeededRandom final : public Random {
 public:
  explicit SeededRandom(uint64_t seed);
  void Fill(std::span<uint8_t> out) override;

 private:
  uint64_t Next();
  std::mutex mu_;
  uint64_t s_[4];
};

}  // namespace coffer
