#include "cli/backup_commands.h"

#include <CLI/CLI.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "cli/aws_client.h"
#include "cli/client_connection.h"
#include "cli/output.h"
#include "cli/progress.h"
#include "cli/result_grid.h"
#include "cli/tsql.h"
#include "common/clock.h"

namespace coffer::cli {
namespace {

using Json = nlohmann::ordered_json;

constexpr std::string_view kService = "rds";
constexpr std::string_view kTargetPrefix = "CofferBackup_v1";
constexpr int kExitTaskFailed = 1;
constexpr auto kPollPeriod = std::chrono::milliseconds(250);

// rds_task_status's columns, in RDS's order and spelling.
const std::vector<std::string> kTaskColumns = {"task_id",
                                               "task_type",
                                               "database_name",
                                               "% complete",
                                               "duration (mins)",
                                               "lifecycle",
                                               "task_info",
                                               "last_updated",
                                               "created_at",
                                               "S3_object_arn",
                                               "overwrite_s3_backup_file",
                                               "KMS_master_key_arn",
                                               "filepath",
                                               "overwrite_file"};

std::string Timestamp(const Json& seconds) {
  if (!seconds.is_number()) return "";
  return FormatSqlDateTime(FromEpochMillis(std::llround(seconds.get<double>() * 1000)));
}

std::optional<std::string> Text(const Json& task, const char* name) {
  auto it = task.find(name);
  if (it == task.end() || it->is_null()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_boolean()) return std::string(it->get<bool>() ? "1" : "0");
  return it->dump();
}

std::vector<std::optional<std::string>> TaskRow(const Json& t) {
  return {Text(t, "TaskId"),
          Text(t, "TaskType"),
          Text(t, "DatabaseName"),
          Text(t, "PercentComplete"),
          Text(t, "DurationMins"),
          Text(t, "Lifecycle"),
          Text(t, "TaskInfo"),
          Timestamp(t.value("LastUpdated", Json())),
          Timestamp(t.value("CreatedAt", Json())),
          Text(t, "S3ObjectArn"),
          Text(t, "OverwriteS3BackupFile"),
          Text(t, "KmsMasterKeyArn"),
          std::nullopt,
          std::string("0")};
}

bool Finished(const Json& task) {
  std::string l = task.value("Lifecycle", "");
  return l == "SUCCESS" || l == "ERROR" || l == "CANCELLED";
}

class BackupCommands final : public CommandGroup {
 public:
  BackupCommands(CLI::App& app, ClientEnvironment environment) : env_(std::move(environment)) {
    instance_cmd_ =
        app.add_subcommand("instance", "Database instances that tasks back up and restore");
    instance_cmd_->require_subcommand(1);
    create_ = instance_cmd_->add_subcommand("create", "Register a database instance");
    create_->add_option("name", name_, "The instance identifier (RDS's DB instance identifier)")
        ->required();
    create_->add_option("--engine", engine_, "sqlite or postgres")->required();
    create_->add_option("--path", path_, "sqlite: the directory of the databases");
    create_->add_option("--dsn", dsn_, "postgres: the libpq connection string");
    create_
        ->add_option("--role-arn", role_arn_,
                     "The IAM role tasks run as (the option group's IAM_ROLE_ARN)")
        ->required();
    list_ = instance_cmd_->add_subcommand("list", "List the instances");
    describe_ = instance_cmd_->add_subcommand("describe", "Describe one instance");
    describe_->add_option("name", name_, "The instance identifier")->required();
    delete_ = instance_cmd_->add_subcommand("delete", "Remove an instance (its databases stay)");
    delete_->add_option("name", name_, "The instance identifier")->required();
    for (CLI::App* c : {create_, list_, describe_, delete_}) connection_.AddOptions(c);

    backup_ = app.add_subcommand("backup-database", "Start a backup task (rds_backup_database)");
    backup_->add_option("--source-db-name", database_, "The database to back up")->required();
    backup_->add_option("--s3-arn", s3_arn_, "Where to: arn:aws:s3:::bucket/file.bak")->required();
    backup_->add_option("--kms-key-arn", kms_key_arn_, "Encrypt with this KMS key");
    backup_->add_flag("--overwrite", overwrite_, "Replace an existing backup file");
    backup_->add_option("--type", type_, "FULL (default) or DIFFERENTIAL");
    backup_->add_option("--number-of-files", files_, "1-10 files; the name holds one '*'");

    restore_ =
        app.add_subcommand("restore-database", "Start a restore task (rds_restore_database)");
    restore_->add_option("--restore-db-name", database_, "The new database's name")->required();
    restore_->add_option("--s3-arn", s3_arn_, "The backup: arn:aws:s3:::bucket/file.bak or prefix*")
        ->required();
    restore_->add_option("--kms-key-arn", kms_key_arn_, "The KMS key the backup is encrypted with");
    restore_->add_option("--type", type_, "FULL (default) or DIFFERENTIAL");
    restore_->add_flag("--with-norecovery", norecovery_,
                       "Leave the database RESTORING for a DIFFERENTIAL restore");

    status_ = app.add_subcommand("task-status", "Show tasks (rds_task_status)");
    status_->add_option("--db-name", db_filter_, "Only tasks of this database");
    status_->add_option("--task-id", task_id_, "Only this task (0: every task, as RDS)");

    cancel_ = app.add_subcommand("cancel-task", "Cancel a task (rds_cancel_task)");
    cancel_->add_option("--task-id", task_id_, "The task")->required();

    finish_ = app.add_subcommand("finish-restore",
                                 "Bring a RESTORING database online (rds_finish_restore)");
    finish_->add_option("--db-name", database_, "The database")->required();

    sql_ = app.add_subcommand("sql", "Run RDS backup procedure calls written in T-SQL");
    sql_->add_option("statement", sql_text_, "exec msdb.dbo.rds_… @param='value', …")->required();

    for (CLI::App* c : {backup_, restore_, status_, cancel_, finish_, sql_}) {
      c->add_option("--instance", instance_, "The instance (optional when there is only one)");
      connection_.AddOptions(c);
    }
    for (CLI::App* c : {backup_, restore_, finish_, sql_}) {
      c->add_flag("--wait", wait_, "Follow the task until it ends (exit 1 if it fails)");
    }
    sql_->get_option("--output")
        ->description(
            "The result as a grid, as SQL Server Management Studio shows it (default, "
            "and text), or json");
  }

