// IAM groups: their users, and their inline and managed policies, which their
// users get as identity policies (IdentityPoliciesOf).
#include "iam/identity_service_impl.h"

namespace coffer::iam {
namespace {

Status ValidateGroupAndUser(std::string_view group_name, std::string_view user_name) {
  errors::Validation v;
  ValidateGroupName(v, group_name);
  ValidateUserName(v, user_name);
  return v.ToStatus();
}

std::string MemberKey(std::string_view owner, std::string_view member) {
  return Lower(owner) + "/" + Lower(member);
}

// One page of the index `table` under `owner_key` (a group's users, a user's
// groups): `load` turns each name that follows the owner into an item.
template <typename T, typename Load>
Status IndexPage(const ReadTransaction& tx, const char* table, const std::string& owner_key,
                 const Page& page, size_t size, Load load, std::vector<T>& items, bool& truncated,
                 std::optional<std::string>& marker) {
  const std::string prefix = owner_key + "/";
  const std::string scope = std::string(table) + "/" + owner_key;
  ASSIGN_OR_RETURN(std::string after, MarkerPosition(page, scope));
  ASSIGN_OR_RETURN(auto entries,
                   tx.Scan(table, prefix, after.empty() ? "" : prefix + after, size + 1));
  truncated = entries.size() > size;
  if (truncated) entries.resize(size);
  for (const auto& e : entries) {
    ASSIGN_OR_RETURN(T item, load(e.key.substr(prefix.size())));
    items.push_back(std::move(item));
  }
  if (truncated) marker = EncodeListMarker(scope, entries.back().key.substr(prefix.size()));
  return Status::Ok();
}

}  // namespace

Result<Group> IdentityService::CreateGroup(const CreateGroupRequest& req) {
  errors::Validation v;
  ValidateGroupName(v, req.group_name);
  ValidatePath(v, req.path);
  RETURN_IF_ERROR(v.ToStatus());
  GroupRecord r{req.group_name, req.path.value_or("/"), "", impl_->clock_.Now()};
  RETURN_IF_ERROR(impl_->store_.Update([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(auto existing, tx.Get(kGroupsTable, Lower(r.name)));
    if (existing) return errors::GroupExists(r.name);
    const int limit = impl_->options_.max_groups;
    ASSIGN_OR_RETURN(auto groups, tx.Scan(kGroupsTable, "", "", static_cast<size_t>(limit) + 1));
    if (groups.size() >= static_cast<size_t>(limit)) {
      return errors::QuotaExceeded("GroupsPerAccount", limit);
    }
    r.id = impl_->NewId("AGPA", kUniqueIdRandomChars);
    return tx.Put(kGroupsTable, Lower(r.name), EncodeGroupRecord(r));
  }));
  return impl_->ToGroup(r);
}

Result<GetGroupResult> IdentityService::GetGroup(std::string_view group_name, const Page& page) {
  errors::Validation v;
  ValidateGroupName(v, group_name);
  RETURN_IF_ERROR(v.ToStatus());
  ASSIGN_OR_RETURN(size_t size, PageSize(page));
  GetGroupResult out;
  RETURN_IF_ERROR(impl_->store_.View([&](const ReadTransaction& tx) -> Status {
    ASSIGN_OR_RETURN(GroupRecord group, impl_->LoadGroup(tx, group_name));
    out.group = impl_->ToGroup(group);
    auto load = [&](const std::string& user_key) -> Result<User> {
      ASSIGN_OR_RETURN(auto u, impl_->FindUser(tx, user_key));
      if (!u) return InternalError("group " + group.name + " has no user " + user_key);
      User user = impl_->ToUser(*u);
      user.tags.clear();  // GetGroup shows its users as ListUsers does
      return user;
    };
    return IndexPage(tx, kGroupMembersTable, Lower(group.name), page, size, load, out.users,
                     out.is_truncated, out.marker);
  }));
  return out;
}

Result<ListGroupsResult> IdentityService::ListGroups(const std::optional<std::string>& path_prefix,
                                                     const Page& page) {
  errors::Validation v;
  ValidatePathPrefix(v, path_prefix);
  RETURN_IF_ERROR(v.ToStatus());
  ASSIGN_OR_RETURN(size_t size, PageSize(page));
  ListGroupsResult out;
  RETURN_IF_ERROR(impl_->store_.View([&](const ReadTransaction& tx) -> Status {
    auto decode = [&](std::string_view value) -> Result<Group> {
      ASSIGN_OR_RETURN(GroupRecord r, DecodeGroupRecord(value));
      return impl_->ToGroup(r);
    };
    return impl_->ListPage(tx, kGroupsTable, path_prefix, page, size, decode, out.groups,
                           out.is_truncated, out.marker);
  }));
  return out;
}

Status IdentityService::DeleteGroup(std::string_view group_name) {
  errors::Validation v;
  ValidateGroupName(v, group_name);
  RETURN_IF_ERROR(v.ToStatus());
  return impl_->store_.Update([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(GroupRecord group, impl_->LoadGroup(tx, group_name));
    const std::string key = Lower(group.name);
    ASSIGN_OR_RETURN(auto members, tx.Scan(kGroupMembersTable, key + "/", "", 1));
    if (!members.empty()) {
      return errors::DeleteConflict("Cannot delete entity, must remove users from group first.");
    }
    ASSIGN_OR_RETURN(auto policies, tx.Scan(kGroupPoliciesTable, key + "/", "", 1));
    if (!policies.empty()) {
      return errors::DeleteConflict("Cannot delete entity, must delete policies first.");
    }
    ASSIGN_OR_RETURN(auto attached, tx.Scan(kGroupAttachedTable, key + "/", "", 1));
    if (!attached.empty()) {
      return errors::DeleteConflict("Cannot delete entity, must detach all policies first.");
    }
    return tx.Delete(kGroupsTable, key);
  });
}

Status IdentityService::UpdateGroup(std::string_view group_name,
                                    const std::optional<std::string>& new_path,
                                    const std::optional<std::string>& new_group_name) {
  errors::Validation v;
  ValidateGroupName(v, group_name);
  ValidatePath(v, new_path, "newPath");
  if (new_group_name) ValidateName(v, "newGroupName", *new_group_name, 128);
  RETURN_IF_ERROR(v.ToStatus());
  RETURN_IF_ERROR(impl_->store_.Update([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(GroupRecord group, impl_->LoadGroup(tx, group_name));
    const std::string old_key = Lower(group.name);
    if (new_path) group.path = *new_path;
    if (new_group_name) group.name = *new_group_name;
    const std::string new_key = Lower(group.name);
    if (new_key != old_key) {
      ASSIGN_OR_RETURN(auto taken, tx.Get(kGroupsTable, new_key));
      if (taken) return errors::GroupExists(group.name);
      RETURN_IF_ERROR(tx.Delete(kGroupsTable, old_key));
      // What is keyed by the group's name moves with it, its indexes too.
      auto move = [&](const char* table,
                      const std::function<Status(const std::string& rest)>& index) -> Status {
        ASSIGN_OR_RETURN(auto entries, tx.Scan(table, old_key + "/", "", 0));
        for (const auto& e : entries) {
          const std::string rest = e.key.substr(old_key.size() + 1);
          RETURN_IF_ERROR(tx.Delete(table, e.key));
          RETURN_IF_ERROR(tx.Put(table, new_key + "/" + rest, e.value));
          if (index) RETURN_IF_ERROR(index(rest));
        }
        return Status::Ok();
      };
      RETURN_IF_ERROR(move(kGroupMembersTable, [&](const std::string& user_key) -> Status {
        RETURN_IF_ERROR(tx.Delete(kUserGroupsTable, user_key + "/" + old_key));
        return tx.Put(kUserGroupsTable, user_key + "/" + new_key, "");
      }));
      RETURN_IF_ERROR(move(kGroupPoliciesTable, nullptr));
      RETURN_IF_ERROR(move(kGroupAttachedTable, [&](const std::string& policy_key) -> Status {
        RETURN_IF_ERROR(
            tx.Delete(kPolicyEntitiesTable, Impl::EntityIndexKey(kGroupKind, policy_key, old_key)));
        return tx.Put(kPolicyEntitiesTable, Impl::EntityIndexKey(kGroupKind, policy_key, new_key),
                      "");
      }));
    }
    return tx.Put(kGroupsTable, new_key, EncodeGroupRecord(group));
  }));
  impl_->Invalidate();
  return Status::Ok();
}

Status IdentityService::AddUserToGroup(std::string_view group_name, std::string_view user_name) {
  RETURN_IF_ERROR(ValidateGroupAndUser(group_name, user_name));
  RETURN_IF_ERROR(impl_->store_.Update([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(GroupRecord group, impl_->LoadGroup(tx, group_name));
    ASSIGN_OR_RETURN(UserRecord user, impl_->LoadUser(tx, user_name));
    ASSIGN_OR_RETURN(auto member, tx.Get(kGroupMembersTable, MemberKey(group.name, user.name)));
    if (member) return Status::Ok();  // adding again changes nothing
    const int limit = impl_->options_.max_groups_per_user;
    ASSIGN_OR_RETURN(auto groups, tx.Scan(kUserGroupsTable, Lower(user.name) + "/", "",
                                          static_cast<size_t>(limit) + 1));
    if (groups.size() >= static_cast<size_t>(limit)) {
      return errors::QuotaExceeded("GroupsPerUser", limit);
    }
    RETURN_IF_ERROR(tx.Put(kGroupMembersTable, MemberKey(group.name, user.name), ""));
    return tx.Put(kUserGroupsTable, MemberKey(user.name, group.name), "");
  }));
  impl_->Invalidate();  // the user's policies change
  return Status::Ok();
}

Status IdentityService::RemoveUserFromGroup(std::string_view group_name,
                                            std::string_view user_name) {
  RETURN_IF_ERROR(ValidateGroupAndUser(group_name, user_name));
  RETURN_IF_ERROR(impl_->store_.Update([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(GroupRecord group, impl_->LoadGroup(tx, group_name));
    ASSIGN_OR_RETURN(UserRecord user, impl_->LoadUser(tx, user_name));
    ASSIGN_OR_RETURN(auto member, tx.Get(kGroupMembersTable, MemberKey(group.name, user.name)));
    if (!member) return errors::NoSuchUser(user_name);
    RETURN_IF_ERROR(tx.Delete(kGroupMembersTable, MemberKey(group.name, user.name)));
    return tx.Delete(kUserGroupsTable, MemberKey(user.name, group.name));
  }));
  impl_->Invalidate();
  return Status::Ok();
}

Result<ListGroupsResult> IdentityService::ListGroupsForUser(std::string_view user_name,
                                                            const Page& page) {
  errors::Validation v;
  ValidateUserName(v, user_name);
  RETURN_IF_ERROR(v.ToStatus());
  ASSIGN_OR_RETURN(size_t size, PageSize(page));
  ListGroupsResult out;
  RETURN_IF_ERROR(impl_->store_.View([&](const ReadTransaction& tx) -> Status {
    ASSIGN_OR_RETURN(UserRecord user, impl_->LoadUser(tx, user_name));
    auto load = [&](const std::string& group_key) -> Result<Group> {
      ASSIGN_OR_RETURN(auto g, impl_->FindGroup(tx, group_key));
      if (!g) return InternalError("user " + user.name + " is in no group " + group_key);
      return impl_->ToGroup(*g);
    };
    return IndexPage(tx, kUserGroupsTable, Lower(user.name), page, size, load, out.groups,
                     out.is_truncated, out.marker);
  }));
  return out;
}

// ---- inline policies of groups ----------------------------------------------------------

Status IdentityService::PutGroupPolicy(std::string_view group_name, std::string_view policy_name,
                                       std::string_view policy_document) {
  return impl_->PutPolicy(kGroupKind, group_name, policy_name, policy_document);
}
Result<InlinePolicy> IdentityService::GetGroupPolicy(std::string_view group_name,
                                                     std::string_view policy_name) {
  return impl_->GetPolicy(kGroupKind, group_name, policy_name);
}
Result<ListPolicyNamesResult> IdentityService::ListGroupPolicies(std::string_view group_name,
                                                                 const Page& page) {
  return impl_->ListPolicies(kGroupKind, group_name, page);
}
Status IdentityService::DeleteGroupPolicy(std::string_view group_name,
                                          std::string_view policy_name) {
  return impl_->DeletePolicy(kGroupKind, group_name, policy_name);
}

}  // namespace coffer::iam
