#include "common/clock.h"

#include <gtest/gtest.h>

namespace coffer {
namespace {

TEST(ClockTest, FakeClockMovesOnlyWhenTold) {
  FakeClock clock(FromEpochMillis(1'700'000'000'000));
  TimePoint t0 = clock.Now();
  EXPECT_EQ(clock.Now(), t0);
  clock.Advance(Days(7));
  EXPECT_EQ(clock.Now() - t0, std::chrono::hours(168));
  clock.Set(t0);
  EXPECT_EQ(clock.Now(), t0);
}

TEST(ClockTest, Formats) {
  TimePoint t = FromEpochMillis(1'448'050'095'250);  // 2015-11-20T20:08:15.250Z
  EXPECT_EQ(FormatIso8601(t), "2015-11-20T20:08:15Z");
  EXPECT_EQ(FormatAmzDate(t), "20151120T200815Z");
  EXPECT_DOUBLE_EQ(EpochSeconds(t), 1448050095.25);
  EXPECT_EQ(EpochMillis(t), 1'448'050'095'250);
}

TEST(ClockTest, SystemClockIsNearNow) {
  SystemClock clock;
  auto diff = clock.Now() - std::chrono::system_clock::now();
  EXPECT_LT(std::chrono::abs(diff), std::chrono::seconds(1));
}

}  // namespace
}  // namespace coffer