  bool Selected() const override {
    return instance_cmd_->parsed() || backup_->parsed() || restore_->parsed() ||
           status_->parsed() || cancel_->parsed() || finish_->parsed() || sql_->parsed();
  }

  int Run() override {
    if (int rc = connection_.Connect(kService, &client_); rc != 0) return rc;
    if (create_->parsed()) {
      Json body{{"DBInstanceIdentifier", name_}, {"Engine", engine_}, {"RoleArn", role_arn_}};
      // The server resolves nothing against its own working directory.
      if (!path_.empty())
        body["Path"] = std::filesystem::absolute(path_).lexically_normal().string();
      if (!dsn_.empty()) body["Dsn"] = dsn_;
      return Simple("CreateDBInstance", body);
    }
    if (list_->parsed()) return Simple("DescribeDBInstances", Json::object());
    if (describe_->parsed())
      return Simple("DescribeDBInstances", {{"DBInstanceIdentifier", name_}});
    if (delete_->parsed()) return Simple("DeleteDBInstance", {{"DBInstanceIdentifier", name_}});
    if (sql_->parsed()) return Sql();
    if (int rc = ResolveInstance(); rc != 0) return rc;
    if (backup_->parsed()) {
      Json body{{"DBInstanceIdentifier", instance_},
                {"SourceDbName", database_},
                {"S3ArnToBackupTo", s3_arn_},
                {"OverwriteS3BackupFile", overwrite_},
                {"Type", type_},
                {"NumberOfFiles", files_}};
      if (kms_key_arn_) body["KmsMasterKeyArn"] = *kms_key_arn_;  // "" too: the server refuses it
      return TaskCommand("BackupDatabase", body);
    }
    if (restore_->parsed()) {
      Json body{{"DBInstanceIdentifier", instance_},
                {"RestoreDbName", database_},
                {"S3ArnToRestoreFrom", s3_arn_},
                {"Type", type_},
                {"WithNorecovery", norecovery_}};
      if (kms_key_arn_) body["KmsMasterKeyArn"] = *kms_key_arn_;
      return TaskCommand("RestoreDatabase", body);
    }
    if (finish_->parsed()) {
      return TaskCommand("FinishRestore",
                         {{"DBInstanceIdentifier", instance_}, {"DbName", database_}});
    }
    if (cancel_->parsed()) {
      return TaskCommand("CancelTask", {{"DBInstanceIdentifier", instance_}, {"TaskId", task_id_}});
    }
    Json body{{"DBInstanceIdentifier", instance_}};
    if (!db_filter_.empty()) body["DbName"] = db_filter_;
    // 0 (RDS's default) is every task; the service refuses one below 0.
    if (task_id_ != 0) body["TaskId"] = task_id_;
    return Simple("DescribeTasks", body);
  }

