#pragma once
// The STS codec of the AWS Query protocol (Version 2011-06-15): AssumeRole and
// GetCallerIdentity, as api::Calls for the request pipeline.
//
// AssumeRole needs one decision: PolicyScope::kAssumeRole, "sts:AssumeRole" on
// the RoleArn as given, with the condition keys sts:RoleSessionName and (when
// given) sts:ExternalId; the pipeline evaluates the role's trust policy. The
// root is refused before any policy, as STS does ("Roles may not be assumed by
// root accounts."). Session policies, session tags, MFA and source identity
// are not implemented and refused rather than ignored.
// GetCallerIdentity needs no decision and no service call.
//
// Records (as CloudTrail records STS calls): both operations are readOnly.
// AssumeRole: requestParameters {roleArn, roleSessionName, durationSeconds, externalId}
// as given; resources [the role ARN as given, AWS::IAM::Role]; responseElements
// {credentials: {accessKeyId, expiration}, assumedRoleUser: {assumedRoleId, arn}} —
// AWS also records the session token, coffer never does, nor the secret access key.
// GetCallerIdentity: requestParameters, responseElements null, no resources.
#include <string>
#include <string_view>
#include <vector>

#include "api/operation.h"
#include "api/query.h"
#include "common/status.h"
#include "policy/evaluate.h"

namespace coffer::iam {
class IdentityService;
struct AssumeRoleResult;
}  // namespace coffer::iam

namespace coffer::api {

inline constexpr std::string_view kStsXmlNamespace = "https://sts.amazonaws.com/doc/2011-06-15/";
inline constexpr std::string_view kStsApiVersion = "2011-06-15";
// The eventSource of STS calls' CloudTrail records.
inline constexpr std::string_view kStsEventSource = "sts.amazonaws.com";

// Errors: InvalidAction "Could not find operation X for version 2011-06-15",
// MissingAction, ValidationError for missing or malformed parameters,
// AccessDenied for the root. The returned Call refers to `iam`, which must
// outlive it.
Result<Call> PrepareStsCall(iam::IdentityService& iam, const policy::Principal& caller,
                            const QueryParams& params, std::string request_id);

// The Actions PrepareStsCall serves, sorted.
const std::vector<std::string_view>& StsOperations();
// readOnly of the record of `action` (for a call refused before it was decoded).
bool StsOperationIsReadOnly(std::string_view action);

// The responseElements of AssumeRole's record (above), for every caller of it.
std::string AssumeRoleElements(const iam::AssumeRoleResult& out);

}  // namespace coffer::api
