// The KMS JSON 1.1 codec (src/api/kms_json.cc) and the JSON error table
// (src/api/json_errors.cc), over a real KeyService on a temporary SQLite store.
//
// Request bodies are those aws CLI 1.45 / botocore 1.43 sends (captured against
// a local listener): members in the order given, `": "` and `", "` separators,
// blobs in base64.
#include "api/kms_json.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "api/json_errors.h"
#include "common/bytes.h"
#include "kms/kms_fixture.h"
#include "testing/api_call.h"

namespace coffer::api {
namespace {

using ::coffer::kms::testing::IsError;
using ::coffer::kms::testing::IsOk;
using ::coffer::kms::testing::KmsTest;
using ::testing::HasSubstr;
using ::testing::Not;
using Json = nlohmann::json;

constexpr char kAccount[] = "111122223333";
constexpr char kArnPrefix[] = "arn:aws:kms:us-east-1:111122223333:";
constexpr char kValidation[] = "ValidationException";
constexpr char kSerialization[] = "SerializationException";
constexpr double kStartSeconds = 1767225600.0;  // kms_fixture.h's kStartMillis
constexpr char kAllowRootPolicy[] =
    R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":)"
    R"("arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]})";

// A non-OK Status or Result with this AWS error name, whatever its message.
MATCHER_P(IsErrorNamed, name, "") {
  const Status& st = ::coffer::kms::testing::StatusOf(arg);
  *result_listener << "which is " << (st.ok() ? std::string("OK") : st.ToString());
  return !st.ok() && st.error_name() == std::string_view(name);
}

std::string V1(std::string_view rest) {
  return "1 validation error detected: " + std::string(rest);
}
std::string Quote(std::string_view s) { return Json(std::string(s)).dump(); }
std::string B64(std::string_view s) { return Base64Encode(AsBytes(s)); }

// "<scope> <action> <resource> {k=[v,…], …}": one line per decision, easy to compare.
std::string Describe(const Authorization& a) {
  std::string out = a.scope == PolicyScope::kKmsKey     ? "key "
                    : a.scope == PolicyScope::kIdentity ? "identity "
                                                        : "trust ";
  out += a.action + " " + a.resource + " {";
  bool first = true;
  for (const auto& [k, values] : a.condition_keys) {
    out += (first ? "" : ", ") + k + "=[";
    for (size_t i = 0; i < values.size(); ++i) out += (i ? "," : "") + values[i];
    out += "]";
    first = false;
  }
  return out + "}";
}
std::vector<std::string> Describe(const Call& call) {
  std::vector<std::string> out;
  for (const auto& a : call.authorizations) out.push_back(Describe(a));
  return out;
}

class KmsJsonTest : public KmsTest {
 protected:
  Result<Call> Prepare(std::string_view op, std::string_view body) {
    return testing::UnlessRefused(PrepareKmsCall(kms(), op, body));
  }

  // Prepares and runs a call; its reply body or its error.
  Result<std::string> Invoke(std::string_view op, std::string_view body) {
    ASSIGN_OR_RETURN(Call call, Prepare(op, body));
    EXPECT_EQ(call.operation, op);
    ASSIGN_OR_RETURN(api::Reply reply, call.run());
    return std::move(reply.body);
  }

  // The error of a call, from PrepareKmsCall or from running it.
  Status ErrorOf(std::string_view op, std::string_view body) {
    auto r = Invoke(op, body);
    if (r.ok()) return Status::Ok();
    return r.status();
  }

  // The reply body of a call that must succeed ("<error>" after recording a failure).
  std::string Body(std::string_view op, std::string_view body) {
    auto r = Invoke(op, body);
    if (!r.ok()) {
      ADD_FAILURE() << op << " " << body << ": " << r.status().ToString();
      return "<error>";
    }
    return *r;
  }

  // The parsed reply of a call that must succeed (null after recording a failure).
  Json Reply(std::string_view op, std::string_view body) {
    auto r = Invoke(op, body);
    if (!r.ok()) {
      ADD_FAILURE() << op << " " << body << ": " << r.status().ToString();
      return Json();
    }
    return Json::parse(*r);
  }

  // The decisions PrepareKmsCall asks for (empty after recording a failure).
  std::vector<std::string> DecisionsOf(std::string_view op, std::string_view body) {
    auto call = Prepare(op, body);
    if (!call.ok()) {
      ADD_FAILURE() << op << " " << body << ": " << call.status().ToString();
      return {};
    }
    return Describe(*call);
  }

  std::string KeyJson(std::string_view key_id) { return "{\"KeyId\": " + Quote(key_id) + "}"; }

  // Encrypts through the codec; the base64 blob.
  std::string EncryptB64(std::string_view key_id, std::string_view plaintext,
                         std::string_view context_json = "{}") {
    Json r = Reply("Encrypt", "{\"KeyId\": " + Quote(key_id) +
                                  ", \"Plaintext\": " + Quote(B64(plaintext)) +
                                  ", \"EncryptionContext\": " + std::string(context_json) + "}");
    return r.is_object() ? r["CiphertextBlob"].get<std::string>() : "";
  }
};

// ---- dispatch -------------------------------------------------------------------

TEST_F(KmsJsonTest, SupportsEveryOperationOfTheEngine) {
  std::vector<std::string_view> expected = {"CancelKeyDeletion",
                                            "CreateAlias",
                                            "CreateGrant",
                                            "CreateKey",
                                            "Decrypt",
                                            "DeleteAlias",
                                            "DescribeKey",
                                            "DisableKey",
                                            "DisableKeyRotation",
                                            "EnableKey",
                                            "EnableKeyRotation",
                                            "Encrypt",
                                            "GenerateDataKey",
                                            "GenerateDataKeyWithoutPlaintext",
                                            "GenerateRandom",
                                            "GetKeyPolicy",
                                            "GetKeyRotationStatus",
                                            "ListAliases",
                                            "ListGrants",
                                            "ListKeyPolicies",
                                            "ListKeyRotations",
                                            "ListKeys",
                                            "ListResourceTags",
                                            "ListRetirableGrants",
                                            "PutKeyPolicy",
                                            "ReEncrypt",
                                            "RetireGrant",
                                            "RevokeGrant",
                                            "RotateKeyOnDemand",
                                            "ScheduleKeyDeletion",
                                            "TagResource",
                                            "UntagResource",
                                            "UpdateAlias",
                                            "UpdateKeyDescription"};
  EXPECT_EQ(KmsSupportedOperations(), expected);
  // With the unsupported ones: the model's 54 operations, no name twice.
  std::set<std::string_view> all(KmsSupportedOperations().begin(), KmsSupportedOperations().end());
  all.insert(KmsUnsupportedOperations().begin(), KmsUnsupportedOperations().end());
  EXPECT_EQ(all.size(), 54u);
  EXPECT_TRUE(std::is_sorted(KmsUnsupportedOperations().begin(), KmsUnsupportedOperations().end()));
  // Every supported operation is dispatched (an empty request is a validation
  // error or a call, never an unknown operation).
  for (std::string_view op : KmsSupportedOperations()) {
    auto call = Prepare(op, "{}");
    if (!call.ok()) {
      EXPECT_EQ(call.status().error_name(), kValidation) << op << ": " << call.status().ToString();
    } else {
      EXPECT_EQ(call->operation, op);
    }
  }
}

TEST_F(KmsJsonTest, ModelOperationsTheEngineLacksAreUnsupported) {
  for (std::string_view op : KmsUnsupportedOperations()) {
    EXPECT_THAT(Prepare(op, "{\"KeyId\": \"x\"}"),
                IsError("UnsupportedOperationException",
                        "The operation " + std::string(op) + " is not supported by coffer."));
  }
  EXPECT_THAT(Prepare("Sign", "{}"), IsError("UnsupportedOperationException",
                                             "The operation Sign is not supported by coffer."));
}

TEST_F(KmsJsonTest, UnknownOperation) {
  for (std::string_view op : {"Frobnicate", "encrypt", "", "ListKeys2"}) {
    auto call = Prepare(op, "{}");
    ASSERT_THAT(call, IsError("UnknownOperationException", "")) << op;
    EXPECT_EQ(KmsErrorBody(call.status()), R"({"__type":"UnknownOperationException"})");
    EXPECT_EQ(KmsErrorHttpStatus(call.status()), 400);
  }
}

// ---- the body ---------------------------------------------------------------------

TEST_F(KmsJsonTest, MalformedJsonIsASerializationErrorWithoutMessage) {
  for (std::string_view body : {"{", "{\"KeyId\": }", "nope", "{} {}", "{\"a\":\"\xff\"}"}) {
    auto call = Prepare("ListKeys", body);
    ASSERT_THAT(call, IsError(kSerialization, "")) << body;
    EXPECT_EQ(KmsErrorBody(call.status()), R"({"__type":"SerializationException"})");
  }
  // Coral parses before it routes.
  EXPECT_THAT(Prepare("Frobnicate", "{"), IsError(kSerialization, ""));
}

TEST_F(KmsJsonTest, TheBodyMustBeAnObject) {
  EXPECT_THAT(Prepare("ListKeys", "[]"),
              IsError(kSerialization, "Start of list found where not expected"));
  EXPECT_THAT(Prepare("ListKeys", "\"x\""), IsError(kSerialization, "Unexpected field type"));
  EXPECT_THAT(Prepare("ListKeys", "7"), IsError(kSerialization, "Unexpected field type"));
  // An empty body is an empty request; so is JSON null in a member.
  EXPECT_THAT(Prepare("ListKeys", ""), IsOk());
  EXPECT_THAT(Prepare("ListKeys", " \r\n"), IsOk());
  EXPECT_THAT(Prepare("ListKeys", R"({"Limit": null, "Marker": null})"), IsOk());
}

TEST_F(KmsJsonTest, UnknownMembersAreIgnored) {
  std::string id = NewKey();
  Json r = Reply("DescribeKey", "{\"KeyId\": " + Quote(id) +
                                    R"(, "Frob": {"x": [1, 2]}, "keyid": 5, "GrantTokens": []})");
  EXPECT_EQ(r["KeyMetadata"]["KeyId"], id);
}

