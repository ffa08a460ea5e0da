#include "server/http_listener.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <spdlog/sinks/ostream_sink.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <filesystem>
#include <functional>
#include <future>
#include <mutex>
#include <regex>
#include <sstream>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/logging.h"
#include "server/test_client.h"
#include "testing/files.h"

namespace coffer::server {
namespace {

using ::coffer::testing::RawRequest;
using ::coffer::testing::Response;
using ::coffer::testing::TestClient;
using ::testing::HasSubstr;
using namespace std::chrono_literals;
namespace ssl = boost::asio::ssl;

std::string HeaderOf(const Response& r, std::string_view name) {
  auto it = r.find(boost::beast::string_view(name.data(), name.size()));
  return it == r.end() ? std::string() : std::string(it->value());
}

// Answers "METHOD TARGET BODY" with the peer's address and transport in headers.
void Echo(net::HttpRequest req, net::Responder respond) {
  net::HttpResponse r;
  r.status = 200;
  r.SetHeader("Content-Type", "text/plain");
  r.SetHeader("X-Remote-Address", req.remote_address);
  r.SetHeader("X-Secure-Transport", req.secure_transport ? "1" : "0");
  r.body = req.method + " " + req.target + " " + req.body;
  respond(std::move(r));
}

HttpListener::Options TestOptions() {
  HttpListener::Options o;
  o.host = "127.0.0.1";
  o.port = 0;
  o.io_threads = 2;
  return o;
}

std::unique_ptr<HttpListener> MustStart(HttpListener::Options o, net::Handler h) {
  auto l = HttpListener::Start(std::move(o), std::move(h));
  EXPECT_TRUE(l.ok()) << l.status().ToString();
  if (!l.ok()) return nullptr;
  return std::move(l).value();
}

// Sends `request` on a connection of its own and expects the listener to answer
// `status` with a body that says `says`, then close the connection.
void ExpectAnsweredAndClosed(uint16_t port, const std::string& request, int status,
                             const std::string& says) {
  TestClient c(port);
  auto reply = c.RoundTrip(request);
  ASSERT_FALSE(reply.ec) << request << ": " << reply.ec.message();
  EXPECT_EQ(reply.response.result_int(), status) << request;
  EXPECT_THAT(std::string(reply.response.body()), HasSubstr(says)) << request;
  EXPECT_TRUE(c.WaitClosed()) << request;
}

// Runs tasks on one thread of its own: a handler that finishes elsewhere.
class AnswerThread {
 public:
  AnswerThread() : thread_([this] { Loop(); }) {}
  ~AnswerThread() {
    {
      std::lock_guard<std::mutex> l(mu_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  void Post(std::function<void()> task) {
    {
      std::lock_guard<std::mutex> l(mu_);
      tasks_.push_back(std::move(task));
    }
    cv_.notify_all();
  }

 private:
  void Loop() {
    for (;;) {
      std::function<void()> task;
      {
        std::unique_lock<std::mutex> l(mu_);
        cv_.wait(l, [&] { return done_ || !tasks_.empty(); });
        if (tasks_.empty()) return;
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
      task();
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  bool done_ = false;
  std::thread thread_;
};

// ---------------------------------------------------------------------------
// Requests and responses.

TEST(HttpListenerTest, ReportsTheEphemeralPortAndServesPlainHttp) {
  auto listener = MustStart(TestOptions(), Echo);
  ASSERT_NE(listener, nullptr);
  EXPECT_NE(listener->port(), 0);
  EXPECT_FALSE(listener->secure());
  TestClient c(listener->port());
  ASSERT_FALSE(c.connect_error()) << c.connect_error().message();
  auto reply = c.RoundTrip(RawRequest("POST", "/a/b?x=1", "hello"));
  ASSERT_FALSE(reply.ec) << reply.ec.message();
  EXPECT_EQ(reply.response.result_int(), 200);
  EXPECT_EQ(reply.response.body(), "POST /a/b?x=1 hello");
  EXPECT_EQ(HeaderOf(reply.response, "X-Remote-Address"), "127.0.0.1");
  EXPECT_EQ(HeaderOf(reply.response, "X-Secure-Transport"), "0");
  EXPECT_EQ(HeaderOf(reply.response, "Content-Length"), "19");
  EXPECT_TRUE(reply.response.keep_alive());
  EXPECT_TRUE(std::regex_match(HeaderOf(reply.response, "Date"),
                               std::regex("[A-Z][a-z]{2}, [0-9]{2} [A-Z][a-z]{2} [0-9]{4} "
                                          "[0-9]{2}:[0-9]{2}:[0-9]{2} GMT")))
      << HeaderOf(reply.response, "Date");
}

TEST(HttpListenerTest, BindRefusesATakenPortThenServeServesWhatWaited) {
  auto listener = HttpListener::Bind(TestOptions());
  ASSERT_TRUE(listener.ok()) << listener.status().ToString();
  // The address is taken from Bind on: a second Bind of it is refused.
  HttpListener::Options same = TestOptions();
  same.port = (*listener)->port();
  auto taken = HttpListener::Bind(same);
  ASSERT_FALSE(taken.ok());
  EXPECT_THAT(taken.status().message(), ::testing::HasSubstr("cannot listen on"));
  // A client connecting before Serve waits in the backlog and is answered.
  TestClient c((*listener)->port());
  ASSERT_FALSE(c.connect_error()) << c.connect_error().message();
  ASSERT_TRUE((*listener)->Serve(Echo).ok());
  auto reply = c.RoundTrip(RawRequest("POST", "/", "early"));
  ASSERT_FALSE(reply.ec) << reply.ec.message();
  EXPECT_EQ(reply.response.body(), "POST / early");
  EXPECT_FALSE((*listener)->Serve(Echo).ok());  // once
}

TEST(HttpListenerTest, DateHeaderComesFromTheClock) {
  // RFC 9110 §5.6.7's example date.
  FakeClock clock(FromEpochMillis(784111777000));
  auto o = TestOptions();
  o.clock = &clock;
  auto listener = MustStart(o, Echo);
  ASSERT_NE(listener, nullptr);
  TestClient c(listener->port());
  auto reply = c.RoundTrip(RawRequest("GET", "/"));
  ASSERT_FALSE(reply.ec);
  EXPECT_EQ(HeaderOf(reply.response, "Date"), "Sun, 06 Nov 1994 08:49:37 GMT");
}

TEST(HttpListenerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  std::atomic<int> calls{0};
  auto listener = MustStart(TestOptions(), [&](net::HttpRequest req, net::Responder respond) {
    ++calls;
    Echo(std::move(req), std::move(respond));
  });
  ASSERT_NE(listener, nullptr);
  TestClient c(listener->port());
  for (int i = 0; i < 10; ++i) {
    std::string body = "request " + std::to_string(i);
    auto reply = c.RoundTrip(RawRequest("POST", "/", body));
    ASSERT_FALSE(reply.ec) << i << ": " << reply.ec.message();
    EXPECT_EQ(reply.response.result_int(), 200);
    EXPECT_EQ(reply.response.body(), "POST / " + body);
    EXPECT_TRUE(reply.response.keep_alive());
  }
  EXPECT_EQ(calls.load(), 10);
}

TEST(HttpListenerTest, PipelinedRequestsAreAnsweredInOrderOneAtATime) {
  std::atomic<int> in_flight{0};
  std::atomic<int> max_in_flight{0};
  AnswerThread answers;
  auto listener = MustStart(TestOptions(), [&](net::HttpRequest req, net::Responder respond) {
    int now = ++in_flight;
    max_in_flight = std::max(max_in_flight.load(), now);
    answers.Post([&, req = std::move(req), respond = std::move(respond)]() mutable {
      std::this_thread::sleep_for(5ms);
      --in_flight;
      Echo(std::move(req), std::move(respond));
    });
  });
  ASSERT_NE(listener, nullptr);
  TestClient c(listener->port());
  std::string batch;
  for (int i = 0; i < 5; ++i) batch += RawRequest("POST", "/" + std::to_string(i), "b");
  ASSERT_FALSE(c.Write(batch));
  for (int i = 0; i < 5; ++i) {
    auto reply = c.Read();
    ASSERT_FALSE(reply.ec) << reply.ec.message();
    EXPECT_EQ(reply.response.body(), "POST /" + std::to_string(i) + " b");
  }
  EXPECT_EQ(max_in_flight.load(), 1);
}

// The next request arrives while the one before is still being handled: it waits
// until the answer is out, then is served.
TEST(HttpListenerTest, RequestArrivingWhileTheLastIsHandledIsServedNext) {
  AnswerThread answers;
  std::mutex mu;
  std::condition_variable cv;
  int received = 0;
  bool release = false;
  auto listener = MustStart(TestOptions(), [&](net::HttpRequest req, net::Responder respond) {
    {
      std::lock_guard<std::mutex> l(mu);
      ++received;
    }
    cv.notify_all();
    answers.Post([&, req = std::move(req), respond = std::move(respond)]() mutable {
      std::unique_lock<std::mutex> l(mu);
      cv.wait(l, [&] { return release; });
      l.unlock();
      Echo(std::move(req), std::move(respond));
    });
  });
  ASSERT_NE(listener, nullptr);
  TestClient c(listener->port());
  ASSERT_FALSE(c.Write(RawRequest("POST", "/first", "1")));
  {
    std::unique_lock<std::mutex> l(mu);
    ASSERT_TRUE(cv.wait_for(l, 5s, [&] { return received == 1; }));
  }
  ASSERT_FALSE(c.Write(RawRequest("POST", "/second", "2")));
  std::this_thread::sleep_for(50ms);  // the listener has seen it arrive by now
  {
    std::lock_guard<std::mutex> l(mu);
    EXPECT_EQ(received, 1);  // one request at a time
    release = true;
  }
  cv.notify_all();
  for (const char* want : {"POST /first 1", "POST /second 2"}) {
    auto reply = c.Read();
    ASSERT_FALSE(reply.ec) << reply.ec.message();
    EXPECT_EQ(reply.response.body(), want);
  }
}

// A request sent in pieces, with pauses between them, is assembled and answered,
// twice on one connection.
TEST(HttpListenerTest, RequestSentInPiecesIsAssembled) {
  auto listener = MustStart(TestOptions(), Echo);
  ASSERT_NE(listener, nullptr);
  TestClient c(listener->port());
  const std::string request = RawRequest("POST", "/pieces", "abcdef");
  for (int round = 0; round < 2; ++round) {
    for (size_t at = 0; at < request.size(); at += 7) {
      ASSERT_FALSE(c.Write(request.substr(at, 7)));
      std::this_thread::sleep_for(2ms);
    }
    auto reply = c.Read();
    ASSERT_FALSE(reply.ec) << reply.ec.message();
    EXPECT_EQ(reply.response.body(), "POST /pieces abcdef");
  }
}

TEST(HttpListenerTest, HandlerMayAnswerFromAnotherThread) {
  AnswerThread answers;
  std::atomic<bool> other_thread{true};
  auto listener = MustStart(TestOptions(), [&](net::HttpRequest req, net::Responder respond) {
    auto io_thread = std::this_thread::get_id();
    answers.Post([&, io_thread, req = std::move(req), respond = std::move(respond)]() mutable {
      if (std::this_thread::get_id() == io_thread) other_thread = false;
      std::this_thread::sleep_for(10ms);
      Echo(std::move(req), std::move(respond));
    });
  });
  ASSERT_NE(listener, nullptr);
  TestClient c(listener->port());
  for (int i = 0; i < 3; ++i) {
    auto reply = c.RoundTrip(RawRequest("POST", "/later", std::to_string(i)));
    ASSERT_FALSE(reply.ec) << reply.ec.message();
    EXPECT_EQ(reply.response.body(), "POST /later " + std::to_string(i));
  }
  EXPECT_TRUE(other_thread.load());
}

TEST(HttpListenerTest, ManyClientsOnSeveralIoThreads) {
  auto o = TestOptions();
  o.io_threads = 4;
  auto listener = MustStart(o, Echo);
  ASSERT_NE(listener, nullptr);
  std::vector<std::thread> clients;
  std::atomic<int> ok{0};
  for (int t = 0; t < 8; ++t) {
    clients.emplace_back([&, t] {
      TestClient c(listener->port());
      for (int i = 0; i < 50; ++i) {
        std::string body = std::to_string(t) + "-" + std::to_string(i);
        auto reply = c.RoundTrip(RawRequest("POST", "/", body));
        if (!reply.ec && reply.response.body() == "POST / " + body) ++ok;
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(ok.load(), 8 * 50);
}

TEST(HttpListenerTest, ChunkedRequestBodyIsAssembled) {
  auto listener = MustStart(TestOptions(), Echo);
  ASSERT_NE(listener, nullptr);
  TestClient c(listener->port());
  auto reply = c.RoundTrip(
      "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
  ASSERT_FALSE(reply.ec) << reply.ec.message();
  EXPECT_EQ(reply.response.body(), "POST /c hello world");
}

TEST(HttpListenerTest, TrailerFieldsAreNotHeaders) {
  // RFC 9110 §6.5.1: a trailer field must not be merged into the header section,
  // where it could name the operation, sign the request or supply the Host.
  auto listener = MustStart(TestOptions(), [](net::HttpRequest req, net::Responder respond) {
    net::HttpResponse r;
    for (const auto& h : req.headers) r.body += h.name + ";";
    respond(std::move(r));
  });
  ASSERT_NE(listener, nullptr);
  TestClient c(listener->port());
  auto reply = c.RoundTrip(
      "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
      "2\r\n{}\r\n0\r\nX-Amz-Target: TrentService.ListKeys\r\n\r\n");
  ASSERT_FALSE(reply.ec) << reply.ec.message();
  EXPECT_EQ(reply.response.result_int(), 200);
  EXPECT_EQ(reply.response.body(), "Host;Transfer-Encoding;");
  // An HTTP/1.1 request whose only Host is in its trailer has none.
  TestClient other(listener->port());
  reply = other.RoundTrip(
      "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
      "2\r\n{}\r\n0\r\nHost: x\r\n\r\n");
  ASSERT_FALSE(reply.ec) << reply.ec.message();
  EXPECT_EQ(reply.response.result_int(), 400);
  EXPECT_THAT(reply.response.body(), HasSubstr("Host"));
}

TEST(HttpListenerTest, ExpectContinueGets100BeforeTheBody) {
  auto listener = MustStart(TestOptions(), Echo);
  ASSERT_NE(listener, nullptr);
  TestClient c(listener->port());
  ASSERT_FALSE(
      c.Write("POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"));
  auto interim = c.Read();
  ASSERT_FALSE(interim.ec) << interim.ec.message();
  EXPECT_EQ(interim.response.result_int(), 100);
  ASSERT_FALSE(c.Write("body"));
  auto reply = c.Read();
  ASSERT_FALSE(reply.ec) << reply.ec.message();
  EXPECT_EQ(reply.response.body(), "POST /e body");
}

TEST(HttpListenerTest, LargeResponseBody) {
  std::string big(300 * 1024, 'z');
  auto listener = MustStart(TestOptions(), [&](net::HttpRequest, net::Responder respond) {
    net::HttpResponse r;
    r.body = big;
    respond(std::move(r));
  });
  ASSERT_NE(listener, nullptr);
  TestClient c(listener->port());
  for (int i = 0; i < 2; ++i) {
    auto reply = c.RoundTrip(RawRequest("GET", "/big"));
    ASSERT_FALSE(reply.ec) << reply.ec.message();
    EXPECT_EQ(reply.response.body(), big);
  }
}

TEST(HttpListenerTest, ListenerOwnsFramingAndDropsHeadersThatWouldSplitTheResponse) {
  auto listener = MustStart(TestOptions(), [](net::HttpRequest, net::Responder respond) {
    net::HttpResponse r;
    r.status = 201;
    r.SetHeader("Content-Length", "999");
    r.SetHeader("X-Evil", "a\r\nSet-Cookie: stolen=1");
    r.SetHeader("Bad Name", "v");
    r.SetHeader("X-Good", "fine");
    r.body = "abc";
    respond(std::move(r));
  });
  ASSERT_NE(listener, nullptr);
  TestClient c(listener->port());
  auto reply = c.RoundTrip(RawRequest("GET", "/"));
  ASSERT_FALSE(reply.ec) << reply.ec.message();
  EXPECT_EQ(reply.response.result_int(), 201);
  EXPECT_EQ(HeaderOf(reply.response, "Content-Length"), "3");
  EXPECT_EQ(HeaderOf(reply.response, "X-Evil"), "");
  EXPECT_EQ(HeaderOf(reply.response, "Set-Cookie"), "");
  EXPECT_EQ(HeaderOf(reply.response, "X-Good"), "fine");
  EXPECT_EQ(reply.response.body(), "abc");
  // The connection is still in a sane state.
  auto again = c.RoundTrip(RawRequest("GET", "/"));
  ASSERT_FALSE(again.ec);
  EXPECT_EQ(again.response.body(), "abc");
}

TEST(HttpListenerTest, HandlerAskingToCloseClosesTheConnection) {
  auto listener = MustStart(TestOptions(), [](net::HttpRequest, net::Responder respond) {
    net::HttpResponse r;
    r.SetHeader("Connection", "close");
    respond(std::move(r));
  });
  ASSERT_NE(listener, nullptr);
  TestClient c(listener->port());
  auto reply = c.RoundTrip(RawRequest("GET", "/"));
  ASSERT_FALSE(reply.ec);
  EXPECT_FALSE(reply.response.keep_alive());
  EXPECT_TRUE(c.WaitClosed());
}

TEST(HttpListenerTest, Http10WithoutKeepAliveIsClosedAfterTheAnswer) {
  auto listener = MustStart(TestOptions(), Echo);
  ASSERT_NE(listener, nullptr);
  TestClient c(listener->port());
  auto reply = c.RoundTrip("GET /old HTTP/1.0\r\n\r\n");
  ASSERT_FALSE(reply.ec) << reply.ec.message();
  EXPECT_EQ(reply.response.body(), "GET /old ");
  EXPECT_TRUE(c.WaitClosed());
}

TEST(HttpListenerTest, HandlerThatThrowsGets500) {
  auto listener = MustStart(
      TestOptions(), [](net::HttpRequest, net::Responder) { throw std::runtime_error("boom"); });
  ASSERT_NE(listener, nullptr);
  TestClient c(listener->port());
  auto reply = c.RoundTrip(RawRequest("GET", "/"));
  ASSERT_FALSE(reply.ec);
  EXPECT_EQ(reply.response.result_int(), 500);
  EXPECT_TRUE(c.WaitClosed());
}

TEST(HttpListenerTest, SecondCallOfAResponderIsIgnored) {
  auto listener = MustStart(TestOptions(), [](net::HttpRequest, net::Responder respond) {
    net::HttpResponse first;
    first.body = "first";
    net::HttpResponse second;
    second.body = "second";
    respond(std::move(first));
    respond(std::move(second));
  });
  ASSERT_NE(listener, nullptr);
  TestClient c(listener->port());
  for (int i = 0; i < 2; ++i) {
    auto reply = c.RoundTrip(RawRequest("GET", "/"));
    ASSERT_FALSE(reply.ec);
    EXPECT_EQ(reply.response.body(), "first");
  }
}

// ---------------------------------------------------------------------------
// /health

TEST(HttpListenerTest, HealthIs503UntilReadyThen200AndNeverReachesTheHandler) {
  std::atomic<int> calls{0};
  auto listener = MustStart(TestOptions(), [&](net::HttpRequest req, net::Responder respond) {
    ++calls;
    Echo(std::move(req), std::move(respond));
  });
  ASSERT_NE(listener, nullptr);
  TestClient c(listener->port());
  auto before = c.RoundTrip(RawRequest("GET", "/health"));
  ASSERT_FALSE(before.ec);
  EXPECT_EQ(before.response.result_int(), 503);
  EXPECT_TRUE(before.response.keep_alive());

  listener->SetReady(true);
  auto after = c.RoundTrip(RawRequest("GET", "/health"));
  ASSERT_FALSE(after.ec);
  EXPECT_EQ(after.response.result_int(), 200);
  EXPECT_EQ(after.response.body(), R"({"status":"ok"})");
  EXPECT_EQ(HeaderOf(after.response, "Content-Type"), "application/json");

  listener->SetReady(false);
  auto unready = c.RoundTrip(RawRequest("GET", "/health"));
  ASSERT_FALSE(unready.ec);
  EXPECT_EQ(unready.response.result_int(), 503);
  EXPECT_EQ(calls.load(), 0);

  // HEAD, as load balancers probe: the same status and length, no body.
  ASSERT_FALSE(c.Write(RawRequest("HEAD", "/health")));
  auto head = c.Read(/*head_request=*/true);
  ASSERT_FALSE(head.ec) << head.ec.message();
  EXPECT_EQ(head.response.result_int(), 503);
  EXPECT_EQ(HeaderOf(head.response, "Content-Length"),
            std::to_string(std::string_view(R"({"status":"not ready"})").size()));
  EXPECT_EQ(calls.load(), 0);

  // Other methods and paths go to the handler.
  auto post = c.RoundTrip(RawRequest("POST", "/health"));
  ASSERT_FALSE(post.ec);
  EXPECT_EQ(post.response.body(), "POST /health ");
  EXPECT_EQ(calls.load(), 1);
}

TEST(HttpListenerTest, HealthIs503WhileTheHealthCheckFails) {
  auto bound = HttpListener::Bind(TestOptions());
  ASSERT_TRUE(bound.ok()) << bound.status().ToString();
  std::unique_ptr<HttpListener> listener = std::move(bound).value();
  std::atomic<bool> healthy{false};
  listener->SetHealthCheck([&] { return healthy.load(); });
  ASSERT_TRUE(listener->Serve(Echo).ok());
  listener->SetReady(true);
  TestClient c(listener->port());
  auto failing = c.RoundTrip(RawRequest("GET", "/health"));
  ASSERT_FALSE(failing.ec);
  EXPECT_EQ(failing.response.result_int(), 503);
  EXPECT_EQ(failing.response.body(), R"({"status":"unavailable"})");
  healthy = true;
  auto ok = c.RoundTrip(RawRequest("GET", "/health"));
  ASSERT_FALSE(ok.ec);
  EXPECT_EQ(ok.response.result_int(), 200);
  EXPECT_EQ(ok.response.body(), R"({"status":"ok"})");
  // Not ready comes first: the check is not asked then.
  healthy = false;
  listener->SetReady(false);
  auto unready = c.RoundTrip(RawRequest("GET", "/health"));
  ASSERT_FALSE(unready.ec);
  EXPECT_EQ(unready.response.body(), R"({"status":"not ready"})");
}

// ---------------------------------------------------------------------------
// Limits.

TEST(HttpListenerTest, HeaderTooLargeIs431AndCloses) {
  auto o = TestOptions();
  o.max_header_bytes = 2048;
  std::atomic<int> calls{0};
  auto listener = MustStart(o, [&](net::HttpRequest req, net::Responder respond) {
    ++calls;
    Echo(std::move(req), std::move(respond));
  });
  ASSERT_NE(listener, nullptr);
  TestClient c(listener->port());
  auto reply = c.RoundTrip(RawRequest("GET", "/", "", "X-Big: " + std::string(4096, 'a') + "\r\n"));
  ASSERT_FALSE(reply.ec) << reply.ec.message();
  EXPECT_EQ(reply.response.result_int(), 431);
  EXPECT_THAT(reply.response.body(), HasSubstr("2048"));
  EXPECT_FALSE(reply.response.keep_alive());
  EXPECT_TRUE(c.WaitClosed());
  EXPECT_EQ(calls.load(), 0);

  // Just under the limit is fine.
  TestClient ok(listener->port());
  auto small =
      ok.RoundTrip(RawRequest("GET", "/", "", "X-Big: " + std::string(1500, 'a') + "\r\n"));
  ASSERT_FALSE(small.ec);
  EXPECT_EQ(small.response.result_int(), 200);
}

// The limit is on the whole head, request line and fields together, however
// many reads it arrives in and however many fields it is split into.
TEST(HttpListenerTest, HeaderLimitCountsTheWholeHead) {
  auto o = TestOptions();
  o.max_header_bytes = 16384;
  std::atomic<int> calls{0};
  auto listener = MustStart(o, [&](net::HttpRequest req, net::Responder respond) {
    ++calls;
    Echo(std::move(req), std::move(respond));
  });
  ASSERT_NE(listener, nullptr);
  std::string fields;
  for (char c : {'a', 'b', 'c'})
    fields += "X-" + std::string(1, c) + ": " + std::string(6000, c) + "\r\n";
  TestClient many(listener->port());
  auto split = many.RoundTrip(RawRequest("GET", "/", "", fields));
  ASSERT_FALSE(split.ec) << split.ec.message();
  EXPECT_EQ(split.response.result_int(), 431);

  TestClient line(listener->port());
  auto long_line = line.RoundTrip(RawRequest("GET", "/" + std::string(10000, 't'), "",
                                             "X-a: " + std::string(7000, 'a') + "\r\n"));
  ASSERT_FALSE(long_line.ec) << long_line.ec.message();
  EXPECT_EQ(long_line.response.result_int(), 431);
  EXPECT_EQ(calls.load(), 0);

  // A head whose empty line arrives in a later read, with the body after it:
  // the body is not counted as head.
  auto small = TestOptions();
  small.max_header_bytes = 1024;
  auto echo = MustStart(small, Echo);
  ASSERT_NE(echo, nullptr);
  TestClient split_end(echo->port());
  ASSERT_FALSE(split_end.Write("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 4000\r\n"));
  std::this_thread::sleep_for(100ms);  // read and parsed as far as it goes
  ASSERT_FALSE(split_end.Write("\r\n" + std::string(4000, 'b')));
  auto served = split_end.Read();
  ASSERT_FALSE(served.ec) << served.ec.message();
  EXPECT_EQ(served.response.result_int(), 200);

  // Two such fields are well under it.
  TestClient ok(listener->port());
  auto two = ok.RoundTrip(RawRequest("GET", "/", "", fields.substr(0, 2 * 6007)));
  ASSERT_FALSE(two.ec);
  EXPECT_EQ(two.response.result_int(), 200);
}

TEST(HttpListenerTest, BodyTooLargeIs413FromContentLengthBeforeTheBodyIsSent) {
  auto o = TestOptions();
  o.max_body_bytes = 1024;
  std::atomic<int> calls{0};
  auto listener = MustStart(o, [&](net::HttpRequest req, net::Responder respond) {
    ++calls;
    Echo(std::move(req), std::move(respond));
  });
  ASSERT_NE(listener, nullptr);
  TestClient c(listener->port());
  // Only the header: the answer must come without waiting for the body.
  auto reply = c.RoundTrip("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n");
  ASSERT_FALSE(reply.ec) << reply.ec.message();
  EXPECT_EQ(reply.response.result_int(), 413);
  EXPECT_THAT(reply.response.body(), HasSubstr("1024"));
  EXPECT_FALSE(reply.response.keep_alive());
  EXPECT_TRUE(c.WaitClosed());

  // A client that sends the body anyway still reads the 413.
  TestClient eager(listener->port());
  auto sent = eager.RoundTrip(RawRequest("POST", "/", std::string(8000, 'b')));
  ASSERT_FALSE(sent.ec) << sent.ec.message();
  EXPECT_EQ(sent.response.result_int(), 413);

  // Exactly the limit is fine.
  TestClient ok(listener->port());
  auto at_limit = ok.RoundTrip(RawRequest("POST", "/", std::string(1024, 'c')));
  ASSERT_FALSE(at_limit.ec);
  EXPECT_EQ(at_limit.response.result_int(), 200);
  EXPECT_EQ(calls.load(), 1);
}

TEST(HttpListenerTest, ChunkedBodyTooLargeIs413) {
  auto o = TestOptions();
  o.max_body_bytes = 1024;
  auto listener = MustStart(o, Echo);
  ASSERT_NE(listener, nullptr);
  TestClient c(listener->port());
  std::string chunk(800, 'x');
  auto reply = c.RoundTrip(
      "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
      "320\r\n" +
      chunk + "\r\n320\r\n" + chunk + "\r\n0\r\n\r\n");
  ASSERT_FALSE(reply.ec) << reply.ec.message();
  EXPECT_EQ(reply.response.result_int(), 413);
}

TEST(HttpListenerTest, MalformedRequestIs400AndCloses) {
  auto listener = MustStart(TestOptions(), Echo);
  ASSERT_NE(listener, nullptr);
  for (std::string bad : {
           std::string("THIS IS NOT HTTP\r\n\r\n"),
           std::string("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n"),
           std::string("GET / HTTP/1.1\r\nBad Header\r\n\r\n"),
           std::string("GET / HTTP/x.y\r\nHost: x\r\n\r\n"),
           std::string("GET / HTTP/11\r\nHost: x\r\n\r\n"),
           // Request smuggling shapes (RFC 9112 §6.1, §6.3).
           std::string("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                       "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
           std::string("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
                       "Content-Length: 2\r\n\r\nab"),
           std::string("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n"),
       }) {
    ExpectAnsweredAndClosed(listener->port(), bad, 400, "malformed HTTP request");
  }
}

TEST(HttpListenerTest, Http11WithoutHostIs400) {
  auto listener = MustStart(TestOptions(), Echo);
  ASSERT_NE(listener, nullptr);
  TestClient c(listener->port());
  auto reply = c.RoundTrip("GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
  ASSERT_FALSE(reply.ec);
  EXPECT_EQ(reply.response.result_int(), 400);
  EXPECT_THAT(reply.response.body(), HasSubstr("Host"));
}

TEST(HttpListenerTest, TwoHostsOrAHostThatIsNotHostPortIs400) {
  // RFC 9112 §3.2: more than one Host field line, or an invalid value, is a 400.
  auto listener = MustStart(TestOptions(), Echo);
  ASSERT_NE(listener, nullptr);
  for (std::string bad : {
           std::string("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
           std::string("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"),
           std::string("GET / HTTP/1.1\r\nHost: bad host\r\n\r\n"),
           std::string("GET / HTTP/1.1\r\nHost: user@example.com\r\n\r\n"),
           std::string("GET / HTTP/1.1\r\nHost: example.com/path\r\n\r\n"),
           std::string("GET / HTTP/1.1\r\nHost: x:abc\r\n\r\n"),
           std::string("GET / HTTP/1.1\r\nHost: x:80:80\r\n\r\n"),
           std::string("GET / HTTP/1.1\r\nHost: [::1\r\n\r\n"),
           std::string("GET / HTTP/1.1\r\nHost: []\r\n\r\n"),
           std::string("GET / HTTP/1.1\r\nHost: [::1]x\r\n\r\n"),
           std::string("GET / HTTP/1.1\r\nHost: a]b\r\n\r\n"),
       }) {
    ExpectAnsweredAndClosed(listener->port(), bad, 400, "Host");
  }
  // Names, IPv4 and IPv6 literals with ports, and an empty value are hosts.
  for (std::string good :
       {"127.0.0.1:7878", "kms.us-east-1.amazonaws.com", "[::1]:7878", "[::1]", "x:", ""}) {
    TestClient c(listener->port());
    auto reply = c.RoundTrip("GET /x HTTP/1.1\r\nHost: " + good + "\r\n\r\n");
    ASSERT_FALSE(reply.ec) << good << ": " << reply.ec.message();
    EXPECT_EQ(reply.response.result_int(), 200) << good;
  }
}

TEST(HttpListenerTest, ASecondAuthorizationDateTokenOrTargetIs400) {
  // Each names one thing a signed request is authorized by: two leave it to the
  // reader which one counts.
  auto listener = MustStart(TestOptions(), Echo);
  ASSERT_NE(listener, nullptr);
  for (std::string name : {"Authorization", "X-Amz-Date", "X-Amz-Security-Token", "X-Amz-Target"}) {
    std::string lower = name;  // field names are case-insensitive
    std::ranges::transform(lower, lower.begin(), [](unsigned char ch) { return std::tolower(ch); });
    ExpectAnsweredAndClosed(listener->port(),
                            "POST / HTTP/1.1\r\nHost: x\r\n" + name + ": a\r\n" + lower +
                                ": a\r\nContent-Length: 0\r\n\r\n",
                            400, "more than one " + name + " header");
  }
  // One of each is an ordinary request.
  TestClient c(listener->port());
  auto reply = c.RoundTrip(
      "POST / HTTP/1.1\r\nHost: x\r\nAuthorization: a\r\nX-Amz-Date: b\r\n"
      "X-Amz-Security-Token: c\r\nX-Amz-Target: d\r\nContent-Length: 0\r\n\r\n");
  ASSERT_FALSE(reply.ec) << reply.ec.message();
  EXPECT_EQ(reply.response.result_int(), 200);
}

TEST(HttpListenerTest, HttpVersionsOtherThan10And11Are505) {
  auto listener = MustStart(TestOptions(), Echo);
  ASSERT_NE(listener, nullptr);
  for (std::string version : {"HTTP/2.0", "HTTP/1.2", "HTTP/3.0"}) {
    ExpectAnsweredAndClosed(listener->port(), "GET / " + version + "\r\nHost: x\r\n\r\n", 505,
                            "HTTP version not supported");
  }
}

TEST(HttpListenerTest, TransferCodingsOtherThanChunkedAre501) {
  // RFC 9112 §6.1: a coding the server does not understand SHOULD be answered 501.
  auto listener = MustStart(TestOptions(), Echo);
  ASSERT_NE(listener, nullptr);
  ExpectAnsweredAndClosed(listener->port(),
                          "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
                          "3\r\nabc\r\n0\r\n\r\n",
                          501, "only chunked");
}

TEST(HttpListenerTest, TooManyConnectionsAreAnswered503AndClosed) {
  auto o = TestOptions();
  o.max_connections = 2;
  auto listener = MustStart(o, Echo);
  ASSERT_NE(listener, nullptr);
  auto a = std::make_unique<TestClient>(listener->port());
  TestClient b(listener->port());
  ASSERT_FALSE(a->RoundTrip(RawRequest("GET", "/")).ec);
  ASSERT_FALSE(b.RoundTrip(RawRequest("GET", "/")).ec);

  TestClient extra(listener->port());
  ASSERT_FALSE(extra.connect_error());
  auto reply = extra.RoundTrip(RawRequest("GET", "/"));
  ASSERT_FALSE(reply.ec) << reply.ec.message();
  EXPECT_EQ(reply.response.result_int(), 503);
  EXPECT_THAT(reply.response.body(), HasSubstr("too many connections"));
  EXPECT_TRUE(extra.WaitClosed());

  // Once one closes, there is room again.
  a.reset();
  bool served = false;
  for (int i = 0; i < 200 && !served; ++i) {
    TestClient again(listener->port());
    auto r = again.RoundTrip(RawRequest("GET", "/"));
    served = !r.ec && r.response.result_int() == 200;
    if (!served) std::this_thread::sleep_for(10ms);
  }
  EXPECT_TRUE(served);
}

// Out of descriptors, accept() fails at every retry (each 50 ms): the log says so
// once, not at every retry; once descriptors are free again, what waited is served.
TEST(HttpListenerTest, AcceptOutOfDescriptorsWarnsOnceAndRecovers) {
  std::ostringstream logged;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(logged);
  Log().sinks().push_back(sink);  // before any thread logs
  {
    auto listener = MustStart(TestOptions(), Echo);
    ASSERT_NE(listener, nullptr);
    struct rlimit old_limit {};
    ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &old_limit), 0);
    size_t open_fds = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
      ++open_fds;
    }
    // Room for the clients' sockets and nothing more.
    constexpr int kClients = 3;
    struct rlimit low = old_limit;
    low.rlim_cur = open_fds + kClients;
    ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
    std::vector<int> clients;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(listener->port());
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int i = 0; i < kClients; ++i) {
      int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (fd < 0) break;
      clients.push_back(fd);
      EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    }
    std::this_thread::sleep_for(600ms);  // a dozen retries
    ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &old_limit), 0);
    ASSERT_FALSE(clients.empty());
    // Served now: a request on the last connection is answered.
    const std::string request = "GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    ASSERT_EQ(::send(clients.back(), request.data(), request.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(request.size()));
    timeval timeout{5, 0};
    ::setsockopt(clients.back(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    std::string answer(4096, '\0');
    ssize_t n = ::recv(clients.back(), answer.data(), answer.size(), 0);
    ASSERT_GT(n, 0) << std::strerror(errno) << "\n" << logged.str();
    EXPECT_THAT(answer.substr(0, static_cast<size_t>(n)), ::testing::StartsWith("HTTP/1.1 200"));
    for (int fd : clients) ::close(fd);
  }
  Log().sinks().pop_back();
  const std::string text = logged.str();
  size_t warnings = 0;
  for (size_t at = text.find("accept failed"); at != std::string::npos;
       at = text.find("accept failed", at + 1)) {
    ++warnings;
  }
  EXPECT_EQ(warnings, 1u) << text;
  EXPECT_THAT(text, HasSubstr("Too many open files (1 times since the last such warning)"));
}

TEST(HttpListenerTest, IdleKeepAliveConnectionIsClosedAfterIdleTimeout) {
  auto o = TestOptions();
  o.idle_timeout = 150ms;
  auto listener = MustStart(o, Echo);
  ASSERT_NE(listener, nullptr);
  TestClient c(listener->port());
  ASSERT_FALSE(c.RoundTrip(RawRequest("GET", "/")).ec);
  auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(c.WaitClosed(5s));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 100ms);
}

TEST(HttpListenerTest, SlowRequestIsClosedAfterRequestTimeout) {
  auto o = TestOptions();
  o.request_timeout = 150ms;
  auto listener = MustStart(o, Echo);
  ASSERT_NE(listener, nullptr);
  TestClient c(listener->port());
  ASSERT_FALSE(c.Write("GET / HTTP/1.1\r\nHost: x\r\n"));  // never finished
  EXPECT_TRUE(c.WaitClosed(5s));
}

TEST(HttpListenerTest, RejectsBadOptions) {
  auto o = TestOptions();
  o.io_threads = 0;
  EXPECT_EQ(HttpListener::Start(o, Echo).status().code(), StatusCode::kInvalidArgument);
  o = TestOptions();
  o.host = "example.com";
  auto r = HttpListener::Start(o, Echo);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("example.com"));
  EXPECT_EQ(HttpListener::Start(TestOptions(), nullptr).status().code(),
            StatusCode::kInvalidArgument);
}

TEST(HttpListenerTest, PortInUseIsAClearError) {
  auto first = MustStart(TestOptions(), Echo);
  ASSERT_NE(first, nullptr);
  auto o = TestOptions();
  o.port = first->port();
  auto second = HttpListener::Start(o, Echo);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(second.status().message(),
              HasSubstr("cannot listen on 127.0.0.1:" + std::to_string(first->port())));
}

TEST(HttpListenerTest, ListensOnIpv6Loopback) {
  auto o = TestOptions();
  o.host = "::1";
  auto l = HttpListener::Start(o, Echo);
  if (!l.ok()) GTEST_SKIP() << "no IPv6 loopback here: " << l.status().ToString();
  namespace net = boost::asio;
  net::io_context ioc;
  net::ip::tcp::socket s(ioc);
  boost::system::error_code ec;
  s.connect({net::ip::make_address("::1"), (*l)->port()}, ec);
  ASSERT_FALSE(ec) << ec.message();
  std::string req = RawRequest("GET", "/six");
  net::write(s, net::buffer(req), ec);
  ASSERT_FALSE(ec);
  boost::beast::flat_buffer buf;
  Response res;
  boost::beast::http::read(s, buf, res, ec);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(res.body(), "GET /six ");
  EXPECT_EQ(HeaderOf(res, "X-Remote-Address"), "::1");
}

// ---------------------------------------------------------------------------
// Stop.

TEST(HttpListenerTest, StopLetsARequestInFlightFinishAndClosesIdleConnections) {
  std::promise<net::Responder> handler_called;
  auto o = TestOptions();
  o.shutdown_timeout = 10s;
  auto listener = MustStart(o, [&](net::HttpRequest req, net::Responder respond) {
    if (req.target == "/slow") {
      handler_called.set_value(std::move(respond));
      return;
    }
    Echo(std::move(req), std::move(respond));
  });
  ASSERT_NE(listener, nullptr);
  listener->SetReady(true);

  TestClient idle(listener->port());
  ASSERT_FALSE(idle.RoundTrip(RawRequest("GET", "/")).ec);
  TestClient busy(listener->port());
  ASSERT_FALSE(busy.Write(RawRequest("POST", "/slow", "x")));
  net::Responder respond = handler_called.get_future().get();

  auto start = std::chrono::steady_clock::now();
  std::thread stopper([&] { listener->Stop(); });
  // Stop closes the idle keep-alive connection first...
  EXPECT_TRUE(idle.WaitClosed(5s));
  // ...while the slow request is still being handled; now it finishes, on
  // this (non-I/O) thread.
  net::HttpResponse r;
  r.body = "finished";
  respond(std::move(r));
  auto reply = busy.Read();
  ASSERT_FALSE(reply.ec) << reply.ec.message();
  EXPECT_EQ(reply.response.result_int(), 200);
  EXPECT_EQ(reply.response.body(), "finished");
  EXPECT_FALSE(reply.response.keep_alive());  // Connection: close
  stopper.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);  // did not wait for the deadline
  EXPECT_TRUE(busy.WaitClosed(5s));

  // No longer accepting.
  TestClient late(listener->port());
  EXPECT_TRUE(late.connect_error() || late.WaitClosed(2s));
  listener->Stop();  // idempotent
}

TEST(HttpListenerTest, StopClosesRequestsStillBusyAfterTheDeadline) {
  std::mutex mu;
  std::vector<net::Responder> held;
  std::promise<void> called;
  auto o = TestOptions();
  o.shutdown_timeout = 200ms;
  auto listener = MustStart(o, [&](net::HttpRequest, net::Responder respond) {
    std::lock_guard<std::mutex> l(mu);
    held.push_back(std::move(respond));
    called.set_value();
  });
  ASSERT_NE(listener, nullptr);
  TestClient c(listener->port());
  ASSERT_FALSE(c.Write(RawRequest("GET", "/never")));
  called.get_future().wait();
  auto start = std::chrono::steady_clock::now();
  listener->Stop();
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took, 150ms);
  EXPECT_LT(took, 3s);
  EXPECT_TRUE(c.WaitClosed(5s));
  // A Responder used after Stop, and after the listener is gone, is a no-op.
  std::lock_guard<std::mutex> l(mu);
  held[0](net::HttpResponse{});
  listener.reset();
  held[0](net::HttpResponse{});
  held.clear();
}

TEST(HttpListenerTest, HealthAnswers503WhileStopping) {
  std::promise<net::Responder> called;
  auto o = TestOptions();
  o.io_threads = 1;  // one event loop: the round trip below orders the reads
  auto listener = MustStart(
      o, [&](net::HttpRequest, net::Responder respond) { called.set_value(std::move(respond)); });
  ASSERT_NE(listener, nullptr);
  listener->SetReady(true);
  TestClient busy(listener->port());
  ASSERT_FALSE(busy.Write(RawRequest("GET", "/work")));
  auto respond = called.get_future().get();
  // A health check whose request has started arriving before Stop.
  TestClient health(listener->port());
  ASSERT_FALSE(health.Write("GET /health HTTP/1.1\r\n"));
  TestClient idle(listener->port());
  ASSERT_FALSE(idle.RoundTrip(RawRequest("GET", "/health")).ec);
  std::thread stopper([&] { listener->Stop(); });
  EXPECT_TRUE(idle.WaitClosed(5s));  // Stop has begun; the health request is mid-way
  ASSERT_FALSE(health.Write("Host: x\r\n\r\n"));
  auto reply = health.Read();
  respond(net::HttpResponse{});
  stopper.join();
  ASSERT_FALSE(reply.ec) << reply.ec.message();
  EXPECT_EQ(reply.response.result_int(), 503);
  EXPECT_EQ(reply.response.body(), R"({"status":"stopping"})");
}

// ---------------------------------------------------------------------------
// TLS.

struct TlsFiles {
  std::string cert;
  std::string key;
  std::string cert_pem;
};

// A fresh self-signed P-256 certificate for "localhost", valid for an hour.
TlsFiles MakeSelfSignedCertificate(const testing::TempDir& dir, const std::string& name) {
  TlsFiles out{dir.File(name + ".crt"), dir.File(name + ".key"), ""};
  EVP_PKEY* pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  X509* x509 = X509_new();
  X509_set_version(x509, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x509), 1);
  X509_gmtime_adj(X509_getm_notBefore(x509), -60);
  X509_gmtime_adj(X509_getm_notAfter(x509), 3600);
  X509_set_pubkey(x509, pkey);
  X509_NAME* subject = X509_get_subject_name(x509);
  X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
  X509_set_issuer_name(x509, subject);
  X509_sign(x509, pkey, EVP_sha256());
  BIO* cert_bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(cert_bio, x509);
  char* data = nullptr;
  long size = BIO_get_mem_data(cert_bio, &data);
  out.cert_pem.assign(data, static_cast<size_t>(size));
  BIO_free(cert_bio);
  testing::WriteFile(out.cert, out.cert_pem, 0644);
  BIO* key_bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(key_bio, pkey, nullptr, nullptr, 0, nullptr, nullptr);
  size = BIO_get_mem_data(key_bio, &data);
  testing::WriteFile(out.key, std::string_view(data, static_cast<size_t>(size)), 0600);
  BIO_free(key_bio);
  X509_free(x509);
  EVP_PKEY_free(pkey);
  return out;
}

class HttpListenerTlsTest : public ::testing::Test {
 protected:
  void SetUp() override { files_ = MakeSelfSignedCertificate(dir_, "server"); }

  HttpListener::Options TlsOptions() {
    auto o = TestOptions();
    o.tls = HttpListener::TlsFiles{files_.cert, files_.key};
    return o;
  }

  // A client context that trusts exactly the test certificate.
  std::unique_ptr<ssl::context> ClientContext() {
    auto ctx = std::make_unique<ssl::context>(ssl::context::tls_client);
    ctx->add_certificate_authority(boost::asio::buffer(files_.cert_pem));
    ctx->set_verify_mode(ssl::verify_peer);
    return ctx;
  }

  testing::TempDir dir_;
  TlsFiles files_;
};

TEST_F(HttpListenerTlsTest, ServesHttpsWithKeepAlive) {
  auto listener = MustStart(TlsOptions(), Echo);
  ASSERT_NE(listener, nullptr);
  EXPECT_TRUE(listener->secure());
  auto ctx = ClientContext();
  TestClient c(listener->port(), ctx.get());
  ASSERT_FALSE(c.connect_error()) << c.connect_error().message();
  for (int i = 0; i < 3; ++i) {
    auto reply = c.RoundTrip(RawRequest("POST", "/tls", std::to_string(i)));
    ASSERT_FALSE(reply.ec) << reply.ec.message();
    EXPECT_EQ(reply.response.body(), "POST /tls " + std::to_string(i));
    EXPECT_EQ(HeaderOf(reply.response, "X-Secure-Transport"), "1");
  }
  std::string big(64 * 1024, 'q');
  auto reply = c.RoundTrip(RawRequest("POST", "/big", big));
  ASSERT_FALSE(reply.ec) << reply.ec.message();
  EXPECT_EQ(reply.response.body(), "POST /big " + big);
}

TEST_F(HttpListenerTlsTest, PlaintextClientIsRefusedWithAClearAnswer) {
  std::atomic<int> calls{0};
  auto listener = MustStart(TlsOptions(), [&](net::HttpRequest req, net::Responder respond) {
    ++calls;
    Echo(std::move(req), std::move(respond));
  });
  ASSERT_NE(listener, nullptr);
  TestClient plain(listener->port());
  auto reply = plain.RoundTrip(RawRequest("GET", "/"));
  ASSERT_FALSE(reply.ec) << reply.ec.message();
  EXPECT_EQ(reply.response.result_int(), 400);
  EXPECT_THAT(reply.response.body(), HasSubstr("This port speaks HTTPS"));
  EXPECT_TRUE(plain.WaitClosed());
  EXPECT_EQ(calls.load(), 0);
}

TEST_F(HttpListenerTlsTest, RefusesTls11) {
  auto listener = MustStart(TlsOptions(), Echo);
  ASSERT_NE(listener, nullptr);
  auto ctx = ClientContext();
  SSL_CTX_set_security_level(ctx->native_handle(), 0);
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_VERSION);
  SSL_CTX_set_max_proto_version(ctx->native_handle(), TLS1_1_VERSION);
  TestClient old(listener->port(), ctx.get());
  EXPECT_TRUE(old.connect_error());
  // The listener is still fine.
  auto good_ctx = ClientContext();
  TestClient good(listener->port(), good_ctx.get());
  ASSERT_FALSE(good.connect_error()) << good.connect_error().message();
  EXPECT_FALSE(good.RoundTrip(RawRequest("GET", "/")).ec);
}

TEST_F(HttpListenerTlsTest, RefusesToStartWithoutUsableCertificateAndKey) {
  auto o = TlsOptions();
  o.tls->certificate_chain_file = dir_.File("missing.crt");
  auto missing = HttpListener::Start(o, Echo);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(missing.status().message(), HasSubstr("missing.crt"));
  EXPECT_THAT(missing.status().message(), HasSubstr("No such file"));

  testing::WriteFile(dir_.File("garbage.crt"), "not a certificate");
  o = TlsOptions();
  o.tls->certificate_chain_file = dir_.File("garbage.crt");
  auto garbage = HttpListener::Start(o, Echo);
  ASSERT_FALSE(garbage.ok());
  EXPECT_THAT(garbage.status().message(),
              HasSubstr("cannot load the TLS certificate chain file '" + dir_.File("garbage.crt")));

  testing::WriteFile(dir_.File("garbage.key"), "not a key");
  o = TlsOptions();
  o.tls->private_key_file = dir_.File("garbage.key");
  auto bad_key = HttpListener::Start(o, Echo);
  ASSERT_FALSE(bad_key.ok());
  EXPECT_THAT(bad_key.status().message(), HasSubstr("cannot load the TLS private key file"));

  auto other = MakeSelfSignedCertificate(dir_, "other");
  o = TlsOptions();
  o.tls->private_key_file = other.key;
  auto mismatch = HttpListener::Start(o, Echo);
  ASSERT_FALSE(mismatch.ok());
  EXPECT_THAT(mismatch.status().message(), HasSubstr("does not match"));
}

}  // namespace
}  // namespace coffer::server
