#include "cli/audit_commands.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <ctime>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "audit/digest.h"
#include "audit/journal.h"
#include "cli/aws_client.h"
#include "cli/client_connection.h"
#include "cli/credentials.h"
#include "cli/output.h"
#include "common/bytes.h"

namespace coffer::cli {
namespace {

using Json = nlohmann::ordered_json;

constexpr int kExitDamaged = 1;
constexpr int kExitUnreadable = 2;
// The digests verify, but records they signed are gone (a new chain was started).
constexpr int kExitLost = 3;
constexpr int kPageSize = 50;

bool AllDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

class AuditCommands final : public CommandGroup {
 public:
  AuditCommands(CLI::App& app, ClientEnvironment environment);
  bool Selected() const override { return audit_->parsed(); }
  int Run() override;

 private:
  int Verify();
  int VerifyDigestsOf(const std::string& data_dir);
  int Events();
  int Report(std::string_view message, int exit_status) {
    *env_.err << "\n" << message << "\n";
    env_.err->flush();
    return exit_status;
  }

  ClientEnvironment env_;
  CLI::App* audit_ = nullptr;
  CLI::App* verify_ = nullptr;
  CLI::App* events_ = nullptr;

  std::string data_dir_;

  ClientConnection connection_{env_};
  std::map<std::string, std::string> attribute_;  // at most one: AttributeKey -> value
  std::string event_name_, username_, resource_name_, resource_type_, event_source_, access_key_id_,
      event_id_, read_only_;
  std::string start_time_, end_time_;
  int max_results_ = 50;
  std::string output_ = "table";
};

AuditCommands::AuditCommands(CLI::App& app, ClientEnvironment environment)
    : env_(std::move(environment)) {
  audit_ = app.add_subcommand("audit", "The audit trail: verify the journal, look up events");
  audit_->require_subcommand(1);

  verify_ = audit_->add_subcommand(
      "verify",
      "Check the audit journal of a data directory offline (checksums, sequence, hash chain)");
  verify_->add_option("--data-dir", data_dir_, "The server's data directory")->required();

  events_ =
      audit_->add_subcommand("events", "Look up recorded API calls (CloudTrail LookupEvents)");
  connection_.AddOptions(events_, /*output_option=*/false);
  auto* group = events_->add_option_group("filter", "At most one lookup attribute");
  group->add_option("--event-name", event_name_, "Only calls of this operation (Decrypt)");
  group->add_option("--username", username_, "Only calls by this user, role session or root");
  group->add_option("--resource-name", resource_name_, "Only calls on this resource (an ARN)");
  group->add_option("--resource-type", resource_type_, "Only calls on this type (AWS::KMS::Key)");
  group->add_option("--event-source", event_source_,
                    "Only calls to this service (kms.amazonaws.com)");
  group->add_option("--access-key-id", access_key_id_, "Only calls signed with this access key");
  group->add_option("--event-id", event_id_, "The event with this id");
  group->add_option("--read-only", read_only_, "true: only reads; false: only writes")
      ->check(CLI::IsMember({"true", "false"}));
  group->require_option(0, 1);
  events_->add_option("--start-time", start_time_,
                      "Only events at or after (ISO 8601 UTC or epoch seconds)");
  events_->add_option("--end-time", end_time_, "Only events at or before");
  events_->add_option("--max-results", max_results_, "Show at most this many events (default 50)")
      ->check(CLI::Range(1, 100000));
  events_->add_option("--output", output_, "table (default) or json")
      ->check(CLI::IsMember({"table", "json"}));
}

int AuditCommands::Run() {
  if (verify_->parsed()) return Verify();
  if (events_->parsed()) return Events();
  return Report("coffer audit: no command given", kExitParamError);
}

// The signed digests (docs/formats/audit-digest.md): every signature with the public
// key valid at its time, the chain of digests, and the records each one covers.
int AuditCommands::VerifyDigestsOf(const std::string& data_dir) {
  Result<audit::DigestVerifyReport> report = audit::VerifyDigests(data_dir);
  std::ostream& out = *env_.out;
  if (!report.ok()) {
    return Report("coffer audit verify: cannot read the digests in " +
                      audit::DigestDirectory(data_dir) + ": " + report.status().message(),
                  kExitUnreadable);
  }
  out << "signed digests " << audit::DigestDirectory(data_dir) << "\n";
  out << "  digests: " << report->digests << ", records covered: " << report->records
      << ", records not yet in a digest: " << report->unsigned_records << "\n";
  for (const audit::DigestChainStart& start : report->chain_starts) {
    out << "  new chain from digest " << start.digest << ", after record " << start.after_sequence
        << ": records " << start.after_sequence + 1 << " to " << start.previous_last_sequence
        << ", signed by the chain before it, are no longer in the journal as signed (moved out "
           "or changed)\n";
  }
  if (report->ok() && report->chain_starts.empty()) {
    out << "OK: every digest's signature, chain and records verified\n";
    out.flush();
    return 0;
  }
  if (report->ok()) {
    out << "OK: every digest's signature and chain verified, and every covered record the "
           "journal still holds\n";
    out.flush();
    *env_.err << "LOST: " << report->lost_records
              << (report->lost_records == 1 ? " signed record is" : " signed records are")
              << " no longer in the journal as signed; a new digest chain started after the "
                 "loss (above)\n";
    env_.err->flush();
    return kExitLost;
  }
  out.flush();
  *env_.err << "DAMAGED: " << report->problem->ToString() << "\n";
  env_.err->flush();
  return kExitDamaged;
}

int AuditCommands::Verify() {
  const std::string dir = audit::JournalDirectory(data_dir_);
  Result<audit::VerifyReport> report = audit::VerifyJournal(dir);
  if (!report.ok()) {
    return Report("coffer audit verify: cannot read the audit journal " + dir + ": " +
                      report.status().message(),
                  kExitUnreadable);
  }
  std::ostream& out = *env_.out;
  out << "audit journal " << dir << "\n";
  out << "  segments: " << report->segments << "\n";
  out << "  records:  " << report->records;
  if (report->records > 0) {
    out << " (sequence " << report->first_sequence << " to " << report->last_sequence << ")";
  }
  out << "\n";
  out << "  last record hash (SHA-256): "
      << HexEncode(ByteView(report->last_hash.data(), report->last_hash.size())) << "\n";
  if (!report->problem) {
    out << "OK: every record verified and the chain is unbroken\n";
    out.flush();
    return VerifyDigestsOf(data_dir_);
  }
  const audit::JournalProblem& p = *report->problem;
  if (p.kind == audit::JournalProblem::Kind::kTornTail) {
    out << "OK with a torn tail: " << p.ToString()
        << " (a write cut short by a crash, never acknowledged: coffer cuts it off at its next "
           "start; unless a digest signed that record, which the digests below show: then it "
           "is damage, and coffer cuts nothing)\n";
    out.flush();
    return VerifyDigestsOf(data_dir_);
  }
  out.flush();
  *env_.err << "DAMAGED: first bad record: " << p.ToString() << "\n"
            << "  segment " << p.segment << ", byte offset " << p.offset << ", record "
            << p.sequence << "\n";
  env_.err->flush();
  return kExitDamaged;
}

int AuditCommands::Events() {
  Json request = Json::object();
  const std::pair<const char*, const std::string*> attributes[] = {
      {"EventName", &event_name_},       {"Username", &username_},
      {"ResourceName", &resource_name_}, {"ResourceType", &resource_type_},
      {"EventSource", &event_source_},   {"AccessKeyId", &access_key_id_},
      {"EventId", &event_id_},           {"ReadOnly", &read_only_},
  };
  for (const auto& [key, value] : attributes) {
    if (value->empty()) continue;
    request["LookupAttributes"] =
        Json::array({{{"AttributeKey", key}, {"AttributeValue", *value}}});
  }
  for (const auto& [option, text, member] : {std::tuple{"--start-time", &start_time_, "StartTime"},
                                             std::tuple{"--end-time", &end_time_, "EndTime"}}) {
    if (text->empty()) continue;
    Result<TimePoint> t = ParseTimeArgument(*text);
    if (!t.ok()) {
      return Report(
          std::string("Error parsing parameter '") + option + "': " + t.status().message(),
          kExitParamError);
    }
    request[member] = static_cast<double>(EpochMillis(*t)) / 1000.0;
  }

  AwsClient* client = nullptr;
  if (int rc = connection_.Connect(kCloudTrailService, &client); rc != 0) return rc;

  Json events = Json::array();
  std::optional<std::string> next;
  int remaining = max_results_;
  while (remaining > 0) {
    request["MaxResults"] = std::min(remaining, kPageSize);
    if (next) request["NextToken"] = *next;
    Result<std::string> answer = client->CallJson(kCloudTrailService, kCloudTrailTargetPrefix,
                                                  "LookupEvents", request.dump());
    if (!answer.ok()) {
      return connection_.ReportCall("LookupEvents", answer.status());
    }
    Json page = Json::parse(*answer, nullptr, false);
    if (!page.is_object())
      return Report("The LookupEvents answer is not valid JSON", kExitGeneralError);
    if (page.contains("Events") && page["Events"].is_array()) {
      for (auto& e : page["Events"]) {
        events.push_back(std::move(e));
        --remaining;
      }
    }
    next.reset();
    if (page.contains("NextToken") && page["NextToken"].is_string()) {
      next = page["NextToken"].get<std::string>();
    }
    if (!next) break;
  }
  Json all = {{"Events", std::move(events)}};
  if (next) all["NextToken"] = *next;
  if (output_ == "json") {
    Result<std::string> text = PrettyJson(all.dump());
    if (!text.ok()) return Report("cannot format the events", kExitGeneralError);
    *env_.out << *text;
    if (text->empty() || text->back() != '\n') *env_.out << "\n";
  } else {
    Result<std::string> text = FormatEventsTable(all.dump());
    if (!text.ok()) return Report(text.status().message(), kExitGeneralError);
    *env_.out << *text;
    if (next) *env_.out << "(more events match: raise --max-results to see them)\n";
  }
  env_.out->flush();
  return 0;
}

}  // namespace

Result<TimePoint> ParseTimeArgument(std::string_view text) {
  auto bad = [&] {
    return InvalidArgumentError("'" + std::string(text) +
                                "' is not a time: give ISO 8601 in UTC (2026-11-30T12:00:00Z, "
                                "2026-11-30) or epoch seconds");
  };
  // Epoch seconds, with an optional fraction.
  std::string_view whole = text.substr(0, text.find('.'));
  if (AllDigits(whole) && whole.size() <= 12) {
    std::string_view fraction =
        whole.size() < text.size() ? text.substr(whole.size() + 1) : std::string_view();
    if (whole.size() < text.size() && !AllDigits(fraction)) return bad();
    int64_t millis = std::stoll(std::string(whole)) * 1000;
    if (!fraction.empty()) {
      std::string ms(fraction.substr(0, 3));
      ms.resize(3, '0');
      millis += std::stoll(ms);
    }
    return FromEpochMillis(millis);
  }
  // ISO 8601, UTC.
  if (text.size() < 10) return bad();
  std::string_view date = text.substr(0, 10);
  if (!AllDigits(date.substr(0, 4)) || date[4] != '-' || !AllDigits(date.substr(5, 2)) ||
      date[7] != '-' || !AllDigits(date.substr(8, 2))) {
    return bad();
  }
  std::tm tm{};
  tm.tm_year = std::stoi(std::string(date.substr(0, 4))) - 1900;
  tm.tm_mon = std::stoi(std::string(date.substr(5, 2))) - 1;
  tm.tm_mday = std::stoi(std::string(date.substr(8, 2)));
  int64_t millis = 0;
  std::string_view rest = text.substr(10);
  if (!rest.empty()) {
    if (rest.size() < 9 || (rest[0] != 'T' && rest[0] != ' ') || !AllDigits(rest.substr(1, 2)) ||
        rest[3] != ':' || !AllDigits(rest.substr(4, 2)) || rest[6] != ':' ||
        !AllDigits(rest.substr(7, 2))) {
      return bad();
    }
    tm.tm_hour = std::stoi(std::string(rest.substr(1, 2)));
    tm.tm_min = std::stoi(std::string(rest.substr(4, 2)));
    tm.tm_sec = std::stoi(std::string(rest.substr(7, 2)));
    rest.remove_prefix(9);
    if (!rest.empty() && rest[0] == '.') {
      size_t n = 1;
      while (n < rest.size() && rest[n] >= '0' && rest[n] <= '9') ++n;
      if (n == 1) return bad();
      std::string ms(rest.substr(1, std::min<size_t>(3, n - 1)));
      ms.resize(3, '0');
      millis = std::stoll(ms);
      rest.remove_prefix(n);
    }
    if (rest != "Z" && rest != "+00:00" && !rest.empty()) return bad();
  }
  if (tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
      tm.tm_min > 59 || tm.tm_sec > 60) {
    return bad();
  }
  std::time_t t = ::timegm(&tm);
  return FromEpochMillis(static_cast<int64_t>(t) * 1000 + millis);
}

Result<std::string> FormatEventsTable(std::string_view events_json) {
  Json all = Json::parse(events_json, nullptr, false);
  if (!all.is_object() || !all.contains("Events") || !all["Events"].is_array()) {
    return InvalidArgumentError("not a LookupEvents answer");
  }
  std::vector<std::array<std::string, 6>> rows;
  rows.push_back({"EVENT TIME", "EVENT NAME", "USER NAME", "EVENT SOURCE", "ERROR", "RESOURCES"});
  for (const Json& e : all["Events"]) {
    std::array<std::string, 6> row;
    if (e.contains("EventTime") && e["EventTime"].is_number()) {
      row[0] = FormatIso8601(
          FromEpochMillis(static_cast<int64_t>(std::llround(e["EventTime"].get<double>() * 1000))));
    }
    row[1] = e.value("EventName", "");
    row[2] = e.value("Username", "-");
    row[3] = e.value("EventSource", "");
    row[4] = "-";
    if (e.contains("CloudTrailEvent") && e["CloudTrailEvent"].is_string()) {
      Json record = Json::parse(e["CloudTrailEvent"].get<std::string>(), nullptr, false);
      if (record.is_object() && record.contains("errorCode") && record["errorCode"].is_string()) {
        row[4] = record["errorCode"].get<std::string>();
      }
    }
    std::string resources;
    if (e.contains("Resources") && e["Resources"].is_array()) {
      for (const Json& r : e["Resources"]) {
        if (!resources.empty()) resources += ",";
        resources += r.value("ResourceName", "");
      }
    }
    row[5] = resources.empty() ? "-" : resources;
    rows.push_back(std::move(row));
  }
  std::array<size_t, 6> width{};
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  std::string out;
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) {
      out += row[i];
      if (i + 1 < row.size()) out.append(width[i] - row[i].size() + 2, ' ');
    }
    out += "\n";
  }
  return out;
}

std::unique_ptr<CommandGroup> RegisterAuditCommands(CLI::App& app, ClientEnvironment environment) {
  return std::make_unique<AuditCommands>(app, std::move(environment));
}

std::unique_ptr<CommandGroup> RegisterAuditCommands(CLI::App& app) {
  return RegisterAuditCommands(app, ProcessClientEnvironment());
}

}  // namespace coffer::cli
