#include "backup/backup_service.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "backup/records.h"
#include "common/files.h"
#include "common/random.h"
#include "crypto/aes_gcm.h"
#include "engines/sqlite_engine.h"
#include "objstore/file_object_store.h"
#include "state/sqlite_state_store.h"
#include "testing/files.h"
#include "testing/status_matchers.h"

namespace coffer::backup {
namespace {

using ::coffer::testing::IsError;
using ::coffer::testing::TempDir;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr char kAccount[] = "111122223333";
constexpr char kInstance[] = "sales";
constexpr char kInstanceArn[] = "arn:aws:rds:us-east-1:111122223333:db:sales";
constexpr char kRoleArn[] = "arn:aws:iam::111122223333:role/rds-backup";
constexpr char kSessionArn[] =
    "arn:aws:sts::111122223333:assumed-role/rds-backup/RDS-SqlServerBackupRestore";
constexpr char kKeyArn[] =
    "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
constexpr char kOtherKeyArn[] =
    "arn:aws:kms:us-east-1:111122223333:key/0000aaaa-1111-2222-3333-444455556666";
// DescribeKey of this key waits at the delegation's gate.
constexpr char kGatedKeyArn[] =
    "arn:aws:kms:us-east-1:111122223333:key/99999999-8888-7777-6666-555544443333";
constexpr char kUnknownKeyArn[] =
    "arn:aws:kms:us-east-1:111122223333:key/deadbeef-0000-0000-0000-000000000000";
constexpr char kAliasArn[] = "arn:aws:kms:us-east-1:111122223333:alias/backups";
constexpr char kBucket[] = "backups";

// 2026-11-30 17:41:22.127 UTC.
constexpr int64_t kStartMillis = 1796060482127;

constexpr char kStarted[] = "Task execution has started.";
constexpr char kCompleted[] = "Task has been completed successfully.";
constexpr char kTaskAborted[] = "Task has been aborted";
constexpr char kBackupAborted[] =
    "Aborted the task because of a task failure or an overlap with your preferred backup "
    "window for RDS automated backup.";
constexpr char kRestoreAborted[] =
    "Aborted the task because of a task failure or a concurrent RESTORE_DB request.";

std::string ObjectArn(std::string_view key) { return "arn:aws:s3:::backups/" + std::string(key); }

std::string Denied(std::string_view action, std::string_view resource) {
  return "User: " + std::string(kSessionArn) +
         " is not authorized to perform: " + std::string(action) +
         " on resource: " + std::string(resource);
}

// ---- synchronisation ---------------------------------------------------------------

// Holds the threads that reach it until it is opened, and tells how many are
// (and were at most at once) inside.
class Gate {
 public:
  void Pass() {
    std::unique_lock lock(mu_);
    ++inside_;
    max_inside_ = std::max(max_inside_, inside_);
    cv_.notify_all();
    cv_.wait(lock, [&] { return open_; });
    --inside_;
  }
  void AwaitInside(int n) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return inside_ >= n; });
  }
  void Open() {
    {
      std::lock_guard lock(mu_);
      open_ = true;
    }
    cv_.notify_all();
  }
  // Only once nobody is inside.
  void Close() {
    std::lock_guard lock(mu_);
    open_ = false;
  }
  int max_inside() {
    std::lock_guard lock(mu_);
    return max_inside_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
  int inside_ = 0;
  int max_inside_ = 0;
};

// Counts the exits of the threads that assumed a role (the service's workers):
// a worker leaves only once the service is stopping, so an exit tells the test
// that Stop() has flagged the running tasks, without sleeping.
std::mutex exit_mu;
std::condition_variable exit_cv;
int threads_exited = 0;

struct ExitCounter {
  ~ExitCounter() {
    {
      std::lock_guard lock(exit_mu);
      ++threads_exited;
    }
    exit_cv.notify_all();
  }
};

void NoteWorkerThread() {
  thread_local ExitCounter counter;
  (void)counter;
}

int ThreadsExited() {
  std::lock_guard lock(exit_mu);
  return threads_exited;
}

void AwaitThreadsExited(int n) {
  std::unique_lock lock(exit_mu);
  exit_cv.wait(lock, [&] { return threads_exited >= n; });
}

// ---- the fake delegation -----------------------------------------------------------

// The instance's role as the tests need it: a tiny KMS whose data keys are
// sealed with a test AES key (bound to the key ARN and the encryption context,
// as KMS binds them), refusals by key and action, S3 authorizations by action,
// and the task events it is given.
class FakeDelegation final : public Delegation {
 public:
  FakeDelegation() {
    auto master = crypto::AesGcm::Create(crypto::SecretBytes(std::string(32, 'K')));
    if (!master.ok()) std::abort();
    master_ = std::move(master).value();
    keys_ = {kKeyArn, kOtherKeyArn, kGatedKeyArn};
    aliases_[kAliasArn] = kKeyArn;
  }

  // ---- configuration
  void Deny(std::string action, std::string resource) {
    std::lock_guard lock(mu_);
    denied_.insert(action + " " + resource);
  }
  void DenyS3(std::string action) {
    std::lock_guard lock(mu_);
    denied_s3_.insert(std::move(action));
  }
  void DistrustRole() {
    std::lock_guard lock(mu_);
    trusted_ = false;
  }
  // AssumeRole fails without an answer about the role (its record not written).
  void FailAssumeRole() {
    std::lock_guard lock(mu_);
    assume_fails_ = true;
  }
  void FailTaskEvents(TaskEvent::Kind kind) {
    std::lock_guard lock(mu_);
    fail_events_ = kind;
  }
  // DescribeKey of kGatedKeyArn waits here.
  Gate describe_gate;

  // ---- what happened
  std::vector<TaskEvent> EventsOf(int64_t id) const {
    std::lock_guard lock(mu_);
    std::vector<TaskEvent> out;
    for (const TaskEvent& e : events_) {
      if (e.task.id == id) out.push_back(e);
    }
    return out;
  }
  std::vector<std::string> S3Calls() const {
    std::lock_guard lock(mu_);
    return s3_calls_;
  }

  // ---- Delegation
  Result<std::unique_ptr<RoleSession>> AssumeRole(const std::string& role_arn) override;
  Status RecordTaskEvent(const TaskEvent& event) override {
    std::lock_guard lock(mu_);
    events_.push_back(event);
    if (fail_events_ && *fail_events_ == event.kind) {
      return UnavailableError("the audit journal is not writable");
    }
    return Status::Ok();
  }

  // ---- the session's calls
  Result<std::string> DescribeKey(const std::string& key_id) {
    if (key_id == kGatedKeyArn) describe_gate.Pass();
    ASSIGN_OR_RETURN(std::string arn, Resolve(key_id));
    RETURN_IF_ERROR(Check("kms:DescribeKey", arn, "AccessDeniedException"));
    return arn;
  }

  Result<envelope::KmsDataKeys::DataKey> GenerateDataKey(const std::string& key_id, int bytes,
                                                         const envelope::EncryptionContext& ctx) {
    ASSIGN_OR_RETURN(std::string arn, Resolve(key_id));
    RETURN_IF_ERROR(Check("kms:GenerateDataKey", arn, "AccessDeniedException"));
    Bytes plain(static_cast<size_t>(bytes));
    random_.Fill(plain);
    Bytes iv(crypto::kAesGcmIvSize);
    random_.Fill(iv);
    ASSIGN_OR_RETURN(Bytes sealed, master_->Seal(iv, plain, Aad(arn, ctx)));
    envelope::KmsDataKeys::DataKey key;
    key.key_arn = arn;
    key.plaintext = crypto::SecretBytes(ByteView(plain));
    key.ciphertext_blob = iv;
    Append(key.ciphertext_blob, sealed);
    return key;
  }

  Result<envelope::KmsDataKeys::Plaintext> Decrypt(const std::string& key_id, ByteView blob,
                                                   const envelope::EncryptionContext& ctx) {
    ASSIGN_OR_RETURN(std::string arn, Resolve(key_id));
    RETURN_IF_ERROR(Check("kms:Decrypt", arn, "AccessDeniedException"));
    Status invalid(StatusCode::kInvalidArgument, "InvalidCiphertextException", "");
    if (blob.size() < crypto::kAesGcmIvSize) return invalid;
    auto plain = master_->Open(blob.first(crypto::kAesGcmIvSize),
                               blob.subspan(crypto::kAesGcmIvSize), Aad(arn, ctx));
    if (!plain.ok()) return invalid;
    envelope::KmsDataKeys::Plaintext out;
    out.key_arn = arn;
    out.plaintext = std::move(plain).value();
    return out;
  }

  Status AuthorizeS3(std::string_view action, std::string_view resource) {
    std::lock_guard lock(mu_);
    s3_calls_.push_back(std::string(action) + " " + std::string(resource));
    if (denied_s3_.contains(std::string(action))) {
      return Status(StatusCode::kPermissionDenied, "AccessDenied", Denied(action, resource));
    }
    return Status::Ok();
  }

 private:
  Result<std::string> Resolve(const std::string& key_id) const {
    std::lock_guard lock(mu_);
    if (auto it = aliases_.find(key_id); it != aliases_.end()) return it->second;
    if (keys_.contains(key_id)) return key_id;
    return Status(StatusCode::kNotFound, "NotFoundException",
                  "Key '" + key_id + "' does not exist");
  }
  Status Check(const std::string& action, const std::string& arn, const std::string& name) const {
    std::lock_guard lock(mu_);
    if (denied_.contains(action + " " + arn)) {
      return Status(StatusCode::kPermissionDenied, name, Denied(action, arn));
    }
    return Status::Ok();
  }
  static Bytes Aad(const std::string& arn, const envelope::EncryptionContext& ctx) {
    Bytes aad = ToBytes(arn);
    for (const auto& [k, v] : ctx) {
      aad.push_back(0);
      Append(aad, AsBytes(k));
      aad.push_back(0);
      Append(aad, AsBytes(v));
    }
    return aad;
  }

  mutable std::mutex mu_;
  std::unique_ptr<crypto::AesGcm> master_;
  SystemRandom random_;
  std::set<std::string> keys_;
  std::map<std::string, std::string> aliases_;
  std::set<std::string> denied_;
  std::set<std::string> denied_s3_;
  bool trusted_ = true;
  bool assume_fails_ = false;
  std::optional<TaskEvent::Kind> fail_events_;
  std::vector<TaskEvent> events_;
  std::vector<std::string> s3_calls_;
};

class FakeSession final : public RoleSession {
 public:
  explicit FakeSession(FakeDelegation& d) : d_(d) {}
  const std::string& arn() const override { return arn_; }
  Result<std::string> DescribeKey(const std::string& key_id) override {
    return d_.DescribeKey(key_id);
  }
  Result<DataKey> GenerateDataKey(const std::string& key_id, int bytes,
                                  const envelope::EncryptionContext& context) override {
    return d_.GenerateDataKey(key_id, bytes, context);
  }
  Result<Plaintext> Decrypt(const std::string& key_id, ByteView ciphertext_blob,
                            const envelope::EncryptionContext& context) override {
    return d_.Decrypt(key_id, ciphertext_blob, context);
  }
  Status AuthorizeS3(std::string_view action, std::string_view resource) override {
    return d_.AuthorizeS3(action, resource);
  }

 private:
  FakeDelegation& d_;
  const std::string arn_ = kSessionArn;
};

Result<std::unique_ptr<RoleSession>> FakeDelegation::AssumeRole(const std::string& role_arn) {
  NoteWorkerThread();
  {
    std::lock_guard lock(mu_);
    if (assume_fails_) return InternalError("the call's audit record was not written");
    if (!trusted_ || role_arn != kRoleArn) {
      return Status(StatusCode::kPermissionDenied, "AccessDenied",
                    "rds.amazonaws.com is not authorized to perform: sts:AssumeRole on resource: " +
                        role_arn);
    }
  }
  return std::unique_ptr<RoleSession>(std::make_unique<FakeSession>(*this));
}

// An object store whose writers can be held at OpenWriter (a task that is
// about to upload).
class GatedObjectStore final : public objstore::ObjectStoreWrapper {
 public:
  using ObjectStoreWrapper::ObjectStoreWrapper;
  Result<std::unique_ptr<objstore::ObjectWriter>> OpenWriter(
      std::string_view bucket, std::string_view key,
      const objstore::WriteOptions& options) override {
    if (gate_writers) writer_gate.Pass();
    ASSIGN_OR_RETURN(std::unique_ptr<objstore::ObjectWriter> writer,
                     ObjectStoreWrapper::OpenWriter(bucket, key, options));
    if (fail_uploads || key == FailingKey()) {
      return std::unique_ptr<objstore::ObjectWriter>(new FailingClose(std::move(writer)));
    }
    if (key == LostAnswerKey()) {
      return std::unique_ptr<objstore::ObjectWriter>(new LostAnswer(
          std::move(writer), [this, bucket = std::string(bucket), key = std::string(key)] {
            if (!store_over_) return Status::Ok();
            return target().Put(bucket, key, AsBytes(std::string(kStoredOver)));
          }));
    }
    std::optional<std::string> meanwhile;
    {
      std::lock_guard lock(mu_);
      if (key == meanwhile_key_) meanwhile = std::exchange(meanwhile_data_, {});
    }
    if (meanwhile) {
      Status put = target().Put(bucket, key, AsBytes(*meanwhile));
      if (!put.ok()) return put;
    }
    return writer;
  }
  // Once a writer of `key` is open, another writer stores `data` there (as a
  // task running beside it would).
  void StoreMeanwhile(std::string key, std::string data) {
    std::lock_guard lock(mu_);
    meanwhile_key_ = std::move(key);
    meanwhile_data_ = std::move(data);
  }
  // Only the upload of this key fails.
  void FailUploadOf(std::string key) {
    std::lock_guard lock(mu_);
    failing_key_ = std::move(key);
  }
  // The upload of this key stores the object, then (with `store_over`) another
  // writer stores kStoredOver there, then the answer to the upload is lost
  // (Close fails).
  void LoseAnswerOf(std::string key, bool store_over) {
    std::lock_guard lock(mu_);
    lost_answer_key_ = std::move(key);
    store_over_ = store_over;
  }
  static constexpr std::string_view kStoredOver = "another task's backup";
  std::atomic<bool> gate_writers{false};
  Gate writer_gate;
  // Uploads fail at their end (Close), after everything was written.
  std::atomic<bool> fail_uploads{false};

 private:
  std::string FailingKey() {
    std::lock_guard lock(mu_);
    return failing_key_;
  }
  std::string LostAnswerKey() {
    std::lock_guard lock(mu_);
    return lost_answer_key_;
  }
  std::mutex mu_;
  std::string failing_key_;
  std::string lost_answer_key_;
  std::atomic<bool> store_over_{false};
  std::string meanwhile_key_;
  std::string meanwhile_data_;

