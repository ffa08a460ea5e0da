// STS: AssumeRole and GetSessionToken, and the checks of their requests.
#include "iam/identity_service_impl.h"

namespace coffer::iam {

void CheckAssumeRoleRequest(const AssumeRoleRequest& req, ValidationErrors& v) {
  if (!v.Reported("roleArn")) {
    v.Length("roleArn", req.role_arn, 20, 2048);
    v.Pattern("roleArn", req.role_arn, ArnMatches(req.role_arn), kArnPattern);
  }
  if (!v.Reported("roleSessionName")) {
    v.Length("roleSessionName", req.role_session_name, 2, 64);
    v.Pattern("roleSessionName", req.role_session_name,
              AllCodePoints(req.role_session_name, IsNameChar), kSessionNamePattern);
  }
  if (req.duration_seconds) {
    v.Range("durationSeconds", *req.duration_seconds, kMinSessionDuration, kMaxSessionDuration);
  }
  if (req.external_id) {
    v.Length("externalId", *req.external_id, 2, 1224);
    v.Pattern("externalId", *req.external_id, ExternalIdMatches(*req.external_id),
              kExternalIdPattern);
  }
}

void CheckGetSessionTokenDuration(std::optional<int> duration_seconds, ValidationErrors& v) {
  if (duration_seconds && !v.Reported("durationSeconds")) {
    v.Range("durationSeconds", *duration_seconds, kMinSessionDuration, kUserSessionMax);
  }
}

Status CheckAssumeRoleRequest(const AssumeRoleRequest& req) {
  errors::Validation v;
  CheckAssumeRoleRequest(req, v);
  return v.ToStatus();
}

Result<AssumeRoleResult> IdentityService::AssumeRole(const Principal& caller,
                                                     const AssumeRoleRequest& req) {
  RETURN_IF_ERROR(CheckAssumeRoleRequest(req));
  // STS refuses the root before any policy is evaluated.
  if (caller.type == PrincipalType::kRoot) {
    return errors::AccessDenied("Roles may not be assumed by root accounts.");
  }
  const int duration = req.duration_seconds.value_or(kDefaultSessionDuration);
  if (caller.type == PrincipalType::kAssumedRole && duration > kRoleChainingLimit) {
    return errors::ValidationError(
        "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by "
        "role chaining.");
  }

  AssumeRoleResult out;
  SessionRecord s;
  RETURN_IF_ERROR(impl_->store_.Update([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(auto role, impl_->FindRoleByArn(tx, req.role_arn));
    if (!role) {
      // As AWS: a role that does not exist is not distinguished from a refusal.
      return errors::AccessDenied(
          "User: " + caller.arn +
          " is not authorized to perform: sts:AssumeRole on resource: " + req.role_arn);
    }
    if (duration > role->max_session_duration) {
      return errors::ValidationError(
          "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.");
    }
    s.role_arn = req.role_arn;
    s.role_id = role->id;
    s.role_created = role->created;
    s.session_name = req.role_session_name;
    return impl_->IssueSession(tx, s, caller.arn, duration, out.secret_access_key,
                               out.session_token);
  }));
  Principal session = Principal::AssumedRole(s.role_arn, s.session_name, s.role_id);
  out.assumed_role_arn = session.arn;
  out.assumed_role_id = session.user_id;
  out.access_key_id = s.id;
  out.expiration = s.expiration;
  return out;
}

Result<SessionTokenResult> IdentityService::GetSessionToken(const Principal& caller,
                                                            std::optional<int> duration_seconds) {
  errors::Validation v;
  CheckGetSessionTokenDuration(duration_seconds, v);
  RETURN_IF_ERROR(v.ToStatus());
  if (caller.session_issued || caller.type == PrincipalType::kAssumedRole ||
      caller.type == PrincipalType::kAwsService) {
    return errors::AccessDenied("Cannot call GetSessionToken with session credentials");
  }
  const bool root = caller.type == PrincipalType::kRoot;
  // The root's session: an hour at most, whatever was asked (sts-service-2).
  const int duration = root ? std::min(duration_seconds.value_or(kRootSessionMax), kRootSessionMax)
                            : duration_seconds.value_or(kUserSessionDefault);
  SessionTokenResult out;
  SessionRecord s;
  RETURN_IF_ERROR(impl_->store_.Update([&](Transaction& tx) -> Status {
    if (!root) {
      ASSIGN_OR_RETURN(auto user, impl_->FindUser(tx, LastSegment(caller.arn)));
      if (!user || user->id != caller.user_id) {
        return errors::AccessDenied("Cannot call GetSessionToken: the user no longer exists");
      }
      s.user_name = user->name;
      s.user_id = user->id;
    }
    s.root = root;
    return impl_->IssueSession(tx, s, caller.arn, duration, out.secret_access_key,
                               out.session_token);
  }));
  out.access_key_id = s.id;
  out.expiration = s.expiration;
  return out;
}

}  // namespace coffer::iam
