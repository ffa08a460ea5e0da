// What the KMS codec (src/api/kms_json.cc) tells the audit record of each call: for
// every operation, a request as the aws CLI sends it, decoded and run on a real
// KeyService; its eventSource, readOnly, requestParameters, resources and
// responseElements as AWS KMS records them, and no secret anywhere in them or in the
// record built from them: not the plaintext (its bytes or its base64), not a
// ciphertext blob, not a data key, not random bytes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "api/kms_json.h"
#include "audit/cloudtrail_record.h"
#include "common/bytes.h"
#include "kms/kms_fixture.h"

namespace coffer::api {
namespace {

using ::coffer::kms::testing::KmsTest;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using Json = nlohmann::json;

constexpr char kAccount[] = "111122223333";
constexpr char kPlaintext[] = "The eagle lands at midnight; bring the blue folder.";
constexpr char kAllowRootPolicy[] =
    R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":)"
    R"("arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]})";

std::string Quote(std::string_view s) { return Json(std::string(s)).dump(); }
std::string B64(std::string_view s) { return Base64Encode(AsBytes(s)); }

AuditResource Key(const std::string& arn) { return AuditResource::Of(arn, "AWS::KMS::Key"); }

class KmsJsonAuditTest : public KmsTest {
 protected:
  void SetUp() override {
    KmsTest::SetUp();
    a_ = NewKey();
    b_ = NewKey();
    ASSERT_OK(kms().CreateAlias("alias/backup", a_));
    secrets_ = {kPlaintext, B64(kPlaintext)};
  }

  // A call prepared from `body` and run (both must succeed).
  struct Ran {
    Call call;
    Reply reply;
    Json body;  // the reply body, parsed (null when empty)
  };

  // Prepares and runs; checks what every record needs, notes the secrets of the
  // request and of the reply, and checks that no secret noted so far appears in the
  // record fields or in a record built from them.
  Ran Run(std::string_view op, const std::string& body) {
    ran_.insert(std::string(op));
    Ran out;
    NoteSecrets(Json::parse(body, nullptr, /*allow_exceptions=*/false));
    auto call = PrepareKmsCall(kms(), op, body);
    if (!call.ok()) {
      ADD_FAILURE() << op << " " << body << ": " << call.status().ToString();
      return out;
    }
    out.call = std::move(*call);
    EXPECT_EQ(out.call.operation, op);
    EXPECT_EQ(out.call.event_source, "kms.amazonaws.com");
    // A refused call is recorded from what was known before it ran.
    const std::string before_run = out.call.request_parameters;
    auto reply = out.call.run();
    if (!reply.ok()) {
      ADD_FAILURE() << op << " " << body << ": " << reply.status().ToString();
      return out;
    }
    out.reply = std::move(*reply);
    EXPECT_EQ(out.call.request_parameters, before_run);
    if (!out.reply.body.empty()) out.body = Json::parse(out.reply.body);
    NoteSecrets(out.body);
    CheckNoSecrets(out);
    return out;
  }

  // The parsed requestParameters / responseElements (which must be JSON objects or null).
  static Json Parsed(const std::string& text) {
    Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
    EXPECT_TRUE(j.is_object() || j.is_null()) << text;
    return j;
  }

  void NoteSecrets(const Json& doc) {
    if (!doc.is_object()) return;
    // A grant token is the grantee's: never recorded either.
    for (const char* member : {"Plaintext", "CiphertextBlob", "GrantToken"}) {
      auto it = doc.find(member);
      if (it == doc.end() || !it->is_string()) continue;
      std::string b64 = it->get<std::string>();
      secrets_.push_back(b64);
      auto raw = Base64Decode(b64);
      ASSERT_TRUE(raw.ok());
      // The bytes themselves, and as JSON would escape them.
      secrets_.push_back(ToString(*raw));
      secrets_.push_back(Json(ToString(*raw)).dump(-1, ' ', false, Json::error_handler_t::replace));
    }
  }

