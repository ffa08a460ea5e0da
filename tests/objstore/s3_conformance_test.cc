// The s3 backend against S3-compatible servers: the conformance suite
// (object_store_conformance.h), and what only a real server shows: faults in a
// multipart upload, aborts, unreachable endpoints.
//
// Registered with CTest once per peer (objstore_s3_moto, objstore_s3_s3rver);
// each process starts its peer once.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/random.h"
#include "crypto/hash.h"
#include "objstore/s3_backends.h"
#include "objstore/s3_faults.h"
#include "testing/status_matchers.h"

namespace coffer::objstore::testing {
namespace {

using coffer::testing::S3PeerKind;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

const PeerBackend kMoto(S3PeerKind::kMoto, S3Addressing::kPath);
const PeerBackend kMotoVirtualHost(S3PeerKind::kMoto, S3Addressing::kVirtualHost);
const PeerBackend kS3rver(S3PeerKind::kS3rver, S3Addressing::kPath);

INSTANTIATE_TEST_SUITE_P(Moto, ObjectStoreConformance, ::testing::Values(&kMoto, &kMotoVirtualHost),
                         BackendName);
INSTANTIATE_TEST_SUITE_P(S3rver, ObjectStoreConformance, ::testing::Values(&kS3rver), BackendName);

std::string Pattern(uint64_t seed, size_t size) {
  SeededRandom random(seed);
  std::string out(size, '\0');
  random.Fill(std::span<uint8_t>(reinterpret_cast<uint8_t*>(out.data()), out.size()));
  return out;
}

class S3PeerTest : public ::testing::TestWithParam<const PeerBackend*> {
 protected:
  // A store on the peer whose transport injects `plan`'s faults, and a fresh bucket.
  void Open(FaultPlan* plan = nullptr) {
    std::string why;
    std::optional<S3Options> options = GetParam()->Options(why);
    if (options) {
      S3Environment env;
      if (plan != nullptr) env.make_transport = FaultyTransport::Factory(*plan);
      store_ = PeerBackend::Make(std::move(*options), std::move(env), why);
    }
    COFFER_REQUIRE_PEER(store_, why);
    static int n = 0;
    bucket_ = "coffer-peer-" + std::to_string(::getpid()) + "-" + std::to_string(++n);
    ASSERT_OK(store_->CreateBucket(bucket_));
  }

  Result<std::string> GetAll(std::string_view key) {
    ASSIGN_OR_RETURN(std::unique_ptr<ObjectReader> reader, store_->Get(bucket_, key));
    std::string out;
    std::vector<uint8_t> buffer(1 << 20);
    while (true) {
      ASSIGN_OR_RETURN(size_t n, reader->Read(buffer));
      if (n == 0) return out;
      out.append(reinterpret_cast<const char*>(buffer.data()), n);
    }
  }

  void ExpectNothingLeft(std::string_view key) {
    EXPECT_EQ(store_->Head(bucket_, key).status().error_name(), kNoSuchKey);
    if (!GetParam()->SupportsMultipartListing()) return;
    auto uploads = store_->ListMultipartUploads(bucket_, key);
    ASSERT_TRUE(uploads.ok()) << uploads.status().ToString();
    EXPECT_THAT(*uploads, IsEmpty());
  }

