#pragma once
// Retries with exponential backoff and full jitter, for calls to a remote
// object store (the s3 backend): attempt n + 1 waits a uniformly random time
// in [0, min(max_delay, base_delay × 2^(n-1))] after attempt n failed
// ("Exponential Backoff And Jitter", AWS Architecture Blog, 2015; the AWS SDKs'
// standard retry mode). Attempts are bounded.
//
// Time passes through a Sleeper and the jitter comes from a Random, so tests
// run the policy without waiting and get the same delays every run.
#include <chrono>
#include <functional>

#include "common/clock.h"
#include "common/random.h"
#include "common/status.h"

namespace coffer::objstore {

struct RetryPolicy {
  int max_attempts = 5;  // including the first; 1 = no retries
  std::chrono::milliseconds base_delay{200};
  std::chrono::milliseconds max_delay{10000};

  // The upper bound of the wait after failed attempt `attempt` (1, 2, …).
  Duration MaxDelayAfter(int attempt) const;
  // The wait after failed attempt `attempt`: uniform in [0, MaxDelayAfter(attempt)].
  Duration DelayAfter(int attempt, Random& random) const;
  // kInvalidArgument unless 1 <= max_attempts <= 20 and 0 <= base_delay <= max_delay.
  Status Validate() const;
};

// Waits. Implementations are safe for concurrent use.
class Sleeper {
 public:
  virtual ~Sleeper() = default;
  virtual void SleepFor(Duration d) = 0;
};

// std::this_thread::sleep_for; one process-wide instance.
Sleeper& RealSleeper();

// What one attempt came to: done (success, or an error not worth retrying), or
// a transient failure described by `status`.
struct AttemptOutcome {
  bool retry = false;
  Status status;  // when retry: why (reported if it was the last attempt)
};

// Calls `attempt(n)` for n = 1, 2, … until it says done or max_attempts ran
// out, sleeping DelayAfter(n) between. Returns OK when the last attempt said
// done with OK, else the last attempt's status.
Status RunWithRetries(const RetryPolicy& policy, Sleeper& sleeper, Random& random,
                      const std::function<AttemptOutcome(int attempt)>& attempt);

}  // namespace coffer::objstore
