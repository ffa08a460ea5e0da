#pragma once
// The IAM engine's internals, shared by its source files (identity_service.cc,
// identity_service_managed_policies.cc, identity_service_sts.cc) and by nothing
// else: request checks as IAM and STS make them, and IdentityService::Impl, which
// holds the engine's options, its store and its caches.
#include <algorithm>
#include <charconv>
#include <functional>
#include <mutex>
#include <set>
#include <unordered_map>

#include "common/list_marker.h"
#include "common/logging.h"
#include "crypto/hash.h"
#include "iam/errors.h"
#include "iam/identity_service.h"
#include "iam/records.h"

namespace coffer::iam {
namespace identity_internal {

using policy::Principal;
using policy::PrincipalType;
using state::ReadTransaction;
using state::Transaction;

// Patterns as botocore's iam-service-2 and sts-service-2 write them (they appear
// in ValidationError texts).
constexpr std::string_view kNamePattern = R"([\w+=,.@-]+)";
constexpr std::string_view kPathPattern = R"((\u002F)|(\u002F[\u0021-\u007E]+\u002F))";
constexpr std::string_view kPathPrefixPattern = R"(\u002F[\u0021-\u007F]*)";
constexpr std::string_view kMarkerPattern = R"([\u0020-\u00FF]+)";
constexpr std::string_view kPolicyDocumentPattern = R"([\u0009\u000A\u000D\u0020-\u00FF]+)";
constexpr std::string_view kDescriptionPattern =
    R"([\u0009\u000A\u000D\u0020-\u007E\u00A1-\u00FF]*)";
constexpr std::string_view kIdPattern = R"([\w]+)";
constexpr std::string_view kSessionNamePattern = R"([\w+=,.@-]*)";
constexpr std::string_view kExternalIdPattern = R"([\w+=,.@:\/-]*)";
constexpr std::string_view kArnPattern =
    R"([\u0009\u000A\u000D\u0020-\u007E\u0085\u00A0-\uD7FF\uE000-\uFFFD\u10000-\u10FFFF]+)";

constexpr int kDefaultMaxItems = 100;
constexpr int kDefaultSessionDuration = 3600;
constexpr int kMinSessionDuration = 900, kMaxSessionDuration = 43200;
constexpr int kMinRoleMaxSession = 3600;
constexpr int kRoleChainingLimit = 3600;
// GetSessionToken (sts-service-2): a user's session lasts 12 hours unless asked
// otherwise, at most 36; the root's one hour, at most.
constexpr int kUserSessionDefault = 43200, kUserSessionMax = 129600, kRootSessionMax = 3600;

// AWS access key ids and unique ids: a four-letter prefix and upper-case base32.
constexpr std::string_view kIdAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
constexpr size_t kAccessKeyIdRandomChars = 16;  // AKIA + 16 = 20 characters
constexpr size_t kUniqueIdRandomChars = 17;     // AIDA + 17 = 21 characters
constexpr size_t kSecretAccessKeyChars = 40;
constexpr size_t kSessionTokenChars = 256;

constexpr char kMustSpecifyUserName[] =
    "Must specify userName when calling with non-User credentials";

bool IsWordChar(char32_t c);
bool IsNameChar(char32_t c);

// Whether every code point of `s` satisfies `pred` (false for invalid UTF-8).
template <typename Pred>
inline bool AllCodePoints(std::string_view s, Pred pred) {
  std::optional<std::u32string> decoded = DecodeUtf8(s);
  return decoded && std::all_of(decoded->begin(), decoded->end(), pred);
}

inline bool NameMatches(std::string_view s) { return !s.empty() && AllCodePoints(s, IsNameChar); }
bool PathMatches(std::string_view s);
bool PathPrefixMatches(std::string_view s);
// IAM's tag patterns: [\p{L}\p{Z}\p{N}_.:/=+\-@]. ASCII exactly; beyond ASCII any
// code point but the C1 controls passes (letters, separators and digits of
// other scripts: an approximation without Unicode's tables).
bool IsTagChar(char32_t c);
constexpr char kTagKeyPattern[] = "[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]+";
constexpr char kTagValuePattern[] = "[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*";
constexpr size_t kMaxTags = 50;
bool TagKeyMatches(std::string_view key);

void ValidateTags(ValidationErrors& v, const std::vector<Tag>& tags);

void ValidateTagKeys(ValidationErrors& v, const std::vector<std::string>& keys);

// IAM's checks beyond the model's: keys unique without regard to case, none
// reserved for AWS.
Status CheckTagKeys(const std::vector<Tag>& tags);

// `tags` set on `current`: a key already there (whatever its case) takes the new
// key and value in place; others are added at the end. LimitExceeded beyond 50.
Status MergeTags(std::vector<Tag>& current, const std::vector<Tag>& tags, std::string_view quota);

bool MarkerMatches(std::string_view s);
bool PolicyDocumentMatches(std::string_view s);
bool ArnMatches(std::string_view s);
bool ExternalIdMatches(std::string_view s);
bool DescriptionMatches(std::string_view s);

void ValidateName(ValidationErrors& v, std::string_view field, std::string_view name, size_t max);
// userNameType (new users) is 1..64; existingUserNameType (every other
// operation) 1..128. Role names are 1..64 everywhere.
void ValidateNewUserName(ValidationErrors& v, std::string_view name);
void ValidateUserName(ValidationErrors& v, std::string_view name);
void ValidateRoleName(ValidationErrors& v, std::string_view name);
// groupNameType: 1..128 everywhere.
void ValidateGroupName(ValidationErrors& v, std::string_view name);
void ValidatePolicyName(ValidationErrors& v, std::string_view name);
void ValidatePath(ValidationErrors& v, const std::optional<std::string>& path,
                  std::string_view field = "path");
void ValidatePathPrefix(ValidationErrors& v, const std::optional<std::string>& prefix);
void ValidatePolicyDocument(ValidationErrors& v, std::string_view field, std::string_view doc);
// policyPathType: "/" or "/a/b/", each part of [A-Za-z0-9.,+@=_-].
constexpr std::string_view kPolicyPathPattern = R"(((/[A-Za-z0-9\.,\+@=_-]+)*)/)";
bool PolicyPathMatches(std::string_view s);
void ValidatePolicyPath(ValidationErrors& v, std::string_view field,
                        const std::optional<std::string>& path);
void ValidatePolicyArn(ValidationErrors& v, std::string_view arn);
// policyVersionIdType: v[1-9][0-9]*(\.[A-Za-z0-9-]*)?
constexpr std::string_view kVersionIdPattern = R"(v[1-9][0-9]*(\.[A-Za-z0-9-]*)?)";
bool VersionIdMatches(std::string_view s);
void ValidateVersionId(ValidationErrors& v, std::string_view id);
void ValidatePolicyDescription(ValidationErrors& v, const std::optional<std::string>& d);
void ValidateAccessKeyId(ValidationErrors& v, std::string_view id);

void ValidatePage(ValidationErrors& v, const Page& page);
void ValidateDescription(ValidationErrors& v, const std::optional<std::string>& description);
void ValidateMaxSessionDuration(ValidationErrors& v, const std::optional<int>& seconds);
void ValidateStatus(ValidationErrors& v, std::string_view status);

// The key to list after: "" without a marker; ValidationError "Invalid Marker."
// (AWS's) for a marker that the list of `scope` (an operation, and whose
// entries) did not give.
Result<std::string> MarkerPosition(const Page& page, std::string_view scope);

// The page size of a list request, after validating Marker and MaxItems.
Result<size_t> PageSize(const Page& page);

// IAM counts policy sizes in characters without white space (AWS IAM quotas:
// "IAM doesn't count white space when calculating the size of a policy").
size_t PolicySize(std::string_view doc);

// The parsed policy, or IAM's MalformedPolicyDocument. A document that is not
// JSON at all gets IAM's own fixed words (a trust policy's differ); any other
// fault, the policy parser's account of it.
Result<policy::Policy> CheckPolicy(std::string_view doc, policy::PolicyKind kind);

// The last '/'-separated part of an ARN: the name of a user or role.
inline std::string_view LastSegment(std::string_view arn) { return arn.substr(arn.rfind('/') + 1); }

// A user, role or group, where they are handled alike (inline and managed policies).
struct Entity {
  std::string name;
  std::string id;
  std::string path;
};

enum class EntityType { kUser, kRole, kGroup };

struct EntityKind {
  const char* table;
  const char* policies_table;
  const char* noun;  // "user" | "role" | "group": LimitExceeded texts, iam.policy_entities keys
  Status (*no_such_entity)(std::string_view);
  Status (*no_such_policy)(std::string_view);
  void (*validate_name)(ValidationErrors&, std::string_view);
  size_t IamOptions::*max_policy_size;
  EntityType type;
  const char* attached_table;  // managed policies attached
  const char* attach_quota;    // "PoliciesPerUser" | "PoliciesPerRole" | "PoliciesPerGroup"
};

inline constexpr EntityKind kUserKind{kUsersTable,
                                      kUserPoliciesTable,
                                      "user",
                                      errors::NoSuchUser,
                                      errors::NoSuchUserPolicy,
                                      ValidateUserName,
                                      &IamOptions::max_user_policy_size,
                                      EntityType::kUser,
                                      kUserAttachedTable,
                                      "PoliciesPerUser"};
inline constexpr EntityKind kRoleKind{kRolesTable,
                                      kRolePoliciesTable,
                                      "role",
                                      errors::NoSuchRole,
                                      errors::NoSuchRolePolicy,
                                      ValidateRoleName,
                                      &IamOptions::max_role_policy_size,
                                      EntityType::kRole,
                                      kRoleAttachedTable,
                                      "PoliciesPerRole"};
inline constexpr EntityKind kGroupKind{kGroupsTable,
                                       kGroupPoliciesTable,
                                       "group",
                                       errors::NoSuchGroup,
                                       errors::NoSuchGroupPolicy,
                                       ValidateGroupName,
                                       &IamOptions::max_group_policy_size,
                                       EntityType::kGroup,
                                       kGroupAttachedTable,
                                       "PoliciesPerGroup"};

// Whose access keys an access key operation acts on.
struct Owner {
  std::string key;   // lower-case user name, or kRootOwner
  std::string name;  // the user's name as created; empty for the root
};

}  // namespace identity_internal

using namespace identity_internal;  // NOLINT: this header is the engine's own

class IdentityService::Impl {
 public:
  Impl(IamOptions options, state::StateStore& store, const state::Vault& vault, Clock& clock,
       Random& random)
      : options_(std::move(options)),
        store_(store),
        vault_(vault),
        clock_(clock),
        random_(random),
        no_policies_(std::make_shared<const std::vector<policy::Policy>>()) {}

