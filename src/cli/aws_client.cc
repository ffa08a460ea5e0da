#include "cli/aws_client.h"

#include <string.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <nlohmann/json.hpp>

#ifndef COFFER_VERSION
#define COFFER_VERSION "0"
#endif

namespace coffer::cli {
namespace {

constexpr std::string_view kUserAgent = "coffer-cli/" COFFER_VERSION;

// botocore's percent_encode: only A-Za-z0-9-_.~ stay literal.
std::string PercentEncode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  return out;
}

Status ServiceError(int http_status, std::string code, std::string message) {
  StatusCode status_code = StatusCode::kInvalidArgument;
  if (http_status == 503) {
    status_code = StatusCode::kUnavailable;
  } else if (http_status >= 500) {
    status_code = StatusCode::kInternal;
  }
  if (code.empty()) code = std::to_string(http_status);
  return Status(status_code, std::move(code), std::move(message));
}

// botocore: "com.amazon.coral.service#AccessDeniedException:http://…" -> "AccessDeniedException".
std::string ErrorCode(std::string_view type) {
  type = type.substr(0, type.find(':'));
  size_t hash = type.rfind('#');
  if (hash != std::string_view::npos) type.remove_prefix(hash + 1);
  return std::string(type);
}

std::string_view ReasonPhrase(int status) {
  switch (status) {
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 413:
      return "Request Entity Too Large";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "";
  }
}

void AppendUtf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

std::string XmlDecode(std::string_view s) {
  std::string out;
  while (!s.empty()) {
    size_t amp = s.find('&');
    out += s.substr(0, amp);
    if (amp == std::string_view::npos) break;
    s.remove_prefix(amp);
    size_t semi = s.find(';');
    std::string_view entity = semi == std::string_view::npos ? "" : s.substr(1, semi - 1);
    std::optional<uint32_t> cp;
    if (entity == "amp") {
      cp = '&';
    } else if (entity == "lt") {
      cp = '<';
    } else if (entity == "gt") {
      cp = '>';
    } else if (entity == "quot") {
      cp = '"';
    } else if (entity == "apos") {
      cp = '\'';
    } else if (entity.size() > 1 && entity[0] == '#') {
      bool hex = entity[1] == 'x' || entity[1] == 'X';
      std::string_view digits = entity.substr(hex ? 2 : 1);
      uint32_t v = 0;
      auto [end, ec] =
          std::from_chars(digits.data(), digits.data() + digits.size(), v, hex ? 16 : 10);
      if (ec == std::errc() && end == digits.data() + digits.size() && !digits.empty() &&
          v <= 0x10FFFF) {
        cp = v;
      }
    }
    if (cp) {
      AppendUtf8(out, *cp);
      s.remove_prefix(semi + 1);
    } else {
      out += '&';
      s.remove_prefix(1);
    }
  }
  return out;
}

}  // namespace

net::HttpRequest BuildJsonRequest(const Endpoint& endpoint, std::string_view target,
                                  std::string_view body) {
  net::HttpRequest request;
  request.method = "POST";
  request.target = endpoint.path;
  request.headers = {{"Host", endpoint.HostHeader()},
                     {"Content-Type", std::string(kJsonContentType)},
                     {"X-Amz-Target", std::string(target)},
                     {"User-Agent", std::string(kUserAgent)}};
  request.body = std::string(body);
  return request;
}

net::HttpRequest BuildQueryRequest(const Endpoint& endpoint, std::string_view action,
                                   std::string_view version, const QueryParams& params) {
  net::HttpRequest request;
  request.method = "POST";
  request.target = endpoint.path;
  request.headers = {{"Host", endpoint.HostHeader()},
                     {"Content-Type", std::string(kQueryContentType)},
                     {"User-Agent", std::string(kUserAgent)}};
  request.body = "Action=" + PercentEncode(action) + "&Version=" + PercentEncode(version);
  for (const auto& [key, value] : params) {
    request.body += "&" + PercentEncode(key) + "=" + PercentEncode(value);
  }
  return request;
}

Status SignRequest(net::HttpRequest& request, const net::sigv4::Credentials& credentials,
                   std::string_view region, std::string_view service, TimePoint now) {
  // The set the aws CLI signs (aws-protocols.md): content-type, host, x-amz-date,
  // x-amz-target when present, x-amz-security-token with a session token.
  std::vector<std::string> signed_headers = {"content-type", "host", "x-amz-date"};
  if (request.Header("X-Amz-Target")) signed_headers.push_back("x-amz-target");
  if (!credentials.session_token.empty()) signed_headers.push_back("x-amz-security-token");

  std::vector<net::sigv4::HeaderField> fields;
  fields.reserve(request.headers.size());
  for (const net::HttpHeader& h : request.headers) fields.push_back({h.name, h.value});
  net::sigv4::HttpRequestView view;
  view.method = request.method;
  view.raw_path = request.Path();
  view.raw_query = request.Query();
  view.headers = fields;
  view.body = AsBytes(request.body);
  auto added = net::sigv4::Sign(view, credentials, region, service, now, signed_headers);
  if (!added.ok()) {
    // Without an error name: not the service's error.
    return Status(added.status().code(), "Could not sign the request: " + added.status().message());
  }
  for (net::sigv4::Header& h : *added) {
    auto same = [&h](const net::HttpHeader& x) { return net::HeaderNameEquals(x.name, h.name); };
    request.headers.erase(std::remove_if(request.headers.begin(), request.headers.end(), same),
                          request.headers.end());
    request.headers.push_back({std::move(h.name), std::move(h.value)});
  }
  return Status::Ok();
}

