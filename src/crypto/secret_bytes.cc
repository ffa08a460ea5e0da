#include "crypto/secret_bytes.h"

#include <openssl/crypto.h>
#include <string.h>

#include <utility>

namespace coffer::crypto {

SecretBytes::SecretBytes(size_t size) : data_(size, 0) {}

SecretBytes::SecretBytes(ByteView data) : data_(data.begin(), data.end()) {}

SecretBytes::SecretBytes(std::string_view data) : data_(data.begin(), data.end()) {}

SecretBytes::SecretBytes(const SecretBytes& other) : data_(other.data_) {}

SecretBytes& SecretBytes::operator=(const SecretBytes& other) {
  if (this != &other) {
    // Wipe first: assigning into the vector could reallocate and free the
    // old buffer with the old secret still in it.
    Wipe();
    data_ = other.data_;
  }
  return *this;
}

SecretBytes::SecretBytes(SecretBytes&& other) noexcept : data_(std::move(other.data_)) {
  other.data_.clear();
}

SecretBytes& SecretBytes::operator=(SecretBytes&& other) noexcept {
  if (this != &other) {
    Wipe();
    data_ = std::move(other.data_);
    other.data_.clear();
  }
  return *this;
}

SecretBytes::~SecretBytes() { Wipe(); }

void SecretBytes::Wipe() {
  if (!data_.empty()) OPENSSL_cleanse(data_.data(), data_.size());
  // Release the buffer too, so no capacity holding old bytes outlives the wipe.
  std::vector<uint8_t>().swap(data_);
}

bool operator==(const SecretBytes& a, const SecretBytes& b) {
  return ConstantTimeEquals(a.data_, b.data_);
}

ByteView RevealSecret(const SecretBytes& s) { return s.data_; }

std::span<uint8_t> RevealSecretMutable(SecretBytes& s) { return s.data_; }

bool ConstantTimeEquals(ByteView a, ByteView b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

void WipeString(std::string& s) {
  if (!s.empty()) ::explicit_bzero(s.data(), s.size());
  s.clear();
}

}  // namespace coffer::crypto
