#include "policy/policy.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <string>
#include <vector>

namespace coffer::policy {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// kms.md, "Default key policies", the two examples with their line breaks removed.
constexpr char kDefaultPolicyExample[] =
    R"json({"Version":"2012-10-17","Id":"key-default-1","Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]})json";
constexpr char kConsolePolicyExample[] =
    R"json({"Version":"2012-10-17","Id":"key-consolepolicy-3","Statement":[)json"
    R"json({"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},)json"
    R"json({"Sid":"Allow access for Key Administrators","Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111122223333:role/KMSAdminRole"]},)json"
    R"json("Action":["kms:Create*","kms:Describe*","kms:Enable*","kms:List*","kms:Put*","kms:Update*","kms:Revoke*","kms:Disable*","kms:Get*","kms:Delete*","kms:TagResource","kms:UntagResource","kms:ScheduleKeyDeletion","kms:CancelKeyDeletion"],"Resource":"*"},)json"
    R"json({"Sid":"Allow use of the key","Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111122223333:role/ExampleRole"]},)json"
    R"json("Action":["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*","kms:DescribeKey"],"Resource":"*"},)json"
    R"json({"Sid":"Allow attachment of persistent resources","Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111122223333:role/ExampleRole"]},)json"
    R"json("Action":["kms:CreateGrant","kms:ListGrants","kms:RevokeGrant"],"Resource":"*","Condition":{"Bool":{"kms:GrantIsForAWSResource":true}}}]})json";

constexpr char kAdmin[] = "arn:aws:iam::111122223333:role/KMSAdminRole";
constexpr char kUser[] = "arn:aws:iam::111122223333:role/ExampleRole";

Policy MustParse(std::string_view json, PolicyKind kind = PolicyKind::kAny) {
  auto p = Policy::Parse(json, kind);
  EXPECT_TRUE(p.ok()) << p.status().ToString() << "\n" << json;
  if (!p.ok()) std::abort();
  return std::move(p).value();
}

TEST(PolicyParseTest, ParsesTheConsolePolicy) {
  Policy p = MustParse(kConsolePolicyExample, PolicyKind::kKeyPolicy);
  EXPECT_EQ(p.version(), "2012-10-17");
  EXPECT_EQ(p.id(), "key-consolepolicy-3");
  ASSERT_EQ(p.statements().size(), 4u);

  const Statement& root = p.statements()[0];
  EXPECT_EQ(root.sid, "Enable IAM User Permissions");
  EXPECT_EQ(root.effect, Effect::kAllow);
  ASSERT_TRUE(root.principal.has_value());
  EXPECT_FALSE(root.not_principal);
  EXPECT_FALSE(root.principal->wildcard);
  EXPECT_THAT(root.principal->aws, ElementsAre("arn:aws:iam::111122223333:root"));
  EXPECT_THAT(root.actions, ElementsAre("kms:*"));
  EXPECT_TRUE(root.has_resource);
  EXPECT_THAT(root.resources, ElementsAre("*"));
  EXPECT_TRUE(root.conditions.empty());

  const Statement& grants = p.statements()[3];
  ASSERT_EQ(grants.conditions.size(), 1u);
  const Condition& c = grants.conditions[0];
  EXPECT_EQ(c.op, ConditionOperator::kBool);
  EXPECT_EQ(c.set_operator, SetOperator::kNone);
  EXPECT_FALSE(c.if_exists);
  EXPECT_EQ(c.key, "kms:GrantIsForAWSResource");
  EXPECT_THAT(c.values, ElementsAre("true"));  // the JSON boolean, normalised
}

TEST(PolicyParseTest, StatementMayBeAnObjectAndListsMayBeStrings) {
  Policy p = MustParse(R"({"Statement":{"Effect":"Deny","Principal":"*",
      "NotAction":"kms:Decrypt","NotResource":"arn:aws:kms:us-east-1:111122223333:key/*"}})");
  EXPECT_EQ(p.version(), "2008-10-17");  // AWS's default when absent
  EXPECT_EQ(p.id(), "");
  ASSERT_EQ(p.statements().size(), 1u);
  const Statement& s = p.statements()[0];
  EXPECT_EQ(s.effect, Effect::kDeny);
  EXPECT_TRUE(s.principal->wildcard);
  EXPECT_TRUE(s.not_action);
  EXPECT_THAT(s.actions, ElementsAre("kms:Decrypt"));
  EXPECT_TRUE(s.not_resource);
  EXPECT_THAT(s.resources, ElementsAre("arn:aws:kms:us-east-1:111122223333:key/*"));
}

TEST(PolicyParseTest, PrincipalForms) {
  Policy p = MustParse(R"({"Version":"2012-10-17","Statement":[
    {"Effect":"Allow","Principal":{"AWS":"*"},"Action":"kms:*","Resource":"*"},
    {"Effect":"Allow","Principal":{"AWS":["111122223333","arn:aws:iam::111122223333:user/ops/alice",
       "arn:aws:sts::111122223333:assumed-role/rdstestrole/RDS-SqlServerBackupRestore"],
       "Service":["rds.amazonaws.com"]},"Action":"kms:*","Resource":"*"},
    {"Effect":"Deny","NotPrincipal":{"Service":"logs.us-east-1.amazonaws.com"},"Action":"*","Resource":"*"}]})");
  EXPECT_TRUE(p.statements()[0].principal->wildcard);
  EXPECT_TRUE(p.statements()[0].principal->aws.empty());
  EXPECT_THAT(p.statements()[1].principal->aws,
              ElementsAre("111122223333", "arn:aws:iam::111122223333:user/ops/alice",
                          "arn:aws:sts::111122223333:assumed-role/rdstestrole/"
                          "RDS-SqlServerBackupRestore"));
  EXPECT_THAT(p.statements()[1].principal->services, ElementsAre("rds.amazonaws.com"));
  EXPECT_TRUE(p.statements()[2].not_principal);
  EXPECT_THAT(p.statements()[2].principal->services, ElementsAre("logs.us-east-1.amazonaws.com"));
}

