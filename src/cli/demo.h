#pragma once
// `coffer demo`: the seed's key story, played in-process against the KMS
// engine on a fresh data directory, printing what each step shows.
#include <string>

namespace coffer::cli {

struct DemoOptions {
  std::string data_dir;  // empty: a new temporary directory, removed afterwards
  bool keep = false;     // keep the temporary directory
};

// Returns the process exit code: 0 when every step behaved as expected.
int RunDemo(const DemoOptions& options);

}  // namespace coffer::cli
