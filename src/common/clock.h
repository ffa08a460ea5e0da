#pragma once
// Clock: the only source of wall time in coffer. Logic takes a Clock& so that
// time-based behaviour (key deletion, rotation, credential expiry) is tested by
// advancing a FakeClock, never by sleeping.
//
// Implementations are safe for concurrent use.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

namespace coffer {

using TimePoint = std::chrono::system_clock::time_point;
using Duration = std::chrono::system_clock::duration;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint Now() const = 0;
};

// The system wall clock.
class SystemClock final : public Clock {
 public:
  TimePoint Now() const override { return std::chrono::system_clock::now(); }
};

// A clock that moves only when told to. Starts at `start`.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(TimePoint start) : now_(start.time_since_epoch().count()) {}
  TimePoint Now() const override { return TimePoint(Duration(now_.load())); }
  void Advance(Duration d) { now_ += d.count(); }
  void Set(TimePoint t) { now_ = t.time_since_epoch().count(); }

 private:
  std::atomic<Duration::rep> now_;
};

// Seconds since the Unix epoch, with the fraction (AWS JSON timestamps).
double EpochSeconds(TimePoint t);
int64_t EpochMillis(TimePoint t);
TimePoint FromEpochMillis(int64_t ms);
// "2026-11-30T10:09:56Z" (UTC, whole seconds).
std::string FormatIso8601(TimePoint t);
// "2026-11-30 10:09:56.123", UTC with milliseconds: SQL Server's datetime, as
// rds_task_status shows its times.
std::string FormatSqlDateTime(TimePoint t);
// "20261130T100956Z", the SigV4 form.
std::string FormatAmzDate(TimePoint t);

constexpr Duration Days(int64_t n) { return std::chrono::hours(24 * n); }

}  // namespace coffer
