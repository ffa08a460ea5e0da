#include "common/files.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <vector>

namespace coffer {
namespace {

// flock(2), retried when a signal interrupts it.
int Flock(int fd, int operation) {
  int rc;
  do {
    rc = ::flock(fd, operation);
  } while (rc != 0 && errno == EINTR);
  return rc;
}

}  // namespace

Status PosixError(std::string what, int err) {
  what += ": ";
  what += std::strerror(err);
  switch (err) {
    case ENOENT:
    case ENOTDIR:
    case EACCES:
    case EPERM:
    case EROFS:
    case EISDIR:
    case ELOOP:
      return FailedPreconditionError(std::move(what));
    default:
      return InternalError(std::move(what));
  }
}

std::string ParentDirectory(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

Status SyncDirectory(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return PosixError("open directory " + dir, errno);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return PosixError("fsync directory " + dir, err);
  return Status::Ok();
}

Status SyncFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return PosixError("open " + path, errno);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return PosixError("fsync " + path, err);
  return Status::Ok();
}

Status WriteFileAtomically(const std::string& path, std::string_view contents, unsigned mode) {
  std::string temp = path + ".tmp";
  // One a crash left is in the way; one being written by a live process is
  // not removed (the create below then fails).
  RETURN_IF_ERROR(RemoveIfAbandoned(temp).status());
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) return PosixError("create " + temp, errno);
  auto fail = [&](std::string what, int err) {
    ::unlink(temp.c_str());
    ::close(fd);
    return PosixError(std::move(what), err);
  };
  // Locked from here until renamed, as any temporary file. Nobody can hold
  // it yet but a cleaner that took it for a leftover in that instant.
  if (Flock(fd, LOCK_EX) != 0) return fail("lock " + temp, errno);
  struct stat st {};
  if (::fstat(fd, &st) != 0) return fail("stat " + temp, errno);
  if (st.st_nlink == 0) {
    ::close(fd);
    return InternalError("create " + temp + ": removed while being created");
  }
  // The umask may only narrow the mode; fchmod makes it exact.
  if (::fchmod(fd, mode) != 0) return fail("chmod " + temp, errno);
  size_t done = 0;
  while (done < contents.size()) {
    ssize_t n = ::write(fd, contents.data() + done, contents.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("write " + temp, errno);
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) return fail("fsync " + temp, errno);
  // Renamed before it is closed: the lock holds until the file has its name.
  if (::rename(temp.c_str(), path.c_str()) != 0)
    return fail("rename " + temp + " to " + path, errno);
  // The data is on disk already (fsync): a failed close changes nothing.
  ::close(fd);
  return SyncDirectory(ParentDirectory(path));
}

Result<std::string> ReadWholeFile(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return PosixError("open " + path, errno);
  std::string data;
  char buffer[64 * 1024];
  while (true) {
    ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      return PosixError("read " + path, errno);
    }
    if (n == 0) return data;
    data.append(buffer, static_cast<size_t>(n));
  }
}

Status EnsureDirectory(const std::string& dir, unsigned mode, bool parents) {
  if (::mkdir(dir.c_str(), mode) == 0) return SyncDirectory(ParentDirectory(dir));
  const int err = errno;
  if (err == ENOENT && parents) {
    const std::string parent = ParentDirectory(dir);
    if (parent != dir) {
      RETURN_IF_ERROR(EnsureDirectory(parent, mode, true));
      return EnsureDirectory(dir, mode, false);
    }
  }
  if (err != EEXIST) return PosixError("create directory " + dir, err);
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) return PosixError("stat " + dir, errno);
  if (!S_ISDIR(st.st_mode)) return FailedPreconditionError(dir + " exists and is not a directory");
  return Status::Ok();
}

namespace {

// The temporary files open now, for RemoveOpenTemporaryFiles (a signal handler):
// a slot is free, being filled, named (its path set) or claimed by the handler,
// which no thread then refills (the process is ending).
enum SlotState : int { kSlotFree, kSlotFilling, kSlotNamed, kSlotClaimed };
constexpr int kTemporarySlots = 64;
constexpr size_t kTemporaryPathMax = 4096;
struct TemporarySlot {
  std::atomic<int> state{kSlotFree};
  char path[kTemporaryPathMax];
};
TemporarySlot g_temporary[kTemporarySlots];
static_assert(std::atomic<int>::is_always_lock_free);

int NameTemporary(const std::string& path) {
  if (path.size() >= kTemporaryPathMax) return -1;
  for (int i = 0; i < kTemporarySlots; ++i) {
    int expected = kSlotFree;
    if (!g_temporary[i].state.compare_exchange_strong(expected, kSlotFilling)) continue;
    std::memcpy(g_temporary[i].path, path.c_str(), path.size() + 1);
    g_temporary[i].state.store(kSlotNamed, std::memory_order_release);
    return i;
  }
  return -1;  // all in use: this file is not removed on a signal
}

void StopSignalHandler(int sig) {
  RemoveOpenTemporaryFiles();
  // SA_RESETHAND restored the default action; the signal, blocked while this
  // runs, ends the process once the handler returns.
  ::raise(sig);
}

}  // namespace