TEST_F(KmsJsonTest, WrongMemberTypesAreSerializationErrors) {
  std::string id = NewKey();
  struct Case {
    std::string op, body, message;
  };
  const std::string key = "\"KeyId\": " + Quote(id);
  std::vector<Case> cases = {
      {"DescribeKey", R"({"KeyId": 5})", "NUMBER_VALUE cannot be converted to String"},
      {"DescribeKey", R"({"KeyId": 1.5})", "DECIMAL_VALUE cannot be converted to String"},
      {"DescribeKey", R"({"KeyId": true})", "TRUE_VALUE cannot be converted to String"},
      {"DescribeKey", R"({"KeyId": false})", "FALSE_VALUE cannot be converted to String"},
      {"DescribeKey", R"({"KeyId": {}})", "Start of structure or map found where not expected"},
      {"DescribeKey", R"({"KeyId": ["a"]})", "Start of list found where not expected"},
      {"ListKeys", R"({"Limit": "10"})", "STRING_VALUE cannot be converted to Integer"},
      {"ListKeys", R"({"Limit": 1.5})", "DECIMAL_VALUE cannot be converted to Integer"},
      {"ListKeys", R"({"Limit": true})", "TRUE_VALUE cannot be converted to Integer"},
      {"ListKeys", R"({"Limit": 4294967296})", "NUMBER_VALUE cannot be converted to Integer"},
      {"ListKeys", R"({"Limit": -4294967296})", "NUMBER_VALUE cannot be converted to Integer"},
      {"ListKeys", R"({"Limit": 18446744073709551615})",
       "NUMBER_VALUE cannot be converted to Integer"},
      {"ListKeys", R"({"Limit": {}})", "Start of structure or map found where not expected"},
      {"ListKeys", R"({"Limit": []})", "Start of list found where not expected"},
      {"Encrypt", "{" + key + R"(, "Plaintext": "aGk=", "DryRun": "true"})",
       "STRING_VALUE cannot be converted to Boolean"},
      {"Encrypt", "{" + key + R"(, "Plaintext": "aGk=", "DryRun": 1})",
       "NUMBER_VALUE cannot be converted to Boolean"},
      {"Encrypt", "{" + key + R"(, "Plaintext": "aGk=", "EncryptionContext": []})",
       "Start of list found where not expected"},
      {"Encrypt", "{" + key + R"(, "Plaintext": "aGk=", "EncryptionContext": "a=b"})",
       "Unexpected field type"},
      {"Encrypt", "{" + key + R"(, "Plaintext": "aGk=", "EncryptionContext": {"a": 1}})",
       "NUMBER_VALUE cannot be converted to String"},
      {"Encrypt", "{" + key + R"(, "Plaintext": "aGk=", "GrantTokens": "t"})",
       "Unexpected field type"},
      {"Encrypt", "{" + key + R"(, "Plaintext": "aGk=", "GrantTokens": {}})",
       "Start of structure or map found where not expected"},
      {"Encrypt", "{" + key + R"(, "Plaintext": "aGk=", "GrantTokens": [7]})",
       "NUMBER_VALUE cannot be converted to String"},
      {"Encrypt", "{" + key + R"(, "Plaintext": 5})",
       "only base-64-encoded strings are convertible to bytes"},
      {"Encrypt", "{" + key + R"(, "Plaintext": true})",
       "only base-64-encoded strings are convertible to bytes"},
      {"Encrypt", "{" + key + R"(, "Plaintext": {}})",
       "Start of structure or map found where not expected"},
      {"Encrypt", "{" + key + R"(, "Plaintext": []})", "Start of list found where not expected"},
      {"TagResource", "{" + key + R"(, "Tags": {}})",
       "Start of structure or map found where not expected"},
      {"TagResource", "{" + key + R"(, "Tags": [1]})", "Unexpected field type"},
      {"TagResource", "{" + key + R"(, "Tags": [[]]})", "Start of list found where not expected"},
      {"TagResource", "{" + key + R"(, "Tags": [{"TagKey": 1, "TagValue": "v"}]})",
       "NUMBER_VALUE cannot be converted to String"},
      {"Decrypt", R"({"CiphertextBlob": "AAAA", "Recipient": "x"})", "Unexpected field type"},
      {"CreateKey", R"({"BypassPolicyLockoutSafetyCheck": "yes"})",
       "STRING_VALUE cannot be converted to Boolean"},
  };
  for (const auto& c : cases) {
    EXPECT_THAT(Prepare(c.op, c.body), IsError(kSerialization, c.message)) << c.op << " " << c.body;
  }
}

TEST_F(KmsJsonTest, BlobsAreStrictBase64) {
  std::string id = NewKey();
  const std::string key = "\"KeyId\": " + Quote(id);
  // Unpadded, a wrong alphabet, whitespace, non-canonical trailing bits.
  EXPECT_THAT(Prepare("Encrypt", "{" + key + R"(, "Plaintext": "aGVsbG8"})"),
              IsError(kSerialization,
                      "Base64 encoded length is expected a multiple of 4 bytes but found: 7"));
  for (std::string_view bad : {"aGk-", "aGk_", "aG k", "aGl=", "a===", "====", "aGk=aGk="}) {
    EXPECT_THAT(Prepare("Encrypt", "{" + key + ", \"Plaintext\": " + Quote(bad) + "}"),
                IsError(kSerialization, "Invalid Base64 encoding"))
        << bad;
  }
  EXPECT_THAT(Prepare("Decrypt", R"({"CiphertextBlob": "abc"})"),
              IsError(kSerialization,
                      "Base64 encoded length is expected a multiple of 4 bytes but found: 3"));
  // Standard base64 with padding decodes to the bytes given.
  std::string blob = EncryptB64(id, std::string("\x00\xff\x10?>", 5));
  Json r = Reply("Decrypt", "{\"CiphertextBlob\": " + Quote(blob) + "}");
  EXPECT_EQ(r["Plaintext"], B64(std::string("\x00\xff\x10?>", 5)));
}

// ---- validation -----------------------------------------------------------------

TEST_F(KmsJsonTest, RequiredMembers) {
  EXPECT_THAT(Prepare("Encrypt", "{}"),
              IsError(kValidation,
                      "2 validation errors detected: Value null at 'keyId' failed to satisfy "
                      "constraint: Member must not be null; Value null at 'plaintext' failed to "
                      "satisfy constraint: Member must not be null"));
  EXPECT_THAT(Prepare("DescribeKey", R"({"KeyId": null})"),
              IsError(kValidation, V1("Value null at 'keyId' failed to satisfy constraint: "
                                      "Member must not be null")));
  EXPECT_THAT(Prepare("CreateAlias", "{}"),
              IsError(kValidation,
                      "2 validation errors detected: Value null at 'aliasName' failed to satisfy "
                      "constraint: Member must not be null; Value null at 'targetKeyId' failed to "
                      "satisfy constraint: Member must not be null"));
  EXPECT_THAT(Prepare("UpdateKeyDescription", R"({"KeyId": "k"})"),
              IsError(kValidation, V1("Value null at 'description' failed to satisfy constraint: "
                                      "Member must not be null")));
  EXPECT_THAT(Prepare("TagResource", R"({"KeyId": "k"})"),
              IsError(kValidation, V1("Value null at 'tags' failed to satisfy constraint: Member "
                                      "must not be null")));
  EXPECT_THAT(Prepare("UntagResource", R"({"KeyId": "k"})"),
              IsError(kValidation, V1("Value null at 'tagKeys' failed to satisfy constraint: "
                                      "Member must not be null")));
  EXPECT_THAT(Prepare("PutKeyPolicy", R"({"KeyId": "k"})"),
              IsError(kValidation, V1("Value null at 'policy' failed to satisfy constraint: "
                                      "Member must not be null")));
  EXPECT_THAT(Prepare("Decrypt", "{}"),
              IsError(kValidation, V1("Value null at 'ciphertextBlob' failed to satisfy "
                                      "constraint: Member must not be null")));
  EXPECT_THAT(Prepare("ReEncrypt", R"({"CiphertextBlob": "AAAA"})"),
              IsError(kValidation, V1("Value null at 'destinationKeyId' failed to satisfy "
                                      "constraint: Member must not be null")));
  EXPECT_THAT(
      Prepare("TagResource", R"({"KeyId": "k", "Tags": [{"TagKey": "a"}, null]})"),
      IsError(kValidation,
              "2 validation errors detected: Value null at 'tags.1.member.tagValue' failed to "
              "satisfy constraint: Member must not be null; Value null at 'tags.2.member' failed "
              "to satisfy constraint: Member must not be null"));
  EXPECT_THAT(Prepare("Encrypt", R"({"KeyId": "k", "Plaintext": "aGk=", "EncryptionContext": )"
                                 R"({"a": null}})"),
              IsError(kValidation, V1("Value null at 'encryptionContext.a' failed to satisfy "
                                      "constraint: Member must not be null")));
}