TEST(PolicyParseTest, ConditionOperatorsQualifiersAndValues) {
  Policy p = MustParse(R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*",
    "Resource":"*","Condition":{
      "ForAnyValue:StringLikeIfExists":{"kms:EncryptionContextKeys":["a*","b"]},
      "ForAllValues:StringEquals":{"aws:TagKeys":"x"},
      "NumericLessThan":{"s3:max-keys":[10, 2.5, -1]},
      "Bool":{"aws:SecureTransport":false},
      "DateGreaterThan":{"aws:CurrentTime":"2019-07-16T12:00:00Z"},
      "Null":{"aws:TokenIssueTime":"true"}}}]})");
  const auto& cs = p.statements()[0].conditions;
  ASSERT_EQ(cs.size(), 6u);
  // nlohmann keeps object members sorted by name.
  std::map<std::string, const Condition*> by_op;
  for (const Condition& c : cs) by_op[c.operator_text] = &c;
  const Condition* like = by_op.at("ForAnyValue:StringLikeIfExists");
  EXPECT_EQ(like->op, ConditionOperator::kStringLike);
  EXPECT_EQ(like->set_operator, SetOperator::kForAnyValue);
  EXPECT_TRUE(like->if_exists);
  EXPECT_THAT(like->values, ElementsAre("a*", "b"));
  const Condition* all = by_op.at("ForAllValues:StringEquals");
  EXPECT_EQ(all->set_operator, SetOperator::kForAllValues);
  EXPECT_FALSE(all->if_exists);
  EXPECT_THAT(by_op.at("NumericLessThan")->values, ElementsAre("10", "2.5", "-1"));
  EXPECT_THAT(by_op.at("Bool")->values, ElementsAre("false"));
  EXPECT_EQ(by_op.at("DateGreaterThan")->op, ConditionOperator::kDateGreaterThan);
  EXPECT_EQ(by_op.at("Null")->op, ConditionOperator::kNull);
}

TEST(PolicyParseTest, EveryOperatorNameIsKnown) {
  const std::vector<std::pair<std::string, std::string>> ops = {
      {"StringEquals", "x"},
      {"StringNotEquals", "x"},
      {"StringEqualsIgnoreCase", "x"},
      {"StringNotEqualsIgnoreCase", "x"},
      {"StringLike", "x*"},
      {"StringNotLike", "x?"},
      {"ArnEquals", "arn:aws:iam::111122223333:role/R"},
      {"ArnLike", "arn:aws:iam::*:role/*"},
      {"ArnNotEquals", "arn:aws:iam::111122223333:role/R"},
      {"ArnNotLike", "arn:aws:iam::*:role/*"},
      {"NumericEquals", "1"},
      {"NumericNotEquals", "1"},
      {"NumericLessThan", "1"},
      {"NumericLessThanEquals", "1"},
      {"NumericGreaterThan", "1"},
      {"NumericGreaterThanEquals", "1.5"},
      {"DateEquals", "2020-01-01"},
      {"DateNotEquals", "1577836800"},
      {"DateLessThan", "2020-01-01T00:00:00Z"},
      {"DateLessThanEquals", "2020-01-01T00:00:00.123Z"},
      {"DateGreaterThan", "2020-01-01T01:00:00+01:00"},
      {"DateGreaterThanEquals", "2020-02-29T23:59"},
      {"Bool", "TRUE"},
      {"Null", "false"},
      {"IpAddress", "203.0.113.0/24"},
      {"NotIpAddress", "2001:db8::/32"},
      {"BinaryEquals", "QmluYXJ5VmFsdWU="},
  };
  for (const auto& [op, value] : ops) {
    for (std::string prefix : {"", "ForAnyValue:", "ForAllValues:"}) {
      for (std::string suffix : {"", "IfExists"}) {
        if (op == "Null" && !suffix.empty()) continue;
        std::string text = prefix + op + suffix;
        std::string json = R"({"Statement":{"Effect":"Allow","Action":"kms:*","Resource":"*",)"
                           R"("Condition":{")" +
                           text + R"(":{"aws:SomeKey":")" + value + R"("}}}})";
        auto p = Policy::Parse(json);
        ASSERT_TRUE(p.ok()) << text << ": " << p.status().ToString();
        const Condition& c = p->statements()[0].conditions[0];
        EXPECT_EQ(ConditionOperatorName(c.op), op);
        EXPECT_EQ(c.if_exists, !suffix.empty()) << text;
        EXPECT_EQ(c.operator_text, text);
      }
    }
  }
}

TEST(PolicyParseTest, NegatedOperators) {
  EXPECT_TRUE(IsNegated(ConditionOperator::kStringNotEquals));
  EXPECT_TRUE(IsNegated(ConditionOperator::kStringNotEqualsIgnoreCase));
  EXPECT_TRUE(IsNegated(ConditionOperator::kStringNotLike));
  EXPECT_TRUE(IsNegated(ConditionOperator::kArnNotEquals));
  EXPECT_TRUE(IsNegated(ConditionOperator::kArnNotLike));
  EXPECT_TRUE(IsNegated(ConditionOperator::kNumericNotEquals));
  EXPECT_TRUE(IsNegated(ConditionOperator::kDateNotEquals));
  EXPECT_TRUE(IsNegated(ConditionOperator::kNotIpAddress));
  EXPECT_FALSE(IsNegated(ConditionOperator::kStringEquals));
  EXPECT_FALSE(IsNegated(ConditionOperator::kNull));
  EXPECT_FALSE(IsNegated(ConditionOperator::kBool));
  EXPECT_FALSE(IsNegated(ConditionOperator::kNumericLessThan));
}

