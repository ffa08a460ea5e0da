#include "api/endpoint.h"

#include <algorithm>
#include <array>
#include <future>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>
#include <utility>

#include "api/backup_json.h"
#include "api/cloudtrail_json.h"
#include "api/iam_query.h"
#include "api/json_errors.h"
#include "api/kms_json.h"
#include "api/operation.h"
#include "api/query.h"
#include "api/sts_query.h"
#include "audit/cloudtrail_record.h"
#include "common/bytes.h"
#include "common/logging.h"
#include "common/text.h"
#include "crypto/secret_bytes.h"
#include "iam/identity_service.h"
#include "kms/errors.h"
#include "kms/key_service.h"
#include "net/sigv4.h"
#include "policy/evaluate.h"
#include "policy/policy.h"

namespace coffer::api {

using net::Handler;
using net::HttpRequest;
using net::HttpResponse;
using net::Responder;
namespace sigv4 = net::sigv4;

namespace {

constexpr std::string_view kJsonContentType = "application/x-amz-json-1.1";
// KMS's MalformedPolicyDocumentException for a key policy naming a principal that
// does not exist (CreateKey, PutKeyPolicy).
constexpr std::string_view kInvalidPrincipalsMessage =
    "Policy contains a statement with one or more invalid principals.";
constexpr std::string_view kXmlContentType = "text/xml";
constexpr std::string_view kKmsTargetPrefix = "TrentService.";
constexpr std::string_view kStsXmlns = "https://sts.amazonaws.com/doc/2011-06-15/";
constexpr std::string_view kIamXmlns = "https://iam.amazonaws.com/doc/2010-05-08/";

enum class Protocol { kJson, kQuery };

// aws-protocols.md, "Authentication errors": one row per failure, its name in each
// protocol (the HTTP status of each name is in the protocol's error table).
struct AuthErrorRow {
  sigv4::AuthErrorCode code;
  std::string_view json_name;
  std::string_view query_name;
};
constexpr std::array<AuthErrorRow, 7> kAuthErrors = {{
    {sigv4::AuthErrorCode::kMissingAuthenticationToken, "MissingAuthenticationTokenException",
     "MissingAuthenticationToken"},
    {sigv4::AuthErrorCode::kIncompleteSignature, "IncompleteSignatureException",
     "IncompleteSignature"},
    {sigv4::AuthErrorCode::kSignatureDoesNotMatch, "InvalidSignatureException",
     "SignatureDoesNotMatch"},
    {sigv4::AuthErrorCode::kSignatureExpired, "InvalidSignatureException", "SignatureDoesNotMatch"},
    {sigv4::AuthErrorCode::kSignatureNotYetCurrent, "InvalidSignatureException",
     "SignatureDoesNotMatch"},
    {sigv4::AuthErrorCode::kRequestExpired, "InvalidSignatureException", "SignatureDoesNotMatch"},
    {sigv4::AuthErrorCode::kContentSha256Mismatch, "InvalidSignatureException",
     "SignatureDoesNotMatch"},
}};

// Credential failures found after the signature was parsed.
constexpr std::string_view kInvalidTokenMessage =
    "The security token included in the request is invalid.";
constexpr std::string_view kExpiredTokenMessage =
    "The security token included in the request is expired";

Status InvalidToken() {
  return Status(StatusCode::kUnauthenticated, "UnrecognizedClientException",
                std::string(kInvalidTokenMessage));
}
Status ExpiredToken() {
  return Status(StatusCode::kUnauthenticated, "ExpiredTokenException",
                std::string(kExpiredTokenMessage));
}

// Renames an authentication error for the protocol that received it.
Status ForProtocol(const Status& s, Protocol protocol) {
  if (auto code = sigv4::AuthErrorCodeOf(s)) {
    for (const AuthErrorRow& row : kAuthErrors) {
      if (row.code == *code) {
        return Status(StatusCode::kUnauthenticated,
                      std::string(protocol == Protocol::kJson ? row.json_name : row.query_name),
                      s.message());
      }
    }
  }
  if (protocol == Protocol::kQuery) {
    if (s.error_name() == "UnrecognizedClientException") {
      return Status(s.code(), "InvalidClientTokenId", s.message());
    }
    if (s.error_name() == "ExpiredTokenException") {
      return Status(s.code(), "ExpiredToken", s.message());
    }
  }
  return s;
}

// A bounded cache of values by string key; cleared when full (the working set of a
// server is small: a few access keys, a few key policies).
template <typename V>
class BoundedCache {
 public:
  explicit BoundedCache(size_t capacity) : capacity_(capacity) {}
  std::optional<V> Get(std::string_view key) const {
    std::shared_lock lock(mu_);
    auto it = map_.find(key);
    if (it == map_.end()) return std::nullopt;
    return it->second;
  }
  void Put(std::string key, V value) {
    std::unique_lock lock(mu_);
    if (map_.size() >= capacity_) map_.clear();
    map_.insert_or_assign(std::move(key), std::move(value));
  }

