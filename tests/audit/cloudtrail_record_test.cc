// CloudTrail records (src/audit/cloudtrail_record.cc): the exact JSON for each kind of
// caller, failed calls, TLS details; the responseElements date text; the LookupEvents
// fields read back from a record; and, differentially, the direct writer against the
// DOM-based builder it replaced and SummarizeEvent against the parsed record.
#include "audit/cloudtrail_record.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

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

// ---- The previous implementation, kept as an oracle ---------------------------------
//
// BuildCloudTrailRecord used to build an nlohmann::ordered_json tree and dump it. It
// was replaced by a direct writer for speed (the tree cost ~19% of the request path's
// CPU); records are hashed into the audit journal, so the writer must give the same
// bytes for every event. ReferenceBuild is that previous DOM-based implementation,
// unchanged, for the differential tests below. Test-only: do not call it elsewhere.

using OrderedJson = nlohmann::ordered_json;

std::string_view ReferenceLastSegment(std::string_view arn) {
  size_t slash = arn.rfind('/');
  return slash == std::string_view::npos ? arn : arn.substr(slash + 1);
}

OrderedJson ReferenceEmbedded(const std::string& text) {
  OrderedJson v = OrderedJson::parse(text, nullptr, /*allow_exceptions=*/false);
  if (v.is_discarded() || !(v.is_object() || v.is_null())) return nullptr;
  return v;
}

OrderedJson ReferenceUserIdentity(const AuditEvent& e) {
  OrderedJson id;
  if (!e.principal) {
    id["type"] = "Unknown";
    if (!e.access_key_id.empty()) id["accessKeyId"] = e.access_key_id;
    return id;
  }
  const policy::Principal& p = *e.principal;
  switch (p.type) {
    case policy::PrincipalType::kRoot:
      id["type"] = "Root";
      id["principalId"] = p.account_id;
      id["arn"] = p.arn;
      id["accountId"] = p.account_id;
      id["accessKeyId"] = e.access_key_id;
      if (e.session_creation_time) {  // GetSessionToken's credentials
        id["sessionContext"]["attributes"]["creationDate"] =
            FormatIso8601(*e.session_creation_time);
        id["sessionContext"]["attributes"]["mfaAuthenticated"] = "false";
      }
      break;
    case policy::PrincipalType::kIamUser:
      id["type"] = "IAMUser";
      id["principalId"] = p.user_id;
      id["arn"] = p.arn;
      id["accountId"] = p.account_id;
      id["accessKeyId"] = e.access_key_id;
      id["userName"] = std::string(ReferenceLastSegment(p.arn));
      if (e.session_creation_time) {
        id["sessionContext"]["attributes"]["creationDate"] =
            FormatIso8601(*e.session_creation_time);
        id["sessionContext"]["attributes"]["mfaAuthenticated"] = "false";
      }
      break;
    case policy::PrincipalType::kAssumedRole: {
      id["type"] = "AssumedRole";
      id["principalId"] = p.user_id;
      id["arn"] = p.arn;
      id["accountId"] = p.account_id;
      id["accessKeyId"] = e.access_key_id;
      OrderedJson issuer;
      issuer["type"] = "Role";
      issuer["principalId"] = p.user_id.substr(0, p.user_id.find(':'));
      issuer["arn"] = p.role_arn;
      issuer["accountId"] = p.account_id;
      issuer["userName"] = std::string(ReferenceLastSegment(p.role_arn));
      OrderedJson attributes;
      if (e.session_creation_time) {
        attributes["creationDate"] = FormatIso8601(*e.session_creation_time);
      }
      attributes["mfaAuthenticated"] = "false";  // coffer has no MFA
      id["sessionContext"]["sessionIssuer"] = std::move(issuer);
      id["sessionContext"]["attributes"] = std::move(attributes);
      break;
    }
    case policy::PrincipalType::kAwsService:
      id["type"] = "AWSService";
      id["invokedBy"] = p.arn;  // the service principal name
      break;
  }
  return id;
}

