#pragma once
// The persistent records of the KMS engine and their encoding in the state
// store. Private to kms/.
//
// Tables (state store namespaces):
//   kms.keys      <uuid>                 KeyRecord (JSON)
//   kms.material  <uuid>/<version %010u> MaterialRecord (JSON, material sealed by the Vault)
//   kms.policies  <uuid>                 the key policy, verbatim
//   kms.tags      <uuid>                 {"TagKey": "TagValue", …} (JSON)
//   kms.aliases   <alias name>           AliasRecord (JSON)
//   kms.grants    <uuid>/<grant id>      GrantRecord (JSON)
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "common/clock.h"
#include "common/status.h"
#include "kms/types.h"

namespace coffer::kms {

inline constexpr char kKeysTable[] = "kms.keys";
inline constexpr char kMaterialTable[] = "kms.material";
inline constexpr char kPoliciesTable[] = "kms.policies";
inline constexpr char kTagsTable[] = "kms.tags";
inline constexpr char kAliasesTable[] = "kms.aliases";
inline constexpr char kGrantsTable[] = "kms.grants";

struct KeyRecord {
  std::string id;  // uuid
  TimePoint creation_date;
  std::string description;
  KeyState state = KeyState::kEnabled;
  std::optional<TimePoint> deletion_date;
  std::optional<int> pending_window_days;
  bool rotation_enabled = false;
  int rotation_period_days = 365;
  std::optional<TimePoint> next_rotation_date;
  int on_demand_rotations = 0;
  uint32_t current_version = 1;
  std::string current_material_id;
  // When the key policy was last saved (CreateKey, PutKeyPolicy); unset in
  // records written before it was kept.
  std::optional<TimePoint> policy_saved;
};

struct MaterialRecord {
  uint32_t version = 0;
  std::string material_id;  // 64 hex
  TimePoint created;
  std::optional<std::string> rotation_type;  // absent for the original material
  Bytes sealed;
};

struct AliasRecord {
  std::string name;
  std::string target;  // uuid
  TimePoint creation_date;
  TimePoint last_updated_date;
};

// A grant of key `key` (uuid). Its grant tokens are not kept, only their SHA-256:
// RetireGrant compares the token it is given against them.
struct GrantRecord {
  std::string key;       // uuid
  std::string grant_id;  // 64 hex
  std::optional<std::string> name;
  TimePoint creation_date;
  std::string grantee_principal;
  std::optional<std::string> retiring_principal;
  std::vector<std::string> operations;
  std::optional<GrantConstraints> constraints;
  // Hex, oldest first: every token given for the grant (a named CreateGrant
  // retried gets another; all of them name it), the newest kMaxGrantTokens.
  std::vector<std::string> token_sha256s;
};
inline constexpr size_t kMaxGrantTokens = 32;

std::string EncodeKeyRecord(const KeyRecord& r);
Result<KeyRecord> DecodeKeyRecord(std::string_view text);
std::string EncodeMaterialRecord(const MaterialRecord& r);
Result<MaterialRecord> DecodeMaterialRecord(std::string_view text);
std::string EncodeAliasRecord(const AliasRecord& r);
Result<AliasRecord> DecodeAliasRecord(std::string_view text);
std::string EncodeGrantRecord(const GrantRecord& r);
Result<GrantRecord> DecodeGrantRecord(std::string_view text);
std::string EncodeTags(const std::map<std::string, std::string>& tags);
Result<std::map<std::string, std::string>> DecodeTags(std::string_view text);

std::string MaterialKey(std::string_view uuid, uint32_t version);
std::string MaterialSealContext(std::string_view uuid, uint32_t version);

// A key policy document: the grammar of the policy language (policy/), with
// the rules of key policies (every statement names a principal and a resource).
// Errors are MalformedPolicyDocumentException saying what is wrong and where.
Status CheckPolicyDocument(std::string_view policy);

}  // namespace coffer::kms
