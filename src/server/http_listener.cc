#include "server/http_listener.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/rfc7230.hpp>
#include <boost/beast/http/status.hpp>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <condition_variable>
#include <cstring>
#include <ctime>
#include <fstream>
#include <list>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "common/logging.h"
#include "common/thread_pool.h"

namespace coffer::server {

// Before the alias below, which names Boost.Asio `net`.
using coffer::net::Handler;
using coffer::net::HeaderNameEquals;
using coffer::net::HttpRequest;
using coffer::net::HttpResponse;

namespace {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;
using SteadyClock = std::chrono::steady_clock;

// One read asks the kernel for up to this much.
constexpr size_t kReadChunk = 16 * 1024;
// A response body up to this size is copied behind the head and sent in one
// buffer (one TLS record, one send); larger ones go as a second buffer.
constexpr size_t kInlineBodyBytes = 8 * 1024;
// After an answer that closes the connection, unread request bytes are drained
// for at most this long (and this much), so that closing does not reset the
// connection before the client has read the answer.
constexpr std::chrono::milliseconds kLingerTime{2000};
constexpr size_t kLingerBytes = 1024 * 1024;
// Connections over max_connections being answered 503 at one time; beyond
// this they are closed at once.
constexpr size_t kMaxRejecting = 64;

// ---------------------------------------------------------------------------
// The Date header. RFC 9110 §5.6.7 IMF-fixdate, cached per thread per second.

std::string_view HttpDate(const Clock& clock) {
  thread_local int64_t cached_second = INT64_MIN;
  thread_local std::array<char, 32> text;
  thread_local size_t size = 0;
  int64_t second =
      std::chrono::duration_cast<std::chrono::seconds>(clock.Now().time_since_epoch()).count();
  if (second != cached_second) {
    static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                              "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t t = static_cast<time_t>(second);
    struct tm tm {};
    gmtime_r(&t, &tm);
    int n = std::snprintf(text.data(), text.size(), "%s, %02d %s %04d %02d:%02d:%02d GMT",
                          kDays[tm.tm_wday], tm.tm_mday, kMonths[tm.tm_mon], tm.tm_year + 1900,
                          tm.tm_hour, tm.tm_min, tm.tm_sec);
    size = n > 0 ? std::min(static_cast<size_t>(n), text.size() - 1) : 0;
    cached_second = second;
  }
  return std::string_view(text.data(), size);
}

// RFC 9110 §5.1: field-name = token.
bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  for (unsigned char c : s) {
    if (c >= 'a' && c <= 'z') continue;
    if (c >= 'A' && c <= 'Z') continue;
    if (c >= '0' && c <= '9') continue;
    if (std::strchr("!#$%&'*+-.^_`|~", c) != nullptr && c != '\0') continue;
    return false;
  }
  return true;
}

// RFC 9110 §5.5: no CR, LF or NUL in a field value (they would split the response).
bool IsFieldValue(std::string_view s) {
  for (unsigned char c : s) {
    if (c == '\r' || c == '\n' || c == '\0') return false;
  }
  return true;
}

bool IsFramingHeader(std::string_view name) {
  return HeaderNameEquals(name, "Content-Length") || HeaderNameEquals(name, "Transfer-Encoding") ||
         HeaderNameEquals(name, "Connection");
}

// RFC 9110 §6.4.1: 1xx, 204 and 304 responses have no content.
bool StatusAllowsBody(int status) { return status >= 200 && status != 204 && status != 304; }

void AppendNumber(std::string& out, uint64_t n) {
  char digits[24];
  auto r = std::to_chars(digits, digits + sizeof(digits), n);
  out.append(digits, r.ptr);
}

// Writes the status line and headers of `response` into `out` (reusing its
// capacity). `send_body` is false for HEAD requests.
void SerializeHead(HttpResponse& response, bool keep_alive, int version, const Clock& clock,
                   std::string& out) {
  if (response.status < 100 || response.status > 999) {
    Log().error("http: handler answered with invalid status {}; sending 500 instead",
                response.status);
    response.status = 500;
    response.headers.clear();
    response.body = "internal error: invalid response status\n";
  }
  out.clear();
  out.append("HTTP/1.1 ");
  AppendNumber(out, static_cast<uint64_t>(response.status));
  out.push_back(' ');
  http::status known = http::int_to_status(static_cast<unsigned>(response.status));
  if (known != http::status::unknown) {
    auto reason = http::obsolete_reason(known);
    out.append(reason.data(), reason.size());
  }
  out.append("\r\n");
  bool has_date = false;
  for (const auto& h : response.headers) {
    if (IsFramingHeader(h.name)) continue;  // the listener owns the framing
    if (!IsToken(h.name) || !IsFieldValue(h.value)) {
      Log().warn("http: dropping invalid response header '{}'", h.name);
      continue;
    }
    if (HeaderNameEquals(h.name, "Date")) has_date = true;
    out.append(h.name);
    out.append(": ");
    out.append(h.value);
    out.append("\r\n");
  }
  if (!has_date) {
    out.append("Date: ");
    out.append(HttpDate(clock));
    out.append("\r\n");
  }
  if (StatusAllowsBody(response.status)) {
    out.append("Content-Length: ");
    AppendNumber(out, response.body.size());
    out.append("\r\n");
  }
  if (!keep_alive) {
    out.append("Connection: close\r\n");
  } else if (version == 10) {
    out.append("Connection: keep-alive\r\n");
  }
  out.append("\r\n");
}

HttpResponse TextResponse(int status, std::string message) {
  HttpResponse r;
  r.status = status;
  r.headers.push_back({"Content-Type", "text/plain; charset=utf-8"});
  r.body = std::move(message);
  r.body.push_back('\n');
  return r;
}

std::string FormatEndpoint(const tcp::endpoint& ep) {
  std::string host = ep.address().to_string();
  if (ep.address().is_v6()) host = "[" + host + "]";
  return host + ":" + std::to_string(ep.port());
}

// ---------------------------------------------------------------------------
// The request parser: Beast's HTTP/1.1 grammar, writing straight into an
// HttpRequest (no intermediate message, no per-field node allocations).

class RequestParser final : public http::basic_parser<true> {
 public:
  RequestParser(HttpRequest& out, size_t max_header_bytes, size_t max_body_bytes) : out_(out) {
    header_limit(static_cast<std::uint32_t>(max_header_bytes));
    body_limit(static_cast<std::uint64_t>(max_body_bytes));
    eager(true);
  }

