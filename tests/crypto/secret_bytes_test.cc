#include "crypto/secret_bytes.h"

#include <gtest/gtest.h>

#include <ostream>
#include <string_view>
#include <type_traits>
#include <utility>

#include "test_util.h"

namespace coffer::crypto {
namespace {

using testing::Hex;

// The contract of the type, checked at compile time: no implicit conversion
// in either direction and no way to stream a secret.
static_assert(!std::is_convertible_v<SecretBytes, ByteView>);
static_assert(!std::is_convertible_v<ByteView, SecretBytes>);
static_assert(!std::is_convertible_v<std::string_view, SecretBytes>);
static_assert(!std::is_convertible_v<size_t, SecretBytes>);
template <typename T>
concept Streamable = requires(std::ostream& os, const T& t) {
  os << t;
};
static_assert(!Streamable<SecretBytes>);
static_assert(std::is_nothrow_move_constructible_v<SecretBytes>);
static_assert(std::is_nothrow_move_assignable_v<SecretBytes>);

TEST(SecretBytesTest, DefaultIsEmpty) {
  SecretBytes s;
  EXPECT_TRUE(s.empty());
  EXPECT_EQ(s.size(), 0u);
  EXPECT_TRUE(RevealSecret(s).empty());
}

TEST(SecretBytesTest, SizeConstructorZeroFills) {
  SecretBytes s(33);
  ASSERT_EQ(s.size(), 33u);
  for (uint8_t b : RevealSecret(s)) EXPECT_EQ(b, 0);
}

TEST(SecretBytesTest, CopiesItsInput) {
  Bytes raw = {1, 2, 3};
  SecretBytes from_view{ByteView(raw)};
  raw[0] = 9;  // the secret holds its own copy
  EXPECT_EQ(Hex(from_view), "010203");

  std::string text = "key";
  SecretBytes from_string{std::string_view(text)};
  text[0] = 'X';
  EXPECT_EQ(ToString(RevealSecret(from_string)), "key");
}

TEST(SecretBytesTest, CopyIsIndependent) {
  SecretBytes a(std::string_view("secret"));
  SecretBytes b(a);
  EXPECT_EQ(a, b);
  RevealSecretMutable(b)[0] = 'S';
  EXPECT_EQ(ToString(RevealSecret(a)), "secret");
  EXPECT_EQ(ToString(RevealSecret(b)), "Secret");

  SecretBytes c(std::string_view("a much longer value than before"));
  c = a;
  EXPECT_EQ(c, a);
  EXPECT_EQ(c.size(), 6u);
  RevealSecretMutable(c)[1] = 'E';
  EXPECT_EQ(ToString(RevealSecret(a)), "secret");
}

TEST(SecretBytesTest, SelfAssignmentKeepsTheValue) {
  SecretBytes a(std::string_view("self"));
  SecretBytes& alias = a;
  a = alias;
  EXPECT_EQ(ToString(RevealSecret(a)), "self");
  a = std::move(alias);
  EXPECT_EQ(ToString(RevealSecret(a)), "self");
}

TEST(SecretBytesTest, MoveEmptiesTheSource) {
  SecretBytes a(std::string_view("moved"));
  SecretBytes b(std::move(a));
  EXPECT_EQ(ToString(RevealSecret(b)), "moved");
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move): the state is part of the contract

  SecretBytes c(std::string_view("old value"));
  c = std::move(b);
  EXPECT_EQ(ToString(RevealSecret(c)), "moved");
  EXPECT_TRUE(b.empty());  // NOLINT(bugprone-use-after-move)
}

TEST(SecretBytesTest, MutableRevealWritesThrough) {
  SecretBytes s(4);
  auto bytes = RevealSecretMutable(s);
  ASSERT_EQ(bytes.size(), 4u);
  bytes[3] = 0xff;
  EXPECT_EQ(Hex(s), "000000ff");
}

TEST(SecretBytesTest, Equality) {
  const SecretBytes a(std::string_view("abcd"));
  EXPECT_TRUE(a == SecretBytes(std::string_view("abcd")));
  EXPECT_FALSE(a == SecretBytes(std::string_view("abce")));  // last byte differs
  EXPECT_FALSE(a == SecretBytes(std::string_view("xbcd")));  // first byte differs
  EXPECT_FALSE(a == SecretBytes(std::string_view("abc")));   // a prefix
  EXPECT_FALSE(a == SecretBytes(std::string_view("abcde")));
  EXPECT_FALSE(a == SecretBytes());
  EXPECT_TRUE(SecretBytes() == SecretBytes());
  EXPECT_TRUE(SecretBytes() == SecretBytes(size_t{0}));
  EXPECT_TRUE(a != SecretBytes(std::string_view("ABCD")));
}

TEST(ConstantTimeEqualsTest, ComparesContentAndLength) {
  EXPECT_TRUE(ConstantTimeEquals(AsBytes("same"), AsBytes("same")));
  EXPECT_FALSE(ConstantTimeEquals(AsBytes("same"), AsBytes("sane")));
  EXPECT_TRUE(ConstantTimeEquals(ByteView(), ByteView()));
  EXPECT_TRUE(ConstantTimeEquals(AsBytes(""), ByteView()));
}

TEST(ConstantTimeEqualsTest, DifferentLengthsAreNeverEqual) {
  // A prefix must not compare equal even though the common bytes match.
  EXPECT_FALSE(ConstantTimeEquals(AsBytes("abc"), AsBytes("abcd")));
  EXPECT_FALSE(ConstantTimeEquals(AsBytes("abcd"), AsBytes("abc")));
  EXPECT_FALSE(ConstantTimeEquals(AsBytes("a"), ByteView()));
  EXPECT_FALSE(ConstantTimeEquals(ByteView(), AsBytes("a")));
}

TEST(ConstantTimeEqualsTest, EveryDifferingBitIsSeen) {
  const Bytes base(64, 0x5a);
  for (size_t bit = 0; bit < base.size() * 8; ++bit) {
    Bytes other = base;
    other[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    EXPECT_FALSE(ConstantTimeEquals(base, other)) << "bit " << bit;
  }
}

}  // namespace
}  // namespace coffer::crypto