// One malformed document per rule, with the words the message must contain.
struct MalformedCase {
  const char* name;
  std::string json;
  PolicyKind kind;
  std::vector<std::string> expected;
};

// A statement body wrapped into a policy: S(R"("Effect":"Allow",…)").
std::string S(const std::string& body) {
  return R"({"Version":"2012-10-17","Statement":[{)" + body + "}]}";
}
const std::string kAllowAll = R"("Effect":"Allow","Action":"kms:*","Resource":"*")";
std::string Cond(const std::string& condition) {
  return S(kAllowAll + R"(,"Condition":)" + condition);
}

std::vector<MalformedCase> MalformedCases() {
  const PolicyKind any = PolicyKind::kAny;
  return {
      // The document.
      {"Empty", "", any, {"not valid JSON"}},
      {"NotJson", "{Version:", any, {"not valid JSON"}},
      {"TrailingGarbage", S(kAllowAll) + "x", any, {"not valid JSON"}},
      {"TopLevelArray", "[]", any, {"must be a JSON object"}},
      {"TopLevelString", R"("policy")", any, {"must be a JSON object"}},
      {"DuplicateTopLevelKey",
       R"({"Statement":[],"Statement":[]})",
       any,
       {"Policy has a duplicate key \"Statement\" at Statement"}},
      {"DuplicateEffect",
       R"({"Statement":[{"Effect":"Deny","Action":"*","Resource":"*"},)"
       R"({"Effect":"Allow","Effect":"Deny","Action":"*","Resource":"*"}]})",
       any,
       {"duplicate key \"Effect\"", "Statement[1].Effect"}},
      {"DuplicateEffectThroughAnEscape",
       R"({"Statement":{"Effect":"Allow","Eff\u0065ct":"Deny","Action":"*","Resource":"*"}})",
       any,
       {"duplicate key \"Effect\""}},
      {"TooDeep", std::string(100, '[') + std::string(100, ']'), any, {"nested more than 16"}},
      {"UnknownTopLevelField",
       R"({"Version":"2012-10-17","Statements":[]})",
       any,
       {"unknown top-level field \"Statements\""}},
      {"BadVersion",
       R"({"Version":"2012-10-18","Statement":[]})",
       any,
       {"Version must be", "\"2012-10-18\""}},
      {"NumericVersion", R"({"Version":2012,"Statement":[]})", any, {"Version must be"}},
      {"IdNotString",
       R"({"Id":1,"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}})",
       any,
       {"Id must be a string"}},
      {"NoStatement", R"({"Version":"2012-10-17"})", any, {"no Statement"}},
      {"EmptyStatementArray", R"({"Statement":[]})", any, {"Statement must not be an empty array"}},
      {"StatementString", R"({"Statement":"Allow"})", any, {"Statement must be an object"}},
      {"StatementElementNotObject",
       R"({"Statement":[1]})",
       any,
       {"Statement[0]", "must be an object"}},
      // Statement fields.
      {"UnknownStatementField",
       S(kAllowAll + R"(,"Sid":"X","Actions":"kms:*")"),
       any,
       {"Statement[0] (Sid \"X\")", "unknown field \"Actions\""}},
      {"SidNotString", S(kAllowAll + R"(,"Sid":7)"), any, {"Sid must be a string"}},
      {"MissingEffect", S(R"("Action":"*","Resource":"*")"), any, {"missing Effect"}},
      {"LowerCaseEffect",
       S(R"("Effect":"allow","Action":"*","Resource":"*")"),
       any,
       {"Effect must be \"Allow\" or \"Deny\"", "\"allow\""}},
      {"EffectNotString",
       S(R"("Effect":true,"Action":"*","Resource":"*")"),
       any,
       {"Effect must be"}},
      {"MissingAction",
       S(R"("Effect":"Allow","Resource":"*")"),
       PolicyKind::kIdentityPolicy,
       {"missing Action"}},
      {"TrustPolicyWithoutAction",
       S(R"("Effect":"Allow","Principal":"*")"),
       PolicyKind::kTrustPolicy,
       {"missing Action"}},
      {"ActionAndNotAction",
       S(kAllowAll + R"(,"NotAction":"kms:Decrypt")"),
       any,
       {"both Action and NotAction"}},
      {"EmptyActionArray",
       S(R"("Effect":"Allow","Action":[],"Resource":"*")"),
       any,
       {"Action must not be an empty array"}},
      {"ActionNumber",
       S(R"("Effect":"Allow","Action":["kms:Encrypt",3],"Resource":"*")"),
       any,
       {"Action must be a string or an array of strings"}},
      {"ActionObject",
       S(R"("Effect":"Allow","Action":{"kms":"*"},"Resource":"*")"),
       any,
       {"Action must be a string or an array of strings"}},
      {"ActionEmptyString",
       S(R"("Effect":"Allow","Action":"","Resource":"*")"),
       any,
       {"must not contain an empty string"}},
      {"ActionWithoutService",
       S(R"("Effect":"Allow","Action":"Encrypt","Resource":"*")"),
       any,
       {"Action: invalid action \"Encrypt\"", "service:action"}},
      {"ActionWithSpace",
       S(R"("Effect":"Allow","Action":"kms:En crypt","Resource":"*")"),
       any,
       {"invalid action"}},
      {"ResourceNotArn",
       S(R"("Effect":"Allow","Action":"*","Resource":"key/1234")"),
       any,
       {"Resource: invalid resource \"key/1234\""}},
      {"ResourceShortArn",
       S(R"("Effect":"Allow","Action":"*","Resource":"arn:aws:kms")"),
       any,
       {"invalid resource"}},
      {"ResourceAndNotResource",
       S(kAllowAll + R"(,"NotResource":"*")"),
       any,
       {"both Resource and NotResource"}},
      // Principals.
      {"PrincipalAndNotPrincipal",
       S(kAllowAll + R"(,"Principal":"*","NotPrincipal":"*")"),
       any,
       {"both Principal and NotPrincipal"}},
      {"PrincipalStringNotStar",
       S(kAllowAll + R"(,"Principal":"111122223333")"),
       any,
       {"Principal must be \"*\" or an object"}},
      {"PrincipalArray",
       S(kAllowAll + R"(,"Principal":["*"])"),
       any,
       {"Principal must be \"*\" or an object"}},
      {"PrincipalEmptyObject",
       S(kAllowAll + R"(,"Principal":{})"),
       any,
       {"must name at least one principal"}},
      {"PrincipalUnknownType",
       S(kAllowAll + R"(,"Principal":{"User":"bob"})"),
       any,
       {"unknown principal type \"User\""}},
      {"PrincipalFederated",
       S(kAllowAll + R"(,"Principal":{"Federated":"cognito-identity.amazonaws.com"})"),
       any,
       {"Federated principals are not supported"}},
      {"PrincipalCanonicalUser",
       S(kAllowAll + R"(,"Principal":{"CanonicalUser":"abc"})"),
       any,
       {"CanonicalUser principals are not supported"}},
      {"PrincipalWildcardArn",
       S(kAllowAll + R"(,"Principal":{"AWS":"arn:aws:iam::111122223333:role/*"})"),
       any,
       {"Principal.AWS", "wildcards are not allowed"}},
      {"PrincipalShortAccount",
       S(kAllowAll + R"(,"Principal":{"AWS":"11112222333"})"),
       any,
       {"invalid principal \"11112222333\""}},
      {"PrincipalNotIam",
       S(kAllowAll + R"(,"Principal":{"AWS":"arn:aws:s3:::bucket"})"),
       any,
       {"invalid principal"}},
      {"PrincipalBadIamResource",
       S(kAllowAll + R"(,"Principal":{"AWS":"arn:aws:iam::111122223333:group/admins"})"),
       any,
       {"invalid principal"}},
      {"PrincipalEmptyRoleName",
       S(kAllowAll + R"(,"Principal":{"AWS":"arn:aws:iam::111122223333:role/"})"),
       any,
       {"invalid principal"}},
      {"PrincipalSessionWithoutSession",
       S(kAllowAll + R"(,"Principal":{"AWS":"arn:aws:sts::111122223333:assumed-role/R"})"),
       any,
       {"invalid principal"}},
      {"PrincipalRegion",
       S(kAllowAll + R"(,"Principal":{"AWS":"arn:aws:iam:us-east-1:111122223333:root"})"),
       any,
       {"invalid principal"}},
      {"PrincipalNumber",
       S(kAllowAll + R"(,"Principal":{"AWS":111122223333})"),
       any,
       {"Principal.AWS must be a string or an array of strings"}},
      {"ServicePrincipalBad",
       S(kAllowAll + R"(,"Principal":{"Service":"rds amazonaws"})"),
       any,
       {"invalid service principal"}},
      {"ServicePrincipalWildcard",
       S(kAllowAll + R"(,"Principal":{"Service":"*"})"),
       any,
       {"invalid service principal"}},
      // Conditions.
      {"ConditionNotObject", Cond(R"("Bool")"), any, {"Condition must be an object"}},
      {"UnknownOperator",
       Cond(R"({"StringEqualz":{"aws:username":"x"}})"),
       any,
       {"Statement[0]", "unknown condition operator \"StringEqualz\""}},
      {"OperatorWrongCase",
       Cond(R"({"stringequals":{"aws:username":"x"}})"),
       any,
       {"unknown condition operator \"stringequals\""}},
      {"NullIfExists",
       Cond(R"({"NullIfExists":{"aws:username":"true"}})"),
       any,
       {"unknown condition operator \"NullIfExists\""}},
      {"UnknownQualifier",
       Cond(R"({"ForSomeValues:StringEquals":{"aws:TagKeys":"x"}})"),
       any,
       {"unknown condition operator"}},
      {"BareQualifier",
       Cond(R"({"ForAnyValue:":{"aws:TagKeys":"x"}})"),
       any,
       {"unknown condition operator"}},
      {"OperatorBodyNotObject",
       Cond(R"({"StringEquals":"x"})"),
       any,
       {"Condition \"StringEquals\" must map condition keys to values"}},
      {"OperatorBodyEmpty",
       Cond(R"({"StringEquals":{}})"),
       any,
       {"must name at least one condition key"}},
      {"KeyWithoutService",
       Cond(R"({"StringEquals":{"username":"x"}})"),
       any,
       {"invalid condition key \"username\""}},
      {"EmptyValues",
       Cond(R"({"StringEquals":{"aws:username":[]}})"),
       any,
       {"key \"aws:username\"", "must not be an empty array"}},
      {"NullValue",
       Cond(R"({"StringEquals":{"aws:username":null}})"),
       any,
       {"values must be strings, numbers or booleans, not null"}},
      {"ObjectValue", Cond(R"({"StringEquals":{"aws:username":{"a":"b"}}})"), any, {"not object"}},
      {"NestedArrayValue",
       Cond(R"({"StringEquals":{"aws:username":[["a"]]}})"),
       any,
       {"not array"}},
      {"NumericNotANumber",
       Cond(R"({"NumericLessThan":{"s3:max-keys":"ten"}})"),
       any,
       {"\"ten\" is not a number"}},
      {"NumericInfinity",
       Cond(R"({"NumericLessThan":{"s3:max-keys":"inf"}})"),
       any,
       {"is not a number"}},
      {"DateNotADate",
       Cond(R"({"DateLessThan":{"aws:CurrentTime":"yesterday"}})"),
       any,
       {"\"yesterday\" is not a date"}},
      {"DateBadMonth",
       Cond(R"({"DateLessThan":{"aws:CurrentTime":"2020-13-01"}})"),
       any,
       {"is not a date"}},
      {"DateBadDay",
       Cond(R"({"DateLessThan":{"aws:CurrentTime":"2019-02-29"}})"),
       any,
       {"is not a date"}},
      {"DateBadZone",
       Cond(R"({"DateLessThan":{"aws:CurrentTime":"2019-02-01T00:00:00Q"}})"),
       any,
       {"is not a date"}},
      {"BoolNotBool",
       Cond(R"({"Bool":{"aws:SecureTransport":"yes"}})"),
       any,
       {"\"yes\" is not true or false"}},
      {"BoolNumber",
       Cond(R"({"Bool":{"aws:SecureTransport":1}})"),
       any,
       {"\"1\" is not true or false"}},
      {"NullNotBool", Cond(R"({"Null":{"aws:username":"maybe"}})"), any, {"is not true or false"}},
      {"IpNotIp",
       Cond(R"({"IpAddress":{"aws:SourceIp":"10.0.0.256/8"}})"),
       any,
       {"is not an IPv4 or IPv6 address"}},
      {"IpPrefixTooLong",
       Cond(R"({"IpAddress":{"aws:SourceIp":"10.0.0.0/33"}})"),
       any,
       {"is not an IPv4 or IPv6"}},
      {"Ip6PrefixTooLong",
       Cond(R"({"NotIpAddress":{"aws:SourceIp":"::1/129"}})"),
       any,
       {"is not an IPv4 or IPv6"}},
      {"BinaryNotBase64",
       Cond(R"({"BinaryEquals":{"aws:x":"not base64!"}})"),
       any,
       {"is not base64"}},
      // Kinds.
      {"KeyPolicyWithoutPrincipal", S(kAllowAll), PolicyKind::kKeyPolicy, {"missing Principal"}},
      {"IdentityPolicyWithPrincipal",
       S(kAllowAll + R"(,"Principal":"*")"),
       PolicyKind::kIdentityPolicy,
       {"Policy document should not specify a principal."}},
      {"IdentityPolicyWithNotPrincipal",
       S(kAllowAll + R"(,"NotPrincipal":"*")"),
       PolicyKind::kIdentityPolicy,
       {"Policy document should not specify a principal."}},
      {"IdentityPolicyWithoutResource",
       S(R"("Effect":"Allow","Action":"kms:*")"),
       PolicyKind::kIdentityPolicy,
       {"missing Resource"}},
      {"IdentityPolicySidWithSpace",
       S(kAllowAll + R"(,"Sid":"Allow use")"),
       PolicyKind::kIdentityPolicy,
       {"Sid must contain only letters and digits"}},
      {"IdentityPolicyDuplicateSid",
       R"({"Statement":[{"Sid":"A",)" + kAllowAll + R"(},{"Sid":"A",)" + kAllowAll + "}]}",
       PolicyKind::kIdentityPolicy,
       {"Statement[1] (Sid \"A\")", "is used by another statement"}},
      {"TrustPolicyWithResource",
       S(R"("Effect":"Allow","Principal":{"Service":"rds.amazonaws.com"},"Action":"sts:AssumeRole","Resource":"*")"),
       PolicyKind::kTrustPolicy,
       {"Has prohibited field Resource"}},
      {"TrustPolicyWithNotPrincipal",
       S(R"("Effect":"Allow","NotPrincipal":{"AWS":"111122223333"},"Action":"sts:AssumeRole")"),
       PolicyKind::kTrustPolicy,
       {"NotPrincipal is not allowed in a trust policy"}},
      {"TrustPolicyWithoutPrincipal",
       S(R"("Effect":"Allow","Action":"sts:AssumeRole")"),
       PolicyKind::kTrustPolicy,
       {"missing Principal"}},
  };
}

class MalformedPolicyTest : public ::testing::TestWithParam<MalformedCase> {};

TEST_P(MalformedPolicyTest, IsRejectedWithAClearMessage) {
  const MalformedCase& c = GetParam();
  auto p = Policy::Parse(c.json, c.kind);
  ASSERT_FALSE(p.ok()) << c.json;
  EXPECT_EQ(p.status().error_name(), "MalformedPolicyDocumentException");
  EXPECT_EQ(p.status().code(), StatusCode::kInvalidArgument);
  for (const std::string& e : c.expected) {
    EXPECT_THAT(p.status().message(), HasSubstr(e)) << c.json;
  }
}

INSTANTIATE_TEST_SUITE_P(Rules, MalformedPolicyTest, ::testing::ValuesIn(MalformedCases()),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(PolicyParseTest, ErrorsNameTheStatementBySid) {
  auto p = Policy::Parse(R"({"Statement":[
    {"Sid":"A","Effect":"Allow","Action":"*","Resource":"*"},
    {"Sid":"Allow use of the key","Effect":"Allow","Action":"kms:*","Resource":"*",
     "Condition":{"NumericLessThan":{"kms:X":"abc"}}}]})");
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().message(),
            "Statement[1] (Sid \"Allow use of the key\"): Condition \"NumericLessThan\" key "
            "\"kms:X\": \"abc\" is not a number");
}

TEST(PolicyParseTest, KindsAcceptWhatTheyShould) {
  MustParse(kConsolePolicyExample, PolicyKind::kKeyPolicy);
  MustParse(R"({"Version":"2012-10-17","Statement":[{"Sid":"UseKey1","Effect":"Allow",
    "Action":["kms:Encrypt","kms:Decrypt"],"Resource":"arn:aws:kms:us-east-1:111122223333:key/*"}]})",
            PolicyKind::kIdentityPolicy);
  MustParse(R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow",
    "Principal":{"Service":"rds.amazonaws.com"},"Action":"sts:AssumeRole"}]})",
            PolicyKind::kTrustPolicy);
  // Key policies (unlike IAM's) may repeat a Sid and use spaces in it.
  MustParse(R"({"Statement":[{"Sid":"A b","Effect":"Allow","Principal":"*","Action":"*",
    "Resource":"*"},{"Sid":"A b","Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}]})",
            PolicyKind::kKeyPolicy);
}

TEST(PolicyParseTest, RejectsInvalidUtf8) {
  std::string json = S(kAllowAll + ",\"Sid\":\"\xff\"");
  auto p = Policy::Parse(json);
  ASSERT_FALSE(p.ok());
  EXPECT_THAT(p.status().message(), HasSubstr("not valid JSON"));
}

TEST(PolicyParseTest, SurvivesArbitraryPrefixesOfAValidPolicy) {
  // Every truncation is either rejected cleanly or (the whole text) accepted.
  std::string text = kConsolePolicyExample;
  for (size_t n = 0; n < text.size(); ++n) {
    auto p = Policy::Parse(std::string_view(text).substr(0, n));
    ASSERT_FALSE(p.ok()) << n;
    EXPECT_EQ(p.status().error_name(), "MalformedPolicyDocumentException");
  }
  EXPECT_TRUE(Policy::Parse(text).ok());
}

TEST(PolicyParseTest, SurvivesByteMutations) {
  // Each byte replaced by each of a few structural characters: a clean verdict
  // every time, never a crash (the sanitizer build runs this too).
  const std::string text = kConsolePolicyExample;
  size_t accepted = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    for (char c : {'"', '{', '}', '[', ']', ':', ',', '\\', '\0', '\xff', 'x', '*', ' '}) {
      std::string mutated = text;
      mutated[i] = c;
      auto p = Policy::Parse(mutated, PolicyKind::kKeyPolicy);
      if (p.ok()) {
        ++accepted;
      } else {
        ASSERT_EQ(p.status().error_name(), "MalformedPolicyDocumentException") << mutated;
      }
    }
  }
  EXPECT_GT(accepted, 0u);  // e.g. a changed letter inside a Sid
}

TEST(ConsoleKeyPolicyTest, InvalidUtf8IsReplacedNotThrown) {
  std::string json =
      ConsoleKeyPolicy("111122223333", {"arn:aws:iam::111122223333:role/\xff"}, {}, true);
  EXPECT_THAT(json, HasSubstr("role/\xEF\xBF\xBD"));
}

TEST(ConsoleKeyPolicyTest, MatchesTheConsoleByteForByte) {
  EXPECT_EQ(ConsoleKeyPolicy("111122223333", {kAdmin}, {kUser}, /*admins_can_delete=*/true),
            kConsolePolicyExample);
}

