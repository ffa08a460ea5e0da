#include "cli/kms_client.h"

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>

namespace coffer::cli {
namespace {

using Json = nlohmann::ordered_json;

std::string Dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

Json ContextJson(const EncryptionContext& context) {
  Json j = Json::object();
  for (const auto& [k, v] : context) j[k] = v;
  return j;
}

}  // namespace

Result<std::string> KmsClient::Call(std::string_view operation, std::string_view body) {
  return client_.CallJson(kKmsService, kKmsTargetPrefix, operation, body);
}

Result<std::string> KmsClient::CallPaginated(std::string_view operation, std::string_view body,
                                             std::string_view result_key) {
  Json request = Json::parse(body, nullptr, false);
  if (!request.is_object()) return InvalidArgumentError("the request body is not a JSON object");
  Json items = Json::array();
  std::set<std::string> markers_seen;
  while (true) {
    ASSIGN_OR_RETURN(std::string answer, Call(operation, Dump(request)));
    Json page = Json::parse(answer, nullptr, false);
    if (!page.is_object()) {
      return DataLossError("The " + std::string(operation) + " answer from " +
                           client_.endpoint().url + " is not a JSON object");
    }
    auto list = page.find(std::string(result_key));
    if (list != page.end()) {
      if (!list->is_array()) {
        return DataLossError("The " + std::string(operation) + " answer's " +
                             std::string(result_key) + " is not a list");
      }
      for (auto& item : *list) items.push_back(std::move(item));
    }
    auto truncated = page.find("Truncated");
    if (truncated == page.end() || !truncated->is_boolean() || !truncated->get<bool>()) break;
    auto next = page.find("NextMarker");
    if (next == page.end() || !next->is_string() || next->get<std::string>().empty()) {
      return DataLossError("The " + std::string(operation) +
                           " answer is Truncated but has no NextMarker");
    }
    std::string marker = next->get<std::string>();
    if (!markers_seen.insert(marker).second) {
      return DataLossError("The " + std::string(operation) + " answers repeat the marker '" +
                           marker + "'");
    }
    request["Marker"] = marker;
  }
  Json merged = Json::object();
  merged[std::string(result_key)] = std::move(items);
  return Dump(merged);
}

std::string CreateKeyRequest(std::string_view policy, std::string_view description,
                             const std::vector<Tag>& tags) {
  Json j = Json::object();
  if (!policy.empty()) j["Policy"] = policy;
  if (!description.empty()) j["Description"] = description;
  if (!tags.empty()) {
    Json list = Json::array();
    for (const Tag& t : tags) list.push_back({{"TagKey", t.key}, {"TagValue", t.value}});
    j["Tags"] = std::move(list);
  }
  return Dump(j);
}

std::string CreateAliasRequest(std::string_view alias_name, std::string_view target_key_id) {
  return Dump(Json{{"AliasName", alias_name}, {"TargetKeyId", target_key_id}});
}

std::string KeyIdRequest(std::string_view key_id) { return Dump(Json{{"KeyId", key_id}}); }

std::string GetKeyPolicyRequest(std::string_view key_id, std::string_view policy_name) {
  return Dump(Json{{"KeyId", key_id}, {"PolicyName", policy_name}});
}

std::string PutKeyPolicyRequest(std::string_view key_id, std::string_view policy_name,
                                std::string_view policy) {
  return Dump(Json{{"KeyId", key_id}, {"PolicyName", policy_name}, {"Policy", policy}});
}

std::string ScheduleKeyDeletionRequest(std::string_view key_id,
                                       std::optional<int> pending_window_in_days) {
  Json j = {{"KeyId", key_id}};
  if (pending_window_in_days) j["PendingWindowInDays"] = *pending_window_in_days;
  return Dump(j);
}

std::string ListAliasesRequest(std::string_view key_id) {
  Json j = Json::object();
  if (!key_id.empty()) j["KeyId"] = key_id;
  return Dump(j);
}

crypto::SecretBytes EncryptRequest(std::string_view key_id, const crypto::SecretBytes& plaintext,
                                   const EncryptionContext& context) {
  // Assembled by hand around the base64 text so that the plaintext is only
  // ever in SecretBytes and one wiped string (base64 needs no JSON escaping).
  std::string prefix = "{\"KeyId\":" + Dump(Json(key_id)) + ",\"Plaintext\":\"";
  std::string suffix = "\"";
  if (!context.empty()) suffix += ",\"EncryptionContext\":" + Dump(ContextJson(context));
  suffix += "}";
  std::string encoded = Base64Encode(RevealSecret(plaintext));
  crypto::SecretBytes body(prefix.size() + encoded.size() + suffix.size());
  std::span<uint8_t> out = RevealSecretMutable(body);
  std::memcpy(out.data(), prefix.data(), prefix.size());
  std::memcpy(out.data() + prefix.size(), encoded.data(), encoded.size());
  std::memcpy(out.data() + prefix.size() + encoded.size(), suffix.data(), suffix.size());
  WipeString(encoded);
  return body;
}

}  // namespace coffer::cli