std::string ReferenceBuild(const AuditEvent& e) {
  OrderedJson r;
  r["eventVersion"] = kCloudTrailEventVersion;
  r["userIdentity"] = ReferenceUserIdentity(e);
  r["eventTime"] = FormatIso8601(e.event_time);
  r["eventSource"] = e.event_source;
  r["eventName"] = e.event_name;
  r["awsRegion"] = e.region;
  r["sourceIPAddress"] = e.source_ip;
  r["userAgent"] = e.user_agent;
  if (e.error_code) r["errorCode"] = *e.error_code;
  if (e.error_message && !e.error_message->empty()) r["errorMessage"] = *e.error_message;
  r["requestParameters"] = ReferenceEmbedded(e.request_parameters);
  r["responseElements"] = ReferenceEmbedded(e.response_elements);
  if (!e.additional_event_data.empty()) {
    r["additionalEventData"] = ReferenceEmbedded(e.additional_event_data);
  }
  r["requestID"] = e.request_id;
  r["eventID"] = e.event_id;
  r["readOnly"] = e.read_only;
  r["resources"] = OrderedJson::array();
  for (const AuditResource& res : e.resources) {
    OrderedJson o;
    o["accountId"] = res.account_id;
    o["type"] = res.type;
    o["ARN"] = res.arn;
    r["resources"].push_back(std::move(o));
  }
  r["eventType"] = "AwsApiCall";
  r["managementEvent"] = true;
  r["recipientAccountId"] = e.account_id;
  r["eventCategory"] = "Management";
  if (e.tls) {
    OrderedJson tls;
    tls["tlsVersion"] = e.tls->tls_version;
    tls["cipherSuite"] = e.tls->cipher_suite;
    tls["clientProvidedHostHeader"] = e.tls->client_provided_host_header;
    r["tlsDetails"] = std::move(tls);
  }
  return r.dump(-1, ' ', false, OrderedJson::error_handler_t::replace);
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

TEST(CloudTrailRecordTest, UserAndRootWithSessionCredentials) {
  AuditEvent e = DecryptByAlice();
  e.access_key_id = "ASIAEXAMPLESESSION02";
  e.session_creation_time = At(60);
  EXPECT_THAT(
      BuildCloudTrailRecord(e),
      HasSubstr(R"("userName":"Alice","sessionContext":{"attributes":)"
                R"({"creationDate":"2026-01-01T00:01:00Z","mfaAuthenticated":"false"}}},)"));
  e.principal = policy::Principal::Root(kAccount);
  EXPECT_THAT(
      BuildCloudTrailRecord(e),
      HasSubstr(R"("accessKeyId":"ASIAEXAMPLESESSION02","sessionContext":{"attributes":)"
                R"({"creationDate":"2026-01-01T00:01:00Z","mfaAuthenticated":"false"}}},)"));
}

TEST(CloudTrailRecordTest, AdditionalEventDataFollowsTheResponseElements) {
  AuditEvent e = DecryptByAlice();
  e.event_name = "RetireGrant";
  e.request_parameters = "null";
  e.additional_event_data = R"({"grantId":"abc"})";
  EXPECT_THAT(BuildCloudTrailRecord(e),
              HasSubstr(R"("requestParameters":null,"responseElements":null,)"
                        R"("additionalEventData":{"grantId":"abc"},"requestID":)"));
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

TEST(CloudTrailRecordTest, FieldsOverCloudTrailsLimitAreOmittedOrCut) {
  // 100 KB (102,400 bytes) is kept whole; one byte more is omitted, as CloudTrail
  // omits a requestParameters or responseElements over its limit.
  auto object_of = [](size_t size) {
    std::string text = R"({"encryptionContext":")";
    text += std::string(size - text.size() - 2, 'x');
    return text + "\"}";
  };
  AuditEvent e = DecryptByAlice();
  e.request_parameters = object_of(102400);
  e.response_elements = object_of(102400);
  std::string record = BuildCloudTrailRecord(e);
  EXPECT_THAT(record, HasSubstr(R"("requestParameters":)" + object_of(102400) + ","));
  EXPECT_THAT(record, HasSubstr(R"("responseElements":)" + object_of(102400) + ","));
  e.request_parameters = object_of(102401);
  e.response_elements = object_of(17 << 20);
  record = BuildCloudTrailRecord(e);
  EXPECT_THAT(record, HasSubstr(R"("requestParameters":{"omitted":true},)"
                                R"("responseElements":{"omitted":true},)"));
  EXPECT_LT(record.size(), 4096u);

  // An errorMessage is cut at 102,400 bytes, between characters, and says so.
  e = DecryptByAlice();
  e.error_code = "ValidationException";
  e.error_message = std::string(102399, 'm') + "\xC3\xA9" + std::string(5000, 'n');
  record = BuildCloudTrailRecord(e);
  EXPECT_THAT(record, HasSubstr(R"("errorMessage":")" + std::string(102399, 'm') +
                                "\xE2\x80\xA6\",\"requestParameters\""));
  e.error_message = std::string(102400, 'm');
  EXPECT_THAT(BuildCloudTrailRecord(e),
              HasSubstr(R"("errorMessage":")" + std::string(102400, 'm') + "\","));
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
           // Times a TimePoint cannot hold (1677-09-21T00:12:44Z to 2262-04-11T23:47:16Z).
           without(R"("2026-01-01T01:01:01Z")", R"("9999-12-31T23:59:59Z")"),
           without(R"("2026-01-01T01:01:01Z")", R"("2262-04-11T23:47:17Z")"),
           without(R"("2026-01-01T01:01:01Z")", R"("1677-09-21T00:12:43Z")"),
           without(R"("2026-01-01T01:01:01Z")", R"("1000-01-01T00:00:00Z")"),
       }) {
    auto s = ParseCloudTrailRecord(bad);
    EXPECT_FALSE(s.ok()) << bad;
    if (!s.ok()) {
      EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
      EXPECT_THAT(s.status().message(), HasSubstr("not a CloudTrail record"));
    }
  }
}

