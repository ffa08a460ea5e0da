#pragma once
// Checks a request as coffer's server will: parse its SigV4 signature, check
// the scope, verify it with the secret.
#include <string_view>
#include <vector>

#include "api/http.h"
#include "api/sigv4.h"
#include "common/status.h"

namespace coffer::testing {

inline Status VerifySignedRequest(const api::HttpRequest& request, std::string_view secret,
                                  TimePoint now, std::string_view region, std::string_view service,
                                  api::sigv4::ParsedSignature* parsed_out = nullptr) {
  std::vector<api::sigv4::HeaderField> fields;
  for (const auto& h : request.headers) fields.push_back({h.name, h.value});
  api::sigv4::HttpRequestView view;
  view.method = request.method;
  view.raw_path = request.Path();
  view.raw_query = request.Query();
  view.headers = fields;
  view.body = AsBytes(request.body);
  ASSIGN_OR_RETURN(api::sigv4::ParsedSignature parsed, api::sigv4::ParseSignature(view));
  RETURN_IF_ERROR(api::sigv4::CheckCredentialScope(parsed, region, service));
  RETURN_IF_ERROR(api::sigv4::Verify(view, parsed, secret, now));
  if (parsed_out != nullptr) *parsed_out = parsed;
  return Status::Ok();
}

}  // namespace coffer::testing
