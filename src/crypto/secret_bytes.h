#pragma once
// SecretBytes: key material, data keys, passphrases. The bytes are wiped
// (OPENSSL_cleanse) when the object is destroyed or overwritten, there is no
// operator<< and no formatter, no implicit conversion, and equality is
// constant-time. Raw access goes through one explicit, greppable call:
// RevealSecret().
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "common/bytes.h"

namespace coffer::crypto {

class SecretBytes {
 public:
  SecretBytes() = default;
  explicit SecretBytes(size_t size);            // zero-filled
  explicit SecretBytes(ByteView data);          // copies
  explicit SecretBytes(std::string_view data);  // copies
  SecretBytes(const SecretBytes& other);
  SecretBytes& operator=(const SecretBytes& other);
  SecretBytes(SecretBytes&& other) noexcept;
  SecretBytes& operator=(SecretBytes&& other) noexcept;
  ~SecretBytes();

  size_t size() const { return data_.size(); }
  bool empty() const { return data_.empty(); }

  // Constant-time in the length of the shorter operand.
  friend bool operator==(const SecretBytes& a, const SecretBytes& b);

  friend ByteView RevealSecret(const SecretBytes& s);
  friend std::span<uint8_t> RevealSecretMutable(SecretBytes& s);

 private:
  void Wipe();
  std::vector<uint8_t> data_;
};

// The only ways to read or write the bytes of a secret.
ByteView RevealSecret(const SecretBytes& s);

// Overwrites a string's bytes (explicit_bzero) and empties it: for the texts a
// secret passed through (a base64 data key in a JSON reply).
void WipeString(std::string& s);
std::span<uint8_t> RevealSecretMutable(SecretBytes& s);

// Constant-time comparison of two byte strings of equal length; false if the
// lengths differ (the length is not secret).
bool ConstantTimeEquals(ByteView a, ByteView b);

}  // namespace coffer::crypto