  // ---- names and ids ---------------------------------------------------------------

  std::string UserArn(std::string_view path, std::string_view name) const {
    return "arn:aws:iam::" + options_.account_id + ":user" + std::string(path) + std::string(name);
  }
  std::string RoleArn(std::string_view path, std::string_view name) const {
    return "arn:aws:iam::" + options_.account_id + ":role" + std::string(path) + std::string(name);
  }
  std::string GroupArn(std::string_view path, std::string_view name) const {
    return "arn:aws:iam::" + options_.account_id + ":group" + std::string(path) + std::string(name);
  }

  std::string NewId(std::string_view prefix, size_t random_chars) {
    return std::string(prefix) + random_.String(random_chars, kIdAlphabet);
  }

  // An access key id (AKIA…/ASIA…) not used by any key or session.
  Result<std::string> NewAccessKeyId(const ReadTransaction& tx, std::string_view prefix);

  // `n` characters of the base64 alphabet, drawn into a secret (64 divides 256:
  // no bias).
  crypto::SecretBytes NewSecretText(size_t n);
  // Issues the session `s` (the fields of its kind set) for `duration` seconds from
  // now, for `caller_arn`: its key id, times, secret and token, and stores it. The
  // secret and the token go to the caller only; the record keeps the secret sealed
  // and the token's SHA-256.
  Status IssueSession(Transaction& tx, SessionRecord& s, const std::string& caller_arn,
                      int duration, crypto::SecretBytes& secret, crypto::SecretBytes& token);