// ---- The writer against the previous implementation ---------------------------------

// SplitMix64: a fixed sequence on every platform and standard library.
class Prng {
 public:
  explicit Prng(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  size_t Below(size_t n) { return static_cast<size_t>(Next() % n); }
  bool OneIn(size_t n) { return Below(n) == 0; }
  template <typename T, size_t N>
  const T& Pick(const T (&items)[N]) {
    return items[Below(N)];
  }

 private:
  uint64_t state_;
};

// Pieces of text that exercise escaping and UTF-8 replacement, including sequences
// cut short or broken by what follows them.
constexpr std::string_view kTextPieces[] = {
    "a",
    "Alice",
    "kms",
    ":",
    "/",
    "arn:aws:iam::111122223333:",
    "user/",
    "-",
    " ",
    "\"",
    "\\",
    "\\u00e9",
    "</script>",
    std::string_view("\0", 1),
    "\x01",
    "\x08",
    "\t",
    "\n",
    "\x0b",
    "\x0c",
    "\r",
    "\x1b",
    "\x1f",
    "\x7f",
    "\xc3\xa9",          // é
    "\xe2\x82\xac",      // €
    "\xef\xbf\xbd",      // U+FFFD itself
    "\xef\xbb\xbf",      // a byte order mark
    "\xf0\x9f\x98\x80",  // 😀, 4 bytes
    "\xf4\x8f\xbf\xbf",  // U+10FFFF
    "\xff",
    "\xfe",
    "\x80",
    "\xbf",
    "\xc3",
    "\xe2\x82",
    "\xf0\x9f\x98",  // cut short
    "\xc0\xaf",
    "\xc1\xbf",
    "\xe0\x80\xaf",
    "\xf0\x80\x80\xaf",  // overlong
    "\xed\xa0\x80",
    "\xed\xbf\xbf",  // surrogates
    "\xf4\x90\x80\x80",
    "\xf5\x80\x80\x80",
    "\xf8\x88\x80\x80\x80",  // past U+10FFFF
};

std::string RandomText(Prng& rng, size_t max_pieces = 8) {
  std::string s;
  size_t pieces = rng.Below(max_pieces + 1);
  for (size_t i = 0; i < pieces; ++i) s += rng.Pick(kTextPieces);
  return s;
}

// Text that is mostly like a real value, sometimes not.
std::string RandomField(Prng& rng, std::string_view typical) {
  switch (rng.Below(4)) {
    case 0:
      return RandomText(rng);
    case 1:
      return std::string(typical) + RandomText(rng, 2);
    default:
      return std::string(typical);
  }
}

// JSON texts given as requestParameters / responseElements, by hand: the writer's
// verbatim copy must take exactly the texts that parse + dump gives back unchanged.
const std::vector<std::string>& EmbeddedTexts() {
  static const auto* texts = new std::vector<std::string>{
      "null",
      "",
      " ",
      "{}",
      "[]",
      "[1]",
      "\"x\"",
      "3",
      "-0",
      "true",
      "false",
      "nul",
      "null ",
      " null",
      "{",
      "}",
      "not json",
      R"({"a":1} trailing)",
      R"({"a":1}{"b":2})",
      R"({"a":1},)",
      R"({"keyId":"k","encryptionAlgorithm":"SYMMETRIC_DEFAULT"})",
      R"({"keyId":"arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",)"
      R"("encryptionAlgorithm":"SYMMETRIC_DEFAULT"})",
      R"({"encryptionContext":{"b":"2","a":"1"},"grantTokens":[],"numberOfBytes":32})",
      R"({"a":{"b":{"c":[1,[2,[3,{}]],{"d":null}]}},"e":[true,false,null]})",
      R"({"a":[{"x":1},{"x":2}],"b":[{"x":1,"y":-5}]})",
      // Whitespace: parse + dump makes it compact.
      R"({ "a": 1 })",
      "{\"a\":1}\n",
      "\n{\"a\":1}",
      "{\t\"a\":[1,\r2]}",
      R"({"a" :1})",
      R"({"a":[1 ,2]})",
      // Spaces inside strings are not whitespace.
      R"({"a b":"c d","e":[" "]})",
      // Escapes: dump writes some back as they were and some not.
      R"({"a":"line\nbreak"})",
      R"({"a":"\/slash"})",
      R"({"a":"quote\"and\\backslash"})",
      R"({"a":"\u00e9"})",
      R"({"a":"\u0001\u001f\u007f"})",
      R"({"a":"\ud83d\ude00"})",
      R"({"a":"\ud83d"})",
      R"({"\u0061":1,"a":2})",
      R"({"a":"\x"})",
      // Raw non-ASCII, valid and not.
      "{\"a\":\"\xc3\xa9\"}",
      "{\"\xf0\x9f\x98\x80\":\"\xf0\x9f\x98\x80\"}",
      "{\"a\":\"\xff\"}",
      "{\"a\":\"\xe2\x82\"}",
      "{\"a\":\"\xed\xa0\x80\"}",
      "{\"a\":\"\x7f\"}",
      "{\"a\":\"tab\there\"}",
      std::string("{\"a\":\"nul\0\"}", 11),
      // A byte order mark is skipped by the parser.
      "\xef\xbb\xbf{\"a\":1}",
      "\xef\xbb\xbf null",
      " \xef\xbb\xbf{\"a\":1}",
      // Numbers: dump writes its own form.
      R"({"n":0})",
      R"({"n":-1})",
      R"({"n":-0})",
      R"({"n":1.0})",
      R"({"n":1.50})",
      R"({"n":1e2})",
      R"({"n":1E2})",
      R"({"n":-2.5e-3})",
      R"({"n":0.1})",
      R"({"n":123456789012345678})",
      R"({"n":-123456789012345678})",
      R"({"n":1234567890123456789})",
      R"({"n":18446744073709551615})",
      R"({"n":18446744073709551616})",
      R"({"n":-9223372036854775808})",
      R"({"n":-9223372036854775809})",
      R"({"n":1e400})",
      R"({"n":01})",
      R"({"n":-})",
      R"({"n":1.})",
      R"({"n":.5})",
      R"({"n":+1})",
      // Repeated keys: ordered_json keeps the first position and the last value.
      R"({"a":1,"a":2})",
      R"({"a":1,"b":2,"a":3})",
      R"({"a":{"x":1},"b":{"x":1}})",
      R"({"a":{"a":{"a":1}}})",
      R"({"a":{"x":1,"x":{}}})",
      R"({"a":[{"k":1},{"k":2}],"k":3})",
      // Broken structure.
      R"({"a"})",
      R"({"a":})",
      R"({"a":1,})",
      R"({,"a":1})",
      R"({"a":[1,]})",
      R"({"a":[1}})",
      R"({"a":{]})",
      R"({"a":tru})",
      R"({"a":truex})",
      R"({'a':1})",
      R"({a:1})",
      R"({"a":"unterminated})",
      R"({"a":1)",
      // Deep nesting, past the verbatim copy's bounds.
      std::string(40, '[').insert(0, "{\"a\":") + std::string(40, ']') + "}",
      std::string(31, '[').insert(0, "{\"a\":") + std::string(31, ']') + "}",
  };
  return *texts;
}

