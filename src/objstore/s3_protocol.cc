#include "objstore/s3_protocol.h"

#include <array>
#include <charconv>
#include <ctime>

namespace coffer::objstore::s3 {
namespace {

constexpr char kHex[] = "0123456789ABCDEF";

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

void AppendUtf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// A recursive-descent reader over one document.
class XmlReader {
 public:
  explicit XmlReader(std::string_view doc) : doc_(doc) {}

  Result<XmlElement> Document() {
    SkipWhitespace();
    if (Starts("<?xml")) {
      size_t end = doc_.find("?>", pos_);
      if (end == std::string_view::npos) return Error("unterminated XML declaration");
      pos_ = end + 2;
    }
    RETURN_IF_ERROR(SkipMisc());
    if (Starts("<!DOCTYPE")) return Error("a DOCTYPE is not accepted");
    if (!Starts("<")) return Error("expected the root element");
    XmlElement root;
    RETURN_IF_ERROR(Element(root, 1));
    RETURN_IF_ERROR(SkipMisc());
    if (pos_ != doc_.size()) return Error("content after the root element");
    return root;
  }

 private:
  Status Error(std::string_view what) const {
    return DataLossError("malformed XML at byte " + std::to_string(pos_) + ": " +
                         std::string(what));
  }
  bool Starts(std::string_view s) const { return doc_.substr(pos_).starts_with(s); }
  static bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
  static bool IsNameChar(char c) {
    return !IsSpace(c) && c != '>' && c != '/' && c != '=' && c != '<' && c != '"' && c != '\'';
  }
  void SkipWhitespace() {
    while (pos_ < doc_.size() && IsSpace(doc_[pos_])) ++pos_;
  }
  // Whitespace and comments (between the prolog's parts).
  Status SkipMisc() {
    while (true) {
      SkipWhitespace();
      if (!Starts("<!--")) return Status::Ok();
      size_t end = doc_.find("-->", pos_ + 4);
      if (end == std::string_view::npos) return Error("unterminated comment");
      pos_ = end + 3;
    }
  }

  Result<std::string> Name() {
    size_t start = pos_;
    while (pos_ < doc_.size() && IsNameChar(doc_[pos_])) ++pos_;
    if (pos_ == start) return Error("expected a name");
    return std::string(doc_.substr(start, pos_ - start));
  }

  // Decodes character data up to the next '<'.
  Status Text(std::string& out) {
    while (pos_ < doc_.size() && doc_[pos_] != '<') {
      char c = doc_[pos_];
      if (c != '&') {
        out.push_back(c);
        ++pos_;
        continue;
      }
      size_t semi = doc_.find(';', pos_);
      if (semi == std::string_view::npos || semi - pos_ > 12) return Error("bad entity");
      std::string_view entity = doc_.substr(pos_ + 1, semi - pos_ - 1);
      if (entity == "amp") {
        out.push_back('&');
      } else if (entity == "lt") {
        out.push_back('<');
      } else if (entity == "gt") {
        out.push_back('>');
      } else if (entity == "quot") {
        out.push_back('"');
      } else if (entity == "apos") {
        out.push_back('\'');
      } else if (entity.starts_with("#")) {
        std::string_view digits = entity.substr(1);
        int base = 10;
        if (!digits.empty() && (digits[0] == 'x' || digits[0] == 'X')) {
          base = 16;
          digits.remove_prefix(1);
        }
        uint32_t cp = 0;
        auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), cp, base);
        if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() ||
            cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
          return Error("bad character reference");
        }
        AppendUtf8(out, cp);
      } else {
        return Error("unknown entity &" + std::string(entity) + ";");
      }
      pos_ = semi + 1;
    }
    return Status::Ok();
  }

  // At '<' of a start tag: reads the element with its content and end tag.
  Status Element(XmlElement& element, int depth) {
    if (depth > kMaxXmlDepth) return Error("elements nested too deeply");
    ++pos_;  // '<'
    ASSIGN_OR_RETURN(element.name, Name());
    // Attributes: name="value" or name='value', read and ignored.
    while (true) {
      SkipWhitespace();
      if (pos_ >= doc_.size()) return Error("unterminated start tag");
      if (Starts("/>")) {
        pos_ += 2;
        return Status::Ok();
      }
      if (doc_[pos_] == '>') {
        ++pos_;
        break;
      }
      RETURN_IF_ERROR(Name().status());
      SkipWhitespace();
      if (pos_ >= doc_.size() || doc_[pos_] != '=') return Error("expected '=' in an attribute");
      ++pos_;
      SkipWhitespace();
      if (pos_ >= doc_.size() || (doc_[pos_] != '"' && doc_[pos_] != '\'')) {
        return Error("expected a quoted attribute value");
      }
      size_t close = doc_.find(doc_[pos_], pos_ + 1);
      if (close == std::string_view::npos) return Error("unterminated attribute value");
      pos_ = close + 1;
    }
    // Content.
    while (true) {
      if (pos_ >= doc_.size()) return Error("unterminated element <" + element.name + ">");
      if (doc_[pos_] != '<') {
        RETURN_IF_ERROR(Text(element.text));
        continue;
      }
      if (Starts("</")) {
        pos_ += 2;
        ASSIGN_OR_RETURN(std::string name, Name());
        if (name != element.name) {
          return Error("</" + name + "> closes <" + element.name + ">");
        }
        SkipWhitespace();
        if (pos_ >= doc_.size() || doc_[pos_] != '>') return Error("unterminated end tag");
        ++pos_;
        return Status::Ok();
      }
      if (Starts("<!--")) {
        size_t end = doc_.find("-->", pos_ + 4);
        if (end == std::string_view::npos) return Error("unterminated comment");
        pos_ = end + 3;
        continue;
      }
      if (Starts("<![CDATA[")) {
        size_t end = doc_.find("]]>", pos_ + 9);
        if (end == std::string_view::npos) return Error("unterminated CDATA section");
        element.text.append(doc_.substr(pos_ + 9, end - pos_ - 9));
        pos_ = end + 3;
        continue;
      }
      if (Starts("<!") || Starts("<?")) return Error("unexpected markup");
      XmlElement child;
      RETURN_IF_ERROR(Element(child, depth + 1));
      element.children.push_back(std::move(child));
    }
  }

  std::string_view doc_;
  size_t pos_ = 0;
};

