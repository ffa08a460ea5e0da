#pragma once
// The typed requests and responses of the KMS engine, one struct each, named
// and shaped as in AWS KMS's API (botocore's kms-service-2 model). Optional
// members are std::optional; absent means "not given". Blobs are Bytes, except
// plaintexts and data keys, which are SecretBytes.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.h"
#include "common/clock.h"
#include "crypto/secret_bytes.h"

namespace coffer::kms {

enum class KeyState { kEnabled, kDisabled, kPendingDeletion, kPendingImport };
std::string_view KeyStateName(KeyState s);

using EncryptionContext = std::map<std::string, std::string>;

struct Tag {
  std::string tag_key;
  std::string tag_value;
  friend bool operator==(const Tag&, const Tag&) = default;
};

struct KeyMetadata {
  std::string aws_account_id;
  std::string key_id;  // the uuid
  std::string arn;
  TimePoint creation_date;
  bool enabled = false;
  std::string description;
  std::string key_usage = "ENCRYPT_DECRYPT";
  KeyState key_state = KeyState::kEnabled;
  // Set while the key is pending deletion. (PendingDeletionWindowInDays is not
  // here: KMS sends it only for a multi-Region primary key, PendingReplicaDeletion.)
  std::optional<TimePoint> deletion_date;
  std::string origin = "AWS_KMS";
  std::string key_manager = "CUSTOMER";
  std::string key_spec = "SYMMETRIC_DEFAULT";  // also CustomerMasterKeySpec
  std::vector<std::string> encryption_algorithms = {"SYMMETRIC_DEFAULT"};
  bool multi_region = false;
  std::string current_key_material_id;  // 64 hex
};

struct CreateKeyRequest {
  std::optional<std::string> policy;
  std::optional<std::string> description;
  std::optional<std::string> key_usage;
  std::optional<std::string> key_spec;
  std::optional<std::string> customer_master_key_spec;
  std::optional<std::string> origin;
  std::optional<std::string> custom_key_store_id;
  std::optional<bool> bypass_policy_lockout_safety_check;
  std::vector<Tag> tags;
  std::optional<bool> multi_region;
  std::optional<std::string> xks_key_id;
  // Not from the request: the id the key takes, from KeyService::NewKeyId(), so
  // that the caller can be authorized for the new key's ARN before it exists.
  // Empty: CreateKey draws one.
  std::string key_id;
};

struct KeyListEntry {
  std::string key_id;
  std::string key_arn;
};
struct ListKeysResponse {
  std::vector<KeyListEntry> keys;
  std::optional<std::string> next_marker;
  bool truncated = false;
};

struct AliasListEntry {
  std::string alias_name;
  std::string alias_arn;
  std::string target_key_id;
  TimePoint creation_date;
  TimePoint last_updated_date;
};
struct ListAliasesResponse {
  std::vector<AliasListEntry> aliases;
  std::optional<std::string> next_marker;
  bool truncated = false;
};

struct ListResourceTagsResponse {
  std::vector<Tag> tags;
  std::optional<std::string> next_marker;
  bool truncated = false;
};

struct ScheduleKeyDeletionResponse {
  std::string key_id;  // ARN
  TimePoint deletion_date;
  KeyState key_state = KeyState::kPendingDeletion;
  int pending_window_in_days = 30;
};

struct KeyRotationStatus {
  bool key_rotation_enabled = false;
  std::string key_id;  // ARN
  std::optional<int> rotation_period_in_days;
  std::optional<TimePoint> next_rotation_date;
  std::optional<TimePoint> on_demand_rotation_start_date;
};

struct RotationsListEntry {
  std::string key_id;  // ARN
  std::string key_material_id;
  std::optional<TimePoint> rotation_date;    // absent for the original material
  std::optional<std::string> rotation_type;  // AUTOMATIC | ON_DEMAND
  std::string key_material_state;            // CURRENT | NON_CURRENT
};
struct ListKeyRotationsResponse {
  std::vector<RotationsListEntry> rotations;
  std::optional<std::string> next_marker;
  bool truncated = false;
};

struct EncryptRequest {
  std::string key_id;
  crypto::SecretBytes plaintext;
  EncryptionContext encryption_context;
  std::vector<std::string> grant_tokens;
  std::optional<std::string> encryption_algorithm;
  bool dry_run = false;
};
struct EncryptResponse {
  Bytes ciphertext_blob;
  std::string key_id;  // ARN
  std::string encryption_algorithm = "SYMMETRIC_DEFAULT";
};

struct DecryptRequest {
  Bytes ciphertext_blob;
  EncryptionContext encryption_context;
  std::vector<std::string> grant_tokens;
  std::optional<std::string> key_id;
  std::optional<std::string> encryption_algorithm;
  bool dry_run = false;
  // DryRunModifiers IGNORE_CIPHERTEXT: a dry run checks the key (key_id, else
  // the key the blob names) but not the ciphertext.
  bool ignore_ciphertext = false;
};
struct DecryptResponse {
  std::string key_id;  // ARN
  crypto::SecretBytes plaintext;
  std::string encryption_algorithm = "SYMMETRIC_DEFAULT";
  std::string key_material_id;
};

struct ReEncryptRequest {
  Bytes ciphertext_blob;
  EncryptionContext source_encryption_context;
  std::optional<std::string> source_key_id;
  std::string destination_key_id;
  EncryptionContext destination_encryption_context;
  std::optional<std::string> source_encryption_algorithm;
  std::optional<std::string> destination_encryption_algorithm;
  std::vector<std::string> grant_tokens;
  bool dry_run = false;
  bool ignore_ciphertext = false;  // as DecryptRequest's, with source_key_id
};
struct ReEncryptResponse {
  Bytes ciphertext_blob;
  std::string source_key_id;  // ARN
  std::string key_id;         // destination ARN
  std::string source_encryption_algorithm = "SYMMETRIC_DEFAULT";
  std::string destination_encryption_algorithm = "SYMMETRIC_DEFAULT";
  std::string source_key_material_id;
  std::string destination_key_material_id;
};

struct GenerateDataKeyRequest {
  std::string key_id;
  EncryptionContext encryption_context;
  std::optional<int> number_of_bytes;
  std::optional<std::string> key_spec;  // AES_256 | AES_128
  std::vector<std::string> grant_tokens;
  bool dry_run = false;
};
struct GenerateDataKeyResponse {
  Bytes ciphertext_blob;
  crypto::SecretBytes plaintext;  // empty for GenerateDataKeyWithoutPlaintext
  std::string key_id;             // ARN
  std::string key_material_id;    // of the material that encrypted the data key
};

// ---- grants ----------------------------------------------------------------

// GrantConstraints: the encryption context a cryptographic operation allowed by
// the grant must carry. Subset: every pair listed is in the request's context
// (which may hold more). Equals: the request's context is exactly this.
struct GrantConstraints {
  std::optional<EncryptionContext> encryption_context_subset;
  std::optional<EncryptionContext> encryption_context_equals;
  friend bool operator==(const GrantConstraints&, const GrantConstraints&) = default;
};

struct CreateGrantRequest {
  std::string key_id;
  std::string grantee_principal;
  std::optional<std::string> retiring_principal;
  std::vector<std::string> operations;  // GrantOperation names
  std::optional<GrantConstraints> constraints;
  std::optional<std::string> name;
  bool dry_run = false;
};
struct CreateGrantResponse {
  std::string grant_token;
  std::string grant_id;
};

// A grant, as ListGrants shows it.
struct Grant {
  std::string key_id;  // the key's ARN
  std::string grant_id;
  std::optional<std::string> name;
  TimePoint creation_date;
  std::string grantee_principal;
  std::optional<std::string> retiring_principal;
  std::string issuing_account;  // "arn:aws:iam::ACCOUNT:root"
  std::vector<std::string> operations;
  std::optional<GrantConstraints> constraints;
};
struct ListGrantsResponse {
  std::vector<Grant> grants;
  std::optional<std::string> next_marker;
  bool truncated = false;
};

// RetireGrant names the grant by its token, or by its key and id.
struct RetireGrantRequest {
  std::optional<std::string> grant_token;
  std::optional<std::string> key_id;
  std::optional<std::string> grant_id;
  bool dry_run = false;
};

// The GrantOperation values a grant may list (kms-service-2), in the model's order.
const std::vector<std::string_view>& GrantOperationNames();

// True when `grant` lists `operation` ("Decrypt", "ReEncryptFrom", …) and the
// request's encryption context `context` meets the grant's constraints. An
// operation that takes no encryption context (DescribeKey, RetireGrant) passes
// null: constraints do not apply to it (kms-service-2, GrantConstraints).
bool GrantAllows(const Grant& grant, std::string_view operation, const EncryptionContext* context);

// True when a grant that allows CreateGrant (GrantAllows) also permits the grant
// `child` asks for: its operations are among the parent's, and its constraints
// are as strict as the parent's or stricter (a Subset may gain pairs or become
// an Equals that holds them; an Equals stays the same).
bool GrantPermitsChild(const Grant& parent, const CreateGrantRequest& child);

// What RunScheduledWork() did.
struct ScheduledWorkReport {
  int keys_deleted = 0;
  int keys_rotated = 0;
};

}  // namespace coffer::kms