TEST(ConsoleKeyPolicyTest, DefaultPolicyMatchesTheApi) {
  EXPECT_EQ(DefaultKeyPolicy("111122223333"), kDefaultPolicyExample);
  MustParse(DefaultKeyPolicy("111122223333"), PolicyKind::kKeyPolicy);
}

TEST(ConsoleKeyPolicyTest, AdminsWhoMayNotDelete) {
  std::string json = ConsoleKeyPolicy("111122223333", {kAdmin}, {kUser}, false);
  EXPECT_EQ(json.find("kms:ScheduleKeyDeletion"), std::string::npos);
  EXPECT_EQ(json.find("kms:CancelKeyDeletion"), std::string::npos);
  EXPECT_THAT(json, HasSubstr(R"("kms:TagResource","kms:UntagResource"],"Resource":"*"})"));
  Policy p = MustParse(json, PolicyKind::kKeyPolicy);
  EXPECT_EQ(p.statements()[1].actions.size(), 12u);
}

TEST(ConsoleKeyPolicyTest, StatementsWithoutPrincipalsAreLeftOut) {
  Policy none = MustParse(ConsoleKeyPolicy("111122223333", {}, {}, true), PolicyKind::kKeyPolicy);
  ASSERT_EQ(none.statements().size(), 1u);
  EXPECT_EQ(none.statements()[0].sid, "Enable IAM User Permissions");
  EXPECT_EQ(none.id(), "key-consolepolicy-3");

  Policy admins_only =
      MustParse(ConsoleKeyPolicy("111122223333", {kAdmin}, {}, true), PolicyKind::kKeyPolicy);
  ASSERT_EQ(admins_only.statements().size(), 2u);
  EXPECT_EQ(admins_only.statements()[1].sid, "Allow access for Key Administrators");

  Policy users_only = MustParse(ConsoleKeyPolicy("111122223333", {}, {kUser, kAdmin}, true),
                                PolicyKind::kKeyPolicy);
  ASSERT_EQ(users_only.statements().size(), 3u);
  EXPECT_EQ(users_only.statements()[1].sid, "Allow use of the key");
  EXPECT_THAT(users_only.statements()[1].principal->aws, ElementsAre(kUser, kAdmin));
  EXPECT_EQ(users_only.statements()[2].sid, "Allow attachment of persistent resources");
}