void RemoveOpenTemporaryFiles() {
  for (TemporarySlot& slot : g_temporary) {
    int expected = kSlotNamed;
    if (slot.state.compare_exchange_strong(expected, kSlotClaimed)) ::unlink(slot.path);
  }
}

void RemoveTemporaryFilesOnStopSignals() {
  struct sigaction action {};
  action.sa_handler = StopSignalHandler;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESETHAND;
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) ::sigaction(sig, &action, nullptr);
}

void UniqueFd::ForgetTemporary() {
  if (temporary_slot_ < 0) return;
  // A slot the handler claimed stays claimed.
  int expected = kSlotNamed;
  g_temporary[temporary_slot_].state.compare_exchange_strong(expected, kSlotFree);
  temporary_slot_ = -1;
}

void UniqueFd::Reset() {
  ForgetTemporary();
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

Status WriteAll(int fd, ByteView data, const std::string& name) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return PosixError("write " + name, errno);
    }
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

Result<UniqueFd> CreateLockedTemporaryFile(std::string& path_template, unsigned mode) {
  const std::string pattern = path_template;
  // A cleaner may take the new file for a leftover before it is locked and
  // remove it: then another is made. It would have to happen every time.
  constexpr int kAttempts = 8;
  for (int attempt = 1;; ++attempt) {
    path_template = pattern;
    int raw = ::mkostemp(path_template.data(), O_CLOEXEC);
    if (raw < 0) return PosixError("create a temporary file " + pattern, errno);
    UniqueFd fd(raw);
    auto fail = [&](std::string what, int err) {
      ::unlink(path_template.c_str());
      return PosixError(std::move(what) + " " + path_template, err);
    };
    if (Flock(fd.get(), LOCK_EX) != 0) return fail("lock", errno);
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return fail("stat", errno);
    if (st.st_nlink == 0) {
      if (attempt == kAttempts) {
        return InternalError("create a temporary file " + pattern +
                             ": removed while being created, " + std::to_string(kAttempts) +
                             " times");
      }
      continue;
    }
    // mkostemp creates 0600; fchmod makes it exactly `mode`, whatever the umask.
    if (::fchmod(fd.get(), mode) != 0) return fail("chmod", errno);
    fd.temporary_slot_ = NameTemporary(path_template);
    return fd;
  }
}

Result<bool> RemoveIfAbandoned(const std::string& path) {
  // O_NONBLOCK: a FIFO of that name must not block the open.
  int raw = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (raw < 0) {
    if (errno == ENOENT || errno == ELOOP) return false;
    return PosixError("open " + path, errno);
  }
  UniqueFd fd(raw);
  struct stat held {};
  if (::fstat(fd.get(), &held) != 0) return PosixError("stat " + path, errno);
  if (!S_ISREG(held.st_mode)) return false;
  if (Flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) return false;
    return PosixError("lock " + path, errno);
  }
  // The name must still be the file locked (not renamed away and reused
  // meanwhile); the lock is kept until it is removed.
  struct stat now {};
  if (::lstat(path.c_str(), &now) != 0) {
    if (errno == ENOENT) return false;
    return PosixError("stat " + path, errno);
  }
  if (now.st_dev != held.st_dev || now.st_ino != held.st_ino) return false;
  if (::unlink(path.c_str()) != 0) {
    if (errno == ENOENT) return false;
    return PosixError("remove " + path, errno);
  }
  return true;
}

Result<int> RemoveAbandonedFiles(const std::string& dir,
                                 const std::function<bool(std::string_view name)>& matches) {
  std::vector<std::string> names;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return PosixError("open directory " + dir, errno);
  errno = 0;
  while (struct dirent* e = ::readdir(d)) {
    std::string_view name(e->d_name);
    if (name != "." && name != ".." && matches(name)) names.emplace_back(name);
    errno = 0;
  }
  int err = errno;
  ::closedir(d);
  if (err != 0) return PosixError("read directory " + dir, err);
  int removed = 0;
  for (const std::string& name : names) {
    ASSIGN_OR_RETURN(bool gone, RemoveIfAbandoned(dir + "/" + name));
    if (gone) ++removed;
  }
  if (removed > 0) RETURN_IF_ERROR(SyncDirectory(dir));
  return removed;
}

}  // namespace coffer
