// Fuzz target: the IAM policy language (policy/): Policy::Parse for every PolicyKind
// and, for a document that parses, the evaluation of requests against it
// (EvaluateKms, EvaluateIdentity, EvaluateTrust, AccessDeniedMessage,
// PassesLockoutSafetyCheck) and the matching primitives.
//
// Input: a first line of choice bytes, then the policy document:
//   CHOICES LF DOCUMENT
// The choices pick, for a few requests, the caller, the action, the resource and the
// values of the condition keys, from fixed ones and from names taken from the
// document itself (its principals, its actions and resources with their wildcards
// filled in, the keys and values of its conditions), so that statements do match.
// Seeds: the key policies of shared/reference/kms.md and iam-policy.md and the
// shapes the policy tests use.
//
// Properties (besides no crash, no sanitizer report):
//  - every parse error is a MalformedPolicyDocumentException; the kinds only add
//    rules, so a document valid as any kind is valid as kAny, with the same statements;
//  - a pattern from the document matches itself and its filled-in instances;
//  - AccessDeniedMessage/AccessDeniedError agree with the decision;
//  - PassesLockoutSafetyCheck is EvaluateKms for kms:PutKeyPolicy;
//  - identity policies can only add an identity deny to a key policy's allow, and
//    never remove a resource deny;
//  - condition key names are case-insensitive: upper-casing them changes nothing;
//  - facts about the caller (aws:PrincipalArn, kms:CallerAccount, …) come from the
//    authenticated principal only: setting them in the request changes nothing.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_util.h"
#include "policy/evaluate.h"
#include "policy/policy.h"
#include "policy/values.h"

