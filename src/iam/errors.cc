#include "iam/errors.h"

namespace coffer::iam::errors {
namespace {
std::string Str(std::string_view s) { return std::string(s); }
}  // namespace

// Texts as AWS IAM returns them (for example "The user with name bob cannot be
// found.", "User with name bob already exists.").
Status NoSuchUser(std::string_view user_name) {
  return Status(StatusCode::kNotFound, kNoSuchEntity,
                "The user with name " + Str(user_name) + " cannot be found.");
}
Status NoSuchRole(std::string_view role_name) {
  return Status(StatusCode::kNotFound, kNoSuchEntity,
                "The role with name " + Str(role_name) + " cannot be found.");
}
Status NoSuchGroup(std::string_view group_name) {
  return Status(StatusCode::kNotFound, kNoSuchEntity,
                "The group with name " + Str(group_name) + " cannot be found.");
}
Status NoSuchUserPolicy(std::string_view policy_name) {
  return Status(StatusCode::kNotFound, kNoSuchEntity,
                "The user policy with name " + Str(policy_name) + " cannot be found.");
}
Status NoSuchRolePolicy(std::string_view policy_name) {
  return Status(StatusCode::kNotFound, kNoSuchEntity,
                "The role policy with name " + Str(policy_name) + " cannot be found.");
}
Status NoSuchGroupPolicy(std::string_view policy_name) {
  return Status(StatusCode::kNotFound, kNoSuchEntity,
                "The group policy with name " + Str(policy_name) + " cannot be found.");
}
Status NoSuchAccessKey(std::string_view access_key_id) {
  // AWS's text has no final period.
  return Status(StatusCode::kNotFound, kNoSuchEntity,
                "The Access Key with id " + Str(access_key_id) + " cannot be found");
}
Status NoSuchPolicy(std::string_view policy_arn) {
  return Status(StatusCode::kNotFound, kNoSuchEntity,
                "Policy " + Str(policy_arn) + " was not found.");
}
Status PolicyNotAttachable(std::string_view policy_arn) {
  return Status(StatusCode::kNotFound, kNoSuchEntity,
                "Policy " + Str(policy_arn) + " does not exist or is not attachable.");
}
Status NoSuchPolicyVersion(std::string_view policy_arn, std::string_view version_id) {
  return Status(StatusCode::kNotFound, kNoSuchEntity,
                "Policy " + Str(policy_arn) + " version " + Str(version_id) +
                    " does not exist or is not attachable.");
}
Status InvalidArn(std::string_view arn) {
  return Status(StatusCode::kInvalidArgument, kInvalidInput, "ARN " + Str(arn) + " is not valid.");
}
Status PolicyNotAttached(std::string_view policy_arn) {
  return Status(StatusCode::kNotFound, kNoSuchEntity,
                "Policy " + Str(policy_arn) + " was not found.");
}
Status PolicyExists(std::string_view policy_name) {
  return Status(
      StatusCode::kAlreadyExists, kEntityAlreadyExists,
      "A policy called " + Str(policy_name) + " already exists. Duplicate names are not allowed.");
}
Status UserExists(std::string_view user_name) {
  return Status(StatusCode::kAlreadyExists, kEntityAlreadyExists,
                "User with name " + Str(user_name) + " already exists.");
}
Status RoleExists(std::string_view role_name) {
  return Status(StatusCode::kAlreadyExists, kEntityAlreadyExists,
                "Role with name " + Str(role_name) + " already exists.");
}
Status GroupExists(std::string_view group_name) {
  return Status(StatusCode::kAlreadyExists, kEntityAlreadyExists,
                "Group with name " + Str(group_name) + " already exists.");
}
Status QuotaExceeded(std::string_view quota, long long limit) {
  return Status(StatusCode::kResourceExhausted, kLimitExceeded,
                "Cannot exceed quota for " + Str(quota) + ": " + std::to_string(limit));
}
Status PolicySizeExceeded(long long limit, std::string_view entity_kind, std::string_view name) {
  return Status(StatusCode::kResourceExhausted, kLimitExceeded,
                "Maximum policy size of " + std::to_string(limit) + " bytes exceeded for " +
                    Str(entity_kind) + " " + Str(name));
}
Status DeleteConflict(std::string message) {
  return Status(StatusCode::kFailedPrecondition, kDeleteConflict, std::move(message));
}
Status LimitExceeded(std::string message) {
  return Status(StatusCode::kResourceExhausted, kLimitExceeded, std::move(message));
}
Status MalformedPolicy(const Status& parse_error) {
  return Status(StatusCode::kInvalidArgument, kMalformedPolicyDocument, parse_error.message());
}
Status InvalidPrincipal(std::string_view principal) {
  return Status(StatusCode::kInvalidArgument, kMalformedPolicyDocument,
                "Invalid principal in policy: \"AWS\":\"" + std::string(principal) + "\"");
}
Status AccessDenied(std::string message) {
  return Status(StatusCode::kPermissionDenied, kAccessDenied, std::move(message));
}
Status ValidationError(std::string message) {
  return Status(StatusCode::kInvalidArgument, kValidationError, std::move(message));
}
Status InvalidInput(std::string message) {
  return Status(StatusCode::kInvalidArgument, kInvalidInput, std::move(message));
}

}  // namespace coffer::iam::errors