  void CheckNoSecrets(const Ran& r) {
    audit::AuditEvent e;
    e.principal = policy::Principal::Root(kAccount);
    e.account_id = kAccount;
    e.event_source = r.call.event_source;
    e.event_name = r.call.operation;
    e.request_parameters = r.call.request_parameters;
    e.response_elements = r.reply.response_elements;
    e.additional_event_data = r.call.additional_event_data;
    e.read_only = r.call.read_only;
    e.resources = r.call.resources;
    e.resources.insert(e.resources.end(), r.reply.resources.begin(), r.reply.resources.end());
    const std::string record = audit::BuildCloudTrailRecord(e);
    for (const std::string& secret : secrets_) {
      if (secret.size() < 8) continue;  // too short not to occur by chance
      for (const std::string* field : {&r.call.request_parameters, &r.reply.response_elements,
                                       &r.call.additional_event_data, &record}) {
        EXPECT_EQ(field->find(secret), std::string::npos)
            << r.call.operation << " records a secret: " << *field;
      }
    }
  }

  std::string Body(std::string_view key_id) { return "{\"KeyId\": " + Quote(key_id) + "}"; }

  std::string a_, b_;  // key ids; alias/backup names a_
  std::vector<std::string> secrets_;
  std::set<std::string> ran_;  // the operations Run was given
};

// The expected keyMetadata of a CreateKey record, from the reply's KeyMetadata.
Json RecordedKeyMetadata(const Json& m) {
  return {{"AWSAccountId", m["AWSAccountId"]},
          {"keyId", m["KeyId"]},
          {"arn", m["Arn"]},
          {"creationDate", "Jan 1, 2026, 12:00:00 AM"},
          {"enabled", m["Enabled"]},
          {"description", m["Description"]},
          {"keyUsage", m["KeyUsage"]},
          {"keyState", m["KeyState"]},
          {"origin", m["Origin"]},
          {"keyManager", m["KeyManager"]},
          {"customerMasterKeySpec", m["CustomerMasterKeySpec"]},
          {"keySpec", m["KeySpec"]},
          {"encryptionAlgorithms", m["EncryptionAlgorithms"]},
          {"multiRegion", m["MultiRegion"]},
          {"currentKeyMaterialId", m["CurrentKeyMaterialId"]}};
}