Status JsonErrorStatus(const net::HttpResponse& response) {
  std::string code;
  std::string message;
  nlohmann::json body = nlohmann::json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) {
    message = response.body;  // botocore: an unreadable body is the message
  } else if (body.is_object()) {
    for (const char* key : {"message", "Message"}) {
      auto it = body.find(key);
      if (it != body.end() && it->is_string()) {
        message = it->get<std::string>();
        break;
      }
    }
    auto type = body.find("__type");
    if (type != body.end() && type->is_string()) code = ErrorCode(type->get<std::string>());
  }
  if (code.empty()) {
    if (auto header = response.Header("X-Amzn-ErrorType")) code = ErrorCode(*header);
  }
  return ServiceError(response.status, std::move(code), std::move(message));
}

Status QueryErrorStatus(const net::HttpResponse& response) {
  std::optional<std::string> code = XmlElementText(response.body, "Code");
  if (!code) {
    return ServiceError(response.status, "", std::string(ReasonPhrase(response.status)));
  }
  return ServiceError(response.status, *code,
                      XmlElementText(response.body, "Message").value_or(""));
}

std::string ServiceErrorText(std::string_view operation, const Status& status) {
  return "An error occurred (" + status.error_name() + ") when calling the " +
         std::string(operation) + " operation: " + status.message();
}

std::optional<std::string> XmlElementText(std::string_view xml, std::string_view name) {
  std::string open = "<" + std::string(name);
  size_t pos = 0;
  while ((pos = xml.find(open, pos)) != std::string_view::npos) {
    size_t after = pos + open.size();
    if (after < xml.size() && (xml[after] == '>' || xml[after] == ' ' || xml[after] == '/' ||
                               xml[after] == '\t' || xml[after] == '\n' || xml[after] == '\r')) {
      size_t end_of_tag = xml.find('>', after);
      if (end_of_tag == std::string_view::npos) return std::nullopt;
      if (xml[end_of_tag - 1] == '/') return std::string();  // <Name/>
      std::string close = "</" + std::string(name) + ">";
      size_t end = xml.find(close, end_of_tag + 1);
      if (end == std::string_view::npos) return std::nullopt;
      return XmlDecode(xml.substr(end_of_tag + 1, end - end_of_tag - 1));
    }
    pos = after;
  }
  return std::nullopt;
}

AwsClient::AwsClient(HttpTransport& transport, const Clock& clock, Endpoint endpoint,
                     std::string region, net::sigv4::Credentials credentials)
    : transport_(transport),
      clock_(clock),
      endpoint_(std::move(endpoint)),
      region_(std::move(region)),
      credentials_(std::move(credentials)) {}

Result<net::HttpResponse> AwsClient::SignAndSend(net::HttpRequest& request,
                                                 std::string_view service) {
  Status signed_ok = SignRequest(request, credentials_, region_, service, clock_.Now());
  Result<net::HttpResponse> response =
      signed_ok.ok() ? transport_.Send(endpoint_, request) : Result<net::HttpResponse>(signed_ok);
  WipeString(request.body);
  return response;
}

Result<std::string> AwsClient::CallJson(std::string_view service, std::string_view target_prefix,
                                        std::string_view operation, std::string_view body) {
  net::HttpRequest request =
      BuildJsonRequest(endpoint_, std::string(target_prefix) + "." + std::string(operation), body);
  ASSIGN_OR_RETURN(net::HttpResponse response, SignAndSend(request, service));
  if (response.status < 200 || response.status > 299) {
    Status error = JsonErrorStatus(response);
    WipeString(response.body);
    return error;
  }
  if (response.body.empty()) return std::string("{}");
  return std::move(response.body);
}

Result<std::string> AwsClient::CallQuery(std::string_view service, std::string_view operation,
                                         std::string_view version, const QueryParams& params) {
  net::HttpRequest request = BuildQueryRequest(endpoint_, operation, version, params);
  ASSIGN_OR_RETURN(net::HttpResponse response, SignAndSend(request, service));
  if (response.status < 200 || response.status > 299) return QueryErrorStatus(response);
  return std::move(response.body);
}

Result<std::string> GetCallerAccount(AwsClient& client) {
  ASSIGN_OR_RETURN(std::string xml, client.CallQuery("sts", "GetCallerIdentity", "2011-06-15", {}));
  std::optional<std::string> account = XmlElementText(xml, "Account");
  if (!account || account->size() != 12 ||
      !std::all_of(account->begin(), account->end(),
                   [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; })) {
    return DataLossError("The GetCallerIdentity answer from " + client.endpoint().url +
                         " names no account");
  }
  return *account;
}

}  // namespace coffer::cli
