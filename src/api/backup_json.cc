#include "api/backup_json.h"

#include <algorithm>
#include <cstdint>
#include <nlohmann/json.hpp>

#include "backup/backup_service.h"

namespace coffer::api {
namespace {

using Json = nlohmann::ordered_json;

Status Validation(std::string message) {
  return Status(StatusCode::kInvalidArgument, "ValidationException", std::move(message));
}

// Reads the members of a request, collecting every type error.
class Members {
 public:
  explicit Members(const Json& body) : body_(body) {}

  // `allow_empty`: a required member that may be "" (the service then answers
  // with the procedure's own message, as "S3 ARN prefix cannot be empty").
  std::string String(const char* name, bool required, bool allow_empty = false) {
    auto it = body_.find(name);
    if (it == body_.end() || it->is_null()) {
      if (required)
        Fail(std::string("Value null at '") + name +
             "' failed to satisfy constraint: Member must not be null");
      return {};
    }
    if (!it->is_string()) {
      Fail(std::string("'") + name + "' must be a string");
      return {};
    }
    if (required && !allow_empty && it->get_ref<const std::string&>().empty()) {
      FailEmpty(name);
      return {};
    }
    return it->get<std::string>();
  }

  // An optional member that, when given, must not be "" (AWS's length constraint).
  std::string NonEmptyString(const char* name) {
    auto it = body_.find(name);
    if (it != body_.end() && it->is_string() && it->get_ref<const std::string&>().empty()) {
      FailEmpty(name);
      return {};
    }
    return String(name, false);
  }

  void FailEmpty(const char* name) {
    Fail(std::string("Value '' at '") + name +
         "' failed to satisfy constraint: Member must have length greater than or equal to 1");
  }

  std::optional<int64_t> Integer(const char* name, bool required) {
    auto it = body_.find(name);
    if (it == body_.end() || it->is_null()) {
      if (required)
        Fail(std::string("Value null at '") + name +
             "' failed to satisfy constraint: Member must not be null");
      return std::nullopt;
    }
    if (!it->is_number_integer()) {
      Fail(std::string("'") + name + "' must be an integer");
      return std::nullopt;
    }
    if (it->is_number_unsigned() && it->get<uint64_t>() > uint64_t{INT32_MAX}) {
      Fail(std::string("'") + name + "' is out of range");
      return std::nullopt;
    }
    int64_t value = it->get<int64_t>();
    if (value < INT32_MIN || value > INT32_MAX) {
      Fail(std::string("'") + name + "' is out of range");
      return std::nullopt;
    }
    return value;
  }

  std::optional<bool> Boolean(const char* name) {
    auto it = body_.find(name);
    if (it == body_.end() || it->is_null()) return std::nullopt;
    if (!it->is_boolean()) {
      Fail(std::string("'") + name + "' must be a boolean");
      return std::nullopt;
    }
    return it->get<bool>();
  }

  Status status() const {
    if (errors_.empty()) return Status::Ok();
    std::string message = std::to_string(errors_.size()) + " validation error" +
                          (errors_.size() == 1 ? "" : "s") + " detected: ";
    for (size_t i = 0; i < errors_.size(); ++i) message += (i ? "; " : "") + errors_[i];
    return Validation(std::move(message));
  }