// A JSON value made of pieces that dump writes back differently or the same.
void AppendRandomJson(Prng& rng, std::string& out, int depth) {
  constexpr std::string_view kScalars[] = {"1",
                                           "0",
                                           "-7",
                                           "32",
                                           "-0",
                                           "1.0",
                                           "1e2",
                                           "0.5",
                                           "true",
                                           "false",
                                           "null",
                                           "\"\"",
                                           "\"x\"",
                                           "\"a b\"",
                                           "\"\\n\"",
                                           "\"\\/\"",
                                           "\"\\u00e9\"",
                                           "\"\xc3\xa9\"",
                                           "\"\xff\"",
                                           "123456789012345678",
                                           "12345678901234567890"};
  constexpr std::string_view kKeys[] = {"keyId", "encryptionContext", "a",         "b",
                                        "",      "grantTokens",       "k\\u0065y", "k\xc3\xa9y"};
  auto space = [&] {
    if (rng.OneIn(12)) out += rng.OneIn(2) ? " " : "\n";
  };
  size_t kind = depth >= 4 ? 2 : rng.Below(5);
  if (kind == 0) {
    out += '{';
    size_t n = rng.Below(4);
    for (size_t i = 0; i < n; ++i) {
      if (i > 0) out += ',';
      space();
      out += '"';
      out += rng.Pick(kKeys);
      out += "\":";
      space();
      AppendRandomJson(rng, out, depth + 1);
    }
    out += '}';
  } else if (kind == 1) {
    out += '[';
    size_t n = rng.Below(4);
    for (size_t i = 0; i < n; ++i) {
      if (i > 0) out += ',';
      AppendRandomJson(rng, out, depth + 1);
      space();
    }
    out += ']';
  } else {
    out += rng.Pick(kScalars);
  }
}

