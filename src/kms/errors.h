#pragma once
// The errors of the KMS engine: AWS KMS's error names with AWS's messages.
// Every text the engine returns is built here, so there is one place to
// compare against AWS.
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace coffer::kms::errors {

Status KeyNotFound(std::string_view key_arn);      // Key '<arn>' does not exist
Status InvalidKeyId(std::string_view key_id);      // Invalid keyId '<id>'
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
Status DryRun();
Status Internal(std::string message);

// Collects AWS's "N validation error(s) detected: …" for one request.
class Validation {
 public:
  // Value '<value>' at '<field>' failed to satisfy constraint: <constraint>
  void Add(std::string_view field, std::string_view value, std::string_view constraint);
  // For sensitive members the value is not shown: "Value at '<field>' failed …".
  void AddSensitive(std::string_view field, std::string_view constraint);
  // A required member that is absent or JSON null:
  // "Value null at '<field>' failed to satisfy constraint: Member must not be null".
  void AddNull(std::string_view field);

  // Lengths of text in characters (UTF-8 code points), as the model counts them;
  // byte strings (blobs, plaintexts) are checked by their size instead.
  void Length(std::string_view field, std::string_view value, size_t min, size_t max);
  void Range(std::string_view field, long long value, long long min, long long max);
  void Enum(std::string_view field, std::string_view value,
            const std::vector<std::string_view>& allowed);

  bool ok() const { return errors_.empty(); }
  Status ToStatus() const;  // OK when nothing was added

 private:
  std::vector<std::string> errors_;
};

// A ValidationException with a free-form message (for rules outside the model).
Status ValidationError(std::string message);

}  // namespace coffer::kms::errors
