// The request pipeline (route → authenticate → decode → authorize → execute →
// encode) end to end, without sockets: a KeyService and an IdentityService over
// one real SQLite store, an Endpoint over them, and requests signed with
// sigv4::Sign exactly as the aws CLI signs them (content-type;host;x-amz-date;
// x-amz-target, plus x-amz-security-token with a session). Every answer is
// checked to the byte where AWS's text is known: HTTP status, error name, message,
// protocol shape (JSON 1.1 or Query XML with the IAM/STS namespace).
#include "api/endpoint.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <future>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "api/cloudtrail_json.h"
#include "audit/audit_log.h"
#include "audit/audit_sink.h"
#include "audit/journal.h"
#include "common/bytes.h"
#include "common/clock.h"
#include "common/random.h"
#include "common/status.h"
#include "crypto/secret_bytes.h"
#include "iam/identity_service.h"
#include "iam/types.h"
#include "kms/key_service.h"
#include "net/http.h"
#include "net/sigv4.h"
#include "state/root_key.h"
#include "state/sqlite_state_store.h"
#include "testing/files.h"
#include "testing/status_matchers.h"

namespace coffer::api {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::StartsWith;
using Json = nlohmann::json;
using net::HeaderNameEquals;
using net::HttpHeader;
using net::HttpRequest;
using net::HttpResponse;
namespace sigv4 = net::sigv4;

// 2026-01-01T00:00:00Z.
constexpr int64_t kStartMillis = 1767225600000;
constexpr char kAccount[] = "111122223333";
constexpr char kRootArn[] = "arn:aws:iam::111122223333:root";
constexpr char kStsNs[] = "https://sts.amazonaws.com/doc/2011-06-15/";
constexpr char kIamNs[] = "https://iam.amazonaws.com/doc/2010-05-08/";
constexpr char kJsonType[] = "application/x-amz-json-1.1";
constexpr char kQueryType[] = "application/x-www-form-urlencoded; charset=utf-8";

constexpr char kInvalidToken[] = "The security token included in the request is invalid.";
constexpr char kExpiredToken[] = "The security token included in the request is expired";
constexpr char kBadSignature[] =
    "The request signature we calculated does not match the signature you provided. Check your "
    "AWS Secret Access Key and signing method. Consult the service documentation for details.";
constexpr char kLockout[] =
    "The new key policy will not allow you to update the key policy in the future.";

// What a client holds: an access key, its secret, and a session token (sessions only).
struct Creds {
  std::string access_key_id;
  std::string secret;
  std::string session_token;
};

// Form encoding as botocore writes Query bodies.
std::string FormEncode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string XmlEscaped(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '\'') {
      out += "&apos;";
    } else if (c == '"') {
      out += "&quot;";
    } else if (c == '&') {
      out += "&amp;";
    } else if (c == '<') {
      out += "&lt;";
    } else if (c == '>') {
      out += "&gt;";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// The text of the first <tag> element ("" when absent).
std::string Between(const std::string& xml, const std::string& tag) {
  size_t start = xml.find("<" + tag + ">");
  if (start == std::string::npos) return "";
  start += tag.size() + 2;
  size_t end = xml.find("</" + tag + ">", start);
  if (end == std::string::npos) return "";
  return xml.substr(start, end - start);
}

std::string Header(const HttpResponse& r, std::string_view name) {
  auto v = r.Header(name);
  return v ? std::string(*v) : std::string("<absent>");
}

// A summary of a response for failure messages.
std::string Show(const HttpResponse& r) { return std::to_string(r.status) + " " + r.body; }

std::string KeyPolicy(const std::vector<std::string>& principals_besides_root,
                      bool with_root = true) {
  std::string statements;
  if (with_root) {
    statements =
        R"({"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"})";
  }
  for (const std::string& p : principals_besides_root) {
    if (!statements.empty()) statements += ",";
    statements +=
        R"({"Sid":"Allow use","Effect":"Allow","Principal":{"AWS":")" + p +
        R"("},"Action":["kms:Encrypt","kms:Decrypt","kms:PutKeyPolicy","kms:GetKeyPolicy"],"Resource":"*"})";
  }
  return R"({"Version":"2012-10-17","Statement":[)" + statements + "]}";
}

std::string AllowPolicy(std::string_view actions_json, std::string_view resource = "*") {
  return R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":)" +
         std::string(actions_json) + R"(,"Resource":")" + std::string(resource) + R"("}]})";
}

// The audit sink of the tests: hands every record to a real AuditLog (so LookupEvents
// finds them) and keeps a copy; it can also fail every record, refuse (Health), or
// hold records back until released.
class TestSink final : public audit::AuditSink {
 public:
  enum class Mode { kPass, kFail, kRefuse, kHold };
  explicit TestSink(audit::AuditLog& log) : log_(log) {}

  void Record(const audit::AuditEvent& event, std::function<void(Status)> on_durable) override {
    std::string record = audit::BuildCloudTrailRecord(event);
    std::unique_lock<std::mutex> lock(mu_);
    records_.push_back(record);
    switch (mode_) {
      case Mode::kFail:
        lock.unlock();
        on_durable(Status(StatusCode::kDataLoss, "test: the disk is on fire"));
        return;
      case Mode::kHold:
        held_.push_back({std::move(record), std::move(on_durable)});
        return;
      case Mode::kPass:
      case Mode::kRefuse:
        break;
    }
    lock.unlock();
    log_.Record(std::move(record), std::move(on_durable));
  }
  Status Health() const override {
    std::lock_guard<std::mutex> lock(mu_);
    if (mode_ == Mode::kRefuse) return Status(StatusCode::kDataLoss, "test: journal damaged");
    return log_.Health();
  }

  void SetMode(Mode mode) {
    std::lock_guard<std::mutex> lock(mu_);
    mode_ = mode;
  }
  // Lets the held records through.
  void Release() {
    std::vector<std::pair<std::string, std::function<void(Status)>>> held;
    {
      std::lock_guard<std::mutex> lock(mu_);
      held.swap(held_);
    }
    for (auto& [record, cb] : held) log_.Record(std::move(record), std::move(cb));
  }
  std::vector<std::string> records() const {
    std::lock_guard<std::mutex> lock(mu_);
    return records_;
  }
  size_t held() const {
    std::lock_guard<std::mutex> lock(mu_);
    return held_.size();
  }

 private:
  audit::AuditLog& log_;
  mutable std::mutex mu_;
  Mode mode_ = Mode::kPass;
  std::vector<std::string> records_;
  std::vector<std::pair<std::string, std::function<void(Status)>>> held_;
};

class EndpointTest : public ::testing::Test {
 protected:
  EndpointTest() : clock_(FromEpochMillis(kStartMillis)), random_(0x656e64) {}

  void SetUp() override {
    auto store = state::SqliteStateStore::Open(temp_.File("state.db"));
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
    provider_ = std::make_unique<state::KeyFileRootKeyProvider>(temp_.File("root.key"), random_);
    auto vault = state::Vault::Open(*store_, *provider_, random_);
    ASSERT_TRUE(vault.ok()) << vault.status().ToString();
    vault_ = std::move(vault).value();
    auto kms = kms::KeyService::Create({}, *store_, *vault_, clock_, random_);
    ASSERT_TRUE(kms.ok()) << kms.status().ToString();
    kms_ = std::move(kms).value();
    auto iam = iam::IdentityService::Create({}, *store_, *vault_, clock_, random_);
    ASSERT_TRUE(iam.ok()) << iam.status().ToString();
    iam_ = std::move(iam).value();
    auto root = iam_->InitializeAccount();
    ASSERT_TRUE(root.ok() && root->has_value()) << root.status().ToString();
    root_ = Creds{(*root)->access_key_id, Reveal((*root)->secret_access_key), ""};
    audit::AuditLogOptions audit_options;
    audit_options.journal.sync = false;
    auto log = audit::AuditLog::Open(audit::JournalDirectory(temp_.path()), *store_, audit_options);
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    audit_log_ = std::move(log).value();
    sink_ = std::make_unique<TestSink>(*audit_log_);
    auto endpoint = Endpoint::Create({}, *kms_, *iam_, *sink_, clock_, random_, audit_log_.get());
    ASSERT_TRUE(endpoint.ok()) << endpoint.status().ToString();
    endpoint_ = std::move(endpoint).value();
  }

  static std::string Reveal(const crypto::SecretBytes& s) {
    return ToString(crypto::RevealSecret(s));
  }

  // ---- requests, as the aws CLI builds and signs them ---------------------------------

  static HttpRequest JsonRequest(std::string_view operation, std::string body) {
    HttpRequest r;
    r.method = "POST";
    r.target = "/";
    r.headers = {{"Host", "127.0.0.1:4566"},
                 {"Accept-Encoding", "identity"},
                 {"Content-Type", kJsonType},
                 {"X-Amz-Target", "TrentService." + std::string(operation)},
                 {"User-Agent", "aws-cli/2.9.19 Python/3.11.2 Linux/6.1 source/x86_64.debian.12"},
                 {"Content-Length", std::to_string(body.size())}};
    r.body = std::move(body);
    r.remote_address = "127.0.0.1";
    return r;
  }

  static HttpRequest QueryRequest(std::string body) {
    HttpRequest r;
    r.method = "POST";
    r.target = "/";
    r.headers = {{"Host", "127.0.0.1:4566"},
                 {"Accept-Encoding", "identity"},
                 {"Content-Type", kQueryType},
                 {"User-Agent", "aws-cli/2.9.19 Python/3.11.2 Linux/6.1 source/x86_64.debian.12"},
                 {"Content-Length", std::to_string(body.size())}};
    r.body = std::move(body);
    r.remote_address = "127.0.0.1";
    return r;
  }

  // A Query call whose parameters are in the URL (a GET, no body).
  static HttpRequest QueryGetRequest(std::string target) {
    HttpRequest r = QueryRequest("");
    r.method = "GET";
    r.target = std::move(target);
    std::erase_if(r.headers, [](const HttpHeader& h) {
      return h.name == "Content-Type" || h.name == "Content-Length";
    });
    return r;
  }

  // Signs `r` as botocore does; `time` defaults to the clock's now.
  void Sign(HttpRequest& r, const Creds& c, std::string_view service,
            std::optional<TimePoint> time = std::nullopt, std::string_view region = "us-east-1") {
    std::vector<std::string> signed_headers = {"host", "x-amz-date"};
    if (r.Header("Content-Type")) signed_headers.insert(signed_headers.begin(), "content-type");
    if (r.Header("X-Amz-Target")) signed_headers.push_back("x-amz-target");
    if (!c.session_token.empty()) signed_headers.push_back("x-amz-security-token");
    std::vector<sigv4::HeaderField> fields;
    for (const HttpHeader& h : r.headers) fields.push_back({h.name, h.value});
    sigv4::HttpRequestView view{
        .method = r.method,
        .raw_path = r.Path(),
        .raw_query = r.Query(),
        .headers = fields,
        .body = AsBytes(r.body),
    };
    sigv4::Credentials credentials{c.access_key_id, crypto::SecretBytes(c.secret), c.session_token};
    auto added = sigv4::Sign(view, credentials, region, service, time.value_or(clock_.Now()),
                             signed_headers);
    ASSERT_TRUE(added.ok()) << added.status().ToString();
    for (sigv4::Header& h : *added) {
      std::erase_if(r.headers,
                    [&](const HttpHeader& x) { return HeaderNameEquals(x.name, h.name); });
      r.headers.push_back({h.name, h.value});
    }
  }

  HttpResponse Send(const HttpRequest& r) { return endpoint_->Handle(r); }

