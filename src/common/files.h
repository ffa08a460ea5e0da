#pragma once
// Small POSIX file helpers shared by the layers that write files durably.
#include <string>

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

}  // namespace coffer
