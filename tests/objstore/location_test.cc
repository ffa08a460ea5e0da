#include "objstore/location.h"

#include <gtest/gtest.h>

#include "testing/status_matchers.h"

namespace coffer::objstore {
namespace {

using ::coffer::testing::IsOk;

TEST(ValidateBucketNameTest, AcceptsS3Names) {
  const std::string longest(63, 'a');
  for (const std::string& name :
       {std::string("abc"), std::string("my-bucket"), std::string("backups.example.com"),
        std::string("a1b2c3"), std::string("123"), std::string("a-b.c-d"), longest}) {
    EXPECT_OK(ValidateBucketName(name)) << name;
  }
}

TEST(ValidateBucketNameTest, RefusesWhatS3Refuses) {
  struct Case {
    std::string name;
    std::string why;
  };
  const std::vector<Case> cases = {
      {"ab", "3 to 63"},
      {std::string(64, 'a'), "3 to 63"},
      {"My-Bucket", "lower-case"},
      {"my_bucket", "lower-case"},
      {"my bucket", "lower-case"},
      {"a/b", "lower-case"},
      {"-abc", "begin and end"},
      {"abc-", "begin and end"},
      {".abc", "begin and end"},
      {"a..b", "two adjacent dots"},
      {"192.168.5.4", "IP address"},
      {"xn--abc", "xn--"},
      {"sthree-abc", "sthree-"},
      {"amzn-s3-demo-x", "amzn-s3-demo-"},
      {"abc-s3alias", "-s3alias"},
      {"abc--ol-s3", "--ol-s3"},
      {"abc.mrap", ".mrap"},
      {"abc--x-s3", "--x-s3"},
  };
  for (const Case& c : cases) {
    Status st = ValidateBucketName(c.name);
    ASSERT_FALSE(st.ok()) << c.name;
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(st.error_name(), kInvalidBucketName);
    EXPECT_NE(st.message().find(c.why), std::string::npos) << st.message();
    EXPECT_NE(st.message().find("'" + c.name + "'"), std::string::npos) << st.message();
  }
  // Four groups of digits only: "1.2.3" and "1.2.3.4.5" are names.
  EXPECT_OK(ValidateBucketName("1.2.3"));
  EXPECT_OK(ValidateBucketName("1.2.3.4.5"));
}

TEST(ValidateKeyTest, LengthAndEncoding) {
  EXPECT_OK(ValidateKey("a"));
  EXPECT_OK(ValidateKey(std::string(1024, 'k')));
  EXPECT_OK(ValidateKey("données/été"));
  EXPECT_OK(ValidateKey("../../etc/passwd"));  // keys are opaque
  EXPECT_EQ(ValidateKey("").error_name(), kInvalidKey);
  EXPECT_EQ(ValidateKey(std::string(1025, 'k')).error_name(), kKeyTooLong);
  // 1024 bytes, fewer characters: the limit is in bytes.
  std::string accents;
  while (accents.size() < 1026) accents += "é";
  EXPECT_EQ(ValidateKey(accents).error_name(), kKeyTooLong);
  EXPECT_EQ(ValidateKey("bad\xff").error_name(), kInvalidKey);
  EXPECT_EQ(ValidateKey("\xc3").error_name(), kInvalidKey);
}

TEST(ParseObjectLocationTest, UrlsAndArns) {
  struct Case {
    std::string text;
    std::string bucket;
    std::string key;
  };
  const std::vector<Case> cases = {
      {"s3://bucket/key", "bucket", "key"},
      {"s3://my.bucket/backups/db 1/full.bak", "my.bucket", "backups/db 1/full.bak"},
      {"arn:aws:s3:::bucket/key", "bucket", "key"},
      {"arn:aws:s3:::my-bucket/a/b/c.bak", "my-bucket", "a/b/c.bak"},
      {"arn:aws-cn:s3:::bucket/k", "bucket", "k"},
      {"arn:aws-us-gov:s3:::bucket/k", "bucket", "k"},
      {"s3://bucket//double", "bucket", "/double"},
      {"s3://bucket/a/../b", "bucket", "a/../b"},
      {"s3://bucket/trailing/", "bucket", "trailing/"},
  };
  for (const Case& c : cases) {
    auto loc = ParseObjectLocation(c.text);
    ASSERT_TRUE(loc.ok()) << c.text << ": " << loc.status().ToString();
    EXPECT_EQ(loc->bucket, c.bucket) << c.text;
    EXPECT_EQ(loc->key, c.key) << c.text;
  }
}

TEST(ParseObjectLocationTest, RefusesMalformedLocations) {
  for (const char* text :
       {"", "bucket/key", "s3:/bucket/key", "S3://bucket/key", "s3://", "s3:///key", "s3://bucket",
        "s3://bucket/", "arn:aws:s3:::bucket", "arn:aws:s3:us-east-1:111122223333:bucket/key",
        "arn:aws:kms:::b/k", "arn:foo:s3:::bucket/key", "http://bucket/key"}) {
    auto loc = ParseObjectLocation(text);
    ASSERT_FALSE(loc.ok()) << text;
    EXPECT_EQ(loc.status().code(), StatusCode::kInvalidArgument) << text;
    EXPECT_EQ(loc.status().error_name(), kInvalidLocation) << text;
    EXPECT_NE(loc.status().message().find("'" + std::string(text) + "'"), std::string::npos);
  }
  EXPECT_EQ(ParseObjectLocation("s3://Bad_Bucket/key").status().error_name(), kInvalidBucketName);
  EXPECT_EQ(ParseObjectLocation("s3://bucket/" + std::string(1025, 'k')).status().error_name(),
            kKeyTooLong);
  EXPECT_EQ(ParseObjectLocation("arn:aws:s3:::bucket/\xff").status().error_name(), kInvalidKey);
}

TEST(ParseBucketLocationTest, KeyIsOptional) {
  for (const char* text : {"s3://bucket", "s3://bucket/", "arn:aws:s3:::bucket"}) {
    auto loc = ParseBucketLocation(text);
    ASSERT_TRUE(loc.ok()) << text;
    EXPECT_EQ(loc->bucket, "bucket");
    EXPECT_EQ(loc->key, "");
  }
  auto prefix = ParseBucketLocation("s3://bucket/backups/");
  ASSERT_TRUE(prefix.ok());
  EXPECT_EQ(prefix->key, "backups/");
  EXPECT_FALSE(ParseBucketLocation("s3:///x").ok());
}

TEST(ObjectLocationTest, FormatsBack) {
  ObjectLocation loc{"bucket", "a/b.bak"};
  EXPECT_EQ(loc.Arn(), "arn:aws:s3:::bucket/a/b.bak");
  EXPECT_EQ(loc.Url(), "s3://bucket/a/b.bak");
  EXPECT_EQ(ParseObjectLocation(loc.Arn()).value(), loc);
  EXPECT_EQ(ParseObjectLocation(loc.Url()).value(), loc);
  EXPECT_EQ((ObjectLocation{"bucket", ""}).Url(), "s3://bucket");
  EXPECT_EQ((ObjectLocation{"bucket", ""}).Arn(), "arn:aws:s3:::bucket");
}

}  // namespace
}  // namespace coffer::objstore
