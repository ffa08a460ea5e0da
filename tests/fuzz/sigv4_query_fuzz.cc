// Fuzz target: SigV4 verification of pre-signed URLs (the X-Amz-* query parameters)
// and the canonical query and URI (net::sigv4::CanonicalQuery, CanonicalUri).
//
// Input: a request in the text form of fuzz_http_request.h; the query and the path
// are what matter. The seeds are pre-signed URLs made by the signer and AWS's
// documented S3 example, and queries in the shapes clients send.
//
// Properties (besides no crash, no sanitizer report):
//  - CanonicalQuery is idempotent and its output is sorted key=value pairs of
//    unreserved characters and upper-case %XX escapes;
//  - CanonicalUri for "s3" is idempotent; for other services it is an absolute path
//    without empty, "." or ".." segments; both escape everything but unreserved
//    characters and '/';
//  - every error is a SigV4 AuthErrorCode, a parsed signature is self-consistent
//    (sigv4_fuzz_checks.h);
//  - whatever Presign() signs verifies until it expires, for "s3" and "kms".
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/secret_bytes.h"
#include "fuzz_http_request.h"
#include "fuzz_util.h"
#include "net/sigv4.h"
#include "sigv4_fuzz_checks.h"

namespace coffer::fuzz {
namespace {

namespace sigv4 = net::sigv4;

bool IsUnreserved(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.' || c == '~';
}
bool IsUpperHex(char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'); }

// Only unreserved characters, upper-case %XX escapes and the characters in `extra`.
bool CanonicallyEncoded(std::string_view s, std::string_view extra) {
  for (size_t i = 0; i < s.size(); ++i) {
    if (IsUnreserved(s[i]) || extra.find(s[i]) != std::string_view::npos) continue;
    if (s[i] != '%' || i + 2 >= s.size() || !IsUpperHex(s[i + 1]) || !IsUpperHex(s[i + 2])) {
      return false;
    }
    i += 2;
  }
  return true;
}

std::vector<std::string_view> SplitOn(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  while (true) {
    size_t at = s.find(sep);
    parts.push_back(s.substr(0, at));
    if (at == std::string_view::npos) return parts;
    s.remove_prefix(at + 1);
  }
}

void CheckCanonicalQuery(std::string_view raw_query) {
  for (bool exclude_signature : {false, true}) {
    std::string q = sigv4::CanonicalQuery(raw_query, exclude_signature);
    FUZZ_CHECK_MSG(sigv4::CanonicalQuery(q, exclude_signature) == q, q);
    if (q.empty()) continue;
    std::vector<std::string_view> pairs = SplitOn(q, '&');
    FUZZ_CHECK_MSG(std::is_sorted(pairs.begin(), pairs.end(),
                                  [](std::string_view a, std::string_view b) {
                                    // Sorted by key, then value.
                                    size_t ea = a.find('='), eb = b.find('=');
                                    return std::pair(a.substr(0, ea), a.substr(ea + 1)) <
                                           std::pair(b.substr(0, eb), b.substr(eb + 1));
                                  }),
                   q);
    for (std::string_view pair : pairs) {
      size_t eq = pair.find('=');
      FUZZ_CHECK_MSG(eq != std::string_view::npos, q);
      FUZZ_CHECK_MSG(
          CanonicallyEncoded(pair.substr(0, eq), "") && CanonicallyEncoded(pair.substr(eq + 1), ""),
          q);
      if (exclude_signature) FUZZ_CHECK(pair.substr(0, eq) != "X-Amz-Signature");
    }
  }
}

void CheckCanonicalUri(std::string_view raw_path) {
  std::string s3 = sigv4::CanonicalUri(raw_path, "s3");
  FUZZ_CHECK_MSG(CanonicallyEncoded(s3, "/"), s3);
  FUZZ_CHECK_MSG(sigv4::CanonicalUri(s3, "s3") == s3, s3);

  std::string other = sigv4::CanonicalUri(raw_path, "kms");
  FUZZ_CHECK_MSG(!other.empty() && other[0] == '/', other);
  FUZZ_CHECK_MSG(CanonicallyEncoded(other, "/"), other);
  std::vector<std::string_view> segments = SplitOn(std::string_view(other).substr(1), '/');
  for (size_t i = 0; i < segments.size(); ++i) {
    // Only the last segment may be empty: "/" or a kept trailing '/'.
    bool last = i + 1 == segments.size();
    FUZZ_CHECK_MSG(last || !segments[i].empty(), other);
    FUZZ_CHECK_MSG(segments[i] != "." && segments[i] != "..", other);
  }
}

void CheckPresignThenVerify(const TextRequest& original) {
  for (const auto& h : original.headers) {
    if (!IsHttpToken(h.name)) return;
  }
  for (std::string_view service : {"s3", "kms"}) {
    TextRequest request = original;
    request.Remove("authorization");  // with a pre-signed query: refused by design
    sigv4::Credentials credentials{"AKIDEXAMPLE", crypto::SecretBytes(kSigv4Secret),
                                   service == "s3" ? "session-token" : ""};
    const std::chrono::seconds expires(900);
    Result<std::string> query =
        sigv4::Presign(request.View(), credentials, "us-east-1", service, Sigv4FixedNow(), expires);
    if (!query.ok()) {
      FUZZ_CHECK_MSG(query.status().code() == StatusCode::kInvalidArgument ||
                         sigv4::AuthErrorCodeOf(query.status()).has_value(),
                     query.status().ToString());
      continue;
    }
    request.query = *query;
    sigv4::HttpRequestView view = request.View();
    Result<sigv4::ParsedSignature> parsed = sigv4::ParseSignature(view);
    FUZZ_CHECK_MSG(parsed.ok(), parsed.status().ToString() + " for ?" + *query);
    FUZZ_CHECK(parsed->presigned && parsed->expires == expires);
    FUZZ_CHECK(sigv4::CheckCredentialScope(*parsed, "us-east-1", service).ok());
    const TimePoint last_valid = Sigv4FixedNow() + expires;
    Status verified =
        sigv4::Verify(view, *parsed, kSigv4Secret, last_valid, sigv4::kQueryClockSkew);
    FUZZ_CHECK_MSG(verified.ok(), verified.ToString() + " for ?" + *query);
    Status expired = sigv4::Verify(view, *parsed, kSigv4Secret,
                                   last_valid + std::chrono::seconds(1), sigv4::kQueryClockSkew);
    // S3 keeps the URL for X-Amz-Expires; the others for the skew window (here
    // as long: 900 s), after which the signature itself has expired.
    FUZZ_CHECK_MSG(sigv4::AuthErrorCodeOf(expired) ==
                       (service == "s3" ? sigv4::AuthErrorCode::kRequestExpired
                                        : sigv4::AuthErrorCode::kSignatureExpired),
                   expired.ToString());
  }
}

}  // namespace
}  // namespace coffer::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace coffer::fuzz;
  TextRequest request = TextRequest::Parse(AsText(data, size));
  CheckCanonicalQuery(request.query);
  CheckCanonicalUri(request.path);
  CheckParseAndVerify(request);
  CheckPresignThenVerify(request);
  return 0;
}
