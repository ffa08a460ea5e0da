#pragma once
// The AWS Query protocol (IAM, STS): requests are application/x-www-form-urlencoded
// parameters (Action=CreateUser&Version=2010-05-08&UserName=…), in a POST's body or
// in the URL (a GET, or a POST without a body: a presigned URL), lists are
// flattened as Name.member.N (Tags.member.1.Key=…), replies and errors are XML
// (aws-protocols.md, "Query (XML) responses").
//
// This file holds what the IAM and STS codecs share: the parameter parser, the
// member-list helpers, a small XML writer, the reply envelope and the error
// reply with its HTTP status. Pure functions; safe from any thread.
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "common/validation.h"
#include "common/xml.h"
#include "net/http.h"

namespace coffer::api {

// The parameters of one request, in the order they came.
class QueryParams {
 public:
  using Entry = std::pair<std::string, std::string>;

  QueryParams() = default;
  explicit QueryParams(std::vector<Entry> entries) : entries_(std::move(entries)) {}

  const std::vector<Entry>& entries() const { return entries_; }
  // The value of `name`, nullopt when absent (an empty value is present).
  std::optional<std::string> Get(std::string_view name) const;
  bool Has(std::string_view name) const { return Get(name).has_value(); }

 private:
  std::vector<Entry> entries_;
};

// What a '+' means: a space in an application/x-www-form-urlencoded body; itself
// in a URL's query string, as SigV4 canonicalizes it (so that the values a
// request runs with are those its signature covers).
enum class PlusSign { kSpace, kLiteral };

// Parses an application/x-www-form-urlencoded body (or, with PlusSign::kLiteral,
// a URL's query string): pairs separated by '&' (empty pieces are skipped),
// name and value split at the first '=' (a piece without one has an empty
// value), %XX is a byte. Strict: a '%' not followed by two hex digits, a name
// given twice, an empty name or a result that is not UTF-8 is refused with
// "MalformedQueryString".
Result<QueryParams> ParseQueryParams(std::string_view body, PlusSign plus = PlusSign::kSpace);

// The values of Name.member.1, Name.member.2, … (the list "Name"), in order of
// N; nullopt when the list is absent. N must run 1, 2, … without gaps.
Result<std::optional<std::vector<std::string>>> MemberList(const QueryParams& params,
                                                           std::string_view name);
// The structures of Name.member.N.Field (Tags.member.1.Key, Tags.member.1.Value),
// each a map Field → value, in order of N; nullopt when the list is absent.
Result<std::optional<std::vector<std::map<std::string, std::string>>>> MemberStructs(
    const QueryParams& params, std::string_view name);

// Percent-encodes every byte but A-Z a-z 0-9 - _ . ~ (upper-case hex): how IAM
// returns policy documents, which clients decode with a plain URL unquote.
std::string UrlEncode(std::string_view text);

using coffer::XmlEscape;  // common/xml.h

// Writes compact XML. Elements opened are closed in reverse order by Close()
// or by Finish().
class XmlWriter {
 public:
  XmlWriter& Open(std::string_view tag);
  XmlWriter& Open(std::string_view tag, std::string_view xmlns);
  XmlWriter& Close();
  // <tag>escaped text</tag>
  XmlWriter& Element(std::string_view tag, std::string_view text);
  // <tag/>
  XmlWriter& Empty(std::string_view tag);
  std::string Finish() &&;

 private:
  std::string out_;
  std::vector<std::string> open_;
};

// The reply to a successful call:
// <OpResponse xmlns="…"><OpResult>…</OpResult><ResponseMetadata><RequestId>…
// </RequestId></ResponseMetadata></OpResponse>. Without `result` (operations
// with no output) there is no OpResult element.
std::string QueryReply(std::string_view operation, std::string_view xmlns,
                       std::string_view request_id,
                       const std::function<void(XmlWriter&)>& result = nullptr);

// The Query error code for a Status: its error name with the JSON services'
// names translated (AccessDeniedException → AccessDenied,
// MalformedPolicyDocumentException → MalformedPolicyDocument, …); errors without
// a name by their StatusCode; internal failures are "InternalFailure".
std::string QueryErrorCode(const Status& status);
// The message an error reply shows for a Status: its own, or AWS's generic text for
// internal failures and unavailability (whose messages may name internals).
std::string QueryErrorMessage(const Status& status);
// The HTTP status of a Query error code (NoSuchEntity 404, EntityAlreadyExists
// 409, AccessDenied 403, …); 400 for codes it does not know.
int QueryErrorHttpStatus(std::string_view code);

// The whole error reply: <ErrorResponse xmlns="…"><Error><Type>Sender|Receiver
// </Type><Code>…</Code><Message>…</Message></Error><RequestId>…</RequestId>
// </ErrorResponse>, with its HTTP status, Content-Type text/xml and
// x-amzn-RequestId. The message of an internal failure is not shown (the
// caller logs it): AWS's generic text is.
net::HttpResponse QueryErrorResponse(const Status& status, std::string_view xmlns,
                                     std::string_view request_id);

// The Action of a request to an API of version `api_version`: MissingAction
// ("Missing Action") without one; InvalidAction when Version is given and is
// not `api_version`.
Result<std::string> QueryAction(const QueryParams& params, std::string_view api_version);
// InvalidAction "Could not find operation <action> for version <version>".
Status UnknownAction(std::string_view action, std::string_view version);

// CloudTrail's requestParameters of a Query request: each of `names` that the request
// gives, under its lowerCamelCase name (MemberName), in the order of `names`; the
// integer parameters (MaxItems, MaxSessionDuration, DurationSeconds) as JSON numbers
// when they are integers, every other value as a string. A JSON object text, or "null"
// when the request gives none of them (as CloudTrail records a call without
// parameters). The codecs name no secret parameter (none of IAM's or STS's requests
// carries one).
std::string QueryRequestParameters(const QueryParams& params,
                                   const std::vector<std::string_view>& names);

// Query validation helpers for the codecs.
// The camelCase member name AWS uses in ValidationError texts ("UserName" → "userName").
std::string MemberName(std::string_view parameter);
// Reads optional parameters and notes missing required ones, for one request;
// status() is AWS's "N validation error(s) detected: Value null at 'userName'
// failed to satisfy constraint: Member must not be null; …", or a bad integer,
// with whatever else was added to errors() (the members' constraints).
class QueryReader {
 public:
  explicit QueryReader(const QueryParams& params) : params_(params) {}
  std::string Required(std::string_view name);  // "" when missing (noted)
  std::optional<std::string> Optional(std::string_view name) const;
  std::optional<int> OptionalInt(std::string_view name);  // nullopt when absent or bad (noted)
  // "true" or "false" (as the SDKs send booleans); nullopt when absent or bad (noted).
  std::optional<bool> OptionalBool(std::string_view name);
  ValidationErrors& errors() { return errors_; }
  Status status() const { return errors_.ToStatus(); }

 private:
  const QueryParams& params_;
  ValidationErrors errors_{"ValidationError"};
};

}  // namespace coffer::api