  // A writer that forwards all but Close() to the store's own.
  class ForwardingWriter : public objstore::ObjectWriter {
   public:
    explicit ForwardingWriter(std::unique_ptr<objstore::ObjectWriter> inner)
        : inner_(std::move(inner)) {}
    Status Write(ByteView data) override { return inner_->Write(data); }
    void Abort() override { inner_->Abort(); }
    Result<bool> Retract() override { return inner_->Retract(); }

   protected:
    std::unique_ptr<objstore::ObjectWriter> inner_;
  };
  class FailingClose final : public ForwardingWriter {
   public:
    using ForwardingWriter::ForwardingWriter;
    Status Close() override {
      inner_->Abort();
      return Status(StatusCode::kUnavailable, "SlowDown", "the upload did not complete");
    }
  };
  class LostAnswer final : public ForwardingWriter {
   public:
    LostAnswer(std::unique_ptr<objstore::ObjectWriter> inner, std::function<Status()> store_over)
        : ForwardingWriter(std::move(inner)), store_over_(std::move(store_over)) {}
    Status Close() override {
      RETURN_IF_ERROR(inner_->Close());
      RETURN_IF_ERROR(store_over_());
      return Status(StatusCode::kUnavailable, "the connection was reset");
    }

   private:
    std::function<Status()> store_over_;
  };
};

Result<std::unique_ptr<engines::DatabaseEngine>> OpenEngine(const Instance& instance) {
  if (instance.engine != "sqlite") {
    return UnavailableError("no " + instance.engine + " server in this test");
  }
  ASSIGN_OR_RETURN(auto engine, engines::SqliteEngine::Create(instance.path));
  return std::unique_ptr<engines::DatabaseEngine>(std::move(engine));
}

// A sqlite engine whose DropDatabase waits at `gate` before dropping.
class GatedDropEngine final : public engines::DatabaseEngine {
 public:
  GatedDropEngine(std::unique_ptr<engines::DatabaseEngine> inner, Gate& gate)
      : inner_(std::move(inner)), gate_(gate) {}
  std::string_view name() const override { return inner_->name(); }
  std::string version() const override { return inner_->version(); }
  Result<std::vector<std::string>> ListDatabases() override { return inner_->ListDatabases(); }
  Result<bool> Exists(std::string_view d) override { return inner_->Exists(d); }
  Status BackupFull(std::string_view d, ByteSink& sink) override {
    return inner_->BackupFull(d, sink);
  }
  Status CommitFullBackup(std::string_view d) override { return inner_->CommitFullBackup(d); }
  Status BackupDifferential(std::string_view d, ByteSink& sink) override {
    return inner_->BackupDifferential(d, sink);
  }
  Status RestoreFull(std::string_view t, ByteSource& source,
                     const engines::RestoreOptions& options) override {
    return inner_->RestoreFull(t, source, options);
  }
  Status RestoreDifferential(std::string_view t, ByteSource& source,
                             const engines::RestoreOptions& options) override {
    return inner_->RestoreDifferential(t, source, options);
  }
  Status FinishRestore(std::string_view t) override { return inner_->FinishRestore(t); }
  Status DropRestoring(std::string_view t) override { return inner_->DropRestoring(t); }
  Result<std::string> DropDatabase(std::string_view d) override {
    gate_.Pass();
    return inner_->DropDatabase(d);
  }

 private:
  std::unique_ptr<engines::DatabaseEngine> inner_;
  Gate& gate_;
};

std::vector<std::string> Messages(const Task& t) {
  std::vector<std::string> out;
  for (const TaskLogLine& line : t.log) out.push_back(line.message);
  return out;
}

// ---- the fixture -------------------------------------------------------------------

class BackupServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(store_, state::SqliteStateStore::Open(dir_.File("state.db")));
    root_key_ = std::make_unique<state::KeyFileRootKeyProvider>(dir_.File("root.key"), random_);
    ASSERT_OK_AND_ASSIGN(vault_, state::Vault::Open(*store_, *root_key_, random_));
    ASSERT_OK_AND_ASSIGN(files_, objstore::FileObjectStore::Create(dir_.File("buckets")));
    ASSERT_OK(files_->CreateBucket(kBucket));
    buckets_ = std::make_unique<GatedObjectStore>(*files_);
    std::filesystem::create_directory(InstanceDir());
    OpenService();
    ASSERT_NE(service_, nullptr);
    ASSERT_OK(service_->CreateInstance(SqliteInstance(kInstance)).status());
  }

  void TearDown() override {
    // Let anything still held go, so that the service stops.
    delegation_.describe_gate.Open();
    buckets_->writer_gate.Open();
    drop_gate_.Open();
    service_.reset();
  }

  void OpenService(int max_running_tasks = 2) {
    BackupServiceOptions options;
    options.account_id = kAccount;
    options.max_running_tasks = max_running_tasks;
    options.pipeline_workers = 1;
    options.reserved_directories = {dir_.File("data")};
    auto engines =
        [this](const Instance& instance) -> Result<std::unique_ptr<engines::DatabaseEngine>> {
      ASSIGN_OR_RETURN(auto engine, OpenEngine(instance));
      if (!gate_drops_) return engine;
      return std::unique_ptr<engines::DatabaseEngine>(
          std::make_unique<GatedDropEngine>(std::move(engine), drop_gate_));
    };
    ASSERT_OK_AND_ASSIGN(service_, BackupService::Open(options, *store_, *vault_, *buckets_,
                                                       delegation_, engines, clock_, random_));
  }

  std::string InstanceDir() const { return dir_.File("instance"); }
  std::string BucketDir() const { return dir_.File("buckets/backups"); }

  CreateInstanceRequest SqliteInstance(std::string name) const {
    CreateInstanceRequest r;
    r.name = std::move(name);
    r.engine = "sqlite";
    r.path = InstanceDir();
    r.role_arn = kRoleArn;
    return r;
  }

  // ---- databases
  std::string DbPath(const std::string& db) const { return InstanceDir() + "/" + db + ".db"; }

  void Exec(const std::string& db, const std::string& sql) {
    sqlite3* handle = nullptr;
    ASSERT_EQ(sqlite3_open(DbPath(db).c_str(), &handle), SQLITE_OK);
    char* error = nullptr;
    int rc = sqlite3_exec(handle, sql.c_str(), nullptr, nullptr, &error);
    std::string message = error != nullptr ? error : "";
    sqlite3_free(error);
    sqlite3_close(handle);
    ASSERT_EQ(rc, SQLITE_OK) << message;
  }

  // A table of `rows` customers with `blob_bytes` of random data each.
  void MakeDatabase(const std::string& db, int rows, int blob_bytes = 64) {
    Exec(db,
         "CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT NOT NULL, data BLOB);"
         "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < " +
             std::to_string(rows) +
             ") INSERT INTO customers SELECT i, 'customer ' || i, randomblob(" +
             std::to_string(blob_bytes) + ") FROM n;");
  }

  // "rows:hash" over every row of the customers table; "<missing>" when the
  // database does not exist online.
  std::string Rows(const std::string& db) {
    sqlite3* handle = nullptr;
    if (sqlite3_open_v2(DbPath(db).c_str(), &handle, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
      sqlite3_close(handle);
      return "<missing>";
    }
    sqlite3_stmt* stmt = nullptr;
    std::string out = "<no table>";
    if (sqlite3_prepare_v2(handle, "SELECT id, name, data FROM customers ORDER BY id", -1, &stmt,
                           nullptr) == SQLITE_OK) {
      uint64_t hash = 1469598103934665603ull;
      uint64_t rows = 0;
      auto mix = [&](const void* p, int n) {
        for (int i = 0; i < n; ++i) {
          hash = (hash ^ static_cast<const uint8_t*>(p)[i]) * 1099511628211ull;
        }
      };
      while (sqlite3_step(stmt) == SQLITE_ROW) {
        ++rows;
        for (int c = 0; c < 3; ++c) {
          const void* blob = sqlite3_column_blob(stmt, c);
          mix(blob, sqlite3_column_bytes(stmt, c));
          mix("|", 1);
        }
      }
      out = std::to_string(rows) + ":" + std::to_string(hash);
    }
    sqlite3_finalize(stmt);
    sqlite3_close(handle);
    return out;
  }

  bool DatabaseExists(const std::string& db) {
    auto engine = engines::SqliteEngine::Create(InstanceDir());
    EXPECT_OK(engine.status());
    auto exists = (*engine)->Exists(db);
    EXPECT_OK(exists.status());
    return exists.ok() && *exists;
  }

  // The engine's temporary files left in the instance directory.
  std::vector<std::string> InstanceLeftovers() const {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(InstanceDir())) {
      std::string name = e.path().filename().string();
      if (name.starts_with(".restore-") || name.starts_with(".snapshot-")) out.push_back(name);
    }
    return out;
  }

  // ---- objects
  bool HasObject(const std::string& key) { return files_->Head(kBucket, key).ok(); }

  std::string ReadObject(const std::string& key) {
    auto reader = files_->Get(kBucket, key);
    if (!reader.ok()) return "<" + reader.status().ToString() + ">";
    Bytes out;
    auto sink = MemorySink(out);
    EXPECT_OK(CopyStream(**reader, *sink).status());
    return ToString(out);
  }

  void PutObject(const std::string& key, std::string_view data) {
    ASSERT_OK(files_->Put(kBucket, key, AsBytes(data)));
  }

  // Every object key of the bucket, and no temporary upload file.
  std::vector<std::string> BucketFiles() const {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::recursive_directory_iterator(BucketDir())) {
      if (e.is_regular_file()) {
        out.push_back(std::filesystem::relative(e.path(), BucketDir()).string());
      }
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  std::vector<std::string> UploadLeftovers() const {
    std::vector<std::string> out;
    for (const std::string& f : BucketFiles()) {
      if (f.find(".tmp-") != std::string::npos) out.push_back(f);
    }
    return out;
  }

  // ---- tasks
  Result<Task> Backup(const std::string& db, const std::string& key, const std::string& kms = "",
                      bool overwrite = false, const std::string& type = "FULL", int files = 1) {
    BackupRequest r;
    r.instance = kInstance;
    r.source_db_name = db;
    r.s3_arn_to_backup_to = ObjectArn(key);
    r.kms_master_key_arn = kms;
    r.overwrite_s3_backup_file = overwrite;
    r.type = type;
    r.number_of_files = files;
    return service_->BackupDatabase(r);
  }

  Result<Task> Restore(const std::string& db, const std::string& key, const std::string& kms = "",
                       const std::string& type = "FULL", bool norecovery = false) {
    RestoreRequest r;
    r.instance = kInstance;
    r.restore_db_name = db;
    r.s3_arn_to_restore_from = ObjectArn(key);
    r.kms_master_key_arn = kms;
    r.type = type;
    r.with_norecovery = norecovery;
    return service_->RestoreDatabase(r);
  }

  // A task of `type` on `database` that a crash left IN_PROGRESS a minute ago.
  static Task LeftRunning(int64_t id, TaskType type, const std::string& database,
                          const std::string& object_key) {
    const TimePoint then = FromEpochMillis(kStartMillis - 60'000);
    Task t;
    t.id = id;
    t.type = type;
    t.instance = kInstance;
    t.database = database;
    t.lifecycle = Lifecycle::kInProgress;
    t.created = t.last_updated = then;
    t.started = then;
    t.log = {{then, kStarted}};
    t.s3_object_arn = ObjectArn(object_key);
    return t;
  }

  // Stores `tasks` as the service left them, and the id counter past them.
  void StoreTasks(const std::vector<Task>& tasks) {
    ASSERT_OK(store_->Update([&](state::Transaction& tx) -> Status {
      int64_t last = 0;
      for (const Task& t : tasks) {
        RETURN_IF_ERROR(tx.Put(kTasksTable, TaskKey(t.id), EncodeTask(t)));
        last = std::max(last, t.id);
      }
      return tx.Put(kCountersTable, kTaskIdCounter, std::to_string(last));
    }));
  }

  Task Get(int64_t id, const std::string& instance = kInstance) {
    TaskFilter filter;
    filter.instance = instance;
    filter.task_id = id;
    auto tasks = service_->DescribeTasks(filter);
    EXPECT_OK(tasks.status());
    if (!tasks.ok() || tasks->size() != 1) {
      ADD_FAILURE() << "task " << id << " not found";
      return Task{};
    }
    return tasks->front();
  }

  // Waits for every task and returns task `id`.
  Task Finished(int64_t id) {
    service_->WaitIdle();
    return Get(id);
  }

  // Submits and runs one task; returns it finished.
  Task Run(Result<Task> submitted) {
    EXPECT_OK(submitted.status());
    if (!submitted.ok()) return Task{};
    EXPECT_EQ(submitted->lifecycle, Lifecycle::kCreated);
    return Finished(submitted->id);
  }

  // An ERROR task ends with RDS's abort lines and then its reason.
  void ExpectError(const Task& t, const std::string& reason_part) {
    EXPECT_EQ(t.lifecycle, Lifecycle::kError) << t.TaskInfo();
    std::vector<std::string> m = Messages(t);
    ASSERT_GE(m.size(), 4u) << t.TaskInfo();
    EXPECT_EQ(m.front(), kStarted);
    EXPECT_EQ(m[m.size() - 3],
              IsBackup(t.type) ? std::string(kBackupAborted) : std::string(kRestoreAborted));
    EXPECT_EQ(m[m.size() - 2], kTaskAborted);
    EXPECT_THAT(m.back(), HasSubstr(reason_part)) << t.TaskInfo();
  }

  // One started and one ended event for a task that ran.
  void ExpectStartedAndEnded(int64_t id, Lifecycle end, const std::string& session = kSessionArn) {
    std::vector<TaskEvent> events = delegation_.EventsOf(id);
    ASSERT_EQ(events.size(), 2u) << "task " << id;
    EXPECT_EQ(events[0].kind, TaskEvent::Kind::kStarted);
    EXPECT_EQ(events[0].task.lifecycle, Lifecycle::kInProgress);
    EXPECT_EQ(events[0].instance_arn, kInstanceArn);
    EXPECT_EQ(events[1].kind, TaskEvent::Kind::kEnded);
    EXPECT_EQ(events[1].task.lifecycle, end);
    EXPECT_EQ(events[1].instance_arn, kInstanceArn);
    EXPECT_EQ(events[1].role_session_arn, session);
  }

  TempDir dir_;
  FakeClock clock_{FromEpochMillis(kStartMillis)};
  SystemRandom random_;
  FakeDelegation delegation_;
  std::unique_ptr<state::SqliteStateStore> store_;
  std::unique_ptr<state::KeyFileRootKeyProvider> root_key_;
  std::unique_ptr<state::Vault> vault_;
  std::unique_ptr<objstore::FileObjectStore> files_;
  std::unique_ptr<GatedObjectStore> buckets_;
  // With gate_drops_, an engine's DropDatabase waits at drop_gate_.
  bool gate_drops_ = false;
  Gate drop_gate_;
  std::unique_ptr<BackupService> service_;
};

// ---- lifecycle ---------------------------------------------------------------------

TEST_F(BackupServiceTest, BackupGoesFromCreatedThroughInProgressToSuccess) {
  MakeDatabase("orders", 300);
  ASSERT_OK_AND_ASSIGN(Task created, Backup("orders", "orders/full.bak", kGatedKeyArn));
  EXPECT_EQ(created.id, 1);
  EXPECT_EQ(created.type, TaskType::kBackup);
  EXPECT_EQ(created.instance, kInstance);
  EXPECT_EQ(created.database, "orders");
  EXPECT_EQ(created.lifecycle, Lifecycle::kCreated);
  EXPECT_EQ(created.percent_complete, 0);
  EXPECT_EQ(created.s3_object_arn, ObjectArn("orders/full.bak"));
  EXPECT_EQ(created.kms_master_key_arn, kGatedKeyArn);
  EXPECT_FALSE(created.overwrite_s3_backup_file);
  EXPECT_EQ(created.number_of_files, 1);
  EXPECT_EQ(created.created, FromEpochMillis(kStartMillis));
  EXPECT_THAT(created.log, IsEmpty());

  // Held in DescribeKey: running.
  delegation_.describe_gate.AwaitInside(1);
  Task running = Get(created.id);
  EXPECT_EQ(running.lifecycle, Lifecycle::kInProgress);
  EXPECT_EQ(running.started, FromEpochMillis(kStartMillis));
  EXPECT_THAT(Messages(running), ElementsAre(kStarted));
  EXPECT_EQ(running.TaskInfo(), "[2026-11-30 17:41:22.127] Task execution has started.");

  clock_.Advance(std::chrono::milliseconds(3 * 60 * 1000 + 1005));
  delegation_.describe_gate.Open();
  Task done = Finished(created.id);
  EXPECT_EQ(done.lifecycle, Lifecycle::kSuccess) << done.TaskInfo();
  EXPECT_EQ(done.percent_complete, 100);
  EXPECT_EQ(done.created, FromEpochMillis(kStartMillis));
  EXPECT_EQ(done.last_updated, FromEpochMillis(kStartMillis + 3 * 60 * 1000 + 1005));
  EXPECT_EQ(done.DurationMinutes(), 3);
  std::vector<std::string> m = Messages(done);
  ASSERT_GE(m.size(), 3u);
  EXPECT_EQ(m.front(), kStarted);
  EXPECT_EQ(m.back(), kCompleted);
  EXPECT_THAT(m, Contains(HasSubstr("encrypted with " + std::string(kGatedKeyArn))));

  // task_info: "[YYYY-MM-DD HH:MM:SS.mmm] message" lines joined by spaces.
  const std::string info = done.TaskInfo();
  EXPECT_TRUE(info.starts_with("[2026-11-30 17:41:22.127] Task execution has started. ")) << info;
  EXPECT_TRUE(info.ends_with("[2026-11-30 17:44:23.132] Task has been completed successfully."))
      << info;
  const std::regex stamp(R"(\[\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}\] )");
  EXPECT_EQ(static_cast<size_t>(std::distance(std::sregex_iterator(info.begin(), info.end(), stamp),
                                              std::sregex_iterator())),
            done.log.size())
      << info;
  for (const TaskLogLine& line : done.log) {
    EXPECT_TRUE(std::regex_match(LogTimestamp(line.time) + " ", stamp));
  }

  EXPECT_TRUE(HasObject("orders/full.bak"));
  EXPECT_THAT(delegation_.S3Calls(),
              ElementsAre("s3:ListBucket arn:aws:s3:::backups",
                          "s3:PutObject arn:aws:s3:::backups/orders/full.bak"));
  ExpectStartedAndEnded(created.id, Lifecycle::kSuccess);
  EXPECT_THAT(UploadLeftovers(), IsEmpty());
  EXPECT_THAT(InstanceLeftovers(), IsEmpty());
}

TEST_F(BackupServiceTest, EncryptedBackupRestoresWithTheKey) {
  MakeDatabase("orders", 500);
  const std::string rows = Rows("orders");
  Task backup = Run(Backup("orders", "orders/full.bak", kKeyArn));
  ASSERT_EQ(backup.lifecycle, Lifecycle::kSuccess) << backup.TaskInfo();

  // An ESDK message (version 2), no plaintext in it.
  const std::string object = ReadObject("orders/full.bak");
  ASSERT_FALSE(object.empty());
  EXPECT_EQ(static_cast<uint8_t>(object[0]), 0x02);
  EXPECT_EQ(object.find("customer 1"), std::string::npos);

  Task restore = Run(Restore("orders_copy", "orders/full.bak", kKeyArn));
  EXPECT_EQ(restore.type, TaskType::kRestore);
  ASSERT_EQ(restore.lifecycle, Lifecycle::kSuccess) << restore.TaskInfo();
  EXPECT_EQ(restore.percent_complete, 100);
  EXPECT_EQ(Messages(restore).back(), kCompleted);
  EXPECT_EQ(Rows("orders_copy"), rows);
  EXPECT_EQ(Rows("orders"), rows);
  ExpectStartedAndEnded(backup.id, Lifecycle::kSuccess);
  ExpectStartedAndEnded(restore.id, Lifecycle::kSuccess);
  EXPECT_THAT(delegation_.S3Calls(), Contains("s3:GetObject arn:aws:s3:::backups/orders/full.bak"));

  // By the key's alias too.
  Task by_alias = Run(Restore("orders_alias", "orders/full.bak", kAliasArn));
  ASSERT_EQ(by_alias.lifecycle, Lifecycle::kSuccess) << by_alias.TaskInfo();
  EXPECT_EQ(Rows("orders_alias"), rows);
  EXPECT_THAT(InstanceLeftovers(), IsEmpty());
}

TEST_F(BackupServiceTest, UnencryptedBackupRoundTrip) {
  MakeDatabase("orders", 200);
  Task backup = Run(Backup("orders", "plain.bak"));
  ASSERT_EQ(backup.lifecycle, Lifecycle::kSuccess) << backup.TaskInfo();
  EXPECT_THAT(Messages(backup), Contains(HasSubstr("not encrypted")));
  Task restore = Run(Restore("copy", "plain.bak"));
  ASSERT_EQ(restore.lifecycle, Lifecycle::kSuccess) << restore.TaskInfo();
  EXPECT_EQ(Rows("copy"), Rows("orders"));
}

// ---- refusals by the role ----------------------------------------------------------

TEST_F(BackupServiceTest, DescribeKeyRefusedEndsInErrorWithAwsText) {
  MakeDatabase("orders", 10);
  delegation_.Deny("kms:DescribeKey", kKeyArn);
  Task t = Run(Backup("orders", "orders/full.bak", kKeyArn));
  ExpectError(t, "");
  EXPECT_THAT(Messages(t), ElementsAre(kStarted, kBackupAborted, kTaskAborted,
                                       "User: arn:aws:sts::111122223333:assumed-role/rds-backup/"
                                       "RDS-SqlServerBackupRestore is not authorized to perform: "
                                       "kms:DescribeKey on resource: " +
                                           std::string(kKeyArn)));
  EXPECT_TRUE(t.TaskInfo().find("] Task has been aborted [") != std::string::npos);
  EXPECT_FALSE(HasObject("orders/full.bak"));
  EXPECT_THAT(BucketFiles(), IsEmpty());
  ExpectStartedAndEnded(t.id, Lifecycle::kError);
}

TEST_F(BackupServiceTest, UnknownKeyEndsInError) {
  MakeDatabase("orders", 10);
  Task t = Run(Backup("orders", "k.bak", kUnknownKeyArn));
  ExpectError(t, "Key '" + std::string(kUnknownKeyArn) + "' does not exist");
  EXPECT_FALSE(HasObject("k.bak"));
}

TEST_F(BackupServiceTest, GenerateDataKeyRefusedLeavesNoObject) {
  MakeDatabase("orders", 10);
  delegation_.Deny("kms:GenerateDataKey", kKeyArn);
  Task t = Run(Backup("orders", "k.bak", kKeyArn));
  ExpectError(t, Denied("kms:GenerateDataKey", kKeyArn));
  EXPECT_THAT(BucketFiles(), IsEmpty());
  ExpectStartedAndEnded(t.id, Lifecycle::kError);
}

TEST_F(BackupServiceTest, PutObjectRefusedLeavesNoObject) {
  MakeDatabase("orders", 10);
  delegation_.DenyS3("s3:PutObject");
  Task t = Run(Backup("orders", "k.bak"));
  ExpectError(t, Denied("s3:PutObject", "arn:aws:s3:::backups/k.bak"));
  EXPECT_THAT(BucketFiles(), IsEmpty());
}

TEST_F(BackupServiceTest, GetObjectRefusedRestoresNothing) {
  MakeDatabase("orders", 10);
  ASSERT_EQ(Run(Backup("orders", "k.bak")).lifecycle, Lifecycle::kSuccess);
  delegation_.DenyS3("s3:GetObject");
  Task t = Run(Restore("copy", "k.bak"));
  ExpectError(t, Denied("s3:GetObject", "arn:aws:s3:::backups/k.bak"));
  EXPECT_FALSE(DatabaseExists("copy"));
  EXPECT_THAT(InstanceLeftovers(), IsEmpty());
}

TEST_F(BackupServiceTest, RoleThatCannotBeAssumedEndsInError) {
  MakeDatabase("orders", 10);
  delegation_.DistrustRole();
  Task t = Run(Backup("orders", "k.bak", kKeyArn));
  ExpectError(t, "rds.amazonaws.com is not authorized to perform: sts:AssumeRole on resource: " +
                     std::string(kRoleArn));
  EXPECT_FALSE(HasObject("k.bak"));
  ExpectStartedAndEnded(t.id, Lifecycle::kError, /*session=*/"");
}

TEST_F(BackupServiceTest, TaskWhoseStartCannotBeRecordedDoesNotRun) {
  // role_session.h: an error from RecordTaskEvent means the record could not be
  // written, and the task then does not start.
  MakeDatabase("orders", 10);
  delegation_.FailTaskEvents(TaskEvent::Kind::kStarted);
  Task t = Run(Backup("orders", "k.bak"));
  ExpectError(t, "the audit journal is not writable");
  EXPECT_FALSE(HasObject("k.bak"));
  EXPECT_THAT(delegation_.S3Calls(), IsEmpty());
}

TEST_F(BackupServiceTest, BackupOfMissingDatabaseEndsInError) {
  Task t = Run(Backup("nothing", "k.bak"));
  ExpectError(t, "Database nothing does not exist on DB instance sales.");
  EXPECT_FALSE(HasObject("k.bak"));
}

// ---- restores ----------------------------------------------------------------------

TEST_F(BackupServiceTest, RestoreOfEncryptedBackupWithoutKeyNamesTheKey) {
  MakeDatabase("orders", 50);
  ASSERT_EQ(Run(Backup("orders", "enc.bak", kKeyArn)).lifecycle, Lifecycle::kSuccess);
  Task t = Run(Restore("copy", "enc.bak"));
  ExpectError(t, "encrypted with the KMS key " + std::string(kKeyArn));
  EXPECT_THAT(Messages(t).back(), HasSubstr("@kms_master_key_arn='" + std::string(kKeyArn) + "'"));
  EXPECT_FALSE(DatabaseExists("copy"));
  EXPECT_THAT(InstanceLeftovers(), IsEmpty());
  ExpectStartedAndEnded(t.id, Lifecycle::kError);
}

TEST_F(BackupServiceTest, RestoreWithAnotherKeyNamesTheKeyNeeded) {
  MakeDatabase("orders", 50);
  ASSERT_EQ(Run(Backup("orders", "enc.bak", kKeyArn)).lifecycle, Lifecycle::kSuccess);
  Task t = Run(Restore("copy", "enc.bak", kOtherKeyArn));
  ExpectError(t, kKeyArn);
  EXPECT_FALSE(DatabaseExists("copy"));
}

TEST_F(BackupServiceTest, RestoreWithDecryptRefusedEndsInError) {
  MakeDatabase("orders", 50);
  ASSERT_EQ(Run(Backup("orders", "enc.bak", kKeyArn)).lifecycle, Lifecycle::kSuccess);
  delegation_.Deny("kms:Decrypt", kKeyArn);
  Task t = Run(Restore("copy", "enc.bak", kKeyArn));
  ExpectError(t, Denied("kms:Decrypt", kKeyArn));
  EXPECT_FALSE(DatabaseExists("copy"));
}

TEST_F(BackupServiceTest, RestoreWithKeyOfUnencryptedBackupEndsInError) {
  MakeDatabase("orders", 50);
  ASSERT_EQ(Run(Backup("orders", "plain.bak")).lifecycle, Lifecycle::kSuccess);
  Task t = Run(Restore("copy", "plain.bak", kKeyArn));
  ExpectError(t, "is not encrypted");
  EXPECT_FALSE(DatabaseExists("copy"));
}

TEST_F(BackupServiceTest, RestoreOfMissingObjectEndsInError) {
  Task t = Run(Restore("copy", "nothing.bak"));
  EXPECT_EQ(t.lifecycle, Lifecycle::kError);
  EXPECT_FALSE(DatabaseExists("copy"));
}

TEST_F(BackupServiceTest, RestoreOntoExistingNameInAnyCaseIsRefused) {
  MakeDatabase("Customers", 40);
  ASSERT_EQ(Run(Backup("Customers", "c.bak")).lifecycle, Lifecycle::kSuccess);
  Exec("Customers", "INSERT INTO customers VALUES (100000, 'after the backup', NULL)");
  const std::string rows = Rows("Customers");
  const auto before = coffer::testing::SnapshotDirectory(InstanceDir());
  for (const char* name : {"Customers", "customers", "CUSTOMERS"}) {
    Task t = Run(Restore(name, "c.bak"));
    ExpectError(t, "already exists");
    EXPECT_THAT(Messages(t).back(), HasSubstr("differ only by case"));
  }
  EXPECT_EQ(coffer::testing::SnapshotDirectory(InstanceDir()), before);
  EXPECT_EQ(Rows("Customers"), rows);
}

TEST_F(BackupServiceTest, DamagedObjectsRestoreNothing) {
  MakeDatabase("orders", 2000, 200);
  ASSERT_EQ(Run(Backup("orders", "enc.bak", kKeyArn)).lifecycle, Lifecycle::kSuccess);
  ASSERT_EQ(Run(Backup("orders", "plain.bak")).lifecycle, Lifecycle::kSuccess);
  const auto before = coffer::testing::SnapshotDirectory(InstanceDir());

  struct Case {
    std::string name;
    std::string source;
    std::string kms;
    std::function<std::string(std::string)> damage;
  };
  // One bit changed at `at` (in the header for the offsets used).
  auto flip = [](size_t at) {
    return [at](std::string s) {
      s[at] ^= 0x20;
      return s;
    };
  };
  auto middle = [](std::string s) {
    s[s.size() / 2] ^= 0x01;
    return s;
  };
  auto half = [](std::string s) { return s.substr(0, s.size() / 2); };
  auto last_byte = [](std::string s) { return s.substr(0, s.size() - 1); };
  auto appended = [](std::string s) { return s + "trailing"; };
  const std::vector<Case> cases = {
      {"enc-middle", "enc.bak", kKeyArn, middle},
      {"enc-header", "enc.bak", kKeyArn, flip(40)},
      {"enc-half", "enc.bak", kKeyArn, half},
      {"enc-last-byte", "enc.bak", kKeyArn, last_byte},
      {"enc-trailing", "enc.bak", kKeyArn, appended},
      {"plain-middle", "plain.bak", "", middle},
      {"plain-header", "plain.bak", "", flip(5)},
      {"plain-half", "plain.bak", "", half},
      {"plain-last-byte", "plain.bak", "", last_byte},
      {"plain-trailing", "plain.bak", "", appended},
      {"not-a-backup", "", "", [](std::string) { return std::string("SQLite format 3\0", 16); }},
      {"empty", "", "", [](std::string) { return std::string(); }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string key = "damaged/" + c.name + ".bak";
    PutObject(key, c.damage(c.source.empty() ? std::string() : ReadObject(c.source)));
    Task t = Run(Restore("restored", key, c.kms));
    EXPECT_EQ(t.lifecycle, Lifecycle::kError) << t.TaskInfo();
    ExpectError(t, "");
    EXPECT_FALSE(DatabaseExists("restored"));
    EXPECT_THAT(InstanceLeftovers(), IsEmpty());
    EXPECT_EQ(coffer::testing::SnapshotDirectory(InstanceDir()), before);
  }
  // The undamaged objects still restore.
  ASSERT_EQ(Run(Restore("restored", "enc.bak", kKeyArn)).lifecycle, Lifecycle::kSuccess);
  EXPECT_EQ(Rows("restored"), Rows("orders"));
}

// ---- overwrite ---------------------------------------------------------------------

TEST_F(BackupServiceTest, ExistingObjectNeedsOverwrite) {
  MakeDatabase("orders", 30);
  ASSERT_EQ(Run(Backup("orders", "o.bak", kKeyArn)).lifecycle, Lifecycle::kSuccess);
  const std::string first = ReadObject("o.bak");

  Task refused = Run(Backup("orders", "o.bak", kKeyArn));
  ExpectError(refused, "Please reissue task with correct type and overwrite property");
  EXPECT_THAT(Messages(refused).back(), HasSubstr(ObjectArn("o.bak")));
  EXPECT_EQ(ReadObject("o.bak"), first);

  Exec("orders", "DELETE FROM customers WHERE id > 10");
  Task overwritten = Run(Backup("orders", "o.bak", kKeyArn, /*overwrite=*/true));
  EXPECT_TRUE(overwritten.overwrite_s3_backup_file);
  ASSERT_EQ(overwritten.lifecycle, Lifecycle::kSuccess) << overwritten.TaskInfo();
  EXPECT_NE(ReadObject("o.bak"), first);
  ASSERT_EQ(Run(Restore("copy", "o.bak", kKeyArn)).lifecycle, Lifecycle::kSuccess);
  EXPECT_EQ(Rows("copy"), Rows("orders"));
  EXPECT_EQ(Rows("copy").substr(0, 3), "10:");
}

TEST_F(BackupServiceTest, AFileStoredMeanwhileIsNotReplaced) {
  // Another task stores the object after this one checked that it was free.
  MakeDatabase("orders", 30);
  buckets_->StoreMeanwhile("o.bak", "another task's backup");
  Task refused = Run(Backup("orders", "o.bak", kKeyArn));
  ExpectError(refused, "Please reissue task with correct type and overwrite property");
  EXPECT_THAT(Messages(refused).back(), HasSubstr(ObjectArn("o.bak")));
  EXPECT_EQ(ReadObject("o.bak"), "another task's backup");

  // Of several files, the one stored meanwhile stays and this task's others go.
  MakeDatabase("big", 2300, 4000);
  buckets_->StoreMeanwhile("m/b2-of-3.bak", "the other file");
  Task files = Run(Backup("big", "m/b*.bak", kKeyArn, false, "FULL", 3));
  ExpectError(files, "Please reissue task with correct type and overwrite property");
  EXPECT_THAT(Messages(files).back(), HasSubstr(ObjectArn("m/b2-of-3.bak")));
  EXPECT_EQ(ReadObject("m/b2-of-3.bak"), "the other file");
  EXPECT_THAT(BucketFiles(), ElementsAre("m/b2-of-3.bak%o", "o.bak%o"));
  EXPECT_THAT(UploadLeftovers(), IsEmpty());

  // With @overwrite_s3_backup_file the task replaces what it finds.
  buckets_->StoreMeanwhile("o.bak", "another task's backup");
  Task replaced = Run(Backup("orders", "o.bak", kKeyArn, /*overwrite=*/true));
  ASSERT_EQ(replaced.lifecycle, Lifecycle::kSuccess) << replaced.TaskInfo();
  ASSERT_EQ(Run(Restore("copy", "o.bak", kKeyArn)).lifecycle, Lifecycle::kSuccess);
  EXPECT_EQ(Rows("copy"), Rows("orders"));
}

// ---- several files -----------------------------------------------------------------

TEST_F(BackupServiceTest, ThreeFilesRoundTrip) {
  // Past two 4 MiB stripes, so that every file holds data.
  MakeDatabase("big", 2300, 4000);
  const std::string rows = Rows("big");
  Task backup = Run(Backup("big", "big/backup*.bak", kKeyArn, false, "FULL", 3));
  ASSERT_EQ(backup.lifecycle, Lifecycle::kSuccess) << backup.TaskInfo();
  EXPECT_EQ(backup.number_of_files, 3);
  EXPECT_THAT(BucketFiles(), ElementsAre("big/backup1-of-3.bak%o", "big/backup2-of-3.bak%o",
                                         "big/backup3-of-3.bak%o"));
  for (const char* key : {"big/backup1-of-3.bak", "big/backup2-of-3.bak", "big/backup3-of-3.bak"}) {
    EXPECT_GT(ReadObject(key).size(), size_t{500} << 10) << key;
  }
  EXPECT_THAT(delegation_.S3Calls(),
              ElementsAre("s3:ListBucket arn:aws:s3:::backups",
                          "s3:PutObject arn:aws:s3:::backups/big/backup1-of-3.bak",
                          "s3:PutObject arn:aws:s3:::backups/big/backup2-of-3.bak",
                          "s3:PutObject arn:aws:s3:::backups/big/backup3-of-3.bak"));

  Task restore = Run(Restore("big_copy", "big/backup*.bak", kKeyArn));
  ASSERT_EQ(restore.lifecycle, Lifecycle::kSuccess) << restore.TaskInfo();
  EXPECT_EQ(Rows("big_copy"), rows);

  // One file named alone: refused before anything is restored, naming the form.
  Task part = Run(Restore("part", "big/backup2-of-3.bak", kKeyArn));
  ExpectError(part,
              "is file 2 of 3 of one backup; restore all its files with "
              "@s3_arn_to_restore_from='" +
                  ObjectArn("big/backup*.bak") + "'.");
  EXPECT_FALSE(DatabaseExists("part"));

  // Files swapped: each file knows its place.
  const std::string one = ReadObject("big/backup1-of-3.bak");
  const std::string two = ReadObject("big/backup2-of-3.bak");
  PutObject("swap/backup1-of-3.bak", two);
  PutObject("swap/backup2-of-3.bak", one);
  PutObject("swap/backup3-of-3.bak", ReadObject("big/backup3-of-3.bak"));
  Task swapped = Run(Restore("swapped", "swap/backup*.bak", kKeyArn));
  ExpectError(swapped, "");
  EXPECT_FALSE(DatabaseExists("swapped"));

  // A file missing.
  PutObject("gap/backup1-of-3.bak", one);
  PutObject("gap/backup3-of-3.bak", ReadObject("big/backup3-of-3.bak"));
  Task gap = Run(Restore("gap", "gap/backup*.bak", kKeyArn));
  ExpectError(gap, "The backup file 2 of 3");
  EXPECT_FALSE(DatabaseExists("gap"));
  EXPECT_THAT(InstanceLeftovers(), IsEmpty());
}

// A backup over an earlier one of another number of files: refused without
// overwrite (a restore of the name would find two backups), and with it the
// earlier backup's files are removed, or named in the log when the role may not.
TEST_F(BackupServiceTest, ABackupOverOneOfAnotherNumberOfFiles) {
  MakeDatabase("shop", 200, 100);
  ASSERT_EQ(Run(Backup("shop", "set/b*.bak", kKeyArn, false, "FULL", 3)).lifecycle,
            Lifecycle::kSuccess);
  Exec("shop", "UPDATE customers SET name = 'changed' WHERE id % 5 = 0;");
  const std::vector<std::string> three = BucketFiles();

  ExpectError(Run(Backup("shop", "set/b*.bak", kKeyArn, false, "FULL", 2)),
              "The backup file arn:aws:s3:::backups/set/b1-of-3.bak of another backup to " +
                  ObjectArn("set/b*.bak") +
                  " already exists in S3 and @overwrite_s3_backup_file is 0; a restore could not "
                  "tell the two backups apart. Please reissue task with correct type and "
                  "overwrite property.");
  EXPECT_EQ(BucketFiles(), three);

  Task replaced = Run(Backup("shop", "set/b*.bak", kKeyArn, true, "FULL", 2));
  ASSERT_EQ(replaced.lifecycle, Lifecycle::kSuccess) << replaced.TaskInfo();
  EXPECT_THAT(BucketFiles(), ElementsAre("set/b1-of-2.bak%o", "set/b2-of-2.bak%o"));
  EXPECT_THAT(Messages(replaced),
              Contains("Removed 3 files of the earlier backup to this name: set/b1-of-3.bak, "
                       "set/b2-of-3.bak, set/b3-of-3.bak."));
  Task restored = Run(Restore("shop_copy", "set/b*.bak", kKeyArn));
  ASSERT_EQ(restored.lifecycle, Lifecycle::kSuccess) << restored.TaskInfo();
  EXPECT_EQ(Rows("shop_copy"), Rows("shop"));

  // Another name, "set/b*" without the suffix: the files of "set/b*.bak" are not its own.
  Task other_name = Run(Backup("shop", "set/b*", kKeyArn, true, "FULL", 3));
  ASSERT_EQ(other_name.lifecycle, Lifecycle::kSuccess) << other_name.TaskInfo();
  EXPECT_THAT(BucketFiles(), ElementsAre("set/b1-of-2.bak%o", "set/b1-of-3%o", "set/b2-of-2.bak%o",
                                         "set/b2-of-3%o", "set/b3-of-3%o"));

  // A role without s3:DeleteObject: the backup succeeds and says what is left.
  delegation_.DenyS3("s3:DeleteObject");
  Task kept = Run(Backup("shop", "set/b*.bak", kKeyArn, true, "FULL", 1));
  ASSERT_EQ(kept.lifecycle, Lifecycle::kSuccess) << kept.TaskInfo();
  EXPECT_THAT(BucketFiles(), ElementsAre("set/b1-of-1.bak%o", "set/b1-of-2.bak%o", "set/b1-of-3%o",
                                         "set/b2-of-2.bak%o", "set/b2-of-3%o", "set/b3-of-3%o"));
  EXPECT_THAT(Messages(kept),
              Contains(HasSubstr("These files of an earlier backup to this name remain, and a "
                                 "restore of the name cannot tell the two backups apart until "
                                 "they are deleted: set/b1-of-2.bak (")));
  ExpectError(Run(Restore("shop_again", "set/b*.bak", kKeyArn)),
              "belong to more than one backup (set/b1-of-1.bak, set/b1-of-2.bak); delete the "
              "files of the backup you do not want (a backup with @overwrite_s3_backup_file=1 "
              "replaces them).");
}

// An unencrypted backup's files say the same of themselves (the plain format's
// header, version 2): files of two backups are not restored together, nor one
// file alone.
TEST_F(BackupServiceTest, UnencryptedFilesKnowTheirBackupToo) {
  MakeDatabase("big", 2300, 4000);
  ASSERT_EQ(Run(Backup("big", "a/backup*.bak", "", false, "FULL", 3)).lifecycle,
            Lifecycle::kSuccess);
  Exec("big", "UPDATE customers SET name = 'changed' WHERE id % 7 = 0;");
  ASSERT_EQ(Run(Backup("big", "b/backup*.bak", "", false, "FULL", 3)).lifecycle,
            Lifecycle::kSuccess);
  PutObject("mix/backup1-of-3.bak", ReadObject("a/backup1-of-3.bak"));
  PutObject("mix/backup2-of-3.bak", ReadObject("b/backup2-of-3.bak"));
  PutObject("mix/backup3-of-3.bak", ReadObject("a/backup3-of-3.bak"));
  ExpectError(Run(Restore("mixed", "mix/backup*.bak", "")),
              "The backup files mix/backup1-of-3.bak and mix/backup2-of-3.bak belong to "
              "different backups.");
  EXPECT_FALSE(DatabaseExists("mixed"));
  ExpectError(Run(Restore("part", "a/backup2-of-3.bak", "")), "is file 2 of 3 of one backup");
  EXPECT_FALSE(DatabaseExists("part"));
  ASSERT_EQ(Run(Restore("whole", "b/backup*.bak", "")).lifecycle, Lifecycle::kSuccess);
  EXPECT_EQ(Rows("whole"), Rows("big"));
  EXPECT_THAT(InstanceLeftovers(), IsEmpty());
}

// With several files, the files whose upload completed before another one
// failed are removed by the task: a backup is all of its files or none.
TEST_F(BackupServiceTest, OneFileFailingLeavesNoFileOfTheBackup) {
  MakeDatabase("big", 2300, 4000);
  buckets_->FailUploadOf("big/backup2-of-3.bak");
  Task t = Run(Backup("big", "big/backup*.bak", kKeyArn, false, "FULL", 3));
  ExpectError(t, "the upload did not complete");
  // A backup is all of its files or none.
  EXPECT_THAT(BucketFiles(), IsEmpty());
}

// A file whose upload stored the object but failed to say so is removed with
// the others, unless another writer stored its key since: that object is not
// this task's to remove.
TEST_F(BackupServiceTest, FailedBackupRemovesAFileWhoseAnswerWasLost) {
  MakeDatabase("big", 2300, 4000);
  buckets_->LoseAnswerOf("big/backup2-of-3.bak", /*store_over=*/false);
  Task t = Run(Backup("big", "big/backup*.bak", kKeyArn, false, "FULL", 3));
  ExpectError(t, "the connection was reset");
  EXPECT_THAT(Messages(t),
              Contains("The files of this backup that were already stored have been removed."));
  EXPECT_THAT(BucketFiles(), IsEmpty());
}

TEST_F(BackupServiceTest, FailedBackupRemovesOnlyItsOwnFiles) {
  MakeDatabase("big", 2300, 4000);
  buckets_->LoseAnswerOf("big/backup2-of-3.bak", /*store_over=*/true);
  Task t = Run(Backup("big", "big/backup*.bak", kKeyArn, true, "FULL", 3));
  ExpectError(t, "the connection was reset");
  EXPECT_THAT(Messages(t),
              Contains("The files of this backup that were already stored have been removed."));
  EXPECT_THAT(BucketFiles(), ElementsAre("big/backup2-of-3.bak%o"));
  EXPECT_EQ(ReadObject("big/backup2-of-3.bak"), GatedObjectStore::kStoredOver);
}

// rds_drop_database: at once, no task; refused while a task of the database
// waits or runs.
TEST_F(BackupServiceTest, DropDatabaseRemovesItUnlessATaskOfItIsUnderWay) {
  MakeDatabase("orders", 20);
  MakeDatabase("items", 20);
  EXPECT_EQ(service_->DropDatabase("nowhere", "orders").status().error_name(), kDBInstanceNotFound);
  ASSERT_OK_AND_ASSIGN(Task running, Backup("orders", "o.bak", kGatedKeyArn));
  delegation_.describe_gate.AwaitInside(1);
  Status refused = service_->DropDatabase(kInstance, "ORDERS").status();
  EXPECT_EQ(refused.error_name(), kInvalidDBInstanceState);
  EXPECT_EQ(refused.message(), "Database orders has task " + std::to_string(running.id) +
                                   " in IN_PROGRESS; cancel it or wait for it to finish before "
                                   "dropping the database.");
  EXPECT_TRUE(DatabaseExists("orders"));
  ASSERT_OK(service_->DropDatabase(kInstance, "items").status());  // another database
  EXPECT_FALSE(DatabaseExists("items"));
  delegation_.describe_gate.Open();
  service_->WaitIdle();
  EXPECT_EQ(Get(running.id).lifecycle, Lifecycle::kSuccess);

  EXPECT_THAT(service_->DropDatabase(kInstance, "Orders"), testing::IsOkAndHolds("orders"));
  EXPECT_FALSE(DatabaseExists("orders"));
  EXPECT_EQ(service_->DropDatabase(kInstance, "orders").status().error_name(), "DatabaseNotFound");
  // The name is free for a restore of the backup taken before.
  Task restored = Run(Restore("orders", "o.bak", kGatedKeyArn));
  EXPECT_EQ(restored.lifecycle, Lifecycle::kSuccess);
  EXPECT_TRUE(DatabaseExists("orders"));
}

// The drop's engine work runs without holding up tasks of other databases or
// other instances; the database it drops gets no task, and its instance is not
// deleted, until it ends.
TEST_F(BackupServiceTest, DropDatabaseHoldsBackOnlyWhatItDrops) {
  MakeDatabase("orders", 20);
  MakeDatabase("items", 20);
  gate_drops_ = true;
  std::thread drop([&] {
    EXPECT_THAT(service_->DropDatabase(kInstance, "orders"), testing::IsOkAndHolds("orders"));
  });
  drop_gate_.AwaitInside(1);
  // Another database of the instance: its task is created and runs meanwhile.
  Task other = Run(Backup("items", "i.bak", kKeyArn));
  EXPECT_EQ(other.lifecycle, Lifecycle::kSuccess);
  // The database being dropped: no task, no second drop, no deletion of the instance.
  for (const Status& st :
       {Backup("orders", "o.bak", kKeyArn).status(), Restore("Orders", "i.bak", kKeyArn).status(),
        service_->DropDatabase(kInstance, "ORDERS").status()}) {
    EXPECT_EQ(st.error_name(), kInvalidDBInstanceState);
    EXPECT_THAT(st.message(), HasSubstr(" is being dropped; wait for the drop to finish."));
  }
  Status deleting = service_->DeleteInstance(kInstance);
  EXPECT_EQ(deleting.error_name(), kInvalidDBInstanceState);
  EXPECT_EQ(deleting.message(), "DB instance " + std::string(kInstance) +
                                    " has database orders being dropped; wait for the drop to "
                                    "finish.");
  EXPECT_TRUE(DatabaseExists("orders"));
  drop_gate_.Open();
  drop.join();
  EXPECT_FALSE(DatabaseExists("orders"));
  // Once dropped, the name takes a restore again.
  Task restored = Run(Restore("orders", "i.bak", kKeyArn));
  EXPECT_EQ(restored.lifecycle, Lifecycle::kSuccess);
  EXPECT_TRUE(DatabaseExists("orders"));
}

// ---- concurrency and cancellation --------------------------------------------------

TEST_F(BackupServiceTest, AtMostTwoTasksRunAtOnce) {
  std::vector<int64_t> ids;
  for (const std::string db : {"a", "b", "c"}) {
    MakeDatabase(db, 20);
    ASSERT_OK_AND_ASSIGN(Task t, Backup(db, db + ".bak", kGatedKeyArn));
    ids.push_back(t.id);
  }
  delegation_.describe_gate.AwaitInside(2);
  EXPECT_EQ(Get(ids[0]).lifecycle, Lifecycle::kInProgress);
  EXPECT_EQ(Get(ids[1]).lifecycle, Lifecycle::kInProgress);
  Task waiting = Get(ids[2]);
  EXPECT_EQ(waiting.lifecycle, Lifecycle::kCreated);
  EXPECT_THAT(waiting.log, IsEmpty());
  EXPECT_FALSE(waiting.started.has_value());

  delegation_.describe_gate.Open();
  service_->WaitIdle();
  EXPECT_EQ(delegation_.describe_gate.max_inside(), 2);
  for (int64_t id : ids) {
    EXPECT_EQ(Get(id).lifecycle, Lifecycle::kSuccess);
    ExpectStartedAndEnded(id, Lifecycle::kSuccess);
  }
}

TEST_F(BackupServiceTest, TasksOfOneDatabaseRunOneAtATimeInOrder) {
  MakeDatabase("Orders", 20);
  MakeDatabase("items", 20);
  ASSERT_OK_AND_ASSIGN(Task first, Backup("Orders", "o1.bak", kGatedKeyArn));
  ASSERT_OK_AND_ASSIGN(Task second, Backup("orders", "o2.bak", kGatedKeyArn));  // the same
  ASSERT_OK_AND_ASSIGN(Task other, Backup("items", "i.bak", kGatedKeyArn));
  // A worker is free, but the second task's database is busy: the third runs.
  delegation_.describe_gate.AwaitInside(2);
  EXPECT_EQ(Get(first.id).lifecycle, Lifecycle::kInProgress);
  EXPECT_EQ(Get(second.id).lifecycle, Lifecycle::kCreated);
  EXPECT_EQ(Get(other.id).lifecycle, Lifecycle::kInProgress);
  delegation_.describe_gate.Open();
  service_->WaitIdle();
  for (const Task& t : {first, second, other}) {
    EXPECT_EQ(Get(t.id).lifecycle, Lifecycle::kSuccess) << Get(t.id).TaskInfo();
  }
  EXPECT_LE(*Get(first.id).started, *Get(second.id).started);
  EXPECT_EQ(delegation_.describe_gate.max_inside(), 2);
}

TEST_F(BackupServiceTest, TasksOfOneDatabaseOfTwoInstancesOnOneDirectoryRunOneAtATime) {
  // A second instance on the same directory, named through a symbolic link.
  std::filesystem::create_directory_symlink(InstanceDir(), dir_.File("twin-dir"));
  CreateInstanceRequest twin = SqliteInstance("twin");
  twin.path = dir_.File("twin-dir");
  ASSERT_OK(service_->CreateInstance(twin).status());
  MakeDatabase("orders", 20);
  ASSERT_OK_AND_ASSIGN(Task first, Backup("orders", "o1.bak", kGatedKeyArn));
  delegation_.describe_gate.AwaitInside(1);
  // The database is not dropped through the other instance meanwhile.
  EXPECT_THAT(service_->DropDatabase("twin", "orders"),
              IsError(kInvalidDBInstanceState,
                      "Database orders has a task of another DB instance on the same databases; "
                      "wait for it to finish before dropping the database."));
  BackupRequest r;
  r.instance = "twin";
  r.source_db_name = "ORDERS";
  r.s3_arn_to_backup_to = ObjectArn("o2.bak");
  r.kms_master_key_arn = kGatedKeyArn;
  ASSERT_OK_AND_ASSIGN(Task second, service_->BackupDatabase(r));
  EXPECT_EQ(Get(first.id).lifecycle, Lifecycle::kInProgress);
  EXPECT_EQ(Get(second.id, "twin").lifecycle, Lifecycle::kCreated);  // though a worker is free
  delegation_.describe_gate.Open();
  service_->WaitIdle();
  EXPECT_EQ(Get(first.id).lifecycle, Lifecycle::kSuccess) << Get(first.id).TaskInfo();
  EXPECT_EQ(Get(second.id, "twin").lifecycle, Lifecycle::kSuccess)
      << Get(second.id, "twin").TaskInfo();
  EXPECT_EQ(delegation_.describe_gate.max_inside(), 1);
}

TEST_F(BackupServiceTest, RestoreChainSubmittedAtOnceRunsInOrder) {
  MakeDatabase("ledger", 500);
  ASSERT_EQ(Run(Backup("ledger", "full.bak")).lifecycle, Lifecycle::kSuccess);
  Exec("ledger", "INSERT INTO customers VALUES (100000, 'late', NULL)");
  ASSERT_EQ(Run(Backup("ledger", "diff.bak", "", false, "DIFFERENTIAL")).lifecycle,
            Lifecycle::kSuccess);
  // Another database keeps the second worker busy with something else.
  MakeDatabase("other", 10);
  ASSERT_OK_AND_ASSIGN(Task held, Backup("other", "other.bak", kGatedKeyArn));
  ASSERT_OK_AND_ASSIGN(Task full, Restore("copy", "full.bak", "", "FULL", true));
  ASSERT_OK_AND_ASSIGN(Task diff, Restore("copy", "diff.bak", "", "DIFFERENTIAL", true));
  ASSERT_OK_AND_ASSIGN(Task finish, service_->FinishRestore(kInstance, "COPY"));
  delegation_.describe_gate.Open();
  service_->WaitIdle();
  for (const Task& t : {held, full, diff, finish}) {
    EXPECT_EQ(Get(t.id).lifecycle, Lifecycle::kSuccess) << Get(t.id).TaskInfo();
  }
  EXPECT_EQ(Rows("copy"), Rows("ledger"));
}

TEST_F(BackupServiceTest, CancelWaitingAndRunningTasks) {
  std::vector<int64_t> ids;
  for (int i = 0; i < 3; ++i) {
    const std::string db = "db" + std::to_string(i);
    MakeDatabase(db, 20);
    ASSERT_OK_AND_ASSIGN(Task t, Backup(db, "t" + std::to_string(i) + ".bak", kGatedKeyArn));
    ids.push_back(t.id);
  }
  delegation_.describe_gate.AwaitInside(2);

  // Waiting: cancelled at once.
  ASSERT_OK_AND_ASSIGN(Task waiting, service_->CancelTask(kInstance, ids[2]));
  EXPECT_EQ(waiting.lifecycle, Lifecycle::kCancelled);
  EXPECT_THAT(Messages(waiting), ElementsAre("The task was cancelled before it started."));
  // Running: asked to stop.
  ASSERT_OK_AND_ASSIGN(Task running, service_->CancelTask(kInstance, ids[0]));
  EXPECT_EQ(running.lifecycle, Lifecycle::kCancelRequested);
  EXPECT_EQ(Get(ids[0]).lifecycle, Lifecycle::kCancelRequested);
  EXPECT_THAT(service_->CancelTask(kInstance, ids[0]),
              IsError(kInvalidTaskState, "Task " + std::to_string(ids[0]) +
                                             " is CANCEL_REQUESTED and cannot be cancelled."));
  EXPECT_THAT(service_->CancelTask(kInstance, ids[2]),
              IsError(kInvalidTaskState,
                      "Task " + std::to_string(ids[2]) + " is CANCELLED and cannot be cancelled."));

  delegation_.describe_gate.Open();
  service_->WaitIdle();
  Task cancelled = Get(ids[0]);
  EXPECT_EQ(cancelled.lifecycle, Lifecycle::kCancelled) << cancelled.TaskInfo();
  EXPECT_THAT(Messages(cancelled), ElementsAre(kStarted, "Cancellation requested.",
                                               "The task was cancelled; it left nothing behind."));
  EXPECT_FALSE(HasObject("t0.bak"));
  ExpectStartedAndEnded(ids[0], Lifecycle::kCancelled);

  EXPECT_EQ(Get(ids[1]).lifecycle, Lifecycle::kSuccess);
  EXPECT_TRUE(HasObject("t1.bak"));

  EXPECT_EQ(Get(ids[2]).lifecycle, Lifecycle::kCancelled);
  EXPECT_FALSE(HasObject("t2.bak"));
  EXPECT_THAT(delegation_.EventsOf(ids[2]), IsEmpty());  // it never started
  EXPECT_THAT(UploadLeftovers(), IsEmpty());

  EXPECT_THAT(service_->CancelTask(kInstance, ids[1]),
              IsError(kInvalidTaskState,
                      "Task " + std::to_string(ids[1]) + " is SUCCESS and cannot be cancelled."));
  EXPECT_THAT(service_->CancelTask(kInstance, 999),
              IsError(kTaskNotFound, "Task 999 does not exist on DB instance sales."));
  EXPECT_THAT(service_->CancelTask("nobody", ids[1]),
              IsError(kDBInstanceNotFound, "DBInstance nobody not found."));
}

TEST_F(BackupServiceTest, CancelDuringUploadLeavesNoObject) {
  MakeDatabase("orders", 3000, 500);
  buckets_->gate_writers = true;
  ASSERT_OK_AND_ASSIGN(Task t, Backup("orders", "up.bak", kKeyArn));
  buckets_->writer_gate.AwaitInside(1);
  ASSERT_OK_AND_ASSIGN(Task requested, service_->CancelTask(kInstance, t.id));
  EXPECT_EQ(requested.lifecycle, Lifecycle::kCancelRequested);
  buckets_->writer_gate.Open();
  Task done = Finished(t.id);
  EXPECT_EQ(done.lifecycle, Lifecycle::kCancelled) << done.TaskInfo();
  EXPECT_FALSE(HasObject("up.bak"));
  EXPECT_THAT(BucketFiles(), IsEmpty());
  EXPECT_THAT(InstanceLeftovers(), IsEmpty());
  ExpectStartedAndEnded(t.id, Lifecycle::kCancelled);
}

TEST_F(BackupServiceTest, CancelEndsABackupWaitingForALockedDatabase) {
  MakeDatabase("orders", 300);
  // Another connection writes the database and holds it locked.
  sqlite3* writer = nullptr;
  ASSERT_EQ(sqlite3_open(DbPath("orders").c_str(), &writer), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(writer, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr), SQLITE_OK);
  // The lock goes at the latest after a minute, so that a hang fails the test.
  std::promise<void> done_waiting;
  std::thread release([&, waited = done_waiting.get_future()]() mutable {
    waited.wait_for(std::chrono::seconds(60));
    sqlite3_exec(writer, "ROLLBACK", nullptr, nullptr, nullptr);
  });
  ASSERT_OK_AND_ASSIGN(Task t, Backup("orders", "locked.bak", kKeyArn));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(Get(t.id).lifecycle, Lifecycle::kInProgress);
  const auto cancelled_at = std::chrono::steady_clock::now();
  ASSERT_OK(service_->CancelTask(kInstance, t.id).status());
  Task done = Finished(t.id);
  const auto took = std::chrono::steady_clock::now() - cancelled_at;
  done_waiting.set_value();
  release.join();
  sqlite3_close(writer);
  EXPECT_EQ(done.lifecycle, Lifecycle::kCancelled) << done.TaskInfo();
  EXPECT_LT(took, std::chrono::seconds(5));
  EXPECT_THAT(BucketFiles(), IsEmpty());
  EXPECT_THAT(InstanceLeftovers(), IsEmpty());
}

TEST_F(BackupServiceTest, CancelOfTaskOfAnotherInstanceIsNotFound) {
  std::filesystem::create_directory(dir_.File("other"));
  CreateInstanceRequest other = SqliteInstance("other");
  other.path = dir_.File("other");
  ASSERT_OK(service_->CreateInstance(other).status());
  MakeDatabase("orders", 5);
  ASSERT_OK_AND_ASSIGN(Task t, Backup("orders", "x.bak", kGatedKeyArn));
  EXPECT_THAT(service_->CancelTask("other", t.id),
              IsError(kTaskNotFound,
                      "Task " + std::to_string(t.id) + " does not exist on DB instance other."));
  TaskFilter filter;
  filter.instance = "other";
  ASSERT_OK_AND_ASSIGN(auto tasks, service_->DescribeTasks(filter));
  EXPECT_THAT(tasks, IsEmpty());
  delegation_.describe_gate.Open();
  EXPECT_EQ(Finished(t.id).lifecycle, Lifecycle::kSuccess);
}

// ---- restarts ----------------------------------------------------------------------

TEST_F(BackupServiceTest, StopInterruptsRunningTask) {
  MakeDatabase("orders", 20);
  MakeDatabase("items", 20);
  // Two tasks at once, so that both workers have run one (and their exits are
  // counted).
  ASSERT_OK_AND_ASSIGN(Task warm1, Backup("orders", "warm1.bak", kGatedKeyArn));
  ASSERT_OK_AND_ASSIGN(Task warm2, Backup("items", "warm2.bak", kGatedKeyArn));
  delegation_.describe_gate.AwaitInside(2);
  delegation_.describe_gate.Open();
  service_->WaitIdle();
  ASSERT_EQ(Get(warm1.id).lifecycle, Lifecycle::kSuccess);
  ASSERT_EQ(Get(warm2.id).lifecycle, Lifecycle::kSuccess);
  delegation_.describe_gate.Close();

  ASSERT_OK_AND_ASSIGN(Task t, Backup("orders", "stopped.bak", kGatedKeyArn));
  delegation_.describe_gate.AwaitInside(1);
  const int exited = ThreadsExited();
  std::thread stopper([&] { service_.reset(); });
  // The idle worker leaves once the service is stopping, and the running task
  // has been told to stop by then.
  AwaitThreadsExited(exited + 1);
  delegation_.describe_gate.Open();
  stopper.join();
  ASSERT_EQ(service_, nullptr);

  OpenService();
  ASSERT_NE(service_, nullptr);
  service_->WaitIdle();
  Task stopped = Get(t.id);
  ExpectError(stopped, "The task was interrupted because the server stopped");
  EXPECT_FALSE(HasObject("stopped.bak"));
  EXPECT_THAT(UploadLeftovers(), IsEmpty());
  ExpectStartedAndEnded(t.id, Lifecycle::kError);
  // It is not run again.
  EXPECT_EQ(delegation_.EventsOf(t.id).size(), 2u);
}

TEST_F(BackupServiceTest, TasksLeftByACrashAreResolvedAtOpen) {
  MakeDatabase("orders", 20);
  service_.reset();
  Task running = LeftRunning(1, TaskType::kBackup, "orders", "crash/running.bak");
  running.percent_complete = 37;
  Task cancelling = running;
  cancelling.id = 2;
  cancelling.lifecycle = Lifecycle::kCancelRequested;
  cancelling.s3_object_arn = ObjectArn("crash/cancelling.bak");
  Task waiting = running;
  waiting.id = 3;
  waiting.lifecycle = Lifecycle::kCreated;
  waiting.percent_complete = 0;
  waiting.started.reset();
  waiting.log.clear();
  waiting.s3_object_arn = ObjectArn("crash/waiting.bak");
  StoreTasks({running, cancelling, waiting});
  // What the crash left of the two tasks: nobody holds these files any more.
  std::filesystem::create_directory(BucketDir() + "/crash");
  for (const std::string& path :
       {InstanceDir() + "/.snapshot-Ab3dE9", InstanceDir() + "/.orders.base.pending.tmp-x1Y2z3",
        InstanceDir() + "/.snapshot-Q9w8E7", BucketDir() + "/crash/.tmp-a1B2c3"}) {
    testing::WriteFile(path, "partial");
  }
  // Files of work still going on (another process's) stay.
  std::string live = InstanceDir() + "/.snapshot-XXXXXX";
  ASSERT_OK_AND_ASSIGN(UniqueFd live_fd, CreateLockedTemporaryFile(live, 0600));
  ASSERT_OK_AND_ASSIGN(auto live_upload, files_->OpenWriter(kBucket, "crash/live.bak"));

  OpenService();
  ASSERT_NE(service_, nullptr);
  service_->WaitIdle();

  EXPECT_THAT(InstanceLeftovers(), ElementsAre(live.substr(InstanceDir().size() + 1)));
  EXPECT_FALSE(std::filesystem::exists(InstanceDir() + "/.orders.base.pending.tmp-x1Y2z3"));
  EXPECT_EQ(UploadLeftovers().size(), 1u);
  live_upload->Abort();
  EXPECT_THAT(UploadLeftovers(), IsEmpty());
  for (int64_t id : {1, 2}) {
    Task t = Get(id);
    EXPECT_EQ(t.lifecycle, Lifecycle::kError) << t.TaskInfo();
    std::vector<std::string> m = Messages(t);
    ASSERT_GE(m.size(), 4u);
    // Both tasks used the instance and the bucket: which file was whose is not known.
    EXPECT_EQ(m[m.size() - 4],
              "Removed 4 temporary files left by this and other interrupted tasks.");
    // As every failure: RDS's line, "Task has been aborted", then the reason.
    EXPECT_EQ(m[m.size() - 3], kBackupAborted);
    EXPECT_EQ(m[m.size() - 2], kTaskAborted);
    EXPECT_EQ(m.back(),
              "The task was interrupted because the server stopped while it ran; it did not "
              "complete and left nothing behind.");
    std::vector<TaskEvent> events = delegation_.EventsOf(id);
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].kind, TaskEvent::Kind::kEnded);
    EXPECT_EQ(events[0].task.lifecycle, Lifecycle::kError);
    EXPECT_EQ(events[0].role_session_arn, "");
  }
  EXPECT_FALSE(HasObject("crash/running.bak"));
  EXPECT_FALSE(HasObject("crash/cancelling.bak"));

  Task ran = Get(3);
  EXPECT_EQ(ran.lifecycle, Lifecycle::kSuccess) << ran.TaskInfo();
  EXPECT_TRUE(HasObject("crash/waiting.bak"));
  ExpectStartedAndEnded(3, Lifecycle::kSuccess);

  // Ids go on from the counter.
  ASSERT_OK_AND_ASSIGN(Task next, Backup("orders", "next.bak"));
  EXPECT_EQ(next.id, 4);
}

