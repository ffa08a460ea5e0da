#include "api/query_dispatch.h"

namespace coffer::api {

Result<Call> DispatchQuery(const QueryOperations& operations, std::string_view api_version,
                           std::string_view event_source, const QueryRequest& request,
                           QueryCheck check) {
  ASSIGN_OR_RETURN(std::string action, QueryAction(request.params, api_version));
  auto it = operations.find(action);
  if (it == operations.end()) return UnknownAction(action, api_version);
  Status checked = check ? check(action, it->second, request.params) : Status::Ok();
  Result<Call> prepared = checked.ok() ? it->second.prepare(request) : Result<Call>(checked);
  Call call = prepared.ok() ? *std::move(prepared) : RefusedCall(action, prepared.status());
  call.event_source = std::string(event_source);
  call.read_only = it->second.read_only;
  call.request_parameters = QueryRequestParameters(request.params, it->second.recorded);
  return call;
}

std::vector<std::string_view> QueryOperationNames(const QueryOperations& operations) {
  std::vector<std::string_view> names;
  for (const auto& [name, operation] : operations) names.push_back(name);
  return names;
}

bool QueryOperationIsReadOnly(const QueryOperations& operations, std::string_view action) {
  auto it = operations.find(action);
  return it != operations.end() && it->second.read_only;
}

}  // namespace coffer::api
