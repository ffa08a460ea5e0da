#pragma once
// The KMS JSON 1.1 API (X-Amz-Target: TrentService.<Op>) over an AwsClient,
// and the request bodies coffer's commands send. Bodies and answers are JSON
// text (compact, members in the service model's order); the JSON library stays
// in the .cc files.
//
// Errors are AwsClient's: a service error carries the error code as
// error_name(); see aws_client.h.
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/kms_data_keys_json.h"
#include "cli/aws_client.h"
#include "common/status.h"
#include "crypto/secret_bytes.h"
#include "envelope/kms_keyring.h"

namespace coffer::cli {

inline constexpr std::string_view kKmsService = "kms";
inline constexpr std::string_view kKmsTargetPrefix = "TrentService";

struct Tag {
  std::string key;
  std::string value;
  friend bool operator==(const Tag&, const Tag&) = default;
};

using EncryptionContext = std::map<std::string, std::string>;

class KmsClient {
 public:
  // Borrows `client`, which must outlive this object.
  explicit KmsClient(AwsClient& client) : client_(client) {}

  // Sends `operation` ("CreateKey") with the JSON `body`; returns the answer's
  // JSON body ("{}" for operations that answer nothing).
  Result<std::string> Call(std::string_view operation, std::string_view body);

  // Calls a paginated List operation (ListKeys, ListAliases) until the answer
  // is no longer Truncated, following NextMarker, and returns the pages merged
  // as the aws CLI prints them: {"<result_key>": [every page's items]}.
  // `body` is the first request (without Marker); `result_key` "Keys" or "Aliases".
  Result<std::string> CallPaginated(std::string_view operation, std::string_view body,
                                    std::string_view result_key);

 private:
  AwsClient& client_;
};

// CreateKey {Policy?, Description?, Tags?}; empty strings and lists are left out.
std::string CreateKeyRequest(std::string_view policy, std::string_view description,
                             const std::vector<Tag>& tags);
// CreateAlias {AliasName, TargetKeyId}.
std::string CreateAliasRequest(std::string_view alias_name, std::string_view target_key_id);
// {KeyId}: DescribeKey, EnableKey, DisableKey, CancelKeyDeletion.
std::string KeyIdRequest(std::string_view key_id);
// GetKeyPolicy {KeyId, PolicyName}.
std::string GetKeyPolicyRequest(std::string_view key_id, std::string_view policy_name);
// PutKeyPolicy {KeyId, PolicyName, Policy}.
std::string PutKeyPolicyRequest(std::string_view key_id, std::string_view policy_name,
                                std::string_view policy);
// ScheduleKeyDeletion {KeyId, PendingWindowInDays?}.
std::string ScheduleKeyDeletionRequest(std::string_view key_id,
                                       std::optional<int> pending_window_in_days);
// ListAliases {KeyId?}; ListKeys {}.
std::string ListAliasesRequest(std::string_view key_id);
// Encrypt {KeyId, Plaintext (base64), EncryptionContext?}. A secret: the
// plaintext is in it.
crypto::SecretBytes EncryptRequest(std::string_view key_id, const crypto::SecretBytes& plaintext,
                                   const EncryptionContext& context);
// Decrypt {CiphertextBlob (base64), EncryptionContext?, KeyId?};
// GenerateDataKey {KeyId, NumberOfBytes, EncryptionContext?}.
using api::DecryptRequest;
using api::GenerateDataKeyRequest;

// The KMS keyring's two calls as signed requests to a coffer endpoint (or AWS
// KMS). Safe for concurrent use when the KmsClient's transport is.
class EndpointKmsDataKeys final : public api::JsonKmsDataKeys {
 public:
  explicit EndpointKmsDataKeys(KmsClient& kms)
      : JsonKmsDataKeys([&kms](std::string_view operation, std::string body) {
          return kms.Call(operation, body);
        }) {}
};

}  // namespace coffer::cli
