#include "api/endpoint.h"

#include <algorithm>
#include <array>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>
#include <utility>

#include "api/iam_query.h"
#include "api/kms_json.h"
#include "api/operation.h"
#include "api/query.h"
#include "api/sigv4.h"
#include "api/sts_query.h"
#include "common/bytes.h"
#include "common/logging.h"
#include "crypto/secret_bytes.h"
#include "iam/identity_service.h"
#include "kms/key_service.h"
#include "policy/evaluate.h"
#include "policy/policy.h"

namespace coffer::api {
namespace {

constexpr std::string_view kJsonContentType = "application/x-amz-json-1.1";
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
  std::optional<V> Get(const std::string& key) const {
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
  mutable std::shared_mutex mu_;
  std::unordered_map<std::string, V> map_;
};

}  // namespace

class Endpoint::Impl {
 public:
  Impl(EndpointOptions options, kms::KeyService& kms, iam::IdentityService& iam, Clock& clock,
       Random& random)
      : options_(std::move(options)), kms_(kms), iam_(iam), clock_(clock), random_(random) {}

  HttpResponse Handle(const HttpRequest& request) {
    std::string request_id = random_.Uuid();
    Protocol protocol = request.Header("X-Amz-Target") ? Protocol::kJson : Protocol::kQuery;
    // The Query service (sts or iam) names the XML namespace of an error reply.
    std::string query_service = "sts";
    Result<HttpResponse> answer = Process(request, protocol, request_id, query_service);
    HttpResponse response =
        answer.ok() ? std::move(answer).value()
                    : ErrorResponse(answer.status(), protocol, request_id, query_service);
    response.SetHeader("x-amzn-RequestId", request_id);
    return response;
  }

 private:
  // The authenticated caller of a request.
  struct Caller {
    policy::Principal principal;
    std::string service;  // the SigV4 scope's service: "kms", "sts", "iam"
  };

  Result<HttpResponse> Process(const HttpRequest& request, Protocol protocol,
                               const std::string& request_id, std::string& query_service) {
    if (request.method != "POST" && !(protocol == Protocol::kQuery && request.method == "GET")) {
      return Status(StatusCode::kInvalidArgument, "UnknownOperationException",
                    "coffer answers AWS API calls with POST /");
    }
    ASSIGN_OR_RETURN(Caller caller, Authenticate(request, protocol, query_service));
    if (protocol == Protocol::kJson) return ProcessJson(request, caller);
    return ProcessQuery(request, caller, request_id);
  }

  // ---- authenticate ----------------------------------------------------------------

