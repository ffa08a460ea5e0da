#include "backup/types.h"

#include <gtest/gtest.h>

#include <chrono>

#include "testing/status_matchers.h"

namespace coffer::backup {
namespace {

TEST(TypesTest, LogTimestampIsUtcWithMilliseconds) {
  EXPECT_EQ(LogTimestamp(FromEpochMillis(1796060482127)), "[2026-11-30 17:41:22.127]");
  EXPECT_EQ(LogTimestamp(FromEpochMillis(0)), "[1970-01-01 00:00:00.000]");
  EXPECT_EQ(LogTimestamp(FromEpochMillis(1569818482007)), "[2019-09-30 04:41:22.007]");
}

TEST(TypesTest, TaskInfoJoinsTheLinesWithSpaces) {
  Task t;
  EXPECT_EQ(t.TaskInfo(), "");
  t.log = {{FromEpochMillis(1569818482127), "Task execution has started."},
           {FromEpochMillis(1569818483000), "Task has been aborted"}};
  EXPECT_EQ(t.TaskInfo(),
            "[2019-09-30 04:41:22.127] Task execution has started. "
            "[2019-09-30 04:41:23.000] Task has been aborted");
}

TEST(TypesTest, DurationIsWholeMinutesFromCreationToLastUpdate) {
  Task t;
  t.created = FromEpochMillis(1'000'000);
  t.last_updated = t.created + std::chrono::seconds(179);
  EXPECT_EQ(t.DurationMinutes(), 2);
  t.last_updated = t.created - std::chrono::minutes(5);
  EXPECT_EQ(t.DurationMinutes(), 0);
}

TEST(TypesTest, NamesRoundTrip) {
  for (TaskType type : {TaskType::kBackup, TaskType::kBackupDifferential, TaskType::kRestore,
                        TaskType::kRestoreDifferential, TaskType::kRestoreNoRecovery,
                        TaskType::kRestoreDifferentialNoRecovery, TaskType::kFinishRestore}) {
    ASSERT_OK_AND_ASSIGN(TaskType parsed, ParseTaskType(TaskTypeName(type)));
    EXPECT_EQ(parsed, type);
  }
  EXPECT_EQ(TaskTypeName(TaskType::kRestoreDifferentialNoRecovery),
            "RESTORE_DB_DIFFERENTIAL_NORECOVERY");
  EXPECT_FALSE(ParseTaskType("backup_db").ok());
  for (Lifecycle l : {Lifecycle::kCreated, Lifecycle::kInProgress, Lifecycle::kSuccess,
                      Lifecycle::kError, Lifecycle::kCancelRequested, Lifecycle::kCancelled}) {
    ASSERT_OK_AND_ASSIGN(Lifecycle parsed, ParseLifecycle(LifecycleName(l)));
    EXPECT_EQ(parsed, l);
  }
  EXPECT_FALSE(ParseLifecycle("RUNNING").ok());
}

TEST(TypesTest, Classification) {
  EXPECT_TRUE(IsBackup(TaskType::kBackup));
  EXPECT_TRUE(IsBackup(TaskType::kBackupDifferential));
  EXPECT_FALSE(IsBackup(TaskType::kRestore));
  EXPECT_TRUE(IsRestore(TaskType::kRestoreDifferentialNoRecovery));
  EXPECT_FALSE(IsRestore(TaskType::kFinishRestore));
  EXPECT_FALSE(IsRestore(TaskType::kBackup));
  EXPECT_TRUE(IsFinished(Lifecycle::kSuccess));
  EXPECT_TRUE(IsFinished(Lifecycle::kError));
  EXPECT_TRUE(IsFinished(Lifecycle::kCancelled));
  EXPECT_FALSE(IsFinished(Lifecycle::kCreated));
  EXPECT_FALSE(IsFinished(Lifecycle::kInProgress));
  EXPECT_FALSE(IsFinished(Lifecycle::kCancelRequested));
}

}  // namespace
}  // namespace coffer::backup
