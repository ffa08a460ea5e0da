#pragma once
// `coffer s3 …`: the buckets of this installation from the command line, as
// `aws s3` works with S3's. Offline: it reaches the buckets directly (the
// directories under the data directory, and the S3 services of configured
// buckets), not through a coffer server.
//
//   coffer s3 [--config FILE] [--data-dir DIR] mb s3://BUCKET
//       Creates a bucket: "make_bucket: BUCKET".
//   coffer s3 ... ls [s3://BUCKET[/PREFIX]] [--recursive]
//       Without a location: every bucket ("YYYY-MM-DD HH:MM:SS BUCKET"; the time
//       a directory bucket was last changed, blank for a configured bucket).
//       With one: the objects under PREFIX, one level deep ("PRE dir/" for the
//       levels below) or, with --recursive, all of them with their whole keys:
//       "YYYY-MM-DD HH:MM:SS       SIZE KEY" (local time, SIZE right-aligned in 10).
//   coffer s3 ... cp SOURCE DESTINATION
//       SOURCE and DESTINATION are each a local path, "-" (standard input or
//       output) or an object location (s3://BUCKET/KEY or arn:aws:s3:::BUCKET/KEY).
//       A destination that names a bucket or ends with '/' (or a local directory)
//       takes the source's file name. Prints "upload: SRC to DST", "download: …",
//       "copy: …" (nothing for standard input or output). Local files are written
//       atomically with mode 0600; objects appear only once complete.
//   coffer s3 ... rm s3://BUCKET/KEY [--recursive]
//       Removes the object ("delete: s3://BUCKET/KEY"), or with --recursive every
//       object under the prefix.
//
// --config and --data-dir find the buckets as the server does (docs/config.md):
// the file from --config or COFFER_CONFIG, the data directory from --data-dir,
// COFFER_DATA_DIR, data_dir in the file, else the default.
//
// Exit statuses (aws s3's): 0; 1 when an operation failed; 252 for a malformed
// command line or location; 253 when the configuration cannot be loaded.
#include <memory>

#include "cli/client_environment.h"
#include "cli/command_group.h"
#include "objstore/object_store.h"

namespace coffer::cli {

std::unique_ptr<CommandGroup> RegisterS3Commands(CLI::App& app, ClientEnvironment environment);
std::unique_ptr<CommandGroup> RegisterS3Commands(CLI::App& app);

// One line of `coffer s3 ls` for an object: "2026-11-30 10:09:56       1234 name"
// (local time).
std::string FormatObjectLine(const objstore::ObjectInfo& info, std::string_view name);

}  // namespace coffer::cli
