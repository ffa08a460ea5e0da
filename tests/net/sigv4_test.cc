#include "net/sigv4.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.h"
#include "common/clock.h"
#include "crypto/hash.h"

namespace coffer::net::sigv4 {
namespace {

using std::chrono::minutes;
using std::chrono::seconds;

constexpr std::string_view kMismatch =
    "The request signature we calculated does not match the signature you provided. Check your "
    "AWS Secret Access Key and signing method. Consult the service documentation for details.";
constexpr std::string_view kCapturedSecret = "secret";

bool SameName(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string ToLower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// "20150830T123600Z" -> TimePoint.
TimePoint At(std::string_view amz) {
  using namespace std::chrono;
  auto num = [&amz](size_t pos, size_t n) { return std::stoi(std::string(amz.substr(pos, n))); };
  year_month_day ymd{year{num(0, 4)}, month{static_cast<unsigned>(num(4, 2))},
                     day{static_cast<unsigned>(num(6, 2))}};
  return time_point_cast<Duration>(sys_days(ymd) + hours(num(9, 2)) + minutes(num(11, 2)) +
                                   seconds(num(13, 2)));
}

// An owned request that lends HttpRequestViews of itself.
class TestRequest {
 public:
  std::string method = "POST";
  std::string path = "/";
  std::string query;
  std::vector<Header> headers;
  std::string body;
  std::optional<std::string> payload_hash;

  // Valid until the request changes or View() is called again.
  HttpRequestView View() {
    fields_.clear();
    for (const Header& h : headers) fields_.push_back({h.name, h.value});
    HttpRequestView view;
    view.method = method;
    view.raw_path = path;
    view.raw_query = query;
    view.headers = fields_;
    view.body = AsBytes(body);
    if (payload_hash) view.payload_hash = *payload_hash;
    return view;
  }

  // The first header of that name (any case), or nullptr.
  std::string* Find(std::string_view name) {
    for (Header& h : headers) {
      if (SameName(h.name, name)) return &h.value;
    }
    return nullptr;
  }
  void Remove(std::string_view name) {
    std::erase_if(headers, [name](const Header& h) { return SameName(h.name, name); });
  }
  // Sets what the signer returned, replacing the headers of the same names.
  void Apply(const std::vector<Header>& added) {
    for (const Header& h : added) Remove(h.name);
    headers.insert(headers.end(), added.begin(), added.end());
  }

 private:
  std::vector<HeaderField> fields_;
};

void ExpectAuthError(const Status& status, AuthErrorCode code, std::string_view message) {
  EXPECT_EQ(AuthErrorCodeOf(status), code) << status.ToString();
  EXPECT_EQ(status.message(), message);
}

// Parses the request and verifies it at `now` (default: the request's own time).
Status ParseAndVerify(TestRequest& request, std::string_view secret = kCapturedSecret,
                      std::optional<TimePoint> now = std::nullopt,
                      minutes window = kJsonClockSkew) {
  HttpRequestView view = request.View();
  Result<ParsedSignature> parsed = ParseSignature(view);
  if (!parsed.ok()) return parsed.status();
  return Verify(view, *parsed, secret, now.value_or(parsed->request_time), window);
}

Credentials MakeCredentials(std::string akid, std::string_view secret, std::string token = "") {
  return Credentials{std::move(akid), crypto::SecretBytes(secret), std::move(token)};
}

std::string FlipByteOfSignature(const std::string& authorization, size_t byte) {
  size_t pos = authorization.find("Signature=") + std::string_view("Signature=").size();
  Result<Bytes> signature = HexDecode(authorization.substr(pos, 64));
  EXPECT_TRUE(signature.ok());
  Bytes flipped = *signature;
  flipped[byte] ^= 0x01;
  return authorization.substr(0, pos) + HexEncode(flipped) + authorization.substr(pos + 64);
}

// ---------------------------------------------------------------------------
// Requests captured from real clients (shared/testdata/sigv4/*.jsonl): one JSON object a
// line with method, path, headers ([name, value] pairs as received) and body.

struct Captured {
  std::string label;  // file:line
  TestRequest request;
  std::string authorization;
};

std::vector<Captured> LoadCaptured(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() == ".jsonl") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  std::vector<Captured> out;
  for (const auto& file : files) {
    std::ifstream in(file);
    std::string line;
    for (int number = 1; std::getline(in, line); ++number) {
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      nlohmann::json j = nlohmann::json::parse(line);
      Captured c;
      c.label = file.filename().string() + ":" + std::to_string(number);
      c.request.method = j.at("method").get<std::string>();
      std::string target = j.at("path").get<std::string>();
      size_t q = target.find('?');
      c.request.path = target.substr(0, q);
      if (q != std::string::npos) c.request.query = target.substr(q + 1);
      for (const auto& h : j.at("headers")) {
        c.request.headers.push_back({h.at(0).get<std::string>(), h.at(1).get<std::string>()});
      }
      c.request.body = j.at("body").get<std::string>();
      std::string* authorization = c.request.Find("authorization");
      EXPECT_NE(authorization, nullptr) << c.label;
      if (authorization != nullptr) c.authorization = *authorization;
      out.push_back(std::move(c));
    }
  }
  return out;
}

class CapturedRequestsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::filesystem::path dir = COFFER_SIGV4_TESTDATA_DIR;
    if (!std::filesystem::is_directory(dir)) {
      GTEST_SKIP() << "no captured requests at " << dir;
    }
    captured_ = LoadCaptured(dir);
    ASSERT_FALSE(captured_.empty()) << "no *.jsonl vectors in " << dir;
  }

  // JSON services (kms) allow 5 minutes of skew, Query services (sts, iam) 15.
  static minutes WindowFor(std::string_view service) {
    return service == "kms" ? kJsonClockSkew : kQueryClockSkew;
  }

  static ParsedSignature MustParse(TestRequest& request) {
    Result<ParsedSignature> parsed = ParseSignature(request.View());
    EXPECT_TRUE(parsed.ok()) << parsed.status().ToString();
    return parsed.ok() ? *parsed : ParsedSignature();
  }

  std::vector<Captured> captured_;
};

TEST_F(CapturedRequestsTest, EveryCapturedRequestVerifies) {
  for (Captured& c : captured_) {
    SCOPED_TRACE(c.label);
    HttpRequestView view = c.request.View();
    Result<ParsedSignature> parsed = ParseSignature(view);
    ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
    EXPECT_FALSE(parsed->presigned);
    EXPECT_EQ(parsed->access_key_id, "AKIDEXAMPLE");
    EXPECT_EQ(parsed->region, "us-east-1");
    EXPECT_TRUE(parsed->service == "kms" || parsed->service == "sts") << parsed->service;
    EXPECT_EQ(parsed->scope_date, parsed->amz_date.substr(0, 8));
    EXPECT_FALSE(parsed->session_token.has_value());
    EXPECT_TRUE(CheckCredentialScope(*parsed, "us-east-1", parsed->service).ok());
    minutes window = WindowFor(parsed->service);
    EXPECT_TRUE(Verify(view, *parsed, kCapturedSecret, parsed->request_time, window).ok());
    crypto::SecretBytes secret(kCapturedSecret);
    EXPECT_TRUE(Verify(view, *parsed, secret, parsed->request_time, window).ok());
    crypto::SecretBytes signing_key =
        DeriveSigningKey(secret, parsed->scope_date, parsed->region, parsed->service);
    EXPECT_TRUE(
        VerifyWithSigningKey(view, *parsed, signing_key, parsed->request_time, window).ok());
  }
  std::cout << "[          ] verified " << captured_.size() << " captured requests\n";
}

