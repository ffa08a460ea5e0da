#include "net/sigv4.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

#include "common/text.h"
#include "crypto/hash.h"

namespace coffer::net::sigv4 {
namespace {

using std::chrono::seconds;

constexpr std::string_view kTerminator = "aws4_request";
constexpr std::string_view kS3 = "s3";
constexpr std::string_view kSignatureMismatch =
    "The request signature we calculated does not match the signature you provided. Check your "
    "AWS Secret Access Key and signing method. Consult the service documentation for details.";

// Query parameters of a pre-signed URL.
constexpr std::string_view kQueryAlgorithm = "X-Amz-Algorithm";
constexpr std::string_view kQueryCredential = "X-Amz-Credential";
constexpr std::string_view kQueryDate = "X-Amz-Date";
constexpr std::string_view kQueryExpires = "X-Amz-Expires";
constexpr std::string_view kQuerySignedHeaders = "X-Amz-SignedHeaders";
constexpr std::string_view kQuerySignature = "X-Amz-Signature";
constexpr std::string_view kQuerySecurityToken = "X-Amz-Security-Token";

// ---------------------------------------------------------------------------
// Errors.

struct ErrorInfo {
  AuthErrorCode code;
  std::string_view name;
  StatusCode status_code;
};
constexpr std::array<ErrorInfo, 7> kErrors = {{
    {AuthErrorCode::kMissingAuthenticationToken, "MissingAuthenticationToken",
     StatusCode::kUnauthenticated},
    {AuthErrorCode::kIncompleteSignature, "IncompleteSignature", StatusCode::kInvalidArgument},
    {AuthErrorCode::kSignatureDoesNotMatch, "SignatureDoesNotMatch", StatusCode::kUnauthenticated},
    {AuthErrorCode::kSignatureExpired, "SignatureExpired", StatusCode::kUnauthenticated},
    {AuthErrorCode::kSignatureNotYetCurrent, "SignatureNotYetCurrent",
     StatusCode::kUnauthenticated},
    {AuthErrorCode::kRequestExpired, "RequestExpired", StatusCode::kUnauthenticated},
    {AuthErrorCode::kContentSha256Mismatch, "XAmzContentSHA256Mismatch",
     StatusCode::kInvalidArgument},
}};

Status AuthError(AuthErrorCode code, std::string message) {
  for (const ErrorInfo& e : kErrors) {
    if (e.code == code) return Status(e.status_code, std::string(e.name), std::move(message));
  }
  return InternalError("unknown SigV4 error code");
}

Status SignatureMismatch() {
  return AuthError(AuthErrorCode::kSignatureDoesNotMatch, std::string(kSignatureMismatch));
}

// ---------------------------------------------------------------------------
// Text helpers. HTTP header names and SigV4 keywords are ASCII; no locale is involved.

char LowerAscii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = LowerAscii(c);
  return out;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (LowerAscii(a[i]) != LowerAscii(b[i])) return false;
  }
  return true;
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  parts.reserve(static_cast<size_t>(std::count(s.begin(), s.end(), sep)) + 1);
  size_t start = 0;
  while (true) {
    size_t end = s.find(sep, start);
    if (end == std::string_view::npos) {
      parts.push_back(s.substr(start));
      return parts;
    }
    parts.push_back(s.substr(start, end - start));
    start = end + 1;
  }
}

std::string Join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out += sep;
    out += parts[i];
  }
  return out;
}

// RFC 3986 unreserved characters: the only ones SigV4 leaves unescaped.
bool IsUnreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.' || c == '~';
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool IsHexDigest(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) { return HexValue(c) >= 0; });
}

void AppendEscaped(std::string& out, unsigned char c) {
  static constexpr char kUpperHex[] = "0123456789ABCDEF";
  out += '%';
  out += kUpperHex[c >> 4];
  out += kUpperHex[c & 0xF];
}

// Escapes every byte but the unreserved ones (and '/' when `keep_slash`), upper-case %XX.
std::string UriEncode(std::string_view s, bool keep_slash) {
  std::string out;
  out.reserve(s.size());
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (IsUnreserved(c) || (keep_slash && c == '/')) {
      out += ch;
    } else {
      AppendEscaped(out, c);
    }
  }
  return out;
}

