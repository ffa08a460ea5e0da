#pragma once
// How a task acts as its instance's role (ARCHITECTURE "Identity and
// authorization"): the server assumes the role as the service principal
// rds.amazonaws.com and makes every KMS call and object access with that
// session, through the same authorize-and-audit path as an HTTP call. The
// backup service sees only these interfaces; server/ implements them over the
// endpoint's in-process path. A refusal comes back unchanged, with AWS's error
// name and message ("User: arn:aws:sts::…:assumed-role/ROLE/SESSION is not
// authorized to perform: kms:DescribeKey on resource: arn:aws:kms:…").
#include <memory>
#include <string>
#include <string_view>

#include "backup/types.h"
#include "common/status.h"
#include "envelope/kms_keyring.h"

namespace coffer::backup {

// RDS's session name for native backup and restore, as the seed shows it.
inline constexpr char kRoleSessionName[] = "RDS-SqlServerBackupRestore";

class RoleSession : public envelope::KmsDataKeys {
 public:
  // arn:aws:sts::ACCT:assumed-role/ROLE/SESSION
  virtual const std::string& arn() const = 0;
  // kms:DescribeKey: the key's ARN, or the refusal (NotFoundException "Key … does
  // not exist", AccessDeniedException, …). A key that cannot encrypt and decrypt
  // (not enabled, not symmetric) is refused here too.
  virtual Result<std::string> DescribeKey(const std::string& key_id) = 0;
  // Authorizes and records one S3 action of the role: `action` is "s3:PutObject",
  // "s3:GetObject", "s3:ListBucket", …; `resource` an S3 ARN
  // ("arn:aws:s3:::bucket" or "arn:aws:s3:::bucket/key").
  virtual Status AuthorizeS3(std::string_view action, std::string_view resource) = 0;
};

// What a task records about itself in the audit trail: one record when it
// starts and one when it ends.
struct TaskEvent {
  enum class Kind { kStarted, kEnded } kind = Kind::kStarted;
  Task task;
  std::string instance_arn;
  std::string role_session_arn;  // empty when the role could not be assumed
};

class Delegation {
 public:
  virtual ~Delegation() = default;
  // sts:AssumeRole of `role_arn` by rds.amazonaws.com with RDS's session name,
  // authorized against the role's trust policy and recorded.
  virtual Result<std::unique_ptr<RoleSession>> AssumeRole(const std::string& role_arn) = 0;
  // Records a task's start or end. An error means the record could not be
  // written (the task then does not start).
  virtual Status RecordTaskEvent(const TaskEvent& event) = 0;
};

}  // namespace coffer::backup