  int version() const { return version_; }
  bool has_host() const { return host_fields_ > 0; }
  // RFC 9112 §3.2: more than one Host field, or one whose value is not a URI
  // host[:port], is answered 400.
  bool bad_host() const { return host_fields_ > 1 || bad_host_; }
  // A transfer coding other than chunked (gzip, deflate…): not implemented (501).
  bool other_transfer_coding() const { return other_transfer_coding_; }
  bool expect_continue() const { return expect_continue_; }
  // A field of kSingletonFields sent more than once, or empty when none was.
  std::string_view repeated_field() const { return repeated_field_; }

 private:
  void on_request_impl(http::verb, beast::string_view method, beast::string_view target,
                       int version, error_code&) override {
    out_.method.assign(method.data(), method.size());
    out_.target.assign(target.data(), target.size());
    version_ = version;
  }
  void on_response_impl(int, beast::string_view, int, error_code& ec) override {
    ec = http::error::bad_version;  // never called for a request parser
  }
  void on_field_impl(http::field field, beast::string_view name, beast::string_view value,
                     error_code&) override {
    // A field in a chunked body's trailer section is not a header: RFC 9110
    // §6.5.1 forbids merging it into them, and nothing here reads trailers.
    if (is_header_done()) return;
    if (field == http::field::host) {
      ++host_fields_;
      if (!ValidHost(value)) bad_host_ = true;
    }
    // The fields a signed request is authorized by name one thing each: a second
    // one would leave it to the reader which counts.
    for (size_t i = 0; i < kSingletonFields.size(); ++i) {
      const std::string_view field_name = kSingletonFields[i];
      if (!beast::iequals(name, beast::string_view(field_name.data(), field_name.size()))) continue;
      if (seen_singletons_ & (1u << i)) repeated_field_ = kSingletonFields[i];
      seen_singletons_ |= 1u << i;
    }
    if (field == http::field::transfer_encoding) {
      has_transfer_encoding_ = true;
      if (!OnlyChunked(value)) other_transfer_coding_ = true;
    }
    if (field == http::field::expect) expect_continue_ = beast::iequals(value, "100-continue");
    out_.headers.push_back(
        {std::string(name.data(), name.size()), std::string(value.data(), value.size())});
  }
  void on_header_impl(error_code& ec) override {
    // RFC 9112 §6.3: a request whose Transfer-Encoding does not end in chunked
    // has no reliable length; the server MUST answer 400 and close.
    if (has_transfer_encoding_ && !chunked()) ec = http::error::bad_transfer_encoding;
  }
  void on_body_init_impl(const boost::optional<std::uint64_t>& content_length,
                         error_code&) override {
    // Already checked against body_limit by the parser.
    if (content_length) out_.body.reserve(static_cast<size_t>(*content_length));
  }
  size_t on_body_impl(beast::string_view body, error_code&) override {
    out_.body.append(body.data(), body.size());
    return body.size();
  }
  void on_chunk_header_impl(std::uint64_t, beast::string_view, error_code&) override {}
  size_t on_chunk_body_impl(std::uint64_t, beast::string_view body, error_code&) override {
    out_.body.append(body.data(), body.size());
    return body.size();
  }
  void on_finish_impl(error_code&) override {}

  HttpRequest& out_;
  int version_ = 11;
  // uri-host [":" port] (RFC 3986 §3.2.2, §3.2.3): a reg-name or IPv4 address, or
  // an IP literal in brackets, as the characters they may hold; the port digits
  // only. Empty is allowed.
  static bool ValidHost(beast::string_view value) {
    auto name_char = [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             std::string_view("-._~!$&'()*+,;=%").find(c) != std::string_view::npos;
    };
    std::string_view v(value.data(), value.size());
    std::string_view host = v;
    std::string_view port;
    bool has_port = false;
    if (v.starts_with('[')) {
      size_t close = v.find(']');
      if (close == std::string_view::npos) return false;
      host = v.substr(1, close - 1);
      std::string_view rest = v.substr(close + 1);
      if (!rest.empty() && rest.front() != ':') return false;
      has_port = !rest.empty();
      if (has_port) port = rest.substr(1);
      if (host.empty() || !std::all_of(host.begin(), host.end(),
                                       [&](char c) { return c == ':' || name_char(c); })) {
        return false;
      }
    } else {
      size_t colon = v.find(':');
      has_port = colon != std::string_view::npos;
      if (has_port) {
        host = v.substr(0, colon);
        port = v.substr(colon + 1);
      }
      if (!std::all_of(host.begin(), host.end(), name_char)) return false;
    }
    return std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; });
  }
  // Every coding of a Transfer-Encoding value is "chunked" (a list, RFC 9110 §5.6.1).
  static bool OnlyChunked(beast::string_view value) {
    for (auto coding : http::token_list(value)) {
      if (!beast::iequals(coding, "chunked")) return false;
    }
    return true;
  }

  static constexpr std::array<std::string_view, 4> kSingletonFields = {
      "Authorization", "X-Amz-Date", "X-Amz-Security-Token", "X-Amz-Target"};
  unsigned seen_singletons_ = 0;  // bit i: kSingletonFields[i] was sent
  std::string_view repeated_field_;
  int host_fields_ = 0;
  bool bad_host_ = false;
  bool has_transfer_encoding_ = false;
  bool other_transfer_coding_ = false;
  bool expect_continue_ = false;
};