  // ---- records ---------------------------------------------------------------------

  Result<std::optional<UserRecord>> FindUser(const ReadTransaction& tx,
                                             std::string_view name) const {
    ASSIGN_OR_RETURN(auto stored, tx.Get(kUsersTable, Lower(name)));
    if (!stored) return std::optional<UserRecord>();
    ASSIGN_OR_RETURN(UserRecord r, DecodeUserRecord(*stored));
    return std::optional<UserRecord>(std::move(r));
  }
  Result<UserRecord> LoadUser(const ReadTransaction& tx, std::string_view name) const {
    ASSIGN_OR_RETURN(auto found, FindUser(tx, name));
    if (!found) return errors::NoSuchUser(name);
    return std::move(*found);
  }
  Result<std::optional<RoleRecord>> FindRole(const ReadTransaction& tx,
                                             std::string_view name) const {
    ASSIGN_OR_RETURN(auto stored, tx.Get(kRolesTable, Lower(name)));
    if (!stored) return std::optional<RoleRecord>();
    ASSIGN_OR_RETURN(RoleRecord r, DecodeRoleRecord(*stored));
    return std::optional<RoleRecord>(std::move(r));
  }
  Result<RoleRecord> LoadRole(const ReadTransaction& tx, std::string_view name) const {
    ASSIGN_OR_RETURN(auto found, FindRole(tx, name));
    if (!found) return errors::NoSuchRole(name);
    return std::move(*found);
  }
  Result<std::optional<GroupRecord>> FindGroup(const ReadTransaction& tx,
                                               std::string_view name) const {
    ASSIGN_OR_RETURN(auto stored, tx.Get(kGroupsTable, Lower(name)));
    if (!stored) return std::optional<GroupRecord>();
    ASSIGN_OR_RETURN(GroupRecord r, DecodeGroupRecord(*stored));
    return std::optional<GroupRecord>(std::move(r));
  }
  Result<GroupRecord> LoadGroup(const ReadTransaction& tx, std::string_view name) const {
    ASSIGN_OR_RETURN(auto found, FindGroup(tx, name));
    if (!found) return errors::NoSuchGroup(name);
    return std::move(*found);
  }
  // The role `role_arn` names, path included, or nullopt.
  Result<std::optional<RoleRecord>> FindRoleByArn(const ReadTransaction& tx,
                                                  std::string_view role_arn) const;
  // The unique id of the deleted user or role that `principal` (an IAM user or role
  // ARN of this account) named when a policy was saved at `saved`: nullopt when it
  // names the user or role of that ARN that exists now, or no deleted one.
  Result<std::optional<std::string>> DeletedPrincipalId(const ReadTransaction& tx,
                                                        std::string_view principal,
                                                        TimePoint saved) const;

