// IdentityService::Impl: the IAM engine's records, the checks and the work that its
// operations share.
#include "iam/identity_service_impl.h"

namespace coffer::iam {
namespace identity_internal {

bool IsWordChar(char32_t c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

bool IsNameChar(char32_t c) {
  return IsWordChar(c) || c == '+' || c == '=' || c == ',' || c == '.' || c == '@' || c == '-';
}

bool PathMatches(std::string_view s) {
  if (s == "/") return true;
  return s.size() >= 3 && s.front() == '/' && s.back() == '/' &&
         AllCodePoints(s, [](char32_t c) { return c >= 0x21 && c <= 0x7E; });
}

bool PathPrefixMatches(std::string_view s) {
  return !s.empty() && s.front() == '/' &&
         AllCodePoints(s, [](char32_t c) { return c >= 0x21 && c <= 0x7F; });
}

bool IsTagChar(char32_t c) {
  if (c >= 0x80) return c > 0x9F;
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == ' ' ||
         c == '_' || c == '.' || c == ':' || c == '/' || c == '=' || c == '+' || c == '-' ||
         c == '@';
}

bool TagKeyMatches(std::string_view key) { return !key.empty() && AllCodePoints(key, IsTagChar); }

void ValidateTags(ValidationErrors& v, const std::vector<Tag>& tags) {
  if (tags.size() > kMaxTags) {
    v.Add("tags", "[" + std::to_string(tags.size()) + " tags]",
          "Member must have length less than or equal to 50");
  }
  for (size_t i = 0; i < tags.size(); ++i) {
    const std::string field = "tags." + std::to_string(i + 1) + ".member.";
    if (!v.Reported(field + "key")) {  // not already found missing
      v.Length(field + "key", tags[i].key, 1, 128);
      v.Pattern(field + "key", tags[i].key, TagKeyMatches(tags[i].key), kTagKeyPattern);
    }
    if (!v.Reported(field + "value")) {
      v.Length(field + "value", tags[i].value, 0, 256);
      v.Pattern(field + "value", tags[i].value, AllCodePoints(tags[i].value, IsTagChar),
                kTagValuePattern);
    }
  }
}

void ValidateTagKeys(ValidationErrors& v, const std::vector<std::string>& keys) {
  if (keys.size() > kMaxTags) {
    v.Add("tagKeys", "[" + std::to_string(keys.size()) + " keys]",
          "Member must have length less than or equal to 50");
  }
  for (size_t i = 0; i < keys.size(); ++i) {
    const std::string field = "tagKeys." + std::to_string(i + 1) + ".member";
    v.Length(field, keys[i], 1, 128);
    v.Pattern(field, keys[i], TagKeyMatches(keys[i]), kTagKeyPattern);
  }
}

Status CheckTagKeys(const std::vector<Tag>& tags) {
  std::set<std::string> seen;
  for (const Tag& t : tags) {
    if (!seen.insert(Lower(t.key)).second) {
      return errors::InvalidInput(
          "Duplicate tag keys found. Please note that Tag keys are case insensitive.");
    }
    if (Lower(t.key).starts_with("aws:")) {
      return errors::InvalidInput("Tag keys starting with 'aws:' are reserved for AWS use.");
    }
  }
  return Status::Ok();
}

Status MergeTags(std::vector<Tag>& current, const std::vector<Tag>& tags, std::string_view quota) {
  for (const Tag& t : tags) {
    auto it = std::find_if(current.begin(), current.end(),
                           [&](const Tag& c) { return Lower(c.key) == Lower(t.key); });
    if (it != current.end()) {
      *it = t;
    } else {
      current.push_back(t);
    }
  }
  if (current.size() > kMaxTags) return errors::QuotaExceeded(quota, kMaxTags);
  return Status::Ok();
}

bool MarkerMatches(std::string_view s) {
  return !s.empty() && AllCodePoints(s, [](char32_t c) { return c >= 0x20 && c <= 0xFF; });
}

bool PolicyDocumentMatches(std::string_view s) {
  return !s.empty() && AllCodePoints(s, [](char32_t c) {
    return c == 0x09 || c == 0x0A || c == 0x0D || (c >= 0x20 && c <= 0xFF);
  });
}

bool ArnMatches(std::string_view s) {
  return !s.empty() && AllCodePoints(s, [](char32_t c) {
    return c == 0x09 || c == 0x0A || c == 0x0D || (c >= 0x20 && c <= 0x7E) || c == 0x85 ||
           (c >= 0xA0 && c <= 0xD7FF) || (c >= 0xE000 && c <= 0xFFFD) ||
           (c >= 0x10000 && c <= 0x10FFFF);
  });
}

bool ExternalIdMatches(std::string_view s) {
  return AllCodePoints(s, [](char32_t c) { return IsNameChar(c) || c == ':' || c == '/'; });
}

bool DescriptionMatches(std::string_view s) {
  return AllCodePoints(s, [](char32_t c) {
    return c == 0x09 || c == 0x0A || c == 0x0D || (c >= 0x20 && c <= 0x7E) ||
           (c >= 0xA1 && c <= 0xFF);
  });
}

void ValidateName(ValidationErrors& v, std::string_view field, std::string_view name, size_t max) {
  v.Length(field, name, 1, max);
  v.Pattern(field, name, NameMatches(name), kNamePattern);
}

void ValidateNewUserName(ValidationErrors& v, std::string_view name) {
  ValidateName(v, "userName", name, 64);
}

void ValidateUserName(ValidationErrors& v, std::string_view name) {
  ValidateName(v, "userName", name, 128);
}

void ValidateRoleName(ValidationErrors& v, std::string_view name) {
  ValidateName(v, "roleName", name, 64);
}

void ValidateGroupName(ValidationErrors& v, std::string_view name) {
  ValidateName(v, "groupName", name, 128);
}

void ValidatePolicyName(ValidationErrors& v, std::string_view name) {
  ValidateName(v, "policyName", name, 128);
}

void ValidatePath(ValidationErrors& v, const std::optional<std::string>& path,
                  std::string_view field) {
  if (!path) return;
  v.Length(field, *path, 1, 512);
  v.Pattern(field, *path, PathMatches(*path), kPathPattern);
}

void ValidatePathPrefix(ValidationErrors& v, const std::optional<std::string>& prefix) {
  if (!prefix) return;
  v.Length("pathPrefix", *prefix, 1, 512);
  v.Pattern("pathPrefix", *prefix, PathPrefixMatches(*prefix), kPathPrefixPattern);
}

void ValidatePolicyDocument(ValidationErrors& v, std::string_view field, std::string_view doc) {
  v.Length(field, doc, 1, 131072);
  v.Pattern(field, doc, PolicyDocumentMatches(doc), kPolicyDocumentPattern);
}

bool PolicyPathMatches(std::string_view s) {
  if (s.empty() || s.front() != '/' || s.back() != '/') return false;
  for (size_t i = 1; i + 1 < s.size(); ++i) {
    const char c = s[i];
    const bool part = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == ',' || c == '+' || c == '@' || c == '=' || c == '_' ||
                      c == '-';
    if (!part && !(c == '/' && s[i - 1] != '/')) return false;
  }
  return s.size() == 1 || s[s.size() - 2] != '/';
}

void ValidatePolicyPath(ValidationErrors& v, std::string_view field,
                        const std::optional<std::string>& path) {
  if (!path) return;
  v.Length(field, *path, 1, 512);
  v.Pattern(field, *path, PolicyPathMatches(*path), kPolicyPathPattern);
}

void ValidatePolicyArn(ValidationErrors& v, std::string_view arn) {
  v.Length("policyArn", arn, 20, 2048);
}

bool VersionIdMatches(std::string_view s) {
  if (s.size() < 2 || s[0] != 'v' || s[1] < '1' || s[1] > '9') return false;
  size_t i = 2;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
  if (i == s.size()) return true;
  if (s[i] != '.') return false;
  return std::all_of(s.begin() + static_cast<std::ptrdiff_t>(i) + 1, s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
  });
}

void ValidateVersionId(ValidationErrors& v, std::string_view id) {
  v.Pattern("versionId", id, VersionIdMatches(id), kVersionIdPattern);
}

void ValidatePolicyDescription(ValidationErrors& v, const std::optional<std::string>& d) {
  if (d) v.Length("description", *d, 0, 1000);
}

void ValidateAccessKeyId(ValidationErrors& v, std::string_view id) {
  v.Length("accessKeyId", id, 16, 128);
  v.Pattern("accessKeyId", id, !id.empty() && AllCodePoints(id, IsWordChar), kIdPattern);
}

void ValidatePage(ValidationErrors& v, const Page& page) {
  if (page.marker) {
    v.Length("marker", *page.marker, 1, 320);
    v.Pattern("marker", *page.marker, MarkerMatches(*page.marker), kMarkerPattern);
  }
  if (page.max_items) v.Range("maxItems", *page.max_items, 1, 1000);
}

void ValidateDescription(ValidationErrors& v, const std::optional<std::string>& description) {
  if (!description) return;
  v.Length("description", *description, 0, 1000);
  v.Pattern("description", *description, DescriptionMatches(*description), kDescriptionPattern);
}

void ValidateMaxSessionDuration(ValidationErrors& v, const std::optional<int>& seconds) {
  if (seconds) v.Range("maxSessionDuration", *seconds, kMinRoleMaxSession, kMaxSessionDuration);
}

void ValidateStatus(ValidationErrors& v, std::string_view status) {
  v.Enum("status", status, {"Active", "Inactive", "Expired"});
}

Result<std::string> MarkerPosition(const Page& page, std::string_view scope) {
  if (!page.marker) return std::string();
  std::optional<std::string> position = DecodeListMarker(*page.marker, scope);
  if (!position) return errors::ValidationError("Invalid Marker.");
  return std::move(*position);
}

Result<size_t> PageSize(const Page& page) {
  errors::Validation v;
  ValidatePage(v, page);
  RETURN_IF_ERROR(v.ToStatus());
  return static_cast<size_t>(page.max_items.value_or(kDefaultMaxItems));
}

size_t PolicySize(std::string_view doc) {
  std::optional<std::u32string> decoded = DecodeUtf8(doc);
  if (!decoded) return doc.size();
  return static_cast<size_t>(std::count_if(decoded->begin(), decoded->end(), [](char32_t c) {
    return c != ' ' && c != '\t' && c != '\n' && c != '\r';
  }));
}

}  // namespace identity_internal

Result<std::string> IdentityService::Impl::NewAccessKeyId(const ReadTransaction& tx,
                                                          std::string_view prefix) {
  for (;;) {
    std::string id = NewId(prefix, kAccessKeyIdRandomChars);
    ASSIGN_OR_RETURN(auto key, tx.Get(kAccessKeysTable, id));
    ASSIGN_OR_RETURN(auto session, tx.Get(kSessionsTable, id));
    if (!key && !session) return id;
  }
}

crypto::SecretBytes IdentityService::Impl::NewSecretText(size_t n) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  crypto::SecretBytes secret(n);
  std::span<uint8_t> bytes = crypto::RevealSecretMutable(secret);
  random_.Fill(bytes);
  for (uint8_t& b : bytes) b = static_cast<uint8_t>(kAlphabet[b & 63]);
  return secret;
}