 private:
  size_t capacity_;
  // Looked up by string_view: a lookup copies nothing.
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  mutable std::shared_mutex mu_;
  std::unordered_map<std::string, V, Hash, std::equal_to<>> map_;
};

// A grant's principal names the caller: its ARN, or for a role session its role's.
bool NamesCaller(std::string_view grant_principal, const policy::Principal& caller) {
  return grant_principal == caller.arn ||
         (!caller.role_arn.empty() && grant_principal == caller.role_arn);
}

// Who may retire a grant by the grant's word: its retiring principal, and its
// grantee when it lists RetireGrant.
bool MayRetire(const kms::Grant& grant, const policy::Principal& caller) {
  if (grant.retiring_principal && NamesCaller(*grant.retiring_principal, caller)) return true;
  return NamesCaller(grant.grantee_principal, caller) &&
         kms::GrantAllows(grant, "RetireGrant", nullptr);
}

bool ExplicitDeny(policy::Decision d) {
  return d == policy::Decision::kExplicitDenyResource ||
         d == policy::Decision::kExplicitDenyIdentity;
}

}  // namespace

class Endpoint::Impl {
 public:
  Impl(EndpointOptions options, kms::KeyService& kms, iam::IdentityService& iam,
       audit::AuditSink& sink, Clock& clock, Random& random, const audit::EventLookup* lookup)
      : options_(std::move(options)),
        kms_(kms),
        iam_(iam),
        sink_(sink),
        clock_(clock),
        random_(random),
        lookup_(lookup) {}

  // Runs the pipeline, builds the call's record, hands it to the sink and answers
  // once the sink says it is durable.
  void Handle(const HttpRequest& request, Responder respond) {
    // This call's record follows in microseconds: a batch about to be synced waits for it.
    audit::Announcement announced = sink_.Announce();
    Exchange x;
    x.request_id = random_.Uuid();
    x.protocol = request.Header("X-Amz-Target") ? Protocol::kJson : Protocol::kQuery;
    audit::AuditEvent& event = x.event;
    event.event_time = clock_.Now();

    Result<HttpResponse> answer = Process(request, x);
    if (x.protocol == Protocol::kQuery && !x.query_service_from_scope &&
        IsIamOnlyAction(QueryAction(request))) {
      // No signature's scope names the service: an Action only IAM has is IAM's,
      // in the error's namespace as in the record.
      x.query_service = "iam";
    }
    HttpResponse response;
    if (answer.ok()) {
      response = std::move(answer).value();
    } else {
      response = ErrorResponse(answer.status(), x);
    }
    response.SetHeader("x-amzn-RequestId", x.request_id);

    FillEvent(request, x);
    sink_.RecordAnnounced(
        event,
        [respond = std::move(respond), response = std::move(response), protocol = x.protocol,
         request_id = std::move(x.request_id), query_service = x.query_service,
         route = x.route](Status recorded) mutable {
          if (recorded.ok() || response.status >= 500) {
            if (!recorded.ok()) {
              Log().error("request {}: its audit record was not written: {}", request_id,
                          recorded.ToString());
            }
            respond(std::move(response));
            return;
          }
          Log().error(
              "request {}: its audit record was not written, so it is answered "
              "with an internal failure: {}",
              request_id, recorded.ToString());
          respond(RecordFailedResponse(protocol, route, request_id, query_service));
        },
        std::move(announced));
  }

  void AttachBackupService(backup::BackupService* service) { backup_ = service; }
  void AttachDigestPublicKeys(DigestPublicKeys keys) { public_keys_ = std::move(keys); }

  Result<Reply> InvokeKms(const InProcessCaller& caller, std::string_view operation,
                          const std::string& body) {
    std::string op(operation);
    return Invoke(
        caller, [&]() { return PrepareKmsCall(kms_, op, body); }, std::string(kKmsEventSource), op);
  }

  Result<Reply> Invoke(const InProcessCaller& caller, const std::function<Result<Call>()>& prepare,
                       std::string event_source, std::string event_name) {
    Exchange x;
    x.request_id = random_.Uuid();
    x.protocol = Protocol::kJson;
    x.route = Route::kKms;
    audit::AuditEvent& e = x.event;
    e.event_time = clock_.Now();
    // No remote address (no aws:SourceIp), as for calls AWS services make.
    HttpRequest request;
    request.secure_transport = true;
    Result<Reply> result = Run(prepare(), caller.principal, request, x);
    e.principal = caller.principal;
    e.session_creation_time = caller.principal.session_issued;
    e.access_key_id = caller.access_key_id;
    e.account_id = options_.account_id;
    e.region = options_.region;
    e.request_id = x.request_id;
    e.event_id = EventId(e.event_time);
    e.source_ip = caller.source;
    e.user_agent = caller.source;
    if (!x.decoded) {
      e.event_source = std::move(event_source);
      e.event_name = std::move(event_name);
    }
    if (!result.ok()) {
      JsonError error = ToJsonError(result.status(), kKmsErrorNames);
      e.error_code = error.type;
      e.error_message = error.message;
      if (error.http_status >= 500)
        Log().error("in-process call failed: {}", result.status().ToString());
    }
    std::promise<Status> recorded;
    std::future<Status> done = recorded.get_future();
    sink_.Record(e, [&recorded](Status s) { recorded.set_value(std::move(s)); });
    Status written = done.get();
    if (!written.ok()) {
      Log().error("in-process call {}: its audit record was not written: {}", x.request_id,
                  written.ToString());
      if (result.ok()) return InternalError("the call's audit record was not written");
    }
    return result;
  }

 private:
  enum class Route { kKms, kCloudTrail, kBackup, kOtherJson, kQuery };

