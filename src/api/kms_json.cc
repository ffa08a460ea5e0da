#include "api/kms_json.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <cctype>
#include <climits>
#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <utility>

#include "api/json_errors.h"
#include "common/bytes.h"
#include "common/clock.h"
#include "common/json_text.h"
#include "crypto/secret_bytes.h"
#include "kms/errors.h"
#include "kms/types.h"
#include "policy/evaluate.h"

namespace coffer::api {
namespace {

using Json = nlohmann::json;
using OrderedJson = nlohmann::ordered_json;
namespace errors = kms::errors;

// ---- secrets ----------------------------------------------------------------

void Wipe(std::string& s) {
  if (!s.empty()) OPENSSL_cleanse(s.data(), s.size());
}
void Wipe(Bytes& b) {
  if (!b.empty()) OPENSSL_cleanse(b.data(), b.size());
}

// ---- Coral's deserialization errors -------------------------------------------
// Texts as AWS's request framework returns them for a JSON 1.x service.

Status SerializationError(std::string message) {
  return Status(StatusCode::kInvalidArgument, "SerializationException", std::move(message));
}

constexpr char kStructureNotExpected[] = "Start of structure or map found where not expected";
constexpr char kListNotExpected[] = "Start of list found where not expected";
constexpr char kUnexpectedFieldType[] = "Unexpected field type";

std::string_view TokenName(const Json& v) {
  switch (v.type()) {
    case Json::value_t::string:
      return "STRING_VALUE";
    case Json::value_t::boolean:
      return v.get<bool>() ? "TRUE_VALUE" : "FALSE_VALUE";
    case Json::value_t::number_float:
      return "DECIMAL_VALUE";
    default:
      return "NUMBER_VALUE";
  }
}

// A scalar member (String, Integer, Boolean) holding the wrong kind of value.
Status NotConvertible(const Json& v, std::string_view type) {
  if (v.is_object()) return SerializationError(kStructureNotExpected);
  if (v.is_array()) return SerializationError(kListNotExpected);
  return SerializationError(std::string(TokenName(v)) + " cannot be converted to " +
                            std::string(type));
}
// A structure or map member holding something else.
Status CheckObject(const Json& v) {
  if (v.is_object()) return Status::Ok();
  if (v.is_array()) return SerializationError(kListNotExpected);
  return SerializationError(kUnexpectedFieldType);
}
// A list member holding something else.
Status CheckArray(const Json& v) {
  if (v.is_array()) return Status::Ok();
  if (v.is_object()) return SerializationError(kStructureNotExpected);
  return SerializationError(kUnexpectedFieldType);
}

// ---- the model's patterns ------------------------------------------------------

// Calls `ok` with each code point of `s`, which is valid UTF-8 (the JSON parser
// rejects anything else); false as soon as `ok` is.
template <typename F>
bool AllCodePoints(std::string_view s, F ok) {
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : 4;
    uint32_t cp = n == 1 ? c : n == 2 ? (c & 0x1f) : n == 3 ? (c & 0x0f) : (c & 0x07);
    if (i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k) cp = cp << 6 | (static_cast<unsigned char>(s[i + k]) & 0x3f);
    if (!ok(cp)) return false;
    i += n;
  }
  return true;
}

bool IsAlnum(uint32_t c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

struct Pattern {
  std::string_view text;  // as the model writes it, and AWS prints it
  bool (*matches)(std::string_view);
};

// kms-service-2 AliasNameType.
constexpr Pattern kAliasNamePattern{"^[a-zA-Z0-9:/_-]+$", [](std::string_view s) {
                                      return !s.empty() && AllCodePoints(s, [](uint32_t c) {
                                        return IsAlnum(c) || c == ':' || c == '/' || c == '_' ||
                                               c == '-';
                                      });
                                    }};
// PolicyNameType: Java's \w is [a-zA-Z_0-9].
// PrincipalIdType (grantee and retiring principals).
constexpr Pattern kPrincipalPattern{"^[\\w+=,.@:/-]+$", [](std::string_view s) {
                                      return !s.empty() && AllCodePoints(s, [](uint32_t c) {
                                        return IsAlnum(c) || c == '_' || c == '+' || c == '=' ||
                                               c == ',' || c == '.' || c == '@' || c == ':' ||
                                               c == '/' || c == '-';
                                      });
                                    }};

constexpr Pattern kPolicyNamePattern{
    "[\\w]+", [](std::string_view s) {
      return !s.empty() && AllCodePoints(s, [](uint32_t c) { return IsAlnum(c) || c == '_'; });
    }};
// MarkerType.
constexpr Pattern kMarkerPattern{"[\\u0020-\\u00FF]*", [](std::string_view s) {
                                   return AllCodePoints(
                                       s, [](uint32_t c) { return c >= 0x20 && c <= 0xff; });
                                 }};
// PolicyType.
constexpr Pattern kPolicyPattern{"[\\u0009\\u000A\\u000D\\u0020-\\u00FF]+", [](std::string_view s) {
                                   return !s.empty() && AllCodePoints(s, [](uint32_t c) {
                                     return c == 0x09 || c == 0x0a || c == 0x0d ||
                                            (c >= 0x20 && c <= 0xff);
                                   });
                                 }};
// XksKeyIdType.
constexpr Pattern kXksKeyIdPattern{"^[a-zA-Z0-9-_.]+$", [](std::string_view s) {
                                     return !s.empty() && AllCodePoints(s, [](uint32_t c) {
                                       return IsAlnum(c) || c == '-' || c == '_' || c == '.';
                                     });
                                   }};

// ---- the model's enums -----------------------------------------------------------

using EnumValues = std::vector<std::string_view>;
const EnumValues kKeyUsages = {"SIGN_VERIFY", "ENCRYPT_DECRYPT", "GENERATE_VERIFY_MAC",
                               "KEY_AGREEMENT"};
const EnumValues kCustomerMasterKeySpecs = {"RSA_2048",
                                            "RSA_3072",
                                            "RSA_4096",
                                            "ECC_NIST_P256",
                                            "ECC_NIST_P384",
                                            "ECC_NIST_P521",
                                            "ECC_SECG_P256K1",
                                            "SYMMETRIC_DEFAULT",
                                            "HMAC_224",
                                            "HMAC_256",
                                            "HMAC_384",
                                            "HMAC_512",
                                            "SM2"};
const EnumValues kKeySpecs = {"RSA_2048",
                              "RSA_3072",
                              "RSA_4096",
                              "ECC_NIST_P256",
                              "ECC_NIST_P384",
                              "ECC_NIST_P521",
                              "ECC_SECG_P256K1",
                              "SYMMETRIC_DEFAULT",
                              "HMAC_224",
                              "HMAC_256",
                              "HMAC_384",
                              "HMAC_512",
                              "SM2",
                              "ML_DSA_44",
                              "ML_DSA_65",
                              "ML_DSA_87",
                              "ECC_NIST_EDWARDS25519"};
const EnumValues kOrigins = {"AWS_KMS", "EXTERNAL", "AWS_CLOUDHSM", "EXTERNAL_KEY_STORE"};
const EnumValues kEncryptionAlgorithms = {"SYMMETRIC_DEFAULT", "RSAES_OAEP_SHA_1",
                                          "RSAES_OAEP_SHA_256", "SM2PKE"};
const EnumValues kDataKeySpecs = {"AES_256", "AES_128"};
const EnumValues kIncludeKeyMaterial = {"ALL_KEY_MATERIAL", "ROTATIONS_ONLY"};
const EnumValues kDryRunModifiers = {"IGNORE_CIPHERTEXT"};
const EnumValues& kGrantOperations = kms::GrantOperationNames();
const EnumValues kKeyEncryptionMechanisms = {"RSAES_OAEP_SHA_256"};

// ---- decoding one request --------------------------------------------------------

// The constraints of a string member (kms-service-2: min, max, pattern, enum).
struct TextRule {
  size_t min = 0;
  size_t max = SIZE_MAX;
  const Pattern* pattern = nullptr;
  const EnumValues* values = nullptr;
};

constexpr TextRule kKeyIdRule{.min = 1, .max = 2048};
constexpr TextRule kMarkerRule{.min = 1, .max = 1024, .pattern = &kMarkerPattern};
constexpr TextRule kPolicyRule{.min = 1, .max = 131072, .pattern = &kPolicyPattern};
constexpr TextRule kPolicyNameRule{.min = 1, .max = 128, .pattern = &kPolicyNamePattern};
constexpr TextRule kAliasNameRule{.min = 1, .max = 256, .pattern = &kAliasNamePattern};
constexpr TextRule kDescriptionRule{.min = 0, .max = 8192};
constexpr TextRule kCustomKeyStoreIdRule{.min = 1, .max = 64};
constexpr TextRule kPrincipalRule{.min = 1, .max = 256, .pattern = &kPrincipalPattern};
// GrantNameType has the alias name's pattern.
constexpr TextRule kGrantNameRule{.min = 1, .max = 256, .pattern = &kAliasNamePattern};
constexpr TextRule kGrantIdRule{.min = 1, .max = 128};
constexpr TextRule kGrantTokenRule{.min = 1, .max = 8192};
const TextRule kAlgorithmRule{.values = &kEncryptionAlgorithms};

constexpr int kMaxPlaintext = 4096, kMaxCiphertext = 6144;

// The members of one JSON object of a request (the request itself, or a
// structure inside it). Every read checks the JSON type first: a wrong type is
// returned at once as a SerializationException. Then it checks the model's
// constraints and adds each violation to the request's Validation, which
// Finish() turns into one ValidationException. JSON null counts as absent.
class Members {
 public:
  // `path` prefixes the lowerCamelCase member names in messages ("tags.1.member.").
  Members(Json& object, errors::Validation& validation, std::string path = "")
      : object_(object), v_(validation), path_(std::move(path)) {}

  // "KeyId" -> "keyId", as AWS names members in validation messages.
  std::string Path(std::string_view member) const {
    std::string out = path_ + std::string(member);
    out[path_.size()] =
        static_cast<char>(std::tolower(static_cast<unsigned char>(out[path_.size()])));
    return out;
  }

  Status Text(std::string_view member, const TextRule& rule, bool required,
              std::optional<std::string>& out) {
    const Json* v = Find(member);
    if (v == nullptr) return Missing(member, required);
    if (!v->is_string()) return NotConvertible(*v, "String");
    out = v->get<std::string>();
    CheckText(Path(member), *out, rule);
    return Status::Ok();
  }

  Status Integer(std::string_view member, int min, int max, bool required,
                 std::optional<int>& out) {
    const Json* v = Find(member);
    if (v == nullptr) return Missing(member, required);
    long long n = 0;
    if (v->is_number_integer() && !v->is_number_unsigned()) {
      n = v->get<long long>();
    } else if (v->is_number_unsigned() && v->get<unsigned long long>() <= LLONG_MAX) {
      n = static_cast<long long>(v->get<unsigned long long>());
    } else {
      return NotConvertible(*v, "Integer");
    }
    if (n < INT_MIN || n > INT_MAX)
      return SerializationError("NUMBER_VALUE cannot be converted to Integer");
    out = static_cast<int>(n);
    v_.Range(Path(member), n, min, max);
    return Status::Ok();
  }

  // A member required only in some cases, found absent in one of them.
  void Absent(std::string_view member) { v_.AddNull(Path(member)); }

  Status Boolean(std::string_view member, std::optional<bool>& out) {
    const Json* v = Find(member);
    if (v == nullptr) return Status::Ok();
    if (!v->is_boolean()) return NotConvertible(*v, "Boolean");
    out = v->get<bool>();
    return Status::Ok();
  }

  // A blob; its value never appears in a message (it is ciphertext).
  Status Blob(std::string_view member, size_t min, size_t max, bool required,
              std::optional<Bytes>& out) {
    Json* v = Find(member);
    if (v == nullptr) return Missing(member, required);
    ASSIGN_OR_RETURN(out, DecodeBase64(*v));
    CheckSize(Path(member), out->size(), min, max);
    return Status::Ok();
  }

  // A sensitive blob (a plaintext): decoded into SecretBytes, and the parsed
  // request's copy of its base64 text and the decoded buffer are wiped.
  Status Secret(std::string_view member, size_t min, size_t max, bool required,
                std::optional<crypto::SecretBytes>& out) {
    Json* v = Find(member);
    if (v == nullptr) return Missing(member, required);
    auto decoded = DecodeBase64(*v);
    if (v->is_string()) Wipe(v->get_ref<std::string&>());
    if (!decoded.ok()) return decoded.status();
    out = crypto::SecretBytes(ByteView(*decoded));
    Wipe(*decoded);
    CheckSize(Path(member), out->size(), min, max);
    return Status::Ok();
  }

  // A map of strings to strings (EncryptionContextType: no constraints).
  Status StringMap(std::string_view member, std::map<std::string, std::string>& out) {
    const Json* v = Find(member);
    if (v == nullptr) return Status::Ok();
    RETURN_IF_ERROR(CheckObject(*v));
    for (const auto& [key, value] : v->items()) {
      if (value.is_null()) {
        v_.AddNull(Path(member) + "." + key);
        continue;
      }
      if (!value.is_string()) return NotConvertible(value, "String");
      out[key] = value.get<std::string>();
    }
    return Status::Ok();
  }

  // A list of strings, each checked against `rule`.
  Status StringList(std::string_view member, const TextRule& rule, bool required,
                    std::optional<std::vector<std::string>>& out) {
    const Json* v = Find(member);
    if (v == nullptr) return Missing(member, required);
    RETURN_IF_ERROR(CheckArray(*v));
    out.emplace();
    size_t i = 0;
    for (const Json& e : *v) {
      std::string at = Path(member) + "." + std::to_string(++i) + ".member";
      if (e.is_null()) {
        v_.AddNull(at);
        continue;
      }
      if (!e.is_string()) return NotConvertible(e, "String");
      out->push_back(e.get<std::string>());
      CheckText(at, out->back(), rule);
    }
    return Status::Ok();
  }

  // GrantTokenList: at most 10 tokens of 1..8192 characters. coffer has no
  // grants, so valid tokens are accepted and ignored (kms.md: ≤ 10 grant tokens).
  Status GrantTokens(std::vector<std::string>& out) {
    std::optional<std::vector<std::string>> tokens;
    RETURN_IF_ERROR(StringList("GrantTokens", TextRule{.min = 1, .max = 8192}, false, tokens));
    if (!tokens) return Status::Ok();
    if (tokens->size() > 10) {
      // As the engine words it: a grant token is a bearer credential, never echoed.
      v_.Add(Path("GrantTokens"), std::to_string(tokens->size()) + " tokens",
             "Member must have length less than or equal to 10");
    }
    out = std::move(*tokens);
    return Status::Ok();
  }

  // TagList: structures {TagKey (1..128), TagValue (0..256)}, both required.
  Status Tags(std::string_view member, bool required, std::optional<std::vector<kms::Tag>>& out) {
    Json* v = Find(member);
    if (v == nullptr) return Missing(member, required);
    RETURN_IF_ERROR(CheckArray(*v));
    out.emplace();
    size_t i = 0;
    for (Json& e : *v) {
      std::string at = Path(member) + "." + std::to_string(++i) + ".member";
      if (e.is_null()) {
        v_.AddNull(at);
        continue;
      }
      RETURN_IF_ERROR(CheckObject(e));
      Members tag(e, v_, at + ".");
      std::optional<std::string> key, value;
      RETURN_IF_ERROR(tag.Text("TagKey", TextRule{.min = 1, .max = 128}, true, key));
      RETURN_IF_ERROR(tag.Text("TagValue", TextRule{.min = 0, .max = 256}, true, value));
      out->push_back({key.value_or(""), value.value_or("")});
    }
    return Status::Ok();
  }

  // GrantConstraints: {EncryptionContextSubset, EncryptionContextEquals}, each a
  // map of strings; a map given, even empty, is a constraint.
  Status Constraints(std::optional<kms::GrantConstraints>& out) {
    Json* v = Find("Constraints");
    if (v == nullptr) return Status::Ok();
    RETURN_IF_ERROR(CheckObject(*v));
    Members c(*v, v_, Path("Constraints") + ".");
    kms::GrantConstraints constraints;
    for (const char* member : {"EncryptionContextSubset", "EncryptionContextEquals"}) {
      if (c.Find(member) == nullptr) continue;
      kms::EncryptionContext pairs;
      RETURN_IF_ERROR(c.StringMap(member, pairs));
      (std::string_view(member) == "EncryptionContextSubset"
           ? constraints.encryption_context_subset
           : constraints.encryption_context_equals) = std::move(pairs);
    }
    out = std::move(constraints);
    return Status::Ok();
  }

  // RecipientInfo (attested enclaves): checked as the model says; coffer does
  // not support it, so `present` tells the caller to refuse the request.
  Status Recipient(bool& present) {
    Json* v = Find("Recipient");
    if (v == nullptr) return Status::Ok();
    RETURN_IF_ERROR(CheckObject(*v));
    Members recipient(*v, v_, Path("Recipient") + ".");
    std::optional<std::string> algorithm;
    std::optional<Bytes> document;
    RETURN_IF_ERROR(recipient.Text(
        "KeyEncryptionAlgorithm", TextRule{.values = &kKeyEncryptionMechanisms}, false, algorithm));
    RETURN_IF_ERROR(recipient.Blob("AttestationDocument", 1, 262144, false, document));
    present = true;
    return Status::Ok();
  }

  // The request's ValidationException, or OK.
  Status Finish() const { return v_.ToStatus(); }

 private:
  Json* Find(std::string_view member) {
    auto it = object_.find(member);
    if (it == object_.end() || it->is_null()) return nullptr;
    return &*it;
  }

  Status Missing(std::string_view member, bool required) {
    if (required) v_.AddNull(Path(member));
    return Status::Ok();
  }

  void CheckText(const std::string& path, const std::string& value, const TextRule& rule) {
    v_.Length(path, value, rule.min, rule.max);
    if (rule.pattern != nullptr && !rule.pattern->matches(value)) {
      v_.Add(path, value,
             "Member must satisfy regular expression pattern: " + std::string(rule.pattern->text));
    }
    if (rule.values != nullptr) v_.Enum(path, value, *rule.values);
  }

  void CheckSize(const std::string& path, size_t size, size_t min, size_t max) {
    if (size < min) {
      v_.AddSensitive(path,
                      "Member must have length greater than or equal to " + std::to_string(min));
    } else if (size > max) {
      v_.AddSensitive(path, "Member must have length less than or equal to " + std::to_string(max));
    }
  }

  // Standard base64 with padding. The text is never quoted in a message.
  static Result<Bytes> DecodeBase64(const Json& v) {
    if (v.is_object()) return SerializationError(kStructureNotExpected);
    if (v.is_array()) return SerializationError(kListNotExpected);
    if (!v.is_string()) {
      return SerializationError("only base-64-encoded strings are convertible to bytes");
    }
    const std::string& text = v.get_ref<const std::string&>();
    if (text.size() % 4 != 0) {
      return SerializationError(
          "Base64 encoded length is expected a multiple of 4 bytes but found: " +
          std::to_string(text.size()));
    }
    auto decoded = Base64Decode(text);
    if (!decoded.ok()) return SerializationError("Invalid Base64 encoding");
    return std::move(decoded).value();
  }

  Json& object_;
  errors::Validation& v_;
  std::string path_;
};

// ---- authorization -----------------------------------------------------------

// The alias name a KeyId names ("alias/x" from "alias/x" or from an alias ARN).
std::optional<std::string> AliasNameIn(std::string_view key_id) {
  if (!kms::NamesAlias(key_id)) return std::nullopt;
  if (key_id.starts_with("alias/")) return std::string(key_id);
  return std::string(key_id.substr(key_id.find(":alias/") + 1));
}

// The key a request acts on: its ARN, and the alias the request named it by.
struct KeyTarget {
  std::string arn;
  std::optional<std::string> alias;
};

// `forms`: the forms of key id the operation takes (kms::KeyIdForms).
Result<KeyTarget> ResolveKey(kms::KeyService& service, std::string_view key_id,
                             kms::KeyIdForms forms) {
  ASSIGN_OR_RETURN(std::string arn, service.ResolveKeyArn(key_id, forms));
  return KeyTarget{std::move(arn), AliasNameIn(key_id)};
}

// "kms:<op>" on a key, under its key policy; kms:RequestAlias when the request
// named the key by an alias.
Authorization OnKey(std::string_view op, const KeyTarget& key) {
  Authorization a;
  a.scope = PolicyScope::kKmsKey;
  a.action = "kms:" + std::string(op);
  a.resource = key.arn;
  if (key.alias) a.condition_keys["kms:RequestAlias"] = {*key.alias};
  return a;
}

// "kms:<op>" under the caller's identity policies only.
Authorization OnIdentity(std::string_view op, std::string resource = "*") {
  Authorization a;
  a.scope = PolicyScope::kIdentity;
  a.action = "kms:" + std::string(op);
  a.resource = std::move(resource);
  return a;
}

// kms:EncryptionContext:<k> and kms:EncryptionContextKeys, exactly as
// policy::RequestContext::SetEncryptionContext forms them.
void AddEncryptionContext(Authorization& a, const kms::EncryptionContext& context) {
  policy::RequestContext ctx;
  ctx.SetEncryptionContext(context);
  for (auto& [key, values] : ctx.condition_keys) a.condition_keys[key] = std::move(values);
}

void AddAlgorithm(Authorization& a, const std::optional<std::string>& algorithm) {
  // A request without an algorithm uses SYMMETRIC_DEFAULT, and the key says so.
  a.condition_keys["kms:EncryptionAlgorithm"] = {algorithm.value_or("SYMMETRIC_DEFAULT")};
}

// A grant of the key that lists `grant_op` (a literal) allows the call when the
// policies do not, if the request's encryption context `context` meets the grant's
// constraints (`context` null: the operation takes none). `owner` keeps `context`.
void AllowByGrant(Authorization& a, std::string_view grant_op, std::shared_ptr<const void> owner,
                  const kms::EncryptionContext* context) {
  a.grant_permits = [grant_op, owner = std::move(owner), context](const kms::Grant& g) {
    return kms::GrantAllows(g, grant_op, context);
  };
}

// aws:RequestTag/<k> for each tag and aws:TagKeys.
void AddRequestTags(Authorization& a, const std::vector<kms::Tag>& tags) {
  std::vector<std::string> keys;
  for (const auto& t : tags) {
    a.condition_keys["aws:RequestTag/" + t.tag_key] = {t.tag_value};
    keys.push_back(t.tag_key);
  }
  a.condition_keys["aws:TagKeys"] = std::move(keys);
}

std::string BoolText(bool b) { return b ? "true" : "false"; }

// ---- replies -------------------------------------------------------------------

std::string Dump(const OrderedJson& j) {
  return j.dump(-1, ' ', false, OrderedJson::error_handler_t::replace);
}

// Epoch seconds with the milliseconds as a fraction (aws-protocols.md: timestamps
// are numbers). From whole milliseconds, so 1767225600.123 prints as such.
double Seconds(TimePoint t) { return static_cast<double>(EpochMillis(t)) / 1000.0; }

OrderedJson KeyMetadataJson(const kms::KeyMetadata& m) {
  OrderedJson j;
  j["AWSAccountId"] = m.aws_account_id;
  j["KeyId"] = m.key_id;
  j["Arn"] = m.arn;
  j["CreationDate"] = Seconds(m.creation_date);
  j["Enabled"] = m.enabled;
  j["Description"] = m.description;
  j["KeyUsage"] = m.key_usage;
  j["KeyState"] = std::string(kms::KeyStateName(m.key_state));
  if (m.deletion_date) j["DeletionDate"] = Seconds(*m.deletion_date);
  j["Origin"] = m.origin;
  j["KeyManager"] = m.key_manager;
  j["CustomerMasterKeySpec"] = m.key_spec;
  j["KeySpec"] = m.key_spec;
  j["EncryptionAlgorithms"] = m.encryption_algorithms;
  j["MultiRegion"] = m.multi_region;
  if (!m.current_key_material_id.empty()) j["CurrentKeyMaterialId"] = m.current_key_material_id;
  return j;
}

// KeyMetadata as CloudTrail records it in responseElements (CreateKey): the reply's
// members in lowerCamelCase but "AWSAccountId", dates as CloudTrail writes them
// (the KMS Developer Guide's CreateKey example).
OrderedJson KeyMetadataRecord(const kms::KeyMetadata& m) {
  OrderedJson j;
  j["AWSAccountId"] = m.aws_account_id;
  j["keyId"] = m.key_id;
  j["arn"] = m.arn;
  j["creationDate"] = audit::FormatResponseElementsDate(m.creation_date);
  j["enabled"] = m.enabled;
  j["description"] = m.description;
  j["keyUsage"] = m.key_usage;
  j["keyState"] = std::string(kms::KeyStateName(m.key_state));
  if (m.deletion_date) j["deletionDate"] = audit::FormatResponseElementsDate(*m.deletion_date);
  j["origin"] = m.origin;
  j["keyManager"] = m.key_manager;
  j["customerMasterKeySpec"] = m.key_spec;
  j["keySpec"] = m.key_spec;
  j["encryptionAlgorithms"] = m.encryption_algorithms;
  j["multiRegion"] = m.multi_region;
  if (!m.current_key_material_id.empty()) j["currentKeyMaterialId"] = m.current_key_material_id;
  return j;
}

void AddPage(OrderedJson& j, const std::optional<std::string>& next_marker, bool truncated) {
  if (truncated && next_marker) j["NextMarker"] = *next_marker;
  j["Truncated"] = truncated;
}

// A member whose value is a string, as the replies below write it.
using StringMember = std::pair<std::string_view, std::string_view>;

// Appends `"name":"value"` for each member, comma-separated, as Dump writes an object's
// members.
void AppendMembers(std::string& out, std::span<const StringMember> members) {
  // Room for the text without escapes (two quoted strings, ':' and ',' per member),
  // and a closing brace.
  size_t size = 1;
  for (const auto& [name, value] : members) size += name.size() + value.size() + 6;
  out.reserve(out.size() + size);
  bool first = true;
  for (const auto& [name, value] : members) {
    if (!first) out += ',';
    first = false;
    AppendJsonString(out, name);
    out += ':';
    AppendJsonString(out, value);
  }
}

std::string MembersText(std::span<const StringMember> members) {
  std::string out;
  AppendMembers(out, members);
  return out;
}

// A reply whose members are all strings, byte for byte as Dump writes it, without
// building a JSON tree (the hot replies: Encrypt's, GenerateDataKeyWithoutPlaintext's).
std::string StringsReply(std::initializer_list<StringMember> members) {
  std::string out = "{";
  AppendMembers(out, members);
  out += '}';
  return out;
}

// A reply that carries a secret: `before`, then "<secret_name>":"<base64>", then
// `after`, written into one buffer sized up front; the base64 text's own buffer
// is wiped. The returned string holds the secret: the caller sends it and drops it.
std::string ReplyWithSecret(std::span<const StringMember> before, std::string_view secret_name,
                            const crypto::SecretBytes& secret,
                            std::span<const StringMember> after) {
  const std::string head = MembersText(before);
  const std::string tail = MembersText(after);
  std::string encoded = Base64Encode(crypto::RevealSecret(secret));
  std::string out;
  out.reserve(1 + head.size() + 1 + secret_name.size() + 5 + encoded.size() + 1 + tail.size() + 1);
  out += '{';
  if (!head.empty()) {
    out += head;
    out += ',';
  }
  out += '"';
  out += secret_name;
  out += "\":\"";
  out += encoded;
  Wipe(encoded);
  out += '"';
  if (!tail.empty()) {
    out += ',';
    out += tail;
  }
  out += '}';
  return out;
}

// ---- the operations ----------------------------------------------------------

// A KMS key as a record's resource (AWS records aliases with this type too: the
// CreateAlias, UpdateAlias and DeleteAlias examples of the KMS Developer Guide,
// "Logging AWS KMS API calls with AWS CloudTrail").
AuditResource KeyResource(std::string arn) {
  return AuditResource::Of(std::move(arn), "AWS::KMS::Key");
}

// A call whose record has no responseElements (AWS records null for the reads, the
// cryptographic operations and the operations without output); `run` returns the body.
Call MakeCall(std::string_view operation, std::vector<Authorization> authorizations,
              std::vector<AuditResource> resources, std::function<Result<std::string>()> run) {
  Call call;
  call.operation = std::string(operation);
  call.authorizations = std::move(authorizations);
  call.resources = std::move(resources);
  call.run = [run = std::move(run)]() -> Result<Reply> {
    ASSIGN_OR_RETURN(std::string body, run());
    return Reply{std::move(body)};
  };
  return call;
}

// A call whose record has responseElements: `run` returns the whole Reply.
Call MakeCallWithReply(std::string_view operation, std::vector<Authorization> authorizations,
                       std::vector<AuditResource> resources, std::function<Result<Reply>()> run) {
  Call call;
  call.operation = std::string(operation);
  call.authorizations = std::move(authorizations);
  call.resources = std::move(resources);
  call.run = std::move(run);
  return call;
}

// Operations whose output is empty: AWS KMS replies with an empty body.
Result<std::string> NoOutput(const Status& st) {
  if (!st.ok()) return st;
  return std::string();
}

// The engine's alias-name prefix rule, checked before the alias is resolved for
// authorization (its text is the engine's: kms/key_service.cc, ValidateAliasName).
Status CheckAliasPrefix(std::string_view alias) {
  if (!alias.starts_with("alias/") || alias.size() == 6) {
    return errors::ValidationError(
        "Alias must start with the prefix \"alias/\". Please see "
        "https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html");
  }
  return Status::Ok();
}
// An alias must target a key, not another alias (the engine's rule and text).
Status CheckTargetIsKey(std::string_view target) {
  if (kms::NamesAlias(target))
    return errors::ValidationError("Aliases must refer to keys. Not aliases");
  return Status::Ok();
}

// The key a ciphertext names, with the request's optional KeyId checked against
// it, in the engine's order (KeyService::Decrypt): a blob that does not parse
// (InvalidCiphertext); a KeyId that names no key (NotFound); a KeyId naming
// another key (IncorrectKey); a blob whose key does not exist (AccessDenied).
// `key_only` (a dry run with IGNORE_CIPHERTEXT): a given KeyId is the key, and the
// blob is not read.
Result<KeyTarget> CiphertextKey(kms::KeyService& service, const Bytes& blob,
                                const std::optional<std::string>& key_id, bool key_only) {
  if (key_only && key_id) return ResolveKey(service, *key_id, kms::KeyIdForms::kAliasesToo);
  auto arn = service.KeyArnOfCiphertext(blob);
  bool unknown_key = !arn.ok() && arn.status().error_name() == "AccessDeniedException";
  if (!arn.ok() && !unknown_key) return arn.status();
  if (key_id) {
    ASSIGN_OR_RETURN(KeyTarget named, ResolveKey(service, *key_id, kms::KeyIdForms::kAliasesToo));
    if (unknown_key || named.arn != *arn) return errors::IncorrectKey();
    return named;
  }
  if (unknown_key) return arn.status();
  return KeyTarget{std::move(arn).value(), std::nullopt};
}

// DryRunModifiers holds IGNORE_CIPHERTEXT (its only value).
bool IgnoresCiphertext(const std::optional<std::vector<std::string>>& modifiers) {
  return modifiers &&
         std::find(modifiers->begin(), modifiers->end(), "IGNORE_CIPHERTEXT") != modifiers->end();
}

// Decrypt and ReEncrypt (kms-service-2's documentation of the members): the
// CiphertextBlob is required except in a dry run with IGNORE_CIPHERTEXT, which
// requires the key id (`key_member`) instead.
void RequireCiphertextOrKey(Members& in, const std::optional<Bytes>& blob,
                            std::string_view key_member, const std::optional<std::string>& key_id,
                            bool ignore_ciphertext) {
  if (!ignore_ciphertext && !blob) in.Absent("CiphertextBlob");
  if (ignore_ciphertext && !key_id) in.Absent(key_member);
}

using Preparer = Result<Call> (*)(kms::KeyService&, Members&, std::string_view op);

// DescribeKey, EnableKey, DisableKey, CancelKeyDeletion, DisableKeyRotation,
// GetKeyRotationStatus, RotateKeyOnDemand, ListKeyPolicies: a KeyId and nothing
// the engine needs besides.
Result<Call> PrepareKeyOnly(kms::KeyService& service, Members& in, std::string_view op) {
  std::optional<std::string> key_id, marker;
  std::optional<int> limit;
  std::vector<std::string> grant_tokens;
  RETURN_IF_ERROR(in.Text("KeyId", kKeyIdRule, true, key_id));
  if (op == "DescribeKey") RETURN_IF_ERROR(in.GrantTokens(grant_tokens));
  if (op == "ListKeyPolicies") {
    // Validated as the model says; a key has one policy, so any page holds it.
    RETURN_IF_ERROR(in.Integer("Limit", 1, 1000, false, limit));
    RETURN_IF_ERROR(in.Text("Marker", kMarkerRule, false, marker));
  }
  RETURN_IF_ERROR(in.Finish());
  ASSIGN_OR_RETURN(KeyTarget key, ResolveKey(service, *key_id,
                                             op == "DescribeKey" ? kms::KeyIdForms::kAliasesToo
                                                                 : kms::KeyIdForms::kKeyOnly));
  kms::KeyService* s = &service;
  std::string arn = key.arn;
  std::function<Result<std::string>()> run;
  if (op == "DescribeKey") {
    run = [s, arn]() -> Result<std::string> {
      ASSIGN_OR_RETURN(kms::KeyMetadata m, s->DescribeKey(arn));
      OrderedJson j;
      j["KeyMetadata"] = KeyMetadataJson(m);
      return Dump(j);
    };
  } else if (op == "EnableKey") {
    run = [s, arn] { return NoOutput(s->EnableKey(arn)); };
  } else if (op == "DisableKey") {
    run = [s, arn] { return NoOutput(s->DisableKey(arn)); };
  } else if (op == "DisableKeyRotation") {
    run = [s, arn] { return NoOutput(s->DisableKeyRotation(arn)); };
  } else if (op == "CancelKeyDeletion" || op == "RotateKeyOnDemand") {
    // responseElements {"keyId": ARN} (the KMS Developer Guide's CancelKeyDeletion example).
    bool cancel = op == "CancelKeyDeletion";
    return MakeCallWithReply(
        op, {OnKey(op, key)}, {KeyResource(arn)}, [s, arn, cancel]() -> Result<Reply> {
          ASSIGN_OR_RETURN(std::string key_arn,
                           cancel ? s->CancelKeyDeletion(arn) : s->RotateKeyOnDemand(arn));
          OrderedJson j, elements;
          j["KeyId"] = key_arn;
          elements["keyId"] = key_arn;
          return Reply{Dump(j), Dump(elements)};
        });
  } else if (op == "GetKeyRotationStatus") {
    run = [s, arn]() -> Result<std::string> {
      ASSIGN_OR_RETURN(kms::KeyRotationStatus r, s->GetKeyRotationStatus(arn));
      OrderedJson j;
      j["KeyRotationEnabled"] = r.key_rotation_enabled;
      j["KeyId"] = r.key_id;
      if (r.rotation_period_in_days) j["RotationPeriodInDays"] = *r.rotation_period_in_days;
      if (r.next_rotation_date) j["NextRotationDate"] = Seconds(*r.next_rotation_date);
      if (r.on_demand_rotation_start_date) {
        j["OnDemandRotationStartDate"] = Seconds(*r.on_demand_rotation_start_date);
      }
      return Dump(j);
    };
  } else {  // ListKeyPolicies
    run = [s, arn]() -> Result<std::string> {
      ASSIGN_OR_RETURN(std::vector<std::string> names, s->ListKeyPolicies(arn));
      OrderedJson j;
      j["PolicyNames"] = names;
      j["Truncated"] = false;
      return Dump(j);
    };
  }
  Authorization a = OnKey(op, key);
  if (op == "DescribeKey") AllowByGrant(a, "DescribeKey", nullptr, nullptr);
  return MakeCall(op, {std::move(a)}, {KeyResource(arn)}, std::move(run));
}

Result<Call> PrepareCreateKey(kms::KeyService& service, Members& in, std::string_view op) {
  auto req = std::make_shared<kms::CreateKeyRequest>();
  std::optional<std::vector<kms::Tag>> tags;
  RETURN_IF_ERROR(in.Text("Policy", kPolicyRule, false, req->policy));
  RETURN_IF_ERROR(in.Text("Description", kDescriptionRule, false, req->description));
  RETURN_IF_ERROR(in.Text("KeyUsage", TextRule{.values = &kKeyUsages}, false, req->key_usage));
  RETURN_IF_ERROR(in.Text("CustomerMasterKeySpec", TextRule{.values = &kCustomerMasterKeySpecs},
                          false, req->customer_master_key_spec));
  RETURN_IF_ERROR(in.Text("KeySpec", TextRule{.values = &kKeySpecs}, false, req->key_spec));
  RETURN_IF_ERROR(in.Text("Origin", TextRule{.values = &kOrigins}, false, req->origin));
  RETURN_IF_ERROR(
      in.Text("CustomKeyStoreId", kCustomKeyStoreIdRule, false, req->custom_key_store_id));
  RETURN_IF_ERROR(
      in.Boolean("BypassPolicyLockoutSafetyCheck", req->bypass_policy_lockout_safety_check));
  RETURN_IF_ERROR(in.Tags("Tags", false, tags));
  RETURN_IF_ERROR(in.Boolean("MultiRegion", req->multi_region));
  RETURN_IF_ERROR(in.Text("XksKeyId", TextRule{.min = 1, .max = 128, .pattern = &kXksKeyIdPattern},
                          false, req->xks_key_id));
  RETURN_IF_ERROR(in.Finish());
  if (tags) req->tags = std::move(*tags);

  const bool bypass = req->bypass_policy_lockout_safety_check.value_or(false);
  Authorization create = OnIdentity(op);
  create.condition_keys["kms:KeySpec"] = {
      req->key_spec.value_or(req->customer_master_key_spec.value_or("SYMMETRIC_DEFAULT"))};
  create.condition_keys["kms:KeyUsage"] = {req->key_usage.value_or("ENCRYPT_DECRYPT")};
  create.condition_keys["kms:KeyOrigin"] = {req->origin.value_or("AWS_KMS")};
  create.condition_keys["kms:MultiRegion"] = {BoolText(req->multi_region.value_or(false))};
  create.condition_keys["kms:BypassPolicyLockoutSafetyCheck"] = {BoolText(bypass)};
  std::vector<Authorization> auths;
  if (!req->tags.empty()) {
    AddRequestTags(create, req->tags);
    // AWS: "To use the Tags parameter, you need kms:TagResource permission in an
    // IAM policy" (CreateKey, Required permissions).
    Authorization tag = OnIdentity("TagResource");
    AddRequestTags(tag, req->tags);
    auths = {std::move(create), std::move(tag)};
  } else {
    auths = {std::move(create)};
  }
  kms::KeyService* s = &service;
  // The new key is the record's resource, and its metadata the responseElements.
  Call call = MakeCallWithReply(op, std::move(auths), {}, [s, req]() -> Result<Reply> {
    ASSIGN_OR_RETURN(kms::KeyMetadata m, s->CreateKey(*req));
    OrderedJson j, elements;
    j["KeyMetadata"] = KeyMetadataJson(m);
    elements["keyMetadata"] = KeyMetadataRecord(m);
    return Reply{Dump(j), Dump(elements), {KeyResource(m.arn)}};
  });
  // CreateKey's model: "If you provide a key policy, it must meet the following
  // criteria: … allow the calling principal to make a subsequent PutKeyPolicy
  // request". The default policy is not checked. That request names the new key,
  // whose id is drawn now, and sees the tags it will have.
  if (!bypass && req->policy) {
    req->key_id = service.NewKeyId();
    call.lockout_check_policy = *req->policy;
    call.lockout_check_resource = service.KeyArn(req->key_id);
    std::map<std::string, std::string>& tags = call.lockout_check_new_key_tags.emplace();
    for (const kms::Tag& t : req->tags) tags[t.tag_key] = t.tag_value;
  }
  call.new_key_policy = req->policy;
  return call;
}

Result<Call> PrepareListKeys(kms::KeyService& service, Members& in, std::string_view op) {
  std::optional<int> limit;
  std::optional<std::string> marker;
  RETURN_IF_ERROR(in.Integer("Limit", 1, 1000, false, limit));
  RETURN_IF_ERROR(in.Text("Marker", kMarkerRule, false, marker));
  RETURN_IF_ERROR(in.Finish());
  kms::KeyService* s = &service;
  return MakeCall(op, {OnIdentity(op)}, {}, [s, limit, marker]() -> Result<std::string> {
    ASSIGN_OR_RETURN(kms::ListKeysResponse r, s->ListKeys(limit, marker));
    OrderedJson j;
    j["Keys"] = OrderedJson::array();
    for (const auto& k : r.keys) j["Keys"].push_back({{"KeyId", k.key_id}, {"KeyArn", k.key_arn}});
    AddPage(j, r.next_marker, r.truncated);
    return Dump(j);
  });
}

Result<Call> PrepareUpdateKeyDescription(kms::KeyService& service, Members& in,
                                         std::string_view op) {
  std::optional<std::string> key_id, description;
  RETURN_IF_ERROR(in.Text("KeyId", kKeyIdRule, true, key_id));
  RETURN_IF_ERROR(in.Text("Description", kDescriptionRule, true, description));
  RETURN_IF_ERROR(in.Finish());
  ASSIGN_OR_RETURN(KeyTarget key, ResolveKey(service, *key_id, kms::KeyIdForms::kKeyOnly));
  kms::KeyService* s = &service;
  return MakeCall(
      op, {OnKey(op, key)}, {KeyResource(key.arn)},
      [s, arn = key.arn, d = *description] { return NoOutput(s->UpdateKeyDescription(arn, d)); });
}

Result<Call> PrepareScheduleKeyDeletion(kms::KeyService& service, Members& in,
                                        std::string_view op) {
  std::optional<std::string> key_id;
  std::optional<int> window;
  RETURN_IF_ERROR(in.Text("KeyId", kKeyIdRule, true, key_id));
  RETURN_IF_ERROR(in.Integer("PendingWindowInDays", 1, 365, false, window));
  RETURN_IF_ERROR(in.Finish());
  ASSIGN_OR_RETURN(KeyTarget key, ResolveKey(service, *key_id, kms::KeyIdForms::kKeyOnly));
  Authorization a = OnKey(op, key);
  // The window the key will get: the request's, else AWS's default of 30 days.
  a.condition_keys["kms:ScheduleKeyDeletionPendingWindowInDays"] = {
      std::to_string(window.value_or(30))};
  kms::KeyService* s = &service;
  // responseElements: the reply's members (the KMS Developer Guide's ScheduleKeyDeletion
  // example: keyId, keyState, deletionDate).
  return MakeCallWithReply(
      op, {std::move(a)}, {KeyResource(key.arn)}, [s, arn = key.arn, window]() -> Result<Reply> {
        ASSIGN_OR_RETURN(kms::ScheduleKeyDeletionResponse r, s->ScheduleKeyDeletion(arn, window));
        OrderedJson j, elements;
        j["KeyId"] = r.key_id;
        j["DeletionDate"] = Seconds(r.deletion_date);
        j["KeyState"] = std::string(kms::KeyStateName(r.key_state));
        j["PendingWindowInDays"] = r.pending_window_in_days;
        elements["keyId"] = r.key_id;
        elements["deletionDate"] = audit::FormatResponseElementsDate(r.deletion_date);
        elements["keyState"] = std::string(kms::KeyStateName(r.key_state));
        elements["pendingWindowInDays"] = r.pending_window_in_days;
        return Reply{Dump(j), Dump(elements)};
      });
}

// CreateAlias, UpdateAlias (AWS, Required permissions): kms:<Op> on the alias
// (IAM policy), and on the key (key policy); UpdateAlias on the current key and
// on the new one.
Result<Call> PrepareCreateOrUpdateAlias(kms::KeyService& service, Members& in,
                                        std::string_view op) {
  std::optional<std::string> alias, target;
  RETURN_IF_ERROR(in.Text("AliasName", kAliasNameRule, true, alias));
  RETURN_IF_ERROR(in.Text("TargetKeyId", kKeyIdRule, true, target));
  RETURN_IF_ERROR(in.Finish());
  RETURN_IF_ERROR(CheckAliasPrefix(*alias));
  RETURN_IF_ERROR(CheckTargetIsKey(*target));
  const bool create = op == "CreateAlias";
  std::vector<Authorization> auths = {OnIdentity(op, service.AliasArn(*alias))};
  AuditResource alias_resource = KeyResource(service.AliasArn(*alias));
  if (!create) {
    // The engine's order: an alias that does not exist, then the target.
    ASSIGN_OR_RETURN(KeyTarget current, ResolveKey(service, *alias, kms::KeyIdForms::kAliasesToo));
    current.alias.reset();  // the request names the alias to change, not a key
    auths.push_back(OnKey(op, current));
  }
  ASSIGN_OR_RETURN(KeyTarget key, ResolveKey(service, *target, kms::KeyIdForms::kKeyOnly));
  auths.push_back(OnKey(op, key));
  kms::KeyService* s = &service;
  // Resources as AWS orders them: CreateAlias the key, then the alias; UpdateAlias the
  // alias, then the key it will name (the KMS Developer Guide's examples).
  std::vector<AuditResource> resources = {KeyResource(key.arn), alias_resource};
  if (!create) std::swap(resources[0], resources[1]);
  return MakeCall(op, std::move(auths), std::move(resources),
                  [s, create, name = *alias, arn = key.arn] {
                    return NoOutput(create ? s->CreateAlias(name, arn) : s->UpdateAlias(name, arn));
                  });
}

Result<Call> PrepareDeleteAlias(kms::KeyService& service, Members& in, std::string_view op) {
  std::optional<std::string> alias;
  RETURN_IF_ERROR(in.Text("AliasName", kAliasNameRule, true, alias));
  RETURN_IF_ERROR(in.Finish());
  RETURN_IF_ERROR(CheckAliasPrefix(*alias));
  ASSIGN_OR_RETURN(KeyTarget key, ResolveKey(service, *alias, kms::KeyIdForms::kAliasesToo));
  key.alias.reset();
  kms::KeyService* s = &service;
  return MakeCall(op, {OnIdentity(op, service.AliasArn(*alias)), OnKey(op, key)},
                  {KeyResource(service.AliasArn(*alias)), KeyResource(key.arn)},
                  [s, name = *alias] { return NoOutput(s->DeleteAlias(name)); });
}

Result<Call> PrepareListAliases(kms::KeyService& service, Members& in, std::string_view op) {
  std::optional<std::string> key_id, marker;
  std::optional<int> limit;
  RETURN_IF_ERROR(in.Text("KeyId", kKeyIdRule, false, key_id));
  RETURN_IF_ERROR(in.Integer("Limit", 1, 1000, false, limit));
  RETURN_IF_ERROR(in.Text("Marker", kMarkerRule, false, marker));
  RETURN_IF_ERROR(in.Finish());
  kms::KeyService* s = &service;
  return MakeCall(op, {OnIdentity(op)}, {}, [s, key_id, limit, marker]() -> Result<std::string> {
    ASSIGN_OR_RETURN(kms::ListAliasesResponse r, s->ListAliases(key_id, limit, marker));
    OrderedJson j;
    j["Aliases"] = OrderedJson::array();
    for (const auto& a : r.aliases) {
      OrderedJson e;
      e["AliasName"] = a.alias_name;
      e["AliasArn"] = a.alias_arn;
      e["TargetKeyId"] = a.target_key_id;
      e["CreationDate"] = Seconds(a.creation_date);
      e["LastUpdatedDate"] = Seconds(a.last_updated_date);
      j["Aliases"].push_back(std::move(e));
    }
    AddPage(j, r.next_marker, r.truncated);
    return Dump(j);
  });
}

Result<Call> PrepareTagResource(kms::KeyService& service, Members& in, std::string_view op) {
  std::optional<std::string> key_id;
  std::optional<std::vector<kms::Tag>> tags;
  RETURN_IF_ERROR(in.Text("KeyId", kKeyIdRule, true, key_id));
  RETURN_IF_ERROR(in.Tags("Tags", true, tags));
  RETURN_IF_ERROR(in.Finish());
  ASSIGN_OR_RETURN(KeyTarget key, ResolveKey(service, *key_id, kms::KeyIdForms::kKeyOnly));
  Authorization a = OnKey(op, key);
  AddRequestTags(a, *tags);
  kms::KeyService* s = &service;
  return MakeCall(
      op, {std::move(a)}, {KeyResource(key.arn)},
      [s, arn = key.arn, tags = std::move(*tags)] { return NoOutput(s->TagResource(arn, tags)); });
}

Result<Call> PrepareUntagResource(kms::KeyService& service, Members& in, std::string_view op) {
  std::optional<std::string> key_id;
  std::optional<std::vector<std::string>> tag_keys;
  RETURN_IF_ERROR(in.Text("KeyId", kKeyIdRule, true, key_id));
  RETURN_IF_ERROR(in.StringList("TagKeys", TextRule{.min = 1, .max = 128}, true, tag_keys));
  RETURN_IF_ERROR(in.Finish());
  ASSIGN_OR_RETURN(KeyTarget key, ResolveKey(service, *key_id, kms::KeyIdForms::kKeyOnly));
  Authorization a = OnKey(op, key);
  a.condition_keys["aws:TagKeys"] = *tag_keys;
  kms::KeyService* s = &service;
  return MakeCall(op, {std::move(a)}, {KeyResource(key.arn)},
                  [s, arn = key.arn, keys = std::move(*tag_keys)] {
                    return NoOutput(s->UntagResource(arn, keys));
                  });
}

Result<Call> PrepareListResourceTags(kms::KeyService& service, Members& in, std::string_view op) {
  std::optional<std::string> key_id, marker;
  std::optional<int> limit;
  RETURN_IF_ERROR(in.Text("KeyId", kKeyIdRule, true, key_id));
  RETURN_IF_ERROR(in.Integer("Limit", 1, 1000, false, limit));
  RETURN_IF_ERROR(in.Text("Marker", kMarkerRule, false, marker));
  RETURN_IF_ERROR(in.Finish());
  ASSIGN_OR_RETURN(KeyTarget key, ResolveKey(service, *key_id, kms::KeyIdForms::kKeyOnly));
  kms::KeyService* s = &service;
  return MakeCall(op, {OnKey(op, key)}, {KeyResource(key.arn)},
                  [s, arn = key.arn, limit, marker]() -> Result<std::string> {
                    ASSIGN_OR_RETURN(kms::ListResourceTagsResponse r,
                                     s->ListResourceTags(arn, limit, marker));
                    OrderedJson j;
                    j["Tags"] = OrderedJson::array();
                    for (const auto& t : r.tags) {
                      j["Tags"].push_back({{"TagKey", t.tag_key}, {"TagValue", t.tag_value}});
                    }
                    AddPage(j, r.next_marker, r.truncated);
                    return Dump(j);
                  });
}

Result<Call> PrepareGetKeyPolicy(kms::KeyService& service, Members& in, std::string_view op) {
  std::optional<std::string> key_id, name;
  RETURN_IF_ERROR(in.Text("KeyId", kKeyIdRule, true, key_id));
  RETURN_IF_ERROR(in.Text("PolicyName", kPolicyNameRule, false, name));
  RETURN_IF_ERROR(in.Finish());
  ASSIGN_OR_RETURN(KeyTarget key, ResolveKey(service, *key_id, kms::KeyIdForms::kKeyOnly));
  kms::KeyService* s = &service;
  return MakeCall(op, {OnKey(op, key)}, {KeyResource(key.arn)},
                  [s, arn = key.arn, name]() -> Result<std::string> {
                    ASSIGN_OR_RETURN(std::string policy, s->GetKeyPolicy(arn, name));
                    OrderedJson j;
                    j["Policy"] = policy;
                    j["PolicyName"] = name.value_or("default");
                    return Dump(j);
                  });
}

Result<Call> PreparePutKeyPolicy(kms::KeyService& service, Members& in, std::string_view op) {
  std::optional<std::string> key_id, name, policy;
  std::optional<bool> bypass;
  RETURN_IF_ERROR(in.Text("KeyId", kKeyIdRule, true, key_id));
  RETURN_IF_ERROR(in.Text("PolicyName", kPolicyNameRule, false, name));
  RETURN_IF_ERROR(in.Text("Policy", kPolicyRule, true, policy));
  RETURN_IF_ERROR(in.Boolean("BypassPolicyLockoutSafetyCheck", bypass));
  RETURN_IF_ERROR(in.Finish());
  ASSIGN_OR_RETURN(KeyTarget key, ResolveKey(service, *key_id, kms::KeyIdForms::kKeyOnly));
  Authorization a = OnKey(op, key);
  a.condition_keys["kms:BypassPolicyLockoutSafetyCheck"] = {BoolText(bypass.value_or(false))};
  kms::KeyService* s = &service;
  Call call = MakeCall(
      op, {std::move(a)}, {KeyResource(key.arn)},
      [s, arn = key.arn, name, p = *policy] { return NoOutput(s->PutKeyPolicy(arn, name, p)); });
  if (!bypass.value_or(false)) {
    call.lockout_check_policy = *policy;
    call.lockout_check_resource = key.arn;
  }
  call.new_key_policy = *policy;
  return call;
}

Result<Call> PrepareEnableKeyRotation(kms::KeyService& service, Members& in, std::string_view op) {
  std::optional<std::string> key_id;
  std::optional<int> period;
  RETURN_IF_ERROR(in.Text("KeyId", kKeyIdRule, true, key_id));
  RETURN_IF_ERROR(in.Integer("RotationPeriodInDays", 90, 2560, false, period));
  RETURN_IF_ERROR(in.Finish());
  ASSIGN_OR_RETURN(KeyTarget key, ResolveKey(service, *key_id, kms::KeyIdForms::kKeyOnly));
  Authorization a = OnKey(op, key);
  // The period the key will get: the request's, else AWS's default of 365 days.
  a.condition_keys["kms:RotationPeriodInDays"] = {std::to_string(period.value_or(365))};
  kms::KeyService* s = &service;
  return MakeCall(op, {std::move(a)}, {KeyResource(key.arn)}, [s, arn = key.arn, period] {
    return NoOutput(s->EnableKeyRotation(arn, period));
  });
}

Result<Call> PrepareListKeyRotations(kms::KeyService& service, Members& in, std::string_view op) {
  std::optional<std::string> key_id, include, marker;
  std::optional<int> limit;
  RETURN_IF_ERROR(in.Text("KeyId", kKeyIdRule, true, key_id));
  RETURN_IF_ERROR(
      in.Text("IncludeKeyMaterial", TextRule{.values = &kIncludeKeyMaterial}, false, include));
  RETURN_IF_ERROR(in.Integer("Limit", 1, 1000, false, limit));
  RETURN_IF_ERROR(in.Text("Marker", kMarkerRule, false, marker));
  RETURN_IF_ERROR(in.Finish());
  const bool all = include == "ALL_KEY_MATERIAL";
  ASSIGN_OR_RETURN(KeyTarget key, ResolveKey(service, *key_id, kms::KeyIdForms::kKeyOnly));
  kms::KeyService* s = &service;
  return MakeCall(op, {OnKey(op, key)}, {KeyResource(key.arn)},
                  [s, arn = key.arn, limit, marker, all]() -> Result<std::string> {
                    ASSIGN_OR_RETURN(kms::ListKeyRotationsResponse r,
                                     s->ListKeyRotations(arn, limit, marker, all));
                    OrderedJson j;
                    j["Rotations"] = OrderedJson::array();
                    for (const auto& e : r.rotations) {
                      OrderedJson o;
                      o["KeyId"] = e.key_id;
                      o["KeyMaterialId"] = e.key_material_id;
                      o["KeyMaterialState"] = e.key_material_state;
                      if (e.rotation_date) o["RotationDate"] = Seconds(*e.rotation_date);
                      if (e.rotation_type) o["RotationType"] = *e.rotation_type;
                      j["Rotations"].push_back(std::move(o));
                    }
                    AddPage(j, r.next_marker, r.truncated);
                    return Dump(j);
                  });
}

// ---- cryptography ----

Result<Call> PrepareEncrypt(kms::KeyService& service, Members& in, std::string_view op) {
  auto req = std::make_shared<kms::EncryptRequest>();
  std::optional<std::string> key_id;
  std::optional<crypto::SecretBytes> plaintext;
  std::optional<bool> dry_run;
  RETURN_IF_ERROR(in.Text("KeyId", kKeyIdRule, true, key_id));
  RETURN_IF_ERROR(in.Secret("Plaintext", 1, kMaxPlaintext, true, plaintext));
  RETURN_IF_ERROR(in.StringMap("EncryptionContext", req->encryption_context));
  RETURN_IF_ERROR(in.GrantTokens(req->grant_tokens));
  RETURN_IF_ERROR(in.Text("EncryptionAlgorithm", kAlgorithmRule, false, req->encryption_algorithm));
  RETURN_IF_ERROR(in.Boolean("DryRun", dry_run));
  RETURN_IF_ERROR(in.Finish());
  ASSIGN_OR_RETURN(KeyTarget key, ResolveKey(service, *key_id, kms::KeyIdForms::kAliasesToo));
  req->key_id = key.arn;
  req->plaintext = std::move(*plaintext);
  req->dry_run = dry_run.value_or(false);
  Authorization a = OnKey(op, key);
  AddEncryptionContext(a, req->encryption_context);
  AddAlgorithm(a, req->encryption_algorithm);
  AllowByGrant(a, "Encrypt", req, &req->encryption_context);
  kms::KeyService* s = &service;
  return MakeCall(op, {std::move(a)}, {KeyResource(key.arn)}, [s, req]() -> Result<std::string> {
    ASSIGN_OR_RETURN(kms::EncryptResponse r, s->Encrypt(*req));
    return StringsReply({{"CiphertextBlob", Base64Encode(r.ciphertext_blob)},
                         {"KeyId", r.key_id},
                         {"EncryptionAlgorithm", r.encryption_algorithm}});
  });
}

Result<Call> PrepareDecrypt(kms::KeyService& service, Members& in, std::string_view op) {
  auto req = std::make_shared<kms::DecryptRequest>();
  std::optional<Bytes> blob;
  std::optional<bool> dry_run;
  std::optional<std::vector<std::string>> modifiers;
  bool recipient = false;
  RETURN_IF_ERROR(in.Blob("CiphertextBlob", 1, kMaxCiphertext, false, blob));
  RETURN_IF_ERROR(in.StringMap("EncryptionContext", req->encryption_context));
  RETURN_IF_ERROR(in.GrantTokens(req->grant_tokens));
  RETURN_IF_ERROR(in.Text("KeyId", kKeyIdRule, false, req->key_id));
  RETURN_IF_ERROR(in.Text("EncryptionAlgorithm", kAlgorithmRule, false, req->encryption_algorithm));
  RETURN_IF_ERROR(in.Recipient(recipient));
  RETURN_IF_ERROR(in.Boolean("DryRun", dry_run));
  RETURN_IF_ERROR(
      in.StringList("DryRunModifiers", TextRule{.values = &kDryRunModifiers}, false, modifiers));
  req->dry_run = dry_run.value_or(false);
  req->ignore_ciphertext = req->dry_run && IgnoresCiphertext(modifiers);
  RequireCiphertextOrKey(in, blob, "KeyId", req->key_id, req->ignore_ciphertext);
  RETURN_IF_ERROR(in.Finish());
  if (recipient) {
    return errors::Unsupported("Recipient (attested enclaves) is not supported by coffer.");
  }
  req->ciphertext_blob = std::move(blob).value_or(Bytes());
  ASSIGN_OR_RETURN(KeyTarget key, CiphertextKey(service, req->ciphertext_blob, req->key_id,
                                                req->ignore_ciphertext));
  Authorization a = OnKey(op, key);
  AddEncryptionContext(a, req->encryption_context);
  AddAlgorithm(a, req->encryption_algorithm);
  AllowByGrant(a, "Decrypt", req, &req->encryption_context);
  kms::KeyService* s = &service;
  return MakeCall(op, {std::move(a)}, {KeyResource(key.arn)}, [s, req]() -> Result<std::string> {
    ASSIGN_OR_RETURN(kms::DecryptResponse r, s->Decrypt(*req));
    const StringMember before[] = {{"KeyId", r.key_id}};
    const StringMember after[] = {{"EncryptionAlgorithm", r.encryption_algorithm},
                                  {"KeyMaterialId", r.key_material_id}};
    // KeyMaterialId only when the key says which material decrypted.
    return ReplyWithSecret(before, "Plaintext", r.plaintext,
                           std::span(after).first(r.key_material_id.empty() ? 1 : 2));
  });
}

Result<Call> PrepareReEncrypt(kms::KeyService& service, Members& in, std::string_view op) {
  auto req = std::make_shared<kms::ReEncryptRequest>();
  std::optional<Bytes> blob;
  std::optional<std::string> destination;
  std::optional<bool> dry_run;
  std::optional<std::vector<std::string>> modifiers;
  RETURN_IF_ERROR(in.Blob("CiphertextBlob", 1, kMaxCiphertext, false, blob));
  RETURN_IF_ERROR(in.StringMap("SourceEncryptionContext", req->source_encryption_context));
  RETURN_IF_ERROR(in.Text("SourceKeyId", kKeyIdRule, false, req->source_key_id));
  RETURN_IF_ERROR(in.Text("DestinationKeyId", kKeyIdRule, true, destination));
  RETURN_IF_ERROR(
      in.StringMap("DestinationEncryptionContext", req->destination_encryption_context));
  RETURN_IF_ERROR(in.Text("SourceEncryptionAlgorithm", kAlgorithmRule, false,
                          req->source_encryption_algorithm));
  RETURN_IF_ERROR(in.Text("DestinationEncryptionAlgorithm", kAlgorithmRule, false,
                          req->destination_encryption_algorithm));
  RETURN_IF_ERROR(in.GrantTokens(req->grant_tokens));
  RETURN_IF_ERROR(in.Boolean("DryRun", dry_run));
  RETURN_IF_ERROR(
      in.StringList("DryRunModifiers", TextRule{.values = &kDryRunModifiers}, false, modifiers));
  req->dry_run = dry_run.value_or(false);
  req->ignore_ciphertext = req->dry_run && IgnoresCiphertext(modifiers);
  RequireCiphertextOrKey(in, blob, "SourceKeyId", req->source_key_id, req->ignore_ciphertext);
  RETURN_IF_ERROR(in.Finish());
  req->ciphertext_blob = std::move(blob).value_or(Bytes());
  ASSIGN_OR_RETURN(KeyTarget source, CiphertextKey(service, req->ciphertext_blob,
                                                   req->source_key_id, req->ignore_ciphertext));
  ASSIGN_OR_RETURN(KeyTarget dest, ResolveKey(service, *destination, kms::KeyIdForms::kAliasesToo));
  req->destination_key_id = dest.arn;
  const std::string same = BoolText(source.arn == dest.arn);
  Authorization from = OnKey("ReEncryptFrom", source);
  AddEncryptionContext(from, req->source_encryption_context);
  AddAlgorithm(from, req->source_encryption_algorithm);
  from.condition_keys["kms:ReEncryptOnSameKey"] = {same};
  AllowByGrant(from, "ReEncryptFrom", req, &req->source_encryption_context);
  Authorization to = OnKey("ReEncryptTo", dest);
  AddEncryptionContext(to, req->destination_encryption_context);
  AddAlgorithm(to, req->destination_encryption_algorithm);
  to.condition_keys["kms:ReEncryptOnSameKey"] = {same};
  AllowByGrant(to, "ReEncryptTo", req, &req->destination_encryption_context);
  // Resources: the source key, then the destination key (the KMS Developer Guide's
  // ReEncrypt example), once when they are the same.
  std::vector<AuditResource> resources = {KeyResource(source.arn)};
  if (dest.arn != source.arn) resources.push_back(KeyResource(dest.arn));
  kms::KeyService* s = &service;
  return MakeCall(op, {std::move(from), std::move(to)}, std::move(resources),
                  [s, req]() -> Result<std::string> {
                    ASSIGN_OR_RETURN(kms::ReEncryptResponse r, s->ReEncrypt(*req));
                    OrderedJson j;
                    j["CiphertextBlob"] = Base64Encode(r.ciphertext_blob);
                    j["SourceKeyId"] = r.source_key_id;
                    j["KeyId"] = r.key_id;
                    j["SourceEncryptionAlgorithm"] = r.source_encryption_algorithm;
                    j["DestinationEncryptionAlgorithm"] = r.destination_encryption_algorithm;
                    j["SourceKeyMaterialId"] = r.source_key_material_id;
                    j["DestinationKeyMaterialId"] = r.destination_key_material_id;
                    return Dump(j);
                  });
}

// GenerateDataKey and GenerateDataKeyWithoutPlaintext.
Result<Call> PrepareGenerateDataKey(kms::KeyService& service, Members& in, std::string_view op) {
  const bool with_plaintext = op == "GenerateDataKey";
  auto req = std::make_shared<kms::GenerateDataKeyRequest>();
  std::optional<std::string> key_id;
  std::optional<bool> dry_run;
  bool recipient = false;
  RETURN_IF_ERROR(in.Text("KeyId", kKeyIdRule, true, key_id));
  RETURN_IF_ERROR(in.StringMap("EncryptionContext", req->encryption_context));
  RETURN_IF_ERROR(in.Integer("NumberOfBytes", 1, 1024, false, req->number_of_bytes));
  RETURN_IF_ERROR(in.Text("KeySpec", TextRule{.values = &kDataKeySpecs}, false, req->key_spec));
  RETURN_IF_ERROR(in.GrantTokens(req->grant_tokens));
  if (with_plaintext) RETURN_IF_ERROR(in.Recipient(recipient));
  RETURN_IF_ERROR(in.Boolean("DryRun", dry_run));
  RETURN_IF_ERROR(in.Finish());
  if (recipient) {
    return errors::Unsupported("Recipient (attested enclaves) is not supported by coffer.");
  }
  ASSIGN_OR_RETURN(KeyTarget key, ResolveKey(service, *key_id, kms::KeyIdForms::kAliasesToo));
  req->key_id = key.arn;
  req->dry_run = dry_run.value_or(false);
  Authorization a = OnKey(op, key);
  AddEncryptionContext(a, req->encryption_context);
  AddAlgorithm(a, std::nullopt);
  AllowByGrant(a, with_plaintext ? "GenerateDataKey" : "GenerateDataKeyWithoutPlaintext", req,
               &req->encryption_context);
  kms::KeyService* s = &service;
  if (with_plaintext) {
    return MakeCall(op, {std::move(a)}, {KeyResource(key.arn)}, [s, req]() -> Result<std::string> {
      ASSIGN_OR_RETURN(kms::GenerateDataKeyResponse r, s->GenerateDataKey(*req));
      const std::string blob = Base64Encode(r.ciphertext_blob);
      const StringMember before[] = {{"CiphertextBlob", blob}};
      const StringMember after[] = {{"KeyId", r.key_id}, {"KeyMaterialId", r.key_material_id}};
      return ReplyWithSecret(before, "Plaintext", r.plaintext, after);
    });
  }
  return MakeCall(op, {std::move(a)}, {KeyResource(key.arn)}, [s, req]() -> Result<std::string> {
    ASSIGN_OR_RETURN(kms::GenerateDataKeyResponse r, s->GenerateDataKeyWithoutPlaintext(*req));
    return StringsReply({{"CiphertextBlob", Base64Encode(r.ciphertext_blob)},
                         {"KeyId", r.key_id},
                         {"KeyMaterialId", r.key_material_id}});
  });
}

Result<Call> PrepareGenerateRandom(kms::KeyService& service, Members& in, std::string_view op) {
  std::optional<int> size;
  std::optional<std::string> store;
  bool recipient = false;
  RETURN_IF_ERROR(in.Integer("NumberOfBytes", 1, 1024, false, size));
  RETURN_IF_ERROR(in.Text("CustomKeyStoreId", kCustomKeyStoreIdRule, false, store));
  RETURN_IF_ERROR(in.Recipient(recipient));
  RETURN_IF_ERROR(in.Finish());
  if (store) return errors::Unsupported("Custom key stores are not supported by coffer.");
  if (recipient) {
    return errors::Unsupported("Recipient (attested enclaves) is not supported by coffer.");
  }
  kms::KeyService* s = &service;
  return MakeCall(op, {OnIdentity(op)}, {}, [s, size]() -> Result<std::string> {
    ASSIGN_OR_RETURN(crypto::SecretBytes random, s->GenerateRandom(size));
    return ReplyWithSecret({}, "Plaintext", random, {});
  });
}

// ---- grants -----------------------------------------------------------------------

// "kms:<op>" on a key, for the grant operations that take kms:GrantIsForAWSResource: a
// caller's own request, never one an AWS service makes on its behalf.
Authorization OnKeyForGrants(std::string_view op, const KeyTarget& key) {
  Authorization a = OnKey(op, key);
  a.condition_keys["kms:GrantIsForAWSResource"] = {"false"};
  return a;
}

// A grant as ListGrants and ListRetirableGrants show it.
OrderedJson GrantJson(const kms::Grant& g) {
  OrderedJson j;
  j["KeyId"] = g.key_id;
  j["GrantId"] = g.grant_id;
  if (g.name) j["Name"] = *g.name;
  j["CreationDate"] = Seconds(g.creation_date);
  j["GranteePrincipal"] = g.grantee_principal;
  if (g.retiring_principal) j["RetiringPrincipal"] = *g.retiring_principal;
  j["IssuingAccount"] = g.issuing_account;
  j["Operations"] = g.operations;
  if (g.constraints) {
    OrderedJson c = OrderedJson::object();
    if (g.constraints->encryption_context_subset) {
      c["EncryptionContextSubset"] = *g.constraints->encryption_context_subset;
    }
    if (g.constraints->encryption_context_equals) {
      c["EncryptionContextEquals"] = *g.constraints->encryption_context_equals;
    }
    j["Constraints"] = std::move(c);
  }
  return j;
}

std::string GrantsReply(const kms::ListGrantsResponse& r) {
  OrderedJson j;
  j["Grants"] = OrderedJson::array();
  for (const kms::Grant& g : r.grants) j["Grants"].push_back(GrantJson(g));
  AddPage(j, r.next_marker, r.truncated);
  return Dump(j);
}

Result<Call> PrepareCreateGrant(kms::KeyService& service, Members& in, std::string_view op) {
  auto req = std::make_shared<kms::CreateGrantRequest>();
  std::optional<std::string> key_id, grantee;
  std::optional<std::vector<std::string>> operations;
  std::optional<bool> dry_run;
  std::vector<std::string> grant_tokens;
  RETURN_IF_ERROR(in.Text("KeyId", kKeyIdRule, true, key_id));
  RETURN_IF_ERROR(in.Text("GranteePrincipal", kPrincipalRule, true, grantee));
  RETURN_IF_ERROR(in.Text("RetiringPrincipal", kPrincipalRule, false, req->retiring_principal));
  RETURN_IF_ERROR(
      in.StringList("Operations", TextRule{.values = &kGrantOperations}, true, operations));
  RETURN_IF_ERROR(in.Constraints(req->constraints));
  RETURN_IF_ERROR(in.GrantTokens(grant_tokens));
  RETURN_IF_ERROR(in.Text("Name", kGrantNameRule, false, req->name));
  RETURN_IF_ERROR(in.Boolean("DryRun", dry_run));
  RETURN_IF_ERROR(in.Finish());
  if (kms::NamesAlias(*key_id)) return kms::errors::KeyAliasNotSupported();
  ASSIGN_OR_RETURN(KeyTarget key, ResolveKey(service, *key_id, kms::KeyIdForms::kKeyOnly));
  req->key_id = key.arn;
  req->grantee_principal = std::move(*grantee);
  req->operations = std::move(operations).value_or(std::vector<std::string>());
  req->dry_run = dry_run.value_or(false);
  Authorization a = OnKeyForGrants(op, key);
  a.condition_keys["kms:GranteePrincipal"] = {req->grantee_principal};
  if (req->retiring_principal) {
    a.condition_keys["kms:RetiringPrincipal"] = {*req->retiring_principal};
  }
  a.condition_keys["kms:GrantOperations"] = req->operations;
  if (req->constraints) {
    std::vector<std::string> types;
    if (req->constraints->encryption_context_subset) types.push_back("EncryptionContextSubset");
    if (req->constraints->encryption_context_equals) types.push_back("EncryptionContextEquals");
    a.condition_keys["kms:GrantConstraintType"] = std::move(types);
  }
  // A grant that lists CreateGrant lets its grantee make grants narrower than it.
  a.grant_permits = [req](const kms::Grant& parent) {
    return kms::GrantAllows(parent, "CreateGrant", nullptr) && kms::GrantPermitsChild(parent, *req);
  };
  kms::KeyService* s = &service;
  Call call =
      MakeCallWithReply(op, {std::move(a)}, {KeyResource(key.arn)}, [s, req]() -> Result<Reply> {
        ASSIGN_OR_RETURN(kms::CreateGrantResponse r, s->CreateGrant(*req));
        // The token is the grantee's to use, and never recorded.
        OrderedJson elements;
        elements["grantId"] = r.grant_id;
        elements["keyId"] = req->key_id;
        return Reply{StringsReply({{"GrantToken", r.grant_token}, {"GrantId", r.grant_id}}),
                     Dump(elements)};
      });
  call.grant_principals.push_back(req->grantee_principal);
  if (req->retiring_principal) call.grant_principals.push_back(*req->retiring_principal);
  return call;
}

Result<Call> PrepareListGrants(kms::KeyService& service, Members& in, std::string_view op) {
  std::optional<std::string> key_id, marker, grant_id, grantee;
  std::optional<int> limit;
  RETURN_IF_ERROR(in.Integer("Limit", 1, 1000, false, limit));
  RETURN_IF_ERROR(in.Text("Marker", kMarkerRule, false, marker));
  RETURN_IF_ERROR(in.Text("KeyId", kKeyIdRule, true, key_id));
  RETURN_IF_ERROR(in.Text("GrantId", kGrantIdRule, false, grant_id));
  RETURN_IF_ERROR(in.Text("GranteePrincipal", kPrincipalRule, false, grantee));
  RETURN_IF_ERROR(in.Finish());
  ASSIGN_OR_RETURN(KeyTarget key, ResolveKey(service, *key_id, kms::KeyIdForms::kKeyOnly));
  Authorization a = OnKeyForGrants(op, key);
  kms::KeyService* s = &service;
  return MakeCall(op, {std::move(a)}, {KeyResource(key.arn)},
                  [s, arn = key.arn, limit, marker, grant_id, grantee]() -> Result<std::string> {
                    ASSIGN_OR_RETURN(kms::ListGrantsResponse r,
                                     s->ListGrants(arn, limit, marker, grant_id, grantee));
                    return GrantsReply(r);
                  });
}

Result<Call> PrepareListRetirableGrants(kms::KeyService& service, Members& in,
                                        std::string_view op) {
  std::optional<std::string> marker, retiring;
  std::optional<int> limit;
  RETURN_IF_ERROR(in.Integer("Limit", 1, 1000, false, limit));
  RETURN_IF_ERROR(in.Text("Marker", kMarkerRule, false, marker));
  RETURN_IF_ERROR(in.Text("RetiringPrincipal", kPrincipalRule, true, retiring));
  RETURN_IF_ERROR(in.Finish());
  kms::KeyService* s = &service;
  // Identity policies only: the grants may be on any key.
  return MakeCall(op, {OnIdentity(op)}, {},
                  [s, retiring = *retiring, limit, marker]() -> Result<std::string> {
                    ASSIGN_OR_RETURN(kms::ListGrantsResponse r,
                                     s->ListRetirableGrants(retiring, limit, marker));
                    return GrantsReply(r);
                  });
}

Result<Call> PrepareRetireGrant(kms::KeyService& service, Members& in, std::string_view op) {
  auto req = std::make_shared<kms::RetireGrantRequest>();
  std::optional<bool> dry_run;
  RETURN_IF_ERROR(in.Text("GrantToken", kGrantTokenRule, false, req->grant_token));
  RETURN_IF_ERROR(in.Text("KeyId", kKeyIdRule, false, req->key_id));
  RETURN_IF_ERROR(in.Text("GrantId", kGrantIdRule, false, req->grant_id));
  RETURN_IF_ERROR(in.Boolean("DryRun", dry_run));
  RETURN_IF_ERROR(in.Finish());
  req->dry_run = dry_run.value_or(false);
  if (req->key_id) {
    if (kms::NamesAlias(*req->key_id)) return kms::errors::KeyAliasNotSupported();
    ASSIGN_OR_RETURN(KeyTarget key, ResolveKey(service, *req->key_id, kms::KeyIdForms::kKeyOnly));
    req->key_id = key.arn;
  }
  ASSIGN_OR_RETURN(kms::Grant grant, service.GrantToRetire(*req));
  // Who may retire a grant is the grant's to say first; then the caller's identity
  // policies, for kms:RetireGrant on the key (a key policy plays no part).
  Authorization a = OnIdentity(op, grant.key_id);
  a.grant_to_retire = grant;
  kms::KeyService* s = &service;
  Call call =
      MakeCall(op, {std::move(a)}, {KeyResource(grant.key_id)},
               [s, req]() -> Result<std::string> { return NoOutput(s->RetireGrant(*req)); });
  // AWS records the grant id here, and no request parameters (the token is a credential).
  OrderedJson data;
  data["grantId"] = grant.grant_id;
  call.additional_event_data = Dump(data);
  return call;
}

Result<Call> PrepareRevokeGrant(kms::KeyService& service, Members& in, std::string_view op) {
  std::optional<std::string> key_id, grant_id;
  std::optional<bool> dry_run;
  RETURN_IF_ERROR(in.Text("KeyId", kKeyIdRule, true, key_id));
  RETURN_IF_ERROR(in.Text("GrantId", kGrantIdRule, true, grant_id));
  RETURN_IF_ERROR(in.Boolean("DryRun", dry_run));
  RETURN_IF_ERROR(in.Finish());
  ASSIGN_OR_RETURN(KeyTarget key, ResolveKey(service, *key_id, kms::KeyIdForms::kKeyOnly));
  Authorization a = OnKeyForGrants(op, key);
  kms::KeyService* s = &service;
  return MakeCall(op, {std::move(a)}, {KeyResource(key.arn)},
                  [s, arn = key.arn, id = *grant_id, dry = dry_run.value_or(false)] {
                    return NoOutput(s->RevokeGrant(arn, id, dry));
                  });
}

// ---- dispatch ---------------------------------------------------------------------

// An operation: how it is decoded, and what its CloudTrail record says of it. AWS
// records (KMS Developer Guide, "Examples of AWS KMS log entries"): readOnly true for
// the reads and for every cryptographic operation (Encrypt, Decrypt, ReEncrypt,
// GenerateDataKey*, GenerateRandom); requestParameters with the request's members.
struct Operation {
  Preparer prepare;
  bool read_only;
  // The members requestParameters records, in the model's order. Never Plaintext or
  // CiphertextBlob (AWS omits them), GrantTokens (bearer credentials) or Recipient.
  std::vector<std::string_view> recorded_members;
};

const std::map<std::string_view, Operation>& Operations() {
  static const auto* table = [] {
    using M = std::vector<std::string_view>;
    const M key_only = {"KeyId"};
    const M listing = {"KeyId", "Limit", "Marker"};
    const M data_key = {"KeyId", "EncryptionContext", "NumberOfBytes", "KeySpec", "DryRun"};
    const M alias = {"AliasName", "TargetKeyId"};
    return new std::map<std::string_view, Operation>{
        {"CancelKeyDeletion", {PrepareKeyOnly, false, key_only}},
        {"CreateAlias", {PrepareCreateOrUpdateAlias, false, alias}},
        {"CreateGrant",
         {PrepareCreateGrant, false,
          M{"KeyId", "GranteePrincipal", "RetiringPrincipal", "Operations", "Constraints", "Name",
            "DryRun"}}},
        {"CreateKey",
         {PrepareCreateKey, false,
          M{"Policy", "Description", "KeyUsage", "CustomerMasterKeySpec", "KeySpec", "Origin",
            "CustomKeyStoreId", "BypassPolicyLockoutSafetyCheck", "Tags", "MultiRegion",
            "XksKeyId"}}},
        {"Decrypt",
         {PrepareDecrypt, true,
          M{"KeyId", "EncryptionContext", "EncryptionAlgorithm", "DryRun", "DryRunModifiers"}}},
        {"DeleteAlias", {PrepareDeleteAlias, false, M{"AliasName"}}},
        {"DescribeKey", {PrepareKeyOnly, true, key_only}},
        {"DisableKey", {PrepareKeyOnly, false, key_only}},
        {"DisableKeyRotation", {PrepareKeyOnly, false, key_only}},
        {"EnableKey", {PrepareKeyOnly, false, key_only}},
        {"EnableKeyRotation",
         {PrepareEnableKeyRotation, false, M{"KeyId", "RotationPeriodInDays"}}},
        {"Encrypt",
         {PrepareEncrypt, true, M{"KeyId", "EncryptionContext", "EncryptionAlgorithm", "DryRun"}}},
        {"GenerateDataKey", {PrepareGenerateDataKey, true, data_key}},
        {"GenerateDataKeyWithoutPlaintext", {PrepareGenerateDataKey, true, data_key}},
        {"GenerateRandom", {PrepareGenerateRandom, true, M{"NumberOfBytes", "CustomKeyStoreId"}}},
        {"GetKeyPolicy", {PrepareGetKeyPolicy, true, M{"KeyId", "PolicyName"}}},
        {"GetKeyRotationStatus", {PrepareKeyOnly, true, key_only}},
        {"ListAliases", {PrepareListAliases, true, listing}},
        {"ListGrants",
         {PrepareListGrants, true, M{"Limit", "Marker", "KeyId", "GrantId", "GranteePrincipal"}}},
        {"ListKeyPolicies", {PrepareKeyOnly, true, listing}},
        {"ListKeyRotations",
         {PrepareListKeyRotations, true, M{"KeyId", "IncludeKeyMaterial", "Limit", "Marker"}}},
        {"ListKeys", {PrepareListKeys, true, M{"Limit", "Marker"}}},
        {"ListResourceTags", {PrepareListResourceTags, true, listing}},
        {"ListRetirableGrants",
         {PrepareListRetirableGrants, true, M{"Limit", "Marker", "RetiringPrincipal"}}},
        {"PutKeyPolicy",
         {PreparePutKeyPolicy, false,
          M{"KeyId", "PolicyName", "Policy", "BypassPolicyLockoutSafetyCheck"}}},
        {"ReEncrypt",
         {PrepareReEncrypt, true,
          M{"SourceKeyId", "SourceEncryptionContext", "SourceEncryptionAlgorithm",
            "DestinationKeyId", "DestinationEncryptionContext", "DestinationEncryptionAlgorithm",
            "DryRun", "DryRunModifiers"}}},
        {"RetireGrant", {PrepareRetireGrant, false, M{}}},
        {"RevokeGrant", {PrepareRevokeGrant, false, M{"KeyId", "GrantId", "DryRun"}}},
        {"RotateKeyOnDemand", {PrepareKeyOnly, false, key_only}},
        {"ScheduleKeyDeletion",
         {PrepareScheduleKeyDeletion, false, M{"KeyId", "PendingWindowInDays"}}},
        {"TagResource", {PrepareTagResource, false, M{"KeyId", "Tags"}}},
        {"UntagResource", {PrepareUntagResource, false, M{"KeyId", "TagKeys"}}},
        {"UpdateAlias", {PrepareCreateOrUpdateAlias, false, alias}},
        {"UpdateKeyDescription", {PrepareUpdateKeyDescription, false, M{"KeyId", "Description"}}},
    };
  }();
  return *table;
}

// The record's requestParameters of a request that decoded: its recorded members
// under their lowerCamelCase names, values as given (the decoding checked their
// types), Tags as [{tagKey, tagValue}]; null when there are none. An encryption
// algorithm the request left out is recorded as the SYMMETRIC_DEFAULT it ran with
// (AWS: the Decrypt entry "always includes the encryptionAlgorithm … even if the
// encryption algorithm wasn't specified in the request").
std::string RequestParameters(const Json& request, const std::vector<std::string_view>& members) {
  // Written member by member: a value's dump is already the compact text an
  // ordered copy of it would give (its object keys in the same, sorted, order).
  std::string out = "{";
  auto name = [&](std::string_view member) {
    if (out.size() > 1) out.push_back(',');
    out.push_back('"');
    out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(member[0]))));
    out.append(member.substr(1));
    out.append("\":");
  };
  for (std::string_view member : members) {
    auto it = request.find(member);
    if (it == request.end() || it->is_null()) {
      if (member.ends_with("EncryptionAlgorithm")) {
        name(member);
        out.append("\"SYMMETRIC_DEFAULT\"");
      }
      continue;
    }
    name(member);
    if (member == "Constraints" && it->is_object()) {
      // {"encryptionContextSubset": {…}} and {"encryptionContextEquals": {…}}.
      OrderedJson constraints = OrderedJson::object();
      for (const auto& [name, value] : it->items()) {
        std::string lower = name;
        if (!lower.empty()) {
          lower[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(lower[0])));
        }
        constraints[lower] = value;
      }
      out.append(Dump(constraints));
      continue;
    }
    if (member == "Tags" && it->is_array()) {
      // A refused call's tags may be of any shape: what is not a string is "".
      auto text = [](const Json& tag, const char* field) {
        auto f = tag.is_object() ? tag.find(field) : tag.end();
        return f != tag.end() && f->is_string() ? f->get<std::string>() : std::string();
      };
      OrderedJson tags = OrderedJson::array();
      for (const Json& tag : *it) {
        tags.push_back({{"tagKey", text(tag, "TagKey")}, {"tagValue", text(tag, "TagValue")}});
      }
      out.append(Dump(tags));
      continue;
    }
    out.append(it->dump(-1, ' ', false, Json::error_handler_t::replace));
  }
  if (out.size() == 1) return "null";
  out.push_back('}');
  return out;
}