TEST_F(KmsJsonTest, LengthRangeEnumAndPatternConstraints) {
  const std::string long_id(2049, 'k');
  struct Case {
    std::string op, body, message;
  };
  std::vector<Case> cases = {
      {"DescribeKey", R"({"KeyId": ""})",
       V1("Value '' at 'keyId' failed to satisfy constraint: Member must have length greater than "
          "or equal to 1")},
      {"DescribeKey", "{\"KeyId\": \"" + long_id + "\"}",
       V1("Value '" + long_id +
          "' at 'keyId' failed to satisfy constraint: Member must have length less than or "
          "equal to 2048")},
      {"ListKeys", R"({"Limit": 0})",
       V1("Value '0' at 'limit' failed to satisfy constraint: Member must have value greater "
          "than or equal to 1")},
      {"ListAliases", R"({"Limit": 1001})",
       V1("Value '1001' at 'limit' failed to satisfy constraint: Member must have value less "
          "than or equal to 1000")},
      {"ListKeys", R"({"Marker": ""})",
       V1("Value '' at 'marker' failed to satisfy constraint: Member must have length greater "
          "than or equal to 1")},
      {"ListKeys", "{\"Marker\": \"a\\u0100\"}",
       V1("Value 'a\xc4\x80' at 'marker' failed to satisfy constraint: Member must satisfy "
          "regular expression pattern: [\\u0020-\\u00FF]*")},
      {"ListKeys", "{\"Marker\": \"a\\tb\"}",
       V1("Value 'a\tb' at 'marker' failed to satisfy constraint: Member must satisfy regular "
          "expression pattern: [\\u0020-\\u00FF]*")},
      {"CreateAlias", R"({"AliasName": "alias/a b", "TargetKeyId": "k"})",
       V1("Value 'alias/a b' at 'aliasName' failed to satisfy constraint: Member must satisfy "
          "regular expression pattern: ^[a-zA-Z0-9:/_-]+$")},
      {"DeleteAlias", R"({"AliasName": ""})",
       "2 validation errors detected: Value '' at 'aliasName' failed to satisfy constraint: "
       "Member must have length greater than or equal to 1; Value '' at 'aliasName' failed to "
       "satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$"},
      {"GetKeyPolicy", R"({"KeyId": "k", "PolicyName": "my-policy"})",
       V1("Value 'my-policy' at 'policyName' failed to satisfy constraint: Member must satisfy "
          "regular expression pattern: [\\w]+")},
      {"PutKeyPolicy", "{\"KeyId\": \"k\", \"Policy\": \"{\\u0100}\"}",
       V1("Value '{\xc4\x80}' at 'policy' failed to satisfy constraint: Member must satisfy "
          "regular expression pattern: [\\u0009\\u000A\\u000D\\u0020-\\u00FF]+")},
      {"UpdateKeyDescription",
       "{\"KeyId\": \"k\", \"Description\": \"" + std::string(8193, 'd') + "\"}",
       V1("Value '" + std::string(8193, 'd') +
          "' at 'description' failed to satisfy constraint: Member must have length less than "
          "or equal to 8192")},
      {"ScheduleKeyDeletion", R"({"KeyId": "k", "PendingWindowInDays": 366})",
       V1("Value '366' at 'pendingWindowInDays' failed to satisfy constraint: Member must have "
          "value less than or equal to 365")},
      {"EnableKeyRotation", R"({"KeyId": "k", "RotationPeriodInDays": 89})",
       V1("Value '89' at 'rotationPeriodInDays' failed to satisfy constraint: Member must have "
          "value greater than or equal to 90")},
      {"GenerateDataKey", R"({"KeyId": "k", "NumberOfBytes": 1025})",
       V1("Value '1025' at 'numberOfBytes' failed to satisfy constraint: Member must have value "
          "less than or equal to 1024")},
      {"GenerateRandom", R"({"NumberOfBytes": 0})",
       V1("Value '0' at 'numberOfBytes' failed to satisfy constraint: Member must have value "
          "greater than or equal to 1")},
      {"GenerateDataKeyWithoutPlaintext", R"({"KeyId": "k", "KeySpec": "AES_512"})",
       V1("Value 'AES_512' at 'keySpec' failed to satisfy constraint: Member must satisfy enum "
          "value set: [AES_256, AES_128]")},
      {"Encrypt", R"({"KeyId": "k", "Plaintext": "aGk=", "EncryptionAlgorithm": "AES"})",
       V1("Value 'AES' at 'encryptionAlgorithm' failed to satisfy constraint: Member must "
          "satisfy enum value set: [SYMMETRIC_DEFAULT, RSAES_OAEP_SHA_1, RSAES_OAEP_SHA_256, "
          "SM2PKE]")},
      {"CreateKey", R"({"KeyUsage": "SIGN"})",
       V1("Value 'SIGN' at 'keyUsage' failed to satisfy constraint: Member must satisfy enum "
          "value set: [SIGN_VERIFY, ENCRYPT_DECRYPT, GENERATE_VERIFY_MAC, KEY_AGREEMENT]")},
      {"CreateKey", R"({"Origin": "HSM"})",
       V1("Value 'HSM' at 'origin' failed to satisfy constraint: Member must satisfy enum value "
          "set: [AWS_KMS, EXTERNAL, AWS_CLOUDHSM, EXTERNAL_KEY_STORE]")},
      {"CreateKey", R"({"CustomKeyStoreId": ""})",
       V1("Value '' at 'customKeyStoreId' failed to satisfy constraint: Member must have length "
          "greater than or equal to 1")},
      {"CreateKey", R"({"XksKeyId": "a b"})",
       V1("Value 'a b' at 'xksKeyId' failed to satisfy constraint: Member must satisfy regular "
          "expression pattern: ^[a-zA-Z0-9-_.]+$")},
      {"CreateKey", R"({"Tags": [{"TagKey": "", "TagValue": "v"}]})",
       V1("Value '' at 'tags.1.member.tagKey' failed to satisfy constraint: Member must have "
          "length greater than or equal to 1")},
      {"TagResource",
       "{\"KeyId\": \"k\", \"Tags\": [{\"TagKey\": \"a\", \"TagValue\": \"" +
           std::string(257, 'v') + "\"}]}",
       V1("Value '" + std::string(257, 'v') +
          "' at 'tags.1.member.tagValue' failed to satisfy constraint: Member must have length "
          "less than or equal to 256")},
      {"UntagResource", R"({"KeyId": "k", "TagKeys": ["a", ""]})",
       V1("Value '' at 'tagKeys.2.member' failed to satisfy constraint: Member must have length "
          "greater than or equal to 1")},
      {"DescribeKey", R"({"KeyId": "k", "GrantTokens": [""]})",
       V1("Value '' at 'grantTokens.1.member' failed to satisfy constraint: Member must have "
          "length greater than or equal to 1")},
      {"DescribeKey",
       R"({"KeyId": "k", "GrantTokens": ["1","2","3","4","5","6","7","8","9","10","11"]})",
       V1("Value '11 tokens' at 'grantTokens' failed to satisfy constraint: Member must have "
          "length less than or equal to 10")},
      {"ListKeyRotations", R"({"KeyId": "k", "IncludeKeyMaterial": "SOME"})",
       V1("Value 'SOME' at 'includeKeyMaterial' failed to satisfy constraint: Member must "
          "satisfy enum value set: [ALL_KEY_MATERIAL, ROTATIONS_ONLY]")},
      {"Decrypt", R"({"CiphertextBlob": "AAAA", "DryRunModifiers": ["SKIP"]})",
       V1("Value 'SKIP' at 'dryRunModifiers.1.member' failed to satisfy constraint: Member must "
          "satisfy enum value set: [IGNORE_CIPHERTEXT]")},
      {"Decrypt", R"({"CiphertextBlob": "AAAA", "Recipient": {"KeyEncryptionAlgorithm": "X"}})",
       V1("Value 'X' at 'recipient.keyEncryptionAlgorithm' failed to satisfy constraint: Member "
          "must satisfy enum value set: [RSAES_OAEP_SHA_256]")},
      {"Encrypt", R"({"KeyId": "k", "Plaintext": ""})",
       V1("Value at 'plaintext' failed to satisfy constraint: Member must have length greater "
          "than or equal to 1")},
      {"Decrypt", R"({"CiphertextBlob": ""})",
       V1("Value at 'ciphertextBlob' failed to satisfy constraint: Member must have length "
          "greater than or equal to 1")},
      {"ReEncrypt",
       "{\"CiphertextBlob\": " + Quote(B64(std::string(6145, 'c'))) +
           ", \"DestinationKeyId\": \"k\"}",
       V1("Value at 'ciphertextBlob' failed to satisfy constraint: Member must have length less "
          "than or equal to 6144")},
      // Several violations: one message, in the model's member order.
      {"ListAliases", R"({"Marker": "", "Limit": 0, "KeyId": ""})",
       "3 validation errors detected: Value '' at 'keyId' failed to satisfy constraint: Member "
       "must have length greater than or equal to 1; Value '0' at 'limit' failed to satisfy "
       "constraint: Member must have value greater than or equal to 1; Value '' at 'marker' "
       "failed to satisfy constraint: Member must have length greater than or equal to 1"},
  };
  for (const auto& c : cases) {
    EXPECT_THAT(Prepare(c.op, c.body), IsError(kValidation, c.message)) << c.op << " " << c.body;
  }
  // Lengths count characters, not bytes (a 128-character key of 2-byte characters is valid).
  std::string id = NewKey();
  std::string wide_key;
  for (int i = 0; i < 128; ++i) wide_key += "\xc3\xa9";
  EXPECT_THAT(Invoke("TagResource", "{\"KeyId\": " + Quote(id) + ", \"Tags\": [{\"TagKey\": " +
                                        Quote(wide_key) + ", \"TagValue\": \"\"}]}"),
              IsOk());
  // Limits at their bounds pass.
  EXPECT_THAT(Prepare("ListKeys", R"({"Limit": 1000, "Marker": "\u00ff"})"), IsOk());
}

TEST_F(KmsJsonTest, PlaintextLimitIsAwsText) {
  std::string id = NewKey();
  std::string big(4097, 'p');
  EXPECT_THAT(
      Prepare("Encrypt", "{\"KeyId\": " + Quote(id) + ", \"Plaintext\": " + Quote(B64(big)) + "}"),
      IsError(kValidation,
              "1 validation error detected: Value at 'plaintext' failed to satisfy "
              "constraint: Member must have length less than or equal to 4096"));
  EXPECT_THAT(Invoke("Encrypt", "{\"KeyId\": " + Quote(id) +
                                    ", \"Plaintext\": " + Quote(B64(std::string(4096, 'p'))) + "}"),
              IsOk());
}

TEST_F(KmsJsonTest, SerializationErrorsComeBeforeValidationErrors) {
  EXPECT_THAT(Prepare("ListAliases", R"({"KeyId": "", "Limit": "x"})"),
              IsError(kSerialization, "STRING_VALUE cannot be converted to Integer"));
}

// ---- keys ------------------------------------------------------------------------

TEST_F(KmsJsonTest, CreateKeyAsTheCliSendsIt) {
  auto call =
      Prepare("CreateKey", R"({"Description": "d", "Tags": [{"TagKey": "k", "TagValue": "v"}]})");
  ASSERT_THAT(call, IsOk());
  EXPECT_EQ(Describe(*call),
            (std::vector<std::string>{
                "identity kms:CreateKey * {aws:RequestTag/k=[v], aws:TagKeys=[k], "
                "kms:BypassPolicyLockoutSafetyCheck=[false], kms:KeyOrigin=[AWS_KMS], "
                "kms:KeySpec=[SYMMETRIC_DEFAULT], kms:KeyUsage=[ENCRYPT_DECRYPT], "
                "kms:MultiRegion=[false]}",
                "identity kms:TagResource * {aws:RequestTag/k=[v], aws:TagKeys=[k]}"}));
  // The default policy is not lockout-checked: only a policy the caller provides.
  EXPECT_FALSE(call->lockout_check_policy.has_value());

  clock_.Advance(std::chrono::milliseconds(123));
  ASSERT_OK_AND_ASSIGN(api::Reply reply, call->run());
  const std::string& body = reply.body;
  Json r = Json::parse(body);
  ASSERT_TRUE(r.contains("KeyMetadata"));
  const Json& m = r["KeyMetadata"];
  std::string id = m["KeyId"];
  auto described = kms().DescribeKey(id);
  ASSERT_THAT(described, IsOk());
  Json expected = {{"KeyMetadata",
                    {{"AWSAccountId", kAccount},
                     {"KeyId", id},
                     {"Arn", std::string(kArnPrefix) + "key/" + id},
                     {"CreationDate", kStartSeconds + 0.123},
                     {"Enabled", true},
                     {"Description", "d"},
                     {"KeyUsage", "ENCRYPT_DECRYPT"},
                     {"KeyState", "Enabled"},
                     {"Origin", "AWS_KMS"},
                     {"KeyManager", "CUSTOMER"},
                     {"CustomerMasterKeySpec", "SYMMETRIC_DEFAULT"},
                     {"KeySpec", "SYMMETRIC_DEFAULT"},
                     {"EncryptionAlgorithms", {"SYMMETRIC_DEFAULT"}},
                     {"MultiRegion", false},
                     {"CurrentKeyMaterialId", described->current_key_material_id}}}};
  EXPECT_EQ(r, expected);
  // Timestamps are epoch seconds as JSON numbers, the milliseconds as a fraction.
  EXPECT_THAT(body, HasSubstr("\"CreationDate\":1767225600.123,"));
  EXPECT_EQ(described->current_key_material_id.size(), 64u);
}

