#include "backup/backup_service.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>

#include "backup/records.h"
#include "backup/striping.h"
#include "common/logging.h"
#include "envelope/backup_stream.h"
#include "envelope/errors.h"
#include "envelope/kms_keyring.h"
#include "objstore/location.h"

namespace coffer::backup {
namespace {

constexpr char kEngineContextKey[] = "coffer:engine";
constexpr char kEngineVersionContextKey[] = "coffer:engine-version";
constexpr char kDatabaseContextKey[] = "coffer:database";
constexpr char kBackupTypeContextKey[] = "coffer:backup-type";
constexpr char kFileContextKey[] = "coffer:file";
constexpr char kBackupIdContextKey[] = "coffer:backup-id";

// How often a running task's progress is written to the state store at most.
constexpr auto kProgressPeriod = std::chrono::seconds(1);

constexpr char kBackupAborted[] =
    "Aborted the task because of a task failure or an overlap with your preferred backup "
    "window for RDS automated backup.";
constexpr char kRestoreAborted[] =
    "Aborted the task because of a task failure or a concurrent RESTORE_DB request.";
constexpr char kTaskAborted[] = "Task has been aborted";
// RDS's answer when the role of an option (here, of an instance) cannot be used.
constexpr char kRoleRefused[] =
    "IAM role ARN value is invalid or does not include the required permissions for: "
    "SQLSERVER_BACKUP_RESTORE.";

Status Invalid(std::string message) {
  return Status(StatusCode::kInvalidArgument, kInvalidParameterValue, std::move(message));
}

Status ValidateInstanceName(std::string_view name) {
  bool ok = !name.empty() && name.size() <= 63 && name[0] >= 'a' && name[0] <= 'z' &&
            name.back() != '-' && name.find("--") == std::string_view::npos &&
            std::all_of(name.begin(), name.end(), [](char c) {
              return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
            });
  if (ok) return Status::Ok();
  return Invalid(
      "The parameter DBInstanceIdentifier is not a valid identifier. Identifiers must begin "
      "with a letter; must contain only ASCII letters, digits, and hyphens; and must not end "
      "with a hyphen or contain two consecutive hyphens.");
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string FormatBytes(uint64_t bytes) {
  char buf[64];
  if (bytes >= (uint64_t{1} << 30)) {
    std::snprintf(buf, sizeof buf, "%.2f GiB", static_cast<double>(bytes) / (1 << 30));
  } else if (bytes >= (uint64_t{1} << 20)) {
    std::snprintf(buf, sizeof buf, "%.2f MiB", static_cast<double>(bytes) / (1 << 20));
  } else {
    std::snprintf(buf, sizeof buf, "%llu bytes", static_cast<unsigned long long>(bytes));
  }
  return buf;
}

// A keyring for restores given no key: it only learns which KMS keys the
// backup's data key is under, so that the task can say which one it needs.
class KeyArnProbe final : public envelope::Keyring {
 public:
  Result<envelope::DataKeyMaterial> OnEncrypt(const envelope::EncryptionContext&) override {
    return InternalError("a probe keyring does not encrypt");
  }
  Result<crypto::SecretBytes> OnDecrypt(const envelope::EncryptionContext&,
                                        std::span<const envelope::EncryptedDataKey> edks) override {
    arns = envelope::KmsKeyArns(edks);
    return Status(StatusCode::kFailedPrecondition, "BackupEncrypted", "encrypted");
  }
  std::vector<std::string> arns;
};

}  // namespace

class BackupService::Impl {
 public:
  Impl(BackupServiceOptions options, state::StateStore& store, const state::Vault& vault,
       objstore::ObjectStore& buckets, Delegation& delegation, EngineFactory engines, Clock& clock,
       Random& random)
      : options_(std::move(options)),
        store_(store),
        vault_(vault),
        buckets_(buckets),
        delegation_(delegation),
        engines_(std::move(engines)),
        clock_(clock),
        random_(random) {}

  ~Impl() { Stop(); }

  Status Start() {
    RETURN_IF_ERROR(SealStoredDsns());
    // Tasks that were running when the server stopped end in ERROR; waiting ones
    // are queued again.
    std::vector<Task> tasks;
    RETURN_IF_ERROR(store_.View([&](const state::ReadTransaction& tx) -> Status {
      ASSIGN_OR_RETURN(auto entries, tx.Scan(kTasksTable, "", "", 0));
      for (const auto& e : entries) {
        ASSIGN_OR_RETURN(Task t, DecodeTask(e.value));
        if (!IsFinished(t.lifecycle)) tasks.push_back(std::move(t));
      }
      return Status::Ok();
    }));
    std::vector<Task> interrupted;
    for (Task& t : tasks) {
      if (t.lifecycle == Lifecycle::kCreated) {
        // An instance is not deleted while it has a task waiting; were it gone,
        // the task fails when it runs.
        Result<Instance> instance = DescribeInstance(t.instance);
        queue_.push_back({t.id, instance.ok() ? DatabaseKey(*instance, t.database)
                                              : t.instance + "\n" + Lower(t.database)});
      } else {
        interrupted.push_back(std::move(t));
      }
    }
    std::map<int64_t, std::string> removed = RemoveLeftovers(interrupted);
    for (Task& t : interrupted) {
      // A FULL restore that was cut short after it began (past its check that
      // the name was free) may have left its database under the engine's
      // staging or restoring name: it belongs to this task, and would block the
      // next restore of that name. One that stopped before has made nothing: a
      // restoring copy of that name is another task's (a NORECOVERY restore
      // waiting for its DIFFERENTIAL), and stays.
      // A NORECOVERY restore that wrote its closing line finished: its
      // RESTORING copy is complete and waits for its DIFFERENTIAL.
      const bool kept_restoring = KeptRestoring(t);
      std::string cleanup;
      if ((t.type == TaskType::kRestore || t.type == TaskType::kRestoreNoRecovery) &&
          BeganRestoring(t) && !kept_restoring) {
        cleanup = RemovePartialRestore(t);
      }
      // Nothing of a restore under way was left (no staging or restoring copy,
      // no temporary file), and its database is online, or it is complete and
      // RESTORING.
      if (cleanup.empty() && removed[t.id].empty() && (kept_restoring || RestoredOnline(t))) {
        // Stopped after its last step, bringing the database online (which an
        // engine does only with the whole backup restored and checked) or
        // saying it stays RESTORING, and before the task could record its end:
        // the restore is complete.
        RETURN_IF_ERROR(UpdateTask(t.id, [&](Task& task) {
          AddLine(task, "Database " + task.database +
                            (kept_restoring ? " is restored and stays in the RESTORING state"
                                            : " is restored and online") +
                            "; the server stopped before the task could record it.");
          AddLine(task, "Task has been completed successfully.");
          task.percent_complete = 100;
          task.lifecycle = Lifecycle::kSuccess;
        }));
        Task ended;
        if (LoadTask(t.id, ended).ok()) {
          RecordEvent(TaskEvent::Kind::kEnded, ended, "").IgnoreError();
        }
        continue;
      }
      const std::string stored = IsBackup(t.type) ? StoredBackupFiles(t) : "";
      RETURN_IF_ERROR(UpdateTask(t.id, [&](Task& task) {
        if (!cleanup.empty()) AddLine(task, cleanup);
        if (!removed[t.id].empty()) AddLine(task, removed[t.id]);
        // As every failure: RDS's line, "Task has been aborted", then the reason
        // (the last line: the audit record takes it).
        AddLine(task, IsBackup(task.type) ? kBackupAborted : kRestoreAborted);
        AddLine(task, kTaskAborted);
        AddLine(task, stored.empty()
                          ? "The task was interrupted because the server stopped while it ran; "
                            "it did not complete and left nothing behind."
                          : "The task was interrupted because the server stopped while it ran; "
                            "it did not complete. " +
                                stored);
        task.lifecycle = Lifecycle::kError;
      }));
      Task ended;
      if (LoadTask(t.id, ended).ok()) RecordEvent(TaskEvent::Kind::kEnded, ended, "").IgnoreError();
    }
    for (int i = 0; i < std::max(1, options_.max_running_tasks); ++i) {
      workers_.emplace_back([this] { WorkerLoop(); });
    }
    return Status::Ok();
  }