 private:
  void Fail(std::string e) { errors_.push_back(std::move(e)); }
  const Json& body_;
  std::vector<std::string> errors_;
};

Json InstanceJson(const backup::BackupService& service, const backup::Instance& i) {
  Json j;
  j["DBInstanceIdentifier"] = i.name;
  j["DBInstanceArn"] = service.InstanceArn(i.name);
  j["Engine"] = i.engine;
  if (!i.path.empty()) j["Path"] = i.path;
  j["RoleArn"] = i.role_arn;
  j["InstanceCreateTime"] = EpochSeconds(i.created);
  return j;
}

Json TaskJson(const backup::Task& t) {
  Json j;
  j["TaskId"] = t.id;
  j["TaskType"] = backup::TaskTypeName(t.type);
  j["DBInstanceIdentifier"] = t.instance;
  j["DatabaseName"] = t.database;
  j["PercentComplete"] = t.percent_complete;
  j["DurationMins"] = t.DurationMinutes();
  j["Lifecycle"] = backup::LifecycleName(t.lifecycle);
  j["TaskInfo"] = t.TaskInfo();
  j["LastUpdated"] = EpochSeconds(t.last_updated);
  j["CreatedAt"] = EpochSeconds(t.created);
  j["S3ObjectArn"] = t.s3_object_arn;
  j["OverwriteS3BackupFile"] = t.overwrite_s3_backup_file;
  if (t.kms_master_key_arn.empty()) {
    j["KmsMasterKeyArn"] = nullptr;
  } else {
    j["KmsMasterKeyArn"] = t.kms_master_key_arn;
  }
  j["NumberOfFiles"] = t.number_of_files;
  return j;
}

// CloudTrail's responseElements of a task: what it is, never a secret.
std::string TaskElements(const backup::Task& t) {
  Json j;
  j["taskId"] = t.id;
  j["taskType"] = backup::TaskTypeName(t.type);
  j["lifecycle"] = backup::LifecycleName(t.lifecycle);
  return j.dump();
}

Authorization OnInstance(const backup::BackupService& service, std::string_view action,
                         const std::string& instance) {
  Authorization a;
  a.scope = PolicyScope::kIdentity;
  a.action = "rds:" + std::string(action);
  a.resource = instance.empty() ? "*" : service.InstanceArn(instance);
  return a;
}

std::string Lower(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

constexpr std::string_view kBackupOperations[] = {
    "CreateDBInstance", "DescribeDBInstances", "DeleteDBInstance",
    "BackupDatabase",   "RestoreDatabase",     "FinishRestore",
    "DropDatabase",     "CancelTask",          "DescribeTasks"};

}  // namespace

bool BackupOperationIsReadOnly(std::string_view operation) {
  return operation == "DescribeDBInstances" || operation == "DescribeTasks";
}

namespace {

Result<Call> DecodeBackupCall(backup::BackupService& service, std::string_view operation,
                              std::string_view body) {
  Json request = body.empty() ? Json::object() : Json::parse(body, nullptr, false);
  if (!request.is_object()) {
    return Status(StatusCode::kInvalidArgument, "SerializationException", "");
  }
  Members m(request);
  Call call;
  call.operation = std::string(operation);
  call.event_source = std::string(kBackupEventSource);
  std::string instance =
      Lower(m.String("DBInstanceIdentifier", operation != "DescribeDBInstances"));
  Json params;
  if (!instance.empty()) params["dBInstanceIdentifier"] = instance;
  auto resource = [&] {
    call.resources.push_back(
        AuditResource::Of(service.InstanceArn(instance), "AWS::RDS::DBInstance"));
  };

  if (operation == "CreateDBInstance") {
    backup::CreateInstanceRequest r;
    r.name = instance;
    r.engine = m.String("Engine", true);
    r.path = m.String("Path", false);
    r.dsn = m.String("Dsn", false);
    r.role_arn = m.String("RoleArn", true);
    RETURN_IF_ERROR(m.status());
    params["engine"] = r.engine;
    if (!r.path.empty()) params["path"] = r.path;
    params["roleArn"] = r.role_arn;  // the DSN may hold a password: never recorded
    resource();
    call.authorizations.push_back(OnInstance(service, "CreateDBInstance", instance));
    // Handing a role to the service lets its tasks act as the role: IAM asks for
    // iam:PassRole on it, as when a role is given to an RDS instance.
    Authorization pass_role;
    pass_role.action = "iam:PassRole";
    pass_role.resource = r.role_arn;
    pass_role.condition_keys["iam:PassedToService"] = {"rds.amazonaws.com"};
    call.authorizations.push_back(std::move(pass_role));
    call.run = [&service, r]() -> Result<Reply> {
      ASSIGN_OR_RETURN(backup::Instance created, service.CreateInstance(r));
      Reply reply;
      Json out;
      out["DBInstance"] = InstanceJson(service, created);
      reply.body = out.dump();
      reply.response_elements = Json{{"dBInstanceArn", service.InstanceArn(created.name)}}.dump();
      return reply;
    };
  } else if (operation == "DescribeDBInstances") {
    RETURN_IF_ERROR(m.status());
    call.authorizations.push_back(OnInstance(service, "DescribeDBInstances", instance));
    call.run = [&service, instance]() -> Result<Reply> {
      Json list = Json::array();
      if (instance.empty()) {
        ASSIGN_OR_RETURN(auto all, service.ListInstances());
        for (const auto& i : all) list.push_back(InstanceJson(service, i));
      } else {
        ASSIGN_OR_RETURN(auto one, service.DescribeInstance(instance));
        list.push_back(InstanceJson(service, one));
      }
      Reply reply;
      reply.body = Json{{"DBInstances", std::move(list)}}.dump();
      return reply;
    };
  } else if (operation == "DeleteDBInstance") {
    RETURN_IF_ERROR(m.status());
    resource();
    call.authorizations.push_back(OnInstance(service, "DeleteDBInstance", instance));
    call.run = [&service, instance]() -> Result<Reply> {
      ASSIGN_OR_RETURN(auto existing, service.DescribeInstance(instance));
      RETURN_IF_ERROR(service.DeleteInstance(instance));
      Reply reply;
      reply.body = Json{{"DBInstance", InstanceJson(service, existing)}}.dump();
      return reply;
    };
  } else if (operation == "BackupDatabase") {
    backup::BackupRequest r;
    r.instance = instance;
    r.source_db_name = m.String("SourceDbName", true, true);
    r.s3_arn_to_backup_to = m.String("S3ArnToBackupTo", true, true);
    r.kms_master_key_arn = m.NonEmptyString("KmsMasterKeyArn");
    r.overwrite_s3_backup_file = m.Boolean("OverwriteS3BackupFile").value_or(false);
    std::string type = m.NonEmptyString("Type");  // "" is refused, not the default
    if (!type.empty()) r.type = type;
    r.number_of_files = static_cast<int>(m.Integer("NumberOfFiles", false).value_or(1));
    RETURN_IF_ERROR(m.status());
    params["sourceDbName"] = r.source_db_name;
    params["s3ArnToBackupTo"] = r.s3_arn_to_backup_to;
    if (!r.kms_master_key_arn.empty()) params["kmsMasterKeyArn"] = r.kms_master_key_arn;
    params["overwriteS3BackupFile"] = r.overwrite_s3_backup_file;
    params["type"] = r.type;
    params["numberOfFiles"] = r.number_of_files;
    resource();
    call.authorizations.push_back(OnInstance(service, "BackupDatabase", instance));
    call.run = [&service, r]() -> Result<Reply> {
      ASSIGN_OR_RETURN(backup::Task task, service.BackupDatabase(r));
      Reply reply;
      reply.body = Json{{"Task", TaskJson(task)}}.dump();
      reply.response_elements = TaskElements(task);
      return reply;
    };
  } else if (operation == "RestoreDatabase") {
    backup::RestoreRequest r;
    r.instance = instance;
    r.restore_db_name = m.String("RestoreDbName", true, true);
    r.s3_arn_to_restore_from = m.String("S3ArnToRestoreFrom", true, true);
    r.kms_master_key_arn = m.NonEmptyString("KmsMasterKeyArn");
    std::string type = m.NonEmptyString("Type");  // "" is refused, not the default
    if (!type.empty()) r.type = type;
    r.with_norecovery = m.Boolean("WithNorecovery").value_or(false);
    RETURN_IF_ERROR(m.status());
    params["restoreDbName"] = r.restore_db_name;
    params["s3ArnToRestoreFrom"] = r.s3_arn_to_restore_from;
    if (!r.kms_master_key_arn.empty()) params["kmsMasterKeyArn"] = r.kms_master_key_arn;
    params["type"] = r.type;
    params["withNorecovery"] = r.with_norecovery;
    resource();
    call.authorizations.push_back(OnInstance(service, "RestoreDatabase", instance));
    call.run = [&service, r]() -> Result<Reply> {
      ASSIGN_OR_RETURN(backup::Task task, service.RestoreDatabase(r));
      Reply reply;
      reply.body = Json{{"Task", TaskJson(task)}}.dump();
      reply.response_elements = TaskElements(task);
      return reply;
    };
  } else if (operation == "FinishRestore") {
    std::string db = m.String("DbName", true);
    RETURN_IF_ERROR(m.status());
    params["dbName"] = db;
    resource();
    call.authorizations.push_back(OnInstance(service, "FinishRestore", instance));
    call.run = [&service, instance, db]() -> Result<Reply> {
      ASSIGN_OR_RETURN(backup::Task task, service.FinishRestore(instance, db));
      Reply reply;
      reply.body = Json{{"Task", TaskJson(task)}}.dump();
      reply.response_elements = TaskElements(task);
      return reply;
    };
  } else if (operation == "DropDatabase") {
    std::string db = m.String("DbName", true);
    RETURN_IF_ERROR(m.status());
    params["dbName"] = db;
    resource();
    call.authorizations.push_back(OnInstance(service, "DropDatabase", instance));
    call.run = [&service, instance, db]() -> Result<Reply> {
      ASSIGN_OR_RETURN(std::string dropped, service.DropDatabase(instance, db));
      Reply reply;
      reply.body = Json{{"DbName", dropped}}.dump();
      reply.response_elements = Json{{"dbName", dropped}}.dump();
      return reply;
    };
  } else if (operation == "CancelTask") {
    std::optional<int64_t> id = m.Integer("TaskId", true);
    RETURN_IF_ERROR(m.status());
    params["taskId"] = *id;
    resource();
    call.authorizations.push_back(OnInstance(service, "CancelTask", instance));
    call.run = [&service, instance, id]() -> Result<Reply> {
      ASSIGN_OR_RETURN(backup::Task task, service.CancelTask(instance, *id));
      Reply reply;
      reply.body = Json{{"Task", TaskJson(task)}}.dump();
      reply.response_elements = TaskElements(task);
      return reply;
    };
  } else if (operation == "DescribeTasks") {
    backup::TaskFilter filter;
    filter.instance = instance;
    std::string db = m.String("DbName", false);
    if (!db.empty()) filter.database = db;
    filter.task_id = m.Integer("TaskId", false);
    RETURN_IF_ERROR(m.status());
    if (filter.database) params["dbName"] = *filter.database;
    if (filter.task_id) params["taskId"] = *filter.task_id;
    resource();
    call.authorizations.push_back(OnInstance(service, "DescribeTasks", instance));
    call.run = [&service, filter]() -> Result<Reply> {
      ASSIGN_OR_RETURN(std::vector<backup::Task> tasks, service.DescribeTasks(filter));
      Json list = Json::array();
      for (const auto& t : tasks) list.push_back(TaskJson(t));
      Reply reply;
      reply.body = Json{{"Tasks", std::move(list)}}.dump();
      return reply;
    };
  } else {
    return Status(StatusCode::kInvalidArgument, "UnknownOperationException", "");
  }
  call.request_parameters = params.is_null() ? "null" : params.dump();
  return call;
}

}  // namespace

Result<Call> PrepareBackupCall(backup::BackupService& service, std::string_view operation,
                               std::string_view body) {
  Result<Call> decoded = DecodeBackupCall(service, operation, body);
  if (decoded.ok()) {
    decoded->read_only = BackupOperationIsReadOnly(operation);
    return decoded;
  }
  if (std::find(std::begin(kBackupOperations), std::end(kBackupOperations), operation) ==
      std::end(kBackupOperations)) {
    return decoded;
  }
  // Refused while decoded: recorded as its operation, with the instance it named.
  Call refused = RefusedCall(std::string(operation), decoded.status());
  refused.event_source = std::string(kBackupEventSource);
  refused.read_only = BackupOperationIsReadOnly(operation);
  Json request = Json::parse(body, nullptr, false);
  if (request.is_object()) {
    auto it = request.find("DBInstanceIdentifier");
    if (it != request.end() && it->is_string()) {
      refused.request_parameters =
          Json{{"dBInstanceIdentifier", Lower(it->get<std::string>())}}.dump();
    }
  }
  return refused;
}

}  // namespace coffer::api
