#include "common/files.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <string>
#include <vector>

#include "testing/files.h"
#include "testing/status_matchers.h"

namespace coffer {
namespace {

using ::coffer::testing::FileMode;
using ::coffer::testing::ReadFile;
using ::coffer::testing::TempDir;
using ::coffer::testing::WriteFile;

bool Exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

// Whether some open file description holds a flock on `path`: a new one of
// ours cannot take it without waiting.
bool IsLocked(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  EXPECT_GE(fd.get(), 0) << path;
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) == 0) return false;
  EXPECT_EQ(errno, EWOULDBLOCK);
  return true;
}

std::vector<std::string> Names(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    out.push_back(e.path().filename().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

bool IsLeftoverName(std::string_view name) { return name.starts_with(".tmp-"); }

TEST(CreateLockedTemporaryFileTest, CreatesANewLockedFileWithExactlyTheMode) {
  TempDir dir;
  ::mode_t old_umask = ::umask(0077);
  std::string path = dir.File("out.tmp-XXXXXX");
  auto fd = CreateLockedTemporaryFile(path, 0640);
  ::umask(old_umask);
  ASSERT_OK(fd.status());
  EXPECT_NE(path, dir.File("out.tmp-XXXXXX"));
  EXPECT_TRUE(path.starts_with(dir.File("out.tmp-")));
  EXPECT_EQ(FileMode(path), 0640u);
  EXPECT_TRUE(IsLocked(path));
  // The descriptor writes the file.
  ASSERT_OK(WriteAll(fd->get(), AsBytes(std::string_view("data")), path));
  EXPECT_EQ(ReadFile(path), "data");
  fd->Reset();
  EXPECT_FALSE(IsLocked(path));
}

TEST(CreateLockedTemporaryFileTest, FailsInAMissingDirectoryLeavingNothing) {
  TempDir dir;
  std::string path = dir.File("missing/x.tmp-XXXXXX");
  EXPECT_FALSE(CreateLockedTemporaryFile(path, 0600).ok());
  EXPECT_TRUE(Names(dir.path()).empty());
}

TEST(CreateLockedTemporaryFileTest, TheStopSignalsRemoveTheOnesStillOpen) {
  // In a child, as a stop signal ends the process: a temporary file still open is
  // removed, one renamed into place (its descriptor closed) and a moved-from
  // descriptor's are not touched twice.
  TempDir dir;
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    RemoveTemporaryFilesOnStopSignals();
    std::string open_path = dir.File("partial.tmp-XXXXXX");
    auto open_fd = CreateLockedTemporaryFile(open_path, 0600);
    std::string done_path = dir.File("done.tmp-XXXXXX");
    auto done_fd = CreateLockedTemporaryFile(done_path, 0600);
    std::string moved_path = dir.File("moved.tmp-XXXXXX");
    auto moved_fd = CreateLockedTemporaryFile(moved_path, 0600);
    if (!open_fd.ok() || !done_fd.ok() || !moved_fd.ok()) ::_exit(2);
    if (::rename(done_path.c_str(), dir.File("done").c_str()) != 0) ::_exit(3);
    done_fd->Reset();
    UniqueFd kept = std::move(*moved_fd);  // still open, under its new owner
    ::raise(SIGTERM);
    ::_exit(4);  // not reached: the signal ends the process
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status)) << "exit status " << WEXITSTATUS(status);
  EXPECT_EQ(WTERMSIG(status), SIGTERM);
  EXPECT_EQ(Names(dir.path()), std::vector<std::string>{"done"});
}