// ---------------------------------------------------------------------------
// Shared state.

class ConnectionBase;

// One event loop and its thread. Connections keep their worker alive (a socket
// must not outlive its io_context), so a Responder kept by a handler after the
// listener is gone stays harmless.
struct Worker {
  net::io_context ioc{1};  // one thread: no locking inside the loop
  // Made with the worker, not with its first connection: the event loop's own
  // descriptors (epoll, its timers and wake-up), so that a server out of
  // descriptors later refuses connections rather than breaking its loop.
  net::steady_timer loop_descriptors{ioc};
  std::mutex mu;
  bool closed = false;  // guarded by mu: the loop will not run again; drop posts
  std::list<std::weak_ptr<ConnectionBase>> connections;  // guarded by mu
  std::thread thread;
};

struct Shared {
  HttpListener::Options options;
  Handler handler;
  const Clock* clock = nullptr;
  std::optional<ssl::context> tls;
  std::chrono::milliseconds tick{1000};  // how often a connection checks its deadline
  std::atomic<bool> ready{false};
  std::function<bool()> healthy;  // set before Serve, or empty
  std::atomic<bool> stopping{false};
  std::atomic<size_t> open{0};       // connections being served
  std::atomic<size_t> rejecting{0};  // connections over the limit being answered 503
  std::mutex mu;
  std::condition_variable all_closed;
};

class ConnectionBase : public std::enable_shared_from_this<ConnectionBase> {
 public:
  virtual ~ConnectionBase() = default;
  // Each runs on the connection's own worker thread.
  virtual void Start() = 0;
  virtual void OnStopping() = 0;
  virtual void ForceClose() = 0;
};

// Runs `fn` on every live connection of `worker`; call on the worker's thread.
template <typename Fn>
void ForEachConnection(Worker& worker, Fn fn) {
  std::vector<std::shared_ptr<ConnectionBase>> live;
  {
    std::lock_guard<std::mutex> lock(worker.mu);
    live.reserve(worker.connections.size());
    for (auto& weak : worker.connections) {
      if (auto c = weak.lock()) live.push_back(std::move(c));
    }
  }
  for (auto& c : live) fn(*c);
}

// ---------------------------------------------------------------------------
// One connection: plain TCP or TLS.

template <bool kTls>
class Connection final : public ConnectionBase {
 public:
  using Stream = std::conditional_t<kTls, ssl::stream<tcp::socket>, tcp::socket>;

  Connection(std::shared_ptr<Worker> worker, std::shared_ptr<Shared> shared, tcp::socket socket,
             bool reject)
      : worker_(std::move(worker)),
        shared_(std::move(shared)),
        stream_(MakeStream(std::move(socket))),
        timer_(worker_->ioc),
        buffer_(shared_->options.max_header_bytes + 2 * kReadChunk),
        reject_(reject) {}

  ~Connection() override {
    if (registered_) {
      std::lock_guard<std::mutex> lock(worker_->mu);
      worker_->connections.erase(registry_pos_);
    }
    Uncount();
  }

  void Start() override {
    {
      std::lock_guard<std::mutex> lock(worker_->mu);
      registry_pos_ = worker_->connections.insert(worker_->connections.end(), weak_from_this());
      registered_ = true;
    }
    if (shared_->stopping.load()) return Close();
    error_code ec;
    auto remote = Socket().remote_endpoint(ec);
    if (ec) return Close();  // the peer is already gone
    remote_address_ = remote.address().to_string();
    Socket().set_option(tcp::no_delay(true), ec);
    ArmTimer();
    if constexpr (kTls) {
      state_ = State::kHandshake;
      deadline_ = SteadyClock::now() + shared_->options.request_timeout;
      stream_.async_handshake(ssl::stream_base::server,
                              [self = Self()](const error_code& e) { self->OnHandshake(e); });
    } else {
      AfterHandshake();
    }
  }

  void OnStopping() override {
    if (closed_) return;
    switch (state_) {
      case State::kHandshake:
      case State::kClosing:
        return Close();
      case State::kReading:
        if (!request_started_) return Close();  // idle keep-alive connection
        return;  // a request is arriving: let it finish (bounded by request_timeout)
      case State::kHandling:
      case State::kWriting:
        return;  // its response will carry Connection: close
      case State::kClosed:
        return;
    }
  }

  void ForceClose() override { Close(); }

 private:
  enum class State { kHandshake, kReading, kHandling, kWriting, kClosing, kClosed };

  std::shared_ptr<Connection> Self() {
    return std::static_pointer_cast<Connection>(shared_from_this());
  }

  Stream MakeStream(tcp::socket socket) {
    if constexpr (kTls) {
      return Stream(std::move(socket), *shared_->tls);
    } else {
      return socket;
    }
  }

  tcp::socket& Socket() {
    if constexpr (kTls) {
      return stream_.next_layer();
    } else {
      return stream_;
    }
  }

  // The deadline is checked by a coarse periodic timer, so that a request does
  // not re-arm a timer (and wake the loop) at all.
  void ArmTimer() {
    timer_.expires_after(shared_->tick);
    timer_.async_wait([self = Self()](const error_code& ec) {
      if (ec || self->closed_) return;
      if (SteadyClock::now() >= self->deadline_) {
        Log().debug("http: closing connection from {}: timed out", self->remote_address_);
        return self->Close();
      }
      self->ArmTimer();
    });
  }

