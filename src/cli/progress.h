#pragma once
// A progress bar for long transfers (encrypt, decrypt, backup and restore
// with --wait), drawn on a terminal's stderr and nowhere else: when the
// stream is not a terminal nothing is drawn, so logs and pipes stay clean.
//
//   [##########..........]  48%  512.0 MiB / 1.0 GiB  231.4 MB/s
//
// Without a known total it shows the bytes done and the rate. Redraws at most
// ten times a second. Safe for concurrent Update() calls.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <string>

#include "common/stream.h"

namespace coffer::cli {

class ProgressBar {
 public:
  // Draws on `out` when `enabled` (the caller checks isatty), for a transfer of
  // `total` bytes (nullopt: unknown). `label` is printed before the bar.
  ProgressBar(std::ostream& out, bool enabled, std::optional<uint64_t> total, std::string label);
  ~ProgressBar();

  // `done` bytes transferred so far.
  void Update(uint64_t done);
  // The same bar for a task whose progress is a percentage (backup and restore
  // tasks with --wait): "[#########...........]  45%".
  void UpdatePercent(int percent);
  // Draws the final state and ends the line (nothing if never drawn).
  void Finish();

  // The text of one frame of the bar, exposed for tests.
  static std::string Render(std::string_view label, uint64_t done, std::optional<uint64_t> total,
                            double seconds);

 private:
  std::ostream& out_;
  const bool enabled_;
  const std::optional<uint64_t> total_;
  const std::string label_;
  const std::chrono::steady_clock::time_point start_;
  std::mutex mu_;
  std::chrono::steady_clock::time_point last_draw_{};
  uint64_t done_ = 0;
  bool drawn_ = false;
  int percent_ = -1;  // UpdatePercent's last value; -1: a byte count
  bool finished_ = false;
};

// A source that reports every byte read through it to `progress` (either
// borrowed; both must outlive it).
std::unique_ptr<ByteSource> CountingSource(ByteSource& upstream, ProgressBar& progress);

// "1.0 GiB", "512.0 MiB", "17 B".
std::string HumanBytes(uint64_t bytes);

}  // namespace coffer::cli
