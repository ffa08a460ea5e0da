#pragma once
// HttpListener: coffer's HTTP/1.1 server (Boost.Asio/Beast, kept out of this
// header so that including it stays cheap).
//
// It accepts connections on one address, optionally over TLS (1.2 or newer),
// reads one request at a time per connection (keep-alive and pipelining-safe:
// the next request is read only after the previous one is answered), and hands
// every request to the net::Handler, except `GET /health`, which the listener
// answers itself: 200 {"status":"ok"} once the owner called SetReady(true),
// 503 before that and from the moment Stop() begins.
//
// Limits are enforced before the handler runs, and answered with a clear
// text/plain body and `Connection: close`:
//   - a request header larger than max_header_bytes: 431;
//   - a body larger than max_body_bytes: 413, from the Content-Length alone
//     (before any of the body is read), or while reading a chunked body;
//   - a malformed request (or HTTP/1.1 without Host): 400;
//   - more than max_connections open connections: the extra connection is
//     accepted, answered 503 at once and closed;
//   - no first byte of a next request within idle_timeout: the connection is
//     closed; a request (or a response write) taking longer than
//     request_timeout: the connection is closed.
// Every response carries `Date` (as AWS replies do) and `Content-Length`; the
// listener owns the framing headers (Content-Length, Transfer-Encoding,
// Connection) and ignores them in the handler's response.
//
// Threads: `io_threads` threads each run their own event loop; a connection
// lives on one of them for its whole life. The handler is called on that I/O
// thread and must not block for long; it answers by calling the Responder
// exactly once, from any thread: the response is carried back to the
// connection's own thread. A Responder called after the listener stopped is a
// no-op.
//
// Thread safety: every method may be called from any thread, except that
// Stop() and the destructor join the I/O threads, so they must not be called
// from one of them (nor from inside the handler).
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "common/clock.h"
#include "common/status.h"
#include "net/http.h"

namespace coffer::server {

class HttpListener {
 public:
  struct TlsFiles {
    std::string certificate_chain_file;  // PEM: the server certificate, then intermediates
    std::string private_key_file;        // PEM, unencrypted
  };

  struct Options {
    std::string host = "127.0.0.1";  // an IPv4 or IPv6 literal ("::1"), or "localhost"
    uint16_t port = 0;               // 0: an ephemeral port (see port())
    int io_threads = 2;
    size_t max_header_bytes = 16 * 1024;
    size_t max_body_bytes = 1024 * 1024;  // AWS KMS requests never need more
    size_t max_connections = 1024;
    std::chrono::milliseconds idle_timeout{std::chrono::seconds(60)};
    std::chrono::milliseconds request_timeout{std::chrono::seconds(30)};
    // How long Stop() lets requests in flight finish before closing them.
    std::chrono::milliseconds shutdown_timeout{std::chrono::seconds(10)};
    std::optional<TlsFiles> tls;  // plain HTTP when absent
    // The source of the Date header; the system clock when null. Not owned.
    const Clock* clock = nullptr;
  };

  // Validates `options`, loads the TLS certificate and key (when given), binds,
  // listens and starts the I/O threads. /health answers 503 until SetReady(true).
  // Errors: kInvalidArgument for bad options; kFailedPrecondition when the TLS
  // files cannot be loaded or the address cannot be bound (the message says
  // which file or address, and why).
  static Result<std::unique_ptr<HttpListener>> Start(Options options, net::Handler handler);

  // Start in two steps: Bind does all of the above but start the I/O threads
  // (connections wait in the listen backlog), so that a server can refuse a bad
  // address or TLS file before it sets anything up; Serve(handler), once, then
  // accepts and serves.
  static Result<std::unique_ptr<HttpListener>> Bind(Options options);
  Status Serve(net::Handler handler);

  // Stops (see Stop()).
  ~HttpListener();
  HttpListener(const HttpListener&) = delete;
  HttpListener& operator=(const HttpListener&) = delete;

  // The bound port (the ephemeral one when Options::port was 0).
  uint16_t port() const;
  // True when the listener speaks TLS.
  bool secure() const;

  // Whether /health answers 200 (true) or 503 (false).
  void SetReady(bool ready);
  // Once ready, /health also asks `healthy`: false answers 503
  // {"status":"unavailable"} (a server that refuses every call, such as one whose
  // audit journal fails). Set it before Serve; it must be thread-safe and quick.
  void SetHealthCheck(std::function<bool()> healthy);

  // Graceful stop: stops accepting, answers /health 503, closes idle keep-alive
  // connections, lets requests in flight finish (their responses carry
  // `Connection: close`) for up to shutdown_timeout, then closes whatever is
  // left and joins the I/O threads. Idempotent.
  void Stop();

 private:
  class Impl;
  explicit HttpListener(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace coffer::server
