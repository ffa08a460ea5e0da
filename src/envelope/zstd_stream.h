#pragma once
// zstd compression as stream stages: the first step of a backup pipeline
// (ARCHITECTURE "Backups": snapshot ─▶ zstd ─▶ envelope writer) and the last
// of a restore (envelope reader ─▶ zstd -d).
//
// The compressor cuts its input into pieces of `frame_input_size` bytes and
// compresses each into an independent zstd frame (with its content size and
// a checksum) on the frame pipeline's workers; the frames are written in
// order, one after the other. That is a standard zstd stream (RFC 8878 allows
// any number of frames): `zstd -d` reads it. Because the frames are
// independent, the decompressor also works on several at once: it finds each
// frame's end, decompresses frames on the workers and releases their content
// in order. A frame without a declared content size, or one larger than
// max_frame_content_size (a single-frame stream of the zstd command, say), is
// read with one streaming decompressor instead, from that frame on: any zstd
// stream is read, the ones coffer writes in parallel.
//
// Both stages keep their first error (common/stream.h). Memory is bounded by
// the frames in flight (pipeline.max_in_flight × (frame + content)), whatever
// the stream's length, and for the streaming decoder by its window, at most
// 32 MiB (a frame asking for more is refused as corrupt). libzstd stays in the .cc.
#include <memory>

#include "common/status.h"
#include "common/stream.h"
#include "envelope/frame_pipeline.h"

namespace coffer::envelope {

struct ZstdOptions {
  int level = 1;                              // 1..19; 1 is the fast level a backup wants
  size_t frame_input_size = size_t{4} << 20;  // bytes of input per independent frame
  PipelineOptions pipeline;                   // workers that compress frames
};

// A sink that compresses what it is given into `downstream` (borrowed; must
// outlive the sink). Close() writes the last frame (an empty input gives one
// empty frame) and closes `downstream`; Abort() or an error aborts it.
// kInvalidArgument for a level out of range or a zero frame size.
Result<std::unique_ptr<ByteSink>> CreateZstdCompressSink(ByteSink& downstream,
                                                         const ZstdOptions& options);

struct ZstdDecompressOptions {
  // Frames declaring at most this much content are decompressed in parallel
  // (coffer writes 4 MiB ones); memory then stays under about
  // pipeline.max_in_flight × 2 × this, whatever a forged header declares.
  size_t max_frame_content_size = size_t{8} << 20;
  PipelineOptions pipeline;
};

// A source that decompresses `upstream` (borrowed). A stream that is not zstd,
// is corrupt (a checksum, a frame's declared size), or ends inside a frame is
// a kDataLoss error ("compressed stream is truncated", "compressed stream is
// corrupt: <zstd's reason>"); an empty upstream is an empty stream.
std::unique_ptr<ByteSource> CreateZstdDecompressSource(ByteSource& upstream,
                                                       const ZstdDecompressOptions& options = {});

}  // namespace coffer::envelope
