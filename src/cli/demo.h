#pragma once
// `coffer demo`: the seed's whole story (encrypted backup and restore with a
// customer managed key) played against a `coffer server` started on a fresh
// data directory, printing what each step shows: the customers database, the
// role, the key and its policy, the backup refused with AccessDenied, the fix,
// the backup, the unreadable object in the bucket, the restore refused without
// the key, the restore, the restored rows, the audit events.
#include <string>

namespace coffer::cli {

struct DemoOptions {
  std::string data_dir;  // empty: a new temporary directory, removed afterwards
  bool keep = false;     // keep the temporary directory
};

// Returns the process exit code: 0 when every step behaved as expected.
int RunDemo(const DemoOptions& options);

}  // namespace coffer::cli