  Result<Caller> Authenticate(const HttpRequest& request, Protocol protocol,
                              std::string& query_service) {
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
    if (parsed.service == "iam") query_service = "iam";

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
    // The token must also be signed: in a header it must be one of SignedHeaders (a
    // pre-signed URL carries it in the query, which is signed whole).
    if (parsed.session_token && !parsed.presigned &&
        std::ranges::find(parsed.signed_headers, "x-amz-security-token") ==
            parsed.signed_headers.end()) {
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
    return Caller{std::move(credential->principal), parsed.service};
  }

  // The service a request must be signed for: the JSON target's, or for Query the
  // scope's own when it is one coffer serves over Query.
  static std::string ExpectedService(const HttpRequest& request, Protocol protocol,
                                     std::string_view scope_service) {
    if (protocol == Protocol::kJson) {
      std::string_view target = *request.Header("X-Amz-Target");
      if (target.starts_with(kKmsTargetPrefix)) return "kms";
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

  Result<HttpResponse> ProcessJson(const HttpRequest& request, const Caller& caller) {
    std::string_view target = *request.Header("X-Amz-Target");
    if (!target.starts_with(kKmsTargetPrefix)) {
      return Status(StatusCode::kInvalidArgument, "UnknownOperationException", "");
    }
    std::string_view operation = target.substr(kKmsTargetPrefix.size());
    ASSIGN_OR_RETURN(Call call, PrepareKmsCall(kms_, operation, request.body));
    RETURN_IF_ERROR(Authorize(call, caller.principal, request));
    ASSIGN_OR_RETURN(Reply reply, call.run());
    HttpResponse response;
    response.status = 200;
    response.SetHeader("Content-Type", kJsonContentType);
    response.body = std::move(reply.body);
    return response;
  }

  Result<HttpResponse> ProcessQuery(const HttpRequest& request, const Caller& caller,
                                    const std::string& request_id) {
    ASSIGN_OR_RETURN(QueryParams params, ParseQueryParams(request.body));
    if (request.method == "GET") {
      ASSIGN_OR_RETURN(QueryParams from_url, ParseQueryParams(request.Query()));
      params = std::move(from_url);
    }
    Result<Call> call_or = caller.service == "iam"
                               ? PrepareIamCall(iam_, caller.principal, params, request_id)
                               : PrepareStsCall(iam_, caller.principal, params, request_id);
    if (!call_or.ok()) return call_or.status();
    Call& call = *call_or;
    RETURN_IF_ERROR(Authorize(call, caller.principal, request));
    ASSIGN_OR_RETURN(Reply reply, call.run());
    HttpResponse response;
    response.status = 200;
    response.SetHeader("Content-Type", kXmlContentType);
    response.body = std::move(reply.body);
    return response;
  }

  Status Authorize(const Call& call, const policy::Principal& principal,
                   const HttpRequest& request) {
    if (call.authorizations.empty() && !call.lockout_check_policy) return Status::Ok();
    ASSIGN_OR_RETURN(std::shared_ptr<const std::vector<policy::Policy>> owned,
                     iam_.IdentityPoliciesOf(principal));
    std::vector<const policy::Policy*> identity;
    identity.reserve(owned->size());
    for (const policy::Policy& p : *owned) identity.push_back(&p);

    for (const Authorization& a : call.authorizations) {
      policy::RequestContext ctx = Context(principal, a.action, a.resource, request);
      for (const auto& [k, v] : a.condition_keys) ctx.condition_keys[k] = v;
      policy::Decision decision = policy::Decision::kImplicitDenyNoResourcePolicy;
      switch (a.scope) {
        case PolicyScope::kIdentity:
          decision = policy::EvaluateIdentity(identity, ctx);
          break;
        case PolicyScope::kKmsKey: {
          ASSIGN_OR_RETURN(std::string text, kms_.GetKeyPolicy(a.resource, std::nullopt));
          ASSIGN_OR_RETURN(auto key_policy, ParsedPolicy(text, policy::PolicyKind::kKeyPolicy));
          decision = policy::EvaluateKms(*key_policy, identity, ctx);
          break;
        }
        case PolicyScope::kAssumeRole: {
          Result<std::string> text = iam_.TrustPolicyOf(a.resource);
          if (!text.ok()) {
            // AWS answers AccessDenied for a role that does not exist, naming it.
            if (text.status().code() != StatusCode::kNotFound) return text.status();
            decision = policy::Decision::kImplicitDenyNoResourcePolicy;
            break;
          }
          ASSIGN_OR_RETURN(auto trust, ParsedPolicy(*text, policy::PolicyKind::kTrustPolicy));
          decision = policy::EvaluateTrust(*trust, identity, ctx);
          break;
        }
      }
      RETURN_IF_ERROR(policy::AccessDeniedError(decision, ctx));
    }

    if (call.lockout_check_policy) {
      ASSIGN_OR_RETURN(auto proposed,
                       ParsedPolicy(*call.lockout_check_policy, policy::PolicyKind::kKeyPolicy));
      policy::RequestContext ctx =
          Context(principal, "kms:PutKeyPolicy", call.lockout_check_resource, request);
      if (!policy::PassesLockoutSafetyCheck(*proposed, identity, ctx)) {
        return Status(StatusCode::kInvalidArgument, std::string(policy::kMalformedPolicyDocument),
                      std::string(policy::kLockoutSafetyCheckMessage));
      }
    }
    return Status::Ok();
  }

  policy::RequestContext Context(const policy::Principal& principal, std::string_view action,
                                 std::string_view resource, const HttpRequest& request) const {
    policy::RequestContext ctx;
    ctx.principal = principal;
    ctx.action = std::string(action);
    ctx.resource = std::string(resource);
    ctx.request_time = clock_.Now();
    if (!request.remote_address.empty()) {
      ctx.condition_keys["aws:SourceIp"] = {request.remote_address};
    }
    ctx.condition_keys["aws:SecureTransport"] = {request.secure_transport ? "true" : "false"};
    return ctx;
  }

  // Policies are parsed once per distinct text.
  Result<std::shared_ptr<const policy::Policy>> ParsedPolicy(const std::string& text,
                                                             policy::PolicyKind kind) {
    std::string cache_key = std::to_string(static_cast<int>(kind)) + '\n' + text;
    if (auto cached = policies_.Get(cache_key)) return *cached;
    ASSIGN_OR_RETURN(policy::Policy parsed, policy::Policy::Parse(text, kind));
    auto shared = std::make_shared<const policy::Policy>(std::move(parsed));
    policies_.Put(std::move(cache_key), shared);
    return shared;
  }

  // ---- encode errors -----------------------------------------------------------------

  static HttpResponse ErrorResponse(const Status& status, Protocol protocol,
                                    const std::string& request_id,
                                    const std::string& query_service) {
    if (status.code() == StatusCode::kInternal || status.code() == StatusCode::kDataLoss) {
      Log().error("request {} failed: {}", request_id, status.ToString());
    }
    if (protocol == Protocol::kJson) {
      HttpResponse response;
      response.status = KmsErrorHttpStatus(status);
      response.SetHeader("Content-Type", kJsonContentType);
      response.SetHeader("X-Amzn-ErrorType", KmsErrorType(status));
      response.body = KmsErrorBody(status);
      return response;
    }
    return QueryErrorResponse(status, query_service == "iam" ? kIamXmlns : kStsXmlns, request_id);
  }

  EndpointOptions options_;
  kms::KeyService& kms_;
  iam::IdentityService& iam_;
  Clock& clock_;
  Random& random_;
  BoundedCache<std::shared_ptr<const crypto::SecretBytes>> signing_keys_{4096};
  BoundedCache<std::shared_ptr<const policy::Policy>> policies_{1024};
};

Endpoint::Endpoint(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Endpoint::~Endpoint() = default;

Result<std::unique_ptr<Endpoint>> Endpoint::Create(EndpointOptions options, kms::KeyService& kms,
                                                   iam::IdentityService& iam, Clock& clock,
                                                   Random& random) {
  if (options.account_id.size() != 12) {
    return InvalidArgumentError("account id must have 12 digits");
  }
  return std::unique_ptr<Endpoint>(
      new Endpoint(std::make_unique<Impl>(std::move(options), kms, iam, clock, random)));
}

HttpResponse Endpoint::Handle(const HttpRequest& request) { return impl_->Handle(request); }

void Endpoint::Handle(HttpRequest request, Responder respond) { respond(impl_->Handle(request)); }

Handler Endpoint::AsHandler() {
  return [this](HttpRequest request, Responder respond) {
    Handle(std::move(request), std::move(respond));
  };
}

}  // namespace coffer::api
