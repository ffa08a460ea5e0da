#include "api/kms_data_keys_json.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "crypto/secret_bytes.h"

namespace coffer::api {
namespace {

using crypto::WipeString;

using Json = nlohmann::ordered_json;

std::string Dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

Json ContextJson(const EncryptionContext& context) {
  Json j = Json::object();
  for (const auto& [k, v] : context) j[k] = v;
  return j;
}

// Reads a string member; the caller names the operation for errors.
Result<std::string> Member(const Json& j, const char* name, std::string_view operation) {
  auto it = j.find(name);
  if (it == j.end() || !it->is_string()) {
    return DataLossError("The " + std::string(operation) + " answer has no " + name);
  }
  return it->get<std::string>();
}

// A base64 member decoded into a secret; the member's text is wiped.
Result<crypto::SecretBytes> SecretMember(Json& j, const char* name, std::string_view operation) {
  auto it = j.find(name);
  if (it == j.end() || !it->is_string()) {
    return DataLossError("The " + std::string(operation) + " answer has no " + name);
  }
  std::string& text = it->get_ref<std::string&>();
  Result<Bytes> decoded = Base64Decode(text);
  WipeString(text);
  if (!decoded.ok()) {
    return DataLossError("The " + std::string(operation) + " answer's " + name + " is not base64");
  }
  crypto::SecretBytes secret{ByteView(*decoded)};
  std::fill(decoded->begin(), decoded->end(), 0);
  return secret;
}

// Parses an answer that holds a secret and wipes the answer's text.
Json ParseSecretAnswer(std::string& answer) {
  Json j = Json::parse(answer, nullptr, false);
  WipeString(answer);
  return j;
}

}  // namespace

std::string DecryptRequest(ByteView ciphertext, const EncryptionContext& context,
                           std::string_view key_id) {
  Json j = {{"CiphertextBlob", Base64Encode(ciphertext)}};
  if (!context.empty()) j["EncryptionContext"] = ContextJson(context);
  if (!key_id.empty()) j["KeyId"] = key_id;
  return Dump(j);
}

std::string GenerateDataKeyRequest(std::string_view key_id, int number_of_bytes,
                                   const EncryptionContext& context) {
  Json j = {{"KeyId", key_id}};
  if (!context.empty()) j["EncryptionContext"] = ContextJson(context);
  j["NumberOfBytes"] = number_of_bytes;
  return Dump(j);
}

Result<envelope::KmsDataKeys::DataKey> JsonKmsDataKeys::GenerateDataKey(
    const std::string& key_id, int bytes, const EncryptionContext& context) {
  ASSIGN_OR_RETURN(std::string answer,
                   call_("GenerateDataKey", GenerateDataKeyRequest(key_id, bytes, context)));
  Json j = ParseSecretAnswer(answer);
  if (!j.is_object()) return DataLossError("The GenerateDataKey answer is not a JSON object");
  DataKey key;
  ASSIGN_OR_RETURN(key.plaintext, SecretMember(j, "Plaintext", "GenerateDataKey"));
  ASSIGN_OR_RETURN(key.key_arn, Member(j, "KeyId", "GenerateDataKey"));
  ASSIGN_OR_RETURN(std::string blob, Member(j, "CiphertextBlob", "GenerateDataKey"));
  Result<Bytes> decoded = Base64Decode(blob);
  if (!decoded.ok())
    return DataLossError("The GenerateDataKey answer's CiphertextBlob is not base64");
  key.ciphertext_blob = std::move(decoded).value();
  return key;
}

Result<envelope::KmsDataKeys::Plaintext> JsonKmsDataKeys::Decrypt(
    const std::string& key_id, ByteView ciphertext_blob, const EncryptionContext& context) {
  ASSIGN_OR_RETURN(std::string answer,
                   call_("Decrypt", DecryptRequest(ciphertext_blob, context, key_id)));
  Json j = ParseSecretAnswer(answer);
  if (!j.is_object()) return DataLossError("The Decrypt answer is not a JSON object");
  Plaintext plaintext;
  ASSIGN_OR_RETURN(plaintext.plaintext, SecretMember(j, "Plaintext", "Decrypt"));
  ASSIGN_OR_RETURN(plaintext.key_arn, Member(j, "KeyId", "Decrypt"));
  return plaintext;
}

}  // namespace coffer::api
