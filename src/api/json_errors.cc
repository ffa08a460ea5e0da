#include "api/json_errors.h"

#include <array>
#include <nlohmann/json.hpp>
#include <utility>

namespace coffer::api {
namespace {

// The error names AWS answers with a 5xx; every other named error is a 400
// (aws-protocols.md: "HTTP 400 for every client error").
constexpr std::array<std::pair<std::string_view, int>, 8> kFaults = {{
    {"KMSInternalException", 500},
    {"KeyUnavailableException", 500},
    {"DependencyTimeoutException", 503},
    {"InternalFailure", 500},
    {"InternalServerError", 500},
    {"InternalServerException", 500},
    {"ServiceUnavailable", 503},
    {"ServiceUnavailableException", 503},
}};

constexpr std::string_view kInternalMessage = "An internal error occurred. Try again later.";

}  // namespace

int JsonErrorHttpStatus(std::string_view error_name, StatusCode code) {
  for (const auto& [name, status] : kFaults) {
    if (name == error_name) return status;
  }
  switch (code) {
    case StatusCode::kInternal:
    case StatusCode::kDataLoss:
      return 500;
    case StatusCode::kUnavailable:
      return 503;
    default:
      return 400;
  }
}

JsonError ToJsonError(const Status& status, const JsonErrorNames& names) {
  JsonError out;
  if (status.ok()) {
    out.type = std::string(names.internal);
    out.message = std::string(kInternalMessage);
    out.http_status = 500;
    return out;
  }
  if (!status.error_name().empty()) {
    out.type = status.error_name();
    out.message = status.message();
    out.http_status = JsonErrorHttpStatus(out.type, status.code());
    return out;
  }
  bool fault = false;
  std::string_view type;
  switch (status.code()) {
    case StatusCode::kOk:  // handled above
    case StatusCode::kInternal:
    case StatusCode::kDataLoss:
      type = names.internal;
      fault = true;
      break;
    case StatusCode::kUnavailable:
      type = names.unavailable;
      fault = true;
      break;
    case StatusCode::kInvalidArgument:
      type = names.invalid_argument;
      break;
    case StatusCode::kNotFound:
      type = names.not_found;
      break;
    case StatusCode::kAlreadyExists:
      type = names.already_exists;
      break;
    case StatusCode::kFailedPrecondition:
      type = names.failed_precondition;
      break;
    case StatusCode::kPermissionDenied:
      type = "AccessDeniedException";
      break;
    case StatusCode::kUnauthenticated:
      type = "UnrecognizedClientException";
      break;
    case StatusCode::kResourceExhausted:
      type = names.resource_exhausted;
      break;
  }
  out.type = std::string(type);
  out.message = fault ? std::string(kInternalMessage) : status.message();
  out.http_status = JsonErrorHttpStatus(out.type, status.code());
  return out;
}

std::string JsonErrorBody(const JsonError& error) {
  nlohmann::ordered_json body;
  body["__type"] = error.type;
  if (!error.message.empty()) body["message"] = error.message;
  // A message may quote request text; never fail on bytes that are not UTF-8.
  return body.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace coffer::api
