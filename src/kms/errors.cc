#include "kms/errors.h"

namespace coffer::kms::errors {
namespace {
Status Make(StatusCode code, const char* name, std::string message) {
  return Status(code, name, std::move(message));
}
std::string Str(std::string_view s) { return std::string(s); }

// The model's length constraints count characters, not bytes (kms.md: "description ≤ 8192
// chars"; a tag value of 256 non-ASCII characters is valid): the code points of UTF-8 text.
size_t CharacterCount(std::string_view s) {
  size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}
}  // namespace

Status KeyNotFound(std::string_view key_arn) {
  return Make(StatusCode::kNotFound, "NotFoundException",
              "Key '" + Str(key_arn) + "' does not exist");
}
Status InvalidKeyId(std::string_view key_id) {
  return Make(StatusCode::kNotFound, "NotFoundException", "Invalid keyId '" + Str(key_id) + "'");
}
Status AliasNotFound(std::string_view alias_arn) {
  return Make(StatusCode::kNotFound, "NotFoundException",
              "Alias '" + Str(alias_arn) + "' is not found.");
}
Status AliasExists(std::string_view alias_arn) {
  return Make(StatusCode::kAlreadyExists, "AlreadyExistsException",
              "An alias with the name " + Str(alias_arn) + " already exists");
}
Status InvalidAliasName(std::string message) {
  return Make(StatusCode::kInvalidArgument, "InvalidAliasNameException", std::move(message));
}
Status Disabled(std::string_view key_arn) {
  return Make(StatusCode::kFailedPrecondition, "DisabledException", Str(key_arn) + " is disabled.");
}
Status PendingDeletion(std::string_view key_arn) {
  return InvalidState(Str(key_arn) + " is pending deletion.");
}
Status PendingImport(std::string_view key_arn) {
  return InvalidState(Str(key_arn) + " is pending import.");
}
Status NotPendingDeletion(std::string_view key_arn) {
  return InvalidState(Str(key_arn) + " is not pending deletion");
}
Status InvalidState(std::string message) {
  return Make(StatusCode::kFailedPrecondition, "KMSInvalidStateException", std::move(message));
}
Status IncorrectKey() {
  return Make(StatusCode::kInvalidArgument, "IncorrectKeyException",
              "The key ID in the request does not identify a CMK that can perform this operation.");
}
Status InvalidCiphertext() {
  return Make(StatusCode::kInvalidArgument, "InvalidCiphertextException", "");
}
Status CiphertextKeyUnknown() {
  return Make(StatusCode::kPermissionDenied, "AccessDeniedException",
              "The ciphertext refers to a customer master key that does not exist, does not exist "
              "in this region, or you are not allowed to access.");
}
Status InvalidKeyUsage(std::string message) {
  return Make(StatusCode::kInvalidArgument, "InvalidKeyUsageException", std::move(message));
}
Status MalformedPolicy(std::string message) {
  return Make(StatusCode::kInvalidArgument, "MalformedPolicyDocumentException", std::move(message));
}
Status Tag(std::string message) {
  return Make(StatusCode::kInvalidArgument, "TagException", std::move(message));
}
Status LimitExceeded(std::string message) {
  return Make(StatusCode::kResourceExhausted, "LimitExceededException", std::move(message));
}
Status Unsupported(std::string message) {
  return Make(StatusCode::kInvalidArgument, "UnsupportedOperationException", std::move(message));
}
Status InvalidMarker() {
  return Make(StatusCode::kInvalidArgument, "InvalidMarkerException", "Invalid marker");
}
Status DryRun() {
  return Make(StatusCode::kFailedPrecondition, "DryRunOperationException",
              "The request would have succeeded, but the DryRun option is set.");
}
Status Internal(std::string message) {
  return Make(StatusCode::kInternal, "KMSInternalException", std::move(message));
}
Status ValidationError(std::string message) {
  return Make(StatusCode::kInvalidArgument, "ValidationException", std::move(message));
}

void Validation::Add(std::string_view field, std::string_view value, std::string_view constraint) {
  errors_.push_back("Value '" + Str(value) + "' at '" + Str(field) +
                    "' failed to satisfy constraint: " + Str(constraint));
}
void Validation::AddSensitive(std::string_view field, std::string_view constraint) {
  errors_.push_back("Value at '" + Str(field) +
                    "' failed to satisfy constraint: " + Str(constraint));
}
void Validation::AddNull(std::string_view field) {
  errors_.push_back("Value null at '" + Str(field) +
                    "' failed to satisfy constraint: Member must not be null");
}
void Validation::Length(std::string_view field, std::string_view value, size_t min, size_t max) {
  const size_t length = CharacterCount(value);
  if (length < min) {
    Add(field, value, "Member must have length greater than or equal to " + std::to_string(min));
  } else if (length > max) {
    Add(field, value, "Member must have length less than or equal to " + std::to_string(max));
  }
}
void Validation::Range(std::string_view field, long long value, long long min, long long max) {
  if (value < min) {
    Add(field, std::to_string(value),
        "Member must have value greater than or equal to " + std::to_string(min));
  } else if (value > max) {
    Add(field, std::to_string(value),
        "Member must have value less than or equal to " + std::to_string(max));
  }
}
void Validation::Enum(std::string_view field, std::string_view value,
                      const std::vector<std::string_view>& allowed) {
  for (auto a : allowed) {
    if (a == value) return;
  }
  std::string set = "[";
  for (size_t i = 0; i < allowed.size(); ++i) set += (i ? ", " : "") + Str(allowed[i]);
  set += "]";
  Add(field, value, "Member must satisfy enum value set: " + set);
}
Status Validation::ToStatus() const {
  if (errors_.empty()) return Status::Ok();
  std::string msg =
      std::to_string(errors_.size()) +
      (errors_.size() == 1 ? " validation error detected: " : " validation errors detected: ");
  for (size_t i = 0; i < errors_.size(); ++i) msg += (i ? "; " : "") + errors_[i];
  return ValidationError(std::move(msg));
}

}  // namespace coffer::kms::errors
