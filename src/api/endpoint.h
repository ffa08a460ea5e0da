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
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "api/operation.h"
#include "audit/audit_sink.h"
#include "common/clock.h"
#include "common/random.h"
#include "common/status.h"
#include "net/http.h"

namespace coffer::audit {
class EventLookup;
struct DigestPublicKey;
}  // namespace coffer::audit
namespace coffer::kms {
class KeyService;
}
namespace coffer::iam {
class IdentityService;
}
namespace coffer::backup {
class BackupService;
}

namespace coffer::api {

// A caller the server authenticated itself: the backup service acting as an
// instance's role, or as the service principal rds.amazonaws.com.
struct InProcessCaller {
  policy::Principal principal;
  std::string access_key_id;  // the session's, for assumed roles
  // The record's sourceIPAddress and userAgent, as AWS writes them for calls a
  // service makes on a customer's behalf: "rds.amazonaws.com".
  std::string source;
};

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
  void Handle(net::HttpRequest request, net::Responder respond);
  // The same, waiting for the response (tests, in-process callers). Must not be
  // called from a sink callback.
  net::HttpResponse Handle(const net::HttpRequest& request);

  // A Handler for the listener, bound to this endpoint.
  net::Handler AsHandler();

  // Serves the backup operations (CofferBackup_v1.*, api/backup_json.h) from
  // `service`, which must outlive the endpoint. Call before the first request.
  void AttachBackupService(backup::BackupService* service);

  // Serves CloudTrail's ListPublicKeys from `keys` (the digest signer's public
  // keys, oldest first). Call before the first request.
  void AttachDigestPublicKeys(std::function<std::vector<audit::DigestPublicKey>()> keys);

  // In-process calls: the same authorize → check the audit sink → execute →
  // record as a request, for a caller given rather than authenticated, waiting
  // until the record is durable. Errors are what an HTTP caller would get (AWS's
  // name and message), or an internal error when the record was not written.
  //
  // A KMS operation ("GenerateDataKey") with its JSON 1.1 request body; returns
  // the reply body.
  Result<std::string> InvokeKms(const InProcessCaller& caller, std::string_view operation,
                                std::string body);
  // A call built by the caller (an S3 access of a task, a task's start and end);
  // `event_source`/`event_name` name it in the record if `prepare` fails.
  Result<Reply> Invoke(const InProcessCaller& caller, std::function<Result<Call>()> prepare,
                       std::string event_source, std::string event_name);

 private:
  class Impl;
  explicit Endpoint(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace coffer::api
