#pragma once
// The backup service's records in the state store. Private to backup/.
//
// Tables:
//   backup.instances  <lower name>     Instance (JSON)
//   backup.tasks      <id, 16 digits>  Task (JSON), in id order
//   backup.counters   "task_id"        the last task id given (decimal)
#include <string>
#include <string_view>

#include "backup/types.h"
#include "common/status.h"

namespace coffer::backup {

inline constexpr char kInstancesTable[] = "backup.instances";
inline constexpr char kTasksTable[] = "backup.tasks";
inline constexpr char kCountersTable[] = "backup.counters";
inline constexpr char kTaskIdCounter[] = "task_id";

std::string TaskKey(int64_t id);
std::string InstanceKey(std::string_view name);

std::string EncodeInstance(const Instance& instance);
Result<Instance> DecodeInstance(std::string_view text);
std::string EncodeTask(const Task& task);
Result<Task> DecodeTask(std::string_view text);

}  // namespace coffer::backup