  void OnHandshake(const error_code& ec) {
    if (closed_) return;
    if (ec) {
      if (ec.category() == net::error::get_ssl_category() &&
          ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == SSL_R_HTTP_REQUEST) {
        return RefusePlaintext();
      }
      Log().debug("http: TLS handshake with {} failed: {}", remote_address_, ec.message());
      return Close();
    }
    AfterHandshake();
  }

  // A plain HTTP request on the TLS port: say so in plain HTTP, as the client
  // cannot read anything else, then close.
  void RefusePlaintext() {
    static constexpr std::string_view kBody =
        "This port speaks HTTPS (TLS): the request was sent as plain HTTP.\n";
    head_.clear();
    head_.append("HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n");
    head_.append("Date: ");
    head_.append(HttpDate(*shared_->clock));
    head_.append("\r\nContent-Length: ");
    AppendNumber(head_, kBody.size());
    head_.append("\r\nConnection: close\r\n\r\n");
    head_.append(kBody);
    state_ = State::kWriting;
    deadline_ = SteadyClock::now() + shared_->options.request_timeout;
    net::async_write(Socket(), net::buffer(head_), [self = Self()](const error_code& e, size_t) {
      if (self->closed_) return;
      if (e) return self->Close();
      self->LingerThenClose();
    });
  }

  void AfterHandshake() {
    if (reject_) {
      Log().warn("http: refusing a connection from {}: {} connections open (max_connections)",
                 remote_address_, shared_->options.max_connections);
      return SendError(503, "too many connections: the server is at its limit of " +
                                std::to_string(shared_->options.max_connections) +
                                " open connections; try again later");
    }
    ReadNext();
  }

  // Begins the next request on this connection.
  void ReadNext() {
    if (shared_->stopping.load()) return GracefulClose();
    request_.method.clear();
    request_.target.clear();
    request_.headers.clear();
    request_.headers.reserve(16);
    request_.body.clear();
    parser_.emplace(request_, shared_->options.max_header_bytes, shared_->options.max_body_bytes);
    request_started_ = false;
    continue_sent_ = false;
    head_bytes_ = 0;
    state_ = State::kReading;
    Parse();
  }

  // Parses what is buffered (a pipelined request may be there already), then
  // reads more when the request is not complete.
  void Parse() {
    if (!request_started_ && buffer_.size() > 0) {
      request_started_ = true;
      request_deadline_ = SteadyClock::now() + shared_->options.request_timeout;
    }
    while (buffer_.size() > 0) {
      // Beast applies header_limit to the head bytes of one put, and consumes
      // the whole fields of an unfinished head: those count too. The head ends at
      // the first empty line of what is left of it (or is unfinished).
      const bool in_head = !parser_->is_header_done();
      if (in_head) {
        const std::string_view pending(static_cast<const char*>(buffer_.data().data()),
                                       buffer_.size());
        size_t head = pending.size();  // unfinished: all of it is head
        if (head_bytes_ > 0 && pending.starts_with("\r\n")) {
          // What the parser consumed ends with a field's CRLF: this is the empty line.
          head = 2;
        } else if (const size_t end = pending.find("\r\n\r\n"); end != std::string_view::npos) {
          head = end + 4;
        }
        if (head_bytes_ + head > shared_->options.max_header_bytes) {
          return OnParseError(http::error::header_limit);
        }
      }
      error_code ec;
      size_t n = parser_->put(buffer_.data(), ec);
      if (in_head && !parser_->is_header_done()) head_bytes_ += n;
      buffer_.consume(n);
      if (ec == http::error::need_more) break;
      if (ec) return OnParseError(ec);
      if (parser_->is_done()) return Dispatch();
      if (n == 0) break;
    }
    // RFC 9110 §10.1.1: a client that sent Expect: 100-continue waits for it.
    if (parser_->is_header_done() && parser_->expect_continue() && !continue_sent_ &&
        parser_->version() >= 11) {
      continue_sent_ = true;
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      state_ = State::kWriting;
      deadline_ = request_deadline_;
      net::async_write(stream_, net::buffer(kContinue.data(), kContinue.size()),
                       [self = Self()](const error_code& e, size_t) {
                         if (self->closed_) return;
                         if (e) return self->Close();
                         self->state_ = State::kReading;
                         self->ReadMore();
                       });
      return;
    }
    ReadMore();
  }

  void ReadMore() {
    deadline_ =
        request_started_ ? request_deadline_ : SteadyClock::now() + shared_->options.idle_timeout;
    size_t room = buffer_.max_size() - buffer_.size();
    if (room == 0) {
      return SendError(431, "request header fields too large: the limit is " +
                                std::to_string(shared_->options.max_header_bytes) + " bytes");
    }
    stream_.async_read_some(
        buffer_.prepare(std::min(kReadChunk, room)),
        [self = Self()](const error_code& ec, size_t n) { self->OnRead(ec, n); });
  }

  void OnRead(const error_code& ec, size_t n) {
    if (closed_) return;
    if (ec) {
      if (request_started_ && ec != net::error::eof && ec != ssl::error::stream_truncated) {
        Log().debug("http: read from {} failed: {}", remote_address_, ec.message());
      }
      return Close();  // the peer closed (or broke) the connection
    }
    buffer_.commit(n);
    Parse();
  }

  void OnParseError(const error_code& ec) {
    if (ec == http::error::header_limit) {
      return SendError(431, "request header fields too large: the limit is " +
                                std::to_string(shared_->options.max_header_bytes) + " bytes");
    }
    if (ec == http::error::body_limit) {
      return SendError(413, "request body too large: the limit is " +
                                std::to_string(shared_->options.max_body_bytes) + " bytes");
    }
    if (ec == http::error::bad_version && RequestLineHasAVersion()) {
      // RFC 9110 §15.6.6: a well-formed version other than HTTP/1.0 and HTTP/1.1.
      return SendError(505, "HTTP version not supported: coffer speaks HTTP/1.1 and HTTP/1.0");
    }
    return SendError(400, "malformed HTTP request: " + ec.message());
  }

