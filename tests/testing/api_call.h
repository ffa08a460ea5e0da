#pragma once
// For tests of an operation's decoding: its outcome alone.
#include "api/operation.h"
#include "common/status.h"

namespace coffer::testing {

// The error of a call refused while decoded (Call::refused); the call itself
// otherwise.
inline Result<api::Call> UnlessRefused(Result<api::Call> call) {
  if (call.ok() && !call->refused.ok()) return call->refused;
  return call;
}

}  // namespace coffer::testing