std::string RandomEmbedded(Prng& rng) {
  switch (rng.Below(6)) {
    case 0:
      return "null";
    case 1: {
      const auto& texts = EmbeddedTexts();
      return texts[rng.Below(texts.size())];
    }
    default: {
      std::string text;
      if (rng.OneIn(6)) {
        AppendRandomJson(rng, text, 0);  // any value, mostly not an object
      } else {
        text = "{";
        size_t n = rng.Below(5);
        for (size_t i = 0; i < n; ++i) {
          if (i > 0) text += ',';
          text += '"';
          text += std::to_string(rng.Below(n + 1));  // sometimes a repeated key
          text += "\":";
          AppendRandomJson(rng, text, 1);
        }
        text += '}';
      }
      if (rng.OneIn(10) && !text.empty()) {  // damage it
        size_t at = rng.Below(text.size());
        switch (rng.Below(3)) {
          case 0:
            text.resize(at);
            break;
          case 1:
            text[at] = static_cast<char>(rng.Next());
            break;
          default:
            text.insert(at, 1, static_cast<char>(rng.Next()));
            break;
        }
      }
      return text;
    }
  }
}

TimePoint RandomTime(Prng& rng) {
  switch (rng.Below(8)) {
    case 0: {
      // The earliest whole second a TimePoint holds; TimePoint::min() itself floors
      // to a second before it, which no record can carry.
      const TimePoint kEdges[] = {TimePoint::min() + std::chrono::seconds(1),
                                  TimePoint::max(),
                                  TimePoint(),
                                  TimePoint(Duration(-1)),
                                  FromEpochMillis(-1),
                                  FromEpochMillis(-86400000),
                                  FromEpochMillis(951782400000),    // 2000-02-29
                                  FromEpochMillis(4107542399999)};  // 2100-02-28T23:59:59.999
      return rng.Pick(kEdges);
    }
    case 1:  // anywhere a TimePoint reaches (1677 to 2262)
      return TimePoint(Duration(static_cast<Duration::rep>(rng.Next())));
    default:  // around now, with a fraction of a second
      return FromEpochMillis(1767225600000) +
             Duration(static_cast<Duration::rep>(rng.Below(uint64_t{1} << 56)));
  }
}

policy::Principal RandomPrincipal(Prng& rng) {
  switch (rng.Below(10)) {
    case 0:
      return policy::Principal::Root(RandomField(rng, "111122223333"));
    case 1:
      return policy::Principal::IamUser(RandomField(rng, "arn:aws:iam::111122223333:user/a/Bob"),
                                        RandomField(rng, "AIDAEXAMPLEBOB0000001"));
    case 2:
      return policy::Principal::AssumedRole(RandomField(rng, "arn:aws:iam::111122223333:role/p/R"),
                                            RandomField(rng, "session"),
                                            RandomField(rng, "AROAEXAMPLEROLE000001"));
    case 3:
      return policy::Principal::Service(RandomField(rng, "rds.amazonaws.com"));
    default: {
      // Any fields with any type, including a value that is no PrincipalType.
      policy::Principal p;
      p.type = static_cast<policy::PrincipalType>(rng.Below(5));
      p.arn = RandomField(rng, "arn:aws:sts::111122223333:assumed-role/R/s");
      p.account_id = RandomField(rng, "111122223333");
      p.user_id = RandomField(rng, rng.OneIn(2) ? "AROAEXAMPLE:s" : "AIDAEXAMPLE");
      p.role_arn = RandomField(rng, "arn:aws:iam::111122223333:role/R");
      p.session_name = RandomField(rng, "s");
      return p;
    }
  }
}