  // Whether the request line still buffered ends in HTTP-version's grammar
  // (RFC 9112 §2.3: "HTTP/" DIGIT "." DIGIT).
  bool RequestLineHasAVersion() const {
    const std::string_view pending(static_cast<const char*>(buffer_.data().data()), buffer_.size());
    const size_t end = pending.find("\r\n");
    if (end == std::string_view::npos) return false;
    const std::string_view line = pending.substr(0, end);
    if (line.size() < 9) return false;
    const std::string_view v = line.substr(line.size() - 8);
    return v.starts_with("HTTP/") && std::isdigit(static_cast<unsigned char>(v[5])) &&
           v[6] == '.' && std::isdigit(static_cast<unsigned char>(v[7])) &&
           line[line.size() - 9] == ' ';
  }

  void Dispatch() {
    state_ = State::kHandling;
    deadline_ = SteadyClock::time_point::max();  // the handler's time is its own
    keep_alive_ = parser_->keep_alive();
    version_ = parser_->version();
    head_request_ = request_.method == "HEAD";
    // RFC 9112 §3.2: a server MUST respond 400 to an HTTP/1.1 request without Host.
    if (version_ >= 11 && !parser_->has_host()) {
      return SendError(400, "malformed HTTP request: HTTP/1.1 request without a Host header");
    }
    if (parser_->bad_host()) {
      return SendError(400,
                       "malformed HTTP request: more than one Host header, or one that is "
                       "not host[:port]");
    }
    if (!parser_->repeated_field().empty()) {
      return SendError(400, "malformed HTTP request: more than one " +
                                std::string(parser_->repeated_field()) + " header");
    }
    if (parser_->other_transfer_coding()) {
      return SendError(501, "transfer coding not implemented: coffer accepts only chunked");
    }
    // HEAD too, as load balancers probe: the same answer without its body.
    if ((request_.method == "GET" || head_request_) && request_.Path() == "/health") {
      return AnswerHealth();
    }
    request_.remote_address = remote_address_;
    request_.secure_transport = kTls;
    if constexpr (kTls) {
      SSL* ssl = stream_.native_handle();
      if (const char* version = SSL_get_version(ssl)) request_.tls_version = version;
      if (const SSL_CIPHER* cipher = SSL_get_current_cipher(ssl)) {
        // CloudTrail's tlsDetails.cipherSuite: OpenSSL's names ("ECDHE-RSA-AES128-GCM-SHA256"
        // for TLS 1.2; TLS 1.3 suites are named alike in both styles).
        if (const char* name = SSL_CIPHER_get_name(cipher)) request_.tls_cipher_suite = name;
      }
    }
    uint64_t seq = ++seq_;
    try {
      shared_->handler(std::move(request_), [self = Self(), seq](HttpResponse response) {
        self->Respond(seq, std::move(response));
      });
    } catch (const std::exception& e) {
      Log().error("http: the request handler threw: {}", e.what());
      if (!closed_ && state_ == State::kHandling && seq == seq_) {
        keep_alive_ = false;
        WriteResponse(TextResponse(500, "internal error"));
      }
    }
    // Nothing after the handler: it may have answered (and started a write) already.
  }

  void AnswerHealth() {
    HttpResponse r;
    r.headers.push_back({"Content-Type", "application/json"});
    if (shared_->ready.load() && !shared_->stopping.load()) {
      const bool healthy = !shared_->healthy || shared_->healthy();
      r.status = healthy ? 200 : 503;
      r.body = healthy ? R"({"status":"ok"})" : R"({"status":"unavailable"})";
    } else {
      r.status = 503;
      r.body = shared_->stopping.load() ? R"({"status":"stopping"})" : R"({"status":"not ready"})";
    }
    WriteResponse(std::move(r));
  }

  // Any thread. The response goes to the connection's own thread.
  void Respond(uint64_t seq, HttpResponse response) {
    if (worker_->ioc.get_executor().running_in_this_thread()) {
      return OnResponse(seq, std::move(response));
    }
    std::lock_guard<std::mutex> lock(worker_->mu);
    if (worker_->closed) return;  // the listener has stopped
    net::post(worker_->ioc, [self = Self(), seq, r = std::move(response)]() mutable {
      self->OnResponse(seq, std::move(r));
    });
  }

  void OnResponse(uint64_t seq, HttpResponse response) {
    if (closed_) return;  // closed meanwhile (timeout, stop): nobody to answer
    if (state_ != State::kHandling || seq != seq_) {
      Log().error("http: a Responder was called more than once; the extra response is dropped");
      return;
    }
    if (auto c = response.Header("Connection"); c && HeaderNameEquals(*c, "close")) {
      keep_alive_ = false;
    }
    WriteResponse(std::move(response));
  }

  void SendError(int status, std::string message) {
    keep_alive_ = false;
    if (state_ == State::kReading) version_ = parser_ ? parser_->version() : 11;
    head_request_ = false;
    Log().debug("http: {} to {}: {}", status, remote_address_, message);
    WriteResponse(TextResponse(status, std::move(message)));
  }

  void WriteResponse(HttpResponse response) {
    if (shared_->stopping.load()) keep_alive_ = false;
    response_ = std::move(response);
    SerializeHead(response_, keep_alive_, version_, *shared_->clock, head_);
    state_ = State::kWriting;
    deadline_ = SteadyClock::now() + shared_->options.request_timeout;
    bool send_body = !head_request_ && StatusAllowsBody(response_.status);
    auto done = [self = Self()](const error_code& ec, size_t) { self->OnWritten(ec); };
    if (!send_body || response_.body.empty()) {
      net::async_write(stream_, net::buffer(head_), std::move(done));
    } else if (response_.body.size() <= kInlineBodyBytes) {
      head_.append(response_.body);
      net::async_write(stream_, net::buffer(head_), std::move(done));
    } else {
      std::array<net::const_buffer, 2> buffers = {net::buffer(head_), net::buffer(response_.body)};
      net::async_write(stream_, buffers, std::move(done));
    }
  }

