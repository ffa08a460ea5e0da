#pragma once
// Helpers shared by the crypto tests: known-answer vectors are written in hex.
#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "common/bytes.h"
#include "crypto/secret_bytes.h"

namespace coffer::crypto::testing {

// Decodes a hex constant of a test vector; a malformed constant fails the test.
inline Bytes FromHex(std::string_view hex) {
  Result<Bytes> bytes = HexDecode(hex);
  EXPECT_TRUE(bytes.ok()) << "bad hex in a test vector: " << hex;
  return bytes.ok() ? *bytes : Bytes();
}

inline SecretBytes SecretFromHex(std::string_view hex) { return SecretBytes(FromHex(hex)); }

// Tests compare hex so that a mismatch prints readably.
inline std::string Hex(const SecretBytes& s) { return HexEncode(RevealSecret(s)); }

}  // namespace coffer::crypto::testing
