#pragma once
// `coffer audit …`: the audit trail.
//
//   coffer audit verify --data-dir DIR
//       Offline (no server, nothing written): checks the audit journal in DIR/audit
//       (checksums, sequence, hash chain; docs/formats/audit-journal.md) and prints
//       the records, segments and the last record's hash, or the first bad record
//       (segment, offset, sequence, what). Exit 0 when the journal verifies (also
//       with a torn tail, which coffer cuts off at its next start: it is shown),
//       1 when it is damaged, 2 when it cannot be read.
//
//   coffer audit events [--event-name N | --username U | --resource-name R
//       | --resource-type T | --event-source S | --access-key-id K | --event-id I
//       | --read-only true|false] [--start-time T] [--end-time T] [--max-results N]
//       [--output table|json]
//       A client of the server's CloudTrail LookupEvents (signed as the aws CLI signs),
//       following NextToken until N events (default 50) are shown, newest first.
//       Times: ISO 8601 UTC ("2026-11-30T12:00:00Z", "2026-11-30") or epoch seconds.
//       table: one line per event (time, name, user, source, error, resources);
//       json: {"Events": [...]} as LookupEvents returns them (with "NextToken" when
//       more events match than were shown).
//       Client options as `coffer kms`: --endpoint-url, --profile, --region,
//       --ca-bundle, --no-verify-ssl. Exit statuses as `coffer kms` (kms_commands.h).
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "cli/command_group.h"
#include "cli/kms_commands.h"
#include "common/clock.h"
#include "common/status.h"

namespace coffer::cli {

inline constexpr std::string_view kCloudTrailService = "cloudtrail";
inline constexpr std::string_view kCloudTrailTargetPrefix =
    "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101";

std::unique_ptr<CommandGroup> RegisterAuditCommands(CLI::App& app, ClientEnvironment environment);
std::unique_ptr<CommandGroup> RegisterAuditCommands(CLI::App& app);

// "2026-11-30T12:00:00Z", "2026-11-30T12:00:00.5Z", "2026-11-30" (UTC) or epoch
// seconds ("1767225600", "1767225600.25"); kInvalidArgument otherwise.
Result<TimePoint> ParseTimeArgument(std::string_view text);

// The events of LookupEvents answers (each {"Events": [...]}), as the table
// `coffer audit events` prints: a header line, then one line per event.
Result<std::string> FormatEventsTable(std::string_view events_json);

}  // namespace coffer::cli
