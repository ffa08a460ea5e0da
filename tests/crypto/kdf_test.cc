#include "crypto/kdf.h"

#include <gtest/gtest.h>

#include <string_view>

#include "test_util.h"

namespace coffer::crypto {
namespace {

using testing::Hex;

Result<SecretBytes> Derive(std::string_view passphrase, std::string_view salt, uint64_t n,
                           uint32_t r, uint32_t p, size_t length = 64) {
  return Scrypt(SecretBytes(passphrase), AsBytes(salt), ScryptParams{.n = n, .r = r, .p = p},
                length);
}

TEST(ScryptTest, Rfc7914EmptyInputs) {
  // RFC 7914 section 12, first vector: P = "", S = "", N = 16, r = 1, p = 1.
  Result<SecretBytes> key = Derive("", "", 16, 1, 1);
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  EXPECT_EQ(Hex(*key),
            "77d6576238657b203b19ca42c18a0497f16b4844e3074ae8dfdffa3fede21442"
            "fcd0069ded0948f8326a753a0fc81f17e8d3e0fb2e0d3628cf35e20c38d18906");
}

TEST(ScryptTest, Rfc7914PasswordNaCl) {
  // RFC 7914 section 12, second vector: P = "password", S = "NaCl", N = 1024,
  // r = 8, p = 16.
  Result<SecretBytes> key = Derive("password", "NaCl", 1024, 8, 16);
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  EXPECT_EQ(Hex(*key),
            "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162"
            "2eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640");
}

TEST(ScryptTest, OutputLengthIsAPrefix) {
  // The final step is PBKDF2 with one iteration, so shorter outputs are
  // prefixes of longer ones.
  Result<SecretBytes> key = Derive("", "", 16, 1, 1, 20);
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(Hex(*key), "77d6576238657b203b19ca42c18a0497f16b4844");
}

TEST(ScryptTest, DefaultParametersAreAccepted) {
  // Runs the real cost (N = 2^17, r = 8: 128 MiB), as a server would.
  const ScryptParams params;
  EXPECT_EQ(params.n, uint64_t{1} << 17);
  Result<SecretBytes> key =
      Scrypt(SecretBytes(std::string_view("passphrase")), AsBytes("salt"), params, 32);
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  EXPECT_EQ(key->size(), 32u);
}

TEST(ScryptTest, InputsChangeTheOutput) {
  Result<SecretBytes> base = Derive("passphrase", "salt", 16, 1, 1);
  ASSERT_TRUE(base.ok());
  EXPECT_EQ(*Derive("passphrase", "salt", 16, 1, 1), *base);  // deterministic
  EXPECT_NE(*Derive("passphrasf", "salt", 16, 1, 1), *base);
  EXPECT_NE(*Derive("passphrase", "salu", 16, 1, 1), *base);
  EXPECT_NE(*Derive("passphrase", "salt", 32, 1, 1), *base);
  EXPECT_NE(*Derive("passphrase", "salt", 16, 2, 1), *base);
  EXPECT_NE(*Derive("passphrase", "salt", 16, 1, 2), *base);
}

TEST(ScryptTest, RejectsBadParameters) {
  auto code = [](uint64_t n, uint32_t r, uint32_t p, size_t length = 32) {
    return Derive("pw", "salt", n, r, p, length).status().code();
  };
  // N must be a power of two greater than 1.
  EXPECT_EQ(code(0, 8, 1), StatusCode::kInvalidArgument);
  EXPECT_EQ(code(1, 8, 1), StatusCode::kInvalidArgument);
  EXPECT_EQ(code(3, 8, 1), StatusCode::kInvalidArgument);
  EXPECT_EQ(code(1000, 8, 1), StatusCode::kInvalidArgument);
  // r and p must be positive, r * p < 2^30.
  EXPECT_EQ(code(16, 0, 1), StatusCode::kInvalidArgument);
  EXPECT_EQ(code(16, 1, 0), StatusCode::kInvalidArgument);
  EXPECT_EQ(code(16, 1 << 15, 1 << 15), StatusCode::kInvalidArgument);
  // N < 2^(16 r).
  EXPECT_EQ(code(uint64_t{1} << 16, 1, 1), StatusCode::kInvalidArgument);
  // More than 1 GiB: 128 * r * N with N = 2^21, r = 8 is 2 GiB.
  EXPECT_EQ(code(uint64_t{1} << 21, 8, 1), StatusCode::kInvalidArgument);
  EXPECT_EQ(code(uint64_t{1} << 62, 8, 1), StatusCode::kInvalidArgument);
  EXPECT_EQ(code(16, 1 << 20, 1), StatusCode::kInvalidArgument);  // 128 r (N + 2) > 2 GiB
  EXPECT_EQ(code(16, 8, 1 << 21), StatusCode::kInvalidArgument);  // 128 r p = 2 GiB
  // An empty output.
  EXPECT_EQ(code(16, 1, 1, 0), StatusCode::kInvalidArgument);
  // The limits themselves are fine.
  EXPECT_EQ(code(uint64_t{1} << 15, 1, 1), StatusCode::kOk);
  EXPECT_EQ(code(2, 1, 1), StatusCode::kOk);
}

}  // namespace
}  // namespace coffer::crypto