bool IsBlank(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; });
}

}  // namespace

const std::vector<std::string_view>& KmsSupportedOperations() {
  static const auto* names = [] {
    auto* v = new std::vector<std::string_view>;
    for (const auto& [name, operation] : Operations()) v->push_back(name);
    return v;
  }();
  return *names;
}

const std::vector<std::string_view>& KmsUnsupportedOperations() {
  // kms-service-2's operations that the engine does not implement.
  static const auto* names = new std::vector<std::string_view>{
      "ConnectCustomKeyStore",
      "CreateCustomKeyStore",
      "DeleteCustomKeyStore",
      "DeleteImportedKeyMaterial",
      "DeriveSharedSecret",
      "DescribeCustomKeyStores",
      "DisconnectCustomKeyStore",
      "GenerateDataKeyPair",
      "GenerateDataKeyPairWithoutPlaintext",
      "GenerateMac",
      "GetKeyLastUsage",
      "GetParametersForImport",
      "GetPublicKey",
      "ImportKeyMaterial",
      "ReplicateKey",
      "Sign",
      "UpdateCustomKeyStore",
      "UpdatePrimaryRegion",
      "Verify",
      "VerifyMac",
  };
  return *names;
}

bool KmsOperationIsReadOnly(std::string_view operation) {
  auto it = Operations().find(operation);
  return it != Operations().end() && it->second.read_only;
}

