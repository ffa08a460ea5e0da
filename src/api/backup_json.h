#pragma once
// The backup service over AWS JSON 1.1 (docs/api.md): requests with
// `X-Amz-Target: CofferBackup_v1.<Op>`, signed for the service "rds", and
// authorized by identity policies with the actions rds:<Op> on the instance's
// ARN (arn:aws:rds:REGION:ACCOUNT:db:NAME). Operations: CreateDBInstance,
// DescribeDBInstances, DeleteDBInstance, BackupDatabase, RestoreDatabase,
// FinishRestore, CancelTask, DescribeTasks. Members in PascalCase; timestamps
// as epoch seconds; errors in the JSON shape with the service's names
// (DBInstanceNotFound, InvalidParameterValue, ValidationException for a
// malformed request, …).
#include <string>
#include <string_view>

#include "api/json_errors.h"
#include "api/operation.h"
#include "common/status.h"

namespace coffer::backup {
class BackupService;
}

namespace coffer::api {

inline constexpr std::string_view kBackupTargetPrefix = "CofferBackup_v1.";
inline constexpr std::string_view kBackupEventSource = "rds.amazonaws.com";
inline constexpr std::string_view kBackupSigningService = "rds";

inline constexpr JsonErrorNames kBackupErrorNames = {
    .invalid_argument = "InvalidParameterValue",
    .not_found = "ResourceNotFound",
    .already_exists = "ResourceAlreadyExists",
    .failed_precondition = "InvalidState",
    .resource_exhausted = "LimitExceeded",
    .internal = "InternalFailure",
    .unavailable = "ServiceUnavailable",
};

// Decodes one request and returns the Call that runs it; `service` must
// outlive the Call.
Result<Call> PrepareBackupCall(backup::BackupService& service, std::string_view operation,
                               std::string_view body);

// readOnly of the record of `operation`: the two Describe operations.
bool BackupOperationIsReadOnly(std::string_view operation);

}  // namespace coffer::api
