#pragma once
// Small POSIX file helpers shared by the layers that write files durably.
//
// Temporary files: whoever creates one holds an exclusive flock(2) on it, on a
// descriptor kept open for as long as the file may be in use
// (CreateLockedTemporaryFile). A process that crashed holds no lock any more,
// so a file nobody has locked is a leftover: RemoveAbandonedFiles removes it,
// and never a file in use by a live process, this one or another. (On Linux
// flock locks are independent of the fcntl locks SQLite takes.)
#include <functional>
#include <string>
#include <string_view>
#include <utility>

#include "common/bytes.h"
#include "common/status.h"

namespace coffer {

// A Status for a failed system call: "<what>: <strerror(err)>". Errors a user
// can act on (missing file, permissions, read-only file system, …) are
// kFailedPrecondition; the rest kInternal.
Status PosixError(std::string what, int err);

// "/a/b/c" -> "/a/b", "c" -> ".", "/c" -> "/".
std::string ParentDirectory(const std::string& path);

// fsync(2) of a directory, so that a rename or a new entry in it is durable.
Status SyncDirectory(const std::string& dir);
// fsync(2) of a file by its path.
Status SyncFile(const std::string& path);

// Writes `contents` to `path` atomically and durably: a temporary file beside it
// (PATH.tmp, locked as a temporary file while written; one a crash left is
// replaced) created with `mode` (never wider, whatever the umask), written,
// fsynced, renamed over `path`, then the directory fsynced. After a failure
// `path` is unchanged and no temporary file is left.
Status WriteFileAtomically(const std::string& path, std::string_view contents, unsigned mode);

// The whole contents of the file at `path`; an error (never an exception) when it
// cannot be opened or read, a directory included.
Result<std::string> ReadWholeFile(const std::string& path);

// Creates `dir` with `mode` when it does not exist; with `parents`, its missing
// parents too, each with `mode` (else they must exist). An existing directory is
// left as it is.
Status EnsureDirectory(const std::string& dir, unsigned mode, bool parents = false);

// An open file descriptor, closed when destroyed. Movable, not copyable.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept
      : fd_(std::exchange(other.fd_, -1)),
        temporary_slot_(std::exchange(other.temporary_slot_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
      Reset();
      fd_ = std::exchange(other.fd_, -1);
      temporary_slot_ = std::exchange(other.temporary_slot_, -1);
    }
    return *this;
  }
  ~UniqueFd() { Reset(); }
  int get() const { return fd_; }
  // Gives the descriptor up without closing it.
  int release() {
    ForgetTemporary();
    return std::exchange(fd_, -1);
  }
  void Reset();

 private:
  friend Result<UniqueFd> CreateLockedTemporaryFile(std::string& path_template, unsigned mode);
  // The slot of RemoveOpenTemporaryFiles that names this descriptor's file, if any.
  void ForgetTemporary();

  int fd_ = -1;
  int temporary_slot_ = -1;
};

// Writes all of `data` to `fd` (retrying short writes and EINTR); errors name
// `name`.
Status WriteAll(int fd, ByteView data, const std::string& name);

// Creates a new file from `path_template`, whose last six characters are
// "XXXXXX" (mkostemp(3)); they are replaced by the name chosen. The file has
// exactly `mode` and stays locked (flock LOCK_EX) as long as the returned
// descriptor is open: close it only after the file was renamed or removed, or
// once nobody needs it any more. On error nothing is left. Until the descriptor
// is closed, RemoveOpenTemporaryFiles removes the file.
Result<UniqueFd> CreateLockedTemporaryFile(std::string& path_template, unsigned mode);

// Removes the files of CreateLockedTemporaryFile whose descriptors are still
// open (the first 64 open at once; paths under 4096 bytes). Async-signal-safe.
void RemoveOpenTemporaryFiles();

// Makes SIGINT, SIGTERM and SIGHUP first RemoveOpenTemporaryFiles, then end the
// process as they would have: an interrupted command leaves no partial file.
void RemoveTemporaryFilesOnStopSignals();

// Removes the regular file `path` if no process holds a flock on it (taken
// without waiting); true when removed, false when it is locked (in use) or was
// gone. Symbolic links and other file types are left alone (false).
Result<bool> RemoveIfAbandoned(const std::string& path);

// RemoveIfAbandoned of every entry of `dir` (not of its subdirectories) whose
// name `matches`; returns how many files were removed. Stops at the first error.
Result<int> RemoveAbandonedFiles(const std::string& dir,
                                 const std::function<bool(std::string_view name)>& matches);

}  // namespace coffer