TEST(RemoveAbandonedFilesTest, RemovesOnlyUnlockedFilesOfMatchingNames) {
  TempDir dir;
  // Left by a crash: nobody holds a lock on them.
  WriteFile(dir.File(".tmp-dead01"), "partial");
  WriteFile(dir.File(".tmp-dead02"), "");
  // In use: made by CreateLockedTemporaryFile, its descriptor still open.
  std::string live = dir.File(".tmp-XXXXXX");
  ASSERT_OK_AND_ASSIGN(UniqueFd live_fd, CreateLockedTemporaryFile(live, 0600));
  // In use by a holder that locked it itself: flock belongs to an open file
  // description, so this one of the same process counts as another holder.
  WriteFile(dir.File(".tmp-held01"), "held");
  UniqueFd held(::open(dir.File(".tmp-held01").c_str(), O_RDWR | O_CLOEXEC));
  ASSERT_EQ(::flock(held.get(), LOCK_EX | LOCK_NB), 0);
  // Names that do not match, locked or not.
  WriteFile(dir.File("data.db"), "database");
  WriteFile(dir.File("x.tmp-dead03"), "not a leftover name");
  std::filesystem::create_directory(dir.File(".tmp-directory"));
  std::filesystem::create_symlink(dir.File("data.db"), dir.File(".tmp-symlink"));

  ASSERT_OK_AND_ASSIGN(int removed, RemoveAbandonedFiles(dir.path(), IsLeftoverName));
  EXPECT_EQ(removed, 2);
  EXPECT_FALSE(Exists(dir.File(".tmp-dead01")));
  EXPECT_FALSE(Exists(dir.File(".tmp-dead02")));
  EXPECT_TRUE(Exists(live));
  EXPECT_EQ(ReadFile(dir.File(".tmp-held01")), "held");
  EXPECT_EQ(ReadFile(dir.File("data.db")), "database");
  EXPECT_TRUE(Exists(dir.File("x.tmp-dead03")));
  EXPECT_TRUE(std::filesystem::is_directory(dir.File(".tmp-directory")));
  EXPECT_TRUE(std::filesystem::is_symlink(dir.File(".tmp-symlink")));
  // The holders still hold their locks.
  EXPECT_TRUE(IsLocked(live));
  EXPECT_TRUE(IsLocked(dir.File(".tmp-held01")));

  // Once the holders are gone (as when their process dies) the files are leftovers.
  live_fd.Reset();
  held.Reset();
  ASSERT_OK_AND_ASSIGN(removed, RemoveAbandonedFiles(dir.path(), IsLeftoverName));
  EXPECT_EQ(removed, 2);
  EXPECT_EQ(Names(dir.path()), std::vector<std::string>(
                                   {".tmp-directory", ".tmp-symlink", "data.db", "x.tmp-dead03"}));
}

TEST(RemoveAbandonedFilesTest, AMissingDirectoryIsAnError) {
  TempDir dir;
  EXPECT_FALSE(RemoveAbandonedFiles(dir.File("missing"), IsLeftoverName).ok());
}

TEST(RemoveIfAbandonedTest, TellsWhetherItRemovedTheFile) {
  TempDir dir;
  WriteFile(dir.File("f"), "x");
  ASSERT_OK_AND_ASSIGN(bool removed, RemoveIfAbandoned(dir.File("f")));
  EXPECT_TRUE(removed);
  ASSERT_OK_AND_ASSIGN(removed, RemoveIfAbandoned(dir.File("f")));
  EXPECT_FALSE(removed);
}

TEST(WriteFileAtomicallyTest, ReplacesATemporaryFileACrashLeftButNotOneInUse) {
  TempDir dir;
  const std::string path = dir.File("config");
  WriteFile(path + ".tmp", "left by a crash");
  ASSERT_OK(WriteFileAtomically(path, "first", 0600));
  EXPECT_EQ(ReadFile(path), "first");
  EXPECT_FALSE(Exists(path + ".tmp"));

  // A live writer's temporary file is neither removed nor written over.
  WriteFile(path + ".tmp", "being written");
  UniqueFd writer(::open((path + ".tmp").c_str(), O_RDWR | O_CLOEXEC));
  ASSERT_EQ(::flock(writer.get(), LOCK_EX | LOCK_NB), 0);
  EXPECT_FALSE(WriteFileAtomically(path, "second", 0600).ok());
  EXPECT_EQ(ReadFile(path + ".tmp"), "being written");
  EXPECT_EQ(ReadFile(path), "first");
}

TEST(EnsureDirectoryTest, CreatesMissingParentsOnlyWhenAsked) {
  TempDir dir;
  const std::string deep = dir.File("a/b/c");
  EXPECT_FALSE(EnsureDirectory(deep, 0700).ok());
  EXPECT_FALSE(Exists(dir.File("a")));

  ASSERT_OK(EnsureDirectory(deep, 0700, /*parents=*/true));
  for (const std::string& d : {dir.File("a"), dir.File("a/b"), deep}) {
    EXPECT_EQ(FileMode(d), 0700u) << d;
  }
  // Existing directories are left as they are.
  ASSERT_EQ(::chmod(dir.File("a").c_str(), 0750), 0);
  ASSERT_OK(EnsureDirectory(deep, 0700, /*parents=*/true));
  EXPECT_EQ(FileMode(dir.File("a")), 0750u);
  // A trailing slash, with parents missing.
  ASSERT_OK(EnsureDirectory(dir.File("x/y/"), 0700, /*parents=*/true));
  EXPECT_EQ(FileMode(dir.File("x/y")), 0700u);
}

TEST(EnsureDirectoryTest, RefusesAFileInThePath) {
  TempDir dir;
  WriteFile(dir.File("file"), "x");
  EXPECT_FALSE(EnsureDirectory(dir.File("file"), 0700, /*parents=*/true).ok());
  EXPECT_FALSE(EnsureDirectory(dir.File("file/sub"), 0700, /*parents=*/true).ok());
}

}  // namespace
}  // namespace coffer
