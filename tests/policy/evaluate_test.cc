#include "policy/evaluate.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "policy/policy.h"

namespace coffer::policy {
namespace {

using ::testing::HasSubstr;

constexpr char kAccount[] = "111122223333";
constexpr char kKeyArn[] =
    "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
constexpr char kOtherKeyArn[] =
    "arn:aws:kms:us-east-1:111122223333:key/0987dcba-09fe-87dc-65ba-ab0987654321";
constexpr char kAliceArn[] = "arn:aws:iam::111122223333:user/alice";
constexpr char kBobArn[] = "arn:aws:iam::111122223333:user/bob";
constexpr char kRoleArn[] = "arn:aws:iam::111122223333:role/rdstestrole";
constexpr char kSession[] = "RDS-SqlServerBackupRestore";
constexpr char kSessionArn[] =
    "arn:aws:sts::111122223333:assumed-role/rdstestrole/RDS-SqlServerBackupRestore";
constexpr char kAdminRoleArn[] = "arn:aws:iam::111122223333:role/KMSAdminRole";

Policy MustParse(std::string_view json, PolicyKind kind = PolicyKind::kAny) {
  auto p = Policy::Parse(json, kind);
  EXPECT_TRUE(p.ok()) << p.status().ToString() << "\n" << json;
  if (!p.ok()) std::abort();
  return std::move(p).value();
}

Principal Alice() { return Principal::IamUser(kAliceArn, "AIDAALICE"); }
Principal Bob() { return Principal::IamUser(kBobArn, "AIDABOB"); }
Principal RdsSession() { return Principal::AssumedRole(kRoleArn, kSession, "AROARDSTEST"); }
Principal AdminSession() {
  return Principal::AssumedRole(kAdminRoleArn, "admin-session", "AROAADMIN");
}

RequestContext Ctx(Principal who, std::string action, std::string resource = kKeyArn) {
  RequestContext ctx;
  ctx.principal = std::move(who);
  ctx.action = std::move(action);
  ctx.resource = std::move(resource);
  return ctx;
}

// ---------------------------------------------------------------- matching

struct MatchCase {
  const char* pattern;
  const char* text;
  bool expected;
};

TEST(MatchingTest, WildcardMatch) {
  const MatchCase cases[] = {
      {"*", "", true},
      {"", "", true},
      {"", "a", false},
      {"a", "", false},
      {"a*", "a", true},
      {"a?c", "abc", true},
      {"a?c", "ac", false},
      {"a?c", "abbc", false},
      {"*a*b*c*", "xxaxxbxxc", true},
      {"*a*b*c*", "xxcxxbxxa", false},
      {"a*b", "ab", true},
      {"a*b", "acbcb", true},
      {"a*b", "acbc", false},
      {"**", "x", true},
      {"ABC", "abc", false},
      {"*?", "", false},
      {"?*", "x", true},
      {"a*", "ba", false},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(WildcardMatch(c.pattern, c.text), c.expected) << c.pattern << " ~ " << c.text;
  }
  EXPECT_TRUE(WildcardMatch("ABC", "abc", /*ignore_case=*/true));
  EXPECT_TRUE(WildcardMatch("A*c", "abC", /*ignore_case=*/true));
}

TEST(MatchingTest, WildcardMatchIsNotExponential) {
  std::string text(20000, 'a');
  EXPECT_FALSE(WildcardMatch("*a*a*a*a*a*a*a*a*a*a*b", text));
  EXPECT_TRUE(WildcardMatch("*a*a*a*a*a*a*a*a*a*a*", text));
}

TEST(MatchingTest, ActionMatches) {
  const MatchCase cases[] = {
      {"kms:GenerateDataKey*", "kms:GenerateDataKeyWithoutPlaintext", true},
      {"kms:GenerateDataKey*", "kms:GenerateDataKey", true},
      {"kms:generatedatakey*", "KMS:GenerateDataKeyPair", true},  // case-insensitive
      {"KMS:ENCRYPT", "kms:Encrypt", true},
      {"kms:*", "kms:Encrypt", true},
      {"kms:*", "kmsx:Encrypt", false},
      {"kms:Encrypt", "kms:EncryptX", false},
      {"kms:Encrypt", "kms:ReEncrypt", false},
      {"*", "iam:CreateUser", true},
      {"kms:De*Key", "kms:DescribeKey", true},
      {"kms:?ncrypt", "kms:Encrypt", true},
      {"kms:Re*", "kms:Decrypt", false},
      {"s3:*", "kms:Encrypt", false},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(ActionMatches(c.pattern, c.text), c.expected) << c.pattern << " ~ " << c.text;
  }
}

TEST(MatchingTest, ArnMatches) {
  const MatchCase cases[] = {
      {"*", kKeyArn, true},
      {"*", "not-an-arn", true},
      {kKeyArn, kKeyArn, true},
      {kKeyArn, kOtherKeyArn, false},
      {"arn:aws:kms:*:111122223333:key/*", kKeyArn, true},
      {"arn:aws:kms:us-east-1:111122223333:key/*", "arn:aws:kms:us-east-1:111122223333:alias/x",
       false},
      {"arn:aws:kms:*:*:*", kKeyArn, true},
      {"arn:aws:kms:us-?ast-1:111122223333:key/*", kKeyArn, true},
      // `*` stays within one of the first five segments.
      {"arn:aws:kms:*", kKeyArn, false},
      {"arn:aws:kms:*:key/1234abcd-12ab-34cd-56ef-1234567890ab", kKeyArn, false},
      {"arn:aws:*:111122223333:key/*", kKeyArn, false},
      // …and spans '/' and ':' in the resource part.
      {"arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket/a/b/c", true},
      {"arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket2/a", false},
      {"arn:aws:logs:us-east-1:111122223333:log-group:*",
       "arn:aws:logs:us-east-1:111122223333:log-group:foo:log-stream:bar", true},
      // Case-sensitive.
      {"arn:aws:kms:us-east-1:111122223333:key/ABC", "arn:aws:kms:us-east-1:111122223333:key/abc",
       false},
      {"arn:aws:kms:us-east-1:111122223333:key/*", "not-an-arn", false},
      {"arn:aws:kms:us-east-1:111122223333:key/*", "", false},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(ArnMatches(c.pattern, c.text), c.expected) << c.pattern << " ~ " << c.text;
  }
}

// ---------------------------------------------------------------- conditions

using Keys = std::map<std::string, std::vector<std::string>>;

struct ConditionCase {
  const char* name;
  const char* condition;  // the value of "Condition"
  Keys keys;
  bool allowed;
};

// Alice's identity policy allows kms:Encrypt exactly when the condition holds.
Decision EvaluateCondition(const std::string& condition, const Keys& keys) {
  Policy p = MustParse(R"({"Version":"2012-10-17","Statement":{"Effect":"Allow",)"
                       R"("Action":"kms:Encrypt","Resource":"*","Condition":)" +
                           condition + "}}",
                       PolicyKind::kIdentityPolicy);
  RequestContext ctx = Ctx(Alice(), "kms:Encrypt");
  ctx.condition_keys = keys;
  return EvaluateIdentity({&p}, ctx);
}

std::vector<ConditionCase> ConditionCases() {
  const char* alg = R"({"StringEquals":{"kms:EncryptionAlgorithm":"SYMMETRIC_DEFAULT"}})";
  const char* ctx_keys_any =
      R"({"ForAnyValue:StringEquals":{"kms:EncryptionContextKeys":["a","b"]}})";
  const char* ctx_keys_all =
      R"({"ForAllValues:StringEquals":{"kms:EncryptionContextKeys":["a","b"]}})";
  const std::string k = "kms:EncryptionContextKeys";
  return {
      // String operators.
      {"StringEqualsMatch", alg, {{"kms:EncryptionAlgorithm", {"SYMMETRIC_DEFAULT"}}}, true},
      {"StringEqualsIsCaseSensitive",
       alg,
       {{"kms:EncryptionAlgorithm", {"symmetric_default"}}},
       false},
      {"StringEqualsMissingKey", alg, {}, false},
      {"StringEqualsValuesAreOred",
       R"({"StringEquals":{"aws:x":["A","B"]}})",
       {{"aws:x", {"B"}}},
       true},
      {"StringEqualsNumberValue", R"({"StringEquals":{"aws:x":5}})", {{"aws:x", {"5"}}}, true},
      {"StringNotEqualsSame", R"({"StringNotEquals":{"aws:x":"a"}})", {{"aws:x", {"a"}}}, false},
      {"StringNotEqualsDifferent",
       R"({"StringNotEquals":{"aws:x":"a"}})",
       {{"aws:x", {"b"}}},
       true},
      {"StringNotEqualsAnyOfValues",
       R"({"StringNotEquals":{"aws:x":["a","b"]}})",
       {{"aws:x", {"b"}}},
       false},
      {"StringNotEqualsMissingKey", R"({"StringNotEquals":{"aws:x":"a"}})", {}, true},
      {"StringEqualsIgnoreCase",
       R"({"StringEqualsIgnoreCase":{"aws:x":"MiXeD"}})",
       {{"aws:x", {"mixed"}}},
       true},
      {"StringEqualsIgnoreCaseDifferent",
       R"({"StringEqualsIgnoreCase":{"aws:x":"MiXeD"}})",
       {{"aws:x", {"mixedx"}}},
       false},
      {"StringNotEqualsIgnoreCaseSame",
       R"({"StringNotEqualsIgnoreCase":{"aws:x":"MiXeD"}})",
       {{"aws:x", {"MIXED"}}},
       false},
      {"StringNotEqualsIgnoreCaseMissing",
       R"({"StringNotEqualsIgnoreCase":{"aws:x":"a"}})",
       {},
       true},
      {"StringLikeStar",
       R"({"StringLike":{"kms:RequestAlias":"alias/backup-*"}})",
       {{"kms:RequestAlias", {"alias/backup-2019"}}},
       true},
      {"StringLikeNoMatch",
       R"({"StringLike":{"kms:RequestAlias":"alias/backup-*"}})",
       {{"kms:RequestAlias", {"alias/other"}}},
       false},
      {"StringLikeQuestionMark", R"({"StringLike":{"aws:x":"v?"}})", {{"aws:x", {"v2"}}}, true},
      {"StringLikeIsCaseSensitive",
       R"({"StringLike":{"aws:x":"abc*"}})",
       {{"aws:x", {"ABCD"}}},
       false},
      {"StringNotLikeMatching", R"({"StringNotLike":{"aws:x":"a*"}})", {{"aws:x", {"abc"}}}, false},
      {"StringNotLikeOther", R"({"StringNotLike":{"aws:x":"a*"}})", {{"aws:x", {"xyz"}}}, true},
      {"StringNotLikeMissing", R"({"StringNotLike":{"aws:x":"a*"}})", {}, true},
      // IfExists.
      {"IfExistsMissing", R"({"StringEqualsIfExists":{"aws:x":"a"}})", {}, true},
      {"IfExistsPresentMismatch",
       R"({"StringEqualsIfExists":{"aws:x":"a"}})",
       {{"aws:x", {"b"}}},
       false},
      {"IfExistsPresentMatch",
       R"({"StringEqualsIfExists":{"aws:x":"a"}})",
       {{"aws:x", {"a"}}},
       true},
      {"NotEqualsIfExistsMissing", R"({"StringNotEqualsIfExists":{"aws:x":"a"}})", {}, true},
      {"NotEqualsIfExistsPresentSame",
       R"({"StringNotEqualsIfExists":{"aws:x":"a"}})",
       {{"aws:x", {"a"}}},
       false},
      {"NumericIfExistsMissing", R"({"NumericLessThanIfExists":{"aws:n":"3"}})", {}, true},
      {"NumericIfExistsPresent",
       R"({"NumericLessThanIfExists":{"aws:n":"3"}})",
       {{"aws:n", {"4"}}},
       false},
      {"BoolIfExistsMissing", R"({"BoolIfExists":{"aws:SecureTransport":"true"}})", {}, true},
      {"ArnLikeIfExistsMissing",
       R"({"ArnLikeIfExists":{"aws:SourceArn":"arn:aws:s3:::b"}})",
       {},
       true},
      // ARN operators.
      {"ArnLike",
       R"({"ArnLike":{"aws:SourceArn":"arn:aws:iam::111122223333:role/*"}})",
       {{"aws:SourceArn", {kRoleArn}}},
       true},
      {"ArnEqualsAlsoTakesWildcards",
       R"({"ArnEquals":{"aws:SourceArn":"arn:aws:iam::*:role/rdstestrole"}})",
       {{"aws:SourceArn", {kRoleArn}}},
       true},
      {"ArnEqualsExact",
       R"({"ArnEquals":{"aws:SourceArn":"arn:aws:iam::111122223333:role/x"}})",
       {{"aws:SourceArn", {kRoleArn}}},
       false},
      {"ArnLikeStarStaysInSegment",
       R"({"ArnLike":{"aws:SourceArn":"arn:aws:iam::*"}})",
       {{"aws:SourceArn", {kRoleArn}}},
       false},
      {"ArnLikeNotAnArn",
       R"({"ArnLike":{"aws:SourceArn":"arn:aws:iam::*:role/*"}})",
       {{"aws:SourceArn", {"rdstestrole"}}},
       false},
      {"ArnLikeMissing", R"({"ArnLike":{"aws:SourceArn":"arn:aws:iam::*:role/*"}})", {}, false},
      {"ArnNotLikeMatching",
       R"({"ArnNotLike":{"aws:SourceArn":"arn:aws:iam::*:role/*"}})",
       {{"aws:SourceArn", {kRoleArn}}},
       false},
      {"ArnNotLikeOther",
       R"({"ArnNotLike":{"aws:SourceArn":"arn:aws:iam::*:role/*"}})",
       {{"aws:SourceArn", {kAliceArn}}},
       true},
      {"ArnNotLikeMissing",
       R"({"ArnNotLike":{"aws:SourceArn":"arn:aws:iam::*:role/*"}})",
       {},
       true},
      {"ArnNotEqualsOther",
       R"({"ArnNotEquals":{"aws:SourceArn":"arn:aws:iam::111122223333:role/x"}})",
       {{"aws:SourceArn", {kRoleArn}}},
       true},
      {"ArnNotEqualsSame",
       R"({"ArnNotEquals":{"aws:SourceArn":"arn:aws:iam::111122223333:role/rdstestrole"}})",
       {{"aws:SourceArn", {kRoleArn}}},
       false},
      // Numeric operators.
      {"NumericEqualsCompareNumbers",
       R"({"NumericEquals":{"aws:n":10}})",
       {{"aws:n", {"10.0"}}},
       true},
      {"NumericEqualsDifferent", R"({"NumericEquals":{"aws:n":10}})", {{"aws:n", {"11"}}}, false},
      {"NumericNotEqualsSame",
       R"({"NumericNotEquals":{"aws:n":"10"}})",
       {{"aws:n", {"10"}}},
       false},
      {"NumericNotEqualsDifferent",
       R"({"NumericNotEquals":{"aws:n":"10"}})",
       {{"aws:n", {"11"}}},
       true},
      {"NumericNotEqualsMissing", R"({"NumericNotEquals":{"aws:n":"10"}})", {}, true},
      {"NumericLessThanBelow", R"({"NumericLessThan":{"aws:n":"10"}})", {{"aws:n", {"9"}}}, true},
      {"NumericLessThanEqual", R"({"NumericLessThan":{"aws:n":"10"}})", {{"aws:n", {"10"}}}, false},
      {"NumericLessThanNegative",
       R"({"NumericLessThan":{"aws:n":"-1.5"}})",
       {{"aws:n", {"-2"}}},
       true},
      {"NumericLessThanEqualsEqual",
       R"({"NumericLessThanEquals":{"aws:n":"10"}})",
       {{"aws:n", {"10"}}},
       true},
      {"NumericLessThanEqualsAbove",
       R"({"NumericLessThanEquals":{"aws:n":"10"}})",
       {{"aws:n", {"10.01"}}},
       false},
      {"NumericGreaterThanAbove",
       R"({"NumericGreaterThan":{"aws:n":"10"}})",
       {{"aws:n", {"11"}}},
       true},
      {"NumericGreaterThanEqual",
       R"({"NumericGreaterThan":{"aws:n":"10"}})",
       {{"aws:n", {"10"}}},
       false},
      {"NumericGreaterThanEqualsEqual",
       R"({"NumericGreaterThanEquals":{"aws:n":"10"}})",
       {{"aws:n", {"10"}}},
       true},
      {"NumericGreaterThanEqualsBelow",
       R"({"NumericGreaterThanEquals":{"aws:n":"10"}})",
       {{"aws:n", {"9"}}},
       false},
      {"NumericRequestNotANumber",
       R"({"NumericLessThan":{"aws:n":"10"}})",
       {{"aws:n", {"five"}}},
       false},
      {"NumericMissing", R"({"NumericLessThan":{"aws:n":"10"}})", {}, false},
      // Date operators.
      {"DateLessThanBefore",
       R"({"DateLessThan":{"aws:CurrentTime":"2020-01-01T00:00:00Z"}})",
       {{"aws:CurrentTime", {"2019-12-31T23:59:59Z"}}},
       true},
      {"DateLessThanEqual",
       R"({"DateLessThan":{"aws:CurrentTime":"2020-01-01T00:00:00Z"}})",
       {{"aws:CurrentTime", {"2020-01-01T00:00:00Z"}}},
       false},
      {"DateLessThanEqualsEqual",
       R"({"DateLessThanEquals":{"aws:CurrentTime":"2020-01-01T00:00:00Z"}})",
       {{"aws:CurrentTime", {"2020-01-01T00:00:00Z"}}},
       true},
      {"DateGreaterThanEpochPolicy",
       R"({"DateGreaterThan":{"aws:CurrentTime":"1577836800"}})",
       {{"aws:CurrentTime", {"2020-01-01T00:00:01Z"}}},
       true},
      {"DateGreaterThanEqual",
       R"({"DateGreaterThan":{"aws:CurrentTime":"1577836800"}})",
       {{"aws:CurrentTime", {"2020-01-01T00:00:00Z"}}},
       false},
      {"DateGreaterThanEqualsEpochRequest",
       R"({"DateGreaterThanEquals":{"aws:EpochTime":"2020-01-01T00:00:00Z"}})",
       {{"aws:EpochTime", {"1577836800"}}},
       true},
      {"DateEqualsWithOffset",
       R"({"DateEquals":{"aws:CurrentTime":"2020-01-01T01:00:00+01:00"}})",
       {{"aws:CurrentTime", {"2020-01-01T00:00:00Z"}}},
       true},
      {"DateEqualsDateOnly",
       R"({"DateEquals":{"aws:CurrentTime":"2020-01-01"}})",
       {{"aws:CurrentTime", {"2020-01-01T00:00:00Z"}}},
       true},
      {"DateLessThanMilliseconds",
       R"({"DateLessThan":{"aws:CurrentTime":"2020-01-01T00:00:00.500Z"}})",
       {{"aws:CurrentTime", {"2020-01-01T00:00:00.499Z"}}},
       true},
      {"DateLeapDay",
       R"({"DateGreaterThan":{"aws:CurrentTime":"2020-02-28T23:59:59Z"}})",
       {{"aws:CurrentTime", {"2020-02-29T00:00:00Z"}}},
       true},
      {"DateNotEqualsSame",
       R"({"DateNotEquals":{"aws:CurrentTime":"2020-01-01T00:00:00Z"}})",
       {{"aws:CurrentTime", {"1577836800"}}},
       false},
      {"DateNotEqualsMissing", R"({"DateNotEquals":{"aws:CurrentTime":"2020-01-01"}})", {}, true},
      {"DateRequestNotADate",
       R"({"DateLessThan":{"aws:CurrentTime":"2020-01-01"}})",
       {{"aws:CurrentTime", {"now"}}},
       false},
      // Bool.
      {"BoolTrue",
       R"({"Bool":{"aws:SecureTransport":"true"}})",
       {{"aws:SecureTransport", {"true"}}},
       true},
      {"BoolJsonTrueAnyCase",
       R"({"Bool":{"aws:SecureTransport":true}})",
       {{"aws:SecureTransport", {"True"}}},
       true},
      {"BoolFalse",
       R"({"Bool":{"aws:SecureTransport":"true"}})",
       {{"aws:SecureTransport", {"false"}}},
       false},
      {"BoolMissing", R"({"Bool":{"aws:SecureTransport":"true"}})", {}, false},
      {"BoolRequestNotBool",
       R"({"Bool":{"aws:SecureTransport":"true"}})",
       {{"aws:SecureTransport", {"yes"}}},
       false},
      // Null.
      {"NullTrueMissing", R"({"Null":{"aws:SourceVpc":"true"}})", {}, true},
      {"NullTruePresent",
       R"({"Null":{"aws:SourceVpc":"true"}})",
       {{"aws:SourceVpc", {"x"}}},
       false},
      {"NullFalsePresent",
       R"({"Null":{"aws:SourceVpc":false}})",
       {{"aws:SourceVpc", {"x"}}},
       true},
      {"NullFalseMissing", R"({"Null":{"aws:SourceVpc":"false"}})", {}, false},
      {"NullTrueEmptySet", R"({"Null":{"aws:TagKeys":"true"}})", {{"aws:TagKeys", {}}}, true},
      // IP addresses.
      {"IpInBlock",
       R"({"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}})",
       {{"aws:SourceIp", {"203.0.113.7"}}},
       true},
      {"IpOutsideBlock",
       R"({"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}})",
       {{"aws:SourceIp", {"203.0.114.1"}}},
       false},
      {"IpMissing", R"({"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}})", {}, false},
      {"IpSingleAddress",
       R"({"IpAddress":{"aws:SourceIp":"198.51.100.4"}})",
       {{"aws:SourceIp", {"198.51.100.4"}}},
       true},
      {"IpSingleAddressOther",
       R"({"IpAddress":{"aws:SourceIp":"198.51.100.4"}})",
       {{"aws:SourceIp", {"198.51.100.5"}}},
       false},
      {"IpZeroPrefix",
       R"({"IpAddress":{"aws:SourceIp":"0.0.0.0/0"}})",
       {{"aws:SourceIp", {"8.8.8.8"}}},
       true},
      {"IpOddPrefixInside",
       R"({"IpAddress":{"aws:SourceIp":"10.0.0.128/25"}})",
       {{"aws:SourceIp", {"10.0.0.200"}}},
       true},
      {"IpOddPrefixOutside",
       R"({"IpAddress":{"aws:SourceIp":"10.0.0.128/25"}})",
       {{"aws:SourceIp", {"10.0.0.127"}}},
       false},
      {"IpBlocksAreOred",
       R"({"IpAddress":{"aws:SourceIp":["10.0.0.0/8","192.168.0.0/16"]}})",
       {{"aws:SourceIp", {"192.168.3.4"}}},
       true},
      {"Ip6InBlock",
       R"({"IpAddress":{"aws:SourceIp":"2001:db8::/32"}})",
       {{"aws:SourceIp", {"2001:db8:1::5"}}},
       true},
      {"Ip6OutsideBlock",
       R"({"IpAddress":{"aws:SourceIp":"2001:db8::/32"}})",
       {{"aws:SourceIp", {"2001:db9::1"}}},
       false},
      {"Ip4AgainstIp6Block",
       R"({"IpAddress":{"aws:SourceIp":"::/0"}})",
       {{"aws:SourceIp", {"10.0.0.1"}}},
       false},
      {"IpRequestIsABlock",
       R"({"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}})",
       {{"aws:SourceIp", {"203.0.113.0/24"}}},
       false},
      {"IpRequestGarbage",
       R"({"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}})",
       {{"aws:SourceIp", {"localhost"}}},
       false},
      {"NotIpInside",
       R"({"NotIpAddress":{"aws:SourceIp":"203.0.113.0/24"}})",
       {{"aws:SourceIp", {"203.0.113.7"}}},
       false},
      {"NotIpOutside",
       R"({"NotIpAddress":{"aws:SourceIp":"203.0.113.0/24"}})",
       {{"aws:SourceIp", {"192.0.2.1"}}},
       true},
      {"NotIpMissing", R"({"NotIpAddress":{"aws:SourceIp":"203.0.113.0/24"}})", {}, true},
      // Binary.
      {"BinaryEquals",
       R"({"BinaryEquals":{"aws:b":"QmluYXJ5VmFsdWU="}})",
       {{"aws:b", {"QmluYXJ5VmFsdWU="}}},
       true},
      {"BinaryDifferent",
       R"({"BinaryEquals":{"aws:b":"QmluYXJ5VmFsdWU="}})",
       {{"aws:b", {"QmluYXJ5VmFsdWF="}}},
       false},
      {"BinaryRequestNotBase64",
       R"({"BinaryEquals":{"aws:b":"QmluYXJ5VmFsdWU="}})",
       {{"aws:b", {"BinaryValue"}}},
       false},
      // ForAnyValue / ForAllValues.
      {"ForAnyValueOneMatches", ctx_keys_any, {{k, {"b", "z"}}}, true},
      {"ForAnyValueNoneMatches", ctx_keys_any, {{k, {"z"}}}, false},
      {"ForAnyValueEmptySet", ctx_keys_any, {{k, {}}}, false},
      {"ForAnyValueMissing", ctx_keys_any, {}, false},
      {"ForAllValuesAllMatch", ctx_keys_all, {{k, {"a", "b"}}}, true},
      {"ForAllValuesSubset", ctx_keys_all, {{k, {"b"}}}, true},
      {"ForAllValuesOneOutside", ctx_keys_all, {{k, {"a", "z"}}}, false},
      {"ForAllValuesEmptySet", ctx_keys_all, {{k, {}}}, true},
      {"ForAllValuesMissing", ctx_keys_all, {}, true},
      {"ForAnyValueNotEqualsOneDiffers",
       R"({"ForAnyValue:StringNotEquals":{"kms:EncryptionContextKeys":"a"}})",
       {{k, {"a", "b"}}},
       true},
      {"ForAnyValueNotEqualsAllSame",
       R"({"ForAnyValue:StringNotEquals":{"kms:EncryptionContextKeys":"a"}})",
       {{k, {"a"}}},
       false},
      {"ForAnyValueNotEqualsEmpty",
       R"({"ForAnyValue:StringNotEquals":{"kms:EncryptionContextKeys":"a"}})",
       {{k, {}}},
       false},
      {"ForAllValuesNotEqualsNoneSame",
       R"({"ForAllValues:StringNotEquals":{"kms:EncryptionContextKeys":"a"}})",
       {{k, {"b", "c"}}},
       true},
      {"ForAllValuesNotEqualsOneSame",
       R"({"ForAllValues:StringNotEquals":{"kms:EncryptionContextKeys":"a"}})",
       {{k, {"a", "b"}}},
       false},
      {"ForAllValuesNotEqualsEmpty",
       R"({"ForAllValues:StringNotEquals":{"kms:EncryptionContextKeys":"a"}})",
       {{k, {}}},
       true},
      {"ForAnyValueIfExistsMissing",
       R"({"ForAnyValue:StringLikeIfExists":{"kms:EncryptionContextKeys":"a*"}})",
       {},
       true},
      {"ForAnyValueIfExistsEmpty",
       R"({"ForAnyValue:StringLikeIfExists":{"kms:EncryptionContextKeys":"a*"}})",
       {{k, {}}},
       true},
      {"ForAnyValueIfExistsPresent",
       R"({"ForAnyValue:StringLikeIfExists":{"kms:EncryptionContextKeys":"a*"}})",
       {{k, {"bb"}}},
       false},
      {"ForAllValuesLike",
       R"({"ForAllValues:StringLike":{"aws:TagKeys":["env-*","owner"]}})",
       {{"aws:TagKeys", {"env-prod", "owner"}}},
       true},
      {"ForAllValuesLikeOneOutside",
       R"({"ForAllValues:StringLike":{"aws:TagKeys":["env-*","owner"]}})",
       {{"aws:TagKeys", {"env-prod", "cost"}}},
       false},
      {"ForAnyValueNumeric",
       R"({"ForAnyValue:NumericGreaterThan":{"aws:n":"5"}})",
       {{"aws:n", {"1", "9"}}},
       true},
      // Single-valued operators on a set: some value matches; negated: none matches.
      {"PlainOperatorOnSet",
       R"({"StringEquals":{"aws:TagKeys":"a"}})",
       {{"aws:TagKeys", {"x", "a"}}},
       true},
      {"PlainNegatedOperatorOnSet",
       R"({"StringNotEquals":{"aws:TagKeys":"a"}})",
       {{"aws:TagKeys", {"x", "a"}}},
       false},
      {"PlainOperatorOnEmptySet",
       R"({"StringEquals":{"aws:TagKeys":"a"}})",
       {{"aws:TagKeys", {}}},
       false},
      {"PlainNegatedOperatorOnEmptySet",
       R"({"StringNotEquals":{"aws:TagKeys":"a"}})",
       {{"aws:TagKeys", {}}},
       true},
      // Key names are case-insensitive; values are not.
      {"KeyNameCaseInsensitive",
       R"({"StringEquals":{"KMS:ENCRYPTIONALGORITHM":"SYMMETRIC_DEFAULT"}})",
       {{"kms:EncryptionAlgorithm", {"SYMMETRIC_DEFAULT"}}},
       true},
      {"EncryptionContextKeyPartCaseInsensitive",
       R"({"StringEquals":{"kms:EncryptionContext:Department":"IT"}})",
       {{"kms:encryptioncontext:department", {"IT"}}},
       true},
      {"EncryptionContextValueCaseSensitive",
       R"({"StringEquals":{"kms:EncryptionContext:Department":"IT"}})",
       {{"kms:EncryptionContext:Department", {"it"}}},
       false},
      {"ResourceTagKeyCaseInsensitive",
       R"({"StringEquals":{"aws:ResourceTag/Project":"x"}})",
       {{"aws:resourcetag/PROJECT", {"x"}}},
       true},
      {"PrincipalTagKeyCaseInsensitive",
       R"({"StringEquals":{"aws:principaltag/team":"db"}})",
       {{"aws:PrincipalTag/Team", {"db"}}},
       true},
      {"RequestTagKeyCaseInsensitive",
       R"({"StringEquals":{"aws:RequestTag/Env":"prod"}})",
       {{"AWS:REQUESTTAG/ENV", {"prod"}}},
       true},
      // Keys under one operator are ANDed; operators are ANDed.
      {"KeysAndedBoth",
       R"({"StringEquals":{"aws:x":"1","aws:y":"2"}})",
       {{"aws:x", {"1"}}, {"aws:y", {"2"}}},
       true},
      {"KeysAndedOne", R"({"StringEquals":{"aws:x":"1","aws:y":"2"}})", {{"aws:x", {"1"}}}, false},
      {"OperatorsAndedBoth",
       R"({"StringEquals":{"aws:x":"1"},"Bool":{"aws:SecureTransport":true}})",
       {{"aws:x", {"1"}}, {"aws:SecureTransport", {"true"}}},
       true},
      {"OperatorsAndedOne",
       R"({"StringEquals":{"aws:x":"1"},"Bool":{"aws:SecureTransport":true}})",
       {{"aws:x", {"1"}}, {"aws:SecureTransport", {"false"}}},
       false},
      {"EmptyConditionObject", R"({})", {}, true},
  };
}

class ConditionTest : public ::testing::TestWithParam<ConditionCase> {};

TEST_P(ConditionTest, Evaluates) {
  const ConditionCase& c = GetParam();
  Decision d = EvaluateCondition(c.condition, c.keys);
  EXPECT_EQ(d == Decision::kAllow, c.allowed) << c.condition << " → " << DecisionName(d);
}

INSTANTIATE_TEST_SUITE_P(Operators, ConditionTest, ::testing::ValuesIn(ConditionCases()),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(ConditionKeysTest, DerivedFromThePrincipal) {
  auto allowed = [](const Principal& who, const std::string& condition) {
    Policy p = MustParse(R"({"Statement":{"Effect":"Allow","Action":"kms:*","Resource":"*",)"
                         R"("Condition":)" +
                         condition + "}}");
    return EvaluateIdentity({&p}, Ctx(who, "kms:Encrypt")) == Decision::kAllow;
  };
  // aws:PrincipalArn of a session is its role's ARN.
  EXPECT_TRUE(allowed(RdsSession(),
                      R"({"ArnEquals":{"aws:PrincipalArn":")" + std::string(kRoleArn) + R"("}})"));
  EXPECT_FALSE(allowed(RdsSession(), R"({"StringEquals":{"aws:PrincipalArn":")" +
                                         std::string(kSessionArn) + R"("}})"));
  EXPECT_TRUE(allowed(
      Alice(), R"({"StringEquals":{"aws:PrincipalArn":")" + std::string(kAliceArn) + R"("}})"));
  EXPECT_TRUE(allowed(Alice(), R"({"StringEquals":{"aws:username":"alice"}})"));
  EXPECT_TRUE(allowed(RdsSession(), R"({"Null":{"aws:username":"true"}})"));
  EXPECT_TRUE(allowed(Alice(), R"({"StringEquals":{"aws:PrincipalType":"User"}})"));
  EXPECT_TRUE(allowed(RdsSession(), R"({"StringEquals":{"aws:PrincipalType":"AssumedRole"}})"));
  EXPECT_TRUE(allowed(RdsSession(), R"({"StringEquals":{"aws:userid":"AROARDSTEST:)" +
                                        std::string(kSession) + R"("}})"));
  EXPECT_TRUE(allowed(Alice(), R"({"StringEquals":{"kms:CallerAccount":"111122223333"}})"));
  EXPECT_TRUE(allowed(Alice(), R"({"StringEquals":{"aws:PrincipalAccount":"111122223333"}})"));
}

TEST(ConditionKeysTest, SessionsCarryTheirIssueTimeAndNoMfa) {
  // The console's "Revoke active sessions" policy, and a policy denying calls without MFA.
  Policy revoke = MustParse(R"({"Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"},
    {"Effect":"Deny","Action":"*","Resource":"*",
     "Condition":{"DateLessThan":{"aws:TokenIssueTime":"2026-01-01T00:00:00Z"}}}]})");
  Policy mfa = MustParse(R"({"Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"},
    {"Effect":"Deny","Action":"*","Resource":"*",
     "Condition":{"BoolIfExists":{"aws:MultiFactorAuthPresent":"false"}}}]})");
  Policy mfa_strict = MustParse(R"({"Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"},
    {"Effect":"Deny","Action":"*","Resource":"*",
     "Condition":{"Bool":{"aws:MultiFactorAuthPresent":"false"}}}]})");
  Principal old_session = RdsSession();
  old_session.session_issued = FromEpochMillis(1767225599000);  // 2025-12-31T23:59:59Z
  Principal new_session = RdsSession();
  new_session.session_issued = FromEpochMillis(1767225600000);  // 2026-01-01T00:00:00Z
  auto decide = [](const Policy& p, const Principal& who) {
    return EvaluateIdentity({&p}, Ctx(who, "kms:Encrypt"));
  };
  EXPECT_EQ(decide(revoke, old_session), Decision::kExplicitDenyIdentity);
  EXPECT_EQ(decide(revoke, new_session), Decision::kAllow);
  EXPECT_EQ(decide(mfa, new_session), Decision::kExplicitDenyIdentity);
  EXPECT_EQ(decide(mfa_strict, new_session), Decision::kExplicitDenyIdentity);
  // Long-term credentials carry neither key: BoolIfExists denies them, Bool does not.
  EXPECT_EQ(decide(revoke, Alice()), Decision::kAllow);
  EXPECT_EQ(decide(mfa, Alice()), Decision::kExplicitDenyIdentity);
  EXPECT_EQ(decide(mfa_strict, Alice()), Decision::kAllow);
  // Neither can be set through the request's own keys.
  Policy issued = MustParse(R"({"Statement":{"Effect":"Allow","Action":"kms:*","Resource":"*",
    "Condition":{"Null":{"aws:TokenIssueTime":"false","aws:MultiFactorAuthPresent":"false"}}}})");
  RequestContext spoofed = Ctx(Alice(), "kms:Encrypt");
  spoofed.condition_keys["aws:TokenIssueTime"] = {"2026-01-01T00:00:00Z"};
  spoofed.condition_keys["aws:MultiFactorAuthPresent"] = {"true"};
  EXPECT_NE(EvaluateIdentity({&issued}, spoofed), Decision::kAllow);
  EXPECT_EQ(decide(issued, new_session), Decision::kAllow);
}

TEST(ConditionKeysTest, PrincipalFactsCannotBeSpoofedThroughTheMap) {
  Policy p = MustParse(R"({"Statement":{"Effect":"Allow","Action":"kms:*","Resource":"*",
    "Condition":{"StringEquals":{"aws:PrincipalArn":"arn:aws:iam::111122223333:role/KMSAdminRole"}}}})");
  RequestContext ctx = Ctx(Alice(), "kms:Encrypt");
  ctx.condition_keys["aws:principalarn"] = {kAdminRoleArn};
  EXPECT_EQ(EvaluateIdentity({&p}, ctx), Decision::kImplicitDenyNoIdentityPolicy);
  // Not even for a caller that has no such fact (a service has no principal ARN).
  RequestContext service = Ctx(Principal::Service("rds.amazonaws.com"), "kms:Encrypt");
  service.condition_keys["aws:PrincipalArn"] = {kAdminRoleArn};
  EXPECT_EQ(EvaluateIdentity({&p}, service), Decision::kImplicitDenyNoIdentityPolicy);
}

TEST(ConditionKeysTest, TimeComesFromTheRequest) {
  Policy p = MustParse(R"({"Statement":{"Effect":"Allow","Action":"kms:*","Resource":"*",
    "Condition":{"DateLessThan":{"aws:CurrentTime":"2026-01-01T00:00:00Z"},
                 "NumericGreaterThanEquals":{"aws:EpochTime":"1767225599"}}}})");
  RequestContext ctx = Ctx(Alice(), "kms:Encrypt");
  EXPECT_NE(EvaluateIdentity({&p}, ctx), Decision::kAllow);  // no time: keys missing
  ctx.request_time = FromEpochMillis(1767225599000);         // 2025-12-31T23:59:59Z
  EXPECT_EQ(EvaluateIdentity({&p}, ctx), Decision::kAllow);
  ctx.request_time = FromEpochMillis(1767225600000);  // 2026-01-01T00:00:00Z
  EXPECT_NE(EvaluateIdentity({&p}, ctx), Decision::kAllow);
}

TEST(ConditionKeysTest, SetEncryptionContext) {
  RequestContext ctx = Ctx(Alice(), "kms:Decrypt");
  ctx.SetEncryptionContext({{"Department", "IT"}, {"db", "sales"}});
  EXPECT_EQ(ctx.condition_keys["kms:EncryptionContext:Department"], std::vector<std::string>{"IT"});
  EXPECT_EQ(ctx.condition_keys["kms:EncryptionContextKeys"],
            (std::vector<std::string>{"Department", "db"}));
  Policy p = MustParse(R"({"Statement":{"Effect":"Allow","Action":"kms:Decrypt","Resource":"*",
    "Condition":{"StringEquals":{"kms:EncryptionContext:department":"IT"},
                 "ForAllValues:StringEquals":{"kms:EncryptionContextKeys":["Department","db"]}}}})");
  EXPECT_EQ(EvaluateIdentity({&p}, ctx), Decision::kAllow);

  RequestContext empty = Ctx(Alice(), "kms:Decrypt");
  empty.SetEncryptionContext({});
  ASSERT_TRUE(empty.condition_keys.contains("kms:EncryptionContextKeys"));
  EXPECT_TRUE(empty.condition_keys["kms:EncryptionContextKeys"].empty());
}

// ---------------------------------------------------------------- KMS

TEST(EvaluateKmsTest, SeedCaseRoleNotInTheKeyPolicy) {
  // The seed: the key was created with administrators only; rdstestrole is
  // not in the key policy, and the key policy does not name the account.
  Policy key_policy = MustParse(R"({"Version":"2012-10-17","Statement":[
    {"Sid":"Allow access for Key Administrators","Effect":"Allow",
     "Principal":{"AWS":["arn:aws:iam::111122223333:role/KMSAdminRole"]},
     "Action":["kms:Describe*","kms:Put*"],"Resource":"*"}]})",
                                PolicyKind::kKeyPolicy);
  Policy role_policy = MustParse(R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow",
    "Action":["kms:DescribeKey","kms:GenerateDataKey","kms:Encrypt","kms:Decrypt"],"Resource":"*"}]})",
                                 PolicyKind::kIdentityPolicy);
  RequestContext ctx = Ctx(RdsSession(), "kms:DescribeKey");
  EXPECT_EQ(ctx.principal.arn, kSessionArn);
  Decision d = EvaluateKms(key_policy, {&role_policy}, ctx);
  EXPECT_EQ(d, Decision::kImplicitDenyNoResourcePolicy);
  EXPECT_EQ(AccessDeniedMessage(d, ctx),
            "User: arn:aws:sts::111122223333:assumed-role/rdstestrole/RDS-SqlServerBackupRestore "
            "is not authorized to perform: kms:DescribeKey on resource: "
            "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab "
            "because no resource-based policy allows the kms:DescribeKey action");
}

TEST(EvaluateKmsTest, SeedCaseConsolePolicyWithoutKeyUsers) {
  // The console policy names the account, so the role's identity policies decide.
  Policy key_policy =
      MustParse(ConsoleKeyPolicy(kAccount, {kAdminRoleArn}, {}, true), PolicyKind::kKeyPolicy);
  RequestContext ctx = Ctx(RdsSession(), "kms:DescribeKey");
  Decision d = EvaluateKms(key_policy, {}, ctx);
  EXPECT_EQ(d, Decision::kImplicitDenyNoIdentityPolicy);
  EXPECT_EQ(AccessDeniedMessage(d, ctx),
            "User: arn:aws:sts::111122223333:assumed-role/rdstestrole/RDS-SqlServerBackupRestore "
            "is not authorized to perform: kms:DescribeKey on resource: "
            "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab "
            "because no identity-based policy allows the kms:DescribeKey action");
}

TEST(EvaluateKmsTest, SeedFixAddingTheRoleAsKeyUser) {
  Policy key_policy = MustParse(ConsoleKeyPolicy(kAccount, {kAdminRoleArn}, {kRoleArn}, true),
                                PolicyKind::kKeyPolicy);
  for (const char* action : {"kms:DescribeKey", "kms:GenerateDataKey", "kms:Encrypt", "kms:Decrypt",
                             "kms:ReEncryptFrom", "kms:GenerateDataKeyPair"}) {
    EXPECT_EQ(EvaluateKms(key_policy, {}, Ctx(RdsSession(), action)), Decision::kAllow) << action;
  }
  // Key users may not administer the key.
  EXPECT_EQ(EvaluateKms(key_policy, {}, Ctx(RdsSession(), "kms:PutKeyPolicy")),
            Decision::kImplicitDenyNoIdentityPolicy);
  EXPECT_EQ(EvaluateKms(key_policy, {}, Ctx(AdminSession(), "kms:PutKeyPolicy")), Decision::kAllow);
  EXPECT_EQ(EvaluateKms(key_policy, {}, Ctx(AdminSession(), "kms:Encrypt")),
            Decision::kImplicitDenyNoIdentityPolicy);
  // Grants for AWS resources only.
  RequestContext grant = Ctx(RdsSession(), "kms:CreateGrant");
  EXPECT_EQ(EvaluateKms(key_policy, {}, grant), Decision::kImplicitDenyNoIdentityPolicy);
  grant.condition_keys["kms:GrantIsForAWSResource"] = {"true"};
  EXPECT_EQ(EvaluateKms(key_policy, {}, grant), Decision::kAllow);
}

TEST(EvaluateKmsTest, RoleArnCoversEverySessionSessionArnOnlyItself) {
  Policy by_role = MustParse(R"({"Statement":{"Effect":"Allow",
    "Principal":{"AWS":"arn:aws:iam::111122223333:role/rdstestrole"},"Action":"kms:*","Resource":"*"}})");
  Policy by_session = MustParse(R"({"Statement":{"Effect":"Allow",
    "Principal":{"AWS":"arn:aws:sts::111122223333:assumed-role/rdstestrole/RDS-SqlServerBackupRestore"},
    "Action":"kms:*","Resource":"*"}})");
  Principal other_session = Principal::AssumedRole(kRoleArn, "other", "AROARDSTEST");
  EXPECT_EQ(EvaluateKms(by_role, {}, Ctx(RdsSession(), "kms:Encrypt")), Decision::kAllow);
  EXPECT_EQ(EvaluateKms(by_role, {}, Ctx(other_session, "kms:Encrypt")), Decision::kAllow);
  EXPECT_EQ(EvaluateKms(by_session, {}, Ctx(RdsSession(), "kms:Encrypt")), Decision::kAllow);
  EXPECT_EQ(EvaluateKms(by_session, {}, Ctx(other_session, "kms:Encrypt")),
            Decision::kImplicitDenyNoResourcePolicy);
  // Another role of the same name in another account is someone else.
  Principal foreign =
      Principal::AssumedRole("arn:aws:iam::444455556666:role/rdstestrole", kSession, "AROAX");
  EXPECT_EQ(EvaluateKms(by_role, {}, Ctx(foreign, "kms:Encrypt")),
            Decision::kImplicitDenyNoResourcePolicy);
}

TEST(EvaluateKmsTest, SessionArnOfARoleWithAPath) {
  Principal p = Principal::AssumedRole("arn:aws:iam::111122223333:role/service-role/rdstestrole",
                                       "S", "AROAX");
  EXPECT_EQ(p.arn, "arn:aws:sts::111122223333:assumed-role/rdstestrole/S");
  EXPECT_EQ(p.account_id, kAccount);
  EXPECT_EQ(p.user_id, "AROAX:S");
  Policy by_role = MustParse(R"({"Statement":{"Effect":"Allow",
    "Principal":{"AWS":"arn:aws:iam::111122223333:role/service-role/rdstestrole"},
    "Action":"kms:*","Resource":"*"}})");
  EXPECT_EQ(EvaluateKms(by_role, {}, Ctx(p, "kms:Encrypt")), Decision::kAllow);
}

TEST(EvaluateKmsTest, DelegationThroughTheAccountRootNeedsAnIdentityAllow) {
  Policy key_policy = MustParse(DefaultKeyPolicy(kAccount), PolicyKind::kKeyPolicy);
  Policy allow_encrypt = MustParse(R"({"Statement":{"Effect":"Allow","Action":"kms:Encrypt",
    "Resource":"arn:aws:kms:us-east-1:111122223333:key/*"}})",
                                   PolicyKind::kIdentityPolicy);
  Policy other_key = MustParse(R"({"Statement":{"Effect":"Allow","Action":"kms:*",
    "Resource":"arn:aws:kms:us-east-1:111122223333:key/0987dcba-09fe-87dc-65ba-ab0987654321"}})",
                               PolicyKind::kIdentityPolicy);
  EXPECT_EQ(EvaluateKms(key_policy, {}, Ctx(Alice(), "kms:Encrypt")),
            Decision::kImplicitDenyNoIdentityPolicy);
  EXPECT_EQ(EvaluateKms(key_policy, {&allow_encrypt}, Ctx(Alice(), "kms:Encrypt")),
            Decision::kAllow);
  EXPECT_EQ(EvaluateKms(key_policy, {&allow_encrypt}, Ctx(Alice(), "kms:Decrypt")),
            Decision::kImplicitDenyNoIdentityPolicy);
  EXPECT_EQ(EvaluateKms(key_policy, {&other_key}, Ctx(Alice(), "kms:Encrypt")),
            Decision::kImplicitDenyNoIdentityPolicy);
  EXPECT_EQ(EvaluateKms(key_policy, {&other_key, &allow_encrypt}, Ctx(Alice(), "kms:Encrypt")),
            Decision::kAllow);
  // The 12-digit form delegates the same way.
  Policy by_id = MustParse(R"({"Statement":{"Effect":"Allow","Principal":{"AWS":"111122223333"},
    "Action":"kms:*","Resource":"*"}})");
  EXPECT_EQ(EvaluateKms(by_id, {}, Ctx(RdsSession(), "kms:Encrypt")),
            Decision::kImplicitDenyNoIdentityPolicy);
  EXPECT_EQ(EvaluateKms(by_id, {&allow_encrypt}, Ctx(RdsSession(), "kms:Encrypt")),
            Decision::kAllow);
}

TEST(EvaluateKmsTest, AKeyPolicyStatementWithoutActionOrResourceHasNoEffect) {
  // KMS's CreateKey and PutKeyPolicy accept such a statement, and it allows or
  // denies nothing, whatever else it says.
  for (const char* statement : {
           R"({"Effect":"Allow","Principal":"*","Action":"kms:Encrypt"})",
           R"({"Effect":"Allow","Principal":"*","Resource":"*"})",
           R"({"Effect":"Allow","Principal":"*","NotResource":"arn:aws:kms:*:*:key/none"})",
       }) {
    SCOPED_TRACE(statement);
    Policy alone =
        MustParse(std::string(R"({"Statement":)") + statement + "}", PolicyKind::kKeyPolicy);
    EXPECT_EQ(EvaluateKms(alone, {}, Ctx(Alice(), "kms:Encrypt")),
              Decision::kImplicitDenyNoResourcePolicy);
  }
  for (const char* statement : {
           R"({"Effect":"Deny","Principal":"*","Action":"kms:Encrypt"})",
           R"({"Effect":"Deny","Principal":"*","Resource":"*"})",
       }) {
    SCOPED_TRACE(statement);
    Policy with_allow = MustParse(std::string(R"({"Statement":[{"Effect":"Allow","Principal":"*",
      "Action":"kms:*","Resource":"*"},)") +
                                      statement + "]}",
                                  PolicyKind::kKeyPolicy);
    EXPECT_EQ(EvaluateKms(with_allow, {}, Ctx(Alice(), "kms:Encrypt")), Decision::kAllow);
  }
}

TEST(EvaluateKmsTest, KeyPolicyNeverImplicitlyTrustsTheAccount) {
  Policy key_policy = MustParse(R"({"Statement":{"Effect":"Allow",
    "Principal":{"AWS":"arn:aws:iam::111122223333:user/bob"},"Action":"kms:*","Resource":"*"}})");
  Policy admin = MustParse(R"({"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}})",
                           PolicyKind::kIdentityPolicy);
  EXPECT_EQ(EvaluateKms(key_policy, {&admin}, Ctx(Alice(), "kms:Encrypt")),
            Decision::kImplicitDenyNoResourcePolicy);
  EXPECT_EQ(EvaluateKms(key_policy, {}, Ctx(Bob(), "kms:Encrypt")), Decision::kAllow);
  // Not even the account root.
  EXPECT_EQ(EvaluateKms(key_policy, {}, Ctx(Principal::Root(kAccount), "kms:PutKeyPolicy")),
            Decision::kImplicitDenyNoResourcePolicy);
}

TEST(EvaluateKmsTest, AccountRootIsAllowedWhenTheKeyPolicyNamesTheAccount) {
  Policy by_arn = MustParse(DefaultKeyPolicy(kAccount));
  Policy by_id = MustParse(R"({"Statement":{"Effect":"Allow","Principal":{"AWS":"111122223333"},
    "Action":"kms:*","Resource":"*"}})");
  Principal root = Principal::Root(kAccount);
  EXPECT_EQ(root.arn, "arn:aws:iam::111122223333:root");
  EXPECT_EQ(EvaluateKms(by_arn, {}, Ctx(root, "kms:ScheduleKeyDeletion")), Decision::kAllow);
  EXPECT_EQ(EvaluateKms(by_id, {}, Ctx(root, "kms:ScheduleKeyDeletion")), Decision::kAllow);
  // Another account's root is not this account.
  EXPECT_EQ(EvaluateKms(by_arn, {}, Ctx(Principal::Root("444455556666"), "kms:Encrypt")),
            Decision::kImplicitDenyNoResourcePolicy);
}

TEST(EvaluateKmsTest, CrossAccountDelegation) {
  Principal carol = Principal::IamUser("arn:aws:iam::444455556666:user/carol", "AIDACAROL");
  Policy key_policy = MustParse(R"({"Statement":[
    {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},
    {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"},"Action":"kms:Decrypt","Resource":"*"}]})");
  Policy carol_policy =
      MustParse(R"({"Statement":{"Effect":"Allow","Action":"kms:*","Resource":"*"}})");
  EXPECT_EQ(EvaluateKms(key_policy, {&carol_policy}, Ctx(carol, "kms:Decrypt")), Decision::kAllow);
  EXPECT_EQ(EvaluateKms(key_policy, {}, Ctx(carol, "kms:Decrypt")),
            Decision::kImplicitDenyNoIdentityPolicy);
  EXPECT_EQ(EvaluateKms(key_policy, {&carol_policy}, Ctx(carol, "kms:Encrypt")),
            Decision::kImplicitDenyNoResourcePolicy);
}

TEST(EvaluateKmsTest, ExplicitDenyWins) {
  Policy key_policy = MustParse(R"({"Statement":[
    {"Sid":"Use","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},
     "Action":"kms:*","Resource":"*"},
    {"Sid":"NoDeletion","Effect":"Deny","Principal":{"AWS":"111122223333"},
     "Action":["kms:ScheduleKeyDeletion","kms:Disable*"],"Resource":"*"}]})");
  Policy identity_deny = MustParse(R"({"Statement":[
    {"Effect":"Allow","Action":"kms:*","Resource":"*"},
    {"Effect":"Deny","Action":"kms:Decrypt","Resource":"*"}]})",
                                   PolicyKind::kIdentityPolicy);
  // A Deny naming the account applies to every principal in it, root included.
  EXPECT_EQ(EvaluateKms(key_policy, {}, Ctx(Alice(), "kms:ScheduleKeyDeletion")),
            Decision::kExplicitDenyResource);
  EXPECT_EQ(EvaluateKms(key_policy, {}, Ctx(Alice(), "kms:DisableKey")),
            Decision::kExplicitDenyResource);
  EXPECT_EQ(EvaluateKms(key_policy, {}, Ctx(Principal::Root(kAccount), "kms:DisableKey")),
            Decision::kExplicitDenyResource);
  EXPECT_EQ(EvaluateKms(key_policy, {}, Ctx(Alice(), "kms:Encrypt")), Decision::kAllow);
  // An identity Deny wins over a direct key policy Allow.
  EXPECT_EQ(EvaluateKms(key_policy, {&identity_deny}, Ctx(Alice(), "kms:Decrypt")),
            Decision::kExplicitDenyIdentity);
  EXPECT_EQ(EvaluateKms(key_policy, {&identity_deny}, Ctx(Alice(), "kms:Encrypt")),
            Decision::kAllow);
  // Both deny: the key policy is reported.
  EXPECT_EQ(EvaluateKms(key_policy, {&identity_deny}, Ctx(Alice(), "kms:DisableKey")),
            Decision::kExplicitDenyResource);
}

TEST(EvaluateKmsTest, DenyWithAConditionAppliesOnlyWhenItHolds) {
  Policy key_policy = MustParse(R"({"Statement":[
    {"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*",
     "Condition":{"StringEquals":{"kms:CallerAccount":"111122223333"}}},
    {"Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*",
     "Condition":{"Bool":{"aws:SecureTransport":"false"}}}]})");
  RequestContext ctx = Ctx(Alice(), "kms:Encrypt");
  ctx.condition_keys["aws:SecureTransport"] = {"true"};
  EXPECT_EQ(EvaluateKms(key_policy, {}, ctx), Decision::kAllow);
  ctx.condition_keys["aws:SecureTransport"] = {"false"};
  EXPECT_EQ(EvaluateKms(key_policy, {}, ctx), Decision::kExplicitDenyResource);
  // "*" with kms:CallerAccount: a direct grant, but only to this account.
  RequestContext foreign =
      Ctx(Principal::IamUser("arn:aws:iam::444455556666:user/carol", "AIDAC"), "kms:Encrypt");
  foreign.condition_keys["aws:SecureTransport"] = {"true"};
  EXPECT_EQ(EvaluateKms(key_policy, {}, foreign), Decision::kImplicitDenyNoResourcePolicy);
}

TEST(EvaluateKmsTest, NotActionAndNotResource) {
  Policy key_policy = MustParse(R"({"Statement":{"Effect":"Allow",
    "Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},
    "NotAction":["kms:ScheduleKeyDeletion","kms:Put*"],"Resource":"*"}})");
  EXPECT_EQ(EvaluateKms(key_policy, {}, Ctx(Alice(), "kms:Encrypt")), Decision::kAllow);
  EXPECT_EQ(EvaluateKms(key_policy, {}, Ctx(Alice(), "kms:putkeypolicy")),
            Decision::kImplicitDenyNoResourcePolicy);
  EXPECT_EQ(EvaluateKms(key_policy, {}, Ctx(Alice(), "kms:ScheduleKeyDeletion")),
            Decision::kImplicitDenyNoResourcePolicy);

  Policy key = MustParse(DefaultKeyPolicy(kAccount));
  Policy not_resource = MustParse(R"({"Statement":{"Effect":"Allow","Action":"kms:*",
    "NotResource":"arn:aws:kms:us-east-1:111122223333:key/0987dcba-09fe-87dc-65ba-ab0987654321"}})",
                                  PolicyKind::kIdentityPolicy);
  EXPECT_EQ(EvaluateKms(key, {&not_resource}, Ctx(Alice(), "kms:Encrypt")), Decision::kAllow);
  EXPECT_EQ(EvaluateKms(key, {&not_resource}, Ctx(Alice(), "kms:Encrypt", kOtherKeyArn)),
            Decision::kImplicitDenyNoIdentityPolicy);
  // In a key policy NotResource "*" excludes this key: the statement never applies.
  Policy deny_not_this = MustParse(R"({"Statement":[
    {"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"},
    {"Effect":"Deny","Principal":"*","Action":"kms:*","NotResource":"*"}]})");
  EXPECT_EQ(EvaluateKms(deny_not_this, {}, Ctx(Alice(), "kms:Encrypt")), Decision::kAllow);
}

TEST(EvaluateKmsTest, NotPrincipal) {
  // Deny everyone except the administrators' role (every session) and the account root.
  Policy key_policy = MustParse(R"({"Statement":[
    {"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"kms:*","Resource":"*"},
    {"Effect":"Deny","NotPrincipal":{"AWS":["arn:aws:iam::111122223333:role/KMSAdminRole",
       "arn:aws:iam::111122223333:root"]},"Action":"kms:PutKeyPolicy","Resource":"*"}]})");
  Policy admin = MustParse(R"({"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}})");
  EXPECT_EQ(EvaluateKms(key_policy, {&admin}, Ctx(AdminSession(), "kms:PutKeyPolicy")),
            Decision::kAllow);
  EXPECT_EQ(EvaluateKms(key_policy, {}, Ctx(Principal::Root(kAccount), "kms:PutKeyPolicy")),
            Decision::kAllow);
  // Naming the account root in NotPrincipal excludes the root, not the account's users.
  EXPECT_EQ(EvaluateKms(key_policy, {&admin}, Ctx(Alice(), "kms:PutKeyPolicy")),
            Decision::kExplicitDenyResource);
  EXPECT_EQ(EvaluateKms(key_policy, {&admin}, Ctx(Alice(), "kms:Encrypt")), Decision::kAllow);

  // Allow with NotPrincipal: everyone but Alice, directly.
  Policy all_but_alice = MustParse(R"({"Statement":{"Effect":"Allow",
    "NotPrincipal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"kms:*","Resource":"*"}})");
  EXPECT_EQ(EvaluateKms(all_but_alice, {}, Ctx(Bob(), "kms:Encrypt")), Decision::kAllow);
  EXPECT_EQ(EvaluateKms(all_but_alice, {}, Ctx(Alice(), "kms:Encrypt")),
            Decision::kImplicitDenyNoResourcePolicy);
}

TEST(EvaluateKmsTest, WildcardPrincipals) {
  Policy star = MustParse(R"({"Statement":{"Effect":"Allow","Principal":"*",
    "Action":"kms:Describe*","Resource":"*"}})");
  Policy aws_star = MustParse(R"({"Statement":{"Effect":"Allow","Principal":{"AWS":"*"},
    "Action":"kms:Describe*","Resource":"*"}})");
  for (const Policy* p : {&star, &aws_star}) {
    EXPECT_EQ(EvaluateKms(*p, {}, Ctx(Alice(), "kms:DescribeKey")), Decision::kAllow);
    EXPECT_EQ(EvaluateKms(*p, {}, Ctx(RdsSession(), "kms:DescribeKey")), Decision::kAllow);
    EXPECT_EQ(EvaluateKms(*p, {}, Ctx(Alice(), "kms:Encrypt")),
              Decision::kImplicitDenyNoResourcePolicy);
  }
}

TEST(EvaluateKmsTest, ServicePrincipals) {
  Policy key_policy = MustParse(R"({"Statement":{"Effect":"Allow",
    "Principal":{"Service":"cloudtrail.amazonaws.com"},"Action":"kms:GenerateDataKey*","Resource":"*"}})");
  EXPECT_EQ(EvaluateKms(key_policy, {},
                        Ctx(Principal::Service("cloudtrail.amazonaws.com"), "kms:GenerateDataKey")),
            Decision::kAllow);
  EXPECT_EQ(EvaluateKms(key_policy, {},
                        Ctx(Principal::Service("rds.amazonaws.com"), "kms:GenerateDataKey")),
            Decision::kImplicitDenyNoResourcePolicy);
  EXPECT_EQ(EvaluateKms(key_policy, {}, Ctx(Alice(), "kms:GenerateDataKey")),
            Decision::kImplicitDenyNoResourcePolicy);
  // An account principal never matches a service.
  Policy root_only = MustParse(DefaultKeyPolicy(kAccount));
  EXPECT_EQ(EvaluateKms(root_only, {},
                        Ctx(Principal::Service("cloudtrail.amazonaws.com"), "kms:Encrypt")),
            Decision::kImplicitDenyNoResourcePolicy);
}

TEST(EvaluateKmsTest, ResourceStarMeansThisKey) {
  Policy key_policy = MustParse(DefaultKeyPolicy(kAccount));
  RequestContext ctx = Ctx(Principal::Root(kAccount), "kms:Encrypt");
  ctx.policy_resource = kKeyArn;
  EXPECT_EQ(EvaluateKms(key_policy, {}, ctx), Decision::kAllow);
  // The same policy evaluated for another key grants nothing there.
  ctx.resource = kOtherKeyArn;
  EXPECT_EQ(EvaluateKms(key_policy, {}, ctx), Decision::kImplicitDenyNoResourcePolicy);

  // A key policy naming its key's ARN works; naming another key's does not.
  Policy named =
      MustParse(std::string(R"({"Statement":[{"Effect":"Allow",)") +
                R"("Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},)" +
                R"("Action":"kms:Encrypt","Resource":")" + kKeyArn + R"("},)" +
                R"({"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},)" +
                R"("Action":"kms:Decrypt","Resource":")" + kOtherKeyArn + R"("}]})");
  EXPECT_EQ(EvaluateKms(named, {}, Ctx(Alice(), "kms:Encrypt")), Decision::kAllow);
  EXPECT_EQ(EvaluateKms(named, {}, Ctx(Alice(), "kms:Decrypt")),
            Decision::kImplicitDenyNoResourcePolicy);
}

TEST(EvaluateKmsTest, StatementsWithoutPrincipalDoNotApplyInAKeyPolicy) {
  Policy key_policy =
      MustParse(R"({"Statement":{"Effect":"Allow","Action":"kms:*","Resource":"*"}})");
  EXPECT_EQ(EvaluateKms(key_policy, {}, Ctx(Alice(), "kms:Encrypt")),
            Decision::kImplicitDenyNoResourcePolicy);
}

TEST(EvaluateKmsTest, IdentityStatementsWithoutResourceNeverMatch) {
  Policy key_policy = MustParse(DefaultKeyPolicy(kAccount));
  Policy no_resource = MustParse(R"({"Statement":{"Effect":"Allow","Action":"kms:*"}})");
  EXPECT_EQ(EvaluateKms(key_policy, {&no_resource}, Ctx(Alice(), "kms:Encrypt")),
            Decision::kImplicitDenyNoIdentityPolicy);
}

// ---------------------------------------------------------------- identity, trust

TEST(EvaluateIdentityTest, RootMayDoAnythingInItsAccount) {
  Principal root = Principal::Root(kAccount);
  EXPECT_EQ(EvaluateIdentity({}, Ctx(root, "iam:CreateUser", "arn:aws:iam::111122223333:user/x")),
            Decision::kAllow);
  EXPECT_EQ(EvaluateIdentity({}, Ctx(root, "s3:PutObject", "arn:aws:s3:::bucket/key")),
            Decision::kAllow);
  EXPECT_EQ(EvaluateIdentity({}, Ctx(root, "iam:ListUsers", "*")), Decision::kAllow);
  EXPECT_EQ(EvaluateIdentity({}, Ctx(root, "iam:GetUser", "arn:aws:iam::444455556666:user/x")),
            Decision::kImplicitDenyNoIdentityPolicy);
}

TEST(EvaluateIdentityTest, UsersNeedAnAllowAndDenyWins) {
  Policy backup = MustParse(R"({"Version":"2012-10-17","Statement":[
    {"Sid":"Bucket","Effect":"Allow","Action":["s3:ListBucket","s3:GetBucketLocation"],
     "Resource":"arn:aws:s3:::backups"},
    {"Sid":"Objects","Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],
     "Resource":"arn:aws:s3:::backups/*"}]})",
                            PolicyKind::kIdentityPolicy);
  Policy no_delete = MustParse(R"({"Statement":{"Effect":"Deny","Action":"s3:*",
    "Resource":"arn:aws:s3:::backups/locked/*"}})",
                               PolicyKind::kIdentityPolicy);
  auto ctx = [](const char* action, const char* resource) {
    return Ctx(RdsSession(), action, resource);
  };
  EXPECT_EQ(EvaluateIdentity({&backup}, ctx("s3:ListBucket", "arn:aws:s3:::backups")),
            Decision::kAllow);
  EXPECT_EQ(EvaluateIdentity({&backup}, ctx("s3:PutObject", "arn:aws:s3:::backups/db/1.bak")),
            Decision::kAllow);
  EXPECT_EQ(EvaluateIdentity({&backup}, ctx("s3:PutObject", "arn:aws:s3:::backups")),
            Decision::kImplicitDenyNoIdentityPolicy);
  EXPECT_EQ(EvaluateIdentity({&backup}, ctx("s3:DeleteObject", "arn:aws:s3:::backups/db/1.bak")),
            Decision::kImplicitDenyNoIdentityPolicy);
  EXPECT_EQ(EvaluateIdentity({&backup, &no_delete},
                             ctx("s3:GetObject", "arn:aws:s3:::backups/locked/1.bak")),
            Decision::kExplicitDenyIdentity);
  EXPECT_EQ(EvaluateIdentity({}, ctx("s3:GetObject", "arn:aws:s3:::backups/x")),
            Decision::kImplicitDenyNoIdentityPolicy);
  EXPECT_EQ(EvaluateIdentity({&backup}, Ctx(Principal::Service("rds.amazonaws.com"), "s3:GetObject",
                                            "arn:aws:s3:::backups/x")),
            Decision::kAllow);
}

// ---------------------------------------------------------------- principals bound when saved

TEST(PrincipalBindingTest, AUserOrRoleCreatedAfterThePolicyWasSavedIsNotNamedByIt) {
  // IAM: "If you delete and recreate a user or role, the policy no longer applies":
  // a policy's principals are those that existed when it was saved.
  Policy key_policy = MustParse(std::string(R"({"Version":"2012-10-17","Statement":[
    {"Effect":"Allow","Principal":{"AWS":")") +
                                    kAliceArn + R"("},"Action":"kms:Encrypt","Resource":"*"},
    {"Effect":"Allow","Principal":{"AWS":")" +
                                    kRoleArn + R"("},"Action":"kms:Decrypt","Resource":"*"},
    {"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"kms:DescribeKey","Resource":"*"}]})",
                                PolicyKind::kKeyPolicy);
  const TimePoint saved = FromEpochMillis(1'700'000'000'000);
  auto at = [&](Principal who, std::string action, TimePoint created) {
    RequestContext ctx = Ctx(std::move(who), std::move(action));
    ctx.principal.created = created;
    ctx.policy_saved = saved;
    return ctx;
  };
  const TimePoint before = saved - std::chrono::hours(1), after = saved + std::chrono::hours(1);
  EXPECT_EQ(EvaluateKms(key_policy, {}, at(Alice(), "kms:Encrypt", before)), Decision::kAllow);
  EXPECT_EQ(EvaluateKms(key_policy, {}, at(Alice(), "kms:Encrypt", saved)), Decision::kAllow);
  EXPECT_EQ(EvaluateKms(key_policy, {}, at(Alice(), "kms:Encrypt", after)),
            Decision::kImplicitDenyNoResourcePolicy);
  EXPECT_EQ(EvaluateKms(key_policy, {}, at(RdsSession(), "kms:Decrypt", before)), Decision::kAllow);
  EXPECT_EQ(EvaluateKms(key_policy, {}, at(RdsSession(), "kms:Decrypt", after)),
            Decision::kImplicitDenyNoResourcePolicy);
  // The account form still delegates to the new user's identity policies.
  Policy allow = MustParse(R"({"Version":"2012-10-17","Statement":{"Effect":"Allow",
    "Action":"kms:*","Resource":"*"}})",
                           PolicyKind::kIdentityPolicy);
  EXPECT_EQ(EvaluateKms(key_policy, {&allow}, at(Alice(), "kms:DescribeKey", after)),
            Decision::kAllow);
  // Unknown times (records from before they were kept): ARNs match as written.
  RequestContext unknown = at(Alice(), "kms:Encrypt", after);
  unknown.policy_saved.reset();
  EXPECT_EQ(EvaluateKms(key_policy, {}, unknown), Decision::kAllow);
  unknown = at(Alice(), "kms:Encrypt", after);
  unknown.principal.created.reset();
  EXPECT_EQ(EvaluateKms(key_policy, {}, unknown), Decision::kAllow);

  // NotPrincipal names the earlier Alice: the new one is not excluded.
  Policy deny_others = MustParse(std::string(R"({"Version":"2012-10-17","Statement":[
    {"Effect":"Allow","Principal":"*","Action":"kms:Encrypt","Resource":"*"},
    {"Effect":"Deny","NotPrincipal":{"AWS":")") +
                                     kAliceArn + R"("},"Action":"kms:Encrypt","Resource":"*"}]})",
                                 PolicyKind::kKeyPolicy);
  EXPECT_EQ(EvaluateKms(deny_others, {}, at(Alice(), "kms:Encrypt", before)), Decision::kAllow);
  EXPECT_EQ(EvaluateKms(deny_others, {}, at(Alice(), "kms:Encrypt", after)),
            Decision::kExplicitDenyResource);
}

// ---------------------------------------------------------------- policy variables

TEST(PolicyVariablesTest, ResourceNamesTheCallersOwnUser) {
  // The IAM User Guide's pattern: each user may manage only their own access keys.
  Policy own = MustParse(R"({"Version":"2012-10-17","Statement":{"Effect":"Allow",
    "Action":"iam:*AccessKey*","Resource":"arn:aws:iam::*:user/${aws:username}"}})",
                         PolicyKind::kIdentityPolicy);
  EXPECT_EQ(EvaluateIdentity({&own}, Ctx(Alice(), "iam:ListAccessKeys", kAliceArn)),
            Decision::kAllow);
  EXPECT_EQ(EvaluateIdentity({&own}, Ctx(Alice(), "iam:ListAccessKeys", kBobArn)),
            Decision::kImplicitDenyNoIdentityPolicy);
  EXPECT_EQ(EvaluateIdentity({&own}, Ctx(Bob(), "iam:CreateAccessKey", kBobArn)), Decision::kAllow);
  // A session has no aws:username: the statement applies to nothing.
  EXPECT_EQ(EvaluateIdentity({&own}, Ctx(RdsSession(), "iam:ListAccessKeys", kRoleArn)),
            Decision::kImplicitDenyNoIdentityPolicy);
  // Version 2008-10-17 has no variables: the text is matched as written.
  Policy old = MustParse(R"({"Version":"2008-10-17","Statement":{"Effect":"Allow",
    "Action":"iam:*","Resource":"arn:aws:iam::*:user/${aws:username}"}})",
                         PolicyKind::kIdentityPolicy);
  EXPECT_EQ(EvaluateIdentity({&old}, Ctx(Alice(), "iam:ListAccessKeys", kAliceArn)),
            Decision::kImplicitDenyNoIdentityPolicy);
}

TEST(PolicyVariablesTest, ADenyWithAVariableApplies) {
  Policy policy = MustParse(R"({"Version":"2012-10-17","Statement":[
    {"Effect":"Allow","Action":"kms:*","Resource":"*"},
    {"Effect":"Deny","Action":"kms:Encrypt","Resource":"*",
     "Condition":{"StringEquals":{"kms:EncryptionContext:owner":"${aws:username}"}}}]})",
                            PolicyKind::kIdentityPolicy);
  RequestContext own = Ctx(Alice(), "kms:Encrypt");
  own.SetEncryptionContext({{"owner", "alice"}});
  EXPECT_EQ(EvaluateIdentity({&policy}, own), Decision::kExplicitDenyIdentity);
  RequestContext other = Ctx(Alice(), "kms:Encrypt");
  other.SetEncryptionContext({{"owner", "bob"}});
  EXPECT_EQ(EvaluateIdentity({&policy}, other), Decision::kAllow);
}

TEST(PolicyVariablesTest, DefaultsSpecialCharactersAndUnresolvedVariables) {
  auto allowed = [](std::string_view resource_pattern, std::string_view condition,
                    const RequestContext& ctx) {
    std::string json = R"({"Version":"2012-10-17","Statement":{"Effect":"Allow",)"
                       R"("Action":"kms:*","Resource":")" +
                       std::string(resource_pattern) + "\"";
    if (!condition.empty()) json += R"(,"Condition":)" + std::string(condition);
    Policy p = MustParse(json + "}}", PolicyKind::kIdentityPolicy);
    return EvaluateIdentity({&p}, ctx) == Decision::kAllow;
  };
  const std::string none;
  RequestContext ctx = Ctx(Alice(), "kms:Encrypt");
  ctx.condition_keys["aws:PrincipalTag/team"] = {"blue"};
  ctx.SetEncryptionContext({{"team", "blue"}, {"star", "*"}, {"q", "a?"}});
  // ${key}: the request's value; tag keys in the name are case-insensitive.
  EXPECT_TRUE(allowed(
      "*", R"({"StringEquals":{"kms:EncryptionContext:team":"${aws:PrincipalTag/TEAM}"}})", ctx));
  // ${key, 'default'} when the request has no such key.
  EXPECT_TRUE(allowed(
      "*", R"({"StringEquals":{"kms:EncryptionContext:team":"${aws:PrincipalTag/dept, 'blue'}"}})",
      ctx));
  EXPECT_FALSE(allowed(
      "*", R"({"StringEquals":{"kms:EncryptionContext:team":"${aws:PrincipalTag/dept, 'red'}"}})",
      ctx));
  // ${*} and ${?} are the characters, not wildcards.
  EXPECT_TRUE(allowed("*", R"({"StringLike":{"kms:EncryptionContext:star":"${*}"}})", ctx));
  EXPECT_FALSE(allowed("*", R"({"StringLike":{"kms:EncryptionContext:team":"${*}"}})", ctx));
  EXPECT_TRUE(allowed("*", R"({"StringLike":{"kms:EncryptionContext:q":"a${?}"}})", ctx));
  EXPECT_FALSE(allowed("*", R"({"StringLike":{"kms:EncryptionContext:team":"blu${?}"}})", ctx));
  EXPECT_TRUE(allowed("*", R"({"StringLike":{"kms:EncryptionContext:team":"bl*"}})", ctx));
  // A key the request does not have (or has several values of), without a
  // default: the statement applies to nothing.
  EXPECT_FALSE(allowed(
      "*", R"({"StringNotEquals":{"kms:EncryptionContext:team":"${aws:PrincipalTag/dept}"}})",
      ctx));
  EXPECT_FALSE(allowed(
      "*", R"({"StringNotEquals":{"kms:EncryptionContext:team":"${kms:EncryptionContextKeys}"}})",
      ctx));
  // In the resource, beside wildcards of the policy's own.
  EXPECT_TRUE(allowed("arn:aws:kms:*:${aws:PrincipalAccount}:key/*", none, ctx));
  EXPECT_FALSE(allowed("arn:aws:kms:*:999999999999:key/*", none, ctx));
  // A "${" without "}" is text.
  EXPECT_FALSE(
      allowed("*", R"({"StringEquals":{"kms:EncryptionContext:team":"${aws:username"}})", ctx));
}

constexpr char kRdsTrust[] =
    R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow",)"
    R"("Principal":{"Service":"rds.amazonaws.com"},"Action":"sts:AssumeRole"}]})";

RequestContext AssumeRole(Principal who) {
  RequestContext ctx = Ctx(std::move(who), "sts:AssumeRole", kRoleArn);
  ctx.policy_resource = kRoleArn;
  return ctx;
}

TEST(EvaluateTrustTest, ServicePrincipalFromTheRdsTrustPolicy) {
  Policy trust = MustParse(kRdsTrust, PolicyKind::kTrustPolicy);
  EXPECT_EQ(EvaluateTrust(trust, {}, AssumeRole(Principal::Service("rds.amazonaws.com"))),
            Decision::kAllow);
  EXPECT_EQ(EvaluateTrust(trust, {}, AssumeRole(Principal::Service("ec2.amazonaws.com"))),
            Decision::kImplicitDenyNoResourcePolicy);
  EXPECT_EQ(EvaluateTrust(trust, {}, AssumeRole(Alice())), Decision::kImplicitDenyNoResourcePolicy);
  RequestContext wrong_action = AssumeRole(Principal::Service("rds.amazonaws.com"));
  wrong_action.action = "sts:AssumeRoleWithWebIdentity";
  EXPECT_EQ(EvaluateTrust(trust, {}, wrong_action), Decision::kImplicitDenyNoResourcePolicy);
  // The trust policy is about its role only.
  RequestContext other_role = AssumeRole(Principal::Service("rds.amazonaws.com"));
  other_role.resource = "arn:aws:iam::111122223333:role/other";
  EXPECT_EQ(EvaluateTrust(trust, {}, other_role), Decision::kImplicitDenyNoResourcePolicy);
}

TEST(EvaluateTrustTest, NamedUserNeedsNoIdentityPolicy) {
  Policy trust = MustParse(R"({"Statement":{"Effect":"Allow",
    "Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"sts:AssumeRole"}})",
                           PolicyKind::kTrustPolicy);
  EXPECT_EQ(EvaluateTrust(trust, {}, AssumeRole(Alice())), Decision::kAllow);
  EXPECT_EQ(EvaluateTrust(trust, {}, AssumeRole(Bob())), Decision::kImplicitDenyNoResourcePolicy);
}

TEST(EvaluateTrustTest, RootDelegationNeedsAnIdentityAllow) {
  Policy trust = MustParse(R"({"Statement":{"Effect":"Allow",
    "Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"sts:AssumeRole"}})",
                           PolicyKind::kTrustPolicy);
  Policy may_assume = MustParse(R"({"Statement":{"Effect":"Allow","Action":"sts:AssumeRole",
    "Resource":"arn:aws:iam::111122223333:role/rdstestrole"}})",
                                PolicyKind::kIdentityPolicy);
  Policy other_role = MustParse(R"({"Statement":{"Effect":"Allow","Action":"sts:AssumeRole",
    "Resource":"arn:aws:iam::111122223333:role/other"}})",
                                PolicyKind::kIdentityPolicy);
  Policy deny = MustParse(R"({"Statement":{"Effect":"Deny","Action":"sts:*","Resource":"*"}})",
                          PolicyKind::kIdentityPolicy);
  RequestContext ctx = AssumeRole(Alice());
  EXPECT_EQ(EvaluateTrust(trust, {}, ctx), Decision::kImplicitDenyNoIdentityPolicy);
  EXPECT_EQ(EvaluateTrust(trust, {&other_role}, ctx), Decision::kImplicitDenyNoIdentityPolicy);
  EXPECT_EQ(EvaluateTrust(trust, {&may_assume}, ctx), Decision::kAllow);
  EXPECT_EQ(EvaluateTrust(trust, {&may_assume, &deny}, ctx), Decision::kExplicitDenyIdentity);
  EXPECT_EQ(AccessDeniedMessage(Decision::kImplicitDenyNoIdentityPolicy, ctx),
            "User: arn:aws:iam::111122223333:user/alice is not authorized to perform: "
            "sts:AssumeRole on resource: arn:aws:iam::111122223333:role/rdstestrole");
  // Without a reason, whatever refused it: the text for a role that does not exist.
  EXPECT_EQ(AccessDeniedMessage(Decision::kExplicitDenyIdentity, ctx),
            AccessDeniedMessage(Decision::kImplicitDenyNoResourcePolicy, ctx));
  EXPECT_EQ(AccessDeniedMessage(Decision::kExplicitDenyResource, ctx),
            AccessDeniedMessage(Decision::kImplicitDenyNoIdentityPolicy, ctx));
}

TEST(EvaluateTrustTest, ExplicitDenyInTheTrustPolicy) {
  Policy trust = MustParse(R"({"Statement":[
    {"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"sts:AssumeRole"},
    {"Effect":"Deny","Principal":{"AWS":"arn:aws:iam::111122223333:user/bob"},"Action":"sts:*"}]})",
                           PolicyKind::kTrustPolicy);
  Policy may_assume = MustParse(R"({"Statement":{"Effect":"Allow","Action":"sts:AssumeRole",
    "Resource":"*"}})");
  EXPECT_EQ(EvaluateTrust(trust, {&may_assume}, AssumeRole(Bob())),
            Decision::kExplicitDenyResource);
  EXPECT_EQ(EvaluateTrust(trust, {&may_assume}, AssumeRole(Alice())), Decision::kAllow);
}

// ---------------------------------------------------------------- messages

TEST(AccessDeniedTest, MessagesAsKms) {
  RequestContext ctx = Ctx(RdsSession(), "kms:Encrypt");
  const std::string head =
      "User: arn:aws:sts::111122223333:assumed-role/rdstestrole/RDS-SqlServerBackupRestore is "
      "not authorized to perform: kms:Encrypt on resource: "
      "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
  EXPECT_EQ(AccessDeniedMessage(Decision::kImplicitDenyNoResourcePolicy, ctx),
            head + " because no resource-based policy allows the kms:Encrypt action");
  EXPECT_EQ(AccessDeniedMessage(Decision::kImplicitDenyNoIdentityPolicy, ctx),
            head + " because no identity-based policy allows the kms:Encrypt action");
  EXPECT_EQ(AccessDeniedMessage(Decision::kExplicitDenyResource, ctx),
            head + " with an explicit deny in a resource-based policy");
  EXPECT_EQ(AccessDeniedMessage(Decision::kExplicitDenyIdentity, ctx),
            head + " with an explicit deny in an identity-based policy");
  EXPECT_EQ(AccessDeniedMessage(Decision::kAllow, ctx), "");

  Status s = AccessDeniedError(Decision::kExplicitDenyResource, ctx);
  EXPECT_EQ(s.code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(s.error_name(), "AccessDeniedException");
  EXPECT_EQ(s.message(), head + " with an explicit deny in a resource-based policy");
  EXPECT_TRUE(AccessDeniedError(Decision::kAllow, ctx).ok());
}

TEST(AccessDeniedTest, DecisionNames) {
  EXPECT_EQ(DecisionName(Decision::kAllow), "Allow");
  EXPECT_EQ(DecisionName(Decision::kImplicitDenyNoResourcePolicy), "ImplicitDenyNoResourcePolicy");
  EXPECT_EQ(DecisionName(Decision::kImplicitDenyNoIdentityPolicy), "ImplicitDenyNoIdentityPolicy");
  EXPECT_EQ(DecisionName(Decision::kExplicitDenyResource), "ExplicitDenyResource");
  EXPECT_EQ(DecisionName(Decision::kExplicitDenyIdentity), "ExplicitDenyIdentity");
}

// ---------------------------------------------------------------- lockout

TEST(LockoutSafetyCheckTest, CallerKeepsPutKeyPolicy) {
  Policy console = MustParse(ConsoleKeyPolicy(kAccount, {kAdminRoleArn}, {kRoleArn}, true),
                             PolicyKind::kKeyPolicy);
  Policy users_only = MustParse(R"({"Statement":{"Effect":"Allow",
    "Principal":{"AWS":"arn:aws:iam::111122223333:role/rdstestrole"},"Action":"kms:*","Resource":"*"}})",
                                PolicyKind::kKeyPolicy);
  RequestContext admin = Ctx(AdminSession(), "kms:PutKeyPolicy");
  EXPECT_TRUE(PassesLockoutSafetyCheck(console, {}, admin));
  EXPECT_FALSE(PassesLockoutSafetyCheck(users_only, {}, admin));
  // The action in the context does not matter: CreateKey checks PutKeyPolicy too.
  admin.action = "kms:CreateKey";
  EXPECT_TRUE(PassesLockoutSafetyCheck(console, {}, admin));
  EXPECT_FALSE(PassesLockoutSafetyCheck(users_only, {}, admin));
  EXPECT_EQ(kLockoutSafetyCheckMessage,
            "The new key policy will not allow you to update the key policy in the future.");
}

TEST(LockoutSafetyCheckTest, DelegationCountsTheCallersIdentityPolicies) {
  Policy key_default = MustParse(DefaultKeyPolicy(kAccount), PolicyKind::kKeyPolicy);
  Policy kms_admin =
      MustParse(R"({"Statement":{"Effect":"Allow","Action":"kms:*","Resource":"*"}})",
                PolicyKind::kIdentityPolicy);
  RequestContext alice = Ctx(Alice(), "kms:PutKeyPolicy");
  EXPECT_TRUE(PassesLockoutSafetyCheck(key_default, {&kms_admin}, alice));
  EXPECT_FALSE(PassesLockoutSafetyCheck(key_default, {}, alice));
  EXPECT_TRUE(PassesLockoutSafetyCheck(key_default, {}, Ctx(Principal::Root(kAccount), "")));

  Policy deny_put = MustParse(R"({"Statement":[
    {"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"kms:*","Resource":"*"},
    {"Effect":"Deny","Principal":"*","Action":"kms:PutKeyPolicy","Resource":"*"}]})",
                              PolicyKind::kKeyPolicy);
  EXPECT_FALSE(PassesLockoutSafetyCheck(deny_put, {&kms_admin}, alice));
  EXPECT_FALSE(PassesLockoutSafetyCheck(deny_put, {}, Ctx(Principal::Root(kAccount), "")));
}

}  // namespace
}  // namespace coffer::policy
