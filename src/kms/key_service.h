#pragma once
// KeyService: the KMS engine. Customer managed symmetric keys (SYMMETRIC_DEFAULT,
// ENCRYPT_DECRYPT) with AWS KMS's semantics, limits, key states and error texts
// (shared reference kms.md): keys, aliases, tags, key policies, scheduled
// deletion, rotation, and the cryptographic operations.
//
// The engine does no authentication and no authorization: api/ calls it with
// requests it has already authorized. Key ids in requests take the forms AWS's
// API reference gives for each operation: DescribeKey and the cryptographic
// operations take a key id, key ARN, alias name or alias ARN; every other
// operation a key id or key ARN only, and answers an alias with
// NotFoundException "Invalid keyId '<id>'". Responses name keys by ARN where AWS
// does.
//
// State lives in the StateStore; key material is sealed by the Vault. Time
// comes from the Clock: RunScheduledWork() deletes keys whose DeletionDate has
// passed and rotates keys whose rotation is due, as of Clock::Now().
//
// Thread safety: all methods may be called concurrently.
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "common/clock.h"
#include "common/random.h"
#include "common/status.h"
#include "kms/types.h"
#include "policy/policy.h"
#include "state/root_key.h"
#include "state/state_store.h"

namespace coffer::kms {

// True when `key_id` names an alias: "alias/…" or an ARN of an alias.
bool NamesAlias(std::string_view key_id);

// Which forms of key id an operation takes (see above).
enum class KeyIdForms {
  kAliasesToo,  // DescribeKey, Encrypt, Decrypt, ReEncrypt, GenerateDataKey*
  kKeyOnly,     // every other operation
};

struct KmsOptions {
  std::string account_id = "111122223333";
  std::string region = "us-east-1";
  int max_on_demand_rotations = 25;
  int max_aliases_per_key = 50;
  int max_tags_per_key = 50;
  int max_grants_per_key = 50000;
  size_t max_policy_bytes = 32768;
  // How GetKeyPolicy shows the stored policy, saved at the given time: IAM's view
  // of its principals (iam::IdentityService::PolicyAsShown). Unset: as stored.
  std::function<Result<std::string>(const std::string& text, std::optional<TimePoint> saved)>
      show_policy;
};

class KeyService {
 public:
  static Result<std::unique_ptr<KeyService>> Create(KmsOptions options, state::StateStore& store,
                                                    const state::Vault& vault, Clock& clock,
                                                    Random& random);
  ~KeyService();

  // Keys
  Result<KeyMetadata> CreateKey(const CreateKeyRequest& request);
  Result<KeyMetadata> DescribeKey(std::string_view key_id);
  Result<ListKeysResponse> ListKeys(std::optional<int> limit, std::optional<std::string> marker);
  Status UpdateKeyDescription(std::string_view key_id, std::string_view description);
  Status EnableKey(std::string_view key_id);
  Status DisableKey(std::string_view key_id);
  Result<ScheduleKeyDeletionResponse> ScheduleKeyDeletion(
      std::string_view key_id, std::optional<int> pending_window_in_days);
  // Returns the key ARN.
  Result<std::string> CancelKeyDeletion(std::string_view key_id);

  // Aliases
  Status CreateAlias(std::string_view alias_name, std::string_view target_key_id);
  Status UpdateAlias(std::string_view alias_name, std::string_view target_key_id);
  Status DeleteAlias(std::string_view alias_name);
  Result<ListAliasesResponse> ListAliases(std::optional<std::string> key_id,
                                          std::optional<int> limit,
                                          std::optional<std::string> marker);

  // Tags
  Status TagResource(std::string_view key_id, const std::vector<Tag>& tags);
  Status UntagResource(std::string_view key_id, const std::vector<std::string>& tag_keys);
  Result<ListResourceTagsResponse> ListResourceTags(std::string_view key_id,
                                                    std::optional<int> limit,
                                                    std::optional<std::string> marker);

  // Key policies (the one policy of a key is named "default")
  Result<std::string> GetKeyPolicy(std::string_view key_id, std::optional<std::string> policy_name);
  // The key's policy with when it was saved, for authorizing a call on the key
  // (policy::RequestContext::policy_saved). The checks and errors of GetKeyPolicy.
  Result<policy::SavedPolicy> KeyPolicyOf(std::string_view key_id);
  // What condition keys say of the key itself, for authorizing a call on it:
  // its tags (aws:ResourceTag/<k>) when `tags`, the names of its aliases
  // (kms:ResourceAliases) when `aliases`. The checks and errors of KeyPolicyOf.
  struct ResourceFacts {
    std::map<std::string, std::string> tags;
    std::vector<std::string> aliases;  // "alias/…", sorted
  };
  Result<ResourceFacts> ResourceFactsOf(std::string_view key_id, bool tags, bool aliases);
  Status PutKeyPolicy(std::string_view key_id, std::optional<std::string> policy_name,
                      std::string_view policy);
  Result<std::vector<std::string>> ListKeyPolicies(std::string_view key_id);

