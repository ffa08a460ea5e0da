#pragma once
// The IAM policy language, parsed: key policies, identity policies and role
// trust policies (shared/reference/iam-policy.md).
//
// A Policy exists only as the result of Policy::Parse, which checks the whole
// document; an object that exists is valid. Policies are immutable values,
// safe to share between threads. This layer is pure: no I/O, no clock, and
// evaluation (policy/evaluate.h) takes everything it needs from its arguments.
//
// Errors: every parse failure is a Status with error name
// "MalformedPolicyDocumentException" (StatusCode::kInvalidArgument) and a
// message naming what is wrong and where, e.g.
//   Statement[1] (Sid "Allow use of the key"): unknown field "Actions"
// IAM's Query API calls the same error "MalformedPolicyDocument"; api/ maps it.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/status.h"

namespace coffer::policy {

inline constexpr std::string_view kMalformedPolicyDocument = "MalformedPolicyDocumentException";

// What a document is used as. The structural rules are the same for all; the
// kinds add AWS's rules about which elements a statement must or must not have.
enum class PolicyKind {
  kAny,             // structure only
  kKeyPolicy,       // every statement has Principal|NotPrincipal and Resource|NotResource
  kIdentityPolicy,  // no Principal/NotPrincipal; Resource|NotResource required;
                    // Sids alphanumeric and unique (IAM's rules)
  kTrustPolicy,     // Principal|NotPrincipal required; no Resource/NotResource;
                    // unique Sids
};

enum class Effect { kAllow, kDeny };

// The value of a Principal or NotPrincipal element.
struct PrincipalSpec {
  bool wildcard = false;  // "*" or {"AWS":"*"}: every principal
  // AWS principals as written: "arn:aws:iam::ACCT:root|user/…|role/…",
  // "arn:aws:sts::ACCT:assumed-role/ROLE/SESSION" or a 12-digit account id.
  std::vector<std::string> aws;
  std::vector<std::string> services;  // "rds.amazonaws.com"
};

enum class ConditionOperator {
  kStringEquals,
  kStringNotEquals,
  kStringEqualsIgnoreCase,
  kStringNotEqualsIgnoreCase,
  kStringLike,
  kStringNotLike,
  kArnEquals,
  kArnLike,
  kArnNotEquals,
  kArnNotLike,
  kNumericEquals,
  kNumericNotEquals,
  kNumericLessThan,
  kNumericLessThanEquals,
  kNumericGreaterThan,
  kNumericGreaterThanEquals,
  kDateEquals,
  kDateNotEquals,
  kDateLessThan,
  kDateLessThanEquals,
  kDateGreaterThan,
  kDateGreaterThanEquals,
  kBool,
  kNull,
  kIpAddress,
  kNotIpAddress,
  kBinaryEquals,
};

// The operator's name without qualifier or suffix ("StringLike").
std::string_view ConditionOperatorName(ConditionOperator op);

// True for the operators whose result is the negation of a positive match
// (StringNotEquals, ArnNotLike, NumericNotEquals, DateNotEquals, NotIpAddress, …):
// with a missing key they are true (iam-policy.md, Matching).
bool IsNegated(ConditionOperator op);

enum class SetOperator { kNone, kForAnyValue, kForAllValues };

// One key under one operator: {"ForAnyValue:StringLike": {"kms:EncryptionContextKeys": [...]}}.
struct Condition {
  ConditionOperator op = ConditionOperator::kStringEquals;
  SetOperator set_operator = SetOperator::kNone;
  bool if_exists = false;
  std::string operator_text;  // as written, for diagnostics
  std::string key;            // as written; keys are compared case-insensitively
  // Never empty. Numbers and booleans are normalised to their JSON text
  // ("5", "1.5", "true"). Typed operators' values were checked by the parser:
  // numbers, dates (ISO 8601 or epoch seconds), "true"/"false", CIDR blocks, base64.
  std::vector<std::string> values;
};

struct Statement {
  std::string sid;  // empty when absent
  Effect effect = Effect::kAllow;

  // Principal or NotPrincipal; absent in identity policies.
  std::optional<PrincipalSpec> principal;
  bool not_principal = false;

  // Action or NotAction: "*" or "service:pattern". A key policy statement may
  // have neither: it then lists no action and applies to none.
  std::vector<std::string> actions;
  bool not_action = false;

  // Resource or NotResource: "*" or ARN patterns. Absent in trust policies,
  // where the statement is about the role itself. A key policy statement
  // without either has has_resource set and no resources: it applies to none.
  bool has_resource = false;
  std::vector<std::string> resources;
  bool not_resource = false;

