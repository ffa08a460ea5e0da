#include "envelope/zstd_stream.h"

#include <gtest/gtest.h>
#include <unistd.h>
#include <zstd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>

#include "testing/status_matchers.h"

namespace coffer::envelope {
namespace {

// Compressible test data: words from a small vocabulary, seeded.
Bytes Text(size_t size, uint32_t seed) {
  static const char* kWords[] = {"customer ", "order ", "backup ", "key ", "restore ", "42 "};
  std::mt19937 rng(seed);
  Bytes out;
  out.reserve(size);
  while (out.size() < size) {
    std::string_view w = kWords[rng() % 6];
    for (char c : w) {
      if (out.size() == size) break;
      out.push_back(static_cast<uint8_t>(c));
    }
  }
  return out;
}

Bytes Compress(ByteView data, ZstdOptions options, size_t chunk = 100000) {
  Bytes out;
  auto sink = MemorySink(out);
  auto zstd = CreateZstdCompressSink(*sink, options);
  EXPECT_THAT(zstd, testing::IsOk());
  for (size_t pos = 0; pos < data.size(); pos += chunk) {
    EXPECT_OK((*zstd)->Write(data.subspan(pos, std::min(chunk, data.size() - pos))));
  }
  EXPECT_OK((*zstd)->Close());
  return out;
}

ZstdOptions Options(int level, size_t workers, size_t frame_input_size = size_t{4} << 20) {
  ZstdOptions options;
  options.level = level;
  options.pipeline.workers = workers;
  options.frame_input_size = frame_input_size;
  return options;
}

Result<Bytes> Decompress(ByteView data, size_t workers = 2,
                         size_t max_frame_content_size = size_t{8} << 20) {
  auto upstream = MemorySource(data);
  ZstdDecompressOptions options;
  options.pipeline.workers = workers;
  options.max_frame_content_size = max_frame_content_size;
  auto source = CreateZstdDecompressSource(*upstream, options);
  Bytes out;
  auto sink = MemorySink(out);
  auto copied = CopyStream(*source, *sink, 7777);
  if (!copied.ok()) return copied.status();
  return out;
}

TEST(ZstdStreamTest, RoundTripsAcrossSizesAndWorkerCounts) {
  for (size_t workers : {0, 2}) {
    for (size_t size : {size_t{0}, size_t{1}, size_t{4096}, size_t{3'000'001}}) {
      Bytes data = Text(size, static_cast<uint32_t>(size));
      Bytes packed = Compress(data, Options(1, workers, 1 << 20));
      if (size > 4096) {
        EXPECT_LT(packed.size(), data.size() / 2);
      }
      ASSERT_OK_AND_ASSIGN(Bytes back, Decompress(packed, workers));
      EXPECT_EQ(back, data) << "size " << size << " workers " << workers;
    }
  }
}

TEST(ZstdStreamTest, RejectsABadLevel) {
  Bytes out;
  auto sink = MemorySink(out);
  EXPECT_FALSE(CreateZstdCompressSink(*sink, Options(0, 0)).ok());
  EXPECT_FALSE(CreateZstdCompressSink(*sink, Options(23, 0)).ok());
  EXPECT_FALSE(CreateZstdCompressSink(*sink, Options(1, 0, 0)).ok());
}

TEST(ZstdStreamTest, TruncationIsDetected) {
  Bytes packed = Compress(Text(200000, 1), Options(1, 0, 50000));
  for (size_t cut : {size_t{1}, size_t{10}, packed.size() / 2, packed.size() - 1}) {
    Bytes truncated(packed.begin(), packed.begin() + cut);
    auto result = Decompress(truncated);
    ASSERT_FALSE(result.ok()) << cut;
    EXPECT_EQ(result.status().code(), StatusCode::kDataLoss);
  }
}

TEST(ZstdStreamTest, CorruptionIsDetected) {
  Bytes packed = Compress(Text(200000, 2), Options(1, 0, 50000));
  Bytes flipped = packed;
  flipped[flipped.size() / 2] ^= 0x10;
  auto result = Decompress(flipped);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kDataLoss);
  EXPECT_FALSE(Decompress(AsBytes("this is not a zstd stream")).ok());
  Bytes trailing = packed;
  trailing.push_back(0);
  EXPECT_FALSE(Decompress(trailing).ok());
}

TEST(ZstdStreamTest, ErrorsAbortTheDownstreamAndStayPermanent) {
  class FailingSink : public ByteSink {
   public:
    Status Write(ByteView) override { return InternalError("disk full"); }
    Status Close() override { return Status::Ok(); }
    void Abort() override { aborted = true; }
    bool aborted = false;
  } failing;
  ASSERT_OK_AND_ASSIGN(auto zstd, CreateZstdCompressSink(failing, Options(1, 0)));
  Bytes data = Text(1 << 20, 3);
  Status st = zstd->Write(data);
  if (st.ok()) st = zstd->Close();
  EXPECT_EQ(st.message(), "disk full");
  EXPECT_TRUE(failing.aborted);
  EXPECT_EQ(zstd->Write(data).message(), "disk full");
}

TEST(ZstdStreamTest, WritesIndependentFramesOfTheGivenSize) {
  Bytes data = Text(1'000'000, 5);
  Bytes packed = Compress(data, Options(1, 2, 100000));
  // Ten frames, each declaring its content size.
  size_t frames = 0;
  for (size_t pos = 0; pos < packed.size(); ++frames) {
    size_t size = ZSTD_findFrameCompressedSize(packed.data() + pos, packed.size() - pos);
    ASSERT_FALSE(ZSTD_isError(size));
    EXPECT_EQ(ZSTD_getFrameContentSize(packed.data() + pos, size), 100000u);
    pos += size;
  }
  EXPECT_EQ(frames, 10u);
  // The same bytes whatever the number of workers.
  EXPECT_EQ(Compress(data, Options(1, 0, 100000)), packed);
}

TEST(ZstdStreamTest, ReadsAnyZstdStreamThroughTheStreamingFallback) {
  Bytes data = Text(700'000, 6);
  Bytes packed = Compress(data, Options(1, 2, 200000));
  // Frames larger than the parallel limit go to one streaming decompressor.
  ASSERT_OK_AND_ASSIGN(Bytes back, Decompress(packed, 2, 100000));
  EXPECT_EQ(back, data);
  // A frame without a declared size (a streaming compressor's), between two of ours.
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  Bytes unsized(ZSTD_compressBound(data.size()) + 1024);
  ZSTD_outBuffer out{unsized.data(), unsized.size(), 0};
  ZSTD_inBuffer in{data.data(), data.size(), 0};
  ASSERT_FALSE(ZSTD_isError(ZSTD_compressStream2(cctx, &out, &in, ZSTD_e_continue)));
  ZSTD_inBuffer none{nullptr, 0, 0};
  ASSERT_EQ(ZSTD_compressStream2(cctx, &out, &none, ZSTD_e_end), 0u);
  ZSTD_freeCCtx(cctx);
  unsized.resize(out.pos);
  ASSERT_EQ(ZSTD_getFrameContentSize(unsized.data(), unsized.size()), ZSTD_CONTENTSIZE_UNKNOWN);
  Bytes small = Text(1000, 7);
  Bytes mixed = Compress(small, Options(1, 2));
  Append(mixed, unsized);
  Append(mixed, Compress(small, Options(1, 2)));
  ASSERT_OK_AND_ASSIGN(Bytes mixed_back, Decompress(mixed));
  Bytes expected = small;
  Append(expected, data);
  Append(expected, small);
  EXPECT_EQ(mixed_back, expected);
}

TEST(ZstdStreamTest, DamageInALaterFrameReleasesTheEarlierFramesThenFails) {
  Bytes data = Text(500'000, 8);
  Bytes packed = Compress(data, Options(1, 2, 100000));
  size_t first = ZSTD_findFrameCompressedSize(packed.data(), packed.size());
  size_t second = ZSTD_findFrameCompressedSize(packed.data() + first, packed.size() - first);
  Bytes damaged = packed;
  damaged[first + second + 40] ^= 0x20;  // inside the third frame
  auto upstream = MemorySource(damaged);
  auto source = CreateZstdDecompressSource(*upstream);
  Bytes out(data.size());
  size_t got = 0;
  Status error;
  while (got < out.size()) {
    auto n = source->Read(std::span<uint8_t>(out).subspan(got));
    if (!n.ok()) {
      error = n.status();
      break;
    }
    if (*n == 0) break;
    got += *n;
  }
  EXPECT_EQ(error.code(), StatusCode::kDataLoss);
  EXPECT_EQ(got, 200000u);
  EXPECT_TRUE(std::equal(out.begin(), out.begin() + 200000, data.begin()));
  EXPECT_EQ(source->Read(out).status(), error);
}

// The output is a standard zstd stream: the zstd command reads it, and we read its.
TEST(ZstdStreamTest, InteroperatesWithTheZstdCommand) {
  if (std::system("zstd --version >/dev/null 2>&1") != 0) GTEST_SKIP() << "no zstd command";
  char dir[] = "/tmp/coffer-zstd-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  std::string base = dir;
  Bytes data = Text(2'000'000, 4);
  Bytes packed = Compress(data, Options(3, 2, 300000));
  std::ofstream(base + "/ours.zst", std::ios::binary)
      .write(reinterpret_cast<const char*>(packed.data()),
             static_cast<std::streamsize>(packed.size()));
  ASSERT_EQ(std::system(("zstd -q -d " + base + "/ours.zst -o " + base + "/ours").c_str()), 0);
  std::ifstream ours(base + "/ours", std::ios::binary);
  std::stringstream ss;
  ss << ours.rdbuf();
  EXPECT_EQ(ss.str(), ToString(data));

  std::ofstream(base + "/theirs", std::ios::binary)
      .write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
  ASSERT_EQ(std::system(("zstd -q -1 " + base + "/theirs -o " + base + "/theirs.zst").c_str()), 0);
  std::ifstream theirs(base + "/theirs.zst", std::ios::binary);
  std::stringstream ts;
  ts << theirs.rdbuf();
  ASSERT_OK_AND_ASSIGN(Bytes back, Decompress(AsBytes(ts.str())));
  EXPECT_EQ(back, data);
  std::system(("rm -rf " + base).c_str());
}

}  // namespace
}  // namespace coffer::envelope
