#include "common/stream.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <climits>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "common/files.h"

namespace coffer {

Result<size_t> ReadFull(ByteSource& source, std::span<uint8_t> out) {
  size_t done = 0;
  while (done < out.size()) {
    auto n = source.Read(out.subspan(done));
    if (!n.ok()) return n.status();
    if (*n == 0) break;
    done += *n;
  }
  return done;
}

Result<uint64_t> CopyStream(ByteSource& source, ByteSink& sink, size_t buffer_size) {
  std::vector<uint8_t> buffer(std::max<size_t>(buffer_size, 1));
  uint64_t total = 0;
  for (;;) {
    auto n = ReadFull(source, buffer);
    if (!n.ok()) return n.status();
    if (*n == 0) return total;
    Status written = sink.Write(ByteView(buffer.data(), *n));
    if (!written.ok()) return written;
    total += *n;
    if (*n < buffer.size()) return total;
  }
}

Result<uint64_t> PumpStream(ByteSource& source, ByteSink& sink, size_t buffer_size,
                            size_t buffers) {
  buffer_size = std::max<size_t>(buffer_size, 1);
  buffers = std::max<size_t>(buffers, 2);
  std::vector<std::vector<uint8_t>> chunks(buffers, std::vector<uint8_t>(buffer_size));
  struct Filled {
    size_t chunk;
    size_t size;  // 0: the end of the stream
  };
  std::mutex mu;
  std::condition_variable changed;
  std::deque<size_t> free_chunks;
  std::deque<Filled> filled;
  for (size_t i = 0; i < buffers; ++i) free_chunks.push_back(i);
  Status write_error;
  bool stop = false;  // the reader failed: the writer drops what is queued

  std::thread writer([&] {
    for (;;) {
      Filled next;
      {
        std::unique_lock lock(mu);
        changed.wait(lock, [&] { return !filled.empty() || stop; });
        if (stop) return;
        next = filled.front();
        filled.pop_front();
      }
      if (next.size == 0) return;
      Status st = sink.Write(ByteView(chunks[next.chunk].data(), next.size));
      std::lock_guard lock(mu);
      if (!st.ok()) {
        write_error = st;
        changed.notify_all();
        return;
      }
      free_chunks.push_back(next.chunk);
      changed.notify_all();
    }
  });

  uint64_t total = 0;
  Status read_error;
  for (;;) {
    size_t chunk;
    {
      std::unique_lock lock(mu);
      changed.wait(lock, [&] { return !free_chunks.empty() || !write_error.ok(); });
      if (!write_error.ok()) break;
      chunk = free_chunks.front();
      free_chunks.pop_front();
    }
    auto n = ReadFull(source, chunks[chunk]);
    std::lock_guard lock(mu);
    if (!n.ok()) {
      read_error = n.status();
      stop = true;
      changed.notify_all();
      break;
    }
    filled.push_back({chunk, *n});
    total += *n;
    // A short read is the end of the stream (ReadFull): the source is not read
    // again (a terminal would wait for a second end-of-file).
    const bool end = *n < chunks[chunk].size();
    if (end && *n > 0) filled.push_back({chunk, 0});
    changed.notify_all();
    if (end) break;
  }
  writer.join();
  if (!read_error.ok()) return read_error;
  if (!write_error.ok()) return write_error;
  return total;
}

namespace {

class MemorySourceImpl final : public ByteSource {
 public:
  explicit MemorySourceImpl(ByteView data) : data_(data) {}
  Result<size_t> Read(std::span<uint8_t> out) override {
    size_t n = std::min(out.size(), data_.size() - pos_);
    std::copy_n(data_.begin() + pos_, n, out.begin());
    pos_ += n;
    return n;
  }

 private:
  ByteView data_;
  size_t pos_ = 0;
};

class MemorySinkImpl final : public ByteSink {
 public:
  explicit MemorySinkImpl(Bytes& out) : out_(out) {}
  Status Write(ByteView data) override {
    if (done_) return FailedPreconditionError("write to a closed stream");
    Append(out_, data);
    return Status::Ok();
  }
  Status Close() override {
    if (done_) return FailedPreconditionError("close of a closed stream");
    done_ = true;
    return Status::Ok();
  }
  void Abort() override {
    if (done_) return;
    done_ = true;
    out_.clear();
  }