TEST(ConsoleKeyPolicyTest, EscapesStrings) {
  // ARNs never hold quotes, but the builder must still emit valid JSON.
  std::string json = ConsoleKeyPolicy("111122223333", {"a\"b"}, {}, true);
  EXPECT_THAT(json, HasSubstr(R"(["a\"b"])"));
}

// ---------------------------------------------------------------------------
// EditConsoleKeyPolicy: the console key page's administrators and users panels.

constexpr char kOther[] = "arn:aws:iam::111122223333:user/alice";

// The edited policy, which must have changed.
std::string Edited(std::string_view policy, const KeyPrincipalsEdit& edit) {
  Result<EditedKeyPolicy> edited = EditConsoleKeyPolicy(policy, edit);
  EXPECT_TRUE(edited.ok()) << edited.status().ToString();
  if (!edited.ok()) return "";
  EXPECT_TRUE(edited->changed);
  return edited->policy;
}

TEST(EditConsoleKeyPolicyTest, AddingAUserToAPolicyWithoutUsersGivesTheConsolesPolicy) {
  // Seed step: the key was made with an administrator and no user; "Add" the role.
  KeyPrincipalsEdit edit;
  edit.add_users = {kUser, kUser};  // given twice, named once
  EXPECT_EQ(Edited(ConsoleKeyPolicy("111122223333", {kAdmin}, {}, true), edit),
            kConsolePolicyExample);
}