  // Removes the temporary files that interrupted tasks left (a crashed process
  // holds no lock on them; see DatabaseEngine::RemoveLeftovers and
  // ObjectStore::RemoveAbandonedUploads): the engine's in each task's instance,
  // the partial uploads in each backup task's bucket, every place once. Returns
  // a task_info line for each task whose places held some. Failures are logged:
  // they leave files, not wrong state.
  std::map<int64_t, std::string> RemoveLeftovers(const std::vector<Task>& interrupted) {
    struct Place {
      int removed = 0;
      int tasks = 0;  // interrupted tasks that used it
    };
    std::map<std::string, Place> instances, buckets;
    auto bucket_of = [](const Task& t) -> std::string {
      if (!IsBackup(t.type)) return "";
      auto location = objstore::ParseObjectLocation(t.s3_object_arn);
      return location.ok() ? location->bucket : "";
    };
    for (const Task& t : interrupted) {
      ++instances[t.instance].tasks;
      if (std::string bucket = bucket_of(t); !bucket.empty()) ++buckets[bucket].tasks;
    }
    for (auto& [name, place] : instances) {
      auto instance = DescribeInstance(name);
      if (!instance.ok()) continue;
      auto engine = engines_(*instance);
      Result<int> removed = engine.ok() ? (*engine)->RemoveLeftovers() : engine.status();
      if (removed.ok()) {
        place.removed = *removed;
      } else {
        Log().warn("instance {}: the temporary files of interrupted tasks were not removed: {}",
                   name, removed.status().ToString());
      }
    }
    for (auto& [name, place] : buckets) {
      Result<int> removed = buckets_.RemoveAbandonedUploads(name);
      if (removed.ok()) {
        place.removed = *removed;
      } else {
        Log().warn("bucket {}: the partial uploads of interrupted tasks were not removed: {}", name,
                   removed.status().ToString());
      }
    }
    std::map<int64_t, std::string> lines;
    for (const Task& t : interrupted) {
      int removed = instances[t.instance].removed;
      bool shared = instances[t.instance].tasks > 1;
      if (std::string bucket = bucket_of(t); !bucket.empty()) {
        removed += buckets[bucket].removed;
        shared |= buckets[bucket].tasks > 1;
      }
      if (removed == 0) continue;
      lines[t.id] = "Removed " + std::to_string(removed) + " temporary file" +
                    (removed == 1 ? "" : "s") + " left by " +
                    (shared ? "this and other interrupted tasks." : "the interrupted task.");
    }
    return lines;
  }

  // Whether the interrupted task `t` is a restore that brings its database
  // online, got past its checks of the name (its log says it began restoring:
  // a FULL restore's name was free then, a DIFFERENTIAL restore's database was
  // RESTORING; any other restore of the name is refused meanwhile), and that
  // database is online now.
  bool RestoredOnline(const Task& t) {
    if (t.type != TaskType::kRestore && t.type != TaskType::kRestoreDifferential) return false;
    if (!BeganRestoring(t)) return false;
    auto instance = DescribeInstance(t.instance);
    if (!instance.ok()) return false;
    auto engine = engines_(*instance);
    if (!engine.ok()) return false;
    auto online = (*engine)->ListDatabases();
    if (!online.ok()) return false;
    return std::any_of(online->begin(), online->end(),
                       [&](const std::string& name) { return Lower(name) == Lower(t.database); });
  }

  // What an interrupted backup `t` may have left in its bucket: a file is
  // stored whole or not at all, but a multi-file backup stores its files one
  // after another, and a task may stop after storing its file and before saying
  // so. Names those of its files that are there (which it may have stored or
  // may have found there) and those that could not be looked up; "" when none
  // of its files is there.
  std::string StoredBackupFiles(const Task& t) {
    auto location = objstore::ParseObjectLocation(t.s3_object_arn);
    if (!location.ok()) return "";
    auto keys = BackupFileKeys(location->key, t.number_of_files);
    if (!keys.ok()) return "";
    std::vector<std::string> found, unknown;
    for (const std::string& key : *keys) {
      const std::string arn = objstore::ObjectLocation{location->bucket, key}.Arn();
      auto head = buckets_.Head(location->bucket, key);
      if (head.ok()) {
        found.push_back(arn);
      } else if (head.status().code() != StatusCode::kNotFound) {
        unknown.push_back(arn + " (" + head.status().message() + ")");
      }
    }
    auto list = [](const std::vector<std::string>& items) {
      std::string text;
      for (const std::string& item : items) text += (text.empty() ? "" : ", ") + item;
      return text;
    };
    std::string line;
    if (!found.empty()) {
      line = std::string(found.size() == 1 ? "The backup file " : "The backup files ") +
             list(found) + (found.size() == 1 ? " is" : " are") +
             " in the bucket, stored by this task before it stopped or there before it ran" +
             (found.size() + unknown.size() < keys->size()
                  ? "; a backup of which a file is missing cannot be restored."
                  : ".");
    }
    if (!unknown.empty()) {
      line += std::string(line.empty() ? "" : " ") + "Whether " +
              (unknown.size() == 1 ? "the backup file " : "the backup files ") + list(unknown) +
              (unknown.size() == 1 ? " is" : " are") + " in the bucket could not be found out.";
    }
    return line;
  }

  // Removes what an interrupted FULL restore left; returns a task_info line
  // when something was removed or could not be.
  std::string RemovePartialRestore(const Task& t) {
    auto instance = DescribeInstance(t.instance);
    if (!instance.ok()) return "";
    auto engine = engines_(*instance);
    if (!engine.ok()) {
      return "The partly restored database " + t.database +
             " could not be checked: " + engine.status().message();
    }
    Status dropped = (*engine)->DropRestoring(t.database);
    if (dropped.ok()) return "The partly restored database " + t.database + " was removed.";
    if (dropped.code() == StatusCode::kNotFound) return "";
    return "The partly restored database " + t.database +
           " could not be removed: " + dropped.message();
  }

  void Stop() {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
      stopping_ = true;
      for (auto& [id, running] : running_) running->stop = true;
    }
    cv_.notify_all();
    idle_cv_.notify_all();
    for (auto& w : workers_) w.join();
    workers_.clear();
  }

  std::string InstanceArn(std::string_view name) const {
    return "arn:aws:rds:" + options_.region + ":" + options_.account_id +
           ":db:" + std::string(name);
  }

  // ---- instances -------------------------------------------------------------------

  Result<Instance> CreateInstance(const CreateInstanceRequest& request) {
    Instance instance;
    instance.name = Lower(request.name);
    RETURN_IF_ERROR(ValidateInstanceName(instance.name));
    instance.engine = request.engine;
    if (instance.engine == "sqlite") {
      if (request.path.empty()) return Invalid("A sqlite instance needs a path (--path DIR).");
      if (request.path[0] != '/') {
        return Invalid("The path of a sqlite instance must be absolute, not '" + request.path +
                       "'.");
      }
      if (!request.dsn.empty()) return Invalid("A sqlite instance takes a path, not a DSN.");
      RETURN_IF_ERROR(CheckNotReserved(request.path));
      instance.path = request.path;
    } else if (instance.engine == "postgres") {
      if (request.dsn.empty()) return Invalid("A postgres instance needs a DSN (--dsn DSN).");
      if (!request.path.empty()) return Invalid("A postgres instance takes a DSN, not a path.");
      instance.dsn = request.dsn;
    } else {
      return Invalid("Invalid DB engine: '" + request.engine +
                     "'. coffer runs sqlite and postgres.");
    }
    RETURN_IF_ERROR(ValidateRoleArn(request.role_arn));
    instance.role_arn = request.role_arn;
    instance.created = clock_.Now();
    // The engine must be reachable now, not at the first task.
    auto engine = engines_(instance);
    if (!engine.ok()) {
      return Invalid("The " + instance.engine +
                     " instance cannot be reached: " + engine.status().message());
    }
    // So is the role: RDS checks it when the option that names it is added. A
    // name already taken is refused first (the store's check below still decides).
    ASSIGN_OR_RETURN(bool taken, InstanceExists(instance.name));
    if (taken) return InstanceAlreadyExists();
    RETURN_IF_ERROR(CheckRole(instance.role_arn));
    ASSIGN_OR_RETURN(const std::string stored, Encode(instance));
    RETURN_IF_ERROR(store_.Update([&](state::Transaction& tx) -> Status {
      ASSIGN_OR_RETURN(auto existing, tx.Get(kInstancesTable, InstanceKey(instance.name)));
      if (existing) return InstanceAlreadyExists();
      return tx.Put(kInstancesTable, InstanceKey(instance.name), stored);
    }));
    return instance;
  }

  // A sqlite instance's directory is neither one of reserved_directories nor
  // inside one, by their real paths (symbolic links and ".." resolved).
  Status CheckNotReserved(const std::string& path) const {
    std::error_code ec;
    const std::filesystem::path real = std::filesystem::weakly_canonical(path, ec);
    if (ec) return Invalid("The path '" + path + "' cannot be resolved: " + ec.message() + ".");
    for (const std::string& reserved : options_.reserved_directories) {
      const std::filesystem::path dir = std::filesystem::weakly_canonical(reserved, ec);
      if (ec) continue;  // not there: nothing of it to reach
      auto [in_dir, in_real] = std::mismatch(dir.begin(), dir.end(), real.begin(), real.end());
      if (in_dir == dir.end()) {
        return Invalid("The path '" + path + "' is " + (in_real == real.end() ? "" : "inside ") +
                       "coffer's data directory " + dir.string() + ": an instance may not use it.");
      }
    }
    return Status::Ok();
  }

  // An instance's stored form: its DSN sealed.
  Result<std::string> Encode(const Instance& instance) const {
    if (instance.dsn.empty()) return EncodeInstance(instance, {});
    ASSIGN_OR_RETURN(Bytes sealed,
                     vault_.Seal(DsnSealContext(instance.name), crypto::SecretBytes(instance.dsn)));
    return EncodeInstance(instance, sealed);
  }