  HttpResponse Kms(const Creds& c, std::string_view operation, const Json& body) {
    HttpRequest r = JsonRequest(operation, body.dump());
    Sign(r, c, "kms");
    return Send(r);
  }
  HttpResponse Sts(const Creds& c, const std::string& body) {
    HttpRequest r = QueryRequest(body);
    Sign(r, c, "sts");
    return Send(r);
  }
  HttpResponse Iam(const Creds& c, const std::string& body) {
    HttpRequest r = QueryRequest(body);
    Sign(r, c, "iam");
    return Send(r);
  }
  HttpResponse CloudTrail(const Creds& c, std::string_view operation, const Json& body) {
    HttpRequest r = JsonRequest(operation, body.dump());
    std::erase_if(r.headers, [](const HttpHeader& h) { return h.name == "X-Amz-Target"; });
    r.headers.push_back(
        {"X-Amz-Target", std::string(kCloudTrailTargetPrefix) + std::string(operation)});
    Sign(r, c, "cloudtrail");
    return Send(r);
  }

  // The records the sink received, parsed.
  std::vector<Json> Records() const {
    std::vector<Json> out;
    for (const std::string& r : sink_->records()) out.push_back(Json::parse(r));
    return out;
  }
  Json LastRecord() const {
    auto records = Records();
    EXPECT_FALSE(records.empty());
    return records.empty() ? Json() : records.back();
  }

  // ---- answers ----------------------------------------------------------------------

  // A JSON 1.1 error: status, headers and the exact body fields.
  static void ExpectJsonError(const HttpResponse& r, int status, const std::string& type,
                              const std::string& message) {
    EXPECT_EQ(r.status, status) << Show(r);
    EXPECT_EQ(Header(r, "Content-Type"), kJsonType);
    EXPECT_EQ(Header(r, "X-Amzn-ErrorType"), type);
    EXPECT_THAT(Header(r, "x-amzn-RequestId"),
                MatchesRegex("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"));
    Json body = Json::parse(r.body, nullptr, false);
    ASSERT_TRUE(body.is_object()) << r.body;
    EXPECT_EQ(body, (Json{{"__type", type}, {"message", message}})) << r.body;
  }

  // A Query error: status and the exact ErrorResponse, its RequestId the header's.
  static void ExpectQueryError(const HttpResponse& r, int status, std::string_view xmlns,
                               const std::string& code, const std::string& message) {
    EXPECT_EQ(r.status, status) << Show(r);
    EXPECT_EQ(Header(r, "Content-Type"), "text/xml");
    std::string id = Header(r, "x-amzn-RequestId");
    EXPECT_THAT(id, MatchesRegex("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"));
    EXPECT_EQ(r.body, "<ErrorResponse xmlns=\"" + std::string(xmlns) +
                          "\"><Error><Type>Sender</Type><Code>" + code + "</Code><Message>" +
                          XmlEscaped(message) + "</Message></Error><RequestId>" + id +
                          "</RequestId></ErrorResponse>");
  }

  static Json JsonOk(const HttpResponse& r) {
    EXPECT_EQ(r.status, 200) << Show(r);
    EXPECT_EQ(Header(r, "Content-Type"), kJsonType);
    if (r.body.empty()) return Json::object();
    return Json::parse(r.body, nullptr, false);
  }

  // ---- setup through the engines (the subject is the pipeline) ---------------------------

  // A user with an access key; the key's credentials.
  Creds NewUser(const std::string& name) {
    auto user = iam_->CreateUser(iam::CreateUserRequest{name, std::nullopt});
    EXPECT_TRUE(user.ok()) << user.status().ToString();
    auto key = iam_->CreateAccessKey(policy::Principal::Root(kAccount), name);
    EXPECT_TRUE(key.ok()) << key.status().ToString();
    if (!key.ok()) return {};
    return Creds{key->access_key_id, Reveal(key->secret_access_key), ""};
  }
  static std::string UserArn(const std::string& name) {
    return "arn:aws:iam::111122223333:user/" + name;
  }

  void PutUserPolicy(const std::string& user, const std::string& document) {
    ASSERT_TRUE(iam_->PutUserPolicy(user, "p", document).ok());
  }

  // Creates a key as the root through the endpoint; its ARN.
  std::string NewKey(std::optional<std::string> key_policy = std::nullopt) {
    Json body = Json::object();
    if (key_policy) body["Policy"] = *key_policy;
    Json reply = JsonOk(Kms(root_, "CreateKey", body));
    return reply["KeyMetadata"].value("Arn", "");
  }

  HttpResponse Encrypt(const Creds& c, const std::string& key, std::string_view plaintext = "hi") {
    return Kms(c, "Encrypt", {{"KeyId", key}, {"Plaintext", Base64Encode(AsBytes(plaintext))}});
  }

  // The key policy as stored (read from the engine: a policy may lock even the root out).
  std::string KeyPolicyOf(const std::string& key) {
    auto policy = kms_->GetKeyPolicy(key, std::nullopt);
    EXPECT_TRUE(policy.ok()) << policy.status().ToString();
    return policy.ok() ? *policy : "";
  }

  static std::string AccessDenied(const std::string& who, const std::string& action,
                                  const std::string& resource, const std::string& why) {
    return "User: " + who + " is not authorized to perform: " + action +
           " on resource: " + resource + " " + why;
  }
  static std::string NoIdentityPolicy(const std::string& action) {
    return "because no identity-based policy allows the " + action + " action";
  }
  static std::string NoResourcePolicy(const std::string& action) {
    return "because no resource-based policy allows the " + action + " action";
  }

  // A role trusting `trusted_arn`, and a session of it for `caller` (through STS).
  Creds AssumeRole(const Creds& caller, const std::string& role_arn, const std::string& session) {
    HttpResponse r =
        Sts(caller, "Action=AssumeRole&Version=2011-06-15&RoleArn=" + FormEncode(role_arn) +
                        "&RoleSessionName=" + session);
    EXPECT_EQ(r.status, 200) << Show(r);
    last_expiration_ = Between(r.body, "Expiration");
    return Creds{Between(r.body, "AccessKeyId"), Between(r.body, "SecretAccessKey"),
                 Between(r.body, "SessionToken")};
  }
  std::string NewRole(const std::string& name, const std::string& trusted_arn) {
    iam::CreateRoleRequest req;
    req.role_name = name;
    req.assume_role_policy_document =
        R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":")" +
        trusted_arn + R"("},"Action":"sts:AssumeRole"}]})";
    auto role = iam_->CreateRole(req);
    EXPECT_TRUE(role.ok()) << role.status().ToString();
    return role.ok() ? role->arn : "";
  }

  ::coffer::testing::TempDir temp_;
  FakeClock clock_;
  SeededRandom random_;
  std::unique_ptr<state::SqliteStateStore> store_;
  std::unique_ptr<state::KeyFileRootKeyProvider> provider_;
  std::unique_ptr<state::Vault> vault_;
  std::unique_ptr<kms::KeyService> kms_;
  std::unique_ptr<iam::IdentityService> iam_;
  std::unique_ptr<audit::AuditLog> audit_log_;
  std::unique_ptr<TestSink> sink_;
  std::unique_ptr<Endpoint> endpoint_;
  Creds root_;
  std::string last_expiration_;
};

const std::string kGetCallerIdentity = "Action=GetCallerIdentity&Version=2011-06-15";

// ---- a successful call ------------------------------------------------------------------

TEST_F(EndpointTest, RootCallsKmsAndGetsJsonWithRequestId) {
  HttpResponse r = Kms(root_, "CreateKey", Json::object());
  Json created = JsonOk(r);
  EXPECT_THAT(Header(r, "x-amzn-RequestId"),
              MatchesRegex("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"));
  std::string arn = created["KeyMetadata"].value("Arn", "");
  EXPECT_THAT(arn, StartsWith("arn:aws:kms:us-east-1:111122223333:key/"));

  Json encrypted = JsonOk(Encrypt(root_, arn, "hello"));
  EXPECT_EQ(encrypted.value("KeyId", ""), arn);
  Json decrypted = JsonOk(Kms(root_, "Decrypt", {{"CiphertextBlob", encrypted["CiphertextBlob"]}}));
  EXPECT_EQ(decrypted.value("Plaintext", ""), Base64Encode(AsBytes("hello")));
  EXPECT_EQ(decrypted.value("KeyId", ""), arn);

  // Every request gets its own id.
  HttpResponse again = Kms(root_, "ListKeys", Json::object());
  JsonOk(again);
  EXPECT_NE(Header(again, "x-amzn-RequestId"), Header(r, "x-amzn-RequestId"));
}

TEST_F(EndpointTest, RootCallsStsAndIamOverQuery) {
  HttpResponse r = Sts(root_, kGetCallerIdentity);
  EXPECT_EQ(r.status, 200) << Show(r);
  EXPECT_EQ(Header(r, "Content-Type"), "text/xml");
  EXPECT_THAT(r.body, StartsWith("<GetCallerIdentityResponse xmlns=\"" + std::string(kStsNs)));
  EXPECT_EQ(Between(r.body, "Arn"), kRootArn);
  EXPECT_EQ(Between(r.body, "Account"), kAccount);
  EXPECT_EQ(Between(r.body, "RequestId"), Header(r, "x-amzn-RequestId"));

  HttpResponse u = Iam(root_, "Action=CreateUser&Version=2010-05-08&UserName=bob");
  EXPECT_EQ(u.status, 200) << Show(u);
  EXPECT_THAT(u.body, StartsWith("<CreateUserResponse xmlns=\"" + std::string(kIamNs)));
  EXPECT_EQ(Between(u.body, "Arn"), UserArn("bob"));
}

// ---- authentication ----------------------------------------------------------------------

