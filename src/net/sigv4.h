#pragma once
// AWS Signature Version 4: parsing, verification and signing of HTTP requests,
// over one canonicalisation shared by the verifier (server side) and the signer
// (coffer's own clients: the CLI, the S3 object store backend).
//
// Spec: docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html and
// shared/reference/aws-protocols.md ("SigV4 verification", "Authentication errors").
//
// Server side, in the order the HTTP layer calls it:
//   ParseSignature(request)            -> who claims to sign, with which scope and time
//   CheckCredentialScope(parsed, ...)  -> the scope names this server's region and service
//   (look up the secret of parsed.access_key_id; check the session token)
//   Verify(request, parsed, secret, now, window)
//
// Errors are Status values whose error_name() is AuthErrorName(code) of one of the
// AuthErrorCode values below (AuthErrorCodeOf() gives the code back); messages are
// AWS's texts. api/'s error table maps each code to the JSON form (HTTP 400,
// "…Exception") or the Query form (HTTP 400/403) of the protocol that received it.
//
// All functions are pure (no clock, no I/O) and safe to call concurrently.
#include <chrono>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.h"
#include "common/clock.h"
#include "common/status.h"
#include "crypto/secret_bytes.h"

namespace coffer::net::sigv4 {

inline constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";
inline constexpr std::string_view kUnsignedPayload = "UNSIGNED-PAYLOAD";
// Allowed difference between X-Amz-Date and the server's clock (aws-protocols.md,
// "Authentication errors"): 5 minutes for JSON services, 15 for Query services.
inline constexpr std::chrono::minutes kJsonClockSkew{5};
inline constexpr std::chrono::minutes kQueryClockSkew{15};
// Pre-signed S3 URLs live at most 7 days (X-Amz-Expires <= 604800); the other
// services ignore X-Amz-Expires (a pre-signed STS URL lives the skew window).
inline constexpr std::chrono::seconds kMaxPresignExpiry{604800};

// ---------------------------------------------------------------------------
// Errors.

enum class AuthErrorCode {
  // Neither an Authorization header nor X-Amz-Algorithm: "Missing Authentication Token".
  // JSON: MissingAuthenticationTokenException; Query: MissingAuthenticationToken.
  kMissingAuthenticationToken,
  // Malformed Authorization header or pre-signed query ("Authorization header requires
  // 'Credential' parameter. …"). JSON: IncompleteSignatureException; Query: IncompleteSignature.
  kIncompleteSignature,
  // Wrong signature, or a well-formed but unacceptable scope or signed-header set.
  // JSON: InvalidSignatureException; Query: 403 SignatureDoesNotMatch.
  kSignatureDoesNotMatch,
  // X-Amz-Date is outside the clock-skew window ("Signature expired: …",
  // "Signature not yet current: …"). Same wire names as kSignatureDoesNotMatch.
  kSignatureExpired,
  kSignatureNotYetCurrent,
  // A pre-signed S3 URL used after X-Amz-Date + X-Amz-Expires: "Request has expired".
  kRequestExpired,
  // x-amz-content-sha256 is not the hash of the body, or a form the service does not take.
  // S3 calls it XAmzContentSHA256Mismatch (400).
  kContentSha256Mismatch,
};

// The error_name() carried by a Status of this code ("IncompleteSignature", …).
std::string_view AuthErrorName(AuthErrorCode code);
// The code of a Status returned by this library; nullopt for OK or any other Status.
std::optional<AuthErrorCode> AuthErrorCodeOf(const Status& status);

// ---------------------------------------------------------------------------
// The request, as received (verifier) or about to be sent (signer).

// One header line; names in any case; a name may repeat.
struct HeaderField {
  std::string_view name;
  std::string_view value;
};

// A transport-neutral view of an HTTP request. Borrows everything: the viewed
// strings and headers must outlive the calls that take it.
struct HttpRequestView {
  std::string_view method;     // "POST"
  std::string_view raw_path;   // as sent, before any decoding, without the query: "/a%20b"
  std::string_view raw_query;  // as sent, after '?' (empty when none)
  std::span<const HeaderField> headers;
  ByteView body;
  // The payload hash (hex SHA-256, or UNSIGNED-PAYLOAD for S3) when the body is not
  // at hand, e.g. streamed; when set, `body` is ignored.
  std::optional<std::string_view> payload_hash;
};

// An owned header, as returned by the signer.
struct Header {
  std::string name;
  std::string value;
  friend bool operator==(const Header&, const Header&) = default;
};

// ---------------------------------------------------------------------------
// Canonicalisation (exposed for tests, debugging and the S3 chunk signer).

// The canonical URI. For every service but "s3" the path is normalised (empty and
// "." segments dropped, ".." resolved, a trailing '/' kept) and percent-encoded
// again, which double-encodes what the client encoded. For "s3" the path is taken
// as sent, single-encoded: only escapes are normalised (upper-case hex, no escaped
// unreserved characters, unescaped reserved characters escaped).
std::string CanonicalUri(std::string_view raw_path, std::string_view service);

// The canonical query string: split on '&' and the first '=', decode, re-encode with
// only A-Za-z0-9-_.~ literal and upper-case %XX, sort by key then value, "key" -> "key=".
// With `exclude_signature`, X-Amz-Signature is left out (pre-signed URLs).
std::string CanonicalQuery(std::string_view raw_query, bool exclude_signature);

// The value of one canonical header line: trimmed, inner whitespace runs collapsed to
// one space.
std::string CanonicalHeaderValue(std::string_view value);

// The payload hash line of the canonical request. x-amz-content-sha256, when present,
// is used as sent: a hex digest must equal the hash of the body (or the view's
// payload_hash), and UNSIGNED-PAYLOAD / STREAMING-* are accepted for "s3" only
// (kContentSha256Mismatch otherwise). Without it: UNSIGNED-PAYLOAD for a pre-signed
// S3 URL, else the view's payload_hash, else hex(sha256(body)).
Result<std::string> PayloadHash(const HttpRequestView& request, std::string_view service,
                                bool presigned);

// The canonical request:
//   METHOD \n URI \n QUERY \n (name:value \n)* \n SIGNED_HEADERS \n PAYLOAD_HASH
// over exactly `signed_headers` (lower-cased, sorted, de-duplicated); repeated headers
// are joined with ','. Fails with kInvalidArgument if a signed header is absent.
Result<std::string> CanonicalRequest(const HttpRequestView& request,
                                     std::span<const std::string> signed_headers,
                                     std::string_view service, bool presigned,
                                     std::string_view payload_hash);

// "date/region/service/aws4_request".
std::string CredentialScope(std::string_view date, std::string_view region,
                            std::string_view service);

// "AWS4-HMAC-SHA256\n<amz_date>\n<scope>\n<hex(sha256(canonical_request))>".
std::string StringToSign(std::string_view amz_date, std::string_view scope,
                         std::string_view canonical_request);

// kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request").
// The only place the derivation is written. The key depends on (secret, date, region,
// service) only, so callers may cache it under (access key id, date, region, service).
crypto::SecretBytes DeriveSigningKey(const crypto::SecretBytes& secret_access_key,
                                     std::string_view date, std::string_view region,
                                     std::string_view service);
crypto::SecretBytes DeriveSigningKey(std::string_view secret_access_key, std::string_view date,
                                     std::string_view region, std::string_view service);

// hex(HMAC(signing_key, string_to_sign)).
std::string ComputeSignature(const crypto::SecretBytes& signing_key,
                             std::string_view string_to_sign);

// ---------------------------------------------------------------------------
// Verification (server side).

// What a signed request claims. Produced by ParseSignature, consumed by Verify.
struct ParsedSignature {
  bool presigned = false;  // true: from the query (X-Amz-*); false: Authorization header
  std::string access_key_id;
  std::string scope_date;  // YYYYMMDD, as in the credential
  std::string region;
  std::string service;
  std::string terminator;                    // "aws4_request"
  std::vector<std::string> signed_headers;   // lower-case, in the order listed
  std::string signature;                     // as sent
  std::optional<std::string> session_token;  // X-Amz-Security-Token (header, or query)
  // Whether the signature covers the token: in the query of a pre-signed URL
  // (signed whole), or in a header listed in SignedHeaders.
  bool session_token_signed = false;
  std::string amz_date;  // the request time as signed: YYYYMMDDTHHMMSSZ
  TimePoint request_time;
  std::optional<std::chrono::seconds> expires;  // X-Amz-Expires (pre-signed only)

