#include "backup/striping.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "testing/status_matchers.h"

namespace coffer::backup {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// ---- BackupFileKeys ----------------------------------------------------------------

TEST(BackupFileKeysTest, OneFileWithoutStarIsTheKeyItself) {
  ASSERT_OK_AND_ASSIGN(auto keys, BackupFileKeys("db/full.bak", 1));
  EXPECT_THAT(keys, ElementsAre("db/full.bak"));
}

TEST(BackupFileKeysTest, OneFileWithStarIsOneOfOne) {
  ASSERT_OK_AND_ASSIGN(auto keys, BackupFileKeys("db/backup*.bak", 1));
  EXPECT_THAT(keys, ElementsAre("db/backup1-of-1.bak"));
}

TEST(BackupFileKeysTest, StarIsReplacedByIOfN) {
  ASSERT_OK_AND_ASSIGN(auto keys, BackupFileKeys("backup*.bak", 4));
  EXPECT_THAT(keys, ElementsAre("backup1-of-4.bak", "backup2-of-4.bak", "backup3-of-4.bak",
                                "backup4-of-4.bak"));
}

TEST(BackupFileKeysTest, StarAtEitherEnd) {
  ASSERT_OK_AND_ASSIGN(auto front, BackupFileKeys("*.bak", 2));
  EXPECT_THAT(front, ElementsAre("1-of-2.bak", "2-of-2.bak"));
  ASSERT_OK_AND_ASSIGN(auto back, BackupFileKeys("db/part-*", 2));
  EXPECT_THAT(back, ElementsAre("db/part-1-of-2", "db/part-2-of-2"));
}

TEST(BackupFileKeysTest, TenFiles) {
  ASSERT_OK_AND_ASSIGN(auto keys, BackupFileKeys("b*", 10));
  ASSERT_EQ(keys.size(), 10u);
  EXPECT_EQ(keys.front(), "b1-of-10");
  EXPECT_EQ(keys.back(), "b10-of-10");
}

TEST(BackupFileKeysTest, TwoStarsAreRefused) {
  auto keys = BackupFileKeys("backup*-*.bak", 2);
  ASSERT_FALSE(keys.ok());
  EXPECT_EQ(keys.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(keys.status().error_name(), "InvalidParameterValue");
  EXPECT_THAT(keys.status().message(), HasSubstr("only one '*'"));
  // Also with one file.
  EXPECT_FALSE(BackupFileKeys("a**", 1).ok());
}

TEST(BackupFileKeysTest, SeveralFilesNeedAStar) {
  auto keys = BackupFileKeys("backup.bak", 2);
  ASSERT_FALSE(keys.ok());
  EXPECT_EQ(keys.status().error_name(), "InvalidParameterValue");
  EXPECT_THAT(keys.status().message(), HasSubstr("must contain one '*'"));
}

TEST(BackupFileKeysTest, FileCountOutOfRange) {
  for (int files : {0, -1, 11, 100}) {
    auto keys = BackupFileKeys("backup*.bak", files);
    ASSERT_FALSE(keys.ok()) << files;
    EXPECT_EQ(keys.status().error_name(), "InvalidParameterValue");
    EXPECT_THAT(keys.status().message(), HasSubstr("between 1 and 10"));
  }
}

// ---- MatchBackupFileKey ------------------------------------------------------------

TEST(MatchBackupFileKeyTest, MatchesTheKeysBackupFileKeysMakes) {
  for (int n = 1; n <= kMaxFiles; ++n) {
    ASSERT_OK_AND_ASSIGN(auto keys, BackupFileKeys("db/backup*.bak", n));
    for (int i = 1; i <= n; ++i) {
      int file = 0, count = 0;
      ASSERT_TRUE(MatchBackupFileKey("db/backup*.bak", keys[i - 1], &file, &count)) << keys[i - 1];
      EXPECT_EQ(file, i);
      EXPECT_EQ(count, n);
    }
  }
}

TEST(MatchBackupFileKeyTest, PatternWithoutSuffix) {
  int file = 0, count = 0;
  ASSERT_TRUE(MatchBackupFileKey("db/full*", "db/full2-of-3", &file, &count));
  EXPECT_EQ(file, 2);
  EXPECT_EQ(count, 3);
}

TEST(MatchBackupFileKeyTest, RejectsWhatIsNotAFileOfTheBackup) {
  const std::vector<std::string> keys = {
      "backup.bak",             // no I-of-N
      "backup1-of-4.bak.old",   // another suffix
      "other1-of-4.bak",        // another prefix
      "backup0-of-4.bak",       // file 0
      "backup5-of-4.bak",       // file past the count
      "backup1-of-11.bak",      // more than 10 files
      "backup01-of-4.bak",      // a leading zero
      "backup1-of-04.bak",      // a leading zero
      "backup-of-4.bak",        // no file number
      "backup1-of-.bak",        // no count
      "backupx-of-4.bak",       // not a number
      "backup1-of-4-of-4.bak",  // two "-of-"
      "backup1of4.bak",         // no "-of-"
      "backup",                 // shorter than prefix and suffix
  };
  for (const std::string& key : keys) {
    int file = -1, count = -1;
    EXPECT_FALSE(MatchBackupFileKey("backup*.bak", key, &file, &count)) << key;
    EXPECT_EQ(file, -1) << key;
    EXPECT_EQ(count, -1) << key;
  }
}

TEST(MatchBackupFileKeyTest, PatternWithoutStarMatchesNothing) {
  int file = 0, count = 0;
  EXPECT_FALSE(MatchBackupFileKey("backup.bak", "backup.bak", &file, &count));
  EXPECT_FALSE(MatchBackupFileKey("backup.bak", "backup1-of-1.bak", &file, &count));
}

TEST(MatchBackupFileKeyTest, PrefixAndSuffixDoNotOverlap) {
  int file = 0, count = 0;
  EXPECT_FALSE(MatchBackupFileKey("a*a", "a", &file, &count));
  EXPECT_TRUE(MatchBackupFileKey("a*a", "a1-of-1a", &file, &count));
}

// ---- StripedSink / StripedSource ---------------------------------------------------

constexpr size_t kStripe = 8;

Bytes Pattern(size_t n) {
  Bytes data(n);
  for (size_t i = 0; i < n; ++i) data[i] = static_cast<uint8_t>((i * 131 + 7) % 251);
  return data;
}

// File i of `n` holds stripes i, i + n, i + 2n, … of `data`.
std::vector<Bytes> ExpectedFiles(const Bytes& data, size_t n, size_t stripe) {
  std::vector<Bytes> files(n);
  for (size_t offset = 0, k = 0; offset < data.size(); offset += stripe, ++k) {
    size_t len = std::min(stripe, data.size() - offset);
    Bytes& f = files[k % n];
    f.insert(f.end(), data.begin() + static_cast<ptrdiff_t>(offset),
             data.begin() + static_cast<ptrdiff_t>(offset + len));
  }
  return files;
}

// Writes `data` in chunks of `chunk` bytes into `n` memory files.
std::vector<Bytes> WriteStriped(const Bytes& data, size_t n, size_t chunk) {
  std::vector<Bytes> files(n);
  std::vector<std::unique_ptr<ByteSink>> sinks;
  for (Bytes& f : files) sinks.push_back(MemorySink(f));
  std::unique_ptr<ByteSink> striped = StripedSink(std::move(sinks), kStripe);
  for (size_t offset = 0; offset < data.size(); offset += chunk) {
    size_t len = std::min(chunk, data.size() - offset);
    EXPECT_OK(striped->Write(ByteView(data).subspan(offset, len)));
  }
  EXPECT_OK(striped->Close());
  return files;
}

std::vector<std::string> Names(size_t n) {
  std::vector<std::string> names;
  for (size_t i = 1; i <= n; ++i) {
    names.push_back("backup" + std::to_string(i) + "-of-" + std::to_string(n) + ".bak");
  }
  return names;
}

// Reads the files back through a StripedSource, `buffer` bytes per Read.
Result<Bytes> ReadStriped(const std::vector<Bytes>& files, size_t buffer) {
  std::vector<std::unique_ptr<ByteSource>> sources;
  for (const Bytes& f : files) sources.push_back(MemorySource(f));
  std::unique_ptr<ByteSource> source =
      StripedSource(std::move(sources), Names(files.size()), kStripe);
  Bytes out;
  Bytes chunk(buffer);
  while (true) {
    ASSIGN_OR_RETURN(size_t n, source->Read(chunk));
    if (n == 0) break;
    out.insert(out.end(), chunk.begin(), chunk.begin() + static_cast<ptrdiff_t>(n));
  }
  return out;
}

TEST(StripingTest, RoundTripsEverySizeAndFileCount) {
  const std::vector<size_t> sizes = {0,
                                     1,
                                     kStripe - 1,
                                     kStripe,
                                     kStripe + 1,
                                     2 * kStripe,
                                     3 * kStripe + 5,
                                     8 * kStripe,
                                     9 * kStripe - 1};
  for (size_t n = 1; n <= 4; ++n) {
    for (size_t size : sizes) {
      const Bytes data = Pattern(size);
      // Writes that fit in a stripe, cross one, and span several.
      for (size_t chunk : {size_t{1}, size_t{5}, kStripe, 3 * kStripe + 1}) {
        SCOPED_TRACE("files " + std::to_string(n) + ", size " + std::to_string(size) + ", chunk " +
                     std::to_string(chunk));
        std::vector<Bytes> files = WriteStriped(data, n, chunk);
        EXPECT_EQ(files, ExpectedFiles(data, n, kStripe));
        for (size_t buffer : {size_t{1}, size_t{3}, kStripe, 4 * kStripe}) {
          auto back = ReadStriped(files, buffer);
          ASSERT_OK(back.status()) << "buffer " << buffer;
          EXPECT_EQ(*back, data) << "buffer " << buffer;
        }
      }
    }
  }
}

TEST(StripingTest, OneFileIsNotStriped) {
  // The stripe size does not matter with one file: everything goes to it.
  Bytes file;
  std::vector<std::unique_ptr<ByteSink>> sinks;
  sinks.push_back(MemorySink(file));
  std::unique_ptr<ByteSink> sink = StripedSink(std::move(sinks), 2);
  ASSERT_OK(sink->Write(Pattern(11)));
  ASSERT_OK(sink->Close());
  EXPECT_EQ(file, Pattern(11));
}

// Three files of 2 full stripes each, and one more byte in file 1: the stream
// ends in file 1's third stripe.
std::vector<Bytes> ThreeFiles() { return WriteStriped(Pattern(6 * kStripe + 1), 3, 64); }

TEST(StripingTest, FileThatEndsEarlyIsDataLoss) {
  std::vector<Bytes> files = ThreeFiles();
  ASSERT_EQ(files[1].size(), 2 * kStripe);
  files[1].pop_back();  // file 2 lost its last byte
  auto back = ReadStriped(files, 64);
  ASSERT_FALSE(back.ok());
  EXPECT_EQ(back.status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(back.status().error_name(), "BackupFilesMismatch");
  EXPECT_THAT(back.status().message(), HasSubstr("backup2-of-3.bak"));
}

TEST(StripingTest, FileThatRunsLongIsDataLoss) {
  std::vector<Bytes> files = ThreeFiles();
  files[2].push_back(0x55);  // file 3 has a byte past the end of the stream
  auto back = ReadStriped(files, 64);
  ASSERT_FALSE(back.ok());
  EXPECT_EQ(back.status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(back.status().error_name(), "BackupFilesMismatch");
  EXPECT_THAT(back.status().message(), HasSubstr("backup1-of-3.bak"));
  EXPECT_THAT(back.status().message(), HasSubstr("backup3-of-3.bak"));
}

TEST(StripingTest, MissingFileContentIsDataLoss) {
  std::vector<Bytes> files = ThreeFiles();
  files[1].clear();  // file 2 is empty
  auto back = ReadStriped(files, 5);
  ASSERT_FALSE(back.ok());
  EXPECT_EQ(back.status().error_name(), "BackupFilesMismatch");
}

TEST(StripingTest, MismatchIsPermanent) {
  // common/stream.h: after an error every later call returns that same error,
  // never a clean end of the stream.
  std::vector<Bytes> files = ThreeFiles();
  files[1].pop_back();
  std::vector<std::unique_ptr<ByteSource>> sources;
  for (const Bytes& f : files) sources.push_back(MemorySource(f));
  std::unique_ptr<ByteSource> source = StripedSource(std::move(sources), Names(3), kStripe);
  Bytes buffer(1024);
  Status first;
  while (first.ok()) {
    auto n = source->Read(buffer);
    if (!n.ok()) {
      first = n.status();
      break;
    }
    ASSERT_NE(*n, 0u) << "the stream ended without an error";
  }
  EXPECT_EQ(first.error_name(), "BackupFilesMismatch");
  auto again = source->Read(buffer);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status(), first);
}

// A sink that records what happens to it.
class RecordingSink final : public ByteSink {
 public:
  struct Log {
    Bytes data;
    int closes = 0;
    int aborts = 0;
    bool completed = false;  // closed successfully and not aborted before
  };
  RecordingSink(Log& log, Status close_result = Status::Ok(), Status write_result = Status::Ok())
      : log_(log), close_result_(std::move(close_result)), write_result_(std::move(write_result)) {}

  Status Write(ByteView data) override {
    if (!write_result_.ok()) return write_result_;
    Append(log_.data, data);
    return Status::Ok();
  }
  Status Close() override {
    ++log_.closes;
    if (close_result_.ok()) log_.completed = true;
    return close_result_;
  }
  void Abort() override {
    ++log_.aborts;
    if (!log_.completed) log_.data.clear();
  }

 private:
  Log& log_;
  Status close_result_;
  Status write_result_;
};

TEST(StripingTest, CloseClosesEverySink) {
  std::vector<RecordingSink::Log> logs(4);
  std::vector<std::unique_ptr<ByteSink>> sinks;
  for (auto& log : logs) sinks.push_back(std::make_unique<RecordingSink>(log));
  auto striped = StripedSink(std::move(sinks), kStripe);
  ASSERT_OK(striped->Write(Pattern(2 * kStripe)));  // files 3 and 4 stay empty
  ASSERT_OK(striped->Close());
  for (const auto& log : logs) {
    EXPECT_EQ(log.closes, 1);
    EXPECT_TRUE(log.completed);
  }
  EXPECT_EQ(logs[0].data.size(), kStripe);
  EXPECT_EQ(logs[1].data.size(), kStripe);
  EXPECT_TRUE(logs[2].data.empty());
}

TEST(StripingTest, CloseClosesEverySinkEvenAfterOneFailed) {
  std::vector<RecordingSink::Log> logs(3);
  std::vector<std::unique_ptr<ByteSink>> sinks;
  sinks.push_back(std::make_unique<RecordingSink>(logs[0]));
  sinks.push_back(std::make_unique<RecordingSink>(
      logs[1], Status(StatusCode::kUnavailable, "SlowDown", "the upload of file 2 failed")));
  sinks.push_back(std::make_unique<RecordingSink>(
      logs[2], Status(StatusCode::kUnavailable, "SlowDown", "the upload of file 3 failed")));
  auto striped = StripedSink(std::move(sinks), kStripe);
  ASSERT_OK(striped->Write(Pattern(3 * kStripe)));
  Status closed = striped->Close();
  // The first error.
  EXPECT_THAT(closed, coffer::testing::IsError("SlowDown", "the upload of file 2 failed"));
  for (const auto& log : logs) {
    EXPECT_EQ(log.closes, 1);
    EXPECT_GE(log.aborts, 1);  // the others are aborted (a no-op for a completed one)
  }
}

TEST(StripingTest, AbortAbortsEverySink) {
  std::vector<RecordingSink::Log> logs(3);
  std::vector<std::unique_ptr<ByteSink>> sinks;
  for (auto& log : logs) sinks.push_back(std::make_unique<RecordingSink>(log));
  auto striped = StripedSink(std::move(sinks), kStripe);
  ASSERT_OK(striped->Write(Pattern(5 * kStripe)));
  striped->Abort();
  for (const auto& log : logs) {
    EXPECT_GE(log.aborts, 1);
    EXPECT_EQ(log.closes, 0);
    EXPECT_TRUE(log.data.empty());
  }
}

TEST(StripingTest, DestructionWithoutCloseAborts) {
  std::vector<RecordingSink::Log> logs(2);
  {
    std::vector<std::unique_ptr<ByteSink>> sinks;
    for (auto& log : logs) sinks.push_back(std::make_unique<RecordingSink>(log));
    auto striped = StripedSink(std::move(sinks), kStripe);
    ASSERT_OK(striped->Write(Pattern(3 * kStripe)));
  }
  for (const auto& log : logs) {
    EXPECT_GE(log.aborts, 1);
    EXPECT_EQ(log.closes, 0);
  }
}

TEST(StripingTest, WriteErrorAbortsEverySink) {
  std::vector<RecordingSink::Log> logs(3);
  std::vector<std::unique_ptr<ByteSink>> sinks;
  sinks.push_back(std::make_unique<RecordingSink>(logs[0]));
  sinks.push_back(
      std::make_unique<RecordingSink>(logs[1], Status::Ok(), UnavailableError("connection reset")));
  sinks.push_back(std::make_unique<RecordingSink>(logs[2]));
  auto striped = StripedSink(std::move(sinks), kStripe);
  Status written = striped->Write(Pattern(3 * kStripe));
  EXPECT_EQ(written.code(), StatusCode::kUnavailable);
  for (const auto& log : logs) EXPECT_GE(log.aborts, 1);
  EXPECT_TRUE(logs[0].data.empty());
}

}  // namespace
}  // namespace coffer::backup

namespace coffer::backup {
namespace {

TEST(MatchBackupFileKeyPrefixTest, APrefixAloneFindsTheFilesWithWhatFollows) {
  int file = 0, count = 0;
  std::string rest;
  ASSERT_TRUE(MatchBackupFileKey("multi*", "multi2-of-3.bak", &file, &count, &rest));
  EXPECT_EQ(file, 2);
  EXPECT_EQ(count, 3);
  EXPECT_EQ(rest, ".bak");
  ASSERT_TRUE(MatchBackupFileKey("dir/multi*", "dir/multi1-of-1", &file, &count, &rest));
  EXPECT_EQ(rest, "");
  EXPECT_FALSE(MatchBackupFileKey("multi*.bak", "multi2-of-3.bak.old", &file, &count, &rest));
  EXPECT_FALSE(MatchBackupFileKey("multi*", "multi.bak", &file, &count, &rest));
}

}  // namespace
}  // namespace coffer::backup