  Result<Instance> Decode(std::string_view text) const {
    ASSIGN_OR_RETURN(StoredInstance stored, DecodeInstance(text));
    if (!stored.sealed_dsn.empty()) {
      ASSIGN_OR_RETURN(crypto::SecretBytes dsn,
                       vault_.Unseal(DsnSealContext(stored.instance.name), stored.sealed_dsn));
      stored.instance.dsn = ToString(crypto::RevealSecret(dsn));
    }
    return std::move(stored.instance);
  }

  // Seals the DSNs of records written before DSNs were sealed.
  Status SealStoredDsns() {
    return store_.Update([&](state::Transaction& tx) -> Status {
      ASSIGN_OR_RETURN(auto entries, tx.Scan(kInstancesTable, "", "", 0));
      for (const auto& e : entries) {
        ASSIGN_OR_RETURN(StoredInstance stored, DecodeInstance(e.value));
        if (stored.instance.dsn.empty()) continue;
        ASSIGN_OR_RETURN(std::string sealed, Encode(stored.instance));
        RETURN_IF_ERROR(tx.Put(kInstancesTable, e.key, sealed));
      }
      return Status::Ok();
    });
  }

  static Status InstanceAlreadyExists() {
    return Status(StatusCode::kAlreadyExists, kDBInstanceAlreadyExists,
                  "DB instance already exists");
  }

  Result<bool> InstanceExists(const std::string& name) {
    bool found = false;
    RETURN_IF_ERROR(store_.View([&](const state::ReadTransaction& tx) -> Status {
      ASSIGN_OR_RETURN(auto existing, tx.Get(kInstancesTable, InstanceKey(name)));
      found = existing.has_value();
      return Status::Ok();
    }));
    return found;
  }

  // rds.amazonaws.com must be able to assume `role_arn` (it exists and its trust
  // policy allows it), else InvalidParameterValue with RDS's message and the
  // refusal. The session is not kept: each task assumes the role again.
  Status CheckRole(const std::string& role_arn) {
    Result<std::unique_ptr<RoleSession>> session = delegation_.AssumeRole(role_arn);
    if (session.ok()) return Status::Ok();
    const Status& refused = session.status();
    if (refused.code() != StatusCode::kPermissionDenied &&
        refused.code() != StatusCode::kNotFound) {
      return refused;  // not an answer about the role (the audit record was not written, …)
    }
    return Invalid(std::string(kRoleRefused) + " rds.amazonaws.com cannot assume " + role_arn +
                   ": " + refused.message());
  }

  Result<std::vector<Instance>> ListInstances() {
    std::vector<Instance> out;
    RETURN_IF_ERROR(store_.View([&](const state::ReadTransaction& tx) -> Status {
      ASSIGN_OR_RETURN(auto entries, tx.Scan(kInstancesTable, "", "", 0));
      for (const auto& e : entries) {
        ASSIGN_OR_RETURN(Instance i, Decode(e.value));
        out.push_back(std::move(i));
      }
      return Status::Ok();
    }));
    return out;
  }

  Result<Instance> DescribeInstance(std::string_view name) {
    std::optional<Instance> found;
    RETURN_IF_ERROR(store_.View([&](const state::ReadTransaction& tx) -> Status {
      ASSIGN_OR_RETURN(auto text, tx.Get(kInstancesTable, InstanceKey(name)));
      if (!text) return Status::Ok();
      ASSIGN_OR_RETURN(found, Decode(*text));
      return Status::Ok();
    }));
    if (!found) {
      return Status(StatusCode::kNotFound, kDBInstanceNotFound,
                    "DBInstance " + std::string(name) + " not found.");
    }
    return *found;
  }

  Status DeleteInstance(std::string_view name) {
    std::lock_guard submit(submit_mu_);
    ASSIGN_OR_RETURN(Instance instance, DescribeInstance(name));
    for (const auto& [key, by] : dropping_) {
      if (by == instance.name) {
        return Status(StatusCode::kFailedPrecondition, kInvalidDBInstanceState,
                      "DB instance " + instance.name + " has database " +
                          key.substr(key.rfind('\n') + 1) +
                          " being dropped; wait for the drop to finish.");
      }
    }
    ASSIGN_OR_RETURN(std::vector<Task> tasks, Tasks(instance.name));
    for (const Task& t : tasks) {
      if (!IsFinished(t.lifecycle)) {
        return Status(StatusCode::kFailedPrecondition, kInvalidDBInstanceState,
                      "DB instance " + instance.name + " has task " + std::to_string(t.id) +
                          " in " + std::string(LifecycleName(t.lifecycle)) +
                          "; cancel it or wait for it to finish.");
      }
    }
    return store_.Update([&](state::Transaction& tx) {
      return tx.Delete(kInstancesTable, InstanceKey(instance.name));
    });
  }

  // ---- procedures ------------------------------------------------------------------

  Result<Task> BackupDatabase(const BackupRequest& r) {
    ASSIGN_OR_RETURN(Instance instance, DescribeInstance(r.instance));
    Task t;
    t.instance = instance.name;
    if (r.source_db_name.empty()) return Invalid("@source_db_name cannot be empty.");
    RETURN_IF_ERROR(engines::ValidateDatabaseName(r.source_db_name));
    t.database = r.source_db_name;
    // Compared as T-SQL compares strings on RDS (a case-insensitive collation).
    if (Lower(r.type) == "full") {
      t.type = TaskType::kBackup;
    } else if (Lower(r.type) == "differential") {
      t.type = TaskType::kBackupDifferential;
    } else {
      return Invalid("@type must be FULL or DIFFERENTIAL, not '" + r.type + "'.");
    }
    ASSIGN_OR_RETURN(objstore::ObjectLocation location,
                     ParseArn(r.s3_arn_to_backup_to, "@s3_arn_to_backup_to"));
    RETURN_IF_ERROR(BackupFileKeys(location.key, r.number_of_files).status());
    RETURN_IF_ERROR(ValidateKeyArn(r.kms_master_key_arn));
    t.s3_object_arn = r.s3_arn_to_backup_to;
    t.kms_master_key_arn = r.kms_master_key_arn;
    t.overwrite_s3_backup_file = r.overwrite_s3_backup_file;
    t.number_of_files = r.number_of_files;
    return Submit(std::move(t));
  }

  Result<Task> RestoreDatabase(const RestoreRequest& r) {
    ASSIGN_OR_RETURN(Instance instance, DescribeInstance(r.instance));
    Task t;
    t.instance = instance.name;
    if (r.restore_db_name.empty()) return Invalid("@restore_db_name cannot be empty.");
    RETURN_IF_ERROR(engines::ValidateDatabaseName(r.restore_db_name));
    t.database = r.restore_db_name;
    bool differential = false;
    if (Lower(r.type) == "differential") {
      differential = true;
    } else if (Lower(r.type) != "full") {
      return Invalid("@type must be FULL or DIFFERENTIAL, not '" + r.type + "'.");
    }
    t.type = differential ? (r.with_norecovery ? TaskType::kRestoreDifferentialNoRecovery
                                               : TaskType::kRestoreDifferential)
                          : (r.with_norecovery ? TaskType::kRestoreNoRecovery : TaskType::kRestore);
    if (r.s3_arn_to_restore_from.empty()) return Invalid("S3 ARN prefix cannot be empty");
    ASSIGN_OR_RETURN(objstore::ObjectLocation location,
                     ParseArn(r.s3_arn_to_restore_from, "@s3_arn_to_restore_from"));
    if (std::count(location.key.begin(), location.key.end(), '*') > 1) {
      return Invalid("The S3 file name may contain only one '*': " + location.key);
    }
    RETURN_IF_ERROR(ValidateKeyArn(r.kms_master_key_arn));
    t.s3_object_arn = r.s3_arn_to_restore_from;
    t.kms_master_key_arn = r.kms_master_key_arn;
    return Submit(std::move(t));
  }

  Result<Task> FinishRestore(std::string_view instance_name, std::string_view database) {
    ASSIGN_OR_RETURN(Instance instance, DescribeInstance(instance_name));
    RETURN_IF_ERROR(engines::ValidateDatabaseName(database));
    Task t;
    t.instance = instance.name;
    t.type = TaskType::kFinishRestore;
    t.database = std::string(database);
    return Submit(std::move(t));
  }

