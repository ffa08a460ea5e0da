#pragma once
// Policy evaluation: does a policy set allow a caller to perform an action on
// a resource? (shared/reference/iam-policy.md, Matching and Evaluation.)
//
// Pure functions of their arguments: no I/O, no clock (the request's time
// arrives in RequestContext::request_time), no global state; safe to call
// from any thread. The caller (api/, or a service asking for a second
// decision) gathers the policies and the context; this layer decides.
//
// Policy variables (Version 2012-10-17 only), in resources and in the values of
// string and ARN conditions: ${key} is the request's value of a condition key
// ("arn:aws:iam::*:user/${aws:username}"), ${key, 'default'} the default when the
// request lacks the key, ${*} ${?} ${$} those characters (never wildcards). A
// variable that cannot be replaced (the key is absent or has several values, and
// there is no default) makes its statement apply to nothing, Allow or Deny.
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "policy/policy.h"

namespace coffer::policy {

enum class PrincipalType { kRoot, kIamUser, kAssumedRole, kAwsService };

// The authenticated caller.
struct Principal {
  PrincipalType type = PrincipalType::kIamUser;
  // The caller's own ARN, as named in error messages and CloudTrail:
  //   root          arn:aws:iam::ACCT:root
  //   IAM user      arn:aws:iam::ACCT:user/[path/]NAME
  //   assumed role  arn:aws:sts::ACCT:assumed-role/ROLE/SESSION
  //   AWS service   the service principal name, "rds.amazonaws.com"
  std::string arn;
  std::string account_id;    // empty for a service
  std::string user_id;       // AIDA… (user), AROA…:SESSION (role session), ACCT (root)
  std::string role_arn;      // assumed role only: arn:aws:iam::ACCT:role/[path/]ROLE
  std::string session_name;  // assumed role only
  // When the IAM user, or the role of a session, was created (unknown: unset). A
  // resource-based policy saved before then names an earlier user or role of the
  // same ARN, not this one (IAM binds a policy's principals when it is saved).
  std::optional<TimePoint> created;
  // Temporary credentials only: when their session was issued (aws:TokenIssueTime,
  // and CloudTrail's sessionContext.attributes.creationDate).
  std::optional<TimePoint> session_issued;

  static Principal Root(std::string_view account_id);
  static Principal IamUser(std::string_view user_arn, std::string_view user_id);
  // `role_id` is the role's unique id (AROA…); user_id becomes "AROA…:SESSION".
  static Principal AssumedRole(std::string_view role_arn, std::string_view session_name,
                               std::string_view role_id);
  static Principal Service(std::string_view service_name);
};

// Everything a decision depends on.
struct RequestContext {
  Principal principal;
  std::string action;    // "kms:Encrypt"
  std::string resource;  // the ARN acted on, e.g. the key ARN
  // The resource whose resource-based policy is evaluated ("this resource"):
  // in a key policy "Resource":"*" means this key, and a trust policy's
  // statements are about this role. Empty means `resource`.
  std::string policy_resource;
  // The request's time; gives aws:CurrentTime and aws:EpochTime.
  std::optional<TimePoint> request_time;
  // When the resource-based policy evaluated (key or trust policy) was saved:
  // its user, role and session ARNs name the principals that existed then, so
  // one created later (deleted and created again under the same name) is not
  // named by it. Unset: not known, ARNs match whatever their age.
  std::optional<TimePoint> policy_saved;
  // Condition keys → values; a single-valued key has one value, an empty
  // list is an empty set. Key names are compared case-insensitively in full,
  // including the <k> of kms:EncryptionContext:<k> (iam-policy.md: "the <key>
  // part is case-insensitive") and of aws:PrincipalTag/<k>,
  // aws:RequestTag/<k>, aws:ResourceTag/<k> (AWS: tag keys in condition keys
  // are case-insensitive); values keep their case. Keys that differ only in
  // case have their values merged.
  //
  // Derived from `principal` and `request_time`, and overriding this map:
  // aws:PrincipalArn (for sessions: the role ARN), aws:PrincipalAccount,
  // aws:PrincipalType (Account|User|AssumedRole), aws:userid, aws:username
  // (IAM users), kms:CallerAccount, aws:PrincipalServiceName (services),
  // aws:CurrentTime, aws:EpochTime.
  std::map<std::string, std::vector<std::string>> condition_keys;

