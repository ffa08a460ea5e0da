#pragma once
// A decoded call, between a protocol codec (kms_json, iam_query, sts_query) and
// the request pipeline (endpoint): parse → authenticate → decode → authorize →
// execute → encode.
//
// A codec turns a request body into a Call: the decisions the call needs
// (action, resource, condition keys) and a closure that runs it against the
// service and encodes the reply body. The pipeline authorizes every decision
// with policy/ before it runs the closure; a codec never authorizes.
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
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
};

struct Call {
  std::string operation;  // "Encrypt", as in the X-Amz-Target / Action
  // Every decision the call needs, in order; the first refused one answers the call.
  // Empty: the call needs none (sts:GetCallerIdentity).
  std::vector<Authorization> authorizations;
  // CreateKey / PutKeyPolicy without BypassPolicyLockoutSafetyCheck: the proposed key
  // policy and the key ARN it is for (for CreateKey, the ARN the new key will have is not
  // known: "*"). The pipeline refuses with MalformedPolicyDocumentException
  // (policy::kLockoutSafetyCheckMessage) if the caller could not PutKeyPolicy under it.
  std::optional<std::string> lockout_check_policy;
  std::string lockout_check_resource;
  // Runs the call; returns the reply body in the protocol's encoding, or the service's
  // error (error_name/message as AWS's).
  std::function<Result<std::string>()> run;
};

}  // namespace coffer::api
