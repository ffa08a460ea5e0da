#pragma once
// IdentityService: the IAM and STS engine. IAM users with long-term access
// keys, groups of users, roles with trust policies, inline and managed identity
// policies of users, groups and roles, the account root's access keys, and STS sessions
// (AssumeRole), with AWS IAM's and STS's semantics, limits and error texts (errors.h).
//
// The engine does no authentication and no authorization: api/ authenticates
// every request with FindCredential(), gathers the caller's policies with
// IdentityPoliciesOf() and a role's trust policy with TrustPolicyOf(), decides
// with policy/, and only then calls an operation. Operations that act on "the
// caller" when a request names no user (GetUser, the access key operations)
// take the authenticated caller.
//
// State lives in the StateStore; secret access keys are sealed by the Vault
// and of a session token only the SHA-256 is kept. Time comes from the Clock:
// sessions expire at their Expiration, and RunScheduledWork() removes them once
// they have been expired for IamOptions::expired_session_retention.
//
// FindCredential() and IdentityPoliciesOf() run on every request: they answer
// from an in-memory cache that every change made through this object clears.
// (Changes made by another process sharing the store are not seen until then:
// run one IdentityService per store.)
//
// Thread safety: all methods may be called concurrently.
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/random.h"
#include "common/status.h"
#include "common/validation.h"
#include "iam/types.h"
#include "policy/evaluate.h"
#include "policy/policy.h"
#include "state/root_key.h"
#include "state/state_store.h"

namespace coffer::iam {

struct IamOptions {
  std::string account_id = "111122223333";
  std::string region = "us-east-1";
  // AWS IAM's default quotas and sizes.
  int max_users = 5000;                   // UsersPerAccount
  int max_roles = 1000;                   // RolesPerAccount
  int max_groups = 300;                   // GroupsPerAccount
  int max_groups_per_user = 10;           // GroupsPerUser
  int max_access_keys_per_user = 2;       // AccessKeysPerUser (also the root's)
  size_t max_user_policy_size = 2048;     // all inline policies of a user, whitespace excluded
  size_t max_role_policy_size = 10240;    // all inline policies of a role, whitespace excluded
  size_t max_group_policy_size = 5120;    // all inline policies of a group, whitespace excluded
  size_t max_trust_policy_size = 2048;    // ACLSizePerRole, whitespace excluded
  size_t max_managed_policy_size = 6144;  // PolicySize: a managed policy's version
  int max_managed_policies = 1500;        // PoliciesPerAccount (customer managed)
  int max_policy_versions = 5;            // versions of a managed policy
  int max_attached_policies = 10;         // PoliciesPerUser / PoliciesPerRole / PoliciesPerGroup
  // An expired session keeps answering ExpiredToken (so SDKs refresh) for this
  // long before RunScheduledWork() removes it; then its key is unknown.
  Duration expired_session_retention = std::chrono::hours(1);
  // Entries of the authentication cache before it is cleared.
  size_t max_cached_credentials = 10000;
};

// The constraints of iam-service-2 on the members an IAM request has (lengths,
// patterns, ranges, enums), as the ValidationError IAM gives for them: before
// it looks at the caller or at any policy, every broken member in one message.
// `action` says which user name type applies (CreateUser's is shorter). Added to
// `errors`, after what the request's decoding found (a required member missing,
// an integer that is not one): a member reported there is not checked again. The
// operations check their members again.
void CheckIamRequestMembers(std::string_view action, const IamRequestMembers& members,
                            ValidationErrors& errors);

// The constraints of sts-service-2 on an AssumeRole request (lengths,
// patterns, ranges), as the ValidationError STS gives for them: before it looks
// at the caller or at any policy. Added to `errors` as above; the second form
// is for a request that has every member. IdentityService::AssumeRole checks them too.
void CheckAssumeRoleRequest(const AssumeRoleRequest& request, ValidationErrors& errors);
Status CheckAssumeRoleRequest(const AssumeRoleRequest& request);
// GetSessionToken's DurationSeconds: 900 to 129600 seconds (sts-service-2).
void CheckGetSessionTokenDuration(std::optional<int> duration_seconds, ValidationErrors& errors);

class IdentityService {
 public:
  // Errors: kInvalidArgument for options that are not valid.
  static Result<std::unique_ptr<IdentityService>> Create(IamOptions options,
                                                         state::StateStore& store,
                                                         const state::Vault& vault, Clock& clock,
                                                         Random& random);
  ~IdentityService();

