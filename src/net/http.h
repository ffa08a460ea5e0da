#pragma once
// Transport-neutral HTTP messages, shared by the server's listener (server/),
// the protocol layer (api/) and coffer's own HTTP client (net/http_client.h:
// the command line, the object store's s3 backend).
//
// The listener builds an HttpRequest from the wire and hands it to a Handler
// with a Responder; the handler answers by calling the Responder exactly once,
// from any thread (so a handler may finish on another thread, e.g. after an
// audit record is durable).
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace coffer::net {

struct HttpHeader {
  std::string name;
  std::string value;
};

struct HttpRequest {
  std::string method;  // "POST"
  std::string target;  // the raw request-target: path, then '?' and the query when present
  std::vector<HttpHeader> headers;
  std::string body;
  std::string remote_address;     // the peer's IP address, "127.0.0.1"
  bool secure_transport = false;  // arrived over TLS
  // TLS only: the protocol version ("TLSv1.3") and the cipher suite's IANA name
  // ("TLS_AES_256_GCM_SHA384"), for the audit record's tlsDetails.
  std::string tls_version;
  std::string tls_cipher_suite;

  // The path of `target`, before any decoding ("/a%20b"); of an absolute-form
  // target ("http://host/a"), the part after the authority ("/a").
  std::string_view Path() const;
  // The query of `target` after '?', empty when none.
  std::string_view Query() const;
  // The value of the first header named `name` (case-insensitive), or nullopt.
  std::optional<std::string_view> Header(std::string_view name) const;
};

struct HttpResponse {
  int status = 200;
  std::vector<HttpHeader> headers;
  std::string body;

  // Sets (replacing) a header.
  void SetHeader(std::string_view name, std::string_view value);
  std::optional<std::string_view> Header(std::string_view name) const;
};

// Called exactly once with the answer to one request; safe to call from any thread.
using Responder = std::function<void(HttpResponse)>;
// Handles one request. Must not block for long: it runs on an I/O thread.
using Handler = std::function<void(HttpRequest, Responder)>;

// Case-insensitive ASCII comparison of header names.
bool HeaderNameEquals(std::string_view a, std::string_view b);

}  // namespace coffer::net
