#pragma once
// What client commands take from the outside world (environment, transport,
// clock, standard streams), so that tests pass their own; and the exit
// statuses every client command uses (aws CLI v2's, awscli/constants.py).
#include <functional>
#include <iosfwd>
#include <memory>

#include "cli/credentials.h"
#include "cli/http_client.h"
#include "common/clock.h"
#include "common/status.h"

namespace coffer::cli {

// aws CLI v2's exit statuses.
inline constexpr int kExitDeclined = 1;
inline constexpr int kExitParamError = 252;
inline constexpr int kExitConfigError = 253;
inline constexpr int kExitServiceError = 254;
inline constexpr int kExitGeneralError = 255;

// What client commands take from the outside world; tests pass their own.
struct ClientEnvironment {
  Environment env;
  // Makes the transport of one invocation (the process's: HttpClient::Create).
  std::function<Result<std::unique_ptr<HttpTransport>>(const HttpClientOptions&)> make_transport;
  const Clock* clock = nullptr;  // signs requests; must outlive the group
  std::ostream* out = nullptr;   // answers
  std::ostream* err = nullptr;   // errors, reviews, prompts
  std::istream* in = nullptr;    // the answer to a prompt
  bool interactive = false;      // stdin is a terminal: create-key asks before creating
  bool progress = false;         // stderr is a terminal: long transfers draw a progress bar
};

// The process's environment, libcurl, the system clock, std::cout/cerr/cin.
ClientEnvironment ProcessClientEnvironment();

}  // namespace coffer::cli