  const IamOptions& options() const;

  // On the first call for a store, creates the account and the account root's
  // access key and returns it: the only time its secret is shown. Later calls,
  // in this process or after a restart, return nullopt. `deliver`, when given,
  // is called with the new key before the account is committed (to write it
  // durably where the operator finds it); if it fails, nothing is created and
  // its error is returned.
  Result<std::optional<NewAccessKey>> InitializeAccount(
      const std::function<Status(const NewAccessKey&)>& deliver = nullptr);

  // ---- authentication and authorization (api/) --------------------------------

  // The access key `access_key_id`: kNotFound (no error name) when there is no
  // such key, or no longer such a session. Root keys give Principal::Root, user
  // keys Principal::IamUser, session keys Principal::AssumedRole.
  Result<Credential> FindCredential(std::string_view access_key_id);
  // The parsed inline policies of an IAM user, or of the role of a session, then
  // the default versions of the managed policies attached to it, then (for a
  // user) the inline and attached policies of each group it is in, in name order;
  // empty for the root, services, and entities that no longer exist (or were
  // deleted and created again: the principal's unique id must match).
  Result<std::shared_ptr<const std::vector<policy::Policy>>> IdentityPoliciesOf(
      const policy::Principal& principal);
  // The first AWS principal (in Principal or NotPrincipal) of `policy` that names
  // no user or role that exists now: a user, role or assumed-role ARN whose user or
  // role this account does not have (another account's: none exists here).
  // Accounts, "*" and services always exist. Nullopt when every one does. IAM and
  // KMS refuse to save a resource-based policy naming one.
  Result<std::optional<std::string>> UnknownPrincipal(const policy::Policy& policy);
  // The first of `arns` (grantee and retiring principals of a KMS grant) that is
  // not an ARN, or names no principal that exists, by UnknownPrincipal's rule (an
  // account's root always exists). Nullopt when every one does.
  Result<std::optional<std::string>> UnknownPrincipalArn(const std::vector<std::string>& arns);

  // The trust policy of the role `role_arn` names (the ARN must be the role's,
  // path included), with when it was saved: NoSuchEntity (kNotFound) when there
  // is none.
  Result<policy::SavedPolicy> TrustPolicyOf(std::string_view role_arn);
  // A resource-based policy saved at `saved` as AWS shows it: a user or role it
  // names that was deleted since (and perhaps created anew: the policy does not
  // name the new one) appears as the deleted one's unique id (AIDA…, AROA…), so
  // that saving the policy back does not grant the new one. Unchanged text when
  // no principal is stale, or when `saved` is unknown. GetRole and ListRoles show
  // trust policies so; KMS's GetKeyPolicy shows key policies so
  // (kms::KmsOptions::show_policy).
  Result<std::string> PolicyAsShown(const std::string& text, std::optional<TimePoint> saved);

  // ARNs for authorizing a request that names a user or role: that of the
  // existing entity (with its path), or with path "/" when there is none.
  Result<std::string> ArnOfUser(std::string_view user_name);
  Result<std::string> ArnOfRole(std::string_view role_name);
  Result<std::string> ArnOfGroup(std::string_view group_name);
  // The same ARN with the path and/or name UpdateGroup would give it.
  Result<std::string> ArnOfGroupAfter(std::string_view group_name,
                                      const std::optional<std::string>& new_path,
                                      const std::optional<std::string>& new_group_name);
  // The same for a request that names a managed policy: its ARN as given (a
  // policy is named by its ARN).
  Result<std::string> ArnOfPolicy(std::string_view policy_arn);
  // The user an access key request acts on: `user_name`'s ARN, or when absent
  // the caller's own (an IAM user's or the root's). Other callers must name a
  // user: ValidationError "Must specify userName when calling with non-User
  // credentials".
  Result<std::string> TargetUserArn(const policy::Principal& caller,
                                    const std::optional<std::string>& user_name);
  std::string UserArn(std::string_view path, std::string_view user_name) const;
  std::string RoleArn(std::string_view path, std::string_view role_name) const;
  std::string GroupArn(std::string_view path, std::string_view group_name) const;

