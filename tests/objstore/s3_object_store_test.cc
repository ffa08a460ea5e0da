// The s3 backend against a scripted transport: what goes on the wire (signed
// for S3, addressed, encoded), retries with a fake sleeper, multipart failure
// handling. The conformance suite runs it against real S3-compatible servers
// (s3_conformance_test.cc).
#include "objstore/s3_object_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <mutex>

#include "crypto/hash.h"
#include "testing/status_matchers.h"

namespace coffer::objstore {
namespace {

using ::coffer::testing::IsOk;
using ::testing::HasSubstr;

const TimePoint kNow = FromEpochMillis(1796033396000);  // 2026-11-30T10:09:56Z

class RecordingSleeper final : public Sleeper {
 public:
  void SleepFor(Duration d) override {
    std::lock_guard lock(mu);
    waits.push_back(d);
  }
  std::mutex mu;
  std::vector<Duration> waits;
};

// Answers every request through `handler`, recording it. The store makes as many
// transports as it likes; they share this state.
class FakeS3 {
 public:
  using Handler = std::function<Result<net::HttpResponse>(const net::HttpRequest&)>;

  std::function<Result<std::unique_ptr<net::HttpTransport>>()> Factory() {
    return [this]() -> Result<std::unique_ptr<net::HttpTransport>> {
      return std::unique_ptr<net::HttpTransport>(std::make_unique<Transport>(*this));
    };
  }
  void set_handler(Handler h) {
    std::lock_guard lock(mu_);
    handler_ = std::move(h);
  }
  std::vector<net::HttpRequest> requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }
  std::vector<net::Endpoint> endpoints() {
    std::lock_guard lock(mu_);
    return endpoints_;
  }

 private:
  class Transport final : public net::HttpTransport {
   public:
    explicit Transport(FakeS3& s3) : s3_(s3) {}
    Result<net::HttpResponse> Send(const net::Endpoint& endpoint,
                                   const net::HttpRequest& request) override {
      Handler handler;
      {
        std::lock_guard lock(s3_.mu_);
        s3_.requests_.push_back(request);
        s3_.endpoints_.push_back(endpoint);
        handler = s3_.handler_;
      }
      return handler(request);
    }

   private:
    FakeS3& s3_;
  };

  std::mutex mu_;
  Handler handler_ = [](const net::HttpRequest&) -> Result<net::HttpResponse> {
    return net::HttpResponse{200, {}, ""};
  };
  std::vector<net::HttpRequest> requests_;
  std::vector<net::Endpoint> endpoints_;
};

net::HttpResponse Xml(int status, std::string body) {
  return net::HttpResponse{status, {{"Content-Type", "application/xml"}}, std::move(body)};
}
net::HttpResponse ErrorXml(int status, std::string_view code) {
  return Xml(status, "<Error><Code>" + std::string(code) + "</Code><Message>" + std::string(code) +
                         " happened</Message></Error>");
}

class S3ObjectStoreTest : public ::testing::Test {
 protected:
  std::unique_ptr<S3ObjectStore> Make(S3Addressing addressing = S3Addressing::kPath,
                                      std::string session_token = "") {
    S3Options options;
    options.endpoint = "http://s3.example.test:9000";
    options.region = "eu-west-1";
    options.addressing = addressing;
    options.credentials = {"AKIDEXAMPLE", crypto::SecretBytes(std::string_view("secret")),
                           std::move(session_token)};
    options.part_size = kMinPartSize;
    options.parts_in_flight = 2;
    options.read_chunk_size = 64 << 10;
    options.retry = RetryPolicy{3, std::chrono::milliseconds(100), std::chrono::milliseconds(1000)};
    S3Environment env;
    env.make_transport = s3_.Factory();
    env.clock = &clock_;
    env.sleeper = &sleeper_;
    env.random = &random_;
    auto store = S3ObjectStore::Create(std::move(options), std::move(env));
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return std::move(store).value();
  }