  // Sets kms:EncryptionContext:<k> for each pair and kms:EncryptionContextKeys
  // (present, and empty for an empty context).
  void SetEncryptionContext(const std::map<std::string, std::string>& context);
};

enum class Decision {
  kAllow,
  kImplicitDenyNoResourcePolicy,  // no resource-based policy allows
  kImplicitDenyNoIdentityPolicy,  // no identity-based policy allows
  kExplicitDenyResource,          // an explicit deny in a resource-based policy
  kExplicitDenyIdentity,          // an explicit deny in an identity-based policy
};

std::string_view DecisionName(Decision d);

// KMS (iam-policy.md, Evaluation 1–2): an explicit Deny in the key policy or
// any identity policy wins; otherwise the key policy must allow the caller,
// either by naming it (user ARN, role ARN — every session of the role —,
// session ARN, "*", a service) or by naming the caller's account (account id
// or arn:aws:iam::ACCT:root), in which case one of the caller's identity
// policies must also allow. A key policy never implicitly trusts the account.
// The account root itself is allowed when the key policy names its account.
// `identity_policies` are the caller's (user's or role's); none for root or a
// service. Null pointers are not allowed.
Decision EvaluateKms(const Policy& key_policy, const std::vector<const Policy*>& identity_policies,
                     const RequestContext& ctx);

// IAM, STS, backup (iam-policy.md, Evaluation 3): an explicit Deny wins; the
// account root may do anything in its own account (resources whose ARN names
// another account are denied); otherwise some identity policy must allow.
Decision EvaluateIdentity(const std::vector<const Policy*>& identity_policies,
                          const RequestContext& ctx);

// sts:AssumeRole (iam-policy.md, STS): the role's trust policy must allow the
// caller (ctx.resource and ctx.policy_resource: the role ARN); when it names
// only the caller's account, one of the caller's identity policies must also
// allow sts:AssumeRole on the role. Note: AWS refuses AssumeRole by the root
// user before any policy ("Roles may not be assumed by root accounts"); that
// rule belongs to sts/.
Decision EvaluateTrust(const Policy& trust_policy,
                       const std::vector<const Policy*>& identity_policies,
                       const RequestContext& ctx);

// kms.md, AccessDeniedException:
//   User: <caller ARN> is not authorized to perform: <action> on resource: <resource> because
//   no resource-based policy allows the <action> action
// and the variants "… because no identity-based policy allows the <action> action",
// "… with an explicit deny in a resource-based policy", "… with an explicit deny in an
// identity-based policy". Empty for kAllow.
std::string AccessDeniedMessage(Decision d, const RequestContext& ctx);
// The same as a Status: "AccessDeniedException", StatusCode::kPermissionDenied. OK for kAllow.
Status AccessDeniedError(Decision d, const RequestContext& ctx);

// The lockout safety check of CreateKey and PutKeyPolicy (kms.md): would the
// caller (ctx.principal, on ctx.resource) still be allowed kms:PutKeyPolicy
// under `proposed_key_policy`? ctx.action is ignored.
bool PassesLockoutSafetyCheck(const Policy& proposed_key_policy,
                              const std::vector<const Policy*>& identity_policies,
                              const RequestContext& ctx);
// MalformedPolicyDocumentException's message when the check fails.
inline constexpr std::string_view kLockoutSafetyCheckMessage =
    "The new key policy will not allow you to update the key policy in the future.";

// Matching primitives (iam-policy.md, Matching), exposed for services that
// match names themselves.
// `*` matches any run of characters, `?` any one character.
bool WildcardMatch(std::string_view pattern, std::string_view text, bool ignore_case = false);
// Case-insensitive, with wildcards: ActionMatches("kms:generatedatakey*",
// "kms:GenerateDataKeyPair").
bool ActionMatches(std::string_view pattern, std::string_view action);
// Case-sensitive; `*`/`?` match within each of the five colon-separated
// segments before the resource, and anywhere (across '/' and ':') in the
// resource part. "*" matches everything. A non-ARN text matches only "*".
bool ArnMatches(std::string_view pattern, std::string_view arn);

}  // namespace coffer::policy
