// 1 GiB through the s3 backend against each S3-compatible peer, with faults
// injected into parts, the content checked by a streaming hash; and an upload
// aborted midway. Slow: CTest label objstore-large (objstore_large_moto,
// objstore_large_s3rver). Memory stays bounded: the data is generated from a
// seeded PRNG as it is written and hashed as it is read.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>

#include "common/random.h"
#include "crypto/hash.h"
#include "objstore/s3_backends.h"
#include "objstore/s3_faults.h"
#include "testing/status_matchers.h"

namespace coffer::objstore::testing {
namespace {

using coffer::testing::S3PeerKind;
using ::testing::IsEmpty;

constexpr uint64_t kSize = uint64_t{1} << 30;
constexpr size_t kWriteChunk = 1 << 20;

const PeerBackend kMoto(S3PeerKind::kMoto, S3Addressing::kPath);
const PeerBackend kS3rver(S3PeerKind::kS3rver, S3Addressing::kPath);

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

class S3LargeTest : public ::testing::TestWithParam<const PeerBackend*> {
 protected:
  void Open(FaultPlan* plan) {
    std::string why;
    std::optional<S3Options> options = GetParam()->Options(why);
    if (options) {
      // The defaults of a real deployment: 16 MiB parts, 4 in flight, 8 MiB reads;
      // but moto copies the whole object to answer each ranged GET, so it gets
      // 64 MiB reads (16 GETs for 1 GiB instead of 128).
      options->part_size = 16 << 20;
      options->parts_in_flight = 4;
      options->read_chunk_size = GetParam()->kind() == S3PeerKind::kMoto ? 64 << 20 : 8 << 20;
      S3Environment env;
      if (plan != nullptr) env.make_transport = FaultyTransport::Factory(*plan);
      store_ = PeerBackend::Make(std::move(*options), std::move(env), why);
    }
    COFFER_REQUIRE_PEER(store_, why);
    static int n = 0;
    bucket_ = "coffer-large-" + std::to_string(::getpid()) + "-" + std::to_string(++n);
    ASSERT_OK(store_->CreateBucket(bucket_));
  }

  // Writes `size` bytes of the seeded stream; returns their SHA-256.
  Result<Bytes> WriteStream(ByteSink& sink, uint64_t size, uint64_t seed) {
    SeededRandom random(seed);
    crypto::Sha256Hasher hash;
    std::vector<uint8_t> chunk(kWriteChunk);
    for (uint64_t done = 0; done < size;) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(chunk.size(), size - done));
      random.Fill(std::span<uint8_t>(chunk.data(), n));
      hash.Update(ByteView(chunk.data(), n));
      RETURN_IF_ERROR(sink.Write(ByteView(chunk.data(), n)));
      done += n;
    }
    return hash.Finish();
  }

  std::unique_ptr<S3ObjectStore> store_;
  std::string bucket_;
};

INSTANTIATE_TEST_SUITE_P(Moto, S3LargeTest, ::testing::Values(&kMoto),
                         [](const auto& info) { return info.param->Name(); });
INSTANTIATE_TEST_SUITE_P(S3rver, S3LargeTest, ::testing::Values(&kS3rver),
                         [](const auto& info) { return info.param->Name(); });

TEST_P(S3LargeTest, OneGibibyteWithFaultsInPartsArrivesWhole) {
  FaultPlan plan;
  plan.Add(3, Fault::kServerError);
  plan.Add(17, Fault::kBrokenConnection);
  plan.Add(41, Fault::kLostResponse);
  ASSERT_NO_FATAL_FAILURE(Open(&plan));
  if (IsSkipped()) return;

  auto start = std::chrono::steady_clock::now();
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<ByteSink> writer,
                       store_->OpenWriter(bucket_, "backups/one-gib.bin"));
  ASSERT_OK_AND_ASSIGN(Bytes written, WriteStream(*writer, kSize, 20261130));
  ASSERT_OK(writer->Close());
  double upload = Seconds(start);
  EXPECT_EQ(plan.injected(), 3);

  ASSERT_OK_AND_ASSIGN(ObjectInfo info, store_->Head(bucket_, "backups/one-gib.bin"));
  EXPECT_EQ(info.size, kSize);
  if (GetParam()->kind() == S3PeerKind::kMoto) {             // s3rver's ETags are not S3's
    EXPECT_TRUE(info.etag.ends_with("-64\"")) << info.etag;  // 64 parts of 16 MiB
  }

  start = std::chrono::steady_clock::now();
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<ObjectReader> reader,
                       store_->Get(bucket_, "backups/one-gib.bin"));
  crypto::Sha256Hasher hash;
  std::vector<uint8_t> buffer(kWriteChunk);
  uint64_t total = 0;
  while (true) {
    ASSERT_OK_AND_ASSIGN(size_t n, reader->Read(buffer));
    if (n == 0) break;
    hash.Update(ByteView(buffer.data(), n));
    total += n;
  }
  double download = Seconds(start);
  EXPECT_EQ(total, kSize);
  EXPECT_EQ(HexEncode(hash.Finish()), HexEncode(written));
  RecordProperty("upload_seconds", std::to_string(upload));
  RecordProperty("download_seconds", std::to_string(download));
  std::printf("%s: 1 GiB up in %.1f s (%.0f MB/s), down in %.1f s (%.0f MB/s)\n",
              GetParam()->Name().c_str(), upload, kSize / upload / 1e6, download,
              kSize / download / 1e6);
  ASSERT_OK(store_->Delete(bucket_, "backups/one-gib.bin"));
}

TEST_P(S3LargeTest, AnUploadAbortedMidwayLeavesNothing) {
  ASSERT_NO_FATAL_FAILURE(Open(nullptr));
  if (IsSkipped()) return;
  {
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<ByteSink> writer,
                         store_->OpenWriter(bucket_, "backups/aborted.bin"));
    ASSERT_OK(WriteStream(*writer, kSize / 4, 7).status());
    writer->Abort();
  }
  EXPECT_EQ(store_->Head(bucket_, "backups/aborted.bin").status().error_name(), kNoSuchKey);
  ASSERT_OK_AND_ASSIGN(ListPage page, store_->List(bucket_, {}));
  EXPECT_THAT(page.objects, IsEmpty());
  if (GetParam()->SupportsMultipartListing()) {
    auto uploads = store_->ListMultipartUploads(bucket_);
    ASSERT_TRUE(uploads.ok()) << uploads.status().ToString();
    EXPECT_THAT(*uploads, IsEmpty());
  }
}

}  // namespace
}  // namespace coffer::objstore::testing
