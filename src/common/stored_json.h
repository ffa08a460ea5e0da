#pragma once
// Reading the JSON records services keep in the state store: a damaged record
// is kDataLoss, never a crash. For .cc files only (it brings nlohmann/json).
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <type_traits>

#include "common/status.h"

namespace coffer::stored_json {

using Json = nlohmann::json;

inline Status Corrupt(std::string_view what) {
  return DataLossError("stored " + std::string(what) + " record is damaged");
}

// `text` as a JSON object, or Corrupt(what).
inline Result<Json> ParseObject(std::string_view text, std::string_view what) {
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return Corrupt(what);
  return j;
}

// Reads `j[name]` as T (string, bool or an integer) into `out`; false when absent or
// of another type.
template <typename T>
bool Get(const Json& j, const char* name, T& out) {
  auto it = j.find(name);
  if (it == j.end()) return false;
  if constexpr (std::is_same_v<T, std::string>) {
    if (!it->is_string()) return false;
  } else if constexpr (std::is_same_v<T, bool>) {
    if (!it->is_boolean()) return false;
  } else {
    if (!it->is_number_integer()) return false;
  }
  out = it->get<T>();
  return true;
}

}  // namespace coffer::stored_json
