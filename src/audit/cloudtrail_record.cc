#include "audit/cloudtrail_record.h"

#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <utility>

namespace coffer::audit {
namespace {

using Json = nlohmann::json;
using OrderedJson = nlohmann::ordered_json;

// The text after the last '/' (a user's, role's or session's name in its ARN).
std::string_view LastSegment(std::string_view arn) {
  size_t slash = arn.rfind('/');
  return slash == std::string_view::npos ? arn : arn.substr(slash + 1);
}

// A JSON text given to the builder: an object or null; anything else is null so
// that a record is always well-formed JSON.
OrderedJson Embedded(const std::string& text) {
  OrderedJson v = OrderedJson::parse(text, nullptr, /*allow_exceptions=*/false);
  if (v.is_discarded() || !(v.is_object() || v.is_null())) return nullptr;
  return v;
}

OrderedJson UserIdentity(const AuditEvent& e) {
  OrderedJson id;
  if (!e.principal) {
    id["type"] = "Unknown";
    if (!e.access_key_id.empty()) id["accessKeyId"] = e.access_key_id;
    return id;
  }
  const policy::Principal& p = *e.principal;
  switch (p.type) {
    case policy::PrincipalType::kRoot:
      id["type"] = "Root";
      id["principalId"] = p.account_id;
      id["arn"] = p.arn;
      id["accountId"] = p.account_id;
      id["accessKeyId"] = e.access_key_id;
      break;
    case policy::PrincipalType::kIamUser:
      id["type"] = "IAMUser";
      id["principalId"] = p.user_id;
      id["arn"] = p.arn;
      id["accountId"] = p.account_id;
      id["accessKeyId"] = e.access_key_id;
      id["userName"] = std::string(LastSegment(p.arn));
      break;
    case policy::PrincipalType::kAssumedRole: {
      id["type"] = "AssumedRole";
      id["principalId"] = p.user_id;
      id["arn"] = p.arn;
      id["accountId"] = p.account_id;
      id["accessKeyId"] = e.access_key_id;
      OrderedJson issuer;
      issuer["type"] = "Role";
      issuer["principalId"] = p.user_id.substr(0, p.user_id.find(':'));
      issuer["arn"] = p.role_arn;
      issuer["accountId"] = p.account_id;
      issuer["userName"] = std::string(LastSegment(p.role_arn));
      OrderedJson attributes;
      if (e.session_creation_time) {
        attributes["creationDate"] = FormatIso8601(*e.session_creation_time);
      }
      attributes["mfaAuthenticated"] = "false";  // coffer has no MFA
      id["sessionContext"]["sessionIssuer"] = std::move(issuer);
      id["sessionContext"]["attributes"] = std::move(attributes);
      break;
    }
    case policy::PrincipalType::kAwsService:
      id["type"] = "AWSService";
      id["invokedBy"] = p.arn;  // the service principal name
      break;
  }
  return id;
}

Status NotARecord(std::string_view why) {
  return InvalidArgumentError("not a CloudTrail record: " + std::string(why));
}

// "2026-01-01T00:00:00Z" → TimePoint; nullopt for anything else.
std::optional<TimePoint> ParseIso8601(std::string_view s) {
  if (s.size() != 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
      s[16] != ':' || s[19] != 'Z') {
    return std::nullopt;
  }
  auto number = [&](size_t at, size_t n, int& out) {
    out = 0;
    for (size_t i = at; i < at + n; ++i) {
      if (s[i] < '0' || s[i] > '9') return false;
      out = out * 10 + (s[i] - '0');
    }
    return true;
  };
  int year, month, day, hour, minute, second;
  if (!number(0, 4, year) || !number(5, 2, month) || !number(8, 2, day) || !number(11, 2, hour) ||
      !number(14, 2, minute) || !number(17, 2, second)) {
    return std::nullopt;
  }
  std::chrono::year_month_day date{std::chrono::year(year), std::chrono::month(month),
                                   std::chrono::day(day)};
  if (!date.ok() || hour > 23 || minute > 59 || second > 59) return std::nullopt;
  return TimePoint(std::chrono::sys_days(date)) + std::chrono::hours(hour) +
         std::chrono::minutes(minute) + std::chrono::seconds(second);
}

std::string StringMember(const Json& object, const char* name) {
  auto it = object.find(name);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// LookupEvents' Username of a record's userIdentity.
std::string UsernameOf(const Json& id) {
  std::string type = StringMember(id, "type");
  if (type == "Root") return "root";
  if (type == "AssumedRole") {
    std::string principal = StringMember(id, "principalId");
    if (size_t colon = principal.find(':'); colon != std::string::npos) {
      return principal.substr(colon + 1);
    }
    return std::string(LastSegment(StringMember(id, "arn")));
  }
  if (type == "AWSService") return StringMember(id, "invokedBy");
  return StringMember(id, "userName");
}

}  // namespace

AuditResource AuditResource::Of(std::string arn, std::string type) {
  AuditResource r;
  // arn:partition:service:region:account:resource
  if (std::string_view(arn).starts_with("arn:")) {
    size_t at = 0;
    for (int field = 0; field < 4 && at != std::string::npos; ++field) at = arn.find(':', at + 1);
    if (at != std::string::npos) {
      size_t end = arn.find(':', at + 1);
      if (end != std::string::npos) r.account_id = arn.substr(at + 1, end - at - 1);
    }
  }
  r.arn = std::move(arn);
  r.type = std::move(type);
  return r;
}

std::string BuildCloudTrailRecord(const AuditEvent& e) {
  OrderedJson r;
  r["eventVersion"] = kCloudTrailEventVersion;
  r["userIdentity"] = UserIdentity(e);
  r["eventTime"] = FormatIso8601(e.event_time);
  r["eventSource"] = e.event_source;
  r["eventName"] = e.event_name;
  r["awsRegion"] = e.region;
  r["sourceIPAddress"] = e.source_ip;
  r["userAgent"] = e.user_agent;
  if (e.error_code) r["errorCode"] = *e.error_code;
  if (e.error_message) r["errorMessage"] = *e.error_message;
  r["requestParameters"] = Embedded(e.request_parameters);
  r["responseElements"] = Embedded(e.response_elements);
  r["requestID"] = e.request_id;
  r["eventID"] = e.event_id;
  r["readOnly"] = e.read_only;
  r["resources"] = OrderedJson::array();
  for (const AuditResource& res : e.resources) {
    OrderedJson o;
    o["accountId"] = res.account_id;
    o["type"] = res.type;
    o["ARN"] = res.arn;
    r["resources"].push_back(std::move(o));
  }
  r["eventType"] = "AwsApiCall";
  r["managementEvent"] = true;
  r["recipientAccountId"] = e.account_id;
  r["eventCategory"] = "Management";
  if (e.tls) {
    OrderedJson tls;
    tls["tlsVersion"] = e.tls->tls_version;
    tls["cipherSuite"] = e.tls->cipher_suite;
    tls["clientProvidedHostHeader"] = e.tls->client_provided_host_header;
    r["tlsDetails"] = std::move(tls);
  }
  return r.dump(-1, ' ', false, OrderedJson::error_handler_t::replace);
}

std::string FormatResponseElementsDate(TimePoint t) {
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  auto days = std::chrono::floor<std::chrono::days>(t);
  std::chrono::year_month_day date(days);
  std::chrono::hh_mm_ss time(std::chrono::floor<std::chrono::seconds>(t - days));
  int hour = static_cast<int>(time.hours().count());
  int hour12 = hour % 12 == 0 ? 12 : hour % 12;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s %u, %d, %d:%02d:%02d %s",
                kMonths[static_cast<unsigned>(date.month()) - 1], static_cast<unsigned>(date.day()),
                static_cast<int>(date.year()), hour12, static_cast<int>(time.minutes().count()),
                static_cast<int>(time.seconds().count()), hour < 12 ? "AM" : "PM");
  return buf;
}

Result<AuditEventSummary> ParseCloudTrailRecord(std::string_view record) {
  Json r = Json::parse(record, nullptr, /*allow_exceptions=*/false);
  if (r.is_discarded() || !r.is_object()) return NotARecord("not a JSON object");
  AuditEventSummary s;
  for (auto [name, out] : {std::pair{"eventID", &s.event_id}, std::pair{"eventName", &s.event_name},
                           std::pair{"eventSource", &s.event_source}}) {
    auto it = r.find(name);
    if (it == r.end() || !it->is_string()) return NotARecord(std::string("no ") + name);
    *out = it->get<std::string>();
  }
  auto read_only = r.find("readOnly");
  if (read_only == r.end() || !read_only->is_boolean()) return NotARecord("no readOnly");
  s.read_only = read_only->get<bool>();
  auto time = ParseIso8601(StringMember(r, "eventTime"));
  if (!time) return NotARecord("no eventTime");
  s.event_time = *time;
  if (auto id = r.find("userIdentity"); id != r.end() && id->is_object()) {
    s.access_key_id = StringMember(*id, "accessKeyId");
    s.username = UsernameOf(*id);
  }
  if (auto resources = r.find("resources"); resources != r.end() && resources->is_array()) {
    for (const Json& res : *resources) {
      if (!res.is_object()) continue;
      s.resources.push_back({StringMember(res, "type"), StringMember(res, "ARN")});
    }
  }
  return s;
}

}  // namespace coffer::audit