TEST_F(BackupServiceTest, AnInterruptedBackupSaysWhichOfItsFilesAreStored) {
  // A multi-file backup stores its files one after another; one stopped between
  // two has left a file, which its task_info names instead of saying that
  // nothing was left.
  MakeDatabase("orders", 20);
  ASSERT_EQ(Run(Backup("orders", "two/orders*.bak", "", false, "FULL", 2)).lifecycle,
            Lifecycle::kSuccess);
  ASSERT_OK(files_->Delete(kBucket, "two/orders2-of-2.bak"));
  service_.reset();
  Task running = LeftRunning(10, TaskType::kBackup, "orders", "two/orders*.bak");
  running.number_of_files = 2;
  Task none = LeftRunning(11, TaskType::kBackup, "orders", "none.bak");
  StoreTasks({running, none});

  OpenService();
  ASSERT_NE(service_, nullptr);
  service_->WaitIdle();

  EXPECT_EQ(Get(10).lifecycle, Lifecycle::kError);
  EXPECT_EQ(Messages(Get(10)).back(),
            "The task was interrupted because the server stopped while it ran; it did not "
            "complete. The backup file " +
                ObjectArn("two/orders1-of-2.bak") +
                " is in the bucket, stored by this task before it stopped or there before it "
                "ran; a backup of which a file is missing cannot be restored.");
  EXPECT_EQ(Messages(Get(11)).back(),
            "The task was interrupted because the server stopped while it ran; it did not "
            "complete and left nothing behind.");

  // Every file there (it stopped after storing them all): nothing is said missing.
  ASSERT_EQ(Run(Backup("orders", "all/orders*.bak", "", false, "FULL", 2)).lifecycle,
            Lifecycle::kSuccess);
  service_.reset();
  Task stored = LeftRunning(20, TaskType::kBackup, "orders", "all/orders*.bak");
  stored.number_of_files = 2;
  StoreTasks({stored});
  OpenService();
  ASSERT_NE(service_, nullptr);
  service_->WaitIdle();
  EXPECT_EQ(Messages(Get(20)).back(),
            "The task was interrupted because the server stopped while it ran; it did not "
            "complete. The backup files " +
                ObjectArn("all/orders1-of-2.bak") + ", " + ObjectArn("all/orders2-of-2.bak") +
                " are in the bucket, stored by this task before it stopped or there before it "
                "ran.");
}

