#include "kms/errors.h"

namespace coffer::kms::errors {
namespace {
Status Make(StatusCode code, const char* name, std::string message) {
  return Status(code, name, std::move(message));
}
std::string Str(std::string_view s) { return std::string(s); }

}  // namespace

Status KeyNotFound(std::string_view key_arn) {
  return Make(StatusCode::kNotFound, "NotFoundException",
              "Key '" + Str(key_arn) + "' does not exist");
}
Status InvalidArnRegion(std::string_view region) {
  return Make(StatusCode::kNotFound, "NotFoundException", "Invalid arn " + Str(region));
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
Status KeyAliasNotSupported() {
  return Make(StatusCode::kInvalidArgument, "InvalidArnException",
              "Key Aliases are not supported for this operation.");
}
Status InvalidPrincipal(std::string_view arn) {
  return Make(StatusCode::kInvalidArgument, "InvalidArnException",
              "ARN does not refer to a valid principal: " + Str(arn));
}
Status InvalidGrantId(std::string_view grant_id) {
  return Make(StatusCode::kInvalidArgument, "InvalidGrantIdException",
              "Invalid grant ID '" + Str(grant_id) + "'");
}
Status InvalidGrantToken() {
  // A grant token is a bearer of the grant's identity: never echoed.
  return Make(StatusCode::kInvalidArgument, "InvalidGrantTokenException",
              "The grant token is not valid.");
}
Status GrantNotFound(std::string_view grant_id) {
  return Make(StatusCode::kNotFound, "NotFoundException",
              "Grant ID " + Str(grant_id) + " not found");
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

}  // namespace coffer::kms::errors