TEST(EditConsoleKeyPolicyTest, AddingAnAdministratorPutsItsStatementBeforeTheUsers) {
  KeyPrincipalsEdit edit;
  edit.add_admins = {kAdmin};
  EXPECT_EQ(Edited(ConsoleKeyPolicy("111122223333", {}, {kUser}, true), edit),
            kConsolePolicyExample);

  edit.admins_can_delete = false;
  std::string edited = Edited(DefaultKeyPolicy("111122223333"), edit);
  EXPECT_EQ(edited.find("kms:ScheduleKeyDeletion"), std::string::npos);
  Policy p = MustParse(edited, PolicyKind::kKeyPolicy);
  ASSERT_EQ(p.statements().size(), 2u);
  EXPECT_EQ(p.id(), "key-default-1");  // the rest of the policy stays
}

TEST(EditConsoleKeyPolicyTest, AddsToBothUserStatementsAndKeepsOrderAndOtherStatements) {
  std::string policy = ConsoleKeyPolicy("111122223333", {kAdmin}, {kUser}, true);
  // A statement of the operator's own, which the edit must leave alone.
  policy.insert(
      policy.size() - 2,
      R"(,{"Sid":"Mine","Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*"})");
  KeyPrincipalsEdit edit;
  edit.add_users = {kOther, kUser};  // kUser is there already
  std::string edited = Edited(policy, edit);
  Policy p = MustParse(edited, PolicyKind::kKeyPolicy);
  ASSERT_EQ(p.statements().size(), 5u);
  EXPECT_THAT(edited, HasSubstr(std::string(R"("Sid":"Allow use of the key","Effect":"Allow",)") +
                                R"("Principal":{"AWS":[")" + kUser + R"(",")" + kOther + R"("]})"));
  EXPECT_THAT(edited,
              HasSubstr(std::string(R"("Sid":"Allow attachment of persistent resources",)") +
                        R"("Effect":"Allow","Principal":{"AWS":[")" + kUser + R"(",")" + kOther +
                        R"("]})"));
  EXPECT_EQ(p.statements()[4].sid, "Mine");
}

