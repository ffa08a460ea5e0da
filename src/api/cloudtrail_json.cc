#include "api/cloudtrail_json.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <utility>

#include "common/bytes.h"
#include "crypto/hash.h"

namespace coffer::api {
namespace {

using Json = nlohmann::json;
using OrderedJson = nlohmann::ordered_json;

constexpr size_t kDefaultMaxResults = 50;
constexpr int64_t kMaxMaxResults = 50;
constexpr size_t kMaxAttributeValue = 2000;
constexpr uint8_t kTokenVersion = 1;
constexpr size_t kTokenBindingSize = 16;
constexpr size_t kTokenSize = 1 + 8 + 8 + kTokenBindingSize;

// ---- Coral's deserialization errors (as api/kms_json.cc) ---------------------------

Status SerializationError(std::string message) {
  return Status(StatusCode::kInvalidArgument, "SerializationException", std::move(message));
}

std::string_view TokenName(const Json& v) {
  switch (v.type()) {
    case Json::value_t::string:
      return "STRING_VALUE";
    case Json::value_t::boolean:
      return v.get<bool>() ? "TRUE_VALUE" : "FALSE_VALUE";
    case Json::value_t::number_float:
      return "DECIMAL_VALUE";
    default:
      return "NUMBER_VALUE";
  }
}

Status NotConvertible(const Json& v, std::string_view type) {
  if (v.is_object())
    return SerializationError("Start of structure or map found where not expected");
  if (v.is_array()) return SerializationError("Start of list found where not expected");
  return SerializationError(std::string(TokenName(v)) + " cannot be converted to " +
                            std::string(type));
}

Status CheckObject(const Json& v) {
  if (v.is_object()) return Status::Ok();
  if (v.is_array()) return SerializationError("Start of list found where not expected");
  return SerializationError("Unexpected field type");
}

Status CheckArray(const Json& v) {
  if (v.is_array()) return Status::Ok();
  if (v.is_object())
    return SerializationError("Start of structure or map found where not expected");
  return SerializationError("Unexpected field type");
}

// A member, or nullptr when absent or null.
const Json* Find(const Json& object, std::string_view member) {
  auto it = object.find(member);
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

Result<std::optional<std::string>> String(const Json& object, std::string_view member) {
  const Json* v = Find(object, member);
  if (v == nullptr) return std::optional<std::string>();
  if (!v->is_string()) return NotConvertible(*v, "String");
  return std::optional<std::string>(v->get<std::string>());
}

// A timestamp member: epoch seconds, a JSON number (aws-protocols.md, JSON 1.1).
Result<std::optional<TimePoint>> Timestamp(const Json& object, std::string_view member) {
  const Json* v = Find(object, member);
  if (v == nullptr) return std::optional<TimePoint>();
  if (!v->is_number()) return NotConvertible(*v, "Date");
  double seconds = v->get<double>();
  if (!std::isfinite(seconds) || std::fabs(seconds) > 1e11) {
    return Status(StatusCode::kInvalidArgument, "InvalidTimeRangeException",
                  "The time " + v->dump() + " is outside the range of possible values.");
  }
  return std::optional<TimePoint>(FromEpochMillis(std::llround(seconds * 1000.0)));
}

// ---- errors of the model -----------------------------------------------------------

Status InvalidLookupAttributes(std::string message) {
  return Status(StatusCode::kInvalidArgument, "InvalidLookupAttributesException",
                std::move(message));
}
Status InvalidNextToken() {
  return Status(StatusCode::kInvalidArgument, "InvalidNextTokenException",
                "Invalid NextToken: it is malformed or was returned for other parameters.");
}

// ---- NextToken ---------------------------------------------------------------------

struct Parameters {
  std::optional<audit::LookupRequest::Attribute> attribute;
  std::optional<TimePoint> start_time, end_time;
  std::optional<std::string> event_category;
};

void PutU64(Bytes& out, uint64_t v) { AppendU64(out, v); }

Bytes Binding(const Parameters& p, const audit::LookupCursor& cursor) {
  std::string text = "coffer LookupEvents NextToken v1\n";
  if (p.attribute) {
    text += audit::LookupAttributeKeyName(p.attribute->key);
    text += '\n';
    text += std::to_string(p.attribute->value.size());
    text += ':';
    text += p.attribute->value;
  }
  text += '\n';
  text += p.start_time ? std::to_string(EpochMillis(*p.start_time)) : "-";
  text += '\n';
  text += p.end_time ? std::to_string(EpochMillis(*p.end_time)) : "-";
  text += '\n';
  text += p.event_category.value_or("-");
  text += '\n';
  text += std::to_string(cursor.event_time) + '/' + std::to_string(cursor.sequence);
  Bytes digest = crypto::Sha256(AsBytes(text));
  digest.resize(kTokenBindingSize);
  return digest;
}

std::string EncodeToken(const Parameters& p, const audit::LookupCursor& cursor) {
  Bytes token;
  token.push_back(kTokenVersion);
  PutU64(token, static_cast<uint64_t>(cursor.event_time));
  PutU64(token, cursor.sequence);
  Bytes binding = Binding(p, cursor);
  token.insert(token.end(), binding.begin(), binding.end());
  return Base64Encode(token);
}

Result<audit::LookupCursor> DecodeToken(const Parameters& p, std::string_view text) {
  Result<Bytes> token = Base64Decode(text);
  if (!token.ok() || token->size() != kTokenSize || (*token)[0] != kTokenVersion) {
    return InvalidNextToken();
  }
  audit::LookupCursor cursor;
  cursor.event_time = static_cast<int64_t>(LoadU64(token->data() + 1));
  cursor.sequence = LoadU64(token->data() + 9);
  Bytes binding = Binding(p, cursor);
  if (!std::equal(binding.begin(), binding.end(), token->begin() + 17)) return InvalidNextToken();
  return cursor;
}

// ---- LookupEvents ------------------------------------------------------------------

std::string FormatDate(TimePoint t) { return audit::FormatResponseElementsDate(t); }

Result<Call> PrepareLookupEvents(const audit::EventLookup& lookup, const Json& in) {
  Parameters params;
  OrderedJson recorded = OrderedJson::object();

  if (const Json* list = Find(in, "LookupAttributes")) {
    RETURN_IF_ERROR(CheckArray(*list));
    if (list->size() > 1) {
      return InvalidLookupAttributes("You cannot specify more than one lookup attribute.");
    }
    OrderedJson recorded_list = OrderedJson::array();
    for (const Json& item : *list) {
      if (item.is_null()) return InvalidLookupAttributes("A lookup attribute must not be null.");
      RETURN_IF_ERROR(CheckObject(item));
      ASSIGN_OR_RETURN(std::optional<std::string> key, String(item, "AttributeKey"));
      ASSIGN_OR_RETURN(std::optional<std::string> value, String(item, "AttributeValue"));
      if (!key) return InvalidLookupAttributes("The lookup attribute key must not be null.");
      std::optional<audit::LookupAttributeKey> parsed = audit::ParseLookupAttributeKey(*key);
      if (!parsed) {
        return InvalidLookupAttributes(
            "The lookup attribute key " + *key +
            " is not valid. Valid keys: EventId, EventName, ReadOnly, Username, ResourceType, "
            "ResourceName, EventSource, AccessKeyId.");
      }
      if (!value || value->empty()) {
        return InvalidLookupAttributes("The lookup attribute value must not be empty.");
      }
      // The model: '_', ' ', ',' and '\n' count as two characters.
      size_t length = 0;
      for (size_t i = 0; i < value->size(); ++i) {
        unsigned char c = static_cast<unsigned char>((*value)[i]);
        if ((c & 0xC0) == 0x80) continue;  // a UTF-8 continuation byte
        length += (c == '_' || c == ' ' || c == ',' || c == '\n') ? 2 : 1;
      }
      if (length > kMaxAttributeValue) {
        return InvalidLookupAttributes("The lookup attribute value is longer than " +
                                       std::to_string(kMaxAttributeValue) + " characters.");
      }
      recorded_list.push_back({{"attributeKey", *key}, {"attributeValue", *value}});
      params.attribute = audit::LookupRequest::Attribute{*parsed, std::move(*value)};
    }
    recorded["lookupAttributes"] = std::move(recorded_list);
  }

  ASSIGN_OR_RETURN(params.start_time, Timestamp(in, "StartTime"));
  ASSIGN_OR_RETURN(params.end_time, Timestamp(in, "EndTime"));
  if (params.start_time) recorded["startTime"] = FormatDate(*params.start_time);
  if (params.end_time) recorded["endTime"] = FormatDate(*params.end_time);
  if (params.start_time && params.end_time && *params.start_time > *params.end_time) {
    return Status(StatusCode::kInvalidArgument, "InvalidTimeRangeException",
                  "The start time must not be after the end time.");
  }

  ASSIGN_OR_RETURN(params.event_category, String(in, "EventCategory"));
  if (params.event_category) {
    if (*params.event_category != "insight") {
      return Status(
          StatusCode::kInvalidArgument, "InvalidEventCategoryException",
          "The event category " + *params.event_category + " is not valid. Valid value: insight.");
    }
    recorded["eventCategory"] = *params.event_category;
  }

  size_t max_results = kDefaultMaxResults;
  if (const Json* v = Find(in, "MaxResults")) {
    if (!v->is_number_integer() && !v->is_number_unsigned()) return NotConvertible(*v, "Integer");
    int64_t n = v->is_number_unsigned() && v->get<uint64_t>() > uint64_t{INT64_MAX}
                    ? INT64_MAX
                    : v->get<int64_t>();
    if (n < 1 || n > kMaxMaxResults) {
      return Status(StatusCode::kInvalidArgument, "InvalidMaxResultsException",
                    "MaxResults must be from 1 to " + std::to_string(kMaxMaxResults) + ".");
    }
    max_results = static_cast<size_t>(n);
    recorded["maxResults"] = n;
  }

  std::optional<audit::LookupCursor> after;
  ASSIGN_OR_RETURN(std::optional<std::string> token, String(in, "NextToken"));
  if (token) {
    ASSIGN_OR_RETURN(audit::LookupCursor cursor, DecodeToken(params, *token));
    after = cursor;
  }

  Call call;
  call.operation = "LookupEvents";
  call.request_parameters = recorded.empty() ? "null" : recorded.dump();
  call.authorizations.push_back(
      Authorization{PolicyScope::kIdentity, "cloudtrail:LookupEvents", "*", {}});
  call.run = [&lookup, params = std::move(params), max_results, after]() mutable -> Result<Reply> {
    OrderedJson reply = OrderedJson::object();
    OrderedJson events = OrderedJson::array();
    std::optional<audit::LookupCursor> next;
    if (!params.event_category) {  // coffer records no Insights events
      audit::LookupRequest request;
      request.attribute = params.attribute;
      request.start_time = params.start_time;
      request.end_time = params.end_time;
      request.max_results = max_results;
      request.after = after;
      ASSIGN_OR_RETURN(audit::LookupResult result, lookup.Lookup(request));
      for (audit::LookupEvent& e : result.events) {
        const audit::AuditEventSummary& s = e.summary;
        OrderedJson event = OrderedJson::object();
        event["EventId"] = s.event_id;
        event["EventName"] = s.event_name;
        event["ReadOnly"] = s.read_only ? "true" : "false";
        if (!s.access_key_id.empty()) event["AccessKeyId"] = s.access_key_id;
        event["EventTime"] = EpochMillis(s.event_time) / 1000;
        event["EventSource"] = s.event_source;
        if (!s.username.empty()) event["Username"] = s.username;
        OrderedJson resources = OrderedJson::array();
        for (const audit::LookupResource& r : s.resources) {
          resources.push_back(
              {{"ResourceType", r.resource_type}, {"ResourceName", r.resource_name}});
        }
        event["Resources"] = std::move(resources);
        event["CloudTrailEvent"] = std::move(e.record);
        events.push_back(std::move(event));
      }
      next = result.next;
    }
    reply["Events"] = std::move(events);
    if (next) reply["NextToken"] = EncodeToken(params, *next);
    Reply out;
    out.body = reply.dump(-1, ' ', false, OrderedJson::error_handler_t::replace);
    return out;
  };
  return call;
}

// ---- ListPublicKeys ----------------------------------------------------------------

Result<Call> PrepareListPublicKeys(const DigestPublicKeys& public_keys, const Json& in,
                                   TimePoint now) {
  OrderedJson recorded = OrderedJson::object();
  ASSIGN_OR_RETURN(std::optional<TimePoint> start, Timestamp(in, "StartTime"));
  ASSIGN_OR_RETURN(std::optional<TimePoint> end, Timestamp(in, "EndTime"));
  if (start) recorded["startTime"] = FormatDate(*start);
  if (end) recorded["endTime"] = FormatDate(*end);
  // Each end of the range defaults to now (the model): with neither, the key of now.
  const TimePoint from = start.value_or(now), to = end.value_or(now);
  if (from > to) {
    return Status(StatusCode::kInvalidArgument, "InvalidTimeRangeException",
                  "The start time must not be after the end time.");
  }
  ASSIGN_OR_RETURN(std::optional<std::string> token, String(in, "NextToken"));
  if (token) {
    return Status(StatusCode::kInvalidArgument, "InvalidTokenException",
                  "ListPublicKeys answers with every key at once: NextToken is not used.");
  }

  Call call;
  call.operation = "ListPublicKeys";
  call.request_parameters = recorded.empty() ? "null" : recorded.dump();
  call.authorizations.push_back(
      Authorization{PolicyScope::kIdentity, "cloudtrail:ListPublicKeys", "*", {}});
  call.run = [public_keys, from, to]() -> Result<Reply> {
    OrderedJson list = OrderedJson::array();
    for (const audit::DigestPublicKey& key : public_keys()) {
      if (key.validity_start > to || (key.validity_end && *key.validity_end < from)) continue;
      OrderedJson entry = OrderedJson::object();
      entry["Value"] = Base64Encode(key.der);
      entry["ValidityStartTime"] = EpochMillis(key.validity_start) / 1000;
      if (key.validity_end) entry["ValidityEndTime"] = EpochMillis(*key.validity_end) / 1000;
      entry["Fingerprint"] = key.fingerprint;
      list.push_back(std::move(entry));
    }
    Reply out;
    out.body = OrderedJson{{"PublicKeyList", std::move(list)}}.dump();
    return out;
  };
  return call;
}

bool IsBlank(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; });
}

}  // namespace