  Result<std::string> DropDatabase(std::string_view instance_name, std::string_view database) {
    Instance instance;
    std::string key;
    {
      // Checked and claimed under submit_mu_; the engine's work is done without
      // it, while the claim keeps tasks of this database (and the instance's
      // deletion) from starting.
      std::lock_guard submit(submit_mu_);
      ASSIGN_OR_RETURN(instance, DescribeInstance(instance_name));
      RETURN_IF_ERROR(engines::ValidateDatabaseName(database));
      ASSIGN_OR_RETURN(std::vector<Task> tasks, Tasks(instance.name));
      for (const Task& t : tasks) {
        if (!IsFinished(t.lifecycle) && Lower(t.database) == Lower(database)) {
          return Status(StatusCode::kFailedPrecondition, kInvalidDBInstanceState,
                        "Database " + t.database + " has task " + std::to_string(t.id) + " in " +
                            std::string(LifecycleName(t.lifecycle)) +
                            "; cancel it or wait for it to finish before dropping the database.");
        }
      }
      key = DatabaseKey(instance, database);
      {
        // A task of another instance on the same place.
        std::lock_guard lock(mu_);
        if (RunsOn(key) ||
            std::ranges::any_of(queue_, [&](const Queued& q) { return q.database == key; })) {
          return Status(StatusCode::kFailedPrecondition, kInvalidDBInstanceState,
                        "Database " + std::string(database) +
                            " has a task of another DB instance on the same databases; wait for "
                            "it to finish before dropping the database.");
        }
      }
      if (!dropping_.emplace(key, instance.name).second) return BeingDropped(database);
    }
    struct Release {
      Impl& impl;
      const std::string& key;
      ~Release() {
        std::lock_guard submit(impl.submit_mu_);
        impl.dropping_.erase(key);
      }
    } release{*this, key};
    ASSIGN_OR_RETURN(std::unique_ptr<engines::DatabaseEngine> engine, engines_(instance));
    return engine->DropDatabase(database);
  }

  static Status BeingDropped(std::string_view database) {
    return Status(
        StatusCode::kFailedPrecondition, kInvalidDBInstanceState,
        "Database " + std::string(database) + " is being dropped; wait for the drop to finish.");
  }

  Result<Task> CancelTask(std::string_view instance_name, int64_t id) {
    ASSIGN_OR_RETURN(Instance instance, DescribeInstance(instance_name));
    std::lock_guard lock(mu_);
    Task task;
    Status loaded = LoadTask(id, task);
    if (!loaded.ok() || task.instance != instance.name) {
      if (!loaded.ok() && loaded.code() != StatusCode::kNotFound) return loaded;
      return Status(
          StatusCode::kNotFound, kTaskNotFound,
          "Task " + std::to_string(id) + " does not exist on DB instance " + instance.name + ".");
    }
    if (IsFinished(task.lifecycle) || task.lifecycle == Lifecycle::kCancelRequested) {
      return Status(StatusCode::kFailedPrecondition, kInvalidTaskState,
                    "Task " + std::to_string(id) + " is " +
                        std::string(LifecycleName(task.lifecycle)) + " and cannot be cancelled.");
    }
    bool waiting = task.lifecycle == Lifecycle::kCreated;
    RETURN_IF_ERROR(UpdateTaskLocked(id, [&](Task& t) {
      if (waiting) {
        AddLine(t, "The task was cancelled before it started.");
        t.lifecycle = Lifecycle::kCancelled;
      } else {
        AddLine(t, "Cancellation requested.");
        t.lifecycle = Lifecycle::kCancelRequested;
      }
    }));
    if (waiting) {
      queue_.erase(
          std::remove_if(queue_.begin(), queue_.end(), [&](const Queued& q) { return q.id == id; }),
          queue_.end());
    } else if (auto it = running_.find(id); it != running_.end()) {
      it->second->cancel = true;
    }
    RETURN_IF_ERROR(LoadTask(id, task));
    return task;
  }

  Result<std::vector<Task>> DescribeTasks(TaskFilter filter) {
    if (filter.task_id && *filter.task_id < 0) {
      return Invalid("TaskId " + std::to_string(*filter.task_id) +
                     " is not valid: give a task's id, or 0 for every task.");
    }
    if (filter.task_id == 0) filter.task_id.reset();  // every task, as RDS's @task_id 0
    ASSIGN_OR_RETURN(Instance instance, DescribeInstance(filter.instance));
    ASSIGN_OR_RETURN(std::vector<Task> tasks, Tasks(instance.name));
    std::vector<Task> out;
    for (Task& t : tasks) {
      if (filter.task_id && t.id != *filter.task_id) continue;
      if (filter.database && Lower(t.database) != Lower(*filter.database)) continue;
      out.push_back(std::move(t));
    }
    return out;
  }

  Result<int> RunScheduledWork() {
    TimePoint cutoff = clock_.Now() - options_.task_history;
    int removed = 0;
    RETURN_IF_ERROR(store_.Update([&](state::Transaction& tx) -> Status {
      ASSIGN_OR_RETURN(auto entries, tx.Scan(kTasksTable, "", "", 0));
      for (const auto& e : entries) {
        ASSIGN_OR_RETURN(Task t, DecodeTask(e.value));
        if (IsFinished(t.lifecycle) && t.last_updated < cutoff) {
          RETURN_IF_ERROR(tx.Delete(kTasksTable, e.key));
          ++removed;
        }
      }
      return Status::Ok();
    }));
    return removed;
  }

  void WaitIdle() {
    std::unique_lock lock(mu_);
    idle_cv_.wait(lock, [this] { return (queue_.empty() && running_.empty()) || stopping_; });
  }

 private:
  struct Running {
    std::string database;             // DatabaseKey
    std::atomic<bool> cancel{false};  // CancelTask
    std::atomic<bool> stop{false};    // the server stops
  };

  // A waiting task, and the database it works on.
  struct Queued {
    int64_t id;
    std::string database;  // DatabaseKey
  };

  // The database a task works on, where it is (the real path of a sqlite
  // instance's directory, a postgres instance's DSN: two instances may name one
  // place) and by name as engines compare names. Tasks of one database run one
  // at a time, in order (engines/database_engine.h: operations on one database
  // are not meant to run concurrently; a restore chain must run in the order
  // given).
  static std::string DatabaseKey(const Instance& instance, std::string_view database) {
    std::string place;
    if (instance.engine == "sqlite") {
      std::error_code ec;
      place = std::filesystem::weakly_canonical(instance.path, ec).string();
      if (ec) place = instance.path;
    } else {
      place = instance.dsn;
    }
    return instance.engine + "\n" + place + "\n" + Lower(database);
  }

  // Under mu_: whether a running task works on the database of DatabaseKey `key`.
  bool RunsOn(const std::string& key) const {
    return std::ranges::any_of(running_, [&](const auto& r) { return r.second->database == key; });
  }

  // The first waiting task whose database no running task works on.
  std::deque<Queued>::iterator NextRunnable() {
    return std::ranges::find_if(queue_, [&](const Queued& q) { return !RunsOn(q.database); });
  }

  // What a running task is doing: its id, progress and stop flags.
  struct TaskRun {
    Impl* service;
    Task task;  // as it was when it started
    std::shared_ptr<Running> flags;
    uint64_t total = 0;  // expected bytes, 0 when not known
    std::atomic<uint64_t> done{0};
    std::mutex progress_mu;
    int last_percent = 0;
    TimePoint last_write{};

    Status Interrupted() const {
      if (flags->stop) {
        return Status(StatusCode::kUnavailable, "ServerStopping",
                      "The task was interrupted because the server stopped; it did not "
                      "complete and left nothing behind.");
      }
      if (flags->cancel) return Status(StatusCode::kFailedPrecondition, "TaskCancelled", "");
      return Status::Ok();
    }

    void Advance(uint64_t n) {
      uint64_t now_done = done += n;
      if (total == 0) return;
      int percent = static_cast<int>(std::min<uint64_t>(99, now_done * 100 / total));
      std::lock_guard lock(progress_mu);
      TimePoint now = service->clock_.Now();
      if (percent == last_percent || now - last_write < kProgressPeriod) return;
      last_percent = percent;
      last_write = now;
      service->UpdateTask(task.id, [&](Task& t) { t.percent_complete = percent; }).IgnoreError();
    }

    void Line(std::string message) { RequiredLine(std::move(message)).IgnoreError(); }
    // A line that a restart reads: the task fails when it cannot be stored.
    Status RequiredLine(std::string message) {
      return service->UpdateTask(task.id,
                                 [&](Task& t) { service->AddLine(t, std::move(message)); });
    }
  };

  // Counts and checks for a stop on every write / read.
  class ProgressSink final : public ByteSink {
   public:
    ProgressSink(ByteSink& inner, TaskRun& run) : inner_(inner), run_(run) {}
    Status Write(ByteView data) override {
      RETURN_IF_ERROR(run_.Interrupted());
      RETURN_IF_ERROR(inner_.Write(data));
      run_.Advance(data.size());
      return Status::Ok();
    }
    Status Close() override { return inner_.Close(); }
    void Abort() override { inner_.Abort(); }

   private:
    ByteSink& inner_;
    TaskRun& run_;
  };