TEST_F(KmsJsonTest, CreateKeyWithPolicyAndBypass) {
  auto call = Prepare("CreateKey", "{\"Policy\": " + Quote(kAllowRootPolicy) +
                                       ", \"BypassPolicyLockoutSafetyCheck\": true}");
  ASSERT_THAT(call, IsOk());
  EXPECT_FALSE(call->lockout_check_policy.has_value());
  EXPECT_EQ(
      Describe(*call),
      (std::vector<std::string>{"identity kms:CreateKey * {kms:BypassPolicyLockoutSafetyCheck="
                                "[true], kms:KeyOrigin=[AWS_KMS], kms:KeySpec=[SYMMETRIC_DEFAULT], "
                                "kms:KeyUsage=[ENCRYPT_DECRYPT], kms:MultiRegion=[false]}"}));
  ASSERT_OK_AND_ASSIGN(api::Reply reply, call->run());
  const std::string& body = reply.body;
  std::string id = Json::parse(body)["KeyMetadata"]["KeyId"];
  EXPECT_EQ(Reply("GetKeyPolicy", KeyJson(id))["Policy"], kAllowRootPolicy);

  // Without the bypass the given policy is the one checked.
  auto checked = Prepare("CreateKey", "{\"Policy\": " + Quote(kAllowRootPolicy) + "}");
  ASSERT_THAT(checked, IsOk());
  EXPECT_EQ(checked->lockout_check_policy, std::optional<std::string>(kAllowRootPolicy));
  // The request's key spec and usage are the condition keys; the engine refuses the spec.
  auto rsa = Prepare("CreateKey", R"({"KeySpec": "RSA_2048", "KeyUsage": "SIGN_VERIFY"})");
  ASSERT_THAT(rsa, IsOk());
  EXPECT_THAT(Describe(rsa->authorizations[0]),
              HasSubstr("kms:KeySpec=[RSA_2048], kms:KeyUsage=[SIGN_VERIFY]"));
  EXPECT_THAT(rsa->run(), IsError("UnsupportedOperationException",
                                  "KeySpec RSA_2048 is not supported by coffer; only "
                                  "SYMMETRIC_DEFAULT keys are."));
}

TEST_F(KmsJsonTest, DescribeKeyByEveryForm) {
  std::string id = NewKey();
  std::string arn = Arn(id);
  ASSERT_OK(kms().CreateAlias("alias/x", id));
  for (const std::string& key_id : {id, arn, std::string("alias/x"), AliasArn("alias/x")}) {
    Json r = Reply("DescribeKey", KeyJson(key_id));
    EXPECT_EQ(r["KeyMetadata"]["KeyId"], id) << key_id;
    EXPECT_EQ(r["KeyMetadata"]["Arn"], arn) << key_id;
  }
  EXPECT_EQ(DecisionsOf("DescribeKey", KeyJson(id)),
            (std::vector<std::string>{"key kms:DescribeKey " + arn + " {}"}));
  EXPECT_EQ(
      DecisionsOf("DescribeKey", R"({"KeyId": "alias/x"})"),
      (std::vector<std::string>{"key kms:DescribeKey " + arn + " {kms:RequestAlias=[alias/x]}"}));
  EXPECT_EQ(
      DecisionsOf("DescribeKey", KeyJson(AliasArn("alias/x"))),
      (std::vector<std::string>{"key kms:DescribeKey " + arn + " {kms:RequestAlias=[alias/x]}"}));
}

TEST_F(KmsJsonTest, NotFoundComesFromPrepareBeforeAnyAuthorization) {
  std::string missing = "11111111-2222-3333-4444-555555555555";
  EXPECT_THAT(Prepare("DescribeKey", KeyJson(missing)),
              IsError("NotFoundException", "Key '" + Arn(missing) + "' does not exist"));
  EXPECT_THAT(Prepare("Encrypt", R"({"KeyId": "alias/nope", "Plaintext": "aGk="})"),
              IsError("NotFoundException", "Alias '" + AliasArn("alias/nope") + "' is not found."));
  EXPECT_THAT(Prepare("EnableKey", R"({"KeyId": "not-a-key"})"),
              IsError("NotFoundException", "Invalid keyId 'not-a-key'"));
  auto st = Prepare("DescribeKey", KeyJson(missing)).status();
  EXPECT_EQ(KmsErrorBody(st), "{\"__type\":\"NotFoundException\",\"message\":\"Key '" +
                                  Arn(missing) + "' does not exist\"}");
  EXPECT_EQ(KmsErrorHttpStatus(st), 400);
  EXPECT_EQ(KmsErrorType(st), "NotFoundException");
}

// The forms of key id each operation takes (AWS's API reference): an alias
// where only a key id or key ARN is taken is refused, before any authorization
// for an operation on the key (ListAliases is authorized by identity policies
// alone, and then refused).
TEST_F(KmsJsonTest, OnlyDescribeAndCryptographicOperationsTakeAnAlias) {
  std::string id = NewKey();
  ASSERT_OK(kms().CreateAlias("alias/x", id));
  for (const std::string& alias : {std::string("alias/x"), AliasArn("alias/x")}) {
    const std::string key = R"({"KeyId": ")" + alias + R"(")";
    for (const std::string& request :
         {"EnableKey|" + key + "}", "DisableKey|" + key + "}", "CancelKeyDeletion|" + key + "}",
          "ScheduleKeyDeletion|" + key + R"(, "PendingWindowInDays": 7})",
          "UpdateKeyDescription|" + key + R"(, "Description": "d"})", "GetKeyPolicy|" + key + "}",
          "ListKeyPolicies|" + key + "}", "PutKeyPolicy|" + key + R"(, "Policy": "{}"})",
          "TagResource|" + key + R"(, "Tags": [{"TagKey": "k", "TagValue": "v"}]})",
          "UntagResource|" + key + R"(, "TagKeys": ["k"]})", "ListResourceTags|" + key + "}",
          "EnableKeyRotation|" + key + "}", "DisableKeyRotation|" + key + "}",
          "GetKeyRotationStatus|" + key + "}", "RotateKeyOnDemand|" + key + "}",
          "ListKeyRotations|" + key + "}"}) {
      const size_t bar = request.find('|');
      const std::string op = request.substr(0, bar), body = request.substr(bar + 1);
      EXPECT_THAT(Prepare(op, body), IsError("NotFoundException", "Invalid keyId '" + alias + "'"))
          << op << " " << alias;
    }
    EXPECT_THAT(ErrorOf("ListAliases", key + "}"),
                IsError("NotFoundException", "Invalid keyId '" + alias + "'"));
    EXPECT_EQ(Reply("DescribeKey", key + "}")["KeyMetadata"]["KeyId"], id) << alias;
    EXPECT_EQ(Reply("Encrypt", key + R"(, "Plaintext": "aGk="})")["KeyId"], Arn(id)) << alias;
    EXPECT_EQ(Reply("GenerateDataKey", key + R"(, "KeySpec": "AES_256"})")["KeyId"], Arn(id))
        << alias;
  }
  EXPECT_EQ(Reply("DescribeKey", KeyJson(id))["KeyMetadata"]["KeyState"], "Enabled");
}

TEST_F(KmsJsonTest, ListKeysPages) {
  std::vector<std::string> ids = {NewKey(), NewKey()};
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(DecisionsOf("ListKeys", "{}"),
            (std::vector<std::string>{"identity kms:ListKeys * {}"}));
  Json all = Reply("ListKeys", "{}");
  EXPECT_EQ(all, (Json{{"Keys",
                        {{{"KeyId", ids[0]}, {"KeyArn", Arn(ids[0])}},
                         {{"KeyId", ids[1]}, {"KeyArn", Arn(ids[1])}}}},
                       {"Truncated", false}}));
  Json first = Reply("ListKeys", R"({"Limit": 1})");
  EXPECT_EQ(first, (Json{{"Keys", {{{"KeyId", ids[0]}, {"KeyArn", Arn(ids[0])}}}},
                         {"NextMarker", ids[0]},
                         {"Truncated", true}}));
  Json second = Reply("ListKeys", "{\"Limit\": 1, \"Marker\": " + Quote(ids[0]) + "}");
  EXPECT_EQ(second["Keys"], (Json{{{"KeyId", ids[1]}, {"KeyArn", Arn(ids[1])}}}));
  EXPECT_EQ(second["Truncated"], false);
  EXPECT_FALSE(second.contains("NextMarker"));
  EXPECT_EQ(Reply("ListKeys", ""), all);
}

TEST_F(KmsJsonTest, UpdateEnableDisableHaveEmptyReplies) {
  std::string id = NewKey();
  std::string arn = Arn(id);
  EXPECT_EQ(DecisionsOf("UpdateKeyDescription",
                        "{\"KeyId\": " + Quote(id) + ", \"Description\": \"new\"}"),
            (std::vector<std::string>{"key kms:UpdateKeyDescription " + arn + " {}"}));
  EXPECT_EQ(
      Body("UpdateKeyDescription", "{\"KeyId\": " + Quote(id) + ", \"Description\": \"new\"}"), "");
  EXPECT_EQ(kms().DescribeKey(id)->description, "new");
  EXPECT_EQ(DecisionsOf("DisableKey", KeyJson(id)),
            (std::vector<std::string>{"key kms:DisableKey " + arn + " {}"}));
  EXPECT_EQ(Body("DisableKey", KeyJson(id)), "");
  EXPECT_EQ(StateOf(id), kms::KeyState::kDisabled);
  EXPECT_EQ(Reply("DescribeKey", KeyJson(id))["KeyMetadata"]["Enabled"], false);
  EXPECT_EQ(DecisionsOf("EnableKey", KeyJson(id)),
            (std::vector<std::string>{"key kms:EnableKey " + arn + " {}"}));
  EXPECT_EQ(Body("EnableKey", KeyJson(id)), "");
  EXPECT_EQ(StateOf(id), kms::KeyState::kEnabled);
}

TEST_F(KmsJsonTest, ScheduleAndCancelKeyDeletion) {
  std::string id = NewKey();
  std::string arn = Arn(id);
  std::string body = "{\"KeyId\": " + Quote(id) + ", \"PendingWindowInDays\": 7}";
  EXPECT_EQ(DecisionsOf("ScheduleKeyDeletion", body),
            (std::vector<std::string>{"key kms:ScheduleKeyDeletion " + arn +
                                      " {kms:ScheduleKeyDeletionPendingWindowInDays=[7]}"}));
  EXPECT_EQ(DecisionsOf("ScheduleKeyDeletion", KeyJson(id)),
            (std::vector<std::string>{"key kms:ScheduleKeyDeletion " + arn +
                                      " {kms:ScheduleKeyDeletionPendingWindowInDays=[30]}"}));
  const double deletion = kStartSeconds + 7 * 86400;
  EXPECT_EQ(Reply("ScheduleKeyDeletion", body), (Json{{"KeyId", arn},
                                                      {"DeletionDate", deletion},
                                                      {"KeyState", "PendingDeletion"},
                                                      {"PendingWindowInDays", 7}}));
  Json m = Reply("DescribeKey", KeyJson(id))["KeyMetadata"];
  EXPECT_EQ(m["KeyState"], "PendingDeletion");
  EXPECT_EQ(m["Enabled"], false);
  EXPECT_EQ(m["DeletionDate"], deletion);
  // Only a multi-Region primary key pending replica deletion has it (kms-service-2).
  EXPECT_FALSE(m.contains("PendingDeletionWindowInDays"));
  // Engine errors come from run, with AWS's texts.
  EXPECT_THAT(Invoke("Encrypt", "{\"KeyId\": " + Quote(id) + ", \"Plaintext\": \"aGk=\"}"),
              IsError("KMSInvalidStateException", arn + " is pending deletion."));
  EXPECT_EQ(DecisionsOf("CancelKeyDeletion", KeyJson(id)),
            (std::vector<std::string>{"key kms:CancelKeyDeletion " + arn + " {}"}));
  EXPECT_EQ(Reply("CancelKeyDeletion", KeyJson(id)), (Json{{"KeyId", arn}}));
  EXPECT_EQ(StateOf(id), kms::KeyState::kDisabled);
  EXPECT_THAT(Invoke("CancelKeyDeletion", KeyJson(id)),
              IsError("KMSInvalidStateException", arn + " is not pending deletion"));
  // The engine's own rule beyond the model (7..30).
  EXPECT_THAT(
      Invoke("ScheduleKeyDeletion", "{\"KeyId\": " + Quote(id) + ", \"PendingWindowInDays\": 31}"),
      IsError(kValidation, "PendingWindowInDays must be between 7 and 30"));
}