bool CloudTrailOperationIsReadOnly(std::string_view operation) {
  for (std::string_view read : {"Describe", "Get", "List", "Lookup"}) {
    if (operation.starts_with(read)) return true;
  }
  return false;
}

const std::vector<std::string_view>& CloudTrailUnsupportedOperations() {
  static const auto* names = new std::vector<std::string_view>{
      "AddTags",
      "CancelQuery",
      "CreateChannel",
      "CreateDashboard",
      "CreateEventDataStore",
      "CreateTrail",
      "DeleteChannel",
      "DeleteDashboard",
      "DeleteEventDataStore",
      "DeleteResourcePolicy",
      "DeleteTrail",
      "DeregisterOrganizationDelegatedAdmin",
      "DescribeQuery",
      "DescribeTrails",
      "DisableFederation",
      "EnableFederation",
      "GenerateQuery",
      "GetChannel",
      "GetDashboard",
      "GetEventConfiguration",
      "GetEventDataStore",
      "GetEventSelectors",
      "GetImport",
      "GetInsightSelectors",
      "GetQueryResults",
      "GetResourcePolicy",
      "GetTrail",
      "GetTrailStatus",
      "ListChannels",
      "ListDashboards",
      "ListEventDataStores",
      "ListImportFailures",
      "ListImports",
      "ListInsightsData",
      "ListInsightsMetricData",
      "ListQueries",
      "ListTags",
      "ListTrails",
      "PutEventConfiguration",
      "PutEventSelectors",
      "PutInsightSelectors",
      "PutResourcePolicy",
      "RegisterOrganizationDelegatedAdmin",
      "RemoveTags",
      "RestoreEventDataStore",
      "SearchSampleQueries",
      "StartDashboardRefresh",
      "StartEventDataStoreIngestion",
      "StartImport",
      "StartLogging",
      "StartQuery",
      "StopEventDataStoreIngestion",
      "StopImport",
      "StopLogging",
      "UpdateChannel",
      "UpdateDashboard",
      "UpdateEventDataStore",
      "UpdateTrail",
  };
  return *names;
}