Status IdentityService::Impl::IssueSession(Transaction& tx, SessionRecord& s,
                                           const std::string& caller_arn, int duration,
                                           crypto::SecretBytes& secret,
                                           crypto::SecretBytes& token) {
  const TimePoint now = clock_.Now();
  ASSIGN_OR_RETURN(s.id, NewAccessKeyId(tx, "ASIA"));
  s.source_arn = caller_arn;
  s.created = now;
  // Whole seconds, as the Expiration the client sees.
  s.expiration = std::chrono::floor<std::chrono::seconds>(now) + std::chrono::seconds(duration);
  secret = NewSecretText(kSecretAccessKeyChars);
  token = NewSecretText(kSessionTokenChars);
  s.token_sha256 = crypto::Sha256(crypto::RevealSecret(token));
  ASSIGN_OR_RETURN(s.sealed_secret, vault_.Seal(SessionSealContext(s.id), secret));
  return tx.Put(kSessionsTable, s.id, EncodeSessionRecord(s));
}

Result<std::optional<RoleRecord>> IdentityService::Impl::FindRoleByArn(
    const ReadTransaction& tx, std::string_view role_arn) const {
  std::string prefix = RoleArn("/", "");
  if (!role_arn.starts_with(prefix)) return std::optional<RoleRecord>();
  ASSIGN_OR_RETURN(auto role, FindRole(tx, LastSegment(role_arn)));
  if (!role || RoleArn(role->path, role->name) != role_arn) return std::optional<RoleRecord>();
  return role;
}

