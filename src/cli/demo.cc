#include "cli/demo.h"

#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <thread>

#include "cli/aws_client.h"
#include "cli/credentials.h"
#include "cli/http_client.h"
#include "common/clock.h"
#include "common/files.h"
#include "objstore/bucket_router.h"
#include "policy/policy.h"

namespace coffer::cli {
namespace {

using Json = nlohmann::ordered_json;

constexpr char kAccount[] = "111122223333";
constexpr char kBucket[] = "rdstestsql";
constexpr char kRole[] = "rdstestrole";
constexpr char kInstance[] = "myrdsinstance";
constexpr char kIamVersion[] = "2010-05-08";

void Step(int n, const char* title) { std::printf("\n== %d. %s\n", n, title); }
void Show(const std::string& text) {
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::printf("   %s\n", text.substr(start, end - start).c_str());
    start = end + 1;
  }
}

// Tracks whether every step behaved as the story says it should.
struct Checker {
  bool ok = true;
  bool Expect(bool condition, const std::string& what) {
    if (!condition) {
      ok = false;
      std::printf("   UNEXPECTED: %s\n", what.c_str());
    }
    return condition;
  }
};

// `coffer server` as a child process on a free loopback port.
class ServerProcess {
 public:
  ~ServerProcess() { Stop(); }

  Status Start(const std::string& data_dir, const std::string& log_file) {
    int out[2];
    if (::pipe(out) != 0) return PosixError("pipe", errno);
    pid_ = ::fork();
    if (pid_ < 0) return PosixError("fork", errno);
    if (pid_ == 0) {
      ::dup2(out[1], STDOUT_FILENO);
      FILE* log = std::fopen(log_file.c_str(), "w");
      if (log != nullptr) ::dup2(fileno(log), STDERR_FILENO);
      ::close(out[0]);
      ::close(out[1]);
      const char* argv[] = {"coffer",         "server",   "--data-dir",
                            data_dir.c_str(), "--listen", "127.0.0.1:0",
                            "--log-level",    "warn",     nullptr};
      ::execv("/proc/self/exe", const_cast<char**>(argv));
      ::_exit(127);
    }
    ::close(out[1]);
    FILE* lines = ::fdopen(out[0], "r");
    char buf[1024];
    const std::string ready = "coffer listening on ";
    while (std::fgets(buf, sizeof buf, lines) != nullptr) {
      std::string line(buf);
      if (line.starts_with(ready)) {
        url_ = line.substr(ready.size());
        while (!url_.empty() && (url_.back() == '\n' || url_.back() == '\r')) url_.pop_back();
        break;
      }
    }
    std::fclose(lines);
    if (url_.empty()) return InternalError("the server did not start; see " + log_file);
    return Status::Ok();
  }

  void Stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  const std::string& url() const { return url_; }

 private:
  pid_t pid_ = -1;
  std::string url_;
};

class Demo {
 public:
  explicit Demo(std::string dir) : dir_(std::move(dir)) {}