 private:
  Bytes& out_;
  bool done_ = false;
};

// Reads a descriptor; `owned` closes it on destruction.
class DescriptorSourceImpl final : public ByteSource {
 public:
  DescriptorSourceImpl(int fd, std::string name, bool owned)
      : fd_(fd), name_(std::move(name)), owned_(owned) {}
  ~DescriptorSourceImpl() override {
    if (owned_) ::close(fd_);
  }
  Result<size_t> Read(std::span<uint8_t> out) override {
    if (!error_.ok()) return error_;
    for (;;) {
      ssize_t n = ::read(fd_, out.data(), out.size());
      if (n >= 0) return static_cast<size_t>(n);
      if (errno == EINTR) continue;
      error_ = PosixError("read " + name_, errno);
      return error_;
    }
  }

 private:
  int fd_;
  std::string name_;
  bool owned_;
  Status error_;
};

// Writes a descriptor; `owned` closes it on Close(), Abort() or destruction.
class DescriptorSinkImpl final : public ByteSink {
 public:
  DescriptorSinkImpl(int fd, std::string name, bool owned)
      : fd_(fd), name_(std::move(name)), owned_(owned) {}
  ~DescriptorSinkImpl() override { Release(); }
  Status Write(ByteView data) override {
    if (!error_.ok()) return error_;
    error_ = WriteAll(fd_, data, name_);
    return error_;
  }
  Status Close() override {
    if (!error_.ok()) return error_;
    error_ = FailedPreconditionError("write to a closed stream: " + name_);
    if (owned_ && ::close(std::exchange(fd_, -1)) != 0) return PosixError("close " + name_, errno);
    return Status::Ok();
  }
  void Abort() override {
    if (error_.ok()) error_ = FailedPreconditionError("write to an aborted stream: " + name_);
    Release();
  }

 private:
  void Release() {
    if (owned_ && fd_ >= 0) ::close(std::exchange(fd_, -1));
  }

  int fd_;
  std::string name_;
  bool owned_;
  Status error_;
};

class AtomicFileSink final : public ByteSink {
 public:
  AtomicFileSink(UniqueFd fd, std::string temp, std::string path)
      : fd_(std::move(fd)), temp_(std::move(temp)), path_(std::move(path)) {}
  ~AtomicFileSink() override { Abort(); }

  Status Write(ByteView data) override {
    if (!error_.ok()) return error_;
    Status written = WriteAll(fd_.get(), data, temp_);
    if (!written.ok()) return Fail(written);
    // Starts the write-back of what is written as it goes, so that Close()'s
    // fsync finds little left to do. Advisory: fsync reports any failure.
    unsynced_ += data.size();
    if (unsynced_ >= kWriteBackChunk) {
      ::sync_file_range(fd_.get(), static_cast<off_t>(written_back_), static_cast<off_t>(unsynced_),
                        SYNC_FILE_RANGE_WRITE);
      written_back_ += unsynced_;
      unsynced_ = 0;
    }
    return Status::Ok();
  }

  Status Close() override {
    if (!error_.ok()) return error_;
    if (::fsync(fd_.get()) != 0) return Fail(PosixError("fsync " + temp_, errno));
    // Renamed before it is closed: the temporary file stays locked until it
    // has its name. The data is on disk (fsync): a failed close changes nothing.
    if (::rename(temp_.c_str(), path_.c_str()) != 0) {
      return Fail(PosixError("rename " + temp_ + " to " + path_, errno));
    }
    temp_.clear();
    fd_.Reset();
    error_ = FailedPreconditionError("write to a closed stream: " + path_);
    // The file is in place; a failed directory sync is reported but the sink is done.
    return SyncDirectory(ParentDirectory(path_));
  }

  void Abort() override {
    if (error_.ok()) error_ = FailedPreconditionError("write to an aborted stream: " + path_);
    Discard();
  }

 private:
  Status Fail(Status status) {
    error_ = status;
    Discard();
    return status;
  }
  // Removes the temporary file, then closes it (which releases its lock).
  void Discard() {
    if (!temp_.empty()) {
      ::unlink(temp_.c_str());
      temp_.clear();
    }
    fd_.Reset();
  }

  static constexpr uint64_t kWriteBackChunk = 8u << 20;