  // How the object of one backup file ended: maybe stored (its Close() was
  // called and was not refused: a failed close may still have stored it), or
  // refused because a create-only write found another object there. `writer`
  // takes back what it stored (ObjectWriter::Retract); it lives as long as the
  // sinks of the backup.
  struct FileOutcome {
    bool maybe_stored = false;
    bool exists = false;
    objstore::ObjectWriter* writer = nullptr;
  };
  class OutcomeSink final : public ByteSink {
   public:
    OutcomeSink(std::unique_ptr<objstore::ObjectWriter> inner, FileOutcome& outcome)
        : inner_(std::move(inner)), outcome_(outcome) {
      outcome_.writer = inner_.get();
    }
    Status Write(ByteView data) override { return inner_->Write(data); }
    Status Close() override {
      Status closed = inner_->Close();
      outcome_.exists = closed.error_name() == objstore::kPreconditionFailed;
      outcome_.maybe_stored = !outcome_.exists;
      return closed;
    }
    void Abort() override { inner_->Abort(); }

   private:
    std::unique_ptr<objstore::ObjectWriter> inner_;
    FileOutcome& outcome_;
  };

  // Counts the bytes read from the bucket (restore progress).
  class CountingSource final : public ByteSource {
   public:
    CountingSource(std::unique_ptr<ByteSource> inner, TaskRun& run)
        : inner_(std::move(inner)), run_(run) {}
    Result<size_t> Read(std::span<uint8_t> out) override {
      RETURN_IF_ERROR(run_.Interrupted());
      ASSIGN_OR_RETURN(size_t n, inner_->Read(out));
      run_.Advance(n);
      return n;
    }

   private:
    std::unique_ptr<ByteSource> inner_;
    TaskRun& run_;
  };

  // ---- checks ----------------------------------------------------------------------

  Status ValidateRoleArn(std::string_view arn) const {
    std::string prefix = "arn:aws:iam::" + options_.account_id + ":role/";
    if (!arn.starts_with(prefix) || arn.size() == prefix.size()) {
      return Invalid("The IAM role ARN '" + std::string(arn) + "' is not a role of account " +
                     options_.account_id + " (arn:aws:iam::" + options_.account_id +
                     ":role/NAME).");
    }
    return Status::Ok();
  }

  Status ValidateKeyArn(std::string_view arn) const {
    if (arn.empty()) return Status::Ok();
    std::string prefix = "arn:aws:kms:" + options_.region + ":" + options_.account_id + ":";
    if (!arn.starts_with(prefix) || !(arn.substr(prefix.size()).starts_with("key/") ||
                                      arn.substr(prefix.size()).starts_with("alias/"))) {
      return Invalid(
          "@kms_master_key_arn must be the ARN of a KMS key of this region and "
          "account (" +
          prefix + "key/…), not '" + std::string(arn) + "'.");
    }
    return Status::Ok();
  }

  static Result<objstore::ObjectLocation> ParseArn(std::string_view arn, std::string_view name) {
    if (!arn.starts_with("arn:")) {
      return Invalid(std::string(name) +
                     " must be an S3 object ARN (arn:aws:s3:::bucket/key), not '" +
                     std::string(arn) + "'.");
    }
    auto location = objstore::ParseObjectLocation(arn);
    if (!location.ok()) return Invalid(location.status().message());
    return location;
  }

  // ---- the task table --------------------------------------------------------------

  Result<std::vector<Task>> Tasks(const std::string& instance) {
    std::vector<Task> out;
    RETURN_IF_ERROR(store_.View([&](const state::ReadTransaction& tx) -> Status {
      ASSIGN_OR_RETURN(auto entries, tx.Scan(kTasksTable, "", "", 0));
      for (const auto& e : entries) {
        ASSIGN_OR_RETURN(Task t, DecodeTask(e.value));
        if (t.instance == instance) out.push_back(std::move(t));
      }
      return Status::Ok();
    }));
    return out;
  }

  Status LoadTask(int64_t id, Task& out) {
    std::optional<std::string> text;
    RETURN_IF_ERROR(store_.View([&](const state::ReadTransaction& tx) -> Status {
      ASSIGN_OR_RETURN(text, tx.Get(kTasksTable, TaskKey(id)));
      return Status::Ok();
    }));
    if (!text) {
      return Status(StatusCode::kNotFound, kTaskNotFound,
                    "Task " + std::to_string(id) + " does not exist.");
    }
    ASSIGN_OR_RETURN(out, DecodeTask(*text));
    return Status::Ok();
  }

  void AddLine(Task& t, std::string message) {
    TimePoint now = clock_.Now();
    t.log.push_back({now, std::move(message)});
  }

  template <typename Fn>
  Status UpdateTask(int64_t id, Fn&& fn) {
    std::lock_guard lock(mu_);
    return UpdateTaskLocked(id, std::forward<Fn>(fn));
  }

  // Read-modify-write of one task record, under mu_ (so that a cancellation and
  // a progress update never overwrite each other).
  template <typename Fn>
  Status UpdateTaskLocked(int64_t id, Fn&& fn) {
    return store_.Update([&](state::Transaction& tx) -> Status {
      ASSIGN_OR_RETURN(auto text, tx.Get(kTasksTable, TaskKey(id)));
      if (!text) return NotFoundError("task " + std::to_string(id));
      ASSIGN_OR_RETURN(Task t, DecodeTask(*text));
      fn(t);
      t.last_updated = clock_.Now();
      return tx.Put(kTasksTable, TaskKey(id), EncodeTask(t));
    });
  }

  Result<Task> Submit(Task t) {
    std::lock_guard submit(submit_mu_);
    // Again under submit_mu_: an instance deleted since the request was checked
    // gets no task.
    ASSIGN_OR_RETURN(Instance instance, DescribeInstance(t.instance));
    const std::string key = DatabaseKey(instance, t.database);
    if (dropping_.contains(key)) return BeingDropped(t.database);
    std::lock_guard lock(mu_);
    if (stopping_) return UnavailableError("the server is stopping");
    t.created = t.last_updated = clock_.Now();
    t.lifecycle = Lifecycle::kCreated;
    RETURN_IF_ERROR(store_.Update([&](state::Transaction& tx) -> Status {
      ASSIGN_OR_RETURN(auto last, tx.Get(kCountersTable, kTaskIdCounter));
      int64_t id = last ? std::stoll(*last) + 1 : 1;
      t.id = id;
      RETURN_IF_ERROR(tx.Put(kCountersTable, kTaskIdCounter, std::to_string(id)));
      return tx.Put(kTasksTable, TaskKey(id), EncodeTask(t));
    }));
    queue_.push_back({t.id, key});
    cv_.notify_one();
    return t;
  }

  Status RecordEvent(TaskEvent::Kind kind, const Task& task, const std::string& session_arn) {
    TaskEvent event;
    event.kind = kind;
    event.task = task;
    event.instance_arn = InstanceArn(task.instance);
    event.role_session_arn = session_arn;
    Status s = delegation_.RecordTaskEvent(event);
    if (!s.ok()) {
      Log().error("task {}: its audit record was not written: {}", task.id, s.ToString());
    }
    return s;
  }

  // ---- workers ---------------------------------------------------------------------

  void WorkerLoop() {
    std::unique_lock lock(mu_);
    while (true) {
      auto next = queue_.end();
      cv_.wait(lock, [&] { return stopping_ || (next = NextRunnable()) != queue_.end(); });
      if (stopping_) return;
      const int64_t id = next->id;
      auto flags = std::make_shared<Running>();
      flags->database = std::move(next->database);
      queue_.erase(next);
      running_[id] = flags;
      lock.unlock();
      RunTask(id, flags);
      lock.lock();
      running_.erase(id);
      if (queue_.empty() && running_.empty()) idle_cv_.notify_all();
    }
  }

  void RunTask(int64_t id, const std::shared_ptr<Running>& flags) {
    TaskRun run{.service = this, .flags = flags};
    Status started = UpdateTask(id, [&](Task& t) {
      if (t.lifecycle != Lifecycle::kCreated) return;
      t.lifecycle = Lifecycle::kInProgress;
      t.started = clock_.Now();
      AddLine(t, "Task execution has started.");
    });
    if (!started.ok() || !LoadTask(id, run.task).ok()) {
      Log().error("task {} could not start: {}", id, started.ToString());
      return;
    }
    if (run.task.lifecycle != Lifecycle::kInProgress) return;  // cancelled meanwhile
    std::string session_arn;
    // role_session.h: a task whose start cannot be recorded does not run.
    Status result = RecordEvent(TaskEvent::Kind::kStarted, run.task, "");
    if (!result.ok()) {
      result = Status(
          result.code(), "AuditRecordFailed",
          "The task did not start: its audit record could not be written: " + result.message());
    } else {
      result = Execute(run, session_arn);
    }

    bool cancelled = result.error_name() == "TaskCancelled";
    bool restore = IsRestore(run.task.type) || run.task.type == TaskType::kFinishRestore;
    UpdateTask(id, [&](Task& t) {
      if (result.ok()) {
        t.percent_complete = 100;
        AddLine(t, "Task has been completed successfully.");
        t.lifecycle = Lifecycle::kSuccess;
      } else if (cancelled) {
        AddLine(t, "The task was cancelled; it left nothing behind.");
        t.lifecycle = Lifecycle::kCancelled;
      } else {
        AddLine(t, restore ? kRestoreAborted : kBackupAborted);
        AddLine(t, kTaskAborted);
        AddLine(t, result.message().empty() ? result.ToString() : result.message());
        t.lifecycle = Lifecycle::kError;
      }
    }).IgnoreError();
    Task ended;
    if (LoadTask(id, ended).ok()) {
      RecordEvent(TaskEvent::Kind::kEnded, ended, session_arn).IgnoreError();
    }
    if (!result.ok() && !cancelled) {
      Log().info("task {} ({} of {}) ended in ERROR: {}", id, TaskTypeName(run.task.type),
                 run.task.database, result.ToString());
    }
  }

