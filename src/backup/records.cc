#include "backup/records.h"

#include <cstdio>

#include "common/stored_json.h"

namespace coffer::backup {
namespace {

using Json = stored_json::Json;
using stored_json::Corrupt;
using stored_json::Get;
using stored_json::ParseObject;

}  // namespace

std::string TaskKey(int64_t id) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%016lld", static_cast<long long>(id));
  return buf;
}

std::string InstanceKey(std::string_view name) {
  std::string key(name);
  for (char& c : key) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return key;
}

std::string DsnSealContext(std::string_view instance_name) {
  return "backup/instance/" + std::string(instance_name) + "/dsn";
}

std::string EncodeInstance(const Instance& i, ByteView sealed_dsn) {
  Json j;
  j["name"] = i.name;
  j["engine"] = i.engine;
  j["path"] = i.path;
  j["dsn"] = "";
  if (!sealed_dsn.empty()) j["dsn_sealed"] = Base64Encode(sealed_dsn);
  j["role_arn"] = i.role_arn;
  j["created_ms"] = EpochMillis(i.created);
  return j.dump();
}

Result<StoredInstance> DecodeInstance(std::string_view text) {
  ASSIGN_OR_RETURN(Json j, ParseObject(text, "backup instance"));
  StoredInstance stored;
  Instance& i = stored.instance;
  int64_t created = 0;
  if (!Get(j, "name", i.name) || !Get(j, "engine", i.engine) || !Get(j, "path", i.path) ||
      !Get(j, "dsn", i.dsn) || !Get(j, "role_arn", i.role_arn) || !Get(j, "created_ms", created)) {
    return Corrupt("backup instance");
  }
  if (j.contains("dsn_sealed")) {
    std::string sealed;
    if (!Get(j, "dsn_sealed", sealed)) return Corrupt("backup instance");
    Result<Bytes> bytes = Base64Decode(sealed);
    if (!bytes.ok() || bytes->empty()) return Corrupt("backup instance");
    stored.sealed_dsn = std::move(bytes).value();
  }
  i.created = FromEpochMillis(created);
  return stored;
}

std::string EncodeTask(const Task& t) {
  Json j;
  j["id"] = t.id;
  j["type"] = TaskTypeName(t.type);
  j["instance"] = t.instance;
  j["database"] = t.database;
  j["percent"] = t.percent_complete;
  j["lifecycle"] = LifecycleName(t.lifecycle);
  Json log = Json::array();
  for (const TaskLogLine& line : t.log) {
    log.push_back(Json{{"ms", EpochMillis(line.time)}, {"message", line.message}});
  }
  j["log"] = std::move(log);
  j["created_ms"] = EpochMillis(t.created);
  j["updated_ms"] = EpochMillis(t.last_updated);
  if (t.started) j["started_ms"] = EpochMillis(*t.started);
  j["s3_object_arn"] = t.s3_object_arn;
  j["overwrite"] = t.overwrite_s3_backup_file;
  j["kms_key"] = t.kms_master_key_arn;
  j["files"] = t.number_of_files;
  return j.dump();
}

Result<Task> DecodeTask(std::string_view text) {
  ASSIGN_OR_RETURN(Json j, ParseObject(text, "backup task"));
  Task t;
  std::string type, lifecycle;
  int64_t created = 0, updated = 0, started = 0;
  if (!Get(j, "id", t.id) || !Get(j, "type", type) || !Get(j, "instance", t.instance) ||
      !Get(j, "database", t.database) || !Get(j, "percent", t.percent_complete) ||
      !Get(j, "lifecycle", lifecycle) || !Get(j, "created_ms", created) ||
      !Get(j, "updated_ms", updated) || !Get(j, "s3_object_arn", t.s3_object_arn) ||
      !Get(j, "overwrite", t.overwrite_s3_backup_file) ||
      !Get(j, "kms_key", t.kms_master_key_arn) || !Get(j, "files", t.number_of_files)) {
    return Corrupt("backup task");
  }
  auto parsed_type = ParseTaskType(type);
  auto parsed_lifecycle = ParseLifecycle(lifecycle);
  if (!parsed_type.ok() || !parsed_lifecycle.ok()) return Corrupt("backup task");
  t.type = *parsed_type;
  t.lifecycle = *parsed_lifecycle;
  t.created = FromEpochMillis(created);
  t.last_updated = FromEpochMillis(updated);
  if (Get(j, "started_ms", started)) t.started = FromEpochMillis(started);
  auto log = j.find("log");
  if (log == j.end() || !log->is_array()) return Corrupt("backup task");
  for (const Json& line : *log) {
    TaskLogLine l;
    int64_t ms = 0;
    if (!line.is_object() || !Get(line, "ms", ms) || !Get(line, "message", l.message)) {
      return Corrupt("backup task");
    }
    l.time = FromEpochMillis(ms);
    t.log.push_back(std::move(l));
  }
  return t;
}

}  // namespace coffer::backup
