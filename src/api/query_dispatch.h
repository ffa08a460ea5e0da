#pragma once
// The dispatch shared by the Query codecs (IAM, STS): a table keyed by Action,
// each entry preparing an api::Call, with what CloudTrail records of it.
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "api/operation.h"
#include "api/query.h"
#include "common/status.h"
#include "iam/identity_service.h"
#include "policy/evaluate.h"

namespace coffer::api {

// What an operation of a Query codec is prepared from.
struct QueryRequest {
  iam::IdentityService& iam;
  const policy::Principal& caller;
  const QueryParams& params;
  const std::string& request_id;
};

struct QueryOperation {
  Result<Call> (*prepare)(const QueryRequest&);
  bool read_only;  // as AWS records the event
  // The parameters requestParameters records, in the model's order: every
  // member the operation takes.
  std::vector<std::string_view> recorded;
  // Those of them the model requires.
  std::vector<std::string_view> required;
};

using QueryOperations = std::map<std::string_view, QueryOperation>;

// Checks the members of a request to `action` (those `operation` takes) before
// the request is prepared, and so before the caller or any policy is looked at.
using QueryCheck = Status (*)(std::string_view action, const QueryOperation& operation,
                              const QueryParams& params);

// Finds the request's Action (of API version `api_version`) in `operations` and
// prepares its Call, with the event source, readOnly and requestParameters set,
// after `check` when given. InvalidAction for an Action the table does not have.
Result<Call> DispatchQuery(const QueryOperations& operations, std::string_view api_version,
                           std::string_view event_source, const QueryRequest& request,
                           QueryCheck check = nullptr);

// The Actions of `operations`, sorted.
std::vector<std::string_view> QueryOperationNames(const QueryOperations& operations);

// readOnly of `action`'s record (false for an Action `operations` does not have).
bool QueryOperationIsReadOnly(const QueryOperations& operations, std::string_view action);

}  // namespace coffer::api
