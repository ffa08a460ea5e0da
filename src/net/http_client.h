#pragma once
// coffer's HTTP client side: endpoint URLs, a transport interface, and a
// blocking HTTP/1.1 implementation over libcurl (HttpClient). Used by the
// command line (cli/aws_client.h) and by the object store's s3 backend.
//
// The transport sends requests as given: it adds no authentication and follows
// no redirects. Requests are signed beforehand by the caller (with net/sigv4.h's
// signer), so what the signature covers is exactly what goes on the wire: the
// caller sets the Host header from Endpoint::HostHeader(). libcurl's types stay
// inside http_client.cc.
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"
#include "net/http.h"

namespace coffer::net {

// The error name of an endpoint URL Endpoint::Parse refuses.
inline constexpr std::string_view kInvalidEndpoint = "InvalidEndpoint";

// A parsed endpoint URL: "http://127.0.0.1:7878", "https://kms.example:8443/prefix".
struct Endpoint {
  std::string scheme;  // "http" or "https"
  std::string host;    // lower case; an IPv6 address in brackets: "[::1]"
  int port = 0;        // explicit, or the scheme's default
  std::string path;    // "/" when the URL has none; never has a query
  std::string url;     // the URL as given, for messages

  // Accepts http and https URLs with a host, an optional port (1–65535) and
  // path; no user info, query or fragment. Errors are kInvalidArgument with
  // error name kInvalidEndpoint and botocore's text "Invalid endpoint: URL".
  static Result<Endpoint> Parse(std::string_view url);

  // The Host header as botocore writes it: the host, and ":port" unless the
  // port is the scheme's default.
  std::string HostHeader() const;
  // "scheme://host:port" + `target` (a path with an optional query).
  std::string UrlFor(std::string_view target) const;
};

// Sends one HTTP request and waits for the whole response.
//
// Errors (no complete response arrived) are kUnavailable with the aws CLI's
// texts, naming the request URL:
//   Could not connect to the endpoint URL: "http://127.0.0.1:7878/"
//   Connect timeout on endpoint URL: "…"
//   Read timeout on endpoint URL: "…"
//   Connection was closed before we received a valid response from endpoint URL: "…".
//   SSL validation failed for https://… <reason>
// Any HTTP status is a response, not an error.
class HttpTransport {
 public:
  virtual ~HttpTransport() = default;
  // `request.target` is the path (and query) to send; `request.headers` go on
  // the wire as given (they must include Host); `request.body` is the body.
  virtual Result<HttpResponse> Send(const Endpoint& endpoint, const HttpRequest& request) = 0;
};

struct HttpClientOptions {
  // The aws CLI's defaults (--cli-connect-timeout, --cli-read-timeout): 60 s.
  std::chrono::milliseconds connect_timeout{60000};
  // No byte received for this long ends the request (a stalled server).
  std::chrono::milliseconds read_timeout{60000};
  // A PEM file of CA certificates for https endpoints; empty: the system's.
  std::string ca_bundle;
  // false: do not verify the server's certificate (--no-verify-ssl).
  bool verify_tls = true;
  // A response larger than this is refused (KMS answers are a few KB).
  size_t max_response_bytes = 16 << 20;
  // true: HTTP_PROXY / HTTPS_PROXY / NO_PROXY apply, as for the aws CLI;
  // false: every endpoint is reached directly.
  bool proxy_from_environment = true;
};

// The libcurl transport. One request at a time: an HttpClient is not safe to
// use from several threads at once (use one per thread); connections are kept
// alive between requests to the same endpoint.
class HttpClient final : public HttpTransport {
 public:
  static Result<std::unique_ptr<HttpClient>> Create(HttpClientOptions options = {});
  ~HttpClient() override;
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  Result<HttpResponse> Send(const Endpoint& endpoint, const HttpRequest& request) override;

 private:
  struct Impl;
  explicit HttpClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace coffer::net
