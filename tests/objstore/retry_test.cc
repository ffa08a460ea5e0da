#include "objstore/retry.h"

#include <gtest/gtest.h>

#include <vector>

#include "testing/status_matchers.h"

namespace coffer::objstore {
namespace {

using std::chrono::milliseconds;

// Records the waits instead of waiting.
class RecordingSleeper final : public Sleeper {
 public:
  void SleepFor(Duration d) override { waits.push_back(d); }
  std::vector<Duration> waits;
};

TEST(RetryPolicyTest, BoundsDoubleUpToTheCap) {
  RetryPolicy policy{8, milliseconds(100), milliseconds(1000)};
  EXPECT_EQ(policy.MaxDelayAfter(1), milliseconds(100));
  EXPECT_EQ(policy.MaxDelayAfter(2), milliseconds(200));
  EXPECT_EQ(policy.MaxDelayAfter(3), milliseconds(400));
  EXPECT_EQ(policy.MaxDelayAfter(4), milliseconds(800));
  EXPECT_EQ(policy.MaxDelayAfter(5), milliseconds(1000));
  EXPECT_EQ(policy.MaxDelayAfter(60), milliseconds(1000));  // no overflow
}

TEST(RetryPolicyTest, FullJitterStaysWithinTheBoundAndVaries) {
  RetryPolicy policy{5, milliseconds(100), milliseconds(10000)};
  SeededRandom random(7);
  for (int attempt = 1; attempt <= 4; ++attempt) {
    Duration low = Duration::max();
    Duration high = Duration::zero();
    for (int i = 0; i < 2000; ++i) {
      Duration d = policy.DelayAfter(attempt, random);
      ASSERT_GE(d, Duration::zero());
      ASSERT_LE(d, policy.MaxDelayAfter(attempt));
      low = std::min(low, d);
      high = std::max(high, d);
    }
    // Spread over the whole interval, not a fixed wait.
    EXPECT_LT(low, policy.MaxDelayAfter(attempt) / 10) << attempt;
    EXPECT_GT(high, policy.MaxDelayAfter(attempt) * 9 / 10) << attempt;
  }
  // Seeded: the same waits every run.
  SeededRandom a(1), b(1);
  EXPECT_EQ(policy.DelayAfter(3, a), policy.DelayAfter(3, b));
}

TEST(RetryPolicyTest, Validates) {
  EXPECT_OK((RetryPolicy{}.Validate()));
  EXPECT_FALSE((RetryPolicy{0, milliseconds(1), milliseconds(2)}.Validate().ok()));
  EXPECT_FALSE((RetryPolicy{21, milliseconds(1), milliseconds(2)}.Validate().ok()));
  EXPECT_FALSE((RetryPolicy{3, milliseconds(5), milliseconds(2)}.Validate().ok()));
}

TEST(RunWithRetriesTest, RetriesTransientFailuresThenSucceeds) {
  RecordingSleeper sleeper;
  SeededRandom random(3);
  RetryPolicy policy{5, milliseconds(100), milliseconds(10000)};
  std::vector<int> attempts;
  Status st = RunWithRetries(policy, sleeper, random, [&](int n) -> AttemptOutcome {
    attempts.push_back(n);
    if (n < 3) return {true, UnavailableError("connection reset")};
    return {false, Status::Ok()};
  });
  EXPECT_OK(st);
  EXPECT_EQ(attempts, (std::vector<int>{1, 2, 3}));
  ASSERT_EQ(sleeper.waits.size(), 2u);
  EXPECT_LE(sleeper.waits[0], milliseconds(100));
  EXPECT_LE(sleeper.waits[1], milliseconds(200));
}

TEST(RunWithRetriesTest, GivesUpAfterMaxAttemptsWithTheLastError) {
  RecordingSleeper sleeper;
  SeededRandom random(3);
  RetryPolicy policy{4, milliseconds(100), milliseconds(10000)};
  int calls = 0;
  Status st = RunWithRetries(policy, sleeper, random, [&](int n) -> AttemptOutcome {
    ++calls;
    return {true, UnavailableError("SlowDown " + std::to_string(n))};
  });
  EXPECT_EQ(calls, 4);
  EXPECT_EQ(sleeper.waits.size(), 3u);  // none after the last attempt
  EXPECT_EQ(st.code(), StatusCode::kUnavailable);
  EXPECT_EQ(st.message(), "gave up after 4 attempts: SlowDown 4");
}

TEST(RunWithRetriesTest, AFinalErrorIsNotRetried) {
  RecordingSleeper sleeper;
  SeededRandom random(3);
  int calls = 0;
  Status st = RunWithRetries(RetryPolicy{}, sleeper, random, [&](int) -> AttemptOutcome {
    ++calls;
    return {false, Status(StatusCode::kPermissionDenied, "AccessDenied", "no")};
  });
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(sleeper.waits.empty());
  EXPECT_EQ(st.error_name(), "AccessDenied");
}

TEST(RunWithRetriesTest, OneAttemptMeansNoRetry) {
  RecordingSleeper sleeper;
  SeededRandom random(3);
  int calls = 0;
  Status st = RunWithRetries(RetryPolicy{1, milliseconds(1), milliseconds(1)}, sleeper, random,
                             [&](int) -> AttemptOutcome {
                               ++calls;
                               return {true, UnavailableError("down")};
                             });
  EXPECT_EQ(calls, 1);
  EXPECT_FALSE(st.ok());
}

}  // namespace
}  // namespace coffer::objstore