TEST_F(KmsJsonAuditTest, EveryOperation) {
  const std::string arn_a = Arn(a_), arn_b = Arn(b_);

  // ---- keys ----
  {
    Ran r = Run("CreateKey", R"({"Description": "backups", "KeyUsage": "ENCRYPT_DECRYPT", )"
                             R"("BypassPolicyLockoutSafetyCheck": false, )"
                             R"("Tags": [{"TagKey": "team", "TagValue": "storage"}]})");
    EXPECT_FALSE(r.call.read_only);
    EXPECT_EQ(r.call.request_parameters, R"({"description":"backups","keyUsage":"ENCRYPT_DECRYPT",)"
                                         R"("bypassPolicyLockoutSafetyCheck":false,)"
                                         R"("tags":[{"tagKey":"team","tagValue":"storage"}]})");
    // The new key is known only once the call ran.
    EXPECT_THAT(r.call.resources, IsEmpty());
    const Json& m = r.body["KeyMetadata"];
    EXPECT_THAT(r.reply.resources, ElementsAre(Key(m["Arn"].get<std::string>())));
    EXPECT_EQ(Parsed(r.reply.response_elements), (Json{{"keyMetadata", RecordedKeyMetadata(m)}}));
    // In the order of AWS's example.
    EXPECT_EQ(r.reply.response_elements.find(R"({"keyMetadata":{"AWSAccountId":"111122223333",)"
                                             R"("keyId":")"),
              0u);
  }
  {
    Ran r = Run("DescribeKey", R"({"KeyId": "alias/backup"})");
    EXPECT_TRUE(r.call.read_only);
    EXPECT_EQ(r.call.request_parameters, R"({"keyId":"alias/backup"})");  // as given
    EXPECT_THAT(r.call.resources, ElementsAre(Key(arn_a)));
    EXPECT_EQ(r.reply.response_elements, "null");  // AWS's DescribeKey example
  }
  {
    Ran r = Run("UpdateKeyDescription",
                "{\"KeyId\": " + Quote(a_) + ", \"Description\": \"nightly backups\"}");
    EXPECT_FALSE(r.call.read_only);
    EXPECT_EQ(r.call.request_parameters,
              "{\"keyId\":" + Quote(a_) + ",\"description\":\"nightly backups\"}");
    EXPECT_THAT(r.call.resources, ElementsAre(Key(arn_a)));
    EXPECT_EQ(r.reply.response_elements, "null");
  }
  for (const char* op : {"DisableKey", "EnableKey"}) {
    Ran r = Run(op, Body(arn_a));
    EXPECT_FALSE(r.call.read_only) << op;
    EXPECT_EQ(r.call.request_parameters, "{\"keyId\":" + Quote(arn_a) + "}") << op;
    EXPECT_THAT(r.call.resources, ElementsAre(Key(arn_a))) << op;
    EXPECT_EQ(r.reply.response_elements, "null") << op;
  }

  // ---- rotation ----
  {
    Ran r =
        Run("EnableKeyRotation", "{\"KeyId\": " + Quote(a_) + ", \"RotationPeriodInDays\": 180}");
    EXPECT_FALSE(r.call.read_only);
    EXPECT_EQ(r.call.request_parameters,
              "{\"keyId\":" + Quote(a_) + ",\"rotationPeriodInDays\":180}");
    EXPECT_THAT(r.call.resources, ElementsAre(Key(arn_a)));
    EXPECT_EQ(r.reply.response_elements, "null");
  }
  {
    Ran r = Run("GetKeyRotationStatus", Body(a_));
    EXPECT_TRUE(r.call.read_only);
    EXPECT_EQ(r.call.request_parameters, "{\"keyId\":" + Quote(a_) + "}");
    EXPECT_THAT(r.call.resources, ElementsAre(Key(arn_a)));
    EXPECT_EQ(r.reply.response_elements, "null");
  }
  {
    Ran r = Run("RotateKeyOnDemand", Body(a_));
    EXPECT_FALSE(r.call.read_only);
    EXPECT_EQ(r.call.request_parameters, "{\"keyId\":" + Quote(a_) + "}");
    EXPECT_THAT(r.call.resources, ElementsAre(Key(arn_a)));
    EXPECT_EQ(r.reply.response_elements, "{\"keyId\":" + Quote(arn_a) + "}");
  }
  {
    Ran r = Run("ListKeyRotations", "{\"KeyId\": " + Quote(a_) +
                                        ", \"IncludeKeyMaterial\": \"ROTATIONS_ONLY\", "
                                        "\"Limit\": 10}");
    EXPECT_TRUE(r.call.read_only);
    EXPECT_EQ(
        r.call.request_parameters,
        "{\"keyId\":" + Quote(a_) + ",\"includeKeyMaterial\":\"ROTATIONS_ONLY\",\"limit\":10}");
    EXPECT_THAT(r.call.resources, ElementsAre(Key(arn_a)));
    EXPECT_EQ(r.reply.response_elements, "null");
  }
  {
    Ran r = Run("DisableKeyRotation", Body(a_));
    EXPECT_FALSE(r.call.read_only);
    EXPECT_EQ(r.call.request_parameters, "{\"keyId\":" + Quote(a_) + "}");
    EXPECT_THAT(r.call.resources, ElementsAre(Key(arn_a)));
    EXPECT_EQ(r.reply.response_elements, "null");
  }

  // ---- key policies ----
  {
    Ran r = Run("GetKeyPolicy", "{\"KeyId\": " + Quote(a_) + ", \"PolicyName\": \"default\"}");
    EXPECT_TRUE(r.call.read_only);
    EXPECT_EQ(r.call.request_parameters,
              "{\"keyId\":" + Quote(a_) + ",\"policyName\":\"default\"}");
    EXPECT_THAT(r.call.resources, ElementsAre(Key(arn_a)));
    // AWS omits the policy it returns.
    EXPECT_EQ(r.reply.response_elements, "null");
  }
  {
    Ran r = Run("PutKeyPolicy",
                "{\"KeyId\": " + Quote(a_) + ", \"PolicyName\": \"default\", \"Policy\": " +
                    Quote(kAllowRootPolicy) + ", \"BypassPolicyLockoutSafetyCheck\": false}");
    EXPECT_FALSE(r.call.read_only);
    // The policy is recorded, as AWS records it.
    EXPECT_EQ(r.call.request_parameters,
              "{\"keyId\":" + Quote(a_) + ",\"policyName\":\"default\",\"policy\":" +
                  Quote(kAllowRootPolicy) + ",\"bypassPolicyLockoutSafetyCheck\":false}");
    EXPECT_THAT(r.call.resources, ElementsAre(Key(arn_a)));
    EXPECT_EQ(r.reply.response_elements, "null");
  }
  {
    Ran r = Run("ListKeyPolicies", "{\"KeyId\": " + Quote(a_) + ", \"Limit\": 1}");
    EXPECT_TRUE(r.call.read_only);
    EXPECT_EQ(r.call.request_parameters, "{\"keyId\":" + Quote(a_) + ",\"limit\":1}");
    EXPECT_THAT(r.call.resources, ElementsAre(Key(arn_a)));
    EXPECT_EQ(r.reply.response_elements, "null");
  }

  // ---- tags ----
  {
    Ran r = Run("TagResource", "{\"KeyId\": " + Quote(arn_a) +
                                   R"(, "Tags": [{"TagKey": "env", "TagValue": "prod"}]})");
    EXPECT_FALSE(r.call.read_only);
    EXPECT_EQ(r.call.request_parameters,
              "{\"keyId\":" + Quote(arn_a) + R"(,"tags":[{"tagKey":"env","tagValue":"prod"}]})");
    EXPECT_THAT(r.call.resources, ElementsAre(Key(arn_a)));
    EXPECT_EQ(r.reply.response_elements, "null");
  }
  {
    Ran r = Run("ListResourceTags", "{\"KeyId\": " + Quote(a_) + ", \"Limit\": 50}");
    EXPECT_TRUE(r.call.read_only);
    EXPECT_EQ(r.call.request_parameters, "{\"keyId\":" + Quote(a_) + ",\"limit\":50}");
    EXPECT_THAT(r.call.resources, ElementsAre(Key(arn_a)));
    EXPECT_EQ(r.reply.response_elements, "null");
  }
  {
    Ran r = Run("UntagResource", "{\"KeyId\": " + Quote(arn_a) + R"(, "TagKeys": ["env"]})");
    EXPECT_FALSE(r.call.read_only);
    EXPECT_EQ(r.call.request_parameters, "{\"keyId\":" + Quote(arn_a) + R"(,"tagKeys":["env"]})");
    EXPECT_THAT(r.call.resources, ElementsAre(Key(arn_a)));
    EXPECT_EQ(r.reply.response_elements, "null");
  }

  // ---- aliases ----
  const std::string alias_arn = AliasArn("alias/reports");
  {
    Ran r =
        Run("CreateAlias", R"({"AliasName": "alias/reports", "TargetKeyId": )" + Quote(a_) + "}");
    EXPECT_FALSE(r.call.read_only);
    EXPECT_EQ(r.call.request_parameters,
              R"({"aliasName":"alias/reports","targetKeyId":)" + Quote(a_) + "}");
    // The key, then the alias (AWS's CreateAlias example, both typed AWS::KMS::Key).
    EXPECT_THAT(r.call.resources, ElementsAre(Key(arn_a), Key(alias_arn)));
    EXPECT_EQ(r.reply.response_elements, "null");
  }
  {
    Ran r =
        Run("UpdateAlias", R"({"AliasName": "alias/reports", "TargetKeyId": )" + Quote(b_) + "}");
    EXPECT_FALSE(r.call.read_only);
    EXPECT_EQ(r.call.request_parameters,
              R"({"aliasName":"alias/reports","targetKeyId":)" + Quote(b_) + "}");
    // The alias, then the key it now names (AWS's UpdateAlias example).
    EXPECT_THAT(r.call.resources, ElementsAre(Key(alias_arn), Key(arn_b)));
    EXPECT_EQ(r.reply.response_elements, "null");
  }
  {
    Ran r = Run("ListAliases", "{\"KeyId\": " + Quote(b_) + ", \"Limit\": 100}");
    EXPECT_TRUE(r.call.read_only);
    EXPECT_EQ(r.call.request_parameters, "{\"keyId\":" + Quote(b_) + ",\"limit\":100}");
    EXPECT_THAT(r.call.resources, IsEmpty());  // AWS's ListAliases example
    EXPECT_EQ(r.reply.response_elements, "null");
  }
  {
    Ran r = Run("DeleteAlias", R"({"AliasName": "alias/reports"})");
    EXPECT_FALSE(r.call.read_only);
    EXPECT_EQ(r.call.request_parameters, R"({"aliasName":"alias/reports"})");
    EXPECT_THAT(r.call.resources, ElementsAre(Key(alias_arn), Key(arn_b)));
    EXPECT_EQ(r.reply.response_elements, "null");
  }
  {
    Ran r = Run("ListKeys", R"({"Limit": 2})");
    EXPECT_TRUE(r.call.read_only);
    EXPECT_EQ(r.call.request_parameters, R"({"limit":2})");
    EXPECT_THAT(r.call.resources, IsEmpty());
    EXPECT_EQ(r.reply.response_elements, "null");
    // A request without members: null, as CloudTrail records it.
    EXPECT_EQ(Run("ListKeys", "{}").call.request_parameters, "null");
  }

  // ---- cryptography ----
  std::string blob;
  {
    Ran r =
        Run("Encrypt", "{\"KeyId\": \"alias/backup\", \"Plaintext\": " + Quote(B64(kPlaintext)) +
                           R"(, "EncryptionContext": {"purpose": "test", "db": "orders"}})");
    EXPECT_TRUE(r.call.read_only);  // AWS records every cryptographic operation as read-only
    // Never the plaintext; the algorithm the call ran with although not given.
    EXPECT_EQ(r.call.request_parameters,
              R"({"keyId":"alias/backup","encryptionContext":{"db":"orders","purpose":"test"},)"
              R"("encryptionAlgorithm":"SYMMETRIC_DEFAULT"})");
    EXPECT_THAT(r.call.resources, ElementsAre(Key(arn_a)));
    EXPECT_EQ(r.reply.response_elements, "null");
    blob = r.body["CiphertextBlob"];
  }
  {
    Ran r = Run("Decrypt", "{\"CiphertextBlob\": " + Quote(blob) +
                               R"(, "EncryptionContext": {"db": "orders", "purpose": "test"}})");
    EXPECT_TRUE(r.call.read_only);
    EXPECT_EQ(r.call.request_parameters, R"({"encryptionContext":{"db":"orders","purpose":"test"},)"
                                         R"("encryptionAlgorithm":"SYMMETRIC_DEFAULT"})");
    // The key of the ciphertext, though the request named none.
    EXPECT_THAT(r.call.resources, ElementsAre(Key(arn_a)));
    EXPECT_EQ(r.reply.response_elements, "null");
    EXPECT_EQ(r.body["Plaintext"], B64(kPlaintext));  // the reply has it; the record not
  }
  {
    // Every member a client may send, grant tokens and dry run included.
    Ran r =
        Run("Decrypt", "{\"CiphertextBlob\": " + Quote(blob) +
                           R"(, "EncryptionContext": {"db": "orders", "purpose": "test"}, )"
                           R"("KeyId": "alias/backup", "EncryptionAlgorithm": )"
                           R"("SYMMETRIC_DEFAULT", "GrantTokens": ["grant-token-bearer-0001"], )"
                           R"("DryRun": false})");
    EXPECT_EQ(r.call.request_parameters,
              R"({"keyId":"alias/backup","encryptionContext":{"db":"orders","purpose":"test"},)"
              R"("encryptionAlgorithm":"SYMMETRIC_DEFAULT","dryRun":false})");
    EXPECT_THAT(r.call.resources, ElementsAre(Key(arn_a)));
  }
  {
    Ran r =
        Run("ReEncrypt", "{\"CiphertextBlob\": " + Quote(blob) +
                             R"(, "SourceEncryptionContext": {"db": "orders", "purpose": )"
                             R"("test"}, "DestinationKeyId": )" +
                             Quote(b_) + R"(, "DestinationEncryptionContext": {"Level": "3A"}})");
    EXPECT_TRUE(r.call.read_only);
    EXPECT_EQ(r.call.request_parameters,
              R"({"sourceEncryptionContext":{"db":"orders","purpose":"test"},)"
              R"("sourceEncryptionAlgorithm":"SYMMETRIC_DEFAULT","destinationKeyId":)" +
                  Quote(b_) +
                  R"(,"destinationEncryptionContext":{"Level":"3A"},)"
                  R"("destinationEncryptionAlgorithm":"SYMMETRIC_DEFAULT"})");
    // The source key, then the destination (AWS's ReEncrypt example).
    EXPECT_THAT(r.call.resources, ElementsAre(Key(arn_a), Key(arn_b)));
    EXPECT_EQ(r.reply.response_elements, "null");
  }
  {
    Ran r = Run("GenerateDataKey", "{\"KeyId\": " + Quote(a_) +
                                       R"(, "KeySpec": "AES_256", "EncryptionContext": )"
                                       R"({"Project": "Alpha"}})");
    EXPECT_TRUE(r.call.read_only);
    EXPECT_EQ(r.call.request_parameters,
              "{\"keyId\":" + Quote(a_) +
                  R"(,"encryptionContext":{"Project":"Alpha"},"keySpec":"AES_256"})");
    EXPECT_THAT(r.call.resources, ElementsAre(Key(arn_a)));
    EXPECT_EQ(r.reply.response_elements, "null");
    ASSERT_TRUE(r.body.contains("Plaintext"));  // the data key, noted as a secret
  }
  {
    Ran r = Run("GenerateDataKeyWithoutPlaintext",
                "{\"KeyId\": " + Quote(arn_a) + ", \"NumberOfBytes\": 64}");
    EXPECT_TRUE(r.call.read_only);
    EXPECT_EQ(r.call.request_parameters, "{\"keyId\":" + Quote(arn_a) + ",\"numberOfBytes\":64}");
    EXPECT_THAT(r.call.resources, ElementsAre(Key(arn_a)));
    EXPECT_EQ(r.reply.response_elements, "null");
  }
  {
    Ran r = Run("GenerateRandom", R"({"NumberOfBytes": 32})");
    EXPECT_TRUE(r.call.read_only);
    EXPECT_EQ(r.call.request_parameters, R"({"numberOfBytes":32})");
    EXPECT_THAT(r.call.resources, IsEmpty());  // AWS: no key, no resource
    EXPECT_EQ(r.reply.response_elements, "null");
    ASSERT_TRUE(r.body.contains("Plaintext"));
  }

  // ---- grants ----
  std::string grant_id, grant_token;
  {
    Ran r =
        Run("CreateGrant", "{\"KeyId\": " + Quote(a_) +
                               R"(, "GranteePrincipal": "arn:aws:iam::111122223333:root", )"
                               R"("Operations": ["Decrypt", "RetireGrant"], "Constraints": )"
                               R"({"EncryptionContextEquals": {"db": "orders"}}, "Name": "n1"})");
    EXPECT_FALSE(r.call.read_only);
    EXPECT_EQ(r.call.request_parameters,
              "{\"keyId\":" + Quote(a_) +
                  R"(,"granteePrincipal":"arn:aws:iam::111122223333:root","operations":)"
                  R"(["Decrypt","RetireGrant"],"constraints":{"encryptionContextEquals":)"
                  R"({"db":"orders"}},"name":"n1"})");
    EXPECT_THAT(r.call.resources, ElementsAre(Key(arn_a)));
    grant_id = r.body["GrantId"];
    grant_token = r.body["GrantToken"];
    // The grant id and the key; never the token.
    EXPECT_EQ(r.reply.response_elements,
              "{\"grantId\":" + Quote(grant_id) + ",\"keyId\":" + Quote(arn_a) + "}");
    EXPECT_EQ(r.call.grant_principals, std::vector<std::string>{"arn:aws:iam::111122223333:root"});
  }
  {
    Ran r = Run("ListGrants", "{\"KeyId\": " + Quote(a_) + ", \"Limit\": 5}");
    EXPECT_TRUE(r.call.read_only);
    EXPECT_EQ(r.call.request_parameters, "{\"limit\":5,\"keyId\":" + Quote(a_) + "}");
    EXPECT_THAT(r.call.resources, ElementsAre(Key(arn_a)));
    EXPECT_EQ(r.reply.response_elements, "null");
    EXPECT_EQ(r.body["Grants"][0]["GrantId"], grant_id);
  }
  {
    Ran r = Run("ListRetirableGrants",
                R"({"RetiringPrincipal": "arn:aws:iam::111122223333:user/ops"})");
    EXPECT_TRUE(r.call.read_only);
    EXPECT_EQ(r.call.request_parameters,
              R"({"retiringPrincipal":"arn:aws:iam::111122223333:user/ops"})");
    EXPECT_THAT(r.call.resources, IsEmpty());
    EXPECT_EQ(r.body["Grants"].size(), 0u);
  }
  {
    Ran r = Run("RetireGrant", "{\"GrantToken\": " + Quote(grant_token) + "}");
    EXPECT_FALSE(r.call.read_only);
    // AWS's RetireGrant entry: no request parameters, the grant id apart.
    EXPECT_EQ(r.call.request_parameters, "null");
    EXPECT_EQ(r.call.additional_event_data, "{\"grantId\":" + Quote(grant_id) + "}");
    EXPECT_THAT(r.call.resources, ElementsAre(Key(arn_a)));
    EXPECT_EQ(r.reply.response_elements, "null");
  }
  {
    Ran made = Run("CreateGrant", "{\"KeyId\": " + Quote(a_) +
                                      R"(, "GranteePrincipal": "arn:aws:iam::111122223333:root", )"
                                      R"("Operations": ["Encrypt"]})");
    std::string id = made.body["GrantId"];
    Ran r = Run("RevokeGrant", "{\"KeyId\": " + Quote(a_) + ", \"GrantId\": " + Quote(id) + "}");
    EXPECT_FALSE(r.call.read_only);
    EXPECT_EQ(r.call.request_parameters,
              "{\"keyId\":" + Quote(a_) + ",\"grantId\":" + Quote(id) + "}");
    EXPECT_THAT(r.call.resources, ElementsAre(Key(arn_a)));
    EXPECT_EQ(r.reply.response_elements, "null");
  }

  // ---- deletion ----
  {
    Ran r =
        Run("ScheduleKeyDeletion", "{\"KeyId\": " + Quote(b_) + ", \"PendingWindowInDays\": 7}");
    EXPECT_FALSE(r.call.read_only);
    EXPECT_EQ(r.call.request_parameters, "{\"keyId\":" + Quote(b_) + ",\"pendingWindowInDays\":7}");
    EXPECT_THAT(r.call.resources, ElementsAre(Key(arn_b)));
    auto described = kms().DescribeKey(b_);
    ASSERT_TRUE(described.ok() && described->deletion_date);
    EXPECT_EQ(r.reply.response_elements,
              "{\"keyId\":" + Quote(arn_b) + ",\"deletionDate\":" +
                  Quote(audit::FormatResponseElementsDate(*described->deletion_date)) +
                  R"(,"keyState":"PendingDeletion","pendingWindowInDays":7})");
    EXPECT_EQ(audit::FormatResponseElementsDate(*described->deletion_date),
              "Jan 8, 2026, 12:00:00 AM");
  }
  {
    Ran r = Run("CancelKeyDeletion", Body(b_));
    EXPECT_FALSE(r.call.read_only);
    EXPECT_EQ(r.call.request_parameters, "{\"keyId\":" + Quote(b_) + "}");
    EXPECT_THAT(r.call.resources, ElementsAre(Key(arn_b)));
    // AWS's CancelKeyDeletion example: the key's ARN.
    EXPECT_EQ(r.reply.response_elements, "{\"keyId\":" + Quote(arn_b) + "}");
  }

  // Every operation the codec serves was run above.
  EXPECT_EQ(ran_, std::set<std::string>(KmsSupportedOperations().begin(),
                                        KmsSupportedOperations().end()));
}

