#pragma once
// The backup service's client commands (docs/api.md):
//
//   coffer instance create NAME --engine sqlite --path DIR --role-arn ARN
//   coffer instance create NAME --engine postgres --dsn DSN --role-arn ARN
//   coffer instance list | describe NAME | delete NAME
//   coffer backup-database  --instance NAME --source-db-name DB --s3-arn ARN
//                           [--kms-key-arn ARN] [--overwrite] [--type FULL|DIFFERENTIAL]
//                           [--number-of-files N] [--wait]
//   coffer restore-database --instance NAME --restore-db-name DB --s3-arn ARN
//                           [--kms-key-arn ARN] [--type …] [--with-norecovery] [--wait]
//   coffer task-status      --instance NAME [--db-name DB] [--task-id N]
//   coffer cancel-task      --instance NAME --task-id N
//   coffer finish-restore   --instance NAME --db-name DB [--wait]
//   coffer sql [--instance NAME] [--wait] "exec msdb.dbo.rds_backup_database …"
//
// --instance may be left out when the server has exactly one instance. With
// --wait a command follows its task until it ends, drawing % complete on a
// terminal; it exits 0 when the task succeeded and 1 when it did not (its
// task_info on stderr). `coffer sql` accepts the RDS procedure calls verbatim
// (cli/tsql.h) and prints their result sets as a grid, or JSON rows with
// --output json.
#include <memory>

#include "cli/client_environment.h"
#include "cli/command_group.h"

namespace CLI {
class App;
}  // namespace CLI

namespace coffer::cli {

std::unique_ptr<CommandGroup> RegisterBackupCommands(CLI::App& app, ClientEnvironment environment);
std::unique_ptr<CommandGroup> RegisterBackupCommands(CLI::App& app);

}  // namespace coffer::cli
