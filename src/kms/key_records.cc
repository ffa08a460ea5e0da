#include "kms/key_records.h"

#include <cstdio>

#include "common/stored_json.h"
#include "policy/policy.h"

namespace coffer::kms {
namespace {

using Json = stored_json::Json;

using stored_json::Corrupt;
using stored_json::Get;
using stored_json::ParseObject;

KeyState StateFromName(std::string_view s, bool& ok) {
  ok = true;
  if (s == "Enabled") return KeyState::kEnabled;
  if (s == "Disabled") return KeyState::kDisabled;
  if (s == "PendingDeletion") return KeyState::kPendingDeletion;
  if (s == "PendingImport") return KeyState::kPendingImport;
  ok = false;
  return KeyState::kDisabled;
}

}  // namespace

std::string EncodeKeyRecord(const KeyRecord& r) {
  Json j = {{"id", r.id},
            {"created", EpochMillis(r.creation_date)},
            {"description", r.description},
            {"state", KeyStateName(r.state)},
            {"rotation_enabled", r.rotation_enabled},
            {"rotation_period_days", r.rotation_period_days},
            {"on_demand_rotations", r.on_demand_rotations},
            {"current_version", r.current_version},
            {"current_material_id", r.current_material_id}};
  if (r.deletion_date) j["deletion_date"] = EpochMillis(*r.deletion_date);
  if (r.pending_window_days) j["pending_window_days"] = *r.pending_window_days;
  if (r.next_rotation_date) j["next_rotation_date"] = EpochMillis(*r.next_rotation_date);
  if (r.policy_saved) j["policy_saved"] = EpochMillis(*r.policy_saved);
  return j.dump();
}

Result<KeyRecord> DecodeKeyRecord(std::string_view text) {
  ASSIGN_OR_RETURN(Json j, ParseObject(text, "key"));
  KeyRecord r;
  int64_t created = 0, when = 0;
  std::string state;
  bool state_ok = false;
  if (!Get(j, "id", r.id) || !Get(j, "created", created) || !Get(j, "description", r.description) ||
      !Get(j, "state", state) || !Get(j, "rotation_enabled", r.rotation_enabled) ||
      !Get(j, "rotation_period_days", r.rotation_period_days) ||
      !Get(j, "on_demand_rotations", r.on_demand_rotations) ||
      !Get(j, "current_version", r.current_version) ||
      !Get(j, "current_material_id", r.current_material_id)) {
    return Corrupt("key");
  }
  r.state = StateFromName(state, state_ok);
  if (!state_ok) return Corrupt("key");
  r.creation_date = FromEpochMillis(created);
  if (Get(j, "deletion_date", when)) r.deletion_date = FromEpochMillis(when);
  int window = 0;
  if (Get(j, "pending_window_days", window)) r.pending_window_days = window;
  if (Get(j, "next_rotation_date", when)) r.next_rotation_date = FromEpochMillis(when);
  if (Get(j, "policy_saved", when)) r.policy_saved = FromEpochMillis(when);
  return r;
}

std::string EncodeMaterialRecord(const MaterialRecord& r) {
  Json j = {{"version", r.version},
            {"material_id", r.material_id},
            {"created", EpochMillis(r.created)},
            {"sealed", Base64Encode(r.sealed)}};
  if (r.rotation_type) j["rotation_type"] = *r.rotation_type;
  return j.dump();
}

Result<MaterialRecord> DecodeMaterialRecord(std::string_view text) {
  ASSIGN_OR_RETURN(Json j, ParseObject(text, "key material"));
  MaterialRecord r;
  int64_t created = 0;
  std::string sealed, type;
  if (!Get(j, "version", r.version) || !Get(j, "material_id", r.material_id) ||
      !Get(j, "created", created) || !Get(j, "sealed", sealed)) {
    return Corrupt("key material");
  }
  r.created = FromEpochMillis(created);
  if (Get(j, "rotation_type", type)) r.rotation_type = type;
  auto bytes = Base64Decode(sealed);
  if (!bytes.ok()) return Corrupt("key material");
  r.sealed = std::move(bytes).value();
  return r;
}

std::string EncodeAliasRecord(const AliasRecord& r) {
  return Json{{"name", r.name},
              {"target", r.target},
              {"created", EpochMillis(r.creation_date)},
              {"updated", EpochMillis(r.last_updated_date)}}
      .dump();
}

Result<AliasRecord> DecodeAliasRecord(std::string_view text) {
  ASSIGN_OR_RETURN(Json j, ParseObject(text, "alias"));
  AliasRecord r;
  int64_t created = 0, updated = 0;
  if (!Get(j, "name", r.name) || !Get(j, "target", r.target) || !Get(j, "created", created) ||
      !Get(j, "updated", updated)) {
    return Corrupt("alias");
  }
  r.creation_date = FromEpochMillis(created);
  r.last_updated_date = FromEpochMillis(updated);
  return r;
}

namespace {
Json ContextJson(const EncryptionContext& c) { return Json(c); }
bool GetContext(const Json& j, const char* name, std::optional<EncryptionContext>& out) {
  auto it = j.find(name);
  if (it == j.end()) return true;
  if (!it->is_object()) return false;
  EncryptionContext c;
  for (auto& [k, v] : it->items()) {
    if (!v.is_string()) return false;
    c[k] = v.get<std::string>();
  }
  out = std::move(c);
  return true;
}
}  // namespace

std::string EncodeGrantRecord(const GrantRecord& r) {
  Json j = {{"key", r.key},
            {"grant_id", r.grant_id},
            {"created", EpochMillis(r.creation_date)},
            {"grantee", r.grantee_principal},
            {"operations", r.operations},
            {"token_sha256", r.token_sha256s.empty() ? "" : r.token_sha256s.back()}};
  // The newest token is token_sha256, as in a record of one token; the earlier
  // ones of a retried CreateGrant, oldest first, beside it.
  if (r.token_sha256s.size() > 1) {
    j["more_token_sha256"] =
        std::vector<std::string>(r.token_sha256s.begin(), r.token_sha256s.end() - 1);
  }
  if (r.name) j["name"] = *r.name;
  if (r.retiring_principal) j["retiring"] = *r.retiring_principal;
  if (r.constraints) {
    Json c = Json::object();
    if (r.constraints->encryption_context_subset) {
      c["subset"] = ContextJson(*r.constraints->encryption_context_subset);
    }
    if (r.constraints->encryption_context_equals) {
      c["equals"] = ContextJson(*r.constraints->encryption_context_equals);
    }
    j["constraints"] = std::move(c);
  }
  return j.dump();
}

Result<GrantRecord> DecodeGrantRecord(std::string_view text) {
  ASSIGN_OR_RETURN(Json j, ParseObject(text, "grant"));
  GrantRecord r;
  int64_t created = 0;
  std::string newest_token;
  if (!Get(j, "key", r.key) || !Get(j, "grant_id", r.grant_id) || !Get(j, "created", created) ||
      !Get(j, "grantee", r.grantee_principal) || !Get(j, "token_sha256", newest_token)) {
    return Corrupt("grant");
  }
  if (auto more = j.find("more_token_sha256"); more != j.end()) {
    if (!more->is_array()) return Corrupt("grant");
    for (const Json& t : *more) {
      if (!t.is_string()) return Corrupt("grant");
      r.token_sha256s.push_back(t.get<std::string>());
    }
  }
  r.token_sha256s.push_back(std::move(newest_token));
  r.creation_date = FromEpochMillis(created);
  auto ops = j.find("operations");
  if (ops == j.end() || !ops->is_array()) return Corrupt("grant");
  for (const Json& op : *ops) {
    if (!op.is_string()) return Corrupt("grant");
    r.operations.push_back(op.get<std::string>());
  }
  std::string text_value;
  if (j.contains("name")) {
    if (!Get(j, "name", text_value)) return Corrupt("grant");
    r.name = text_value;
  }
  if (j.contains("retiring")) {
    if (!Get(j, "retiring", text_value)) return Corrupt("grant");
    r.retiring_principal = text_value;
  }
  if (auto c = j.find("constraints"); c != j.end()) {
    if (!c->is_object()) return Corrupt("grant");
    GrantConstraints constraints;
    if (!GetContext(*c, "subset", constraints.encryption_context_subset) ||
        !GetContext(*c, "equals", constraints.encryption_context_equals)) {
      return Corrupt("grant");
    }
    r.constraints = std::move(constraints);
  }
  return r;
}

std::string EncodeTags(const std::map<std::string, std::string>& tags) { return Json(tags).dump(); }

Result<std::map<std::string, std::string>> DecodeTags(std::string_view text) {
  ASSIGN_OR_RETURN(Json j, ParseObject(text, "tags"));
  std::map<std::string, std::string> tags;
  for (auto& [k, v] : j.items()) {
    if (!v.is_string()) return Corrupt("tags");
    tags[k] = v.get<std::string>();
  }
  return tags;
}

std::string MaterialKey(std::string_view uuid, uint32_t version) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%010u", version);
  return std::string(uuid) + "/" + buf;
}

std::string MaterialSealContext(std::string_view uuid, uint32_t version) {
  return "kms/material/" + MaterialKey(uuid, version);
}

Status CheckPolicyDocument(std::string_view policy) {
  return policy::Policy::Parse(policy, policy::PolicyKind::kKeyPolicy).status();
}

}  // namespace coffer::kms