TEST(EditConsoleKeyPolicyTest, RemovingTheLastUserRemovesTheUserStatements) {
  KeyPrincipalsEdit edit;
  edit.remove_users = {kUser};
  EXPECT_EQ(Edited(ConsoleKeyPolicy("111122223333", {kAdmin}, {kUser}, true), edit),
            ConsoleKeyPolicy("111122223333", {kAdmin}, {}, true));

  edit = {};
  edit.remove_admins = {kAdmin};
  EXPECT_EQ(Edited(ConsoleKeyPolicy("111122223333", {kAdmin, kOther}, {}, true), edit),
            ConsoleKeyPolicy("111122223333", {kOther}, {}, true));
}

TEST(EditConsoleKeyPolicyTest, RemovingTakesEveryCopyOfTheArn) {
  // The same ARN twice in a statement: removing it must leave no access behind.
  KeyPrincipalsEdit edit;
  edit.remove_users = {kUser};
  EXPECT_EQ(Edited(ConsoleKeyPolicy("111122223333", {kAdmin}, {kUser, kOther, kUser}, true), edit),
            ConsoleKeyPolicy("111122223333", {kAdmin}, {kOther}, true));
}

TEST(EditConsoleKeyPolicyTest, AnEditThatChangesNothingSaysSoAndRewritesNothing) {
  // A single ARN written as a string, a Statement given as one object: left as written.
  const std::string policy =
      std::string(R"({"Version":"2012-10-17","Statement":{"Sid":"Allow use of the key",)") +
      R"("Effect":"Allow","Principal":{"AWS":")" + kUser +
      R"("},"Action":"kms:*","Resource":"*"}})";
  KeyPrincipalsEdit edit;
  edit.add_users = {kUser};
  Result<EditedKeyPolicy> same = EditConsoleKeyPolicy(policy, edit);
  ASSERT_TRUE(same.ok()) << same.status().ToString();
  EXPECT_FALSE(same->changed);
}