  void OnWritten(const error_code& ec) {
    if (closed_) return;
    response_.body = std::string();  // do not hold a large body while idle
    response_.headers.clear();
    if (ec) return Close();
    if (keep_alive_) return ReadNext();
    GracefulClose();
  }

  // Closes after a final response: TLS close_notify, or a TCP half-close and a
  // short drain of what the client still sends.
  void GracefulClose() {
    state_ = State::kClosing;
    deadline_ = SteadyClock::now() + std::min(kLingerTime, shared_->options.request_timeout);
    if (shared_->stopping.load()) return Close();
    if constexpr (kTls) {
      stream_.async_shutdown([self = Self()](const error_code&) { self->Close(); });
    } else {
      LingerThenClose();
    }
  }

  void LingerThenClose() {
    state_ = State::kClosing;
    deadline_ = SteadyClock::now() + std::min(kLingerTime, shared_->options.request_timeout);
    error_code ec;
    Socket().shutdown(tcp::socket::shutdown_send, ec);
    if (ec) return Close();
    lingered_ = 0;
    Drain();
  }

  void Drain() {
    buffer_.clear();
    Socket().async_read_some(buffer_.prepare(kReadChunk),
                             [self = Self()](const error_code& ec, size_t n) {
                               if (self->closed_) return;
                               self->lingered_ += n;
                               if (ec || self->lingered_ >= kLingerBytes) return self->Close();
                               self->Drain();
                             });
  }

  void Close() {
    if (closed_) return;
    closed_ = true;
    state_ = State::kClosed;
    timer_.cancel();
    error_code ec;
    Socket().close(ec);
    Uncount();
  }

  // A connection counts against the limits (and keeps Stop() waiting) from its
  // accept until its socket is closed, even if a Responder keeps the object.
  void Uncount() {
    if (!counted_) return;
    counted_ = false;
    size_t left = reject_ ? shared_->rejecting.fetch_sub(1) - 1 + shared_->open.load()
                          : shared_->open.fetch_sub(1) - 1 + shared_->rejecting.load();
    if (left == 0 && shared_->stopping.load()) {
      std::lock_guard<std::mutex> lock(shared_->mu);
      shared_->all_closed.notify_all();
    }
  }

  // Declared first, destroyed last: the socket and timer need the worker's io_context.
  std::shared_ptr<Worker> worker_;
  std::shared_ptr<Shared> shared_;
  Stream stream_;
  net::steady_timer timer_;
  beast::flat_buffer buffer_;
  std::optional<RequestParser> parser_;
  HttpRequest request_;
  HttpResponse response_;
  std::string head_;
  std::string remote_address_;
  std::list<std::weak_ptr<ConnectionBase>>::iterator registry_pos_;
  bool registered_ = false;

  State state_ = State::kHandshake;
  SteadyClock::time_point deadline_ = SteadyClock::time_point::max();
  SteadyClock::time_point request_deadline_ = SteadyClock::time_point::max();
  uint64_t seq_ = 0;  // numbers the requests handed to the handler
  size_t lingered_ = 0;
  int version_ = 11;
  bool reject_;
  bool request_started_ = false;
  bool continue_sent_ = false;
  size_t head_bytes_ = 0;  // of the request's head, consumed by the parser so far
  bool keep_alive_ = false;
  bool head_request_ = false;
  bool closed_ = false;
  bool counted_ = true;  // counted in shared_->open or shared_->rejecting
};

Result<tcp::endpoint> ResolveListenEndpoint(const std::string& host, uint16_t port) {
  std::string literal = host == "localhost" ? "127.0.0.1" : host;
  if (literal.size() >= 2 && literal.front() == '[' && literal.back() == ']') {
    literal = literal.substr(1, literal.size() - 2);
  }
  error_code ec;
  auto address = net::ip::make_address(literal, ec);
  if (ec) {
    return InvalidArgumentError("listen host '" + host +
                                "' is not an IPv4 or IPv6 address (or 'localhost')");
  }
  return tcp::endpoint(address, port);
}

// Reads a small file fully, for a clear errno message before OpenSSL's.
Status CheckReadable(const std::string& what, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return FailedPreconditionError("cannot read the TLS " + what + " '" + path +
                                   "': " + std::strerror(errno));
  }
  return Status::Ok();
}

std::string SslErrorText(const error_code& ec) {
  std::string text = ec.message();
  return text.empty() ? "unknown OpenSSL error" : text;
}

