#include "objstore/file_object_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>  // renameat2
#include <map>
#include <utility>
#include <vector>

#include "common/files.h"
#include "crypto/hash.h"
#include "objstore/key_path.h"
#include "objstore/location.h"

namespace coffer::objstore {
namespace {

constexpr unsigned kDirMode = 0700;
constexpr unsigned kFileMode = 0600;
// A directory of the object's path may be removed by a concurrent Delete (which
// prunes empty directories) between its creation and the temporary file's.
constexpr int kCreateAttempts = 16;
// A writer's temporary file: DIR/.tmp-XXXXXX. No key maps to a name beginning
// with '.' (key_path.h).
constexpr std::string_view kUploadPrefix = ".tmp-";

ObjectInfo InfoOf(std::string key, const struct stat& st) {
  ObjectInfo info;
  info.key = std::move(key);
  info.size = static_cast<uint64_t>(st.st_size);
  Bytes identity;
  AppendU64(identity, static_cast<uint64_t>(st.st_dev));
  AppendU64(identity, static_cast<uint64_t>(st.st_ino));
  AppendU64(identity, info.size);
  AppendU64(identity, static_cast<uint64_t>(st.st_mtim.tv_sec));
  AppendU64(identity, static_cast<uint64_t>(st.st_mtim.tv_nsec));
  Bytes digest = crypto::Sha256(identity);
  info.etag = "\"" + HexEncode(ByteView(digest).first(16)) + "\"";
  info.last_modified = TimePoint(std::chrono::seconds(st.st_mtim.tv_sec));
  return info;
}

// fsync(2) of a directory that a concurrent Delete may have removed (once empty):
// a directory that is gone has no entry left to make durable.
Status SyncDirectoryIfPresent(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return Status::Ok();
    return PosixError("open directory " + dir, errno);
  }
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return PosixError("fsync directory " + dir, err);
  return Status::Ok();
}

Status WriteAll(int fd, ByteView data, const std::string& what) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return PosixError("write " + what, errno);
    }
    data = data.subspan(static_cast<size_t>(n));
  }
  return Status::Ok();
}

// Removes the object file at `path` of the bucket in `bucket_dir` and the
// directories the key no longer needs; with `only_fd`, only if `path` is still
// the file open there (the open descriptor keeps its inode number from being
// reused). True when it removed the file.
Result<bool> RemoveObjectFile(const std::string& bucket_dir, const std::string& path, int only_fd,
                              const std::string& description) {
  if (only_fd >= 0) {
    struct stat ours {};
    struct stat there {};
    if (::fstat(only_fd, &ours) != 0) {
      return PosixError("stat " + path, errno).WithContext(description);
    }
    if (::lstat(path.c_str(), &there) != 0) {
      if (errno == ENOENT || errno == ENOTDIR) return false;
      return PosixError("stat " + path, errno).WithContext(description);
    }
    // A file stored there since, by another writer, is not touched. (Between
    // this check and the unlink below another writer could still replace it:
    // a window of two system calls.)
    if (there.st_dev != ours.st_dev || there.st_ino != ours.st_ino) return false;
  }
  if (::unlink(path.c_str()) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) return false;
    return PosixError("remove " + path, errno).WithContext(description);
  }
  std::string dir = ParentDirectory(path);
  RETURN_IF_ERROR(SyncDirectoryIfPresent(dir).WithContext(description));
  // Directories the key no longer needs go too, deepest first, until one is not empty.
  while (dir.size() > bucket_dir.size() && ::rmdir(dir.c_str()) == 0) dir = ParentDirectory(dir);
  return true;
}

class FileObjectWriter final : public ObjectWriter {
 public:
  FileObjectWriter(UniqueFd fd, std::string temp, std::string bucket_dir, std::string path,
                   std::string description, bool create_only)
      : fd_(std::move(fd)),
        temp_(std::move(temp)),
        bucket_dir_(std::move(bucket_dir)),
        path_(std::move(path)),
        description_(std::move(description)),
        create_only_(create_only) {}
  ~FileObjectWriter() override { Abort(); }

  Status Write(ByteView data) override {
    if (!error_.ok()) return error_;
    Status written = WriteAll(fd_.get(), data, temp_);
    if (!written.ok()) return Fail(written.WithContext(description_));
    return Status::Ok();
  }

