#include "api/query.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <nlohmann/json.hpp>
#include <set>

#include "common/validation.h"

namespace coffer::api {
namespace {

Status Malformed(std::string message) {
  return Status(StatusCode::kInvalidArgument, "MalformedQueryString", std::move(message));
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes one name or value of a form body; `offset` locates errors.
Result<std::string> FormDecode(std::string_view text, size_t offset, PlusSign plus) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '+' && plus == PlusSign::kSpace) {
      out.push_back(' ');
    } else if (c == '%') {
      const int hi = i + 1 < text.size() ? HexValue(text[i + 1]) : -1;
      const int lo = i + 2 < text.size() ? HexValue(text[i + 2]) : -1;
      if (hi < 0 || lo < 0) {
        return Malformed("Invalid percent-encoding at offset " + std::to_string(offset + i) +
                         " of the request parameters.");
      }
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  if (!DecodeUtf8(out)) {
    return Malformed("The request parameters are not valid UTF-8 at offset " +
                     std::to_string(offset) + ".");
  }
  return out;
}

// "Name.member.N" or "Name.member.N.Field": N (≥ 1) and the field ("" for the
// first form); false when `key` is not a member of the list `name`.
bool ParseMemberKey(std::string_view key, std::string_view name, size_t& index,
                    std::string& field) {
  std::string prefix = std::string(name) + ".member.";
  if (!key.starts_with(prefix)) return false;
  std::string_view rest = key.substr(prefix.size());
  size_t dot = rest.find('.');
  std::string_view digits = rest.substr(0, dot);
  if (digits.empty() || digits.front() == '0') return false;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), index);
  if (ec != std::errc() || end != digits.data() + digits.size()) return false;
  field = dot == std::string_view::npos ? "" : std::string(rest.substr(dot + 1));
  return true;
}

Status MemberGap(std::string_view name) {
  return Status(StatusCode::kInvalidArgument, "ValidationError",
                "The members of " + std::string(name) + " must be numbered from 1 without gaps (" +
                    std::string(name) + ".member.1, " + std::string(name) + ".member.2, …).");
}

}  // namespace

std::optional<std::string> QueryParams::Get(std::string_view name) const {
  for (const auto& [k, v] : entries_) {
    if (k == name) return v;
  }
  return std::nullopt;
}

Result<QueryParams> ParseQueryParams(std::string_view body, PlusSign plus) {
  std::vector<QueryParams::Entry> entries;
  std::set<std::string, std::less<>> seen;
  size_t offset = 0;
  while (offset <= body.size()) {
    size_t amp = body.find('&', offset);
    if (amp == std::string_view::npos) amp = body.size();
    std::string_view piece = body.substr(offset, amp - offset);
    if (!piece.empty()) {
      size_t eq = piece.find('=');
      std::string_view raw_name = piece.substr(0, eq);
      std::string_view raw_value =
          eq == std::string_view::npos ? std::string_view() : piece.substr(eq + 1);
      ASSIGN_OR_RETURN(std::string name, FormDecode(raw_name, offset, plus));
      ASSIGN_OR_RETURN(
          std::string value,
          FormDecode(raw_value, offset + (eq == std::string_view::npos ? 0 : eq + 1), plus));
      if (name.empty()) {
        return Malformed("A request parameter has no name (offset " + std::to_string(offset) +
                         ").");
      }
      if (!seen.insert(name).second) {
        return Malformed("The request parameter " + name + " is given more than once.");
      }
      entries.emplace_back(std::move(name), std::move(value));
    }
    offset = amp + 1;
  }
  return QueryParams(std::move(entries));
}