TEST_F(BackupServiceTest, TheTemporaryFileOfAnInterruptedRestoreIsRemovedAtOpen) {
  service_.reset();
  StoreTasks({LeftRunning(1, TaskType::kRestore, "copy", "full.bak")});
  testing::WriteFile(InstanceDir() + "/.restore-Ab3dE9", "partial");

  OpenService();
  ASSERT_NE(service_, nullptr);
  service_->WaitIdle();

  EXPECT_THAT(InstanceLeftovers(), IsEmpty());
  std::vector<std::string> m = Messages(Get(1));
  ASSERT_GE(m.size(), 4u);
  EXPECT_EQ(m[m.size() - 4], "Removed 1 temporary file left by the interrupted task.");
  EXPECT_EQ(m[m.size() - 3], kRestoreAborted);
  EXPECT_EQ(m[m.size() - 2], kTaskAborted);
  EXPECT_THAT(m.back(), HasSubstr("interrupted"));
  EXPECT_FALSE(DatabaseExists("copy"));
}

TEST_F(BackupServiceTest, AnInterruptedRestoreWhoseDatabaseIsOnlineEndsInSuccess) {
  // The server stopped after the restore brought the database online, its last
  // step, and before the task recorded it: the restore is complete.
  service_.reset();
  Task running = LeftRunning(1, TaskType::kRestore, "copy", "full.bak");
  running.log.push_back(
      {running.created, "Restoring database copy from " + running.s3_object_arn + "."});
  // A restore that stopped before it began (before its check of the name):
  // the database of that name is not its.
  Task early = LeftRunning(2, TaskType::kRestore, "orders", "full.bak");
  StoreTasks({running, early});
  MakeDatabase("Copy", 10);
  MakeDatabase("orders", 10);

  OpenService();
  ASSERT_NE(service_, nullptr);
  service_->WaitIdle();

  EXPECT_EQ(Get(2).lifecycle, Lifecycle::kError);
  EXPECT_TRUE(DatabaseExists("orders"));
  Task t = Get(1);
  EXPECT_EQ(t.lifecycle, Lifecycle::kSuccess) << t.TaskInfo();
  EXPECT_EQ(t.percent_complete, 100);
  std::vector<std::string> m = Messages(t);
  ASSERT_GE(m.size(), 2u);
  EXPECT_EQ(m[m.size() - 2],
            "Database copy is restored and online; the server stopped before the task could "
            "record it.");
  EXPECT_EQ(m.back(), "Task has been completed successfully.");
  EXPECT_TRUE(DatabaseExists("Copy"));
  std::vector<TaskEvent> events = delegation_.EventsOf(1);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].task.lifecycle, Lifecycle::kSuccess);
}

