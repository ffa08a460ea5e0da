#pragma once
// Byte streams: the one shape every stage of a backup pipeline takes (file,
// zstd, envelope writer and reader, object store upload and download).
//
// A ByteSource is read front to back; a ByteSink is written front to back and
// then either Close()d, which makes what was written complete (durable and
// visible, for sinks that persist), or Abort()ed, which discards it. A sink
// destroyed without Close() aborts. Errors are permanent (Tink output_stream.h):
// after a stream returned an error, every later call returns that same error.
// Streams are not safe for concurrent use; one thread drives a stream at a time.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "common/bytes.h"
#include "common/status.h"

namespace coffer {

class ByteSource {
 public:
  virtual ~ByteSource() = default;
  // Reads up to out.size() (> 0) bytes into `out`; returns how many. 0 means
  // the end of the stream and is returned only there. A source may return
  // fewer bytes than asked for before its end.
  virtual Result<size_t> Read(std::span<uint8_t> out) = 0;
};

class ByteSink {
 public:
  virtual ~ByteSink() = default;
  // Appends `data`. May buffer.
  virtual Status Write(ByteView data) = 0;
  // Completes the stream. After OK, everything written is complete and (for a
  // sink that persists) durable; after an error, nothing is (the sink aborted).
  virtual Status Close() = 0;
  // Discards what was written. Idempotent; a no-op after a successful Close().
  virtual void Abort() = 0;
};

// Fills `out` from `source` until it is full or the source ends; returns the
// count (less than out.size() only at the end of the stream).
Result<size_t> ReadFull(ByteSource& source, std::span<uint8_t> out);

// Copies `source` to `sink` in `buffer_size` chunks, without closing the sink.
// Returns the number of bytes copied.
Result<uint64_t> CopyStream(ByteSource& source, ByteSink& sink, size_t buffer_size = 1 << 20);

// CopyStream with the writing on a second thread: while `sink` takes one chunk
// the caller's thread reads (decrypts, decompresses) the next, so the two
// overlap as in a pipeline. `buffers` chunks of `buffer_size` bytes circulate
// between the threads, nothing is copied twice, and memory stays at
// buffers × buffer_size. Does not close the sink; returns the first error of
// either side (after which the other side stops).
Result<uint64_t> PumpStream(ByteSource& source, ByteSink& sink, size_t buffer_size = 1 << 20,
                            size_t buffers = 4);

// A source over bytes in memory (borrowed: `data` must outlive the source).
std::unique_ptr<ByteSource> MemorySource(ByteView data);

// A sink that appends to `out` (borrowed). Close() succeeds; Abort() clears `out`.
std::unique_ptr<ByteSink> MemorySink(Bytes& out);

// The file at `path` read front to back. Errors name the path.
Result<std::unique_ptr<ByteSource>> OpenFileSource(const std::string& path);

// A source over an open descriptor (standard input: 0); does not close it.
std::unique_ptr<ByteSource> DescriptorSource(int fd, std::string name);

// Writes `path` atomically and durably: a temporary file beside it
// (PATH.tmp-XXXXXX, locked as common/files.h's temporary files are) created with
// `mode` (never wider, whatever the umask); Close() fsyncs it, renames it over
// `path` and fsyncs the directory. Abort(), an error or destruction without
// Close() removes the temporary file, so no output file is left.
Result<std::unique_ptr<ByteSink>> CreateAtomicFileSink(const std::string& path, unsigned mode);

// Where a command writes a file it was told to write: a regular file (new or
// not) is replaced atomically as CreateAtomicFileSink does; symbolic links are
// followed by the kernel (fs.protected_symlinks applies) and the file they lead
// to written so, the links kept; a device or a FIFO is written to directly, never
// replaced and its mode unchanged (as `aws s3 cp` treats one); /dev/stdout,
// /dev/stderr, /dev/fd/N and /proc/self/fd/N write to that descriptor. A
// directory, and a link to a file that does not exist, are refused.
Result<std::unique_ptr<ByteSink>> CreateOutputFileSink(const std::string& path, unsigned mode);

// A sink over an open descriptor (standard output: 1); does not close it.
// Abort() cannot take back what was written; it only stops further writes.
std::unique_ptr<ByteSink> DescriptorSink(int fd, std::string name);

}  // namespace coffer