Result<std::optional<std::vector<std::string>>> MemberList(const QueryParams& params,
                                                           std::string_view name) {
  std::map<size_t, std::string> members;
  for (const auto& [key, value] : params.entries()) {
    size_t index = 0;
    std::string field;
    if (!ParseMemberKey(key, name, index, field)) continue;
    if (!field.empty()) {
      return Status(StatusCode::kInvalidArgument, "ValidationError",
                    "Unexpected list member parameter " + key + ".");
    }
    members.emplace(index, value);
  }
  if (members.empty()) return std::optional<std::vector<std::string>>();
  if (members.rbegin()->first != members.size()) return MemberGap(name);
  std::vector<std::string> out;
  out.reserve(members.size());
  for (auto& [index, value] : members) out.push_back(std::move(value));
  return std::optional<std::vector<std::string>>(std::move(out));
}

Result<std::optional<std::vector<std::map<std::string, std::string>>>> MemberStructs(
    const QueryParams& params, std::string_view name) {
  std::map<size_t, std::map<std::string, std::string>> members;
  for (const auto& [key, value] : params.entries()) {
    size_t index = 0;
    std::string field;
    if (!ParseMemberKey(key, name, index, field)) continue;
    if (field.empty()) {
      return Status(StatusCode::kInvalidArgument, "ValidationError",
                    "Unexpected list member parameter " + key + ".");
    }
    members[index][field] = value;
  }
  using Out = std::vector<std::map<std::string, std::string>>;
  if (members.empty()) return std::optional<Out>();
  if (members.rbegin()->first != members.size()) return MemberGap(name);
  Out out;
  out.reserve(members.size());
  for (auto& [index, fields] : members) out.push_back(std::move(fields));
  return std::optional<Out>(std::move(out));
}

std::string UrlEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size() * 3);
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~') {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xF]);
    }
  }
  return out;
}

XmlWriter& XmlWriter::Open(std::string_view tag) {
  out_ += '<';
  out_ += tag;
  out_ += '>';
  open_.emplace_back(tag);
  return *this;
}

XmlWriter& XmlWriter::Open(std::string_view tag, std::string_view xmlns) {
  out_ += '<';
  out_ += tag;
  out_ += " xmlns=\"";
  out_ += XmlEscape(xmlns);
  out_ += "\">";
  open_.emplace_back(tag);
  return *this;
}

XmlWriter& XmlWriter::Close() {
  if (open_.empty()) return *this;
  out_ += "</";
  out_ += open_.back();
  out_ += '>';
  open_.pop_back();
  return *this;
}

XmlWriter& XmlWriter::Element(std::string_view tag, std::string_view text) {
  out_ += '<';
  out_ += tag;
  out_ += '>';
  out_ += XmlEscape(text);
  out_ += "</";
  out_ += tag;
  out_ += '>';
  return *this;
}

XmlWriter& XmlWriter::Empty(std::string_view tag) {
  out_ += '<';
  out_ += tag;
  out_ += "/>";
  return *this;
}

std::string XmlWriter::Finish() && {
  while (!open_.empty()) Close();
  return std::move(out_);
}

std::string QueryReply(std::string_view operation, std::string_view xmlns,
                       std::string_view request_id, const std::function<void(XmlWriter&)>& result) {
  XmlWriter w;
  w.Open(std::string(operation) + "Response", xmlns);
  if (result) {
    w.Open(std::string(operation) + "Result");
    result(w);
    w.Close();
  }
  w.Open("ResponseMetadata").Element("RequestId", request_id).Close();
  return std::move(w).Finish();
}

// ---- errors ---------------------------------------------------------------------------