Status LoadTls(const HttpListener::TlsFiles& files, std::optional<ssl::context>& out) {
  if (files.certificate_chain_file.empty() || files.private_key_file.empty()) {
    return InvalidArgumentError("TLS needs both a certificate chain file and a private key file");
  }
  RETURN_IF_ERROR(CheckReadable("certificate chain file", files.certificate_chain_file));
  RETURN_IF_ERROR(CheckReadable("private key file", files.private_key_file));
  out.emplace(ssl::context::tls_server);
  ssl::context& ctx = *out;
  ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                  ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                  ssl::context::single_dh_use | ssl::context::no_compression);
  SSL_CTX* native = ctx.native_handle();
  if (SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION) != 1) {
    return InternalError("cannot require TLS 1.2 or newer");
  }
  // TLS 1.2: forward-secret AEAD suites only (TLS 1.3 suites are all AEAD).
  if (SSL_CTX_set_cipher_list(native, "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:!aNULL") != 1) {
    return InternalError("cannot set the TLS 1.2 cipher list");
  }
  // An encrypted key would make OpenSSL prompt on the terminal: refuse it instead.
  ctx.set_password_callback(
      [](std::size_t, ssl::context::password_purpose) { return std::string(); });
  error_code ec;
  ctx.use_certificate_chain_file(files.certificate_chain_file, ec);
  if (ec) {
    out.reset();
    return FailedPreconditionError("cannot load the TLS certificate chain file '" +
                                   files.certificate_chain_file + "': " + SslErrorText(ec));
  }
  ctx.use_private_key_file(files.private_key_file, ssl::context::pem, ec);
  if (ec && ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == X509_R_KEY_VALUES_MISMATCH) {
    out.reset();
    return FailedPreconditionError("the TLS private key '" + files.private_key_file +
                                   "' does not match the certificate in '" +
                                   files.certificate_chain_file + "'");
  }
  if (ec) {
    out.reset();
    return FailedPreconditionError("cannot load the TLS private key file '" +
                                   files.private_key_file +
                                   "' (it must be an unencrypted PEM key): " + SslErrorText(ec));
  }
  if (SSL_CTX_check_private_key(native) != 1) {
    ERR_clear_error();
    out.reset();
    return FailedPreconditionError("the TLS private key '" + files.private_key_file +
                                   "' does not match the certificate in '" +
                                   files.certificate_chain_file + "'");
  }
  return Status::Ok();
}

Status ValidateOptions(const HttpListener::Options& o) {
  if (o.io_threads < 1 || o.io_threads > 256) {
    return InvalidArgumentError("io_threads must be between 1 and 256, not " +
                                std::to_string(o.io_threads));
  }
  if (o.max_header_bytes < 1024 || o.max_header_bytes > 1024 * 1024) {
    return InvalidArgumentError("max_header_bytes must be between 1024 and 1048576");
  }
  if (o.max_body_bytes < 1 || o.max_body_bytes > (size_t{1} << 32)) {
    return InvalidArgumentError("max_body_bytes must be between 1 and 4294967296");
  }
  if (o.max_connections < 1) return InvalidArgumentError("max_connections must be at least 1");
  if (o.idle_timeout.count() <= 0 || o.request_timeout.count() <= 0 ||
      o.shutdown_timeout.count() < 0) {
    return InvalidArgumentError(
        "idle_timeout and request_timeout must be positive, shutdown_timeout not negative");
  }
  return Status::Ok();
}

}  // namespace

// ---------------------------------------------------------------------------

class HttpListener::Impl {
 public:
  Impl(std::shared_ptr<Shared> shared, std::vector<std::shared_ptr<Worker>> workers)
      : shared_(std::move(shared)),
        workers_(std::move(workers)),
        acceptor_(workers_[0]->ioc),
        retry_timer_(workers_[0]->ioc) {}

  ~Impl() { Stop(); }

  Status Listen(const tcp::endpoint& endpoint) {
    error_code ec;
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
    if (ec) {
      return FailedPreconditionError("cannot listen on " + FormatEndpoint(endpoint) + ": " +
                                     ec.message());
    }
    port_ = acceptor_.local_endpoint(ec).port();
    if (ec) return InternalError("cannot read the bound port: " + ec.message());
    return Status::Ok();
  }

  Status Serve(Handler handler) {
    std::lock_guard<std::mutex> stop_lock(stop_mu_);
    if (stopped_ || serving_) return FailedPreconditionError("HttpListener::Serve: called twice");
    serving_ = true;
    shared_->handler = std::move(handler);
    Run();
    error_code ec;
    Log().info("http: listening on {}{}", FormatEndpoint(acceptor_.local_endpoint(ec)),
               shared_->tls ? " (TLS)" : "");
    return Status::Ok();
  }

  void Run() {
    for (auto& w : workers_) {
      guards_.emplace_back(net::make_work_guard(w->ioc));
      w->thread = std::thread([w = w.get()] {
        SetCurrentThreadName("coffer-http");
        for (;;) {
          try {
            w->ioc.run();
            return;
          } catch (const std::exception& e) {
            Log().error("http: an I/O thread caught an exception: {}", e.what());
          }
        }
      });
    }
    net::post(workers_[0]->ioc, [this] { DoAccept(); });
  }

  uint16_t port() const { return port_; }
  bool secure() const { return shared_->tls.has_value(); }
  void SetReady(bool ready) { shared_->ready.store(ready); }
  void SetHealthCheck(std::function<bool()> healthy) { shared_->healthy = std::move(healthy); }

  void Stop() {
    std::lock_guard<std::mutex> stop_lock(stop_mu_);
    if (stopped_) return;
    stopped_ = true;
    shared_->ready.store(false);
    shared_->stopping.store(true);
    net::post(workers_[0]->ioc, [this] {
      error_code ec;
      acceptor_.close(ec);
      retry_timer_.cancel();
    });
    // Close idle connections; the others finish their request and close.
    for (auto& w : workers_) {
      net::post(w->ioc, [w = w.get()] {
        ForEachConnection(*w, [](ConnectionBase& c) { c.OnStopping(); });
      });
    }
    {
      std::unique_lock<std::mutex> lock(shared_->mu);
      shared_->all_closed.wait_for(lock, shared_->options.shutdown_timeout, [&] {
        return shared_->open.load() + shared_->rejecting.load() == 0;
      });
    }
    size_t left = shared_->open.load();
    if (left > 0) {
      Log().warn("http: stopping: closing {} connection(s) still busy after {} ms", left,
                 shared_->options.shutdown_timeout.count());
    }
    for (auto& w : workers_) {
      net::post(w->ioc, [w = w.get()] {
        ForEachConnection(*w, [](ConnectionBase& c) { c.ForceClose(); });
      });
    }
    for (auto& g : guards_) g.reset();
    for (auto& w : workers_) w->ioc.stop();
    for (auto& w : workers_) {
      if (w->thread.joinable()) w->thread.join();
    }
    // The loops will not run again: late Responders become no-ops. Run what is
    // left (the close sweep, aborted operations) here, so that no queued handler
    // keeps a connection alive.
    for (auto& w : workers_) {
      {
        std::lock_guard<std::mutex> lock(w->mu);
        w->closed = true;
      }
      w->ioc.restart();
      ForEachConnection(*w, [](ConnectionBase& c) { c.ForceClose(); });
      while (w->ioc.poll() > 0) {
      }
    }
    error_code ec;
    acceptor_.close(ec);
  }