  // The authenticated caller of a request.
  struct Caller {
    policy::Principal principal;
    std::string service;  // the SigV4 scope's service: "kms", "sts", "iam"
  };

  // What one request has learned so far, for its reply and its record.
  struct Exchange {
    std::string request_id;
    Protocol protocol = Protocol::kJson;
    Route route = Route::kQuery;
    // The Query service (sts or iam) names the XML namespace of an error reply.
    std::string query_service = "sts";
    bool query_service_from_scope = false;  // a signature named it
    audit::AuditEvent event;
    bool decoded = false;  // event_source/name/read_only/request_parameters came from a Call
  };

  // application/x-amz-json-1.1 or -1.0, parameters ignored: AWS routes a JSON call
  // by its Content-Type and answers UnknownOperationException to any other.
  static bool IsJsonContentType(std::optional<std::string_view> value) {
    if (!value) return false;
    std::string_view type = TrimBlanks(value->substr(0, value->find(';')));
    return net::HeaderNameEquals(type, kJsonContentType) ||
           net::HeaderNameEquals(type, "application/x-amz-json-1.0");
  }

  static Route RouteOf(const HttpRequest& request) {
    std::optional<std::string_view> target = request.Header("X-Amz-Target");
    if (!target) return Route::kQuery;
    if (target->starts_with(kKmsTargetPrefix)) return Route::kKms;
    if (target->starts_with(kCloudTrailTargetPrefix)) return Route::kCloudTrail;
    if (target->starts_with(kBackupTargetPrefix)) return Route::kBackup;
    return Route::kOtherJson;
  }

  Result<HttpResponse> Process(const HttpRequest& request, Exchange& x) {
    x.route = RouteOf(request);
    if (request.method != "POST" && !(x.protocol == Protocol::kQuery && request.method == "GET")) {
      return Status(StatusCode::kInvalidArgument, "UnknownOperationException",
                    "coffer answers AWS API calls with POST /");
    }
    if (x.protocol == Protocol::kJson && !IsJsonContentType(request.Header("Content-Type"))) {
      return Status(StatusCode::kInvalidArgument, "UnknownOperationException",
                    "AWS JSON calls need Content-Type: application/x-amz-json-1.1 (or 1.0)");
    }
    ASSIGN_OR_RETURN(Caller caller, Authenticate(request, x));
    Result<HttpResponse> answer = x.protocol == Protocol::kJson ? ProcessJson(request, caller, x)
                                                                : ProcessQuery(request, caller, x);
    x.event.session_creation_time = caller.principal.session_issued;
    x.event.principal = std::move(caller.principal);
    return answer;
  }

  // eventID: time-ordered (UUIDv7), so that the audit index keeps the EventId entries of
  // one millisecond in one row (docs/formats/audit-index.md).
  std::string EventId(TimePoint event_time) const {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(event_time.time_since_epoch());
    return random_.TimeOrderedUuid(static_cast<uint64_t>(std::max<int64_t>(ms.count(), 0)));
  }

  // What the record says beyond what the pipeline filled in.
  void FillEvent(const HttpRequest& request, Exchange& x) const {
    audit::AuditEvent& e = x.event;
    e.account_id = options_.account_id;
    e.region = options_.region;
    e.request_id = x.request_id;
    e.event_id = EventId(e.event_time);
    e.source_ip = request.remote_address;
    if (auto ua = request.Header("User-Agent")) e.user_agent = std::string(*ua);
    if (request.secure_transport) {
      audit::TlsDetails tls;
      tls.tls_version = request.tls_version;
      tls.cipher_suite = request.tls_cipher_suite;
      if (auto host = request.Header("Host")) tls.client_provided_host_header = std::string(*host);
      e.tls = std::move(tls);
    }
    if (x.decoded) return;
    // No Call: name the call from its route.
    switch (x.route) {
      case Route::kKms:
      case Route::kOtherJson:
      case Route::kBackup:
      case Route::kCloudTrail: {
        e.event_source = std::string(x.route == Route::kCloudTrail ? kCloudTrailEventSource
                                     : x.route == Route::kBackup   ? kBackupEventSource
                                                                   : kKmsEventSource);
        // The operation after a known prefix; under another prefix the whole target,
        // so that "Bogus.Encrypt" is never found as an Encrypt.
        std::string_view target = *request.Header("X-Amz-Target");
        size_t dot = target.rfind('.');
        e.event_name = std::string(x.route == Route::kOtherJson || dot == std::string_view::npos
                                       ? target
                                       : target.substr(dot + 1));
        // readOnly is the operation's, whether or not the call got that far.
        e.read_only = x.route == Route::kCloudTrail ? CloudTrailOperationIsReadOnly(e.event_name)
                      : x.route == Route::kBackup   ? BackupOperationIsReadOnly(e.event_name)
                      : x.route == Route::kKms      ? KmsOperationIsReadOnly(e.event_name)
                                                    : false;
        break;
      }
      case Route::kQuery: {
        e.event_name = QueryAction(request);
        const bool iam = x.query_service == "iam";  // settled by Handle
        e.event_source = std::string(iam ? kIamEventSource : kStsEventSource);
        e.read_only =
            iam ? IamOperationIsReadOnly(e.event_name) : StsOperationIsReadOnly(e.event_name);
        break;
      }
    }
  }

