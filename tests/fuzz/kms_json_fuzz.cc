// Fuzz target: the KMS JSON 1.1 request decoding (api::PrepareKmsCall) for every
// operation, and the calls it prepares, run on a real KeyService (kms_fuzz_fixture.h).
//
// Input: a request body. Each KMS operation (the supported ones, an unsupported one and
// an unknown name) decodes it; a call that decodes is checked and run. The fixture is
// reset after an input that ran a call which may change the state, so every input meets
// the same keys. Seeds: bodies the aws CLI, boto3 and the AWS Encryption SDK send
// (shared/testdata/sigv4), pointed at the fixture's keys.
//
// Properties (besides no crash, no sanitizer report):
//  - no input makes a service fault (HTTP 5xx, KMSInternalException): decoding and
//    running fail with client errors only; every error has a __type and a JSON body;
//  - a prepared call is for its operation, and its authorizations ask for a "kms:"
//    action on "*" or on an ARN of this account (a key ARN for key-policy decisions);
//    only CreateKey and PutKeyPolicy ask for the lockout safety check;
//  - a reply is empty or a JSON object;
//  - no error message shows the request's Plaintext, CiphertextBlob or GrantToken;
//  - a prepared call's record fields are KMS's and well-formed: requestParameters and
//    responseElements are a JSON object or null, and neither holds the request's
//    Plaintext, CiphertextBlob or GrantToken nor the reply's Plaintext, CiphertextBlob or
//    GrantToken;
//  - round trips through the codec and the engine: what Encrypt, GenerateDataKey and
//    ReEncrypt return decrypts (to the request's plaintext, to the data key); the grant
//    CreateGrant returns is listed and its token retires it; the key
//    CreateKey returns has the request's Description; GetKeyPolicy returns exactly what
//    PutKeyPolicy stored.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/kms_json.h"
#include "common/bytes.h"
#include "fuzz_util.h"
#include "kms_fuzz_fixture.h"

