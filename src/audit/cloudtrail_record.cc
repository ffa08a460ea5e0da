#include "audit/cloudtrail_record.h"

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <utility>

#include "common/json_text.h"

namespace coffer::audit {
namespace {

using Json = nlohmann::json;
using OrderedJson = nlohmann::ordered_json;
using namespace std::string_view_literals;

// The text after the last '/' (a user's, role's or session's name in its ARN).
std::string_view LastSegment(std::string_view arn) {
  size_t slash = arn.rfind('/');
  return slash == std::string_view::npos ? arn : arn.substr(slash + 1);
}

// ---- Writing JSON text -------------------------------------------------------------
//
// The record used to be an nlohmann::ordered_json tree dumped with
// dump(-1, ' ', /*ensure_ascii=*/false, error_handler_t::replace). It is now written
// straight into one string, and every byte must stay what that dump wrote (records
// are hashed into the audit journal and compared by tests): AppendJsonString
// (common/json_text.h) escapes as that serializer does, decision for decision.

// `key` is a literal of this file, written as it is: `,"key":"value"`.
void AppendMember(std::string& out, std::string_view key, std::string_view value) {
  out += ",\""sv;
  out += key;
  out += "\":"sv;
  AppendJsonString(out, value);
}

// FormatIso8601 ("2026-11-30T10:09:56Z", whole seconds), without strftime.
void AppendIso8601(std::string& out, TimePoint t) {
  const auto seconds = std::chrono::floor<std::chrono::seconds>(t);
  const auto days = std::chrono::floor<std::chrono::days>(seconds);
  const std::chrono::year_month_day date(days);
  const int year = static_cast<int>(date.year());
  if (year < 1000 || year > 9999) {  // not a four-digit year: strftime's own padding
    out += FormatIso8601(t);
    return;
  }
  const std::chrono::hh_mm_ss time(seconds - days);
  auto two = [](char* at, unsigned v) {
    at[0] = static_cast<char>('0' + v / 10);
    at[1] = static_cast<char>('0' + v % 10);
  };
  char buf[20];
  two(buf, static_cast<unsigned>(year / 100));
  two(buf + 2, static_cast<unsigned>(year % 100));
  buf[4] = '-';
  two(buf + 5, static_cast<unsigned>(date.month()));
  buf[7] = '-';
  two(buf + 8, static_cast<unsigned>(date.day()));
  buf[10] = 'T';
  two(buf + 11, static_cast<unsigned>(time.hours().count()));
  buf[13] = ':';
  two(buf + 14, static_cast<unsigned>(time.minutes().count()));
  buf[16] = ':';
  two(buf + 17, static_cast<unsigned>(time.seconds().count()));
  buf[19] = 'Z';
  out.append(buf, sizeof buf);
}

// Whether `text` is a JSON object that parsing into an ordered_json and dumping it
// again would give back byte for byte, so that it can be copied as it is. Decided
// in one pass without allocating, and conservatively: true only for text in the
// subset where parse + dump is the identity —
//   no whitespace outside strings (dump is compact);
//   strings of ASCII without escapes or control characters (dump rewrites some
//     escapes, "\/" as "/" and "\u00e9" as "é"; non-ASCII would need the parser's
//     UTF-8 checks);
//   integers of at most 18 digits, not -0 (dump writes 1e2 as 100.0, 1.50 as 1.5,
//     -0 as 0, and integers past 64 bits as floats);
//   no key twice in one object (ordered_json keeps the first position and the last
//     value);
//   nesting and key counts within small fixed bounds.
// Anything else, valid or not, is false and takes the parse + dump path.
bool IsVerbatimJsonObject(std::string_view text) {
  constexpr size_t kMaxDepth = 32;
  constexpr size_t kMaxOpenKeys = 128;  // keys of all the objects still open
  static_assert(kMaxOpenKeys <= UINT8_MAX);
  struct Open {
    bool object;
    uint8_t first_key;  // index in `keys` of this object's first key
  };
  std::array<Open, kMaxDepth> open;
  std::array<std::string_view, kMaxOpenKeys> keys;
  size_t depth = 0;
  size_t key_count = 0;

  const size_t n = text.size();
  size_t i = 0;
  // A string's contents at text[i] == '"'; moves i past the closing quote.
  auto string = [&](std::string_view& contents) {
    const size_t start = ++i;
    for (; i < n; ++i) {
      auto c = static_cast<unsigned char>(text[i]);
      if (c == '"') {
        contents = text.substr(start, i - start);
        ++i;
        return true;
      }
      if (c < 0x20 || c == '\\' || c >= 0x80) return false;
    }
    return false;
  };
  // A key and its ':' at text[i], not a repeat of one of this object's keys.
  auto key = [&] {
    std::string_view name;
    if (i >= n || text[i] != '"' || !string(name)) return false;
    for (size_t k = open[depth - 1].first_key; k < key_count; ++k) {
      if (keys[k] == name) return false;
    }
    if (key_count == kMaxOpenKeys) return false;
    keys[key_count++] = name;
    if (i >= n || text[i] != ':') return false;
    ++i;
    return true;
  };
  auto literal = [&](std::string_view word) {
    if (text.substr(i, word.size()) != word) return false;
    i += word.size();
    return true;
  };
  auto integer = [&] {
    const size_t start = i;
    if (text[i] == '-') ++i;
    const size_t digits = i;
    while (i < n && text[i] >= '0' && text[i] <= '9') ++i;
    const size_t count = i - digits;
    if (count == 0 || count > 18 || (text[digits] == '0' && count > 1)) return false;
    // -0; a fraction or exponent that follows is not ',', '}' or ']' and fails below
    return !(text[start] == '-' && text[digits] == '0');
  };
  auto push = [&](bool object) {
    if (depth == kMaxDepth) return false;
    open[depth++] = {object, static_cast<uint8_t>(key_count)};
    ++i;
    return true;
  };

  if (n == 0 || text[0] != '{') return false;
  enum class Next { kValue, kFirstKey, kFirstElement, kAfterValue } next = Next::kValue;
  while (true) {
    if (i >= n) return false;
    const char c = text[i];
    switch (next) {
      case Next::kFirstKey:
        if (c == '}') break;  // {}
        if (!key()) return false;
        next = Next::kValue;
        continue;
      case Next::kFirstElement:
        if (c == ']') break;  // []
        [[fallthrough]];
      case Next::kValue:
        if (c == '{') {
          if (!push(true)) return false;
          next = Next::kFirstKey;
          continue;
        }
        if (c == '[') {
          if (!push(false)) return false;
          next = Next::kFirstElement;
          continue;
        }
        if (c == '"') {
          std::string_view ignored;
          if (!string(ignored)) return false;
        } else if (c == 't') {
          if (!literal("true")) return false;
        } else if (c == 'f') {
          if (!literal("false")) return false;
        } else if (c == 'n') {
          if (!literal("null")) return false;
        } else if (c == '-' || (c >= '0' && c <= '9')) {
          if (!integer()) return false;
        } else {
          return false;
        }
        next = Next::kAfterValue;
        continue;
      case Next::kAfterValue:
        if (c == ',') {
          ++i;
          if (open[depth - 1].object && !key()) return false;
          next = Next::kValue;
          continue;
        }
        if (c != (open[depth - 1].object ? '}' : ']')) return false;
        break;
    }
    // text[i] closes the innermost open object or array.
    ++i;
    key_count = open[--depth].first_key;
    if (depth == 0) return i == n;
    next = Next::kAfterValue;
  }
}

// A JSON text given to the builder: an object or null; anything else is null so
// that a record is always well-formed JSON.
OrderedJson Embedded(const std::string& text) {
  OrderedJson v = OrderedJson::parse(text, nullptr, /*allow_exceptions=*/false);
  if (v.is_discarded() || !(v.is_object() || v.is_null())) return nullptr;
  return v;
}

void AppendEmbedded(std::string& out, const std::string& text) {
  if (IsVerbatimJsonObject(text)) {
    out += text;
    return;
  }
  // The parser skips a byte order mark, then whitespace. Text that starts with
  // anything but '{' after them is null, invalid or not an object: all are "null".
  size_t first = text.find_first_not_of(" \t\n\r");
  bool maybe_object = !text.empty() && (static_cast<unsigned char>(text[0]) == 0xEF ||
                                        (first != std::string::npos && text[first] == '{'));
  if (!maybe_object) {
    out += "null"sv;
    return;
  }
  out += Embedded(text).dump(-1, ' ', false, OrderedJson::error_handler_t::replace);
}

// CloudTrail's limit for requestParameters and responseElements (100 KB): a larger
// one is recorded as {"omitted":true}, and a longer errorMessage is cut there, so
// that a record always fits in the journal, however large the request allowed.
constexpr size_t kMaxFieldBytes = 100 * 1024;

void AppendBoundedEmbedded(std::string& out, const std::string& text) {
  if (text.size() > kMaxFieldBytes) {
    out += "{\"omitted\":true}"sv;
    return;
  }
  AppendEmbedded(out, text);
}

// `message`, or its first kMaxFieldBytes (whole UTF-8 characters) followed by "…".
std::string_view BoundedMessage(std::string_view message, std::string& cut) {
  if (message.size() <= kMaxFieldBytes) return message;
  size_t end = kMaxFieldBytes;
  while (end > 0 && (static_cast<unsigned char>(message[end]) & 0xC0) == 0x80) --end;
  cut.assign(message.substr(0, end));
  cut += "\xE2\x80\xA6"sv;  // U+2026 HORIZONTAL ELLIPSIS
  return cut;
}

// `{"type":TYPE,"principalId":…,"arn":…,"accountId":…,"accessKeyId":…` (left open): the
// members every signed-in caller's userIdentity starts with.
void AppendCaller(std::string& out, std::string_view type, std::string_view principal_id,
                  const policy::Principal& p, const AuditEvent& e) {
  out += "{\"type\":"sv;
  AppendJsonString(out, type);
  AppendMember(out, "principalId", principal_id);
  AppendMember(out, "arn", p.arn);
  AppendMember(out, "accountId", p.account_id);
  AppendMember(out, "accessKeyId", e.access_key_id);
}

// The root's or a user's temporary credentials (GetSessionToken): a sessionContext
// with the session's attributes and no issuer (CloudTrail User Guide, userIdentity).
void AppendSessionAttributes(std::string& out, const AuditEvent& e) {
  if (!e.session_creation_time) return;
  out += ",\"sessionContext\":{\"attributes\":{\"creationDate\":\""sv;
  AppendIso8601(out, *e.session_creation_time);
  out += "\",\"mfaAuthenticated\":\"false\"}}"sv;  // coffer has no MFA
}

void AppendUserIdentity(std::string& out, const AuditEvent& e) {
  if (!e.principal) {
    out += "{\"type\":\"Unknown\""sv;
    if (!e.access_key_id.empty()) AppendMember(out, "accessKeyId", e.access_key_id);
    out += '}';
    return;
  }
  const policy::Principal& p = *e.principal;
  switch (p.type) {
    case policy::PrincipalType::kRoot:
      AppendCaller(out, "Root", p.account_id, p, e);
      AppendSessionAttributes(out, e);
      out += '}';
      return;
    case policy::PrincipalType::kIamUser:
      AppendCaller(out, "IAMUser", p.user_id, p, e);
      AppendMember(out, "userName", LastSegment(p.arn));
      AppendSessionAttributes(out, e);
      out += '}';
      return;
    case policy::PrincipalType::kAssumedRole:
      AppendCaller(out, "AssumedRole", p.user_id, p, e);
      out += ",\"sessionContext\":{\"sessionIssuer\":{\"type\":\"Role\""sv;
      AppendMember(out, "principalId", std::string_view(p.user_id).substr(0, p.user_id.find(':')));
      AppendMember(out, "arn", p.role_arn);
      AppendMember(out, "accountId", p.account_id);
      AppendMember(out, "userName", LastSegment(p.role_arn));
      out += "},\"attributes\":{"sv;
      if (e.session_creation_time) {
        out += "\"creationDate\":\""sv;
        AppendIso8601(out, *e.session_creation_time);
        out += "\","sv;
      }
      out += "\"mfaAuthenticated\":\"false\"}}}"sv;  // coffer has no MFA
      return;
    case policy::PrincipalType::kAwsService:
      out += "{\"type\":\"AWSService\""sv;
      AppendMember(out, "invokedBy", p.arn);  // the service principal name
      out += '}';
      return;
  }
  out += "null"sv;  // not a PrincipalType: the tree's untouched element was null
}

// The whole seconds a TimePoint (int64 nanoseconds) can hold.
constexpr int64_t kMinTimePointSeconds =
    std::chrono::ceil<std::chrono::seconds>(TimePoint::min().time_since_epoch()).count();
constexpr int64_t kMaxTimePointSeconds =
    std::chrono::floor<std::chrono::seconds>(TimePoint::max().time_since_epoch()).count();

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
  // Only times a TimePoint holds (1677 to 2262): the conversion would overflow.
  const int64_t seconds =
      static_cast<int64_t>(std::chrono::sys_days(date).time_since_epoch().count()) * 86400 +
      hour * 3600 + minute * 60 + second;
  if (seconds < kMinTimePointSeconds || seconds > kMaxTimePointSeconds) return std::nullopt;
  return TimePoint(std::chrono::seconds(seconds));
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
  std::string out;
  // One allocation: the constant text of a record is about 460 bytes (a root caller)
  // to 750 (an assumed role's failed call over TLS); escaping rarely adds much.
  size_t variable = e.access_key_id.size() + e.account_id.size() + e.region.size() +
                    e.event_source.size() + e.event_name.size() + e.source_ip.size() +
                    e.user_agent.size() + e.request_parameters.size() + e.response_elements.size() +
                    e.additional_event_data.size() + e.request_id.size() + e.event_id.size();
  if (e.principal) {
    const policy::Principal& p = *e.principal;
    variable += 2 * (p.arn.size() + p.account_id.size() + p.user_id.size()) + p.role_arn.size();
    if (p.type == policy::PrincipalType::kAssumedRole) variable += 224;  // sessionContext
    if (e.session_creation_time) variable += 96;
  }
  if (e.error_code) variable += e.error_code->size();
  if (e.error_message) variable += e.error_message->size();
  for (const AuditResource& r : e.resources) {
    variable += 48 + r.arn.size() + r.type.size() + r.account_id.size();
  }
  if (e.tls) {
    variable += 80 + e.tls->tls_version.size() + e.tls->cipher_suite.size() +
                e.tls->client_provided_host_header.size();
  }
  out.reserve(512 + variable + variable / 8);