Result<std::optional<std::string>> IdentityService::Impl::DeletedPrincipalId(
    const ReadTransaction& tx, std::string_view principal, TimePoint saved) const {
  const std::string iam_prefix = "arn:aws:iam::" + options_.account_id + ":";
  std::optional<TimePoint> current;
  if (principal.starts_with(iam_prefix + "user/")) {
    ASSIGN_OR_RETURN(auto user, FindUser(tx, LastSegment(principal)));
    if (user && UserArn(user->path, user->name) == principal) current = user->created;
  } else if (principal.starts_with(iam_prefix + "role/")) {
    ASSIGN_OR_RETURN(auto role, FindRoleByArn(tx, principal));
    if (role) current = role->created;
  } else {
    return std::optional<std::string>();
  }
  // Created by the time the policy was saved: the policy names it (as
  // authorization binds it, policy::Principal::created).
  if (current && *current <= saved) return std::optional<std::string>();
  ASSIGN_OR_RETURN(auto deleted, tx.Scan(kDeletedPrincipalsTable, Lower(principal) + "/", "", 0));
  std::optional<std::string> id;
  for (const auto& e : deleted) {  // by creation time
    ASSIGN_OR_RETURN(DeletedPrincipalRecord r, DecodeDeletedPrincipalRecord(e.value));
    if (r.arn == principal && r.created <= saved) id = r.id;
  }
  return id;
}