  FakeS3 s3_;
  FakeClock clock_{kNow};
  RecordingSleeper sleeper_;
  SeededRandom random_{11};
};

// Verifies a captured request as an S3 server would.
Status VerifyS3Signature(const net::HttpRequest& r, std::string_view region) {
  std::vector<net::sigv4::HeaderField> fields;
  for (const auto& h : r.headers) fields.push_back({h.name, h.value});
  net::sigv4::HttpRequestView view;
  view.method = r.method;
  view.raw_path = r.Path();
  view.raw_query = r.Query();
  view.headers = fields;
  view.body = AsBytes(r.body);
  ASSIGN_OR_RETURN(net::sigv4::ParsedSignature parsed, net::sigv4::ParseSignature(view));
  RETURN_IF_ERROR(net::sigv4::CheckCredentialScope(parsed, region, "s3"));
  return net::sigv4::Verify(view, parsed, std::string_view("secret"), kNow);
}

TEST_F(S3ObjectStoreTest, EveryRequestIsSignedForS3OverTheBodyHash) {
  auto store = Make(S3Addressing::kPath, "session-token");
  ASSERT_OK(store->Put("bucket", "dir/a b+c.bak", AsBytes(std::string_view("payload"))));
  auto requests = s3_.requests();
  ASSERT_EQ(requests.size(), 1u);
  const net::HttpRequest& r = requests[0];
  EXPECT_EQ(r.method, "PUT");
  EXPECT_EQ(r.target, "/bucket/dir/a%20b%2Bc.bak");
  EXPECT_EQ(r.Header("Host"), "s3.example.test:9000");
  EXPECT_EQ(r.body, "payload");
  EXPECT_EQ(r.Header("X-Amz-Content-SHA256"),
            HexEncode(crypto::Sha256(AsBytes(std::string_view("payload")))));
  EXPECT_EQ(r.Header("X-Amz-Security-Token"), "session-token");
  EXPECT_EQ(r.Header("X-Amz-Date"), "20261130T100956Z");
  EXPECT_THAT(std::string(r.Header("Authorization").value_or("")),
              HasSubstr("Credential=AKIDEXAMPLE/20261130/eu-west-1/s3/aws4_request"));
  EXPECT_OK(VerifyS3Signature(r, "eu-west-1"));
  // The secret never goes on the wire.
  for (const auto& h : r.headers) EXPECT_EQ(h.value.find("secret"), std::string::npos) << h.name;
}

TEST_F(S3ObjectStoreTest, PathAndVirtualHostAddressing) {
  s3_.set_handler([](const net::HttpRequest& r) -> Result<net::HttpResponse> {
    if (r.method == "GET") {
      return Xml(200, "<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>");
    }
    return net::HttpResponse{200, {}, ""};
  });
  auto path = Make(S3Addressing::kPath);
  ASSERT_OK(path->Delete("bucket", "a/../b"));
  ListOptions options;
  options.prefix = "p/q r";
  options.delimiter = "/";
  options.max_keys = 10;
  options.continuation_token = "tok+/=";
  ASSERT_OK(path->List("bucket", options).status());
  auto virtual_host = Make(S3Addressing::kVirtualHost);
  ASSERT_OK(virtual_host->Delete("bucket", "a/../b"));
  ASSERT_OK(virtual_host->HeadBucket("bucket"));

  auto requests = s3_.requests();
  auto endpoints = s3_.endpoints();
  ASSERT_EQ(requests.size(), 4u);
  EXPECT_EQ(requests[0].target, "/bucket/a/../b");  // keys are not normalised
  EXPECT_EQ(requests[0].Header("Host"), "s3.example.test:9000");
  EXPECT_EQ(requests[1].target,
            "/bucket?list-type=2&encoding-type=url&max-keys=10&prefix=p%2Fq%20r&delimiter=%2F"
            "&continuation-token=tok%2B%2F%3D");
  EXPECT_EQ(requests[2].target, "/a/../b");
  EXPECT_EQ(requests[2].Header("Host"), "bucket.s3.example.test:9000");
  EXPECT_EQ(endpoints[2].host, "bucket.s3.example.test");
  EXPECT_EQ(requests[3].method, "HEAD");
  EXPECT_EQ(requests[3].target, "/");
  for (const auto& r : requests) EXPECT_OK(VerifyS3Signature(r, "eu-west-1")) << r.target;
}

TEST_F(S3ObjectStoreTest, TransientFailuresAreRetriedWithBackoff) {
  int calls = 0;
  s3_.set_handler([&](const net::HttpRequest&) -> Result<net::HttpResponse> {
    ++calls;
    if (calls == 1)
      return UnavailableError(
          "Connection was closed before we received a valid "
          "response from endpoint URL");
    if (calls == 2) return ErrorXml(503, "SlowDown");
    return net::HttpResponse{200, {{"ETag", "\"e\""}}, ""};
  });
  auto store = Make();
  ASSERT_OK(store->Put("bucket", "k", AsBytes(std::string_view("v"))));
  EXPECT_EQ(calls, 3);
  ASSERT_EQ(sleeper_.waits.size(), 2u);
  EXPECT_LE(sleeper_.waits[0], std::chrono::milliseconds(100));
  EXPECT_LE(sleeper_.waits[1], std::chrono::milliseconds(200));
  // Each attempt carries the whole body and a signature of its own.
  for (const auto& r : s3_.requests()) {
    EXPECT_EQ(r.body, "v");
    EXPECT_OK(VerifyS3Signature(r, "eu-west-1"));
  }
}

TEST_F(S3ObjectStoreTest, ACreateOnlyPutRetriedAfterItsAnswerWasLostFindsItsOwnObject) {
  // The first PUT is stored, its answer lost; the retry finds the key taken. The
  // ETag is no MD5 of the body (as under SSE-KMS): the write knows its object by
  // the id it stored with it.
  const std::string body = "the backup";
  std::vector<std::string> sent_ids;
  std::string stored_id;
  int puts = 0;
  s3_.set_handler([&](const net::HttpRequest& r) -> Result<net::HttpResponse> {
    if (r.method == "HEAD" && r.Path() == "/bucket") return net::HttpResponse{200, {}, ""};
    if (r.method == "HEAD") {
      return net::HttpResponse{200,
                               {{"Content-Length", std::to_string(body.size())},
                                {"ETag", "\"9d2c0b4ae4b9c5d0d3f2e1a0b9c8d7e6\""},
                                {"x-amz-meta-coffer-write-id", stored_id}},
                               ""};
    }
    EXPECT_EQ(r.Header("If-None-Match").value_or(""), "*");
    sent_ids.emplace_back(r.Header("x-amz-meta-coffer-write-id").value_or(""));
    if (++puts == 1) {
      stored_id = sent_ids.back();
      return UnavailableError("Connection reset by peer");
    }
    return ErrorXml(412, "PreconditionFailed");
  });
  auto store = Make();
  WriteOptions create_only;
  create_only.create_only = true;
  auto write = [&]() -> Status {
    ASSIGN_OR_RETURN(auto w, store->OpenWriter("bucket", "k", create_only));
    RETURN_IF_ERROR(w->Write(AsBytes(body)));
    return w->Close();
  };
  EXPECT_OK(write());
  ASSERT_EQ(sent_ids.size(), 2u);
  EXPECT_EQ(sent_ids[0].size(), 32u);
  EXPECT_EQ(sent_ids[1], sent_ids[0]);  // the retry is the same write
  for (const auto& r : s3_.requests()) EXPECT_OK(VerifyS3Signature(r, "eu-west-1"));

  // The object there is the first write's: a second write, with an id of its own,
  // fails from its first attempt on.
  const std::string first_id = sent_ids[0];
  sent_ids.clear();
  Status refused = write();
  EXPECT_EQ(refused.error_name(), "PreconditionFailed") << refused.ToString();
  ASSERT_EQ(sent_ids.size(), 1u);
  EXPECT_NE(sent_ids[0], first_id);
  EXPECT_EQ(stored_id, first_id);
}

// Retract removes the object only while it carries the writer's id, with a
// DeleteObject conditional on the ETag it saw; a 412 there (replaced in
// between) means the object is not the writer's any more.
TEST_F(S3ObjectStoreTest, RetractDeletesOnlyTheWritersObjectConditionally) {
  std::string stored_id;
  std::string etag = "\"1b2cf535f27731c974343645a3985328\"";
  int delete_status = 204;
  std::vector<std::string> deletes;  // the If-Match of each DeleteObject
  s3_.set_handler([&](const net::HttpRequest& r) -> Result<net::HttpResponse> {
    if (r.method == "HEAD" && r.Path() == "/bucket") return net::HttpResponse{200, {}, ""};
    if (r.method == "PUT") {
      EXPECT_FALSE(r.Header("If-None-Match").has_value());  // an overwriting write
      stored_id = std::string(r.Header("x-amz-meta-coffer-write-id").value_or(""));
      return net::HttpResponse{200, {{"ETag", etag}}, ""};
    }
    if (r.method == "HEAD") {
      return net::HttpResponse{
          200,
          {{"Content-Length", "1"}, {"ETag", etag}, {"x-amz-meta-coffer-write-id", stored_id}},
          ""};
    }
    if (r.method == "DELETE") {
      deletes.emplace_back(r.Header("If-Match").value_or("<none>"));
      if (delete_status == 204) return net::HttpResponse{204, {}, ""};
      return ErrorXml(delete_status, delete_status == 412   ? "PreconditionFailed"
                                     : delete_status == 404 ? "NoSuchKey"
                                                            : "ConditionalRequestConflict");
    }
    return ErrorXml(400, "InvalidRequest");
  });
  auto store = Make();
  auto stored = [&]() -> Result<std::unique_ptr<ObjectWriter>> {
    ASSIGN_OR_RETURN(auto w, store->OpenWriter("bucket", "k"));
    RETURN_IF_ERROR(w->Write(AsBytes(std::string_view("v"))));
    RETURN_IF_ERROR(w->Close());
    return w;
  };
  ASSERT_OK_AND_ASSIGN(auto mine, stored());
  EXPECT_EQ(stored_id.size(), 32u);  // overwriting writes carry an id too
  EXPECT_THAT(mine->Retract(), ::coffer::testing::IsOkAndHolds(true));
  EXPECT_THAT(deletes, ::testing::ElementsAre(etag));

  // Replaced between the HeadObject and the DeleteObject: 412, nothing removed.
  ASSERT_OK_AND_ASSIGN(auto raced, stored());
  delete_status = 412;
  EXPECT_THAT(raced->Retract(), ::coffer::testing::IsOkAndHolds(false));
  EXPECT_EQ(deletes.size(), 2u);

  // Another writer's object (another id): no DeleteObject at all.
  ASSERT_OK_AND_ASSIGN(auto replaced, stored());
  ASSERT_OK_AND_ASSIGN(auto other, stored());
  EXPECT_THAT(replaced->Retract(), ::coffer::testing::IsOkAndHolds(false));
  EXPECT_EQ(deletes.size(), 2u);

  // Removed in between (404): nothing to take back. A concurrent conditional
  // write under way (409): an error, the object may still be the writer's.
  ASSERT_OK_AND_ASSIGN(auto removed, stored());
  delete_status = 404;
  EXPECT_THAT(removed->Retract(), ::coffer::testing::IsOkAndHolds(false));
  ASSERT_OK_AND_ASSIGN(auto conflict, stored());
  delete_status = 409;
  Result<bool> conflicted = conflict->Retract();
  EXPECT_EQ(conflicted.status().error_name(), "ConditionalRequestConflict")
      << conflicted.status().ToString();
  EXPECT_EQ(deletes.size(), 4u);

  // No ETag to make the DeleteObject conditional on: none is sent.
  ASSERT_OK_AND_ASSIGN(auto untagged, stored());
  etag.clear();
  Result<bool> refused = untagged->Retract();
  EXPECT_EQ(refused.status().code(), StatusCode::kDataLoss) << refused.status().ToString();
  EXPECT_EQ(deletes.size(), 4u);
  for (const auto& r : s3_.requests()) EXPECT_OK(VerifyS3Signature(r, "eu-west-1"));
}

TEST_F(S3ObjectStoreTest, GivesUpAfterTheLastAttempt) {
  s3_.set_handler([](const net::HttpRequest&) -> Result<net::HttpResponse> {
    return ErrorXml(500, "InternalError");
  });
  auto store = Make();
  Status st = store->Put("bucket", "k", AsBytes(std::string_view("v")));
  EXPECT_EQ(st.code(), StatusCode::kUnavailable);
  EXPECT_EQ(st.error_name(), "InternalError");
  EXPECT_THAT(st.message(), HasSubstr("gave up after 3 attempts"));
  EXPECT_THAT(st.message(), HasSubstr("PutObject s3://bucket/k"));
  EXPECT_EQ(s3_.requests().size(), 3u);
  EXPECT_EQ(sleeper_.waits.size(), 2u);
}

TEST_F(S3ObjectStoreTest, ClientErrorsAreNotRetried) {
  s3_.set_handler([](const net::HttpRequest&) -> Result<net::HttpResponse> {
    return ErrorXml(403, "AccessDenied");
  });
  auto store = Make();
  Status st = store->Put("bucket", "k", AsBytes(std::string_view("v")));
  EXPECT_EQ(st.code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(st.error_name(), "AccessDenied");
  EXPECT_EQ(s3_.requests().size(), 1u);
  EXPECT_TRUE(sleeper_.waits.empty());
}

TEST_F(S3ObjectStoreTest, NotFoundWithoutABodyIsToldApart) {
  bool bucket_exists = true;
  s3_.set_handler([&](const net::HttpRequest& r) -> Result<net::HttpResponse> {
    bool bucket_request = r.target == "/bucket";
    if (bucket_request) return net::HttpResponse{bucket_exists ? 200 : 404, {}, ""};
    return net::HttpResponse{404, {}, ""};
  });
  auto store = Make();
  EXPECT_EQ(store->Head("bucket", "k").status().error_name(), kNoSuchKey);
  bucket_exists = false;
  EXPECT_EQ(store->Head("bucket", "k").status().error_name(), kNoSuchBucket);
}

// A scripted multipart server: parts answer per `part_answer`.
struct MultipartScript {
  std::function<Result<net::HttpResponse>(int part, int attempt)> part_answer;
  std::function<Result<net::HttpResponse>(int attempt)> complete_answer;
  std::mutex mu;
  std::map<int, int> attempts;
  int completes = 0;

  FakeS3::Handler Handler() {
    return [this](const net::HttpRequest& r) -> Result<net::HttpResponse> {
      std::string_view query = r.Query();
      if (r.method == "HEAD" && r.target == "/bucket") return net::HttpResponse{200, {}, ""};
      if (r.method == "POST" && query == "uploads") {
        return Xml(200,
                   "<InitiateMultipartUploadResult><UploadId>up/1+</UploadId>"
                   "</InitiateMultipartUploadResult>");
      }
      if (r.method == "PUT" && query.starts_with("partNumber=")) {
        int part = std::stoi(std::string(query.substr(11)));
        int attempt;
        {
          std::lock_guard lock(mu);
          attempt = ++attempts[part];
        }
        if (part_answer) return part_answer(part, attempt);
        return net::HttpResponse{200, {{"ETag", "\"etag-" + std::to_string(part) + "\""}}, ""};
      }
      if (r.method == "POST" && query == "uploadId=up%2F1%2B") {
        int attempt;
        {
          std::lock_guard lock(mu);
          attempt = ++completes;
        }
        if (complete_answer) return complete_answer(attempt);
        return Xml(200,
                   "<CompleteMultipartUploadResult><ETag>\"x-3\"</ETag>"
                   "</CompleteMultipartUploadResult>");
      }
      if (r.method == "PUT" && query.empty())
        return net::HttpResponse{200, {{"ETag", "\"one\""}}, ""};
      if (r.method == "DELETE" && query == "uploadId=up%2F1%2B") {
        return net::HttpResponse{204, {}, ""};
      }
      return ErrorXml(400, "Unexpected");
    };
  }
};

std::string Filled(size_t n, char c) { return std::string(n, c); }

TEST_F(S3ObjectStoreTest, MultipartRetriesAFailedPartAndCompletesInOrder) {
  MultipartScript script;
  script.part_answer = [](int part, int attempt) -> Result<net::HttpResponse> {
    if (part == 2 && attempt == 1) return ErrorXml(500, "InternalError");
    return net::HttpResponse{200, {{"ETag", "\"etag-" + std::to_string(part) + "\""}}, ""};
  };
  s3_.set_handler(script.Handler());
  auto store = Make();
  auto writer = store->OpenWriter("bucket", "big");
  ASSERT_TRUE(writer.ok());
  std::string data = Filled(kMinPartSize, 'a') + Filled(kMinPartSize, 'b') + Filled(100, 'c');
  ASSERT_OK((*writer)->Write(AsBytes(data)));
  ASSERT_OK((*writer)->Close());
  EXPECT_EQ(script.attempts[1], 1);
  EXPECT_EQ(script.attempts[2], 2);
  EXPECT_EQ(script.attempts[3], 1);
  const net::HttpRequest* complete = nullptr;
  std::vector<std::string> part_bodies(4);
  auto requests = s3_.requests();
  for (const auto& r : requests) {
    if (r.method == "POST" && r.Query() == "uploadId=up%2F1%2B") complete = &r;
    if (r.method == "PUT") part_bodies[std::stoi(std::string(r.Query().substr(11)))] = r.body;
    EXPECT_NE(r.method, "DELETE");
  }
  ASSERT_NE(complete, nullptr);
  EXPECT_EQ(complete->body,
            s3::CompleteMultipartUploadBody({"\"etag-1\"", "\"etag-2\"", "\"etag-3\""}));
  EXPECT_EQ(part_bodies[1], Filled(kMinPartSize, 'a'));
  EXPECT_EQ(part_bodies[2], Filled(kMinPartSize, 'b'));
  EXPECT_EQ(part_bodies[3], Filled(100, 'c'));
}

TEST_F(S3ObjectStoreTest, AnObjectOfExactlyOnePartIsOnePut) {
  MultipartScript script;
  s3_.set_handler(script.Handler());
  auto store = Make();
  auto writer = store->OpenWriter("bucket", "one");
  ASSERT_TRUE(writer.ok());
  ASSERT_OK((*writer)->Write(AsBytes(Filled(kMinPartSize, 'a'))));
  ASSERT_OK((*writer)->Close());
  auto requests = s3_.requests();
  ASSERT_EQ(requests.size(), 2u);  // HeadBucket, PutObject
  EXPECT_EQ(requests[1].method, "PUT");
  EXPECT_EQ(requests[1].Query(), "");
  EXPECT_EQ(requests[1].body.size(), kMinPartSize);
}

TEST_F(S3ObjectStoreTest, APartThatKeepsFailingAbortsTheUpload) {
  MultipartScript script;
  script.part_answer = [](int part, int) -> Result<net::HttpResponse> {
    if (part == 2) return ErrorXml(403, "AccessDenied");
    return net::HttpResponse{200, {{"ETag", "\"e\""}}, ""};
  };
  s3_.set_handler(script.Handler());
  auto store = Make();
  auto writer = store->OpenWriter("bucket", "big");
  ASSERT_TRUE(writer.ok());
  Status st;
  std::string part(kMinPartSize, 'x');
  for (int i = 0; i < 6 && st.ok(); ++i) st = (*writer)->Write(AsBytes(part));
  if (st.ok()) st = (*writer)->Close();
  EXPECT_EQ(st.error_name(), "AccessDenied");
  bool aborted = false;
  for (const auto& r : s3_.requests()) {
    aborted |= r.method == "DELETE" && r.Query() == "uploadId=up%2F1%2B";
    EXPECT_FALSE(r.method == "POST" && r.Query() == "uploadId=up%2F1%2B") << "completed";
  }
  EXPECT_TRUE(aborted);
  // The error stays.
  EXPECT_EQ((*writer)->Write(AsBytes(std::string_view("x"))).error_name(), "AccessDenied");
}

TEST_F(S3ObjectStoreTest, DestroyingAWriterAbortsItsUpload) {
  MultipartScript script;
  s3_.set_handler(script.Handler());
  auto store = Make();
  {
    auto writer = store->OpenWriter("bucket", "big");
    ASSERT_TRUE(writer.ok());
    ASSERT_OK((*writer)->Write(AsBytes(Filled(kMinPartSize * 2 + 1, 'x'))));
  }
  auto requests = s3_.requests();
  ASSERT_FALSE(requests.empty());
  EXPECT_EQ(requests.back().method, "DELETE");
  EXPECT_EQ(requests.back().Query(), "uploadId=up%2F1%2B");
}

TEST_F(S3ObjectStoreTest, ACompletionAnswered200WithAnErrorIsRetried) {
  MultipartScript script;
  script.complete_answer = [](int attempt) -> Result<net::HttpResponse> {
    if (attempt == 1) return ErrorXml(200, "InternalError");
    return Xml(200,
               "<CompleteMultipartUploadResult><ETag>\"x-2\"</ETag>"
               "</CompleteMultipartUploadResult>");
  };
  s3_.set_handler(script.Handler());
  auto store = Make();
  auto writer = store->OpenWriter("bucket", "big");
  ASSERT_TRUE(writer.ok());
  ASSERT_OK((*writer)->Write(AsBytes(Filled(kMinPartSize + 1, 'x'))));
  ASSERT_OK((*writer)->Close());
  EXPECT_EQ(script.completes, 2);
}

TEST_F(S3ObjectStoreTest, ACreateOnlyCompletionRetriedAfterItsAnswerWasLostFindsItsOwnObject) {
  MultipartScript script;
  // The first completion is stored, its answer lost; the retry finds the key taken.
  script.complete_answer = [](int attempt) -> Result<net::HttpResponse> {
    if (attempt == 1) return UnavailableError("Connection reset by peer");
    return ErrorXml(412, "PreconditionFailed");
  };
  std::string started_id;  // the id of the upload under way
  std::string stored_id;   // the id of the object at the key; empty: the upload's own
  FakeS3::Handler inner = script.Handler();
  s3_.set_handler([&](const net::HttpRequest& r) -> Result<net::HttpResponse> {
    if (r.method == "POST" && r.Query() == "uploads") {
      started_id = std::string(r.Header("x-amz-meta-coffer-write-id").value_or(""));
    }
    if (r.method == "POST" && r.Query() == "uploadId=up%2F1%2B") {
      EXPECT_EQ(r.Header("If-None-Match").value_or(""), "*");
    }
    if (r.method == "HEAD" && r.target == "/bucket/big") {
      return net::HttpResponse{
          200,
          {{"Content-Length", "1"},
           {"x-amz-meta-coffer-write-id", stored_id.empty() ? started_id : stored_id}},
          ""};
    }
    return inner(r);
  });
  auto store = Make();
  WriteOptions create_only;
  create_only.create_only = true;
  auto write = [&]() -> Status {
    ASSIGN_OR_RETURN(auto w, store->OpenWriter("bucket", "big", create_only));
    RETURN_IF_ERROR(w->Write(AsBytes(Filled(kMinPartSize + 1, 'x'))));
    return w->Close();
  };
  // The part ETags are no MD5s ("etag-1"): the write id tells.
  EXPECT_THAT(write(), IsOk());
  EXPECT_EQ(started_id.size(), 32u);
  // Only its own id counts: the previous upload's object there is refused.
  script.completes = 0;
  stored_id = started_id;
  EXPECT_EQ(write().error_name(), "PreconditionFailed");
  EXPECT_NE(started_id, stored_id);
}

TEST_F(S3ObjectStoreTest, ExpectedSizeRaisesThePartSize) {
  MultipartScript script;
  s3_.set_handler(script.Handler());
  auto store = Make();
  WriteOptions options;
  options.expected_size = uint64_t{kMaxParts} * kMinPartSize * 3;
  auto writer = store->OpenWriter("bucket", "huge", options);
  ASSERT_TRUE(writer.ok());
  // 2 × the configured part size is still inside the first part.
  ASSERT_OK((*writer)->Write(AsBytes(Filled(kMinPartSize * 2, 'x'))));
  for (const auto& r : s3_.requests()) EXPECT_NE(r.Query(), "uploads");
  (*writer)->Abort();
  options.expected_size = uint64_t{kMaxParts} * kMaxPartSize + 1;
  EXPECT_EQ(store->OpenWriter("bucket", "too-big", options).status().error_name(), kEntityTooLarge);
}

TEST(PartsInFlightTest, LargerPartsLeaveFewerInFlight) {
  // Memory stays within (parts_in_flight + 1) × part_size of the options.
  S3Options o;
  o.part_size = 16 << 20;
  o.parts_in_flight = 4;  // 80 MiB
  EXPECT_EQ(PartsInFlight(o, 16 << 20), 4);
  EXPECT_EQ(PartsInFlight(o, 20 << 20), 3);  // 4 × 20 MiB
  EXPECT_EQ(PartsInFlight(o, 27 << 20), 1);  // 2 × 27 MiB: two would need 81
  EXPECT_EQ(PartsInFlight(o, 26 << 20), 2);  // 3 × 26 MiB = 78
  // Parts over half the bound: one at a time, the least there is (the writer
  // then holds two parts, one uploading and one filling).
  EXPECT_EQ(PartsInFlight(o, size_t{481} << 20), 1);
  o.parts_in_flight = 1;
  EXPECT_EQ(PartsInFlight(o, 16 << 20), 1);
}

TEST_F(S3ObjectStoreTest, AReaderFailsWhenTheObjectChanges) {
  std::string data = Filled(200 << 10, 'd');
  std::string get_etag = "\"v1\"";
  s3_.set_handler([&](const net::HttpRequest& r) -> Result<net::HttpResponse> {
    if (r.method == "HEAD") {
      return net::HttpResponse{200,
                               {{"Content-Length", std::to_string(data.size())},
                                {"ETag", "\"v1\""},
                                {"Last-Modified", "Mon, 30 Nov 2026 10:09:56 GMT"}},
                               ""};
    }
    // Range: bytes=a-b
    std::string range(r.Header("Range").value_or(""));
    size_t dash = range.find('-');
    size_t a = std::stoul(range.substr(6, dash - 6));
    size_t b = std::stoul(range.substr(dash + 1));
    EXPECT_EQ(r.Header("If-Match"), "\"v1\"");
    return net::HttpResponse{206, {{"ETag", get_etag}}, data.substr(a, b - a + 1)};
  });
  auto store = Make();
  auto reader = store->Get("bucket", "k");
  ASSERT_TRUE(reader.ok());
  EXPECT_EQ((*reader)->info().size, data.size());
  EXPECT_EQ((*reader)->info().last_modified, kNow);
  std::vector<uint8_t> buffer(100 << 10);
  ASSERT_OK_AND_ASSIGN(size_t n, ReadFull(**reader, buffer));
  EXPECT_EQ(n, buffer.size());
  get_etag = "\"v2\"";  // replaced between two chunks
  Status st = ReadFull(**reader, buffer).status();
  EXPECT_EQ(st.error_name(), kPreconditionFailed);
  EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(ReadFull(**reader, buffer).status(), st);  // the first error stays
}

TEST_F(S3ObjectStoreTest, AShortAnswerIsDataLoss) {
  s3_.set_handler([&](const net::HttpRequest& r) -> Result<net::HttpResponse> {
    if (r.method == "HEAD") return net::HttpResponse{200, {{"Content-Length", "100"}}, ""};
    return net::HttpResponse{206, {}, std::string(99, 'x')};
  });
  auto store = Make();
  auto reader = store->Get("bucket", "k");
  ASSERT_TRUE(reader.ok());
  std::vector<uint8_t> buffer(1000);
  EXPECT_EQ((*reader)->Read(buffer).status().code(), StatusCode::kDataLoss);
}

TEST_F(S3ObjectStoreTest, CreateValidatesOptions) {
  auto make = [](auto change) {
    S3Options o;
    o.endpoint = "http://127.0.0.1:9000";
    o.credentials = {"AKID", crypto::SecretBytes(std::string_view("s")), ""};
    change(o);
    return S3ObjectStore::Create(std::move(o)).status();
  };
  EXPECT_OK(make([](S3Options&) {}));
  EXPECT_THAT(make([](S3Options& o) { o.endpoint = "ftp://x"; }).message(), HasSubstr("endpoint"));
  EXPECT_THAT(make([](S3Options& o) { o.part_size = kMinPartSize - 1; }).message(),
              HasSubstr("part_size"));
  EXPECT_THAT(make([](S3Options& o) { o.parts_in_flight = 0; }).message(),
              HasSubstr("parts_in_flight"));
  EXPECT_THAT(make([](S3Options& o) { o.read_chunk_size = 1; }).message(),
              HasSubstr("read_chunk_size"));
  EXPECT_THAT(make([](S3Options& o) { o.credentials.access_key_id.clear(); }).message(),
              HasSubstr("access key"));
  EXPECT_THAT(make([](S3Options& o) { o.retry.max_attempts = 0; }).message(), HasSubstr("retry"));
}

}  // namespace
}  // namespace coffer::objstore
