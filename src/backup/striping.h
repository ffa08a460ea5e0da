#pragma once
// Multi-file backups (RDS's @number_of_files): the engine's one stream is dealt
// into N files in stripes of kStripeSize bytes, round robin (stripe k goes to
// file k mod N), so that N backup streams are compressed, sealed and uploaded
// side by side; a restore reads the files in the same order. Every file is a
// complete backup stream of its own (docs/formats/backup-stream.md).
//
// Naming: the object key holds exactly one '*', replaced by "I-of-N" for file I
// ("backup*.bak" with 4 files: backup1-of-4.bak … backup4-of-4.bak); a restore
// names "prefix*" (or "prefix*suffix") and finds the files by listing.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "common/stream.h"

namespace coffer::backup {

inline constexpr size_t kStripeSize = size_t{4} << 20;
inline constexpr int kMaxFiles = 10;

// The keys of a backup into `key` with `files` files: `key` itself for one file
// without '*'; otherwise `key` must hold exactly one '*'. kInvalidArgument with
// RDS's wording otherwise.
Result<std::vector<std::string>> BackupFileKeys(std::string_view key, int files);

// The file number and count a key names under `pattern` ("prefix*" or
// "prefix*suffix", as RDS restores take them): key = prefix ‖ "I-of-N" ‖ rest,
// 1 ≤ I ≤ N ≤ kMaxFiles, where `rest` is the pattern's suffix when it has one
// and anything when not (so "backup*" finds backup1-of-4.bak). `rest` is set to what follows
// "I-of-N": the files of one backup share it. False when the key does not match.
bool MatchBackupFileKey(std::string_view pattern, std::string_view key, int* file, int* count,
                        std::string* rest = nullptr);

// Deals writes into `sinks` in stripes. Close() closes every sink (all, even
// after one failed, so that none is left open) and returns the first error;
// Abort() aborts them all.
std::unique_ptr<ByteSink> StripedSink(std::vector<std::unique_ptr<ByteSink>> sinks,
                                      size_t stripe_size = kStripeSize);

// Reads the stripes back in order. A file that ends early or runs long is a
// kDataLoss error naming it (`names[i]` is file i's name for messages).
std::unique_ptr<ByteSource> StripedSource(std::vector<std::unique_ptr<ByteSource>> sources,
                                          std::vector<std::string> names,
                                          size_t stripe_size = kStripeSize);

}  // namespace coffer::backup