  // A Query call's parameters: in the URL for a GET, and for a POST without a body
  // (a presigned URL: botocore's generate_presigned_url signs Query operations for
  // POST); else in the form body. In the URL a '+' is itself, as the signature
  // read it: were it a space, "x+y" would run as "x y" under the signature of
  // "x%2By". (The body is signed byte for byte, so there it is a space.)
  static Result<QueryParams> QueryParamsOf(const HttpRequest& request) {
    const bool in_url = request.method == "GET" || request.body.empty();
    return in_url ? ParseQueryParams(request.Query(), PlusSign::kLiteral)
                  : ParseQueryParams(request.body);
  }

  // The Action of a Query call, or "" when there is none (or the body does not parse).
  static std::string QueryAction(const HttpRequest& request) {
    Result<QueryParams> params = QueryParamsOf(request);
    if (!params.ok()) return "";
    return params->Get("Action").value_or("");
  }

  static bool IsIamOnlyAction(std::string_view action) {
    const auto& iam = IamOperations();
    const auto& sts = StsOperations();
    return std::binary_search(iam.begin(), iam.end(), action) &&
           !std::binary_search(sts.begin(), sts.end(), action);
  }

  // Copies what the record says of a decoded call (its members are not needed after).
  static void NoteCall(Call& call, Exchange& x) {
    audit::AuditEvent& e = x.event;
    e.event_source = std::move(call.event_source);
    e.event_name = call.operation;
    e.read_only = call.read_only;
    e.request_parameters = std::move(call.request_parameters);
    e.additional_event_data = std::move(call.additional_event_data);
    e.resources = std::move(call.resources);
    x.decoded = true;
  }

  static void NoteReply(Reply& reply, Exchange& x) {
    x.event.response_elements = std::move(reply.response_elements);
    for (auto& r : reply.resources) x.event.resources.push_back(std::move(r));
  }

  // Nothing runs that cannot be recorded.
  Status CheckSink() const {
    Status health = sink_.Health();
    if (health.ok()) return health;
    return Status(StatusCode::kFailedPrecondition, "ServiceUnavailable",
                  "coffer cannot record this call in its audit log, so it does not run it: " +
                      health.message());
  }

  // ---- authenticate ----------------------------------------------------------------

  Result<Caller> Authenticate(const HttpRequest& request, Exchange& x) {
    const Protocol protocol = x.protocol;
    std::vector<sigv4::HeaderField> headers;
    headers.reserve(request.headers.size());
    for (const auto& h : request.headers) headers.push_back({h.name, h.value});
    sigv4::HttpRequestView view{
        .method = request.method,
        .raw_path = request.Path(),
        .raw_query = request.Query(),
        .headers = headers,
        .body =
            ByteView(reinterpret_cast<const uint8_t*>(request.body.data()), request.body.size()),
    };
    Result<sigv4::ParsedSignature> parsed_or = sigv4::ParseSignature(view);
    if (!parsed_or.ok()) return ForProtocol(parsed_or.status(), protocol);
    const sigv4::ParsedSignature& parsed = *parsed_or;
    if (parsed.service == "iam") x.query_service = "iam";
    x.query_service_from_scope = true;
    x.event.access_key_id = parsed.access_key_id;

    std::string expected_service = ExpectedService(request, protocol, parsed.service);
    if (Status s = sigv4::CheckCredentialScope(parsed, options_.region, expected_service);
        !s.ok()) {
      return ForProtocol(s, protocol);
    }

    Result<iam::Credential> credential = iam_.FindCredential(parsed.access_key_id);
    if (!credential.ok()) {
      if (credential.status().code() == StatusCode::kNotFound) {
        return ForProtocol(InvalidToken(), protocol);
      }
      return credential.status();
    }
    // aws-protocols.md: a temporary key must carry its session token, signed; a
    // long-term key must not carry one.
    if (credential->session_token.has_value() != parsed.session_token.has_value()) {
      return ForProtocol(InvalidToken(), protocol);
    }
    if (credential->session_token && !credential->session_token->Matches(*parsed.session_token)) {
      return ForProtocol(InvalidToken(), protocol);
    }
    // The token must also be signed: in the query of a pre-signed URL (signed
    // whole), or in a header that is one of SignedHeaders.
    if (parsed.session_token && !parsed.session_token_signed) {
      return ForProtocol(InvalidToken(), protocol);
    }
    if (!credential->active) return ForProtocol(InvalidToken(), protocol);

    std::chrono::minutes skew =
        protocol == Protocol::kJson ? sigv4::kJsonClockSkew : sigv4::kQueryClockSkew;
    std::shared_ptr<const crypto::SecretBytes> signing_key =
        SigningKey(parsed, credential->secret_access_key);
    if (Status s = sigv4::VerifyWithSigningKey(view, parsed, *signing_key, clock_.Now(), skew);
        !s.ok()) {
      return ForProtocol(s, protocol);
    }
    if (credential->expiration && clock_.Now() >= *credential->expiration) {
      return ForProtocol(ExpiredToken(), protocol);
    }
    // GetSessionToken's credentials call IAM only with MFA, which coffer does not
    // have: IAM answers them as it answers an invalid token.
    if (parsed.service == "iam" && credential->principal.session_issued &&
        credential->principal.type != policy::PrincipalType::kAssumedRole) {
      return ForProtocol(InvalidToken(), protocol);
    }
    iam_.NoteKeyUse(parsed.access_key_id, parsed.service, parsed.region);
    return Caller{std::move(credential->principal), parsed.service};
  }