  Status Close() override {
    if (!error_.ok()) return error_;
    if (::fsync(fd_.get()) != 0) return Fail(PosixError("fsync " + temp_, errno));
    // Renamed before it is closed: the temporary file stays locked until it is
    // the object. The data is on disk (fsync): a failed close changes nothing.
    RETURN_IF_ERROR(Publish());
    temp_.clear();
    // Kept open, so that Retract knows the file for as long as the writer lives.
    stored_ = UniqueFd(fd_.release());  // no longer a temporary file
    error_ = FailedPreconditionError(description_ + ": write to a closed object writer");
    // The object is in place; a failed directory sync leaves its durability in doubt.
    return SyncDirectoryIfPresent(ParentDirectory(path_)).WithContext(description_);
  }

  void Abort() override {
    if (error_.ok()) error_ = FailedPreconditionError(description_ + ": the writer was aborted");
    Discard();
  }

  Result<bool> Retract() override {
    if (stored_.get() < 0) return false;  // never moved into place
    return RemoveObjectFile(bucket_dir_, path_, stored_.get(), description_);
  }

 private:
  // Moves the temporary file into place: a rename, or for create_only one that
  // refuses to replace (renameat2 RENAME_NOREPLACE; a hard link where the file
  // system lacks it, the temporary name then unlinked).
  Status Publish() {
    if (!create_only_) {
      if (::rename(temp_.c_str(), path_.c_str()) == 0) return Status::Ok();
      return Fail(PosixError("rename " + temp_ + " to " + path_, errno));
    }
    int rc = ::renameat2(AT_FDCWD, temp_.c_str(), AT_FDCWD, path_.c_str(), RENAME_NOREPLACE);
    // Not offered by this file system or kernel (or refused by a sandbox).
    if (rc != 0 && (errno == EINVAL || errno == ENOSYS || errno == EPERM || errno == ENOTSUP ||
                    errno == EOPNOTSUPP)) {
      rc = ::link(temp_.c_str(), path_.c_str());
      if (rc == 0) ::unlink(temp_.c_str());
    }
    if (rc == 0) return Status::Ok();
    if (errno == EEXIST) {
      return Fail(Status(StatusCode::kFailedPrecondition, std::string(kPreconditionFailed),
                         description_ + ": the object already exists (create only)"));
    }
    return Fail(PosixError("store " + path_ + " only if it does not exist (renameat2 " +
                               "RENAME_NOREPLACE, then link)",
                           errno));
  }

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

  UniqueFd fd_;       // the temporary file's, until it is the object
  std::string temp_;  // empty once renamed or removed
  const std::string bucket_dir_;
  std::string path_;
  UniqueFd stored_;  // the file, once moved into place
  std::string description_;
  const bool create_only_;
  Status error_;
};

class FileObjectReader final : public ObjectReader {
 public:
  FileObjectReader(int fd, ObjectInfo info, ResolvedRange range, std::string description)
      : fd_(fd),
        info_(std::move(info)),
        pos_(range.offset),
        end_(range.end),
        description_(std::move(description)) {}
  ~FileObjectReader() override { ::close(fd_); }

  const ObjectInfo& info() const override { return info_; }

  Result<size_t> Read(std::span<uint8_t> out) override {
    if (!error_.ok()) return error_;
    if (pos_ == end_ || out.empty()) return size_t{0};
    size_t want = static_cast<size_t>(std::min<uint64_t>(out.size(), end_ - pos_));
    while (true) {
      ssize_t n = ::pread(fd_, out.data(), want, static_cast<off_t>(pos_));
      if (n < 0) {
        if (errno == EINTR) continue;
        error_ = PosixError("read " + description_, errno);
        return error_;
      }
      if (n == 0) {
        error_ = DataLossError(description_ + ": the object's file ended at byte " +
                               std::to_string(pos_) + " of " + std::to_string(end_));
        return error_;
      }
      pos_ += static_cast<uint64_t>(n);
      return static_cast<size_t>(n);
    }
  }

 private:
  int fd_;
  ObjectInfo info_;
  uint64_t pos_;
  uint64_t end_;
  std::string description_;
  Status error_;
};

// One directory's entries, read whole so that a deep walk keeps one directory open.
struct Entry {
  std::string name;
  bool is_dir = false;
  bool is_file = false;
};