Result<Call> PrepareCloudTrailCall(const audit::EventLookup* lookup, std::string_view operation,
                                   std::string_view body, const DigestPublicKeys& public_keys,
                                   TimePoint now) {
  Json request = Json::parse(IsBlank(body) ? std::string_view("{}") : body, nullptr,
                             /*allow_exceptions=*/false);
  if (request.is_discarded()) return SerializationError("");
  const bool served = (operation == "LookupEvents" && lookup != nullptr) ||
                      (operation == "ListPublicKeys" && public_keys);
  if (!served) {
    const auto& unsupported = CloudTrailUnsupportedOperations();
    if (operation == "LookupEvents" || operation == "ListPublicKeys" ||
        std::binary_search(unsupported.begin(), unsupported.end(), operation)) {
      return Status(StatusCode::kInvalidArgument, "UnsupportedOperationException",
                    "The operation " + std::string(operation) + " is not supported by coffer.");
    }
    return Status(StatusCode::kInvalidArgument, "UnknownOperationException", "");
  }
  RETURN_IF_ERROR(CheckObject(request));
  Result<Call> prepared = operation == "LookupEvents"
                              ? PrepareLookupEvents(*lookup, request)
                              : PrepareListPublicKeys(public_keys, request, now);
  Call call =
      prepared.ok() ? *std::move(prepared) : RefusedCall(std::string(operation), prepared.status());
  call.event_source = std::string(kCloudTrailEventSource);
  call.read_only = CloudTrailOperationIsReadOnly(operation);
  return call;
}

}  // namespace coffer::api