  // IdentityService::PolicyAsShown, in a transaction.
  Result<std::string> PolicyAsShown(const ReadTransaction& tx, const std::string& text,
                                    std::optional<TimePoint> saved) const;

  // The role as GetRole and ListRoles show it: its trust policy as shown.
  Result<Role> ShownRole(const ReadTransaction& tx, const RoleRecord& r) const {
    Role role = ToRole(r);
    ASSIGN_OR_RETURN(role.assume_role_policy_document,
                     PolicyAsShown(tx, r.trust_policy, r.trust_policy_saved));
    return role;
  }

  // A user or role that goes: policies saved while it existed keep naming it.
  Status KeepDeleted(Transaction& tx, std::string arn, std::string id, TimePoint created) const {
    DeletedPrincipalRecord r{std::move(arn), std::move(id), created, clock_.Now()};
    return tx.Put(kDeletedPrincipalsTable, DeletedPrincipalKey(r.arn, r.created),
                  EncodeDeletedPrincipalRecord(r));
  }

  // Whether the AWS principal `p` of a policy exists: an account (a 12-digit id or
  // a root ARN), or a user, role or assumed-role ARN of a user or role this account
  // has now (another account's: none exists here).
  Result<bool> PrincipalExists(const ReadTransaction& tx, const std::string& p) const;

