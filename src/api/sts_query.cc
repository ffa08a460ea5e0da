#include "api/sts_query.h"

#include <map>
#include <nlohmann/json.hpp>
#include <utility>

#include "api/query_dispatch.h"
#include "common/clock.h"
#include "crypto/secret_bytes.h"
#include "iam/identity_service.h"

namespace coffer::api {
namespace {

using iam::IdentityService;
using policy::Principal;

using Request = QueryRequest;

std::string Reply(std::string_view operation, const std::string& request_id,
                  const std::function<void(XmlWriter&)>& result) {
  return QueryReply(operation, kStsXmlNamespace, request_id, result);
}

// <Credentials>: the temporary credentials AssumeRole and GetSessionToken issue.
void WriteCredentials(XmlWriter& w, const std::string& access_key_id,
                      const crypto::SecretBytes& secret, const crypto::SecretBytes& token,
                      TimePoint expiration) {
  w.Open("Credentials")
      .Element("AccessKeyId", access_key_id)
      .Element("SecretAccessKey", AsChars(crypto::RevealSecret(secret)))
      .Element("SessionToken", AsChars(crypto::RevealSecret(token)))
      .Element("Expiration", FormatIso8601(expiration))
      .Close();
}

Status ValidationError(std::string message) {
  return Status(StatusCode::kInvalidArgument, "ValidationError", std::move(message));
}

// AssumeRole parameters coffer does not implement: each would narrow the
// session's permissions or attach facts to it, so ignoring one is not safe.
constexpr std::string_view kUnsupportedAssumeRoleParameters[] = {
    "Policy",       "PolicyArns", "Tags",           "TransitiveTagKeys",
    "SerialNumber", "TokenCode",  "SourceIdentity", "ProvidedContexts",
};

// The first parameter of kUnsupportedAssumeRoleParameters that `params` gives, or "".
std::string_view UnsupportedAssumeRoleParameter(const QueryParams& params) {
  for (const auto& [key, value] : params.entries()) {
    for (std::string_view name : kUnsupportedAssumeRoleParameters) {
      if (key == name ||
          (key.starts_with(name) && key.size() > name.size() && key[name.size()] == '.')) {
        return name;
      }
    }
  }
  return {};
}

Result<Call> AssumeRole(const Request& q) {
  QueryReader r(q.params);
  iam::AssumeRoleRequest req;
  req.role_arn = r.Required("RoleArn");
  req.role_session_name = r.Required("RoleSessionName");
  req.duration_seconds = r.OptionalInt("DurationSeconds");
  req.external_id = r.Optional("ExternalId");
  // As STS: the request's own constraints first, in one message with what its
  // decoding found, then the caller, then policies (a malformed RoleArn is never
  // taken for a resource).
  iam::CheckAssumeRoleRequest(req, r.errors());
  // The record names the role asked for (CloudTrail's AssumeRole records:
  // resources [{ARN: the role, type: AWS::IAM::Role}]), refused calls too.
  std::vector<AuditResource> resources;
  if (!req.role_arn.empty() && !r.errors().Reported("roleArn")) {
    resources.push_back(AuditResource::Of(req.role_arn, "AWS::IAM::Role"));
  }
  auto refuse = [&](Status error) -> Result<Call> {
    Call refused = RefusedCall("AssumeRole", std::move(error));
    refused.resources = resources;
    return refused;
  };
  if (std::string_view name = UnsupportedAssumeRoleParameter(q.params); !name.empty()) {
    return refuse(ValidationError("coffer does not support the parameter " + std::string(name) +
                                  " of AssumeRole."));
  }
  if (Status invalid = r.status(); !invalid.ok()) return refuse(std::move(invalid));
  // STS refuses the root before evaluating any policy.
  if (q.caller.type == policy::PrincipalType::kRoot) {
    return refuse(Status(StatusCode::kPermissionDenied, "AccessDenied",
                         "Roles may not be assumed by root accounts."));
  }

  Authorization decision{PolicyScope::kAssumeRole, "sts:AssumeRole", req.role_arn, {}};
  decision.condition_keys["sts:RoleSessionName"] = {req.role_session_name};
  if (req.external_id) decision.condition_keys["sts:ExternalId"] = {*req.external_id};

  Call call;
  call.operation = "AssumeRole";
  call.authorizations.push_back(std::move(decision));
  call.resources = std::move(resources);
  call.run = [&iam = q.iam, caller = q.caller, req, rid = q.request_id]() -> Result<api::Reply> {
    ASSIGN_OR_RETURN(iam::AssumeRoleResult out, iam.AssumeRole(caller, req));
    std::string body = Reply("AssumeRole", rid, [&](XmlWriter& w) {
      w.Open("AssumedRoleUser")
          .Element("Arn", out.assumed_role_arn)
          .Element("AssumedRoleId", out.assumed_role_id)
          .Close();
      WriteCredentials(w, out.access_key_id, out.secret_access_key, out.session_token,
                       out.expiration);
    });
    return api::Reply{std::move(body), AssumeRoleElements(out)};
  };
  return call;
}

Result<Call> GetSessionToken(const Request& q) {
  QueryReader r(q.params);
  std::optional<int> duration = r.OptionalInt("DurationSeconds");
  iam::CheckGetSessionTokenDuration(duration, r.errors());
  // coffer has no MFA devices: a code could not be checked, so it is not ignored.
  for (std::string_view name : {"SerialNumber", "TokenCode"}) {
    if (q.params.Get(name)) {
      return RefusedCall("GetSessionToken",
                         ValidationError("coffer does not support the parameter " +
                                         std::string(name) + " of GetSessionToken."));
    }
  }
  if (Status invalid = r.status(); !invalid.ok()) {
    return RefusedCall("GetSessionToken", std::move(invalid));
  }
  Call call;
  call.operation = "GetSessionToken";  // needs no permission (IAM User Guide)
  call.run = [&iam = q.iam, caller = q.caller, duration,
              rid = q.request_id]() -> Result<api::Reply> {
    ASSIGN_OR_RETURN(iam::SessionTokenResult out, iam.GetSessionToken(caller, duration));
    std::string body = Reply("GetSessionToken", rid, [&](XmlWriter& w) {
      WriteCredentials(w, out.access_key_id, out.secret_access_key, out.session_token,
                       out.expiration);
    });
    // As AssumeRole's: the key id and expiration, never the token or the secret.
    nlohmann::ordered_json j;
    j["credentials"]["accessKeyId"] = out.access_key_id;
    j["credentials"]["expiration"] = audit::FormatResponseElementsDate(out.expiration);
    return api::Reply{std::move(body),
                      j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace)};
  };
  return call;
}

Result<Call> GetCallerIdentity(const Request& q) {
  Call call;
  call.operation = "GetCallerIdentity";  // needs no permission (aws-protocols.md)
  call.run = [identity = iam::GetCallerIdentity(q.caller),
              rid = q.request_id]() -> Result<api::Reply> {
    return api::Reply{Reply("GetCallerIdentity", rid, [&](XmlWriter& w) {
      w.Element("Arn", identity.arn)
          .Element("UserId", identity.user_id)
          .Element("Account", identity.account);
    })};
  };
  return call;
}

// An operation: how it is decoded, and what its CloudTrail record says of it.
const QueryOperations& Operations() {
  static const auto* table = new QueryOperations{
      {"AssumeRole",
       {AssumeRole, true, {"RoleArn", "RoleSessionName", "DurationSeconds", "ExternalId"}}},
      {"GetCallerIdentity", {GetCallerIdentity, true, {}}},
      {"GetSessionToken", {GetSessionToken, true, {"DurationSeconds"}}},
  };
  return *table;
}

}  // namespace