// ---- aliases ------------------------------------------------------------------------

TEST_F(KmsJsonTest, CreateAlias) {
  std::string id = NewKey();
  std::string body = "{\"AliasName\": \"alias/x\", \"TargetKeyId\": " + Quote(id) + "}";
  EXPECT_EQ(DecisionsOf("CreateAlias", body),
            (std::vector<std::string>{"identity kms:CreateAlias " + AliasArn("alias/x") + " {}",
                                      "key kms:CreateAlias " + Arn(id) + " {}"}));
  EXPECT_EQ(Body("CreateAlias", body), "");
  EXPECT_EQ(Reply("DescribeKey", R"({"KeyId": "alias/x"})")["KeyMetadata"]["KeyId"], id);
  EXPECT_THAT(Invoke("CreateAlias", body),
              IsError("AlreadyExistsException",
                      "An alias with the name " + AliasArn("alias/x") + " already exists"));
  // Checked before the alias or its target is resolved, with the engine's texts.
  EXPECT_THAT(Prepare("CreateAlias", R"({"AliasName": "alias/y", "TargetKeyId": "alias/x"})"),
              IsError(kValidation, "Aliases must refer to keys. Not aliases"));
  EXPECT_THAT(Prepare("CreateAlias", "{\"AliasName\": \"alias/y\", \"TargetKeyId\": " +
                                         Quote(AliasArn("alias/x")) + "}"),
              IsError(kValidation, "Aliases must refer to keys. Not aliases"));
  const std::string prefix =
      "Alias must start with the prefix \"alias/\". Please see "
      "https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html";
  for (std::string_view name : {"x", "alias/"}) {
    EXPECT_THAT(Prepare("CreateAlias",
                        "{\"AliasName\": " + Quote(name) + ", \"TargetKeyId\": " + Quote(id) + "}"),
                IsError(kValidation, prefix));
    EXPECT_THAT(Prepare("DeleteAlias", "{\"AliasName\": " + Quote(name) + "}"),
                IsError(kValidation, prefix));
  }
  EXPECT_THAT(
      Invoke("CreateAlias", "{\"AliasName\": \"alias/aws/x\", \"TargetKeyId\": " + Quote(id) + "}"),
      IsError("InvalidAliasNameException", "Cannot create alias with prefix 'alias/aws/'"));
}

TEST_F(KmsJsonTest, UpdateAliasAuthorizesOnBothKeys) {
  std::string a = NewKey(), b = NewKey();
  ASSERT_OK(kms().CreateAlias("alias/x", a));
  std::string body = "{\"AliasName\": \"alias/x\", \"TargetKeyId\": " + Quote(b) + "}";
  EXPECT_EQ(DecisionsOf("UpdateAlias", body),
            (std::vector<std::string>{"identity kms:UpdateAlias " + AliasArn("alias/x") + " {}",
                                      "key kms:UpdateAlias " + Arn(a) + " {}",
                                      "key kms:UpdateAlias " + Arn(b) + " {}"}));
  EXPECT_EQ(Body("UpdateAlias", body), "");
  EXPECT_EQ(kms().ResolveKeyArn("alias/x").value(), Arn(b));
  EXPECT_THAT(
      Prepare("UpdateAlias", "{\"AliasName\": \"alias/nope\", \"TargetKeyId\": " + Quote(b) + "}"),
      IsError("NotFoundException", "Alias '" + AliasArn("alias/nope") + "' is not found."));
}

TEST_F(KmsJsonTest, DeleteAliasAndListAliases) {
  std::string id = NewKey(), other = NewKey();
  ASSERT_OK(kms().CreateAlias("alias/a", id));
  clock_.Advance(std::chrono::seconds(5));
  ASSERT_OK(kms().CreateAlias("alias/b", other));
  EXPECT_EQ(DecisionsOf("ListAliases", KeyJson(id)),
            (std::vector<std::string>{"identity kms:ListAliases * {}"}));
  Json entry_a = {{"AliasName", "alias/a"},
                  {"AliasArn", AliasArn("alias/a")},
                  {"TargetKeyId", id},
                  {"CreationDate", kStartSeconds},
                  {"LastUpdatedDate", kStartSeconds}};
  Json entry_b = {{"AliasName", "alias/b"},
                  {"AliasArn", AliasArn("alias/b")},
                  {"TargetKeyId", other},
                  {"CreationDate", kStartSeconds + 5},
                  {"LastUpdatedDate", kStartSeconds + 5}};
  EXPECT_EQ(Reply("ListAliases", KeyJson(id)),
            (Json{{"Aliases", {entry_a}}, {"Truncated", false}}));
  EXPECT_EQ(Reply("ListAliases", "{}"),
            (Json{{"Aliases", {entry_a, entry_b}}, {"Truncated", false}}));
  EXPECT_EQ(Reply("ListAliases", R"({"Limit": 1})"),
            (Json{{"Aliases", {entry_a}}, {"NextMarker", "alias/a"}, {"Truncated", true}}));

  EXPECT_EQ(DecisionsOf("DeleteAlias", R"({"AliasName": "alias/a"})"),
            (std::vector<std::string>{"identity kms:DeleteAlias " + AliasArn("alias/a") + " {}",
                                      "key kms:DeleteAlias " + Arn(id) + " {}"}));
  EXPECT_EQ(Body("DeleteAlias", R"({"AliasName": "alias/a"})"), "");
  EXPECT_EQ(Reply("ListAliases", KeyJson(id)),
            (Json{{"Aliases", Json::array()}, {"Truncated", false}}));
  EXPECT_THAT(Prepare("DeleteAlias", R"({"AliasName": "alias/a"})"),
              IsError("NotFoundException", "Alias '" + AliasArn("alias/a") + "' is not found."));
}

// ---- tags ------------------------------------------------------------------------------

TEST_F(KmsJsonTest, TagUntagListResourceTags) {
  std::string id = NewKey();
  std::string arn = Arn(id);
  std::string tag =
      "{\"KeyId\": " + Quote(id) +
      R"(, "Tags": [{"TagKey": "a", "TagValue": "1"}, {"TagKey": "b", "TagValue": "2"}]})";
  EXPECT_EQ(DecisionsOf("TagResource", tag),
            (std::vector<std::string>{"key kms:TagResource " + arn +
                                      " {aws:RequestTag/a=[1], aws:RequestTag/b=[2], "
                                      "aws:TagKeys=[a,b]}"}));
  EXPECT_EQ(Body("TagResource", tag), "");
  EXPECT_EQ(DecisionsOf("ListResourceTags", KeyJson(id)),
            (std::vector<std::string>{"key kms:ListResourceTags " + arn + " {}"}));
  EXPECT_EQ(
      Reply("ListResourceTags", KeyJson(id)),
      (Json{{"Tags", {{{"TagKey", "a"}, {"TagValue", "1"}}, {{"TagKey", "b"}, {"TagValue", "2"}}}},
            {"Truncated", false}}));
  Json first = Reply("ListResourceTags", "{\"KeyId\": " + Quote(id) + ", \"Limit\": 1}");
  EXPECT_EQ(first["Tags"], (Json{{{"TagKey", "a"}, {"TagValue", "1"}}}));
  EXPECT_EQ(first["Truncated"], true);
  EXPECT_EQ(Reply("ListResourceTags",
                  "{\"KeyId\": " + Quote(id) + ", \"Marker\": " + first["NextMarker"].dump() + "}"),
            (Json{{"Tags", {{{"TagKey", "b"}, {"TagValue", "2"}}}}, {"Truncated", false}}));
  std::string untag = "{\"KeyId\": " + Quote(id) + R"(, "TagKeys": ["a", "zz"]})";
  EXPECT_EQ(DecisionsOf("UntagResource", untag),
            (std::vector<std::string>{"key kms:UntagResource " + arn + " {aws:TagKeys=[a,zz]}"}));
  EXPECT_EQ(Body("UntagResource", untag), "");
  EXPECT_EQ(Reply("ListResourceTags", KeyJson(id))["Tags"],
            (Json{{{"TagKey", "b"}, {"TagValue", "2"}}}));
  EXPECT_THAT(Invoke("TagResource", "{\"KeyId\": " + Quote(id) +
                                        R"(, "Tags": [{"TagKey": "aws:x", "TagValue": ""}]})"),
              IsError("TagException", "Tags beginning with aws: are reserved"));
}

// ---- key policies --------------------------------------------------------------------

TEST_F(KmsJsonTest, GetPutListKeyPolicies) {
  std::string id = NewKey();
  std::string arn = Arn(id);
  std::string get = "{\"KeyId\": " + Quote(id) + ", \"PolicyName\": \"default\"}";
  EXPECT_EQ(DecisionsOf("GetKeyPolicy", get),
            (std::vector<std::string>{"key kms:GetKeyPolicy " + arn + " {}"}));
  EXPECT_EQ(Reply("GetKeyPolicy", get),
            (Json{{"Policy", kms().DefaultKeyPolicy()}, {"PolicyName", "default"}}));
  EXPECT_EQ(Reply("GetKeyPolicy", KeyJson(id))["PolicyName"], "default");

  std::string put = "{\"KeyId\": " + Quote(id) +
                    ", \"PolicyName\": \"default\", \"Policy\": " + Quote(kAllowRootPolicy) + "}";
  auto call = Prepare("PutKeyPolicy", put);
  ASSERT_THAT(call, IsOk());
  EXPECT_EQ(Describe(*call),
            (std::vector<std::string>{"key kms:PutKeyPolicy " + arn +
                                      " {kms:BypassPolicyLockoutSafetyCheck=[false]}"}));
  EXPECT_EQ(call->lockout_check_policy, std::optional<std::string>(kAllowRootPolicy));
  EXPECT_EQ(call->lockout_check_resource, arn);
  EXPECT_THAT(call->run(), IsOk());
  EXPECT_EQ(Reply("GetKeyPolicy", get)["Policy"], kAllowRootPolicy);

  auto bypass = Prepare("PutKeyPolicy", "{\"KeyId\": " + Quote(id) +
                                            ", \"Policy\": " + Quote(kAllowRootPolicy) +
                                            ", \"BypassPolicyLockoutSafetyCheck\": true}");
  ASSERT_THAT(bypass, IsOk());
  EXPECT_FALSE(bypass->lockout_check_policy.has_value());
  EXPECT_THAT(Describe(bypass->authorizations[0]),
              HasSubstr("kms:BypassPolicyLockoutSafetyCheck=[true]"));
  EXPECT_THAT(Invoke("PutKeyPolicy", "{\"KeyId\": " + Quote(id) + ", \"Policy\": \"{}\"}"),
              IsErrorNamed("MalformedPolicyDocumentException"));

  EXPECT_EQ(DecisionsOf("ListKeyPolicies", KeyJson(id)),
            (std::vector<std::string>{"key kms:ListKeyPolicies " + arn + " {}"}));
  EXPECT_EQ(Reply("ListKeyPolicies", "{\"KeyId\": " + Quote(id) + ", \"Limit\": 1}"),
            (Json{{"PolicyNames", {"default"}}, {"Truncated", false}}));
  EXPECT_THAT(Invoke("GetKeyPolicy", "{\"KeyId\": " + Quote(id) + ", \"PolicyName\": \"other\"}"),
              IsError("NotFoundException", "No such policy exists: other"));
}