Result<std::vector<Entry>> ReadDirectory(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return PosixError("open directory " + dir, errno);
  std::vector<Entry> entries;
  errno = 0;
  while (struct dirent* e = ::readdir(d)) {
    std::string_view name(e->d_name);
    if (name == "." || name == "..") continue;
    Entry entry{std::string(name)};
    unsigned char type = e->d_type;
    if (type == DT_UNKNOWN) {
      struct stat st {};
      if (::fstatat(::dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        type = S_ISDIR(st.st_mode) ? DT_DIR : S_ISREG(st.st_mode) ? DT_REG : DT_UNKNOWN;
      }
    }
    entry.is_dir = type == DT_DIR;
    entry.is_file = type == DT_REG;
    entries.push_back(std::move(entry));
    errno = 0;
  }
  int err = errno;
  ::closedir(d);
  if (err != 0) return PosixError("read directory " + dir, err);
  return entries;
}

// The smallest `limit` names after the continuation point, objects and common
// prefixes alike, as a walk of the bucket finds them.
class PageCollector {
 public:
  PageCollector(const ListOptions& options, std::string after)
      : options_(options),
        after_(std::move(after)),
        limit_(static_cast<size_t>(options.max_keys) + 1) {}

  // Whether a directory whose keys all begin with `dir_prefix` can hold a name
  // of the page.
  bool WorthDescending(const std::string& dir_prefix) const {
    const std::string& prefix = options_.prefix;
    if (!dir_prefix.starts_with(prefix) && !prefix.starts_with(dir_prefix)) return false;
    // Every key under it is at or before the continuation point.
    if (!after_.empty() && dir_prefix <= after_ && !after_.starts_with(dir_prefix)) return false;
    // Every key under it sorts after a full page.
    if (names_.size() >= limit_ && dir_prefix > names_.rbegin()->first) return false;
    return true;
  }

  void AddKey(const std::string& key, std::string path) {
    if (!key.starts_with(options_.prefix)) return;
    std::string name = key;
    bool rolled_up = false;
    if (!options_.delimiter.empty()) {
      size_t at = key.find(options_.delimiter, options_.prefix.size());
      if (at != std::string::npos) {
        name = key.substr(0, at + options_.delimiter.size());
        rolled_up = true;
      }
    }
    if (!after_.empty() && name <= after_) return;
    if (names_.size() >= limit_ && name >= names_.rbegin()->first) return;
    if (rolled_up) {
      names_.try_emplace(name, std::string());
    } else {
      names_[name] = std::move(path);
    }
    if (names_.size() > limit_) names_.erase(std::prev(names_.end()));
  }

  // name -> the object's file, or empty for a common prefix.
  const std::map<std::string, std::string>& names() const { return names_; }

 private:
  const ListOptions& options_;
  std::string after_;
  size_t limit_;
  std::map<std::string, std::string> names_;
};

Status Walk(const std::string& dir, const std::string& dir_prefix, PageCollector& page) {
  ASSIGN_OR_RETURN(std::vector<Entry> entries, ReadDirectory(dir));
  for (const Entry& entry : entries) {
    std::string path = dir + "/" + entry.name;
    if (entry.is_file) {
      std::optional<std::string> last = key_path::DecodeComponent(entry.name, true);
      if (!last) continue;
      std::string key = dir_prefix + *last;
      page.AddKey(key, std::move(path));
    } else if (entry.is_dir) {
      std::optional<std::string> part = key_path::DecodeComponent(entry.name, false);
      if (!part) continue;
      std::string sub_prefix = dir_prefix + *part;
      if (!page.WorthDescending(sub_prefix)) continue;
      Status walked = Walk(path, sub_prefix, page);
      // A directory removed meanwhile (a Delete pruned it) holds nothing.
      if (!walked.ok() && !(::access(path.c_str(), F_OK) != 0 && errno == ENOENT)) return walked;
    }
  }
  return Status::Ok();
}

// RemoveIfAbandoned of the upload files under `dir`, and of the directories
// that leaves empty; returns how many files were removed.
Result<int> RemoveAbandonedUploadsUnder(const std::string& dir) {
  ASSIGN_OR_RETURN(std::vector<Entry> entries, ReadDirectory(dir));
  int removed = 0;
  for (const Entry& entry : entries) {
    std::string path = dir + "/" + entry.name;
    if (entry.is_file && entry.name.starts_with(kUploadPrefix)) {
      ASSIGN_OR_RETURN(bool gone, RemoveIfAbandoned(path));
      if (gone) ++removed;
    } else if (entry.is_dir && key_path::DecodeComponent(entry.name, false)) {
      Result<int> under = RemoveAbandonedUploadsUnder(path);
      // A directory removed meanwhile (a Delete pruned it) holds nothing.
      if (!under.ok() && !(::access(path.c_str(), F_OK) != 0 && errno == ENOENT)) return under;
      // A directory only that upload needed goes too, as Delete prunes them (a
      // writer that has just made it makes it again).
      if (under.ok() && *under > 0) {
        removed += *under;
        ::rmdir(path.c_str());
      }
    }
  }
  if (removed > 0) RETURN_IF_ERROR(SyncDirectoryIfPresent(dir));
  return removed;
}

Status BadContinuationToken() {
  return Status(StatusCode::kInvalidArgument, std::string(kInvalidArgument),
                "The continuation token provided is incorrect");
}

}  // namespace