  UniqueFd fd_;       // the temporary file's, until it has its name
  std::string temp_;  // empty once renamed or removed
  std::string path_;
  Status error_;
  uint64_t written_back_ = 0;  // bytes whose write-back was started
  uint64_t unsynced_ = 0;      // bytes written after those
};

}  // namespace

std::unique_ptr<ByteSource> MemorySource(ByteView data) {
  return std::make_unique<MemorySourceImpl>(data);
}

std::unique_ptr<ByteSink> MemorySink(Bytes& out) { return std::make_unique<MemorySinkImpl>(out); }

Result<std::unique_ptr<ByteSource>> OpenFileSource(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return PosixError("open " + path, errno);
  struct stat st {};
  if (::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
    ::close(fd);
    return FailedPreconditionError("open " + path + ": Is a directory");
  }
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  return std::unique_ptr<ByteSource>(std::make_unique<DescriptorSourceImpl>(fd, path, true));
}

std::unique_ptr<ByteSource> DescriptorSource(int fd, std::string name) {
  return std::make_unique<DescriptorSourceImpl>(fd, std::move(name), false);
}

Result<std::unique_ptr<ByteSink>> CreateAtomicFileSink(const std::string& path, unsigned mode) {
  std::string temp = path + ".tmp-XXXXXX";
  ASSIGN_OR_RETURN(UniqueFd fd, CreateLockedTemporaryFile(temp, mode));
  return std::unique_ptr<ByteSink>(std::make_unique<AtomicFileSink>(std::move(fd), temp, path));
}

std::unique_ptr<ByteSink> DescriptorSink(int fd, std::string name) {
  return std::make_unique<DescriptorSinkImpl>(fd, std::move(name), false);
}

namespace {

// The descriptor a descriptor's name stands for: /dev/stdout, /dev/stderr,
// /dev/fd/N, /proc/self/fd/N. Output there goes to that descriptor as it is (a
// pipe, a terminal, a file opened to append), never to what its link names.
std::optional<int> DescriptorNamed(std::string_view path) {
  if (path == "/dev/stdout") return 1;
  if (path == "/dev/stderr") return 2;
  for (std::string_view prefix : {"/dev/fd/", "/proc/self/fd/"}) {
    if (!path.starts_with(prefix)) continue;
    std::string_view digits = path.substr(prefix.size());
    int fd = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), fd);
    if (ec == std::errc() && end == digits.data() + digits.size() && !digits.empty()) return fd;
  }
  return std::nullopt;
}

}  // namespace

Result<std::unique_ptr<ByteSink>> CreateOutputFileSink(const std::string& path, unsigned mode) {
  if (std::optional<int> named = DescriptorNamed(path)) {
    int fd = ::fcntl(*named, F_DUPFD_CLOEXEC, 0);
    if (fd < 0) return PosixError("open " + path, errno);
    return std::unique_ptr<ByteSink>(std::make_unique<DescriptorSinkImpl>(fd, path, true));
  }
  // The kernel follows the links (and refuses those fs.protected_symlinks forbids).
  UniqueFd at(::open(path.c_str(), O_PATH | O_CLOEXEC));
  if (at.get() < 0) {
    if (errno != ENOENT) return PosixError("open " + path, errno);
    struct stat link {};
    if (::lstat(path.c_str(), &link) == 0 && S_ISLNK(link.st_mode)) {
      return FailedPreconditionError("open " + path +
                                     ": a symbolic link to a file that does not exist");
    }
    return CreateAtomicFileSink(path, mode);  // a new file
  }
  struct stat st {};
  if (::fstat(at.get(), &st) != 0) return PosixError("stat " + path, errno);
  if (S_ISDIR(st.st_mode)) return FailedPreconditionError("open " + path + ": Is a directory");
  if (!S_ISREG(st.st_mode)) {
    // A device or a FIFO: written as it is, never replaced nor its mode changed.
    int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return PosixError("open " + path, errno);
    if (::fstat(fd, &st) != 0 || S_ISREG(st.st_mode)) {  // replaced since
      ::close(fd);
      return FailedPreconditionError("open " + path + ": it changed while being opened");
    }
    return std::unique_ptr<ByteSink>(std::make_unique<DescriptorSinkImpl>(fd, path, true));
  }
  // A regular file: replaced atomically where the path leads (a link is kept).
  std::string target(PATH_MAX, '\0');
  const std::string self = "/proc/self/fd/" + std::to_string(at.get());
  ssize_t n = ::readlink(self.c_str(), target.data(), target.size());
  if (n <= 0 || static_cast<size_t>(n) >= target.size()) return CreateAtomicFileSink(path, mode);
  target.resize(static_cast<size_t>(n));
  return CreateAtomicFileSink(target, mode);
}

}  // namespace coffer
