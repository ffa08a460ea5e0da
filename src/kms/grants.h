#pragma once
// Grants (AWS KMS's CreateGrant, ListGrants, ListRetirableGrants, RetireGrant,
// RevokeGrant): the rules that need no state, shared by the key service and its
// tests. Private to kms/, but for GrantAllows and GrantPermitsChild (kms/types.h).
//
// A grant token is the base64 text of: version (1 byte), the key's uuid (16
// bytes), the grant id (32 bytes) and 32 random bytes. The key service keeps
// only its SHA-256, so what the state store holds is no token; the uuid and the
// grant id in a token say which grant to compare it with.
#include <optional>
#include <string>
#include <string_view>

#include "common/random.h"
#include "common/status.h"
#include "kms/types.h"

namespace coffer::kms {

inline constexpr uint8_t kGrantTokenVersion = 0x01;
inline constexpr size_t kGrantIdBytes = 32;  // shown as 64 hex digits
// At most this many pairs in a constraint (kms-service-2, GrantConstraints).
inline constexpr size_t kMaxConstraintPairs = 8;

// The checks of CreateGrant that the model does not make, in AWS's words where
// they are known: at least one operation, not CreateGrant alone, operations a
// symmetric encryption key has, one kind of constraint of at most 8 pairs.
Status CheckCreateGrant(const CreateGrantRequest& request);

struct GrantTokenParts {
  std::string key_uuid;
  std::string grant_id;  // 64 hex
};
std::string NewGrantToken(std::string_view key_uuid, std::string_view grant_id, Random& random);
// nullopt when `token` is not a grant token coffer made.
std::optional<GrantTokenParts> ParseGrantToken(std::string_view token);
// SHA-256 of a token, in hex: what the state store keeps of it.
std::string GrantTokenDigest(std::string_view token);

// A grant id as KMS makes them: 64 lower-case hex digits.
bool IsGrantId(std::string_view grant_id);

}  // namespace coffer::kms