  Status Execute(TaskRun& run, std::string& session_arn) {
    const Task& task = run.task;
    ASSIGN_OR_RETURN(Instance instance, DescribeInstance(task.instance));
    ASSIGN_OR_RETURN(std::unique_ptr<engines::DatabaseEngine> engine, engines_(instance));
    engine->set_interrupt([&run] { return run.Interrupted(); });
    if (task.type == TaskType::kFinishRestore) {
      // "not in the restoring state" would suggest there is such a database.
      ASSIGN_OR_RETURN(bool exists, engine->Exists(task.database));
      if (!exists) {
        return Status(StatusCode::kNotFound, "DatabaseNotFound",
                      "Database " + task.database + " does not exist");
      }
      return engine->FinishRestore(task.database);
    }
    ASSIGN_OR_RETURN(std::unique_ptr<RoleSession> session,
                     delegation_.AssumeRole(instance.role_arn));
    session_arn = session->arn();
    std::string key_arn;
    if (!task.kms_master_key_arn.empty()) {
      ASSIGN_OR_RETURN(key_arn, session->DescribeKey(task.kms_master_key_arn));
    }
    RETURN_IF_ERROR(run.Interrupted());
    ASSIGN_OR_RETURN(objstore::ObjectLocation location,
                     objstore::ParseObjectLocation(task.s3_object_arn));
    if (IsBackup(task.type)) {
      return Backup(run, instance, *engine, *session, location, key_arn);
    }
    return Restore(run, instance, *engine, *session, location, key_arn);
  }

  Status Backup(TaskRun& run, const Instance& instance, engines::DatabaseEngine& engine,
                RoleSession& session, const objstore::ObjectLocation& location,
                const std::string& key_arn) {
    const Task& task = run.task;
    const bool full = task.type == TaskType::kBackup;
    ASSIGN_OR_RETURN(bool exists, engine.Exists(task.database));
    if (!exists) {
      return NotFoundError("Database " + task.database + " does not exist on DB instance " +
                           instance.name + ".");
    }
    ASSIGN_OR_RETURN(std::vector<std::string> keys,
                     BackupFileKeys(location.key, task.number_of_files));
    const std::string bucket_arn = "arn:aws:s3:::" + location.bucket;
    RETURN_IF_ERROR(session.AuthorizeS3("s3:ListBucket", bucket_arn));
    RETURN_IF_ERROR(buckets_.HeadBucket(location.bucket));
    // Without @overwrite_s3_backup_file a file that exists fails the task here,
    // and the files are written create-only, so that one stored meanwhile (by
    // another task) is not replaced either.
    auto exists_error = [&](const std::string& key) {
      return Status(StatusCode::kAlreadyExists, "BackupFileExists",
                    "The backup file " + bucket_arn + "/" + key +
                        " already exists in S3 and @overwrite_s3_backup_file is 0. Please "
                        "reissue task with correct type and overwrite property.");
    };
    for (const std::string& key : keys) {
      RETURN_IF_ERROR(session.AuthorizeS3("s3:PutObject", bucket_arn + "/" + key));
      if (task.overwrite_s3_backup_file) continue;
      auto head = buckets_.Head(location.bucket, key);
      if (head.ok()) return exists_error(key);
      if (head.status().error_name() != objstore::kNoSuchKey) return head.status();
    }
    // Files of an earlier backup with another number of files under the same name
    // ("backup1-of-4.bak" beside a new "backup*.bak" of 2) would make a restore of
    // that name ambiguous: refused without overwrite, replaced with it.
    ASSIGN_OR_RETURN(std::vector<std::string> earlier, EarlierBackupFiles(location, keys.size()));
    if (!earlier.empty() && !task.overwrite_s3_backup_file) {
      return Status(StatusCode::kAlreadyExists, "BackupFileExists",
                    "The backup file " + bucket_arn + "/" + earlier.front() +
                        " of another backup to " + task.s3_object_arn +
                        " already exists in S3 and @overwrite_s3_backup_file is 0; a restore "
                        "could not tell the two backups apart. Please reissue task with correct "
                        "type and overwrite property.");
    }
    ASSIGN_OR_RETURN(run.total, engine.DatabaseSize(task.database));
    run.Line(
        std::string(full ? "Backing up" : "Backing up the changes since the last FULL backup of") +
        " database " + task.database + " (" + std::string(engine.name()) + " " + engine.version() +
        ") to " + task.s3_object_arn +
        (key_arn.empty() ? ", not encrypted." : ", encrypted with " + key_arn + "."));

    std::unique_ptr<envelope::KmsKeyring> keyring;
    if (!key_arn.empty()) keyring = std::make_unique<envelope::KmsKeyring>(session, key_arn);
    const int files = static_cast<int>(keys.size());
    // Declared before the sinks, which hold references to them; never resized.
    std::vector<FileOutcome> outcomes(keys.size());
    std::vector<std::unique_ptr<ByteSink>> sinks;
    // The files of one backup share an id, so that files of two backups are
    // never restored together.
    const std::string backup_id = random_.Uuid();
    for (int i = 0; i < files; ++i) {
      envelope::BackupWriterOptions options;
      options.keyring = keyring.get();
      options.pipeline.workers = options_.pipeline_workers;
      options.context[kEngineContextKey] = std::string(engine.name());
      options.context[kEngineVersionContextKey] = engine.version();
      options.context[kDatabaseContextKey] = task.database;
      options.context[kBackupTypeContextKey] = full ? "FULL" : "DIFFERENTIAL";
      if (files > 1) {
        options.context[kFileContextKey] = std::to_string(i + 1) + "-of-" + std::to_string(files);
        options.context[kBackupIdContextKey] = backup_id;
      }
      objstore::WriteOptions write;
      write.create_only = !task.overwrite_s3_backup_file;
      if (run.total > 0) {
        write.expected_size =
            envelope::MaxBackupStreamSize(run.total / files + kStripeSize, options);
      }
      ASSIGN_OR_RETURN(std::unique_ptr<objstore::ObjectWriter> object,
                       buckets_.OpenWriter(location.bucket, keys[i], write));
      ASSIGN_OR_RETURN(
          std::unique_ptr<ByteSink> stream,
          envelope::OpenBackupWriter(std::make_unique<OutcomeSink>(std::move(object), outcomes[i]),
                                     random_, options));
      sinks.push_back(std::move(stream));
    }
    std::unique_ptr<ByteSink> striped = StripedSink(std::move(sinks));
    ProgressSink progress(*striped, run);
    Status taken = full ? engine.BackupFull(task.database, progress)
                        : engine.BackupDifferential(task.database, progress);
    if (taken.ok()) taken = run.Interrupted();
    if (!taken.ok()) {
      striped->Abort();
      return taken;
    }
    if (Status closed = striped->Close(); !closed.ok()) {
      // Files that were completed before another one failed would be a backup
      // that cannot be restored: the task removes what it stored, or may have
      // stored, and never a file that another task stored (refused as existing,
      // or stored over this task's file meanwhile).
      bool removed = false;
      bool left = false;
      for (int i = 0; i < files; ++i) {
        if (!outcomes[i].maybe_stored) continue;
        Result<bool> retracted = outcomes[i].writer->Retract();
        if (retracted.ok()) {
          removed = removed || *retracted;
          continue;
        }
        left = true;
        run.Line("The backup file " + bucket_arn + "/" + keys[i] + " could not be removed: " +
                 retracted.status().message() + ". It is not a complete backup; delete it.");
      }
      if (removed) {
        run.Line(left ? "The other files of this backup that were already stored have been removed."
                      : "The files of this backup that were already stored have been removed.");
      }
      for (int i = 0; i < files; ++i) {
        if (outcomes[i].exists && !task.overwrite_s3_backup_file) return exists_error(keys[i]);
      }
      return closed;
    }
    if (full) RETURN_IF_ERROR(engine.CommitFullBackup(task.database));
    run.Line(task.database + ": " + FormatBytes(run.done) + " backed up into " +
             std::to_string(files) + (files == 1 ? " file." : " files."));
    RemoveEarlierBackupFiles(run, session, location, earlier);
    return Status::Ok();
  }

  // A file that a "prefix*suffix" name matches (MatchBackupFileKey): file `file`
  // of `count`, followed by `rest`.
  struct BackupFile {
    std::string key;
    int file = 0;
    int count = 0;
    std::string rest;
  };

