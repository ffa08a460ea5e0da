#pragma once
// backup::Delegation over the endpoint's in-process path: the backup service's
// tasks assume an instance's role as rds.amazonaws.com and make their KMS
// calls and S3 accesses with that session, each authorized and recorded
// exactly as the same call over HTTP (ARCHITECTURE "Identity and
// authorization": in-process is an optimisation, not a bypass).
//
// Records: sts:AssumeRole by the service principal (userIdentity AWSService,
// invokedBy rds.amazonaws.com); the session's KMS calls (DescribeKey,
// GenerateDataKey, Decrypt) and its S3 object accesses (eventSource
// s3.amazonaws.com: ListBucket, PutObject, GetObject) with the assumed role as
// the caller; and each task's start and end (eventSource rds.amazonaws.com,
// eventName BackupRestoreTaskStarted / BackupRestoreTaskEnded).
#include <memory>
#include <string>

#include "api/endpoint.h"
#include "backup/role_session.h"
#include "common/clock.h"
#include "iam/identity_service.h"

namespace coffer::server {

class EndpointDelegation final : public backup::Delegation {
 public:
  // All borrowed; they must outlive this object and every session it returns.
  EndpointDelegation(api::Endpoint& endpoint, iam::IdentityService& iam, Clock& clock)
      : endpoint_(endpoint), iam_(iam), clock_(clock) {}

  Result<std::unique_ptr<backup::RoleSession>> AssumeRole(const std::string& role_arn) override;
  Status RecordTaskEvent(const backup::TaskEvent& event) override;

 private:
  api::Endpoint& endpoint_;
  iam::IdentityService& iam_;
  Clock& clock_;
};

}  // namespace coffer::server
