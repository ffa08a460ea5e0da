#pragma once
// Endpoint: the one HTTP endpoint of every AWS-compatible service coffer serves
// (KMS over AWS JSON 1.1; IAM and STS over AWS Query). Each request goes through
// the same chain of steps:
//
//   route → authenticate (SigV4, credentials, session token, clock skew)
//         → decode (a protocol codec turns the body into an api::Call)
//         → authorize (every Authorization of the call, with policy/)
//         → execute (the call's closure) → encode (reply or the protocol's error shape)
//
// Services never see HTTP; the codecs never authorize; this file never knows an
// operation by name. Errors are answered in the exact shape of the protocol the
// request used (aws-protocols.md, "Authentication errors", "JSON 1.1 responses",
// "Query (XML) responses"), each with a request id (x-amzn-RequestId).
//
// Thread safety: Handle() may be called concurrently from any number of threads.
// The services passed to Create() must outlive the Endpoint.
#include <memory>
#include <string>

#include "api/http.h"
#include "common/clock.h"
#include "common/random.h"
#include "common/status.h"

namespace coffer::kms {
class KeyService;
}
namespace coffer::iam {
class IdentityService;
}

namespace coffer::api {

struct EndpointOptions {
  std::string account_id = "111122223333";
  std::string region = "us-east-1";
};

class Endpoint {
 public:
  static Result<std::unique_ptr<Endpoint>> Create(EndpointOptions options, kms::KeyService& kms,
                                                  iam::IdentityService& iam, Clock& clock,
                                                  Random& random);
  ~Endpoint();

  // Answers one request; calls `respond` exactly once before returning.
  void Handle(HttpRequest request, Responder respond);
  // The same, returning the response (tests, in-process callers).
  HttpResponse Handle(const HttpRequest& request);

  // A Handler for the listener, bound to this endpoint.
  Handler AsHandler();

 private:
  class Impl;
  explicit Endpoint(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace coffer::api