  // The service a request must be signed for: the JSON target's, or for Query the
  // scope's own when it is one coffer serves over Query.
  static std::string ExpectedService(const HttpRequest& request, Protocol protocol,
                                     std::string_view scope_service) {
    if (protocol == Protocol::kJson) {
      std::string_view target = *request.Header("X-Amz-Target");
      if (target.starts_with(kKmsTargetPrefix)) return "kms";
      if (target.starts_with(kCloudTrailTargetPrefix)) return "cloudtrail";
      if (target.starts_with(kBackupTargetPrefix)) return std::string(kBackupSigningService);
      return std::string(scope_service);  // routed (and refused) after authentication
    }
    if (scope_service == "sts" || scope_service == "iam") return std::string(scope_service);
    return "sts";
  }

  // kSigning depends only on (secret, date, region, service): cache it per access key.
  // An access key id names one secret for its whole life (ids are random and never
  // reused), and the credential was looked up first, so a deleted key never gets here.
  std::shared_ptr<const crypto::SecretBytes> SigningKey(const sigv4::ParsedSignature& parsed,
                                                        const crypto::SecretBytes& secret) {
    std::string cache_key =
        parsed.access_key_id + '/' + parsed.scope_date + '/' + parsed.region + '/' + parsed.service;
    if (auto cached = signing_keys_.Get(cache_key)) return *cached;
    auto key = std::make_shared<const crypto::SecretBytes>(
        sigv4::DeriveSigningKey(secret, parsed.scope_date, parsed.region, parsed.service));
    signing_keys_.Put(std::move(cache_key), key);
    return key;
  }

  // ---- decode, authorize, execute ----------------------------------------------------

  Result<HttpResponse> ProcessJson(const HttpRequest& request, const Caller& caller, Exchange& x) {
    std::string_view target = *request.Header("X-Amz-Target");
    Result<Call> call_or = Status(StatusCode::kInvalidArgument, "UnknownOperationException", "");
    if (x.route == Route::kKms) {
      call_or = PrepareKmsCall(kms_, target.substr(kKmsTargetPrefix.size()), request.body);
    } else if (x.route == Route::kCloudTrail) {
      call_or = PrepareCloudTrailCall(lookup_, target.substr(kCloudTrailTargetPrefix.size()),
                                      request.body, public_keys_, clock_.Now());
    } else if (x.route == Route::kBackup && backup_ != nullptr) {
      call_or =
          PrepareBackupCall(*backup_, target.substr(kBackupTargetPrefix.size()), request.body);
    }
    ASSIGN_OR_RETURN(Reply reply, Run(std::move(call_or), caller.principal, request, x));
    HttpResponse response;
    response.status = 200;
    response.SetHeader("Content-Type", kJsonContentType);
    response.body = std::move(reply.body);
    return response;
  }

  Result<HttpResponse> ProcessQuery(const HttpRequest& request, const Caller& caller, Exchange& x) {
    ASSIGN_OR_RETURN(QueryParams params, QueryParamsOf(request));
    Result<Call> call_or = caller.service == "iam"
                               ? PrepareIamCall(iam_, caller.principal, params, x.request_id)
                               : PrepareStsCall(iam_, caller.principal, params, x.request_id);
    if (!call_or.ok()) {
      if (auto action = params.Get("Action")) x.event.event_name = std::move(*action);
      return call_or.status();
    }
    ASSIGN_OR_RETURN(Reply reply, Run(std::move(call_or), caller.principal, request, x));
    HttpResponse response;
    response.status = 200;
    response.SetHeader("Content-Type", kXmlContentType);
    response.body = std::move(reply.body);
    return response;
  }

  // The steps after decoding, for every protocol and for in-process calls:
  // note the call for its record, authorize it, check the audit sink, run it.
  Result<Reply> Run(Result<Call> call_or, const policy::Principal& principal,
                    const HttpRequest& request, Exchange& x) {
    iam_.NoteRoleUse(principal);  // GetRole's RoleLastUsed; nothing for other principals
    if (!call_or.ok()) return call_or.status();
    Call& call = *call_or;
    NoteCall(call, x);
    RETURN_IF_ERROR(call.refused);
    RETURN_IF_ERROR(Authorize(call, principal, request));
    RETURN_IF_ERROR(CheckSink());
    ASSIGN_OR_RETURN(Reply reply, call.run());
    NoteReply(reply, x);
    return reply;
  }