  out += "{\"eventVersion\":\""sv;
  out += kCloudTrailEventVersion;
  out += "\",\"userIdentity\":"sv;
  AppendUserIdentity(out, e);
  out += ",\"eventTime\":\""sv;
  AppendIso8601(out, e.event_time);
  out += '"';
  AppendMember(out, "eventSource", e.event_source);
  AppendMember(out, "eventName", e.event_name);
  AppendMember(out, "awsRegion", e.region);
  AppendMember(out, "sourceIPAddress", e.source_ip);
  AppendMember(out, "userAgent", e.user_agent);
  if (e.error_code) AppendMember(out, "errorCode", *e.error_code);
  // An answer without a message (SerializationException) has no errorMessage.
  if (e.error_message && !e.error_message->empty()) {
    std::string cut;
    AppendMember(out, "errorMessage", BoundedMessage(*e.error_message, cut));
  }
  out += ",\"requestParameters\":"sv;
  AppendBoundedEmbedded(out, e.request_parameters);
  out += ",\"responseElements\":"sv;
  AppendBoundedEmbedded(out, e.response_elements);
  if (!e.additional_event_data.empty()) {
    out += ",\"additionalEventData\":"sv;
    AppendBoundedEmbedded(out, e.additional_event_data);
  }
  AppendMember(out, "requestID", e.request_id);
  AppendMember(out, "eventID", e.event_id);
  out += e.read_only ? ",\"readOnly\":true"sv : ",\"readOnly\":false"sv;
  out += ",\"resources\":["sv;
  for (size_t i = 0; i < e.resources.size(); ++i) {
    const AuditResource& res = e.resources[i];
    out += i == 0 ? "{\"accountId\":"sv : ",{\"accountId\":"sv;
    AppendJsonString(out, res.account_id);
    AppendMember(out, "type", res.type);
    AppendMember(out, "ARN", res.arn);
    out += '}';
  }
  out += "],\"eventType\":\"AwsApiCall\",\"managementEvent\":true"sv;
  AppendMember(out, "recipientAccountId", e.account_id);
  out += ",\"eventCategory\":\"Management\""sv;
  if (e.tls) {
    out += ",\"tlsDetails\":{\"tlsVersion\":"sv;
    AppendJsonString(out, e.tls->tls_version);
    AppendMember(out, "cipherSuite", e.tls->cipher_suite);
    AppendMember(out, "clientProvidedHostHeader", e.tls->client_provided_host_header);
    out += '}';
  }
  out += '}';
  return out;
}

AuditEventSummary SummarizeEvent(const AuditEvent& e) {
  // What ParseCloudTrailRecord reads back from BuildCloudTrailRecord(e): the texts
  // with invalid UTF-8 replaced, the time in whole seconds.
  AuditEventSummary s;
  s.event_id = ReplaceInvalidUtf8(e.event_id);
  s.event_name = ReplaceInvalidUtf8(e.event_name);
  s.event_source = ReplaceInvalidUtf8(e.event_source);
  s.read_only = e.read_only;
  // Whole seconds, as the record has it (its first second is not a TimePoint: clamped).
  s.event_time = TimePoint(std::chrono::seconds(
      std::max(std::chrono::floor<std::chrono::seconds>(e.event_time.time_since_epoch()).count(),
               kMinTimePointSeconds)));
  if (!e.principal) {
    s.access_key_id = ReplaceInvalidUtf8(e.access_key_id);
  } else {
    const policy::Principal& p = *e.principal;
    switch (p.type) {
      case policy::PrincipalType::kRoot:
        s.access_key_id = ReplaceInvalidUtf8(e.access_key_id);
        s.username = "root";
        break;
      case policy::PrincipalType::kIamUser:
        s.access_key_id = ReplaceInvalidUtf8(e.access_key_id);
        s.username = ReplaceInvalidUtf8(LastSegment(p.arn));  // the record's userName
        break;
      case policy::PrincipalType::kAssumedRole: {
        s.access_key_id = ReplaceInvalidUtf8(e.access_key_id);
        // UsernameOf: the principalId after its ':' (the session name), else the
        // ARN's last segment.
        std::string principal_id = ReplaceInvalidUtf8(p.user_id);
        if (size_t colon = principal_id.find(':'); colon != std::string::npos) {
          s.username = principal_id.substr(colon + 1);
        } else {
          s.username = std::string(LastSegment(ReplaceInvalidUtf8(p.arn)));
        }
        break;
      }
      case policy::PrincipalType::kAwsService:
        s.username = ReplaceInvalidUtf8(p.arn);
        break;
    }
  }
  s.resources.reserve(e.resources.size());
  for (const AuditResource& res : e.resources) {
    s.resources.push_back({ReplaceInvalidUtf8(res.type), ReplaceInvalidUtf8(res.arn)});
  }
  return s;
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