  // ---- users ---------------------------------------------------------------------

  Result<User> CreateUser(const CreateUserRequest& request);
  // Without a name: the caller (an IAM user, or the root as AWS shows it).
  Result<User> GetUser(const policy::Principal& caller,
                       const std::optional<std::string>& user_name);
  Result<ListUsersResult> ListUsers(const std::optional<std::string>& path_prefix,
                                    const Page& page);
  // DeleteConflict while the user has access keys, inline or managed policies,
  // or is in a group.
  Status DeleteUser(std::string_view user_name);

  // ---- groups ----------------------------------------------------------------------

  // EntityAlreadyExists for a name taken; LimitExceeded beyond GroupsPerAccount.
  Result<Group> CreateGroup(const CreateGroupRequest& request);
  Result<GetGroupResult> GetGroup(std::string_view group_name, const Page& page);
  Result<ListGroupsResult> ListGroups(const std::optional<std::string>& path_prefix,
                                      const Page& page);
  // DeleteConflict while the group has users, inline or managed policies.
  Status DeleteGroup(std::string_view group_name);
  // UpdateGroup: a new name and/or path; the group keeps its id, users and
  // policies. EntityAlreadyExists when another group has the new name.
  Status UpdateGroup(std::string_view group_name, const std::optional<std::string>& new_path,
                     const std::optional<std::string>& new_group_name);
  // Adding a user that is in the group already changes nothing; LimitExceeded
  // beyond GroupsPerUser.
  Status AddUserToGroup(std::string_view group_name, std::string_view user_name);
  // NoSuchEntity (of the user) when the user is not in the group.
  Status RemoveUserFromGroup(std::string_view group_name, std::string_view user_name);
  Result<ListGroupsResult> ListGroupsForUser(std::string_view user_name, const Page& page);

  // ---- access keys (without a user name: the caller's, as TargetUserArn) ------------

  Result<NewAccessKey> CreateAccessKey(const policy::Principal& caller,
                                       const std::optional<std::string>& user_name);
  Result<ListAccessKeysResult> ListAccessKeys(const policy::Principal& caller,
                                              const std::optional<std::string>& user_name,
                                              const Page& page);
  // `status`: "Active" or "Inactive".
  Status UpdateAccessKey(const policy::Principal& caller,
                         const std::optional<std::string>& user_name,
                         std::string_view access_key_id, std::string_view status);
  Status DeleteAccessKey(const policy::Principal& caller,
                         const std::optional<std::string>& user_name,
                         std::string_view access_key_id);

  // ---- when access keys were last used ------------------------------------------------
  // Uses are noted in memory on every authenticated request (cheap: api/ calls it
  // on the request path) and written to the store by FlushKeyUses(), which
  // RunScheduledWork() calls, and which the server calls once more as it stops.
  // A crash loses the uses since the last flush: this is when a key was last
  // used, not an audit record (the audit trail has every call).

  // Notes that the long-term access key `access_key_id` (AKIA…; other ids are
  // ignored) signed a request for `service` in `region` that authenticated.
  void NoteKeyUse(std::string_view access_key_id, std::string_view service,
                  std::string_view region);
  // Notes that a session of a role (an AssumedRole principal; others are ignored)
  // made a request, in this service's region: GetRole's RoleLastUsed.
  void NoteRoleUse(const policy::Principal& session);
  // Writes the key and role uses noted so far.
  Status FlushKeyUses();
  // NoSuchEntity for a key that does not exist.
  Result<AccessKeyLastUsed> GetAccessKeyLastUsed(std::string_view access_key_id);
  // The ARN of the user (or the account root) whose access key `access_key_id`
  // is: what GetAccessKeyLastUsed is authorized on. For a key that does not
  // exist, the account's users as ListUsers names them (arn:…:user/).
  Result<std::string> ArnOfAccessKeyOwner(std::string_view access_key_id);