Result<bool> IdentityService::Impl::PrincipalExists(const ReadTransaction& tx,
                                                    const std::string& p) const {
  const std::string iam_prefix = "arn:aws:iam::" + options_.account_id + ":";
  const std::string session_prefix = "arn:aws:sts::" + options_.account_id + ":assumed-role/";
  if (p.size() == 12 || p.ends_with(":root")) return true;  // the parser checked its form
  if (p.starts_with(iam_prefix + "user/")) {
    ASSIGN_OR_RETURN(auto user, FindUser(tx, LastSegment(p)));
    return user && UserArn(user->path, user->name) == p;
  }
  if (p.starts_with(iam_prefix + "role/")) {
    ASSIGN_OR_RETURN(auto role, FindRoleByArn(tx, p));
    return role.has_value();
  }
  if (p.starts_with(session_prefix)) {
    std::string_view rest = std::string_view(p).substr(session_prefix.size());
    ASSIGN_OR_RETURN(auto role, FindRole(tx, rest.substr(0, rest.find('/'))));
    return role.has_value();
  }
  return false;
}

Result<std::optional<std::string>> IdentityService::Impl::UnknownPrincipal(
    const ReadTransaction& tx, const policy::Policy& policy) const {
  for (const policy::Statement& st : policy.statements()) {
    if (!st.principal) continue;
    for (const std::string& p : st.principal->aws) {
      ASSIGN_OR_RETURN(bool exists, PrincipalExists(tx, p));
      if (!exists) return std::optional<std::string>(p);
    }
  }
  return std::optional<std::string>();
}

Result<std::optional<Entity>> IdentityService::Impl::FindEntity(const ReadTransaction& tx,
                                                                const EntityKind& kind,
                                                                std::string_view name) const {
  auto found = [](const auto& r) {
    return r ? std::optional<Entity>(Entity{r->name, r->id, r->path}) : std::optional<Entity>();
  };
  switch (kind.type) {
    case EntityType::kUser: {
      ASSIGN_OR_RETURN(auto user, FindUser(tx, name));
      return found(user);
    }
    case EntityType::kRole: {
      ASSIGN_OR_RETURN(auto role, FindRole(tx, name));
      return found(role);
    }
    case EntityType::kGroup: {
      ASSIGN_OR_RETURN(auto group, FindGroup(tx, name));
      return found(group);
    }
  }
  return std::optional<Entity>();
}

Status IdentityService::Impl::AppendEntityPolicies(const ReadTransaction& tx,
                                                   const EntityKind& kind, const Entity& entity,
                                                   std::vector<policy::Policy>& out) const {
  const std::string entity_key = Lower(entity.name);
  ASSIGN_OR_RETURN(auto records, EntityPolicies(tx, kind, entity_key, "", 0));
  for (const auto& [key, record] : records) {
    auto parsed = policy::Policy::Parse(record.document, policy::PolicyKind::kIdentityPolicy);
    if (!parsed.ok()) {
      // Refuse rather than evaluate without it: a missing policy could be a Deny.
      return InternalError("stored policy " + record.name + " of " + kind.noun + " " + entity.name +
                           " does not parse: " + parsed.status().message());
    }
    out.push_back(std::move(parsed).value());
  }
  ASSIGN_OR_RETURN(auto attached, AttachedPolicies(tx, kind, entity_key));
  for (policy::Policy& p : attached) out.push_back(std::move(p));
  return Status::Ok();
}

Result<std::optional<IdentityService::Impl::Tagged>> IdentityService::Impl::FindTagged(
    const ReadTransaction& tx, bool user, std::string_view name) const {
  if (user) {
    ASSIGN_OR_RETURN(auto r, FindUser(tx, name));
    if (!r) return std::optional<Tagged>();
    return std::optional<Tagged>(Tagged{r->id, UserArn(r->path, r->name), std::move(r->tags)});
  }
  ASSIGN_OR_RETURN(auto r, FindRole(tx, name));
  if (!r) return std::optional<Tagged>();
  return std::optional<Tagged>(Tagged{r->id, RoleArn(r->path, r->name), std::move(r->tags)});
}

void IdentityService::Impl::ValidateEntityName(ValidationErrors& v, bool user,
                                               std::string_view name) {
  if (user) {
    ValidateUserName(v, name);
  } else {
    ValidateRoleName(v, name);
  }
}

Status IdentityService::Impl::EditTags(bool user, std::string_view name,
                                       const std::function<Status(std::vector<Tag>&)>& edit) {
  RETURN_IF_ERROR(store_.Update([&](Transaction& tx) -> Status {
    if (user) {
      ASSIGN_OR_RETURN(UserRecord r, LoadUser(tx, name));
      RETURN_IF_ERROR(edit(r.tags));
      return tx.Put(kUsersTable, Lower(r.name), EncodeUserRecord(r));
    }
    ASSIGN_OR_RETURN(RoleRecord r, LoadRole(tx, name));
    RETURN_IF_ERROR(edit(r.tags));
    return tx.Put(kRolesTable, Lower(r.name), EncodeRoleRecord(r));
  }));
  Invalidate();
  return Status::Ok();
}