TEST(EditConsoleKeyPolicyTest, APrincipalWrittenAsAStringIsEdited) {
  const std::string policy =
      std::string(R"({"Version":"2012-10-17","Statement":[{"Sid":"Allow use of the key",)") +
      R"("Effect":"Allow","Principal":{"AWS":")" + kUser +
      R"("},"Action":"kms:Encrypt","Resource":"*"}]})";
  KeyPrincipalsEdit edit;
  edit.add_users = {kOther};
  std::string edited = Edited(policy, edit);
  EXPECT_THAT(edited, HasSubstr(std::string(R"("AWS":[")") + kUser + R"(",")" + kOther + "\"]"));
  // The actions the operator chose stay; the missing grants statement is added,
  // for the new key user only.
  EXPECT_THAT(edited, HasSubstr(R"("Action":"kms:Encrypt")"));
  EXPECT_THAT(edited,
              HasSubstr(std::string(R"("Sid":"Allow attachment of persistent resources",)") +
                        R"("Effect":"Allow","Principal":{"AWS":[")" + kOther + "\"]"));
}

TEST(EditConsoleKeyPolicyTest, OnlyTheStatementsOfTheEditedRoleMustBeTheConsoles) {
  // The administrators' statement names a service too: adding a user does not touch it.
  const std::string policy =
      std::string(R"({"Statement":[{"Sid":"Allow access for Key Administrators",)") +
      R"("Effect":"Allow","Principal":{"AWS":")" + kAdmin +
      R"(","Service":"rds.amazonaws.com"},"Action":"kms:*","Resource":"*"}]})";
  KeyPrincipalsEdit edit;
  edit.add_users = {kUser};
  std::string edited = Edited(policy, edit);
  EXPECT_THAT(edited, HasSubstr(std::string(R"("Principal":{"AWS":")") + kAdmin +
                                R"(","Service":"rds.amazonaws.com"})"));
  edit = {};
  edit.add_admins = {kOther};
  Result<EditedKeyPolicy> refused = EditConsoleKeyPolicy(policy, edit);
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(refused.status().message(), HasSubstr("edit this policy as a whole"));
}

TEST(EditConsoleKeyPolicyTest, BadEditsAreRefused) {
  const std::string policy = ConsoleKeyPolicy("111122223333", {kAdmin}, {kUser}, true);
  KeyPrincipalsEdit edit;
  edit.remove_users = {kOther};
  Result<EditedKeyPolicy> r = EditConsoleKeyPolicy(policy, edit);
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(r.status().message(), std::string(kOther) + " is not a key user of this key");

  edit = {};
  edit.remove_admins = {kUser};  // a user, not an administrator
  r = EditConsoleKeyPolicy(policy, edit);
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(r.status().message(), HasSubstr("is not a key administrator"));

  edit = {};
  edit.add_users = {kOther};
  edit.remove_users = {kOther};
  EXPECT_EQ(EditConsoleKeyPolicy(policy, edit).status().code(), StatusCode::kInvalidArgument);

  edit = {};
  edit.add_users = {kOther};
  EXPECT_EQ(EditConsoleKeyPolicy("[1]", edit).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(EditConsoleKeyPolicy("{\"Statement\":", edit).status().code(),
            StatusCode::kInvalidArgument);

  // A console Sid on a statement that does not grant as the console's do.
  for (
      const std::string statement : {
          R"({"Sid":"Allow use of the key","Effect":"Allow","Principal":"*","Action":"kms:*"})",
          R"({"Sid":"Allow use of the key","Effect":"Deny","Principal":{"AWS":"X"},"Action":"kms:*"})",
          R"({"Sid":"Allow use of the key","Effect":"Allow","NotPrincipal":{"AWS":"X"},)"
          R"("Principal":{"AWS":"X"},"Action":"kms:*"})",
          R"({"Sid":"Allow use of the key","Effect":"Allow","Principal":{"AWS":["X",1]}})",
      }) {
    r = EditConsoleKeyPolicy("{\"Statement\":[" + statement + "]}", edit);
    EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition) << statement;
    EXPECT_THAT(r.status().message(), HasSubstr("edit this policy as a whole")) << statement;
  }
  // Statements of any shape that are not the console's are passed over, not thrown on.
  r = EditConsoleKeyPolicy(R"({"Statement":[{"Sid":7},{"Sid":null},"x",3,null]})", edit);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_THAT(r->policy, HasSubstr(R"({"Sid":7},{"Sid":null},"x",3,null,{"Sid":"Allow use)"));
}

TEST(PolicyTest, MayReadNamesTheConditionKeysAndVariablesAPolicyUses) {
  Policy p = MustParse(R"({"Version":"2012-10-17","Statement":[
    {"Effect":"Allow","Action":"kms:*","Resource":"*",
     "Condition":{"StringEquals":{"AWS:ResourceTag/Project":"x"}}}]})");
  EXPECT_TRUE(p.MayRead("aws:resourcetag/"));  // keys are compared without case
  EXPECT_FALSE(p.MayRead("kms:resourcealiases"));
  // A policy variable may name any key.
  Policy variables = MustParse(R"({"Version":"2012-10-17","Statement":[
    {"Effect":"Allow","Action":"kms:*","Resource":"arn:aws:kms:*:*:key/${aws:username}"}]})");
  EXPECT_TRUE(variables.MayRead("kms:resourcealiases"));
  // Without conditions or variables, nothing ("${" is literal in version 2008-10-17).
  Policy plain = MustParse(R"({"Version":"2008-10-17","Statement":[
    {"Effect":"Allow","Action":"kms:*","Resource":"arn:aws:kms:*:*:key/${aws:username}"}]})");
  EXPECT_FALSE(plain.MayRead("aws:resourcetag/"));
}

}  // namespace
}  // namespace coffer::policy