  Status Authorize(const Call& call, const policy::Principal& principal,
                   const HttpRequest& request) {
    if (call.authorizations.empty() && !call.lockout_check_policy && !call.new_key_policy) {
      return Status::Ok();
    }
    ASSIGN_OR_RETURN(std::shared_ptr<const std::vector<policy::Policy>> owned,
                     iam_.IdentityPoliciesOf(principal));
    std::vector<const policy::Policy*> identity;
    identity.reserve(owned->size());
    for (const policy::Policy& p : *owned) identity.push_back(&p);

    std::optional<std::vector<iam::Tag>> principal_tags;  // read once, when needed
    auto add_principal_tags = [&](const policy::Policy* resource_policy,
                                  policy::RequestContext& ctx) -> Status {
      if (!MayRead("aws:principaltag/", resource_policy, identity)) return Status::Ok();
      if (!principal_tags) {
        ASSIGN_OR_RETURN(principal_tags, iam_.PrincipalTagsOf(principal));
      }
      SetTagKeys("aws:PrincipalTag/", *principal_tags, ctx);
      return Status::Ok();
    };

    for (const Authorization& a : call.authorizations) {
      policy::RequestContext ctx = BaseContext(principal, a.action, a.resource);
      // The condition keys cost a dozen allocations and more on every call: they
      // are set only when a policy in play has a condition or a policy variable.
      auto needs_keys = [&](const policy::Policy* resource_policy) {
        if (!MayRead("", resource_policy, identity)) return false;
        AddRequestKeys(principal, a.action, a.resource, request, ctx);
        for (const auto& [k, v] : a.condition_keys) ctx.condition_keys[k] = v;
        return true;
      };
      policy::Decision decision = policy::Decision::kImplicitDenyNoResourcePolicy;
      switch (a.scope) {
        case PolicyScope::kIdentity:
          if (needs_keys(nullptr)) {
            RETURN_IF_ERROR(add_principal_tags(nullptr, ctx));
            // An IAM user's or role's tags, for a call on it (TagUser, DeleteRole, …).
            if (a.resource.starts_with("arn:aws:iam::") &&
                MayRead("aws:resourcetag/", nullptr, identity)) {
              ASSIGN_OR_RETURN(std::vector<iam::Tag> tags, iam_.ResourceTagsOf(a.resource));
              SetTagKeys("aws:ResourceTag/", tags, ctx);
            }
          }
          decision = policy::EvaluateIdentity(identity, ctx);
          if (a.grant_to_retire && decision != policy::Decision::kAllow &&
              !ExplicitDeny(decision) && MayRetire(*a.grant_to_retire, principal)) {
            decision = policy::Decision::kAllow;
          }
          break;
        case PolicyScope::kKmsKey: {
          ASSIGN_OR_RETURN(policy::SavedPolicy saved, kms_.KeyPolicyOf(a.resource));
          ASSIGN_OR_RETURN(auto key_policy,
                           ParsedPolicy(saved.text, policy::PolicyKind::kKeyPolicy));
          ctx.policy_saved = saved.saved;
          if (needs_keys(key_policy.get())) {
            RETURN_IF_ERROR(AddKeyConditionKeys(*key_policy, identity, a.resource, ctx));
            RETURN_IF_ERROR(add_principal_tags(key_policy.get(), ctx));
          }
          decision = policy::EvaluateKms(*key_policy, identity, ctx);
          if (decision != policy::Decision::kAllow && !ExplicitDeny(decision) && a.grant_permits) {
            ASSIGN_OR_RETURN(bool granted, AllowedByGrant(a, principal));
            if (granted) decision = policy::Decision::kAllow;
          }
          break;
        }
        case PolicyScope::kAssumeRole: {
          Result<policy::SavedPolicy> saved = iam_.TrustPolicyOf(a.resource);
          if (!saved.ok()) {
            // AWS answers AccessDenied for a role that does not exist, naming it.
            if (saved.status().code() != StatusCode::kNotFound) return saved.status();
            decision = policy::Decision::kImplicitDenyNoResourcePolicy;
            break;
          }
          ASSIGN_OR_RETURN(auto trust, ParsedPolicy(saved->text, policy::PolicyKind::kTrustPolicy));
          ctx.policy_saved = saved->saved;
          if (needs_keys(trust.get())) RETURN_IF_ERROR(add_principal_tags(trust.get(), ctx));
          decision = policy::EvaluateTrust(*trust, identity, ctx);
          break;
        }
      }
      RETURN_IF_ERROR(policy::AccessDeniedError(decision, ctx));
    }

    if (!call.grant_principals.empty()) {
      ASSIGN_OR_RETURN(std::optional<std::string> unknown,
                       iam_.UnknownPrincipalArn(call.grant_principals));
      if (unknown) return kms::errors::InvalidPrincipal(*unknown);
    }
    if (call.new_key_policy) {
      // KMS: "The principals in the key policy must exist and be visible to KMS."
      ASSIGN_OR_RETURN(auto proposed,
                       ParsedPolicy(*call.new_key_policy, policy::PolicyKind::kKeyPolicy));
      ASSIGN_OR_RETURN(std::optional<std::string> unknown, iam_.UnknownPrincipal(*proposed));
      if (unknown) {
        return Status(StatusCode::kInvalidArgument, std::string(policy::kMalformedPolicyDocument),
                      std::string(kInvalidPrincipalsMessage));
      }
    }
    if (call.lockout_check_policy) {
      ASSIGN_OR_RETURN(auto proposed,
                       ParsedPolicy(*call.lockout_check_policy, policy::PolicyKind::kKeyPolicy));
      policy::RequestContext ctx =
          Context(principal, "kms:PutKeyPolicy", call.lockout_check_resource, request);
      // The keys the caller's next call on the key will have, as in any decision.
      RETURN_IF_ERROR(AddKeyConditionKeys(*proposed, identity, call.lockout_check_resource, ctx,
                                          call.lockout_check_new_key_tags));
      RETURN_IF_ERROR(add_principal_tags(proposed.get(), ctx));
      if (!policy::PassesLockoutSafetyCheck(*proposed, identity, ctx)) {
        return Status(StatusCode::kInvalidArgument, std::string(policy::kMalformedPolicyDocument),
                      std::string(policy::kLockoutSafetyCheckMessage));
      }
    }
    return Status::Ok();
  }

