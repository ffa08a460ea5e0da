#pragma once
// StateStore: coffer's durable state as ordered key-value tables with
// transactions.
//
// A table ("namespace") maps byte-string keys to byte-string values, ordered by
// key bytes. Every read and write happens inside a transaction: Update() runs
// a read-write transaction that commits when the function returns OK and rolls
// back otherwise; once Update() returns OK the write is durable (it survives a
// crash of the process or the machine). View() runs a read-only transaction
// over a consistent snapshot.
//
// Implementations are safe for concurrent use. The interface holds no
// in-process invariant, so a shared SQL server can implement it for several
// nodes.
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace coffer::state {

struct Entry {
  std::string key;
  std::string value;
};

class ReadTransaction {
 public:
  virtual ~ReadTransaction() = default;
  // The value under `key`, or nullopt.
  virtual Result<std::optional<std::string>> Get(std::string_view table,
                                                 std::string_view key) const = 0;
  // Entries whose key starts with `prefix` and is greater than `start_after`
  // (empty: from the first), in key order, at most `limit` (0: no limit).
  virtual Result<std::vector<Entry>> Scan(std::string_view table, std::string_view prefix,
                                          std::string_view start_after, size_t limit) const = 0;
};

class Transaction : public ReadTransaction {
 public:
  virtual Status Put(std::string_view table, std::string_view key, std::string_view value) = 0;
  // Deleting a missing key is not an error.
  virtual Status Delete(std::string_view table, std::string_view key) = 0;
};

class StateStore {
 public:
  virtual ~StateStore() = default;
  virtual Status Update(const std::function<Status(Transaction&)>& fn) = 0;
  // Like Update (atomic, isolated), but returns before the write is durable: a
  // crash may lose the last such transactions, never part of one. Only for data
  // derived from something durable elsewhere, that can be rebuilt from it (the
  // audit index, rebuilt from the journal). By default the same as Update.
  virtual Status UpdateRebuildable(const std::function<Status(Transaction&)>& fn) {
    return Update(fn);
  }
  virtual Status View(const std::function<Status(const ReadTransaction&)>& fn) const = 0;
};

}  // namespace coffer::state