TEST_F(EndpointTest, UnknownAccessKeyIsAnInvalidToken) {
  Creds unknown{"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""};
  ExpectJsonError(Kms(unknown, "ListKeys", Json::object()), 400, "UnrecognizedClientException",
                  kInvalidToken);
  ExpectQueryError(Sts(unknown, kGetCallerIdentity), 403, kStsNs, "InvalidClientTokenId",
                   kInvalidToken);
  ExpectQueryError(Iam(unknown, "Action=ListUsers&Version=2010-05-08"), 403, kIamNs,
                   "InvalidClientTokenId", kInvalidToken);
}

TEST_F(EndpointTest, WrongSecretIsASignatureMismatch) {
  Creds wrong = root_;
  wrong.secret[0] = wrong.secret[0] == 'A' ? 'B' : 'A';
  ExpectJsonError(Kms(wrong, "ListKeys", Json::object()), 400, "InvalidSignatureException",
                  kBadSignature);
  ExpectQueryError(Sts(wrong, kGetCallerIdentity), 403, kStsNs, "SignatureDoesNotMatch",
                   kBadSignature);
  ExpectQueryError(Iam(wrong, "Action=ListUsers&Version=2010-05-08"), 403, kIamNs,
                   "SignatureDoesNotMatch", kBadSignature);
}

TEST_F(EndpointTest, BodyChangedAfterSigningIsASignatureMismatch) {
  HttpRequest r = JsonRequest("ListKeys", "{}");
  Sign(r, root_, "kms");
  r.body = R"({"Limit":1})";
  ExpectJsonError(Send(r), 400, "InvalidSignatureException", kBadSignature);
}

TEST_F(EndpointTest, KmsAllowsFiveMinutesOfClockSkew) {
  const TimePoint now = clock_.Now();
  HttpRequest r = JsonRequest("ListKeys", "{}");
  Sign(r, root_, "kms", now - std::chrono::minutes(6));
  ExpectJsonError(Send(r), 400, "InvalidSignatureException",
                  "Signature expired: 20251231T235400Z is now earlier than 20251231T235500Z "
                  "(20260101T000000Z - 5 min.)");

  r = JsonRequest("ListKeys", "{}");
  Sign(r, root_, "kms", now + std::chrono::minutes(6));
  ExpectJsonError(Send(r), 400, "InvalidSignatureException",
                  "Signature not yet current: 20260101T000600Z is still later than "
                  "20260101T000500Z (20260101T000000Z + 5 min.)");

  for (int minutes : {-4, 4}) {
    r = JsonRequest("ListKeys", "{}");
    Sign(r, root_, "kms", now + std::chrono::minutes(minutes));
    JsonOk(Send(r));
  }
}

TEST_F(EndpointTest, StsAllowsFifteenMinutesOfClockSkew) {
  const TimePoint now = clock_.Now();
  HttpRequest r = QueryRequest(kGetCallerIdentity);
  Sign(r, root_, "sts", now - std::chrono::minutes(14));
  HttpResponse ok = Send(r);
  EXPECT_EQ(ok.status, 200) << Show(ok);

  r = QueryRequest(kGetCallerIdentity);
  Sign(r, root_, "sts", now - std::chrono::minutes(16));
  ExpectQueryError(Send(r), 403, kStsNs, "SignatureDoesNotMatch",
                   "Signature expired: 20251231T234400Z is now earlier than 20251231T234500Z "
                   "(20260101T000000Z - 15 min.)");

  r = QueryRequest(kGetCallerIdentity);
  Sign(r, root_, "sts", now + std::chrono::minutes(16));
  ExpectQueryError(Send(r), 403, kStsNs, "SignatureDoesNotMatch",
                   "Signature not yet current: 20260101T001600Z is still later than "
                   "20260101T001500Z (20260101T000000Z + 15 min.)");
}

TEST_F(EndpointTest, MissingAuthorizationIsAMissingToken) {
  HttpRequest j = JsonRequest("ListKeys", "{}");
  ExpectJsonError(Send(j), 400, "MissingAuthenticationTokenException",
                  "Missing Authentication Token");
  HttpRequest q = QueryRequest(kGetCallerIdentity);
  ExpectQueryError(Send(q), 403, kStsNs, "MissingAuthenticationToken",
                   "Missing Authentication Token");
  // No scope names the service: an Action only IAM has answers in IAM's namespace.
  HttpRequest iam = QueryRequest("Action=ListUsers&Version=2010-05-08");
  ExpectQueryError(Send(iam), 403, kIamNs, "MissingAuthenticationToken",
                   "Missing Authentication Token");
}

TEST_F(EndpointTest, AQueryInTheUrlRunsWithTheValuesItsSignatureCovers) {
  // SigV4 reads a '+' in the query string as itself, so x+y and x%2By carry one
  // signature: both must run as "x+y", never as "x y".
  HttpRequest r = QueryGetRequest("/?Action=CreateUser&Version=2010-05-08&UserName=x%2By");
  Sign(r, root_, "iam");
  r.target = "/?Action=CreateUser&Version=2010-05-08&UserName=x+y";
  HttpResponse created = Send(r);
  EXPECT_EQ(created.status, 200) << created.body;
  EXPECT_THAT(created.body, HasSubstr("<UserName>x+y</UserName>"));
  r.target = "/?Action=CreateUser&Version=2010-05-08&UserName=x%2By";
  HttpResponse again = Send(r);
  EXPECT_EQ(again.status, 409) << again.body;
  EXPECT_THAT(again.body, HasSubstr("EntityAlreadyExists"));
}

TEST_F(EndpointTest, AnUnknownTargetPrefixIsRecordedUnderItsWholeName) {
  // "Bogus.Encrypt" is no KMS call: its record must not be found as an Encrypt.
  HttpRequest j = JsonRequest("Encrypt", "{}");
  std::erase_if(j.headers,
                [](const HttpHeader& h) { return HeaderNameEquals(h.name, "X-Amz-Target"); });
  j.headers.push_back({"X-Amz-Target", "Bogus.Encrypt"});
  Sign(j, root_, "kms");
  HttpResponse r = Send(j);
  EXPECT_EQ(r.status, 400) << Show(r);
  EXPECT_EQ(Header(r, "X-Amzn-ErrorType"), "UnknownOperationException");
  EXPECT_EQ(LastRecord()["eventName"], "Bogus.Encrypt");
  EXPECT_EQ(LastRecord()["errorCode"], "UnknownOperationException");
}

TEST_F(EndpointTest, JsonCallsNeedTheJsonContentType) {
  // AWS routes a JSON call by its Content-Type: another type, or none, is an
  // unknown operation (and nothing runs).
  for (std::optional<std::string> type :
       {std::optional<std::string>("application/json"), std::optional<std::string>("text/plain"),
        std::optional<std::string>("application/x-www-form-urlencoded"),
        std::optional<std::string>()}) {
    HttpRequest j = JsonRequest("CreateKey", "{}");
    std::erase_if(j.headers,
                  [](const HttpHeader& h) { return HeaderNameEquals(h.name, "Content-Type"); });
    if (type) j.headers.push_back({"Content-Type", *type});
    Sign(j, root_, "kms");
    HttpResponse r = Send(j);
    EXPECT_EQ(r.status, 400) << type.value_or("(none)") << ": " << Show(r);
    EXPECT_EQ(Header(r, "X-Amzn-ErrorType"), "UnknownOperationException")
        << type.value_or("(none)");
    EXPECT_THAT(r.body, HasSubstr("application/x-amz-json-1.1")) << type.value_or("(none)");
  }
  EXPECT_EQ(JsonOk(Kms(root_, "ListKeys", Json::object()))["Keys"], Json::array());
  // JSON 1.0 and parameters are fine; the media type is case-insensitive.
  for (std::string type : {"application/x-amz-json-1.0", "Application/X-Amz-Json-1.1",
                           "application/x-amz-json-1.1; charset=utf-8"}) {
    HttpRequest j = JsonRequest("ListKeys", "{}");
    std::erase_if(j.headers,
                  [](const HttpHeader& h) { return HeaderNameEquals(h.name, "Content-Type"); });
    j.headers.push_back({"Content-Type", type});
    Sign(j, root_, "kms");
    HttpResponse r = Send(j);
    EXPECT_EQ(r.status, 200) << type << ": " << Show(r);
  }
}

TEST_F(EndpointTest, MalformedAuthorizationIsAnIncompleteSignature) {
  HttpRequest j = JsonRequest("ListKeys", "{}");
  Sign(j, root_, "kms");
  for (HttpHeader& h : j.headers) {
    if (HeaderNameEquals(h.name, "Authorization")) {
      h.value = "AWS4-HMAC-SHA256 SignedHeaders=host, Signature=00";
    }
  }
  HttpResponse r = Send(j);
  EXPECT_EQ(r.status, 400) << Show(r);
  EXPECT_EQ(Header(r, "X-Amzn-ErrorType"), "IncompleteSignatureException");
  EXPECT_THAT(r.body, HasSubstr("Authorization header requires 'Credential' parameter."));
}

TEST_F(EndpointTest, CredentialScopedToAnotherRegionOrServiceIsRefused) {
  HttpRequest r = JsonRequest("ListKeys", "{}");
  Sign(r, root_, "kms", std::nullopt, "eu-west-1");
  ExpectJsonError(Send(r), 400, "InvalidSignatureException",
                  "Credential should be scoped to a valid region, not 'eu-west-1'.");

  r = JsonRequest("ListKeys", "{}");
  Sign(r, root_, "sts");
  ExpectJsonError(Send(r), 400, "InvalidSignatureException",
                  "Credential should be scoped to correct service: 'kms'.");

  r = QueryRequest(kGetCallerIdentity);
  Sign(r, root_, "sts", std::nullopt, "eu-west-1");
  ExpectQueryError(Send(r), 403, kStsNs, "SignatureDoesNotMatch",
                   "Credential should be scoped to a valid region, not 'eu-west-1'.");

  // A Query request signed for a service that is not served over Query.
  r = QueryRequest(kGetCallerIdentity);
  Sign(r, root_, "kms");
  ExpectQueryError(Send(r), 403, kStsNs, "SignatureDoesNotMatch",
                   "Credential should be scoped to correct service: 'sts'.");
}

TEST_F(EndpointTest, InactiveAccessKeyIsAnInvalidToken) {
  Creds alice = NewUser("alice");
  PutUserPolicy("alice", AllowPolicy(R"(["kms:ListKeys"])"));
  JsonOk(Kms(alice, "ListKeys", Json::object()));

  HttpResponse u =
      Iam(root_, "Action=UpdateAccessKey&Version=2010-05-08&UserName=alice&AccessKeyId=" +
                     alice.access_key_id + "&Status=Inactive");
  ASSERT_EQ(u.status, 200) << Show(u);
  ExpectJsonError(Kms(alice, "ListKeys", Json::object()), 400, "UnrecognizedClientException",
                  kInvalidToken);
  ExpectQueryError(Sts(alice, kGetCallerIdentity), 403, kStsNs, "InvalidClientTokenId",
                   kInvalidToken);

  u = Iam(root_, "Action=UpdateAccessKey&Version=2010-05-08&UserName=alice&AccessKeyId=" +
                     alice.access_key_id + "&Status=Active");
  ASSERT_EQ(u.status, 200) << Show(u);
  JsonOk(Kms(alice, "ListKeys", Json::object()));
}

TEST_F(EndpointTest, DeletedAccessKeyIsAnInvalidToken) {
  Creds alice = NewUser("alice");
  HttpResponse ok = Sts(alice, kGetCallerIdentity);
  ASSERT_EQ(ok.status, 200) << Show(ok);
  HttpResponse d =
      Iam(root_, "Action=DeleteAccessKey&Version=2010-05-08&UserName=alice&AccessKeyId=" +
                     alice.access_key_id);
  ASSERT_EQ(d.status, 200) << Show(d);
  ExpectQueryError(Sts(alice, kGetCallerIdentity), 403, kStsNs, "InvalidClientTokenId",
                   kInvalidToken);
}

// ---- KMS authorization ---------------------------------------------------------------------

TEST_F(EndpointTest, UserWithoutIdentityPolicyIsDeniedByAKeyPolicyNamingTheRoot) {
  std::string key = NewKey();
  Creds alice = NewUser("alice");
  ExpectJsonError(
      Encrypt(alice, key), 400, "AccessDeniedException",
      AccessDenied(UserArn("alice"), "kms:Encrypt", key, NoIdentityPolicy("kms:Encrypt")));
}

TEST_F(EndpointTest, IdentityPolicyAllowsWhenTheKeyPolicyNamesTheRoot) {
  std::string key = NewKey();
  Creds alice = NewUser("alice");
  PutUserPolicy("alice", AllowPolicy(R"(["kms:Encrypt"])", key));
  Json out = JsonOk(Encrypt(alice, key));
  EXPECT_EQ(out.value("KeyId", ""), key);
  // Only what the policy names.
  ExpectJsonError(
      Kms(alice, "DescribeKey", {{"KeyId", key}}), 400, "AccessDeniedException",
      AccessDenied(UserArn("alice"), "kms:DescribeKey", key, NoIdentityPolicy("kms:DescribeKey")));
}

TEST_F(EndpointTest, ExplicitDenyInAnIdentityPolicyWins) {
  std::string key = NewKey();
  Creds alice = NewUser("alice");
  PutUserPolicy(
      "alice",
      R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"},{"Effect":"Deny","Action":"kms:Encrypt","Resource":"*"}]})");
  ExpectJsonError(Encrypt(alice, key), 400, "AccessDeniedException",
                  AccessDenied(UserArn("alice"), "kms:Encrypt", key,
                               "with an explicit deny in an identity-based policy"));
  JsonOk(Kms(alice, "DescribeKey", {{"KeyId", key}}));
}

TEST_F(EndpointTest, AGrantAllowsWhatThePoliciesDoNotButNeverAgainstADeny) {
  std::string key = NewKey();
  Creds alice = NewUser("alice");
  Json grant = JsonOk(Kms(root_, "CreateGrant",
                          {{"KeyId", key},
                           {"GranteePrincipal", UserArn("alice")},
                           {"Operations", {"Encrypt", "Decrypt"}},
                           {"Constraints", {{"EncryptionContextEquals", {{"app", "x"}}}}}}));
  auto encrypt = [&](const Json& context) {
    return Kms(alice, "Encrypt",
               {{"KeyId", key}, {"Plaintext", "aGk="}, {"EncryptionContext", context}});
  };
  JsonOk(encrypt({{"app", "x"}}));
  ExpectJsonError(
      encrypt({{"app", "x"}, {"b", "c"}}), 400, "AccessDeniedException",
      AccessDenied(UserArn("alice"), "kms:Encrypt", key, NoIdentityPolicy("kms:Encrypt")));
  // An explicit deny in an identity policy wins over the grant.
  PutUserPolicy(
      "alice",
      R"({"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"kms:Encrypt","Resource":"*"}]})");
  ExpectJsonError(encrypt({{"app", "x"}}), 400, "AccessDeniedException",
                  AccessDenied(UserArn("alice"), "kms:Encrypt", key,
                               "with an explicit deny in an identity-based policy"));
  // The grantee may not retire a grant that does not list RetireGrant, nor revoke it.
  std::string id = grant.value("GrantId", "");
  ExpectJsonError(
      Kms(alice, "RetireGrant", {{"KeyId", key}, {"GrantId", id}}), 400, "AccessDeniedException",
      AccessDenied(UserArn("alice"), "kms:RetireGrant", key, NoIdentityPolicy("kms:RetireGrant")));
  ExpectJsonError(
      Kms(alice, "RevokeGrant", {{"KeyId", key}, {"GrantId", id}}), 400, "AccessDeniedException",
      AccessDenied(UserArn("alice"), "kms:RevokeGrant", key, NoIdentityPolicy("kms:RevokeGrant")));
  // The account's root retires any grant of its account.
  JsonOk(Kms(root_, "RetireGrant", {{"GrantToken", grant.value("GrantToken", "")}}));
}

