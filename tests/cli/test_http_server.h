#pragma once
// A minimal HTTP/1.1 server for client tests: listens on 127.0.0.1 (port 0),
// serves connections one at a time on its own thread (keep-alive included),
// records every request exactly as received and answers through a handler.
// Behaviours for transport errors: close without answering, or stall.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "net/http.h"

namespace coffer::testing {

class TestHttpServer {
 public:
  enum class Mode {
    kAnswer,   // answer with the handler
    kClose,    // read the request, close the connection without an answer
    kStall,    // read the request, never answer
    kGarbage,  // on connecting, send bytes that are neither HTTP nor TLS, and close
  };

  TestHttpServer() {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listen_fd_ < 0) std::abort();
    int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) std::abort();
    if (::listen(listen_fd_, 8) != 0) std::abort();
    socklen_t len = sizeof addr;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }

  ~TestHttpServer() {
    stop_ = true;
    thread_.join();
    ::close(listen_fd_);
  }

  TestHttpServer(const TestHttpServer&) = delete;
  TestHttpServer& operator=(const TestHttpServer&) = delete;

  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  void set_mode(Mode mode) { mode_ = mode; }
  void set_handler(std::function<net::HttpResponse(const net::HttpRequest&)> handler) {
    std::lock_guard lock(mu_);
    handler_ = std::move(handler);
  }

  std::vector<net::HttpRequest> requests() const {
    std::lock_guard lock(mu_);
    return requests_;
  }
  int connections() const { return connections_; }

 private:
  // Waits until `fd` is readable or the server stops; false when stopping.
  bool WaitReadable(int fd) {
    while (!stop_) {
      pollfd p{fd, POLLIN, 0};
      int n = ::poll(&p, 1, 20);
      if (n > 0) return true;
    }
    return false;
  }

  void Serve() {
    while (WaitReadable(listen_fd_)) {
      int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      ++connections_;
      ServeConnection(fd);
      ::close(fd);
    }
  }

  void ServeConnection(int fd) {
    if (mode_ == Mode::kGarbage) {
      ::send(fd, "garbage\r\n\r\n", 11, MSG_NOSIGNAL);
      return;
    }
    std::string buffer;
    while (true) {
      net::HttpRequest request;
      if (!ReadRequest(fd, buffer, request)) return;
      {
        std::lock_guard lock(mu_);
        requests_.push_back(request);
      }
      if (mode_ == Mode::kClose) return;
      if (mode_ == Mode::kStall) {
        while (!stop_) ::usleep(10000);
        return;
      }
      net::HttpResponse response;
      {
        std::lock_guard lock(mu_);
        response = handler_ ? handler_(request) : net::HttpResponse{404, {}, "no handler"};
      }
      std::string wire = "HTTP/1.1 " + std::to_string(response.status) + " Status\r\n";
      for (const auto& h : response.headers) wire += h.name + ": " + h.value + "\r\n";
      wire += "Content-Length: " + std::to_string(response.body.size()) + "\r\n\r\n";
      wire += response.body;
      size_t done = 0;
      while (done < wire.size()) {
        ssize_t n = ::send(fd, wire.data() + done, wire.size() - done, MSG_NOSIGNAL);
        if (n <= 0) return;
        done += static_cast<size_t>(n);
      }
    }
  }

  // Reads one request (head, then a Content-Length body); false at the end of
  // the connection or when stopping.
  bool ReadRequest(int fd, std::string& buffer, net::HttpRequest& request) {
    size_t head_end;
    while ((head_end = buffer.find("\r\n\r\n")) == std::string::npos) {
      if (!ReadMore(fd, buffer)) return false;
    }
    std::string head = buffer.substr(0, head_end);
    buffer.erase(0, head_end + 4);
    size_t line_end = head.find("\r\n");
    std::string request_line = head.substr(0, line_end);
    size_t sp1 = request_line.find(' ');
    size_t sp2 = request_line.rfind(' ');
    request.method = request_line.substr(0, sp1);
    request.target = request_line.substr(sp1 + 1, sp2 - sp1 - 1);
    size_t content_length = 0;
    size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
    while (pos < head.size()) {
      size_t end = head.find("\r\n", pos);
      if (end == std::string::npos) end = head.size();
      std::string line = head.substr(pos, end - pos);
      pos = end + 2;
      size_t colon = line.find(':');
      if (colon == std::string::npos) continue;
      std::string value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.erase(0, 1);
      request.headers.push_back({line.substr(0, colon), value});
      if (net::HeaderNameEquals(line.substr(0, colon), "Content-Length")) {
        content_length = std::strtoull(value.c_str(), nullptr, 10);
      }
    }
    while (buffer.size() < content_length) {
      if (!ReadMore(fd, buffer)) return false;
    }
    request.body = buffer.substr(0, content_length);
    buffer.erase(0, content_length);
    request.remote_address = "127.0.0.1";
    return true;
  }

  bool ReadMore(int fd, std::string& buffer) {
    if (!WaitReadable(fd)) return false;
    char chunk[16384];
    ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) return false;
    buffer.append(chunk, static_cast<size_t>(n));
    return true;
  }

  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<Mode> mode_{Mode::kAnswer};
  std::atomic<int> connections_{0};
  mutable std::mutex mu_;
  std::function<net::HttpResponse(const net::HttpRequest&)> handler_;
  std::vector<net::HttpRequest> requests_;
  std::thread thread_;
};

}  // namespace coffer::testing