TEST_F(BackupServiceTest, AnInterruptedRestoreRemovesOnlyTheRestoringCopyItMade) {
  MakeDatabase("ledger", 50);
  ASSERT_EQ(Run(Backup("ledger", "ledger/full.bak", kKeyArn)).lifecycle, Lifecycle::kSuccess);
  for (const char* name : {"sales", "mine", "done"}) {
    ASSERT_EQ(Run(Restore(name, "ledger/full.bak", kKeyArn, "FULL", true)).lifecycle,
              Lifecycle::kSuccess);
    ASSERT_TRUE(DatabaseExists(name));
  }
  service_.reset();
  // A FULL restore of "sales" that stopped before its check of the name (it
  // would have failed: the name is taken): the RESTORING sales, waiting for its
  // DIFFERENTIAL, is another task's.
  Task early = LeftRunning(10, TaskType::kRestore, "sales", "ledger/full.bak");
  // One that began restoring "mine": the RESTORING copy is its own, and goes.
  Task began = LeftRunning(11, TaskType::kRestoreNoRecovery, "mine", "ledger/full.bak");
  began.log.push_back({began.created, "Restoring database mine from " + began.s3_object_arn + "."});
  // One that finished (its last line says so) before it could record its end:
  // the RESTORING copy is complete, and the task a success.
  Task done = LeftRunning(12, TaskType::kRestoreNoRecovery, "done", "ledger/full.bak");
  done.log.push_back({done.created, "Restoring database done from " + done.s3_object_arn + "."});
  done.log.push_back({done.created,
                      "Database done is restored and stays in the RESTORING state "
                      "(@with_norecovery=1): restore a DIFFERENTIAL backup or run "
                      "rds_finish_restore."});
  StoreTasks({early, began, done});

  OpenService();
  ASSERT_NE(service_, nullptr);
  service_->WaitIdle();

  EXPECT_EQ(Get(10).lifecycle, Lifecycle::kError);
  EXPECT_THAT(Messages(Get(10)), Not(Contains(HasSubstr("partly restored"))));
  EXPECT_TRUE(DatabaseExists("sales"));
  EXPECT_EQ(Get(11).lifecycle, Lifecycle::kError);
  EXPECT_THAT(Messages(Get(11)), Contains("The partly restored database mine was removed."));
  EXPECT_FALSE(DatabaseExists("mine"));
  Task finished = Get(12);
  EXPECT_EQ(finished.lifecycle, Lifecycle::kSuccess) << finished.TaskInfo();
  std::vector<std::string> m = Messages(finished);
  ASSERT_GE(m.size(), 2u);
  EXPECT_EQ(m[m.size() - 2],
            "Database done is restored and stays in the RESTORING state; the server stopped "
            "before the task could record it.");
  EXPECT_TRUE(DatabaseExists("done"));
}

