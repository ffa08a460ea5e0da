#pragma once
// The backup service's types: database instances and RDS-style tasks
// (shared reference rds-native-backup.md; docs/api.md).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/status.h"

namespace coffer::backup {

// ---- instances ---------------------------------------------------------------------

// A database instance: the databases of one engine that tasks back up and
// restore into, and the role they run as (the option group's IAM_ROLE_ARN).
struct Instance {
  std::string name;      // 1–63 of a-z 0-9 -, starting with a letter (RDS's identifier)
  std::string engine;    // "sqlite", "postgres"
  std::string path;      // sqlite: the directory of the databases
  std::string dsn;       // postgres: the libpq connection string (never logged in full)
  std::string role_arn;  // arn:aws:iam::ACCT:role/NAME
  TimePoint created;
};

struct CreateInstanceRequest {
  std::string name;
  std::string engine;
  std::string path;
  std::string dsn;
  std::string role_arn;
};

// ---- tasks -------------------------------------------------------------------------

enum class TaskType {
  kBackup,                         // BACKUP_DB
  kBackupDifferential,             // BACKUP_DB_DIFFERENTIAL
  kRestore,                        // RESTORE_DB
  kRestoreDifferential,            // RESTORE_DB_DIFFERENTIAL
  kRestoreNoRecovery,              // RESTORE_DB_NORECOVERY
  kRestoreDifferentialNoRecovery,  // RESTORE_DB_DIFFERENTIAL_NORECOVERY
  kFinishRestore,                  // FINISH_RESTORE
};
std::string_view TaskTypeName(TaskType type);
Result<TaskType> ParseTaskType(std::string_view name);
bool IsBackup(TaskType type);
bool IsRestore(TaskType type);  // the RESTORE_DB* types (not FINISH_RESTORE)

enum class Lifecycle { kCreated, kInProgress, kSuccess, kError, kCancelRequested, kCancelled };
std::string_view LifecycleName(Lifecycle lifecycle);
Result<Lifecycle> ParseLifecycle(std::string_view name);
bool IsFinished(Lifecycle lifecycle);  // SUCCESS, ERROR, CANCELLED

// One line of a task's task_info: "[2019-09-30 04:41:22.127] <message>".
struct TaskLogLine {
  TimePoint time;
  std::string message;
};

struct Task {
  int64_t id = 0;
  TaskType type = TaskType::kBackup;
  std::string instance;
  std::string database;  // the source (backup) or target (restore) database
  int percent_complete = 0;
  Lifecycle lifecycle = Lifecycle::kCreated;
  std::vector<TaskLogLine> log;
  TimePoint created;
  TimePoint last_updated;
  std::optional<TimePoint> started;
  std::string s3_object_arn;  // as given (may hold one '*')
  bool overwrite_s3_backup_file = false;
  std::string kms_master_key_arn;  // as given; empty: not encrypted
  int number_of_files = 1;

  // task_info: the log lines joined by spaces, as rds_task_status shows it.
  std::string TaskInfo() const;
  // "duration (mins)": whole minutes from creation to the last update.
  int64_t DurationMinutes() const;
};

// "[2019-09-30 04:41:22.127]" in UTC.
std::string LogTimestamp(TimePoint time);

struct BackupRequest {
  std::string instance;
  std::string source_db_name;
  std::string s3_arn_to_backup_to;
  std::string kms_master_key_arn;  // empty: unencrypted
  bool overwrite_s3_backup_file = false;
  std::string type = "FULL";  // FULL | DIFFERENTIAL
  int number_of_files = 1;
};

struct RestoreRequest {
  std::string instance;
  std::string restore_db_name;
  std::string s3_arn_to_restore_from;
  std::string kms_master_key_arn;
  std::string type = "FULL";
  bool with_norecovery = false;
};

struct TaskFilter {
  std::string instance;                 // required
  std::optional<std::string> database;  // rds_task_status @db_name
  std::optional<int64_t> task_id;       // @task_id
};

}  // namespace coffer::backup
