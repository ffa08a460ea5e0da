// Fuzz target: the decoding of the backup API's requests (api::PrepareBackupCall,
// AWS JSON 1.1, docs/api.md) for every operation.
//
// Input: an operation byte, then the request body. The byte picks (modulo 11) one of
// the nine operations (CreateDBInstance, DescribeDBInstances, DeleteDBInstance,
// BackupDatabase, RestoreDatabase, FinishRestore, CancelTask, DescribeTasks,
// DropDatabase), a name that is no operation, or an operation's name in the wrong case. Seeds: a
// valid body of each operation, and bodies with members of the wrong type, missing or null.
//
// The calls are only decoded, never run (running would create instances and tasks):
// the BackupService they are prepared for is opened once per process over a
// SqliteStateStore and a FileObjectStore in a scratch directory, with a Delegation
// and an EngineFactory that refuse everything.
//
// Properties (besides no crash, no sanitizer report):
//  - decoding is deterministic;
//  - a refusal is a client error (kInvalidArgument, HTTP 400, a JSON error body with its
//    __type): SerializationException exactly when the body is neither empty nor a JSON
//    object, UnknownOperationException exactly for a name that is no operation, else
//    ValidationException;
//  - a decoded call is for its operation, recorded with the event source
//    rds.amazonaws.com, readOnly exactly for the Describe operations, with one
//    authorization: the identity action "rds:<Op>" on the instance's ARN (the
//    DBInstanceIdentifier in lower case), or on "*" when no instance is named; every
//    operation but DescribeDBInstances names the instance as its resource; no lockout
//    check; a closure to run;
//  - requestParameters is JSON (an object, or null when there is nothing to record), in
//    lowerCamelCase, and records the request's members as they were sent (the instance
//    in lower case; Type "FULL" when not given; out-of-range integers excepted, see
//    out-of-range integers are refused);
//  - a string Dsn (a libpq connection string, which may hold a password) changes
//    nothing that is recorded or answered: decoding the body without it gives the same
//    outcome and the same requestParameters.
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/backup_json.h"
#include "api/json_errors.h"
#include "backup/backup_service.h"
#include "common/clock.h"
#include "common/random.h"
#include "common/status.h"
#include "fuzz_util.h"
#include "objstore/file_object_store.h"
#include "state/sqlite_state_store.h"
#include "testing/api_call.h"

namespace coffer::fuzz {
namespace {

using Json = nlohmann::ordered_json;

constexpr std::string_view kInstanceArnPrefix = "arn:aws:rds:us-east-1:111122223333:db:";

// DropDatabase comes last, so that the seeds' operation bytes (0-9) keep their
// operations.
constexpr std::string_view kOperations[] = {
    "CreateDBInstance", "DescribeDBInstances", "DeleteDBInstance", "BackupDatabase",
    "RestoreDatabase",  "FinishRestore",       "CancelTask",       "DescribeTasks",
    "NoSuchOperation",  "describedbinstances", "DropDatabase",
};
constexpr std::string_view kNotOperations[] = {"NoSuchOperation", "describedbinstances"};

// A delegation that refuses everything (no task ever runs here anyway).
class RefusingDelegation final : public backup::Delegation {
 public:
  Result<std::unique_ptr<backup::RoleSession>> AssumeRole(const std::string& role_arn) override {
    return Status(StatusCode::kPermissionDenied, "AccessDenied",
                  "the fuzz fixture assumes no role (" + role_arn + ")");
  }
  Status RecordTaskEvent(const backup::TaskEvent&) override {
    return UnavailableError("the fuzz fixture records no task event");
  }
};

// The backup service of this process, opened on first use. Aborts if it cannot be.
class FuzzBackup {
 public:
  static FuzzBackup& Get() {
    static FuzzBackup fixture;
    return fixture;
  }
  backup::BackupService& service() { return *service_; }

  ~FuzzBackup() {
    service_.reset();  // stops its workers before what it uses goes
    files_.reset();
    store_.reset();
  }
  FuzzBackup(const FuzzBackup&) = delete;
  FuzzBackup& operator=(const FuzzBackup&) = delete;

 private:
  FuzzBackup() : clock_(TimePoint(std::chrono::milliseconds(1767225600000))), random_(0x626b7570) {
    auto store = state::SqliteStateStore::Open(dir_.File("state.db"));
    Must(store.status(), "open the state store");
    store_ = std::move(store).value();
    provider_ = std::make_unique<state::KeyFileRootKeyProvider>(dir_.File("root.key"), random_);
    auto vault = state::Vault::Open(*store_, *provider_, random_);
    Must(vault.status(), "open the vault");
    vault_ = std::move(vault).value();
    auto files = objstore::FileObjectStore::Create(dir_.File("buckets"));
    Must(files.status(), "create the object store");
    files_ = std::move(files).value();
    backup::BackupServiceOptions options;
    options.pipeline_workers = 1;
    auto service = backup::BackupService::Open(
        options, *store_, *vault_, *files_, delegation_,
        [](const backup::Instance& instance) -> Result<std::unique_ptr<engines::DatabaseEngine>> {
          return UnavailableError("the fuzz fixture opens no engine (" + instance.engine + ")");
        },
        clock_, random_);
    Must(service.status(), "open the backup service");
    service_ = std::move(service).value();
  }

