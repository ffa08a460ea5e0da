#include "policy/evaluate.h"

#include <utility>

#include "common/bytes.h"
#include "common/text.h"
#include "policy/values.h"

namespace coffer::policy {
namespace {

using internal::EqualsIgnoreCase;
using internal::SplitArn;
using internal::ToLower;

// The condition keys of one request, by lower-case name. Built at the first
// lookup: most statements have no condition, and most requests never need one.
class ConditionKeys {
 public:
  explicit ConditionKeys(const RequestContext& ctx) : ctx_(ctx) {}

  // Null when the request does not have the key.
  const std::vector<std::string>* Find(std::string_view key) const {
    if (!built_) Build();
    auto it = keys_.find(ToLower(key));
    return it == keys_.end() ? nullptr : &it->second;
  }

 private:
  void Build() const {
    built_ = true;
    const RequestContext& ctx = ctx_;
    for (const auto& [key, values] : ctx.condition_keys) {
      auto& merged = keys_[ToLower(key)];
      merged.insert(merged.end(), values.begin(), values.end());
    }
    // Facts about the caller come from the authenticated principal only,
    // never from the request's own map.
    for (std::string_view key :
         {"aws:principalarn", "aws:principalaccount", "kms:calleraccount", "aws:userid",
          "aws:principaltype", "aws:username", "aws:principalservicename", "aws:tokenissuetime",
          "aws:multifactorauthpresent", "aws:multifactorauthage"}) {
      keys_.erase(std::string(key));
    }
    const Principal& p = ctx.principal;
    if (p.type == PrincipalType::kAwsService) {
      Set("aws:PrincipalServiceName", p.arn);
    } else {
      Set("aws:PrincipalArn", p.type == PrincipalType::kAssumedRole ? p.role_arn : p.arn);
      Set("aws:PrincipalAccount", p.account_id);
      Set("kms:CallerAccount", p.account_id);
      Set("aws:userid", p.user_id);
      switch (p.type) {
        case PrincipalType::kRoot:
          Set("aws:PrincipalType", "Account");
          break;
        case PrincipalType::kIamUser:
          Set("aws:PrincipalType", "User");
          Set("aws:username", p.arn.substr(p.arn.rfind('/') + 1));
          break;
        case PrincipalType::kAssumedRole:
          Set("aws:PrincipalType", "AssumedRole");
          break;
        case PrincipalType::kAwsService:
          break;
      }
    }
    // Present in every request signed with temporary credentials (IAM User Guide,
    // global condition keys): what "revoke active sessions" and MFA policies test.
    // coffer issues sessions without MFA; long-term credentials have neither key.
    if (p.session_issued) {
      Set("aws:TokenIssueTime", FormatIso8601(*p.session_issued));
      Set("aws:MultiFactorAuthPresent", "false");
    }
    if (ctx.request_time) {
      Set("aws:CurrentTime", FormatIso8601(*ctx.request_time));
      Set("aws:EpochTime", std::to_string(std::chrono::floor<std::chrono::seconds>(
                                              ctx.request_time->time_since_epoch())
                                              .count()));
    }
  }

  void Set(std::string_view key, std::string value) const {
    if (value.empty()) return;
    keys_[ToLower(key)] = {std::move(value)};
  }