 private:
  void DoAccept() {
    Worker& target = *workers_[next_worker_];
    next_worker_ = (next_worker_ + 1) % workers_.size();
    acceptor_.async_accept(target.ioc, [this, &target](const error_code& ec, tcp::socket s) {
      OnAccept(ec, std::move(s), target);
    });
  }

  void OnAccept(const error_code& ec, tcp::socket socket, Worker& target) {
    if (shared_->stopping.load() || ec == net::error::operation_aborted) return;
    if (ec) {
      // Out of descriptors or memory: wait a little rather than spin, and say so
      // once in a while rather than at every retry.
      ++accept_failures_;
      if (const auto now = SteadyClock::now(); now >= next_accept_warning_) {
        Log().warn("http: accept failed: {} ({} times since the last such warning)", ec.message(),
                   accept_failures_);
        accept_failures_ = 0;
        next_accept_warning_ = now + std::chrono::seconds(10);
      }
      retry_timer_.expires_after(std::chrono::milliseconds(50));
      retry_timer_.async_wait([this](const error_code& e) {
        if (!e && !shared_->stopping.load()) DoAccept();
      });
      return;
    }
    bool reject = false;
    if (shared_->open.load() >= shared_->options.max_connections) {
      if (shared_->rejecting.load() >= kMaxRejecting) {
        error_code ignored;
        socket.close(ignored);
        return DoAccept();
      }
      reject = true;
      shared_->rejecting.fetch_add(1);
    } else {
      shared_->open.fetch_add(1);
    }
    std::shared_ptr<Worker> worker;
    for (auto& w : workers_) {
      if (w.get() == &target) worker = w;
    }
    std::shared_ptr<ConnectionBase> conn;
    if (shared_->tls) {
      conn =
          std::make_shared<Connection<true>>(std::move(worker), shared_, std::move(socket), reject);
    } else {
      conn = std::make_shared<Connection<false>>(std::move(worker), shared_, std::move(socket),
                                                 reject);
    }
    net::post(target.ioc, [conn = std::move(conn)] { conn->Start(); });
    DoAccept();
  }

  uint64_t accept_failures_ = 0;
  SteadyClock::time_point next_accept_warning_{};
  std::shared_ptr<Shared> shared_;
  std::vector<std::shared_ptr<Worker>> workers_;  // before acceptor_: destroyed after it
  std::vector<net::executor_work_guard<net::io_context::executor_type>> guards_;
  tcp::acceptor acceptor_;
  net::steady_timer retry_timer_;
  size_t next_worker_ = 0;
  uint16_t port_ = 0;
  std::mutex stop_mu_;
  bool stopped_ = false;
  bool serving_ = false;
};

Result<std::unique_ptr<HttpListener>> HttpListener::Start(Options options, Handler handler) {
  if (!handler) return InvalidArgumentError("HttpListener needs a handler");
  ASSIGN_OR_RETURN(std::unique_ptr<HttpListener> listener, Bind(std::move(options)));
  RETURN_IF_ERROR(listener->Serve(std::move(handler)));
  return listener;
}

Result<std::unique_ptr<HttpListener>> HttpListener::Bind(Options options) {
  RETURN_IF_ERROR(ValidateOptions(options));
  ASSIGN_OR_RETURN(tcp::endpoint endpoint, ResolveListenEndpoint(options.host, options.port));

  static const SystemClock kSystemClock;
  auto shared = std::make_shared<Shared>();
  shared->clock = options.clock != nullptr ? options.clock : &kSystemClock;
  if (options.tls) RETURN_IF_ERROR(LoadTls(*options.tls, shared->tls));
  shared->tick = std::clamp(std::min(options.idle_timeout, options.request_timeout) / 8,
                            std::chrono::milliseconds(10), std::chrono::milliseconds(1000));
  shared->options = std::move(options);

  std::vector<std::shared_ptr<Worker>> workers;
  try {
    for (int i = 0; i < shared->options.io_threads; ++i)
      workers.push_back(std::make_shared<Worker>());
  } catch (const boost::system::system_error& e) {
    return Status(StatusCode::kResourceExhausted,
                  "http: cannot set up an I/O thread: " + std::string(e.what()));
  }
  auto impl = std::make_unique<Impl>(shared, std::move(workers));
  RETURN_IF_ERROR(impl->Listen(endpoint));
  return std::unique_ptr<HttpListener>(new HttpListener(std::move(impl)));
}

Status HttpListener::Serve(Handler handler) {
  if (!handler) return InvalidArgumentError("HttpListener needs a handler");
  return impl_->Serve(std::move(handler));
}

HttpListener::HttpListener(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpListener::~HttpListener() { impl_->Stop(); }
uint16_t HttpListener::port() const { return impl_->port(); }
bool HttpListener::secure() const { return impl_->secure(); }
void HttpListener::SetReady(bool ready) { impl_->SetReady(ready); }
void HttpListener::SetHealthCheck(std::function<bool()> healthy) {
  impl_->SetHealthCheck(std::move(healthy));
}
void HttpListener::Stop() { impl_->Stop(); }

}  // namespace coffer::server