  int Play() {
    data_ = dir_ + "/data";
    instance_dir_ = dir_ + "/instance";
    std::filesystem::create_directories(instance_dir_);

    Step(1, "Start coffer server on a fresh data directory");
    if (Status s = server_.Start(data_, dir_ + "/server.log"); !s.ok()) return Fail(s);
    Show("listening on " + server_.url() + ", data directory " + data_);
    Show("account " + std::string(kAccount) + ": root access key in " + data_ +
         "/root-credentials (mode 0600)");
    if (Status s = Connect(); !s.ok()) return Fail(s);

    Step(2, "A SQLite database of customers with card numbers");
    if (Status s = MakeDatabase(); !s.ok()) return Fail(s);
    Show("instance directory " + instance_dir_ + ", database customers:");
    Show(Rows(instance_dir_ + "/customers.db", 3));

    Step(3, "The role RDS uses for native backups, and a key administrator");
    if (Status s = MakeIdentities(); !s.ok()) return Fail(s);
    Show("role " + role_arn_ + " trusts rds.amazonaws.com; may use bucket " + kBucket +
         " (managed policy rds-backup-s3, attached)");
    Show("user " + admin_arn_ + " administers keys");

    Step(4, "A customer managed key: alias, description, tag, administrators, no users yet");
    if (Status s = MakeKey(); !s.ok()) return Fail(s);
    Show("key " + key_arn_ + " (alias/rds-backup-key)");
    Show("key policy, as the console's review step shows it:");
    Show(policy_);

    Step(5, "The bucket everyone can read, and the database instance");
    if (Status s = MakeBucketAndInstance(); !s.ok()) return Fail(s);
    Show("bucket " + std::string(kBucket) + " in " + data_ + "/buckets/" + kBucket);
    Show("instance " + std::string(kInstance) + " (sqlite, " + instance_dir_ + "), role " +
         role_arn_);

    Step(6, "exec msdb.dbo.rds_backup_database … @kms_master_key_arn: the role is not a key user");
    Result<Json> first = RunTask("BackupDatabase", BackupRequest());
    if (!first.ok()) return Fail(first.status());
    ShowTask(*first);
    check_.Expect(first->value("Lifecycle", "") == "ERROR", "the first backup should fail");
    check_.Expect(
        first->value("TaskInfo", "")
                .find("User: arn:aws:sts::" + std::string(kAccount) + ":assumed-role/" + kRole +
                      "/RDS-SqlServerBackupRestore is not authorized to perform: kms:DescribeKey "
                      "on resource: " +
                      key_arn_) != std::string::npos,
        "the failure should be AccessDenied on kms:DescribeKey");

    Step(7, "The fix: add the role to the key users");
    if (Status s = AddKeyUser(); !s.ok()) return Fail(s);
    Show("key policy statement \"Allow use of the key\" now names " + role_arn_);

    Step(8, "exec msdb.dbo.rds_backup_database again");
    Result<Json> second = RunTask("BackupDatabase", BackupRequest());
    if (!second.ok()) return Fail(second.status());
    ShowTask(*second);
    check_.Expect(second->value("Lifecycle", "") == "SUCCESS", "the second backup should succeed");

    Step(9, "The object in the bucket, as any bucket user downloads it");
    ShowObject();

    Step(10, "exec msdb.dbo.rds_restore_database without the key");
    Json restore{{"DBInstanceIdentifier", kInstance},
                 {"RestoreDbName", "customers_restored"},
                 {"S3ArnToRestoreFrom", std::string("arn:aws:s3:::") + kBucket + "/customers.bak"}};
    Result<Json> keyless = RunTask("RestoreDatabase", restore);
    if (!keyless.ok()) return Fail(keyless.status());
    ShowTask(*keyless);
    check_.Expect(keyless->value("Lifecycle", "") == "ERROR" &&
                      keyless->value("TaskInfo", "").find(key_arn_) != std::string::npos,
                  "a restore without the key should fail, naming the key");
    check_.Expect(!std::filesystem::exists(instance_dir_ + "/customers_restored.db"),
                  "a failed restore must not create the database");

    Step(11, "exec msdb.dbo.rds_restore_database with @kms_master_key_arn");
    restore["KmsMasterKeyArn"] = key_arn_;
    Result<Json> restored = RunTask("RestoreDatabase", restore);
    if (!restored.ok()) return Fail(restored.status());
    ShowTask(*restored);
    check_.Expect(restored->value("Lifecycle", "") == "SUCCESS", "the restore should succeed");

    Step(12, "The restored rows");
    Show(Rows(instance_dir_ + "/customers_restored.db", 3));
    check_.Expect(Fingerprint(instance_dir_ + "/customers.db") ==
                      Fingerprint(instance_dir_ + "/customers_restored.db"),
                  "the restored database should hold the same rows");
    Show("rows and checksum equal to the source: " +
         Fingerprint(instance_dir_ + "/customers_restored.db"));

    Step(13, "The audit trail (CloudTrail LookupEvents)");
    ShowEvents();

    server_.Stop();
    std::printf("\n%s\n", check_.ok ? "Every step behaved as the story says."
                                    : "Some steps did not behave as expected (see above).");
    return check_.ok ? 0 : 1;
  }

 private:
  int Fail(const Status& s) {
    std::printf("   FAILED: %s\n", s.ToString().c_str());
    return 1;
  }

  Status Connect() {
    Environment env{{"AWS_SHARED_CREDENTIALS_FILE", data_ + "/root-credentials"},
                    {"AWS_CONFIG_FILE", "/dev/null"}};
    ClientFlags flags;
    flags.endpoint_url = server_.url();
    flags.region = "us-east-1";
    ASSIGN_OR_RETURN(ClientConfig config, ClientConfig::Load(flags, env));
    ASSIGN_OR_RETURN(ClientConfig::Found found, config.FindCredentials());
    ASSIGN_OR_RETURN(transport_, HttpClient::Create(HttpClientOptions{}));
    ASSIGN_OR_RETURN(Endpoint endpoint, Endpoint::Parse(server_.url()));
    client_ = std::make_unique<AwsClient>(*transport_, clock_, endpoint, "us-east-1",
                                          std::move(found.credentials));
    return Status::Ok();
  }