AuditEvent RandomEvent(Prng& rng) {
  AuditEvent e;
  if (!rng.OneIn(8)) e.principal = RandomPrincipal(rng);
  if (!rng.OneIn(4)) e.access_key_id = RandomField(rng, "AKIAEXAMPLEALICE0001");
  if (rng.OneIn(2)) e.session_creation_time = RandomTime(rng);
  e.account_id = RandomField(rng, kAccount);
  e.region = RandomField(rng, "us-east-1");
  e.event_time = RandomTime(rng);
  e.event_source = RandomField(rng, "kms.amazonaws.com");
  e.event_name = RandomField(rng, "Encrypt");
  e.source_ip = RandomField(rng, "127.0.0.1");
  e.user_agent = RandomField(rng, "aws-cli/2.9.19 Python/3.9.11");
  e.request_parameters = RandomEmbedded(rng);
  e.response_elements = RandomEmbedded(rng);
  if (rng.OneIn(3)) e.error_code = RandomField(rng, "AccessDeniedException");
  if (rng.OneIn(3)) e.error_message = RandomField(rng, "User: x is not authorized");
  e.request_id = RandomField(rng, "6a1e2b4c-0000-4000-8000-000000000001");
  e.event_id = RandomField(rng, "0f9c8d7e-0000-4000-8000-000000000002");
  e.read_only = rng.OneIn(2);
  size_t resources = rng.Pick({0, 0, 1, 1, 1, 2, 3, 5});
  for (size_t i = 0; i < resources; ++i) {
    if (i > 0 && rng.OneIn(3)) {
      e.resources.push_back(e.resources[rng.Below(i)]);  // a duplicate
    } else if (rng.OneIn(3)) {
      // Fields that do not agree with each other.
      e.resources.push_back(
          AuditResource{RandomText(rng), RandomText(rng, 2), RandomField(rng, kAccount)});
    } else {
      e.resources.push_back(AuditResource::Of(RandomField(rng, kKeyArn), "AWS::KMS::Key"));
    }
  }
  if (rng.OneIn(3)) {
    e.tls = TlsDetails{RandomField(rng, "TLSv1.3"), RandomField(rng, "TLS_AES_256_GCM_SHA384"),
                       RandomField(rng, "kms.example.internal:8443")};
  }
  return e;
}