Status IdentityService::Impl::SetTags(bool user, std::string_view name,
                                      const std::vector<iam::Tag>& tags) {
  errors::Validation v;
  ValidateEntityName(v, user, name);
  ValidateTags(v, tags);
  RETURN_IF_ERROR(v.ToStatus());
  RETURN_IF_ERROR(CheckTagKeys(tags));
  return EditTags(user, name, [&](std::vector<iam::Tag>& current) {
    return MergeTags(current, tags, user ? "TagsPerUser" : "TagsPerRole");
  });
}

Status IdentityService::Impl::RemoveTags(bool user, std::string_view name,
                                         const std::vector<std::string>& keys) {
  errors::Validation v;
  ValidateEntityName(v, user, name);
  ValidateTagKeys(v, keys);
  RETURN_IF_ERROR(v.ToStatus());
  return EditTags(user, name, [&](std::vector<iam::Tag>& current) {
    std::erase_if(current, [&](const iam::Tag& t) {
      return std::any_of(keys.begin(), keys.end(),
                         [&](const std::string& k) { return Lower(k) == Lower(t.key); });
    });
    return Status::Ok();
  });
}

Result<ListTagsResult> IdentityService::Impl::TagsPage(bool user, std::string_view name,
                                                       const Page& page) {
  errors::Validation v;
  ValidateEntityName(v, user, name);
  RETURN_IF_ERROR(v.ToStatus());
  ASSIGN_OR_RETURN(size_t size, PageSize(page));
  std::vector<iam::Tag> all;
  RETURN_IF_ERROR(store_.View([&](const ReadTransaction& tx) -> Status {
    ASSIGN_OR_RETURN(auto found, FindTagged(tx, user, name));
    if (!found) return (user ? kUserKind : kRoleKind).no_such_entity(name);
    all = std::move(found->tags);
    return Status::Ok();
  }));
  return PageOfTags(all, page, size, user ? "user-tags" : "role-tags");
}

Result<ListTagsResult> IdentityService::Impl::PageOfTags(const std::vector<iam::Tag>& all,
                                                         const Page& page, size_t size,
                                                         std::string_view scope) {
  ASSIGN_OR_RETURN(std::string after, MarkerPosition(page, scope));
  size_t start = 0;
  if (!after.empty()) {
    auto [end, ec] = std::from_chars(after.data(), after.data() + after.size(), start);
    if (ec != std::errc() || end != after.data() + after.size()) {
      return errors::ValidationError("Invalid Marker.");
    }
  }
  ListTagsResult out;
  for (size_t i = std::min(start, all.size()); i < all.size(); ++i) {
    if (out.tags.size() == size) {
      out.is_truncated = true;
      out.marker = EncodeListMarker(scope, std::to_string(i));
      break;
    }
    out.tags.push_back(all[i]);
  }
  return out;
}

Result<std::optional<std::string>> IdentityService::Impl::CallerUserName(const Principal& caller) {
  switch (caller.type) {
    case PrincipalType::kRoot:
      return std::optional<std::string>();
    case PrincipalType::kIamUser:
      return std::optional<std::string>(std::string(LastSegment(caller.arn)));
    case PrincipalType::kAssumedRole:
    case PrincipalType::kAwsService:
      break;
  }
  return errors::ValidationError(kMustSpecifyUserName);
}

Result<Owner> IdentityService::Impl::ResolveOwner(
    const ReadTransaction& tx, const Principal& caller,
    const std::optional<std::string>& user_name) const {
  std::optional<std::string> name = user_name;
  if (!name) {
    ASSIGN_OR_RETURN(name, CallerUserName(caller));
    if (!name) return Owner{kRootOwner, ""};
  }
  ASSIGN_OR_RETURN(UserRecord user, LoadUser(tx, *name));
  return Owner{Lower(user.name), user.name};
}

Result<AccessKeyRecord> IdentityService::Impl::LoadOwnedKey(const ReadTransaction& tx,
                                                            const Owner& owner,
                                                            std::string_view id) {
  ASSIGN_OR_RETURN(auto stored, tx.Get(kAccessKeysTable, id));
  if (!stored) return errors::NoSuchAccessKey(id);
  ASSIGN_OR_RETURN(AccessKeyRecord key, DecodeAccessKeyRecord(*stored));
  std::string key_owner = key.owner.empty() ? std::string(kRootOwner) : Lower(key.owner);
  if (key_owner != owner.key) return errors::NoSuchAccessKey(id);
  return key;
}