  Result<Json> Kms(std::string_view operation, const Json& body) {
    ASSIGN_OR_RETURN(std::string answer,
                     client_->CallJson("kms", "TrentService", operation, body.dump()));
    return Json::parse(answer, nullptr, false);
  }
  Result<Json> Backup(std::string_view operation, const Json& body) {
    ASSIGN_OR_RETURN(std::string answer,
                     client_->CallJson("rds", "CofferBackup_v1", operation, body.dump()));
    return Json::parse(answer, nullptr, false);
  }
  Result<std::string> Iam(std::string_view action, QueryParams params) {
    return client_->CallQuery("iam", action, kIamVersion, params);
  }

  Status MakeDatabase() {
    sqlite3* db = nullptr;
    std::string path = instance_dir_ + "/customers.db";
    if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) {
      sqlite3_close(db);
      return InternalError("cannot create " + path);
    }
    std::string sql =
        "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT, email TEXT, card_number "
        "TEXT, ssn TEXT);"
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000) "
        "INSERT INTO customers SELECT i, 'Customer ' || i, 'customer' || i || '@example.com', "
        "printf('4%03d-%04d-%04d-%04d', i % 1000, (i * 7919) % 10000, (i * 104729) % 10000, "
        "i % 10000), printf('%03d-%02d-%04d', i % 900 + 100, i % 90 + 10, (i * 31) % 10000) "
        "FROM n;";
    char* error = nullptr;
    int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
    std::string message = error != nullptr ? error : "";
    sqlite3_free(error);
    sqlite3_close(db);
    if (rc != SQLITE_OK) return InternalError("cannot fill " + path + ": " + message);
    return Status::Ok();
  }

  // The first `n` rows and the row count.
  static std::string Rows(const std::string& path, int n) {
    sqlite3* db = nullptr;
    std::string out;
    if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
      sqlite3_close(db);
      return "(cannot open " + path + ")";
    }
    sqlite3_stmt* stmt = nullptr;
    sqlite3_prepare_v2(db, "SELECT id, name, card_number, ssn FROM customers ORDER BY id LIMIT ?",
                       -1, &stmt, nullptr);
    sqlite3_bind_int(stmt, 1, n);
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      char line[256];
      std::snprintf(line, sizeof line, "%4lld  %-14s  %s  %s",
                    static_cast<long long>(sqlite3_column_int64(stmt, 0)),
                    reinterpret_cast<const char*>(sqlite3_column_text(stmt, 1)),
                    reinterpret_cast<const char*>(sqlite3_column_text(stmt, 2)),
                    reinterpret_cast<const char*>(sqlite3_column_text(stmt, 3)));
      out += std::string(line) + "\n";
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return out + "… " + Fingerprint(path);
  }

  // "N rows, checksum X" over every column of every row.
  static std::string Fingerprint(const std::string& path) {
    sqlite3* db = nullptr;
    if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
      sqlite3_close(db);
      return "(none)";
    }
    sqlite3_stmt* stmt = nullptr;
    sqlite3_prepare_v2(db,
                       "SELECT count(*), total(length(name) * 7 + length(email) * 13 + "
                       "unicode(substr(card_number, 6)) * id + length(ssn)) FROM customers",
                       -1, &stmt, nullptr);
    std::string out = "(none)";
    if (sqlite3_step(stmt) == SQLITE_ROW) {
      out = std::to_string(sqlite3_column_int64(stmt, 0)) + " rows, checksum " +
            std::to_string(static_cast<long long>(sqlite3_column_double(stmt, 1)));
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return out;
  }

  Status MakeIdentities() {
    Json trust{{"Version", "2012-10-17"},
               {"Statement",
                {{{"Effect", "Allow"},
                  {"Principal", {{"Service", "rds.amazonaws.com"}}},
                  {"Action", "sts:AssumeRole"}}}}};
    RETURN_IF_ERROR(
        Iam("CreateRole", {{"RoleName", kRole}, {"AssumeRolePolicyDocument", trust.dump()}})
            .status());
    std::string bucket_arn = std::string("arn:aws:s3:::") + kBucket;
    Json s3{{"Version", "2012-10-17"},
            {"Statement",
             {{{"Effect", "Allow"},
               {"Action", {"s3:ListBucket", "s3:GetBucketLocation"}},
               {"Resource", bucket_arn}},
              {{"Effect", "Allow"},
               {"Action",
                {"s3:GetObject", "s3:PutObject", "s3:ListMultipartUploadParts",
                 "s3:AbortMultipartUpload"}},
               {"Resource", bucket_arn + "/*"}}}}};
    // A customer managed policy attached to the role, as AWS's guide makes it by hand.
    RETURN_IF_ERROR(
        Iam("CreatePolicy", {{"PolicyName", "rds-backup-s3"}, {"PolicyDocument", s3.dump()}})
            .status());
    RETURN_IF_ERROR(Iam("AttachRolePolicy", {{"RoleName", kRole},
                                             {"PolicyArn", "arn:aws:iam::" + std::string(kAccount) +
                                                               ":policy/rds-backup-s3"}})
                        .status());
    RETURN_IF_ERROR(Iam("CreateUser", {{"UserName", "keyadmin"}}).status());
    role_arn_ = "arn:aws:iam::" + std::string(kAccount) + ":role/" + kRole;
    admin_arn_ = "arn:aws:iam::" + std::string(kAccount) + ":user/keyadmin";
    return Status::Ok();
  }

  Status MakeKey() {
    policy_ = policy::ConsoleKeyPolicy(kAccount, {admin_arn_}, {}, true);
    ASSIGN_OR_RETURN(
        Json created,
        Kms("CreateKey", {{"Policy", policy_},
                          {"Description", "Key for RDS backup encryption"},
                          {"Tags", {{{"TagKey", "Purpose"}, {"TagValue", "backup"}}}}}));
    key_arn_ = created["KeyMetadata"].value("Arn", "");
    RETURN_IF_ERROR(
        Kms("CreateAlias", {{"AliasName", "alias/rds-backup-key"}, {"TargetKeyId", key_arn_}})
            .status());
    Json pretty = Json::parse(policy_, nullptr, false);
    if (pretty.is_object()) policy_ = pretty.dump(2);
    return Status::Ok();
  }

  Status MakeBucketAndInstance() {
    ASSIGN_OR_RETURN(auto buckets, objstore::BucketRouter::Create(data_ + "/buckets", {}));
    RETURN_IF_ERROR(buckets->CreateBucket(kBucket));
    return Backup("CreateDBInstance", {{"DBInstanceIdentifier", kInstance},
                                       {"Engine", "sqlite"},
                                       {"Path", instance_dir_},
                                       {"RoleArn", role_arn_}})
        .status();
  }

  Json BackupRequest() const {
    return {{"DBInstanceIdentifier", kInstance},
            {"SourceDbName", "customers"},
            {"S3ArnToBackupTo", std::string("arn:aws:s3:::") + kBucket + "/customers.bak"},
            {"KmsMasterKeyArn", key_arn_},
            {"OverwriteS3BackupFile", true}};
  }

  // Starts a task and follows it until it ends.
  Result<Json> RunTask(std::string_view operation, const Json& body) {
    ASSIGN_OR_RETURN(Json started, Backup(operation, body));
    int64_t id = started["Task"].value("TaskId", int64_t{0});
    Show("task " + std::to_string(id) + " " + started["Task"].value("TaskType", "") + " CREATED");
    while (true) {
      ASSIGN_OR_RETURN(Json tasks, Backup("DescribeTasks",
                                          {{"DBInstanceIdentifier", kInstance}, {"TaskId", id}}));
      Json task = tasks["Tasks"].empty() ? Json::object() : tasks["Tasks"][0];
      std::string lifecycle = task.value("Lifecycle", "");
      if (lifecycle == "SUCCESS" || lifecycle == "ERROR" || lifecycle == "CANCELLED") return task;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }

  void ShowTask(const Json& task) {
    Show("rds_task_status: lifecycle " + task.value("Lifecycle", "") + ", " +
         std::to_string(task.value("PercentComplete", 0)) + "% complete");
    std::string info = task.value("TaskInfo", "");
    // One line per log entry.
    size_t pos = 0;
    while ((pos = info.find(" [", pos + 1)) != std::string::npos) info.replace(pos, 1, "\n");
    Show("task_info:\n" + info);
  }

  void ShowObject() {
    std::string dir = data_ + "/buckets/" + kBucket;
    std::string file;
    for (const auto& e : std::filesystem::directory_iterator(dir)) {
      if (e.path().filename().string().starts_with("customers.bak")) file = e.path().string();
    }
    if (!check_.Expect(!file.empty(), "the backup object should be in the bucket")) return;
    std::ifstream in(file, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    Show("s3://" + std::string(kBucket) + "/customers.bak: " + std::to_string(bytes.size()) +
         " bytes (" + file + ")");
    std::string hex;
    for (size_t i = 0; i < 48 && i < bytes.size(); ++i) {
      char b[4];
      std::snprintf(b, sizeof b, "%02x ", static_cast<unsigned char>(bytes[i]));
      hex += b;
      if (i % 16 == 15) hex += "\n";
    }
    Show(hex + "…");
    check_.Expect(bytes.size() > 3 && bytes[0] == 2 && bytes[1] == 4 && bytes[2] == 0x78,
                  "the object should be an AWS Encryption SDK message (02 04 78)");
    bool leaked = bytes.find("Customer 1") != std::string::npos ||
                  bytes.find("@example.com") != std::string::npos;
    check_.Expect(!leaked, "the object must not hold the customers' data in clear");
    Show(
        "an AWS Encryption SDK message (version 2, suite 0x0478: AES-256-GCM, key "
        "commitment); no name, e-mail or card number in it");
  }

  void ShowEvents() {
    Result<std::string> answer =
        client_->CallJson("cloudtrail", "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101",
                          "LookupEvents", Json{{"MaxResults", 50}}.dump());
    if (!check_.Expect(answer.ok(), "LookupEvents: " + answer.status().ToString())) return;
    Json events = Json::parse(*answer, nullptr, false)["Events"];
    int shown = 0;
    bool denied = false, data_key = false;
    for (auto it = events.rbegin(); it != events.rend(); ++it) {
      Json record = Json::parse(it->value("CloudTrailEvent", "{}"), nullptr, false);
      std::string source = record.value("eventSource", "");
      std::string name = record.value("eventName", "");
      if (source != "kms.amazonaws.com" && !name.starts_with("BackupRestoreTask")) continue;
      const Json& who = record["userIdentity"];
      std::string caller = who.value("arn", who.value("invokedBy", ""));
      std::string error = record.value("errorCode", "");
      if (name == "DescribeKey" && error.find("AccessDenied") != std::string::npos) denied = true;
      if (name == "GenerateDataKey" && error.empty()) data_key = true;
      char line[512];
      std::snprintf(line, sizeof line, "%s  %-26s %-60s %s", record.value("eventTime", "").c_str(),
                    name.c_str(), caller.c_str(), error.c_str());
      Show(line);
      ++shown;
    }
    check_.Expect(denied, "the trail should hold the refused DescribeKey");
    check_.Expect(data_key, "the trail should hold the GenerateDataKey of the backup");
  }

  // The console's "Key users: Add", as `coffer kms edit-key-policy --add-user` does it.
  Status AddKeyUser() {
    ASSIGN_OR_RETURN(Json current,
                     Kms("GetKeyPolicy", {{"KeyId", key_arn_}, {"PolicyName", "default"}}));
    policy::KeyPrincipalsEdit edit;
    edit.add_users = {role_arn_};
    ASSIGN_OR_RETURN(policy::EditedKeyPolicy with_user,
                     policy::EditConsoleKeyPolicy(current.value("Policy", ""), edit));
    return Kms("PutKeyPolicy",
               {{"KeyId", key_arn_}, {"PolicyName", "default"}, {"Policy", with_user.policy}})
        .status();
  }

  const std::string dir_;
  std::string data_, instance_dir_, role_arn_, admin_arn_, key_arn_, policy_;
  ServerProcess server_;
  SystemClock clock_;
  std::unique_ptr<HttpTransport> transport_;
  std::unique_ptr<AwsClient> client_;
  Checker check_;
};

}  // namespace

int RunDemo(const DemoOptions& options) {
  std::string dir = options.data_dir;
  bool temporary = dir.empty();
  if (temporary) {
    std::string tmpl = (std::filesystem::temp_directory_path() / "coffer-demo-XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) {
      std::perror("coffer demo: cannot create a temporary directory");
      return 1;
    }
    dir = tmpl;
  } else {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) {
      std::fprintf(stderr, "coffer demo: cannot create %s: %s\n", dir.c_str(),
                   ec.message().c_str());
      return 1;
    }
    if (!std::filesystem::is_empty(dir)) {
      std::fprintf(stderr, "coffer demo: %s is not empty; the demo needs a fresh directory\n",
                   dir.c_str());
      return 1;
    }
  }
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  int rc = Demo(dir).Play();
  if (temporary && !options.keep) {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  } else {
    std::printf("The data directory is kept: %s\n", dir.c_str());
  }
  return rc;
}

}  // namespace coffer::cli
