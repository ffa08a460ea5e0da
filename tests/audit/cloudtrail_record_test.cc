// CloudTrail records (src/audit/cloudtrail_record.cc): the exact JSON for each kind of
// caller, failed calls, TLS details; the responseElements date text; and the
// LookupEvents fields read back from a record.
#include "audit/cloudtrail_record.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "common/clock.h"
#include "policy/evaluate.h"

namespace coffer::audit {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kAccount[] = "111122223333";
constexpr char kKeyArn[] =
    "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

// 2026-01-01T00:00:00Z plus `seconds`.
TimePoint At(int64_t seconds) {
  return FromEpochMillis(1767225600000) + std::chrono::seconds(seconds);
}

// A Decrypt by Alice, as the reference's example.
AuditEvent DecryptByAlice() {
  AuditEvent e;
  e.principal =
      policy::Principal::IamUser("arn:aws:iam::111122223333:user/Alice", "AIDAEXAMPLEALICE00001");
  e.access_key_id = "AKIAEXAMPLEALICE0001";
  e.account_id = kAccount;
  e.region = "us-east-1";
  e.event_time = At(3661);
  e.event_source = "kms.amazonaws.com";
  e.event_name = "Decrypt";
  e.source_ip = "127.0.0.1";
  e.user_agent = "aws-cli/2.9.19 Python/3.9.11 Linux/5.15 exe/x86_64";
  e.request_parameters =
      R"({"encryptionAlgorithm":"SYMMETRIC_DEFAULT","encryptionContext":{"Department":"Development"}})";
  e.request_id = "6a1e2b4c-0000-4000-8000-000000000001";
  e.event_id = "0f9c8d7e-0000-4000-8000-000000000002";
  e.read_only = true;
  e.resources = {AuditResource::Of(kKeyArn, "AWS::KMS::Key")};
  return e;
}

// The part of a record after userIdentity's closing brace, for DecryptByAlice().
const std::string kDecryptRest =
    R"("eventTime":"2026-01-01T01:01:01Z","eventSource":"kms.amazonaws.com",)"
    R"("eventName":"Decrypt","awsRegion":"us-east-1","sourceIPAddress":"127.0.0.1",)"
    R"("userAgent":"aws-cli/2.9.19 Python/3.9.11 Linux/5.15 exe/x86_64",)"
    R"("requestParameters":{"encryptionAlgorithm":"SYMMETRIC_DEFAULT",)"
    R"("encryptionContext":{"Department":"Development"}},"responseElements":null,)"
    R"("requestID":"6a1e2b4c-0000-4000-8000-000000000001",)"
    R"("eventID":"0f9c8d7e-0000-4000-8000-000000000002","readOnly":true,)"
    R"("resources":[{"accountId":"111122223333","type":"AWS::KMS::Key",)"
    R"("ARN":"arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"}],)"
    R"("eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333",)"
    R"("eventCategory":"Management"})";

TEST(CloudTrailRecordTest, IamUserAsTheReferenceExample) {
  EXPECT_EQ(BuildCloudTrailRecord(DecryptByAlice()),
            R"({"eventVersion":"1.08","userIdentity":{"type":"IAMUser",)"
            R"("principalId":"AIDAEXAMPLEALICE00001",)"
            R"("arn":"arn:aws:iam::111122223333:user/Alice","accountId":"111122223333",)"
            R"("accessKeyId":"AKIAEXAMPLEALICE0001","userName":"Alice"},)" +
                kDecryptRest);
}

TEST(CloudTrailRecordTest, IamUserWithAPathIsNamedWithoutIt) {
  AuditEvent e = DecryptByAlice();
  e.principal = policy::Principal::IamUser("arn:aws:iam::111122223333:user/division/eng/Bob",
                                           "AIDAEXAMPLEBOB0000001");
  EXPECT_THAT(BuildCloudTrailRecord(e),
              HasSubstr(R"("arn":"arn:aws:iam::111122223333:user/division/eng/Bob",)"
                        R"("accountId":"111122223333","accessKeyId":"AKIAEXAMPLEALICE0001",)"
                        R"("userName":"Bob"},)"));
}

TEST(CloudTrailRecordTest, Root) {
  AuditEvent e = DecryptByAlice();
  e.principal = policy::Principal::Root(kAccount);
  e.access_key_id = "AKIAEXAMPLEROOT00001";
  EXPECT_EQ(BuildCloudTrailRecord(e),
            R"({"eventVersion":"1.08","userIdentity":{"type":"Root",)"
            R"("principalId":"111122223333","arn":"arn:aws:iam::111122223333:root",)"
            R"("accountId":"111122223333","accessKeyId":"AKIAEXAMPLEROOT00001"},)" +
                kDecryptRest);
}

TEST(CloudTrailRecordTest, AssumedRoleWithSessionContext) {
  AuditEvent e = DecryptByAlice();
  e.principal = policy::Principal::AssumedRole(
      "arn:aws:iam::111122223333:role/service-role/BackupRole", "nightly", "AROAEXAMPLEROLE000001");
  e.access_key_id = "ASIAEXAMPLESESSION01";
  e.session_creation_time = At(60);
  EXPECT_EQ(
      BuildCloudTrailRecord(e),
      R"({"eventVersion":"1.08","userIdentity":{"type":"AssumedRole",)"
      R"("principalId":"AROAEXAMPLEROLE000001:nightly",)"
      R"("arn":"arn:aws:sts::111122223333:assumed-role/BackupRole/nightly",)"
      R"("accountId":"111122223333","accessKeyId":"ASIAEXAMPLESESSION01",)"
      R"("sessionContext":{"sessionIssuer":{"type":"Role",)"
      R"("principalId":"AROAEXAMPLEROLE000001",)"
      R"("arn":"arn:aws:iam::111122223333:role/service-role/BackupRole",)"
      R"("accountId":"111122223333","userName":"BackupRole"},)"
      R"("attributes":{"creationDate":"2026-01-01T00:01:00Z","mfaAuthenticated":"false"}}},)" +
          kDecryptRest);
}

TEST(CloudTrailRecordTest, AssumedRoleWithoutACreationDate) {
  AuditEvent e = DecryptByAlice();
  e.principal = policy::Principal::AssumedRole("arn:aws:iam::111122223333:role/R", "s",
                                               "AROAEXAMPLEROLE000002");
  EXPECT_THAT(BuildCloudTrailRecord(e),
              HasSubstr(R"("attributes":{"mfaAuthenticated":"false"}}},)"));
}

TEST(CloudTrailRecordTest, AwsService) {
  AuditEvent e = DecryptByAlice();
  e.principal = policy::Principal::Service("rds.amazonaws.com");
  e.access_key_id.clear();
  EXPECT_EQ(BuildCloudTrailRecord(e),
            R"({"eventVersion":"1.08","userIdentity":{"type":"AWSService",)"
            R"("invokedBy":"rds.amazonaws.com"},)" +
                kDecryptRest);
}

TEST(CloudTrailRecordTest, UnknownCallerOfAFailedAuthentication) {
  AuditEvent e = DecryptByAlice();
  e.principal.reset();
  e.access_key_id = "AKIANOSUCHKEY0000001";
  e.error_code = "UnrecognizedClientException";
  e.error_message = "The security token included in the request is invalid.";
  e.request_parameters = "null";
  e.resources.clear();
  EXPECT_EQ(BuildCloudTrailRecord(e),
            R"({"eventVersion":"1.08","userIdentity":{"type":"Unknown",)"
            R"("accessKeyId":"AKIANOSUCHKEY0000001"},)"
            R"("eventTime":"2026-01-01T01:01:01Z","eventSource":"kms.amazonaws.com",)"
            R"("eventName":"Decrypt","awsRegion":"us-east-1","sourceIPAddress":"127.0.0.1",)"
            R"("userAgent":"aws-cli/2.9.19 Python/3.9.11 Linux/5.15 exe/x86_64",)"
            R"("errorCode":"UnrecognizedClientException",)"
            R"("errorMessage":"The security token included in the request is invalid.",)"
            R"("requestParameters":null,"responseElements":null,)"
            R"("requestID":"6a1e2b4c-0000-4000-8000-000000000001",)"
            R"("eventID":"0f9c8d7e-0000-4000-8000-000000000002","readOnly":true,)"
            R"("resources":[],"eventType":"AwsApiCall","managementEvent":true,)"
            R"("recipientAccountId":"111122223333","eventCategory":"Management"})");

  // Without even an access key (a request with no signature).
  e.access_key_id.clear();
  EXPECT_THAT(BuildCloudTrailRecord(e), HasSubstr(R"("userIdentity":{"type":"Unknown"},)"));
}

TEST(CloudTrailRecordTest, DeniedCallCarriesErrorCodeAndMessageBeforeRequestParameters) {
  AuditEvent e = DecryptByAlice();
  e.error_code = "AccessDeniedException";
  e.error_message =
      "User: arn:aws:iam::111122223333:user/Alice is not authorized to perform: kms:Decrypt on "
      "resource: " +
      std::string(kKeyArn) + " because no resource-based policy allows the kms:Decrypt action";
  std::string record = BuildCloudTrailRecord(e);
  EXPECT_THAT(record,
              HasSubstr(R"("userAgent":"aws-cli/2.9.19 Python/3.9.11 Linux/5.15 exe/x86_64",)"
                        R"("errorCode":"AccessDeniedException","errorMessage":"User: )"
                        R"(arn:aws:iam::111122223333:user/Alice is not authorized to )"
                        R"(perform: kms:Decrypt on resource: )" +
                        std::string(kKeyArn) +
                        R"( because no resource-based policy allows the kms:Decrypt )"
                        R"(action","requestParameters":{)"));
  // A successful call has neither.
  EXPECT_THAT(BuildCloudTrailRecord(DecryptByAlice()), Not(HasSubstr("errorCode")));
  EXPECT_THAT(BuildCloudTrailRecord(DecryptByAlice()), Not(HasSubstr("errorMessage")));
}

TEST(CloudTrailRecordTest, TlsDetailsComeLast) {
  AuditEvent e = DecryptByAlice();
  e.tls = TlsDetails{"TLSv1.3", "TLS_AES_256_GCM_SHA384", "kms.example.internal:8443"};
  std::string plain = BuildCloudTrailRecord(DecryptByAlice());
  ASSERT_EQ(plain.back(), '}');
  EXPECT_EQ(BuildCloudTrailRecord(e),
            plain.substr(0, plain.size() - 1) +
                R"(,"tlsDetails":{"tlsVersion":"TLSv1.3","cipherSuite":"TLS_AES_256_GCM_SHA384",)"
                R"("clientProvidedHostHeader":"kms.example.internal:8443"}})");
}

TEST(CloudTrailRecordTest, ResponseElementsAndSeveralResourcesInOrder) {
  AuditEvent e = DecryptByAlice();
  e.event_name = "CreateAlias";
  e.read_only = false;
  e.request_parameters = R"({"aliasName":"alias/x","targetKeyId":"k"})";
  e.response_elements = R"({"keyId":"k"})";
  e.resources = {AuditResource::Of(kKeyArn, "AWS::KMS::Key"),
                 AuditResource::Of("arn:aws:kms:us-east-1:111122223333:alias/x", "AWS::KMS::Key")};
  EXPECT_THAT(BuildCloudTrailRecord(e),
              HasSubstr(R"("requestParameters":{"aliasName":"alias/x","targetKeyId":"k"},)"
                        R"("responseElements":{"keyId":"k"},)"));
  EXPECT_THAT(BuildCloudTrailRecord(e),
              HasSubstr(R"("readOnly":false,"resources":[{"accountId":"111122223333",)"
                        R"("type":"AWS::KMS::Key","ARN":")" +
                        std::string(kKeyArn) +
                        R"("},{"accountId":"111122223333","type":"AWS::KMS::Key",)"
                        R"("ARN":"arn:aws:kms:us-east-1:111122223333:alias/x"}],)"));
}