  // ---- roles -----------------------------------------------------------------------

  Result<Role> CreateRole(const CreateRoleRequest& request);
  Result<Role> GetRole(std::string_view role_name);
  Result<ListRolesResult> ListRoles(const std::optional<std::string>& path_prefix,
                                    const Page& page);
  Status UpdateAssumeRolePolicy(std::string_view role_name, std::string_view policy_document);
  // UpdateRole and UpdateRoleDescription: sets what is given, keeps the rest. A
  // shorter MaxSessionDuration leaves sessions already issued as they are.
  Result<Role> UpdateRole(std::string_view role_name, const std::optional<std::string>& description,
                          std::optional<int> max_session_duration);
  // DeleteConflict while the role has inline or managed policies. Its sessions stay valid
  // until they expire, with no policies.
  Status DeleteRole(std::string_view role_name);

  // ---- inline policies ---------------------------------------------------------------

  Status PutUserPolicy(std::string_view user_name, std::string_view policy_name,
                       std::string_view policy_document);
  Result<InlinePolicy> GetUserPolicy(std::string_view user_name, std::string_view policy_name);
  Result<ListPolicyNamesResult> ListUserPolicies(std::string_view user_name, const Page& page);
  Status DeleteUserPolicy(std::string_view user_name, std::string_view policy_name);

  Status PutRolePolicy(std::string_view role_name, std::string_view policy_name,
                       std::string_view policy_document);
  Result<InlinePolicy> GetRolePolicy(std::string_view role_name, std::string_view policy_name);
  Result<ListPolicyNamesResult> ListRolePolicies(std::string_view role_name, const Page& page);
  Status DeleteRolePolicy(std::string_view role_name, std::string_view policy_name);

  Status PutGroupPolicy(std::string_view group_name, std::string_view policy_name,
                        std::string_view policy_document);
  Result<InlinePolicy> GetGroupPolicy(std::string_view group_name, std::string_view policy_name);
  Result<ListPolicyNamesResult> ListGroupPolicies(std::string_view group_name, const Page& page);
  Status DeleteGroupPolicy(std::string_view group_name, std::string_view policy_name);

  // ---- customer managed policies ---------------------------------------------------
  // Policies are named by ARN, path included (arn:aws:iam::ACCT:policy/PATH/NAME);
  // any other ARN, an AWS managed policy's among them, names none: NoSuchEntity.
  // Names are unique in the account without regard to case or path. Attached to
  // a user or role (at most max_attached_policies), a policy's default version
  // is one of its identity policies. Version ids are never used twice.

  // EntityAlreadyExists for a name taken, LimitExceeded beyond the quotas.
  Result<ManagedPolicy> CreatePolicy(const CreatePolicyRequest& request);
  Result<ManagedPolicy> GetPolicy(std::string_view policy_arn);
  Result<ListPoliciesResult> ListPolicies(const ListPoliciesRequest& request);
  // DeleteConflict while attached, or while it has versions besides the default.
  Status DeletePolicy(std::string_view policy_arn);
  // LimitExceeded when the policy has max_policy_versions versions.
  Result<PolicyVersion> CreatePolicyVersion(std::string_view policy_arn,
                                            std::string_view policy_document, bool set_as_default);
  Result<PolicyVersion> GetPolicyVersion(std::string_view policy_arn, std::string_view version_id);
  Result<ListPolicyVersionsResult> ListPolicyVersions(std::string_view policy_arn,
                                                      const Page& page);
  // DeleteConflict for the default version.
  Status DeletePolicyVersion(std::string_view policy_arn, std::string_view version_id);
  Status SetDefaultPolicyVersion(std::string_view policy_arn, std::string_view version_id);
  // Attaching a policy that is attached already changes nothing.
  Status AttachUserPolicy(std::string_view user_name, std::string_view policy_arn);
  Status DetachUserPolicy(std::string_view user_name, std::string_view policy_arn);
  Status AttachRolePolicy(std::string_view role_name, std::string_view policy_arn);
  Status DetachRolePolicy(std::string_view role_name, std::string_view policy_arn);
  Status AttachGroupPolicy(std::string_view group_name, std::string_view policy_arn);
  Status DetachGroupPolicy(std::string_view group_name, std::string_view policy_arn);
  Result<ListAttachedPoliciesResult> ListAttachedUserPolicies(
      std::string_view user_name, const std::optional<std::string>& path_prefix, const Page& page);
  Result<ListAttachedPoliciesResult> ListAttachedRolePolicies(
      std::string_view role_name, const std::optional<std::string>& path_prefix, const Page& page);
  Result<ListAttachedPoliciesResult> ListAttachedGroupPolicies(
      std::string_view group_name, const std::optional<std::string>& path_prefix, const Page& page);
  Result<ListEntitiesForPolicyResult> ListEntitiesForPolicy(
      const ListEntitiesForPolicyRequest& request);
  std::string PolicyArn(std::string_view path, std::string_view policy_name) const;
  // Tags of a managed policy, as those of users and roles (TagsPerPolicy: 50).
  Status TagPolicy(std::string_view policy_arn, const std::vector<Tag>& tags);
  Status UntagPolicy(std::string_view policy_arn, const std::vector<std::string>& tag_keys);
  Result<ListTagsResult> ListPolicyTags(std::string_view policy_arn, const Page& page);

