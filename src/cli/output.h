#pragma once
// How the coffer client prints a service's answer: as the aws CLI v2 does with
// --output json (indent 4, non-ASCII as is) or --output text (its tab-separated
// format), with timestamps as ISO 8601 in local time (cli_timestamp_format
// iso8601, v2's default). An empty answer ({}) prints nothing.
#include <ctime>
#include <string>
#include <string_view>

#include "common/status.h"

namespace coffer::cli {

enum class OutputFormat { kJson, kText };

// "text" -> kText; "json" and anything else -> kJson (coffer prints neither
// table nor yaml, and a config file written for the aws CLI may name them).
OutputFormat OutputFormatFromName(std::string_view name);

// Formats the JSON `answer` of a service; members named like the KMS model's
// timestamps (CreationDate, DeletionDate, ValidTo, …) holding epoch seconds
// are shown as ISO 8601 in the local time zone. Fails if `answer` is not JSON.
Result<std::string> FormatAnswer(std::string_view answer, OutputFormat format);

// Python's datetime.fromtimestamp(epoch, tz).isoformat() for a zone `utc_offset`
// seconds east of UTC: "2026-11-30T10:09:56.123000+01:00" (microseconds only
// when not zero).
std::string IsoTimestamp(double epoch_seconds, long utc_offset);

// Pretty JSON (indent 4) of a JSON text, for showing a policy; fails if not JSON.
Result<std::string> PrettyJson(std::string_view json);

}  // namespace coffer::cli