TEST_F(CapturedRequestsTest, EachFlippedSignatureByteFails) {
  for (Captured& c : captured_) {
    SCOPED_TRACE(c.label);
    for (size_t byte = 0; byte < 32; ++byte) {
      TestRequest r = c.request;
      *r.Find("authorization") = FlipByteOfSignature(c.authorization, byte);
      ExpectAuthError(ParseAndVerify(r), AuthErrorCode::kSignatureDoesNotMatch, kMismatch);
    }
  }
}

TEST_F(CapturedRequestsTest, ChangedBodyFails) {
  for (Captured& c : captured_) {
    SCOPED_TRACE(c.label);
    bool hash_header = c.request.Find("x-amz-content-sha256") != nullptr;
    const std::vector<std::string> bodies = {
        c.request.body + " ", c.request.body.substr(1),
        c.request.body.substr(0, c.request.body.size() - 1) + "]", ""};
    for (const std::string& body : bodies) {
      TestRequest r = c.request;
      r.body = body;
      Status s = ParseAndVerify(r);
      if (hash_header) {
        // The JS SDK signs x-amz-content-sha256, which no longer matches the body.
        ExpectAuthError(s, AuthErrorCode::kContentSha256Mismatch,
                        "The provided 'x-amz-content-sha256' header does not match what was "
                        "computed.");
        // Fixing the header up breaks the signature instead.
        *r.Find("x-amz-content-sha256") = HexEncode(crypto::Sha256(AsBytes(body)));
        ExpectAuthError(ParseAndVerify(r), AuthErrorCode::kSignatureDoesNotMatch, kMismatch);
      } else {
        ExpectAuthError(s, AuthErrorCode::kSignatureDoesNotMatch, kMismatch);
      }
    }
  }
}

TEST_F(CapturedRequestsTest, ChangedSignedHeaderFails) {
  for (Captured& c : captured_) {
    ParsedSignature parsed = MustParse(c.request);
    for (const std::string& name : parsed.signed_headers) {
      SCOPED_TRACE(c.label + " " + name);
      TestRequest r = c.request;
      std::string* value = r.Find(name);
      ASSERT_NE(value, nullptr);
      if (name == "x-amz-date") {
        *value = FormatAmzDate(parsed.request_time + seconds(1));
        ExpectAuthError(ParseAndVerify(r), AuthErrorCode::kSignatureDoesNotMatch, kMismatch);
      } else if (name == "x-amz-content-sha256") {
        (*value)[0] = (*value)[0] == '0' ? '1' : '0';
        EXPECT_EQ(AuthErrorCodeOf(ParseAndVerify(r)), AuthErrorCode::kContentSha256Mismatch);
      } else {
        *value += "x";
        ExpectAuthError(ParseAndVerify(r), AuthErrorCode::kSignatureDoesNotMatch, kMismatch);
      }

      // Dropping a signed header, or sending it twice, breaks the signature too.
      TestRequest dropped = c.request;
      dropped.Remove(name);
      Status s = ParseAndVerify(dropped);
      if (name == "x-amz-date") {
        ExpectAuthError(s, AuthErrorCode::kIncompleteSignature,
                        "Authorization header requires existence of either a 'X-Amz-Date' or a "
                        "'Date' header. Authorization=AWS4-HMAC-SHA256");
      } else {
        ExpectAuthError(s, AuthErrorCode::kSignatureDoesNotMatch, kMismatch);
      }
      if (name != "x-amz-date") {
        TestRequest doubled = c.request;
        doubled.headers.push_back({name, *c.request.Find(name)});
        ExpectAuthError(ParseAndVerify(doubled), AuthErrorCode::kSignatureDoesNotMatch, kMismatch);
      }
    }
  }
}

TEST_F(CapturedRequestsTest, UnsignedHeadersCaseAndWhitespaceDoNotMatter) {
  for (Captured& c : captured_) {
    SCOPED_TRACE(c.label);
    ParsedSignature parsed = MustParse(c.request);
    TestRequest r = c.request;
    for (Header& h : r.headers) {
      bool is_signed = std::find(parsed.signed_headers.begin(), parsed.signed_headers.end(),
                                 ToLower(h.name)) != parsed.signed_headers.end();
      std::transform(h.name.begin(), h.name.end(), h.name.begin(),
                     [](unsigned char ch) { return static_cast<char>(std::toupper(ch)); });
      if (SameName(h.name, "authorization")) continue;
      if (is_signed) {
        h.value = " \t" + h.value + "  ";
      } else {
        h.value = "changed";
      }
    }
    r.headers.push_back({"X-Added-By-Proxy", "1"});
    EXPECT_TRUE(ParseAndVerify(r, kCapturedSecret, std::nullopt, WindowFor(parsed.service)).ok());
  }
}

TEST_F(CapturedRequestsTest, WrongSecretFails) {
  for (Captured& c : captured_) {
    SCOPED_TRACE(c.label);
    for (std::string_view secret : {"Secret", "secret ", "secre", "", "wJalrXUtnFEMI"}) {
      TestRequest r = c.request;
      ExpectAuthError(ParseAndVerify(r, secret), AuthErrorCode::kSignatureDoesNotMatch, kMismatch);
    }
  }
}

TEST_F(CapturedRequestsTest, ClockSkewBeyondTheWindowFails) {
  for (Captured& c : captured_) {
    SCOPED_TRACE(c.label);
    ParsedSignature parsed = MustParse(c.request);
    HttpRequestView view = c.request.View();
    for (minutes window : {kJsonClockSkew, kQueryClockSkew}) {
      TimePoint t = parsed.request_time;
      std::string n = std::to_string(window.count());
      // The window's edges are inside; a fraction of a second does not count.
      EXPECT_TRUE(Verify(view, parsed, kCapturedSecret, t + window, window).ok());
      EXPECT_TRUE(
          Verify(view, parsed, kCapturedSecret, t + window + std::chrono::milliseconds(999), window)
              .ok());
      EXPECT_TRUE(Verify(view, parsed, kCapturedSecret, t - window, window).ok());

      TimePoint late = t + window + seconds(1);
      ExpectAuthError(
          Verify(view, parsed, kCapturedSecret, late, window), AuthErrorCode::kSignatureExpired,
          "Signature expired: " + parsed.amz_date + " is now earlier than " +
              FormatAmzDate(late - window) + " (" + FormatAmzDate(late) + " - " + n + " min.)");
      TimePoint early = t - window - seconds(1);
      ExpectAuthError(Verify(view, parsed, kCapturedSecret, early, window),
                      AuthErrorCode::kSignatureNotYetCurrent,
                      "Signature not yet current: " + parsed.amz_date + " is still later than " +
                          FormatAmzDate(early + window) + " (" + FormatAmzDate(early) + " + " + n +
                          " min.)");
    }
  }
}

