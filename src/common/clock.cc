#include "common/clock.h"

#include <cstdio>
#include <ctime>

namespace coffer {
namespace {
std::string FormatUtc(TimePoint t, const char* format) {
  // In seconds throughout: a floor taken back to nanoseconds would overflow at
  // the low end of TimePoint's range.
  std::time_t secs = std::chrono::floor<std::chrono::seconds>(t.time_since_epoch()).count();
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  size_t n = std::strftime(buf, sizeof buf, format, &tm);
  return std::string(buf, n);
}
}  // namespace

double EpochSeconds(TimePoint t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}
int64_t EpochMillis(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
TimePoint FromEpochMillis(int64_t ms) {
  return TimePoint(std::chrono::duration_cast<Duration>(std::chrono::milliseconds(ms)));
}
std::string FormatIso8601(TimePoint t) { return FormatUtc(t, "%Y-%m-%dT%H:%M:%SZ"); }
std::string FormatAmzDate(TimePoint t) { return FormatUtc(t, "%Y%m%dT%H%M%SZ"); }

std::string FormatSqlDateTime(TimePoint t) {
  int64_t ms = EpochMillis(t);
  int64_t rem = ((ms % 1000) + 1000) % 1000;
  char millis[8];
  std::snprintf(millis, sizeof millis, ".%03d", static_cast<int>(rem));
  return FormatUtc(FromEpochMillis(ms - rem), "%Y-%m-%d %H:%M:%S") + millis;
}

}  // namespace coffer
