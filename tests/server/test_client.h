#pragma once
// A minimal HTTP/1.1 test client over real sockets (plain or TLS), with a
// bound on every operation so that a server bug fails a test instead of
// hanging it. Requests are written as raw bytes, so tests control every byte;
// responses are parsed by Beast.
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace coffer::testing {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace ssl = boost::asio::ssl;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;
using Response = http::response<http::string_body>;

// "METHOD TARGET HTTP/1.1" with Host and Content-Length, `extra` header lines
// ("Name: value\r\n"…), then the body.
inline std::string RawRequest(std::string_view method, std::string_view target,
                              std::string_view body = "", std::string_view extra = "") {
  std::string r;
  r.append(method).append(" ").append(target).append(" HTTP/1.1\r\nHost: localhost\r\n");
  r.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
  r.append(extra).append("\r\n").append(body);
  return r;
}

class TestClient {
 public:
  static constexpr std::chrono::seconds kTimeout{10};

  // Connects to 127.0.0.1:port; with `tls`, also does the TLS handshake.
  // connect_error() tells whether that worked.
  explicit TestClient(uint16_t port, ssl::context* tls = nullptr) {
    if (tls != nullptr) {
      tls_ = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(ioc_, *tls);
    } else {
      plain_ = std::make_unique<beast::tcp_stream>(ioc_);
    }
    tcp::endpoint ep(net::ip::make_address("127.0.0.1"), port);
    connect_error_ = Run([&](auto done) { Tcp().async_connect(ep, done); });
    if (!connect_error_ && tls_) {
      connect_error_ =
          Run([&](auto done) { tls_->async_handshake(ssl::stream_base::client, done); });
    }
  }

  error_code connect_error() const { return connect_error_; }

  error_code Write(std::string_view data) {
    return Run([&](auto done) {
      WithStream(
          [&](auto& s) { net::async_write(s, net::buffer(data.data(), data.size()), done); });
    });
  }

  struct Reply {
    error_code ec;
    Response response;
  };

  // `head_request`: the answer to a HEAD, whose Content-Length has no body.
  Reply Read(bool head_request = false) {
    Reply r;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    parser.skip(head_request);
    r.ec = Run([&](auto done) {
      WithStream([&](auto& s) { http::async_read(s, buffer_, parser, done); });
    });
    if (!r.ec) r.response = parser.release();
    return r;
  }

  Reply RoundTrip(std::string_view request) {
    error_code ec = Write(request);
    if (ec) return Reply{ec, {}};
    return Read();
  }

  // True when the server closes the connection (EOF or reset) within the
  // timeout; bytes received meanwhile are discarded.
  bool WaitClosed(std::chrono::milliseconds timeout = kTimeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      char scratch[4096];
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      error_code ec = Run(
          [&](auto done) {
            WithStream([&](auto& s) { s.async_read_some(net::buffer(scratch), done); });
          },
          left);
      if (ec == beast::error::timeout) return false;
      if (ec) return true;
    }
  }

 private:
  beast::tcp_stream& Tcp() { return tls_ ? beast::get_lowest_layer(*tls_) : *plain_; }

  template <typename F>
  void WithStream(F f) {
    if (tls_) {
      f(*tls_);
    } else {
      f(*plain_);
    }
  }

  // Starts one operation through `start(handler)` and runs it to completion
  // or to the timeout.
  template <typename Start>
  error_code Run(Start start, std::chrono::milliseconds timeout = kTimeout) {
    error_code result = beast::error::timeout;
    bool done = false;
    Tcp().expires_after(timeout);
    start([&](error_code ec, auto&&...) {
      result = ec;
      done = true;
    });
    ioc_.restart();
    ioc_.run();
    return done ? result : error_code(beast::error::timeout);
  }

  net::io_context ioc_;
  std::unique_ptr<beast::tcp_stream> plain_;
  std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> tls_;
  beast::flat_buffer buffer_;
  error_code connect_error_;
};

}  // namespace coffer::testing