TEST_F(CapturedRequestsTest, ResigningReproducesTheCapturedSignatures) {
  Credentials credentials = MakeCredentials("AKIDEXAMPLE", kCapturedSecret);
  for (Captured& c : captured_) {
    SCOPED_TRACE(c.label);
    ParsedSignature parsed = MustParse(c.request);
    TestRequest r = c.request;
    r.Remove("authorization");
    Result<std::vector<Header>> added = Sign(r.View(), credentials, parsed.region, parsed.service,
                                             parsed.request_time, parsed.signed_headers);
    ASSERT_TRUE(added.ok()) << added.status().ToString();
    ASSERT_EQ(added->size(), 2u);  // X-Amz-Date, Authorization
    EXPECT_EQ((*added)[0], (Header{"X-Amz-Date", parsed.amz_date}));
    EXPECT_EQ((*added)[1], (Header{"Authorization", c.authorization}));
  }
}

TEST_F(CapturedRequestsTest, SigningWithTheDefaultHeaderSetRoundTrips) {
  Credentials credentials = MakeCredentials("AKIDEXAMPLE", "another secret");
  for (Captured& c : captured_) {
    SCOPED_TRACE(c.label);
    ParsedSignature original = MustParse(c.request);
    TestRequest r = c.request;
    TimePoint later = original.request_time + std::chrono::hours(30);
    Result<std::vector<Header>> added =
        Sign(r.View(), credentials, "eu-west-1", original.service, later);
    ASSERT_TRUE(added.ok()) << added.status().ToString();
    r.Apply(*added);
    ParsedSignature parsed = MustParse(r);
    EXPECT_EQ(parsed.region, "eu-west-1");
    EXPECT_EQ(parsed.amz_date, FormatAmzDate(later));
    for (const char* name : {"host", "x-amz-date", "content-type"}) {
      EXPECT_NE(std::find(parsed.signed_headers.begin(), parsed.signed_headers.end(), name),
                parsed.signed_headers.end())
          << name;
    }
    for (const char* name : {"authorization", "user-agent", "connection"}) {
      EXPECT_EQ(std::find(parsed.signed_headers.begin(), parsed.signed_headers.end(), name),
                parsed.signed_headers.end())
          << name;
    }
    EXPECT_TRUE(ParseAndVerify(r, "another secret", later).ok());
    ExpectAuthError(ParseAndVerify(r, kCapturedSecret, later),
                    AuthErrorCode::kSignatureDoesNotMatch, kMismatch);
  }
}

TEST_F(CapturedRequestsTest, EveryTruncationOfTheAuthorizationHeaderFails) {
  Captured& c = captured_.front();
  for (size_t n = 0; n < c.authorization.size(); ++n) {
    TestRequest r = c.request;
    *r.Find("authorization") = c.authorization.substr(0, n);
    EXPECT_FALSE(ParseAndVerify(r).ok()) << n;
  }
}

// ---------------------------------------------------------------------------
// AWS's published examples.

// docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html (IAM ListUsers).
TEST(Sigv4AwsExampleTest, IamListUsersSignsAndVerifies) {
  const std::string_view secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
  TestRequest r;
  r.method = "GET";
  r.path = "/";
  r.query = "Action=ListUsers&Version=2010-05-08";
  r.headers = {{"Host", "iam.amazonaws.com"},
               {"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"},
               {"X-Amz-Date", "20150830T123600Z"}};

  const std::vector<std::string> signed_headers = {"content-type", "host", "x-amz-date"};
  Result<std::string> payload_hash = PayloadHash(r.View(), "iam", false);
  ASSERT_TRUE(payload_hash.ok());
  EXPECT_EQ(*payload_hash, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  Result<std::string> canonical =
      CanonicalRequest(r.View(), signed_headers, "iam", false, *payload_hash);
  ASSERT_TRUE(canonical.ok());
  EXPECT_EQ(*canonical,
            "GET\n/\nAction=ListUsers&Version=2010-05-08\n"
            "content-type:application/x-www-form-urlencoded; charset=utf-8\n"
            "host:iam.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
            "content-type;host;x-amz-date\n"
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  std::string string_to_sign =
      StringToSign("20150830T123600Z", CredentialScope("20150830", "us-east-1", "iam"), *canonical);
  EXPECT_EQ(string_to_sign,
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/iam/aws4_request\n"
            "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59");
  crypto::SecretBytes signing_key = DeriveSigningKey(secret, "20150830", "us-east-1", "iam");
  EXPECT_EQ(HexEncode(crypto::RevealSecret(signing_key)),
            "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9");
  EXPECT_EQ(ComputeSignature(signing_key, string_to_sign),
            "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7");

  Result<std::vector<Header>> added = Sign(r.View(), MakeCredentials("AKIDEXAMPLE", secret),
                                           "us-east-1", "iam", At("20150830T123600Z"));
  ASSERT_TRUE(added.ok()) << added.status().ToString();
  EXPECT_EQ(added->back(),
            (Header{"Authorization",
                    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, "
                    "SignedHeaders=content-type;host;x-amz-date, "
                    "Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"}));
  r.Apply(*added);
  EXPECT_TRUE(ParseAndVerify(r, secret, At("20150830T123600Z"), kQueryClockSkew).ok());
  EXPECT_TRUE(ParseAndVerify(r, secret, At("20150830T125000Z"), kQueryClockSkew).ok());
  ExpectAuthError(ParseAndVerify(r, secret, At("20150830T125101Z"), kQueryClockSkew),
                  AuthErrorCode::kSignatureExpired,
                  "Signature expired: 20150830T123600Z is now earlier than 20150830T123601Z "
                  "(20150830T125101Z - 15 min.)");
}

// docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html (GET Object).
TEST(Sigv4AwsExampleTest, S3GetObjectSignsAndVerifies) {
  const std::string_view secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
  TestRequest r;
  r.method = "GET";
  r.path = "/test.txt";
  r.headers = {{"Host", "examplebucket.s3.amazonaws.com"}, {"Range", "bytes=0-9"}};
  Result<std::vector<Header>> added =
      Sign(r.View(), MakeCredentials("AKIAIOSFODNN7EXAMPLE", secret), "us-east-1", "s3",
           At("20130524T000000Z"));
  ASSERT_TRUE(added.ok()) << added.status().ToString();
  EXPECT_EQ(*added,
            (std::vector<Header>{
                {"X-Amz-Date", "20130524T000000Z"},
                {"X-Amz-Content-SHA256",
                 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
                {"Authorization",
                 "AWS4-HMAC-SHA256 "
                 "Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
                 "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
                 "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"}}));
  r.Apply(*added);
  EXPECT_TRUE(ParseAndVerify(r, secret, At("20130524T000000Z")).ok());
}

// docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html.
TEST(Sigv4AwsExampleTest, S3PresignedUrlSignsAndVerifies) {
  const std::string_view secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
  TestRequest r;
  r.method = "GET";
  r.path = "/test.txt";
  r.headers = {{"Host", "examplebucket.s3.amazonaws.com"}};
  Result<std::string> query = Presign(r.View(), MakeCredentials("AKIAIOSFODNN7EXAMPLE", secret),
                                      "us-east-1", "s3", At("20130524T000000Z"), seconds(86400));
  ASSERT_TRUE(query.ok()) << query.status().ToString();
  EXPECT_EQ(*query,
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2F"
            "us-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&"
            "X-Amz-SignedHeaders=host&X-Amz-Signature="
            "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
  r.query = *query;
  EXPECT_TRUE(ParseAndVerify(r, secret, At("20130524T000000Z")).ok());
}

// ---------------------------------------------------------------------------
// Pre-signed URLs.

class PresignTest : public ::testing::Test {
 protected:
  PresignTest() {
    request_.method = "GET";
    request_.path = "/bucket/my%20key.txt";
    request_.query = "versionId=3&acl";
    request_.headers = {{"Host", "127.0.0.1:9000"}, {"User-Agent", "coffer"}};
  }
  // Pre-signs request_ and sets its query to the result.
  void PresignRequest(const Credentials& credentials, std::string_view service,
                      seconds expires = seconds(900)) {
    Result<std::string> query =
        Presign(request_.View(), credentials, "us-east-1", service, time_, expires);
    ASSERT_TRUE(query.ok()) << query.status().ToString();
    request_.query = *query;
  }

  TestRequest request_;
  const TimePoint time_ = At("20261130T095748Z");
  const Credentials credentials_ = MakeCredentials("AKIDEXAMPLE", kCapturedSecret);
};

TEST_F(PresignTest, RoundTripsUntilItExpires) {
  PresignRequest(credentials_, "s3");
  EXPECT_EQ(request_.query.find("X-Amz-Signature="), request_.query.size() - 16 - 64);
  Result<ParsedSignature> parsed = ParseSignature(request_.View());
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_TRUE(parsed->presigned);
  EXPECT_EQ(parsed->access_key_id, "AKIDEXAMPLE");
  EXPECT_EQ(parsed->service, "s3");
  EXPECT_EQ(parsed->amz_date, "20261130T095748Z");
  EXPECT_EQ(parsed->expires, seconds(900));
  EXPECT_EQ(parsed->signed_headers, std::vector<std::string>{"host"});
  EXPECT_FALSE(parsed->session_token.has_value());

  EXPECT_TRUE(ParseAndVerify(request_, kCapturedSecret, time_).ok());
  EXPECT_TRUE(ParseAndVerify(request_, kCapturedSecret, time_ + seconds(900)).ok());
  ExpectAuthError(ParseAndVerify(request_, kCapturedSecret, time_ + seconds(901)),
                  AuthErrorCode::kRequestExpired, "Request has expired");
  ExpectAuthError(ParseAndVerify(request_, kCapturedSecret, time_ - minutes(5) - seconds(1)),
                  AuthErrorCode::kSignatureNotYetCurrent,
                  "Signature not yet current: 20261130T095748Z is still later than "
                  "20261130T095747Z (20261130T095247Z + 5 min.)");
  ExpectAuthError(ParseAndVerify(request_, "wrong", time_), AuthErrorCode::kSignatureDoesNotMatch,
                  kMismatch);
}

TEST_F(PresignTest, TamperingFails) {
  PresignRequest(credentials_, "s3");
  const TestRequest signed_request = request_;
  auto expect_mismatch = [this](TestRequest r) {
    ExpectAuthError(ParseAndVerify(r, kCapturedSecret, time_),
                    AuthErrorCode::kSignatureDoesNotMatch, kMismatch);
  };
  TestRequest r = signed_request;
  r.query.replace(r.query.find("versionId=3"), 11, "versionId=4");
  expect_mismatch(r);
  r = signed_request;
  r.query += "&extra=1";
  expect_mismatch(r);
  r = signed_request;
  r.query.replace(r.query.find("X-Amz-Expires=900"), 17, "X-Amz-Expires=901");
  expect_mismatch(r);
  r = signed_request;
  r.path = "/bucket/other.txt";
  expect_mismatch(r);
  r = signed_request;
  r.method = "PUT";
  expect_mismatch(r);
  r = signed_request;
  *r.Find("host") = "127.0.0.1:9001";
  expect_mismatch(r);
  r = signed_request;
  char& last = r.query.back();
  last = last == '0' ? '1' : '0';
  expect_mismatch(r);
  // The body of a pre-signed S3 request is not signed; headers other than host neither.
  r = signed_request;
  r.body = "anything";
  *r.Find("user-agent") = "other";
  EXPECT_TRUE(ParseAndVerify(r, kCapturedSecret, time_).ok());
}

TEST_F(PresignTest, CarriesTheSessionToken) {
  const std::string token = "FQoGZXIvYXdzE//token+with/odd=chars";
  request_.path = "/";
  request_.query = "Action=GetCallerIdentity&Version=2011-06-15";
  PresignRequest(MakeCredentials("ASIAEXAMPLE", kCapturedSecret, token), "sts");
  Result<ParsedSignature> parsed = ParseSignature(request_.View());
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->session_token, token);
  EXPECT_TRUE(parsed->session_token_signed);
  EXPECT_EQ(parsed->service, "sts");
  EXPECT_TRUE(ParseAndVerify(request_, kCapturedSecret, time_).ok());

  TestRequest r = request_;
  size_t start = r.query.find("&X-Amz-Security-Token=");
  r.query.erase(start, r.query.find('&', start + 1) - start);
  EXPECT_FALSE(ParseSignature(r.View())->session_token.has_value());
  ExpectAuthError(ParseAndVerify(r, kCapturedSecret, time_), AuthErrorCode::kSignatureDoesNotMatch,
                  kMismatch);
  // Moved to a header that SignedHeaders does not list, the token is not signed.
  r.headers.push_back({"X-Amz-Security-Token", token});
  parsed = ParseSignature(r.View());
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->session_token, token);
  EXPECT_FALSE(parsed->session_token_signed);
}

TEST_F(PresignTest, NonS3ServicesHashTheBody) {
  request_.method = "POST";
  request_.body = "Action=GetCallerIdentity&Version=2011-06-15";
  PresignRequest(credentials_, "sts");
  EXPECT_TRUE(ParseAndVerify(request_, kCapturedSecret, time_).ok());
  request_.body += "&x=1";
  ExpectAuthError(ParseAndVerify(request_, kCapturedSecret, time_),
                  AuthErrorCode::kSignatureDoesNotMatch, kMismatch);
}

TEST_F(PresignTest, OtherServicesIgnoreXAmzExpires) {
  // STS (and every service but S3) ignores X-Amz-Expires: a pre-signed request
  // lives the window of a header-signed one, from X-Amz-Date, whatever it says.
  request_.path = "/";
  request_.query = "Action=GetCallerIdentity&Version=2011-06-15";
  PresignRequest(credentials_, "sts", seconds(604800));
  EXPECT_TRUE(ParseAndVerify(request_, kCapturedSecret, time_ + minutes(15), minutes(15)).ok());
  ExpectAuthError(
      ParseAndVerify(request_, kCapturedSecret, time_ + minutes(15) + seconds(1), minutes(15)),
      AuthErrorCode::kSignatureExpired,
      "Signature expired: 20261130T095748Z is now earlier than 20261130T095749Z "
      "(20261130T101249Z - 15 min.)");
  request_.query = "Action=GetCallerIdentity&Version=2011-06-15";
  PresignRequest(credentials_, "sts", seconds(60));
  EXPECT_TRUE(ParseAndVerify(request_, kCapturedSecret, time_ + minutes(10), minutes(15)).ok());
}

TEST_F(PresignTest, RejectsBadArguments) {
  EXPECT_FALSE(Presign(request_.View(), credentials_, "us-east-1", "s3", time_, seconds(0)).ok());
  EXPECT_FALSE(
      Presign(request_.View(), credentials_, "us-east-1", "s3", time_, seconds(604801)).ok());
  EXPECT_TRUE(
      Presign(request_.View(), credentials_, "us-east-1", "s3", time_, seconds(604800)).ok());
  request_.Remove("host");
  EXPECT_EQ(
      Presign(request_.View(), credentials_, "us-east-1", "s3", time_, seconds(60)).status().code(),
      StatusCode::kInvalidArgument);
}

// ---------------------------------------------------------------------------
// Malformed requests: each gives AWS's error and text.

class MalformedTest : public ::testing::Test {
 protected:
  MalformedTest() {
    request_.headers = {{"Host", "127.0.0.1:4599"},
                        {"X-Amz-Target", "TrentService.CreateKey"},
                        {"Content-Type", "application/x-amz-json-1.1"}};
    request_.body = R"({"Description": "test"})";
    Result<std::vector<Header>> added =
        Sign(request_.View(), MakeCredentials("AKIDEXAMPLE", kCapturedSecret), "us-east-1", "kms",
             At("20261130T095748Z"));
    EXPECT_TRUE(added.ok());
    request_.Apply(*added);
    authorization_ = *request_.Find("authorization");
  }

  // The request with its Authorization header replaced.
  Status WithAuthorization(std::string value) {
    TestRequest r = request_;
    *r.Find("authorization") = std::move(value);
    return ParseSignature(r.View()).status();
  }
  std::string Part(std::string_view key) {
    size_t start = authorization_.find(key);
    size_t end = authorization_.find(',', start);
    return authorization_.substr(start, end == std::string::npos ? end : end - start);
  }

  TestRequest request_;
  std::string authorization_;
};

TEST_F(MalformedTest, TheSignedRequestIsValid) {
  EXPECT_TRUE(ParseAndVerify(request_).ok());
  EXPECT_TRUE(authorization_.starts_with(
      "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261130/us-east-1/kms/aws4_request, "
      "SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature="))
      << authorization_;
  // Parameter order, spacing and a trailing comma are free.
  EXPECT_TRUE(ParseSignature(request_.View()).ok());
  TestRequest r = request_;
  *r.Find("authorization") = "  AWS4-HMAC-SHA256 " + Part("Signature=") +
                             " ,SignedHeaders=" + Part("SignedHeaders=").substr(14) + ",   " +
                             Part("Credential=") + ",";
  EXPECT_TRUE(ParseAndVerify(r).ok());
}

TEST_F(MalformedTest, NoAuthentication) {
  request_.Remove("authorization");
  ExpectAuthError(ParseSignature(request_.View()).status(),
                  AuthErrorCode::kMissingAuthenticationToken, "Missing Authentication Token");
}

TEST_F(MalformedTest, MissingParameters) {
  ExpectAuthError(WithAuthorization("AWS4-HMAC-SHA256"), AuthErrorCode::kIncompleteSignature,
                  "Authorization header requires 'Credential' parameter. Authorization header "
                  "requires 'Signature' parameter. Authorization header requires 'SignedHeaders' "
                  "parameter. Authorization=AWS4-HMAC-SHA256");
  ExpectAuthError(
      WithAuthorization("AWS4-HMAC-SHA256 " + Part("SignedHeaders=") + ", " + Part("Signature=")),
      AuthErrorCode::kIncompleteSignature,
      "Authorization header requires 'Credential' parameter. Authorization=AWS4-HMAC-SHA256");
  ExpectAuthError(
      WithAuthorization("AWS4-HMAC-SHA256 " + Part("Credential=") + ", " + Part("SignedHeaders=")),
      AuthErrorCode::kIncompleteSignature,
      "Authorization header requires 'Signature' parameter. Authorization=AWS4-HMAC-SHA256");
  ExpectAuthError(
      WithAuthorization("AWS4-HMAC-SHA256 " + Part("Credential=") + ", " + Part("Signature=")),
      AuthErrorCode::kIncompleteSignature,
      "Authorization header requires 'SignedHeaders' parameter. Authorization=AWS4-HMAC-SHA256");

  request_.Remove("x-amz-date");
  ExpectAuthError(ParseSignature(request_.View()).status(), AuthErrorCode::kIncompleteSignature,
                  "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' "
                  "header. Authorization=AWS4-HMAC-SHA256");
  ExpectAuthError(WithAuthorization("AWS4-HMAC-SHA256 "), AuthErrorCode::kIncompleteSignature,
                  "Authorization header requires 'Credential' parameter. Authorization header "
                  "requires 'Signature' parameter. Authorization header requires 'SignedHeaders' "
                  "parameter. Authorization header requires existence of either a 'X-Amz-Date' "
                  "or a 'Date' header. Authorization=AWS4-HMAC-SHA256");
}

TEST_F(MalformedTest, BadSyntax) {
  ExpectAuthError(WithAuthorization("Bearer eyJhbGciOi"), AuthErrorCode::kIncompleteSignature,
                  "Unsupported AWS 'algorithm': 'Bearer'.");
  ExpectAuthError(WithAuthorization(""), AuthErrorCode::kIncompleteSignature,
                  "Unsupported AWS 'algorithm': ''.");
  ExpectAuthError(WithAuthorization("AWS4-HMAC-SHA256 FooBar, BazBurp"),
                  AuthErrorCode::kIncompleteSignature,
                  "'FooBar' not a valid key=value pair (missing equal-sign) in Authorization "
                  "header: 'AWS4-HMAC-SHA256 FooBar, BazBurp'.");
}

TEST_F(MalformedTest, HostMustBeSigned) {
  ExpectAuthError(WithAuthorization("AWS4-HMAC-SHA256 " + Part("Credential=") +
                                    ", SignedHeaders=content-type;x-amz-date;x-amz-target, " +
                                    Part("Signature=")),
                  AuthErrorCode::kSignatureDoesNotMatch,
                  "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.");
}

TEST_F(MalformedTest, BadDate) {
  *request_.Find("x-amz-date") = "2015/08/30T12/36/00Z";
  ExpectAuthError(ParseSignature(request_.View()).status(), AuthErrorCode::kIncompleteSignature,
                  "Date must be in ISO-8601 'basic format'. Got '2015/08/30T12/36/00Z'. See "
                  "http://en.wikipedia.org/wiki/ISO_8601");
  for (const char* bad : {"20261130T095760Z", "20261131T095748Z", "20261130T245748Z",
                          "20261130T095748", "20261130 095748Z", "2026113OT095748Z"}) {
    *request_.Find("x-amz-date") = bad;
    EXPECT_EQ(AuthErrorCodeOf(ParseSignature(request_.View()).status()),
              AuthErrorCode::kIncompleteSignature)
        << bad;
  }
}

// Found by tests/fuzz/sigv4_header_fuzz: a year outside what a TimePoint holds (64-bit
// nanoseconds, 1677-09-21 to 2262-04-11) overflowed the conversion (UB; in practice a
// wrapped time, signed as another date) instead of being refused.
TEST_F(MalformedTest, DateOutsideTheRepresentableYearsIsRefused) {
  for (const char* bad : {"00261130T095748Z", "16770921T000000Z", "22620412T000000Z",
                          "99991231T235959Z", "00000101T000000Z"}) {
    *request_.Find("x-amz-date") = bad;
    ExpectAuthError(ParseSignature(request_.View()).status(), AuthErrorCode::kIncompleteSignature,
                    "Date must be in ISO-8601 'basic format'. Got '" + std::string(bad) +
                        "'. See http://en.wikipedia.org/wiki/ISO_8601");
  }
  request_.Remove("x-amz-date");
  request_.headers.push_back({"Date", "Sat, 01 Jan 2300 00:00:00 GMT"});
  EXPECT_EQ(AuthErrorCodeOf(ParseSignature(request_.View()).status()),
            AuthErrorCode::kIncompleteSignature);
  // The edges of the accepted years parse (and then fail only the scope date check).
  for (const char* edge : {"16780101T000000Z", "22611231T235959Z"}) {
    request_.Remove("date");
    request_.headers.push_back({"X-Amz-Date", edge});
    EXPECT_EQ(AuthErrorCodeOf(ParseSignature(request_.View()).status()),
              AuthErrorCode::kSignatureDoesNotMatch)
        << edge;
    request_.Remove("x-amz-date");
  }
}

TEST_F(MalformedTest, BadCredential) {
  ExpectAuthError(WithAuthorization("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE, " +
                                    Part("SignedHeaders=") + ", " + Part("Signature=")),
                  AuthErrorCode::kIncompleteSignature,
                  "Credential must have exactly 5 slash-delimited elements, e.g. "
                  "keyid/date/region/service/term, got 'AKIDEXAMPLE'");
  ExpectAuthError(
      WithAuthorization("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261129/us-east-1/kms/"
                        "aws5_request, " +
                        Part("SignedHeaders=") + ", " + Part("Signature=")),
      AuthErrorCode::kSignatureDoesNotMatch,
      "Credential should be scoped with a valid terminator: 'aws4_request', not 'aws5_request'. "
      "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
      "'20261129' != '20261130', from '20261130T095748Z'.");
}

TEST_F(MalformedTest, ScopeMustNameThisRegionAndService) {
  Result<ParsedSignature> parsed = ParseSignature(request_.View());
  ASSERT_TRUE(parsed.ok());
  EXPECT_TRUE(CheckCredentialScope(*parsed, "us-east-1", "kms").ok());
  ExpectAuthError(CheckCredentialScope(*parsed, "eu-west-1", "sts"),
                  AuthErrorCode::kSignatureDoesNotMatch,
                  "Credential should be scoped to a valid region, not 'us-east-1'. Credential "
                  "should be scoped to correct service: 'sts'.");
}

TEST_F(MalformedTest, HeaderAndQueryAuthenticationTogether) {
  request_.query = "X-Amz-Algorithm=AWS4-HMAC-SHA256";
  ExpectAuthError(ParseSignature(request_.View()).status(), AuthErrorCode::kSignatureDoesNotMatch,
                  kMismatch);
}

TEST_F(MalformedTest, IncompletePresignedQuery) {
  request_.Remove("authorization");
  request_.query = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20261130T095748Z";
  ExpectAuthError(ParseSignature(request_.View()).status(), AuthErrorCode::kIncompleteSignature,
                  "AWS query-string parameters must include 'X-Amz-Credential'. AWS query-string "
                  "parameters must include 'X-Amz-Signature'. AWS query-string parameters must "
                  "include 'X-Amz-SignedHeaders'. Re-examine the query-string parameters.");
  request_.query = "X-Amz-Algorithm=AWS4-HMAC-SHA1";
  ExpectAuthError(ParseSignature(request_.View()).status(),
                  AuthErrorCode::kMissingAuthenticationToken, "Missing Authentication Token");

  const std::string base =
      "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20261130%2Fus-east-1%2Fs3%"
      "2Faws4_request&X-Amz-Date=20261130T095748Z&X-Amz-SignedHeaders=host&X-Amz-Signature=00";
  request_.query = base + "&X-Amz-Expires=abc";
  ExpectAuthError(ParseSignature(request_.View()).status(), AuthErrorCode::kIncompleteSignature,
                  "X-Amz-Expires should be a number");
  request_.query = base + "&X-Amz-Expires=604801";
  ExpectAuthError(ParseSignature(request_.View()).status(), AuthErrorCode::kIncompleteSignature,
                  "X-Amz-Expires must be less than a week (in seconds) that is 604800");
  request_.query = base + "&X-Amz-Expires=604800";
  EXPECT_TRUE(ParseSignature(request_.View()).ok());
}

// ---------------------------------------------------------------------------
// Other header forms.

TEST(Sigv4Test, DateHeaderInsteadOfXAmzDate) {
  for (const char* date : {"Mon, 30 Nov 2026 09:57:48 GMT", "Mon, 30 Nov 2026 09:57:48 -0000"}) {
    SCOPED_TRACE(date);
    TestRequest r;
    r.headers = {{"Host", "127.0.0.1:4599"}, {"Date", date}};
    r.body = "Action=GetCallerIdentity&Version=2011-06-15";
    const std::vector<std::string> signed_headers = {"date", "host"};
    Result<std::vector<Header>> added =
        Sign(r.View(), MakeCredentials("AKIDEXAMPLE", kCapturedSecret), "us-east-1", "sts",
             At("20261130T095748Z"), signed_headers);
    ASSERT_TRUE(added.ok());
    r.Apply(*added);
    r.Remove("x-amz-date");
    Result<ParsedSignature> parsed = ParseSignature(r.View());
    ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
    EXPECT_EQ(parsed->amz_date, "20261130T095748Z");
    EXPECT_EQ(parsed->request_time, At("20261130T095748Z"));
    EXPECT_TRUE(ParseAndVerify(r).ok());
    *r.Find("date") = "Mon, 30 Nov 2026 09:57:49 GMT";
    ExpectAuthError(ParseAndVerify(r), AuthErrorCode::kSignatureDoesNotMatch, kMismatch);
    *r.Find("date") = "yesterday";
    ExpectAuthError(ParseSignature(r.View()).status(), AuthErrorCode::kIncompleteSignature,
                    "Date must be in ISO-8601 'basic format'. Got 'yesterday'. See "
                    "http://en.wikipedia.org/wiki/ISO_8601");
  }
}

TEST(Sigv4Test, SessionTokenIsSignedAndParsed) {
  const std::string token = "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJGMEQCIHw=";
  TestRequest r;
  r.headers = {{"Host", "127.0.0.1:4599"}, {"X-Amz-Target", "TrentService.ListKeys"}};
  r.body = "{}";
  Result<std::vector<Header>> added =
      Sign(r.View(), MakeCredentials("ASIAEXAMPLE", kCapturedSecret, token), "us-east-1", "kms",
           At("20261130T095748Z"));
  ASSERT_TRUE(added.ok());
  EXPECT_EQ((*added)[1], (Header{"X-Amz-Security-Token", token}));
  EXPECT_NE(added->back().value.find("SignedHeaders=host;x-amz-date;x-amz-security-token;"
                                     "x-amz-target, "),
            std::string::npos)
      << added->back().value;
  r.Apply(*added);
  Result<ParsedSignature> parsed = ParseSignature(r.View());
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->access_key_id, "ASIAEXAMPLE");
  EXPECT_EQ(parsed->session_token, token);
  EXPECT_TRUE(parsed->session_token_signed);
  EXPECT_TRUE(ParseAndVerify(r).ok());

  TestRequest changed = r;
  *changed.Find("x-amz-security-token") = token + "x";
  ExpectAuthError(ParseAndVerify(changed), AuthErrorCode::kSignatureDoesNotMatch, kMismatch);
  TestRequest dropped = r;
  dropped.Remove("x-amz-security-token");
  ExpectAuthError(ParseAndVerify(dropped), AuthErrorCode::kSignatureDoesNotMatch, kMismatch);
}

TEST(Sigv4Test, S3UnsignedPayload) {
  TestRequest r;
  r.method = "PUT";
  r.path = "/bucket/key";
  r.headers = {{"Host", "127.0.0.1:9000"}};
  r.body = "streamed data";
  r.payload_hash = std::string(kUnsignedPayload);
  Result<std::vector<Header>> added = Sign(r.View(), MakeCredentials("AKIDEXAMPLE", "secret"),
                                           "us-east-1", "s3", At("20261130T095748Z"));
  ASSERT_TRUE(added.ok());
  EXPECT_EQ((*added)[1], (Header{"X-Amz-Content-SHA256", "UNSIGNED-PAYLOAD"}));
  r.Apply(*added);
  r.payload_hash.reset();
  EXPECT_TRUE(ParseAndVerify(r).ok());
  r.body = "other data";  // not covered by the signature
  EXPECT_TRUE(ParseAndVerify(r).ok());
}

TEST(Sigv4Test, OnlyS3MayLeaveThePayloadUnsigned) {
  TestRequest r;
  r.headers = {{"Host", "127.0.0.1:4599"}, {"X-Amz-Content-SHA256", "UNSIGNED-PAYLOAD"}};
  r.body = "{}";
  const std::vector<std::string> signed_headers = {"host", "x-amz-content-sha256"};
  EXPECT_EQ(AuthErrorCodeOf(Sign(r.View(), MakeCredentials("AKIDEXAMPLE", "secret"), "us-east-1",
                                 "kms", At("20261130T095748Z"), signed_headers)
                                .status()),
            AuthErrorCode::kContentSha256Mismatch);
  // A request signed that way (by someone else's signer) is refused by the verifier.
  r.headers.push_back({"X-Amz-Date", "20261130T095748Z"});
  r.headers.push_back(
      {"Authorization",
       "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261130/us-east-1/kms/aws4_request, "
       "SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=" +
           std::string(64, '0')});
  ExpectAuthError(ParseAndVerify(r), AuthErrorCode::kContentSha256Mismatch,
                  "x-amz-content-sha256 must be a valid sha256 value.");
}

TEST(Sigv4Test, SignRequiresAHostAndKnownHeaders) {
  TestRequest r;
  r.headers = {{"Content-Type", "text/plain"}};
  Credentials credentials = MakeCredentials("AKIDEXAMPLE", "secret");
  EXPECT_EQ(Sign(r.View(), credentials, "us-east-1", "kms", At("20261130T095748Z")).status().code(),
            StatusCode::kInvalidArgument);
  r.headers.push_back({"Host", "h"});
  const std::vector<std::string> absent = {"host", "x-not-there"};
  EXPECT_EQ(Sign(r.View(), credentials, "us-east-1", "kms", At("20261130T095748Z"), absent)
                .status()
                .code(),
            StatusCode::kInvalidArgument);
  EXPECT_FALSE(
      Sign(r.View(), MakeCredentials("", "secret"), "us-east-1", "kms", At("20261130T095748Z"))
          .ok());
  EXPECT_FALSE(Sign(r.View(), credentials, "", "kms", At("20261130T095748Z")).ok());
}

// ---------------------------------------------------------------------------
// Canonicalisation.

TEST(Sigv4CanonicalTest, UriForServicesOtherThanS3IsNormalisedAndDoubleEncoded) {
  EXPECT_EQ(CanonicalUri("", "kms"), "/");
  EXPECT_EQ(CanonicalUri("/", "kms"), "/");
  EXPECT_EQ(CanonicalUri("/a/./b/../c//d", "iam"), "/a/c/d");
  EXPECT_EQ(CanonicalUri("/a/b/", "iam"), "/a/b/");
  EXPECT_EQ(CanonicalUri("/..", "iam"), "/");
  EXPECT_EQ(CanonicalUri("/a/..", "iam"), "/");
  EXPECT_EQ(CanonicalUri("/foo%20bar", "iam"), "/foo%2520bar");
  EXPECT_EQ(CanonicalUri("/a b", "iam"), "/a%20b");
  EXPECT_EQ(CanonicalUri("/~user/x-y_z.1", "iam"), "/~user/x-y_z.1");
  EXPECT_EQ(CanonicalUri("/a%2Fb", "execute-api"), "/a%252Fb");
}

TEST(Sigv4CanonicalTest, UriForS3IsAsSentSingleEncoded) {
  EXPECT_EQ(CanonicalUri("/bucket/my%20key", "s3"), "/bucket/my%20key");
  EXPECT_EQ(CanonicalUri("/bucket/a/./b//c/../", "s3"), "/bucket/a/./b//c/../");
  EXPECT_EQ(CanonicalUri("/bucket/a%2fb%7e%41", "s3"), "/bucket/a%2Fb~A");
  EXPECT_EQ(CanonicalUri("/bucket/a b+c", "s3"), "/bucket/a%20b%2Bc");
  EXPECT_EQ(CanonicalUri("/bucket/100%", "s3"), "/bucket/100%25");
  EXPECT_EQ(CanonicalUri("/bucket/%zz", "s3"), "/bucket/%25zz");
}

TEST(Sigv4CanonicalTest, Query) {
  EXPECT_EQ(CanonicalQuery("", false), "");
  EXPECT_EQ(CanonicalQuery("Version=2010-05-08&Action=ListUsers", false),
            "Action=ListUsers&Version=2010-05-08");
  EXPECT_EQ(CanonicalQuery("b=2&a=3&a=1&c", false), "a=1&a=3&b=2&c=");
  EXPECT_EQ(CanonicalQuery("key=a b&x=%7e%2f+", false), "key=a%20b&x=~%2F%2B");
  EXPECT_EQ(CanonicalQuery("&&a=1&", false), "a=1");
  EXPECT_EQ(CanonicalQuery("k=v=w", false), "k=v%3Dw");
  EXPECT_EQ(CanonicalQuery("%zz=1&%", false), "%25=&%25zz=1");
  EXPECT_EQ(CanonicalQuery("%C3%A9=%e2%82%ac", false), "%C3%A9=%E2%82%AC");
  EXPECT_EQ(CanonicalQuery("X-Amz-Signature=abc&a=1", false), "X-Amz-Signature=abc&a=1");
  EXPECT_EQ(CanonicalQuery("X-Amz-Signature=abc&a=1", true), "a=1");
}

TEST(Sigv4CanonicalTest, HeaderValues) {
  EXPECT_EQ(CanonicalHeaderValue("  a   b\t c  "), "a b c");
  EXPECT_EQ(CanonicalHeaderValue(""), "");
  EXPECT_EQ(CanonicalHeaderValue(" \t "), "");
  EXPECT_EQ(CanonicalHeaderValue("x"), "x");
}

TEST(Sigv4CanonicalTest, RequestJoinsRepeatedHeadersAndSortsNames) {
  TestRequest r;
  r.method = "GET";
  r.headers = {{"Host", "h"}, {"X-Foo", "  a "}, {"User-Agent", "u"}, {"x-foo", "b  c"}};
  const std::vector<std::string> signed_headers = {"X-Foo", "host", "host"};
  Result<std::string> canonical = CanonicalRequest(r.View(), signed_headers, "kms", false, "HASH");
  ASSERT_TRUE(canonical.ok());
  EXPECT_EQ(*canonical, "GET\n/\n\nhost:h\nx-foo:a,b c\n\nhost;x-foo\nHASH");
  const std::vector<std::string> absent = {"host", "x-bar"};
  EXPECT_EQ(CanonicalRequest(r.View(), absent, "kms", false, "HASH").status().code(),
            StatusCode::kInvalidArgument);
}

TEST(Sigv4CanonicalTest, PayloadHash) {
  const std::string empty_hash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
  const std::string body_hash = HexEncode(crypto::Sha256(AsBytes("{}")));
  TestRequest r;
  r.body = "{}";
  EXPECT_EQ(*PayloadHash(r.View(), "kms", false), body_hash);
  EXPECT_EQ(*PayloadHash(r.View(), "s3", true), "UNSIGNED-PAYLOAD");
  EXPECT_EQ(*PayloadHash(r.View(), "sts", true), body_hash);
  r.payload_hash = empty_hash;
  EXPECT_EQ(*PayloadHash(r.View(), "kms", false), empty_hash);
  r.payload_hash.reset();

  r.headers = {{"x-amz-content-sha256", body_hash}};
  EXPECT_EQ(*PayloadHash(r.View(), "kms", false), body_hash);
  r.headers = {{"X-Amz-Content-Sha256", empty_hash}};
  ExpectAuthError(PayloadHash(r.View(), "kms", false).status(),
                  AuthErrorCode::kContentSha256Mismatch,
                  "The provided 'x-amz-content-sha256' header does not match what was computed.");
  r.headers = {{"x-amz-content-sha256", "UNSIGNED-PAYLOAD"}};
  EXPECT_EQ(*PayloadHash(r.View(), "s3", false), "UNSIGNED-PAYLOAD");
  EXPECT_EQ(AuthErrorCodeOf(PayloadHash(r.View(), "kms", false).status()),
            AuthErrorCode::kContentSha256Mismatch);
  r.headers = {{"x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"}};
  EXPECT_EQ(*PayloadHash(r.View(), "s3", false), "STREAMING-AWS4-HMAC-SHA256-PAYLOAD");
  r.headers = {{"x-amz-content-sha256", "abc"}};
  ExpectAuthError(PayloadHash(r.View(), "s3", false).status(),
                  AuthErrorCode::kContentSha256Mismatch,
                  "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, "
                  "STREAMING-AWS4-HMAC-SHA256-PAYLOAD, or a valid sha256 value.");
}

TEST(Sigv4Test, ErrorCodesRoundTripThroughStatus) {
  for (AuthErrorCode code :
       {AuthErrorCode::kMissingAuthenticationToken, AuthErrorCode::kIncompleteSignature,
        AuthErrorCode::kSignatureDoesNotMatch, AuthErrorCode::kSignatureExpired,
        AuthErrorCode::kSignatureNotYetCurrent, AuthErrorCode::kRequestExpired,
        AuthErrorCode::kContentSha256Mismatch}) {
    EXPECT_FALSE(AuthErrorName(code).empty());
    EXPECT_EQ(AuthErrorCodeOf(
                  Status(StatusCode::kUnauthenticated, std::string(AuthErrorName(code)), "m")),
              code);
  }
  EXPECT_EQ(AuthErrorName(AuthErrorCode::kIncompleteSignature), "IncompleteSignature");
  EXPECT_EQ(AuthErrorName(AuthErrorCode::kSignatureDoesNotMatch), "SignatureDoesNotMatch");
  EXPECT_EQ(AuthErrorCodeOf(Status::Ok()), std::nullopt);
  EXPECT_EQ(AuthErrorCodeOf(InvalidArgumentError("x")), std::nullopt);
}

}  // namespace
}  // namespace coffer::net::sigv4