TEST(CloudTrailRecordTest, ParametersThatAreNotAJsonObjectAreRecordedAsNull) {
  for (const char* text : {"", "{", "not json", "[1,2]", "\"text\"", "42", "{\"a\":1} trailing"}) {
    AuditEvent e = DecryptByAlice();
    e.request_parameters = text;
    e.response_elements = text;
    EXPECT_THAT(BuildCloudTrailRecord(e),
                HasSubstr(R"("requestParameters":null,"responseElements":null,)"))
        << text;
  }
}

TEST(CloudTrailRecordTest, InvalidUtf8IsReplacedAndTextsAreEscaped) {
  AuditEvent e = DecryptByAlice();
  e.user_agent = std::string("curl/8\xff\"x\"\n");
  std::string record = BuildCloudTrailRecord(e);
  EXPECT_THAT(record, HasSubstr(R"("userAgent":"curl/8)"
                                "\xef\xbf\xbd"
                                R"(\"x\"\n",)"));
  EXPECT_TRUE(ParseCloudTrailRecord(record).ok());
}

TEST(CloudTrailRecordTest, TheSameEventGivesTheSameBytes) {
  AuditEvent e = DecryptByAlice();
  // Key order in the parameters' text is kept as given, not re-sorted.
  e.request_parameters = R"({"keyId":"k","encryptionContext":{"b":"2","a":"1"}})";
  std::string once = BuildCloudTrailRecord(e);
  EXPECT_EQ(once, BuildCloudTrailRecord(e));
  EXPECT_THAT(once, HasSubstr(R"({"keyId":"k","encryptionContext":{"b":"2","a":"1"}})"));
}

