#include "crypto/random.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
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

// Small draws come from a per-thread buffer: a forked child must not hand out the
// bytes its parent will hand out next.
TEST(OpenSslRandomTest, ParentAndForkedChildDrawDifferentBytes) {
  crypto::OpenSslRandom random;
  std::array<uint8_t, 16> primed{};
  random.Fill(primed);  // the buffer now holds bytes the parent has not used yet
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    std::array<uint8_t, 16> drawn{};
    random.Fill(drawn);
    ssize_t n = ::write(fds[1], drawn.data(), drawn.size());
    ::_exit(n == static_cast<ssize_t>(drawn.size()) ? 0 : 1);
  }
  std::array<uint8_t, 16> parent{};
  random.Fill(parent);
  std::array<uint8_t, 16> from_child{};
  ASSERT_EQ(::read(fds[0], from_child.data(), from_child.size()),
            static_cast<ssize_t>(from_child.size()));
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ::close(fds[0]);
  ::close(fds[1]);
  EXPECT_NE(parent, from_child);
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