  // Rotation
  Status EnableKeyRotation(std::string_view key_id, std::optional<int> rotation_period_in_days);
  Status DisableKeyRotation(std::string_view key_id);
  Result<KeyRotationStatus> GetKeyRotationStatus(std::string_view key_id);
  // Returns the key ARN.
  Result<std::string> RotateKeyOnDemand(std::string_view key_id);
  // The rotations, oldest first; with `all_key_material` (IncludeKeyMaterial
  // ALL_KEY_MATERIAL) the key's first material before them.
  Result<ListKeyRotationsResponse> ListKeyRotations(std::string_view key_id,
                                                    std::optional<int> limit,
                                                    std::optional<std::string> marker,
                                                    bool all_key_material = false);

  // Cryptography
  Result<EncryptResponse> Encrypt(const EncryptRequest& request);
  Result<DecryptResponse> Decrypt(const DecryptRequest& request);
  Result<ReEncryptResponse> ReEncrypt(const ReEncryptRequest& request);
  Result<GenerateDataKeyResponse> GenerateDataKey(const GenerateDataKeyRequest& request);
  Result<GenerateDataKeyResponse> GenerateDataKeyWithoutPlaintext(
      const GenerateDataKeyRequest& request);
  Result<crypto::SecretBytes> GenerateRandom(std::optional<int> number_of_bytes);

  // Grants. The engine keeps and lists them; who may create, retire and revoke
  // them, and what a grant allows its grantee, is decided in api/ (GrantsOf,
  // GrantAllows). CreateGrant takes a key id or key ARN (an alias:
  // InvalidArnException) of an enabled key; ListGrants, RetireGrant and
  // RevokeGrant work in every key state. Grants go with their key when it is
  // deleted. The principals are stored as given: api/ checks that they exist.
  Result<CreateGrantResponse> CreateGrant(const CreateGrantRequest& request);
  // `grant_id` and `grantee_principal` filter the list when given.
  Result<ListGrantsResponse> ListGrants(std::string_view key_id, std::optional<int> limit,
                                        std::optional<std::string> marker,
                                        std::optional<std::string> grant_id,
                                        std::optional<std::string> grantee_principal);
  // The grants, on any key, whose retiring principal is `retiring_principal`.
  Result<ListGrantsResponse> ListRetirableGrants(std::string_view retiring_principal,
                                                 std::optional<int> limit,
                                                 std::optional<std::string> marker);
  // The grant a RetireGrant request names (by token, or by key and grant id),
  // with the errors RetireGrant gives; for deciding who may retire it.
  Result<Grant> GrantToRetire(const RetireGrantRequest& request);
  Status RetireGrant(const RetireGrantRequest& request);
  Status RevokeGrant(std::string_view key_id, std::string_view grant_id, bool dry_run);
  // Every grant of the key `key_arn` (an ARN ResolveKeyArn gave), for authorization.
  Result<std::vector<Grant>> GrantsOf(std::string_view key_arn);

  // Deletes due keys and rotates due keys as of the clock's now.
  Result<ScheduledWorkReport> RunScheduledWork();

  // For authorization (api/): the ARN of the key `key_id` names, and the ARN of
  // the key that produced `ciphertext_blob`. Same errors as the operations;
  // `forms` says which forms the operation takes.
  Result<std::string> ResolveKeyArn(std::string_view key_id,
                                    KeyIdForms forms = KeyIdForms::kAliasesToo);
  Result<std::string> KeyArnOfCiphertext(ByteView ciphertext_blob);

  std::string KeyArn(std::string_view key_uuid) const;
  // A fresh key id for CreateKeyRequest::key_id.
  std::string NewKeyId();
  std::string AliasArn(std::string_view alias_name) const;
  // The policy CreateKey gives a key when the request has none.
  std::string DefaultKeyPolicy() const;

 private:
  KeyService(KmsOptions options, state::StateStore& store, const state::Vault& vault, Clock& clock,
             Random& random);

  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace coffer::kms