  // "date/region/service/aws4_request", the scope the signature was made for.
  std::string Scope() const;
};

// Finds and parses the request's signature: the Authorization header, or the
// X-Amz-* query parameters of a pre-signed URL (both at once is an error). The time
// is X-Amz-Date (header, or query for pre-signed), else the Date header (RFC 1123 or
// ISO 8601 basic) converted. Checks, in AWS's order: algorithm, key=value syntax,
// required parameters, 'host' signed, date syntax, credential syntax, the scope's
// terminator and date (= first 8 characters of the request date). The region and
// service of the scope are checked by CheckCredentialScope.
Result<ParsedSignature> ParseSignature(const HttpRequestView& request);

// kSignatureDoesNotMatch with AWS's "Credential should be scoped to a valid region, not
// '…'." / "Credential should be scoped to correct service: '…'." unless the scope names
// `region` and `service`.
Status CheckCredentialScope(const ParsedSignature& parsed, std::string_view region,
                            std::string_view service);

// Checks the request time against `now` and the signature against the secret. Time:
// outside [now - skew, now + skew] fails with AWS's "Signature expired: X is now earlier
// than Y (Z - N min.)" / "Signature not yet current: X is still later than Y (Z + N min.)";
// a pre-signed S3 URL with X-Amz-Expires instead fails after X-Amz-Date + X-Amz-Expires
// ("Request has expired"); other services ignore X-Amz-Expires, as AWS's do. Then the payload hash
// (kContentSha256Mismatch) and the signature, compared in constant time (kSignatureDoesNotMatch,
// AWS's text). `parsed` must come from ParseSignature(request).
Status Verify(const HttpRequestView& request, const ParsedSignature& parsed,
              const crypto::SecretBytes& secret_access_key, TimePoint now,
              std::chrono::minutes max_skew = kJsonClockSkew);
Status Verify(const HttpRequestView& request, const ParsedSignature& parsed,
              std::string_view secret_access_key, TimePoint now,
              std::chrono::minutes max_skew = kJsonClockSkew);
// The same with a signing key already derived (by DeriveSigningKey, for parsed's
// scope_date, region and service), for callers that cache signing keys.
Status VerifyWithSigningKey(const HttpRequestView& request, const ParsedSignature& parsed,
                            const crypto::SecretBytes& signing_key, TimePoint now,
                            std::chrono::minutes max_skew = kJsonClockSkew);

// ---------------------------------------------------------------------------
// Signing (client side).

struct Credentials {
  std::string access_key_id;
  crypto::SecretBytes secret_access_key;
  std::string session_token;  // empty for long-term credentials
};

// Signs `request` with the Authorization header. Returns the headers to set on the
// request, replacing any of the same name: X-Amz-Date, X-Amz-Security-Token (with a
// session token), X-Amz-Content-SHA256 (service "s3": the payload hash) and
// Authorization. `signed_headers` chooses the signed set (it must name headers of the
// request or the added ones); when empty, every header is signed except Authorization,
// User-Agent, Expect, X-Amzn-Trace-Id and hop-by-hop headers. The request must have a
// Host header. Fails with kInvalidArgument.
Result<std::vector<Header>> Sign(const HttpRequestView& request, const Credentials& credentials,
                                 std::string_view region, std::string_view service, TimePoint time,
                                 std::span<const std::string> signed_headers = {});

// Pre-signs `request` (query-string authentication). Returns the query string to send
// in place of request.raw_query: its parameters plus X-Amz-Algorithm, X-Amz-Credential,
// X-Amz-Date, X-Amz-Expires, X-Amz-SignedHeaders, X-Amz-Security-Token (with a session
// token), canonically encoded and sorted, then X-Amz-Signature. Signs only `host` unless
// `signed_headers` says otherwise; the payload is UNSIGNED-PAYLOAD for "s3", else hashed
// as by PayloadHash. `expires` must be within [1 s, 7 days]. Fails with kInvalidArgument.
Result<std::string> Presign(const HttpRequestView& request, const Credentials& credentials,
                            std::string_view region, std::string_view service, TimePoint time,
                            std::chrono::seconds expires,
                            std::span<const std::string> signed_headers = {});

}  // namespace coffer::net::sigv4