 private:
  Result<Json> Call(std::string_view operation, const Json& body) {
    ASSIGN_OR_RETURN(std::string answer,
                     client_->CallJson(kService, kTargetPrefix, operation, body.dump()));
    Json j = Json::parse(answer, nullptr, false);
    if (!j.is_object())
      return DataLossError("The " + std::string(operation) + " answer is not JSON");
    return j;
  }

  int Print(const Json& answer) {
    Result<std::string> text = FormatAnswer(answer.dump(), connection_.format());
    if (!text.ok()) return connection_.Report(text.status().message(), kExitGeneralError);
    *env_.out << *text;
    env_.out->flush();
    return 0;
  }

  int Simple(std::string_view operation, const Json& body) {
    Result<Json> answer = Call(operation, body);
    if (!answer.ok()) return connection_.ReportCall(operation, answer.status());
    return Print(*answer);
  }

  // --instance left out: the one instance there is.
  int ResolveInstance() {
    if (!instance_.empty()) return 0;
    Result<Json> answer = Call("DescribeDBInstances", Json::object());
    if (!answer.ok()) return connection_.ReportCall("DescribeDBInstances", answer.status());
    const Json& list = (*answer)["DBInstances"];
    if (!list.is_array() || list.size() != 1) {
      return connection_.Report(
          std::string("--instance is required: the server has ") +
              (list.is_array() && list.empty() ? "no instance (coffer instance create …)"
                                               : "several instances"),
          kExitParamError);
    }
    instance_ = list[0].value("DBInstanceIdentifier", "");
    return 0;
  }

  // Follows a task until it ends; returns it as last seen.
  Result<Json> Wait(int64_t task_id) {
    ProgressBar bar(*env_.err, env_.progress, std::nullopt, "task " + std::to_string(task_id));
    while (true) {
      ASSIGN_OR_RETURN(Json answer, Call("DescribeTasks", {{"DBInstanceIdentifier", instance_},
                                                           {"TaskId", task_id}}));
      const Json& tasks = answer["Tasks"];
      if (!tasks.is_array() || tasks.empty()) {
        return NotFoundError("task " + std::to_string(task_id) + " is gone");
      }
      const Json& task = tasks[0];
      bar.UpdatePercent(task.value("PercentComplete", 0));
      if (Finished(task)) {
        bar.Finish();
        return task;
      }
      std::this_thread::sleep_for(kPollPeriod);
    }
  }