// Events by hand: every kind of caller, and each of the interesting texts in every
// field that carries text.
std::vector<AuditEvent> HandPickedEvents() {
  std::vector<AuditEvent> events;
  AuditEvent base = DecryptByAlice();
  events.push_back(base);

  std::vector<policy::Principal> principals = {
      policy::Principal::Root(kAccount),
      policy::Principal::IamUser("arn:aws:iam::111122223333:user/Alice", "AIDAEXAMPLEALICE00001"),
      policy::Principal::IamUser("arn:aws:iam::111122223333:user/division/eng/Bob", "AIDA2"),
      policy::Principal::IamUser("no-slash", "AIDA3"),
      policy::Principal::AssumedRole("arn:aws:iam::111122223333:role/service-role/BackupRole",
                                     "nightly", "AROAEXAMPLEROLE000001"),
      policy::Principal::AssumedRole("arn:aws:iam::111122223333:role/R", "", "AROA2"),
      policy::Principal::AssumedRole("arn:aws:iam::111122223333:role/R", "a:b/c", "AROA3"),
      policy::Principal::Service("rds.amazonaws.com"),
      policy::Principal::Service(""),
  };
  policy::Principal no_colon = principals[4];
  no_colon.user_id = "AROANOCOLON";
  principals.push_back(no_colon);
  policy::Principal no_colon_nor_slash = no_colon;
  no_colon_nor_slash.arn = "plain";
  principals.push_back(no_colon_nor_slash);
  policy::Principal not_a_type;
  not_a_type.type = static_cast<policy::PrincipalType>(9);
  not_a_type.arn = "arn:aws:iam::111122223333:user/X";
  principals.push_back(not_a_type);

  for (const policy::Principal& p : principals) {
    for (bool created : {false, true}) {
      for (const char* access_key : {"", "AKIAEXAMPLE"}) {
        AuditEvent e = base;
        e.principal = p;
        e.access_key_id = access_key;
        if (created) e.session_creation_time = At(60) + std::chrono::milliseconds(999);
        events.push_back(e);
      }
    }
  }
  AuditEvent unknown = base;
  unknown.principal.reset();
  events.push_back(unknown);
  unknown.access_key_id.clear();
  events.push_back(unknown);

  // Failed calls, TLS, resources.
  AuditEvent failed = base;
  failed.error_code = "AccessDeniedException";
  failed.error_message = "User: arn:aws:iam::111122223333:user/Alice is not authorized";
  events.push_back(failed);
  failed.error_message.reset();
  events.push_back(failed);
  failed.error_code.reset();
  failed.error_message = "";
  events.push_back(failed);
  AuditEvent tls = base;
  tls.tls = TlsDetails{"TLSv1.3", "TLS_AES_256_GCM_SHA384", "kms.example.internal:8443"};
  events.push_back(tls);
  tls.tls = TlsDetails{};
  events.push_back(tls);
  for (size_t count : {0, 1, 2, 5}) {
    AuditEvent e = base;
    e.resources.clear();
    for (size_t i = 0; i < count; ++i) {
      e.resources.push_back(AuditResource::Of(
          "arn:aws:kms:us-east-1:111122223333:key/" + std::to_string(i % 2), "AWS::KMS::Key"));
    }
    events.push_back(e);
  }

  // Every interesting text in each text field.
  std::vector<std::string> texts;
  for (std::string_view piece : kTextPieces) {
    texts.emplace_back(piece);
    texts.push_back("x" + std::string(piece) + "y");
    texts.push_back(std::string(piece) + std::string(piece));
  }
  texts.push_back("");
  texts.push_back(std::string(1000, 'a') + "\xe2\x82");
  texts.push_back("\xe2\x82\xe2\x82\xac\xf0\x9f\xf0\x9f\x98\x80\xed\x9f\xbf\xed\xa0\xc3");
  for (const std::string& text : texts) {
    AuditEvent e = base;
    e.event_source = text;
    e.event_name = text;
    e.event_id = text;
    e.request_id = text;
    e.user_agent = text;
    e.source_ip = text;
    e.region = text;
    e.account_id = text;
    e.access_key_id = text;
    e.error_code = text;
    e.error_message = text;
    e.resources = {AuditResource{text, text, text}, AuditResource::Of(text, text)};
    e.tls = TlsDetails{text, text, text};
    events.push_back(e);
    e.principal = policy::Principal::IamUser("arn:aws:iam::1:user/" + text, text);
    events.push_back(e);
    e.principal = policy::Principal::AssumedRole(text + "/" + text, text, text);
    events.push_back(e);
    e.principal->user_id = text;  // perhaps no ':'
    events.push_back(e);
    e.principal = policy::Principal::Service(text);
    events.push_back(e);
  }

  for (const std::string& text : EmbeddedTexts()) {
    AuditEvent e = base;
    e.request_parameters = text;
    e.response_elements = text;
    events.push_back(e);
  }

  // Times: before 1970, fractions, the ends of a TimePoint.
  for (TimePoint t : {TimePoint(), TimePoint(Duration(-1)), FromEpochMillis(-1500),
                      At(0) + std::chrono::nanoseconds(999999999),
                      TimePoint::min() + std::chrono::seconds(1), TimePoint::max()}) {
    AuditEvent e = base;
    e.event_time = t;
    e.principal = principals[4];
    e.session_creation_time = t;
    events.push_back(e);
  }
  return events;
}

constexpr int kRandomEvents = 5000;

// Where two records part, for a readable failure.
std::string FirstDifference(const std::string& got, const std::string& want) {
  size_t at = 0;
  while (at < got.size() && at < want.size() && got[at] == want[at]) ++at;
  size_t from = at < 40 ? 0 : at - 40;
  return "at byte " + std::to_string(at) + "\n  got:  …" + got.substr(from, 100) + "\n  want: …" +
         want.substr(from, 100);
}

::testing::AssertionResult BuildsAsReference(const AuditEvent& e) {
  std::string got = BuildCloudTrailRecord(e);
  std::string want = ReferenceBuild(e);
  if (got == want) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << FirstDifference(got, want);
}

TEST(CloudTrailRecordTest, WriterMatchesThePreviousImplementationForHandPickedEvents) {
  std::vector<AuditEvent> events = HandPickedEvents();
  ASSERT_GT(events.size(), 500u);
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_TRUE(BuildsAsReference(events[i])) << "hand-picked event " << i;
  }
}

TEST(CloudTrailRecordTest, WriterMatchesThePreviousImplementationForRandomEvents) {
  Prng rng(20260101);
  int failures = 0;
  for (int i = 0; i < kRandomEvents && failures < 10; ++i) {
    AuditEvent e = RandomEvent(rng);
    ::testing::AssertionResult same = BuildsAsReference(e);
    if (!same) ++failures;
    EXPECT_TRUE(same) << "random event " << i;
  }
}

