#pragma once
// A decoded call, between a protocol codec (kms_json, iam_query, sts_query) and
// the request pipeline (endpoint): parse → authenticate → decode → authorize →
// execute → encode.
//
// A codec turns a request body into a Call: the decisions the call needs
// (action, resource, condition keys), what its CloudTrail record says of it
// (audit/cloudtrail_record.h) and a closure that runs it against the service and
// encodes the reply body. The pipeline authorizes every decision with policy/
// before it runs the closure; a codec never authorizes.
//
// Secrets: request_parameters and Reply::response_elements never hold a plaintext,
// a ciphertext blob, a data key, a secret access key or a session token; they are
// what the audit journal keeps.
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "audit/cloudtrail_record.h"
#include "common/status.h"
#include "kms/types.h"
#include "policy/evaluate.h"

namespace coffer::api {

// Which policies decide an Authorization (iam-policy.md, Evaluation).
enum class PolicyScope {
  kIdentity,    // identity policies only (IAM, STS, backup; KMS calls with no key: ListKeys…)
  kKmsKey,      // the key policy of `resource` (a key ARN) with the caller's identity policies
  kAssumeRole,  // the trust policy of `resource` (a role ARN) with the caller's identity policies
};

struct Authorization {
  PolicyScope scope = PolicyScope::kIdentity;
  std::string action;    // "kms:Encrypt"
  std::string resource;  // an ARN, or "*" when the action has no resource
  // Condition keys of the request (kms:EncryptionContext:…, kms:RequestAlias, …);
  // the pipeline adds the principal's keys, aws:SourceIp, aws:SecureTransport, time.
  std::map<std::string, std::vector<std::string>> condition_keys;
  // KMS grants. kKmsKey: when the policies do not allow the call (an explicit deny
  // still refuses it), a grant of the key whose grantee is the caller and for which
  // this says true allows it. Unset: no grant can.
  std::function<bool(const kms::Grant&)> grant_permits;
  // RetireGrant (kIdentity, kms:RetireGrant on the key): the grant to retire. Its
  // retiring principal, and its grantee when it lists RetireGrant, may retire it
  // without an identity policy that allows it, but not against an explicit deny.
  std::optional<kms::Grant> grant_to_retire;
};

using audit::AuditResource;

// What a call's closure returns.
struct Reply {
  std::string body;  // in the protocol's encoding
  // CloudTrail's responseElements: a JSON object in CloudTrail's lowerCamelCase names,
  // or null (read-only and cryptographic operations, operations without output), as
  // AWS records them; never a secret.
  std::string response_elements = "null";
  // Resources known only once the call ran (CreateKey's new key): they follow
  // Call::resources in the record.
  std::vector<AuditResource> resources;
};

struct Call {
  std::string operation;  // "Encrypt", as in the X-Amz-Target / Action
  // ---- what the CloudTrail record says of the call, allowed or denied ----
  std::string event_source;  // "kms.amazonaws.com", "iam.amazonaws.com", "sts.amazonaws.com"
  bool read_only = false;    // readOnly, as AWS records the operation
  // requestParameters: the request's members in CloudTrail's lowerCamelCase names, as a
  // JSON object, or null when the request has none; never a secret.
  std::string request_parameters = "null";
  // The resources the call acts on, known before it runs (the record's "resources").
  std::vector<AuditResource> resources;
  // Every decision the call needs, in order; the first refused one answers the call.
  // Empty: the call needs none (sts:GetCallerIdentity).
  std::vector<Authorization> authorizations;
  // CreateKey / PutKeyPolicy without BypassPolicyLockoutSafetyCheck: the proposed key
  // policy and the key ARN it is for (for CreateKey, the ARN the new key will have).
  // The pipeline refuses with MalformedPolicyDocumentException
  // (policy::kLockoutSafetyCheckMessage) if the caller could not PutKeyPolicy under it.
  std::optional<std::string> lockout_check_policy;
  std::string lockout_check_resource;
  // CreateKey: the key is not made yet; its tags (aws:ResourceTag/) are these, and
  // it has no aliases.
  std::optional<std::map<std::string, std::string>> lockout_check_new_key_tags;
  // CreateKey with a Policy, PutKeyPolicy: the key policy the call would save. The
  // pipeline refuses it (MalformedPolicyDocumentException, kInvalidPrincipalsMessage)
  // when it names a user or role that does not exist.
  std::optional<std::string> new_key_policy;
  // CreateGrant: the grantee and retiring principals. The pipeline refuses the call
  // (InvalidArnException, kms::errors::InvalidPrincipal) when one names no user,
  // role or account that exists.
  std::vector<std::string> grant_principals;
  // additionalEventData: a JSON object, or empty when the record has none.
  std::string additional_event_data;
  // Runs the call; returns the reply, or the service's error (error_name/message as
  // AWS's).
  std::function<Result<Reply>()> run;
  // Not OK: the call was refused while it was decoded (a bad member, an unknown
  // key, a damaged ciphertext). It is recorded as its operation — readOnly, the
  // parameters that could be read — and answered with this error, as before
  // any decision.
  Status refused;
};

// A call of a known operation refused while decoded (see Call::refused).
inline Call RefusedCall(std::string operation, Status error) {
  Call call;
  call.operation = std::move(operation);
  call.refused = error;
  call.run = [error = std::move(error)]() -> Result<Reply> { return error; };
  return call;
}

}  // namespace coffer::api