Status Malformed(std::string_view what, std::string_view why) {
  return DataLossError("the " + std::string(what) +
                       " reply is not understood: " + std::string(why));
}

Result<XmlElement> ParseRoot(std::string_view body, std::string_view root, std::string_view what) {
  Result<XmlElement> doc = ParseXml(body);
  if (!doc.ok()) return Malformed(what, doc.status().message());
  if (doc->name != root) return Malformed(what, "the root element is <" + doc->name + ">");
  return doc;
}

Result<uint64_t> ParseUnsigned(std::string_view text) {
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
    return DataLossError("'" + std::string(text) + "' is not a number");
  }
  return v;
}

bool ParseFixed(std::string_view text, size_t pos, size_t len, int& out) {
  if (pos + len > text.size()) return false;
  auto [end, ec] = std::from_chars(text.data() + pos, text.data() + pos + len, out);
  return ec == std::errc() && end == text.data() + pos + len;
}

Result<TimePoint> FromCivil(int year, int month, int day, int hour, int minute, int second,
                            std::string_view text) {
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) {
    return DataLossError("'" + std::string(text) + "' is not a valid time");
  }
  struct tm tm {};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  time_t t = ::timegm(&tm);
  return TimePoint(std::chrono::seconds(t));
}

}  // namespace

std::string UriEncode(std::string_view text, bool keep_slash) {
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    auto b = static_cast<unsigned char>(ch);
    bool unreserved = (b >= 'A' && b <= 'Z') || (b >= 'a' && b <= 'z') || (b >= '0' && b <= '9') ||
                      b == '-' || b == '_' || b == '.' || b == '~';
    if (unreserved || (keep_slash && b == '/')) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[b >> 4]);
      out.push_back(kHex[b & 15]);
    }
  }
  return out;
}

