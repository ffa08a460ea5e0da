#include "cli/kms_client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cli/fake_transport.h"
#include "cli/sigv4_check.h"

namespace coffer::cli {
namespace {

using ::testing::HasSubstr;

const TimePoint kNow = FromEpochMillis(1764497396000);

net::sigv4::Credentials Creds() {
  return {"AKIDEXAMPLE", crypto::SecretBytes(std::string_view("secret")), ""};
}

TEST(KmsRequestTest, Bodies) {
  EXPECT_EQ(CreateKeyRequest("", "", {}), "{}");
  EXPECT_EQ(CreateKeyRequest(R"({"Version":"2012-10-17"})", "Backup \"key\"",
                             {{"env", "prod"}, {"team", ""}}),
            R"({"Policy":"{\"Version\":\"2012-10-17\"}","Description":"Backup \"key\"",)"
            R"("Tags":[{"TagKey":"env","TagValue":"prod"},{"TagKey":"team","TagValue":""}]})");
  EXPECT_EQ(CreateAliasRequest("alias/backup", "1234"),
            R"({"AliasName":"alias/backup","TargetKeyId":"1234"})");
  EXPECT_EQ(KeyIdRequest("alias/backup"), R"({"KeyId":"alias/backup"})");
  EXPECT_EQ(GetKeyPolicyRequest("k", "default"), R"({"KeyId":"k","PolicyName":"default"})");
  EXPECT_EQ(ScheduleKeyDeletionRequest("k", std::nullopt), R"({"KeyId":"k"})");
  EXPECT_EQ(ScheduleKeyDeletionRequest("k", 7), R"({"KeyId":"k","PendingWindowInDays":7})");
  EXPECT_EQ(ListAliasesRequest(""), "{}");
  EXPECT_EQ(ListAliasesRequest("k"), R"({"KeyId":"k"})");
  EXPECT_EQ(DecryptRequest(AsBytes("blob"), {}, ""), R"({"CiphertextBlob":"YmxvYg=="})");
  EXPECT_EQ(
      DecryptRequest(AsBytes("blob"), {{"db", "orders"}}, "alias/k"),
      R"({"CiphertextBlob":"YmxvYg==","EncryptionContext":{"db":"orders"},"KeyId":"alias/k"})");
}

TEST(KmsRequestTest, EncryptBodyIsValidJsonWithTheBase64Plaintext) {
  crypto::SecretBytes plaintext(std::string_view("customer record\0\xff", 17));
  crypto::SecretBytes body =
      EncryptRequest("alias/\"odd\"", plaintext, {{"purpose", "backup"}, {"db", "x"}});
  auto j = nlohmann::json::parse(AsChars(RevealSecret(body)));
  EXPECT_EQ(j["KeyId"], "alias/\"odd\"");
  EXPECT_EQ(j["Plaintext"], Base64Encode(RevealSecret(plaintext)));
  EXPECT_EQ(j["EncryptionContext"], (nlohmann::json{{"db", "x"}, {"purpose", "backup"}}));
  crypto::SecretBytes bare = EncryptRequest("k", plaintext, {});
  EXPECT_EQ(AsChars(RevealSecret(bare)),
            R"({"KeyId":"k","Plaintext":")" + Base64Encode(RevealSecret(plaintext)) + R"("})");
}

class KmsClientTest : public ::testing::Test {
 protected:
  KmsClientTest()
      : transport_([this](const net::HttpRequest& r) { return handler_(r); }),
        aws_(transport_, clock_, Endpoint::Parse("http://127.0.0.1:7878").value(), "us-east-1",
             Creds()),
        kms_(aws_) {}