// ---- rotation ---------------------------------------------------------------------------

TEST_F(KmsJsonTest, Rotation) {
  std::string id = NewKey();
  std::string arn = Arn(id);
  std::string enable = "{\"KeyId\": " + Quote(id) + ", \"RotationPeriodInDays\": 180}";
  EXPECT_EQ(DecisionsOf("EnableKeyRotation", enable),
            (std::vector<std::string>{"key kms:EnableKeyRotation " + arn +
                                      " {kms:RotationPeriodInDays=[180]}"}));
  EXPECT_EQ(DecisionsOf("EnableKeyRotation", KeyJson(id)),
            (std::vector<std::string>{"key kms:EnableKeyRotation " + arn +
                                      " {kms:RotationPeriodInDays=[365]}"}));
  EXPECT_EQ(Reply("GetKeyRotationStatus", KeyJson(id)),
            (Json{{"KeyRotationEnabled", false}, {"KeyId", arn}}));
  EXPECT_EQ(Body("EnableKeyRotation", enable), "");
  EXPECT_EQ(DecisionsOf("GetKeyRotationStatus", KeyJson(id)),
            (std::vector<std::string>{"key kms:GetKeyRotationStatus " + arn + " {}"}));
  EXPECT_EQ(Reply("GetKeyRotationStatus", KeyJson(id)),
            (Json{{"KeyRotationEnabled", true},
                  {"KeyId", arn},
                  {"RotationPeriodInDays", 180},
                  {"NextRotationDate", kStartSeconds + 180 * 86400}}));

  EXPECT_EQ(Reply("ListKeyRotations", KeyJson(id)),
            (Json{{"Rotations", Json::array()}, {"Truncated", false}}));
  const std::string first = kms().DescribeKey(id)->current_key_material_id;
  clock_.Advance(std::chrono::seconds(60));
  EXPECT_EQ(DecisionsOf("RotateKeyOnDemand", KeyJson(id)),
            (std::vector<std::string>{"key kms:RotateKeyOnDemand " + arn + " {}"}));
  EXPECT_EQ(Reply("RotateKeyOnDemand", KeyJson(id)), (Json{{"KeyId", arn}}));
  std::string current = kms().DescribeKey(id)->current_key_material_id;
  EXPECT_EQ(DecisionsOf("ListKeyRotations", KeyJson(id)),
            (std::vector<std::string>{"key kms:ListKeyRotations " + arn + " {}"}));
  EXPECT_EQ(Reply("ListKeyRotations",
                  "{\"KeyId\": " + Quote(id) + ", \"IncludeKeyMaterial\": \"ROTATIONS_ONLY\"}"),
            (Json{{"Rotations",
                   {{{"KeyId", arn},
                     {"KeyMaterialId", current},
                     {"KeyMaterialState", "CURRENT"},
                     {"RotationDate", kStartSeconds + 60},
                     {"RotationType", "ON_DEMAND"}}}},
                  {"Truncated", false}}));
  // ALL_KEY_MATERIAL: the key's first material too, which no rotation made.
  const std::string all =
      "{\"KeyId\": " + Quote(id) + ", \"IncludeKeyMaterial\": \"ALL_KEY_MATERIAL\"";
  EXPECT_EQ(Reply("ListKeyRotations", all + "}"),
            (Json{{"Rotations",
                   {{{"KeyId", arn}, {"KeyMaterialId", first}, {"KeyMaterialState", "NON_CURRENT"}},
                    {{"KeyId", arn},
                     {"KeyMaterialId", current},
                     {"KeyMaterialState", "CURRENT"},
                     {"RotationDate", kStartSeconds + 60},
                     {"RotationType", "ON_DEMAND"}}}},
                  {"Truncated", false}}));
  Json page = Reply("ListKeyRotations", all + ", \"Limit\": 1}");
  ASSERT_EQ(page["Rotations"].size(), 1u);
  EXPECT_EQ(page["Rotations"][0]["KeyMaterialId"], first);
  ASSERT_EQ(page["Truncated"], true);
  page = Reply("ListKeyRotations", all + ", \"Marker\": " + page["NextMarker"].dump() + "}");
  ASSERT_EQ(page["Rotations"].size(), 1u);
  EXPECT_EQ(page["Rotations"][0]["KeyMaterialId"], current);
  EXPECT_EQ(page["Truncated"], false);
  // Markers are opaque and this list's: a bare version number is not one, nor is
  // a ListResourceTags marker of the same key.
  EXPECT_THAT(ErrorOf("ListKeyRotations", all + ", \"Marker\": \"1\"}"),
              IsError("InvalidMarkerException", "Invalid marker"));
  ASSERT_EQ(Body("TagResource", "{\"KeyId\": " + Quote(id) +
                                    R"(, "Tags": [{"TagKey": "1", "TagValue": "a"},)"
                                    R"( {"TagKey": "2", "TagValue": "b"}]})"),
            "");
  Json tags = Reply("ListResourceTags", "{\"KeyId\": " + Quote(id) + ", \"Limit\": 1}");
  ASSERT_TRUE(tags.contains("NextMarker"));
  EXPECT_THAT(ErrorOf("ListKeyRotations", all + ", \"Marker\": " + tags["NextMarker"].dump() + "}"),
              IsError("InvalidMarkerException", "Invalid marker"));

  EXPECT_EQ(DecisionsOf("DisableKeyRotation", KeyJson(id)),
            (std::vector<std::string>{"key kms:DisableKeyRotation " + arn + " {}"}));
  EXPECT_EQ(Body("DisableKeyRotation", KeyJson(id)), "");
  EXPECT_EQ(Reply("GetKeyRotationStatus", KeyJson(id))["KeyRotationEnabled"], false);
}

// ---- cryptography -------------------------------------------------------------------

TEST_F(KmsJsonTest, EncryptAndDecryptAsTheCliSendsThem) {
  std::string id = NewKey();
  std::string arn = Arn(id);
  ASSERT_OK(kms().CreateAlias("alias/x", id));
  std::string encrypt =
      R"({"KeyId": "alias/x", "Plaintext": "aGVsbG8=", "EncryptionContext": {"purpose": "test", "db": "orders"}})";
  EXPECT_EQ(DecisionsOf("Encrypt", encrypt),
            (std::vector<std::string>{
                "key kms:Encrypt " + arn +
                " {kms:EncryptionAlgorithm=[SYMMETRIC_DEFAULT], kms:EncryptionContext:db=[orders], "
                "kms:EncryptionContext:purpose=[test], kms:EncryptionContextKeys=[db,purpose], "
                "kms:RequestAlias=[alias/x]}"}));
  Json e = Reply("Encrypt", encrypt);
  ASSERT_TRUE(e.is_object());
  EXPECT_EQ(e.size(), 3u);
  EXPECT_EQ(e["KeyId"], arn);
  EXPECT_EQ(e["EncryptionAlgorithm"], "SYMMETRIC_DEFAULT");
  std::string blob = e["CiphertextBlob"];
  ASSERT_OK_AND_ASSIGN(Bytes raw, Base64Decode(blob));
  EXPECT_EQ(kms().KeyArnOfCiphertext(raw).value(), arn);

  std::string decrypt = "{\"CiphertextBlob\": " + Quote(blob) +
                        R"(, "EncryptionContext": {"db": "orders", "purpose": "test"}})";
  EXPECT_EQ(DecisionsOf("Decrypt", decrypt),
            (std::vector<std::string>{
                "key kms:Decrypt " + arn +
                " {kms:EncryptionAlgorithm=[SYMMETRIC_DEFAULT], kms:EncryptionContext:db=[orders], "
                "kms:EncryptionContext:purpose=[test], kms:EncryptionContextKeys=[db,purpose]}"}));
  ASSERT_OK_AND_ASSIGN(std::string body, Invoke("Decrypt", decrypt));
  EXPECT_EQ(Json::parse(body),
            (Json{{"KeyId", arn},
                  {"Plaintext", "aGVsbG8="},
                  {"EncryptionAlgorithm", "SYMMETRIC_DEFAULT"},
                  {"KeyMaterialId", kms().DescribeKey(id)->current_key_material_id}}));
  EXPECT_EQ(body.find("{\"KeyId\":"), 0u);  // AWS's member order
  // A different context: InvalidCiphertextException, which AWS sends with no message.
  auto wrong = Invoke("Decrypt", "{\"CiphertextBlob\": " + Quote(blob) + "}");
  ASSERT_THAT(wrong, IsError("InvalidCiphertextException", ""));
  EXPECT_EQ(KmsErrorBody(wrong.status()), R"({"__type":"InvalidCiphertextException"})");
  // An empty context is a present, empty kms:EncryptionContextKeys.
  EXPECT_EQ(DecisionsOf("Decrypt", "{\"CiphertextBlob\": " + Quote(blob) + "}"),
            (std::vector<std::string>{"key kms:Decrypt " + arn +
                                      " {kms:EncryptionAlgorithm=[SYMMETRIC_DEFAULT], "
                                      "kms:EncryptionContextKeys=[]}"}));
}