std::optional<std::string> UriDecode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '%') {
      if (i + 2 >= text.size()) return std::nullopt;
      int hi = HexDigit(text[i + 1]);
      int lo = HexDigit(text[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

const XmlElement* XmlElement::Child(std::string_view child_name) const {
  for (const XmlElement& c : children) {
    if (c.name == child_name) return &c;
  }
  return nullptr;
}

std::optional<std::string> XmlElement::ChildText(std::string_view child_name) const {
  const XmlElement* c = Child(child_name);
  if (c == nullptr) return std::nullopt;
  return c->text;
}

Result<XmlElement> ParseXml(std::string_view document) { return XmlReader(document).Document(); }

std::optional<ErrorReply> ParseErrorReply(std::string_view body) {
  Result<XmlElement> doc = ParseXml(body);
  if (!doc.ok() || doc->name != "Error") return std::nullopt;
  ErrorReply reply;
  reply.code = doc->ChildText("Code").value_or("");
  reply.message = doc->ChildText("Message").value_or("");
  if (reply.code.empty()) return std::nullopt;
  return reply;
}

Result<ListPage> ParseListObjectsV2(std::string_view body) {
  constexpr std::string_view kWhat = "ListObjectsV2";
  ASSIGN_OR_RETURN(XmlElement doc, ParseRoot(body, "ListBucketResult", kWhat));
  bool url_encoded = doc.ChildText("EncodingType").value_or("") == "url";
  auto decode = [&](const std::string& text) -> Result<std::string> {
    if (!url_encoded) return text;
    std::optional<std::string> decoded = UriDecode(text, /*plus_is_space=*/true);
    if (!decoded) return Malformed(kWhat, "'" + text + "' is not URL-encoded");
    return *decoded;
  };
  ListPage page;
  for (const XmlElement& child : doc.children) {
    if (child.name == "Contents") {
      ObjectInfo info;
      std::optional<std::string> key = child.ChildText("Key");
      std::optional<std::string> size = child.ChildText("Size");
      if (!key || !size) return Malformed(kWhat, "an entry without Key or Size");
      ASSIGN_OR_RETURN(info.key, decode(*key));
      Result<uint64_t> n = ParseUnsigned(*size);
      if (!n.ok()) return Malformed(kWhat, n.status().message());
      info.size = *n;
      info.etag = child.ChildText("ETag").value_or("");
      if (std::optional<std::string> modified = child.ChildText("LastModified")) {
        Result<TimePoint> t = ParseIsoTime(*modified);
        if (!t.ok()) return Malformed(kWhat, t.status().message());
        info.last_modified = *t;
      }
      page.objects.push_back(std::move(info));
    } else if (child.name == "CommonPrefixes") {
      std::optional<std::string> prefix = child.ChildText("Prefix");
      if (!prefix) return Malformed(kWhat, "CommonPrefixes without Prefix");
      ASSIGN_OR_RETURN(std::string decoded, decode(*prefix));
      page.common_prefixes.push_back(std::move(decoded));
    }
  }
  if (doc.ChildText("IsTruncated").value_or("false") == "true") {
    page.next_continuation_token = doc.ChildText("NextContinuationToken").value_or("");
    if (page.next_continuation_token.empty()) {
      return Malformed(kWhat, "IsTruncated without NextContinuationToken");
    }
  }
  return page;
}

Result<std::string> ParseInitiateMultipartUpload(std::string_view body) {
  constexpr std::string_view kWhat = "CreateMultipartUpload";
  ASSIGN_OR_RETURN(XmlElement doc, ParseRoot(body, "InitiateMultipartUploadResult", kWhat));
  std::string id = doc.ChildText("UploadId").value_or("");
  if (id.empty()) return Malformed(kWhat, "no UploadId");
  return id;
}

Result<std::string> ParseCompleteMultipartUpload(std::string_view body) {
  constexpr std::string_view kWhat = "CompleteMultipartUpload";
  // A 200 reply may carry an error: S3 API reference, CompleteMultipartUpload ("a request
  // could fail after the initial 200 OK response has been sent").
  if (ParseErrorReply(body)) return ErrorStatusOf(200, body, kWhat);
  Result<XmlElement> doc = ParseXml(body);
  if (!doc.ok()) return Malformed(kWhat, doc.status().message());
  // S3 answers CompleteMultipartUploadResult; moto, CompleteMultipartUploadResponse.
  if (doc->name != "CompleteMultipartUploadResult" &&
      doc->name != "CompleteMultipartUploadResponse") {
    return Malformed(kWhat, "the root element is <" + doc->name + ">");
  }
  return doc->ChildText("ETag").value_or("");
}

Result<MultipartUploadList> ParseListMultipartUploads(std::string_view body) {
  constexpr std::string_view kWhat = "ListMultipartUploads";
  ASSIGN_OR_RETURN(XmlElement doc, ParseRoot(body, "ListMultipartUploadsResult", kWhat));
  MultipartUploadList list;
  for (const XmlElement& child : doc.children) {
    if (child.name != "Upload") continue;
    MultipartUpload upload;
    upload.key = child.ChildText("Key").value_or("");
    upload.upload_id = child.ChildText("UploadId").value_or("");
    if (upload.key.empty() || upload.upload_id.empty()) {
      return Malformed(kWhat, "an Upload without Key or UploadId");
    }
    list.uploads.push_back(std::move(upload));
  }
  list.truncated = doc.ChildText("IsTruncated").value_or("false") == "true";
  list.next_key_marker = doc.ChildText("NextKeyMarker").value_or("");
  list.next_upload_id_marker = doc.ChildText("NextUploadIdMarker").value_or("");
  return list;
}

std::string CompleteMultipartUploadBody(const std::vector<std::string>& etags) {
  std::string body = "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">";
  for (size_t i = 0; i < etags.size(); ++i) {
    body += "<Part><PartNumber>" + std::to_string(i + 1) + "</PartNumber><ETag>" +
            XmlEscape(etags[i]) + "</ETag></Part>";
  }
  body += "</CompleteMultipartUpload>";
  return body;
}

std::string CreateBucketBody(std::string_view region) {
  if (region.empty() || region == "us-east-1") return "";
  return "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
         "<LocationConstraint>" +
         XmlEscape(region) + "</LocationConstraint></CreateBucketConfiguration>";
}

Result<TimePoint> ParseIsoTime(std::string_view text) {
  // YYYY-MM-DDTHH:MM:SS[.fraction]Z
  int year, month, day, hour, minute, second;
  bool shape = text.size() >= 20 && text[4] == '-' && text[7] == '-' && text[10] == 'T' &&
               text[13] == ':' && text[16] == ':' && text.back() == 'Z' &&
               ParseFixed(text, 0, 4, year) && ParseFixed(text, 5, 2, month) &&
               ParseFixed(text, 8, 2, day) && ParseFixed(text, 11, 2, hour) &&
               ParseFixed(text, 14, 2, minute) && ParseFixed(text, 17, 2, second);
  if (shape && text.size() > 20) {
    std::string_view fraction = text.substr(19, text.size() - 20);
    shape = fraction.size() >= 2 && fraction[0] == '.' &&
            fraction.find_first_not_of("0123456789", 1) == std::string_view::npos;
  }
  if (!shape) return DataLossError("'" + std::string(text) + "' is not an ISO 8601 time");
  return FromCivil(year, month, day, hour, minute, second, text);
}

Result<TimePoint> ParseHttpDate(std::string_view text) {
  // "Sun, 30 Nov 2026 10:09:56 GMT"
  static constexpr std::array<std::string_view, 12> kMonths = {
      "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  int day, year, hour, minute, second;
  int month = 0;
  bool shape = text.size() == 29 && text[3] == ',' && text[4] == ' ' && text[7] == ' ' &&
               text[11] == ' ' && text[16] == ' ' && text[19] == ':' && text[22] == ':' &&
               text.substr(25) == " GMT" && ParseFixed(text, 5, 2, day) &&
               ParseFixed(text, 12, 4, year) && ParseFixed(text, 17, 2, hour) &&
               ParseFixed(text, 20, 2, minute) && ParseFixed(text, 23, 2, second);
  if (shape) {
    for (size_t i = 0; i < kMonths.size(); ++i) {
      if (text.substr(8, 3) == kMonths[i]) month = static_cast<int>(i) + 1;
    }
  }
  if (!shape || month == 0) return DataLossError("'" + std::string(text) + "' is not an HTTP date");
  return FromCivil(year, month, day, hour, minute, second, text);
}

bool IsRetryableReply(int http_status, std::string_view code) {
  if (http_status == 500 || http_status == 502 || http_status == 503 || http_status == 504 ||
      http_status == 429) {
    return true;
  }
  for (std::string_view transient :
       {"SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "RequestTimeTooSkewed",
        "InternalError", "ServiceUnavailable", "OperationAborted"}) {
    if (code == transient) return true;
  }
  return false;
}

Status ErrorStatusOf(int http_status, std::string_view body, std::string_view what) {
  std::optional<ErrorReply> reply = ParseErrorReply(body);
  std::string code;
  std::string message;
  if (reply) {
    code = reply->code;
    message = reply->message;
  } else {
    switch (http_status) {
      case 301:
        code = "PermanentRedirect";
        message = "The bucket is not reachable at this endpoint (another region or address)";
        break;
      case 403:
        code = "AccessDenied";
        message = "Access Denied";
        break;
      case 404:
        code = "NotFound";
        message = "Not Found";
        break;
      case 412:
        code = std::string(kPreconditionFailed);
        message = "At least one of the preconditions you specified did not hold";
        break;
      case 416:
        code = std::string(kInvalidRange);
        message = "The requested range is not satisfiable";
        break;
      default:
        code = "HTTP " + std::to_string(http_status);
        message = "an error answer without a body";
    }
  }
  StatusCode status_code;
  if (IsRetryableReply(http_status, code)) {
    status_code = StatusCode::kUnavailable;
  } else if (http_status == 404) {
    status_code = StatusCode::kNotFound;
  } else if (code == kBucketAlreadyExists || code == kBucketAlreadyOwnedByYou) {
    status_code = StatusCode::kAlreadyExists;
  } else if (http_status == 403) {
    status_code = StatusCode::kPermissionDenied;
  } else if (http_status == 400 || http_status == 411 || http_status == 413 || http_status == 416) {
    status_code = StatusCode::kInvalidArgument;
  } else {
    status_code = StatusCode::kFailedPrecondition;
  }
  return Status(status_code, code,
                std::string(what) + ": " + (message.empty() ? code : message) + " (HTTP " +
                    std::to_string(http_status) + ")");
}

}  // namespace coffer::objstore::s3
