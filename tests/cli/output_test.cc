#include "cli/output.h"

#include <gtest/gtest.h>
#include <stdlib.h>

namespace coffer::cli {
namespace {

// Expected texts below were produced by awscli's own formatter (awscli/text.py,
// json.dumps(indent=4, ensure_ascii=False)) and Python's
// datetime.fromtimestamp(t, tz).isoformat().

class OutputTest : public ::testing::Test {
 protected:
  // FormatAnswer shows timestamps in local time: make it UTC for the test.
  void SetUp() override {
    const char* tz = ::getenv("TZ");
    saved_tz_ = tz == nullptr ? std::nullopt : std::optional<std::string>(tz);
    ::setenv("TZ", "UTC", 1);
    ::tzset();
  }
  void TearDown() override {
    if (saved_tz_) {
      ::setenv("TZ", saved_tz_->c_str(), 1);
    } else {
      ::unsetenv("TZ");
    }
    ::tzset();
  }
  std::optional<std::string> saved_tz_;
};

constexpr std::string_view kDescribeKey =
    R"({"KeyMetadata":{"AWSAccountId":"111122223333","KeyId":"1234abcd-12ab-34cd-56ef-1234567890ab",)"
    R"("Arn":"arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",)"
    R"("CreationDate":1764497396.123,"Enabled":true,"Description":"Backup key",)"
    R"("KeyUsage":"ENCRYPT_DECRYPT","KeyState":"Enabled","Origin":"AWS_KMS","KeyManager":"CUSTOMER",)"
    R"("CustomerMasterKeySpec":"SYMMETRIC_DEFAULT","KeySpec":"SYMMETRIC_DEFAULT",)"
    R"("EncryptionAlgorithms":["SYMMETRIC_DEFAULT"],"MultiRegion":false}})";

TEST_F(OutputTest, TextAsTheAwsCli) {
  auto text = FormatAnswer(kDescribeKey, OutputFormat::kText);
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text,
            "KEYMETADATA\t111122223333\tarn:aws:kms:us-east-1:111122223333:key/"
            "1234abcd-12ab-34cd-56ef-1234567890ab\t2025-11-30T10:09:56.123000+00:00\t"
            "SYMMETRIC_DEFAULT\tBackup key\tTrue\t1234abcd-12ab-34cd-56ef-1234567890ab\t"
            "CUSTOMER\tSYMMETRIC_DEFAULT\tEnabled\tENCRYPT_DECRYPT\tFalse\tAWS_KMS\n"
            "ENCRYPTIONALGORITHMS\tSYMMETRIC_DEFAULT\n");
}

TEST_F(OutputTest, TextOfListsOfObjectsUsesTheUnionOfKeys) {
  auto text = FormatAnswer(
      R"({"Aliases":[{"AliasName":"alias/a","AliasArn":"arn:aws:kms:us-east-1:111122223333:alias/a",)"
      R"("TargetKeyId":"k1","CreationDate":1764497396},{"AliasName":"alias/aws/ebs","AliasArn":"arn:x"}]})",
      OutputFormat::kText);
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text,
            "ALIASES\tarn:aws:kms:us-east-1:111122223333:alias/a\talias/a\t"
            "2025-11-30T10:09:56+00:00\tk1\nALIASES\tarn:x\talias/aws/ebs\t\t\n");
}

TEST_F(OutputTest, TextOfNestedStructures) {
  auto text = FormatAnswer(
      R"({"A":[[1,2],[3,4],5],"B":null,"C":1.5,"D":{"E":[],"F":"x"},"G":[{"k":1,"n":{"z":2}},{"j":"v"}]})",
      OutputFormat::kText);
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, "None\t1.5\nA\t5\nA\t1\nA\t2\nA\t3\nA\t4\nD\tx\nG\t\t1\nN\t2\nG\tv\t\n");
  EXPECT_EQ(*FormatAnswer(R"({"Keys":[]})", OutputFormat::kText), "");
}

TEST_F(OutputTest, JsonAsTheAwsCli) {
  auto json =
      FormatAnswer(R"({"a":"é","b":[],"c":{},"d":1.0,"e":[1,{"f":true}]})", OutputFormat::kJson);
  ASSERT_TRUE(json.ok());
  EXPECT_EQ(*json,
            "{\n    \"a\": \"é\",\n    \"b\": [],\n    \"c\": {},\n    \"d\": 1.0,\n    \"e\": [\n"
            "        1,\n        {\n            \"f\": true\n        }\n    ]\n}\n");
  auto described = FormatAnswer(kDescribeKey, OutputFormat::kJson);
  ASSERT_TRUE(described.ok());
  EXPECT_NE(described->find("\"CreationDate\": \"2025-11-30T10:09:56.123000+00:00\""),
            std::string::npos);
}

TEST_F(OutputTest, EmptyAnswersPrintNothing) {
  EXPECT_EQ(*FormatAnswer("{}", OutputFormat::kJson), "");
  EXPECT_EQ(*FormatAnswer("{}", OutputFormat::kText), "");
  EXPECT_FALSE(FormatAnswer("not json", OutputFormat::kJson).ok());
}

TEST_F(OutputTest, OnlyTimestampMembersAreConverted) {
  auto json =
      FormatAnswer(R"({"DeletionDate":1764497396,"PendingWindowInDays":7,"Other":1764497396})",
                   OutputFormat::kText);
  ASSERT_TRUE(json.ok());
  EXPECT_EQ(*json, "2025-11-30T10:09:56+00:00\t1764497396\t7\n");
}

TEST(IsoTimestampTest, AsPython) {
  EXPECT_EQ(IsoTimestamp(1764497396.123, 0), "2025-11-30T10:09:56.123000+00:00");
  EXPECT_EQ(IsoTimestamp(1764497396, 3600), "2025-11-30T11:09:56+01:00");
  EXPECT_EQ(IsoTimestamp(1764497396.5, -7 * 3600), "2025-11-30T03:09:56.500000-07:00");
  EXPECT_EQ(IsoTimestamp(0.0000004, 0), "1970-01-01T00:00:00+00:00");
  EXPECT_EQ(IsoTimestamp(1764497396.9999996, 19800), "2025-11-30T15:39:57+05:30");
}

TEST(OutputFormatTest, Names) {
  EXPECT_EQ(OutputFormatFromName("text"), OutputFormat::kText);
  EXPECT_EQ(OutputFormatFromName("json"), OutputFormat::kJson);
  EXPECT_EQ(OutputFormatFromName("table"), OutputFormat::kJson);
}

}  // namespace
}  // namespace coffer::cli