  // ---- tags (TagUser, UntagUser, ListUserTags and the same of roles) ------------------

  // Adds tags, or sets the value of a key the entity has (keys compare without
  // case): InvalidInput for keys given twice or starting with "aws:",
  // LimitExceeded beyond 50.
  Status TagUser(std::string_view user_name, const std::vector<Tag>& tags);
  Status UntagUser(std::string_view user_name, const std::vector<std::string>& tag_keys);
  Result<ListTagsResult> ListUserTags(std::string_view user_name, const Page& page);
  Status TagRole(std::string_view role_name, const std::vector<Tag>& tags);
  Status UntagRole(std::string_view role_name, const std::vector<std::string>& tag_keys);
  Result<ListTagsResult> ListRoleTags(std::string_view role_name, const Page& page);
  // What aws:PrincipalTag/<k> sees: an IAM user's tags, a session's role's; none
  // for the root, services, and entities that no longer exist (or were deleted
  // and created again: the principal's unique id must match).
  Result<std::vector<Tag>> PrincipalTagsOf(const policy::Principal& principal);
  // What aws:ResourceTag/<k> sees for a call on the user, role or managed policy
  // `arn` (its path included): its tags; none when it does not exist.
  Result<std::vector<Tag>> ResourceTagsOf(std::string_view arn);

  // ---- STS -----------------------------------------------------------------------------

  // Issues temporary credentials for the role. The caller must already be
  // authorized (trust policy); a root caller is refused ("Roles may not be
  // assumed by root accounts."), as is a role that does not exist (AccessDenied,
  // as AWS). DurationSeconds is capped by the role's MaxSessionDuration, and to
  // one hour when the caller is itself a role session (role chaining).
  Result<AssumeRoleResult> AssumeRole(const policy::Principal& caller,
                                      const AssumeRoleRequest& request);

  // GetSessionToken: temporary credentials that act as the caller, an IAM user or the
  // root, with its permissions. No policy governs it (IAM User Guide, "Permissions
  // for GetSessionToken"). DurationSeconds (checked by CheckGetSessionTokenDuration)
  // defaults to 12 hours for a user; the root's sessions last at most, and by
  // default, one hour. A caller with temporary credentials is refused (AccessDenied,
  // "Cannot call GetSessionToken with session credentials"). A user's session ends
  // with the user: deleting the user makes its key unknown.
  Result<SessionTokenResult> GetSessionToken(const policy::Principal& caller,
                                             std::optional<int> duration_seconds);

  // FlushKeyUses(), then removes sessions expired for longer than
  // expired_session_retention as of the clock's now; returns how many.
  Result<int> RunScheduledWork();

 private:
  class Impl;
  explicit IdentityService(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace coffer::iam
