#pragma once
// The pieces of the S3 REST API the s3 backend speaks, apart from sending:
// URI encoding of keys and query values, a small strict XML reader for S3's
// replies, the replies it reads (errors, ListObjectsV2, multipart uploads), the
// bodies it writes, S3's date formats and which failures are worth retrying.
// Exposed for tests (tests/objstore/s3_protocol_test.cc). Pure functions, safe
// to call concurrently.
//
// The XML reader is written here rather than taken from a library: S3 replies
// use a handful of elements, no DTDs, no namespaces prefixes, and a reader
// this small can be strict (mismatched tags, unknown entities, DOCTYPE and
// excessive nesting are errors) and fuzzed whole.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "common/xml.h"
#include "objstore/object_store.h"

namespace coffer::objstore::s3 {

// ---------------------------------------------------------------------------
// URIs.

// Percent-encodes every byte but A-Za-z0-9 '-' '_' '.' '~' (and '/' when
// keep_slash), upper-case hex: S3's (and SigV4's) URI encoding.
std::string UriEncode(std::string_view text, bool keep_slash);
// Decodes %XX (and '+' as a space when plus_is_space). nullopt on a bad escape.
std::optional<std::string> UriDecode(std::string_view text, bool plus_is_space);

// ---------------------------------------------------------------------------
// XML.

struct XmlElement {
  std::string name;
  std::string text;  // the element's own character data, entities decoded
  std::vector<XmlElement> children;

  // The first child named `name`, or nullptr.
  const XmlElement* Child(std::string_view name) const;
  // The text of the first child named `name`, or nullopt.
  std::optional<std::string> ChildText(std::string_view name) const;
};

// Parses a document: an optional XML declaration, comments, one root element.
// Attributes are read and ignored. Errors: kDataLoss, naming the offset.
inline constexpr int kMaxXmlDepth = 32;
Result<XmlElement> ParseXml(std::string_view document);

using coffer::XmlEscape;  // common/xml.h

// ---------------------------------------------------------------------------
// Replies.

// An S3 error body: <Error><Code>NoSuchKey</Code><Message>…</Message>…</Error>.
struct ErrorReply {
  std::string code;
  std::string message;
};
// nullopt when `body` is not an S3 error document.
std::optional<ErrorReply> ParseErrorReply(std::string_view body);

// ListObjectsV2 (ListBucketResult). Keys and prefixes are URL-decoded when the
// reply says <EncodingType>url</EncodingType>.
Result<ListPage> ParseListObjectsV2(std::string_view body);

// InitiateMultipartUploadResult: the UploadId.
Result<std::string> ParseInitiateMultipartUpload(std::string_view body);

// CompleteMultipartUploadResult: the ETag. S3 may answer 200 with an <Error>
// document instead (the completion failed after the reply began): that is
// returned as the error, kUnavailable for InternalError and other retryable
// codes, else as ErrorStatusOf would map it.
Result<std::string> ParseCompleteMultipartUpload(std::string_view body);

// ListMultipartUploadsResult.
struct MultipartUpload {
  std::string key;
  std::string upload_id;
};
struct MultipartUploadList {
  std::vector<MultipartUpload> uploads;
  bool truncated = false;
  std::string next_key_marker;
  std::string next_upload_id_marker;
};
Result<MultipartUploadList> ParseListMultipartUploads(std::string_view body);

// <CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>…</ETag></Part>…
// for parts 1..etags.size().
std::string CompleteMultipartUploadBody(const std::vector<std::string>& etags);

// <CreateBucketConfiguration><LocationConstraint>region</…>; empty for us-east-1,
// where S3 takes no configuration.
std::string CreateBucketBody(std::string_view region);

// ---------------------------------------------------------------------------
// Dates.

// "2026-11-30T10:09:56.000Z" (ListObjectsV2's LastModified; fraction optional).
Result<TimePoint> ParseIsoTime(std::string_view text);
// "Sun, 30 Nov 2026 10:09:56 GMT" (RFC 7231 IMF-fixdate: Last-Modified).
Result<TimePoint> ParseHttpDate(std::string_view text);

// ---------------------------------------------------------------------------
// Failures.

// Whether an answer with this HTTP status and S3 error code is transient:
// 500, 502, 503, 504, 429, and the codes SlowDown, Throttling,
// ThrottlingException, RequestTimeout, RequestTimeTooSkewed, InternalError,
// ServiceUnavailable, OperationAborted on any status.
bool IsRetryableReply(int http_status, std::string_view code);

// The Status of an error answer: the S3 code as error name (or, for a body-less
// answer such as HEAD's, a name derived from the HTTP status: 404 NotFound, 403
// AccessDenied, 412 PreconditionFailed, 416 InvalidRange, 301 PermanentRedirect,
// else "HTTP <n>"), the code mapped per object_store.h, and the message
// "<what>: <S3's message> (HTTP <n>)".
Status ErrorStatusOf(int http_status, std::string_view body, std::string_view what);

}  // namespace coffer::objstore::s3