TEST_F(KmsJsonAuditTest, ACallThatFailsIsRecordedWithoutItsSecrets) {
  std::string blob;
  {
    Ran r = Run("Encrypt",
                "{\"KeyId\": " + Quote(a_) + ", \"Plaintext\": " + Quote(B64(kPlaintext)) + "}");
    blob = r.body["CiphertextBlob"];
  }
  // Decrypt with the wrong context: prepared (and so recorded), then refused by the engine.
  auto call = PrepareKmsCall(
      kms(), "Decrypt",
      "{\"CiphertextBlob\": " + Quote(blob) + R"(, "EncryptionContext": {"guess": "wrong"}})");
  ASSERT_TRUE(call.ok()) << call.status().ToString();
  EXPECT_EQ(call->request_parameters,
            R"({"encryptionContext":{"guess":"wrong"},"encryptionAlgorithm":"SYMMETRIC_DEFAULT"})");
  EXPECT_THAT(call->resources, ElementsAre(Key(Arn(a_))));
  EXPECT_FALSE(call->run().ok());
  for (const std::string& secret : secrets_) {
    EXPECT_EQ(call->request_parameters.find(secret), std::string::npos);
  }
  EXPECT_EQ(call->request_parameters.find(blob), std::string::npos);
}

// The exact text: recorded members in the operation's order under lowerCamelCase
// names, object keys sorted, strings escaped as nlohmann escapes them (control
// characters, quotes, backslashes; UTF-8 kept), invalid UTF-8 replaced.
TEST_F(KmsJsonAuditTest, RequestParametersAreCompactJsonInMemberOrder) {
  auto call = PrepareKmsCall(
      kms(), "Encrypt",
      R"({"Plaintext":")" + B64("x") +
          R"(","EncryptionContext":{"z":"last","a\"q":"tab\there","\u00e9t\u00e9":"\ud83d\ude00"},)"
          R"("KeyId":"alias/backup","GrantTokens":["t"]})");
  ASSERT_TRUE(call.ok()) << call.status().ToString();
  EXPECT_EQ(call->request_parameters,
            R"({"keyId":"alias/backup","encryptionContext":{"a\"q":"tab\there","z":"last",)"
            "\"\xc3\xa9t\xc3\xa9\":\"\xf0\x9f\x98\x80\"},"
            R"("encryptionAlgorithm":"SYMMETRIC_DEFAULT"})");

  auto tags = PrepareKmsCall(
      kms(), "CreateKey",
      R"({"Description":"d","Tags":[{"TagKey":"k\\1","TagValue":"v"}],"BypassPolicyLockoutSafetyCheck":false})");
  ASSERT_TRUE(tags.ok()) << tags.status().ToString();
  Json parsed = Json::parse(tags->request_parameters);
  EXPECT_EQ(parsed["tags"], Json::parse(R"([{"tagKey":"k\\1","tagValue":"v"}])"));
  EXPECT_EQ(parsed["description"], "d");
  EXPECT_EQ(parsed["bypassPolicyLockoutSafetyCheck"], false);
  EXPECT_EQ(tags->request_parameters.find(' '), std::string::npos);

  auto none = PrepareKmsCall(kms(), "ListKeys", "{}");
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->request_parameters, "null");
}

