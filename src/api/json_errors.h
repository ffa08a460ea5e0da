#pragma once
// Errors of the AWS JSON protocols (1.0 and 1.1) in wire form: the `__type`, the
// message and the HTTP status. One table for every JSON service (KMS today,
// CloudTrail later); each service names the errors that reach it without an
// AWS name in a JsonErrorNames.
//
// Wire form (shared reference aws-protocols.md, JSON 1.1 responses):
//   HTTP 400 for every client error (NotFound, Disabled, KMSInvalidState,
//   AccessDenied, Validation, Serialization …), 5xx for service faults;
//   body {"__type":"NotFoundException","message":"…"}, with "message" left out
//   when the message is empty (AWS sends InvalidCiphertextException, and Coral
//   its SerializationException for a malformed body, with no message).
//
// Pure functions; safe to call from any thread.
#include <string>
#include <string_view>

#include "common/status.h"

namespace coffer::api {

// What one JSON service calls the errors a Status carries without an AWS
// error name (Status::error_name() empty: a failure of a dependency, a code
// path that returns a generic error). AccessDeniedException (kPermissionDenied)
// and UnrecognizedClientException (kUnauthenticated) are the same in every
// AWS JSON service.
struct JsonErrorNames {
  std::string_view invalid_argument;
  std::string_view not_found;
  std::string_view already_exists;
  std::string_view failed_precondition;
  std::string_view resource_exhausted;
  std::string_view internal;     // a service fault: HTTP 500
  std::string_view unavailable;  // a transient fault: HTTP 503
};

// KMS's names (kms-service-2: KMSInternalException and DependencyTimeoutException
// are its faults).
inline constexpr JsonErrorNames kKmsErrorNames = {
    .invalid_argument = "ValidationException",
    .not_found = "NotFoundException",
    .already_exists = "AlreadyExistsException",
    .failed_precondition = "KMSInvalidStateException",
    .resource_exhausted = "LimitExceededException",
    .internal = "KMSInternalException",
    .unavailable = "DependencyTimeoutException",
};

struct JsonError {
  std::string type;     // the __type and X-Amzn-ErrorType: "NotFoundException"
  std::string message;  // may be empty
  int http_status = 400;
};

// The wire form of a non-OK Status. A Status with an error name keeps its name
// and message. One without gets the service's name for its code; when that is a
// fault (kInternal, kDataLoss, kUnavailable) its message is replaced by a generic
// text, because such messages come from dependencies and may name files or
// internals: the caller logs the Status itself. An OK Status (a bug of the
// caller) becomes the service's internal error.
JsonError ToJsonError(const Status& status, const JsonErrorNames& names);

// The HTTP status of an error name: 500 or 503 for the faults AWS answers with
// a 5xx (KMSInternalException, KeyUnavailableException, DependencyTimeoutException,
// InternalFailure, ServiceUnavailable…), else by `code` (kInternal and kDataLoss
// 500, kUnavailable 503), else 400.
int JsonErrorHttpStatus(std::string_view error_name, StatusCode code);

// {"__type":"<type>","message":"<message>"}; "message" is left out when empty.
std::string JsonErrorBody(const JsonError& error);

}  // namespace coffer::api