  const RequestContext& ctx_;
  mutable bool built_ = false;
  mutable std::map<std::string, std::vector<std::string>> keys_;
};

// A policy value with its policy variables replaced (iam-policy.md; IAM User Guide,
// "Policy variables"): ${key} by the request's value of the condition key (one
// value), ${key, 'default'} by the default when the request has none, and ${*},
// ${?}, ${$} by those characters. `literal[i]` says text[i] came from a variable:
// a '*' or '?' there is a character, not a wildcard.
struct ResolvedValue {
  std::string text;
  std::vector<bool> literal;
};

// Only for policies of Version 2012-10-17, and values holding "${". Nullopt when a
// variable names a key the request does not have (or has several values of) and
// gives no default: such a value matches nothing.
std::optional<ResolvedValue> ResolveVariables(std::string_view value, const ConditionKeys& keys) {
  ResolvedValue out;
  auto add = [&out](std::string_view text, bool literal) {
    out.text.append(text);
    out.literal.insert(out.literal.end(), text.size(), literal);
  };
  for (;;) {
    size_t open = value.find("${");
    size_t close = open == std::string_view::npos ? open : value.find('}', open);
    if (close == std::string_view::npos) {
      add(value, false);
      return out;
    }
    add(value.substr(0, open), false);
    std::string_view inner = TrimBlanks(value.substr(open + 2, close - open - 2));
    value.remove_prefix(close + 1);
    if (inner == "*" || inner == "?" || inner == "$") {
      add(inner, true);
      continue;
    }
    std::optional<std::string_view> fallback;
    if (size_t comma = inner.find(','); comma != std::string_view::npos) {
      std::string_view d = TrimBlanks(inner.substr(comma + 1));
      if (d.size() < 2 || d.front() != '\'' || d.back() != '\'') return std::nullopt;
      fallback = d.substr(1, d.size() - 2);
      inner = TrimBlanks(inner.substr(0, comma));
    }
    const std::vector<std::string>* found = keys.Find(inner);
    if (found != nullptr && found->size() == 1) {
      add((*found)[0], true);
    } else if (fallback && (found == nullptr || found->empty())) {
      add(*fallback, true);
    } else {
      return std::nullopt;
    }
  }
}

// A statement's resources and condition values with their variables replaced.
struct StatementValues {
  std::vector<ResolvedValue> resources;
  std::vector<std::vector<ResolvedValue>> conditions;  // per condition; empty: its own values
};

// IAM: a variable AWS cannot resolve may make the whole statement invalid; here
// it always does (nullopt: the statement applies to nothing, Allow or Deny).
std::optional<StatementValues> ResolveStatement(const Statement& st, const ConditionKeys& keys) {
  StatementValues out;
  for (const std::string& r : st.resources) {
    std::optional<ResolvedValue> v = ResolveVariables(r, keys);
    if (!v) return std::nullopt;
    out.resources.push_back(std::move(*v));
  }
  out.conditions.resize(st.conditions.size());
  for (size_t i = 0; i < st.conditions.size(); ++i) {
    if (!TakesVariables(st.conditions[i].op)) continue;
    for (const std::string& value : st.conditions[i].values) {
      std::optional<ResolvedValue> v = ResolveVariables(value, keys);
      if (!v) return std::nullopt;
      out.conditions[i].push_back(std::move(*v));
    }
  }
  return out;
}

template <typename T>
bool Compare(ConditionOperator op, const T& request, const T& policy) {
  switch (op) {
    case ConditionOperator::kNumericLessThan:
    case ConditionOperator::kDateLessThan:
      return request < policy;
    case ConditionOperator::kNumericLessThanEquals:
    case ConditionOperator::kDateLessThanEquals:
      return request <= policy;
    case ConditionOperator::kNumericGreaterThan:
    case ConditionOperator::kDateGreaterThan:
      return request > policy;
    case ConditionOperator::kNumericGreaterThanEquals:
    case ConditionOperator::kDateGreaterThanEquals:
      return request >= policy;
    default:
      return request == policy;  // …Equals, and …NotEquals before negation
  }
}

// Whether one request value matches one policy value, before negation: for
// StringNotEquals this is "equals". An unparsable request value matches nothing.
// `literal` (when given) marks the characters of `policy` that a policy variable put
// there: no wildcards (StringLike, Arn…).
bool ValueMatches(ConditionOperator op, const std::string& request, const std::string& policy,
                  const std::vector<bool>* literal = nullptr) {
  switch (op) {
    case ConditionOperator::kStringEquals:
    case ConditionOperator::kStringNotEquals:
      return request == policy;
    case ConditionOperator::kStringEqualsIgnoreCase:
    case ConditionOperator::kStringNotEqualsIgnoreCase:
      return EqualsIgnoreCase(request, policy);
    case ConditionOperator::kStringLike:
    case ConditionOperator::kStringNotLike:
      return internal::MatchPattern(policy, literal, request, /*ignore_case=*/false);
    // AWS: ArnEquals and ArnLike behave the same, wildcards in each segment.
    case ConditionOperator::kArnEquals:
    case ConditionOperator::kArnLike:
    case ConditionOperator::kArnNotEquals:
    case ConditionOperator::kArnNotLike:
      return internal::MatchArnPattern(policy, literal, request);
    case ConditionOperator::kNumericEquals:
    case ConditionOperator::kNumericNotEquals:
    case ConditionOperator::kNumericLessThan:
    case ConditionOperator::kNumericLessThanEquals:
    case ConditionOperator::kNumericGreaterThan:
    case ConditionOperator::kNumericGreaterThanEquals: {
      auto r = internal::ParseNumber(request), p = internal::ParseNumber(policy);
      return r && p && Compare(op, *r, *p);
    }
    case ConditionOperator::kDateEquals:
    case ConditionOperator::kDateNotEquals:
    case ConditionOperator::kDateLessThan:
    case ConditionOperator::kDateLessThanEquals:
    case ConditionOperator::kDateGreaterThan:
    case ConditionOperator::kDateGreaterThanEquals: {
      auto r = internal::ParseDateMillis(request), p = internal::ParseDateMillis(policy);
      return r && p && Compare(op, *r, *p);
    }
    case ConditionOperator::kBool: {
      auto r = internal::ParseBool(request), p = internal::ParseBool(policy);
      return r && p && *r == *p;
    }
    case ConditionOperator::kIpAddress:
    case ConditionOperator::kNotIpAddress: {
      auto r = internal::ParseIpBlock(request), p = internal::ParseIpBlock(policy);
      if (!r || !p || r->prefix_bits != (r->v6 ? 128 : 32)) return false;
      return internal::IpInBlock(*r, *p);
    }
    case ConditionOperator::kBinaryEquals: {
      auto r = Base64Decode(request), p = Base64Decode(policy);
      return r.ok() && p.ok() && *r == *p;
    }
    case ConditionOperator::kNull:
      return false;  // handled by ConditionHolds
  }
  return false;
}

// iam-policy.md, Matching: a key's values are ORed; a missing key makes the
// condition false (negated operators: true), except …IfExists and Null.
// ForAnyValue: some request value matches (false for an empty or missing set);
// ForAllValues: every request value matches (true for an empty or missing set).
// An empty set counts as missing for the plain operators, IfExists and Null.
// `resolved`: the condition's values with their variables replaced (null or empty:
// its own values).
bool ConditionHolds(const Condition& c, const ConditionKeys& keys,
                    const std::vector<ResolvedValue>* resolved = nullptr) {
  if (resolved != nullptr && resolved->empty()) resolved = nullptr;
  const std::vector<std::string>* request = keys.Find(c.key);
  const bool absent = request == nullptr || request->empty();
  if (c.op == ConditionOperator::kNull) {
    // {"Null": {"k": "true"}}: k is absent; "false": k is present.
    for (const std::string& v : c.values) {
      if (internal::ParseBool(v) == absent) return true;
    }
    return false;
  }
  const bool negated = IsNegated(c.op);
  if (absent) {
    if (c.if_exists) return true;
    switch (c.set_operator) {
      case SetOperator::kForAnyValue:
        return false;
      case SetOperator::kForAllValues:
        return true;
      case SetOperator::kNone:
        return negated;
    }
  }
  auto matches_any = [&](const std::string& r) {
    if (resolved != nullptr) {
      for (const ResolvedValue& p : *resolved) {
        if (ValueMatches(c.op, r, p.text, &p.literal)) return true;
      }
      return false;
    }
    for (const std::string& p : c.values) {
      if (ValueMatches(c.op, r, p)) return true;
    }
    return false;
  };
  switch (c.set_operator) {
    case SetOperator::kNone: {
      bool any = false;
      for (const std::string& r : *request) any = any || matches_any(r);
      return negated ? !any : any;
    }
    case SetOperator::kForAnyValue:
      for (const std::string& r : *request) {
        if (matches_any(r) != negated) return true;
      }
      return false;
    case SetOperator::kForAllValues:
      for (const std::string& r : *request) {
        if (matches_any(r) == negated) return false;
      }
      return true;
  }
  return false;
}

// 12-digit account id or arn:aws:iam::ACCT:root → ACCT; otherwise empty.
std::string_view AccountOf(std::string_view principal) {
  auto digits = [](std::string_view s) {
    if (s.size() != 12) return false;
    for (char c : s) {
      if (c < '0' || c > '9') return false;
    }
    return true;
  };
  if (digits(principal)) return principal;
  constexpr std::string_view kPrefix = "arn:aws:iam::", kSuffix = ":root";
  if (principal.starts_with(kPrefix) && principal.ends_with(kSuffix)) {
    std::string_view acct =
        principal.substr(kPrefix.size(), principal.size() - kPrefix.size() - kSuffix.size());
    if (digits(acct)) return acct;
  }
  return {};
}

enum class PrincipalMatch { kNone, kAccount, kDirect };

// Whether an ARN in the policy being evaluated may name the caller's user or role:
// not when the policy was saved before that user or role was created.
bool NamesCallersEntity(const RequestContext& ctx) {
  const Principal& caller = ctx.principal;
  return !(ctx.policy_saved && caller.created && *caller.created > *ctx.policy_saved);
}

// An ARN of `spec` that is the caller's own (user, session) or its role's.
bool NamesCaller(const std::string& p, const Principal& caller) {
  // iam-policy.md: a role ARN covers every session of that role.
  return p == caller.arn || (caller.type == PrincipalType::kAssumedRole && p == caller.role_arn);
}

// Principal: the caller matches directly (its user/root/session ARN, its role
// ARN, "*", its service) or through its account (delegation; for the root
// caller the account is itself, so that is direct).
PrincipalMatch MatchPrincipal(const PrincipalSpec& spec, const RequestContext& ctx) {
  const Principal& caller = ctx.principal;
  if (spec.wildcard) return PrincipalMatch::kDirect;
  if (caller.type == PrincipalType::kAwsService) {
    for (const std::string& s : spec.services) {
      if (s == caller.arn) return PrincipalMatch::kDirect;
    }
    return PrincipalMatch::kNone;
  }
  const bool by_arn = NamesCallersEntity(ctx);
  PrincipalMatch best = PrincipalMatch::kNone;
  for (const std::string& p : spec.aws) {
    if (by_arn && NamesCaller(p, caller)) return PrincipalMatch::kDirect;
    std::string_view acct = AccountOf(p);
    if (!acct.empty() && acct == caller.account_id) {
      if (caller.type == PrincipalType::kRoot) return PrincipalMatch::kDirect;
      best = PrincipalMatch::kAccount;
    }
  }
  return best;
}

// NotPrincipal excludes only the principals it names: the account form
// excludes the account's root, not every principal of the account (AWS).
bool ExcludedByNotPrincipal(const PrincipalSpec& spec, const RequestContext& ctx) {
  const Principal& caller = ctx.principal;
  if (spec.wildcard) return true;
  if (caller.type == PrincipalType::kAwsService) {
    for (const std::string& s : spec.services) {
      if (s == caller.arn) return true;
    }
    return false;
  }
  const bool by_arn = NamesCallersEntity(ctx);
  for (const std::string& p : spec.aws) {
    if (by_arn && NamesCaller(p, caller)) return true;
    if (caller.type == PrincipalType::kRoot && AccountOf(p) == caller.account_id) return true;
  }
  return false;
}

enum class PolicyRole { kResource, kIdentity };

bool ActionApplies(const Statement& st, std::string_view action) {
  bool any = false;
  for (const std::string& a : st.actions) any = any || ActionMatches(a, action);
  return st.not_action ? !any : any;
}

// `resolved`: the statement's resources with their variables replaced (null: none).
bool ResourceApplies(const Statement& st, PolicyRole role, const RequestContext& ctx,
                     const StatementValues* resolved) {
  if (role == PolicyRole::kResource) {
    // A resource-based policy governs only its own resource; there "*" (and a
    // statement without Resource, as in a trust policy) means that resource.
    const std::string& self = ctx.policy_resource.empty() ? ctx.resource : ctx.policy_resource;
    if (ctx.resource != self) return false;
    if (!st.has_resource) return true;
  } else if (!st.has_resource) {
    return false;  // an identity statement names its resources
  }
  bool any = false;
  if (resolved != nullptr) {
    for (const ResolvedValue& r : resolved->resources) {
      any = any || internal::MatchArnPattern(r.text, &r.literal, ctx.resource);
    }
  } else {
    for (const std::string& r : st.resources) any = any || ArnMatches(r, ctx.resource);
  }
  return st.not_resource ? !any : any;
}

struct PolicyOutcome {
  bool deny = false;
  bool allow_direct = false;
  bool allow_account = false;  // allowed only through the caller's account
};

void EvaluatePolicy(const Policy& policy, PolicyRole role, const RequestContext& ctx,
                    const ConditionKeys& keys, PolicyOutcome& out) {
  for (const Statement& st : policy.statements()) {
    PrincipalMatch who = PrincipalMatch::kDirect;  // identity policies: the caller's own
    if (st.principal) {
      if (st.not_principal) {
        who = ExcludedByNotPrincipal(*st.principal, ctx) ? PrincipalMatch::kNone
                                                         : PrincipalMatch::kDirect;
      } else {
        who = MatchPrincipal(*st.principal, ctx);
      }
    } else if (role == PolicyRole::kResource) {
      who = PrincipalMatch::kNone;  // a resource policy statement must name principals
    }
    if (who == PrincipalMatch::kNone || !ActionApplies(st, ctx.action)) continue;
    std::optional<StatementValues> resolved;
    if (st.uses_variables) {
      resolved = ResolveStatement(st, keys);
      if (!resolved) continue;
    }
    const StatementValues* values = resolved ? &*resolved : nullptr;
    if (!ResourceApplies(st, role, ctx, values)) continue;
    bool conditions_hold = true;
    for (size_t i = 0; i < st.conditions.size(); ++i) {
      if (!ConditionHolds(st.conditions[i], keys, values ? &values->conditions[i] : nullptr)) {
        conditions_hold = false;
        break;
      }
    }
    if (!conditions_hold) continue;
    if (st.effect == Effect::kDeny) {
      out.deny = true;  // a Deny naming the account covers every principal in it
    } else if (who == PrincipalMatch::kDirect) {
      out.allow_direct = true;
    } else {
      out.allow_account = true;
    }
  }
}

PolicyOutcome EvaluateIdentityPolicies(const std::vector<const Policy*>& policies,
                                       const RequestContext& ctx, const ConditionKeys& keys) {
  PolicyOutcome out;
  for (const Policy* p : policies) EvaluatePolicy(*p, PolicyRole::kIdentity, ctx, keys, out);
  return out;
}

// Key policies and trust policies: the resource policy must allow, directly
// or through the account (then an identity policy must allow too).
Decision EvaluateWithResourcePolicy(const Policy& resource_policy,
                                    const std::vector<const Policy*>& identity_policies,
                                    const RequestContext& ctx) {
  ConditionKeys keys(ctx);
  PolicyOutcome resource;
  EvaluatePolicy(resource_policy, PolicyRole::kResource, ctx, keys, resource);
  PolicyOutcome identity = EvaluateIdentityPolicies(identity_policies, ctx, keys);
  if (resource.deny) return Decision::kExplicitDenyResource;
  if (identity.deny) return Decision::kExplicitDenyIdentity;
  if (resource.allow_direct) return Decision::kAllow;
  if (resource.allow_account) {
    return identity.allow_direct ? Decision::kAllow : Decision::kImplicitDenyNoIdentityPolicy;
  }
  return Decision::kImplicitDenyNoResourcePolicy;
}

}  // namespace

Principal Principal::Root(std::string_view account_id) {
  Principal p;
  p.type = PrincipalType::kRoot;
  p.account_id = std::string(account_id);
  p.arn = "arn:aws:iam::" + p.account_id + ":root";
  p.user_id = p.account_id;
  return p;
}

Principal Principal::IamUser(std::string_view user_arn, std::string_view user_id) {
  Principal p;
  p.type = PrincipalType::kIamUser;
  p.arn = std::string(user_arn);
  auto parts = SplitArn(user_arn);
  if (parts.size() == 6) p.account_id = std::string(parts[4]);
  p.user_id = std::string(user_id);
  return p;
}

Principal Principal::AssumedRole(std::string_view role_arn, std::string_view session_name,
                                 std::string_view role_id) {
  Principal p;
  p.type = PrincipalType::kAssumedRole;
  p.role_arn = std::string(role_arn);
  p.session_name = std::string(session_name);
  auto parts = SplitArn(role_arn);
  if (parts.size() == 6) p.account_id = std::string(parts[4]);
  // The session ARN names the role without its path.
  std::string_view role_name = role_arn.substr(role_arn.rfind('/') + 1);
  p.arn = "arn:aws:sts::" + p.account_id + ":assumed-role/" + std::string(role_name) + "/" +
          p.session_name;
  p.user_id = std::string(role_id) + ":" + p.session_name;
  return p;
}

Principal Principal::Service(std::string_view service_name) {
  Principal p;
  p.type = PrincipalType::kAwsService;
  p.arn = std::string(service_name);
  return p;
}

void RequestContext::SetEncryptionContext(const std::map<std::string, std::string>& context) {
  std::vector<std::string> names;
  for (const auto& [k, v] : context) {
    condition_keys["kms:EncryptionContext:" + k] = {v};
    names.push_back(k);
  }
  condition_keys["kms:EncryptionContextKeys"] = std::move(names);
}

std::string_view DecisionName(Decision d) {
  switch (d) {
    case Decision::kAllow:
      return "Allow";
    case Decision::kImplicitDenyNoResourcePolicy:
      return "ImplicitDenyNoResourcePolicy";
    case Decision::kImplicitDenyNoIdentityPolicy:
      return "ImplicitDenyNoIdentityPolicy";
    case Decision::kExplicitDenyResource:
      return "ExplicitDenyResource";
    case Decision::kExplicitDenyIdentity:
      return "ExplicitDenyIdentity";
  }
  return "?";
}

Decision EvaluateKms(const Policy& key_policy, const std::vector<const Policy*>& identity_policies,
                     const RequestContext& ctx) {
  return EvaluateWithResourcePolicy(key_policy, identity_policies, ctx);
}

Decision EvaluateTrust(const Policy& trust_policy,
                       const std::vector<const Policy*>& identity_policies,
                       const RequestContext& ctx) {
  return EvaluateWithResourcePolicy(trust_policy, identity_policies, ctx);
}

Decision EvaluateIdentity(const std::vector<const Policy*>& identity_policies,
                          const RequestContext& ctx) {
  ConditionKeys keys(ctx);
  PolicyOutcome identity = EvaluateIdentityPolicies(identity_policies, ctx, keys);
  if (identity.deny) return Decision::kExplicitDenyIdentity;
  if (ctx.principal.type == PrincipalType::kRoot) {
    // iam-policy.md, Evaluation 3: the account root may do anything in its account.
    auto parts = SplitArn(ctx.resource);
    bool other_account =
        parts.size() == 6 && !parts[4].empty() && parts[4] != ctx.principal.account_id;
    return other_account ? Decision::kImplicitDenyNoIdentityPolicy : Decision::kAllow;
  }
  return identity.allow_direct ? Decision::kAllow : Decision::kImplicitDenyNoIdentityPolicy;
}

std::string AccessDeniedMessage(Decision d, const RequestContext& ctx) {
  if (d == Decision::kAllow) return {};
  // kms.md, AccessDeniedException (the form with the reason, used everywhere).
  std::string m = "User: " + ctx.principal.arn + " is not authorized to perform: " + ctx.action +
                  " on resource: " + ctx.resource;
  // STS refuses AssumeRole without a reason (aws-protocols.md), in the words it
  // uses for a role that does not exist: the answer does not tell which it was.
  if (ctx.action == "sts:AssumeRole") return m;
  switch (d) {
    case Decision::kImplicitDenyNoResourcePolicy:
      return m + " because no resource-based policy allows the " + ctx.action + " action";
    case Decision::kImplicitDenyNoIdentityPolicy:
      return m + " because no identity-based policy allows the " + ctx.action + " action";
    case Decision::kExplicitDenyResource:
      return m + " with an explicit deny in a resource-based policy";
    case Decision::kExplicitDenyIdentity:
      return m + " with an explicit deny in an identity-based policy";
    case Decision::kAllow:
      break;
  }
  return m;
}

Status AccessDeniedError(Decision d, const RequestContext& ctx) {
  if (d == Decision::kAllow) return Status::Ok();
  return Status(StatusCode::kPermissionDenied, "AccessDeniedException",
                AccessDeniedMessage(d, ctx));
}

bool PassesLockoutSafetyCheck(const Policy& proposed_key_policy,
                              const std::vector<const Policy*>& identity_policies,
                              const RequestContext& ctx) {
  RequestContext put = ctx;
  put.action = "kms:PutKeyPolicy";
  return EvaluateKms(proposed_key_policy, identity_policies, put) == Decision::kAllow;
}

bool WildcardMatch(std::string_view pattern, std::string_view text, bool ignore_case) {
  return internal::MatchPattern(pattern, nullptr, text, ignore_case);
}

bool ActionMatches(std::string_view pattern, std::string_view action) {
  return WildcardMatch(pattern, action, /*ignore_case=*/true);
}

bool ArnMatches(std::string_view pattern, std::string_view arn) {
  return internal::MatchArnPattern(pattern, nullptr, arn);
}

}  // namespace coffer::policy
