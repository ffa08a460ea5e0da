#pragma once
// A signed client for AWS protocols, as the aws CLI speaks them
// (shared/reference/aws-protocols.md): it builds a JSON 1.1 or Query request,
// signs it with net/sigv4.h over the headers the aws CLI signs
// (content-type;host;x-amz-date[;x-amz-security-token][;x-amz-target]), sends
// it through an HttpTransport, and reads an error answer as botocore does.
//
// Errors of a call come in two kinds, told apart by error_name():
//  - the service answered with an error: error_name() is its error code
//    ("AccessDeniedException"; botocore's reading: the text after '#' and
//    before ':' of __type), message() its message (possibly empty). The
//    StatusCode follows the HTTP status (4xx kInvalidArgument, 5xx kUnavailable
//    or kInternal).
//  - no usable answer (transport errors, as HttpTransport's) or a request that
//    could not be signed: error_name() is empty.
// ServiceErrorText() formats the first kind as the aws CLI prints it.
//
// Not thread-safe (it uses one transport); the transport and clock are
// borrowed and must outlive the client. Request bodies are wiped after
// sending, since they may carry plaintext.
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cli/http_client.h"
#include "common/clock.h"
#include "common/status.h"
#include "crypto/secret_bytes.h"
#include "net/http.h"
#include "net/sigv4.h"

namespace coffer::cli {

inline constexpr std::string_view kJsonContentType = "application/x-amz-json-1.1";
inline constexpr std::string_view kQueryContentType =
    "application/x-www-form-urlencoded; charset=utf-8";

using QueryParams = std::vector<std::pair<std::string, std::string>>;

// POST to the endpoint's path, Host from the endpoint, Content-Type
// application/x-amz-json-1.1, X-Amz-Target `target` ("TrentService.CreateKey").
net::HttpRequest BuildJsonRequest(const Endpoint& endpoint, std::string_view target,
                                  std::string_view body);
// POST form-urlencoded: Action=…&Version=…&params (botocore's query
// serialiser: everything but A-Za-z0-9-_.~ percent-encoded).
net::HttpRequest BuildQueryRequest(const Endpoint& endpoint, std::string_view action,
                                   std::string_view version, const QueryParams& params);

// Signs `request` in place with sigv4::Sign for (region, service) at `now`:
// adds X-Amz-Date, X-Amz-Security-Token (with a session token) and
// Authorization. The request must have its Host header.
Status SignRequest(net::HttpRequest& request, const net::sigv4::Credentials& credentials,
                   std::string_view region, std::string_view service, TimePoint now);

// The error of a JSON 1.1 / Query answer whose status is not 2xx, as above.
Status JsonErrorStatus(const net::HttpResponse& response);
Status QueryErrorStatus(const net::HttpResponse& response);

// "An error occurred (AccessDeniedException) when calling the CreateKey
// operation: User: … is not authorized …" (botocore's ClientError text).
std::string ServiceErrorText(std::string_view operation, const Status& status);

// The text of the first element named `name` in `xml`, entities decoded
// (&amp; &lt; &gt; &quot; &apos; &#N; &#xN;); nullopt when absent.
std::optional<std::string> XmlElementText(std::string_view xml, std::string_view name);

using crypto::WipeString;

class AwsClient {
 public:
  AwsClient(HttpTransport& transport, const Clock& clock, Endpoint endpoint, std::string region,
            net::sigv4::Credentials credentials);

  const Endpoint& endpoint() const { return endpoint_; }
  const std::string& region() const { return region_; }

  // One JSON 1.1 call; returns the response body ("{}" when the answer has none).
  Result<std::string> CallJson(std::string_view service, std::string_view target_prefix,
                               std::string_view operation, std::string_view body);
  // One Query call; returns the XML response body.
  Result<std::string> CallQuery(std::string_view service, std::string_view operation,
                                std::string_view version, const QueryParams& params);

 private:
  Result<net::HttpResponse> SignAndSend(net::HttpRequest& request, std::string_view service);

  HttpTransport& transport_;
  const Clock& clock_;
  Endpoint endpoint_;
  std::string region_;
  net::sigv4::Credentials credentials_;
};

// sts:GetCallerIdentity: the 12-digit account of the caller.
Result<std::string> GetCallerAccount(AwsClient& client);

}  // namespace coffer::cli
