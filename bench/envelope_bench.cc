// Throughput of the backup stream stages (src/envelope): EnvelopeWriter and
// EnvelopeReader (suites 0x0478 and 0x0578) and the plain framed format, 1 MiB
// frames, 128 MiB per iteration, from and to memory, by number of worker threads.
// Reports bytes_per_second of plaintext.
//   build/bench/envelope_bench
//   build/bench/envelope_bench --benchmark_filter=Envelope.*0478
#include <benchmark/benchmark.h>

#include <memory>

#include "common/random.h"
#include "common/stream.h"
#include "envelope/envelope_reader.h"
#include "envelope/envelope_writer.h"
#include "envelope/plain_framed.h"
#include "envelope/raw_aes_keyring.h"

namespace coffer::envelope {
namespace {

constexpr size_t kTotal = size_t{128} << 20;
constexpr size_t kWriteChunk = size_t{1} << 20;  // what a zstd stage hands over
constexpr size_t kReadChunk = size_t{1} << 20;

class NullSink final : public ByteSink {
 public:
  Status Write(ByteView) override { return Status::Ok(); }
  Status Close() override { return Status::Ok(); }
  void Abort() override {}
};

const Bytes& Plaintext() {
  static const Bytes* plain = [] {
    auto* b = new Bytes(kTotal);
    SeededRandom random(1);
    random.Fill(*b);
    return b;
  }();
  return *plain;
}

RawAesKeyring& BenchKeyring() {
  static SeededRandom* random = new SeededRandom(2);
  static RawAesKeyring* keyring =
      RawAesKeyring::Create("bench", "key", crypto::SecretBytes(ByteView(Bytes(32, 7))), *random)
          .value()
          .release();
  return *keyring;
}

AlgorithmSuite Suite(int64_t id) {
  return id == 0x0578 ? AlgorithmSuite::kAes256GcmHkdfSha512CommitEcdsaP384
                      : AlgorithmSuite::kAes256GcmHkdfSha512Commit;
}

EnvelopeWriterOptions WriterOptions(AlgorithmSuite suite, size_t workers) {
  EnvelopeWriterOptions o;
  o.suite = suite;
  o.frame_length = kDefaultFrameLength;
  o.pipeline.workers = workers;
  return o;
}

template <typename Sink>
bool WriteAll(benchmark::State& state, Sink& sink, ByteView plain) {
  for (size_t at = 0; at < plain.size(); at += kWriteChunk) {
    Status s = sink.Write(plain.subspan(at, std::min(kWriteChunk, plain.size() - at)));
    if (!s.ok()) {
      state.SkipWithError(s.ToString().c_str());
      return false;
    }
  }
  Status s = sink.Close();
  if (!s.ok()) state.SkipWithError(s.ToString().c_str());
  return s.ok();
}

bool ReadAll(benchmark::State& state, ByteSource& source) {
  Bytes buf(kReadChunk);
  size_t total = 0;
  for (;;) {
    Result<size_t> n = source.Read(buf);
    if (!n.ok()) {
      state.SkipWithError(n.status().ToString().c_str());
      return false;
    }
    if (*n == 0) break;
    total += *n;
  }
  if (total != kTotal) state.SkipWithError("short read");
  return total == kTotal;
}

// Args: suite id, workers.
void BM_EnvelopeWrite(benchmark::State& state) {
  const Bytes& plain = Plaintext();
  SeededRandom random(3);
  for (auto _ : state) {
    auto writer = EnvelopeWriter::Create(BenchKeyring(), {{"coffer:format", "1"}}, random,
                                         std::make_unique<NullSink>(),
                                         WriterOptions(Suite(state.range(0)), state.range(1)));
    if (!writer.ok()) {
      state.SkipWithError(writer.status().ToString().c_str());
      break;
    }
    if (!WriteAll(state, **writer, plain)) break;
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kTotal));
}

void BM_EnvelopeRead(benchmark::State& state) {
  const Bytes& plain = Plaintext();
  SeededRandom random(4);
  Bytes message;
  {
    auto writer =
        EnvelopeWriter::Create(BenchKeyring(), {{"coffer:format", "1"}}, random,
                               MemorySink(message), WriterOptions(Suite(state.range(0)), 2));
    if (!writer.ok() || !WriteAll(state, **writer, plain)) return;
  }
  for (auto _ : state) {
    EnvelopeReaderOptions o;
    o.pipeline.workers = state.range(1);
    auto reader = EnvelopeReader::Create(BenchKeyring(), MemorySource(message), o);
    if (!reader.ok()) {
      state.SkipWithError(reader.status().ToString().c_str());
      break;
    }
    if (!ReadAll(state, **reader)) break;
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kTotal));
}

// Args: workers.
void BM_PlainWrite(benchmark::State& state) {
  const Bytes& plain = Plaintext();
  SeededRandom random(5);
  for (auto _ : state) {
    PlainFramedWriterOptions o;
    o.pipeline.workers = state.range(0);
    auto writer = PlainFramedWriter::Create(std::make_unique<NullSink>(), random, o);
    if (!writer.ok() || !WriteAll(state, **writer, plain)) break;
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kTotal));
}

void BM_PlainRead(benchmark::State& state) {
  const Bytes& plain = Plaintext();
  SeededRandom random(6);
  Bytes stream;
  {
    auto writer = PlainFramedWriter::Create(MemorySink(stream), random);
    if (!writer.ok() || !WriteAll(state, **writer, plain)) return;
  }
  for (auto _ : state) {
    PlainFramedReaderOptions o;
    o.pipeline.workers = state.range(0);
    auto reader = PlainFramedReader::Create(MemorySource(stream), o);
    if (!reader.ok() || !ReadAll(state, **reader)) break;
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kTotal));
}

void SuiteAndWorkers(benchmark::internal::Benchmark* b) {
  for (int64_t suite : {0x0478, 0x0578}) {
    for (int64_t workers : {0, 1, 2}) b->Args({suite, workers});
  }
}

BENCHMARK(BM_EnvelopeWrite)->Apply(SuiteAndWorkers)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_EnvelopeRead)->Apply(SuiteAndWorkers)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_PlainWrite)->Arg(0)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_PlainRead)->Arg(0)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace coffer::envelope

BENCHMARK_MAIN();