TEST(CloudTrailRecordTest, ResponseElementsDates) {
  // A recorded AssumeRole: "expiration":"Oct 27, 2025, 12:16:57 AM".
  auto date = [](int y, unsigned m, unsigned d, int h, int min, int s) {
    return TimePoint(std::chrono::sys_days(std::chrono::year(y) / std::chrono::month(m) /
                                           std::chrono::day(d))) +
           std::chrono::hours(h) + std::chrono::minutes(min) + std::chrono::seconds(s);
  };
  EXPECT_EQ(FormatResponseElementsDate(date(2025, 10, 27, 0, 16, 57)), "Oct 27, 2025, 12:16:57 AM");
  EXPECT_EQ(FormatResponseElementsDate(date(2025, 10, 3, 8, 41, 4)), "Oct 3, 2025, 8:41:04 AM");
  EXPECT_EQ(FormatResponseElementsDate(date(2022, 8, 10, 22, 38, 27)), "Aug 10, 2022, 10:38:27 PM");
  EXPECT_EQ(FormatResponseElementsDate(date(2026, 1, 1, 12, 0, 0)), "Jan 1, 2026, 12:00:00 PM");
  EXPECT_EQ(FormatResponseElementsDate(date(2026, 12, 31, 23, 59, 59)),
            "Dec 31, 2026, 11:59:59 PM");
  // Fractions of a second are dropped, not rounded.
  EXPECT_EQ(FormatResponseElementsDate(date(2026, 5, 9, 13, 5, 9) + std::chrono::milliseconds(999)),
            "May 9, 2026, 1:05:09 PM");
}

