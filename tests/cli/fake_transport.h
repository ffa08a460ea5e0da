#pragma once
// An in-memory HttpTransport for client tests: records every request (with the
// endpoint it was sent to) and answers through a handler.
#include <functional>
#include <utility>
#include <vector>

#include "cli/http_client.h"

namespace coffer::testing {

struct SentRequest {
  cli::Endpoint endpoint;
  net::HttpRequest request;
};

class FakeTransport : public cli::HttpTransport {
 public:
  using Handler = std::function<Result<net::HttpResponse>(const net::HttpRequest&)>;

  explicit FakeTransport(Handler handler, std::vector<SentRequest>* sent = nullptr)
      : handler_(std::move(handler)), sent_(sent != nullptr ? sent : &own_) {}

  Result<net::HttpResponse> Send(const cli::Endpoint& endpoint,
                                 const net::HttpRequest& request) override {
    sent_->push_back({endpoint, request});
    return handler_(request);
  }

  const std::vector<SentRequest>& sent() const { return *sent_; }

 private:
  Handler handler_;
  std::vector<SentRequest> own_;
  std::vector<SentRequest>* sent_;
};

}  // namespace coffer::testing
