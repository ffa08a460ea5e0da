#include "iam/records.h"

#include <cstdio>
#include <type_traits>

#include "common/stored_json.h"

namespace coffer::iam {
namespace {

using Json = stored_json::Json;

using stored_json::Corrupt;
using stored_json::Get;
using stored_json::ParseObject;

bool GetTime(const Json& j, const char* name, TimePoint& out) {
  int64_t ms = 0;
  if (!Get(j, name, ms)) return false;
  out = FromEpochMillis(ms);
  return true;
}

bool GetBase64(const Json& j, const char* name, Bytes& out) {
  std::string text;
  if (!Get(j, name, text)) return false;
  auto decoded = Base64Decode(text);
  if (!decoded.ok()) return false;
  out = std::move(decoded).value();
  return true;
}

void PutTags(Json& j, const std::vector<Tag>& tags) {
  if (tags.empty()) return;
  Json list = Json::array();
  for (const Tag& t : tags) list.push_back(Json::array({t.key, t.value}));
  j["tags"] = std::move(list);
}

bool GetTags(const Json& j, std::vector<Tag>& out) {
  auto it = j.find("tags");
  if (it == j.end()) return true;
  if (!it->is_array()) return false;
  for (const Json& pair : *it) {
    if (!pair.is_array() || pair.size() != 2 || !pair[0].is_string() || !pair[1].is_string()) {
      return false;
    }
    out.push_back({pair[0].get<std::string>(), pair[1].get<std::string>()});
  }
  return true;
}

}  // namespace

std::string EncodeAccountRecord(const AccountRecord& r) {
  return Json{{"created", EpochMillis(r.created)}}.dump();
}

Result<AccountRecord> DecodeAccountRecord(std::string_view text) {
  ASSIGN_OR_RETURN(Json j, ParseObject(text, "account"));
  AccountRecord r;
  if (!GetTime(j, "created", r.created)) return Corrupt("account");
  return r;
}

std::string EncodeUserRecord(const UserRecord& r) {
  Json j{{"name", r.name}, {"path", r.path}, {"id", r.id}, {"created", EpochMillis(r.created)}};
  PutTags(j, r.tags);
  return j.dump();
}

Result<UserRecord> DecodeUserRecord(std::string_view text) {
  ASSIGN_OR_RETURN(Json j, ParseObject(text, "user"));
  UserRecord r;
  if (!Get(j, "name", r.name) || !Get(j, "path", r.path) || !Get(j, "id", r.id) ||
      !GetTime(j, "created", r.created) || !GetTags(j, r.tags)) {
    return Corrupt("user");
  }
  return r;
}

std::string EncodeGroupRecord(const GroupRecord& r) {
  return Json{{"name", r.name}, {"path", r.path}, {"id", r.id}, {"created", EpochMillis(r.created)}}
      .dump();
}

Result<GroupRecord> DecodeGroupRecord(std::string_view text) {
  ASSIGN_OR_RETURN(Json j, ParseObject(text, "group"));
  GroupRecord r;
  if (!Get(j, "name", r.name) || !Get(j, "path", r.path) || !Get(j, "id", r.id) ||
      !GetTime(j, "created", r.created)) {
    return Corrupt("group");
  }
  return r;
}

std::string EncodeRoleRecord(const RoleRecord& r) {
  Json j = {{"name", r.name},
            {"path", r.path},
            {"id", r.id},
            {"created", EpochMillis(r.created)},
            {"trust_policy", r.trust_policy},
            {"max_session_duration", r.max_session_duration}};
  if (r.description) j["description"] = *r.description;
  if (r.trust_policy_saved) j["trust_policy_saved"] = EpochMillis(*r.trust_policy_saved);
  PutTags(j, r.tags);
  return j.dump();
}

Result<RoleRecord> DecodeRoleRecord(std::string_view text) {
  ASSIGN_OR_RETURN(Json j, ParseObject(text, "role"));
  RoleRecord r;
  if (!Get(j, "name", r.name) || !Get(j, "path", r.path) || !Get(j, "id", r.id) ||
      !GetTime(j, "created", r.created) || !Get(j, "trust_policy", r.trust_policy) ||
      !Get(j, "max_session_duration", r.max_session_duration) || !GetTags(j, r.tags)) {
    return Corrupt("role");
  }
  std::string description;
  if (Get(j, "description", description)) r.description = std::move(description);
  TimePoint saved;
  if (j.contains("trust_policy_saved")) {
    if (!GetTime(j, "trust_policy_saved", saved)) return Corrupt("role");
    r.trust_policy_saved = saved;
  }
  return r;
}

std::string EncodeDeletedPrincipalRecord(const DeletedPrincipalRecord& r) {
  return Json{{"arn", r.arn},
              {"id", r.id},
              {"created", EpochMillis(r.created)},
              {"deleted", EpochMillis(r.deleted)}}
      .dump();
}

Result<DeletedPrincipalRecord> DecodeDeletedPrincipalRecord(std::string_view text) {
  ASSIGN_OR_RETURN(Json j, ParseObject(text, "deleted principal"));
  DeletedPrincipalRecord r;
  if (!Get(j, "arn", r.arn) || !Get(j, "id", r.id) || !GetTime(j, "created", r.created) ||
      !GetTime(j, "deleted", r.deleted)) {
    return Corrupt("deleted principal");
  }
  return r;
}

std::string DeletedPrincipalKey(std::string_view arn, TimePoint created) {
  char millis[24];
  std::snprintf(millis, sizeof millis, "%020lld", static_cast<long long>(EpochMillis(created)));
  return Lower(arn) + "/" + millis;
}

std::string EncodeAccessKeyRecord(const AccessKeyRecord& r) {
  return Json{{"id", r.id},
              {"owner", r.owner},
              {"active", r.active},
              {"created", EpochMillis(r.created)},
              {"sealed_secret", Base64Encode(r.sealed_secret)}}
      .dump();
}

Result<AccessKeyRecord> DecodeAccessKeyRecord(std::string_view text) {
  ASSIGN_OR_RETURN(Json j, ParseObject(text, "access key"));
  AccessKeyRecord r;
  if (!Get(j, "id", r.id) || !Get(j, "owner", r.owner) || !Get(j, "active", r.active) ||
      !GetTime(j, "created", r.created) || !GetBase64(j, "sealed_secret", r.sealed_secret)) {
    return Corrupt("access key");
  }
  return r;
}

std::string EncodePolicyRecord(const PolicyRecord& r) {
  return Json{{"name", r.name}, {"document", r.document}}.dump();
}

Result<PolicyRecord> DecodePolicyRecord(std::string_view text) {
  ASSIGN_OR_RETURN(Json j, ParseObject(text, "inline policy"));
  PolicyRecord r;
  if (!Get(j, "name", r.name) || !Get(j, "document", r.document)) {
    return Corrupt("inline policy");
  }
  return r;
}

std::string EncodeKeyUseRecord(const KeyUseRecord& r) {
  return Json{{"when", EpochMillis(r.when)}, {"service", r.service}, {"region", r.region}}.dump();
}

Result<KeyUseRecord> DecodeKeyUseRecord(std::string_view text) {
  ASSIGN_OR_RETURN(Json j, ParseObject(text, "key use"));
  KeyUseRecord r;
  if (!GetTime(j, "when", r.when) || !Get(j, "service", r.service) || !Get(j, "region", r.region)) {
    return Corrupt("key use");
  }
  return r;
}

std::string EncodeRoleUseRecord(const RoleUseRecord& r) {
  return Json{{"when", EpochMillis(r.when)}, {"region", r.region}, {"role_id", r.role_id}}.dump();
}

Result<RoleUseRecord> DecodeRoleUseRecord(std::string_view text) {
  ASSIGN_OR_RETURN(Json j, ParseObject(text, "role use"));
  RoleUseRecord r;
  if (!GetTime(j, "when", r.when) || !Get(j, "region", r.region) || !Get(j, "role_id", r.role_id)) {
    return Corrupt("role use");
  }
  return r;
}

std::string EncodeManagedPolicyRecord(const ManagedPolicyRecord& r) {
  Json versions = Json::array();
  for (const PolicyVersionRecord& v : r.versions) {
    versions.push_back(
        Json{{"id", v.id}, {"document", v.document}, {"created", EpochMillis(v.created)}});
  }
  Json j = {{"name", r.name},
            {"path", r.path},
            {"id", r.id},
            {"created", EpochMillis(r.created)},
            {"updated", EpochMillis(r.updated)},
            {"default_version", r.default_version},
            {"next_version", r.next_version},
            {"attachments", r.attachments},
            {"versions", std::move(versions)}};
  if (r.description) j["description"] = *r.description;
  PutTags(j, r.tags);
  return j.dump();
}

Result<ManagedPolicyRecord> DecodeManagedPolicyRecord(std::string_view text) {
  ASSIGN_OR_RETURN(Json j, ParseObject(text, "managed policy"));
  ManagedPolicyRecord r;
  if (!Get(j, "name", r.name) || !Get(j, "path", r.path) || !Get(j, "id", r.id) ||
      !GetTime(j, "created", r.created) || !GetTime(j, "updated", r.updated) ||
      !Get(j, "default_version", r.default_version) || !Get(j, "next_version", r.next_version) ||
      !Get(j, "attachments", r.attachments) || !GetTags(j, r.tags)) {
    return Corrupt("managed policy");
  }
  auto versions = j.find("versions");
  if (versions == j.end() || !versions->is_array() || versions->empty()) {
    return Corrupt("managed policy");
  }
  bool has_default = false;
  for (const Json& v : *versions) {
    PolicyVersionRecord out;
    if (!v.is_object() || !Get(v, "id", out.id) || !Get(v, "document", out.document) ||
        !GetTime(v, "created", out.created)) {
      return Corrupt("managed policy");
    }
    has_default = has_default || out.id == r.default_version;
    r.versions.push_back(std::move(out));
  }
  if (!has_default) return Corrupt("managed policy");
  std::string description;
  if (Get(j, "description", description)) r.description = std::move(description);
  return r;
}

std::string EncodeSessionRecord(const SessionRecord& r) {
  Json j = {{"id", r.id},
            {"role_arn", r.role_arn},
            {"role_id", r.role_id},
            {"session_name", r.session_name},
            {"source_arn", r.source_arn},
            {"created", EpochMillis(r.created)},
            {"expiration", EpochMillis(r.expiration)},
            {"token_sha256", HexEncode(r.token_sha256)},
            {"sealed_secret", Base64Encode(r.sealed_secret)}};
  if (r.role_created) j["role_created"] = EpochMillis(*r.role_created);
  if (!r.user_name.empty()) {
    j["user_name"] = r.user_name;
    j["user_id"] = r.user_id;
  }
  if (r.root) j["root"] = true;
  return j.dump();
}

Result<SessionRecord> DecodeSessionRecord(std::string_view text) {
  ASSIGN_OR_RETURN(Json j, ParseObject(text, "session"));
  SessionRecord r;
  std::string token_hex;
  if (!Get(j, "id", r.id) || !Get(j, "role_arn", r.role_arn) || !Get(j, "role_id", r.role_id) ||
      !Get(j, "session_name", r.session_name) || !Get(j, "source_arn", r.source_arn) ||
      !GetTime(j, "created", r.created) || !GetTime(j, "expiration", r.expiration) ||
      !Get(j, "token_sha256", token_hex) || !GetBase64(j, "sealed_secret", r.sealed_secret)) {
    return Corrupt("session");
  }
  auto token = HexDecode(token_hex);
  if (!token.ok() || token->size() != 32) return Corrupt("session");
  r.token_sha256 = std::move(token).value();
  TimePoint role_created;
  if (j.contains("role_created")) {
    if (!GetTime(j, "role_created", role_created)) return Corrupt("session");
    r.role_created = role_created;
  }
  if (j.contains("user_name") &&
      (!Get(j, "user_name", r.user_name) || !Get(j, "user_id", r.user_id))) {
    return Corrupt("session");
  }
  if (j.contains("root") && !Get(j, "root", r.root)) return Corrupt("session");
  return r;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string AccessKeySealContext(std::string_view access_key_id) {
  return "iam/access-key/" + std::string(access_key_id);
}

std::string SessionSealContext(std::string_view access_key_id) {
  return "sts/session/" + std::string(access_key_id);
}

}  // namespace coffer::iam
