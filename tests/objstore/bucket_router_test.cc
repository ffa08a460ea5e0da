#include "objstore/bucket_router.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <mutex>

#include "testing/files.h"
#include "testing/status_matchers.h"

namespace coffer::objstore {
namespace {

using ::coffer::testing::IsOk;
using ::coffer::testing::TempDir;
using ::testing::HasSubstr;

// Records the requests of the configured bucket's store; answers 200 (or 404
// for HEADs of `missing`).
class RecordingTransport final : public net::HttpTransport {
 public:
  RecordingTransport(std::mutex& mu, std::vector<net::HttpRequest>& log) : mu_(mu), log_(log) {}
  Result<net::HttpResponse> Send(const net::Endpoint&, const net::HttpRequest& r) override {
    std::lock_guard lock(mu_);
    log_.push_back(r);
    return net::HttpResponse{200, {}, ""};
  }

 private:
  std::mutex& mu_;
  std::vector<net::HttpRequest>& log_;
};

S3BucketConfig Remote(std::string name, std::string remote) {
  S3BucketConfig c;
  c.name = std::move(name);
  c.remote_name = std::move(remote);
  c.s3.endpoint = "http://127.0.0.1:9000";
  c.s3.credentials = {"AKID", crypto::SecretBytes(std::string_view("secret")), ""};
  return c;
}

class BucketRouterTest : public ::testing::Test {
 protected:
  S3Environment Env() {
    S3Environment env;
    env.make_transport = [this]() -> Result<std::unique_ptr<net::HttpTransport>> {
      return std::unique_ptr<net::HttpTransport>(std::make_unique<RecordingTransport>(mu_, log_));
    };
    return env;
  }
  std::vector<net::HttpRequest> Log() {
    std::lock_guard lock(mu_);
    return log_;
  }

  TempDir dir_;
  std::mutex mu_;
  std::vector<net::HttpRequest> log_;
};

TEST_F(BucketRouterTest, ConfiguredBucketsGoToTheirServiceUnderTheirRealName) {
  std::vector<S3BucketConfig> buckets = {Remote("offsite", "acme-backups-eu")};
  ASSERT_OK_AND_ASSIGN(auto router, BucketRouter::Create(dir_.path() + "/buckets", buckets, Env()));
  ASSERT_OK(router->Put("offsite", "db/full.bak", AsBytes(std::string_view("remote"))));
  auto log = Log();
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].method, "PUT");
  EXPECT_EQ(log[0].target, "/acme-backups-eu/db/full.bak");
  // Nothing of it on the local disk.
  EXPECT_FALSE(std::filesystem::exists(dir_.path() + "/buckets/offsite"));

  // Any other bucket is a directory under the buckets directory.
  ASSERT_OK(router->CreateBucket("local"));
  ASSERT_OK(router->Put("local", "k", AsBytes(std::string_view("here"))));
  EXPECT_EQ(testing::ReadFile(dir_.path() + "/buckets/local/k%o"), "here");
  EXPECT_EQ(Log().size(), 1u);
  EXPECT_EQ(router->HeadBucket("unknown").error_name(), kNoSuchBucket);

  BucketPlacement offsite = router->Placement("offsite");
  EXPECT_TRUE(offsite.configured);
  EXPECT_EQ(offsite.where, "s3 http://127.0.0.1:9000 (bucket acme-backups-eu)");
  BucketPlacement local = router->Placement("local");
  EXPECT_FALSE(local.configured);
  EXPECT_EQ(local.where, dir_.path() + "/buckets/local");

  ASSERT_OK_AND_ASSIGN(std::vector<BucketPlacement> all, router->ListBuckets());
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].name, "offsite");
  EXPECT_EQ(all[1].name, "local");
}

TEST_F(BucketRouterTest, AbandonedUploadsAreRemovedByTheBackendOfTheBucket) {
  std::vector<S3BucketConfig> buckets = {Remote("offsite", "acme-backups-eu")};
  ASSERT_OK_AND_ASSIGN(auto router, BucketRouter::Create(dir_.path() + "/buckets", buckets, Env()));
  ASSERT_OK(router->CreateBucket("local"));
  testing::WriteFile(dir_.path() + "/buckets/local/.tmp-dead01", "partial");
  ASSERT_OK_AND_ASSIGN(int removed, router->RemoveAbandonedUploads("local"));
  EXPECT_EQ(removed, 1);
  EXPECT_FALSE(std::filesystem::exists(dir_.path() + "/buckets/local/.tmp-dead01"));
  // An S3 service keeps what an upload left: nothing is asked of it.
  ASSERT_OK_AND_ASSIGN(removed, router->RemoveAbandonedUploads("offsite"));
  EXPECT_EQ(removed, 0);
  EXPECT_TRUE(Log().empty());
  EXPECT_EQ(router->RemoveAbandonedUploads("unknown").status().error_name(), kNoSuchBucket);
}

TEST_F(BucketRouterTest, ErrorsNameTheBucketAsTheCallerNamedIt) {
  std::vector<S3BucketConfig> buckets = {Remote("offsite", "acme-backups-eu")};
  S3Environment env;
  env.make_transport = []() -> Result<std::unique_ptr<net::HttpTransport>> {
    return InternalError("no transport in this test");
  };
  ASSERT_OK_AND_ASSIGN(auto router, BucketRouter::Create(dir_.path() + "/buckets", buckets, env));
  Status st = router->HeadBucket("offsite");
  EXPECT_FALSE(st.ok());
  EXPECT_THAT(st.message(), HasSubstr("bucket offsite (acme-backups-eu at its service)"));
}

TEST_F(BucketRouterTest, RefusesBadConfigurations) {
  EXPECT_FALSE(BucketRouter::Create(dir_.path() + "/b", {Remote("Bad_Name", "")}, Env()).ok());
  EXPECT_FALSE(BucketRouter::Create(dir_.path() + "/b", {Remote("good", "Bad..")}, Env()).ok());
  EXPECT_FALSE(
      BucketRouter::Create(dir_.path() + "/b", {Remote("twice", ""), Remote("twice", "")}, Env())
          .ok());
  S3BucketConfig no_secret = Remote("nosecret", "");
  no_secret.s3.credentials.secret_access_key = crypto::SecretBytes();
  auto st = BucketRouter::Create(dir_.path() + "/b", {std::move(no_secret)}, Env()).status();
  EXPECT_THAT(st.message(), HasSubstr("buckets.nosecret"));
}

}  // namespace
}  // namespace coffer::objstore