Result<NewAccessKey> IdentityService::Impl::AddAccessKey(Transaction& tx, const Owner& owner) {
  int limit = options_.max_access_keys_per_user;
  ASSIGN_OR_RETURN(auto existing,
                   tx.Scan(kOwnerKeysTable, owner.key + "/", "", static_cast<size_t>(limit) + 1));
  if (existing.size() >= static_cast<size_t>(limit)) {
    return errors::QuotaExceeded("AccessKeysPerUser", limit);
  }
  NewAccessKey out;
  ASSIGN_OR_RETURN(out.access_key_id, NewAccessKeyId(tx, "AKIA"));
  out.user_name = owner.name;
  out.status = AccessKeyStatus::kActive;
  out.create_date = clock_.Now();
  out.secret_access_key = NewSecretText(kSecretAccessKeyChars);
  AccessKeyRecord r;
  r.id = out.access_key_id;
  r.owner = owner.name;
  r.active = true;
  r.created = out.create_date;
  ASSIGN_OR_RETURN(r.sealed_secret, vault_.Seal(AccessKeySealContext(r.id), out.secret_access_key));
  RETURN_IF_ERROR(tx.Put(kAccessKeysTable, r.id, EncodeAccessKeyRecord(r)));
  RETURN_IF_ERROR(tx.Put(kOwnerKeysTable, OwnerIndexKey(owner.key, r.id), ""));
  return out;
}

Result<std::vector<std::pair<std::string, PolicyRecord>>> IdentityService::Impl::EntityPolicies(
    const ReadTransaction& tx, const EntityKind& kind, std::string_view entity_key,
    std::string_view start_after, size_t limit) {
  std::string prefix = std::string(entity_key) + "/";
  std::string after = start_after.empty() ? "" : prefix + std::string(start_after);
  ASSIGN_OR_RETURN(auto entries, tx.Scan(kind.policies_table, prefix, after, limit));
  std::vector<std::pair<std::string, PolicyRecord>> out;
  out.reserve(entries.size());
  for (const auto& e : entries) {
    ASSIGN_OR_RETURN(PolicyRecord r, DecodePolicyRecord(e.value));
    out.emplace_back(e.key.substr(prefix.size()), std::move(r));
  }
  return out;
}

Status IdentityService::Impl::ValidatePolicyRequest(const EntityKind& kind,
                                                    std::string_view entity_name,
                                                    std::string_view policy_name,
                                                    std::optional<std::string_view> document) {
  errors::Validation v;
  kind.validate_name(v, entity_name);
  ValidatePolicyName(v, policy_name);
  if (document) ValidatePolicyDocument(v, "policyDocument", *document);
  return v.ToStatus();
}

Status IdentityService::Impl::PutPolicy(const EntityKind& kind, std::string_view entity_name,
                                        std::string_view policy_name, std::string_view document) {
  RETURN_IF_ERROR(ValidatePolicyRequest(kind, entity_name, policy_name, document));
  RETURN_IF_ERROR(CheckPolicy(document, policy::PolicyKind::kIdentityPolicy).status());
  const size_t limit = options_.*kind.max_policy_size;
  RETURN_IF_ERROR(store_.Update([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(Entity entity, LoadEntity(tx, kind, entity_name));
    const std::string entity_key = Lower(entity.name);
    const std::string policy_key = Lower(policy_name);
    // The quota is on all inline policies of the entity together.
    ASSIGN_OR_RETURN(auto others, EntityPolicies(tx, kind, entity_key, "", 0));
    size_t total = PolicySize(document);
    for (const auto& [key, record] : others) {
      if (key != policy_key) total += PolicySize(record.document);
    }
    if (total > limit) {
      return errors::PolicySizeExceeded(static_cast<long long>(limit), kind.noun, entity.name);
    }
    PolicyRecord r{std::string(policy_name), std::string(document)};
    return tx.Put(kind.policies_table, entity_key + "/" + policy_key, EncodePolicyRecord(r));
  }));
  Invalidate();
  return Status::Ok();
}

Result<InlinePolicy> IdentityService::Impl::GetPolicy(const EntityKind& kind,
                                                      std::string_view entity_name,
                                                      std::string_view policy_name) {
  RETURN_IF_ERROR(ValidatePolicyRequest(kind, entity_name, policy_name, std::nullopt));
  InlinePolicy out;
  RETURN_IF_ERROR(store_.View([&](const ReadTransaction& tx) -> Status {
    ASSIGN_OR_RETURN(Entity entity, LoadEntity(tx, kind, entity_name));
    ASSIGN_OR_RETURN(auto stored,
                     tx.Get(kind.policies_table, Lower(entity.name) + "/" + Lower(policy_name)));
    if (!stored) return kind.no_such_policy(policy_name);
    ASSIGN_OR_RETURN(PolicyRecord r, DecodePolicyRecord(*stored));
    out = InlinePolicy{entity.name, std::move(r.name), std::move(r.document)};
    return Status::Ok();
  }));
  return out;
}

