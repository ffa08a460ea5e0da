#include "common/stream.h"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "common/files.h"
#include "testing/status_matchers.h"

namespace coffer {
namespace {

// A source that returns at most `step` bytes per Read, as pipes and sockets do.
class TrickleSource : public ByteSource {
 public:
  TrickleSource(ByteView data, size_t step) : data_(data), step_(step) {}
  Result<size_t> Read(std::span<uint8_t> out) override {
    size_t n = std::min({out.size(), step_, data_.size() - pos_});
    std::copy_n(data_.begin() + pos_, n, out.begin());
    pos_ += n;
    return n;
  }

 private:
  ByteView data_;
  size_t step_;
  size_t pos_ = 0;
};

class StreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/coffer-stream-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }

  std::vector<std::string> Entries() const {
    std::vector<std::string> names;
    DIR* d = ::opendir(dir_.c_str());
    while (dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name != "." && name != "..") names.push_back(name);
    }
    ::closedir(d);
    return names;
  }
  static std::string Slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  std::string dir_;
};

TEST_F(StreamTest, ReadFullGathersShortReads) {
  Bytes data = ToBytes("abcdefghij");
  TrickleSource source(data, 3);
  Bytes out(8);
  ASSERT_OK_AND_ASSIGN(size_t n, ReadFull(source, out));
  EXPECT_EQ(n, 8u);
  EXPECT_EQ(ToString(out), "abcdefgh");
  ASSERT_OK_AND_ASSIGN(n, ReadFull(source, out));
  EXPECT_EQ(n, 2u);
  ASSERT_OK_AND_ASSIGN(n, ReadFull(source, out));
  EXPECT_EQ(n, 0u);
}

TEST_F(StreamTest, CopyStreamCopiesEverythingAcrossBufferSizes) {
  Bytes data(10000);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 7);
  for (size_t buffer : {1u, 7u, 4096u, 10000u, 20000u}) {
    TrickleSource source(data, 333);
    Bytes out;
    auto sink = MemorySink(out);
    ASSERT_OK_AND_ASSIGN(uint64_t copied, CopyStream(source, *sink, buffer));
    EXPECT_EQ(copied, data.size());
    EXPECT_EQ(out, data) << buffer;
  }
}

TEST_F(StreamTest, PumpStreamCopiesEverythingInOrder) {
  Bytes data(3'000'007);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 31 + i / 7);
  for (size_t buffer : {1000u, 65536u, 1u << 20}) {
    TrickleSource source(data, 77777);
    Bytes out;
    auto sink = MemorySink(out);
    ASSERT_OK_AND_ASSIGN(uint64_t copied, PumpStream(source, *sink, buffer, 3));
    EXPECT_EQ(copied, data.size());
    EXPECT_EQ(out, data) << buffer;
  }
  Bytes none;
  auto empty = MemorySource(none);
  Bytes out;
  auto sink = MemorySink(out);
  ASSERT_OK_AND_ASSIGN(uint64_t copied, PumpStream(*empty, *sink));
  EXPECT_EQ(copied, 0u);
}

// A terminal's standard input: after its end-of-file, another read would wait.
TEST_F(StreamTest, PumpStreamDoesNotReadPastTheEnd) {
  class OnceSource : public ByteSource {
   public:
    Result<size_t> Read(std::span<uint8_t> out) override {
      ++reads;
      if (reads == 1) {
        out[0] = 'x';
        return size_t{1};
      }
      if (reads == 2) return size_t{0};
      return InternalError("read after the end");
    }
    int reads = 0;
  } source;
  Bytes out;
  auto sink = MemorySink(out);
  ASSERT_OK_AND_ASSIGN(uint64_t copied, PumpStream(source, *sink, 100, 2));
  EXPECT_EQ(copied, 1u);
  EXPECT_EQ(source.reads, 2);
  EXPECT_EQ(ToString(out), "x");
}

TEST_F(StreamTest, PumpStreamReturnsTheFirstErrorOfEitherSide) {
  class FailingSource : public ByteSource {
   public:
    Result<size_t> Read(std::span<uint8_t> out) override {
      if (++reads > 3) return DataLossError("bad frame");
      std::fill(out.begin(), out.end(), 1);
      return out.size();
    }
    int reads = 0;
  } failing_source;
  Bytes out;
  auto sink = MemorySink(out);
  EXPECT_EQ(PumpStream(failing_source, *sink, 100, 2).status().message(), "bad frame");

  class FailingSink : public ByteSink {
   public:
    Status Write(ByteView) override {
      return ++writes > 2 ? InternalError("disk full") : Status::Ok();
    }
    Status Close() override { return Status::Ok(); }
    void Abort() override {}
    int writes = 0;
  } failing_sink;
  Bytes data(100000, 5);
  auto source = MemorySource(data);
  EXPECT_EQ(PumpStream(*source, failing_sink, 100, 4).status().message(), "disk full");
  EXPECT_EQ(failing_sink.writes, 3);
}

