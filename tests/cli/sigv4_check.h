#pragma once
// Checks a request as coffer's server will: parse its SigV4 signature, check
// the scope, verify it with the secret.
#include <string_view>
#include <vector>

#include "common/status.h"
#include "net/http.h"
#include "net/sigv4.h"

namespace coffer::testing {

inline Status VerifySignedRequest(const net::HttpRequest& request, std::string_view secret,
                                  TimePoint now, std::string_view region, std::string_view service,
                                  net::sigv4::ParsedSignature* parsed_out = nullptr) {
  std::vector<net::sigv4::HeaderField> fields;
  for (const auto& h : request.headers) fields.push_back({h.name, h.value});
  net::sigv4::HttpRequestView view;
  view.method = request.method;
  view.raw_path = request.Path();
  view.raw_query = request.Query();
  view.headers = fields;
  view.body = AsBytes(request.body);
  ASSIGN_OR_RETURN(net::sigv4::ParsedSignature parsed, net::sigv4::ParseSignature(view));
  RETURN_IF_ERROR(net::sigv4::CheckCredentialScope(parsed, region, service));
  RETURN_IF_ERROR(net::sigv4::Verify(view, parsed, secret, now));
  if (parsed_out != nullptr) *parsed_out = parsed;
  return Status::Ok();
}

}  // namespace coffer::testing