namespace coffer::fuzz {
namespace {

using policy::Decision;
using policy::Policy;
using policy::PolicyKind;
using policy::Principal;
using policy::RequestContext;

constexpr std::string_view kAccount = "111122223333";
constexpr std::string_view kKeyArn =
    "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
constexpr std::string_view kRoleArn = "arn:aws:iam::111122223333:role/rdstestrole";

// A text that a pattern with `*` and `?` matches: each `*` dropped, each `?` an 'x'.
std::string FillWildcards(std::string_view pattern) {
  std::string out;
  for (char c : pattern) {
    if (c == '*') continue;
    out += c == '?' ? 'x' : c;
  }
  return out;
}

std::string Upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

// The callers a document names: its AWS principals and its services.
void AddPrincipalsFrom(const policy::PrincipalSpec& spec, std::vector<Principal>& out) {
  for (const std::string& p : spec.aws) {
    auto parts = policy::internal::SplitArn(p);
    if (parts.size() == 1) {
      out.push_back(Principal::Root(p));  // a 12-digit account id
    } else if (parts.size() == 6 && parts[2] == "iam" && parts[5] == "root") {
      out.push_back(Principal::Root(parts[4]));
    } else if (parts.size() == 6 && parts[2] == "iam" && parts[5].starts_with("user/")) {
      out.push_back(Principal::IamUser(p, "AIDAFUZZ"));
    } else if (parts.size() == 6 && parts[2] == "iam" && parts[5].starts_with("role/")) {
      out.push_back(Principal::AssumedRole(p, "fuzz-session", "AROAFUZZ"));
    } else if (parts.size() == 6 && parts[2] == "sts") {
      // assumed-role/ROLE/SESSION
      std::string_view rest = parts[5].substr(parts[5].find('/') + 1);
      size_t slash = rest.find('/');
      out.push_back(Principal::AssumedRole(
          "arn:aws:iam::" + std::string(parts[4]) + ":role/" + std::string(rest.substr(0, slash)),
          rest.substr(slash + 1), "AROAFUZZ"));
    }
  }
  for (const std::string& s : spec.services) out.push_back(Principal::Service(s));
}

struct Candidates {
  std::vector<Principal> principals;
  std::vector<std::string> actions;
  std::vector<std::string> resources;
  std::vector<const policy::Condition*> conditions;
};

Candidates CandidatesFor(const Policy& doc) {
  Candidates c;
  c.principals = {Principal::Root(kAccount),
                  Principal::IamUser("arn:aws:iam::111122223333:user/alice", "AIDAALICE"),
                  Principal::AssumedRole(kRoleArn, "RDS-SqlServerBackupRestore", "AROARDSTEST"),
                  Principal::Service("rds.amazonaws.com"),
                  Principal::IamUser("arn:aws:iam::444455556666:user/mallory", "AIDAMALLORY")};
  c.actions = {"kms:Encrypt",    "kms:Decrypt",    "kms:PutKeyPolicy", "kms:GenerateDataKeyPair",
               "sts:AssumeRole", "iam:CreateUser", "s3:GetObject"};
  c.resources = {std::string(kKeyArn), std::string(kRoleArn),
                 "arn:aws:kms:us-east-1:444455556666:key/0987dcba-09fe-87dc-65ba-ab0987654321",
                 "arn:aws:s3:::backups/db1.bak"};
  for (const policy::Statement& st : doc.statements()) {
    if (st.principal) AddPrincipalsFrom(*st.principal, c.principals);
    for (const std::string& a : st.actions) c.actions.push_back(FillWildcards(a));
    for (const std::string& r : st.resources) {
      if (r != "*") c.resources.push_back(FillWildcards(r));
    }
    for (const policy::Condition& cond : st.conditions) c.conditions.push_back(&cond);
  }
  return c;
}

template <typename T>
const T& PickFrom(Choices& choices, const std::vector<T>& v) {
  return v[choices.Pick(v.size())];
}

RequestContext MakeContext(Choices& choices, const Candidates& c) {
  RequestContext ctx;
  ctx.principal = PickFrom(choices, c.principals);
  ctx.action = PickFrom(choices, c.actions);
  ctx.resource = PickFrom(choices, c.resources);
  switch (choices.Pick(3)) {
    case 0:
      break;  // the resource's own policy
    case 1:
      ctx.policy_resource = std::string(kKeyArn);
      break;
    case 2:
      ctx.policy_resource = PickFrom(choices, c.resources);
      break;
  }
  if (choices.Flag()) ctx.request_time = FromEpochMillis(1796032668000);  // 2026-11-30
  if (choices.Flag()) ctx.SetEncryptionContext({{"purpose", "backup"}, {"Tenant", "db1"}});
  // The condition keys the document tests, each absent, empty or with values that
  // match or do not.
  for (size_t i = 0; i < c.conditions.size() && i < 16; ++i) {
    const policy::Condition& cond = *c.conditions[i];
    std::vector<std::string>& values = ctx.condition_keys[cond.key];
    switch (choices.Pick(7)) {
      case 0:
        ctx.condition_keys.erase(cond.key);
        break;
      case 1:
        values.push_back(cond.values.front());
        break;
      case 2:
        values.push_back(FillWildcards(cond.values.front()));
        break;
      case 3:
        break;  // present, empty
      case 4:
        values.insert(values.end(), cond.values.begin(), cond.values.end());
        break;
      case 5:
        values.push_back("other");
        break;
      case 6:
        values.push_back(Upper(cond.values.back()));
        break;
    }
  }
  return ctx;
}

void CheckMessages(Decision d, const RequestContext& ctx) {
  std::string message = policy::AccessDeniedMessage(d, ctx);
  Status error = policy::AccessDeniedError(d, ctx);
  if (d == Decision::kAllow) {
    FUZZ_CHECK(message.empty() && error.ok());
  } else {
    FUZZ_CHECK(message.starts_with("User: " + ctx.principal.arn + " is not authorized"));
    FUZZ_CHECK(!error.ok() && error.error_name() == "AccessDeniedException" &&
               error.message() == message);
  }
}

void CheckEvaluation(const RequestContext& ctx, const Policy& key_policy,
                     const Policy& trust_policy, const std::vector<const Policy*>& identity) {
  Decision kms = policy::EvaluateKms(key_policy, identity, ctx);
  Decision trust = policy::EvaluateTrust(trust_policy, identity, ctx);
  Decision iam = policy::EvaluateIdentity(identity, ctx);
  for (Decision d : {kms, trust, iam}) CheckMessages(d, ctx);
  FUZZ_CHECK(iam != Decision::kExplicitDenyResource &&
             iam != Decision::kImplicitDenyNoResourcePolicy);

  RequestContext put = ctx;
  put.action = "kms:PutKeyPolicy";
  FUZZ_CHECK(policy::PassesLockoutSafetyCheck(key_policy, identity, ctx) ==
             (policy::EvaluateKms(key_policy, identity, put) == Decision::kAllow));

  // Identity policies add to a key policy's decision only an identity deny, or the
  // identity allow that delegation through the account needs.
  Decision alone = policy::EvaluateKms(key_policy, {}, ctx);
  FUZZ_CHECK(alone != Decision::kExplicitDenyIdentity);
  if (alone == Decision::kExplicitDenyResource) FUZZ_CHECK(kms == Decision::kExplicitDenyResource);
  if (alone == Decision::kAllow)
    FUZZ_CHECK(kms == Decision::kAllow || kms == Decision::kExplicitDenyIdentity);
  if (kms == Decision::kAllow) {
    FUZZ_CHECK(alone == Decision::kAllow || alone == Decision::kImplicitDenyNoIdentityPolicy);
  }

  // Condition key names are case-insensitive.
  RequestContext upper = ctx;
  upper.condition_keys.clear();
  for (const auto& [key, values] : ctx.condition_keys) {
    auto& merged = upper.condition_keys[Upper(key)];
    merged.insert(merged.end(), values.begin(), values.end());
  }
  FUZZ_CHECK(policy::EvaluateKms(key_policy, identity, upper) == kms);
  FUZZ_CHECK(policy::EvaluateTrust(trust_policy, identity, upper) == trust);
  FUZZ_CHECK(policy::EvaluateIdentity(identity, upper) == iam);

  // The request cannot claim to be someone else.
  RequestContext spoofed = ctx;
  for (std::string_view key :
       {"aws:PrincipalArn", "AWS:PRINCIPALACCOUNT", "kms:CallerAccount", "aws:userid",
        "aws:principaltype", "aws:username", "aws:PrincipalServiceName"}) {
    spoofed.condition_keys[std::string(key)] = {"arn:aws:iam::111122223333:root", "111122223333",
                                                "Account", "alice", "rds.amazonaws.com"};
  }
  FUZZ_CHECK(policy::EvaluateKms(key_policy, identity, spoofed) == kms);
  FUZZ_CHECK(policy::EvaluateTrust(trust_policy, identity, spoofed) == trust);
  FUZZ_CHECK(policy::EvaluateIdentity(identity, spoofed) == iam);
}

void CheckPatterns(const Policy& doc) {
  for (const policy::Statement& st : doc.statements()) {
    for (const std::string& a : st.actions) {
      FUZZ_CHECK_MSG(policy::ActionMatches(a, a) && policy::ActionMatches(a, FillWildcards(a)), a);
      FUZZ_CHECK_MSG(policy::ActionMatches(a, Upper(FillWildcards(a))), a);
    }
    for (const std::string& r : st.resources) {
      FUZZ_CHECK_MSG(policy::ArnMatches(r, r) && policy::WildcardMatch(r, r), r);
      if (r != "*") FUZZ_CHECK_MSG(policy::ArnMatches(r, FillWildcards(r)), r);
    }
    for (const policy::Condition& c : st.conditions) {
      FUZZ_CHECK(!c.values.empty());
      for (const std::string& v : c.values) {
        FUZZ_CHECK_MSG(policy::WildcardMatch(v, FillWildcards(v)), v);
        FUZZ_CHECK_MSG(policy::WildcardMatch(v, v, /*ignore_case=*/true), v);
      }
    }
  }
}

}  // namespace
}  // namespace coffer::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace coffer;
  using namespace coffer::fuzz;
  std::string_view input = AsText(data, size);
  size_t newline = input.find('\n');
  Choices choices(newline == std::string_view::npos ? std::string_view()
                                                    : input.substr(0, newline));
  std::string_view document = newline == std::string_view::npos ? input : input.substr(newline + 1);

  Result<Policy> any = Policy::Parse(document, PolicyKind::kAny);
  Result<Policy> key = Policy::Parse(document, PolicyKind::kKeyPolicy);
  Result<Policy> identity = Policy::Parse(document, PolicyKind::kIdentityPolicy);
  Result<Policy> trust = Policy::Parse(document, PolicyKind::kTrustPolicy);
  for (const Result<Policy>* parsed : {&any, &key, &identity, &trust}) {
    if (!parsed->ok()) {
      const Status& s = parsed->status();
      FUZZ_CHECK_MSG(s.error_name() == policy::kMalformedPolicyDocument &&
                         s.code() == StatusCode::kInvalidArgument && !s.message().empty(),
                     s.ToString());
      continue;
    }
    FUZZ_CHECK_MSG(any.ok(), any.status().ToString());
    FUZZ_CHECK((*parsed)->statements().size() == any->statements().size());
    FUZZ_CHECK((*parsed)->version() == any->version() && (*parsed)->id() == any->id());
  }
  if (!any.ok()) return 0;
  CheckPatterns(*any);

  const Policy& key_policy = key.ok() ? *key : *any;
  const Policy& trust_policy = trust.ok() ? *trust : *any;
  const Policy& identity_policy = identity.ok() ? *identity : *any;
  Candidates candidates = CandidatesFor(*any);
  for (int round = 0; round < 4; ++round) {
    RequestContext ctx = MakeContext(choices, candidates);
    std::vector<const policy::Policy*> identities;
    if (choices.Pick(4) != 0) identities.push_back(&identity_policy);
    CheckEvaluation(ctx, key_policy, trust_policy, identities);
  }
  return 0;
}
