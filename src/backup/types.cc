#include "backup/types.h"

#include <array>
#include <chrono>
#include <cstdio>
#include <utility>

namespace coffer::backup {
namespace {

constexpr std::array<std::pair<TaskType, std::string_view>, 7> kTaskTypes{{
    {TaskType::kBackup, "BACKUP_DB"},
    {TaskType::kBackupDifferential, "BACKUP_DB_DIFFERENTIAL"},
    {TaskType::kRestore, "RESTORE_DB"},
    {TaskType::kRestoreDifferential, "RESTORE_DB_DIFFERENTIAL"},
    {TaskType::kRestoreNoRecovery, "RESTORE_DB_NORECOVERY"},
    {TaskType::kRestoreDifferentialNoRecovery, "RESTORE_DB_DIFFERENTIAL_NORECOVERY"},
    {TaskType::kFinishRestore, "FINISH_RESTORE"},
}};

constexpr std::array<std::pair<Lifecycle, std::string_view>, 6> kLifecycles{{
    {Lifecycle::kCreated, "CREATED"},
    {Lifecycle::kInProgress, "IN_PROGRESS"},
    {Lifecycle::kSuccess, "SUCCESS"},
    {Lifecycle::kError, "ERROR"},
    {Lifecycle::kCancelRequested, "CANCEL_REQUESTED"},
    {Lifecycle::kCancelled, "CANCELLED"},
}};

}  // namespace

std::string_view TaskTypeName(TaskType type) {
  for (const auto& [t, name] : kTaskTypes) {
    if (t == type) return name;
  }
  return "?";
}

Result<TaskType> ParseTaskType(std::string_view name) {
  for (const auto& [t, n] : kTaskTypes) {
    if (n == name) return t;
  }
  return InvalidArgumentError("unknown task type '" + std::string(name) + "'");
}

bool IsBackup(TaskType type) {
  return type == TaskType::kBackup || type == TaskType::kBackupDifferential;
}

bool IsRestore(TaskType type) { return !IsBackup(type) && type != TaskType::kFinishRestore; }

std::string_view LifecycleName(Lifecycle lifecycle) {
  for (const auto& [l, name] : kLifecycles) {
    if (l == lifecycle) return name;
  }
  return "?";
}

Result<Lifecycle> ParseLifecycle(std::string_view name) {
  for (const auto& [l, n] : kLifecycles) {
    if (n == name) return l;
  }
  return InvalidArgumentError("unknown lifecycle '" + std::string(name) + "'");
}

bool IsFinished(Lifecycle lifecycle) {
  return lifecycle == Lifecycle::kSuccess || lifecycle == Lifecycle::kError ||
         lifecycle == Lifecycle::kCancelled;
}

std::string LogTimestamp(TimePoint time) { return "[" + FormatSqlDateTime(time) + "]"; }

std::string Task::TaskInfo() const {
  std::string out;
  for (const TaskLogLine& line : log) {
    if (!out.empty()) out += ' ';
    out += LogTimestamp(line.time) + ' ' + line.message;
  }
  return out;
}

int64_t Task::DurationMinutes() const {
  auto d = std::chrono::duration_cast<std::chrono::minutes>(last_updated - created);
  return d.count() < 0 ? 0 : d.count();
}

}  // namespace coffer::backup