TEST(CloudTrailRecordTest, WriterCopiesCompactObjectsAndRewritesTheRest) {
  // Spot checks of the differential tests' subject, readable on their own.
  auto parameters = [](std::string text) {
    AuditEvent e = DecryptByAlice();
    e.request_parameters = std::move(text);
    std::string record = BuildCloudTrailRecord(e);
    size_t from = record.find("\"requestParameters\":") + 20;
    size_t to = record.find(",\"responseElements\":");
    return record.substr(from, to - from);
  };
  EXPECT_EQ(parameters(R"({"a":[1,{"b":null}],"c":"d e"})"), R"({"a":[1,{"b":null}],"c":"d e"})");
  EXPECT_EQ(parameters(R"({ "a" : [ 1 , 2 ] })"), R"({"a":[1,2]})");
  EXPECT_EQ(parameters(R"({"a":1,"b":2,"a":3})"), R"({"a":3,"b":2})");
  EXPECT_EQ(parameters(R"({"n":1e2,"m":-0,"f":1.50})"), R"({"n":100.0,"m":0,"f":1.5})");
  EXPECT_EQ(parameters(R"({"s":"\/\u00e9\n"})"), "{\"s\":\"/\xc3\xa9\\n\"}");
  EXPECT_EQ(parameters("\xef\xbb\xbf{\"a\":1}"), R"({"a":1})");
  EXPECT_EQ(parameters("[1]"), "null");
  EXPECT_EQ(parameters("null"), "null");
}

// ---- SummarizeEvent against the parsed record --------------------------------------

::testing::AssertionResult SummarizesAsParsed(const AuditEvent& e) {
  auto parsed = ParseCloudTrailRecord(BuildCloudTrailRecord(e));
  if (!parsed.ok()) {
    return ::testing::AssertionFailure() << "record not parsed: " << parsed.status().ToString();
  }
  AuditEventSummary got = SummarizeEvent(e);
  const AuditEventSummary& want = *parsed;
  auto result = ::testing::AssertionSuccess();
  bool same = true;
  auto field = [&](const char* name, const auto& g, const auto& w) {
    if (g == w) return;
    same = false;
    result = ::testing::AssertionFailure()
             << name << " differs: got '" << ::testing::PrintToString(g) << "', parsed '"
             << ::testing::PrintToString(w) << "'";
  };
  field("event_id", got.event_id, want.event_id);
  field("event_name", got.event_name, want.event_name);
  field("event_source", got.event_source, want.event_source);
  field("read_only", got.read_only, want.read_only);
  field("access_key_id", got.access_key_id, want.access_key_id);
  field("username", got.username, want.username);
  field("event_time", got.event_time.time_since_epoch().count(),
        want.event_time.time_since_epoch().count());
  field("resources.size()", got.resources.size(), want.resources.size());
  for (size_t i = 0; same && i < got.resources.size(); ++i) {
    field("resource_type", got.resources[i].resource_type, want.resources[i].resource_type);
    field("resource_name", got.resources[i].resource_name, want.resources[i].resource_name);
  }
  return result;
}

TEST(CloudTrailRecordTest, SummaryOfAnEventIsTheParsedRecordsForHandPickedEvents) {
  std::vector<AuditEvent> events = HandPickedEvents();
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_TRUE(SummarizesAsParsed(events[i])) << "hand-picked event " << i;
  }
}

TEST(CloudTrailRecordTest, SummaryOfAnEventIsTheParsedRecordsForRandomEvents) {
  Prng rng(20260101);
  int failures = 0;
  for (int i = 0; i < kRandomEvents && failures < 10; ++i) {
    AuditEvent e = RandomEvent(rng);
    ::testing::AssertionResult same = SummarizesAsParsed(e);
    if (!same) ++failures;
    EXPECT_TRUE(same) << "random event " << i;
  }
}

TEST(CloudTrailRecordTest, SummaryReplacesInvalidUtf8AndDropsTheFraction) {
  AuditEvent e = DecryptByAlice();
  e.principal = policy::Principal::IamUser("arn:aws:iam::111122223333:user/Al\xffice", "AIDA1");
  e.event_name = "Decrypt\xe2\x82";
  e.event_time = At(3661) + std::chrono::milliseconds(999);
  AuditEventSummary s = SummarizeEvent(e);
  EXPECT_EQ(s.username, "Al\xef\xbf\xbdice");
  EXPECT_EQ(s.event_name, "Decrypt\xef\xbf\xbd");
  EXPECT_EQ(s.event_time, At(3661));
}

}  // namespace
}  // namespace coffer::audit