  std::function<Result<net::HttpResponse>(const net::HttpRequest&)> handler_;
  FakeClock clock_{kNow};
  testing::FakeTransport transport_;
  AwsClient aws_;
  KmsClient kms_;
};

TEST_F(KmsClientTest, CallSendsTheTargetAndSigns) {
  handler_ = [](const net::HttpRequest&) { return net::HttpResponse{200, {}, R"({"KeyId":"k"})"}; };
  auto answer = kms_.Call("CancelKeyDeletion", R"({"KeyId":"k"})");
  ASSERT_TRUE(answer.ok());
  EXPECT_EQ(*answer, R"({"KeyId":"k"})");
  ASSERT_EQ(transport_.sent().size(), 1u);
  const net::HttpRequest& r = transport_.sent()[0].request;
  EXPECT_EQ(r.Header("X-Amz-Target"), "TrentService.CancelKeyDeletion");
  EXPECT_EQ(r.body, R"({"KeyId":"k"})");
  EXPECT_TRUE(testing::VerifySignedRequest(r, "secret", kNow, "us-east-1", "kms").ok());
}

TEST_F(KmsClientTest, PaginationFollowsMarkersAndMerges) {
  handler_ = [](const net::HttpRequest& r) {
    auto body = nlohmann::json::parse(r.body);
    std::string marker = body.value("Marker", "");
    if (marker.empty()) {
      return net::HttpResponse{
          200, {}, R"({"Keys":[{"KeyId":"1"}],"NextMarker":"m1","Truncated":true})"};
    }
    if (marker == "m1") {
      return net::HttpResponse{
          200, {}, R"({"Keys":[{"KeyId":"2"},{"KeyId":"3"}],"NextMarker":"m2","Truncated":true})"};
    }
    return net::HttpResponse{200, {}, R"({"Keys":[{"KeyId":"4"}],"Truncated":false})"};
  };
  auto answer = kms_.CallPaginated("ListKeys", "{}", "Keys");
  ASSERT_TRUE(answer.ok()) << answer.status().ToString();
  EXPECT_EQ(*answer, R"({"Keys":[{"KeyId":"1"},{"KeyId":"2"},{"KeyId":"3"},{"KeyId":"4"}]})");
  ASSERT_EQ(transport_.sent().size(), 3u);
  EXPECT_EQ(transport_.sent()[0].request.body, "{}");
  EXPECT_EQ(transport_.sent()[1].request.body, R"({"Marker":"m1"})");
  EXPECT_EQ(transport_.sent()[2].request.body, R"({"Marker":"m2"})");
}

TEST_F(KmsClientTest, PaginationKeepsTheFirstRequestsMembers) {
  handler_ = [](const net::HttpRequest& r) {
    auto body = nlohmann::json::parse(r.body);
    if (!body.contains("Marker")) {
      return net::HttpResponse{
          200, {}, R"({"Aliases":[{"AliasName":"alias/a"}],"NextMarker":"x","Truncated":true})"};
    }
    return net::HttpResponse{200, {}, R"({"Aliases":[],"Truncated":false})"};
  };
  auto answer = kms_.CallPaginated("ListAliases", ListAliasesRequest("k"), "Aliases");
  ASSERT_TRUE(answer.ok());
  EXPECT_EQ(*answer, R"({"Aliases":[{"AliasName":"alias/a"}]})");
  EXPECT_EQ(transport_.sent()[1].request.body, R"({"KeyId":"k","Marker":"x"})");
}

TEST_F(KmsClientTest, PaginationRefusesALoopingServer) {
  handler_ = [](const net::HttpRequest&) {
    return net::HttpResponse{200, {}, R"({"Keys":[],"NextMarker":"same","Truncated":true})"};
  };
  auto answer = kms_.CallPaginated("ListKeys", "{}", "Keys");
  ASSERT_FALSE(answer.ok());
  EXPECT_THAT(answer.status().message(), HasSubstr("repeat the marker 'same'"));
  EXPECT_EQ(transport_.sent().size(), 2u);

  handler_ = [](const net::HttpRequest&) {
    return net::HttpResponse{200, {}, R"({"Keys":[],"Truncated":true})"};
  };
  EXPECT_FALSE(kms_.CallPaginated("ListKeys", "{}", "Keys").ok());
}

TEST_F(KmsClientTest, PaginationStopsAtTheFirstError) {
  handler_ = [](const net::HttpRequest&) {
    return net::HttpResponse{400, {}, R"({"__type":"AccessDeniedException","message":"no"})"};
  };
  auto answer = kms_.CallPaginated("ListKeys", "{}", "Keys");
  ASSERT_FALSE(answer.ok());
  EXPECT_EQ(answer.status().error_name(), "AccessDeniedException");
}

}  // namespace
}  // namespace coffer::cli
