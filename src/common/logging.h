#pragma once
// Logging over spdlog. One process-wide logger named "coffer", writing to
// standard error. Never pass a secret to a log call: SecretBytes has no
// formatter, so the compiler refuses it.
#include <spdlog/spdlog.h>

#include <string_view>

namespace coffer {

// Sets the level from a name (trace, debug, info, warn, error, off). Returns
// false for an unknown name and leaves the level as it was.
bool SetLogLevel(std::string_view level);

// The process-wide logger; created on first use.
spdlog::logger& Log();

}  // namespace coffer
