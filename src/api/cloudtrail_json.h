#pragma once
// The AWS JSON 1.1 codec of CloudTrail: requests with `X-Amz-Target:
// com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.<Op>` (SigV4 service
// "cloudtrail"). coffer serves LookupEvents over its audit log (shared reference
// cloudtrail.md; shapes and limits from botocore's cloudtrail-service-2 model);
// the model's other operations are refused as unsupported, other names as unknown.
//
// LookupEvents:
//   - LookupAttributes: at most one {AttributeKey, AttributeValue}; AttributeKey one of
//     EventId, EventName, ReadOnly, Username, ResourceType, ResourceName, EventSource,
//     AccessKeyId; AttributeValue 1–2000 characters; anything else is an
//     InvalidLookupAttributesException.
//   - StartTime, EndTime: epoch seconds (JSON numbers), inclusive; StartTime after
//     EndTime is an InvalidTimeRangeException.
//   - MaxResults 1–50 (default 50), else InvalidMaxResultsException.
//   - EventCategory "insight": coffer records no Insights events, so none are found;
//     another value is an InvalidEventCategoryException.
//   - NextToken: opaque; it names where the previous page ended and is bound (SHA-256)
//     to the attribute and the time range of the request that returned it. A token that
//     is malformed or comes with other parameters is an InvalidNextTokenException.
//     MaxResults may change between pages.
//   - Events newest first: EventId, EventName, ReadOnly ("true"/"false"), AccessKeyId,
//     EventTime (epoch seconds), EventSource, Username, Resources[{ResourceType,
//     ResourceName}], CloudTrailEvent (the full record, as journaled, as a JSON string).
//   - Authorized as cloudtrail:LookupEvents on "*" (identity policies).
//   - Its own record: eventSource cloudtrail.amazonaws.com, readOnly true,
//     requestParameters {lookupAttributes: [{attributeKey, attributeValue}], startTime,
//     endTime, eventCategory, maxResults} as given (dates as CloudTrail writes them),
//     responseElements null.
//
// Thread safety: PrepareCloudTrailCall and Call::run may be called from any thread.
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "api/json_errors.h"
#include "api/operation.h"
#include "audit/audit_log.h"
#include "audit/digest.h"
#include "common/clock.h"
#include "common/status.h"

namespace coffer::api {

inline constexpr std::string_view kCloudTrailTargetPrefix =
    "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.";
// The eventSource of CloudTrail calls' records.
inline constexpr std::string_view kCloudTrailEventSource = "cloudtrail.amazonaws.com";

// CloudTrail's names for errors without one (the AWS common errors; CloudTrail's
// model has no internal-error shape of its own).
inline constexpr JsonErrorNames kCloudTrailErrorNames = {
    .invalid_argument = "InvalidParameterException",
    .not_found = "ResourceNotFoundException",
    .already_exists = "ResourceAlreadyExistsException",
    .failed_precondition = "OperationNotPermittedException",
    .resource_exhausted = "ThrottlingException",
    .internal = "InternalFailure",
    .unavailable = "ServiceUnavailable",
};

// The public keys of the audit digests, oldest first (the digest signer's):
// what ListPublicKeys answers from.
using DigestPublicKeys = std::function<std::vector<audit::DigestPublicKey>()>;

// Decodes and validates one CloudTrail request and returns the Call that runs it.
// `operation` is the X-Amz-Target after the prefix ("LookupEvents"). With `lookup`
// nullptr, LookupEvents is refused as unsupported; with no `public_keys`,
// ListPublicKeys. `now` is when ListPublicKeys' time range defaults to.
//
// ListPublicKeys: the keys valid at some time in [StartTime, EndTime] (each
// defaults to now: with neither, the current key), as {PublicKeyList: [{Value:
// base64 DER PKCS#1, ValidityStartTime, ValidityEndTime (not for the current
// key), Fingerprint}]}; InvalidTimeRangeException when the range is empty,
// InvalidTokenException for a NextToken (all keys come in one answer).
// Authorized as cloudtrail:ListPublicKeys on "*".
Result<Call> PrepareCloudTrailCall(const audit::EventLookup* lookup, std::string_view operation,
                                   std::string_view body, const DigestPublicKeys& public_keys = {},
                                   TimePoint now = {});

// readOnly of the record of `operation`: CloudTrail's reads (Describe*, Get*,
// List*, Lookup*), for a call refused before it was decoded too.
bool CloudTrailOperationIsReadOnly(std::string_view operation);

// The operations of the model coffer does not serve, sorted: refused as unsupported.
const std::vector<std::string_view>& CloudTrailUnsupportedOperations();

}  // namespace coffer::api