TEST_F(BackupServiceTest, DamagedTaskRecordFailsOpen) {
  service_.reset();
  ASSERT_OK(store_->Update(
      [&](state::Transaction& tx) { return tx.Put(kTasksTable, TaskKey(1), "{\"id\":"); }));
  BackupServiceOptions options;
  options.account_id = kAccount;
  auto opened = BackupService::Open(options, *store_, *vault_, *buckets_, delegation_, OpenEngine,
                                    clock_, random_);
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), StatusCode::kDataLoss);
}

// ---- history -----------------------------------------------------------------------

TEST_F(BackupServiceTest, HistoryIsKept36Days) {
  MakeDatabase("orders", 10);
  ASSERT_EQ(Run(Backup("orders", "a.bak")).lifecycle, Lifecycle::kSuccess);
  ASSERT_EQ(Run(Backup("orders", "a.bak")).lifecycle, Lifecycle::kError);
  MakeDatabase("items", 10);
  MakeDatabase("stock", 10);
  ASSERT_OK_AND_ASSIGN(Task cancelled, Backup("orders", "c.bak", kGatedKeyArn));
  delegation_.describe_gate.AwaitInside(1);
  ASSERT_OK_AND_ASSIGN(Task waiting, Backup("items", "d.bak", kGatedKeyArn));
  ASSERT_OK_AND_ASSIGN(Task third, Backup("stock", "e.bak", kGatedKeyArn));
  delegation_.describe_gate.AwaitInside(2);
  ASSERT_OK(service_->CancelTask(kInstance, third.id).status());  // CANCELLED, waiting

  clock_.Advance(Days(36));
  ASSERT_OK_AND_ASSIGN(int removed, service_->RunScheduledWork());
  EXPECT_EQ(removed, 0);  // exactly 36 days is still kept

  clock_.Advance(std::chrono::milliseconds(1));
  ASSERT_OK_AND_ASSIGN(removed, service_->RunScheduledWork());
  EXPECT_EQ(removed, 3);  // SUCCESS, ERROR, CANCELLED
  TaskFilter filter;
  filter.instance = kInstance;
  ASSERT_OK_AND_ASSIGN(auto tasks, service_->DescribeTasks(filter));
  ASSERT_EQ(tasks.size(), 2u);  // the running ones stay, however old
  EXPECT_EQ(tasks[0].id, cancelled.id);
  EXPECT_EQ(tasks[1].id, waiting.id);

  delegation_.describe_gate.Open();
  service_->WaitIdle();
  ASSERT_OK_AND_ASSIGN(removed, service_->RunScheduledWork());
  EXPECT_EQ(removed, 0);  // just finished
  clock_.Advance(Days(37));
  ASSERT_OK_AND_ASSIGN(removed, service_->RunScheduledWork());
  EXPECT_EQ(removed, 2);
  ASSERT_OK_AND_ASSIGN(tasks, service_->DescribeTasks(filter));
  EXPECT_THAT(tasks, IsEmpty());
}

// ---- DescribeTasks -----------------------------------------------------------------

TEST_F(BackupServiceTest, DescribeTasksFilters) {
  MakeDatabase("Orders", 10);
  MakeDatabase("items", 10);
  ASSERT_EQ(Run(Backup("Orders", "o.bak")).lifecycle, Lifecycle::kSuccess);
  ASSERT_EQ(Run(Backup("items", "i.bak")).lifecycle, Lifecycle::kSuccess);
  ASSERT_EQ(Run(Restore("orders2", "o.bak")).lifecycle, Lifecycle::kSuccess);

  TaskFilter filter;
  filter.instance = "SALES";  // identifiers are case-insensitive
  ASSERT_OK_AND_ASSIGN(auto all, service_->DescribeTasks(filter));
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].id, 1);
  EXPECT_EQ(all[1].id, 2);
  EXPECT_EQ(all[2].id, 3);
  EXPECT_EQ(all[2].type, TaskType::kRestore);

  filter.database = "orders";
  ASSERT_OK_AND_ASSIGN(auto orders, service_->DescribeTasks(filter));
  ASSERT_EQ(orders.size(), 1u);
  EXPECT_EQ(orders[0].database, "Orders");

  filter.database.reset();
  filter.task_id = 2;
  ASSERT_OK_AND_ASSIGN(auto two, service_->DescribeTasks(filter));
  ASSERT_EQ(two.size(), 1u);
  EXPECT_EQ(two[0].database, "items");

  filter.task_id = 42;
  ASSERT_OK_AND_ASSIGN(auto none, service_->DescribeTasks(filter));
  EXPECT_THAT(none, IsEmpty());

  // 0 is every task, as rds_task_status's @task_id; below that is no task id.
  filter.task_id = 0;
  ASSERT_OK_AND_ASSIGN(auto zero, service_->DescribeTasks(filter));
  EXPECT_EQ(zero.size(), 3u);
  filter.task_id = -1;
  EXPECT_THAT(service_->DescribeTasks(filter),
              IsError(kInvalidParameterValue,
                      "TaskId -1 is not valid: give a task's id, or 0 for every task."));
  filter.task_id.reset();

  filter.instance = "nobody";
  EXPECT_THAT(service_->DescribeTasks(filter),
              IsError(kDBInstanceNotFound, "DBInstance nobody not found."));
}

// ---- instances ---------------------------------------------------------------------

TEST_F(BackupServiceTest, CreateDescribeListAndDeleteInstances) {
  ASSERT_OK_AND_ASSIGN(Instance sales, service_->DescribeInstance(kInstance));
  EXPECT_EQ(sales.name, kInstance);
  EXPECT_EQ(sales.engine, "sqlite");
  EXPECT_EQ(sales.path, InstanceDir());
  EXPECT_EQ(sales.role_arn, kRoleArn);
  EXPECT_EQ(sales.created, FromEpochMillis(kStartMillis));
  EXPECT_EQ(service_->InstanceArn(kInstance), kInstanceArn);

  // Names are kept in lower case.
  ASSERT_OK_AND_ASSIGN(Instance mixed, service_->CreateInstance(SqliteInstance("Archive-2")));
  EXPECT_EQ(mixed.name, "archive-2");
  ASSERT_OK_AND_ASSIGN(Instance found, service_->DescribeInstance("ARCHIVE-2"));
  EXPECT_EQ(found.name, "archive-2");
  EXPECT_THAT(service_->CreateInstance(SqliteInstance("archive-2")),
              IsError(kDBInstanceAlreadyExists, "DB instance already exists"));

  ASSERT_OK_AND_ASSIGN(auto list, service_->ListInstances());
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].name, "archive-2");
  EXPECT_EQ(list[1].name, "sales");

  ASSERT_OK(service_->DeleteInstance("Archive-2"));
  EXPECT_THAT(service_->DescribeInstance("archive-2"),
              IsError(kDBInstanceNotFound, "DBInstance archive-2 not found."));
  EXPECT_THAT(service_->DeleteInstance("archive-2"),
              IsError(kDBInstanceNotFound, "DBInstance archive-2 not found."));
  ASSERT_OK_AND_ASSIGN(list, service_->ListInstances());
  ASSERT_EQ(list.size(), 1u);

  // Instances persist.
  service_.reset();
  OpenService();
  ASSERT_NE(service_, nullptr);
  ASSERT_OK_AND_ASSIGN(list, service_->ListInstances());
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].name, "sales");
}

TEST_F(BackupServiceTest, ADsnIsStoredOnlySealed) {
  // A record written before DSNs were sealed is sealed at the next start.
  service_.reset();
  Instance legacy;
  legacy.name = "legacy";
  legacy.engine = "postgres";
  legacy.dsn = "host=db.example user=backup password=hunter2";
  legacy.role_arn = kRoleArn;
  nlohmann::json older = nlohmann::json::parse(EncodeInstance(legacy, {}));
  older["dsn"] = legacy.dsn;
  ASSERT_OK(store_->Update([&](state::Transaction& tx) {
    return tx.Put(kInstancesTable, InstanceKey("legacy"), older.dump());
  }));
  OpenService();
  ASSERT_NE(service_, nullptr);
  std::optional<std::string> stored;
  ASSERT_OK(store_->View([&](const state::ReadTransaction& tx) -> Status {
    ASSIGN_OR_RETURN(stored, tx.Get(kInstancesTable, InstanceKey("legacy")));
    return Status::Ok();
  }));
  ASSERT_TRUE(stored.has_value());
  EXPECT_THAT(*stored, Not(HasSubstr("hunter2")));
  EXPECT_THAT(*stored, HasSubstr("dsn_sealed"));
  ASSERT_OK_AND_ASSIGN(Instance opened, service_->DescribeInstance("legacy"));
  EXPECT_EQ(opened.dsn, legacy.dsn);
  // Sealed for its instance: given to another, it does not open.
  nlohmann::json moved = nlohmann::json::parse(*stored);
  moved["name"] = "moved";
  ASSERT_OK(store_->Update([&](state::Transaction& tx) {
    return tx.Put(kInstancesTable, InstanceKey("moved"), moved.dump());
  }));
  EXPECT_EQ(service_->DescribeInstance("moved").status().code(), StatusCode::kDataLoss);
}

TEST_F(BackupServiceTest, CreateInstanceValidation) {
  auto expect_invalid = [&](const CreateInstanceRequest& r, const std::string& part) {
    auto created = service_->CreateInstance(r);
    ASSERT_FALSE(created.ok()) << r.name;
    EXPECT_EQ(created.status().code(), StatusCode::kInvalidArgument) << r.name;
    EXPECT_EQ(created.status().error_name(), kInvalidParameterValue) << r.name;
    EXPECT_THAT(created.status().message(), HasSubstr(part)) << r.name;
  };
  for (const std::string& name : {std::string(), std::string("1db"), std::string("-db"),
                                  std::string("db-"), std::string("db--1"), std::string("db_1"),
                                  std::string("db.1"), std::string("d b"), std::string(64, 'a')}) {
    expect_invalid(SqliteInstance(name), "not a valid identifier");
  }
  ASSERT_OK(service_->CreateInstance(SqliteInstance(std::string(63, 'a'))).status());

  for (const std::string& arn :
       {std::string(), std::string("arn:aws:iam::999999999999:role/rds-backup"),
        std::string("arn:aws:iam::111122223333:user/rds-backup"),
        std::string("arn:aws:iam::111122223333:role/"), std::string("rds-backup")}) {
    CreateInstanceRequest r = SqliteInstance("good");
    r.role_arn = arn;
    expect_invalid(r, "is not a role of account 111122223333");
  }

  CreateInstanceRequest no_path = SqliteInstance("good");
  no_path.path.clear();
  expect_invalid(no_path, "needs a path");
  CreateInstanceRequest with_dsn = SqliteInstance("good");
  with_dsn.dsn = "host=db";
  expect_invalid(with_dsn, "not a DSN");
  CreateInstanceRequest missing_dir = SqliteInstance("good");
  missing_dir.path = dir_.File("no-such-directory");
  expect_invalid(missing_dir, "cannot be reached");
  CreateInstanceRequest mysql = SqliteInstance("good");
  // coffer's own data directory, and any directory inside it, by its real path.
  std::filesystem::create_directories(dir_.File("data/buckets/b"));
  std::filesystem::create_symlink(dir_.File("data"), dir_.File("data-link"));
  for (const std::string& reserved : {dir_.File("data"), dir_.File("data/"), dir_.File("data-link"),
                                      dir_.File("data/buckets/b"), dir_.File("instance/../data")}) {
    CreateInstanceRequest r = SqliteInstance("good");
    r.path = reserved;
    expect_invalid(
        r, "coffer's data directory " + dir_.File("data") + ": an instance may not use it.");
  }
  CreateInstanceRequest beside = SqliteInstance("good");
  std::filesystem::create_directory(dir_.File("data-other"));
  beside.path = dir_.File("data-other");  // shares only a prefix of the name
  ASSERT_OK(service_->CreateInstance(beside).status());
  ASSERT_OK(service_->DeleteInstance("good"));
  mysql.engine = "mysql";
  expect_invalid(mysql, "Invalid DB engine: 'mysql'");
  CreateInstanceRequest no_engine = SqliteInstance("good");
  no_engine.engine.clear();
  expect_invalid(no_engine, "Invalid DB engine");
  CreateInstanceRequest postgres = SqliteInstance("good");
  postgres.engine = "postgres";
  expect_invalid(postgres, "needs a DSN");
  postgres.dsn = "host=nowhere";
  expect_invalid(postgres, "takes a DSN, not a path");
  postgres.path.clear();
  expect_invalid(postgres, "cannot be reached");

  // A role of the account that rds.amazonaws.com cannot assume: RDS's message for
  // an option's role, then the refusal.
  CreateInstanceRequest unknown_role = SqliteInstance("good");
  unknown_role.role_arn = "arn:aws:iam::111122223333:role/no-such-role";
  auto refused = service_->CreateInstance(unknown_role);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().error_name(), kInvalidParameterValue);
  EXPECT_EQ(refused.status().message(),
            "IAM role ARN value is invalid or does not include the required permissions for: "
            "SQLSERVER_BACKUP_RESTORE. rds.amazonaws.com cannot assume "
            "arn:aws:iam::111122223333:role/no-such-role: rds.amazonaws.com is not authorized "
            "to perform: sts:AssumeRole on resource: arn:aws:iam::111122223333:role/no-such-role");
  delegation_.DistrustRole();
  expect_invalid(SqliteInstance("good"), "cannot assume " + std::string(kRoleArn) + ": ");
  // An error that says nothing about the role comes back as it is.
  delegation_.FailAssumeRole();
  auto failed = service_->CreateInstance(SqliteInstance("good"));
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), StatusCode::kInternal);
  EXPECT_EQ(failed.status().message(), "the call's audit record was not written");

  // Nothing of the refused requests was kept.
  ASSERT_OK_AND_ASSIGN(auto list, service_->ListInstances());
  ASSERT_EQ(list.size(), 2u);
  EXPECT_THAT(service_->DescribeInstance("good"),
              IsError(kDBInstanceNotFound, "DBInstance good not found."));
}

