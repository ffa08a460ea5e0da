#pragma once
// The typed requests and results of the IAM and STS engine, named and shaped as
// in AWS IAM's and STS's APIs (botocore's iam-service-2 and sts-service-2
// models). Optional members are std::optional; absent means "not given".
// Secret access keys and session tokens are SecretBytes.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.h"
#include "common/clock.h"
#include "crypto/secret_bytes.h"
#include "policy/evaluate.h"

namespace coffer::iam {

// ---- tags ----------------------------------------------------------------------

// A tag of a user or role. Keys compare case-insensitively (IAM's rule); a
// user or role has at most 50.
struct Tag {
  std::string key;
  std::string value;
  friend bool operator==(const Tag&, const Tag&) = default;
};

struct ListTagsResult {
  std::vector<Tag> tags;  // in the order they were first set
  bool is_truncated = false;
  std::optional<std::string> marker;
};

// ---- users -------------------------------------------------------------------

struct User {
  // Empty for the account root (GetUser with root credentials names no user).
  std::string path;       // "/" or "/division/"
  std::string user_name;  // as created (names compare case-insensitively)
  std::string user_id;    // AIDA…, or the account id for the root
  std::string arn;        // arn:aws:iam::ACCT:user/PATH/NAME, or arn:aws:iam::ACCT:root
  TimePoint create_date;
  std::vector<Tag> tags;  // CreateUser and GetUser show them; ListUsers does not
};

struct CreateUserRequest {
  std::string user_name;
  std::optional<std::string> path;  // default "/"
  std::vector<Tag> tags;
};

// Marker and MaxItems of IAM's list operations.
struct Page {
  std::optional<std::string> marker;
  std::optional<int> max_items;  // 1..1000, default 100
};

// The members of an IAM request that it has, as received: what
// CheckIamRequestMembers checks.
struct IamRequestMembers {
  std::optional<std::string> user_name, role_name, group_name, new_group_name, new_path, path,
      path_prefix, assume_role_policy_document, policy_name, policy_document, description,
      access_key_id, status, policy_arn, version_id, scope, policy_usage_filter, entity_filter;
  std::optional<int> max_session_duration;
  std::optional<std::vector<Tag>> tags;              // Tags.member.N.Key / .Value
  std::optional<std::vector<std::string>> tag_keys;  // TagKeys.member.N
  Page page;
};

struct ListUsersResult {
  std::vector<User> users;
  bool is_truncated = false;
  std::optional<std::string> marker;  // when truncated: pass it to get the next page
};

// ---- groups ------------------------------------------------------------------
// A group's users get its inline and attached policies as identity policies.
// Groups are no principals: no policy names one, and none signs a request.

struct Group {
  std::string path;        // "/" or "/division/"
  std::string group_name;  // as created (names compare case-insensitively)
  std::string group_id;    // AGPA…
  std::string arn;         // arn:aws:iam::ACCT:group/PATH/NAME
  TimePoint create_date;
};

struct CreateGroupRequest {
  std::string group_name;
  std::optional<std::string> path;  // default "/"
};

struct ListGroupsResult {
  std::vector<Group> groups;
  bool is_truncated = false;
  std::optional<std::string> marker;
};

// GetGroup: the group and a page of its users, in name order.
struct GetGroupResult {
  Group group;
  std::vector<User> users;
  bool is_truncated = false;
  std::optional<std::string> marker;
};

// ---- access keys ----------------------------------------------------------------

enum class AccessKeyStatus { kActive, kInactive };
std::string_view AccessKeyStatusName(AccessKeyStatus s);  // "Active" | "Inactive"

struct AccessKeyMetadata {
  std::string user_name;  // empty for the account root's keys
  std::string access_key_id;
  AccessKeyStatus status = AccessKeyStatus::kActive;
  TimePoint create_date;
};

// GetAccessKeyLastUsed: when an access key last signed a request that
// authenticated, for which service and in which region. ServiceName and Region
// are "N/A" and LastUsedDate absent for a key never used.
struct AccessKeyLastUsed {
  std::string user_name;  // the key's user; empty for the account root's keys
  std::optional<TimePoint> last_used_date;
  std::string service_name = "N/A";
  std::string region = "N/A";
};

// A new access key: the only time its secret is shown.
struct NewAccessKey {
  std::string user_name;  // empty for the account root's keys
  std::string access_key_id;
  AccessKeyStatus status = AccessKeyStatus::kActive;
  crypto::SecretBytes secret_access_key;  // 40 characters
  TimePoint create_date;
};

struct ListAccessKeysResult {
  std::vector<AccessKeyMetadata> access_key_metadata;
  bool is_truncated = false;
  std::optional<std::string> marker;
};

// ---- roles ----------------------------------------------------------------------

struct Role {
  std::string path;
  std::string role_name;
  std::string role_id;  // AROA…
  std::string arn;      // arn:aws:iam::ACCT:role/PATH/NAME
  TimePoint create_date;
  std::string assume_role_policy_document;  // the trust policy, verbatim
  std::optional<std::string> description;
  int max_session_duration = 3600;  // seconds
  std::vector<Tag> tags;            // CreateRole and GetRole show them; ListRoles does not
  // GetRole's RoleLastUsed: the last request made with a session of the role.
  std::optional<TimePoint> last_used;
  std::string last_used_region;
};

struct CreateRoleRequest {
  std::string role_name;
  std::string assume_role_policy_document;
  std::optional<std::string> path;
  std::optional<std::string> description;
  std::optional<int> max_session_duration;  // 3600..43200, default 3600
  std::vector<Tag> tags;
};

struct ListRolesResult {
  std::vector<Role> roles;
  bool is_truncated = false;
  std::optional<std::string> marker;
};

// ---- inline policies ---------------------------------------------------------------

// GetUserPolicy / GetRolePolicy: the entity's name as stored, the policy's name
// and its document verbatim.
struct InlinePolicy {
  std::string entity_name;
  std::string policy_name;
  std::string policy_document;
};

struct ListPolicyNamesResult {
  std::vector<std::string> policy_names;
  bool is_truncated = false;
  std::optional<std::string> marker;
};

// ---- managed policies ----------------------------------------------------------------

// A customer managed policy: its versions' documents are read with GetPolicyVersion.
struct ManagedPolicy {
  std::string policy_name;  // as created (names compare case-insensitively)
  std::string policy_id;    // ANPA…
  std::string arn;          // arn:aws:iam::ACCT:policy/PATH/NAME
  std::string path;
  std::string default_version_id;  // "v1", "v2", …
  int attachment_count = 0;        // users and roles it is attached to
  std::optional<std::string> description;
  TimePoint create_date;
  TimePoint update_date;  // when its newest version was created
  std::vector<Tag> tags;
};

struct CreatePolicyRequest {
  std::string policy_name;
  std::string policy_document;
  std::optional<std::string> path;  // default "/"
  std::optional<std::string> description;
  std::vector<Tag> tags;
};

struct PolicyVersion {
  std::string document;  // verbatim (GetPolicyVersion); empty in ListPolicyVersions
  std::string version_id;
  bool is_default_version = false;
  TimePoint create_date;
};

// ListPolicies. Scope "AWS" lists nothing: coffer has no AWS managed policies.
// PolicyUsageFilter "PermissionsBoundary" lists nothing either: coffer sets no
// permissions boundaries.
struct ListPoliciesRequest {
  std::optional<std::string> scope;  // All (default) | AWS | Local
  bool only_attached = false;
  std::optional<std::string> path_prefix;
  std::optional<std::string> policy_usage_filter;  // PermissionsPolicy | PermissionsBoundary
  Page page;
};

struct ListPoliciesResult {
  std::vector<ManagedPolicy> policies;
  bool is_truncated = false;
  std::optional<std::string> marker;
};

struct ListPolicyVersionsResult {
  std::vector<PolicyVersion> versions;  // newest first, without documents
  bool is_truncated = false;
  std::optional<std::string> marker;
};

// ListAttachedUserPolicies / ListAttachedRolePolicies / ListAttachedGroupPolicies.
struct AttachedPolicy {
  std::string policy_name;
  std::string policy_arn;
};

struct ListAttachedPoliciesResult {
  std::vector<AttachedPolicy> attached_policies;
  bool is_truncated = false;
  std::optional<std::string> marker;
};

// ListEntitiesForPolicy: the groups, users and roles a policy is attached to.
struct PolicyEntity {
  std::string name;
  std::string id;  // AGPA… / AIDA… / AROA…
};

struct ListEntitiesForPolicyRequest {
  std::string policy_arn;
  std::optional<std::string>
      entity_filter;  // User | Role | Group | LocalManagedPolicy | AWSManagedPolicy
  std::optional<std::string> path_prefix;
  std::optional<std::string> policy_usage_filter;
  Page page;
};

struct ListEntitiesForPolicyResult {
  std::vector<PolicyEntity> groups;
  std::vector<PolicyEntity> users;
  std::vector<PolicyEntity> roles;
  bool is_truncated = false;
  std::optional<std::string> marker;
};

// ---- STS -----------------------------------------------------------------------------

struct AssumeRoleRequest {
  std::string role_arn;
  std::string role_session_name;
  std::optional<int> duration_seconds;     // 900..43200, default 3600
  std::optional<std::string> external_id;  // checked here; policies see it as sts:ExternalId
};

struct AssumeRoleResult {
  std::string assumed_role_arn;  // arn:aws:sts::ACCT:assumed-role/ROLE/SESSION
  std::string assumed_role_id;   // AROA…:SESSION
  std::string access_key_id;     // ASIA…
  crypto::SecretBytes secret_access_key;
  crypto::SecretBytes session_token;
  TimePoint expiration;  // whole seconds
};

// GetSessionToken's result: temporary credentials of the caller itself.
struct SessionTokenResult {
  std::string access_key_id;  // ASIA…
  crypto::SecretBytes secret_access_key;
  crypto::SecretBytes session_token;
  TimePoint expiration;  // whole seconds
};

// GetCallerIdentity's result; needs nothing but the caller.
struct CallerIdentity {
  std::string user_id;
  std::string account;
  std::string arn;
};
CallerIdentity GetCallerIdentity(const policy::Principal& caller);

// ---- authentication ------------------------------------------------------------------

// What a temporary key's session token must be; only its SHA-256 is kept.
class SessionTokenDigest {
 public:
  explicit SessionTokenDigest(Bytes sha256) : sha256_(std::move(sha256)) {}
  // Whether `presented` is the token issued with the key (constant time).
  bool Matches(std::string_view presented) const;

 private:
  Bytes sha256_;
};

// An access key, as the request pipeline needs it to authenticate a request.
struct Credential {
  policy::Principal principal;
  crypto::SecretBytes secret_access_key;
  // Temporary (ASIA…) keys only: the request must carry the key's session token.
  std::optional<SessionTokenDigest> session_token;
  // Temporary keys only. A session past its expiration is still returned (the
  // pipeline answers ExpiredToken) until RunScheduledWork() removes it.
  std::optional<TimePoint> expiration;
  bool active = true;  // false: an Inactive long-term key
};

}  // namespace coffer::iam