TEST_F(EndpointTest, AnExplicitDenyStopsTheRetiringPrincipal) {
  std::string key = NewKey();
  Creds alice = NewUser("alice");
  NewUser("bob");
  Json grant = JsonOk(Kms(root_, "CreateGrant",
                          {{"KeyId", key},
                           {"GranteePrincipal", UserArn("bob")},
                           {"RetiringPrincipal", UserArn("alice")},
                           {"Operations", {"Decrypt"}}}));
  PutUserPolicy(
      "alice",
      R"({"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"kms:RetireGrant","Resource":"*"}]})");
  ExpectJsonError(Kms(alice, "RetireGrant", {{"GrantToken", grant.value("GrantToken", "")}}), 400,
                  "AccessDeniedException",
                  AccessDenied(UserArn("alice"), "kms:RetireGrant", key,
                               "with an explicit deny in an identity-based policy"));
  // Without the deny, the retiring principal needs no policy.
  PutUserPolicy(
      "alice",
      R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:ListKeys","Resource":"*"}]})");
  EXPECT_EQ(Kms(alice, "RetireGrant", {{"GrantToken", grant.value("GrantToken", "")}}).status, 200);
}

TEST_F(EndpointTest, GetSessionTokenCredentialsActAsTheUserButNotOnIam) {
  Creds alice = NewUser("alice");
  HttpResponse r = Sts(alice, "Action=GetSessionToken&Version=2011-06-15&DurationSeconds=900");
  ASSERT_EQ(r.status, 200) << r.body;
  Creds temp{Between(r.body, "AccessKeyId"), Between(r.body, "SecretAccessKey"),
             Between(r.body, "SessionToken")};
  HttpResponse who = Sts(temp, "Action=GetCallerIdentity&Version=2011-06-15");
  ASSERT_EQ(who.status, 200) << who.body;
  EXPECT_EQ(Between(who.body, "Arn"), UserArn("alice"));
  HttpResponse iam = Iam(temp, "Action=ListUsers&Version=2010-05-08");
  EXPECT_EQ(iam.status, 403);
  EXPECT_EQ(Between(iam.body, "Code"), "InvalidClientTokenId");
  HttpResponse again = Sts(temp, "Action=GetSessionToken&Version=2011-06-15");
  EXPECT_EQ(again.status, 403);
  EXPECT_EQ(Between(again.body, "Message"), "Cannot call GetSessionToken with session credentials");
}

TEST_F(EndpointTest, ConditionKeysAwsSetsInEveryRequestAndForAKey) {
  // The guard many accounts put in place: deny outside the region. Every key it
  // names is in the request, so it denies nothing here.
  std::string key = NewKey();
  JsonOk(
      Kms(root_, "TagResource",
          {{"KeyId", key}, {"Tags", Json::array({{{"TagKey", "Project"}, {"TagValue", "x"}}})}}));
  JsonOk(Kms(root_, "CreateAlias", {{"AliasName", "alias/orders"}, {"TargetKeyId", key}}));
  Creds alice = NewUser("alice");
  PutUserPolicy("alice", R"({"Version":"2012-10-17","Statement":[
    {"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{
      "StringEquals":{"aws:RequestedRegion":"us-east-1","aws:ResourceAccount":"111122223333",
        "kms:KeySpec":"SYMMETRIC_DEFAULT","kms:KeyUsage":"ENCRYPT_DECRYPT","kms:KeyOrigin":"AWS_KMS",
        "aws:ResourceTag/project":"x"},
      "Bool":{"kms:MultiRegion":"false","aws:ViaAWSService":"false","aws:PrincipalIsAWSService":"false"},
      "ForAnyValue:StringEquals":{"kms:ResourceAliases":"alias/orders"}}},
    {"Effect":"Deny","Action":"kms:*","Resource":"*",
     "Condition":{"StringNotEquals":{"aws:RequestedRegion":"us-east-1"}}}]})");
  JsonOk(Encrypt(alice, key));

  // Each key decides: another tag value, another alias, no tag at all.
  JsonOk(
      Kms(root_, "TagResource",
          {{"KeyId", key}, {"Tags", Json::array({{{"TagKey", "Project"}, {"TagValue", "y"}}})}}));
  ExpectJsonError(
      Encrypt(alice, key), 400, "AccessDeniedException",
      AccessDenied(UserArn("alice"), "kms:Encrypt", key, NoIdentityPolicy("kms:Encrypt")));
  JsonOk(Kms(root_, "UntagResource", {{"KeyId", key}, {"TagKeys", Json::array({"Project"})}}));
  PutUserPolicy("alice", R"({"Version":"2012-10-17","Statement":[
    {"Effect":"Allow","Action":"kms:Encrypt","Resource":"*",
     "Condition":{"ForAnyValue:StringEquals":{"kms:ResourceAliases":"alias/orders"}}},
    {"Effect":"Deny","Action":"kms:Encrypt","Resource":"*",
     "Condition":{"Null":{"aws:ResourceTag/Project":"true"}}}]})");
  ExpectJsonError(Encrypt(alice, key), 400, "AccessDeniedException",
                  AccessDenied(UserArn("alice"), "kms:Encrypt", key,
                               "with an explicit deny in an identity-based policy"));
  PutUserPolicy("alice", R"({"Version":"2012-10-17","Statement":[
    {"Effect":"Allow","Action":"kms:Encrypt","Resource":"*",
     "Condition":{"ForAnyValue:StringEquals":{"kms:ResourceAliases":"alias/orders"}}}]})");
  JsonOk(Encrypt(alice, key));
  JsonOk(Kms(root_, "DeleteAlias", {{"AliasName", "alias/orders"}}));
  ExpectJsonError(
      Encrypt(alice, key), 400, "AccessDeniedException",
      AccessDenied(UserArn("alice"), "kms:Encrypt", key, NoIdentityPolicy("kms:Encrypt")));
}

TEST_F(EndpointTest, KeyPolicyNamingTheUserAllowsWithoutIdentityPolicy) {
  Creds alice = NewUser("alice");
  std::string key = NewKey(KeyPolicy({UserArn("alice")}));
  JsonOk(Encrypt(alice, key));
  // What the statement does not grant stays denied, now by the key policy.
  ExpectJsonError(
      Kms(alice, "DescribeKey", {{"KeyId", key}}), 400, "AccessDeniedException",
      AccessDenied(UserArn("alice"), "kms:DescribeKey", key, NoIdentityPolicy("kms:DescribeKey")));
}

TEST_F(EndpointTest, AUserDeletedAndCreatedAgainIsNotTheOneAPolicyNames) {
  // IAM: a policy names the principals that existed when it was saved.
  Creds alice = NewUser("alice");
  std::string key = NewKey(KeyPolicy({UserArn("alice")}));
  std::string role_arn = NewRole("AliceRole", UserArn("alice"));
  JsonOk(Encrypt(alice, key));
  clock_.Advance(std::chrono::seconds(1));
  ASSERT_TRUE(
      iam_->DeleteAccessKey(policy::Principal::Root(kAccount), "alice", alice.access_key_id).ok());
  ASSERT_TRUE(iam_->DeleteUser("alice").ok());
  clock_.Advance(std::chrono::seconds(1));
  Creds again = NewUser("alice");
  ExpectJsonError(
      Encrypt(again, key), 400, "AccessDeniedException",
      AccessDenied(UserArn("alice"), "kms:Encrypt", key, NoIdentityPolicy("kms:Encrypt")));
  HttpResponse assumed =
      Sts(again, "Action=AssumeRole&Version=2011-06-15&RoleArn=" + FormEncode(role_arn) +
                     "&RoleSessionName=s1");
  EXPECT_EQ(assumed.status, 403) << Show(assumed);
  // Saving the policies again names the user that exists now.
  JsonOk(
      Kms(root_, "PutKeyPolicy",
          {{"KeyId", key}, {"PolicyName", "default"}, {"Policy", KeyPolicy({UserArn("alice")})}}));
  JsonOk(Encrypt(again, key));
}

TEST_F(EndpointTest, KeyPolicyNotNamingTheAccountIgnoresIdentityPolicies) {
  Creds alice = NewUser("alice");
  Creds bob = NewUser("bob");
  PutUserPolicy("bob", AllowPolicy(R"("kms:*")"));
  std::string key = NewKey();
  // The root sets a policy naming only alice (bypassing the lockout check).
  JsonOk(Kms(root_, "PutKeyPolicy",
             {{"KeyId", key},
              {"PolicyName", "default"},
              {"Policy", KeyPolicy({UserArn("alice")}, /*with_root=*/false)},
              {"BypassPolicyLockoutSafetyCheck", true}}));
  JsonOk(Encrypt(alice, key));
  ExpectJsonError(
      Encrypt(bob, key), 400, "AccessDeniedException",
      AccessDenied(UserArn("bob"), "kms:Encrypt", key, NoResourcePolicy("kms:Encrypt")));
}

TEST_F(EndpointTest, DecryptIsAuthorizedAgainstTheKeyOfTheCiphertext) {
  std::string key_a = NewKey();
  std::string key_b = NewKey();
  Creds alice = NewUser("alice");
  PutUserPolicy("alice", AllowPolicy(R"(["kms:Encrypt","kms:Decrypt"])", key_a));

  Json blob_a = JsonOk(Encrypt(alice, key_a));
  Json blob_b = JsonOk(Encrypt(root_, key_b));
  Json plain = JsonOk(Kms(alice, "Decrypt", {{"CiphertextBlob", blob_a["CiphertextBlob"]}}));
  EXPECT_EQ(plain.value("Plaintext", ""), Base64Encode(AsBytes("hi")));

  ExpectJsonError(
      Kms(alice, "Decrypt", {{"CiphertextBlob", blob_b["CiphertextBlob"]}}), 400,
      "AccessDeniedException",
      AccessDenied(UserArn("alice"), "kms:Decrypt", key_b, NoIdentityPolicy("kms:Decrypt")));
  // Naming key A does not make key B's ciphertext key A's.
  ExpectJsonError(
      Kms(alice, "Decrypt", {{"CiphertextBlob", blob_b["CiphertextBlob"]}, {"KeyId", key_a}}), 400,
      "IncorrectKeyException",
      "The key ID in the request does not identify a CMK that can perform this operation.");
}

