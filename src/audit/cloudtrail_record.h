#pragma once
// CloudTrail records (eventVersion 1.08) for coffer's API calls, and the fields
// LookupEvents filters on (shared/reference/cloudtrail.md).
//
// BuildCloudTrailRecord writes one record as compact JSON with a fixed key order
// (the order of the reference's example), so that the same event always gives the
// same bytes. Its inputs are already secret-free: the codecs write
// requestParameters and responseElements without plaintexts, ciphertext blobs,
// data keys, secret access keys or session tokens (api/operation.h), and nothing
// here adds one. The userIdentity element is formed from the caller as CloudTrail
// forms it (CloudTrail User Guide, "CloudTrail userIdentity element"):
//   Root         {type, principalId: ACCT, arn: arn:aws:iam::ACCT:root, accountId, accessKeyId}
//   IAMUser      {type, principalId: AIDA…, arn, accountId, accessKeyId, userName}
//   AssumedRole  {type, principalId: AROA…:SESSION, arn (the session's), accountId,
//                 accessKeyId, sessionContext: {sessionIssuer: {type: Role,
//                 principalId: AROA…, arn (the role's), accountId, userName (the role's
//                 name)}, attributes: {creationDate, mfaAuthenticated: "false"}}}
//   AWSService   {type, invokedBy: "rds.amazonaws.com"}
//   no principal {type: Unknown, accessKeyId when the request named one}: the call failed
//                authentication before an identity was known.
//
// Pure functions; safe from any thread.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "policy/evaluate.h"

namespace coffer::audit {

inline constexpr std::string_view kCloudTrailEventVersion = "1.08";

// A resource a call acts on, as a record's "resources" element names it.
struct AuditResource {
  std::string arn;
  std::string type;        // "AWS::KMS::Key", "AWS::IAM::Role", "AWS::IAM::User"
  std::string account_id;  // the account of the ARN

  // The account id is the ARN's fifth field ("" when `arn` is not an ARN).
  static AuditResource Of(std::string arn, std::string type);
  bool operator==(const AuditResource&) const = default;
};

// The "tlsDetails" element: present when the request came over TLS.
struct TlsDetails {
  std::string tls_version;                  // "TLSv1.3"
  std::string cipher_suite;                 // "TLS_AES_256_GCM_SHA384" (IANA name)
  std::string client_provided_host_header;  // the Host header as the client sent it
};

// Everything one record says.
struct AuditEvent {
  // The authenticated caller; absent when authentication failed before an identity
  // was known (an unknown access key, a malformed signature).
  std::optional<policy::Principal> principal;
  std::string access_key_id;  // the request's, "" when it named none
  // Assumed roles: when the session was created (attributes.creationDate), if known.
  std::optional<TimePoint> session_creation_time;

  std::string account_id;  // the account coffer serves: recipientAccountId
  std::string region;      // awsRegion
  TimePoint event_time;
  std::string event_source;  // "kms.amazonaws.com"
  std::string event_name;    // "Decrypt"
  std::string source_ip;     // sourceIPAddress
  std::string user_agent;
  // JSON texts (api::Call::request_parameters, api::Reply::response_elements):
  // an object or null. Text that is not JSON is recorded as null.
  std::string request_parameters = "null";
  std::string response_elements = "null";
  // additionalEventData: a JSON object, or empty when the record has none.
  std::string additional_event_data;
  // Failed calls: the error's name and message, as the caller was answered.
  std::optional<std::string> error_code;
  std::optional<std::string> error_message;
  std::string request_id;  // requestID: the x-amzn-RequestId of the reply
  std::string event_id;    // eventID: a fresh UUID per record
  bool read_only = false;
  std::vector<AuditResource> resources;
  std::optional<TlsDetails> tls;
};

// The record as compact JSON (UTF-8; invalid UTF-8 in a text is replaced by U+FFFD).
// Keys in this order: eventVersion, userIdentity, eventTime, eventSource, eventName,
// awsRegion, sourceIPAddress, userAgent, errorCode, errorMessage (failed calls only),
// requestParameters, responseElements, requestID, eventID, readOnly, resources,
// eventType ("AwsApiCall"), managementEvent (true: every coffer call is a management
// event, as every KMS call is), recipientAccountId, eventCategory ("Management"),
// tlsDetails (TLS only).
std::string BuildCloudTrailRecord(const AuditEvent& event);

// A timestamp as CloudTrail writes them inside responseElements (the services' Java
// date text, en_US, UTC): "Oct 27, 2025, 12:16:57 AM".
std::string FormatResponseElementsDate(TimePoint t);

// ---- LookupEvents ---------------------------------------------------------------------

struct LookupResource {
  std::string resource_type;  // the record's resources[].type
  std::string resource_name;  // the record's resources[].ARN
};

// The fields of a record that LookupEvents filters on and returns beside the record.
struct AuditEventSummary {
  std::string event_id;
  std::string event_name;
  std::string event_source;
  bool read_only = false;
  std::string access_key_id;  // userIdentity.accessKeyId ("" when none)
  // As LookupEvents shows it: an IAM user's name; "root" for the account root; the
  // session name for an assumed role (the name it was assumed under); the service
  // for an AWS service; "" when the caller was not identified.
  std::string username;
  TimePoint event_time;
  std::vector<LookupResource> resources;
};

// Reads a record written by BuildCloudTrailRecord (or any CloudTrail record of the
// same shape). InvalidArgument when the text is not a JSON object with eventID,
// eventName, eventSource, eventTime (ISO 8601, UTC, whole seconds) and readOnly.
Result<AuditEventSummary> ParseCloudTrailRecord(std::string_view record);

// The summary ParseCloudTrailRecord(BuildCloudTrailRecord(event)) returns, computed
// from the event without writing or reading JSON: its texts with invalid UTF-8
// replaced by U+FFFD as the record has them, its time in whole seconds, the
// username derived from userIdentity as ParseCloudTrailRecord derives it.
AuditEventSummary SummarizeEvent(const AuditEvent& event);

}  // namespace coffer::audit
