#pragma once
// The backup service: database instances and RDS-style backup and restore
// tasks (shared reference rds-native-backup.md; docs/api.md).
//
// A request is checked and answered at once with its task in CREATED; the
// task runs later on one of `max_running_tasks` workers (2, as RDS), the rest
// wait in CREATED in id order. Tasks of one database run one at a time, in
// that order (a restore chain may be submitted at once). A running task acts
// as its instance's role (role_session.h): it assumes the role as
// rds.amazonaws.com, asks KMS for the key (DescribeKey) and for data keys, and
// reads and writes the bucket, each step authorized and recorded as an HTTP
// call would be. Its progress (% complete) and its log (task_info) are kept in
// the state store as it runs.
//
//   backup:  engine snapshot ─▶ [striped into N files] ─▶ zstd ─▶ ESDK message
//            (data key from KMS under the customer's key) | plain framed ─▶ object
//   restore: object(s) ─▶ verified frames ─▶ zstd -d ─▶ engine restore into a
//            temporary name ─▶ renamed to the target once complete and checked
//
// A failed task ends in ERROR with the reason in task_info, in AWS's words when
// AWS gave them (AccessDenied naming the assumed-role ARN, the action and the
// key); nothing it wrote is left: no object (objects appear only when complete),
// no database of the target name. Tasks and their logs survive a restart; a task
// that was running when the server stopped ends in ERROR with a line saying so
// (and, for a backup, naming those of its files that are in the bucket: a file is
// stored whole, but a process that stops may not retract what it stored), and
// tasks still waiting run after the restart. Finished tasks are kept 36 days.
//
// Thread safety: every method may be called from any thread.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "backup/role_session.h"
#include "backup/types.h"
#include "common/clock.h"
#include "common/random.h"
#include "common/status.h"
#include "engines/database_engine.h"
#include "objstore/object_store.h"
#include "state/root_key.h"
#include "state/state_store.h"

namespace coffer::backup {

// Error names of the service (RDS's where RDS has one).
inline constexpr char kDBInstanceNotFound[] = "DBInstanceNotFound";
inline constexpr char kDBInstanceAlreadyExists[] = "DBInstanceAlreadyExists";
inline constexpr char kInvalidDBInstanceState[] = "InvalidDBInstanceState";
inline constexpr char kInvalidParameterValue[] = "InvalidParameterValue";
inline constexpr char kInvalidParameterCombination[] = "InvalidParameterCombination";
inline constexpr char kTaskNotFound[] = "TaskNotFound";
inline constexpr char kInvalidTaskState[] = "InvalidTaskState";

// Opens the engine of an instance (sqlite: its directory; postgres: its DSN).
using EngineFactory =
    std::function<Result<std::unique_ptr<engines::DatabaseEngine>>(const Instance& instance)>;

struct BackupServiceOptions {
  std::string account_id = "111122223333";
  std::string region = "us-east-1";
  int max_running_tasks = 2;
  Duration task_history = Days(36);
  // Threads of each file's compression and sealing stages.
  size_t pipeline_workers = 2;
  // Directories no sqlite instance may be, or be inside: coffer's data
  // directory (its state store and audit index are SQLite files that a task
  // could drop or overwrite).
  std::vector<std::string> reserved_directories;
};

class BackupService {
 public:
  // Marks the tasks that were running when the server last stopped as ERROR and
  // starts the workers, which take up the tasks still waiting. Seals the DSNs
  // that older records hold in the clear (`vault` seals every DSN). Everything
  // passed in must outlive the service.
  static Result<std::unique_ptr<BackupService>> Open(BackupServiceOptions options,
                                                     state::StateStore& store,
                                                     const state::Vault& vault,
                                                     objstore::ObjectStore& buckets,
                                                     Delegation& delegation, EngineFactory engines,
                                                     Clock& clock, Random& random);
  // Stops: running tasks are interrupted and end in ERROR; waiting ones stay
  // CREATED for the next start.
  ~BackupService();

  // "arn:aws:rds:REGION:ACCOUNT:db:NAME".
  std::string InstanceArn(std::string_view name) const;

  // Instances. Names are RDS DB instance identifiers, kept in lower case.
  // CreateInstance refuses (InvalidParameterValue) an engine it cannot reach now
  // and a role rds.amazonaws.com cannot assume now (through the delegation:
  // recorded as any AssumeRole).
  Result<Instance> CreateInstance(const CreateInstanceRequest& request);
  Result<std::vector<Instance>> ListInstances();
  Result<Instance> DescribeInstance(std::string_view name);
  // Refused (InvalidDBInstanceState) while a task of the instance is not
  // finished. Its databases are not touched; its task history stays.
  Status DeleteInstance(std::string_view name);

  // The procedures. Each returns the task it created (CREATED).
  Result<Task> BackupDatabase(const BackupRequest& request);
  Result<Task> RestoreDatabase(const RestoreRequest& request);
  Result<Task> FinishRestore(std::string_view instance, std::string_view database);
  // A waiting task is cancelled at once; a running one is asked to stop
  // (CANCEL_REQUESTED) and ends CANCELLED, leaving nothing behind.
  Result<Task> CancelTask(std::string_view instance, int64_t task_id);
  // rds_drop_database: removes the database at once (no task) and returns its
  // name as it was (DatabaseEngine::DropDatabase). Refused
  // (InvalidDBInstanceState) while a task of that database is waiting or
  // running; NotFound "DatabaseNotFound" when the instance has no such database.
  Result<std::string> DropDatabase(std::string_view instance, std::string_view database);
  // rds_task_status: the instance's tasks, oldest first.
  Result<std::vector<Task>> DescribeTasks(const TaskFilter& filter);

  // Removes finished tasks older than the history period; returns how many.
  Result<int> RunScheduledWork();
  // Waits until no task is waiting or running (tests, `coffer demo`).
  void WaitIdle();

 private:
  class Impl;
  explicit BackupService(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace coffer::backup
