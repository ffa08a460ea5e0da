#include "objstore/retry.h"

#include <algorithm>
#include <thread>

namespace coffer::objstore {
namespace {

class ThreadSleeper final : public Sleeper {
 public:
  void SleepFor(Duration d) override { std::this_thread::sleep_for(d); }
};

}  // namespace

Duration RetryPolicy::MaxDelayAfter(int attempt) const {
  Duration cap = std::chrono::duration_cast<Duration>(max_delay);
  Duration delay = std::chrono::duration_cast<Duration>(base_delay);
  for (int i = 1; i < attempt && delay < cap; ++i) delay *= 2;
  return std::min(delay, cap);
}

Duration RetryPolicy::DelayAfter(int attempt, Random& random) const {
  auto bound = static_cast<uint64_t>(MaxDelayAfter(attempt).count());
  if (bound == 0) return Duration::zero();
  return Duration(static_cast<Duration::rep>(random.NextU64() % (bound + 1)));
}

Status RetryPolicy::Validate() const {
  if (max_attempts < 1 || max_attempts > 20) {
    return InvalidArgumentError("retry attempts must be between 1 and 20, not " +
                                std::to_string(max_attempts));
  }
  if (base_delay.count() < 0 || max_delay < base_delay) {
    return InvalidArgumentError("retry delays must satisfy 0 <= base delay <= max delay");
  }
  return Status::Ok();
}

Sleeper& RealSleeper() {
  static ThreadSleeper sleeper;
  return sleeper;
}

Status RunWithRetries(const RetryPolicy& policy, Sleeper& sleeper, Random& random,
                      const std::function<AttemptOutcome(int attempt)>& attempt) {
  for (int n = 1;; ++n) {
    AttemptOutcome outcome = attempt(n);
    if (!outcome.retry) return outcome.status;
    if (outcome.status.ok()) outcome.status = UnavailableError("a transient failure");
    if (n >= policy.max_attempts) {
      return outcome.status.WithContext("gave up after " + std::to_string(n) + " attempts");
    }
    sleeper.SleepFor(policy.DelayAfter(n, random));
  }
}

}  // namespace coffer::objstore
