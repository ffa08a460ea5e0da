#include "cli/output.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <set>

namespace coffer::cli {
namespace {

using Json = nlohmann::ordered_json;

// Every member of the KMS model (kms-service-2.json) whose shape is a timestamp.
bool IsTimestampMember(std::string_view name) {
  static const std::set<std::string_view> kNames = {
      "CreationDate",      "DeletionDate",     "KeyCreationDate",
      "LastUpdatedDate",   "NextRotationDate", "OnDemandRotationStartDate",
      "ParametersValidTo", "RotationDate",     "Timestamp",
      "TrackingStartDate", "ValidTo"};
  return kNames.contains(name);
}

long LocalUtcOffset(std::time_t t) {
  std::tm tm{};
  if (::localtime_r(&t, &tm) == nullptr) return 0;
  return tm.tm_gmtoff;
}

// Replaces epoch-second timestamps by their ISO 8601 text, recursively.
void ConvertTimestamps(Json& j) {
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (it.value().is_number() && IsTimestampMember(it.key())) {
        double epoch = it.value().get<double>();
        it.value() =
            IsoTimestamp(epoch, LocalUtcOffset(static_cast<std::time_t>(std::floor(epoch))));
      } else {
        ConvertTimestamps(it.value());
      }
    }
  } else if (j.is_array()) {
    for (Json& e : j) ConvertTimestamps(e);
  }
}

std::string Dump(const Json& j, int indent) {
  return j.dump(indent, ' ', false, Json::error_handler_t::replace);
}

bool IsScalar(const Json& j) { return !j.is_object() && !j.is_array(); }

// Python's str() of a JSON scalar.
std::string Str(const Json& j) {
  if (j.is_string()) return j.get<std::string>();
  if (j.is_boolean()) return j.get<bool>() ? "True" : "False";
  if (j.is_null()) return "None";
  return Dump(j, -1);
}

std::string Upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

// The aws CLI's text formatter (awscli/text.py), step for step.
void FormatText(const Json& item, std::string& out, const std::string* identifier,
                const std::vector<std::string>* scalar_keys);

void FormatScalarList(const std::vector<const Json*>& elements, const std::string* identifier,
                      std::string& out) {
  if (identifier != nullptr) {
    for (const Json* e : elements) out += Upper(*identifier) + "\t" + Str(*e) + "\n";
  } else {
    for (size_t i = 0; i < elements.size(); ++i) {
      if (i > 0) out += '\t';
      out += Str(*elements[i]);
    }
    out += '\n';
  }
}

void FormatList(const Json& list, const std::string* identifier, std::string& out) {
  if (list.empty()) return;
  bool any_dict =
      std::any_of(list.begin(), list.end(), [](const Json& e) { return e.is_object(); });
  bool any_list = std::any_of(list.begin(), list.end(), [](const Json& e) { return e.is_array(); });
  if (any_dict) {
    std::set<std::string> keys;
    for (const Json& e : list) {
      if (!e.is_object()) continue;
      for (auto it = e.begin(); it != e.end(); ++it) {
        if (IsScalar(it.value())) keys.insert(it.key());
      }
    }
    std::vector<std::string> all_keys(keys.begin(), keys.end());
    for (const Json& e : list) FormatText(e, out, identifier, &all_keys);
  } else if (any_list) {
    std::vector<const Json*> scalars;
    std::vector<const Json*> others;
    for (const Json& e : list) (IsScalar(e) ? scalars : others).push_back(&e);
    if (!scalars.empty()) FormatScalarList(scalars, identifier, out);
    for (const Json* e : others) FormatText(*e, out, identifier, nullptr);
  } else {
    std::vector<const Json*> all;
    for (const Json& e : list) all.push_back(&e);
    FormatScalarList(all, identifier, out);
  }
}