Result<std::unique_ptr<FileObjectStore>> FileObjectStore::Create(std::string root) {
  if (root.empty()) return InvalidArgumentError("the buckets directory is not set");
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  // The directory is made with the first bucket: an installation whose buckets are
  // all configured s3 ones never needs it.
  return std::unique_ptr<FileObjectStore>(new FileObjectStore(std::move(root)));
}

std::string FileObjectStore::BucketDirectory(std::string_view bucket) const {
  return root_ + "/" + std::string(bucket);
}

Status FileObjectStore::CreateBucket(std::string_view bucket) {
  RETURN_IF_ERROR(ValidateBucketName(bucket));
  RETURN_IF_ERROR(EnsureDirectory(root_, kDirMode));
  std::string dir = BucketDirectory(bucket);
  if (::mkdir(dir.c_str(), kDirMode) != 0) {
    if (errno == EEXIST) {
      return Status(StatusCode::kAlreadyExists, std::string(kBucketAlreadyOwnedByYou),
                    "Your previous request to create the named bucket succeeded and you already "
                    "own it: " +
                        std::string(bucket));
    }
    return PosixError("create bucket directory " + dir, errno);
  }
  return SyncDirectory(root_);
}

Status FileObjectStore::HeadBucket(std::string_view bucket) {
  RETURN_IF_ERROR(ValidateBucketName(bucket));
  struct stat st {};
  std::string dir = BucketDirectory(bucket);
  if (::stat(dir.c_str(), &st) != 0) {
    if (errno == ENOENT) return NoSuchBucketError(bucket);
    return PosixError("stat " + dir, errno);
  }
  if (!S_ISDIR(st.st_mode)) return FailedPreconditionError(dir + " is not a directory");
  return Status::Ok();
}

Status FileObjectStore::Put(std::string_view bucket, std::string_view key, ByteView data) {
  ASSIGN_OR_RETURN(std::unique_ptr<ObjectWriter> writer, OpenWriter(bucket, key));
  RETURN_IF_ERROR(writer->Write(data));
  return writer->Close();
}

Result<std::unique_ptr<ObjectWriter>> FileObjectStore::OpenWriter(std::string_view bucket,
                                                                  std::string_view key,
                                                                  const WriteOptions& options) {
  RETURN_IF_ERROR(CheckBucketAndKey(bucket, key));
  RETURN_IF_ERROR(HeadBucket(bucket));
  const std::string bucket_dir = BucketDirectory(bucket);
  const std::vector<std::string> components = key_path::Components(key);
  const std::string description = DescribeObject(bucket, key);
  for (int attempt = 1;; ++attempt) {
    const bool last_attempt = attempt == kCreateAttempts;
    std::string dir = bucket_dir;
    bool vanished = false;  // a directory of the path was removed meanwhile: start again
    for (size_t i = 0; i + 1 < components.size() && !vanished; ++i) {
      dir += "/" + components[i];
      if (::mkdir(dir.c_str(), kDirMode) == 0) {
        // The new entry must be durable before the object that needs it is.
        Status synced = SyncDirectory(ParentDirectory(dir));
        if (synced.ok()) continue;
        if (last_attempt) return synced.WithContext(description);
        vanished = true;
      } else if (errno == ENOENT && !last_attempt) {
        vanished = true;
      } else if (errno != EEXIST) {
        return PosixError("create directory " + dir, errno).WithContext(description);
      }
    }
    if (vanished) continue;
    // Locked while written, so that RemoveAbandonedUploads leaves it alone.
    std::string temp = dir + "/" + std::string(kUploadPrefix) + "XXXXXX";
    Result<UniqueFd> fd = CreateLockedTemporaryFile(temp, kFileMode);
    if (!fd.ok()) {
      // Most likely a concurrent Delete pruned the directory (it may already be
      // back, made by another writer): make it again and retry; a lasting
      // error fails every attempt.
      if (!last_attempt) continue;
      return fd.status().WithContext(description);
    }
    return std::unique_ptr<ObjectWriter>(std::make_unique<FileObjectWriter>(
        std::move(*fd), temp, bucket_dir, dir + "/" + components.back(), description,
        options.create_only));
  }
}

