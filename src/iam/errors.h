#pragma once
// The errors of the IAM and STS engine: the error codes of AWS's Query API
// (IAM's and STS's own names, without "Exception": "NoSuchEntity",
// "EntityAlreadyExists", …) with AWS's messages. Every text the engine returns
// is built here, so there is one place to compare against AWS.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "common/validation.h"

namespace coffer::iam::errors {

inline constexpr char kNoSuchEntity[] = "NoSuchEntity";
inline constexpr char kEntityAlreadyExists[] = "EntityAlreadyExists";
inline constexpr char kLimitExceeded[] = "LimitExceeded";
inline constexpr char kDeleteConflict[] = "DeleteConflict";
inline constexpr char kMalformedPolicyDocument[] = "MalformedPolicyDocument";
inline constexpr char kValidationError[] = "ValidationError";
inline constexpr char kAccessDenied[] = "AccessDenied";
inline constexpr char kInvalidInput[] = "InvalidInput";

Status NoSuchUser(std::string_view user_name);           // The user with name X cannot be found.
Status NoSuchRole(std::string_view role_name);           // The role with name X cannot be found.
Status NoSuchGroup(std::string_view group_name);         // The group with name X cannot be found.
Status NoSuchUserPolicy(std::string_view policy_name);   // The user policy with name P …
Status NoSuchRolePolicy(std::string_view policy_name);   // The role policy with name P …
Status NoSuchGroupPolicy(std::string_view policy_name);  // The group policy with name P …
Status NoSuchAccessKey(std::string_view access_key_id);  // The Access Key with id X …
// "Policy ARN was not found."
Status NoSuchPolicy(std::string_view policy_arn);
// "Policy ARN does not exist or is not attachable." (attaching)
Status PolicyNotAttachable(std::string_view policy_arn);
// "Policy ARN version V does not exist or is not attachable."
Status NoSuchPolicyVersion(std::string_view policy_arn, std::string_view version_id);
// InvalidInput "ARN X is not valid." (not an IAM policy ARN at all)
Status InvalidArn(std::string_view arn);
// "Policy ARN was not found." (detaching a policy that is not attached)
Status PolicyNotAttached(std::string_view policy_arn);
// "A policy called X already exists. Duplicate names are not allowed."
Status PolicyExists(std::string_view policy_name);
Status UserExists(std::string_view user_name);    // User with name X already exists.
Status RoleExists(std::string_view role_name);    // Role with name X already exists.
Status GroupExists(std::string_view group_name);  // Group with name X already exists.
// "Cannot exceed quota for <quota>: <limit>"
Status QuotaExceeded(std::string_view quota, long long limit);
// "Maximum policy size of <limit> bytes exceeded for <entity_kind> <name>"
Status PolicySizeExceeded(long long limit, std::string_view entity_kind, std::string_view name);
Status DeleteConflict(std::string message);
Status LimitExceeded(std::string message);
// A policy::Policy::Parse error, renamed to IAM's MalformedPolicyDocument.
Status MalformedPolicy(const Status& parse_error);
// MalformedPolicyDocument for a principal that does not exist, as IAM words it:
// Invalid principal in policy: "AWS":"arn:aws:iam::111122223333:user/ghost"
Status InvalidPrincipal(std::string_view principal);
Status AccessDenied(std::string message);
Status ValidationError(std::string message);
Status InvalidInput(std::string message);

// Collects AWS's "N validation error(s) detected: …" for one request. Field
// names are the model's member names in camelCase ("userName").
// AWS's "N validation error(s) detected" message as IAM names it (ValidationError).
class Validation : public ValidationErrors {
 public:
  Validation() : ValidationErrors(std::string(kValidationError)) {}
};

}  // namespace coffer::iam::errors