  // Whether a grant of the key `a` is on, whose grantee is the caller, allows it.
  Result<bool> AllowedByGrant(const Authorization& a, const policy::Principal& principal) {
    ASSIGN_OR_RETURN(std::vector<kms::Grant> grants, kms_.GrantsOf(a.resource));
    return std::any_of(grants.begin(), grants.end(), [&](const kms::Grant& g) {
      return NamesCaller(g.grantee_principal, principal) && a.grant_permits(g);
    });
  }

  // A decision's context: who, what, on what, when, and the keys of the request.
  policy::RequestContext Context(const policy::Principal& principal, std::string_view action,
                                 std::string_view resource, const HttpRequest& request) const {
    policy::RequestContext ctx = BaseContext(principal, action, resource);
    AddRequestKeys(principal, action, resource, request, ctx);
    return ctx;
  }

  policy::RequestContext BaseContext(const policy::Principal& principal, std::string_view action,
                                     std::string_view resource) const {
    policy::RequestContext ctx;
    ctx.principal = principal;
    ctx.action = std::string(action);
    ctx.resource = std::string(resource);
    ctx.request_time = clock_.Now();
    return ctx;
  }

  // The condition keys AWS sets from the request itself.
  void AddRequestKeys(const policy::Principal& principal, std::string_view action,
                      std::string_view resource, const HttpRequest& request,
                      policy::RequestContext& ctx) const {
    auto& keys = ctx.condition_keys;
    if (!request.remote_address.empty()) keys["aws:SourceIp"] = {request.remote_address};
    keys["aws:SecureTransport"] = {request.secure_transport ? "true" : "false"};
    // The keys AWS sets in every request context. IAM is global: its calls are
    // us-east-1's, whatever the server's region.
    keys["aws:RequestedRegion"] = {action.starts_with("iam:") ? "us-east-1" : options_.region};
    const bool service = principal.type == policy::PrincipalType::kAwsService;
    keys["aws:PrincipalIsAWSService"] = {service ? "true" : "false"};
    // Services here act as a role they assumed, never with a caller's credentials.
    keys["aws:ViaAWSService"] = {"false"};
    if (resource != "*" && !resource.empty()) {
      // Every resource here is the one account's (an S3 ARN names none).
      keys["aws:ResourceAccount"] = {options_.account_id};
    }
  }

  // `prefix` + key = value for each of an IAM user's or role's tags.
  static void SetTagKeys(std::string_view prefix, const std::vector<iam::Tag>& tags,
                         policy::RequestContext& ctx) {
    for (const iam::Tag& t : tags) ctx.condition_keys[std::string(prefix) + t.key] = {t.value};
  }

  // Whether the resource policy (if any) or an identity policy may read a
  // condition key starting with `prefix` (policy::Policy::MayRead).
  static bool MayRead(std::string_view prefix, const policy::Policy* resource_policy,
                      const std::vector<const policy::Policy*>& identity) {
    if (resource_policy != nullptr && resource_policy->MayRead(prefix)) return true;
    return std::any_of(identity.begin(), identity.end(),
                       [&](const policy::Policy* p) { return p->MayRead(prefix); });
  }

  // A call on a KMS key: the keys AWS derives from the key (its spec, usage,
  // origin: coffer's keys are all symmetric keys of its own), and its tags and
  // aliases when a policy in play may read them (they cost a read).
  // `new_key_tags`: the key is not made yet (CreateKey's lockout check), and will
  // have these tags and no aliases.
  Status AddKeyConditionKeys(
      const policy::Policy& key_policy, const std::vector<const policy::Policy*>& identity,
      const std::string& key_arn, policy::RequestContext& ctx,
      const std::optional<std::map<std::string, std::string>>& new_key_tags = std::nullopt) {
    auto& keys = ctx.condition_keys;
    keys["kms:KeySpec"] = {"SYMMETRIC_DEFAULT"};
    keys["kms:KeyUsage"] = {"ENCRYPT_DECRYPT"};
    keys["kms:KeyOrigin"] = {"AWS_KMS"};
    keys["kms:MultiRegion"] = {"false"};
    if (new_key_tags) {
      for (const auto& [k, v] : *new_key_tags) keys["aws:ResourceTag/" + k] = {v};
      return Status::Ok();
    }
    const bool tags = MayRead("aws:resourcetag/", &key_policy, identity);
    const bool aliases = MayRead("kms:resourcealiases", &key_policy, identity);
    if (!tags && !aliases) return Status::Ok();
    ASSIGN_OR_RETURN(kms::KeyService::ResourceFacts facts,
                     kms_.ResourceFactsOf(key_arn, tags, aliases));
    for (auto& [k, v] : facts.tags) keys["aws:ResourceTag/" + k] = {std::move(v)};
    if (aliases) keys["kms:ResourceAliases"] = std::move(facts.aliases);
    return Status::Ok();
  }