  // Every object `pattern` (holding a '*') matches, in key order.
  Result<std::vector<BackupFile>> MatchingBackupFiles(const objstore::ObjectLocation& pattern) {
    std::vector<BackupFile> out;
    objstore::ListOptions list;
    list.prefix = pattern.key.substr(0, pattern.key.find('*'));
    while (true) {
      ASSIGN_OR_RETURN(objstore::ListPage page, buckets_.List(pattern.bucket, list));
      for (const auto& o : page.objects) {
        BackupFile f{o.key};
        if (MatchBackupFileKey(pattern.key, o.key, &f.file, &f.count, &f.rest)) {
          out.push_back(std::move(f));
        }
      }
      if (!page.truncated()) return out;
      list.continuation_token = page.next_continuation_token;
    }
  }

  // The files of other backups to the same name `pattern` ("prefix*suffix", the
  // suffix possibly empty): "prefix" ‖ "I-of-N" ‖ "suffix" with N other than
  // `files`. Not those of "prefix*.bak" when the name is "prefix*".
  Result<std::vector<std::string>> EarlierBackupFiles(const objstore::ObjectLocation& pattern,
                                                      size_t files) {
    std::vector<std::string> earlier;
    const size_t star = pattern.key.find('*');
    if (star == std::string::npos) return earlier;
    ASSIGN_OR_RETURN(std::vector<BackupFile> matching, MatchingBackupFiles(pattern));
    for (const BackupFile& f : matching) {
      if (f.rest == pattern.key.substr(star + 1) && static_cast<size_t>(f.count) != files) {
        earlier.push_back(f.key);
      }
    }
    return earlier;
  }

  // After a backup with @overwrite_s3_backup_file that replaced a backup of
  // another number of files: the earlier backup's files go, so that the name
  // restores the new one. Each needs s3:DeleteObject; one the role may not
  // delete, or that cannot be deleted, is named in the task's log instead.
  void RemoveEarlierBackupFiles(TaskRun& run, RoleSession& session,
                                const objstore::ObjectLocation& location,
                                const std::vector<std::string>& earlier) {
    const std::string bucket_arn = "arn:aws:s3:::" + location.bucket;
    std::vector<std::string> removed, left;
    for (const std::string& key : earlier) {
      Status st = session.AuthorizeS3("s3:DeleteObject", bucket_arn + "/" + key);
      if (st.ok()) st = buckets_.Delete(location.bucket, key);
      if (st.ok() || st.error_name() == objstore::kNoSuchKey) {
        removed.push_back(key);
      } else {
        left.push_back(key + " (" + st.message() + ")");
      }
    }
    auto names = [](const std::vector<std::string>& keys) {
      std::string out;
      for (const std::string& k : keys) out += (out.empty() ? "" : ", ") + k;
      return out;
    };
    if (!removed.empty()) {
      run.Line("Removed " + std::to_string(removed.size()) +
               " files of the earlier backup to this name: " + names(removed) + ".");
    }
    if (!left.empty()) {
      run.Line(
          "These files of an earlier backup to this name remain, and a restore of the name "
          "cannot tell the two backups apart until they are deleted: " +
          names(left) + ".");
    }
  }

  // The objects of a restore: the one named, or the files "prefix*suffix" names.
  Result<std::vector<std::string>> RestoreKeys(const objstore::ObjectLocation& location) {
    if (location.key.find('*') == std::string::npos) return std::vector<std::string>{location.key};
    ASSIGN_OR_RETURN(std::vector<BackupFile> matching, MatchingBackupFiles(location));
    std::map<int, std::string> found;
    int count = 0;
    std::optional<std::string> tail;  // what follows "I-of-N": one backup's files share it
    for (const BackupFile& f : matching) {
      if ((count != 0 && f.count != count) || (tail && *tail != f.rest)) {
        return Status(StatusCode::kInvalidArgument, "BackupFilesMismatch",
                      "The files matching " + location.Arn() + " belong to more than one backup (" +
                          found.begin()->second + ", " + f.key +
                          "); delete the files of the backup you do not want (a backup with "
                          "@overwrite_s3_backup_file=1 replaces them).");
      }
      count = f.count;
      tail = f.rest;
      found[f.file] = f.key;
    }
    if (count == 0) {
      return Status(StatusCode::kNotFound, std::string(objstore::kNoSuchKey),
                    "No backup files match " + location.Arn() + ".");
    }
    std::vector<std::string> keys;
    for (int i = 1; i <= count; ++i) {
      auto it = found.find(i);
      if (it == found.end()) {
        return Status(StatusCode::kNotFound, std::string(objstore::kNoSuchKey),
                      "The backup file " + std::to_string(i) + " of " + std::to_string(count) +
                          " matching " + location.Arn() + " is missing.");
      }
      keys.push_back(it->second);
    }
    return keys;
  }

  Status Restore(TaskRun& run, const Instance& instance, engines::DatabaseEngine& engine,
                 RoleSession& session, const objstore::ObjectLocation& location,
                 const std::string& key_arn) {
    const Task& task = run.task;
    const bool differential = task.type == TaskType::kRestoreDifferential ||
                              task.type == TaskType::kRestoreDifferentialNoRecovery;
    const bool norecovery = task.type == TaskType::kRestoreNoRecovery ||
                            task.type == TaskType::kRestoreDifferentialNoRecovery;
    if (!differential) {
      ASSIGN_OR_RETURN(bool exists, engine.Exists(task.database));
      if (exists) {
        return Status(StatusCode::kAlreadyExists, "DatabaseAlreadyExists",
                      "Database " + task.database + " already exists on DB instance " +
                          instance.name +
                          ". Two databases that differ only by case are considered the same; "
                          "choose another name.");
      }
    } else {
      // The engine refuses it too; checked here before the line that says the
      // restore began, which a restart reads (RestoredOnline).
      ASSIGN_OR_RETURN(std::vector<std::string> online, engine.ListDatabases());
      for (const std::string& name : online) {
        if (Lower(name) == Lower(task.database)) {
          return Status(StatusCode::kFailedPrecondition, "DatabaseNotRestoring",
                        "Database " + name + " is not in the restoring state");
        }
      }
    }
    const std::string bucket_arn = "arn:aws:s3:::" + location.bucket;
    if (location.key.find('*') != std::string::npos) {
      RETURN_IF_ERROR(session.AuthorizeS3("s3:ListBucket", bucket_arn));
    }
    ASSIGN_OR_RETURN(std::vector<std::string> keys, RestoreKeys(location));
    const int files = static_cast<int>(keys.size());
    // Stored before the engine makes anything: a restart removes what a restore
    // left only when its log has this line (BeganRestoring).
    RETURN_IF_ERROR(run.RequiredLine(
        RestoringLinePrefix(task) + task.s3_object_arn +
        (files > 1 ? " (" + std::to_string(files) + " files)" : std::string()) + "."));

    envelope::KmsKeyring keyring(session, key_arn);
    KeyArnProbe probe;
    std::vector<std::unique_ptr<ByteSource>> sources;
    std::optional<std::string> backup_id;
    for (int i = 0; i < files; ++i) {
      const std::string arn = bucket_arn + "/" + keys[i];
      RETURN_IF_ERROR(session.AuthorizeS3("s3:GetObject", arn));
      ASSIGN_OR_RETURN(std::unique_ptr<objstore::ObjectReader> object,
                       buckets_.Get(location.bucket, keys[i]));
      run.total += object->info().size;
      envelope::BackupReaderOptions options;
      options.keyring = key_arn.empty() ? static_cast<envelope::Keyring*>(&probe) : &keyring;
      options.pipeline.workers = options_.pipeline_workers;
      // With a key the backup must be encrypted: a plain stream put in its
      // place would otherwise be restored unnoticed.
      if (!key_arn.empty()) options.require_encrypted = true;
      options.expected_context[kEngineContextKey] = std::string(engine.name());
      if (files > 1) {
        options.expected_context[kFileContextKey] =
            std::to_string(i + 1) + "-of-" + std::to_string(files);
      }
      auto counted = std::make_unique<CountingSource>(std::move(object), run);
      envelope::BackupStreamInfo info;
      auto reader = envelope::OpenBackupReader(std::move(counted), options, &info);
      if (!reader.ok()) return ExplainReadError(reader.status(), arn, probe, instance, engine);
      // What the backup says of itself: an encrypted one in its (authenticated)
      // encryption context, an unencrypted one in its header (version 2: one of
      // version 1 says nothing, and the engine finds out what it can).
      const envelope::EncryptionContext& context = info.context;
      if (!context.empty()) {
        auto type = context.find(kBackupTypeContextKey);
        if (type == context.end() || (type->second != "FULL" && type->second != "DIFFERENTIAL")) {
          return Status(StatusCode::kInvalidArgument, "BackupMismatch",
                        "The backup file " + arn +
                            " does not say whether it is a FULL or a DIFFERENTIAL backup: it is "
                            "not a backup of a database instance.");
        }
        const bool found_differential = type->second == "DIFFERENTIAL";
        if (found_differential != differential) {
          return WrongBackupType(found_differential, task.database, engine);
        }
      }
      if (files == 1) RETURN_IF_ERROR(RefusePartOfSeveral(context, arn));
      if (files > 1) {  // a file without a context (plain version 1) has no id: ""
        auto id = context.find(kBackupIdContextKey);
        std::string this_id = id == context.end() ? "" : id->second;
        if (!backup_id) backup_id = this_id;
        if (*backup_id != this_id) {
          return Status(
              StatusCode::kInvalidArgument, "BackupFilesMismatch",
              "The backup files " + keys[0] + " and " + keys[i] + " belong to different backups.");
        }
      }
      sources.push_back(std::move(reader).value());
    }
    std::unique_ptr<ByteSource> source = StripedSource(std::move(sources), keys);
    engines::RestoreOptions restore;
    restore.norecovery = norecovery;
    Status restored = differential ? engine.RestoreDifferential(task.database, *source, restore)
                                   : engine.RestoreFull(task.database, *source, restore);
    if (!restored.ok()) {
      if (Status stopped = run.Interrupted(); !stopped.ok()) return stopped;
      if (restored.error_name() == "BackupTypeMismatch") {
        // The engine found the other type of backup (one that is not encrypted
        // carries no type to check before).
        return WrongBackupType(/*found_differential=*/!differential, task.database, engine);
      }
      return restored;
    }
    run.Line(norecovery ? KeptRestoringLine(task)
                        : "Database " + task.database + " is restored and online.");
    return Status::Ok();
  }