TEST_F(EndpointTest, KeyPoliciesMayNameOnlyPrincipalsThatExist) {
  // KMS: "The principals in the key policy must exist and be visible to KMS."
  const std::string kInvalid = "Policy contains a statement with one or more invalid principals.";
  NewUser("alice");
  const std::string key = NewKey();
  const std::string before = KeyPolicyOf(key);
  for (const std::string& ghost : {std::string("arn:aws:iam::111122223333:user/ghost"),
                                   std::string("arn:aws:iam::111122223333:role/ghost"),
                                   std::string("arn:aws:sts::111122223333:assumed-role/ghost/s1"),
                                   std::string("arn:aws:iam::111122223333:user/other-path/alice"),
                                   std::string("arn:aws:iam::444455556666:user/alice")}) {
    for (bool bypass : {false, true}) {
      ExpectJsonError(Kms(root_, "PutKeyPolicy",
                          {{"KeyId", key},
                           {"PolicyName", "default"},
                           {"Policy", KeyPolicy({ghost})},
                           {"BypassPolicyLockoutSafetyCheck", bypass}}),
                      400, "MalformedPolicyDocumentException", kInvalid);
      ExpectJsonError(
          Kms(root_, "CreateKey",
              {{"Policy", KeyPolicy({ghost})}, {"BypassPolicyLockoutSafetyCheck", bypass}}),
          400, "MalformedPolicyDocumentException", kInvalid);
    }
  }
  EXPECT_EQ(KeyPolicyOf(key), before);
  EXPECT_EQ(JsonOk(Kms(root_, "ListKeys", Json::object()))["Keys"].size(), 1u);
  // Users, roles and sessions of roles that exist, other accounts, and "*" are fine.
  NewRole("R", UserArn("alice"));
  JsonOk(Kms(root_, "PutKeyPolicy",
             {{"KeyId", key},
              {"PolicyName", "default"},
              {"Policy", KeyPolicy({UserArn("alice"), "arn:aws:iam::111122223333:role/R",
                                    "arn:aws:sts::111122223333:assumed-role/R/s1", "444455556666",
                                    "arn:aws:iam::444455556666:root"})}}));
}

TEST_F(EndpointTest, LockoutSafetyCheckOnPutKeyPolicy) {
  std::string key = NewKey();
  Creds admin = NewUser("admin");
  PutUserPolicy("admin", AllowPolicy(R"("kms:*")", key));
  NewRole("Other", UserArn("admin"));
  const std::string before = KeyPolicyOf(key);
  // Without the root statement the admin's identity policy no longer counts.
  const std::string locked = KeyPolicy({"arn:aws:iam::111122223333:role/Other"}, false);

  ExpectJsonError(
      Kms(admin, "PutKeyPolicy", {{"KeyId", key}, {"PolicyName", "default"}, {"Policy", locked}}),
      400, "MalformedPolicyDocumentException", kLockout);
  EXPECT_EQ(KeyPolicyOf(key), before);
  ExpectJsonError(Kms(admin, "PutKeyPolicy",
                      {{"KeyId", key},
                       {"PolicyName", "default"},
                       {"Policy", locked},
                       {"BypassPolicyLockoutSafetyCheck", false}}),
                  400, "MalformedPolicyDocumentException", kLockout);
  EXPECT_EQ(KeyPolicyOf(key), before);

  // A policy that keeps the admin able to update it passes.
  JsonOk(
      Kms(admin, "PutKeyPolicy",
          {{"KeyId", key}, {"PolicyName", "default"}, {"Policy", KeyPolicy({UserArn("admin")})}}));
  EXPECT_EQ(KeyPolicyOf(key), KeyPolicy({UserArn("admin")}));

  JsonOk(Kms(admin, "PutKeyPolicy",
             {{"KeyId", key},
              {"PolicyName", "default"},
              {"Policy", locked},
              {"BypassPolicyLockoutSafetyCheck", true}}));
  EXPECT_EQ(KeyPolicyOf(key), locked);
  // …and it did lock the admin out.
  ExpectJsonError(
      Kms(admin, "PutKeyPolicy", {{"KeyId", key}, {"PolicyName", "default"}, {"Policy", before}}),
      400, "AccessDeniedException",
      AccessDenied(UserArn("admin"), "kms:PutKeyPolicy", key,
                   NoResourcePolicy("kms:PutKeyPolicy")));
}

TEST_F(EndpointTest, LockoutSafetyCheckOnCreateKey) {
  Creds admin = NewUser("admin");
  PutUserPolicy("admin", AllowPolicy(R"("kms:*")"));
  NewRole("Other", UserArn("admin"));
  const std::string locked = KeyPolicy({"arn:aws:iam::111122223333:role/Other"}, false);
  Json before = JsonOk(Kms(root_, "ListKeys", Json::object()));
  ExpectJsonError(Kms(admin, "CreateKey", {{"Policy", locked}}), 400,
                  "MalformedPolicyDocumentException", kLockout);
  EXPECT_EQ(JsonOk(Kms(root_, "ListKeys", Json::object())), before);
  JsonOk(Kms(admin, "CreateKey", Json::object()));  // the default policy names the root
  JsonOk(Kms(admin, "CreateKey", {{"Policy", locked}, {"BypassPolicyLockoutSafetyCheck", true}}));
  EXPECT_EQ(JsonOk(Kms(root_, "ListKeys", Json::object()))["Keys"].size(), 2u);
}