  int Outcome(const Json& task) {
    if (task.value("Lifecycle", "") == "SUCCESS") return 0;
    *env_.err << "\nTask " << task.value("TaskId", 0) << " ended " << task.value("Lifecycle", "")
              << ": " << task.value("TaskInfo", "") << "\n";
    env_.err->flush();
    return kExitTaskFailed;
  }

  int TaskCommand(std::string_view operation, const Json& body) {
    Result<Json> answer = Call(operation, body);
    if (!answer.ok()) return connection_.ReportCall(operation, answer.status());
    if (!wait_) return Print(*answer);
    Result<Json> ended = Wait((*answer)["Task"].value("TaskId", int64_t{0}));
    if (!ended.ok()) return connection_.ReportCall("DescribeTasks", ended.status());
    if (int rc = Print(Json{{"Task", *ended}}); rc != 0) return rc;
    return Outcome(*ended);
  }

  // ---- coffer sql --------------------------------------------------------------------

  static std::string Str(const tsql::ProcedureCall& call, std::string_view name) {
    const tsql::Value* v = call.Find(name);
    return v == nullptr ? std::string() : v->text;
  }
  // Given a value other than NULL.
  static bool Given(const tsql::ProcedureCall& call, std::string_view name) {
    const tsql::Value* v = call.Find(name);
    return v != nullptr && v->kind != tsql::Value::Kind::kNull;
  }
  static std::optional<int64_t> Int(const tsql::ProcedureCall& call, std::string_view name) {
    const tsql::Value* v = call.Find(name);
    // The parser made every value of an int parameter an integer (or NULL).
    if (v == nullptr || v->kind != tsql::Value::Kind::kInteger) return std::nullopt;
    return std::stoll(v->text);
  }

  // The API call of one procedure call.
  Result<std::pair<std::string, Json>> Translate(const tsql::ProcedureCall& c) {
    Json body{{"DBInstanceIdentifier", instance_}};
    const std::string& p = c.procedure;
    if (p == "rds_backup_database") {
      body["SourceDbName"] = Str(c, "@source_db_name");
      body["S3ArnToBackupTo"] = Str(c, "@s3_arn_to_backup_to");
      // '' too (the server refuses it); NULL is the parameter's default, none.
      if (Given(c, "@kms_master_key_arn")) body["KmsMasterKeyArn"] = Str(c, "@kms_master_key_arn");
      body["OverwriteS3BackupFile"] = Int(c, "@overwrite_s3_backup_file").value_or(0) == 1;
      if (Given(c, "@type")) body["Type"] = Str(c, "@type");  // '' too: the server refuses it
      body["NumberOfFiles"] = Int(c, "@number_of_files").value_or(1);
      return std::pair<std::string, Json>{"BackupDatabase", body};
    }
    if (p == "rds_restore_database") {
      body["RestoreDbName"] = Str(c, "@restore_db_name");
      body["S3ArnToRestoreFrom"] = Str(c, "@s3_arn_to_restore_from");
      if (Given(c, "@kms_master_key_arn")) body["KmsMasterKeyArn"] = Str(c, "@kms_master_key_arn");
      if (Given(c, "@type")) body["Type"] = Str(c, "@type");  // '' too: the server refuses it
      body["WithNorecovery"] = Int(c, "@with_norecovery").value_or(0) == 1;
      return std::pair<std::string, Json>{"RestoreDatabase", body};
    }
    if (p == "rds_task_status") {
      if (auto d = Str(c, "@db_name"); !d.empty()) body["DbName"] = d;
      // RDS's @task_id defaults to 0, "every task" (rds_fn_task_status(NULL, 0)).
      if (auto id = Int(c, "@task_id"); id && *id != 0) body["TaskId"] = *id;
      return std::pair<std::string, Json>{"DescribeTasks", body};
    }
    if (p == "rds_cancel_task") {
      body["TaskId"] = Int(c, "@task_id").value_or(0);
      return std::pair<std::string, Json>{"CancelTask", body};
    }
    if (p == "rds_finish_restore") {
      body["DbName"] = Str(c, "@db_name");
      return std::pair<std::string, Json>{"FinishRestore", body};
    }
    if (p == "rds_drop_database") {
      body["DbName"] = Str(c, "@db_name");
      return std::pair<std::string, Json>{"DropDatabase", body};
    }
    return Status(StatusCode::kInvalidArgument, std::string(tsql::kSqlUnknownProcedure),
                  "Procedure " + p + " is not supported by coffer.");
  }

