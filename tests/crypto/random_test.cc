#include "crypto/random.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <thread>
#include <vector>

#include "test_util.h"

namespace coffer::crypto {
namespace {

using testing::Hex;

TEST(OpenSslRandomTest, DrawsAreDistinct) {
  OpenSslRandom random;
  // 64 draws of 128 bits: a repeat would mean a broken generator (chance of a
  // collision from a working one is about 2^-116).
  std::set<Bytes> seen;
  for (int i = 0; i < 64; ++i) {
    Bytes draw(16);
    random.Fill(draw);
    EXPECT_TRUE(seen.insert(draw).second) << "repeated draw " << HexEncode(draw);
  }
}

TEST(OpenSslRandomTest, FillsTheWholeBuffer) {
  OpenSslRandom random;
  // A byte left at its initial value in every one of 8 draws would suggest a
  // short write: for a working generator the chance is 8 * 4096 * 2^-64.
  std::vector<bool> changed(4096, false);
  for (int round = 0; round < 8; ++round) {
    Bytes buffer(4096, 0);
    random.Fill(buffer);
    for (size_t i = 0; i < buffer.size(); ++i) {
      if (buffer[i] != 0) changed[i] = true;
    }
  }
  EXPECT_TRUE(std::all_of(changed.begin(), changed.end(), [](bool b) { return b; }));
}

TEST(OpenSslRandomTest, EmptyFillIsANoOp) {
  OpenSslRandom random;
  random.Fill(std::span<uint8_t>());
}

TEST(OpenSslRandomTest, WorksThroughTheRandomInterface) {
  OpenSslRandom openssl;
  Random& random = openssl;
  const std::string a = random.Uuid();
  const std::string b = random.Uuid();
  EXPECT_EQ(a.size(), 36u);
  EXPECT_NE(a, b);
}

TEST(OpenSslRandomTest, SafeFromManyThreads) {
  OpenSslRandom random;
  std::vector<Bytes> draws(4);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < draws.size(); ++t) {
    threads.emplace_back([&random, &draws, t] {
      Bytes buffer(32);
      for (int i = 0; i < 100; ++i) random.Fill(buffer);
      draws[t] = buffer;
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(std::set<Bytes>(draws.begin(), draws.end()).size(), draws.size());
}

TEST(RandomSecretTest, HasTheRequestedSize) {
  OpenSslRandom random;
  for (size_t size : {0u, 1u, 12u, 16u, 32u, 64u, 1000u}) {
    EXPECT_EQ(RandomSecret(random, size).size(), size);
  }
}

TEST(RandomSecretTest, DrawsFromTheGivenSource) {
  // Two generators with the same seed give the same secrets: RandomSecret
  // takes its bytes from the Random it is handed, nothing else.
  SeededRandom a(42);
  SeededRandom b(42);
  const SecretBytes first = RandomSecret(a, 32);
  EXPECT_EQ(first, RandomSecret(b, 32));
  EXPECT_NE(first, RandomSecret(a, 32));
  EXPECT_NE(Hex(first), std::string(64, '0'));
}

TEST(RandomSecretTest, OpenSslSecretsAreDistinct) {
  OpenSslRandom random;
  EXPECT_NE(RandomSecret(random, 32), RandomSecret(random, 32));
}

}  // namespace
}  // namespace coffer::crypto
