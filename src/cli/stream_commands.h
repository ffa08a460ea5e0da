#pragma once
// `coffer encrypt` and `coffer decrypt`: files and streams of any size in the
// backup stream format (envelope/backup_stream.h), with data keys from a KMS
// key of a coffer server (or AWS KMS), reached and signed as `coffer kms` is.
//
//   coffer encrypt --key-id KEY [--encryption-context K=V …] --in FILE|s3://BUCKET/KEY|-
//       --out FILE|s3://BUCKET/KEY|- [--compression none|zstd]
//       [--algorithm-suite 0x0478|0x0578] [--frame-length BYTES]
//   coffer decrypt --in FILE|s3://BUCKET/KEY|- --out FILE|-
//       [--encryption-context K=V …] [--key-id KEY]
//   options of both: those of `coffer kms` (client_connection.h), and
//       --data-dir DIR / --config FILE to find the buckets of s3:// locations
//
// The output of encrypt is an AWS Encryption SDK message that any ESDK decrypts
// with the key (with --compression zstd its plaintext is a zstd stream, as the
// message's encryption context says). decrypt reads such messages, whoever
// wrote them; the key comes from the message. --encryption-context on decrypt
// lists pairs the message must hold.
//
// An --out FILE appears only when complete (a temporary file, fsync, rename):
// after any failure no output file is left. An s3:// object likewise appears
// only when complete. Standard output cannot take bytes back: decrypt releases
// only verified frames, but a stream that fails later leaves the frames before
// the failure written (exit status non-zero). On a terminal a progress bar is
// drawn on stderr.
//
// Exit statuses as `coffer kms` (client_environment.h): 0, 252 a bad
// parameter, 253 no credentials, 254 the key service refused (its error as the
// aws CLI prints it), 255 anything else (unreadable input, damaged message, …).
#include <memory>

#include "cli/client_environment.h"
#include "cli/command_group.h"

namespace CLI {
class App;
}  // namespace CLI

namespace coffer::cli {

// Adds `encrypt` and `decrypt` to `app`; the group must outlive app.parse().
std::unique_ptr<CommandGroup> RegisterStreamCommands(CLI::App& app, ClientEnvironment environment);
std::unique_ptr<CommandGroup> RegisterStreamCommands(CLI::App& app);

}  // namespace coffer::cli