  std::unique_ptr<S3ObjectStore> store_;
  std::string bucket_;
};

INSTANTIATE_TEST_SUITE_P(Moto, S3PeerTest, ::testing::Values(&kMoto),
                         [](const auto& info) { return info.param->Name(); });
INSTANTIATE_TEST_SUITE_P(S3rver, S3PeerTest, ::testing::Values(&kS3rver),
                         [](const auto& info) { return info.param->Name(); });

TEST_P(S3PeerTest, FaultsInPartsAreRetried) {
  FaultPlan plan;
  plan.Add(1, Fault::kServerError);
  plan.Add(2, Fault::kBrokenConnection);
  plan.Add(3, Fault::kLostResponse);
  ASSERT_NO_FATAL_FAILURE(Open(&plan));
  if (IsSkipped()) return;
  std::string data = Pattern(9, kMinPartSize * 4 + 777);
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<ByteSink> w, store_->OpenWriter(bucket_, "faulty"));
  ASSERT_OK(w->Write(AsBytes(data)));
  ASSERT_OK(w->Close());
  EXPECT_EQ(plan.injected(), 3);
  EXPECT_GE(plan.dropper().dropped(), 1);
  ASSERT_OK_AND_ASSIGN(std::string read, GetAll("faulty"));
  EXPECT_TRUE(read == data) << "read " << read.size() << " of " << data.size();
  ExpectNothingLeft("no-such-key");
  if (GetParam()->SupportsMultipartListing()) {  // no upload left open
    auto uploads = store_->ListMultipartUploads(bucket_);
    ASSERT_TRUE(uploads.ok());
    EXPECT_THAT(*uploads, IsEmpty());
  }
}

TEST_P(S3PeerTest, ACreateOnlyWriteWhoseAnswerWasLostFindsItsOwnObject) {
  // Stored, the answer lost, retried: the retry finds the key taken, by the write
  // itself (its id is in the object's metadata).
  FaultPlan plan;
  plan.Add(FaultPlan::kCreateOnlyPut, Fault::kLostResponse);
  plan.Add(FaultPlan::kCompletion, Fault::kLostResponse);
  if (GetParam()->quirks().ignores_if_none_match) {
    GTEST_SKIP() << GetParam()->Name() << " ignores If-None-Match";
  }
  ASSERT_NO_FATAL_FAILURE(Open(&plan));
  if (IsSkipped()) return;
  WriteOptions create_only;
  create_only.create_only = true;
  auto write = [&](std::string_view key, const std::string& data) -> Status {
    ASSIGN_OR_RETURN(std::unique_ptr<ByteSink> w, store_->OpenWriter(bucket_, key, create_only));
    RETURN_IF_ERROR(w->Write(AsBytes(data)));
    return w->Close();
  };
  const std::string small = Pattern(11, 1000);
  const std::string large = Pattern(12, kMinPartSize * 2 + 1);
  ASSERT_OK(write("small", small));
  ASSERT_OK(write("large", large));
  EXPECT_EQ(plan.injected(), 2);
  ASSERT_OK_AND_ASSIGN(std::string read_small, GetAll("small"));
  EXPECT_TRUE(read_small == small);
  ASSERT_OK_AND_ASSIGN(std::string read_large, GetAll("large"));
  EXPECT_TRUE(read_large == large);
  // Another create-only write of either key is refused.
  EXPECT_EQ(write("small", large).error_name(), kPreconditionFailed);
  EXPECT_EQ(write("large", small).error_name(), kPreconditionFailed);
}

TEST_P(S3PeerTest, AFailedUploadIsAbortedAndLeavesNothing) {
  FaultPlan plan;
  plan.Add(2, Fault::kAlwaysFails);
  ASSERT_NO_FATAL_FAILURE(Open(&plan));
  if (IsSkipped()) return;
  std::string data = Pattern(10, kMinPartSize * 4);
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<ByteSink> w, store_->OpenWriter(bucket_, "doomed"));
  Status st = w->Write(AsBytes(data));
  if (st.ok()) st = w->Close();
  EXPECT_EQ(st.code(), StatusCode::kUnavailable);
  EXPECT_THAT(st.message(), HasSubstr("gave up after 4 attempts"));
  EXPECT_THAT(st.message(), HasSubstr("UploadPart 2 of s3://" + bucket_ + "/doomed"));
  EXPECT_EQ(plan.injected(), 4);
  ExpectNothingLeft("doomed");
}

TEST_P(S3PeerTest, AnAbortMidwayLeavesNothing) {
  ASSERT_NO_FATAL_FAILURE(Open());
  if (IsSkipped()) return;
  ASSERT_OK(store_->Put(bucket_, "kept", AsBytes(std::string_view("before"))));
  for (bool destroy : {false, true}) {
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<ByteSink> w, store_->OpenWriter(bucket_, "kept"));
    ASSERT_OK(w->Write(AsBytes(Pattern(11, kMinPartSize * 3 + 5))));
    // The upload is open at the server.
    const bool listing = GetParam()->SupportsMultipartListing();
    if (listing) {
      auto open = store_->ListMultipartUploads(bucket_, "kept");
      ASSERT_TRUE(open.ok()) << open.status().ToString();
      EXPECT_EQ(open->size(), 1u);
    }
    if (destroy) {
      w.reset();
    } else {
      w->Abort();
    }
    if (listing) {
      auto uploads = store_->ListMultipartUploads(bucket_);
      ASSERT_TRUE(uploads.ok());
      EXPECT_THAT(*uploads, IsEmpty());
    }
    ASSERT_OK_AND_ASSIGN(std::string kept, GetAll("kept"));
    EXPECT_EQ(kept, "before");
  }
}

TEST_P(S3PeerTest, AnUnreachableEndpointIsUnavailable) {
  std::string why;
  std::optional<S3Options> options = GetParam()->Options(why);
  if (!options) {
    if (coffer::testing::PeersRequired()) FAIL() << why;
    GTEST_SKIP() << why;
  }
  ConnectionDropper dropper;  // connections to it are reset
  options->endpoint = dropper.url();
  options->retry = RetryPolicy{2, std::chrono::milliseconds(1), std::chrono::milliseconds(2)};
  auto store = PeerBackend::Make(std::move(*options), {}, why);
  ASSERT_NE(store, nullptr) << why;
  Status st = store->Put("bucket", "k", AsBytes(std::string(100 << 10, 'x')));
  EXPECT_EQ(st.code(), StatusCode::kUnavailable);
  EXPECT_THAT(st.message(), HasSubstr("gave up after 2 attempts"));
  EXPECT_THAT(st.message(), HasSubstr("endpoint URL"));
}

}  // namespace
}  // namespace coffer::objstore::testing