void FormatDict(const Json& dict, const std::string* identifier,
                const std::vector<std::string>* scalar_keys, std::string& out) {
  std::vector<std::string> scalars;
  std::vector<std::pair<std::string, const Json*>> non_scalars;
  if (scalar_keys == nullptr) {
    std::vector<std::string> keys;
    for (auto it = dict.begin(); it != dict.end(); ++it) keys.push_back(it.key());
    std::sort(keys.begin(), keys.end());
    for (const std::string& k : keys) {
      const Json& v = dict.at(k);
      if (IsScalar(v)) {
        scalars.push_back(Str(v));
      } else {
        non_scalars.emplace_back(k, &v);
      }
    }
  } else {
    for (const std::string& k : *scalar_keys) {
      auto it = dict.find(k);
      scalars.push_back(it == dict.end() ? "" : Str(*it));
    }
    std::vector<std::string> remaining;
    for (auto it = dict.begin(); it != dict.end(); ++it) {
      if (std::find(scalar_keys->begin(), scalar_keys->end(), it.key()) == scalar_keys->end()) {
        remaining.push_back(it.key());
      }
    }
    std::sort(remaining.begin(), remaining.end());
    for (const std::string& k : remaining) non_scalars.emplace_back(k, &dict.at(k));
  }
  if (!scalars.empty()) {
    if (identifier != nullptr) scalars.insert(scalars.begin(), Upper(*identifier));
    for (size_t i = 0; i < scalars.size(); ++i) {
      if (i > 0) out += '\t';
      out += scalars[i];
    }
    out += '\n';
  }
  for (const auto& [key, value] : non_scalars) FormatText(*value, out, &key, nullptr);
}

void FormatText(const Json& item, std::string& out, const std::string* identifier,
                const std::vector<std::string>* scalar_keys) {
  if (item.is_object()) {
    FormatDict(item, identifier, scalar_keys, out);
  } else if (item.is_array()) {
    FormatList(item, identifier, out);
  } else {
    out += Str(item) + "\n";
  }
}

}  // namespace

OutputFormat OutputFormatFromName(std::string_view name) {
  return name == "text" ? OutputFormat::kText : OutputFormat::kJson;
}

std::string IsoTimestamp(double epoch_seconds, long utc_offset) {
  // Python rounds fromtimestamp() to the microsecond.
  long long micros = std::llround(epoch_seconds * 1e6);
  long long seconds = micros / 1000000;
  long long fraction = micros % 1000000;
  if (fraction < 0) {
    fraction += 1000000;
    --seconds;
  }
  std::time_t local = static_cast<std::time_t>(seconds + utc_offset);
  std::tm tm{};
  ::gmtime_r(&local, &tm);
  char buf[64];
  int n = std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900,
                        tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  std::string out(buf, static_cast<size_t>(n));
  if (fraction != 0) {
    std::snprintf(buf, sizeof buf, ".%06lld", fraction);
    out += buf;
  }
  long offset = utc_offset < 0 ? -utc_offset : utc_offset;
  std::snprintf(buf, sizeof buf, "%c%02ld:%02ld", utc_offset < 0 ? '-' : '+', offset / 3600,
                (offset % 3600) / 60);
  out += buf;
  if (offset % 60 != 0) {
    std::snprintf(buf, sizeof buf, ":%02ld", offset % 60);
    out += buf;
  }
  return out;
}

Result<std::string> FormatAnswer(std::string_view answer, OutputFormat format) {
  Json j = Json::parse(answer, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return DataLossError("The answer is not valid JSON");
  if (j.is_object() && j.empty()) return std::string();
  ConvertTimestamps(j);
  if (format == OutputFormat::kJson) return Dump(j, 4) + "\n";
  std::string out;
  FormatText(j, out, nullptr, nullptr);
  return out;
}

Result<std::string> PrettyJson(std::string_view json) {
  Json j = Json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return InvalidArgumentError("not valid JSON");
  return Dump(j, 4);
}

}  // namespace coffer::cli
