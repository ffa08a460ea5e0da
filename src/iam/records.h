#pragma once
// The persistent records of the IAM and STS engine and their encoding in the
// state store. Private to iam/.
//
// IAM names (users, roles, inline policies) are unique without regard to case,
// as in AWS; tables are keyed by the lower-case name and records keep the name
// as created.
//
// Tables (state store namespaces):
//   iam.account           "account"                 AccountRecord (JSON)
//   iam.users             <lower user>              UserRecord (JSON)
//   iam.roles             <lower role>              RoleRecord (JSON)
//   iam.groups            <lower group>             GroupRecord (JSON)
//   iam.group_members     <lower group>/<lower user>  "" (a group's users)
//   iam.user_groups       <lower user>/<lower group>  "" (index: a user's groups)
//   iam.access_keys       <AKIA…>                   AccessKeyRecord (JSON, secret sealed)
//   iam.owner_keys        <owner>/<AKIA…>           "" (index: a user's keys; owner
//                                                   ":root" for the account root)
//   iam.user_policies     <lower user>/<lower name> PolicyRecord (JSON)
//   iam.role_policies     <lower role>/<lower name> PolicyRecord (JSON)
//   iam.group_policies    <lower group>/<lower name> PolicyRecord (JSON)
//   iam.policies          <lower name>              ManagedPolicyRecord (JSON, with its
//                                                   versions)
//   iam.user_attached     <lower user>/<lower policy>  "" (managed policies attached)
//   iam.role_attached     <lower role>/<lower policy>  ""
//   iam.group_attached    <lower group>/<lower policy> ""
//   iam.policy_entities   <lower policy>/user/<lower user>, <lower policy>/role/<lower role>,
//                         <lower policy>/group/<lower group>
//                                                   "" (index: where a policy is attached)
//   iam.key_last_used     <AKIA…>                   KeyUseRecord (JSON)
//   iam.role_last_used    <lower role>              RoleUseRecord (JSON)
//   sts.sessions          <ASIA…>                   SessionRecord (JSON, secret sealed,
//                                                   only the token's SHA-256)
//
// Sealed secrets are bound to their place by the Vault context
// "iam/access-key/<AKIA…>" or "sts/session/<ASIA…>".
#include <optional>
#include <string>
#include <string_view>

#include "common/bytes.h"
#include "common/clock.h"
#include "common/status.h"
#include "iam/types.h"