  int Sql() {
    Result<std::vector<tsql::ProcedureCall>> calls = tsql::ParseScript(sql_text_);
    if (!calls.ok()) {
      return connection_.Report("Msg: " + calls.status().message(), kExitParamError);
    }
    if (int rc = ResolveInstance(); rc != 0) return rc;
    bool json = connection_.format() == OutputFormat::kJson && output_json_requested();
    int rc = 0;
    for (const tsql::ProcedureCall& call : *calls) {
      Result<std::pair<std::string, Json>> api = Translate(call);
      if (!api.ok()) return connection_.Report("Msg: " + api.status().message(), kExitParamError);
      Result<Json> answer = Call(api->first, api->second);
      if (!answer.ok()) return connection_.ReportCall(api->first, answer.status());
      if (api->first == "DropDatabase") {  // no task: done when answered
        const std::string dropped = answer->value("DbName", "");
        if (json) {
          ResultSet done;
          done.columns = {"database_name"};
          done.rows.push_back({dropped});
          *env_.out << FormatJson(done);
        } else {
          *env_.out << "Database " << dropped << " was dropped.\n";
        }
        env_.out->flush();
        continue;
      }
      ResultSet result;
      result.columns = kTaskColumns;
      if (answer->contains("Tasks")) {
        for (const Json& t : (*answer)["Tasks"]) result.rows.push_back(TaskRow(t));
      } else {
        Json task = (*answer)["Task"];
        if (wait_) {
          Result<Json> ended = Wait(task.value("TaskId", int64_t{0}));
          if (!ended.ok()) return connection_.ReportCall("DescribeTasks", ended.status());
          task = *ended;
          rc = std::max(rc, Outcome(task));
        }
        result.rows.push_back(TaskRow(task));
      }
      *env_.out << (json ? FormatJson(result) : FormatGrid(result));
      env_.out->flush();
    }
    return rc;
  }

  // `coffer sql` prints a grid unless --output json was given explicitly.
  bool output_json_requested() const {
    for (CLI::Option* o : sql_->get_options()) {
      if (o->get_name() == "--output" && o->count() > 0) return o->as<std::string>() == "json";
    }
    return false;
  }

  ClientEnvironment env_;
  ClientConnection connection_{env_};
  AwsClient* client_ = nullptr;
  CLI::App *instance_cmd_, *create_, *list_, *describe_, *delete_;
  CLI::App *backup_, *restore_, *status_, *cancel_, *finish_, *sql_;
  std::string name_, engine_, path_, dsn_, role_arn_;
  std::string instance_, database_, s3_arn_, type_ = "FULL", db_filter_, sql_text_;
  std::optional<std::string> kms_key_arn_;  // given, even as ""
  bool overwrite_ = false, norecovery_ = false, wait_ = false;
  int files_ = 1;
  int64_t task_id_ = 0;
};

}  // namespace

std::unique_ptr<CommandGroup> RegisterBackupCommands(CLI::App& app, ClientEnvironment environment) {
  return std::make_unique<BackupCommands>(app, std::move(environment));
}

std::unique_ptr<CommandGroup> RegisterBackupCommands(CLI::App& app) {
  return RegisterBackupCommands(app, ProcessClientEnvironment());
}

}  // namespace coffer::cli