  static void Must(const Status& s, const char* what) {
    if (!s.ok()) {
      std::fprintf(stderr, "FuzzBackup: %s: %s\n", what, s.ToString().c_str());
      std::abort();
    }
  }

  ScratchDirectory dir_;
  FakeClock clock_;
  SeededRandom random_;
  RefusingDelegation delegation_;
  std::unique_ptr<state::SqliteStateStore> store_;
  std::unique_ptr<state::KeyFileRootKeyProvider> provider_;
  std::unique_ptr<state::Vault> vault_;
  std::unique_ptr<objstore::FileObjectStore> files_;
  std::unique_ptr<backup::BackupService> service_;
};

std::string Lower(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

// A request member and the requestParameters member that records it.
struct Recorded {
  const char* member;
  const char* param;
  bool omitted_when_empty;  // an empty string is not recorded
};

std::vector<Recorded> RecordedMembers(std::string_view op) {
  if (op == "CreateDBInstance") {
    return {{"Engine", "engine", false}, {"Path", "path", true}, {"RoleArn", "roleArn", false}};
  }
  if (op == "BackupDatabase") {
    return {{"SourceDbName", "sourceDbName", false},
            {"S3ArnToBackupTo", "s3ArnToBackupTo", false},
            {"KmsMasterKeyArn", "kmsMasterKeyArn", true},
            {"OverwriteS3BackupFile", "overwriteS3BackupFile", false},
            {"Type", "type", true},
            {"NumberOfFiles", "numberOfFiles", false}};
  }
  if (op == "RestoreDatabase") {
    return {{"RestoreDbName", "restoreDbName", false},
            {"S3ArnToRestoreFrom", "s3ArnToRestoreFrom", false},
            {"KmsMasterKeyArn", "kmsMasterKeyArn", true},
            {"Type", "type", true},
            {"WithNorecovery", "withNorecovery", false}};
  }
  if (op == "FinishRestore" || op == "DropDatabase") return {{"DbName", "dbName", false}};
  if (op == "CancelTask") return {{"TaskId", "taskId", false}};
  if (op == "DescribeTasks") return {{"DbName", "dbName", true}, {"TaskId", "taskId", false}};
  return {};
}

void CheckRefusal(std::string_view op, std::string_view body, const Status& s) {
  const std::string where = std::string(op) + ": " + s.ToString();
  FUZZ_CHECK_MSG(!s.ok() && s.code() == StatusCode::kInvalidArgument, where);
  const bool object = body.empty() || Json::parse(body, nullptr, false).is_object();
  const bool known = std::find(std::begin(kNotOperations), std::end(kNotOperations), op) ==
                     std::end(kNotOperations);
  if (!object) {
    FUZZ_CHECK_MSG(s.error_name() == "SerializationException", where);
  } else if (!known) {
    FUZZ_CHECK_MSG(s.error_name() == "UnknownOperationException", where);
  } else {
    FUZZ_CHECK_MSG(s.error_name() == "ValidationException" && !s.message().empty(), where);
  }
  api::JsonError error = api::ToJsonError(s, api::kBackupErrorNames);
  FUZZ_CHECK_MSG(error.http_status == 400 && error.type == s.error_name(), where);
  Json wire = Json::parse(api::JsonErrorBody(error), nullptr, false);
  FUZZ_CHECK_MSG(wire.is_object() && wire.value("__type", "") == error.type, where);
}

void CheckCall(backup::BackupService& service, std::string_view op, const Json& request,
               const api::Call& call) {
  const std::string where = std::string(op) + ": " + call.request_parameters;
  FUZZ_CHECK_MSG(call.operation == op, where);
  FUZZ_CHECK_MSG(call.event_source == api::kBackupEventSource, where);
  FUZZ_CHECK_MSG(call.read_only == (op == "DescribeDBInstances" || op == "DescribeTasks"), where);
  FUZZ_CHECK_MSG(static_cast<bool>(call.run), where);
  FUZZ_CHECK_MSG(!call.lockout_check_policy.has_value(), where);

  std::string instance;
  if (auto it = request.find("DBInstanceIdentifier"); it != request.end() && it->is_string()) {
    instance = Lower(it->get<std::string>());
  }
  const std::string arn = service.InstanceArn(instance);
  FUZZ_CHECK_MSG(arn == std::string(kInstanceArnPrefix) + instance, where + " " + arn);
  // CreateDBInstance also passes the role: iam:PassRole on it, for rds.amazonaws.com.
  FUZZ_CHECK_MSG(call.authorizations.size() == (op == "CreateDBInstance" ? 2u : 1u), where);
  if (op == "CreateDBInstance") {
    const api::Authorization& pass = call.authorizations[1];
    FUZZ_CHECK_MSG(pass.scope == api::PolicyScope::kIdentity && pass.action == "iam:PassRole" &&
                       pass.resource == request.at("RoleArn").get<std::string>() &&
                       pass.condition_keys.at("iam:PassedToService") ==
                           std::vector<std::string>{"rds.amazonaws.com"},
                   where);
  }
  const api::Authorization& a = call.authorizations[0];
  FUZZ_CHECK_MSG(a.scope == api::PolicyScope::kIdentity, where);
  FUZZ_CHECK_MSG(a.action == "rds:" + std::string(op), where + " " + a.action);
  FUZZ_CHECK_MSG(a.resource == (instance.empty() ? std::string("*") : arn),
                 where + " " + a.resource);
  FUZZ_CHECK_MSG(a.condition_keys.empty(), where);
  if (op == "DescribeDBInstances") {
    FUZZ_CHECK_MSG(call.resources.empty(), where);
  } else {
    FUZZ_CHECK_MSG(call.resources.size() == 1 && call.resources[0].arn == arn &&
                       call.resources[0].type == "AWS::RDS::DBInstance",
                   where);
  }

  Json params = Json::parse(call.request_parameters, nullptr, false);
  FUZZ_CHECK_MSG(params.is_object() || params.is_null(), where);
  // null: nothing to record (then no instance either; an empty DBInstanceIdentifier
  // counts as given but is not recorded).
  FUZZ_CHECK_MSG(!params.is_null() || instance.empty(), where);
  if (params.is_null()) params = Json::object();
  for (const auto& [key, value] : params.items()) {
    FUZZ_CHECK_MSG(!key.empty() && key[0] >= 'a' && key[0] <= 'z', where);
    FUZZ_CHECK_MSG(!value.is_object() && !value.is_array(), where);
  }
  if (instance.empty()) {
    FUZZ_CHECK_MSG(!params.contains("dBInstanceIdentifier"), where);
  } else {
    FUZZ_CHECK_MSG(params.value("dBInstanceIdentifier", Json()) == instance, where);
  }
  for (const Recorded& r : RecordedMembers(op)) {
    auto it = request.find(r.member);
    const bool given = it != request.end() && !it->is_null();
    const bool empty = !given || (it->is_string() && it->get<std::string>().empty());
    if (r.omitted_when_empty && empty) {
      if (std::string_view(r.member) == "Type") {
        FUZZ_CHECK_MSG(params.value(r.param, Json()) == "FULL", where);
      } else {
        FUZZ_CHECK_MSG(!params.contains(r.param), where);
      }
    } else if (given) {
      // As text: nlohmann's == takes 18446744073709551615 for -1.
      FUZZ_CHECK_MSG(params.value(r.param, Json()).dump() == it->dump(),
                     where + ": " + r.member + " was " + it->dump());
    }
  }
}

struct Outcome {
  Status status;
  std::string request_parameters;
};

Outcome Decode(std::string_view op, std::string_view body) {
  Result<api::Call> call =
      testing::UnlessRefused(api::PrepareBackupCall(FuzzBackup::Get().service(), op, body));
  if (!call.ok()) return {call.status(), ""};
  return {Status::Ok(), call->request_parameters};
}

}  // namespace
}  // namespace coffer::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace coffer;
  using namespace coffer::fuzz;
  if (size < 1) return 0;
  const std::string_view op = kOperations[data[0] % std::size(kOperations)];
  const std::string_view body = AsText(data + 1, size - 1);
  backup::BackupService& service = FuzzBackup::Get().service();

  Result<api::Call> call = testing::UnlessRefused(api::PrepareBackupCall(service, op, body));
  const Outcome again = Decode(op, body);
  FUZZ_CHECK(call.ok() == again.status.ok());
  const Json request = body.empty() ? Json::object() : Json::parse(body, nullptr, false);
  if (!call.ok()) {
    FUZZ_CHECK_MSG(call.status() == again.status, again.status.ToString());
    CheckRefusal(op, body, call.status());
  } else {
    FUZZ_CHECK(call->request_parameters == again.request_parameters);
    CheckCall(service, op, request, *call);
  }

  // Without its Dsn, the request decodes to the same record and the same answer.
  if (request.is_object() && request.contains("Dsn") && request["Dsn"].is_string()) {
    Json without = request;
    without.erase("Dsn");
    const Outcome other = Decode(op, without.dump());
    const Outcome& first = again;
    FUZZ_CHECK_MSG(first.status == other.status,
                   first.status.ToString() + " vs " + other.status.ToString());
    FUZZ_CHECK_MSG(first.request_parameters == other.request_parameters,
                   first.request_parameters + " vs " + other.request_parameters);
  }
  return 0;
}