Result<ListPolicyNamesResult> IdentityService::Impl::ListPolicies(const EntityKind& kind,
                                                                  std::string_view entity_name,
                                                                  const Page& page) {
  errors::Validation v;
  kind.validate_name(v, entity_name);
  RETURN_IF_ERROR(v.ToStatus());
  ASSIGN_OR_RETURN(size_t size, PageSize(page));
  ListPolicyNamesResult out;
  RETURN_IF_ERROR(store_.View([&](const ReadTransaction& tx) -> Status {
    ASSIGN_OR_RETURN(Entity entity, LoadEntity(tx, kind, entity_name));
    // Scoped by the unique id: a marker stays within MarkerType's 320 characters
    // whatever the names (a group's and a policy's may be 128 each).
    const std::string scope = std::string(kind.policies_table) + "/" + entity.id;
    ASSIGN_OR_RETURN(std::string after, MarkerPosition(page, scope));
    ASSIGN_OR_RETURN(auto records, EntityPolicies(tx, kind, Lower(entity.name), after, size + 1));
    out.is_truncated = records.size() > size;
    if (out.is_truncated) records.resize(size);
    for (const auto& [key, record] : records) out.policy_names.push_back(record.name);
    if (out.is_truncated) out.marker = EncodeListMarker(scope, records.back().first);
    return Status::Ok();
  }));
  return out;
}

Status IdentityService::Impl::DeletePolicy(const EntityKind& kind, std::string_view entity_name,
                                           std::string_view policy_name) {
  RETURN_IF_ERROR(ValidatePolicyRequest(kind, entity_name, policy_name, std::nullopt));
  RETURN_IF_ERROR(store_.Update([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(Entity entity, LoadEntity(tx, kind, entity_name));
    std::string key = Lower(entity.name) + "/" + Lower(policy_name);
    ASSIGN_OR_RETURN(auto stored, tx.Get(kind.policies_table, key));
    if (!stored) return kind.no_such_policy(policy_name);
    return tx.Delete(kind.policies_table, key);
  }));
  Invalidate();
  return Status::Ok();
}

Result<std::optional<ManagedPolicyRecord>> IdentityService::Impl::FindPolicy(
    const ReadTransaction& tx, std::string_view arn) const {
  if (!arn.starts_with(PolicyArn("/", ""))) return std::optional<ManagedPolicyRecord>();
  ASSIGN_OR_RETURN(auto stored, tx.Get(kPoliciesTable, Lower(LastSegment(arn))));
  if (!stored) return std::optional<ManagedPolicyRecord>();
  ASSIGN_OR_RETURN(ManagedPolicyRecord r, DecodeManagedPolicyRecord(*stored));
  if (PolicyArn(r.path, r.name) != arn) return std::optional<ManagedPolicyRecord>();
  return std::optional<ManagedPolicyRecord>(std::move(r));
}

