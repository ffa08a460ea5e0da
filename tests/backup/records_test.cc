#include "backup/records.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "testing/status_matchers.h"

namespace coffer::backup {
namespace {

using ::testing::HasSubstr;

Instance SampleInstance() {
  Instance i;
  i.name = "sales-db";
  i.engine = "sqlite";
  i.path = "/var/lib/coffer/instances/sales";
  i.dsn = "host=db user=coffer password=\"p\\\"w\"";
  i.role_arn = "arn:aws:iam::111122223333:role/rds-backup";
  i.created = FromEpochMillis(1796060482127);
  return i;
}

Task SampleTask() {
  Task t;
  t.id = 4711;
  t.type = TaskType::kRestoreDifferentialNoRecovery;
  t.instance = "sales-db";
  t.database = "Customers";
  t.percent_complete = 42;
  t.lifecycle = Lifecycle::kCancelRequested;
  t.log = {{FromEpochMillis(1796060482127), "Task execution has started."},
           {FromEpochMillis(1796060483001), "Restoring \"database\" \xc3\xa9 [from] s3\n"}};
  t.created = FromEpochMillis(1796060400000);
  t.last_updated = FromEpochMillis(1796060483001);
  t.started = FromEpochMillis(1796060482127);
  t.s3_object_arn = "arn:aws:s3:::backups/sales/backup*.bak";
  t.overwrite_s3_backup_file = true;
  t.kms_master_key_arn =
      "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
  t.number_of_files = 7;
  return t;
}

void ExpectSameTask(const Task& a, const Task& b) {
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.type, b.type);
  EXPECT_EQ(a.instance, b.instance);
  EXPECT_EQ(a.database, b.database);
  EXPECT_EQ(a.percent_complete, b.percent_complete);
  EXPECT_EQ(a.lifecycle, b.lifecycle);
  ASSERT_EQ(a.log.size(), b.log.size());
  for (size_t i = 0; i < a.log.size(); ++i) {
    EXPECT_EQ(a.log[i].time, b.log[i].time);
    EXPECT_EQ(a.log[i].message, b.log[i].message);
  }
  EXPECT_EQ(a.created, b.created);
  EXPECT_EQ(a.last_updated, b.last_updated);
  EXPECT_EQ(a.started, b.started);
  EXPECT_EQ(a.s3_object_arn, b.s3_object_arn);
  EXPECT_EQ(a.overwrite_s3_backup_file, b.overwrite_s3_backup_file);
  EXPECT_EQ(a.kms_master_key_arn, b.kms_master_key_arn);
  EXPECT_EQ(a.number_of_files, b.number_of_files);
}

TEST(RecordsTest, InstanceRoundTripWithoutItsDsn) {
  const Instance in = SampleInstance();
  const Bytes sealed = {1, 2, 3, 0, 255};
  const std::string text = EncodeInstance(in, sealed);
  EXPECT_THAT(text, Not(HasSubstr("password")));  // the DSN is written only sealed
  ASSERT_OK_AND_ASSIGN(StoredInstance out, DecodeInstance(text));
  EXPECT_EQ(out.instance.name, in.name);
  EXPECT_EQ(out.instance.engine, in.engine);
  EXPECT_EQ(out.instance.path, in.path);
  EXPECT_EQ(out.instance.dsn, "");
  EXPECT_EQ(out.sealed_dsn, sealed);
  EXPECT_EQ(out.instance.role_arn, in.role_arn);
  EXPECT_EQ(out.instance.created, in.created);
  EXPECT_EQ(EncodeInstance(out.instance, out.sealed_dsn), text);
  ASSERT_OK_AND_ASSIGN(StoredInstance no_dsn, DecodeInstance(EncodeInstance(in, {})));
  EXPECT_TRUE(no_dsn.sealed_dsn.empty());
}

TEST(RecordsTest, AnOlderRecordGivesItsDsnInTheClear) {
  nlohmann::json j = nlohmann::json::parse(EncodeInstance(SampleInstance(), {}));
  j["dsn"] = SampleInstance().dsn;
  ASSERT_OK_AND_ASSIGN(StoredInstance out, DecodeInstance(j.dump()));
  EXPECT_EQ(out.instance.dsn, SampleInstance().dsn);
  EXPECT_TRUE(out.sealed_dsn.empty());
}

TEST(RecordsTest, TaskRoundTrip) {
  const Task in = SampleTask();
  ASSERT_OK_AND_ASSIGN(Task out, DecodeTask(EncodeTask(in)));
  ExpectSameTask(out, in);
  EXPECT_EQ(out.TaskInfo(), in.TaskInfo());
  EXPECT_EQ(EncodeTask(out), EncodeTask(in));
}

TEST(RecordsTest, TaskRoundTripOfEveryTypeAndLifecycle) {
  const std::vector<TaskType> types = {
      TaskType::kBackup,
      TaskType::kBackupDifferential,
      TaskType::kRestore,
      TaskType::kRestoreDifferential,
      TaskType::kRestoreNoRecovery,
      TaskType::kRestoreDifferentialNoRecovery,
      TaskType::kFinishRestore,
  };
  const std::vector<Lifecycle> lifecycles = {
      Lifecycle::kCreated, Lifecycle::kInProgress,      Lifecycle::kSuccess,
      Lifecycle::kError,   Lifecycle::kCancelRequested, Lifecycle::kCancelled,
  };
  for (TaskType type : types) {
    for (Lifecycle lifecycle : lifecycles) {
      Task in = SampleTask();
      in.type = type;
      in.lifecycle = lifecycle;
      ASSERT_OK_AND_ASSIGN(Task out, DecodeTask(EncodeTask(in)));
      EXPECT_EQ(out.type, type) << TaskTypeName(type);
      EXPECT_EQ(out.lifecycle, lifecycle) << LifecycleName(lifecycle);
    }
  }
}

TEST(RecordsTest, TaskNotStartedAndWithoutLogRoundTrips) {
  Task in;
  in.id = 1;
  in.instance = "db";
  in.database = "d";
  in.created = in.last_updated = FromEpochMillis(1000);
  ASSERT_OK_AND_ASSIGN(Task out, DecodeTask(EncodeTask(in)));
  ExpectSameTask(out, in);
  EXPECT_FALSE(out.started.has_value());
  EXPECT_TRUE(out.log.empty());
  EXPECT_EQ(out.TaskInfo(), "");
}

TEST(RecordsTest, Keys) {
  EXPECT_EQ(TaskKey(1), "0000000000000001");
  EXPECT_EQ(TaskKey(1234567890123), "0001234567890123");
  // Keys sort in id order.
  EXPECT_LT(TaskKey(9), TaskKey(10));
  EXPECT_EQ(InstanceKey("Sales-DB1"), "sales-db1");
}

void ExpectDamaged(const Result<Task>& r, const std::string& what) {
  ASSERT_FALSE(r.ok()) << what;
  EXPECT_EQ(r.status().code(), StatusCode::kDataLoss) << what;
  EXPECT_THAT(r.status().message(), HasSubstr("backup task")) << what;
}

TEST(RecordsTest, DamagedTaskIsDataLoss) {
  const std::string good = EncodeTask(SampleTask());
  ExpectDamaged(DecodeTask(""), "empty");
  ExpectDamaged(DecodeTask("{"), "cut");
  ExpectDamaged(DecodeTask(good.substr(0, good.size() / 2)), "half");
  ExpectDamaged(DecodeTask("[]"), "an array");
  ExpectDamaged(DecodeTask("null"), "null");
  ExpectDamaged(DecodeTask("{}"), "no fields");
  ExpectDamaged(DecodeTask("\xff\xfe"), "not UTF-8");

  auto edited = [&](auto&& edit) {
    nlohmann::json j = nlohmann::json::parse(good);
    edit(j);
    return DecodeTask(j.dump());
  };
  for (const char* field :
       {"id", "type", "instance", "database", "percent", "lifecycle", "created_ms", "updated_ms",
        "s3_object_arn", "overwrite", "kms_key", "files", "log"}) {
    ExpectDamaged(edited([&](nlohmann::json& j) { j.erase(field); }),
                  std::string("without ") + field);
  }
  ExpectDamaged(edited([](nlohmann::json& j) { j["id"] = "12"; }), "id as a string");
  ExpectDamaged(edited([](nlohmann::json& j) { j["overwrite"] = 1; }), "overwrite as a number");
  ExpectDamaged(edited([](nlohmann::json& j) { j["type"] = "BACKUP_LOG"; }), "unknown type");
  ExpectDamaged(edited([](nlohmann::json& j) { j["lifecycle"] = "RUNNING"; }), "unknown lifecycle");
  ExpectDamaged(edited([](nlohmann::json& j) { j["log"] = "a line"; }), "log not an array");
  ExpectDamaged(edited([](nlohmann::json& j) { j["log"][0] = "a line"; }), "line not an object");
  ExpectDamaged(edited([](nlohmann::json& j) { j["log"][1].erase("message"); }),
                "line without a message");
  ExpectDamaged(edited([](nlohmann::json& j) { j["log"][1]["ms"] = 1.5; }), "line time a float");
}

TEST(RecordsTest, DamagedInstanceIsDataLoss) {
  const std::string good = EncodeInstance(SampleInstance(), Bytes{7, 7});
  for (const std::string& text :
       {std::string(), std::string("{"), good.substr(0, good.size() - 1), std::string("[1]"),
        std::string("{\"name\":\"x\"}"), std::string("\"instance\"")}) {
    auto r = DecodeInstance(text);
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.status().code(), StatusCode::kDataLoss) << text;
    EXPECT_THAT(r.status().message(), HasSubstr("backup instance"));
  }
  nlohmann::json j = nlohmann::json::parse(good);
  j["created_ms"] = "yesterday";
  EXPECT_EQ(DecodeInstance(j.dump()).status().code(), StatusCode::kDataLoss);
  for (const nlohmann::json& sealed :
       {nlohmann::json("not base64!"), nlohmann::json(""), nlohmann::json(7)}) {
    j = nlohmann::json::parse(good);
    j["dsn_sealed"] = sealed;
    EXPECT_EQ(DecodeInstance(j.dump()).status().code(), StatusCode::kDataLoss) << sealed;
  }
}

}  // namespace
}  // namespace coffer::backup