// Decodes %XX escapes. A '%' that does not start a valid escape stays a literal '%'
// (it is then re-encoded as %25); '+' is a literal '+', not a space, as in SigV4.
std::string UriDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && HexValue(s[i + 1]) >= 0 && HexValue(s[i + 2]) >= 0) {
      out += static_cast<char>(HexValue(s[i + 1]) * 16 + HexValue(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

struct QueryParam {
  std::string key;  // decoded
  std::string value;
};

// Splits on '&' and the first '=' and decodes; empty components are skipped.
std::vector<QueryParam> DecodeQuery(std::string_view raw_query) {
  std::vector<QueryParam> params;
  if (raw_query.empty()) return params;
  for (std::string_view piece : Split(raw_query, '&')) {
    if (piece.empty()) continue;
    size_t eq = piece.find('=');
    if (eq == std::string_view::npos) {
      params.push_back({UriDecode(piece), ""});
    } else {
      params.push_back({UriDecode(piece.substr(0, eq)), UriDecode(piece.substr(eq + 1))});
    }
  }
  return params;
}

// The first value of a query parameter (names are case-sensitive), as AWS uses.
const std::string* FindParam(const std::vector<QueryParam>& params, std::string_view key) {
  for (const QueryParam& p : params) {
    if (p.key == key) return &p.value;
  }
  return nullptr;
}

// The first header of that name (any case).
std::optional<std::string_view> FindHeader(std::span<const HeaderField> headers,
                                           std::string_view name) {
  for (const HeaderField& h : headers) {
    if (EqualsIgnoreCase(h.name, name)) return h.value;
  }
  return std::nullopt;
}

std::vector<std::string> SortedUniqueLower(std::span<const std::string> names) {
  std::vector<std::string> out;
  out.reserve(names.size());
  for (const std::string& n : names) out.push_back(Lower(n));
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

// ---------------------------------------------------------------------------
// Time.

TimePoint MakeTime(int year, int month, int day, int hour, int minute, int second, bool& ok) {
  using namespace std::chrono;
  year_month_day ymd{std::chrono::year{year}, std::chrono::month{static_cast<unsigned>(month)},
                     std::chrono::day{static_cast<unsigned>(day)}};
  // TimePoint counts nanoseconds in 64 bits (1677-09-21 to 2262-04-11): a year outside
  // [1678, 2261] would overflow it (UB, and in practice another date than the one signed),
  // and within it Verify may still add a week of X-Amz-Expires. No real request is there.
  ok = ymd.ok() && year >= 1678 && year <= 2261 && hour >= 0 && hour <= 23 && minute >= 0 &&
       minute <= 59 && second >= 0 && second <= 59;
  if (!ok) return TimePoint();
  sys_seconds t = sys_days(ymd) + hours(hour) + minutes(minute) + std::chrono::seconds(second);
  return time_point_cast<Duration>(t);
}

int Digits(std::string_view s, size_t pos, size_t n) {
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) v = v * 10 + (s[i] - '0');
  return v;
}

// "20150830T123600Z" (ISO 8601 basic format, UTC), the form SigV4 signs.
std::optional<TimePoint> ParseAmzDate(std::string_view s) {
  if (s.size() != 16 || s[8] != 'T' || s[15] != 'Z') return std::nullopt;
  for (size_t i : {0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14}) {
    if (!IsDigit(s[i])) return std::nullopt;
  }
  bool ok = false;
  TimePoint t = MakeTime(Digits(s, 0, 4), Digits(s, 4, 2), Digits(s, 6, 2), Digits(s, 9, 2),
                         Digits(s, 11, 2), Digits(s, 13, 2), ok);
  if (!ok) return std::nullopt;
  return t;
}

// An HTTP Date header: "Sun, 06 Nov 1994 08:49:37 GMT" (RFC 9110 IMF-fixdate) or the
// RFC 2822 form with a zero offset, "Sun, 06 Nov 1994 08:49:37 -0000", which botocore's
// email.utils.formatdate sends.
std::optional<TimePoint> ParseHttpDate(std::string_view s) {
  static constexpr std::array<std::string_view, 12> kMonths = {
      "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  s = TrimSpace(s);
  size_t comma = s.find(',');
  if (comma != std::string_view::npos) s = TrimSpace(s.substr(comma + 1));
  std::vector<std::string_view> tokens;
  for (std::string_view t : Split(s, ' ')) {
    if (!t.empty()) tokens.push_back(t);
  }
  if (tokens.size() != 5) return std::nullopt;
  std::string_view day = tokens[0], mon = tokens[1], year = tokens[2], hms = tokens[3],
                   zone = tokens[4];
  if (day.empty() || day.size() > 2 || !std::all_of(day.begin(), day.end(), IsDigit)) {
    return std::nullopt;
  }
  int month = 0;
  for (size_t i = 0; i < kMonths.size(); ++i) {
    if (mon == kMonths[i]) month = static_cast<int>(i) + 1;
  }
  if (month == 0) return std::nullopt;
  if (year.size() != 4 || !std::all_of(year.begin(), year.end(), IsDigit)) return std::nullopt;
  if (hms.size() != 8 || hms[2] != ':' || hms[5] != ':') return std::nullopt;
  for (size_t i : {0, 1, 3, 4, 6, 7}) {
    if (!IsDigit(hms[i])) return std::nullopt;
  }
  if (zone != "GMT" && zone != "UTC" && zone != "UT" && zone != "Z" && zone != "+0000" &&
      zone != "-0000") {
    return std::nullopt;
  }
  bool ok = false;
  TimePoint t = MakeTime(Digits(year, 0, 4), month, Digits(day, 0, day.size()), Digits(hms, 0, 2),
                         Digits(hms, 3, 2), Digits(hms, 6, 2), ok);
  if (!ok) return std::nullopt;
  return t;
}

TimePoint WholeSeconds(TimePoint t) {
  return std::chrono::time_point_cast<Duration>(std::chrono::floor<seconds>(t));
}

// ---------------------------------------------------------------------------
// Signing key.

// Wipes a byte string that held key material before it is freed.
void Wipe(Bytes& b) {
  volatile uint8_t* p = b.data();
  for (size_t i = 0; i < b.size(); ++i) p[i] = 0;
}

crypto::SecretBytes HmacStep(const crypto::SecretBytes& key, std::string_view data) {
  Bytes mac = crypto::HmacSha256(crypto::RevealSecret(key), AsBytes(data));
  crypto::SecretBytes out{ByteView(mac)};
  Wipe(mac);
  return out;
}

// ---------------------------------------------------------------------------
// Parsing.

// Rule 6 of AWS's auth error ordering: the Authorization header.
Status ParseAuthorizationHeader(const HttpRequestView& request, std::string_view header,
                                ParsedSignature& parsed, std::string& credential,
                                std::string& signed_headers, std::string& date) {
  std::string_view value = TrimSpace(header);
  size_t space = value.find(' ');
  std::string_view algorithm = value.substr(0, space);
  std::string_view rest = space == std::string_view::npos ? "" : value.substr(space + 1);
  if (algorithm != kAlgorithm) {
    return AuthError(AuthErrorCode::kIncompleteSignature,
                     "Unsupported AWS 'algorithm': '" + std::string(algorithm) + "'.");
  }
  std::optional<std::string_view> credential_param, signature_param, signed_headers_param;
  for (std::string_view piece : Split(rest, ',')) {
    std::string_view param = TrimSpace(piece);
    if (param.empty()) continue;
    size_t eq = param.find('=');
    if (eq == std::string_view::npos) {
      return AuthError(AuthErrorCode::kIncompleteSignature,
                       "'" + std::string(param) +
                           "' not a valid key=value pair (missing equal-sign) in Authorization "
                           "header: '" +
                           std::string(value) + "'.");
    }
    std::string_view key = param.substr(0, eq);
    std::string_view v = param.substr(eq + 1);
    // A repeated key: the last one counts, as at AWS.
    if (key == "Credential") credential_param = v;
    if (key == "Signature") signature_param = v;
    if (key == "SignedHeaders") signed_headers_param = v;
  }
  std::optional<std::string_view> date_header = FindHeader(request.headers, "x-amz-date");
  if (!date_header) date_header = FindHeader(request.headers, "date");

  std::string missing;
  auto require = [&missing](bool present, std::string_view message) {
    if (present) return;
    missing += message;
    missing += ' ';
  };
  require(credential_param.has_value(), "Authorization header requires 'Credential' parameter.");
  require(signature_param.has_value(), "Authorization header requires 'Signature' parameter.");
  require(signed_headers_param.has_value(),
          "Authorization header requires 'SignedHeaders' parameter.");
  require(date_header.has_value(),
          "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.");
  if (!missing.empty()) {
    return AuthError(AuthErrorCode::kIncompleteSignature,
                     missing + "Authorization=" + std::string(algorithm));
  }
  parsed.presigned = false;
  credential = std::string(*credential_param);
  parsed.signature = std::string(*signature_param);
  signed_headers = std::string(*signed_headers_param);
  date = std::string(TrimSpace(*date_header));
  if (auto token = FindHeader(request.headers, "x-amz-security-token")) {
    parsed.session_token = std::string(TrimSpace(*token));
  }
  return Status::Ok();
}

// Rule 7: the query parameters of a pre-signed URL.
Status ParsePresignedQuery(const HttpRequestView& request, const std::vector<QueryParam>& query,
                           ParsedSignature& parsed, std::string& credential,
                           std::string& signed_headers, std::string& date) {
  if (*FindParam(query, kQueryAlgorithm) != kAlgorithm) {
    return AuthError(AuthErrorCode::kMissingAuthenticationToken, "Missing Authentication Token");
  }
  const std::string* credential_param = FindParam(query, kQueryCredential);
  const std::string* signature_param = FindParam(query, kQuerySignature);
  const std::string* signed_headers_param = FindParam(query, kQuerySignedHeaders);
  const std::string* date_param = FindParam(query, kQueryDate);
  std::string missing;
  auto require = [&missing](const std::string* present, std::string_view name) {
    if (present != nullptr) return;
    missing += "AWS query-string parameters must include '";
    missing += name;
    missing += "'. ";
  };
  require(credential_param, kQueryCredential);
  require(signature_param, kQuerySignature);
  require(signed_headers_param, kQuerySignedHeaders);
  require(date_param, kQueryDate);
  if (!missing.empty()) {
    return AuthError(AuthErrorCode::kIncompleteSignature,
                     missing + "Re-examine the query-string parameters.");
  }
  if (const std::string* expires = FindParam(query, kQueryExpires)) {
    if (expires->empty() || expires->size() > 9 ||
        !std::all_of(expires->begin(), expires->end(), IsDigit)) {
      return AuthError(AuthErrorCode::kIncompleteSignature, "X-Amz-Expires should be a number");
    }
    int64_t count = 0;
    for (char c : *expires) count = count * 10 + (c - '0');
    seconds value(count);
    if (value > kMaxPresignExpiry) {
      return AuthError(AuthErrorCode::kIncompleteSignature,
                       "X-Amz-Expires must be less than a week (in seconds) that is 604800");
    }
    parsed.expires = value;
  }
  parsed.presigned = true;
  credential = *credential_param;
  parsed.signature = *signature_param;
  signed_headers = *signed_headers_param;
  date = *date_param;
  if (const std::string* token = FindParam(query, kQuerySecurityToken)) {
    parsed.session_token = *token;
    parsed.session_token_signed = true;
  } else if (auto header = FindHeader(request.headers, "x-amz-security-token")) {
    parsed.session_token = std::string(TrimSpace(*header));
  }
  return Status::Ok();
}

}  // namespace

// ---------------------------------------------------------------------------

std::string_view AuthErrorName(AuthErrorCode code) {
  for (const ErrorInfo& e : kErrors) {
    if (e.code == code) return e.name;
  }
  return "";
}

std::optional<AuthErrorCode> AuthErrorCodeOf(const Status& status) {
  if (status.ok()) return std::nullopt;
  for (const ErrorInfo& e : kErrors) {
    if (status.error_name() == e.name) return e.code;
  }
  return std::nullopt;
}

std::string CanonicalUri(std::string_view raw_path, std::string_view service) {
  // The path of every JSON and Query protocol request, whatever the service.
  if (raw_path.empty() || raw_path == "/") return "/";
  if (service == kS3) {
    // S3: as sent, single-encoded; only the spelling of escapes is normalised, so an
    // escaped '/' (%2F) stays escaped and the key keeps its meaning.
    std::string out;
    out.reserve(raw_path.size());
    for (size_t i = 0; i < raw_path.size(); ++i) {
      auto c = static_cast<unsigned char>(raw_path[i]);
      if (c == '%' && i + 2 < raw_path.size() && HexValue(raw_path[i + 1]) >= 0 &&
          HexValue(raw_path[i + 2]) >= 0) {
        auto decoded =
            static_cast<unsigned char>(HexValue(raw_path[i + 1]) * 16 + HexValue(raw_path[i + 2]));
        if (IsUnreserved(decoded)) {
          out += static_cast<char>(decoded);
        } else {
          AppendEscaped(out, decoded);
        }
        i += 2;
      } else if (c == '/' || IsUnreserved(c)) {
        out += static_cast<char>(c);
      } else {
        AppendEscaped(out, c);
      }
    }
    return out;
  }
  // Other services: RFC 3986 dot-segment removal and no empty segments (botocore's
  // posixpath.normpath), a trailing '/' kept, then every segment encoded again.
  std::vector<std::string_view> segments;
  for (std::string_view segment : Split(raw_path, '/')) {
    if (segment.empty() || segment == ".") continue;
    if (segment == "..") {
      if (!segments.empty()) segments.pop_back();
      continue;
    }
    segments.push_back(segment);
  }
  std::string normalized = "/";
  for (size_t i = 0; i < segments.size(); ++i) {
    if (i > 0) normalized += '/';
    normalized += segments[i];
  }
  if (raw_path.back() == '/' && normalized != "/") normalized += '/';
  return UriEncode(normalized, /*keep_slash=*/true);
}

std::string CanonicalQuery(std::string_view raw_query, bool exclude_signature) {
  if (raw_query.empty()) return {};
  std::vector<std::pair<std::string, std::string>> pairs;
  for (const QueryParam& p : DecodeQuery(raw_query)) {
    if (exclude_signature && p.key == kQuerySignature) continue;
    pairs.emplace_back(UriEncode(p.key, false), UriEncode(p.value, false));
  }
  std::sort(pairs.begin(), pairs.end());
  std::string out;
  for (const auto& [key, value] : pairs) {
    if (!out.empty()) out += '&';
    out += key;
    out += '=';
    out += value;
  }
  return out;
}

std::string CanonicalHeaderValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  bool pending_space = false;
  for (char c : value) {
    if (IsAsciiSpace(c)) {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out += ' ';
    pending_space = false;
    out += c;
  }
  return out;
}

Result<std::string> PayloadHash(const HttpRequestView& request, std::string_view service,
                                bool presigned) {
  auto body_hash = [&request]() {
    return request.payload_hash ? std::string(*request.payload_hash)
                                : HexEncode(crypto::Sha256(request.body));
  };
  bool s3 = service == kS3;
  if (auto header = FindHeader(request.headers, "x-amz-content-sha256")) {
    std::string_view claimed = TrimSpace(*header);
    if (IsHexDigest(claimed)) {
      if (!EqualsIgnoreCase(claimed, body_hash())) {
        return AuthError(AuthErrorCode::kContentSha256Mismatch,
                         "The provided 'x-amz-content-sha256' header does not match what was "
                         "computed.");
      }
      return std::string(claimed);
    }
    // Only S3 lets a signature leave the body out; elsewhere that would let a captured
    // request be replayed with another body.
    if (s3 && (claimed == kUnsignedPayload || claimed.starts_with("STREAMING-"))) {
      return std::string(claimed);
    }
    return AuthError(AuthErrorCode::kContentSha256Mismatch,
                     s3 ? "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, "
                          "STREAMING-AWS4-HMAC-SHA256-PAYLOAD, or a valid sha256 value."
                        : "x-amz-content-sha256 must be a valid sha256 value.");
  }
  if (presigned && s3) return std::string(kUnsignedPayload);
  return body_hash();
}

Result<std::string> CanonicalRequest(const HttpRequestView& request,
                                     std::span<const std::string> signed_headers,
                                     std::string_view service, bool presigned,
                                     std::string_view payload_hash) {
  std::vector<std::string> names = SortedUniqueLower(signed_headers);
  std::string out;
  // Enough for the usual request in one allocation: method, path, query, each header
  // at most twice (its line, and its name in the signed-header list), the payload hash.
  size_t headers_size = 0;
  for (const HeaderField& h : request.headers) headers_size += h.name.size() + h.value.size() + 2;
  out.reserve(request.method.size() + request.raw_path.size() + request.raw_query.size() +
              2 * headers_size + payload_hash.size() + 16);
  out += request.method;
  out += '\n';
  out += CanonicalUri(request.raw_path, service);
  out += '\n';
  out += CanonicalQuery(request.raw_query, presigned);
  out += '\n';
  for (const std::string& name : names) {
    bool found = false;
    out += name;
    out += ':';
    for (const HeaderField& h : request.headers) {
      if (!EqualsIgnoreCase(h.name, name)) continue;
      if (found) out += ',';
      out += CanonicalHeaderValue(h.value);
      found = true;
    }
    if (!found) return InvalidArgumentError("signed header '" + name + "' is not in the request");
    out += '\n';
  }
  out += '\n';
  out += Join(names, ";");
  out += '\n';
  out += payload_hash;
  return out;
}

std::string CredentialScope(std::string_view date, std::string_view region,
                            std::string_view service) {
  std::string out(date);
  out += '/';
  out += region;
  out += '/';
  out += service;
  out += '/';
  out += kTerminator;
  return out;
}

std::string StringToSign(std::string_view amz_date, std::string_view scope,
                         std::string_view canonical_request) {
  std::string out(kAlgorithm);
  out += '\n';
  out += amz_date;
  out += '\n';
  out += scope;
  out += '\n';
  out += HexEncode(crypto::Sha256(AsBytes(canonical_request)));
  return out;
}

crypto::SecretBytes DeriveSigningKey(const crypto::SecretBytes& secret_access_key,
                                     std::string_view date, std::string_view region,
                                     std::string_view service) {
  ByteView secret = crypto::RevealSecret(secret_access_key);
  crypto::SecretBytes k_secret(4 + secret.size());
  std::span<uint8_t> k = crypto::RevealSecretMutable(k_secret);
  std::memcpy(k.data(), "AWS4", 4);
  if (!secret.empty()) std::memcpy(k.data() + 4, secret.data(), secret.size());
  crypto::SecretBytes k_date = HmacStep(k_secret, date);
  crypto::SecretBytes k_region = HmacStep(k_date, region);
  crypto::SecretBytes k_service = HmacStep(k_region, service);
  return HmacStep(k_service, kTerminator);
}

crypto::SecretBytes DeriveSigningKey(std::string_view secret_access_key, std::string_view date,
                                     std::string_view region, std::string_view service) {
  return DeriveSigningKey(crypto::SecretBytes(secret_access_key), date, region, service);
}

std::string ComputeSignature(const crypto::SecretBytes& signing_key,
                             std::string_view string_to_sign) {
  return HexEncode(crypto::HmacSha256(crypto::RevealSecret(signing_key), AsBytes(string_to_sign)));
}

std::string ParsedSignature::Scope() const { return CredentialScope(scope_date, region, service); }

Result<ParsedSignature> ParseSignature(const HttpRequestView& request) {
  // Rule 5: exactly one of the Authorization header and X-Amz-Algorithm.
  std::optional<std::string_view> authorization = FindHeader(request.headers, "authorization");
  std::vector<QueryParam> query = DecodeQuery(request.raw_query);
  bool has_query_algorithm = FindParam(query, kQueryAlgorithm) != nullptr;
  if (authorization && has_query_algorithm) return SignatureMismatch();
  if (!authorization && !has_query_algorithm) {
    return AuthError(AuthErrorCode::kMissingAuthenticationToken, "Missing Authentication Token");
  }

  ParsedSignature parsed;
  std::string credential, signed_headers, date;
  if (authorization) {
    RETURN_IF_ERROR(ParseAuthorizationHeader(request, *authorization, parsed, credential,
                                             signed_headers, date));
  } else {
    RETURN_IF_ERROR(ParsePresignedQuery(request, query, parsed, credential, signed_headers, date));
  }

  // Rule 8: the host is signed.
  for (std::string_view name : Split(signed_headers, ';')) {
    parsed.signed_headers.push_back(Lower(name));
  }
  if (std::none_of(parsed.signed_headers.begin(), parsed.signed_headers.end(),
                   [](const std::string& h) { return h == "host" || h == ":authority"; })) {
    return AuthError(AuthErrorCode::kSignatureDoesNotMatch,
                     "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.");
  }
  if (parsed.session_token && !parsed.session_token_signed) {
    parsed.session_token_signed =
        std::ranges::find(parsed.signed_headers, "x-amz-security-token") !=
        parsed.signed_headers.end();
  }

  // Rule 9: the date. X-Amz-Date is ISO 8601 basic; a Date header may be an HTTP date.
  std::optional<TimePoint> time = ParseAmzDate(date);
  // ParseAmzDate takes only in-range fields, so formatting its time gives the text back.
  const bool basic_format = time.has_value();
  if (!time && !parsed.presigned && !FindHeader(request.headers, "x-amz-date")) {
    time = ParseHttpDate(date);
  }
  if (!time) {
    return AuthError(AuthErrorCode::kIncompleteSignature,
                     "Date must be in ISO-8601 'basic format'. Got '" + date +
                         "'. See http://en.wikipedia.org/wiki/ISO_8601");
  }
  parsed.request_time = *time;
  parsed.amz_date = basic_format ? date : FormatAmzDate(*time);

  // The credential: AKID/YYYYMMDD/region/service/aws4_request.
  std::vector<std::string_view> scope = Split(credential, '/');
  if (scope.size() != 5) {
    return AuthError(AuthErrorCode::kIncompleteSignature,
                     "Credential must have exactly 5 slash-delimited elements, e.g. "
                     "keyid/date/region/service/term, got '" +
                         credential + "'");
  }
  parsed.access_key_id = std::string(scope[0]);
  parsed.scope_date = std::string(scope[1]);
  parsed.region = std::string(scope[2]);
  parsed.service = std::string(scope[3]);
  parsed.terminator = std::string(scope[4]);

  std::vector<std::string> problems;
  if (parsed.terminator != kTerminator) {
    problems.push_back(
        "Credential should be scoped with a valid terminator: 'aws4_request', not '" +
        parsed.terminator + "'.");
  }
  std::string_view request_day = std::string_view(parsed.amz_date).substr(0, 8);
  if (parsed.scope_date != request_day) {
    problems.push_back(
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from "
        "HTTP: '" +
        parsed.scope_date + "' != '" + std::string(request_day) + "', from '" + parsed.amz_date +
        "'.");
  }
  if (!problems.empty()) {
    return AuthError(AuthErrorCode::kSignatureDoesNotMatch, Join(problems, " "));
  }
  return parsed;
}

Status CheckCredentialScope(const ParsedSignature& parsed, std::string_view region,
                            std::string_view service) {
  std::vector<std::string> problems;
  if (parsed.region != region) {
    problems.push_back("Credential should be scoped to a valid region, not '" + parsed.region +
                       "'.");
  }
  if (parsed.service != service) {
    problems.push_back("Credential should be scoped to correct service: '" + std::string(service) +
                       "'.");
  }
  if (problems.empty()) return Status::Ok();
  return AuthError(AuthErrorCode::kSignatureDoesNotMatch, Join(problems, " "));
}

Status VerifyWithSigningKey(const HttpRequestView& request, const ParsedSignature& parsed,
                            const crypto::SecretBytes& signing_key, TimePoint now,
                            std::chrono::minutes max_skew) {
  // Time first, as AWS does: a stale request is refused whatever its signature.
  TimePoint current = WholeSeconds(now);
  TimePoint request_time = WholeSeconds(parsed.request_time);
  auto window = [&] { return std::to_string(max_skew.count()) + " min.)"; };
  if (request_time > current + max_skew) {
    return AuthError(AuthErrorCode::kSignatureNotYetCurrent,
                     "Signature not yet current: " + parsed.amz_date + " is still later than " +
                         FormatAmzDate(current + max_skew) + " (" + FormatAmzDate(current) + " + " +
                         window());
  }
  // S3 keeps a pre-signed URL for its X-Amz-Expires; the other services ignore
  // that parameter and give a pre-signed request the window of a signed header.
  if (parsed.presigned && parsed.expires && parsed.service == "s3") {
    if (current > request_time + *parsed.expires) {
      return AuthError(AuthErrorCode::kRequestExpired, "Request has expired");
    }
  } else if (request_time < current - max_skew) {
    return AuthError(AuthErrorCode::kSignatureExpired,
                     "Signature expired: " + parsed.amz_date + " is now earlier than " +
                         FormatAmzDate(current - max_skew) + " (" + FormatAmzDate(current) + " - " +
                         window());
  }

  ASSIGN_OR_RETURN(std::string payload_hash,
                   PayloadHash(request, parsed.service, parsed.presigned));
  Result<std::string> canonical = CanonicalRequest(request, parsed.signed_headers, parsed.service,
                                                   parsed.presigned, payload_hash);
  // A signed header missing from the request: what was signed cannot be rebuilt.
  if (!canonical.ok()) return SignatureMismatch();
  std::string expected =
      ComputeSignature(signing_key, StringToSign(parsed.amz_date, parsed.Scope(), *canonical));
  if (!crypto::ConstantTimeEquals(AsBytes(expected), AsBytes(parsed.signature))) {
    return SignatureMismatch();
  }
  return Status::Ok();
}

Status Verify(const HttpRequestView& request, const ParsedSignature& parsed,
              const crypto::SecretBytes& secret_access_key, TimePoint now,
              std::chrono::minutes max_skew) {
  crypto::SecretBytes signing_key =
      DeriveSigningKey(secret_access_key, parsed.scope_date, parsed.region, parsed.service);
  return VerifyWithSigningKey(request, parsed, signing_key, now, max_skew);
}

Status Verify(const HttpRequestView& request, const ParsedSignature& parsed,
              std::string_view secret_access_key, TimePoint now, std::chrono::minutes max_skew) {
  return Verify(request, parsed, crypto::SecretBytes(secret_access_key), now, max_skew);
}

// ---------------------------------------------------------------------------
// Signing.

namespace {

// Headers a proxy or the HTTP stack may add, drop or rewrite, and headers that are
// never signed (botocore's SIGNED_HEADERS_BLACKLIST plus the hop-by-hop ones).
bool SignedByDefault(std::string_view lower_name) {
  static constexpr std::array<std::string_view, 13> kUnsigned = {"authorization",
                                                                 "user-agent",
                                                                 "expect",
                                                                 "x-amzn-trace-id",
                                                                 "connection",
                                                                 "keep-alive",
                                                                 "te",
                                                                 "trailer",
                                                                 "transfer-encoding",
                                                                 "upgrade",
                                                                 "proxy-authenticate",
                                                                 "proxy-authorization",
                                                                 "proxy-connection"};
  return std::find(kUnsigned.begin(), kUnsigned.end(), lower_name) == kUnsigned.end();
}

// The request's headers without Authorization and without those in `replaced`, then
// the `replaced` ones: what the request will carry once the signer's headers are set.
std::vector<HeaderField> EffectiveHeaders(std::span<const HeaderField> headers,
                                          const std::vector<Header>& replaced) {
  std::vector<HeaderField> out;
  for (const HeaderField& h : headers) {
    bool drop = EqualsIgnoreCase(h.name, "authorization");
    for (const Header& r : replaced) drop = drop || EqualsIgnoreCase(h.name, r.name);
    if (!drop) out.push_back(h);
  }
  for (const Header& r : replaced) out.push_back({r.name, r.value});
  return out;
}

std::vector<std::string> DefaultSignedHeaders(std::span<const HeaderField> headers) {
  std::vector<std::string> names;
  for (const HeaderField& h : headers) {
    std::string name = Lower(h.name);
    if (SignedByDefault(name)) names.push_back(std::move(name));
  }
  return SortedUniqueLower(names);
}

Status CheckSignable(const HttpRequestView& request, const Credentials& credentials,
                     std::string_view region, std::string_view service) {
  if (credentials.access_key_id.empty() ||
      credentials.access_key_id.find('/') != std::string::npos) {
    return InvalidArgumentError("SigV4: the access key id is empty or contains '/'");
  }
  if (region.empty() || service.empty() || region.find('/') != std::string_view::npos ||
      service.find('/') != std::string_view::npos) {
    return InvalidArgumentError("SigV4: region and service must be non-empty, without '/'");
  }
  if (!FindHeader(request.headers, "host")) {
    return InvalidArgumentError("SigV4: the request has no Host header");
  }
  return Status::Ok();
}

}  // namespace

Result<std::vector<Header>> Sign(const HttpRequestView& request, const Credentials& credentials,
                                 std::string_view region, std::string_view service, TimePoint time,
                                 std::span<const std::string> signed_headers) {
  RETURN_IF_ERROR(CheckSignable(request, credentials, region, service));
  std::string amz_date = FormatAmzDate(time);
  std::vector<Header> added;
  added.push_back({"X-Amz-Date", amz_date});
  if (!credentials.session_token.empty()) {
    added.push_back({"X-Amz-Security-Token", credentials.session_token});
  }
  if (service == kS3) {
    // S3 requires the header; its value is the payload hash line.
    added.push_back({"X-Amz-Content-SHA256", request.payload_hash
                                                 ? std::string(*request.payload_hash)
                                                 : HexEncode(crypto::Sha256(request.body))});
  }
  std::vector<HeaderField> headers = EffectiveHeaders(request.headers, added);
  HttpRequestView view = request;
  view.headers = headers;
  std::vector<std::string> names =
      signed_headers.empty() ? DefaultSignedHeaders(headers) : SortedUniqueLower(signed_headers);

  ASSIGN_OR_RETURN(std::string payload_hash, PayloadHash(view, service, /*presigned=*/false));
  ASSIGN_OR_RETURN(std::string canonical,
                   CanonicalRequest(view, names, service, /*presigned=*/false, payload_hash));
  std::string_view date = std::string_view(amz_date).substr(0, 8);
  std::string scope = CredentialScope(date, region, service);
  std::string signature =
      ComputeSignature(DeriveSigningKey(credentials.secret_access_key, date, region, service),
                       StringToSign(amz_date, scope, canonical));
  added.push_back({"Authorization",
                   std::string(kAlgorithm) + " Credential=" + credentials.access_key_id + "/" +
                       scope + ", SignedHeaders=" + Join(names, ";") + ", Signature=" + signature});
  return added;
}

Result<std::string> Presign(const HttpRequestView& request, const Credentials& credentials,
                            std::string_view region, std::string_view service, TimePoint time,
                            std::chrono::seconds expires,
                            std::span<const std::string> signed_headers) {
  RETURN_IF_ERROR(CheckSignable(request, credentials, region, service));
  if (expires < seconds(1) || expires > kMaxPresignExpiry) {
    return InvalidArgumentError("SigV4: a pre-signed URL expires after 1 second to 7 days");
  }
  std::string amz_date = FormatAmzDate(time);
  std::string_view date = std::string_view(amz_date).substr(0, 8);
  std::string scope = CredentialScope(date, region, service);
  std::vector<std::string> names = SortedUniqueLower(signed_headers);
  if (names.empty()) names.push_back("host");

  // The request's own parameters, without any earlier signature, then the auth ones.
  std::string query;
  auto add = [&query](std::string_view key, std::string_view value) {
    if (!query.empty()) query += '&';
    query += UriEncode(key, false);
    query += '=';
    query += UriEncode(value, false);
  };
  for (const QueryParam& p : DecodeQuery(request.raw_query)) {
    if (p.key == kQueryAlgorithm || p.key == kQueryCredential || p.key == kQueryDate ||
        p.key == kQueryExpires || p.key == kQuerySignedHeaders || p.key == kQuerySignature ||
        p.key == kQuerySecurityToken) {
      continue;
    }
    add(p.key, p.value);
  }
  add(kQueryAlgorithm, kAlgorithm);
  add(kQueryCredential, credentials.access_key_id + "/" + scope);
  add(kQueryDate, amz_date);
  add(kQueryExpires, std::to_string(expires.count()));
  add(kQuerySignedHeaders, Join(names, ";"));
  if (!credentials.session_token.empty()) add(kQuerySecurityToken, credentials.session_token);
  std::string canonical_query = CanonicalQuery(query, /*exclude_signature=*/true);

  std::vector<HeaderField> headers = EffectiveHeaders(request.headers, {});
  HttpRequestView view = request;
  view.raw_query = canonical_query;
  view.headers = headers;
  ASSIGN_OR_RETURN(std::string payload_hash, PayloadHash(view, service, /*presigned=*/true));
  ASSIGN_OR_RETURN(std::string canonical,
                   CanonicalRequest(view, names, service, /*presigned=*/true, payload_hash));
  std::string signature =
      ComputeSignature(DeriveSigningKey(credentials.secret_access_key, date, region, service),
                       StringToSign(amz_date, scope, canonical));
  return canonical_query + "&" + std::string(kQuerySignature) + "=" + signature;
}

}  // namespace coffer::net::sigv4