TEST_F(KmsJsonTest, DecryptFindsTheKeyInTheCiphertext) {
  std::string id = NewKey(), other = NewKey();
  ASSERT_OK(kms().CreateAlias("alias/mine", id));
  std::string blob = EncryptB64(id, "secret");
  // A KeyId naming the right key, by alias: the alias is a condition key.
  EXPECT_EQ(
      DecisionsOf("Decrypt",
                  "{\"CiphertextBlob\": " + Quote(blob) + ", \"KeyId\": \"alias/mine\"}"),
      (std::vector<std::string>{"key kms:Decrypt " + Arn(id) +
                                " {kms:EncryptionAlgorithm=[SYMMETRIC_DEFAULT], "
                                "kms:EncryptionContextKeys=[], kms:RequestAlias=[alias/mine]}"}));
  EXPECT_EQ(Reply("Decrypt", "{\"CiphertextBlob\": " + Quote(blob) +
                                 ", \"KeyId\": " + Quote(Arn(id)) + "}")["Plaintext"],
            B64("secret"));
  // A KeyId naming another key.
  EXPECT_THAT(
      Prepare("Decrypt",
              "{\"CiphertextBlob\": " + Quote(blob) + ", \"KeyId\": " + Quote(other) + "}"),
      IsError(
          "IncorrectKeyException",
          "The key ID in the request does not identify a CMK that can perform this operation."));
  // A KeyId naming nothing.
  EXPECT_THAT(
      Prepare("Decrypt", "{\"CiphertextBlob\": " + Quote(blob) + ", \"KeyId\": \"alias/none\"}"),
      IsError("NotFoundException", "Alias '" + AliasArn("alias/none") + "' is not found."));
  // Not a blob at all.
  EXPECT_THAT(
      Prepare("Decrypt", "{\"CiphertextBlob\": " + Quote(B64("not a ciphertext blob, no")) + "}"),
      IsError("InvalidCiphertextException", ""));
  // A blob of a key that does not exist (its key id rewritten, header check fixed).
  ASSERT_OK_AND_ASSIGN(Bytes raw, Base64Decode(blob));
  std::array<uint8_t, 16> unknown{};
  unknown.fill(0x42);
  kms::testing::RewriteBlobHeader(raw, unknown.data(), 1);
  const std::string unknown_blob = Base64Encode(raw);
  const char kUnknownKey[] =
      "The ciphertext refers to a customer master key that does not exist, does not exist in "
      "this region, or you are not allowed to access.";
  EXPECT_THAT(Prepare("Decrypt", "{\"CiphertextBlob\": " + Quote(unknown_blob) + "}"),
              IsError("AccessDeniedException", kUnknownKey));
  EXPECT_THAT(Prepare("Decrypt", "{\"CiphertextBlob\": " + Quote(unknown_blob) +
                                     ", \"KeyId\": " + Quote(id) + "}"),
              IsErrorNamed("IncorrectKeyException"));
}

TEST_F(KmsJsonTest, ReEncryptNeedsTwoDecisions) {
  std::string source = NewKey(), dest = NewKey();
  ASSERT_OK(kms().CreateAlias("alias/y", dest));
  std::string blob = EncryptB64(source, "payload", R"({"s": "1"})");
  std::string body = "{\"CiphertextBlob\": " + Quote(blob) +
                     R"(, "SourceEncryptionContext": {"s": "1"}, "DestinationKeyId": "alias/y", )"
                     R"("DestinationEncryptionContext": {"d": "2"}})";
  EXPECT_EQ(DecisionsOf("ReEncrypt", body),
            (std::vector<std::string>{
                "key kms:ReEncryptFrom " + Arn(source) +
                    " {kms:EncryptionAlgorithm=[SYMMETRIC_DEFAULT], kms:EncryptionContext:s=[1], "
                    "kms:EncryptionContextKeys=[s], kms:ReEncryptOnSameKey=[false]}",
                "key kms:ReEncryptTo " + Arn(dest) +
                    " {kms:EncryptionAlgorithm=[SYMMETRIC_DEFAULT], kms:EncryptionContext:d=[2], "
                    "kms:EncryptionContextKeys=[d], kms:ReEncryptOnSameKey=[false], "
                    "kms:RequestAlias=[alias/y]}"}));
  Json r = Reply("ReEncrypt", body);
  ASSERT_TRUE(r.is_object());
  EXPECT_EQ(r.size(), 7u);
  EXPECT_EQ(r["SourceKeyId"], Arn(source));
  EXPECT_EQ(r["KeyId"], Arn(dest));
  EXPECT_EQ(r["SourceEncryptionAlgorithm"], "SYMMETRIC_DEFAULT");
  EXPECT_EQ(r["DestinationEncryptionAlgorithm"], "SYMMETRIC_DEFAULT");
  EXPECT_EQ(r["SourceKeyMaterialId"], kms().DescribeKey(source)->current_key_material_id);
  EXPECT_EQ(r["DestinationKeyMaterialId"], kms().DescribeKey(dest)->current_key_material_id);
  Json d =
      Reply("Decrypt", "{\"CiphertextBlob\": " + Quote(r["CiphertextBlob"].get<std::string>()) +
                           R"(, "EncryptionContext": {"d": "2"}})");
  EXPECT_EQ(d["KeyId"], Arn(dest));
  EXPECT_EQ(d["Plaintext"], B64("payload"));
  // Onto the same key.
  auto same = Prepare("ReEncrypt", "{\"CiphertextBlob\": " + Quote(blob) +
                                       ", \"DestinationKeyId\": " + Quote(source) + "}");
  ASSERT_THAT(same, IsOk());
  EXPECT_THAT(Describe(same->authorizations[1]), HasSubstr("kms:ReEncryptOnSameKey=[true]"));
  // A SourceKeyId naming another key.
  EXPECT_THAT(Prepare("ReEncrypt", "{\"CiphertextBlob\": " + Quote(blob) +
                                       ", \"SourceKeyId\": " + Quote(dest) +
                                       ", \"DestinationKeyId\": " + Quote(dest) + "}"),
              IsErrorNamed("IncorrectKeyException"));
  EXPECT_THAT(Prepare("ReEncrypt", "{\"CiphertextBlob\": " + Quote(blob) +
                                       ", \"DestinationKeyId\": \"alias/none\"}"),
              IsError("NotFoundException", "Alias '" + AliasArn("alias/none") + "' is not found."));
}

TEST_F(KmsJsonTest, GenerateDataKeyAndWithoutPlaintext) {
  std::string id = NewKey();
  std::string arn = Arn(id);
  ASSERT_OK(kms().CreateAlias("alias/x", id));
  std::string body =
      R"({"KeyId": "alias/x", "EncryptionContext": {"a": "b"}, "KeySpec": "AES_256"})";
  EXPECT_EQ(DecisionsOf("GenerateDataKey", body),
            (std::vector<std::string>{"key kms:GenerateDataKey " + arn +
                                      " {kms:EncryptionAlgorithm=[SYMMETRIC_DEFAULT], "
                                      "kms:EncryptionContext:a=[b], kms:EncryptionContextKeys=[a], "
                                      "kms:RequestAlias=[alias/x]}"}));
  ASSERT_OK_AND_ASSIGN(std::string raw_reply, Invoke("GenerateDataKey", body));
  EXPECT_EQ(raw_reply.find("{\"CiphertextBlob\":"), 0u);
  Json r = Json::parse(raw_reply);
  const std::string material = kms().DescribeKey(id)->current_key_material_id;
  EXPECT_EQ(r.size(), 4u);
  EXPECT_EQ(r["KeyId"], arn);
  EXPECT_EQ(r["KeyMaterialId"], material);
  ASSERT_OK_AND_ASSIGN(Bytes key, Base64Decode(r["Plaintext"].get<std::string>()));
  EXPECT_EQ(key.size(), 32u);
  Json d =
      Reply("Decrypt", "{\"CiphertextBlob\": " + Quote(r["CiphertextBlob"].get<std::string>()) +
                           R"(, "EncryptionContext": {"a": "b"}})");
  EXPECT_EQ(d["Plaintext"], r["Plaintext"]);

  std::string without = R"({"KeyId": "alias/x", "NumberOfBytes": 16})";
  EXPECT_EQ(
      DecisionsOf("GenerateDataKeyWithoutPlaintext", without),
      (std::vector<std::string>{"key kms:GenerateDataKeyWithoutPlaintext " + arn +
                                " {kms:EncryptionAlgorithm=[SYMMETRIC_DEFAULT], "
                                "kms:EncryptionContextKeys=[], kms:RequestAlias=[alias/x]}"}));
  Json w = Reply("GenerateDataKeyWithoutPlaintext", without);
  EXPECT_EQ(w.size(), 3u);
  EXPECT_EQ(w["KeyId"], arn);
  EXPECT_EQ(w["KeyMaterialId"], material);
  Json dw = Reply("Decrypt",
                  "{\"CiphertextBlob\": " + Quote(w["CiphertextBlob"].get<std::string>()) + "}");
  ASSERT_OK_AND_ASSIGN(Bytes dk, Base64Decode(dw["Plaintext"].get<std::string>()));
  EXPECT_EQ(dk.size(), 16u);

  // The engine's rule: exactly one of KeySpec and NumberOfBytes.
  EXPECT_THAT(Invoke("GenerateDataKey", R"({"KeyId": "alias/x"})"),
              IsError(kValidation, "Please specify either number of bytes or key spec."));
  EXPECT_THAT(Prepare("GenerateDataKey",
                      R"({"KeyId": "alias/x", "NumberOfBytes": 8, )"
                      R"("Recipient": {"KeyEncryptionAlgorithm": "RSAES_OAEP_SHA_256"}})"),
              IsError("UnsupportedOperationException",
                      "Recipient (attested enclaves) is not supported by coffer."));
}

TEST_F(KmsJsonTest, GenerateRandom) {
  EXPECT_EQ(DecisionsOf("GenerateRandom", R"({"NumberOfBytes": 32})"),
            (std::vector<std::string>{"identity kms:GenerateRandom * {}"}));
  Json r = Reply("GenerateRandom", R"({"NumberOfBytes": 32})");
  EXPECT_EQ(r.size(), 1u);
  ASSERT_OK_AND_ASSIGN(Bytes bytes, Base64Decode(r["Plaintext"].get<std::string>()));
  EXPECT_EQ(bytes.size(), 32u);
  EXPECT_NE(Reply("GenerateRandom", R"({"NumberOfBytes": 32})")["Plaintext"], r["Plaintext"]);
  EXPECT_THAT(Invoke("GenerateRandom", "{}"), IsError(kValidation, "NumberOfBytes is required."));
  EXPECT_THAT(
      Prepare("GenerateRandom", R"({"NumberOfBytes": 8, "CustomKeyStoreId": "cks-1"})"),
      IsError("UnsupportedOperationException", "Custom key stores are not supported by coffer."));
}