TEST_F(StreamTest, AtomicFileSinkIsInvisibleUntilClose) {
  std::string path = dir_ + "/out.bin";
  ASSERT_OK_AND_ASSIGN(auto sink, CreateAtomicFileSink(path, 0640));
  ASSERT_OK(sink->Write(AsBytes("hello ")));
  ASSERT_OK(sink->Write(AsBytes("world")));
  EXPECT_NE(::access(path.c_str(), F_OK), 0);
  ASSERT_OK(sink->Close());
  EXPECT_EQ(Slurp(path), "hello world");
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
  EXPECT_EQ(Entries(), std::vector<std::string>{"out.bin"});
  EXPECT_FALSE(sink->Write(AsBytes("more")).ok());
}

TEST_F(StreamTest, AtomicFileSinkLeavesNothingWhenAbortedOrDropped) {
  std::string path = dir_ + "/out.bin";
  {
    ASSERT_OK_AND_ASSIGN(auto sink, CreateAtomicFileSink(path, 0600));
    ASSERT_OK(sink->Write(AsBytes("partial")));
    sink->Abort();
    EXPECT_FALSE(sink->Close().ok());
  }
  {
    ASSERT_OK_AND_ASSIGN(auto sink, CreateAtomicFileSink(path, 0600));
    ASSERT_OK(sink->Write(AsBytes("partial")));
  }
  EXPECT_TRUE(Entries().empty());
}

TEST_F(StreamTest, AtomicFileSinkWritesLargeFiles) {
  std::string path = dir_ + "/large.bin";
  ASSERT_OK_AND_ASSIGN(auto sink, CreateAtomicFileSink(path, 0600));
  Bytes chunk(3 << 20, 0x5a);
  for (int i = 0; i < 7; ++i) ASSERT_OK(sink->Write(chunk));
  ASSERT_OK(sink->Close());
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(static_cast<size_t>(st.st_size), 7 * chunk.size());
}

TEST_F(StreamTest, AtomicFileSinkKeepsTheOldFileUntilClose) {
  std::string path = dir_ + "/out.bin";
  std::ofstream(path) << "old";
  ASSERT_OK_AND_ASSIGN(auto sink, CreateAtomicFileSink(path, 0600));
  ASSERT_OK(sink->Write(AsBytes("new")));
  EXPECT_EQ(Slurp(path), "old");
  sink->Abort();
  EXPECT_EQ(Slurp(path), "old");
}

TEST_F(StreamTest, AtomicFileSinkLocksItsTemporaryFileAgainstCleaners) {
  std::string path = dir_ + "/out.bin";
  auto is_temporary = [](std::string_view name) { return name.starts_with("out.bin.tmp-"); };
  ASSERT_OK_AND_ASSIGN(auto sink, CreateAtomicFileSink(path, 0600));
  ASSERT_OK(sink->Write(AsBytes("in use")));
  // A cleaner looking for leftovers (common/files.h) leaves it alone.
  ASSERT_OK_AND_ASSIGN(int removed, RemoveAbandonedFiles(dir_, is_temporary));
  EXPECT_EQ(removed, 0);
  ASSERT_OK(sink->Close());
  EXPECT_EQ(Slurp(path), "in use");
  EXPECT_EQ(Entries(), std::vector<std::string>{"out.bin"});
}

TEST_F(StreamTest, AtomicFileSinkInAMissingDirectoryFails) {
  auto sink = CreateAtomicFileSink(dir_ + "/no/such/out.bin", 0600);
  EXPECT_FALSE(sink.ok());
}

// An output path that is a FIFO (or a device) is written to, never replaced
// by a regular file, nor its mode changed: `--out /dev/null` must leave
// /dev/null a device.
TEST_F(StreamTest, OutputFileSinkWritesIntoAFifo) {
  const std::string path = dir_ + "/fifo";
  ASSERT_EQ(::mkfifo(path.c_str(), 0644), 0);
  // Its reader is open first (a FIFO's writer waits for one); what is written
  // fits in the pipe's buffer.
  const int reader = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  ASSERT_GE(reader, 0);
  {
    ASSERT_OK_AND_ASSIGN(auto sink, CreateOutputFileSink(path, 0600));
    ASSERT_OK(sink->Write(AsBytes("through the pipe")));
    ASSERT_OK(sink->Close());
  }
  char got[32] = {};
  EXPECT_EQ(::read(reader, got, sizeof got), 16);
  ::close(reader);
  EXPECT_EQ(std::string(got), "through the pipe");
  struct stat st {};
  ASSERT_EQ(::lstat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0644u);
  EXPECT_EQ(Entries(), std::vector<std::string>{"fifo"});
}

