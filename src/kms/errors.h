#pragma once
// The errors of the KMS engine: AWS KMS's error names with AWS's messages.
// Every text the engine returns is built here, so there is one place to
// compare against AWS.
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "common/validation.h"

namespace coffer::kms::errors {

Status KeyNotFound(std::string_view key_arn);      // Key '<arn>' does not exist
Status InvalidKeyId(std::string_view key_id);      // Invalid keyId '<id>'
Status InvalidArnRegion(std::string_view region);  // NotFound: Invalid arn <region>
Status AliasNotFound(std::string_view alias_arn);  // Alias '<arn>' is not found.
Status AliasExists(std::string_view alias_arn);
Status InvalidAliasName(std::string message);
Status Disabled(std::string_view key_arn);            // <arn> is disabled.
Status PendingDeletion(std::string_view key_arn);     // <arn> is pending deletion.
Status PendingImport(std::string_view key_arn);       // <arn> is pending import.
Status NotPendingDeletion(std::string_view key_arn);  // <arn> is not pending deletion.
Status InvalidState(std::string message);
Status IncorrectKey();
Status InvalidCiphertext();
Status CiphertextKeyUnknown();  // AccessDenied, AWS's text
Status InvalidKeyUsage(std::string message);
Status MalformedPolicy(std::string message);
Status Tag(std::string message);
Status LimitExceeded(std::string message);
Status Unsupported(std::string message);
Status InvalidMarker();
// Grants. The texts of InvalidArnException are AWS's; AWS documents none for a
// grant that does not exist, a malformed grant id or a token it did not make.
Status KeyAliasNotSupported();                  // InvalidArn, CreateGrant given an alias
Status InvalidPrincipal(std::string_view arn);  // InvalidArn: "ARN does not refer to …"
Status InvalidGrantId(std::string_view grant_id);
Status InvalidGrantToken();
Status GrantNotFound(std::string_view grant_id);
Status DryRun();
Status Internal(std::string message);

// AWS's "N validation error(s) detected" message as KMS names it (ValidationException).
class Validation : public ValidationErrors {
 public:
  Validation() : ValidationErrors("ValidationException") {}
};

// A ValidationException with a free-form message (for rules outside the model).
Status ValidationError(std::string message);

}  // namespace coffer::kms::errors