TEST_F(BackupServiceTest, DeleteInstanceRefusedWhileATaskIsNotFinished) {
  std::filesystem::create_directory(dir_.File("other"));
  CreateInstanceRequest other = SqliteInstance("other");
  other.path = dir_.File("other");
  ASSERT_OK(service_->CreateInstance(other).status());
  testing::WriteFile(dir_.File("other/x.db"), "");

  // Both workers busy with the tasks of sales; the task of other waits.
  for (const std::string db : {"a", "b"}) {
    MakeDatabase(db, 10);
    ASSERT_OK(Backup(db, db + ".bak", kGatedKeyArn).status());
  }
  delegation_.describe_gate.AwaitInside(2);
  BackupRequest r;
  r.instance = "other";
  r.source_db_name = "x";
  r.s3_arn_to_backup_to = ObjectArn("x.bak");
  ASSERT_OK_AND_ASSIGN(Task waiting, service_->BackupDatabase(r));

  Status refused = service_->DeleteInstance("other");
  EXPECT_EQ(refused.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(refused.error_name(), kInvalidDBInstanceState);
  EXPECT_THAT(refused.message(),
              HasSubstr("has task " + std::to_string(waiting.id) + " in CREATED"));
  refused = service_->DeleteInstance(kInstance);
  EXPECT_EQ(refused.error_name(), kInvalidDBInstanceState);
  EXPECT_THAT(refused.message(), HasSubstr("in IN_PROGRESS"));

  // Once the waiting task is cancelled, other may go.
  ASSERT_OK(service_->CancelTask("other", waiting.id).status());
  ASSERT_OK(service_->DeleteInstance("other"));

  delegation_.describe_gate.Open();
  service_->WaitIdle();
  ASSERT_OK(service_->DeleteInstance(kInstance));
  // The databases are not touched.
  EXPECT_EQ(Rows("a").substr(0, 3), "10:");
  EXPECT_TRUE(std::filesystem::exists(dir_.File("other/x.db")));
  EXPECT_THAT(Backup("a", "late.bak"), IsError(kDBInstanceNotFound, "DBInstance sales not found."));
  ASSERT_OK_AND_ASSIGN(auto list, service_->ListInstances());
  EXPECT_THAT(list, IsEmpty());
}

// @type is compared as T-SQL compares strings on RDS: whatever the case.
TEST_F(BackupServiceTest, TypeIsReadWhateverItsCase) {
  EXPECT_EQ(Run(Backup("orders", "lower.bak", "", false, "differential")).type,
            TaskType::kBackupDifferential);
  EXPECT_EQ(Run(Backup("orders", "lower.bak", "", false, "Full")).type, TaskType::kBackup);
  EXPECT_EQ(Run(Restore("copy", "lower.bak", "", "full")).type, TaskType::kRestore);
  EXPECT_EQ(Run(Restore("copy", "lower.bak", "", "Differential", true)).type,
            TaskType::kRestoreDifferentialNoRecovery);
}

TEST_F(BackupServiceTest, RequestsAreCheckedAtOnce) {
  auto expect_invalid = [](const Result<Task>& r, const std::string& part) {
    ASSERT_FALSE(r.ok()) << part;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status().ToString();
    EXPECT_THAT(r.status().message(), HasSubstr(part));
  };
  expect_invalid(Backup("", "k.bak"), "@source_db_name cannot be empty.");
  expect_invalid(Backup("bad name", "k.bak"), "is not a database name");
  expect_invalid(Backup("orders", "k.bak", "", false, "INCREMENTAL"),
                 "@type must be FULL or DIFFERENTIAL");
  expect_invalid(Backup("orders", "k.bak", "", false, "FULL", 11), "between 1 and 10");
  expect_invalid(Backup("orders", "k.bak", "", false, "FULL", 2), "must contain one '*'");
  expect_invalid(Backup("orders", "a*b*.bak", "", false, "FULL", 2), "only one '*'");
  expect_invalid(Backup("orders", "k.bak", "arn:aws:kms:eu-west-1:111122223333:key/x"),
                 "@kms_master_key_arn must be the ARN of a KMS key");
  expect_invalid(Backup("orders", "k.bak", "1234abcd-12ab-34cd-56ef-1234567890ab"),
                 "@kms_master_key_arn must be the ARN of a KMS key");
  BackupRequest s3_url;
  s3_url.instance = kInstance;
  s3_url.source_db_name = "orders";
  s3_url.s3_arn_to_backup_to = "s3://backups/k.bak";
  expect_invalid(service_->BackupDatabase(s3_url), "must be an S3 object ARN");

  RestoreRequest empty;
  empty.instance = kInstance;
  empty.restore_db_name = "copy";
  EXPECT_THAT(service_->RestoreDatabase(empty),
              IsError(kInvalidParameterValue, "S3 ARN prefix cannot be empty"));
  expect_invalid(Restore("", "k.bak"), "@restore_db_name cannot be empty.");
  expect_invalid(Restore("copy", "a*b*"), "only one '*'");
  expect_invalid(Restore("copy", "k.bak", "", "LOG"), "@type must be FULL or DIFFERENTIAL");
  expect_invalid(Restore("copy", "k.bak", "arn:aws:kms:us-east-1:999999999999:key/x"),
                 "@kms_master_key_arn");
  expect_invalid(service_->FinishRestore(kInstance, "no/slash"), "is not a database name");

  BackupRequest elsewhere;
  elsewhere.instance = "nobody";
  elsewhere.source_db_name = "orders";
  elsewhere.s3_arn_to_backup_to = ObjectArn("k.bak");
  EXPECT_THAT(service_->BackupDatabase(elsewhere),
              IsError(kDBInstanceNotFound, "DBInstance nobody not found."));

  // None of them became a task.
  TaskFilter filter;
  filter.instance = kInstance;
  ASSERT_OK_AND_ASSIGN(auto tasks, service_->DescribeTasks(filter));
  EXPECT_THAT(tasks, IsEmpty());
}

// ---- DIFFERENTIAL ------------------------------------------------------------------

TEST_F(BackupServiceTest, FullAndDifferentialChain) {
  MakeDatabase("ledger", 2000, 100);
  ASSERT_EQ(Run(Backup("ledger", "ledger/full.bak", kKeyArn)).lifecycle, Lifecycle::kSuccess);
  Exec("ledger",
       "UPDATE customers SET name = 'changed ' || id WHERE id IN (3, 1500);"
       "INSERT INTO customers SELECT id + 5000, 'new', randomblob(100) FROM customers "
       "WHERE id <= 20;");
  const std::string rows = Rows("ledger");
  Task diff = Run(Backup("ledger", "ledger/diff.bak", kKeyArn, false, "DIFFERENTIAL"));
  EXPECT_EQ(diff.type, TaskType::kBackupDifferential);
  ASSERT_EQ(diff.lifecycle, Lifecycle::kSuccess) << diff.TaskInfo();
  EXPECT_LT(ReadObject("ledger/diff.bak").size(), ReadObject("ledger/full.bak").size());

  // FULL, norecovery: restoring, not online.
  Task full = Run(Restore("ledger2", "ledger/full.bak", kKeyArn, "FULL", true));
  EXPECT_EQ(full.type, TaskType::kRestoreNoRecovery);
  ASSERT_EQ(full.lifecycle, Lifecycle::kSuccess) << full.TaskInfo();
  EXPECT_THAT(Messages(full), Contains(HasSubstr("RESTORING")));
  EXPECT_FALSE(std::filesystem::exists(DbPath("ledger2")));
  EXPECT_TRUE(DatabaseExists("ledger2"));
  // A restoring database counts as existing.
  ExpectError(Run(Restore("LEDGER2", "ledger/full.bak", kKeyArn)), "already exists");
  // A FULL backup is not a DIFFERENTIAL one, nor the other way round: an
  // encrypted backup's context names its type, and the task says which @type fits.
  ExpectError(Run(Restore("ledger2", "ledger/full.bak", kKeyArn, "DIFFERENTIAL", true)),
              "The backup is a FULL backup, not a DIFFERENTIAL one. Restore it with @type='FULL' "
              "under a name no database has (rds_drop_database removes the RESTORING ledger2).");
  // Onto a name no database has, there is nothing to drop first.
  ExpectError(Run(Restore("ledger6", "ledger/full.bak", kKeyArn, "DIFFERENTIAL", false)),
              "The backup is a FULL backup, not a DIFFERENTIAL one. Restore it with "
              "@type='FULL'.");
  EXPECT_FALSE(DatabaseExists("ledger6"));
  ExpectError(Run(Restore("ledger5", "ledger/diff.bak", kKeyArn)),
              "The backup is a DIFFERENTIAL backup, not a FULL one. Restore its FULL backup with "
              "@with_norecovery=1, then this one with @type='DIFFERENTIAL'.");
  EXPECT_FALSE(DatabaseExists("ledger5"));
  // Without encryption (no context names the type), the engine finds out, and
  // the task says the same.
  ASSERT_EQ(Run(Backup("ledger", "ledger/plain-full.bak", "", false, "FULL")).lifecycle,
            Lifecycle::kSuccess);
  ASSERT_EQ(Run(Backup("ledger", "ledger/plain-diff.bak", "", false, "DIFFERENTIAL")).lifecycle,
            Lifecycle::kSuccess);
  ExpectError(Run(Restore("ledger3", "ledger/plain-diff.bak", "")),
              "The backup is a DIFFERENTIAL backup, not a FULL one. Restore its FULL backup with "
              "@with_norecovery=1, then this one with @type='DIFFERENTIAL'.");
  EXPECT_FALSE(DatabaseExists("ledger3"));
  // And a FULL one given as DIFFERENTIAL onto a RESTORING database: the advice
  // names a free name, since the restoring one is taken.
  ASSERT_EQ(Run(Restore("ledger4", "ledger/plain-full.bak", "", "FULL", true)).lifecycle,
            Lifecycle::kSuccess);
  ExpectError(Run(Restore("ledger4", "ledger/plain-full.bak", "", "DIFFERENTIAL", true)),
              "The backup is a FULL backup, not a DIFFERENTIAL one. Restore it with @type='FULL' "
              "under a name no database has (rds_drop_database removes the RESTORING ledger4).");
  EXPECT_TRUE(DatabaseExists("ledger4"));

  Task applied = Run(Restore("ledger2", "ledger/diff.bak", kKeyArn, "DIFFERENTIAL", true));
  EXPECT_EQ(applied.type, TaskType::kRestoreDifferentialNoRecovery);
  ASSERT_EQ(applied.lifecycle, Lifecycle::kSuccess) << applied.TaskInfo();
  EXPECT_FALSE(std::filesystem::exists(DbPath("ledger2")));

  ASSERT_OK_AND_ASSIGN(Task finish, service_->FinishRestore(kInstance, "ledger2"));
  EXPECT_EQ(finish.type, TaskType::kFinishRestore);
  EXPECT_EQ(finish.lifecycle, Lifecycle::kCreated);
  finish = Finished(finish.id);
  ASSERT_EQ(finish.lifecycle, Lifecycle::kSuccess) << finish.TaskInfo();
  EXPECT_EQ(finish.percent_complete, 100);
  EXPECT_EQ(Rows("ledger2"), rows);
  ExpectStartedAndEnded(finish.id, Lifecycle::kSuccess, /*session=*/"");

  // Again, the DIFFERENTIAL restore bringing it online itself.
  ASSERT_EQ(Run(Restore("ledger3", "ledger/full.bak", kKeyArn, "FULL", true)).lifecycle,
            Lifecycle::kSuccess);
  Task online = Run(Restore("ledger3", "ledger/diff.bak", kKeyArn, "DIFFERENTIAL", false));
  EXPECT_EQ(online.type, TaskType::kRestoreDifferential);
  ASSERT_EQ(online.lifecycle, Lifecycle::kSuccess) << online.TaskInfo();
  EXPECT_EQ(Rows("ledger3"), rows);

  // Nothing to finish any more, and no DIFFERENTIAL onto an online database.
  ASSERT_OK_AND_ASSIGN(Task again, service_->FinishRestore(kInstance, "ledger3"));
  EXPECT_EQ(Finished(again.id).lifecycle, Lifecycle::kError);
  EXPECT_THAT(Messages(Finished(again.id)).back(), HasSubstr("not in the restoring state"));
  ASSERT_OK_AND_ASSIGN(Task none, service_->FinishRestore(kInstance, "nothing"));
  EXPECT_EQ(Messages(Finished(none.id)).back(), "Database nothing does not exist");
  ExpectError(Run(Restore("ledger3", "ledger/diff.bak", kKeyArn, "DIFFERENTIAL", false)), "");
  EXPECT_EQ(Rows("ledger3"), rows);
  EXPECT_THAT(InstanceLeftovers(), IsEmpty());
}

TEST_F(BackupServiceTest, DifferentialWithoutFullBaseEndsInError) {
  MakeDatabase("fresh", 10);
  Task t = Run(Backup("fresh", "d.bak", "", false, "DIFFERENTIAL"));
  ExpectError(t, "take a FULL backup first");
  EXPECT_FALSE(HasObject("d.bak"));
}

TEST_F(BackupServiceTest, FullBackupThatFailedToUploadIsNoBase) {
  MakeDatabase("ledger", 10);
  buckets_->fail_uploads = true;
  Task full = Run(Backup("ledger", "f.bak"));
  ExpectError(full, "the upload did not complete");
  EXPECT_THAT(BucketFiles(), IsEmpty());
  buckets_->fail_uploads = false;
  Task t = Run(Backup("ledger", "d.bak", "", false, "DIFFERENTIAL"));
  ExpectError(t, "take a FULL backup first");
  EXPECT_FALSE(HasObject("d.bak"));
}

}  // namespace
}  // namespace coffer::backup
