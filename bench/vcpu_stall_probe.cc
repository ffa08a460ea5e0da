// How often this machine stops running its threads, measured while a benchmark runs.
//
// One thread per CPU the process may use, pinned to that CPU and real-time (SCHED_FIFO,
// when the process may: root, or CAP_SYS_NICE), sleeps 1 ms at a time and notes each
// wake-up that came more than a threshold late. A real-time thread alone on its CPU is
// late only when the kernel kept that CPU (interrupts, a section that may not be
// preempted) or, on a virtual machine, when the host did not run the virtual CPU. Late
// on every CPU at once means the whole machine stood still: a request in flight then
// waits as long, whatever the server does. Without real-time priority a late wake-up
// may also be a wait for a CPU that other threads of the guest hold ("realtime": false).
//
// Usage: vcpu_stall_probe SECONDS [THRESHOLD_MS]   (default 2 ms)
// Prints one line of JSON:
//   {"seconds":3.0,"threshold_ms":2.0,"realtime":true,"cpus":2,
//    "late_per_cpu":[15,12],"late_ms_per_cpu":[60.1,48.2],
//    "all_cpus_late":7,"all_cpus_late_ms":31.1,"all_cpus_longest_ms":7.6}
// The cost: one wake-up per CPU and millisecond.
#include <pthread.h>
#include <sched.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

namespace {

using Interval = std::pair<double, double>;  // seconds on CLOCK_MONOTONIC

double Now() {
  timespec t{};
  clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

constexpr double kSleep = 0.001;

struct Probe {
  int cpu = 0;
  bool realtime = false;
  std::vector<Interval> late;  // [when it should have woken, when it did]
};

void Run(Probe& probe, double until, double threshold) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(probe.cpu, &set);
  pthread_setaffinity_np(pthread_self(), sizeof set, &set);
  sched_param param{};
  param.sched_priority = 1;
  probe.realtime = pthread_setschedparam(pthread_self(), SCHED_FIFO, &param) == 0;
  const timespec pause{0, static_cast<long>(kSleep * 1e9)};
  for (double before = Now(); before < until; before = Now()) {
    nanosleep(&pause, nullptr);
    const double due = before + kSleep;
    const double woke = Now();
    if (woke - due > threshold) probe.late.emplace_back(due, woke);
  }
}

// The stretches covered by both lists (each sorted and without overlaps).
std::vector<Interval> Intersect(const std::vector<Interval>& a, const std::vector<Interval>& b) {
  std::vector<Interval> out;
  size_t i = 0;
  size_t j = 0;
  while (i < a.size() && j < b.size()) {
    const double start = std::max(a[i].first, b[j].first);
    const double end = std::min(a[i].second, b[j].second);
    if (start < end) out.emplace_back(start, end);
    (a[i].second < b[j].second) ? ++i : ++j;
  }
  return out;
}

double LengthMs(const Interval& x) { return (x.second - x.first) * 1e3; }

double TotalMs(const std::vector<Interval>& v) {
  double total = 0;
  for (const Interval& x : v) total += LengthMs(x);
  return total;
}

// Prints `"name":[f(probe 0),f(probe 1),…]` with each value in `format`.
template <typename F>
void PrintPerCpu(const char* name, const std::vector<Probe>& probes, const char* format, F f) {
  std::printf("\"%s\":[", name);
  for (size_t i = 0; i < probes.size(); ++i) {
    if (i > 0) std::printf(",");
    std::printf(format, f(probes[i]));
  }
  std::printf("],");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::fprintf(stderr, "usage: %s SECONDS [THRESHOLD_MS]\n", argv[0]);
    return 2;
  }
  const double seconds = std::atof(argv[1]);
  const double threshold_ms = argc > 2 ? std::atof(argv[2]) : 2.0;
  if (!(seconds > 0) || !(threshold_ms > 0)) {
    std::fprintf(stderr, "%s: SECONDS and THRESHOLD_MS must be positive numbers\n", argv[0]);
    return 2;
  }
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) {
    std::fprintf(stderr, "%s: sched_getaffinity: %s\n", argv[0], std::strerror(errno));
    return 1;
  }
  std::vector<Probe> probes;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &allowed)) probes.push_back(Probe{.cpu = cpu});
  }
  const double until = Now() + seconds;
  {
    std::vector<std::jthread> threads;
    for (Probe& p : probes)
      threads.emplace_back([&p, until, threshold_ms] { Run(p, until, threshold_ms / 1e3); });
  }
  std::vector<Interval> all = probes.front().late;
  for (size_t i = 1; i < probes.size(); ++i) all = Intersect(all, probes[i].late);
  // A stretch counts for the whole machine when it is itself past the threshold.
  std::erase_if(all, [&](const Interval& x) { return LengthMs(x) < threshold_ms; });
  double longest = 0;
  for (const Interval& x : all) longest = std::max(longest, LengthMs(x));

  bool realtime = true;
  for (const Probe& p : probes) realtime = realtime && p.realtime;
  std::printf("{\"seconds\":%.1f,\"threshold_ms\":%.1f,\"realtime\":%s,\"cpus\":%zu,", seconds,
              threshold_ms, realtime ? "true" : "false", probes.size());
  PrintPerCpu("late_per_cpu", probes, "%zu", [](const Probe& p) { return p.late.size(); });
  PrintPerCpu("late_ms_per_cpu", probes, "%.1f", [](const Probe& p) { return TotalMs(p.late); });
  std::printf("\"all_cpus_late\":%zu,\"all_cpus_late_ms\":%.1f,\"all_cpus_longest_ms\":%.1f}\n",
              all.size(), TotalMs(all), longest);
  return 0;
}