Result<Call> PrepareKmsCall(kms::KeyService& service, std::string_view operation,
                            std::string_view body) {
  // Coral parses the body before it routes: malformed JSON is a
  // SerializationException with no message, whatever the target.
  Json request = Json::parse(IsBlank(body) ? std::string_view("{}") : body, nullptr,
                             /*allow_exceptions=*/false);
  if (request.is_discarded()) return SerializationError("");
  auto it = Operations().find(operation);
  if (it == Operations().end()) {
    const auto& unsupported = KmsUnsupportedOperations();
    if (std::binary_search(unsupported.begin(), unsupported.end(), operation)) {
      return errors::Unsupported("The operation " + std::string(operation) +
                                 " is not supported by coffer.");
    }
    return Status(StatusCode::kInvalidArgument, "UnknownOperationException", "");
  }
  RETURN_IF_ERROR(CheckObject(request));
  errors::Validation validation;
  Members members(request, validation);
  Result<Call> prepared = it->second.prepare(service, members, it->first);
  Call call =
      prepared.ok() ? *std::move(prepared) : RefusedCall(std::string(it->first), prepared.status());
  call.event_source = std::string(kKmsEventSource);
  call.read_only = it->second.read_only;
  call.request_parameters = RequestParameters(request, it->second.recorded_members);
  return call;
}

std::string KmsErrorBody(const Status& status) {
  return JsonErrorBody(ToJsonError(status, kKmsErrorNames));
}

int KmsErrorHttpStatus(const Status& status) {
  return ToJsonError(status, kKmsErrorNames).http_status;
}

std::string KmsErrorType(const Status& status) { return ToJsonError(status, kKmsErrorNames).type; }

}  // namespace coffer::api