TEST_F(EndpointTest, CreateKeysLockoutCheckNamesTheNewKey) {
  // The check asks whether the caller could PutKeyPolicy on the key it makes:
  // an identity policy for key ARNs (not "*") allows that, as it allows the
  // PutKeyPolicy itself once the key exists.
  Creds maker = NewUser("maker");
  PutUserPolicy("maker", R"({"Version":"2012-10-17","Statement":[)"
                         R"({"Effect":"Allow","Action":"kms:CreateKey","Resource":"*"},)"
                         R"({"Effect":"Allow","Action":"kms:*",)"
                         R"("Resource":"arn:aws:kms:us-east-1:111122223333:key/*"}]})");
  Json created = JsonOk(Kms(maker, "CreateKey", {{"Policy", KeyPolicy({})}}));
  const std::string key = created["KeyMetadata"]["KeyId"];
  JsonOk(Kms(maker, "PutKeyPolicy",
             {{"KeyId", key}, {"PolicyName", "default"}, {"Policy", KeyPolicy({})}}));
  // The new key's tags are those of the request.
  Creds tagged = NewUser("tagged");
  PutUserPolicy("tagged",
                R"({"Version":"2012-10-17","Statement":[)"
                R"({"Effect":"Allow","Action":["kms:CreateKey","kms:TagResource"],"Resource":"*"},)"
                R"({"Effect":"Allow","Action":"kms:PutKeyPolicy","Resource":"*",)"
                R"("Condition":{"StringEquals":{"aws:ResourceTag/team":"red"}}}]})");
  const Json red = {{{"TagKey", "team"}, {"TagValue", "red"}}};
  const Json blue = {{{"TagKey", "team"}, {"TagValue", "blue"}}};
  JsonOk(Kms(tagged, "CreateKey", {{"Policy", KeyPolicy({})}, {"Tags", red}}));
  ExpectJsonError(Kms(tagged, "CreateKey", {{"Policy", KeyPolicy({})}, {"Tags", blue}}), 400,
                  "MalformedPolicyDocumentException", kLockout);
  ExpectJsonError(Kms(tagged, "CreateKey", {{"Policy", KeyPolicy({})}}), 400,
                  "MalformedPolicyDocumentException", kLockout);
}

TEST_F(EndpointTest, CreateKeyWithTheDefaultPolicyIsNotLockoutChecked) {
  // CreateKey's model: only a policy the caller provides must allow its PutKeyPolicy.
  // A user allowed kms:CreateKey alone gets a key with the default policy.
  Creds maker = NewUser("maker");
  PutUserPolicy("maker", AllowPolicy(R"("kms:CreateKey")"));
  Json created = JsonOk(Kms(maker, "CreateKey", Json::object()));
  const std::string key = created["KeyMetadata"]["KeyId"];
  Json policy = JsonOk(Kms(root_, "GetKeyPolicy", {{"KeyId", key}, {"PolicyName", "default"}}));
  EXPECT_THAT(policy["Policy"].get<std::string>(), HasSubstr("arn:aws:iam::111122223333:root"));
  // A policy it provides is still checked, even one that says what the default says.
  ExpectJsonError(Kms(maker, "CreateKey", {{"Policy", KeyPolicy({})}}), 400,
                  "MalformedPolicyDocumentException", kLockout);
}

TEST_F(EndpointTest, RefusedCallsChangeNothing) {
  std::string key = NewKey();
  JsonOk(Kms(root_, "CreateAlias", {{"AliasName", "alias/kept"}, {"TargetKeyId", key}}));
  Creds alice = NewUser("alice");
  const Json aliases = JsonOk(Kms(root_, "ListAliases", Json::object()));
  const std::string policy = KeyPolicyOf(key);
  const Json got_policy = JsonOk(Kms(root_, "GetKeyPolicy", {{"KeyId", key}}));
  const Json keys = JsonOk(Kms(root_, "ListKeys", Json::object()));
  const Json described = JsonOk(Kms(root_, "DescribeKey", {{"KeyId", key}}));

  ExpectJsonError(Kms(alice, "CreateAlias", {{"AliasName", "alias/new"}, {"TargetKeyId", key}}),
                  400, "AccessDeniedException",
                  AccessDenied(UserArn("alice"), "kms:CreateAlias",
                               "arn:aws:kms:us-east-1:111122223333:alias/new",
                               NoIdentityPolicy("kms:CreateAlias")));
  ExpectJsonError(Kms(alice, "DeleteAlias", {{"AliasName", "alias/kept"}}), 400,
                  "AccessDeniedException",
                  AccessDenied(UserArn("alice"), "kms:DeleteAlias",
                               "arn:aws:kms:us-east-1:111122223333:alias/kept",
                               NoIdentityPolicy("kms:DeleteAlias")));
  ExpectJsonError(
      Kms(alice, "PutKeyPolicy",
          {{"KeyId", key}, {"PolicyName", "default"}, {"Policy", KeyPolicy({UserArn("alice")})}}),
      400, "AccessDeniedException",
      AccessDenied(UserArn("alice"), "kms:PutKeyPolicy", key,
                   NoIdentityPolicy("kms:PutKeyPolicy")));
  ExpectJsonError(
      Kms(alice, "DisableKey", {{"KeyId", key}}), 400, "AccessDeniedException",
      AccessDenied(UserArn("alice"), "kms:DisableKey", key, NoIdentityPolicy("kms:DisableKey")));
  ExpectJsonError(
      Kms(alice, "CreateKey", Json::object()), 400, "AccessDeniedException",
      AccessDenied(UserArn("alice"), "kms:CreateKey", "*", NoIdentityPolicy("kms:CreateKey")));
  // A request that fails authentication does not run either.
  Creds forged = root_;
  forged.secret[1] = forged.secret[1] == 'A' ? 'B' : 'A';
  ExpectJsonError(Kms(forged, "DeleteAlias", {{"AliasName", "alias/kept"}}), 400,
                  "InvalidSignatureException", kBadSignature);

  EXPECT_EQ(JsonOk(Kms(root_, "ListAliases", Json::object())), aliases);
  EXPECT_EQ(KeyPolicyOf(key), policy);
  EXPECT_EQ(JsonOk(Kms(root_, "GetKeyPolicy", {{"KeyId", key}})), got_policy);
  EXPECT_EQ(JsonOk(Kms(root_, "ListKeys", Json::object())), keys);
  EXPECT_EQ(JsonOk(Kms(root_, "DescribeKey", {{"KeyId", key}})), described);
}

// ---- IAM / STS authorization and sessions ----------------------------------------------------

TEST_F(EndpointTest, IamCallsNeedAnIdentityPolicy) {
  Creds alice = NewUser("alice");
  ExpectQueryError(Iam(alice, "Action=CreateUser&Version=2010-05-08&UserName=mallory"), 403, kIamNs,
                   "AccessDenied",
                   AccessDenied(UserArn("alice"), "iam:CreateUser", UserArn("mallory"),
                                NoIdentityPolicy("iam:CreateUser")));
  ASSERT_FALSE(iam_->GetUser(policy::Principal::Root(kAccount), "mallory").ok());
  PutUserPolicy("alice", AllowPolicy(R"("iam:CreateUser")"));
  HttpResponse r = Iam(alice, "Action=CreateUser&Version=2010-05-08&UserName=mallory");
  EXPECT_EQ(r.status, 200) << Show(r);
}

TEST_F(EndpointTest, TagsAtCreationNeedTheTaggingActionToo) {
  Creds alice = NewUser("alice");
  PutUserPolicy("alice", AllowPolicy(R"("iam:CreateUser")"));
  const std::string create =
      "Action=CreateUser&Version=2010-05-08&UserName=mallory"
      "&Tags.member.1.Key=Team&Tags.member.1.Value=db";
  ExpectQueryError(Iam(alice, create), 403, kIamNs, "AccessDenied",
                   AccessDenied(UserArn("alice"), "iam:TagUser", UserArn("mallory"),
                                NoIdentityPolicy("iam:TagUser")));
  ASSERT_FALSE(iam_->GetUser(policy::Principal::Root(kAccount), "mallory").ok());
  // The request's tags are conditions of both actions.
  PutUserPolicy("alice", R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow",
    "Action":["iam:CreateUser","iam:TagUser"],"Resource":"*",
    "Condition":{"StringEquals":{"aws:RequestTag/team":"db"},
                 "ForAllValues:StringEquals":{"aws:TagKeys":["Team"]}}}]})");
  HttpResponse r = Iam(alice, create);
  ASSERT_EQ(r.status, 200) << Show(r);
  EXPECT_THAT(r.body, HasSubstr("<Tags><member><Key>Team</Key><Value>db</Value></member></Tags>"));
  ExpectQueryError(Iam(alice,
                       "Action=TagUser&Version=2010-05-08&UserName=mallory"
                       "&Tags.member.1.Key=Team&Tags.member.1.Value=web"),
                   403, kIamNs, "AccessDenied",
                   AccessDenied(UserArn("alice"), "iam:TagUser", UserArn("mallory"),
                                NoIdentityPolicy("iam:TagUser")));
  // Tags and TagKeys are required lists.
  ExpectQueryError(Iam(root_, "Action=TagUser&Version=2010-05-08&UserName=mallory"), 400, kIamNs,
                   "ValidationError",
                   "1 validation error detected: Value null at 'tags' failed to satisfy "
                   "constraint: Member must not be null");
  r = Iam(root_, "Action=ListUserTags&Version=2010-05-08&UserName=mallory");
  ASSERT_EQ(r.status, 200) << Show(r);
  EXPECT_THAT(r.body, HasSubstr("<ListUserTagsResult><Tags><member><Key>Team</Key><Value>db</Value>"
                                "</member></Tags><IsTruncated>false</IsTruncated>"));
}

TEST_F(EndpointTest, PrincipalTagsAreConditionKeys) {
  std::string key = NewKey();
  Creds alice = NewUser("alice");
  ASSERT_OK(iam_->TagUser("alice", {{"Team", "db"}}));
  PutUserPolicy("alice", R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow",
    "Action":"kms:Encrypt","Resource":"*",
    "Condition":{"StringEquals":{"aws:PrincipalTag/team":"db"}}}]})");
  JsonOk(Encrypt(alice, key));
  ASSERT_OK(iam_->TagUser("alice", {{"Team", "web"}}));
  ExpectJsonError(
      Encrypt(alice, key), 400, "AccessDeniedException",
      AccessDenied(UserArn("alice"), "kms:Encrypt", key, NoIdentityPolicy("kms:Encrypt")));
  // In a key policy too, and for a session: its role's tags.
  std::string role_key = NewKey(R"({"Version":"2012-10-17","Statement":[
    {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},
    {"Effect":"Allow","Principal":"*","Action":"kms:Encrypt","Resource":"*",
     "Condition":{"StringEquals":{"aws:PrincipalTag/Level":"2"}}}]})");
  iam::CreateRoleRequest req;
  req.role_name = "reader";
  req.assume_role_policy_document = R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow",
    "Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"sts:AssumeRole"}]})";
  req.tags = {{"Level", "2"}};
  ASSERT_OK(iam_->CreateRole(req).status());
  PutUserPolicy("alice", AllowPolicy(R"("sts:AssumeRole")"));
  Creds session = AssumeRole(alice, "arn:aws:iam::111122223333:role/reader", "s1");
  JsonOk(Encrypt(session, role_key));
  ASSERT_OK(iam_->UntagRole("reader", {"level"}));
  ExpectJsonError(Encrypt(session, role_key), 400, "AccessDeniedException",
                  AccessDenied("arn:aws:sts::111122223333:assumed-role/reader/s1", "kms:Encrypt",
                               role_key, NoIdentityPolicy("kms:Encrypt")));
}

TEST_F(EndpointTest, TagConditionsOnIamCallsAndTheLockoutCheck) {
  // A role's tags are aws:ResourceTag for a call on it.
  Creds alice = NewUser("alice");
  PutUserPolicy("alice", R"({"Version":"2012-10-17","Statement":[
    {"Effect":"Allow","Action":"iam:*","Resource":"*"},
    {"Effect":"Deny","Action":"iam:DeleteRole","Resource":"*",
     "Condition":{"StringEquals":{"aws:ResourceTag/protected":"true"}}}]})");
  NewRole("kept", UserArn("alice"));
  NewRole("spare", UserArn("alice"));
  ASSERT_OK(iam_->TagRole("kept", {{"Protected", "true"}}));
  ExpectQueryError(
      Iam(alice, "Action=DeleteRole&Version=2010-05-08&RoleName=kept"), 403, kIamNs, "AccessDenied",
      AccessDenied(UserArn("alice"), "iam:DeleteRole", "arn:aws:iam::111122223333:role/kept",
                   "with an explicit deny in an identity-based policy"));
  HttpResponse r = Iam(alice, "Action=DeleteRole&Version=2010-05-08&RoleName=spare");
  EXPECT_EQ(r.status, 200) << Show(r);

  // The lockout check sees the caller's tags, as the caller's next call will.
  std::string key = NewKey();
  Creds admin = NewUser("admin");
  ASSERT_OK(iam_->TagUser("admin", {{"Team", "sec"}}));
  PutUserPolicy("admin", AllowPolicy(R"("kms:*")"));
  const std::string by_tag = R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow",
    "Principal":{"AWS":")" + UserArn("admin") +
                             R"("},"Action":"kms:*","Resource":"*",
    "Condition":{"StringEquals":{"aws:PrincipalTag/Team":"sec"}}}]})";
  JsonOk(
      Kms(admin, "PutKeyPolicy", {{"KeyId", key}, {"PolicyName", "default"}, {"Policy", by_tag}}));
  JsonOk(Kms(admin, "DescribeKey", {{"KeyId", key}}));
}

TEST_F(EndpointTest, AssumeRoleGivesASessionThatKmsAuthorizesByRole) {
  Creds alice = NewUser("alice");
  std::string role_arn = NewRole("AppRole", UserArn("alice"));
  std::string key = NewKey();

  HttpResponse assumed =
      Sts(alice, "Action=AssumeRole&Version=2011-06-15&RoleArn=" + FormEncode(role_arn) +
                     "&RoleSessionName=s1");
  ASSERT_EQ(assumed.status, 200) << Show(assumed);
  EXPECT_THAT(assumed.body, StartsWith("<AssumeRoleResponse xmlns=\"" + std::string(kStsNs)));
  EXPECT_EQ(Between(assumed.body, "Arn"), "arn:aws:sts::111122223333:assumed-role/AppRole/s1");
  EXPECT_EQ(Between(assumed.body, "Expiration"), "2026-01-01T01:00:00Z");
  Creds session{Between(assumed.body, "AccessKeyId"), Between(assumed.body, "SecretAccessKey"),
                Between(assumed.body, "SessionToken")};
  EXPECT_THAT(session.access_key_id, StartsWith("ASIA"));
  ASSERT_FALSE(session.secret.empty());
  ASSERT_FALSE(session.session_token.empty());

  HttpResponse who = Sts(session, kGetCallerIdentity);
  ASSERT_EQ(who.status, 200) << Show(who);
  EXPECT_EQ(Between(who.body, "Arn"), "arn:aws:sts::111122223333:assumed-role/AppRole/s1");

  const std::string session_arn = "arn:aws:sts::111122223333:assumed-role/AppRole/s1";
  ExpectJsonError(Encrypt(session, key), 400, "AccessDeniedException",
                  AccessDenied(session_arn, "kms:Encrypt", key, NoIdentityPolicy("kms:Encrypt")));

  // The root adds the role to the key policy: every session of the role may use the key.
  JsonOk(Kms(root_, "PutKeyPolicy",
             {{"KeyId", key}, {"PolicyName", "default"}, {"Policy", KeyPolicy({role_arn})}}));
  JsonOk(Encrypt(session, key));
}

TEST_F(EndpointTest, AssumeRoleNotAllowedByTheTrustPolicyIsDenied) {
  Creds alice = NewUser("alice");
  Creds bob = NewUser("bob");
  std::string role_arn = NewRole("AppRole", UserArn("alice"));
  HttpResponse r = Sts(bob, "Action=AssumeRole&Version=2011-06-15&RoleArn=" + FormEncode(role_arn) +
                                "&RoleSessionName=s1");
  // No reason follows: the same text as for a role that does not exist.
  const std::string refused =
      "User: " + UserArn("bob") + " is not authorized to perform: sts:AssumeRole on resource: ";
  ExpectQueryError(r, 403, kStsNs, "AccessDenied", refused + role_arn);
  const std::string missing = "arn:aws:iam::111122223333:role/NoSuchRole";
  ExpectQueryError(Sts(bob, "Action=AssumeRole&Version=2011-06-15&RoleArn=" + FormEncode(missing) +
                                "&RoleSessionName=s1"),
                   403, kStsNs, "AccessDenied", refused + missing);
}

TEST_F(EndpointTest, SessionTokenMustBeTheOneIssued) {
  Creds alice = NewUser("alice");
  std::string role_arn = NewRole("AppRole", UserArn("alice"));
  Creds session = AssumeRole(alice, role_arn, "s1");
  ASSERT_FALSE(session.session_token.empty());

  Creds forged = session;
  forged.session_token[5] = forged.session_token[5] == 'A' ? 'B' : 'A';
  ExpectJsonError(Kms(forged, "ListKeys", Json::object()), 400, "UnrecognizedClientException",
                  kInvalidToken);
  ExpectQueryError(Sts(forged, kGetCallerIdentity), 403, kStsNs, "InvalidClientTokenId",
                   kInvalidToken);

  Creds missing = session;
  missing.session_token.clear();
  ExpectJsonError(Kms(missing, "ListKeys", Json::object()), 400, "UnrecognizedClientException",
                  kInvalidToken);
  ExpectQueryError(Sts(missing, kGetCallerIdentity), 403, kStsNs, "InvalidClientTokenId",
                   kInvalidToken);

  // Another session's token, valid in itself, does not go with this key.
  Creds other = AssumeRole(alice, role_arn, "s2");
  Creds swapped = session;
  swapped.session_token = other.session_token;
  ExpectQueryError(Sts(swapped, kGetCallerIdentity), 403, kStsNs, "InvalidClientTokenId",
                   kInvalidToken);

  // A long-term key with a token.
  Creds long_term_with_token = alice;
  long_term_with_token.session_token = session.session_token;
  ExpectJsonError(Kms(long_term_with_token, "ListKeys", Json::object()), 400,
                  "UnrecognizedClientException", kInvalidToken);
  ExpectQueryError(Sts(long_term_with_token, kGetCallerIdentity), 403, kStsNs,
                   "InvalidClientTokenId", kInvalidToken);

  // The token sent but not signed (aws-protocols.md: present, signed, and equal).
  Creds without = session;
  without.session_token.clear();
  HttpRequest q = QueryRequest(kGetCallerIdentity);
  Sign(q, without, "sts");
  q.headers.push_back({"X-Amz-Security-Token", session.session_token});
  ExpectQueryError(Send(q), 403, kStsNs, "InvalidClientTokenId", kInvalidToken);
  HttpRequest j = JsonRequest("ListKeys", "{}");
  Sign(j, without, "kms");
  j.headers.push_back({"X-Amz-Security-Token", session.session_token});
  ExpectJsonError(Send(j), 400, "UnrecognizedClientException", kInvalidToken);
  // Nor in a pre-signed URL, whose query does not carry it.
  HttpRequest presigned = QueryGetRequest("/");
  std::vector<sigv4::HeaderField> fields;
  for (const HttpHeader& h : presigned.headers) fields.push_back({h.name, h.value});
  Result<std::string> query = sigv4::Presign(
      {.method = "GET", .raw_path = "/", .raw_query = kGetCallerIdentity, .headers = fields},
      {without.access_key_id, crypto::SecretBytes(without.secret), ""}, "us-east-1", "sts",
      clock_.Now(), std::chrono::seconds(60));
  ASSERT_TRUE(query.ok()) << query.status().ToString();
  presigned.target = "/?" + *query;
  presigned.headers.push_back({"X-Amz-Security-Token", session.session_token});
  ExpectQueryError(Send(presigned), 403, kStsNs, "InvalidClientTokenId", kInvalidToken);

  HttpResponse ok = Sts(session, kGetCallerIdentity);
  EXPECT_EQ(ok.status, 200) << Show(ok);
}

TEST_F(EndpointTest, ExpiredSessionIsAnExpiredToken) {
  Creds alice = NewUser("alice");
  std::string role_arn = NewRole("AppRole", UserArn("alice"));
  Creds session = AssumeRole(alice, role_arn, "s1");
  ASSERT_EQ(last_expiration_, "2026-01-01T01:00:00Z");

  clock_.Advance(std::chrono::minutes(59));
  HttpResponse still = Sts(session, kGetCallerIdentity);
  EXPECT_EQ(still.status, 200) << Show(still);

  clock_.Advance(std::chrono::minutes(1));  // exactly the Expiration
  ExpectJsonError(Kms(session, "ListKeys", Json::object()), 400, "ExpiredTokenException",
                  kExpiredToken);
  ExpectQueryError(Sts(session, kGetCallerIdentity), 400, kStsNs, "ExpiredToken", kExpiredToken);
  ExpectQueryError(Iam(session, "Action=ListUsers&Version=2010-05-08"), 400, kIamNs, "ExpiredToken",
                   kExpiredToken);

  // A forged token on an expired session is still an invalid one.
  Creds forged = session;
  forged.session_token[5] = forged.session_token[5] == 'A' ? 'B' : 'A';
  ExpectJsonError(Kms(forged, "ListKeys", Json::object()), 400, "UnrecognizedClientException",
                  kInvalidToken);
}

// ---- audit: one record per call, answered once durable -------------------------------------

constexpr char kUuidRegex[] = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";

TEST_F(EndpointTest, ASessionsRecordsCarryItsCreationDate) {
  Creds alice = NewUser("alice");
  std::string role_arn = NewRole("AppRole", UserArn("alice"));
  const std::string assumed_at = FormatIso8601(clock_.Now());
  Creds session = AssumeRole(alice, role_arn, "s1");
  clock_.Advance(std::chrono::minutes(5));
  HttpResponse ok = Sts(session, kGetCallerIdentity);
  ASSERT_EQ(ok.status, 200) << Show(ok);
  Json identity = LastRecord()["userIdentity"];
  EXPECT_EQ(identity["type"], "AssumedRole");
  EXPECT_EQ(identity["sessionContext"]["attributes"]["creationDate"], assumed_at);
  EXPECT_EQ(identity["sessionContext"]["sessionIssuer"]["arn"], role_arn);
}

TEST_F(EndpointTest, TheAnswerWaitsForItsRecord) {
  sink_->SetMode(TestSink::Mode::kHold);
  HttpRequest r = JsonRequest("CreateKey", "{}");
  Sign(r, root_, "kms");
  std::promise<HttpResponse> answered;
  std::future<HttpResponse> answer = answered.get_future();
  endpoint_->Handle(r, [&](HttpResponse response) { answered.set_value(std::move(response)); });
  // The call ran, but its record is not durable: no answer yet.
  EXPECT_EQ(answer.wait_for(std::chrono::milliseconds(100)), std::future_status::timeout);
  EXPECT_EQ(sink_->held(), 1u);
  sink_->Release();
  HttpResponse response = answer.get();
  Json created = JsonOk(response);
  const std::string arn = created["KeyMetadata"].value("Arn", "");

  // The record says what the call was, as CloudTrail does.
  ASSERT_EQ(Records().size(), 1u);
  Json rec = LastRecord();
  EXPECT_EQ(rec["eventVersion"], "1.08");
  EXPECT_EQ(rec["eventSource"], "kms.amazonaws.com");
  EXPECT_EQ(rec["eventName"], "CreateKey");
  EXPECT_EQ(rec["eventTime"], "2026-01-01T00:00:00Z");
  EXPECT_EQ(rec["awsRegion"], "us-east-1");
  EXPECT_EQ(rec["recipientAccountId"], kAccount);
  EXPECT_EQ(rec["sourceIPAddress"], "127.0.0.1");
  EXPECT_EQ(rec["userAgent"], "aws-cli/2.9.19 Python/3.11.2 Linux/6.1 source/x86_64.debian.12");
  EXPECT_EQ(rec["requestID"], Header(response, "x-amzn-RequestId"));
  EXPECT_THAT(rec["eventID"].get<std::string>(), MatchesRegex(kUuidRegex));
  EXPECT_NE(rec["eventID"], rec["requestID"]);
  EXPECT_EQ(rec["readOnly"], false);
  EXPECT_EQ(rec["userIdentity"]["type"], "Root");
  EXPECT_EQ(rec["userIdentity"]["arn"], kRootArn);
  EXPECT_EQ(rec["userIdentity"]["accessKeyId"], root_.access_key_id);
  EXPECT_EQ(rec["responseElements"]["keyMetadata"]["arn"], arn);
  ASSERT_EQ(rec["resources"].size(), 1u);
  EXPECT_EQ(rec["resources"][0]["ARN"], arn);
  EXPECT_EQ(rec["resources"][0]["type"], "AWS::KMS::Key");
  EXPECT_FALSE(rec.contains("errorCode"));
  EXPECT_FALSE(rec.contains("tlsDetails"));
}

TEST_F(EndpointTest, OneRecordPerRequestWhateverItsOutcome) {
  const std::string key = NewKey();
  Creds alice = NewUser("alice");
  const size_t before = Records().size();

  // Allowed, with a plaintext that never reaches the record.
  JsonOk(Encrypt(root_, key, "attack at dawn"));
  Json rec = LastRecord();
  EXPECT_EQ(rec["eventName"], "Encrypt");
  EXPECT_EQ(rec["readOnly"], true);
  EXPECT_EQ(sink_->records().back().find(Base64Encode(AsBytes("attack at dawn"))),
            std::string::npos);

  // An unknown access key: no identity, but the key it named.
  Creds unknown{"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""};
  Kms(unknown, "ListKeys", Json::object());
  rec = LastRecord();
  EXPECT_EQ(rec["userIdentity"],
            (Json{{"type", "Unknown"}, {"accessKeyId", unknown.access_key_id}}));
  EXPECT_EQ(rec["eventName"], "ListKeys");
  EXPECT_EQ(rec["eventSource"], "kms.amazonaws.com");
  EXPECT_EQ(rec["errorCode"], "UnrecognizedClientException");
  EXPECT_EQ(rec["errorMessage"], kInvalidToken);
  EXPECT_EQ(rec["readOnly"], true);  // the operation's, though it was never decoded

  // No signature at all (Query: named by its Action).
  Send(QueryRequest(kGetCallerIdentity));
  rec = LastRecord();
  EXPECT_EQ(rec["userIdentity"], (Json{{"type", "Unknown"}}));
  EXPECT_EQ(rec["eventSource"], "sts.amazonaws.com");
  EXPECT_EQ(rec["eventName"], "GetCallerIdentity");
  EXPECT_EQ(rec["errorCode"], "MissingAuthenticationToken");
  EXPECT_EQ(rec["readOnly"], true);
  // Without a signature to name the service, an Action only IAM has is IAM's.
  Send(QueryRequest("Action=ListUsers&Version=2010-05-08"));
  rec = LastRecord();
  EXPECT_EQ(rec["eventSource"], "iam.amazonaws.com");
  EXPECT_EQ(rec["eventName"], "ListUsers");
  EXPECT_EQ(rec["readOnly"], true);

  // A wrong secret for a real key: the key is named, the caller not authenticated.
  Creds wrong = alice;
  wrong.secret = "not-the-secret";
  Kms(wrong, "ListKeys", Json::object());
  rec = LastRecord();
  EXPECT_EQ(rec["userIdentity"]["type"], "Unknown");
  EXPECT_EQ(rec["userIdentity"]["accessKeyId"], alice.access_key_id);
  EXPECT_EQ(rec["errorCode"], "InvalidSignatureException");

  // Authenticated, but the body does not decode.
  HttpRequest bad = JsonRequest("Encrypt", "{not json");
  Sign(bad, alice, "kms");
  Send(bad);
  rec = LastRecord();
  EXPECT_EQ(rec["userIdentity"]["type"], "IAMUser");
  EXPECT_EQ(rec["userIdentity"]["userName"], "alice");
  EXPECT_EQ(rec["eventName"], "Encrypt");
  EXPECT_EQ(rec["errorCode"], "SerializationException");
  EXPECT_FALSE(rec.contains("errorMessage"));  // the answer had none
  EXPECT_EQ(rec["requestParameters"], nullptr);
  EXPECT_EQ(rec["readOnly"], true);
  HttpRequest bad_create = JsonRequest("CreateAlias", "{");
  Sign(bad_create, alice, "kms");
  Send(bad_create);
  EXPECT_EQ(LastRecord()["readOnly"], false);
  // CloudTrail operations coffer does not serve: a write is not read-only.
  auto cloudtrail = [&](std::string_view operation) {
    HttpRequest r = JsonRequest(operation, "{}");
    for (auto& h : r.headers) {
      if (h.name == "X-Amz-Target")
        h.value = std::string(kCloudTrailTargetPrefix) + std::string(operation);
    }
    Sign(r, alice, "cloudtrail");
    Send(r);
    return LastRecord();
  };
  rec = cloudtrail("StopLogging");
  EXPECT_EQ(rec["eventName"], "StopLogging");
  EXPECT_EQ(rec["errorCode"], "UnsupportedOperationException");
  EXPECT_EQ(rec["readOnly"], false);
  EXPECT_EQ(cloudtrail("DescribeTrails")["readOnly"], true);

  // Denied.
  Encrypt(alice, key, "secret words");
  rec = LastRecord();
  EXPECT_EQ(rec["errorCode"], "AccessDeniedException");
  EXPECT_EQ(rec["errorMessage"],
            AccessDenied(UserArn("alice"), "kms:Encrypt", key, NoIdentityPolicy("kms:Encrypt")));
  EXPECT_EQ(rec["resources"][0]["ARN"], key);
  EXPECT_EQ(rec["requestParameters"]["keyId"], key);

  // A service error, and a Query one. Refused while decoded, a call is still
  // recorded as its operation: readOnly and the parameters it gave.
  Kms(root_, "DescribeKey", {{"KeyId", "alias/nothing-here"}});
  rec = LastRecord();
  EXPECT_EQ(rec["errorCode"], "NotFoundException");
  EXPECT_EQ(rec["readOnly"], true);
  EXPECT_EQ(rec["requestParameters"], (Json{{"keyId", "alias/nothing-here"}}));
  Kms(root_, "Decrypt", {{"CiphertextBlob", Base64Encode(AsBytes("not a ciphertext"))}});
  rec = LastRecord();
  EXPECT_EQ(rec["errorCode"], "InvalidCiphertextException");
  EXPECT_EQ(rec["readOnly"], true);
  Iam(root_, "Action=GetUser&Version=2010-05-08&UserName=");
  rec = LastRecord();
  EXPECT_EQ(rec["errorCode"], "ValidationError");
  EXPECT_EQ(rec["readOnly"], true);
  Iam(alice, "Action=CreateUser&Version=2010-05-08&UserName=mallory");
  rec = LastRecord();
  EXPECT_EQ(rec["eventSource"], "iam.amazonaws.com");
  EXPECT_EQ(rec["eventName"], "CreateUser");
  EXPECT_EQ(rec["errorCode"], "AccessDenied");
  Iam(root_, "Action=NoSuchAction&Version=2010-05-08");
  rec = LastRecord();
  EXPECT_EQ(rec["eventName"], "NoSuchAction");
  EXPECT_EQ(rec["errorCode"], "InvalidAction");

  EXPECT_EQ(Records().size(), before + 15);
  // Every record has its own ids.
  std::set<std::string> ids;
  for (const Json& r : Records()) EXPECT_TRUE(ids.insert(r["eventID"].get<std::string>()).second);
}

TEST_F(EndpointTest, TlsDetailsAreRecorded) {
  HttpRequest r = JsonRequest("ListKeys", "{}");
  r.secure_transport = true;
  r.tls_version = "TLSv1.3";
  r.tls_cipher_suite = "TLS_AES_256_GCM_SHA384";
  Sign(r, root_, "kms");
  JsonOk(Send(r));
  EXPECT_EQ(LastRecord()["tlsDetails"], (Json{{"tlsVersion", "TLSv1.3"},
                                              {"cipherSuite", "TLS_AES_256_GCM_SHA384"},
                                              {"clientProvidedHostHeader", "127.0.0.1:4566"}}));
}

TEST_F(EndpointTest, ACallWhoseRecordFailsIsAnsweredWithAnInternalFailure) {
  sink_->SetMode(TestSink::Mode::kFail);
  ExpectJsonError(Kms(root_, "ListKeys", Json::object()), 500, "KMSInternalException",
                  "An internal error occurred. Try again later.");
  HttpResponse q = Sts(root_, kGetCallerIdentity);
  EXPECT_EQ(q.status, 500) << Show(q);
  EXPECT_EQ(Between(q.body, "Code"), "InternalFailure");
  EXPECT_EQ(Between(q.body, "RequestId"), Header(q, "x-amzn-RequestId"));
  HttpResponse c = CloudTrail(root_, "LookupEvents", Json::object());
  EXPECT_EQ(c.status, 500) << Show(c);
  EXPECT_EQ(Header(c, "X-Amzn-ErrorType"), "InternalFailure");
  // An authentication failure too: nothing may be answered unrecorded.
  HttpResponse m = Send(JsonRequest("ListKeys", "{}"));
  EXPECT_EQ(m.status, 500) << Show(m);
  EXPECT_EQ(Records().size(), 4u);
}

TEST_F(EndpointTest, ARefusingSinkRunsNothing) {
  auto keys_before = kms_->ListKeys(std::nullopt, std::nullopt);
  ASSERT_TRUE(keys_before.ok());
  sink_->SetMode(TestSink::Mode::kRefuse);
  HttpResponse r = Kms(root_, "CreateKey", Json::object());
  ExpectJsonError(r, 503, "ServiceUnavailable",
                  "coffer cannot record this call in its audit log, so it does not run it: test: "
                  "journal damaged");
  auto keys_after = kms_->ListKeys(std::nullopt, std::nullopt);
  ASSERT_TRUE(keys_after.ok());
  EXPECT_EQ(keys_after->keys.size(), keys_before->keys.size());

  HttpResponse q = Iam(root_, "Action=CreateUser&Version=2010-05-08&UserName=mallory");
  EXPECT_EQ(q.status, 503) << Show(q);
  EXPECT_EQ(Between(q.body, "Code"), "ServiceUnavailable");
  EXPECT_FALSE(iam_->GetUser(policy::Principal::Root(kAccount), "mallory").ok());
  // The refusals were offered to the sink all the same.
  EXPECT_EQ(LastRecord()["errorCode"], "ServiceUnavailable");
}

// ---- CloudTrail LookupEvents over the audit log ------------------------------------------

TEST_F(EndpointTest, LookupEventsFindsTheCallsNewestFirst) {
  const std::string key = NewKey();
  clock_.Advance(std::chrono::seconds(10));
  JsonOk(Encrypt(root_, key, "one"));
  clock_.Advance(std::chrono::seconds(10));
  Creds alice = NewUser("alice");
  Encrypt(alice, key, "two");  // denied

  Json page = JsonOk(CloudTrail(
      root_, "LookupEvents",
      {{"LookupAttributes", {{{"AttributeKey", "EventName"}, {"AttributeValue", "Encrypt"}}}}}));
  ASSERT_EQ(page["Events"].size(), 2u) << page.dump();
  EXPECT_FALSE(page.contains("NextToken"));
  const Json& denied = page["Events"][0];
  EXPECT_EQ(denied["EventName"], "Encrypt");
  EXPECT_EQ(denied["Username"], "alice");
  EXPECT_EQ(denied["AccessKeyId"], alice.access_key_id);
  EXPECT_EQ(denied["ReadOnly"], "true");
  EXPECT_EQ(denied["EventSource"], "kms.amazonaws.com");
  EXPECT_EQ(denied["EventTime"], 1767225620);
  EXPECT_EQ(denied["Resources"],
            (Json::array({{{"ResourceType", "AWS::KMS::Key"}, {"ResourceName", key}}})));
  Json full = Json::parse(denied["CloudTrailEvent"].get<std::string>());
  EXPECT_EQ(full["errorCode"], "AccessDeniedException");
  EXPECT_EQ(full["eventID"], denied["EventId"]);
  EXPECT_EQ(page["Events"][1]["Username"], "root");

  // By user name, and paged.
  Json all = JsonOk(CloudTrail(root_, "LookupEvents", Json::object()));
  const size_t total = all["Events"].size();
  EXPECT_GE(total, 4u);  // CreateKey, Encrypt, Encrypt, LookupEvents
  EXPECT_EQ(all["Events"][0]["EventName"], "LookupEvents");
  EXPECT_EQ(all["Events"][0]["EventSource"], "cloudtrail.amazonaws.com");
  std::vector<std::string> paged;
  Json request = {{"MaxResults", 1}};
  for (int i = 0; i < 20; ++i) {
    Json p = JsonOk(CloudTrail(root_, "LookupEvents", request));
    for (const Json& e : p["Events"]) paged.push_back(e["EventId"]);
    if (!p.contains("NextToken")) break;
    request["NextToken"] = p["NextToken"];
  }
  // Each page is itself recorded, newer than what is being paged through: the pages
  // hold every event up to the first page's time, and no event twice.
  std::set<std::string> unique(paged.begin(), paged.end());
  EXPECT_EQ(unique.size(), paged.size());
  EXPECT_GE(paged.size(), total);

  // A token only works with the parameters it came with.
  Json first = JsonOk(CloudTrail(root_, "LookupEvents", {{"MaxResults", 1}}));
  ASSERT_TRUE(first.contains("NextToken"));
  ExpectJsonError(CloudTrail(root_, "LookupEvents",
                             {{"NextToken", first["NextToken"]},
                              {"LookupAttributes",
                               {{{"AttributeKey", "Username"}, {"AttributeValue", "alice"}}}}}),
                  400, "InvalidNextTokenException",
                  "Invalid NextToken: it is malformed or was returned for other parameters.");

  // The time range.
  Json ranged = JsonOk(
      CloudTrail(root_, "LookupEvents", {{"StartTime", 1767225605}, {"EndTime", 1767225615}}));
  ASSERT_EQ(ranged["Events"].size(), 1u) << ranged.dump();
  EXPECT_EQ(ranged["Events"][0]["Username"], "root");
  EXPECT_EQ(ranged["Events"][0]["EventName"], "Encrypt");
}

TEST_F(EndpointTest, LookupEventsIsAuthorizedAndValidated) {
  Creds alice = NewUser("alice");
  ExpectJsonError(CloudTrail(alice, "LookupEvents", Json::object()), 400, "AccessDeniedException",
                  AccessDenied(UserArn("alice"), "cloudtrail:LookupEvents", "*",
                               NoIdentityPolicy("cloudtrail:LookupEvents")));
  EXPECT_EQ(LastRecord()["eventSource"], "cloudtrail.amazonaws.com");
  EXPECT_EQ(LastRecord()["errorCode"], "AccessDeniedException");
  PutUserPolicy("alice", AllowPolicy(R"("cloudtrail:LookupEvents")"));
  JsonOk(CloudTrail(alice, "LookupEvents", Json::object()));

  ExpectJsonError(CloudTrail(root_, "LookupEvents", {{"MaxResults", 51}}), 400,
                  "InvalidMaxResultsException", "MaxResults must be from 1 to 50.");
  ExpectJsonError(
      CloudTrail(root_, "LookupEvents", {{"StartTime", 1767225700}, {"EndTime", 1767225600}}), 400,
      "InvalidTimeRangeException", "The start time must not be after the end time.");
  HttpResponse unsupported = CloudTrail(root_, "DescribeTrails", Json::object());
  ExpectJsonError(unsupported, 400, "UnsupportedOperationException",
                  "The operation DescribeTrails is not supported by coffer.");
  HttpResponse unknown = CloudTrail(root_, "Frobnicate", Json::object());
  EXPECT_EQ(unknown.status, 400);
  EXPECT_EQ(Header(unknown, "X-Amzn-ErrorType"), "UnknownOperationException");
  EXPECT_EQ(LastRecord()["eventName"], "Frobnicate");
  EXPECT_EQ(LastRecord()["eventSource"], "cloudtrail.amazonaws.com");
}

}  // namespace
}  // namespace coffer::api
