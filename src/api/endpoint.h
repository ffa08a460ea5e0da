#pragma once
// Endpoint: the one HTTP endpoint of every AWS-compatible service coffer serves
// (KMS over AWS JSON 1.1; IAM and STS over AWS Query). Each request goes through
// the same chain of steps:
//
//   route → authenticate (SigV4, credentials, session token, clock skew)
//         → decode (a protocol codec turns the body into an api::Call)
//         → authorize (every Authorization of the call, with policy/)
//         → check the audit sink (Health(): nothing runs that cannot be recorded;
//           503 ServiceUnavailable with the reason otherwise)
//         → execute (the call's closure) → encode (reply or the protocol's error shape)
//         → record (one CloudTrail record per request, allowed or denied, failed
//           authentication and decoding included) → answer once the record is durable
//
// Auditing (ARCHITECTURE.md, Audit): every request, whatever its outcome, gives one
// record (audit::BuildCloudTrailRecord) handed to the AuditSink; the response is sent
// from the sink's callback, once the record is durable. If it could not be recorded
// the caller gets a 500 instead (JSON: KMSInternalException for KMS, InternalFailure
// for CloudTrail; Query: InternalFailure), unless the answer was a 5xx already. The
// record names the call from its Call (event source, name, readOnly, parameters,
// resources, responseElements) or, when none was decoded, from the route (the
// X-Amz-Target's operation, the Query Action); the caller from the authenticated
// principal, or only the request's access key id when authentication failed; the
// error as the caller was answered.
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
#include "audit/audit_sink.h"
#include "common/clock.h"
#include "common/random.h"
#include "common/status.h"

namespace coffer::audit {
class EventLookup;
}
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
  // `sink` receives every call's record; `lookup` answers CloudTrail LookupEvents
  // (nullptr: LookupEvents is refused as unsupported). All must outlive the Endpoint.
  static Result<std::unique_ptr<Endpoint>> Create(EndpointOptions options, kms::KeyService& kms,
                                                  iam::IdentityService& iam, audit::AuditSink& sink,
                                                  Clock& clock, Random& random,
                                                  const audit::EventLookup* lookup = nullptr);
  ~Endpoint();

  // Answers one request: runs it, hands its record to the sink and calls `respond`
  // exactly once, from the sink's callback (possibly on another thread, possibly
  // before Handle returns).
  void Handle(HttpRequest request, Responder respond);
  // The same, waiting for the response (tests, in-process callers). Must not be
  // called from a sink callback.
  HttpResponse Handle(const HttpRequest& request);

  // A Handler for the listener, bound to this endpoint.
  Handler AsHandler();

 private:
  class Impl;
  explicit Endpoint(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace coffer::api
