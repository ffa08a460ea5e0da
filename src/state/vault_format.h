#pragma once
// Constants of the sealed-value format and of the root key record, as written
// down in docs/formats/sealed-values.md. Changing any of them changes the
// on-disk format: add a new version instead.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "crypto/aes_gcm.h"

namespace coffer::state::vault_format {

// sealed = version ‖ iv ‖ ciphertext ‖ tag; aad = version ‖ context.
inline constexpr uint8_t kSealedValueVersion = 0x01;
inline constexpr size_t kSealedValueIvOffset = 1;
inline constexpr size_t kSealedValueHeaderSize = 1 + crypto::kAesGcmIvSize;
inline constexpr size_t kSealedValueMinSize = kSealedValueHeaderSize + crypto::kAesGcmTagSize;

// HKDF-SHA256 info for the sealing key (no salt).
inline constexpr std::string_view kSealKeyInfo = "coffer vault seal v1";
inline constexpr size_t kRootKeySize = 32;

// The root key record in the state store.
inline constexpr std::string_view kMetaTable = "meta";
inline constexpr std::string_view kKindKey = "root_key.kind";
inline constexpr std::string_view kParamsKey = "root_key.params";
inline constexpr std::string_view kCheckKey = "root_key.check";
inline constexpr std::string_view kCheckContext = "vault/check";
inline constexpr std::string_view kCheckPlaintext = "coffer root key check v1";

// Passphrase provider parameters: "scrypt$N=<n>$r=<r>$p=<p>$salt=<base64>".
inline constexpr std::string_view kScryptParamsTag = "scrypt";
inline constexpr size_t kScryptSaltSize = 16;

}  // namespace coffer::state::vault_format
