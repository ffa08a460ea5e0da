#pragma once
// The IAM codec of the AWS Query protocol (Version 2010-05-08): turns the
// parameters of one request into an api::Call for the request pipeline.
//
// Each operation checks that its required parameters are present (AWS's
// "Value null at 'userName' …" ValidationError), names the decisions it needs
// (PolicyScope::kIdentity, "iam:<Operation>", the ARN of the user, group, role
// or policy acted on, as AWS IAM names it, path included), and returns a closure that calls the
// IdentityService and encodes AWS's XML reply (policy documents URL-encoded,
// dates ISO 8601, IsTruncated/Marker for lists). The codec never authorizes.
//
// Operations: CreateUser GetUser ListUsers DeleteUser CreateAccessKey
// ListAccessKeys UpdateAccessKey DeleteAccessKey CreateGroup GetGroup ListGroups
// DeleteGroup UpdateGroup AddUserToGroup RemoveUserFromGroup ListGroupsForUser PutGroupPolicy
// GetGroupPolicy ListGroupPolicies DeleteGroupPolicy AttachGroupPolicy
// DetachGroupPolicy ListAttachedGroupPolicies CreateRole GetRole ListRoles
// UpdateAssumeRolePolicy UpdateRole UpdateRoleDescription DeleteRole
// PutUserPolicy GetUserPolicy ListUserPolicies
// DeleteUserPolicy PutRolePolicy GetRolePolicy ListRolePolicies DeleteRolePolicy
// TagUser UntagUser ListUserTags TagRole UntagRole ListRoleTags
// GetAccessKeyLastUsed, and those of customer managed policies (CreatePolicy …
// ListEntitiesForPolicy, TagPolicy UntagPolicy ListPolicyTags). Tags given at
// creation need the tagging action as well (a second decision), and every
// request that sets tags gives aws:RequestTag/<k> and aws:TagKeys.
// Parameters coffer does not implement and that would change a decision
// (PermissionsBoundary) are refused rather than ignored.
#include <string>
#include <string_view>
#include <vector>

#include "api/operation.h"
#include "api/query.h"
#include "common/status.h"
#include "policy/evaluate.h"

namespace coffer::iam {
class IdentityService;
}

namespace coffer::api {

inline constexpr std::string_view kIamXmlNamespace = "https://iam.amazonaws.com/doc/2010-05-08/";
inline constexpr std::string_view kIamApiVersion = "2010-05-08";
// The eventSource of IAM calls' CloudTrail records.
inline constexpr std::string_view kIamEventSource = "iam.amazonaws.com";

// The Call's record (as CloudTrail records IAM calls: IAM User Guide, "Logging IAM and
// AWS STS API calls with AWS CloudTrail", and recorded events):
//   - requestParameters: the operation's parameters the request gives, in
//     lowerCamelCase (MaxItems and MaxSessionDuration as numbers); null when none;
//   - readOnly: true for Get* and List*;
//   - resources: the user (AWS::IAM::User) or role (AWS::IAM::Role) acted on, by ARN;
//     none for ListUsers and ListRoles, nor for the root acting on itself. (AWS's IAM
//     records carry no "resources"; coffer's name them so LookupEvents finds them by
//     ResourceType and ResourceName.)
//   - responseElements: null but for CreateUser ({user}), CreateRole ({role}, the
//     trust policy URL-encoded as in the reply) and CreateAccessKey ({accessKey:
//     userName, accessKeyId, status, createDate}: never the secret access key); dates
//     as audit::FormatResponseElementsDate writes them.
//
// Errors: InvalidAction "Could not find operation X for version 2010-05-08" for
// an Action IAM does not have (or a Version other than 2010-05-08),
// MissingAction without one, ValidationError for missing or malformed
// parameters, and the IdentityService's errors found while naming the
// resource (e.g. "Must specify userName when calling with non-User
// credentials"). The returned Call refers to `iam`, which must outlive it.
Result<Call> PrepareIamCall(iam::IdentityService& iam, const policy::Principal& caller,
                            const QueryParams& params, std::string request_id);

// The Actions PrepareIamCall serves, sorted.
const std::vector<std::string_view>& IamOperations();
// readOnly of the record of `action` (for a call refused before it was decoded).
bool IamOperationIsReadOnly(std::string_view action);

}  // namespace coffer::api