bool IdentityService::Impl::IsPolicyArn(std::string_view arn) {
  constexpr std::string_view kPrefix = "arn:aws:iam::";
  if (!arn.starts_with(kPrefix)) return false;
  arn.remove_prefix(kPrefix.size());
  const size_t colon = arn.find(':');
  if (colon == std::string_view::npos) return false;
  const std::string_view account = arn.substr(0, colon);
  const bool digits =
      account.size() == 12 &&
      std::all_of(account.begin(), account.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (!digits && account != "aws") return false;
  const std::string_view rest = arn.substr(colon + 1);
  return rest.starts_with("policy/") && rest.size() > 7 && rest.back() != '/' &&
         rest.find(' ') == std::string_view::npos;
}

ManagedPolicy IdentityService::Impl::ToManagedPolicy(const ManagedPolicyRecord& r) const {
  return ManagedPolicy{r.name,
                       r.id,
                       PolicyArn(r.path, r.name),
                       r.path,
                       r.default_version,
                       r.attachments,
                       r.description,
                       r.created,
                       r.updated,
                       r.tags};
}

Status IdentityService::Impl::CheckManagedDocument(std::string_view document) const {
  RETURN_IF_ERROR(CheckPolicy(document, policy::PolicyKind::kIdentityPolicy).status());
  if (PolicySize(document) > options_.max_managed_policy_size) {
    return errors::QuotaExceeded("PolicySize",
                                 static_cast<long long>(options_.max_managed_policy_size));
  }
  return Status::Ok();
}

Result<std::vector<policy::Policy>> IdentityService::Impl::AttachedPolicies(
    const ReadTransaction& tx, const EntityKind& kind, std::string_view entity_key) const {
  const std::string prefix = std::string(entity_key) + "/";
  ASSIGN_OR_RETURN(auto attached, tx.Scan(kind.attached_table, prefix, "", 0));
  std::vector<policy::Policy> out;
  for (const auto& e : attached) {
    const std::string name = e.key.substr(prefix.size());
    ASSIGN_OR_RETURN(auto stored, tx.Get(kPoliciesTable, name));
    if (!stored) return InternalError("attached managed policy " + name + " is missing");
    ASSIGN_OR_RETURN(ManagedPolicyRecord r, DecodeManagedPolicyRecord(*stored));
    const PolicyVersionRecord* v = FindVersion(r, r.default_version);
    auto parsed = policy::Policy::Parse(v->document, policy::PolicyKind::kIdentityPolicy);
    if (!parsed.ok()) {
      // Refuse rather than evaluate without it: a missing policy could be a Deny.
      return InternalError("managed policy " + r.name + " " + v->id +
                           " does not parse: " + parsed.status().message());
    }
    out.push_back(std::move(parsed).value());
  }
  return out;
}

Status IdentityService::Impl::SetAttached(const EntityKind& kind, std::string_view entity_name,
                                          std::string_view policy_arn, bool attach) {
  errors::Validation v;
  kind.validate_name(v, entity_name);
  ValidatePolicyArn(v, policy_arn);
  RETURN_IF_ERROR(v.ToStatus());
  RETURN_IF_ERROR(store_.Update([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(Entity entity, LoadEntity(tx, kind, entity_name));
    ASSIGN_OR_RETURN(ManagedPolicyRecord policy, LoadPolicy(tx, policy_arn, attach));
    const std::string entity_key = Lower(entity.name);
    const std::string policy_key = Lower(policy.name);
    const std::string key = entity_key + "/" + policy_key;
    const std::string index_key = EntityIndexKey(kind, policy_key, entity_key);
    ASSIGN_OR_RETURN(auto attached, tx.Get(kind.attached_table, key));
    if (!attach) {
      if (!attached) return errors::PolicyNotAttached(policy_arn);
      RETURN_IF_ERROR(tx.Delete(kind.attached_table, key));
      RETURN_IF_ERROR(tx.Delete(kPolicyEntitiesTable, index_key));
      --policy.attachments;
      return StorePolicy(tx, policy);
    }
    if (attached) return Status::Ok();  // attaching again changes nothing
    const int limit = options_.max_attached_policies;
    ASSIGN_OR_RETURN(auto all, tx.Scan(kind.attached_table, entity_key + "/", "",
                                       static_cast<size_t>(limit) + 1));
    if (all.size() >= static_cast<size_t>(limit)) {
      return errors::QuotaExceeded(kind.attach_quota, limit);
    }
    RETURN_IF_ERROR(tx.Put(kind.attached_table, key, ""));
    RETURN_IF_ERROR(tx.Put(kPolicyEntitiesTable, index_key, ""));
    ++policy.attachments;
    return StorePolicy(tx, policy);
  }));
  Invalidate();
  return Status::Ok();
}

Result<ListAttachedPoliciesResult> IdentityService::Impl::ListAttached(
    const EntityKind& kind, std::string_view entity_name,
    const std::optional<std::string>& path_prefix, const Page& page) {
  errors::Validation v;
  kind.validate_name(v, entity_name);
  ValidatePolicyPath(v, "pathPrefix", path_prefix);
  RETURN_IF_ERROR(v.ToStatus());
  ASSIGN_OR_RETURN(size_t size, PageSize(page));
  ListAttachedPoliciesResult out;
  RETURN_IF_ERROR(store_.View([&](const ReadTransaction& tx) -> Status {
    ASSIGN_OR_RETURN(Entity entity, LoadEntity(tx, kind, entity_name));
    const std::string prefix = Lower(entity.name) + "/";
    const std::string scope = std::string(kind.attached_table) + "/" + entity.id;
    ASSIGN_OR_RETURN(std::string after, MarkerPosition(page, scope));
    ASSIGN_OR_RETURN(auto attached,
                     tx.Scan(kind.attached_table, prefix, after.empty() ? "" : prefix + after, 0));
    std::string last;
    for (const auto& e : attached) {
      const std::string name = e.key.substr(prefix.size());
      ASSIGN_OR_RETURN(auto stored, tx.Get(kPoliciesTable, name));
      if (!stored) return InternalError("attached managed policy " + name + " is missing");
      ASSIGN_OR_RETURN(ManagedPolicyRecord r, DecodeManagedPolicyRecord(*stored));
      if (path_prefix && !r.path.starts_with(*path_prefix)) continue;
      if (out.attached_policies.size() == size) {
        out.is_truncated = true;
        out.marker = EncodeListMarker(scope, last);
        break;
      }
      out.attached_policies.push_back(AttachedPolicy{r.name, PolicyArn(r.path, r.name)});
      last = e.key.substr(prefix.size());
    }
    return Status::Ok();
  }));
  return out;
}

}  // namespace coffer::iam
