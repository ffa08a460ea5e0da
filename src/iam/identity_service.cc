// The IAM engine: the account, users, access keys, roles, inline policies, tags,
// and what authentication and authorization ask of them.
#include <nlohmann/json.hpp>

#include "iam/identity_service_impl.h"

namespace coffer::iam {

std::string_view AccessKeyStatusName(AccessKeyStatus s) {
  return s == AccessKeyStatus::kActive ? "Active" : "Inactive";
}

bool SessionTokenDigest::Matches(std::string_view presented) const {
  return crypto::ConstantTimeEquals(crypto::Sha256(AsBytes(presented)), sha256_);
}

CallerIdentity GetCallerIdentity(const policy::Principal& caller) {
  return CallerIdentity{caller.user_id, caller.account_id, caller.arn};
}

namespace identity_internal {

Result<policy::Policy> CheckPolicy(std::string_view doc, policy::PolicyKind kind) {
  if (!nlohmann::json::accept(doc)) {
    return errors::MalformedPolicy(InvalidArgumentError(kind == policy::PolicyKind::kTrustPolicy
                                                            ? "This policy contains invalid Json"
                                                            : "Syntax errors in policy."));
  }
  auto parsed = policy::Policy::Parse(doc, kind);
  if (!parsed.ok()) return errors::MalformedPolicy(parsed.status());
  if (kind == policy::PolicyKind::kTrustPolicy) {
    // A trust policy says who may assume the role, and nothing else. Checked
    // when one is saved only: one saved before keeps working.
    for (const policy::Statement& st : parsed->statements()) {
      for (const std::string& action : st.actions) {
        if (action.size() < 4 || Lower(action.substr(0, 4)) != "sts:") {
          return errors::MalformedPolicy(
              InvalidArgumentError("AssumeRole policy may only specify STS AssumeRole actions."));
        }
      }
    }
  }
  return std::move(parsed).value();
}

}  // namespace identity_internal

Result<std::string> IdentityService::Impl::PolicyAsShown(const ReadTransaction& tx,
                                                         const std::string& text,
                                                         std::optional<TimePoint> saved) const {
  if (!saved) return text;
  nlohmann::ordered_json doc = nlohmann::ordered_json::parse(text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("Statement")) return text;
  bool changed = false;
  Status error;
  auto show = [&](nlohmann::ordered_json& value) {
    if (!value.is_string() || !error.ok()) return;
    Result<std::optional<std::string>> id =
        DeletedPrincipalId(tx, value.get_ref<const std::string&>(), *saved);
    if (!id.ok()) {
      error = id.status();
    } else if (*id) {
      value = **id;
      changed = true;
    }
  };
  auto statement = [&](nlohmann::ordered_json& st) {
    if (!st.is_object()) return;
    for (const char* field : {"Principal", "NotPrincipal"}) {
      auto it = st.find(field);
      if (it == st.end() || !it->is_object() || !it->contains("AWS")) continue;
      nlohmann::ordered_json& aws = (*it)["AWS"];
      if (aws.is_array()) {
        for (auto& p : aws) show(p);
      } else {
        show(aws);
      }
    }
  };
  nlohmann::ordered_json& statements = doc["Statement"];
  if (statements.is_array()) {
    for (auto& st : statements) statement(st);
  } else {
    statement(statements);
  }
  RETURN_IF_ERROR(error);
  return changed ? doc.dump(2) : text;
}

IdentityService::IdentityService(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
IdentityService::~IdentityService() = default;

Result<std::unique_ptr<IdentityService>> IdentityService::Create(IamOptions options,
                                                                 state::StateStore& store,
                                                                 const state::Vault& vault,
                                                                 Clock& clock, Random& random) {
  if (options.account_id.size() != 12 ||
      !std::all_of(options.account_id.begin(), options.account_id.end(),
                   [](char c) { return c >= '0' && c <= '9'; })) {
    return InvalidArgumentError("account id must be 12 digits, got '" + options.account_id + "'");
  }
  if (options.region.empty()) return InvalidArgumentError("region must not be empty");
  if (options.max_users < 1 || options.max_roles < 1 || options.max_access_keys_per_user < 1 ||
      options.max_managed_policies < 1 || options.max_policy_versions < 1 ||
      options.max_attached_policies < 1 || options.max_groups < 1 ||
      options.max_groups_per_user < 1) {
    return InvalidArgumentError("IAM quotas must be at least 1");
  }
  if (options.expired_session_retention < Duration::zero()) {
    return InvalidArgumentError("expired_session_retention must not be negative");
  }
  return std::unique_ptr<IdentityService>(
      new IdentityService(std::make_unique<Impl>(std::move(options), store, vault, clock, random)));
}

const IamOptions& IdentityService::options() const { return impl_->options_; }

Result<std::optional<NewAccessKey>> IdentityService::InitializeAccount(
    const std::function<Status(const NewAccessKey&)>& deliver) {
  std::optional<NewAccessKey> created;
  RETURN_IF_ERROR(impl_->store_.Update([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(auto account, tx.Get(kAccountTable, kAccountKey));
    if (account) return Status::Ok();
    RETURN_IF_ERROR(tx.Put(kAccountTable, kAccountKey,
                           EncodeAccountRecord(AccountRecord{impl_->clock_.Now()})));
    ASSIGN_OR_RETURN(NewAccessKey key, impl_->AddAccessKey(tx, Owner{kRootOwner, ""}));
    // Delivered before the commit: if delivery fails, nothing is created, and the
    // next start tries again (a key nobody received would lock everyone out).
    if (deliver) RETURN_IF_ERROR(deliver(key));
    created = std::move(key);
    return Status::Ok();
  }));
  if (created) {
    impl_->Invalidate();
    Log().info("iam: created account {} and its root access key {}", impl_->options_.account_id,
               created->access_key_id);
  }
  return created;
}

// ---- authentication and authorization ------------------------------------------------

Result<Credential> IdentityService::FindCredential(std::string_view access_key_id) {
  // The AWS model's AccessKeyId: 16 to 128 word characters. Anything else names no
  // key and is not looked up (the id comes from an unauthenticated request).
  const bool word = std::all_of(access_key_id.begin(), access_key_id.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
  if (!word || access_key_id.size() < 16 || access_key_id.size() > 128) {
    return NotFoundError("no such access key");
  }
  std::string id(access_key_id);
  {
    std::lock_guard lock(impl_->cache_mu_);
    if (auto it = impl_->credentials_.find(id); it != impl_->credentials_.end()) {
      return *it->second;
    }
  }
  const uint64_t generation = impl_->Generation();
  Credential out;
  Bytes sealed;
  std::string context;
  RETURN_IF_ERROR(impl_->store_.View([&](const ReadTransaction& tx) -> Status {
    if (id.starts_with("ASIA")) {
      ASSIGN_OR_RETURN(auto stored, tx.Get(kSessionsTable, id));
      if (!stored) return NotFoundError("no such access key");
      ASSIGN_OR_RETURN(SessionRecord s, DecodeSessionRecord(*stored));
      if (s.root) {
        out.principal = Principal::Root(impl_->options_.account_id);
      } else if (!s.user_name.empty()) {
        // The user the session was issued to, not one created since under its name.
        ASSIGN_OR_RETURN(auto user, impl_->FindUser(tx, s.user_name));
        if (!user || user->id != s.user_id) return NotFoundError("no such access key");
        out.principal = Principal::IamUser(impl_->UserArn(user->path, user->name), user->id);
        out.principal.created = user->created;
      } else {
        out.principal = Principal::AssumedRole(s.role_arn, s.session_name, s.role_id);
        out.principal.created = s.role_created;
      }
      out.session_token.emplace(s.token_sha256);
      out.expiration = s.expiration;
      out.principal.session_issued = s.created;
      sealed = std::move(s.sealed_secret);
      context = SessionSealContext(id);
      return Status::Ok();
    }
    ASSIGN_OR_RETURN(auto stored, tx.Get(kAccessKeysTable, id));
    if (!stored) return NotFoundError("no such access key");
    ASSIGN_OR_RETURN(AccessKeyRecord k, DecodeAccessKeyRecord(*stored));
    if (k.owner.empty()) {
      out.principal = Principal::Root(impl_->options_.account_id);
    } else {
      ASSIGN_OR_RETURN(auto user, impl_->FindUser(tx, k.owner));
      if (!user) return NotFoundError("no such access key");
      out.principal = Principal::IamUser(impl_->UserArn(user->path, user->name), user->id);
      out.principal.created = user->created;
    }
    out.active = k.active;
    sealed = std::move(k.sealed_secret);
    context = AccessKeySealContext(id);
    return Status::Ok();
  }));
  ASSIGN_OR_RETURN(out.secret_access_key, impl_->vault_.Unseal(context, sealed));

  auto shared = std::make_shared<const Credential>(out);
  std::lock_guard lock(impl_->cache_mu_);
  if (impl_->generation_ == generation) {
    if (impl_->credentials_.size() >= impl_->options_.max_cached_credentials) {
      impl_->credentials_.clear();
    }
    impl_->credentials_.emplace(std::move(id), std::move(shared));
  }
  return out;
}

Result<std::shared_ptr<const std::vector<policy::Policy>>> IdentityService::IdentityPoliciesOf(
    const Principal& principal) {
  const EntityKind* kind = nullptr;
  std::string_view name, expected_id;
  switch (principal.type) {
    case PrincipalType::kRoot:
    case PrincipalType::kAwsService:
      return impl_->no_policies_;
    case PrincipalType::kIamUser:
      kind = &kUserKind;
      name = LastSegment(principal.arn);
      expected_id = principal.user_id;
      break;
    case PrincipalType::kAssumedRole:
      kind = &kRoleKind;
      name = LastSegment(principal.role_arn);
      expected_id = std::string_view(principal.user_id).substr(0, principal.user_id.find(':'));
      break;
  }
  const std::string entity_key = Lower(name);
  const std::string cache_key = (kind->type == EntityType::kUser ? "u:" : "r:") + entity_key;
  {
    std::lock_guard lock(impl_->cache_mu_);
    if (auto it = impl_->policies_.find(cache_key); it != impl_->policies_.end()) {
      if (it->second.id.empty() || it->second.id != expected_id) return impl_->no_policies_;
      return it->second.policies;
    }
  }
  const uint64_t generation = impl_->Generation();
  Impl::CachedPolicies loaded{"", impl_->no_policies_};
  RETURN_IF_ERROR(impl_->store_.View([&](const ReadTransaction& tx) -> Status {
    ASSIGN_OR_RETURN(auto entity, impl_->FindEntity(tx, *kind, name));
    if (!entity) return Status::Ok();
    auto policies = std::make_shared<std::vector<policy::Policy>>();
    RETURN_IF_ERROR(impl_->AppendEntityPolicies(tx, *kind, *entity, *policies));
    if (kind->type == EntityType::kUser) {
      // A user's groups give it their policies too.
      const std::string prefix = entity_key + "/";
      ASSIGN_OR_RETURN(auto groups, tx.Scan(kUserGroupsTable, prefix, "", 0));
      for (const auto& e : groups) {
        const std::string group_key = e.key.substr(prefix.size());
        ASSIGN_OR_RETURN(auto group, impl_->FindEntity(tx, kGroupKind, group_key));
        if (!group) return InternalError("user " + entity->name + " is in no group " + group_key);
        RETURN_IF_ERROR(impl_->AppendEntityPolicies(tx, kGroupKind, *group, *policies));
      }
    }
    loaded = Impl::CachedPolicies{entity->id, std::move(policies)};
    return Status::Ok();
  }));
  {
    std::lock_guard lock(impl_->cache_mu_);
    if (impl_->generation_ == generation) {
      if (impl_->policies_.size() >= impl_->options_.max_cached_credentials) {
        impl_->policies_.clear();
      }
      impl_->policies_.insert_or_assign(cache_key, loaded);
    }
  }
  if (loaded.id.empty() || loaded.id != expected_id) return impl_->no_policies_;
  return loaded.policies;
}

Result<std::optional<std::string>> IdentityService::UnknownPrincipal(const policy::Policy& policy) {
  std::optional<std::string> unknown;
  RETURN_IF_ERROR(impl_->store_.View([&](const ReadTransaction& tx) -> Status {
    ASSIGN_OR_RETURN(unknown, impl_->UnknownPrincipal(tx, policy));
    return Status::Ok();
  }));
  return unknown;
}

Result<std::optional<std::string>> IdentityService::UnknownPrincipalArn(
    const std::vector<std::string>& arns) {
  std::optional<std::string> unknown;
  RETURN_IF_ERROR(impl_->store_.View([&](const ReadTransaction& tx) -> Status {
    for (const std::string& arn : arns) {
      // An ARN (not a bare account id), existing as a policy's principal must.
      bool exists = arn.starts_with("arn:");
      if (exists) {
        ASSIGN_OR_RETURN(exists, impl_->PrincipalExists(tx, arn));
      }
      if (!exists) {
        unknown = arn;
        return Status::Ok();
      }
    }
    return Status::Ok();
  }));
  return unknown;
}

Result<std::string> IdentityService::PolicyAsShown(const std::string& text,
                                                   std::optional<TimePoint> saved) {
  std::string out;
  RETURN_IF_ERROR(impl_->store_.View([&](const ReadTransaction& tx) -> Status {
    ASSIGN_OR_RETURN(out, impl_->PolicyAsShown(tx, text, saved));
    return Status::Ok();
  }));
  return out;
}

Result<policy::SavedPolicy> IdentityService::TrustPolicyOf(std::string_view role_arn) {
  policy::SavedPolicy policy;
  RETURN_IF_ERROR(impl_->store_.View([&](const ReadTransaction& tx) -> Status {
    ASSIGN_OR_RETURN(auto role, impl_->FindRoleByArn(tx, role_arn));
    if (!role) return errors::NoSuchRole(LastSegment(role_arn));
    policy.text = std::move(role->trust_policy);
    policy.saved = role->trust_policy_saved;
    return Status::Ok();
  }));
  return policy;
}

Result<std::string> IdentityService::ArnOfUser(std::string_view user_name) {
  std::string arn = impl_->UserArn("/", user_name);
  RETURN_IF_ERROR(impl_->store_.View([&](const ReadTransaction& tx) -> Status {
    ASSIGN_OR_RETURN(auto user, impl_->FindUser(tx, user_name));
    if (user) arn = impl_->UserArn(user->path, user->name);
    return Status::Ok();
  }));
  return arn;
}

Result<std::string> IdentityService::ArnOfRole(std::string_view role_name) {
  std::string arn = impl_->RoleArn("/", role_name);
  RETURN_IF_ERROR(impl_->store_.View([&](const ReadTransaction& tx) -> Status {
    ASSIGN_OR_RETURN(auto role, impl_->FindRole(tx, role_name));
    if (role) arn = impl_->RoleArn(role->path, role->name);
    return Status::Ok();
  }));
  return arn;
}

Result<std::string> IdentityService::ArnOfGroup(std::string_view group_name) {
  return ArnOfGroupAfter(group_name, std::nullopt, std::nullopt);
}

Result<std::string> IdentityService::ArnOfGroupAfter(
    std::string_view group_name, const std::optional<std::string>& new_path,
    const std::optional<std::string>& new_group_name) {
  std::string path = "/", name(group_name);
  RETURN_IF_ERROR(impl_->store_.View([&](const ReadTransaction& tx) -> Status {
    ASSIGN_OR_RETURN(auto group, impl_->FindGroup(tx, group_name));
    if (group) {
      path = std::move(group->path);
      name = std::move(group->name);
    }
    return Status::Ok();
  }));
  return impl_->GroupArn(new_path.value_or(path), new_group_name.value_or(name));
}

Result<std::string> IdentityService::TargetUserArn(const Principal& caller,
                                                   const std::optional<std::string>& user_name) {
  if (user_name) return ArnOfUser(*user_name);
  ASSIGN_OR_RETURN(std::optional<std::string> own, Impl::CallerUserName(caller));
  (void)own;
  return caller.arn;  // the IAM user's own ARN, or the root's
}

std::string IdentityService::UserArn(std::string_view path, std::string_view user_name) const {
  return impl_->UserArn(path, user_name);
}
std::string IdentityService::RoleArn(std::string_view path, std::string_view role_name) const {
  return impl_->RoleArn(path, role_name);
}
std::string IdentityService::GroupArn(std::string_view path, std::string_view group_name) const {
  return impl_->GroupArn(path, group_name);
}

// ---- users ------------------------------------------------------------------------------

Result<User> IdentityService::CreateUser(const CreateUserRequest& req) {
  errors::Validation v;
  ValidateNewUserName(v, req.user_name);
  ValidatePath(v, req.path);
  ValidateTags(v, req.tags);
  RETURN_IF_ERROR(v.ToStatus());
  RETURN_IF_ERROR(CheckTagKeys(req.tags));
  UserRecord r;
  r.name = req.user_name;
  r.path = req.path.value_or("/");
  r.tags = req.tags;
  r.created = impl_->clock_.Now();
  RETURN_IF_ERROR(impl_->store_.Update([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(auto existing, tx.Get(kUsersTable, Lower(r.name)));
    if (existing) return errors::UserExists(r.name);
    int limit = impl_->options_.max_users;
    ASSIGN_OR_RETURN(auto users, tx.Scan(kUsersTable, "", "", static_cast<size_t>(limit) + 1));
    if (users.size() >= static_cast<size_t>(limit)) {
      return errors::QuotaExceeded("UsersPerAccount", limit);
    }
    r.id = impl_->NewId("AIDA", kUniqueIdRandomChars);
    return tx.Put(kUsersTable, Lower(r.name), EncodeUserRecord(r));
  }));
  impl_->Invalidate();  // a cached "no such user" for this name
  return impl_->ToUser(r);
}

Result<User> IdentityService::GetUser(const Principal& caller,
                                      const std::optional<std::string>& user_name) {
  std::optional<std::string> name = user_name;
  if (name) {
    errors::Validation v;
    ValidateUserName(v, *name);
    RETURN_IF_ERROR(v.ToStatus());
  } else {
    ASSIGN_OR_RETURN(name, Impl::CallerUserName(caller));
  }
  User out;
  RETURN_IF_ERROR(impl_->store_.View([&](const ReadTransaction& tx) -> Status {
    if (name) {
      ASSIGN_OR_RETURN(UserRecord r, impl_->LoadUser(tx, *name));
      out = impl_->ToUser(r);
      return Status::Ok();
    }
    // The root, as AWS shows it: its account id, its ARN, the account's creation.
    ASSIGN_OR_RETURN(auto stored, tx.Get(kAccountTable, kAccountKey));
    if (!stored) return InternalError("the account is not initialized");
    ASSIGN_OR_RETURN(AccountRecord account, DecodeAccountRecord(*stored));
    out.user_id = impl_->options_.account_id;
    out.arn = Principal::Root(impl_->options_.account_id).arn;
    out.create_date = account.created;
    return Status::Ok();
  }));
  return out;
}

Result<ListUsersResult> IdentityService::ListUsers(const std::optional<std::string>& path_prefix,
                                                   const Page& page) {
  errors::Validation v;
  ValidatePathPrefix(v, path_prefix);
  RETURN_IF_ERROR(v.ToStatus());
  ASSIGN_OR_RETURN(size_t size, PageSize(page));
  ListUsersResult out;
  RETURN_IF_ERROR(impl_->store_.View([&](const ReadTransaction& tx) -> Status {
    auto decode = [&](std::string_view value) -> Result<User> {
      ASSIGN_OR_RETURN(UserRecord r, DecodeUserRecord(value));
      return impl_->ToUser(r);
    };
    return impl_->ListPage(tx, kUsersTable, path_prefix, page, size, decode, out.users,
                           out.is_truncated, out.marker);
  }));
  return out;
}

Status IdentityService::DeleteUser(std::string_view user_name) {
  errors::Validation v;
  ValidateUserName(v, user_name);
  RETURN_IF_ERROR(v.ToStatus());
  RETURN_IF_ERROR(impl_->store_.Update([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(UserRecord user, impl_->LoadUser(tx, user_name));
    const std::string key = Lower(user.name);
    ASSIGN_OR_RETURN(auto keys, tx.Scan(kOwnerKeysTable, key + "/", "", 1));
    if (!keys.empty()) {
      return errors::DeleteConflict("Cannot delete entity, must delete access keys first.");
    }
    ASSIGN_OR_RETURN(auto policies, tx.Scan(kUserPoliciesTable, key + "/", "", 1));
    if (!policies.empty()) {
      return errors::DeleteConflict("Cannot delete entity, must delete policies first.");
    }
    ASSIGN_OR_RETURN(auto attached, tx.Scan(kUserAttachedTable, key + "/", "", 1));
    if (!attached.empty()) {
      return errors::DeleteConflict("Cannot delete entity, must detach all policies first.");
    }
    ASSIGN_OR_RETURN(auto groups, tx.Scan(kUserGroupsTable, key + "/", "", 1));
    if (!groups.empty()) {
      return errors::DeleteConflict("Cannot delete entity, must remove users from group first.");
    }
    RETURN_IF_ERROR(
        impl_->KeepDeleted(tx, impl_->UserArn(user.path, user.name), user.id, user.created));
    return tx.Delete(kUsersTable, key);
  }));
  impl_->Invalidate();
  return Status::Ok();
}

// ---- access keys ------------------------------------------------------------------------

namespace {
Status ValidateOptionalUserName(const std::optional<std::string>& user_name) {
  errors::Validation v;
  if (user_name) ValidateUserName(v, *user_name);
  return v.ToStatus();
}
}  // namespace

Result<NewAccessKey> IdentityService::CreateAccessKey(const Principal& caller,
                                                      const std::optional<std::string>& user_name) {
  RETURN_IF_ERROR(ValidateOptionalUserName(user_name));
  std::optional<NewAccessKey> out;
  RETURN_IF_ERROR(impl_->store_.Update([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(Owner owner, impl_->ResolveOwner(tx, caller, user_name));
    ASSIGN_OR_RETURN(out, impl_->AddAccessKey(tx, owner));
    return Status::Ok();
  }));
  impl_->Invalidate();
  return std::move(*out);
}

Result<ListAccessKeysResult> IdentityService::ListAccessKeys(
    const Principal& caller, const std::optional<std::string>& user_name, const Page& page) {
  RETURN_IF_ERROR(ValidateOptionalUserName(user_name));
  ASSIGN_OR_RETURN(size_t size, PageSize(page));
  ListAccessKeysResult out;
  RETURN_IF_ERROR(impl_->store_.View([&](const ReadTransaction& tx) -> Status {
    ASSIGN_OR_RETURN(Owner owner, impl_->ResolveOwner(tx, caller, user_name));
    std::string prefix = owner.key + "/";
    const std::string scope = std::string(kOwnerKeysTable) + "/" + owner.key;
    ASSIGN_OR_RETURN(std::string position, MarkerPosition(page, scope));
    std::string after = page.marker ? prefix + position : "";
    ASSIGN_OR_RETURN(auto index, tx.Scan(kOwnerKeysTable, prefix, after, size + 1));
    out.is_truncated = index.size() > size;
    if (out.is_truncated) index.resize(size);
    for (const auto& e : index) {
      std::string id = e.key.substr(prefix.size());
      ASSIGN_OR_RETURN(auto stored, tx.Get(kAccessKeysTable, id));
      if (!stored) return DataLossError("access key index names a missing key " + id);
      ASSIGN_OR_RETURN(AccessKeyRecord k, DecodeAccessKeyRecord(*stored));
      out.access_key_metadata.push_back(Impl::ToMetadata(k));
    }
    if (out.is_truncated) {
      out.marker = EncodeListMarker(scope, out.access_key_metadata.back().access_key_id);
    }
    return Status::Ok();
  }));
  return out;
}

Status IdentityService::UpdateAccessKey(const Principal& caller,
                                        const std::optional<std::string>& user_name,
                                        std::string_view access_key_id, std::string_view status) {
  errors::Validation v;
  if (user_name) ValidateUserName(v, *user_name);
  ValidateAccessKeyId(v, access_key_id);
  ValidateStatus(v, status);
  RETURN_IF_ERROR(v.ToStatus());
  if (status == "Expired") {
    return errors::ValidationError("An access key's status can only be set to Active or Inactive.");
  }
  const bool active = status == "Active";
  RETURN_IF_ERROR(impl_->store_.Update([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(Owner owner, impl_->ResolveOwner(tx, caller, user_name));
    ASSIGN_OR_RETURN(AccessKeyRecord key, Impl::LoadOwnedKey(tx, owner, access_key_id));
    key.active = active;
    return tx.Put(kAccessKeysTable, key.id, EncodeAccessKeyRecord(key));
  }));
  impl_->Invalidate();
  return Status::Ok();
}

Status IdentityService::DeleteAccessKey(const Principal& caller,
                                        const std::optional<std::string>& user_name,
                                        std::string_view access_key_id) {
  errors::Validation v;
  if (user_name) ValidateUserName(v, *user_name);
  ValidateAccessKeyId(v, access_key_id);
  RETURN_IF_ERROR(v.ToStatus());
  RETURN_IF_ERROR(impl_->store_.Update([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(Owner owner, impl_->ResolveOwner(tx, caller, user_name));
    ASSIGN_OR_RETURN(AccessKeyRecord key, Impl::LoadOwnedKey(tx, owner, access_key_id));
    RETURN_IF_ERROR(tx.Delete(kAccessKeysTable, key.id));
    RETURN_IF_ERROR(tx.Delete(kKeyLastUsedTable, key.id));
    return tx.Delete(kOwnerKeysTable, Impl::OwnerIndexKey(owner.key, key.id));
  }));
  {
    std::lock_guard lock(impl_->uses_mu_);
    if (auto it = impl_->uses_.find(access_key_id); it != impl_->uses_.end())
      impl_->uses_.erase(it);
  }
  impl_->Invalidate();
  return Status::Ok();
}

// ---- when access keys were last used ----------------------------------------------------

void IdentityService::NoteKeyUse(std::string_view access_key_id, std::string_view service,
                                 std::string_view region) {
  if (!access_key_id.starts_with("AKIA")) return;
  const TimePoint now = impl_->clock_.Now();
  std::lock_guard lock(impl_->uses_mu_);
  auto it = impl_->uses_.find(access_key_id);
  if (it == impl_->uses_.end()) {
    impl_->uses_.emplace(std::string(access_key_id),
                         KeyUseRecord{now, std::string(service), std::string(region)});
    return;
  }
  it->second.when = now;
  if (it->second.service != service) it->second.service = std::string(service);
  if (it->second.region != region) it->second.region = std::string(region);
}

void IdentityService::NoteRoleUse(const Principal& session) {
  if (session.type != PrincipalType::kAssumedRole) return;
  const std::string_view role_id =
      std::string_view(session.user_id).substr(0, session.user_id.find(':'));
  const TimePoint now = impl_->clock_.Now();
  std::lock_guard lock(impl_->uses_mu_);
  auto it = impl_->role_uses_.find(session.role_arn);
  if (it == impl_->role_uses_.end()) {
    impl_->role_uses_.emplace(session.role_arn,
                              RoleUseRecord{now, impl_->options_.region, std::string(role_id)});
    return;
  }
  it->second.when = now;
  if (it->second.role_id != role_id) it->second.role_id = std::string(role_id);
}

Status IdentityService::FlushKeyUses() {
  Impl::KeyUses uses;
  Impl::RoleUses role_uses;
  {
    std::lock_guard lock(impl_->uses_mu_);
    uses.swap(impl_->uses_);
    role_uses.swap(impl_->role_uses_);
  }
  if (uses.empty() && role_uses.empty()) return Status::Ok();
  Status s = impl_->store_.Update([&](Transaction& tx) -> Status {
    for (const auto& [id, use] : uses) {
      ASSIGN_OR_RETURN(auto key, tx.Get(kAccessKeysTable, id));
      if (!key) continue;  // deleted meanwhile
      RETURN_IF_ERROR(tx.Put(kKeyLastUsedTable, id, EncodeKeyUseRecord(use)));
    }
    for (const auto& [arn, use] : role_uses) {
      ASSIGN_OR_RETURN(auto role, impl_->FindRoleByArn(tx, arn));
      if (!role || role->id != use.role_id) continue;  // deleted meanwhile
      RETURN_IF_ERROR(tx.Put(kRoleLastUsedTable, Lower(role->name), EncodeRoleUseRecord(use)));
    }
    return Status::Ok();
  });
  if (!s.ok()) {
    // Kept for the next flush, unless a newer use was noted meanwhile.
    std::lock_guard lock(impl_->uses_mu_);
    for (auto& [id, use] : uses) impl_->uses_.try_emplace(id, std::move(use));
    for (auto& [arn, use] : role_uses) impl_->role_uses_.try_emplace(arn, std::move(use));
  }
  return s;
}

Result<AccessKeyLastUsed> IdentityService::GetAccessKeyLastUsed(std::string_view access_key_id) {
  errors::Validation v;
  ValidateAccessKeyId(v, access_key_id);
  RETURN_IF_ERROR(v.ToStatus());
  AccessKeyLastUsed out;
  std::optional<KeyUseRecord> use;
  RETURN_IF_ERROR(impl_->store_.View([&](const ReadTransaction& tx) -> Status {
    ASSIGN_OR_RETURN(auto stored, tx.Get(kAccessKeysTable, access_key_id));
    if (!stored) return errors::NoSuchAccessKey(access_key_id);
    ASSIGN_OR_RETURN(AccessKeyRecord key, DecodeAccessKeyRecord(*stored));
    out.user_name = key.owner;
    ASSIGN_OR_RETURN(auto used, tx.Get(kKeyLastUsedTable, access_key_id));
    if (used) {
      ASSIGN_OR_RETURN(use, DecodeKeyUseRecord(*used));
    }
    return Status::Ok();
  }));
  {
    std::lock_guard lock(impl_->uses_mu_);  // not flushed yet: newer
    if (auto it = impl_->uses_.find(access_key_id); it != impl_->uses_.end()) {
      use = it->second;
    }
  }
  if (use) {
    out.last_used_date = use->when;
    out.service_name = use->service;
    out.region = use->region;
  }
  return out;
}

Result<std::string> IdentityService::ArnOfAccessKeyOwner(std::string_view access_key_id) {
  std::string arn = impl_->UserArn("/", "");
  RETURN_IF_ERROR(impl_->store_.View([&](const ReadTransaction& tx) -> Status {
    ASSIGN_OR_RETURN(auto stored, tx.Get(kAccessKeysTable, access_key_id));
    if (!stored) return Status::Ok();
    ASSIGN_OR_RETURN(AccessKeyRecord key, DecodeAccessKeyRecord(*stored));
    if (key.owner.empty()) {
      arn = "arn:aws:iam::" + impl_->options_.account_id + ":root";
      return Status::Ok();
    }
    ASSIGN_OR_RETURN(UserRecord user, impl_->LoadUser(tx, key.owner));
    arn = impl_->UserArn(user.path, user.name);
    return Status::Ok();
  }));
  return arn;
}

// ---- roles ------------------------------------------------------------------------------

Result<Role> IdentityService::CreateRole(const CreateRoleRequest& req) {
  errors::Validation v;
  ValidateRoleName(v, req.role_name);
  ValidatePath(v, req.path);
  ValidatePolicyDocument(v, "assumeRolePolicyDocument", req.assume_role_policy_document);
  ValidateDescription(v, req.description);
  ValidateMaxSessionDuration(v, req.max_session_duration);
  ValidateTags(v, req.tags);
  RETURN_IF_ERROR(v.ToStatus());
  RETURN_IF_ERROR(CheckTagKeys(req.tags));
  ASSIGN_OR_RETURN(policy::Policy trust,
                   CheckPolicy(req.assume_role_policy_document, policy::PolicyKind::kTrustPolicy));
  if (PolicySize(req.assume_role_policy_document) > impl_->options_.max_trust_policy_size) {
    return errors::QuotaExceeded("ACLSizePerRole",
                                 static_cast<long long>(impl_->options_.max_trust_policy_size));
  }
  RoleRecord r;
  r.name = req.role_name;
  r.path = req.path.value_or("/");
  r.created = impl_->clock_.Now();
  r.trust_policy = req.assume_role_policy_document;
  r.trust_policy_saved = r.created;
  r.description = req.description;
  r.max_session_duration = req.max_session_duration.value_or(kDefaultSessionDuration);
  r.tags = req.tags;
  RETURN_IF_ERROR(impl_->store_.Update([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(auto existing, tx.Get(kRolesTable, Lower(r.name)));
    if (existing) return errors::RoleExists(r.name);
    ASSIGN_OR_RETURN(auto unknown, impl_->UnknownPrincipal(tx, trust));
    if (unknown) return errors::InvalidPrincipal(*unknown);
    int limit = impl_->options_.max_roles;
    ASSIGN_OR_RETURN(auto roles, tx.Scan(kRolesTable, "", "", static_cast<size_t>(limit) + 1));
    if (roles.size() >= static_cast<size_t>(limit)) {
      return errors::QuotaExceeded("RolesPerAccount", limit);
    }
    r.id = impl_->NewId("AROA", kUniqueIdRandomChars);
    return tx.Put(kRolesTable, Lower(r.name), EncodeRoleRecord(r));
  }));
  impl_->Invalidate();  // a cached "no such role" for this name
  return impl_->ToRole(r);
}

Result<Role> IdentityService::GetRole(std::string_view role_name) {
  errors::Validation v;
  ValidateRoleName(v, role_name);
  RETURN_IF_ERROR(v.ToStatus());
  Role out;
  std::optional<RoleUseRecord> use;
  RETURN_IF_ERROR(impl_->store_.View([&](const ReadTransaction& tx) -> Status {
    ASSIGN_OR_RETURN(RoleRecord r, impl_->LoadRole(tx, role_name));
    ASSIGN_OR_RETURN(out, impl_->ShownRole(tx, r));
    ASSIGN_OR_RETURN(auto used, tx.Get(kRoleLastUsedTable, Lower(r.name)));
    if (used) {
      ASSIGN_OR_RETURN(use, DecodeRoleUseRecord(*used));
    }
    return Status::Ok();
  }));
  {
    std::lock_guard lock(impl_->uses_mu_);  // not written yet: newer
    if (auto it = impl_->role_uses_.find(out.arn); it != impl_->role_uses_.end()) {
      use = it->second;
    }
  }
  if (use && use->role_id == out.role_id) {  // this role's, not a deleted namesake's
    out.last_used = use->when;
    out.last_used_region = use->region;
  }
  return out;
}

Result<ListRolesResult> IdentityService::ListRoles(const std::optional<std::string>& path_prefix,
                                                   const Page& page) {
  errors::Validation v;
  ValidatePathPrefix(v, path_prefix);
  RETURN_IF_ERROR(v.ToStatus());
  ASSIGN_OR_RETURN(size_t size, PageSize(page));
  ListRolesResult out;
  RETURN_IF_ERROR(impl_->store_.View([&](const ReadTransaction& tx) -> Status {
    auto decode = [&](std::string_view value) -> Result<Role> {
      ASSIGN_OR_RETURN(RoleRecord r, DecodeRoleRecord(value));
      return impl_->ShownRole(tx, r);
    };
    return impl_->ListPage(tx, kRolesTable, path_prefix, page, size, decode, out.roles,
                           out.is_truncated, out.marker);
  }));
  return out;
}

Status IdentityService::UpdateAssumeRolePolicy(std::string_view role_name,
                                               std::string_view policy_document) {
  errors::Validation v;
  ValidateRoleName(v, role_name);
  ValidatePolicyDocument(v, "policyDocument", policy_document);
  RETURN_IF_ERROR(v.ToStatus());
  ASSIGN_OR_RETURN(policy::Policy trust,
                   CheckPolicy(policy_document, policy::PolicyKind::kTrustPolicy));
  if (PolicySize(policy_document) > impl_->options_.max_trust_policy_size) {
    return errors::QuotaExceeded("ACLSizePerRole",
                                 static_cast<long long>(impl_->options_.max_trust_policy_size));
  }
  RETURN_IF_ERROR(impl_->store_.Update([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(RoleRecord r, impl_->LoadRole(tx, role_name));
    ASSIGN_OR_RETURN(auto unknown, impl_->UnknownPrincipal(tx, trust));
    if (unknown) return errors::InvalidPrincipal(*unknown);
    r.trust_policy = std::string(policy_document);
    r.trust_policy_saved = impl_->clock_.Now();
    return tx.Put(kRolesTable, Lower(r.name), EncodeRoleRecord(r));
  }));
  impl_->Invalidate();
  return Status::Ok();
}

Result<Role> IdentityService::UpdateRole(std::string_view role_name,
                                         const std::optional<std::string>& description,
                                         std::optional<int> max_session_duration) {
  errors::Validation v;
  ValidateRoleName(v, role_name);
  ValidateDescription(v, description);
  ValidateMaxSessionDuration(v, max_session_duration);
  RETURN_IF_ERROR(v.ToStatus());
  Role out;
  RETURN_IF_ERROR(impl_->store_.Update([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(RoleRecord r, impl_->LoadRole(tx, role_name));
    if (description) r.description = description;
    if (max_session_duration) r.max_session_duration = *max_session_duration;
    RETURN_IF_ERROR(tx.Put(kRolesTable, Lower(r.name), EncodeRoleRecord(r)));
    ASSIGN_OR_RETURN(out, impl_->ShownRole(tx, r));
    return Status::Ok();
  }));
  impl_->Invalidate();
  return out;
}

Status IdentityService::DeleteRole(std::string_view role_name) {
  errors::Validation v;
  ValidateRoleName(v, role_name);
  RETURN_IF_ERROR(v.ToStatus());
  RETURN_IF_ERROR(impl_->store_.Update([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(RoleRecord role, impl_->LoadRole(tx, role_name));
    const std::string key = Lower(role.name);
    ASSIGN_OR_RETURN(auto policies, tx.Scan(kRolePoliciesTable, key + "/", "", 1));
    if (!policies.empty()) {
      return errors::DeleteConflict("Cannot delete entity, must delete policies first.");
    }
    ASSIGN_OR_RETURN(auto attached, tx.Scan(kRoleAttachedTable, key + "/", "", 1));
    if (!attached.empty()) {
      return errors::DeleteConflict("Cannot delete entity, must detach all policies first.");
    }
    RETURN_IF_ERROR(
        impl_->KeepDeleted(tx, impl_->RoleArn(role.path, role.name), role.id, role.created));
    RETURN_IF_ERROR(tx.Delete(kRoleLastUsedTable, key));
    return tx.Delete(kRolesTable, key);
  }));
  impl_->Invalidate();
  return Status::Ok();
}

// ---- inline policies ----------------------------------------------------------------------

Status IdentityService::PutUserPolicy(std::string_view user_name, std::string_view policy_name,
                                      std::string_view policy_document) {
  return impl_->PutPolicy(kUserKind, user_name, policy_name, policy_document);
}
Result<InlinePolicy> IdentityService::GetUserPolicy(std::string_view user_name,
                                                    std::string_view policy_name) {
  return impl_->GetPolicy(kUserKind, user_name, policy_name);
}
Result<ListPolicyNamesResult> IdentityService::ListUserPolicies(std::string_view user_name,
                                                                const Page& page) {
  return impl_->ListPolicies(kUserKind, user_name, page);
}
Status IdentityService::DeleteUserPolicy(std::string_view user_name, std::string_view policy_name) {
  return impl_->DeletePolicy(kUserKind, user_name, policy_name);
}

Status IdentityService::PutRolePolicy(std::string_view role_name, std::string_view policy_name,
                                      std::string_view policy_document) {
  return impl_->PutPolicy(kRoleKind, role_name, policy_name, policy_document);
}
Result<InlinePolicy> IdentityService::GetRolePolicy(std::string_view role_name,
                                                    std::string_view policy_name) {
  return impl_->GetPolicy(kRoleKind, role_name, policy_name);
}
Result<ListPolicyNamesResult> IdentityService::ListRolePolicies(std::string_view role_name,
                                                                const Page& page) {
  return impl_->ListPolicies(kRoleKind, role_name, page);
}
Status IdentityService::DeleteRolePolicy(std::string_view role_name, std::string_view policy_name) {
  return impl_->DeletePolicy(kRoleKind, role_name, policy_name);
}

// ---- tags of users and roles ------------------------------------------------------------------

Status IdentityService::TagUser(std::string_view user_name, const std::vector<Tag>& tags) {
  return impl_->SetTags(true, user_name, tags);
}
Status IdentityService::UntagUser(std::string_view user_name,
                                  const std::vector<std::string>& tag_keys) {
  return impl_->RemoveTags(true, user_name, tag_keys);
}
Result<ListTagsResult> IdentityService::ListUserTags(std::string_view user_name, const Page& page) {
  return impl_->TagsPage(true, user_name, page);
}
Status IdentityService::TagRole(std::string_view role_name, const std::vector<Tag>& tags) {
  return impl_->SetTags(false, role_name, tags);
}
Status IdentityService::UntagRole(std::string_view role_name,
                                  const std::vector<std::string>& tag_keys) {
  return impl_->RemoveTags(false, role_name, tag_keys);
}
Result<ListTagsResult> IdentityService::ListRoleTags(std::string_view role_name, const Page& page) {
  return impl_->TagsPage(false, role_name, page);
}

Result<std::vector<Tag>> IdentityService::PrincipalTagsOf(const Principal& principal) {
  std::vector<Tag> tags;
  if (principal.type != PrincipalType::kIamUser && principal.type != PrincipalType::kAssumedRole) {
    return tags;
  }
  const bool user = principal.type == PrincipalType::kIamUser;
  const std::string_view name = LastSegment(user ? principal.arn : principal.role_arn);
  const std::string_view expected_id =
      user ? std::string_view(principal.user_id)
           : std::string_view(principal.user_id).substr(0, principal.user_id.find(':'));
  RETURN_IF_ERROR(impl_->store_.View([&](const ReadTransaction& tx) -> Status {
    ASSIGN_OR_RETURN(auto found, impl_->FindTagged(tx, user, name));
    if (found && found->id == expected_id) tags = std::move(found->tags);
    return Status::Ok();
  }));
  return tags;
}

Result<std::vector<Tag>> IdentityService::ResourceTagsOf(std::string_view arn) {
  std::vector<Tag> tags;
  const std::string prefix = "arn:aws:iam::" + impl_->options_.account_id + ":";
  if (arn.starts_with(prefix + "policy/")) {
    RETURN_IF_ERROR(impl_->store_.View([&](const ReadTransaction& tx) -> Status {
      ASSIGN_OR_RETURN(auto found, impl_->FindPolicy(tx, arn));
      if (found) tags = std::move(found->tags);
      return Status::Ok();
    }));
    return tags;
  }
  const bool user = arn.starts_with(prefix + "user/");
  if (!user && !arn.starts_with(prefix + "role/")) return tags;
  const std::string_view name = LastSegment(arn);
  if (name.empty()) return tags;
  RETURN_IF_ERROR(impl_->store_.View([&](const ReadTransaction& tx) -> Status {
    ASSIGN_OR_RETURN(auto found, impl_->FindTagged(tx, user, name));
    if (found && found->arn == arn) tags = std::move(found->tags);  // the same path too
    return Status::Ok();
  }));
  return tags;
}

void CheckIamRequestMembers(std::string_view action, const IamRequestMembers& m,
                            ValidationErrors& v) {
  if (m.user_name) {
    if (action == "CreateUser") {
      ValidateNewUserName(v, *m.user_name);
    } else {
      ValidateUserName(v, *m.user_name);
    }
  }
  if (m.role_name) ValidateRoleName(v, *m.role_name);
  if (m.group_name) ValidateGroupName(v, *m.group_name);
  // UpdateGroup's, in the model's order.
  ValidatePath(v, m.new_path, "newPath");
  if (m.new_group_name) ValidateName(v, "newGroupName", *m.new_group_name, 128);
  // Managed policies' paths follow policyPathType; ListEntitiesForPolicy's
  // PathPrefix (of users, groups and roles) pathType.
  const bool policy_path = action == "CreatePolicy" || action == "ListPolicies" ||
                           action == "ListAttachedUserPolicies" ||
                           action == "ListAttachedRolePolicies" ||
                           action == "ListAttachedGroupPolicies";
  if (policy_path) {
    ValidatePolicyPath(v, "path", m.path);
    ValidatePolicyPath(v, "pathPrefix", m.path_prefix);
  } else {
    ValidatePath(v, m.path);
    ValidatePathPrefix(v, m.path_prefix);
  }
  if (m.assume_role_policy_document) {
    ValidatePolicyDocument(v, "assumeRolePolicyDocument", *m.assume_role_policy_document);
  }
  if (action == "CreatePolicy") {
    ValidatePolicyDescription(v, m.description);
  } else {
    ValidateDescription(v, m.description);
  }
  ValidateMaxSessionDuration(v, m.max_session_duration);
  if (m.policy_name) ValidatePolicyName(v, *m.policy_name);
  if (m.policy_document) ValidatePolicyDocument(v, "policyDocument", *m.policy_document);
  if (m.policy_arn) ValidatePolicyArn(v, *m.policy_arn);
  if (m.version_id) ValidateVersionId(v, *m.version_id);
  if (m.scope) v.Enum("scope", *m.scope, {"All", "AWS", "Local"});
  if (m.policy_usage_filter) {
    v.Enum("policyUsageFilter", *m.policy_usage_filter,
           {"PermissionsPolicy", "PermissionsBoundary"});
  }
  if (m.entity_filter) {
    v.Enum("entityFilter", *m.entity_filter,
           {"User", "Role", "Group", "LocalManagedPolicy", "AWSManagedPolicy"});
  }
  if (m.access_key_id) ValidateAccessKeyId(v, *m.access_key_id);
  if (m.status) ValidateStatus(v, *m.status);
  if (m.tags) ValidateTags(v, *m.tags);
  if (m.tag_keys) ValidateTagKeys(v, *m.tag_keys);
  ValidatePage(v, m.page);
}

Result<int> IdentityService::RunScheduledWork() {
  RETURN_IF_ERROR(FlushKeyUses());
  const TimePoint cutoff = impl_->clock_.Now() - impl_->options_.expired_session_retention;
  int removed = 0;
  RETURN_IF_ERROR(impl_->store_.Update([&](Transaction& tx) -> Status {
    removed = 0;
    ASSIGN_OR_RETURN(auto sessions, tx.Scan(kSessionsTable, "", "", 0));
    for (const auto& e : sessions) {
      ASSIGN_OR_RETURN(SessionRecord s, DecodeSessionRecord(e.value));
      if (s.expiration > cutoff) continue;
      RETURN_IF_ERROR(tx.Delete(kSessionsTable, e.key));
      ++removed;
    }
    return Status::Ok();
  }));
  if (removed > 0) impl_->Invalidate();
  return removed;
}

}  // namespace coffer::iam