namespace {

struct ErrorRow {
  std::string_view code;
  int http_status;
};

// IAM's and STS's modelled errors (iam-service-2, sts-service-2) and AWS's
// common Query errors, with their HTTP status.
constexpr std::array<ErrorRow, 31> kErrors = {{
    {"AccessDenied", 403},
    {"ConcurrentModification", 409},
    {"DeleteConflict", 409},
    {"EntityAlreadyExists", 409},
    {"EntityTemporarilyUnmodifiable", 409},
    {"ExpiredToken", 400},
    {"ExpiredTokenException", 400},
    {"IncompleteSignature", 400},
    {"InternalFailure", 500},
    {"InvalidAction", 400},
    {"InvalidClientTokenId", 403},
    {"InvalidInput", 400},
    {"InvalidParameterCombination", 400},
    {"InvalidParameterValue", 400},
    {"LimitExceeded", 409},
    {"MalformedPolicyDocument", 400},
    {"MalformedQueryString", 404},
    {"MissingAction", 400},
    {"MissingAuthenticationToken", 403},
    {"MissingParameter", 400},
    {"NoSuchEntity", 404},
    {"OptInRequired", 403},
    {"PackedPolicyTooLarge", 400},
    {"RegionDisabledException", 403},
    {"RequestExpired", 400},
    {"ServiceFailure", 500},
    {"ServiceUnavailable", 503},
    {"SignatureDoesNotMatch", 403},
    {"Throttling", 400},
    {"UnmodifiableEntity", 400},
    {"ValidationError", 400},
}};

// The JSON services' names of errors the pipeline may raise, in Query's form
// (aws-protocols.md, "Authentication errors"; policy/ names AccessDenied and
// MalformedPolicyDocument as KMS does).
constexpr std::array<std::pair<std::string_view, std::string_view>, 9> kRenames = {{
    {"AccessDeniedException", "AccessDenied"},
    {"MalformedPolicyDocumentException", "MalformedPolicyDocument"},
    {"ValidationException", "ValidationError"},
    {"LimitExceededException", "LimitExceeded"},
    {"UnrecognizedClientException", "InvalidClientTokenId"},
    {"InvalidSignatureException", "SignatureDoesNotMatch"},
    {"ExpiredTokenException", "ExpiredToken"},
    {"IncompleteSignatureException", "IncompleteSignature"},
    {"MissingAuthenticationTokenException", "MissingAuthenticationToken"},
}};

constexpr std::string_view kInternalFailureMessage =
    "The request processing has failed because of an unknown error, exception or failure.";
constexpr std::string_view kUnavailableMessage =
    "The request has failed due to a temporary failure of the server.";

bool IsHidden(const Status& status) {
  return status.code() == StatusCode::kInternal || status.code() == StatusCode::kDataLoss ||
         status.code() == StatusCode::kUnavailable;
}

}  // namespace

std::string QueryErrorCode(const Status& status) {
  if (status.code() == StatusCode::kUnavailable) return "ServiceUnavailable";
  if (IsHidden(status)) return "InternalFailure";
  const std::string& name = status.error_name();
  if (!name.empty()) {
    for (const auto& [from, to] : kRenames) {
      if (name == from) return std::string(to);
    }
    return name;
  }
  switch (status.code()) {
    case StatusCode::kNotFound:
      return "NoSuchEntity";
    case StatusCode::kAlreadyExists:
      return "EntityAlreadyExists";
    case StatusCode::kPermissionDenied:
      return "AccessDenied";
    case StatusCode::kUnauthenticated:
      return "InvalidClientTokenId";
    case StatusCode::kResourceExhausted:
      return "LimitExceeded";
    default:
      return "ValidationError";
  }
}

int QueryErrorHttpStatus(std::string_view code) {
  for (const ErrorRow& row : kErrors) {
    if (row.code == code) return row.http_status;
  }
  return 400;
}

std::string QueryErrorMessage(const Status& status) {
  if (status.code() == StatusCode::kUnavailable) return std::string(kUnavailableMessage);
  if (IsHidden(status)) return std::string(kInternalFailureMessage);
  return status.message();
}

net::HttpResponse QueryErrorResponse(const Status& status, std::string_view xmlns,
                                     std::string_view request_id) {
  const std::string code = QueryErrorCode(status);
  const int http_status = QueryErrorHttpStatus(code);
  const std::string message = QueryErrorMessage(status);
  XmlWriter w;
  w.Open("ErrorResponse", xmlns)
      .Open("Error")
      .Element("Type", http_status >= 500 ? "Receiver" : "Sender")
      .Element("Code", code)
      .Element("Message", message)
      .Close()
      .Element("RequestId", request_id);
  net::HttpResponse response;
  response.status = http_status;
  response.SetHeader("Content-Type", "text/xml");
  response.SetHeader("x-amzn-RequestId", request_id);
  response.body = std::move(w).Finish();
  return response;
}

