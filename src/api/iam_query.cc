#include "api/iam_query.h"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <utility>

#include "api/query_dispatch.h"
#include "common/clock.h"
#include "crypto/secret_bytes.h"
#include "iam/identity_service.h"

namespace coffer::api {
namespace {

using iam::IdentityService;
using policy::Principal;
using OrderedJson = nlohmann::ordered_json;

// What every operation's Prepare function gets.
using Request = QueryRequest;

Authorization Decision(std::string_view operation, std::string resource) {
  return Authorization{
      PolicyScope::kIdentity, "iam:" + std::string(operation), std::move(resource), {}};
}

// A Call for `operation` needing one decision on `resource`, whose closure runs
// `run` (which returns the XML reply); its record names `resources` and has no
// responseElements (AWS records null but for the operations that create something).
// ListUsers and ListRoles name no resource.
Call MakeCall(std::string_view operation, std::string resource,
              std::vector<AuditResource> resources, std::function<Result<std::string>()> run) {
  Call call;
  call.operation = std::string(operation);
  call.authorizations.push_back(Decision(operation, std::move(resource)));
  call.resources = std::move(resources);
  call.run = [run = std::move(run)]() -> Result<api::Reply> {
    ASSIGN_OR_RETURN(std::string body, run());
    return api::Reply{std::move(body)};
  };
  return call;
}

// The same for a call whose record has responseElements: `run` returns the Reply.
Call MakeCallWithReply(std::string_view operation, std::string resource,
                       std::vector<AuditResource> resources,
                       std::function<Result<api::Reply>()> run) {
  Call call;
  call.operation = std::string(operation);
  call.authorizations.push_back(Decision(operation, std::move(resource)));
  call.resources = std::move(resources);
  call.run = std::move(run);
  return call;
}

// The record's resources: an IAM user or role by its ARN. The root is no IAM user
// (GetUser and the access-key operations without UserName, called by the root).
std::vector<AuditResource> UserResource(const std::string& arn) {
  if (arn.ends_with(":root")) return {};
  return {AuditResource::Of(arn, "AWS::IAM::User")};
}
std::vector<AuditResource> RoleResource(const std::string& arn) {
  return {AuditResource::Of(arn, "AWS::IAM::Role")};
}
std::vector<AuditResource> GroupResource(const std::string& arn) {
  return {AuditResource::Of(arn, "AWS::IAM::Group")};
}
std::vector<AuditResource> PolicyResource(const std::string& arn) {
  return {AuditResource::Of(arn, "AWS::IAM::Policy")};
}

std::string DumpJson(const OrderedJson& j) {
  return j.dump(-1, ' ', false, OrderedJson::error_handler_t::replace);
}

// Refuses parameters coffer does not implement where ignoring them would change
// what a caller may do or what it is told (AWS's models allow them).
Status RefuseUnsupported(const QueryParams& params, std::string_view operation,
                         std::initializer_list<std::string_view> names) {
  for (const auto& [key, value] : params.entries()) {
    for (std::string_view name : names) {
      if (key == name ||
          (key.starts_with(name) && key.size() > name.size() && key[name.size()] == '.')) {
        return Status(StatusCode::kInvalidArgument, "ValidationError",
                      "coffer does not support the parameter " + std::string(name) + " of " +
                          std::string(operation) + ".");
      }
    }
  }
  return Status::Ok();
}

iam::Page ReadPage(QueryReader& r) {
  return iam::Page{r.Optional("Marker"), r.OptionalInt("MaxItems")};
}

// Tags.member.N.Key / .Value; nullopt when absent. A missing Key or Value is noted.
Result<std::optional<std::vector<iam::Tag>>> ReadTags(const QueryParams& params, QueryReader& r) {
  ASSIGN_OR_RETURN(auto structs, MemberStructs(params, "Tags"));
  if (!structs) return std::optional<std::vector<iam::Tag>>();
  std::vector<iam::Tag> tags;
  for (size_t i = 0; i < structs->size(); ++i) {
    const auto& fields = (*structs)[i];
    const std::string field = "tags." + std::to_string(i + 1) + ".member.";
    auto key = fields.find("Key");
    auto value = fields.find("Value");
    if (key == fields.end()) r.errors().AddNull(field + "key");
    if (value == fields.end()) r.errors().AddNull(field + "value");
    tags.push_back(
        {key == fields.end() ? "" : key->second, value == fields.end() ? "" : value->second});
  }
  return std::optional<std::vector<iam::Tag>>(std::move(tags));
}

// The condition keys of a request that sets tags: aws:RequestTag/<k>, aws:TagKeys.
void AddRequestTags(Authorization& a, const std::vector<iam::Tag>& tags) {
  std::vector<std::string> keys;
  for (const iam::Tag& t : tags) {
    a.condition_keys["aws:RequestTag/" + t.key] = {t.value};
    keys.push_back(t.key);
  }
  a.condition_keys["aws:TagKeys"] = std::move(keys);
}

// <element> with a <member> per item, its contents written by `write`.
template <typename T, typename Write>
void WriteMembers(XmlWriter& w, std::string_view element, const std::vector<T>& items,
                  Write write) {
  w.Open(element);
  for (const T& item : items) {
    w.Open("member");
    write(item);
    w.Close();
  }
  w.Close();
}

void WriteTags(XmlWriter& w, const std::vector<iam::Tag>& tags) {
  WriteMembers(w, "Tags", tags,
               [&](const iam::Tag& t) { w.Element("Key", t.key).Element("Value", t.value); });
}

// ---- reply bodies ---------------------------------------------------------------------

std::string Date(TimePoint t) { return FormatIso8601(t); }

void WriteUserFields(XmlWriter& w, const iam::User& u) {
  // The root has no path and no name (GetUser with root credentials).
  if (!u.path.empty()) w.Element("Path", u.path);
  if (!u.user_name.empty()) w.Element("UserName", u.user_name);
  w.Element("UserId", u.user_id).Element("Arn", u.arn).Element("CreateDate", Date(u.create_date));
}

void WriteGroupFields(XmlWriter& w, const iam::Group& g) {
  w.Element("Path", g.path)
      .Element("GroupName", g.group_name)
      .Element("GroupId", g.group_id)
      .Element("Arn", g.arn)
      .Element("CreateDate", Date(g.create_date));
}

enum class RoleView { kCreated, kGet, kList };

void WriteRoleFields(XmlWriter& w, const iam::Role& r, RoleView view) {
  w.Element("Path", r.path)
      .Element("RoleName", r.role_name)
      .Element("RoleId", r.role_id)
      .Element("Arn", r.arn)
      .Element("CreateDate", Date(r.create_date))
      .Element("AssumeRolePolicyDocument", UrlEncode(r.assume_role_policy_document));
  if (r.description) w.Element("Description", *r.description);
  // CreateRole's reply shows no MaxSessionDuration; GetRole's also RoleLastUsed
  // (empty for a role no session has used).
  if (view != RoleView::kCreated) {
    w.Element("MaxSessionDuration", std::to_string(r.max_session_duration));
  }
  // ListRoles shows no tags (ListRoleTags does).
  if (view != RoleView::kList && !r.tags.empty()) WriteTags(w, r.tags);
  if (view == RoleView::kGet) {
    if (r.last_used) {
      w.Open("RoleLastUsed")
          .Element("LastUsedDate", Date(*r.last_used))
          .Element("Region", r.last_used_region)
          .Close();
    } else {
      w.Empty("RoleLastUsed");
    }
  }
}

void WriteListEnd(XmlWriter& w, bool is_truncated, const std::optional<std::string>& marker) {
  w.Element("IsTruncated", is_truncated ? "true" : "false");
  if (is_truncated && marker) w.Element("Marker", *marker);
}

// A reply with no result element (operations with no output).
std::string EmptyReply(std::string_view operation, const std::string& request_id) {
  return QueryReply(operation, kIamXmlNamespace, request_id);
}

std::string Reply(std::string_view operation, const std::string& request_id,
                  const std::function<void(XmlWriter&)>& result) {
  return QueryReply(operation, kIamXmlNamespace, request_id, result);
}

// ---- responseElements ------------------------------------------------------------------
// As CloudTrail records IAM's create operations: the reply's result in lowerCamelCase,
// dates in CloudTrail's text, policy documents URL-encoded as in the reply (a recorded
// CreateServiceLinkedRole: {"role": {path, roleName, roleId, arn, createDate,
// assumeRolePolicyDocument}}); CreateAccessKey's without the secret access key.

std::string UserElements(const iam::User& u) {
  OrderedJson user;
  user["path"] = u.path;
  user["userName"] = u.user_name;
  user["userId"] = u.user_id;
  user["arn"] = u.arn;
  user["createDate"] = audit::FormatResponseElementsDate(u.create_date);
  OrderedJson j;
  j["user"] = std::move(user);
  return DumpJson(j);
}

std::string GroupElements(const iam::Group& g) {
  OrderedJson group;
  group["path"] = g.path;
  group["groupName"] = g.group_name;
  group["groupId"] = g.group_id;
  group["arn"] = g.arn;
  group["createDate"] = audit::FormatResponseElementsDate(g.create_date);
  OrderedJson j;
  j["group"] = std::move(group);
  return DumpJson(j);
}

std::string AccessKeyElements(const iam::NewAccessKey& k) {
  OrderedJson key;
  if (!k.user_name.empty()) key["userName"] = k.user_name;
  key["accessKeyId"] = k.access_key_id;
  key["status"] = std::string(iam::AccessKeyStatusName(k.status));
  key["createDate"] = audit::FormatResponseElementsDate(k.create_date);
  OrderedJson j;
  j["accessKey"] = std::move(key);
  return DumpJson(j);
}

std::string RoleElements(const iam::Role& r) {
  OrderedJson role;
  role["path"] = r.path;
  role["roleName"] = r.role_name;
  role["roleId"] = r.role_id;
  role["arn"] = r.arn;
  role["createDate"] = audit::FormatResponseElementsDate(r.create_date);
  role["assumeRolePolicyDocument"] = UrlEncode(r.assume_role_policy_document);
  if (r.description) role["description"] = *r.description;
  OrderedJson j;
  j["role"] = std::move(role);
  return DumpJson(j);
}

enum class PolicyView { kCreated, kGet, kList };

// Policy as IAM shows it: CreatePolicy without the description, and tags only
// when it has some; GetPolicy with both (Tags even empty); ListPolicies neither.
void WritePolicyFields(XmlWriter& w, const iam::ManagedPolicy& p, PolicyView view) {
  w.Element("PolicyName", p.policy_name)
      .Element("PolicyId", p.policy_id)
      .Element("Arn", p.arn)
      .Element("Path", p.path)
      .Element("DefaultVersionId", p.default_version_id)
      .Element("AttachmentCount", std::to_string(p.attachment_count))
      .Element("PermissionsBoundaryUsageCount", "0")
      .Element("IsAttachable", "true");
  if (view == PolicyView::kGet && p.description) w.Element("Description", *p.description);
  w.Element("CreateDate", Date(p.create_date)).Element("UpdateDate", Date(p.update_date));
  if (view == PolicyView::kGet || (view == PolicyView::kCreated && !p.tags.empty())) {
    WriteTags(w, p.tags);
  }
}

std::string PolicyElements(const iam::ManagedPolicy& p) {
  OrderedJson policy;
  policy["policyName"] = p.policy_name;
  policy["policyId"] = p.policy_id;
  policy["arn"] = p.arn;
  policy["path"] = p.path;
  policy["defaultVersionId"] = p.default_version_id;
  policy["attachmentCount"] = p.attachment_count;
  policy["permissionsBoundaryUsageCount"] = 0;
  policy["isAttachable"] = true;
  policy["createDate"] = audit::FormatResponseElementsDate(p.create_date);
  policy["updateDate"] = audit::FormatResponseElementsDate(p.update_date);
  OrderedJson j;
  j["policy"] = std::move(policy);
  return DumpJson(j);
}

std::string PolicyVersionElements(const iam::PolicyVersion& v) {
  OrderedJson version;
  version["versionId"] = v.version_id;
  version["isDefaultVersion"] = v.is_default_version;
  version["createDate"] = audit::FormatResponseElementsDate(v.create_date);
  OrderedJson j;
  j["policyVersion"] = std::move(version);
  return DumpJson(j);
}

// PolicyVersion: the document only where GetPolicyVersion shows it.
void WritePolicyVersion(XmlWriter& w, const iam::PolicyVersion& v, bool document) {
  if (document) w.Element("Document", UrlEncode(v.document));
  w.Element("VersionId", v.version_id)
      .Element("IsDefaultVersion", v.is_default_version ? "true" : "false")
      .Element("CreateDate", Date(v.create_date));
}

// ---- users ---------------------------------------------------------------------------------

// A create with tags needs the tagging action too (IAM: "you must have
// permission for both the create and the tag action").
void AuthorizeCreateTags(Call& call, std::string_view tag_action,
                         const std::vector<iam::Tag>& tags) {
  if (tags.empty()) return;
  AddRequestTags(call.authorizations[0], tags);
  Authorization tag = call.authorizations[0];
  tag.action = "iam:" + std::string(tag_action);
  call.authorizations.push_back(std::move(tag));
}

Result<Call> CreateUser(const Request& q) {
  RETURN_IF_ERROR(RefuseUnsupported(q.params, "CreateUser", {"PermissionsBoundary"}));
  QueryReader r(q.params);
  iam::CreateUserRequest req{r.Required("UserName"), r.Optional("Path"), {}};
  ASSIGN_OR_RETURN(auto tags, ReadTags(q.params, r));
  if (tags) req.tags = std::move(*tags);
  RETURN_IF_ERROR(r.status());
  std::string arn = q.iam.UserArn(req.path.value_or("/"), req.user_name);
  std::vector<AuditResource> resources = UserResource(arn);
  Call call = MakeCallWithReply("CreateUser", std::move(arn), std::move(resources),
                                [&iam = q.iam, req, rid = q.request_id]() -> Result<api::Reply> {
                                  ASSIGN_OR_RETURN(iam::User user, iam.CreateUser(req));
                                  std::string body = Reply("CreateUser", rid, [&](XmlWriter& w) {
                                    w.Open("User");
                                    WriteUserFields(w, user);
                                    if (!user.tags.empty()) WriteTags(w, user.tags);
                                    w.Close();
                                  });
                                  return api::Reply{std::move(body), UserElements(user)};
                                });
  AuthorizeCreateTags(call, "TagUser", req.tags);
  return call;
}

Result<Call> GetUser(const Request& q) {
  QueryReader r(q.params);
  std::optional<std::string> name = r.Optional("UserName");
  ASSIGN_OR_RETURN(std::string arn, q.iam.TargetUserArn(q.caller, name));
  std::vector<AuditResource> resources = UserResource(arn);
  return MakeCall(
      "GetUser", std::move(arn), std::move(resources),
      [&iam = q.iam, caller = q.caller, name, rid = q.request_id]() -> Result<std::string> {
        ASSIGN_OR_RETURN(iam::User user, iam.GetUser(caller, name));
        return Reply("GetUser", rid, [&](XmlWriter& w) {
          w.Open("User");
          WriteUserFields(w, user);
          if (!user.tags.empty()) WriteTags(w, user.tags);
          w.Close();
        });
      });
}

Result<Call> ListUsers(const Request& q) {
  QueryReader r(q.params);
  std::optional<std::string> prefix = r.Optional("PathPrefix");
  iam::Page page = ReadPage(r);
  RETURN_IF_ERROR(r.status());
  // AWS names the users under the prefix: arn:aws:iam::ACCT:user/ (or user/PREFIX).
  std::string arn = q.iam.UserArn(prefix.value_or("/"), "");
  return MakeCall("ListUsers", std::move(arn), {},
                  [&iam = q.iam, prefix, page, rid = q.request_id]() -> Result<std::string> {
                    ASSIGN_OR_RETURN(iam::ListUsersResult list, iam.ListUsers(prefix, page));
                    return Reply("ListUsers", rid, [&](XmlWriter& w) {
                      WriteMembers(w, "Users", list.users,
                                   [&](const iam::User& u) { WriteUserFields(w, u); });
                      WriteListEnd(w, list.is_truncated, list.marker);
                    });
                  });
}

Result<Call> DeleteUser(const Request& q) {
  QueryReader r(q.params);
  std::string name = r.Required("UserName");
  RETURN_IF_ERROR(r.status());
  ASSIGN_OR_RETURN(std::string arn, q.iam.ArnOfUser(name));
  std::vector<AuditResource> resources = UserResource(arn);
  return MakeCall("DeleteUser", std::move(arn), std::move(resources),
                  [&iam = q.iam, name, rid = q.request_id]() -> Result<std::string> {
                    RETURN_IF_ERROR(iam.DeleteUser(name));
                    return EmptyReply("DeleteUser", rid);
                  });
}

// ---- groups ---------------------------------------------------------------------------------

Result<Call> CreateGroup(const Request& q) {
  QueryReader r(q.params);
  iam::CreateGroupRequest req{r.Required("GroupName"), r.Optional("Path")};
  RETURN_IF_ERROR(r.status());
  std::string arn = q.iam.GroupArn(req.path.value_or("/"), req.group_name);
  std::vector<AuditResource> resources = GroupResource(arn);
  return MakeCallWithReply("CreateGroup", std::move(arn), std::move(resources),
                           [&iam = q.iam, req, rid = q.request_id]() -> Result<api::Reply> {
                             ASSIGN_OR_RETURN(iam::Group group, iam.CreateGroup(req));
                             std::string body = Reply("CreateGroup", rid, [&](XmlWriter& w) {
                               w.Open("Group");
                               WriteGroupFields(w, group);
                               w.Close();
                             });
                             return api::Reply{std::move(body), GroupElements(group)};
                           });
}

Result<Call> GetGroup(const Request& q) {
  QueryReader r(q.params);
  std::string name = r.Required("GroupName");
  iam::Page page = ReadPage(r);
  RETURN_IF_ERROR(r.status());
  ASSIGN_OR_RETURN(std::string arn, q.iam.ArnOfGroup(name));
  std::vector<AuditResource> resources = GroupResource(arn);
  return MakeCall("GetGroup", std::move(arn), std::move(resources),
                  [&iam = q.iam, name, page, rid = q.request_id]() -> Result<std::string> {
                    ASSIGN_OR_RETURN(iam::GetGroupResult got, iam.GetGroup(name, page));
                    return Reply("GetGroup", rid, [&](XmlWriter& w) {
                      w.Open("Group");
                      WriteGroupFields(w, got.group);
                      w.Close();
                      WriteMembers(w, "Users", got.users,
                                   [&](const iam::User& u) { WriteUserFields(w, u); });
                      WriteListEnd(w, got.is_truncated, got.marker);
                    });
                  });
}

void WriteGroups(XmlWriter& w, const iam::ListGroupsResult& list) {
  WriteMembers(w, "Groups", list.groups, [&](const iam::Group& g) { WriteGroupFields(w, g); });
  WriteListEnd(w, list.is_truncated, list.marker);
}

Result<Call> ListGroups(const Request& q) {
  QueryReader r(q.params);
  std::optional<std::string> prefix = r.Optional("PathPrefix");
  iam::Page page = ReadPage(r);
  RETURN_IF_ERROR(r.status());
  // As ListUsers: arn:aws:iam::ACCT:group/ (or group/PREFIX).
  std::string arn = q.iam.GroupArn(prefix.value_or("/"), "");
  return MakeCall("ListGroups", std::move(arn), {},
                  [&iam = q.iam, prefix, page, rid = q.request_id]() -> Result<std::string> {
                    ASSIGN_OR_RETURN(iam::ListGroupsResult list, iam.ListGroups(prefix, page));
                    return Reply("ListGroups", rid, [&](XmlWriter& w) { WriteGroups(w, list); });
                  });
}

Result<Call> DeleteGroup(const Request& q) {
  QueryReader r(q.params);
  std::string name = r.Required("GroupName");
  RETURN_IF_ERROR(r.status());
  ASSIGN_OR_RETURN(std::string arn, q.iam.ArnOfGroup(name));
  std::vector<AuditResource> resources = GroupResource(arn);
  return MakeCall("DeleteGroup", std::move(arn), std::move(resources),
                  [&iam = q.iam, name, rid = q.request_id]() -> Result<std::string> {
                    RETURN_IF_ERROR(iam.DeleteGroup(name));
                    return EmptyReply("DeleteGroup", rid);
                  });
}

// UpdateGroup: decisions on the group as it is and as it will be (IAM: "must have
// permission to change the group with the old name and the new name"); the
// record names both when they differ.
Result<Call> UpdateGroup(const Request& q) {
  QueryReader r(q.params);
  std::string name = r.Required("GroupName");
  std::optional<std::string> new_path = r.Optional("NewPath");
  std::optional<std::string> new_name = r.Optional("NewGroupName");
  RETURN_IF_ERROR(r.status());
  ASSIGN_OR_RETURN(std::string arn, q.iam.ArnOfGroup(name));
  ASSIGN_OR_RETURN(std::string new_arn, q.iam.ArnOfGroupAfter(name, new_path, new_name));
  std::vector<AuditResource> resources = GroupResource(arn);
  if (new_arn != arn) resources.push_back(GroupResource(new_arn)[0]);
  Call call = MakeCall(
      "UpdateGroup", arn, std::move(resources),
      [&iam = q.iam, name, new_path, new_name, rid = q.request_id]() -> Result<std::string> {
        RETURN_IF_ERROR(iam.UpdateGroup(name, new_path, new_name));
        return EmptyReply("UpdateGroup", rid);
      });
  if (new_arn != arn) {
    Authorization renamed = call.authorizations[0];
    renamed.resource = new_arn;
    call.authorizations.push_back(std::move(renamed));
  }
  return call;
}

// AddUserToGroup and RemoveUserFromGroup: a decision on the group; the record
// names the group and the user.
Result<Call> ChangeMembership(const Request& q, std::string_view operation, bool add) {
  QueryReader r(q.params);
  std::string group = r.Required("GroupName");
  std::string user = r.Required("UserName");
  RETURN_IF_ERROR(r.status());
  ASSIGN_OR_RETURN(std::string arn, q.iam.ArnOfGroup(group));
  ASSIGN_OR_RETURN(std::string user_arn, q.iam.ArnOfUser(user));
  std::vector<AuditResource> resources = GroupResource(arn);
  resources.push_back(UserResource(user_arn)[0]);
  return MakeCall(operation, std::move(arn), std::move(resources),
                  [&iam = q.iam, group, user, add, op = std::string(operation),
                   rid = q.request_id]() -> Result<std::string> {
                    RETURN_IF_ERROR(add ? iam.AddUserToGroup(group, user)
                                        : iam.RemoveUserFromGroup(group, user));
                    return EmptyReply(op, rid);
                  });
}

Result<Call> ListGroupsForUser(const Request& q) {
  QueryReader r(q.params);
  std::string name = r.Required("UserName");
  iam::Page page = ReadPage(r);
  RETURN_IF_ERROR(r.status());
  ASSIGN_OR_RETURN(std::string arn, q.iam.ArnOfUser(name));
  std::vector<AuditResource> resources = UserResource(arn);
  return MakeCall("ListGroupsForUser", std::move(arn), std::move(resources),
                  [&iam = q.iam, name, page, rid = q.request_id]() -> Result<std::string> {
                    ASSIGN_OR_RETURN(iam::ListGroupsResult list, iam.ListGroupsForUser(name, page));
                    return Reply("ListGroupsForUser", rid,
                                 [&](XmlWriter& w) { WriteGroups(w, list); });
                  });
}

// ---- access keys ------------------------------------------------------------------------------

Result<Call> CreateAccessKey(const Request& q) {
  QueryReader r(q.params);
  std::optional<std::string> name = r.Optional("UserName");
  ASSIGN_OR_RETURN(std::string arn, q.iam.TargetUserArn(q.caller, name));
  std::vector<AuditResource> resources = UserResource(arn);
  return MakeCallWithReply(
      "CreateAccessKey", std::move(arn), std::move(resources),
      [&iam = q.iam, caller = q.caller, name, rid = q.request_id]() -> Result<api::Reply> {
        ASSIGN_OR_RETURN(iam::NewAccessKey key, iam.CreateAccessKey(caller, name));
        std::string body = Reply("CreateAccessKey", rid, [&](XmlWriter& w) {
          w.Open("AccessKey");
          if (!key.user_name.empty()) w.Element("UserName", key.user_name);
          w.Element("AccessKeyId", key.access_key_id)
              .Element("Status", iam::AccessKeyStatusName(key.status))
              .Element("SecretAccessKey", AsChars(crypto::RevealSecret(key.secret_access_key)))
              .Element("CreateDate", Date(key.create_date))
              .Close();
        });
        return api::Reply{std::move(body), AccessKeyElements(key)};
      });
}

Result<Call> ListAccessKeys(const Request& q) {
  QueryReader r(q.params);
  std::optional<std::string> name = r.Optional("UserName");
  iam::Page page = ReadPage(r);
  RETURN_IF_ERROR(r.status());
  ASSIGN_OR_RETURN(std::string arn, q.iam.TargetUserArn(q.caller, name));
  std::vector<AuditResource> resources = UserResource(arn);
  return MakeCall(
      "ListAccessKeys", std::move(arn), std::move(resources),
      [&iam = q.iam, caller = q.caller, name, page, rid = q.request_id]() -> Result<std::string> {
        ASSIGN_OR_RETURN(iam::ListAccessKeysResult list, iam.ListAccessKeys(caller, name, page));
        return Reply("ListAccessKeys", rid, [&](XmlWriter& w) {
          WriteMembers(w, "AccessKeyMetadata", list.access_key_metadata,
                       [&](const iam::AccessKeyMetadata& k) {
                         if (!k.user_name.empty()) w.Element("UserName", k.user_name);
                         w.Element("AccessKeyId", k.access_key_id)
                             .Element("Status", iam::AccessKeyStatusName(k.status))
                             .Element("CreateDate", Date(k.create_date));
                       });
          WriteListEnd(w, list.is_truncated, list.marker);
        });
      });
}

Result<Call> UpdateAccessKey(const Request& q) {
  QueryReader r(q.params);
  std::optional<std::string> name = r.Optional("UserName");
  std::string id = r.Required("AccessKeyId");
  std::string status = r.Required("Status");
  RETURN_IF_ERROR(r.status());
  ASSIGN_OR_RETURN(std::string arn, q.iam.TargetUserArn(q.caller, name));
  std::vector<AuditResource> resources = UserResource(arn);
  return MakeCall("UpdateAccessKey", std::move(arn), std::move(resources),
                  [&iam = q.iam, caller = q.caller, name, id, status,
                   rid = q.request_id]() -> Result<std::string> {
                    RETURN_IF_ERROR(iam.UpdateAccessKey(caller, name, id, status));
                    return EmptyReply("UpdateAccessKey", rid);
                  });
}

Result<Call> DeleteAccessKey(const Request& q) {
  QueryReader r(q.params);
  std::optional<std::string> name = r.Optional("UserName");
  std::string id = r.Required("AccessKeyId");
  RETURN_IF_ERROR(r.status());
  ASSIGN_OR_RETURN(std::string arn, q.iam.TargetUserArn(q.caller, name));
  std::vector<AuditResource> resources = UserResource(arn);
  return MakeCall(
      "DeleteAccessKey", std::move(arn), std::move(resources),
      [&iam = q.iam, caller = q.caller, name, id, rid = q.request_id]() -> Result<std::string> {
        RETURN_IF_ERROR(iam.DeleteAccessKey(caller, name, id));
        return EmptyReply("DeleteAccessKey", rid);
      });
}

Result<Call> GetAccessKeyLastUsed(const Request& q) {
  QueryReader r(q.params);
  std::string id = r.Required("AccessKeyId");
  RETURN_IF_ERROR(r.status());
  ASSIGN_OR_RETURN(std::string arn, q.iam.ArnOfAccessKeyOwner(id));
  std::vector<AuditResource> resources =
      arn.ends_with("/") ? std::vector<AuditResource>{} : UserResource(arn);
  return MakeCall(
      "GetAccessKeyLastUsed", std::move(arn), std::move(resources),
      [&iam = q.iam, id, rid = q.request_id]() -> Result<std::string> {
        ASSIGN_OR_RETURN(iam::AccessKeyLastUsed used, iam.GetAccessKeyLastUsed(id));
        return Reply("GetAccessKeyLastUsed", rid, [&](XmlWriter& w) {
          if (!used.user_name.empty()) w.Element("UserName", used.user_name);
          w.Open("AccessKeyLastUsed");
          if (used.last_used_date) w.Element("LastUsedDate", Date(*used.last_used_date));
          w.Element("ServiceName", used.service_name).Element("Region", used.region).Close();
        });
      });
}

// ---- roles
// ---------------------------------------------------------------------------------------

Result<Call> CreateRole(const Request& q) {
  RETURN_IF_ERROR(RefuseUnsupported(q.params, "CreateRole", {"PermissionsBoundary"}));
  QueryReader r(q.params);
  iam::CreateRoleRequest req;
  req.role_name = r.Required("RoleName");
  req.assume_role_policy_document = r.Required("AssumeRolePolicyDocument");
  req.path = r.Optional("Path");
  req.description = r.Optional("Description");
  req.max_session_duration = r.OptionalInt("MaxSessionDuration");
  ASSIGN_OR_RETURN(auto tags, ReadTags(q.params, r));
  if (tags) req.tags = std::move(*tags);
  RETURN_IF_ERROR(r.status());
  std::string arn = q.iam.RoleArn(req.path.value_or("/"), req.role_name);
  std::vector<AuditResource> resources = RoleResource(arn);
  Call call = MakeCallWithReply("CreateRole", std::move(arn), std::move(resources),
                                [&iam = q.iam, req, rid = q.request_id]() -> Result<api::Reply> {
                                  ASSIGN_OR_RETURN(iam::Role role, iam.CreateRole(req));
                                  std::string body = Reply("CreateRole", rid, [&](XmlWriter& w) {
                                    w.Open("Role");
                                    WriteRoleFields(w, role, RoleView::kCreated);
                                    w.Close();
                                  });
                                  return api::Reply{std::move(body), RoleElements(role)};
                                });
  AuthorizeCreateTags(call, "TagRole", req.tags);
  return call;
}

Result<Call> GetRole(const Request& q) {
  QueryReader r(q.params);
  std::string name = r.Required("RoleName");
  RETURN_IF_ERROR(r.status());
  ASSIGN_OR_RETURN(std::string arn, q.iam.ArnOfRole(name));
  std::vector<AuditResource> resources = RoleResource(arn);
  return MakeCall("GetRole", std::move(arn), std::move(resources),
                  [&iam = q.iam, name, rid = q.request_id]() -> Result<std::string> {
                    ASSIGN_OR_RETURN(iam::Role role, iam.GetRole(name));
                    return Reply("GetRole", rid, [&](XmlWriter& w) {
                      w.Open("Role");
                      WriteRoleFields(w, role, RoleView::kGet);
                      w.Close();
                    });
                  });
}

Result<Call> ListRoles(const Request& q) {
  QueryReader r(q.params);
  std::optional<std::string> prefix = r.Optional("PathPrefix");
  iam::Page page = ReadPage(r);
  RETURN_IF_ERROR(r.status());
  std::string arn = q.iam.RoleArn(prefix.value_or("/"), "");
  return MakeCall("ListRoles", std::move(arn), {},
                  [&iam = q.iam, prefix, page, rid = q.request_id]() -> Result<std::string> {
                    ASSIGN_OR_RETURN(iam::ListRolesResult list, iam.ListRoles(prefix, page));
                    return Reply("ListRoles", rid, [&](XmlWriter& w) {
                      WriteMembers(w, "Roles", list.roles, [&](const iam::Role& role) {
                        WriteRoleFields(w, role, RoleView::kList);
                      });
                      WriteListEnd(w, list.is_truncated, list.marker);
                    });
                  });
}

Result<Call> UpdateAssumeRolePolicy(const Request& q) {
  QueryReader r(q.params);
  std::string name = r.Required("RoleName");
  std::string document = r.Required("PolicyDocument");
  RETURN_IF_ERROR(r.status());
  ASSIGN_OR_RETURN(std::string arn, q.iam.ArnOfRole(name));
  std::vector<AuditResource> resources = RoleResource(arn);
  return MakeCall("UpdateAssumeRolePolicy", std::move(arn), std::move(resources),
                  [&iam = q.iam, name, document, rid = q.request_id]() -> Result<std::string> {
                    RETURN_IF_ERROR(iam.UpdateAssumeRolePolicy(name, document));
                    return EmptyReply("UpdateAssumeRolePolicy", rid);
                  });
}

Result<Call> UpdateRole(const Request& q) {
  QueryReader r(q.params);
  std::string name = r.Required("RoleName");
  std::optional<std::string> description = r.Optional("Description");
  std::optional<int> max_session_duration = r.OptionalInt("MaxSessionDuration");
  RETURN_IF_ERROR(r.status());
  ASSIGN_OR_RETURN(std::string arn, q.iam.ArnOfRole(name));
  std::vector<AuditResource> resources = RoleResource(arn);
  return MakeCall(
      "UpdateRole", std::move(arn), std::move(resources),
      [&iam = q.iam, name, description, max_session_duration,
       rid = q.request_id]() -> Result<std::string> {
        RETURN_IF_ERROR(iam.UpdateRole(name, description, max_session_duration).status());
        // The model wraps its empty output: the element must be there.
        return Reply("UpdateRole", rid, [](XmlWriter&) {});
      });
}

// The older form of UpdateRole that sets only the description; it answers the role.
Result<Call> UpdateRoleDescription(const Request& q) {
  QueryReader r(q.params);
  std::string name = r.Required("RoleName");
  std::string description = r.Required("Description");
  RETURN_IF_ERROR(r.status());
  ASSIGN_OR_RETURN(std::string arn, q.iam.ArnOfRole(name));
  std::vector<AuditResource> resources = RoleResource(arn);
  return MakeCallWithReply(
      "UpdateRoleDescription", std::move(arn), std::move(resources),
      [&iam = q.iam, name, description, rid = q.request_id]() -> Result<api::Reply> {
        ASSIGN_OR_RETURN(iam::Role role, iam.UpdateRole(name, description, std::nullopt));
        std::string body = Reply("UpdateRoleDescription", rid, [&](XmlWriter& w) {
          w.Open("Role");
          WriteRoleFields(w, role, RoleView::kGet);
          w.Close();
        });
        return api::Reply{std::move(body), RoleElements(role)};
      });
}

Result<Call> DeleteRole(const Request& q) {
  QueryReader r(q.params);
  std::string name = r.Required("RoleName");
  RETURN_IF_ERROR(r.status());
  ASSIGN_OR_RETURN(std::string arn, q.iam.ArnOfRole(name));
  std::vector<AuditResource> resources = RoleResource(arn);
  return MakeCall("DeleteRole", std::move(arn), std::move(resources),
                  [&iam = q.iam, name, rid = q.request_id]() -> Result<std::string> {
                    RETURN_IF_ERROR(iam.DeleteRole(name));
                    return EmptyReply("DeleteRole", rid);
                  });
}

// ---- inline policies (users, roles and groups alike) -----------------------------------------

// The differences between the user, role and group forms of the four operations.
struct PolicyOps {
  const char* entity_parameter;  // "UserName" | "RoleName" | "GroupName"
  Result<std::string> (IdentityService::*arn_of)(std::string_view);
  Status (IdentityService::*put)(std::string_view, std::string_view, std::string_view);
  Result<iam::InlinePolicy> (IdentityService::*get)(std::string_view, std::string_view);
  Result<iam::ListPolicyNamesResult> (IdentityService::*list)(std::string_view, const iam::Page&);
  Status (IdentityService::*remove)(std::string_view, std::string_view);
  std::vector<AuditResource> (*resource)(const std::string& arn);  // the record's
};

constexpr PolicyOps kUserPolicyOps{"UserName",
                                   &IdentityService::ArnOfUser,
                                   &IdentityService::PutUserPolicy,
                                   &IdentityService::GetUserPolicy,
                                   &IdentityService::ListUserPolicies,
                                   &IdentityService::DeleteUserPolicy,
                                   &UserResource};
constexpr PolicyOps kRolePolicyOps{"RoleName",
                                   &IdentityService::ArnOfRole,
                                   &IdentityService::PutRolePolicy,
                                   &IdentityService::GetRolePolicy,
                                   &IdentityService::ListRolePolicies,
                                   &IdentityService::DeleteRolePolicy,
                                   &RoleResource};
constexpr PolicyOps kGroupPolicyOps{"GroupName",
                                    &IdentityService::ArnOfGroup,
                                    &IdentityService::PutGroupPolicy,
                                    &IdentityService::GetGroupPolicy,
                                    &IdentityService::ListGroupPolicies,
                                    &IdentityService::DeleteGroupPolicy,
                                    &GroupResource};

template <const PolicyOps& kOps>
Result<Call> PutPolicy(const Request& q, std::string_view operation) {
  QueryReader r(q.params);
  std::string entity = r.Required(kOps.entity_parameter);
  std::string name = r.Required("PolicyName");
  std::string document = r.Required("PolicyDocument");
  RETURN_IF_ERROR(r.status());
  ASSIGN_OR_RETURN(std::string arn, (q.iam.*kOps.arn_of)(entity));
  std::vector<AuditResource> resources = kOps.resource(arn);
  return MakeCall(operation, std::move(arn), std::move(resources),
                  [&iam = q.iam, entity, name, document, op = std::string(operation),
                   rid = q.request_id]() -> Result<std::string> {
                    RETURN_IF_ERROR((iam.*kOps.put)(entity, name, document));
                    return EmptyReply(op, rid);
                  });
}

template <const PolicyOps& kOps>
Result<Call> GetPolicy(const Request& q, std::string_view operation) {
  QueryReader r(q.params);
  std::string entity = r.Required(kOps.entity_parameter);
  std::string name = r.Required("PolicyName");
  RETURN_IF_ERROR(r.status());
  ASSIGN_OR_RETURN(std::string arn, (q.iam.*kOps.arn_of)(entity));
  std::vector<AuditResource> resources = kOps.resource(arn);
  return MakeCall(operation, std::move(arn), std::move(resources),
                  [&iam = q.iam, entity, name, op = std::string(operation),
                   rid = q.request_id]() -> Result<std::string> {
                    ASSIGN_OR_RETURN(iam::InlinePolicy p, (iam.*kOps.get)(entity, name));
                    return Reply(op, rid, [&](XmlWriter& w) {
                      w.Element(kOps.entity_parameter, p.entity_name)
                          .Element("PolicyName", p.policy_name)
                          .Element("PolicyDocument", UrlEncode(p.policy_document));
                    });
                  });
}

// A list operation on one user or role (ListUserPolicies, ListRoleTags, …): the
// entity named and the page, one decision on the entity; `write` writes the
// result's items, then IsTruncated and Marker follow.
template <typename Ops, typename List, typename Write>
Result<Call> ListOnEntity(const Request& q, std::string_view operation, const Ops& ops,
                          Result<List> (IdentityService::*list)(std::string_view, const iam::Page&),
                          Write write) {
  QueryReader r(q.params);
  std::string entity = r.Required(ops.entity_parameter);
  iam::Page page = ReadPage(r);
  RETURN_IF_ERROR(r.status());
  ASSIGN_OR_RETURN(std::string arn, (q.iam.*ops.arn_of)(entity));
  std::vector<AuditResource> resources = ops.resource(arn);
  return MakeCall(operation, std::move(arn), std::move(resources),
                  [&iam = q.iam, list, write, entity, page, op = std::string(operation),
                   rid = q.request_id]() -> Result<std::string> {
                    ASSIGN_OR_RETURN(List result, (iam.*list)(entity, page));
                    return Reply(op, rid, [&](XmlWriter& w) {
                      write(w, result);
                      WriteListEnd(w, result.is_truncated, result.marker);
                    });
                  });
}

template <const PolicyOps& kOps>
Result<Call> ListPolicies(const Request& q, std::string_view operation) {
  return ListOnEntity(q, operation, kOps, kOps.list,
                      [](XmlWriter& w, const iam::ListPolicyNamesResult& list) {
                        w.Open("PolicyNames");
                        for (const std::string& n : list.policy_names) w.Element("member", n);
                        w.Close();
                      });
}

template <const PolicyOps& kOps>
Result<Call> DeletePolicy(const Request& q, std::string_view operation) {
  QueryReader r(q.params);
  std::string entity = r.Required(kOps.entity_parameter);
  std::string name = r.Required("PolicyName");
  RETURN_IF_ERROR(r.status());
  ASSIGN_OR_RETURN(std::string arn, (q.iam.*kOps.arn_of)(entity));
  std::vector<AuditResource> resources = kOps.resource(arn);
  return MakeCall(operation, std::move(arn), std::move(resources),
                  [&iam = q.iam, entity, name, op = std::string(operation),
                   rid = q.request_id]() -> Result<std::string> {
                    RETURN_IF_ERROR((iam.*kOps.remove)(entity, name));
                    return EmptyReply(op, rid);
                  });
}

// ---- tags of users, roles and managed policies ---------------------------------------------

struct TagOps {
  const char* entity_parameter;  // "UserName" | "RoleName" | "PolicyArn"
  Result<std::string> (IdentityService::*arn_of)(std::string_view);
  Status (IdentityService::*tag)(std::string_view, const std::vector<iam::Tag>&);
  Status (IdentityService::*untag)(std::string_view, const std::vector<std::string>&);
  Result<iam::ListTagsResult> (IdentityService::*list)(std::string_view, const iam::Page&);
  std::vector<AuditResource> (*resource)(const std::string& arn);
};

constexpr TagOps kUserTagOps{"UserName",
                             &IdentityService::ArnOfUser,
                             &IdentityService::TagUser,
                             &IdentityService::UntagUser,
                             &IdentityService::ListUserTags,
                             &UserResource};
constexpr TagOps kRoleTagOps{"RoleName",
                             &IdentityService::ArnOfRole,
                             &IdentityService::TagRole,
                             &IdentityService::UntagRole,
                             &IdentityService::ListRoleTags,
                             &RoleResource};
constexpr TagOps kPolicyTagOps{"PolicyArn",
                               &IdentityService::ArnOfPolicy,
                               &IdentityService::TagPolicy,
                               &IdentityService::UntagPolicy,
                               &IdentityService::ListPolicyTags,
                               &PolicyResource};

template <const TagOps& kOps>
Result<Call> TagEntity(const Request& q, std::string_view operation) {
  QueryReader r(q.params);
  std::string entity = r.Required(kOps.entity_parameter);
  ASSIGN_OR_RETURN(std::optional<std::vector<iam::Tag>> given, ReadTags(q.params, r));
  if (!given) r.errors().AddNull("tags");
  RETURN_IF_ERROR(r.status());
  const std::vector<iam::Tag> tags = std::move(*given);
  ASSIGN_OR_RETURN(std::string arn, (q.iam.*kOps.arn_of)(entity));
  std::vector<AuditResource> resources = kOps.resource(arn);
  Call call = MakeCall(operation, std::move(arn), std::move(resources),
                       [&iam = q.iam, entity, tags, op = std::string(operation),
                        rid = q.request_id]() -> Result<std::string> {
                         RETURN_IF_ERROR((iam.*kOps.tag)(entity, tags));
                         return EmptyReply(op, rid);
                       });
  AddRequestTags(call.authorizations[0], tags);
  return call;
}

template <const TagOps& kOps>
Result<Call> UntagEntity(const Request& q, std::string_view operation) {
  QueryReader r(q.params);
  std::string entity = r.Required(kOps.entity_parameter);
  ASSIGN_OR_RETURN(std::optional<std::vector<std::string>> keys, MemberList(q.params, "TagKeys"));
  if (!keys) r.errors().AddNull("tagKeys");
  RETURN_IF_ERROR(r.status());
  ASSIGN_OR_RETURN(std::string arn, (q.iam.*kOps.arn_of)(entity));
  std::vector<AuditResource> resources = kOps.resource(arn);
  Call call = MakeCall(operation, std::move(arn), std::move(resources),
                       [&iam = q.iam, entity, keys = *keys, op = std::string(operation),
                        rid = q.request_id]() -> Result<std::string> {
                         RETURN_IF_ERROR((iam.*kOps.untag)(entity, keys));
                         return EmptyReply(op, rid);
                       });
  call.authorizations[0].condition_keys["aws:TagKeys"] = *keys;
  return call;
}

template <const TagOps& kOps>
Result<Call> ListEntityTags(const Request& q, std::string_view operation) {
  return ListOnEntity(
      q, operation, kOps, kOps.list,
      [](XmlWriter& w, const iam::ListTagsResult& list) { WriteTags(w, list.tags); });
}

// ---- managed policies --------------------------------------------------------------------------

Result<Call> CreatePolicy(const Request& q) {
  QueryReader r(q.params);
  iam::CreatePolicyRequest req;
  req.policy_name = r.Required("PolicyName");
  req.policy_document = r.Required("PolicyDocument");
  req.path = r.Optional("Path");
  req.description = r.Optional("Description");
  ASSIGN_OR_RETURN(auto tags, ReadTags(q.params, r));
  if (tags) req.tags = std::move(*tags);
  RETURN_IF_ERROR(r.status());
  std::string arn = q.iam.PolicyArn(req.path.value_or("/"), req.policy_name);
  std::vector<AuditResource> resources = PolicyResource(arn);
  Call call =
      MakeCallWithReply("CreatePolicy", std::move(arn), std::move(resources),
                        [&iam = q.iam, req, rid = q.request_id]() -> Result<api::Reply> {
                          ASSIGN_OR_RETURN(iam::ManagedPolicy policy, iam.CreatePolicy(req));
                          std::string body = Reply("CreatePolicy", rid, [&](XmlWriter& w) {
                            w.Open("Policy");
                            WritePolicyFields(w, policy, PolicyView::kCreated);
                            w.Close();
                          });
                          return api::Reply{std::move(body), PolicyElements(policy)};
                        });
  AuthorizeCreateTags(call, "TagPolicy", req.tags);
  return call;
}

// An operation on one managed policy named by PolicyArn (and VersionId when
// `version`): one decision on the policy; `run` gets the ARN and the version id.
Result<Call> OnPolicy(
    const Request& q, std::string_view operation, bool version,
    std::function<Result<std::string>(const std::string& arn, const std::string& version_id)> run) {
  QueryReader r(q.params);
  std::string arn = r.Required("PolicyArn");
  std::string version_id = version ? r.Required("VersionId") : "";
  RETURN_IF_ERROR(r.status());
  std::vector<AuditResource> resources = PolicyResource(arn);
  return MakeCall(operation, arn, std::move(resources),
                  [run = std::move(run), arn, version_id]() { return run(arn, version_id); });
}

Result<Call> GetPolicy(const Request& q) {
  return OnPolicy(q, "GetPolicy", false,
                  [&iam = q.iam, rid = q.request_id](const std::string& arn,
                                                     const std::string&) -> Result<std::string> {
                    ASSIGN_OR_RETURN(iam::ManagedPolicy policy, iam.GetPolicy(arn));
                    return Reply("GetPolicy", rid, [&](XmlWriter& w) {
                      w.Open("Policy");
                      WritePolicyFields(w, policy, PolicyView::kGet);
                      w.Close();
                    });
                  });
}

Result<Call> DeletePolicy(const Request& q) {
  return OnPolicy(q, "DeletePolicy", false,
                  [&iam = q.iam, rid = q.request_id](const std::string& arn,
                                                     const std::string&) -> Result<std::string> {
                    RETURN_IF_ERROR(iam.DeletePolicy(arn));
                    return EmptyReply("DeletePolicy", rid);
                  });
}

Result<Call> ListPolicies(const Request& q) {
  QueryReader r(q.params);
  iam::ListPoliciesRequest req;
  req.scope = r.Optional("Scope");
  req.only_attached = r.OptionalBool("OnlyAttached").value_or(false);
  req.path_prefix = r.Optional("PathPrefix");
  req.policy_usage_filter = r.Optional("PolicyUsageFilter");
  req.page = ReadPage(r);
  RETURN_IF_ERROR(r.status());
  // IAM's ListPolicies acts on no resource.
  return MakeCall("ListPolicies", "*", {},
                  [&iam = q.iam, req, rid = q.request_id]() -> Result<std::string> {
                    ASSIGN_OR_RETURN(iam::ListPoliciesResult list, iam.ListPolicies(req));
                    return Reply("ListPolicies", rid, [&](XmlWriter& w) {
                      WriteMembers(w, "Policies", list.policies, [&](const iam::ManagedPolicy& p) {
                        WritePolicyFields(w, p, PolicyView::kList);
                      });
                      WriteListEnd(w, list.is_truncated, list.marker);
                    });
                  });
}

Result<Call> CreatePolicyVersion(const Request& q) {
  QueryReader r(q.params);
  std::string arn = r.Required("PolicyArn");
  std::string document = r.Required("PolicyDocument");
  const bool set_as_default = r.OptionalBool("SetAsDefault").value_or(false);
  RETURN_IF_ERROR(r.status());
  std::vector<AuditResource> resources = PolicyResource(arn);
  return MakeCallWithReply(
      "CreatePolicyVersion", arn, std::move(resources),
      [&iam = q.iam, arn, document, set_as_default, rid = q.request_id]() -> Result<api::Reply> {
        ASSIGN_OR_RETURN(iam::PolicyVersion v,
                         iam.CreatePolicyVersion(arn, document, set_as_default));
        std::string body = Reply("CreatePolicyVersion", rid, [&](XmlWriter& w) {
          w.Open("PolicyVersion");
          WritePolicyVersion(w, v, false);
          w.Close();
        });
        return api::Reply{std::move(body), PolicyVersionElements(v)};
      });
}

Result<Call> GetPolicyVersion(const Request& q) {
  return OnPolicy(q, "GetPolicyVersion", true,
                  [&iam = q.iam, rid = q.request_id](const std::string& arn,
                                                     const std::string& id) -> Result<std::string> {
                    ASSIGN_OR_RETURN(iam::PolicyVersion v, iam.GetPolicyVersion(arn, id));
                    return Reply("GetPolicyVersion", rid, [&](XmlWriter& w) {
                      w.Open("PolicyVersion");
                      WritePolicyVersion(w, v, true);
                      w.Close();
                    });
                  });
}

Result<Call> ListPolicyVersions(const Request& q) {
  QueryReader r(q.params);
  iam::Page page = ReadPage(r);
  RETURN_IF_ERROR(r.status());
  return OnPolicy(
      q, "ListPolicyVersions", false,
      [&iam = q.iam, page, rid = q.request_id](const std::string& arn,
                                               const std::string&) -> Result<std::string> {
        ASSIGN_OR_RETURN(iam::ListPolicyVersionsResult list, iam.ListPolicyVersions(arn, page));
        return Reply("ListPolicyVersions", rid, [&](XmlWriter& w) {
          WriteMembers(w, "Versions", list.versions,
                       [&](const iam::PolicyVersion& v) { WritePolicyVersion(w, v, false); });
          WriteListEnd(w, list.is_truncated, list.marker);
        });
      });
}

Result<Call> DeletePolicyVersion(const Request& q) {
  return OnPolicy(q, "DeletePolicyVersion", true,
                  [&iam = q.iam, rid = q.request_id](const std::string& arn,
                                                     const std::string& id) -> Result<std::string> {
                    RETURN_IF_ERROR(iam.DeletePolicyVersion(arn, id));
                    return EmptyReply("DeletePolicyVersion", rid);
                  });
}

Result<Call> SetDefaultPolicyVersion(const Request& q) {
  return OnPolicy(q, "SetDefaultPolicyVersion", true,
                  [&iam = q.iam, rid = q.request_id](const std::string& arn,
                                                     const std::string& id) -> Result<std::string> {
                    RETURN_IF_ERROR(iam.SetDefaultPolicyVersion(arn, id));
                    return EmptyReply("SetDefaultPolicyVersion", rid);
                  });
}

Result<Call> ListEntitiesForPolicy(const Request& q) {
  QueryReader r(q.params);
  iam::ListEntitiesForPolicyRequest req;
  req.policy_arn = r.Required("PolicyArn");
  req.entity_filter = r.Optional("EntityFilter");
  req.path_prefix = r.Optional("PathPrefix");
  req.policy_usage_filter = r.Optional("PolicyUsageFilter");
  req.page = ReadPage(r);
  RETURN_IF_ERROR(r.status());
  std::vector<AuditResource> resources = PolicyResource(req.policy_arn);
  auto write = [](XmlWriter& w, const char* element, const char* name, const char* id,
                  const std::vector<iam::PolicyEntity>& entities) {
    WriteMembers(w, element, entities,
                 [&](const iam::PolicyEntity& e) { w.Element(name, e.name).Element(id, e.id); });
  };
  return MakeCall("ListEntitiesForPolicy", req.policy_arn, std::move(resources),
                  [&iam = q.iam, req, write, rid = q.request_id]() -> Result<std::string> {
                    ASSIGN_OR_RETURN(iam::ListEntitiesForPolicyResult list,
                                     iam.ListEntitiesForPolicy(req));
                    return Reply("ListEntitiesForPolicy", rid, [&](XmlWriter& w) {
                      write(w, "PolicyGroups", "GroupName", "GroupId", list.groups);
                      write(w, "PolicyUsers", "UserName", "UserId", list.users);
                      write(w, "PolicyRoles", "RoleName", "RoleId", list.roles);
                      WriteListEnd(w, list.is_truncated, list.marker);
                    });
                  });
}

// The user, role and group forms of attaching, detaching and listing managed policies.
struct AttachOps {
  const char* entity_parameter;  // "UserName" | "RoleName" | "GroupName"
  Result<std::string> (IdentityService::*arn_of)(std::string_view);
  Status (IdentityService::*attach)(std::string_view, std::string_view);
  Status (IdentityService::*detach)(std::string_view, std::string_view);
  Result<iam::ListAttachedPoliciesResult> (IdentityService::*list)(
      std::string_view, const std::optional<std::string>&, const iam::Page&);
  std::vector<AuditResource> (*resource)(const std::string& arn);
};

constexpr AttachOps kUserAttachOps{"UserName",
                                   &IdentityService::ArnOfUser,
                                   &IdentityService::AttachUserPolicy,
                                   &IdentityService::DetachUserPolicy,
                                   &IdentityService::ListAttachedUserPolicies,
                                   &UserResource};
constexpr AttachOps kRoleAttachOps{"RoleName",
                                   &IdentityService::ArnOfRole,
                                   &IdentityService::AttachRolePolicy,
                                   &IdentityService::DetachRolePolicy,
                                   &IdentityService::ListAttachedRolePolicies,
                                   &RoleResource};
constexpr AttachOps kGroupAttachOps{"GroupName",
                                    &IdentityService::ArnOfGroup,
                                    &IdentityService::AttachGroupPolicy,
                                    &IdentityService::DetachGroupPolicy,
                                    &IdentityService::ListAttachedGroupPolicies,
                                    &GroupResource};

// Attach (or detach: `attach` false) a managed policy: a decision on the user or
// role, which a policy can limit by the policy attached (iam:PolicyARN). The record
// names both.
template <const AttachOps& kOps>
Result<Call> AttachOrDetach(const Request& q, std::string_view operation, bool attach) {
  QueryReader r(q.params);
  std::string entity = r.Required(kOps.entity_parameter);
  std::string policy_arn = r.Required("PolicyArn");
  RETURN_IF_ERROR(r.status());
  ASSIGN_OR_RETURN(std::string arn, (q.iam.*kOps.arn_of)(entity));
  std::vector<AuditResource> resources = kOps.resource(arn);
  resources.push_back(PolicyResource(policy_arn)[0]);
  Call call = MakeCall(operation, std::move(arn), std::move(resources),
                       [&iam = q.iam, entity, policy_arn, attach, op = std::string(operation),
                        rid = q.request_id]() -> Result<std::string> {
                         RETURN_IF_ERROR(attach ? (iam.*kOps.attach)(entity, policy_arn)
                                                : (iam.*kOps.detach)(entity, policy_arn));
                         return EmptyReply(op, rid);
                       });
  call.authorizations[0].condition_keys["iam:PolicyARN"] = {policy_arn};
  return call;
}

template <const AttachOps& kOps>
Result<Call> ListAttached(const Request& q, std::string_view operation) {
  QueryReader r(q.params);
  std::string entity = r.Required(kOps.entity_parameter);
  std::optional<std::string> prefix = r.Optional("PathPrefix");
  iam::Page page = ReadPage(r);
  RETURN_IF_ERROR(r.status());
  ASSIGN_OR_RETURN(std::string arn, (q.iam.*kOps.arn_of)(entity));
  std::vector<AuditResource> resources = kOps.resource(arn);
  return MakeCall(
      operation, std::move(arn), std::move(resources),
      [&iam = q.iam, entity, prefix, page, op = std::string(operation),
       rid = q.request_id]() -> Result<std::string> {
        ASSIGN_OR_RETURN(iam::ListAttachedPoliciesResult list,
                         (iam.*kOps.list)(entity, prefix, page));
        return Reply(op, rid, [&](XmlWriter& w) {
          WriteMembers(w, "AttachedPolicies", list.attached_policies,
                       [&](const iam::AttachedPolicy& p) {
                         w.Element("PolicyName", p.policy_name).Element("PolicyArn", p.policy_arn);
                       });
          WriteListEnd(w, list.is_truncated, list.marker);
        });
      });
}

// ---- dispatch --------------------------------------------------------------------------------

// An operation: how it is decoded, and what its CloudTrail record says of it.
const QueryOperations& Operations() {
  static const auto* table = [] {
    using P = std::vector<std::string_view>;
    const P list = {"PathPrefix", "Marker", "MaxItems"};
    const P user_page = {"UserName", "Marker", "MaxItems"};
    const P role_page = {"RoleName", "Marker", "MaxItems"};
    const P user_policy = {"UserName", "PolicyName"};
    const P user_policy_put = {"UserName", "PolicyName", "PolicyDocument"};
    const P role_policy = {"RoleName", "PolicyName"};
    const P role_policy_put = {"RoleName", "PolicyName", "PolicyDocument"};
    const P policy_version = {"PolicyArn", "VersionId"};
    const P user_attach = {"UserName", "PolicyArn"};
    const P role_attach = {"RoleName", "PolicyArn"};
    const P group_page = {"GroupName", "Marker", "MaxItems"};
    const P group_policy = {"GroupName", "PolicyName"};
    const P group_policy_put = {"GroupName", "PolicyName", "PolicyDocument"};
    const P group_attach = {"GroupName", "PolicyArn"};
    const P membership = {"GroupName", "UserName"};
    return new QueryOperations{
        {"CreateUser", {CreateUser, false, P{"Path", "UserName", "Tags"}, P{"UserName"}}},
        {"GetUser", {GetUser, true, P{"UserName"}}},
        {"ListUsers", {ListUsers, true, list}},
        {"DeleteUser", {DeleteUser, false, P{"UserName"}, P{"UserName"}}},
        {"CreateGroup", {CreateGroup, false, P{"Path", "GroupName"}, P{"GroupName"}}},
        {"GetGroup", {GetGroup, true, group_page, P{"GroupName"}}},
        {"ListGroups", {ListGroups, true, list}},
        {"DeleteGroup", {DeleteGroup, false, P{"GroupName"}, P{"GroupName"}}},
        {"UpdateGroup",
         {UpdateGroup, false, P{"GroupName", "NewPath", "NewGroupName"}, P{"GroupName"}}},
        {"AddUserToGroup",
         {[](const Request& q) { return ChangeMembership(q, "AddUserToGroup", true); }, false,
          membership, membership}},
        {"RemoveUserFromGroup",
         {[](const Request& q) { return ChangeMembership(q, "RemoveUserFromGroup", false); }, false,
          membership, membership}},
        {"ListGroupsForUser", {ListGroupsForUser, true, user_page, P{"UserName"}}},
        {"PutGroupPolicy",
         {[](const Request& q) { return PutPolicy<kGroupPolicyOps>(q, "PutGroupPolicy"); }, false,
          group_policy_put, group_policy_put}},
        {"GetGroupPolicy",
         {[](const Request& q) { return GetPolicy<kGroupPolicyOps>(q, "GetGroupPolicy"); }, true,
          group_policy, group_policy}},
        {"ListGroupPolicies",
         {[](const Request& q) { return ListPolicies<kGroupPolicyOps>(q, "ListGroupPolicies"); },
          true, group_page, P{"GroupName"}}},
        {"DeleteGroupPolicy",
         {[](const Request& q) { return DeletePolicy<kGroupPolicyOps>(q, "DeleteGroupPolicy"); },
          false, group_policy, group_policy}},
        {"AttachGroupPolicy",
         {[](const Request& q) {
            return AttachOrDetach<kGroupAttachOps>(q, "AttachGroupPolicy", true);
          },
          false, group_attach, group_attach}},
        {"DetachGroupPolicy",
         {[](const Request& q) {
            return AttachOrDetach<kGroupAttachOps>(q, "DetachGroupPolicy", false);
          },
          false, group_attach, group_attach}},
        {"ListAttachedGroupPolicies",
         {[](const Request& q) {
            return ListAttached<kGroupAttachOps>(q, "ListAttachedGroupPolicies");
          },
          true, P{"GroupName", "PathPrefix", "Marker", "MaxItems"}, P{"GroupName"}}},
        {"CreateAccessKey", {CreateAccessKey, false, P{"UserName"}}},
        {"ListAccessKeys", {ListAccessKeys, true, user_page}},
        {"UpdateAccessKey",
         {UpdateAccessKey, false, P{"UserName", "AccessKeyId", "Status"},
          P{"AccessKeyId", "Status"}}},
        {"DeleteAccessKey",
         {DeleteAccessKey, false, P{"UserName", "AccessKeyId"}, P{"AccessKeyId"}}},
        {"GetAccessKeyLastUsed", {GetAccessKeyLastUsed, true, P{"AccessKeyId"}, P{"AccessKeyId"}}},
        {"CreateRole",
         {CreateRole, false,
          P{"Path", "RoleName", "AssumeRolePolicyDocument", "Description", "MaxSessionDuration",
            "Tags"},
          P{"RoleName", "AssumeRolePolicyDocument"}}},
        {"GetRole", {GetRole, true, P{"RoleName"}, P{"RoleName"}}},
        {"ListRoles", {ListRoles, true, list}},
        {"UpdateAssumeRolePolicy",
         {UpdateAssumeRolePolicy, false, P{"RoleName", "PolicyDocument"},
          P{"RoleName", "PolicyDocument"}}},
        {"UpdateRole",
         {UpdateRole, false, P{"RoleName", "Description", "MaxSessionDuration"}, P{"RoleName"}}},
        {"UpdateRoleDescription",
         {UpdateRoleDescription, false, P{"RoleName", "Description"},
          P{"RoleName", "Description"}}},
        {"DeleteRole", {DeleteRole, false, P{"RoleName"}, P{"RoleName"}}},
        {"PutUserPolicy",
         {[](const Request& q) { return PutPolicy<kUserPolicyOps>(q, "PutUserPolicy"); }, false,
          user_policy_put, user_policy_put}},
        {"GetUserPolicy",
         {[](const Request& q) { return GetPolicy<kUserPolicyOps>(q, "GetUserPolicy"); }, true,
          user_policy, user_policy}},
        {"ListUserPolicies",
         {[](const Request& q) { return ListPolicies<kUserPolicyOps>(q, "ListUserPolicies"); },
          true, user_page, P{"UserName"}}},
        {"DeleteUserPolicy",
         {[](const Request& q) { return DeletePolicy<kUserPolicyOps>(q, "DeleteUserPolicy"); },
          false, user_policy, user_policy}},
        {"PutRolePolicy",
         {[](const Request& q) { return PutPolicy<kRolePolicyOps>(q, "PutRolePolicy"); }, false,
          role_policy_put, role_policy_put}},
        {"GetRolePolicy",
         {[](const Request& q) { return GetPolicy<kRolePolicyOps>(q, "GetRolePolicy"); }, true,
          role_policy, role_policy}},
        {"ListRolePolicies",
         {[](const Request& q) { return ListPolicies<kRolePolicyOps>(q, "ListRolePolicies"); },
          true, role_page, P{"RoleName"}}},
        {"DeleteRolePolicy",
         {[](const Request& q) { return DeletePolicy<kRolePolicyOps>(q, "DeleteRolePolicy"); },
          false, role_policy, role_policy}},
        {"CreatePolicy",
         {CreatePolicy, false, P{"PolicyName", "Path", "PolicyDocument", "Description", "Tags"},
          P{"PolicyName", "PolicyDocument"}}},
        {"GetPolicy", {GetPolicy, true, P{"PolicyArn"}, P{"PolicyArn"}}},
        {"DeletePolicy", {DeletePolicy, false, P{"PolicyArn"}, P{"PolicyArn"}}},
        {"ListPolicies",
         {ListPolicies, true,
          P{"Scope", "OnlyAttached", "PathPrefix", "PolicyUsageFilter", "Marker", "MaxItems"}}},
        {"CreatePolicyVersion",
         {CreatePolicyVersion, false, P{"PolicyArn", "PolicyDocument", "SetAsDefault"},
          P{"PolicyArn", "PolicyDocument"}}},
        {"GetPolicyVersion", {GetPolicyVersion, true, policy_version, policy_version}},
        {"ListPolicyVersions",
         {ListPolicyVersions, true, P{"PolicyArn", "Marker", "MaxItems"}, P{"PolicyArn"}}},
        {"DeletePolicyVersion", {DeletePolicyVersion, false, policy_version, policy_version}},
        {"SetDefaultPolicyVersion",
         {SetDefaultPolicyVersion, false, policy_version, policy_version}},
        {"ListEntitiesForPolicy",
         {ListEntitiesForPolicy, true,
          P{"PolicyArn", "EntityFilter", "PathPrefix", "PolicyUsageFilter", "Marker", "MaxItems"},
          P{"PolicyArn"}}},
        {"AttachUserPolicy",
         {[](const Request& q) {
            return AttachOrDetach<kUserAttachOps>(q, "AttachUserPolicy", true);
          },
          false, user_attach, user_attach}},
        {"DetachUserPolicy",
         {[](const Request& q) {
            return AttachOrDetach<kUserAttachOps>(q, "DetachUserPolicy", false);
          },
          false, user_attach, user_attach}},
        {"AttachRolePolicy",
         {[](const Request& q) {
            return AttachOrDetach<kRoleAttachOps>(q, "AttachRolePolicy", true);
          },
          false, role_attach, role_attach}},
        {"DetachRolePolicy",
         {[](const Request& q) {
            return AttachOrDetach<kRoleAttachOps>(q, "DetachRolePolicy", false);
          },
          false, role_attach, role_attach}},
        {"ListAttachedUserPolicies",
         {[](const Request& q) {
            return ListAttached<kUserAttachOps>(q, "ListAttachedUserPolicies");
          },
          true, P{"UserName", "PathPrefix", "Marker", "MaxItems"}, P{"UserName"}}},
        {"ListAttachedRolePolicies",
         {[](const Request& q) {
            return ListAttached<kRoleAttachOps>(q, "ListAttachedRolePolicies");
          },
          true, P{"RoleName", "PathPrefix", "Marker", "MaxItems"}, P{"RoleName"}}},
        // Tags and TagKeys are lists (checked by the operation, not as required members).
        {"TagUser",
         {[](const Request& q) { return TagEntity<kUserTagOps>(q, "TagUser"); }, false,
          P{"UserName", "Tags"}, P{"UserName"}}},
        {"UntagUser",
         {[](const Request& q) { return UntagEntity<kUserTagOps>(q, "UntagUser"); }, false,
          P{"UserName", "TagKeys"}, P{"UserName"}}},
        {"ListUserTags",
         {[](const Request& q) { return ListEntityTags<kUserTagOps>(q, "ListUserTags"); }, true,
          user_page, P{"UserName"}}},
        {"TagRole",
         {[](const Request& q) { return TagEntity<kRoleTagOps>(q, "TagRole"); }, false,
          P{"RoleName", "Tags"}, P{"RoleName"}}},
        {"UntagRole",
         {[](const Request& q) { return UntagEntity<kRoleTagOps>(q, "UntagRole"); }, false,
          P{"RoleName", "TagKeys"}, P{"RoleName"}}},
        {"ListRoleTags",
         {[](const Request& q) { return ListEntityTags<kRoleTagOps>(q, "ListRoleTags"); }, true,
          role_page, P{"RoleName"}}},
        {"TagPolicy",
         {[](const Request& q) { return TagEntity<kPolicyTagOps>(q, "TagPolicy"); }, false,
          P{"PolicyArn", "Tags"}, P{"PolicyArn"}}},
        {"UntagPolicy",
         {[](const Request& q) { return UntagEntity<kPolicyTagOps>(q, "UntagPolicy"); }, false,
          P{"PolicyArn", "TagKeys"}, P{"PolicyArn"}}},
        {"ListPolicyTags",
         {[](const Request& q) { return ListEntityTags<kPolicyTagOps>(q, "ListPolicyTags"); }, true,
          P{"PolicyArn", "Marker", "MaxItems"}, P{"PolicyArn"}}},
    };
  }();
  return *table;
}

}  // namespace

const std::vector<std::string_view>& IamOperations() {
  static const auto* names = new std::vector<std::string_view>(QueryOperationNames(Operations()));
  return *names;
}

bool IamOperationIsReadOnly(std::string_view action) {
  return QueryOperationIsReadOnly(Operations(), action);
}

namespace {

// The request's members, of those its operation takes: the required ones
// present, integers that are integers, and the constraints of each
// (iam::CheckIamRequestMembers), in one message and before anything else, as IAM
// checks them.
Status CheckMembers(std::string_view action, const QueryOperation& operation,
                    const QueryParams& params) {
  auto takes = [&](std::string_view name) {
    return std::find(operation.recorded.begin(), operation.recorded.end(), name) !=
           operation.recorded.end();
  };
  QueryReader r(params);
  for (std::string_view name : operation.required) r.Required(name);
  auto text = [&](std::string_view name) { return takes(name) ? r.Optional(name) : std::nullopt; };
  auto integer = [&](std::string_view name) {
    return takes(name) ? r.OptionalInt(name) : std::nullopt;
  };
  iam::IamRequestMembers m;
  m.user_name = text("UserName");
  m.role_name = text("RoleName");
  m.group_name = text("GroupName");
  m.new_group_name = text("NewGroupName");
  m.new_path = text("NewPath");
  m.path = text("Path");
  m.path_prefix = text("PathPrefix");
  m.assume_role_policy_document = text("AssumeRolePolicyDocument");
  m.policy_name = text("PolicyName");
  m.policy_document = text("PolicyDocument");
  m.description = text("Description");
  m.access_key_id = text("AccessKeyId");
  m.status = text("Status");
  m.policy_arn = text("PolicyArn");
  m.version_id = text("VersionId");
  m.scope = text("Scope");
  m.policy_usage_filter = text("PolicyUsageFilter");
  m.entity_filter = text("EntityFilter");
  if (takes("SetAsDefault")) r.OptionalBool("SetAsDefault");
  if (takes("OnlyAttached")) r.OptionalBool("OnlyAttached");
  m.max_session_duration = integer("MaxSessionDuration");
  if (takes("Tags")) {
    ASSIGN_OR_RETURN(m.tags, ReadTags(params, r));
  }
  if (takes("TagKeys")) {
    ASSIGN_OR_RETURN(m.tag_keys, MemberList(params, "TagKeys"));
  }
  m.page.marker = text("Marker");
  m.page.max_items = integer("MaxItems");
  iam::CheckIamRequestMembers(action, m, r.errors());
  return r.status();
}

}  // namespace

Result<Call> PrepareIamCall(IdentityService& iam, const Principal& caller,
                            const QueryParams& params, std::string request_id) {
  return DispatchQuery(Operations(), kIamApiVersion, kIamEventSource,
                       QueryRequest{iam, caller, params, request_id}, CheckMembers);
}

}  // namespace coffer::api
