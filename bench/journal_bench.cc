// Micro-benchmark of the audit journal: appends per second with N concurrent
// appenders, each waiting for its record to be durable (AppendAndWait), as the
// endpoint does for every call. Group commit lets the appenders share syncs, so
// throughput grows with N while a sync is the bottleneck.
//
// The journal lives in a fresh directory under $COFFER_JOURNAL_BENCH_DIR
// (default: $TMPDIR, else /var/tmp — on disk), removed afterwards. Compare:
//   build/bench/journal_bench
//   COFFER_JOURNAL_BENCH_DIR=/dev/shm build/bench/journal_bench
// Reports items_per_second (appends/s), and per run the records per sync. Each
// count of appenders runs twice: /0 appends to the segment file, /1 fills zeros
// ahead as the server does (JournalOptions::zero_fill_ahead, 2 MiB), so that the
// two are compared in one run.
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>

#include "audit/journal.h"

namespace coffer::audit {
namespace {

// A typical CloudTrail record is about 1 KiB of JSON.
constexpr size_t kPayloadSize = 1024;

std::string BenchParent() {
  for (const char* var : {"COFFER_JOURNAL_BENCH_DIR", "TMPDIR"}) {
    const char* v = std::getenv(var);
    if (v != nullptr && *v != '\0') return v;
  }
  return "/var/tmp";
}

// One journal per benchmark run (Setup/Teardown run once around all threads).
std::string g_dir;
std::unique_ptr<Journal> g_journal;

void Setup(const benchmark::State& state) {
  std::string tmpl = BenchParent() + "/coffer-journal-bench-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) std::abort();
  g_dir = tmpl;
  JournalOptions options;
  if (state.range(0) != 0) options.zero_fill_ahead = uint64_t{2} << 20;
  auto journal = Journal::Open(JournalDirectory(g_dir), options);
  if (!journal.ok()) std::abort();
  g_journal = std::move(journal).value();
}

void Teardown(const benchmark::State&) {
  g_journal.reset();
  std::filesystem::remove_all(g_dir);
}

void BM_AppendAndWait(benchmark::State& state) {
  const std::string payload(kPayloadSize, 'j');
  for (auto _ : state) {
    auto seq = g_journal->AppendAndWait(payload);
    if (!seq.ok()) {
      state.SkipWithError(seq.status().ToString().c_str());
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(kPayloadSize));
  if (state.thread_index() == 0) {
    JournalStats stats = g_journal->stats();
    state.counters["records_per_sync"] =
        stats.syncs == 0 ? 0.0 : static_cast<double>(stats.records) / stats.syncs;
  }
}
BENCHMARK(BM_AppendAndWait)
    ->Setup(Setup)
    ->Teardown(Teardown)
    ->ArgName("zero_fill")
    ->Arg(0)
    ->Arg(1)
    ->Threads(1)
    ->Threads(8)
    ->Threads(64)
    ->UseRealTime()
    ->MinTime(2.0);

}  // namespace
}  // namespace coffer::audit

BENCHMARK_MAIN();