  // The start of the log line a restore writes once the name passed its checks.
  static std::string RestoringLinePrefix(const Task& t) {
    return "Restoring database " + t.database + " from ";
  }

  // The line a NORECOVERY restore writes once its RESTORING copy is complete.
  static std::string KeptRestoringLine(const Task& t) {
    return "Database " + t.database +
           " is restored and stays in the RESTORING state (@with_norecovery=1): restore a "
           "DIFFERENTIAL backup or run rds_finish_restore.";
  }

  // Whether `t` is a NORECOVERY restore that wrote that line.
  static bool KeptRestoring(const Task& t) {
    if (t.type != TaskType::kRestoreNoRecovery &&
        t.type != TaskType::kRestoreDifferentialNoRecovery) {
      return false;
    }
    const std::string line = KeptRestoringLine(t);
    return std::any_of(t.log.begin(), t.log.end(),
                       [&](const TaskLogLine& l) { return l.message == line; });
  }

  // Whether the restore `t` wrote that line: it got past its checks of the name
  // and may have made a copy of the database.
  static bool BeganRestoring(const Task& t) {
    const std::string began = RestoringLinePrefix(t);
    return std::any_of(t.log.begin(), t.log.end(),
                       [&](const TaskLogLine& line) { return line.message.starts_with(began); });
  }

  // A backup of the other type than the restore's @type: what it is and which
  // restore fits it. A DIFFERENTIAL restore goes onto a RESTORING database,
  // whose name a FULL restore cannot take.
  static Status WrongBackupType(bool found_differential, const std::string& database,
                                engines::DatabaseEngine& engine) {
    if (found_differential) {
      return Status(StatusCode::kInvalidArgument, "BackupTypeMismatch",
                    "The backup is a DIFFERENTIAL backup, not a FULL one. Restore its FULL "
                    "backup with @with_norecovery=1, then this one with @type='DIFFERENTIAL'.");
    }
    Result<bool> exists = engine.Exists(database);
    return Status(StatusCode::kInvalidArgument, "BackupTypeMismatch",
                  exists.ok() && *exists
                      ? "The backup is a FULL backup, not a DIFFERENTIAL one. Restore it with "
                        "@type='FULL' under a name no database has (rds_drop_database removes "
                        "the RESTORING " +
                            database + ")."
                      : "The backup is a FULL backup, not a DIFFERENTIAL one. Restore it with "
                        "@type='FULL'.");
  }

  // A restore that names one file of a multi-file backup (backup2-of-3.bak)
  // would restore a third of the database: it is told to name them all.
  static Status RefusePartOfSeveral(const envelope::EncryptionContext& context,
                                    const std::string& arn) {
    auto file = context.find(kFileContextKey);
    if (file == context.end()) return Status::Ok();
    const std::string& part = file->second;  // "I-of-N"
    size_t at = arn.rfind(part);
    std::string pattern = at == std::string::npos
                              ? std::string("prefix*")
                              : arn.substr(0, at) + "*" + arn.substr(at + part.size());
    const size_t of = part.find("-of-");
    return Status(StatusCode::kInvalidArgument, "BackupFilesMismatch",
                  "The backup file " + arn + " is file " + part.substr(0, of) + " of " +
                      (of == std::string::npos ? std::string("several") : part.substr(of + 4)) +
                      " of one backup; restore all its files with @s3_arn_to_restore_from='" +
                      pattern + "'.");
  }

  static Status ExplainReadError(const Status& error, const std::string& arn,
                                 const KeyArnProbe& probe, const Instance& instance,
                                 engines::DatabaseEngine& engine) {
    if (error.error_name() == "BackupEncrypted") {
      std::string keys;
      for (const std::string& k : probe.arns) keys += (keys.empty() ? "" : ", ") + k;
      return Status(StatusCode::kFailedPrecondition, "BackupEncrypted",
                    "The backup file " + arn + " is encrypted with the KMS key " +
                        (keys.empty() ? std::string("(none named)") : keys) +
                        ". Restore it with @kms_master_key_arn='" +
                        (probe.arns.empty() ? std::string() : probe.arns.front()) +
                        "' by a role that may use that key.");
    }
    if (error.error_name() == "NotEncrypted") {
      return Status(StatusCode::kFailedPrecondition, "BackupNotEncrypted",
                    "The backup file " + arn +
                        " is not encrypted, but @kms_master_key_arn was given: it is not the "
                        "backup that was taken with that key.");
    }
    if (error.error_name() == envelope::kEncryptionContextMismatch) {
      return Status(StatusCode::kInvalidArgument, "BackupMismatch",
                    "The backup file " + arn + " does not fit this restore (a " +
                        std::string(engine.name()) + " instance, " + instance.name +
                        ", and the @type given): " + error.message());
    }
    if (error.error_name() == "NotABackupStream") {
      return Status(StatusCode::kDataLoss, "NotABackup",
                    "The file " + arn + " is not a coffer backup: " + error.message());
    }
    return error;
  }

  BackupServiceOptions options_;
  state::StateStore& store_;
  const state::Vault& vault_;
  objstore::ObjectStore& buckets_;
  Delegation& delegation_;
  EngineFactory engines_;
  Clock& clock_;
  Random& random_;

  std::mutex submit_mu_;  // task creation, instance deletion, dropping_
  // Each database being dropped (rds_drop_database): its DatabaseKey, and the
  // instance dropping it.
  std::map<std::string, std::string> dropping_;
  std::mutex mu_;  // queue_, running_, stopping_, and every task record update
  std::condition_variable cv_;
  std::condition_variable idle_cv_;
  std::deque<Queued> queue_;
  std::map<int64_t, std::shared_ptr<Running>> running_;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

BackupService::BackupService(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
BackupService::~BackupService() = default;

Result<std::unique_ptr<BackupService>> BackupService::Open(
    BackupServiceOptions options, state::StateStore& store, const state::Vault& vault,
    objstore::ObjectStore& buckets, Delegation& delegation, EngineFactory engines, Clock& clock,
    Random& random) {
  auto impl = std::make_unique<Impl>(std::move(options), store, vault, buckets, delegation,
                                     std::move(engines), clock, random);
  RETURN_IF_ERROR(impl->Start());
  return std::unique_ptr<BackupService>(new BackupService(std::move(impl)));
}

std::string BackupService::InstanceArn(std::string_view name) const {
  return impl_->InstanceArn(name);
}
Result<Instance> BackupService::CreateInstance(const CreateInstanceRequest& request) {
  return impl_->CreateInstance(request);
}
Result<std::vector<Instance>> BackupService::ListInstances() { return impl_->ListInstances(); }
Result<Instance> BackupService::DescribeInstance(std::string_view name) {
  return impl_->DescribeInstance(name);
}
Status BackupService::DeleteInstance(std::string_view name) { return impl_->DeleteInstance(name); }
Result<Task> BackupService::BackupDatabase(const BackupRequest& request) {
  return impl_->BackupDatabase(request);
}
Result<Task> BackupService::RestoreDatabase(const RestoreRequest& request) {
  return impl_->RestoreDatabase(request);
}
Result<Task> BackupService::FinishRestore(std::string_view instance, std::string_view database) {
  return impl_->FinishRestore(instance, database);
}

Result<std::string> BackupService::DropDatabase(std::string_view instance,
                                                std::string_view database) {
  return impl_->DropDatabase(instance, database);
}
Result<Task> BackupService::CancelTask(std::string_view instance, int64_t task_id) {
  return impl_->CancelTask(instance, task_id);
}
Result<std::vector<Task>> BackupService::DescribeTasks(const TaskFilter& filter) {
  return impl_->DescribeTasks(filter);
}
Result<int> BackupService::RunScheduledWork() { return impl_->RunScheduledWork(); }
void BackupService::WaitIdle() { impl_->WaitIdle(); }

}  // namespace coffer::backup