TEST(CloudTrailRecordTest, ResourceAccountComesFromTheArn) {
  EXPECT_EQ(AuditResource::Of(kKeyArn, "AWS::KMS::Key"),
            (AuditResource{kKeyArn, "AWS::KMS::Key", "111122223333"}));
  EXPECT_EQ(AuditResource::Of("arn:aws:iam::444455556666:role/a/b:c", "AWS::IAM::Role").account_id,
            "444455556666");
  EXPECT_EQ(AuditResource::Of("alias/x", "AWS::KMS::Key").account_id, "");
  EXPECT_EQ(AuditResource::Of("arn:aws:iam:", "AWS::IAM::Role").account_id, "");
  EXPECT_EQ(AuditResource::Of("", "AWS::IAM::Role").account_id, "");
}

// ---- LookupEvents fields ----------------------------------------------------------------

TEST(CloudTrailRecordTest, SummaryOfAnIamUsersRecord) {
  auto s = ParseCloudTrailRecord(BuildCloudTrailRecord(DecryptByAlice()));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->event_id, "0f9c8d7e-0000-4000-8000-000000000002");
  EXPECT_EQ(s->event_name, "Decrypt");
  EXPECT_EQ(s->event_source, "kms.amazonaws.com");
  EXPECT_TRUE(s->read_only);
  EXPECT_EQ(s->access_key_id, "AKIAEXAMPLEALICE0001");
  EXPECT_EQ(s->username, "Alice");
  EXPECT_EQ(s->event_time, At(3661));
  ASSERT_EQ(s->resources.size(), 1u);
  EXPECT_EQ(s->resources[0].resource_type, "AWS::KMS::Key");
  EXPECT_EQ(s->resources[0].resource_name, kKeyArn);
}

TEST(CloudTrailRecordTest, SummaryUsernameOfEachKindOfCaller) {
  auto username = [](AuditEvent e) {
    auto s = ParseCloudTrailRecord(BuildCloudTrailRecord(e));
    return s.ok() ? s->username : "<" + s.status().ToString() + ">";
  };
  AuditEvent e = DecryptByAlice();
  e.principal = policy::Principal::Root(kAccount);
  EXPECT_EQ(username(e), "root");
  e.principal = policy::Principal::AssumedRole("arn:aws:iam::111122223333:role/path/R",
                                               "my-session", "AROAEXAMPLEROLE000001");
  EXPECT_EQ(username(e), "my-session");  // LookupEvents shows the session name
  e.principal = policy::Principal::Service("rds.amazonaws.com");
  EXPECT_EQ(username(e), "rds.amazonaws.com");
  e.principal.reset();
  EXPECT_EQ(username(e), "");
}