TEST_F(KmsJsonAuditTest, UnknownMembersAndNullsAreNotRecorded) {
  Ran r = Run("DescribeKey", "{\"KeyId\": " + Quote(a_) +
                                 R"(, "GrantTokens": null, "Surprise": {"a": 1}, "Secret": "x"})");
  EXPECT_EQ(r.call.request_parameters, "{\"keyId\":" + Quote(a_) + "}");
  // An empty context given is recorded as given.
  Ran e = Run("Encrypt", "{\"KeyId\": " + Quote(a_) + ", \"Plaintext\": " + Quote(B64(kPlaintext)) +
                             ", \"EncryptionContext\": {}, "
                             "\"EncryptionAlgorithm\": \"SYMMETRIC_DEFAULT\", \"DryRun\": false}");
  EXPECT_EQ(
      e.call.request_parameters,
      "{\"keyId\":" + Quote(a_) +
          R"(,"encryptionContext":{},"encryptionAlgorithm":"SYMMETRIC_DEFAULT","dryRun":false})");
  // GenerateRandom without members (an empty body): null. (The engine then refuses it.)
  auto random = PrepareKmsCall(kms(), "GenerateRandom", "");
  ASSERT_TRUE(random.ok()) << random.status().ToString();
  EXPECT_EQ(random->request_parameters, "null");
  EXPECT_TRUE(random->resources.empty());
}

}  // namespace
}  // namespace coffer::api