Result<std::unique_ptr<ObjectReader>> FileObjectStore::Get(std::string_view bucket,
                                                           std::string_view key,
                                                           std::optional<ByteRange> range) {
  RETURN_IF_ERROR(CheckBucketAndKey(bucket, key));
  RETURN_IF_ERROR(HeadBucket(bucket));
  std::string path = BucketDirectory(bucket) + "/" + key_path::RelativePath(key);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno == ENOENT || errno == ENOTDIR) return NoSuchKeyError(bucket, key);
    return PosixError("open " + path, errno);
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    int err = errno;
    ::close(fd);
    return err != 0 ? PosixError("stat " + path, err) : NoSuchKeyError(bucket, key);
  }
  ObjectInfo info = InfoOf(std::string(key), st);
  Result<ResolvedRange> resolved = ResolveRange(bucket, key, range, info.size);
  if (!resolved.ok()) {
    ::close(fd);
    return resolved.status();
  }
  return std::unique_ptr<ObjectReader>(std::make_unique<FileObjectReader>(
      fd, std::move(info), *resolved, DescribeObject(bucket, key)));
}

Result<ObjectInfo> FileObjectStore::Head(std::string_view bucket, std::string_view key) {
  RETURN_IF_ERROR(CheckBucketAndKey(bucket, key));
  RETURN_IF_ERROR(HeadBucket(bucket));
  std::string path = BucketDirectory(bucket) + "/" + key_path::RelativePath(key);
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) return NoSuchKeyError(bucket, key);
    return PosixError("stat " + path, errno);
  }
  if (!S_ISREG(st.st_mode)) return NoSuchKeyError(bucket, key);
  return InfoOf(std::string(key), st);
}

Result<ListPage> FileObjectStore::List(std::string_view bucket, const ListOptions& options) {
  RETURN_IF_ERROR(CheckListOptions(bucket, options));
  RETURN_IF_ERROR(HeadBucket(bucket));
  std::string after;
  if (!options.continuation_token.empty()) {
    Result<Bytes> decoded = Base64Decode(options.continuation_token);
    if (!decoded.ok() || decoded->empty()) return BadContinuationToken();
    after = ToString(*decoded);
  }
  PageCollector collector(options, after);
  RETURN_IF_ERROR(Walk(BucketDirectory(bucket), "", collector));

  ListPage page;
  size_t taken = 0;
  std::string last_name;
  for (const auto& [name, path] : collector.names()) {
    if (taken == static_cast<size_t>(options.max_keys)) {
      page.next_continuation_token = Base64Encode(AsBytes(last_name));
      break;
    }
    ++taken;
    last_name = name;
    if (path.empty()) {
      page.common_prefixes.push_back(name);
      continue;
    }
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;  // deleted meanwhile
    page.objects.push_back(InfoOf(name, st));
  }
  return page;
}

Result<int> FileObjectStore::RemoveAbandonedUploads(std::string_view bucket) {
  RETURN_IF_ERROR(HeadBucket(bucket));
  return RemoveAbandonedUploadsUnder(BucketDirectory(bucket));
}

Status FileObjectStore::Delete(std::string_view bucket, std::string_view key) {
  RETURN_IF_ERROR(CheckBucketAndKey(bucket, key));
  RETURN_IF_ERROR(HeadBucket(bucket));
  const std::string bucket_dir = BucketDirectory(bucket);
  return RemoveObjectFile(bucket_dir, bucket_dir + "/" + key_path::RelativePath(key), -1,
                          DescribeObject(bucket, key))
      .status();
}

}  // namespace coffer::objstore