// ---- actions --------------------------------------------------------------------------------

Status UnknownAction(std::string_view action, std::string_view version) {
  return Status(
      StatusCode::kInvalidArgument, "InvalidAction",
      "Could not find operation " + std::string(action) + " for version " + std::string(version));
}

Result<std::string> QueryAction(const QueryParams& params, std::string_view api_version) {
  std::optional<std::string> action = params.Get("Action");
  if (!action || action->empty()) {
    return Status(StatusCode::kInvalidArgument, "MissingAction", "Missing Action");
  }
  std::optional<std::string> version = params.Get("Version");
  if (version && *version != api_version) return UnknownAction(*action, *version);
  return std::move(*action);
}

// ---- reading parameters -------------------------------------------------------------------

std::string MemberName(std::string_view parameter) {
  std::string out(parameter);
  if (!out.empty() && out[0] >= 'A' && out[0] <= 'Z')
    out[0] = static_cast<char>(out[0] - 'A' + 'a');
  return out;
}

std::string QueryRequestParameters(const QueryParams& params,
                                   const std::vector<std::string_view>& names) {
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  for (std::string_view name : names) {
    if (name == "Tags") {  // a list of structures: [{"key": …, "value": …}]
      auto tags = MemberStructs(params, name);
      if (!tags.ok() || !*tags) continue;
      nlohmann::ordered_json list = nlohmann::ordered_json::array();
      for (auto& fields : **tags) {
        nlohmann::ordered_json tag = nlohmann::ordered_json::object();
        for (auto& [field, value] : fields) tag[MemberName(field)] = value;
        list.push_back(std::move(tag));
      }
      out["tags"] = std::move(list);
      continue;
    }
    if (name == "TagKeys") {
      auto keys = MemberList(params, name);
      if (!keys.ok() || !*keys) continue;
      out["tagKeys"] = **keys;
      continue;
    }
    std::optional<std::string> value = params.Get(name);
    if (!value) continue;
    if (name == "SetAsDefault" || name == "OnlyAttached") {
      if (*value == "true" || *value == "false") {
        out[MemberName(name)] = *value == "true";
        continue;
      }
    }
    if (name == "MaxItems" || name == "MaxSessionDuration" || name == "DurationSeconds") {
      int64_t n = 0;
      auto [end, ec] = std::from_chars(value->data(), value->data() + value->size(), n);
      if (ec == std::errc() && end == value->data() + value->size()) {
        out[MemberName(name)] = n;
        continue;
      }
    }
    out[MemberName(name)] = std::move(*value);
  }
  if (out.empty()) return "null";
  return out.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

std::string QueryReader::Required(std::string_view name) {
  std::optional<std::string> value = params_.Get(name);
  if (!value) {
    errors_.AddNull(MemberName(name));
    return "";
  }
  return std::move(*value);
}

std::optional<std::string> QueryReader::Optional(std::string_view name) const {
  return params_.Get(name);
}

std::optional<int> QueryReader::OptionalInt(std::string_view name) {
  std::optional<std::string> text = params_.Get(name);
  if (!text) return std::nullopt;
  int value = 0;
  const char* begin = text->data();
  const char* end = begin + text->size();
  if (begin != end && *begin == '+') ++begin;
  auto [ptr, ec] = std::from_chars(begin, end, value);
  if (text->empty() || ec != std::errc() || ptr != end) {
    errors_.Add(MemberName(name), *text, "Member must be an integer");
    return std::nullopt;
  }
  return value;
}

std::optional<bool> QueryReader::OptionalBool(std::string_view name) {
  std::optional<std::string> text = params_.Get(name);
  if (!text) return std::nullopt;
  if (*text == "true") return true;
  if (*text == "false") return false;
  errors_.Add(MemberName(name), *text, "Member must be a boolean");
  return std::nullopt;
}

}  // namespace coffer::api