  std::vector<Condition> conditions;  // all must hold

  // Version 2012-10-17 and a resource, or a value of a string or ARN condition,
  // holds "${": policy variables, replaced at evaluation (policy/evaluate.h).
  bool uses_variables = false;
};

// The condition operators whose values may hold policy variables: the string
// and ARN comparisons.
bool TakesVariables(ConditionOperator op);

// A resource-based policy as stored (key policy, trust policy), with when it was
// last saved (unset for policies stored before coffer recorded it).
struct SavedPolicy {
  std::string text;
  std::optional<TimePoint> saved;
};

class Policy {
 public:
  // Parses and validates a policy document. Checks: a JSON object with no
  // duplicate keys; Version "2012-10-17" or "2008-10-17" (absent means
  // "2008-10-17", as AWS); Id a string; Statement an object or a non-empty
  // array; in each statement only the known fields, Effect "Allow"|"Deny",
  // exactly one of Action/NotAction, at most one of Principal/NotPrincipal and
  // of Resource/NotResource, well-formed actions ("*" or "service:action"),
  // resources ("*" or an ARN), principals (no wildcards but "*"; Federated and
  // CanonicalUser are not supported), and conditions (known operators, values
  // of the operator's type). `kind` adds the rules listed at PolicyKind.
  static Result<Policy> Parse(std::string_view json, PolicyKind kind = PolicyKind::kAny);

  const std::string& version() const { return version_; }
  const std::string& id() const { return id_; }  // empty when absent
  const std::vector<Statement>& statements() const { return statements_; }

  // Whether evaluating it may read a condition key that starts with `prefix`
  // (lower case, as "aws:resourcetag/"): a condition on such a key, or a statement
  // with policy variables (which may name any key). Lets the caller gather costly
  // keys only for the policies that use them.
  bool MayRead(std::string_view prefix) const;

 private:
  Policy() = default;

  std::string version_;
  std::string id_;
  std::vector<Statement> statements_;
};

// The key policy KMS gives a key created without one (kms.md, "key-default-1"):
// the account root may do kms:* — delegation to the account's identity policies.
// Compact JSON.
std::string DefaultKeyPolicy(std::string_view account_id);

// The policy the console's create-key wizard builds (kms.md,
// "key-consolepolicy-3"), in compact JSON: the account root, the key
// administrators (`admin_arns`) and the key users (`user_arns`). Without
// `admins_can_delete` the administrators' statement lacks
// kms:ScheduleKeyDeletion and kms:CancelKeyDeletion. Statements whose principal
// list would be empty are left out.
std::string ConsoleKeyPolicy(std::string_view account_id,
                             const std::vector<std::string>& admin_arns,
                             const std::vector<std::string>& user_arns, bool admins_can_delete);

// What the console's key page changes in a key policy: the key administrators
// and key users it adds and removes.
struct KeyPrincipalsEdit {
  std::vector<std::string> add_admins, remove_admins;
  std::vector<std::string> add_users, remove_users;
  // When an administrator is added to a policy without the administrators'
  // statement: whether the new statement lets them schedule and cancel deletion.
  bool admins_can_delete = true;
};

struct EditedKeyPolicy {
  std::string policy;    // compact JSON
  bool changed = false;  // whether any principal or statement was added or removed
};

// The console key page's "Key administrators" and "Key users" panels, on
// `policy` (a key policy's JSON): the ARNs go into and out of the principals of
// the console's statements (ConsoleKeyPolicy's Sids: "Allow access for Key
// Administrators"; "Allow use of the key" and "Allow attachment of persistent
// resources" for key users).
// - Removing an ARN takes every copy of it out; adding one already there
//   changes nothing.
// - A missing console statement is added, with the console's actions, when a
//   principal is added to it. A missing grants statement is added for the new
//   key users only (those the use statement did not name): the policy's author
//   may have left it out for the others.
// - A statement the edit leaves without principals is removed.
// - Statements the edit does not touch stay as they were, and so does the order
//   of everything (a single Statement object becomes an array).
// Errors (and nothing changed): kInvalidArgument when `policy` is not a JSON
// object with a Statement, or an ARN is both added and removed; kNotFound when
// a removed ARN is not an administrator (a user) of the policy;
// kFailedPrecondition when a statement to edit is not an Allow naming its
// principals as the console does ({"AWS": [ARN, …]} or "AWS": ARN, with no
// NotPrincipal or NotAction).
Result<EditedKeyPolicy> EditConsoleKeyPolicy(std::string_view policy,
                                             const KeyPrincipalsEdit& edit);

}  // namespace coffer::policy