  // Policies are parsed once per distinct text.
  Result<std::shared_ptr<const policy::Policy>> ParsedPolicy(const std::string& text,
                                                             policy::PolicyKind kind) {
    // A cache per kind: the same text may be valid as one kind and not as another.
    BoundedCache<std::shared_ptr<const policy::Policy>>* cache =
        kind == policy::PolicyKind::kKeyPolicy     ? &key_policies_
        : kind == policy::PolicyKind::kTrustPolicy ? &trust_policies_
                                                   : nullptr;
    if (cache != nullptr) {
      if (auto cached = cache->Get(text)) return *cached;
    }
    ASSIGN_OR_RETURN(policy::Policy parsed, policy::Policy::Parse(text, kind));
    auto shared = std::make_shared<const policy::Policy>(std::move(parsed));
    if (cache != nullptr) cache->Put(text, shared);
    return shared;
  }

  // ---- encode errors -----------------------------------------------------------------

  // The error reply in the request's protocol; notes the error in the record as the
  // caller is answered.
  static HttpResponse ErrorResponse(const Status& status, Exchange& x) {
    if (status.code() == StatusCode::kInternal || status.code() == StatusCode::kDataLoss) {
      Log().error("request {} failed: {}", x.request_id, status.ToString());
    }
    if (x.protocol == Protocol::kJson) {
      JsonError error = ToJsonError(status, x.route == Route::kCloudTrail ? kCloudTrailErrorNames
                                            : x.route == Route::kBackup   ? kBackupErrorNames
                                                                          : kKmsErrorNames);
      HttpResponse response;
      response.status = error.http_status;
      response.SetHeader("Content-Type", kJsonContentType);
      response.SetHeader("X-Amzn-ErrorType", error.type);
      response.body = JsonErrorBody(error);
      x.event.error_code = std::move(error.type);
      x.event.error_message = std::move(error.message);
      return response;
    }
    HttpResponse response =
        QueryErrorResponse(status, x.query_service == "iam" ? kIamXmlns : kStsXmlns, x.request_id);
    x.event.error_code = QueryErrorCode(status);
    x.event.error_message = QueryErrorMessage(status);
    return response;
  }

  // The answer to a call whose record could not be made durable.
  static HttpResponse RecordFailedResponse(Protocol protocol, Route route,
                                           const std::string& request_id,
                                           const std::string& query_service) {
    Status failure(StatusCode::kInternal, "audit record not written");
    HttpResponse response;
    if (protocol == Protocol::kJson) {
      JsonError error = ToJsonError(
          failure, route == Route::kCloudTrail ? kCloudTrailErrorNames : kKmsErrorNames);
      response.status = error.http_status;
      response.SetHeader("Content-Type", kJsonContentType);
      response.SetHeader("X-Amzn-ErrorType", error.type);
      response.body = JsonErrorBody(error);
    } else {
      response =
          QueryErrorResponse(failure, query_service == "iam" ? kIamXmlns : kStsXmlns, request_id);
    }
    response.SetHeader("x-amzn-RequestId", request_id);
    return response;
  }

  EndpointOptions options_;
  kms::KeyService& kms_;
  iam::IdentityService& iam_;
  audit::AuditSink& sink_;
  Clock& clock_;
  Random& random_;
  const audit::EventLookup* lookup_;
  backup::BackupService* backup_ = nullptr;
  DigestPublicKeys public_keys_;
  BoundedCache<std::shared_ptr<const crypto::SecretBytes>> signing_keys_{4096};
  BoundedCache<std::shared_ptr<const policy::Policy>> key_policies_{1024};
  BoundedCache<std::shared_ptr<const policy::Policy>> trust_policies_{1024};
};

Endpoint::Endpoint(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Endpoint::~Endpoint() = default;

Result<std::unique_ptr<Endpoint>> Endpoint::Create(EndpointOptions options, kms::KeyService& kms,
                                                   iam::IdentityService& iam,
                                                   audit::AuditSink& sink, Clock& clock,
                                                   Random& random,
                                                   const audit::EventLookup* lookup) {
  if (options.account_id.size() != 12) {
    return InvalidArgumentError("account id must have 12 digits");
  }
  return std::unique_ptr<Endpoint>(new Endpoint(
      std::make_unique<Impl>(std::move(options), kms, iam, sink, clock, random, lookup)));
}

HttpResponse Endpoint::Handle(const HttpRequest& request) {
  std::promise<HttpResponse> answered;
  std::future<HttpResponse> response = answered.get_future();
  impl_->Handle(request, [&answered](HttpResponse r) { answered.set_value(std::move(r)); });
  return response.get();
}

void Endpoint::Handle(HttpRequest request, Responder respond) {
  impl_->Handle(request, std::move(respond));
}

void Endpoint::AttachBackupService(backup::BackupService* service) {
  impl_->AttachBackupService(service);
}

void Endpoint::AttachDigestPublicKeys(std::function<std::vector<audit::DigestPublicKey>()> keys) {
  impl_->AttachDigestPublicKeys(std::move(keys));
}

Result<std::string> Endpoint::InvokeKms(const InProcessCaller& caller, std::string_view operation,
                                        std::string body) {
  ASSIGN_OR_RETURN(Reply reply, impl_->InvokeKms(caller, operation, body));
  return std::move(reply.body);
}

Result<Reply> Endpoint::Invoke(const InProcessCaller& caller, std::function<Result<Call>()> prepare,
                               std::string event_source, std::string event_name) {
  return impl_->Invoke(caller, prepare, std::move(event_source), std::move(event_name));
}

Handler Endpoint::AsHandler() {
  return [this](HttpRequest request, Responder respond) {
    Handle(std::move(request), std::move(respond));
  };
}

}  // namespace coffer::api
