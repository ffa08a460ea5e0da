// IAM customer managed policies: their versions, attachments and tags.
#include "iam/identity_service_impl.h"

namespace coffer::iam {

// ---- managed policies ----------------------------------------------------------------------

std::string IdentityService::PolicyArn(std::string_view path, std::string_view name) const {
  return impl_->PolicyArn(path, name);
}
Result<std::string> IdentityService::ArnOfPolicy(std::string_view policy_arn) {
  return std::string(policy_arn);
}

Result<ManagedPolicy> IdentityService::CreatePolicy(const CreatePolicyRequest& req) {
  errors::Validation v;
  ValidatePolicyName(v, req.policy_name);
  ValidatePolicyPath(v, "path", req.path);
  ValidatePolicyDocument(v, "policyDocument", req.policy_document);
  ValidatePolicyDescription(v, req.description);
  ValidateTags(v, req.tags);
  RETURN_IF_ERROR(v.ToStatus());
  RETURN_IF_ERROR(CheckTagKeys(req.tags));
  RETURN_IF_ERROR(impl_->CheckManagedDocument(req.policy_document));
  ManagedPolicyRecord r;
  RETURN_IF_ERROR(impl_->store_.Update([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(auto existing, tx.Get(kPoliciesTable, Lower(req.policy_name)));
    if (existing) return errors::PolicyExists(req.policy_name);
    const int limit = impl_->options_.max_managed_policies;
    ASSIGN_OR_RETURN(auto all, tx.Scan(kPoliciesTable, "", "", static_cast<size_t>(limit) + 1));
    if (all.size() >= static_cast<size_t>(limit)) {
      return errors::QuotaExceeded("PoliciesPerAccount", limit);
    }
    const TimePoint now = impl_->clock_.Now();
    r.name = req.policy_name;
    r.path = req.path.value_or("/");
    r.id = impl_->NewId("ANPA", kUniqueIdRandomChars);
    r.created = r.updated = now;
    r.description = req.description;
    r.tags = req.tags;
    r.default_version = "v1";
    r.next_version = 2;
    r.versions.push_back(PolicyVersionRecord{"v1", req.policy_document, now});
    return Impl::StorePolicy(tx, r);
  }));
  return impl_->ToManagedPolicy(r);
}

namespace {
Status ValidatePolicyArnOnly(std::string_view arn) {
  errors::Validation v;
  ValidatePolicyArn(v, arn);
  return v.ToStatus();
}
Status ValidatePolicyArnAndVersion(std::string_view arn, std::string_view version_id) {
  errors::Validation v;
  ValidatePolicyArn(v, arn);
  ValidateVersionId(v, version_id);
  return v.ToStatus();
}
}  // namespace

Result<ManagedPolicy> IdentityService::GetPolicy(std::string_view policy_arn) {
  RETURN_IF_ERROR(ValidatePolicyArnOnly(policy_arn));
  ManagedPolicy out;
  RETURN_IF_ERROR(impl_->store_.View([&](const ReadTransaction& tx) -> Status {
    ASSIGN_OR_RETURN(ManagedPolicyRecord r, impl_->LoadPolicy(tx, policy_arn));
    out = impl_->ToManagedPolicy(r);
    return Status::Ok();
  }));
  return out;
}

Result<ListPoliciesResult> IdentityService::ListPolicies(const ListPoliciesRequest& req) {
  errors::Validation v;
  if (req.scope) v.Enum("scope", *req.scope, {"All", "AWS", "Local"});
  ValidatePolicyPath(v, "pathPrefix", req.path_prefix);
  if (req.policy_usage_filter) {
    v.Enum("policyUsageFilter", *req.policy_usage_filter,
           {"PermissionsPolicy", "PermissionsBoundary"});
  }
  RETURN_IF_ERROR(v.ToStatus());
  ASSIGN_OR_RETURN(size_t size, PageSize(req.page));
  ListPoliciesResult out;
  // coffer has no AWS managed policies and sets no permissions boundaries.
  if (req.scope == "AWS" || req.policy_usage_filter == "PermissionsBoundary") return out;
  RETURN_IF_ERROR(impl_->store_.View([&](const ReadTransaction& tx) -> Status {
    auto decode = [&](std::string_view value) -> Result<ManagedPolicy> {
      ASSIGN_OR_RETURN(ManagedPolicyRecord r, DecodeManagedPolicyRecord(value));
      return impl_->ToManagedPolicy(r);
    };
    std::function<bool(const ManagedPolicy&)> attached;
    if (req.only_attached) attached = [](const ManagedPolicy& p) { return p.attachment_count > 0; };
    return impl_->ListPage(tx, kPoliciesTable, req.path_prefix, req.page, size, decode,
                           out.policies, out.is_truncated, out.marker, attached);
  }));
  return out;
}

Status IdentityService::DeletePolicy(std::string_view policy_arn) {
  RETURN_IF_ERROR(ValidatePolicyArnOnly(policy_arn));
  RETURN_IF_ERROR(impl_->store_.Update([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(ManagedPolicyRecord r, impl_->LoadPolicy(tx, policy_arn));
    // The index as well as the count: attachments are kept by name, and a policy
    // created later under this name must not inherit any.
    ASSIGN_OR_RETURN(auto attached, tx.Scan(kPolicyEntitiesTable, Lower(r.name) + "/", "", 1));
    if (r.attachments > 0 || !attached.empty()) {
      return errors::DeleteConflict("Cannot delete a policy attached to entities.");
    }
    if (r.versions.size() > 1) {
      return errors::DeleteConflict(
          "This policy has more than one version. Before you delete a policy, you must delete "
          "the policy's versions. The default version is deleted with the policy.");
    }
    return tx.Delete(kPoliciesTable, Lower(r.name));
  }));
  impl_->Invalidate();
  return Status::Ok();
}

Result<PolicyVersion> IdentityService::CreatePolicyVersion(std::string_view policy_arn,
                                                           std::string_view document,
                                                           bool set_as_default) {
  errors::Validation v;
  ValidatePolicyArn(v, policy_arn);
  ValidatePolicyDocument(v, "policyDocument", document);
  RETURN_IF_ERROR(v.ToStatus());
  RETURN_IF_ERROR(impl_->CheckManagedDocument(document));
  PolicyVersion out;
  RETURN_IF_ERROR(impl_->store_.Update([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(ManagedPolicyRecord r, impl_->LoadPolicy(tx, policy_arn));
    const int limit = impl_->options_.max_policy_versions;
    if (r.versions.size() >= static_cast<size_t>(limit)) {
      return errors::LimitExceeded("A managed policy can have up to " + std::to_string(limit) +
                                   " versions. Before you create a new version, you must delete "
                                   "an existing version.");
    }
    const TimePoint now = impl_->clock_.Now();
    PolicyVersionRecord version{"v" + std::to_string(r.next_version++), std::string(document), now};
    if (set_as_default) r.default_version = version.id;
    r.updated = now;
    out = PolicyVersion{"", version.id, set_as_default, now};
    r.versions.push_back(std::move(version));
    return Impl::StorePolicy(tx, r);
  }));
  if (set_as_default) impl_->Invalidate();
  return out;
}

Result<PolicyVersion> IdentityService::GetPolicyVersion(std::string_view policy_arn,
                                                        std::string_view version_id) {
  RETURN_IF_ERROR(ValidatePolicyArnAndVersion(policy_arn, version_id));
  PolicyVersion out;
  RETURN_IF_ERROR(impl_->store_.View([&](const ReadTransaction& tx) -> Status {
    ASSIGN_OR_RETURN(ManagedPolicyRecord r, impl_->LoadPolicy(tx, policy_arn));
    const PolicyVersionRecord* found = Impl::FindVersion(r, version_id);
    if (!found) return errors::NoSuchPolicyVersion(policy_arn, version_id);
    out = PolicyVersion{found->document, found->id, found->id == r.default_version, found->created};
    return Status::Ok();
  }));
  return out;
}

Result<ListPolicyVersionsResult> IdentityService::ListPolicyVersions(std::string_view policy_arn,
                                                                     const Page& page) {
  RETURN_IF_ERROR(ValidatePolicyArnOnly(policy_arn));
  ASSIGN_OR_RETURN(size_t size, PageSize(page));
  std::vector<PolicyVersion> all;
  std::string scope;
  RETURN_IF_ERROR(impl_->store_.View([&](const ReadTransaction& tx) -> Status {
    ASSIGN_OR_RETURN(ManagedPolicyRecord r, impl_->LoadPolicy(tx, policy_arn));
    scope = "policy-versions/" + r.id;
    // Newest first, as IAM lists them.
    for (auto it = r.versions.rbegin(); it != r.versions.rend(); ++it) {
      all.push_back(PolicyVersion{"", it->id, it->id == r.default_version, it->created});
    }
    return Status::Ok();
  }));
  // The marker is the version id shown last; the next page starts at the first
  // older version (ids are never used twice), also when that one was deleted since.
  ASSIGN_OR_RETURN(std::string after, MarkerPosition(page, scope));
  auto number = [](std::string_view id) {
    long n = 0;
    std::from_chars(id.data() + 1, id.data() + id.size(), n);
    return n;
  };
  size_t start = 0;
  if (!after.empty()) {
    if (!VersionIdMatches(after)) return errors::ValidationError("Invalid Marker.");
    while (start < all.size() && number(all[start].version_id) >= number(after)) ++start;
  }
  ListPolicyVersionsResult out;
  for (size_t i = start; i < all.size(); ++i) {
    if (out.versions.size() == size) {
      out.is_truncated = true;
      out.marker = EncodeListMarker(scope, out.versions.back().version_id);
      break;
    }
    out.versions.push_back(all[i]);
  }
  return out;
}

Status IdentityService::DeletePolicyVersion(std::string_view policy_arn,
                                            std::string_view version_id) {
  RETURN_IF_ERROR(ValidatePolicyArnAndVersion(policy_arn, version_id));
  return impl_->store_.Update([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(ManagedPolicyRecord r, impl_->LoadPolicy(tx, policy_arn));
    if (!Impl::FindVersion(r, version_id)) {
      return errors::NoSuchPolicyVersion(policy_arn, version_id);
    }
    if (r.default_version == version_id) {
      return errors::DeleteConflict("Cannot delete the default version of a policy.");
    }
    std::erase_if(r.versions, [&](const PolicyVersionRecord& p) { return p.id == version_id; });
    return Impl::StorePolicy(tx, r);
  });
}

Status IdentityService::SetDefaultPolicyVersion(std::string_view policy_arn,
                                                std::string_view version_id) {
  RETURN_IF_ERROR(ValidatePolicyArnAndVersion(policy_arn, version_id));
  RETURN_IF_ERROR(impl_->store_.Update([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(ManagedPolicyRecord r, impl_->LoadPolicy(tx, policy_arn));
    if (!Impl::FindVersion(r, version_id)) {
      return errors::NoSuchPolicyVersion(policy_arn, version_id);
    }
    r.default_version = std::string(version_id);
    return Impl::StorePolicy(tx, r);
  }));
  impl_->Invalidate();
  return Status::Ok();
}

Status IdentityService::AttachUserPolicy(std::string_view user_name, std::string_view policy_arn) {
  return impl_->SetAttached(kUserKind, user_name, policy_arn, true);
}
Status IdentityService::DetachUserPolicy(std::string_view user_name, std::string_view policy_arn) {
  return impl_->SetAttached(kUserKind, user_name, policy_arn, false);
}
Status IdentityService::AttachRolePolicy(std::string_view role_name, std::string_view policy_arn) {
  return impl_->SetAttached(kRoleKind, role_name, policy_arn, true);
}
Status IdentityService::DetachRolePolicy(std::string_view role_name, std::string_view policy_arn) {
  return impl_->SetAttached(kRoleKind, role_name, policy_arn, false);
}
Result<ListAttachedPoliciesResult> IdentityService::ListAttachedUserPolicies(
    std::string_view user_name, const std::optional<std::string>& path_prefix, const Page& page) {
  return impl_->ListAttached(kUserKind, user_name, path_prefix, page);
}
Status IdentityService::AttachGroupPolicy(std::string_view group_name,
                                          std::string_view policy_arn) {
  return impl_->SetAttached(kGroupKind, group_name, policy_arn, true);
}
Status IdentityService::DetachGroupPolicy(std::string_view group_name,
                                          std::string_view policy_arn) {
  return impl_->SetAttached(kGroupKind, group_name, policy_arn, false);
}
Result<ListAttachedPoliciesResult> IdentityService::ListAttachedGroupPolicies(
    std::string_view group_name, const std::optional<std::string>& path_prefix, const Page& page) {
  return impl_->ListAttached(kGroupKind, group_name, path_prefix, page);
}
Result<ListAttachedPoliciesResult> IdentityService::ListAttachedRolePolicies(
    std::string_view role_name, const std::optional<std::string>& path_prefix, const Page& page) {
  return impl_->ListAttached(kRoleKind, role_name, path_prefix, page);
}

Result<ListEntitiesForPolicyResult> IdentityService::ListEntitiesForPolicy(
    const ListEntitiesForPolicyRequest& req) {
  errors::Validation v;
  ValidatePolicyArn(v, req.policy_arn);
  if (req.entity_filter) {
    v.Enum("entityFilter", *req.entity_filter,
           {"User", "Role", "Group", "LocalManagedPolicy", "AWSManagedPolicy"});
  }
  ValidatePathPrefix(v, req.path_prefix);
  if (req.policy_usage_filter) {
    v.Enum("policyUsageFilter", *req.policy_usage_filter,
           {"PermissionsPolicy", "PermissionsBoundary"});
  }
  RETURN_IF_ERROR(v.ToStatus());
  ASSIGN_OR_RETURN(size_t size, PageSize(req.page));
  auto listed = [&](std::string_view type) {
    return !req.entity_filter || *req.entity_filter == type;
  };
  ListEntitiesForPolicyResult out;
  RETURN_IF_ERROR(impl_->store_.View([&](const ReadTransaction& tx) -> Status {
    ASSIGN_OR_RETURN(ManagedPolicyRecord r, impl_->LoadPolicy(tx, req.policy_arn));
    if (req.policy_usage_filter == "PermissionsBoundary") return Status::Ok();
    const std::string prefix = Lower(r.name) + "/";
    const std::string scope = "policy-entities/" + r.id;
    ASSIGN_OR_RETURN(std::string after, MarkerPosition(req.page, scope));
    ASSIGN_OR_RETURN(auto entries,
                     tx.Scan(kPolicyEntitiesTable, prefix, after.empty() ? "" : prefix + after, 0));
    size_t shown = 0;
    std::string last;
    for (const auto& e : entries) {
      // group/<name>, role/<name> or user/<name>
      const std::string rest = e.key.substr(prefix.size());
      const size_t slash = rest.find('/');
      const std::string type = rest.substr(0, slash);
      const std::string name = rest.substr(slash + 1);
      const bool user = type == "user", role = type == "role";
      if (!listed(user ? "User" : role ? "Role" : "Group")) continue;
      const EntityKind& kind = user ? kUserKind : role ? kRoleKind : kGroupKind;
      ASSIGN_OR_RETURN(auto found, impl_->FindEntity(tx, kind, name));
      if (!found) {
        return InternalError("managed policy " + r.name + " is attached to no " + kind.noun + " " +
                             name);
      }
      if (req.path_prefix && !found->path.starts_with(*req.path_prefix)) continue;
      if (shown == size) {
        out.is_truncated = true;
        out.marker = EncodeListMarker(scope, last);
        break;
      }
      (user   ? out.users
       : role ? out.roles
              : out.groups)
          .push_back(PolicyEntity{std::move(found->name), std::move(found->id)});
      ++shown;
      last = rest;
    }
    return Status::Ok();
  }));
  return out;
}

// ---- tags of managed policies -----------------------------------------------------------------

Status IdentityService::TagPolicy(std::string_view policy_arn, const std::vector<Tag>& tags) {
  errors::Validation v;
  ValidatePolicyArn(v, policy_arn);
  ValidateTags(v, tags);
  RETURN_IF_ERROR(v.ToStatus());
  RETURN_IF_ERROR(CheckTagKeys(tags));
  return impl_->store_.Update([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(ManagedPolicyRecord r, impl_->LoadPolicy(tx, policy_arn));
    RETURN_IF_ERROR(MergeTags(r.tags, tags, "TagsPerPolicy"));
    return Impl::StorePolicy(tx, r);
  });
}

Status IdentityService::UntagPolicy(std::string_view policy_arn,
                                    const std::vector<std::string>& tag_keys) {
  errors::Validation v;
  ValidatePolicyArn(v, policy_arn);
  ValidateTagKeys(v, tag_keys);
  RETURN_IF_ERROR(v.ToStatus());
  return impl_->store_.Update([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(ManagedPolicyRecord r, impl_->LoadPolicy(tx, policy_arn));
    std::erase_if(r.tags, [&](const Tag& t) {
      return std::any_of(tag_keys.begin(), tag_keys.end(),
                         [&](const std::string& k) { return Lower(k) == Lower(t.key); });
    });
    return Impl::StorePolicy(tx, r);
  });
}

Result<ListTagsResult> IdentityService::ListPolicyTags(std::string_view policy_arn,
                                                       const Page& page) {
  RETURN_IF_ERROR(ValidatePolicyArnOnly(policy_arn));
  ASSIGN_OR_RETURN(size_t size, PageSize(page));
  std::vector<Tag> all;
  std::string scope;
  RETURN_IF_ERROR(impl_->store_.View([&](const ReadTransaction& tx) -> Status {
    ASSIGN_OR_RETURN(ManagedPolicyRecord r, impl_->LoadPolicy(tx, policy_arn));
    all = std::move(r.tags);
    scope = "policy-tags/" + r.id;
    return Status::Ok();
  }));
  return Impl::PageOfTags(all, page, size, scope);
}

}  // namespace coffer::iam