TEST(CloudTrailRecordTest, SummaryOfAWriteWithoutResourcesOrAccessKey) {
  AuditEvent e = DecryptByAlice();
  e.principal = policy::Principal::Service("rds.amazonaws.com");
  e.access_key_id.clear();
  e.read_only = false;
  e.resources.clear();
  auto s = ParseCloudTrailRecord(BuildCloudTrailRecord(e));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_FALSE(s->read_only);
  EXPECT_EQ(s->access_key_id, "");
  EXPECT_TRUE(s->resources.empty());
}

TEST(CloudTrailRecordTest, SummaryOfARecordAsAwsWritesIt) {
  // An AssumeRole record as CloudTrail delivers it (its key order, extra fields).
  const char* record =
      R"({"eventVersion":"1.08","userIdentity":{"type":"AssumedRole",)"
      R"("principalId":"AROAEXAMPLE:other-session","arn":"arn:aws:sts::111122223333:)"
      R"(assumed-role/R/other-session","accountId":"111122223333","accessKeyId":"ASIAEXAMPLE",)"
      R"("sessionContext":{"sessionIssuer":{"type":"Role"},"webIdFederationData":{}}},)"
      R"("eventTime":"2025-10-27T00:01:57Z","eventSource":"sts.amazonaws.com",)"
      R"("eventName":"AssumeRole","requestParameters":{"roleArn":"x"},)"
      R"("resources":[{"accountId":"111122223333","type":"AWS::IAM::Role",)"
      R"("ARN":"arn:aws:iam::111122223333:role/R"},{"ARN":"no-type"},7],)"
      R"("sharedEventID":"s","eventID":"e-1","readOnly":true,"eventType":"AwsApiCall"})";
  auto s = ParseCloudTrailRecord(record);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->event_id, "e-1");
  EXPECT_EQ(s->username, "other-session");
  EXPECT_EQ(s->access_key_id, "ASIAEXAMPLE");
  EXPECT_EQ(s->event_time,
            TimePoint(std::chrono::sys_days(std::chrono::year(2025) / std::chrono::October / 27)) +
                std::chrono::minutes(1) + std::chrono::seconds(57));
  ASSERT_EQ(s->resources.size(), 2u);
  EXPECT_EQ(s->resources[0].resource_type, "AWS::IAM::Role");
  EXPECT_EQ(s->resources[0].resource_name, "arn:aws:iam::111122223333:role/R");
  EXPECT_EQ(s->resources[1].resource_type, "");
  EXPECT_EQ(s->resources[1].resource_name, "no-type");
}

TEST(CloudTrailRecordTest, WhatIsNotARecord) {
  const std::string good = BuildCloudTrailRecord(DecryptByAlice());
  ASSERT_TRUE(ParseCloudTrailRecord(good).ok());
  auto without = [&](const std::string& from, const std::string& to) {
    std::string r = good;
    size_t at = r.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    if (at != std::string::npos) r.replace(at, from.size(), to);
    return r;
  };
  for (const std::string& bad : {
           std::string(""),
           std::string("[]"),
           std::string("{"),
           good.substr(0, good.size() - 1),  // truncated
           without(R"("eventID")", R"("eventId")"),
           without(R"("eventName":"Decrypt")", R"("eventName":7)"),
           without(R"("eventSource")", R"("source")"),
           without(R"("readOnly":true)", R"("readOnly":"true")"),
           without(R"("2026-01-01T01:01:01Z")", R"("2026-01-01 01:01:01Z")"),
           without(R"("2026-01-01T01:01:01Z")", R"("2026-02-30T01:01:01Z")"),
           without(R"("2026-01-01T01:01:01Z")", R"("2026-01-01T24:01:01Z")"),
           without(R"("2026-01-01T01:01:01Z")", R"("2026-01-01T01:01:01.000Z")"),
           without(R"("2026-01-01T01:01:01Z")", R"("2026-01-01T01:01:0xZ")"),
           without(R"("eventTime":"2026-01-01T01:01:01Z")", R"("eventTime":1767229261)"),
       }) {
    auto s = ParseCloudTrailRecord(bad);
    EXPECT_FALSE(s.ok()) << bad;
    if (!s.ok()) {
      EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
      EXPECT_THAT(s.status().message(), HasSubstr("not a CloudTrail record"));
    }
  }
}

}  // namespace
}  // namespace coffer::audit