// AssumeRole's responseElements. AWS records the credentials' accessKeyId,
// sessionToken and expiration and the assumedRoleUser (IAM User Guide, "Example AWS
// STS API events in CloudTrail log"); coffer never records the session token (nor,
// as AWS, the secret access key): a record must not hold a credential.
std::string AssumeRoleElements(const iam::AssumeRoleResult& out) {
  nlohmann::ordered_json j;
  j["credentials"]["accessKeyId"] = out.access_key_id;
  j["credentials"]["expiration"] = audit::FormatResponseElementsDate(out.expiration);
  j["assumedRoleUser"]["assumedRoleId"] = out.assumed_role_id;
  j["assumedRoleUser"]["arn"] = out.assumed_role_arn;
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

const std::vector<std::string_view>& StsOperations() {
  static const auto* names = new std::vector<std::string_view>(QueryOperationNames(Operations()));
  return *names;
}

bool StsOperationIsReadOnly(std::string_view action) {
  return QueryOperationIsReadOnly(Operations(), action);
}

Result<Call> PrepareStsCall(IdentityService& iam, const Principal& caller,
                            const QueryParams& params, std::string request_id) {
  return DispatchQuery(Operations(), kStsApiVersion, kStsEventSource,
                       QueryRequest{iam, caller, params, request_id});
}

}  // namespace coffer::api