  // IdentityService::UnknownPrincipal, in a transaction.
  Result<std::optional<std::string>> UnknownPrincipal(const ReadTransaction& tx,
                                                      const policy::Policy& policy) const;

  Result<std::optional<Entity>> FindEntity(const ReadTransaction& tx, const EntityKind& kind,
                                           std::string_view name) const;
  Result<Entity> LoadEntity(const ReadTransaction& tx, const EntityKind& kind,
                            std::string_view name) const {
    ASSIGN_OR_RETURN(auto found, FindEntity(tx, kind, name));
    if (!found) return kind.no_such_entity(name);
    return std::move(*found);
  }

  User ToUser(const UserRecord& r) const {
    return User{r.path, r.name, r.id, UserArn(r.path, r.name), r.created, r.tags};
  }
  Group ToGroup(const GroupRecord& r) const {
    return Group{r.path, r.name, r.id, GroupArn(r.path, r.name), r.created};
  }
  Role ToRole(const RoleRecord& r) const {
    return Role{r.path,    r.name,         r.id,          RoleArn(r.path, r.name),
                r.created, r.trust_policy, r.description, r.max_session_duration,
                r.tags};
  }

  // ---- tags --------------------------------------------------------------------------

  // The unique id, ARN and tags of user (`user`) or role `name`; nullopt when
  // there is none.
  struct Tagged {
    std::string id;
    std::string arn;
    std::vector<iam::Tag> tags;
  };
  Result<std::optional<Tagged>> FindTagged(const ReadTransaction& tx, bool user,
                                           std::string_view name) const;

  static void ValidateEntityName(ValidationErrors& v, bool user, std::string_view name);

  // Edits the tags of user (`user`) or role `name` in one transaction.
  Status EditTags(bool user, std::string_view name,
                  const std::function<Status(std::vector<Tag>&)>& edit);

  Status SetTags(bool user, std::string_view name, const std::vector<iam::Tag>& tags);

  Status RemoveTags(bool user, std::string_view name, const std::vector<std::string>& keys);

  Result<ListTagsResult> TagsPage(bool user, std::string_view name, const Page& page);

  // One page of `all`; the marker is the position after the last tag shown, as a
  // number.
  static Result<ListTagsResult> PageOfTags(const std::vector<iam::Tag>& all, const Page& page,
                                           size_t size, std::string_view scope);
  static AccessKeyMetadata ToMetadata(const AccessKeyRecord& r) {
    return AccessKeyMetadata{
        r.owner, r.id, r.active ? AccessKeyStatus::kActive : AccessKeyStatus::kInactive, r.created};
  }

  // The caller's own user name: nullopt for the root; a ValidationError for
  // callers that are not IAM users (AWS's text).
  static Result<std::optional<std::string>> CallerUserName(const Principal& caller);

  Result<Owner> ResolveOwner(const ReadTransaction& tx, const Principal& caller,
                             const std::optional<std::string>& user_name) const;