TEST_F(KmsJsonTest, DryRunAndAlgorithmsReachTheEngine) {
  std::string id = NewKey();
  EXPECT_THAT(
      Invoke("Encrypt", "{\"KeyId\": " + Quote(id) + R"(, "Plaintext": "aGk=", "DryRun": true})"),
      IsError("DryRunOperationException",
              "The request would have succeeded, but the DryRun option is set."));
  auto rsa = Prepare("Encrypt",
                     "{\"KeyId\": " + Quote(id) +
                         R"(, "Plaintext": "aGk=", "EncryptionAlgorithm": "RSAES_OAEP_SHA_256"})");
  ASSERT_THAT(rsa, IsOk());
  EXPECT_THAT(Describe(rsa->authorizations[0]),
              HasSubstr("kms:EncryptionAlgorithm=[RSAES_OAEP_SHA_256]"));
  EXPECT_THAT(rsa->run(), IsErrorNamed("InvalidKeyUsageException"));

  // Decrypt: a dry run checks the ciphertext and its context, unless
  // DryRunModifiers says IGNORE_CIPHERTEXT; then the call is authorized on the
  // KeyId given and the blob is not read.
  const std::string blob = EncryptB64(id, "dry", R"({"k": "v"})");
  const std::string dry = "{\"CiphertextBlob\": " + Quote(blob) +
                          R"(, "EncryptionContext": {"k": "v"}, "DryRun": true)";
  EXPECT_THAT(Invoke("Decrypt", dry + "}"), IsErrorNamed("DryRunOperationException"));
  const std::string wrong_context = "{\"CiphertextBlob\": " + Quote(blob) +
                                    R"(, "EncryptionContext": {"k": "w"}, "DryRun": true)";
  EXPECT_THAT(Invoke("Decrypt", wrong_context + "}"), IsErrorNamed("InvalidCiphertextException"));
  // With IGNORE_CIPHERTEXT the KeyId is required and the ciphertext is not.
  const std::string garbage = R"({"CiphertextBlob": "Z2FyYmFnZWdhcmJhZ2U=", "DryRun": true, )"
                              R"("DryRunModifiers": ["IGNORE_CIPHERTEXT"])";
  const std::string key_null =
      "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member "
      "must not be null";
  EXPECT_THAT(Prepare("Decrypt", garbage + "}"), IsError("ValidationException", key_null));
  EXPECT_THAT(Prepare("Decrypt", wrong_context + R"(, "DryRunModifiers": ["IGNORE_CIPHERTEXT"]})"),
              IsError("ValidationException", key_null));
  EXPECT_THAT(Invoke("Decrypt", R"({"DryRun": true, "DryRunModifiers": ["IGNORE_CIPHERTEXT"], )"
                                R"("KeyId": )" +
                                    Quote(id) + "}"),
              IsErrorNamed("DryRunOperationException"));
  EXPECT_THAT(Prepare("Decrypt", R"({"DryRun": true, "KeyId": )" + Quote(id) + "}"),
              IsError("ValidationException",
                      "1 validation error detected: Value null at 'ciphertextBlob' failed to "
                      "satisfy constraint: Member must not be null"));
  EXPECT_THAT(Invoke("ReEncrypt", R"({"DryRun": true, "DryRunModifiers": ["IGNORE_CIPHERTEXT"], )"
                                  R"("SourceKeyId": )" +
                                      Quote(id) + ", \"DestinationKeyId\": " + Quote(id) + "}"),
              IsErrorNamed("DryRunOperationException"));
  EXPECT_THAT(Prepare("ReEncrypt", garbage + ", \"DestinationKeyId\": " + Quote(id) + "}"),
              IsError("ValidationException",
                      "1 validation error detected: Value null at 'sourceKeyId' failed to "
                      "satisfy constraint: Member must not be null"));
  const std::string with_key = garbage + ", \"KeyId\": " + Quote(id) + "}";
  EXPECT_EQ(DecisionsOf("Decrypt", with_key),
            (std::vector<std::string>{"key kms:Decrypt " + Arn(id) +
                                      " {kms:EncryptionAlgorithm=[SYMMETRIC_DEFAULT], "
                                      "kms:EncryptionContextKeys=[]}"}));
  EXPECT_THAT(Invoke("Decrypt", with_key), IsErrorNamed("DryRunOperationException"));
  // Without DryRun the modifier changes nothing.
  EXPECT_THAT(Invoke("Decrypt", R"({"CiphertextBlob": "Z2FyYmFnZWdhcmJhZ2U=", )"
                                R"("DryRunModifiers": ["IGNORE_CIPHERTEXT"], "KeyId": )" +
                                    Quote(id) + "}"),
              IsErrorNamed("InvalidCiphertextException"));
}

// The call runs on the key it was authorized for, even if the alias moves meanwhile.
TEST_F(KmsJsonTest, TheCallActsOnTheAuthorizedKey) {
  std::string a = NewKey(), b = NewKey();
  ASSERT_OK(kms().CreateAlias("alias/x", a));
  auto call = Prepare("Encrypt", R"({"KeyId": "alias/x", "Plaintext": "aGk="})");
  ASSERT_THAT(call, IsOk());
  ASSERT_EQ(call->authorizations[0].resource, Arn(a));
  ASSERT_OK(kms().UpdateAlias("alias/x", b));
  ASSERT_OK_AND_ASSIGN(api::Reply reply, call->run());
  const std::string& body = reply.body;
  EXPECT_EQ(Json::parse(body)["KeyId"], Arn(a));
}

// ---- secrets -----------------------------------------------------------------------------

TEST_F(KmsJsonTest, SecretsNeverAppearInErrors) {
  std::string id = NewKey();
  const std::string secret = "correct horse battery staple";
  const std::string secret_b64 = B64(secret);
  std::vector<Status> errors;
  auto collect = [&](std::string_view op, const std::string& body) {
    Status st = ErrorOf(op, body);
    EXPECT_FALSE(st.ok()) << op << " " << body;
    errors.push_back(st);
  };
  // Another member invalid, the plaintext valid.
  collect("Encrypt", "{\"Plaintext\": " + Quote(secret_b64) + "}");
  collect("Encrypt", "{\"KeyId\": \"\", \"Plaintext\": " + Quote(secret_b64) + "}");
  collect("Encrypt", "{\"KeyId\": 5, \"Plaintext\": " + Quote(secret_b64) + "}");
  collect("Encrypt", "{\"KeyId\": \"alias/none\", \"Plaintext\": " + Quote(secret_b64) + "}");
  // The plaintext itself invalid: too long, not base64, unpadded.
  std::string long_secret;
  while (long_secret.size() <= 4096) long_secret += secret;
  collect("Encrypt",
          "{\"KeyId\": " + Quote(id) + ", \"Plaintext\": " + Quote(B64(long_secret)) + "}");
  collect("Encrypt", "{\"KeyId\": " + Quote(id) + ", \"Plaintext\": " + Quote(secret) + "}");
  collect("Encrypt", "{\"KeyId\": " + Quote(id) + ", \"Plaintext\": " +
                         Quote(secret_b64.substr(0, secret_b64.size() - 1)) + "}");
  collect("Encrypt", "{\"KeyId\": " + Quote(id) + ", \"Plaintext\": " + Quote(secret_b64) +
                         ", \"DryRun\": true}");
  // Decrypt with a wrong context, and of a blob given in bad base64.
  std::string blob = EncryptB64(id, secret, R"({"k": "v"})");
  collect("Decrypt", "{\"CiphertextBlob\": " + Quote(blob) + "}");
  collect("Decrypt", "{\"CiphertextBlob\": " + Quote(blob.substr(1)) + "}");
  for (const Status& st : errors) {
    for (const std::string& text : {st.message(), KmsErrorBody(st)}) {
      EXPECT_THAT(text, Not(HasSubstr(secret))) << st.ToString();
      EXPECT_THAT(text, Not(HasSubstr(secret_b64.substr(0, 16)))) << st.ToString();
      EXPECT_THAT(text, Not(HasSubstr(blob.substr(8, 16)))) << st.ToString();
    }
  }
}

// ---- the error table ------------------------------------------------------------------------

TEST(JsonErrorsTest, NamedErrorsKeepTheirNameAndMessage) {
  Status not_found(StatusCode::kNotFound, "NotFoundException", "Key 'k' does not exist");
  EXPECT_EQ(KmsErrorBody(not_found),
            R"({"__type":"NotFoundException","message":"Key 'k' does not exist"})");
  EXPECT_EQ(KmsErrorHttpStatus(not_found), 400);
  Status denied(StatusCode::kPermissionDenied, "AccessDeniedException", "User: \"x\" is not");
  EXPECT_EQ(KmsErrorBody(denied),
            R"({"__type":"AccessDeniedException","message":"User: \"x\" is not"})");
  EXPECT_EQ(KmsErrorHttpStatus(denied), 400);
  for (const char* name : {"DisabledException", "KMSInvalidStateException", "ValidationException",
                           "ThrottlingException", "LimitExceededException"}) {
    EXPECT_EQ(KmsErrorHttpStatus(Status(StatusCode::kFailedPrecondition, name, "m")), 400) << name;
  }
  Status internal(StatusCode::kInternal, "KMSInternalException", "the key has no stored policy");
  EXPECT_EQ(KmsErrorHttpStatus(internal), 500);
  EXPECT_EQ(KmsErrorBody(internal),
            R"({"__type":"KMSInternalException","message":"the key has no stored policy"})");
  EXPECT_EQ(KmsErrorHttpStatus(Status(StatusCode::kInvalidArgument, "KMSInternalException", "")),
            500);
  EXPECT_EQ(KmsErrorHttpStatus(Status(StatusCode::kInternal, "DependencyTimeoutException", "slow")),
            503);
  EXPECT_EQ(KmsErrorHttpStatus(Status(StatusCode::kInternal, "KeyUnavailableException", "")), 500);
  EXPECT_EQ(KmsErrorType(internal), "KMSInternalException");
}

TEST(JsonErrorsTest, UnnamedErrorsGetTheServicesNames) {
  struct Case {
    StatusCode code;
    std::string type;
    int http;
  };
  for (const Case& c : std::vector<Case>{
           {StatusCode::kInvalidArgument, "ValidationException", 400},
           {StatusCode::kNotFound, "NotFoundException", 400},
           {StatusCode::kAlreadyExists, "AlreadyExistsException", 400},
           {StatusCode::kFailedPrecondition, "KMSInvalidStateException", 400},
           {StatusCode::kPermissionDenied, "AccessDeniedException", 400},
           {StatusCode::kUnauthenticated, "UnrecognizedClientException", 400},
           {StatusCode::kResourceExhausted, "LimitExceededException", 400},
       }) {
    Status st(c.code, "a message");
    EXPECT_EQ(KmsErrorType(st), c.type);
    EXPECT_EQ(KmsErrorHttpStatus(st), c.http) << c.type;
    EXPECT_EQ(KmsErrorBody(st), "{\"__type\":\"" + c.type + "\",\"message\":\"a message\"}");
  }
  // Faults of dependencies: a generic text, never the dependency's own (it may name files).
  for (const auto& [code, type, http] : std::vector<std::tuple<StatusCode, std::string, int>>{
           {StatusCode::kInternal, "KMSInternalException", 500},
           {StatusCode::kDataLoss, "KMSInternalException", 500},
           {StatusCode::kUnavailable, "DependencyTimeoutException", 503}}) {
    Status st(code, "sqlite: disk I/O error at /var/lib/coffer/state.db");
    EXPECT_EQ(KmsErrorHttpStatus(st), http);
    EXPECT_EQ(KmsErrorBody(st), "{\"__type\":\"" + type +
                                    "\",\"message\":\"An internal error occurred. Try again "
                                    "later.\"}");
  }
  JsonError ok = ToJsonError(Status::Ok(), kKmsErrorNames);
  EXPECT_EQ(ok.type, "KMSInternalException");
  EXPECT_EQ(ok.http_status, 500);
}

TEST(JsonErrorsTest, BodyLeavesOutAnEmptyMessageAndSurvivesBadUtf8) {
  EXPECT_EQ(JsonErrorBody({"InvalidCiphertextException", "", 400}),
            R"({"__type":"InvalidCiphertextException"})");
  std::string body = JsonErrorBody({"ValidationException", "Value '\xff' at 'x'", 400});
  Json parsed = Json::parse(body);
  EXPECT_EQ(parsed["__type"], "ValidationException");
  EXPECT_EQ(parsed["message"], "Value '\xef\xbf\xbd' at 'x'");
}

}  // namespace
}  // namespace coffer::api
