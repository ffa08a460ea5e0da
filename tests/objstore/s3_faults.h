#pragma once
// Fault injection for the s3 backend, through its transport (S3Environment::
// make_transport): a transport that wraps the real one and fails the first
// attempt of chosen parts of a multipart upload (or of a create-only PutObject,
// or of a completion), with a real fault where there is one:
//   kServerError       answered 500 InternalError without reaching the server;
//   kBrokenConnection  sent to a server that reads a little and resets the
//                      connection: libcurl reports the broken connection;
//   kLostResponse      sent to the real server, its answer dropped (the part
//                      was stored; the retry stores it again);
//   kAlwaysFails       every attempt answered 500: the upload fails.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "net/http_client.h"

namespace coffer::objstore::testing {

// Accepts connections on 127.0.0.1, reads a little of each, then resets it.
class ConnectionDropper {
 public:
  ConnectionDropper() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(fd_, 16) != 0) {
      std::abort();
    }
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~ConnectionDropper() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int dropped() const { return dropped_; }

 private:
  void Serve() {
    while (!stop_) {
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      timeval wait{0, 200000};  // what arrives within 0.2 s
      ::setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof wait);
      char buffer[65536];
      size_t total = 0;
      while (total < 256 * 1024) {
        ssize_t n = ::recv(c, buffer, sizeof buffer, 0);
        if (n <= 0) break;
        total += static_cast<size_t>(n);
      }
      linger reset{1, 0};  // close with RST: a connection broken mid-request
      ::setsockopt(c, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
      ::close(c);
      ++dropped_;
    }
  }
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_ = false;
  std::atomic<int> dropped_ = 0;
  std::thread thread_;
};

enum class Fault { kServerError, kBrokenConnection, kLostResponse, kAlwaysFails };

class FaultPlan {
 public:
  // Fault points besides the part numbers: the PutObject of a create-only write
  // (If-None-Match: *), and CompleteMultipartUpload.
  static constexpr int kCreateOnlyPut = 0;
  static constexpr int kCompletion = -1;

  void Add(int part, Fault fault) { faults_[part] = fault; }
  int injected() const { return injected_; }
  ConnectionDropper& dropper() { return dropper_; }

  // The fault for this attempt of `part`, if any.
  std::optional<Fault> Take(int part) {
    auto it = faults_.find(part);
    if (it == faults_.end()) return std::nullopt;
    std::lock_guard lock(mu_);
    if (it->second != Fault::kAlwaysFails && !fired_.insert(part).second) return std::nullopt;
    ++injected_;
    return it->second;
  }

 private:
  std::map<int, Fault> faults_;  // set before the upload starts
  std::mutex mu_;
  std::set<int> fired_;
  std::atomic<int> injected_ = 0;
  ConnectionDropper dropper_;
};

class FaultyTransport final : public net::HttpTransport {
 public:
  FaultyTransport(std::unique_ptr<net::HttpTransport> inner, FaultPlan& plan)
      : inner_(std::move(inner)), plan_(plan) {}

  Result<net::HttpResponse> Send(const net::Endpoint& endpoint,
                                 const net::HttpRequest& request) override {
    std::string_view query = request.Query();
    std::optional<int> point;
    if (request.method == "PUT" && query.starts_with("partNumber=")) {
      point = std::atoi(std::string(query.substr(11)).c_str());
    } else if (request.method == "PUT" && query.empty() && request.Header("If-None-Match")) {
      point = FaultPlan::kCreateOnlyPut;
    } else if (request.method == "POST" && query.starts_with("uploadId=")) {
      point = FaultPlan::kCompletion;
    }
    if (point) {
      const int part = *point;
      if (std::optional<Fault> fault = plan_.Take(part)) {
        switch (*fault) {
          case Fault::kServerError:
          case Fault::kAlwaysFails:
            return net::HttpResponse{
                500, {}, "<Error><Code>InternalError</Code><Message>injected</Message></Error>"};
          case Fault::kBrokenConnection:
            return inner_->Send(net::Endpoint::Parse(plan_.dropper().url()).value(), request);
          case Fault::kLostResponse: {
            Result<net::HttpResponse> lost = inner_->Send(endpoint, request);
            (void)lost;
            return UnavailableError("injected: the answer to part " + std::to_string(part) +
                                    " was lost");
          }
        }
      }
    }
    return inner_->Send(endpoint, request);
  }

  // A transport factory for S3Environment: the libcurl client wrapped.
  static std::function<Result<std::unique_ptr<net::HttpTransport>>()> Factory(FaultPlan& plan) {
    return [&plan]() -> Result<std::unique_ptr<net::HttpTransport>> {
      net::HttpClientOptions options;
      options.proxy_from_environment = false;
      options.max_response_bytes = 72 << 20;
      ASSIGN_OR_RETURN(std::unique_ptr<net::HttpClient> client, net::HttpClient::Create(options));
      return std::unique_ptr<net::HttpTransport>(
          std::make_unique<FaultyTransport>(std::move(client), plan));
    };
  }

 private:
  std::unique_ptr<net::HttpTransport> inner_;
  FaultPlan& plan_;
};

}  // namespace coffer::objstore::testing
