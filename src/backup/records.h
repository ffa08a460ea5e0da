#pragma once
// The backup service's records in the state store. Private to backup/.
//
// Tables:
//   backup.instances  <lower name>     Instance (JSON), its DSN sealed
//   backup.tasks      <id, 16 digits>  Task (JSON), in id order
//   backup.counters   "task_id"        the last task id given (decimal)
#include <string>
#include <string_view>

#include "backup/types.h"
#include "common/bytes.h"
#include "common/status.h"

namespace coffer::backup {

inline constexpr char kInstancesTable[] = "backup.instances";
inline constexpr char kTasksTable[] = "backup.tasks";
inline constexpr char kCountersTable[] = "backup.counters";
inline constexpr char kTaskIdCounter[] = "task_id";

std::string TaskKey(int64_t id);
std::string InstanceKey(std::string_view name);

// An instance as stored. A postgres instance's DSN may hold a password: it is
// stored only sealed (state::Vault, context DsnSealContext(name)), base64 in
// "dsn_sealed". Records written before DSNs were sealed hold it in "dsn".
struct StoredInstance {
  Instance instance;  // dsn: a DSN stored in the clear (an older record), else empty
  Bytes sealed_dsn;   // empty: no sealed DSN
};
std::string DsnSealContext(std::string_view instance_name);
// `instance.dsn` is not written; `sealed_dsn` is, when not empty.
std::string EncodeInstance(const Instance& instance, ByteView sealed_dsn);
Result<StoredInstance> DecodeInstance(std::string_view text);
std::string EncodeTask(const Task& task);
Result<Task> DecodeTask(std::string_view text);

}  // namespace coffer::backup