  static std::string OwnerIndexKey(std::string_view owner_key, std::string_view access_key_id) {
    return std::string(owner_key) + "/" + std::string(access_key_id);
  }

  // The access key `id` of `owner`, or NoSuchEntity (also for another's key).
  static Result<AccessKeyRecord> LoadOwnedKey(const ReadTransaction& tx, const Owner& owner,
                                              std::string_view id);

  // Creates an access key for `owner`, within the AccessKeysPerUser quota.
  Result<NewAccessKey> AddAccessKey(Transaction& tx, const Owner& owner);

  // The names (lower case) and records of an entity's inline policies, in order.
  static Result<std::vector<std::pair<std::string, PolicyRecord>>> EntityPolicies(
      const ReadTransaction& tx, const EntityKind& kind, std::string_view entity_key,
      std::string_view start_after, size_t limit);

  // The parsed inline policies of an entity, then its attached ones (as
  // IdentityPoliciesOf gives them), appended to `out`.
  Status AppendEntityPolicies(const ReadTransaction& tx, const EntityKind& kind,
                              const Entity& entity, std::vector<policy::Policy>& out) const;

  // ---- inline policies (users, roles and groups alike) -------------------------------

  static Status ValidatePolicyRequest(const EntityKind& kind, std::string_view entity_name,
                                      std::string_view policy_name,
                                      std::optional<std::string_view> document);

  Status PutPolicy(const EntityKind& kind, std::string_view entity_name,
                   std::string_view policy_name, std::string_view document);

  Result<InlinePolicy> GetPolicy(const EntityKind& kind, std::string_view entity_name,
                                 std::string_view policy_name);

  Result<ListPolicyNamesResult> ListPolicies(const EntityKind& kind, std::string_view entity_name,
                                             const Page& page);

  Status DeletePolicy(const EntityKind& kind, std::string_view entity_name,
                      std::string_view policy_name);

  // ---- lists -----------------------------------------------------------------------

  // One page of the users, roles or managed policies table after `marker`,
  // keeping those whose path starts with `path_prefix` and, when given, that
  // `keep` accepts; `decode` turns a value into T and its path.
  template <typename T, typename Decode>
  Status ListPage(const ReadTransaction& tx, const char* table,
                  const std::optional<std::string>& path_prefix, const Page& page, size_t size,
                  Decode decode, std::vector<T>& items, bool& truncated,
                  std::optional<std::string>& next_marker,
                  const std::function<bool(const T&)>& keep = {}) const {
    ASSIGN_OR_RETURN(std::string after, MarkerPosition(page, table));
    std::vector<std::string> keys;
    for (;;) {
      ASSIGN_OR_RETURN(auto entries, tx.Scan(table, "", after, 256));
      if (entries.empty()) break;
      for (const auto& e : entries) {
        after = e.key;
        ASSIGN_OR_RETURN(auto decoded, decode(e.value));
        if (path_prefix && !decoded.path.starts_with(*path_prefix)) continue;
        if (keep && !keep(decoded)) continue;
        if (items.size() == size) {
          truncated = true;
          next_marker = EncodeListMarker(table, keys.back());
          return Status::Ok();
        }
        items.push_back(std::move(decoded));
        keys.push_back(e.key);
      }
    }
    truncated = false;
    return Status::Ok();
  }

  // ---- managed policies --------------------------------------------------------------

  std::string PolicyArn(std::string_view path, std::string_view name) const {
    return "arn:aws:iam::" + options_.account_id + ":policy" + std::string(path) +
           std::string(name);
  }