namespace coffer::iam {

inline constexpr char kAccountTable[] = "iam.account";
inline constexpr char kAccountKey[] = "account";
inline constexpr char kUsersTable[] = "iam.users";
inline constexpr char kRolesTable[] = "iam.roles";
inline constexpr char kGroupsTable[] = "iam.groups";
inline constexpr char kGroupMembersTable[] = "iam.group_members";
inline constexpr char kUserGroupsTable[] = "iam.user_groups";
inline constexpr char kGroupPoliciesTable[] = "iam.group_policies";
inline constexpr char kGroupAttachedTable[] = "iam.group_attached";
inline constexpr char kAccessKeysTable[] = "iam.access_keys";
inline constexpr char kOwnerKeysTable[] = "iam.owner_keys";
inline constexpr char kUserPoliciesTable[] = "iam.user_policies";
inline constexpr char kRolePoliciesTable[] = "iam.role_policies";
inline constexpr char kSessionsTable[] = "sts.sessions";
inline constexpr char kKeyLastUsedTable[] = "iam.key_last_used";
inline constexpr char kRoleLastUsedTable[] = "iam.role_last_used";
inline constexpr char kPoliciesTable[] = "iam.policies";
inline constexpr char kUserAttachedTable[] = "iam.user_attached";
inline constexpr char kRoleAttachedTable[] = "iam.role_attached";
inline constexpr char kPolicyEntitiesTable[] = "iam.policy_entities";
// Users and roles that were deleted, by lower-case ARN and creation time
// (DeletedPrincipalKey): a policy saved while one existed names it, not a later
// user or role of the same ARN, and shows its unique id instead of the ARN.
inline constexpr char kDeletedPrincipalsTable[] = "iam.deleted_principals";

// The owner of the account root's access keys in iam.owner_keys (':' is not
// allowed in user names).
inline constexpr char kRootOwner[] = ":root";

struct AccountRecord {
  TimePoint created;
};

struct UserRecord {
  std::string name;
  std::string path;
  std::string id;  // AIDA…
  TimePoint created;
  std::vector<Tag> tags;  // absent in records written before tags were kept
};

struct RoleRecord {
  std::string name;
  std::string path;
  std::string id;  // AROA…
  TimePoint created;
  std::string trust_policy;  // verbatim
  // When the trust policy was last saved (CreateRole, UpdateAssumeRolePolicy);
  // unset in records written before it was kept.
  std::optional<TimePoint> trust_policy_saved;
  std::optional<std::string> description;
  int max_session_duration = 3600;
  std::vector<Tag> tags;  // absent in records written before tags were kept
};

struct GroupRecord {
  std::string name;
  std::string path;
  std::string id;  // AGPA…
  TimePoint created;
};

struct DeletedPrincipalRecord {
  std::string arn;
  std::string id;  // AIDA… or AROA…
  TimePoint created;
  TimePoint deleted;
};

struct AccessKeyRecord {
  std::string id;     // AKIA…
  std::string owner;  // the user's name as created, empty for the account root
  bool active = true;
  TimePoint created;
  Bytes sealed_secret;
};

struct PolicyRecord {
  std::string name;      // as put
  std::string document;  // verbatim
};

// The last authenticated use of a long-term access key.
struct KeyUseRecord {
  TimePoint when;
  std::string service;
  std::string region;
};

// The last request made with a session of a role (GetRole's RoleLastUsed).
struct RoleUseRecord {
  TimePoint when;
  std::string region;
  std::string role_id;  // AROA…: the role it was, not a later one of the same name
};

// A version of a managed policy.
struct PolicyVersionRecord {
  std::string id;        // "v1", "v2", …
  std::string document;  // verbatim
  TimePoint created;
};

// A customer managed policy and its versions (at most five).
struct ManagedPolicyRecord {
  std::string name;  // as created
  std::string path;
  std::string id;  // ANPA…
  TimePoint created;
  TimePoint updated;
  std::optional<std::string> description;
  std::vector<Tag> tags;
  std::string default_version;                // the id of one of `versions`
  int next_version = 2;                       // version ids are never used twice
  int attachments = 0;                        // users and roles it is attached to
  std::vector<PolicyVersionRecord> versions;  // oldest first
};

// A session: of a role (AssumeRole), or of an IAM user or the root (GetSessionToken:
// role_arn empty, and user_name and user_id the user's, or root true).
struct SessionRecord {
  std::string id;  // ASIA…
  std::string role_arn;
  std::string role_id;  // AROA…
  std::string session_name;
  std::string source_arn;  // who assumed the role
  // When the role was created (policy::Principal::created); unset in records
  // written before it was kept.
  std::optional<TimePoint> role_created;
  TimePoint created;
  TimePoint expiration;
  Bytes token_sha256;
  Bytes sealed_secret;
  // GetSessionToken's sessions.
  std::string user_name;
  std::string user_id;  // AIDA…: the session ends with the user it was issued to
  bool root = false;
};

std::string EncodeAccountRecord(const AccountRecord& r);
Result<AccountRecord> DecodeAccountRecord(std::string_view text);
std::string EncodeUserRecord(const UserRecord& r);
Result<UserRecord> DecodeUserRecord(std::string_view text);
std::string EncodeRoleRecord(const RoleRecord& r);
Result<RoleRecord> DecodeRoleRecord(std::string_view text);
std::string EncodeGroupRecord(const GroupRecord& r);
Result<GroupRecord> DecodeGroupRecord(std::string_view text);
std::string EncodeDeletedPrincipalRecord(const DeletedPrincipalRecord& r);
Result<DeletedPrincipalRecord> DecodeDeletedPrincipalRecord(std::string_view text);
// lower(arn) ‖ "/" ‖ creation time in epoch milliseconds, 20 digits: the
// generations of one ARN sort by creation.
std::string DeletedPrincipalKey(std::string_view arn, TimePoint created);
std::string EncodeAccessKeyRecord(const AccessKeyRecord& r);
Result<AccessKeyRecord> DecodeAccessKeyRecord(std::string_view text);
std::string EncodePolicyRecord(const PolicyRecord& r);
Result<PolicyRecord> DecodePolicyRecord(std::string_view text);
std::string EncodeKeyUseRecord(const KeyUseRecord& r);
Result<KeyUseRecord> DecodeKeyUseRecord(std::string_view text);
std::string EncodeRoleUseRecord(const RoleUseRecord& r);
Result<RoleUseRecord> DecodeRoleUseRecord(std::string_view text);
std::string EncodeManagedPolicyRecord(const ManagedPolicyRecord& r);
Result<ManagedPolicyRecord> DecodeManagedPolicyRecord(std::string_view text);
std::string EncodeSessionRecord(const SessionRecord& r);
Result<SessionRecord> DecodeSessionRecord(std::string_view text);

// ASCII lower case (IAM names are ASCII).
std::string Lower(std::string_view s);
std::string AccessKeySealContext(std::string_view access_key_id);
std::string SessionSealContext(std::string_view access_key_id);

}  // namespace coffer::iam