// A symbolic link is followed: the file it names is replaced, the link stays.
TEST_F(StreamTest, OutputFileSinkFollowsSymbolicLinks) {
  ASSERT_EQ(::mkdir((dir_ + "/real").c_str(), 0700), 0);
  std::ofstream(dir_ + "/real/target") << "old";
  ASSERT_EQ(::symlink("real/target", (dir_ + "/link").c_str()), 0);
  ASSERT_EQ(::symlink("link", (dir_ + "/link2").c_str()), 0);
  ASSERT_OK_AND_ASSIGN(auto sink, CreateOutputFileSink(dir_ + "/link2", 0600));
  ASSERT_OK(sink->Write(AsBytes("new")));
  ASSERT_OK(sink->Close());
  EXPECT_EQ(Slurp(dir_ + "/real/target"), "new");
  struct stat st {};
  ASSERT_EQ(::lstat((dir_ + "/link").c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  ASSERT_EQ(::lstat((dir_ + "/link2").c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));

  // A dangling link is refused, and nothing is created.
  ASSERT_EQ(::symlink("real/created", (dir_ + "/dangling").c_str()), 0);
  auto dangling = CreateOutputFileSink(dir_ + "/dangling", 0600);
  ASSERT_FALSE(dangling.ok());
  EXPECT_NE(dangling.status().message().find("does not exist"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/real/created"));
  ASSERT_EQ(::lstat((dir_ + "/dangling").c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));

  // A loop is an error, and nothing is written.
  ASSERT_EQ(::symlink("loop-b", (dir_ + "/loop-a").c_str()), 0);
  ASSERT_EQ(::symlink("loop-a", (dir_ + "/loop-b").c_str()), 0);
  EXPECT_FALSE(CreateOutputFileSink(dir_ + "/loop-a", 0600).ok());
}

// /dev/fd/N (and /dev/stdout, /proc/self/fd/N) is that descriptor, written as
// it is: a file opened to append keeps what it held, and is not replaced.
TEST_F(StreamTest, OutputFileSinkWritesADescriptorByItsName) {
  const std::string path = dir_ + "/log.bin";
  std::ofstream(path) << "earlier ";
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  struct stat before {};
  ASSERT_EQ(::fstat(fd, &before), 0);
  for (const std::string& name :
       {"/dev/fd/" + std::to_string(fd), "/proc/self/fd/" + std::to_string(fd)}) {
    ASSERT_OK_AND_ASSIGN(auto sink, CreateOutputFileSink(name, 0600));
    ASSERT_OK(sink->Write(AsBytes("more ")));
    ASSERT_OK(sink->Close());
  }
  ::close(fd);
  EXPECT_EQ(Slurp(path), "earlier more more ");
  struct stat after {};
  ASSERT_EQ(::stat(path.c_str(), &after), 0);
  EXPECT_EQ(after.st_ino, before.st_ino);  // the same file, not a replacement
  EXPECT_EQ(Entries(), std::vector<std::string>{"log.bin"});
  EXPECT_FALSE(CreateOutputFileSink("/dev/fd/987654", 0600).ok());  // not open
}

TEST_F(StreamTest, OutputFileSinkReplacesARegularFileAndRefusesADirectory) {
  const std::string path = dir_ + "/out.bin";
  std::ofstream(path) << "old contents";
  ASSERT_OK_AND_ASSIGN(auto sink, CreateOutputFileSink(path, 0600));
  ASSERT_OK(sink->Write(AsBytes("new")));
  EXPECT_EQ(Slurp(path), "old contents");  // until Close, as CreateAtomicFileSink
  ASSERT_OK(sink->Close());
  EXPECT_EQ(Slurp(path), "new");
  auto directory = CreateOutputFileSink(dir_, 0600);
  ASSERT_FALSE(directory.ok());
  EXPECT_NE(directory.status().message().find("Is a directory"), std::string::npos);
}

TEST_F(StreamTest, FileSourceReadsTheFileAndNamesAMissingOne) {
  std::string path = dir_ + "/in.bin";
  std::ofstream(path) << "contents";
  ASSERT_OK_AND_ASSIGN(auto source, OpenFileSource(path));
  Bytes out;
  auto sink = MemorySink(out);
  ASSERT_OK_AND_ASSIGN(uint64_t n, CopyStream(*source, *sink));
  EXPECT_EQ(n, 8u);
  EXPECT_EQ(ToString(out), "contents");

  auto missing = OpenFileSource(dir_ + "/missing");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find(dir_ + "/missing"), std::string::npos);
  EXPECT_FALSE(OpenFileSource(dir_).ok());
}

TEST_F(StreamTest, MemorySinkAbortClears) {
  Bytes out;
  auto sink = MemorySink(out);
  ASSERT_OK(sink->Write(AsBytes("x")));
  sink->Abort();
  EXPECT_TRUE(out.empty());
  EXPECT_FALSE(sink->Write(AsBytes("y")).ok());
}

}  // namespace
}  // namespace coffer