  // The customer managed policy `arn` names, path included; nullopt for any
  // other (AWS managed policies and other accounts' included: coffer has none).
  Result<std::optional<ManagedPolicyRecord>> FindPolicy(const ReadTransaction& tx,
                                                        std::string_view arn) const;
  // `attaching`: the texts of AttachUserPolicy and AttachRolePolicy.
  Result<ManagedPolicyRecord> LoadPolicy(const ReadTransaction& tx, std::string_view arn,
                                         bool attaching = false) const {
    if (!IsPolicyArn(arn)) return errors::InvalidArn(arn);
    ASSIGN_OR_RETURN(auto found, FindPolicy(tx, arn));
    if (!found) return attaching ? errors::PolicyNotAttachable(arn) : errors::NoSuchPolicy(arn);
    return std::move(*found);
  }
  // arn:aws:iam::<12 digits or "aws">:policy/<path and name>.
  static bool IsPolicyArn(std::string_view arn);
  static Status StorePolicy(Transaction& tx, const ManagedPolicyRecord& r) {
    return tx.Put(kPoliciesTable, Lower(r.name), EncodeManagedPolicyRecord(r));
  }

  ManagedPolicy ToManagedPolicy(const ManagedPolicyRecord& r) const;

  static const PolicyVersionRecord* FindVersion(const ManagedPolicyRecord& r,
                                                std::string_view version_id) {
    for (const PolicyVersionRecord& v : r.versions) {
      if (v.id == version_id) return &v;
    }
    return nullptr;
  }

  // A managed policy's document: IAM's checks, and at most 6,144 characters
  // without white space.
  Status CheckManagedDocument(std::string_view document) const;

  // The parsed default versions of the managed policies attached to an entity.
  Result<std::vector<policy::Policy>> AttachedPolicies(const ReadTransaction& tx,
                                                       const EntityKind& kind,
                                                       std::string_view entity_key) const;

  static std::string EntityIndexKey(const EntityKind& kind, std::string_view policy_key,
                                    std::string_view entity_key) {
    return std::string(policy_key) + "/" + kind.noun + "/" + std::string(entity_key);
  }

  // Attaches (`attach`) or detaches a managed policy of a user, role or group.
  Status SetAttached(const EntityKind& kind, std::string_view entity_name,
                     std::string_view policy_arn, bool attach);

  Result<ListAttachedPoliciesResult> ListAttached(const EntityKind& kind,
                                                  std::string_view entity_name,
                                                  const std::optional<std::string>& path_prefix,
                                                  const Page& page);

  // ---- caches ------------------------------------------------------------------------

  // Everything that may change a credential or an identity's policies calls
  // this after committing. A lookup that read the store before the change does
  // not store its (stale) answer: it checks the generation it started with.
  void Invalidate() {
    std::lock_guard lock(cache_mu_);
    ++generation_;
    credentials_.clear();
    policies_.clear();
  }

  uint64_t Generation() {
    std::lock_guard lock(cache_mu_);
    return generation_;
  }

  struct CachedPolicies {
    std::string id;  // the entity's unique id; empty when it does not exist
    std::shared_ptr<const std::vector<policy::Policy>> policies;
  };

  IamOptions options_;
  state::StateStore& store_;
  const state::Vault& vault_;
  Clock& clock_;
  Random& random_;
  const std::shared_ptr<const std::vector<policy::Policy>> no_policies_;

  std::mutex cache_mu_;
  uint64_t generation_ = 0;
  std::unordered_map<std::string, std::shared_ptr<const Credential>> credentials_;
  std::unordered_map<std::string, CachedPolicies> policies_;  // "u:<lower>" / "r:<lower>"

  // Key uses noted since the last FlushKeyUses(), by access key id (looked up by
  // string_view: no allocation on the request path).
  struct IdHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using KeyUses = std::unordered_map<std::string, KeyUseRecord, IdHash, std::equal_to<>>;
  using RoleUses = std::unordered_map<std::string, RoleUseRecord, IdHash, std::equal_to<>>;
  std::mutex uses_mu_;
  KeyUses uses_;
  RoleUses role_uses_;  // by role ARN
};

}  // namespace coffer::iam