namespace coffer::fuzz {
namespace {

using Json = nlohmann::json;

constexpr std::string_view kAccountArnPrefix = "arn:aws:kms:us-east-1:111122223333:";

const std::vector<std::string>& Operations() {
  static const std::vector<std::string> ops = [] {
    std::vector<std::string> v(api::KmsSupportedOperations().begin(),
                               api::KmsSupportedOperations().end());
    v.push_back("Sign");             // a KMS operation coffer does not implement
    v.push_back("NoSuchOperation");  // not a KMS operation
    return v;
  }();
  return ops;
}

// Calls that only read the state (their randomness aside).
bool ReadOnly(std::string_view op) {
  return op.starts_with("Describe") || op.starts_with("List") || op.starts_with("Get") ||
         op.starts_with("Generate") || op == "Encrypt" || op == "Decrypt" || op == "ReEncrypt";
}

// The secrets of the request: texts no error message may contain.
std::vector<std::string> SecretsOf(std::string_view body) {
  std::vector<std::string> secrets;
  Json doc = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) return secrets;
  for (const char* member : {"Plaintext", "CiphertextBlob", "GrantToken"}) {
    auto it = doc.find(member);
    // Long enough not to appear in a message by chance, and nowhere else in the request
    // (a KeyId may be any text, and its error messages show it).
    if (it != doc.end() && it->is_string() && it->get<std::string>().size() >= 12) {
      std::string secret = it->get<std::string>();
      if (body.find(secret) == body.rfind(secret)) secrets.push_back(std::move(secret));
    }
  }
  return secrets;
}

void CheckError(const Status& s, std::string_view op, const std::vector<std::string>& secrets) {
  std::string where = std::string(op) + ": " + s.ToString();
  FUZZ_CHECK_MSG(!s.ok(), where);
  int http = api::KmsErrorHttpStatus(s);
  FUZZ_CHECK_MSG(http >= 400 && http < 500, where);
  std::string type = api::KmsErrorType(s);
  FUZZ_CHECK_MSG(!type.empty(), where);
  Json body = Json::parse(api::KmsErrorBody(s), nullptr, /*allow_exceptions=*/false);
  FUZZ_CHECK_MSG(body.is_object() && body.value("__type", "") == type, where);
  for (const std::string& secret : secrets) {
    FUZZ_CHECK_MSG(s.message().find(secret) == std::string::npos, where);
  }
}

void CheckCall(const api::Call& call, std::string_view op) {
  FUZZ_CHECK(call.operation == op);
  for (const api::Authorization& a : call.authorizations) {
    std::string where = std::string(op) + ": " + a.action + " on " + a.resource;
    FUZZ_CHECK_MSG(a.action.starts_with("kms:") && a.action.size() > 4, where);
    FUZZ_CHECK_MSG(a.resource == "*" || a.resource.starts_with(kAccountArnPrefix), where);
    if (a.scope == api::PolicyScope::kKmsKey) {
      FUZZ_CHECK_MSG(a.resource.starts_with(std::string(kAccountArnPrefix) + "key/"), where);
    }
    FUZZ_CHECK_MSG(a.scope != api::PolicyScope::kAssumeRole, where);
  }
  if (call.lockout_check_policy) FUZZ_CHECK(op == "CreateKey" || op == "PutKeyPolicy");
  FUZZ_CHECK(static_cast<bool>(call.run));
  FUZZ_CHECK(call.event_source == api::kKmsEventSource);
  for (const api::AuditResource& r : call.resources) {
    FUZZ_CHECK_MSG(r.type == "AWS::KMS::Key" && r.arn.starts_with(kAccountArnPrefix), r.arn);
  }
}

// A record field: a JSON object or null, holding none of `secrets`.
void CheckRecordField(const std::string& field, std::string_view op,
                      const std::vector<std::string>& secrets) {
  std::string where = std::string(op) + ": " + field;
  Json doc = Json::parse(field, nullptr, /*allow_exceptions=*/false);
  FUZZ_CHECK_MSG(doc.is_object() || doc.is_null(), where);
  for (const std::string& secret : secrets) {
    FUZZ_CHECK_MSG(field.find(secret) == std::string::npos, where);
  }
}

// Runs `op` on `body`, which must succeed, and returns the reply.
Json MustRun(std::string_view op, const Json& body, std::string_view because) {
  std::string text = body.dump();
  std::string where = std::string(op) + " after " + std::string(because) + ": " + text;
  Result<api::Call> call = api::PrepareKmsCall(FuzzKms::Get().service(), op, text);
  FUZZ_CHECK_MSG(call.ok(), where + ": " + call.status().ToString());
  Result<api::Reply> reply = call->run();
  FUZZ_CHECK_MSG(reply.ok(), where + ": " + reply.status().ToString());
  Json doc =
      Json::parse(reply->body.empty() ? "{}" : reply->body, nullptr, /*allow_exceptions=*/false);
  FUZZ_CHECK_MSG(doc.is_object(), where + " replied " + reply->body);
  return doc;
}

// The bytes of a base64 member, or nullopt when absent or not base64.
std::optional<Bytes> Blob(const Json& doc, const char* member) {
  auto it = doc.find(member);
  if (it == doc.end() || !it->is_string()) return std::nullopt;
  Result<Bytes> bytes = Base64Decode(it->get<std::string>());
  if (!bytes.ok()) return std::nullopt;
  return *bytes;
}

// A Decrypt of `ciphertext` under the request's member `context` (when it has one).
Json DecryptBody(const Json& request, const Json& ciphertext, const char* context) {
  Json body = {{"CiphertextBlob", ciphertext}};
  if (auto it = request.find(context); it != request.end() && !it->is_null()) {
    body["EncryptionContext"] = *it;
  }
  return body;
}

// What a successful call promises about the state it leaves.
void CheckRoundTrip(std::string_view op, const Json& request, const std::string& reply_text) {
  Json reply = Json::parse(reply_text, nullptr, /*allow_exceptions=*/false);
  if (!request.is_object() || !reply.is_object()) return;
  if (auto dry_run = request.find("DryRun"); dry_run != request.end() && *dry_run == true) return;
  if (op == "Encrypt" || op == "GenerateDataKey") {
    Json opened =
        MustRun("Decrypt", DecryptBody(request, reply["CiphertextBlob"], "EncryptionContext"), op);
    std::optional<Bytes> expected = Blob(op == "Encrypt" ? request : reply, "Plaintext");
    FUZZ_CHECK_MSG(!expected || Blob(opened, "Plaintext") == expected,
                   std::string(op) + ": " + reply_text);
    FUZZ_CHECK(opened.value("KeyId", "") == reply.value("KeyId", "-"));
  } else if (op == "ReEncrypt") {
    Json opened =
        MustRun("Decrypt",
                DecryptBody(request, reply["CiphertextBlob"], "DestinationEncryptionContext"), op);
    FUZZ_CHECK(opened.value("KeyId", "") == reply.value("KeyId", "-"));
  } else if (op == "CreateKey") {
    Json described = MustRun("DescribeKey", {{"KeyId", reply["KeyMetadata"]["Arn"]}}, op);
    Json description = request.value("Description", Json(""));
    if (description.is_null()) description = "";
    FUZZ_CHECK_MSG(described["KeyMetadata"].value("Description", Json("")) == description,
                   reply_text);
  } else if (op == "PutKeyPolicy") {
    Json got = MustRun("GetKeyPolicy", {{"KeyId", request.value("KeyId", Json())}}, op);
    FUZZ_CHECK_MSG(got.value("Policy", Json()) == request.value("Policy", Json()), got.dump());
  } else if (op == "CreateGrant") {
    // The grant is listed, and its token retires it.
    Json id = reply.value("GrantId", Json());
    Json listed =
        MustRun("ListGrants", {{"KeyId", request.value("KeyId", Json())}, {"GrantId", id}}, op);
    FUZZ_CHECK_MSG(listed["Grants"].size() == 1 && listed["Grants"][0]["GrantId"] == id,
                   listed.dump());
    MustRun("RetireGrant", {{"GrantToken", reply.value("GrantToken", Json())}}, op);
  }
}

}  // namespace
}  // namespace coffer::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace coffer;
  using namespace coffer::fuzz;
  FuzzKms& fixture = FuzzKms::Get();
  std::string_view body = AsText(data, size);
  std::vector<std::string> secrets = SecretsOf(body);
  const Json request = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  bool changed = false;
  for (const std::string& op : Operations()) {
    Result<api::Call> call = api::PrepareKmsCall(fixture.service(), op, body);
    if (!call.ok()) {
      CheckError(call.status(), op, secrets);
      continue;
    }
    CheckCall(*call, op);
    CheckRecordField(call->request_parameters, op, secrets);
    if (!call->additional_event_data.empty()) {
      CheckRecordField(call->additional_event_data, op, secrets);
    }
    changed = changed || !ReadOnly(op);
    Result<api::Reply> reply = call->run();
    if (!reply.ok()) {
      CheckError(reply.status(), op, secrets);
      continue;
    }
    std::vector<std::string> reply_secrets = secrets;
    if (!reply->body.empty()) {
      Json doc = Json::parse(reply->body, nullptr, /*allow_exceptions=*/false);
      FUZZ_CHECK_MSG(doc.is_object(), op + " replied " + reply->body);
      for (const char* member : {"Plaintext", "CiphertextBlob", "GrantToken"}) {
        if (doc.is_object() && doc.contains(member) && doc[member].is_string()) {
          reply_secrets.push_back(doc[member].get<std::string>());
        }
      }
    }
    CheckRecordField(reply->response_elements, op, reply_secrets);
    CheckRoundTrip(op, request, reply->body);
  }
  if (changed) fixture.Reset();
  return 0;
}
