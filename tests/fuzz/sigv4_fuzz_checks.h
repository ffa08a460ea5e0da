#pragma once
// Properties of the SigV4 verifier and signer checked by both SigV4 fuzz targets
// (sigv4_header_fuzz, sigv4_query_fuzz).
#include <algorithm>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "crypto/secret_bytes.h"
#include "fuzz_http_request.h"
#include "fuzz_util.h"
#include "net/sigv4.h"

namespace coffer::fuzz {

// The secret of the requests captured in shared/testdata/sigv4 (AKIDEXAMPLE).
inline constexpr std::string_view kSigv4Secret = "secret";

// 2026-11-30T09:57:48Z, the time of the captured requests.
inline TimePoint Sigv4FixedNow() {
  using namespace std::chrono;
  return time_point_cast<Duration>(sys_days(year{2026} / November / 30) + hours(9) + minutes(57) +
                                   seconds(48));
}

// Every error of the library is one of its AuthErrorCodes (sigv4.h, "Errors").
inline void CheckAuthError(const Status& s) {
  FUZZ_CHECK_MSG(s.ok() || net::sigv4::AuthErrorCodeOf(s).has_value(), s.ToString());
}

// The form of X-Amz-Date: "20150830T123600Z".
inline bool LooksLikeAmzDate(std::string_view s) {
  if (s.size() != 16 || s[8] != 'T' || s[15] != 'Z') return false;
  for (size_t i = 0; i < 15; ++i) {
    if (i != 8 && (s[i] < '0' || s[i] > '9')) return false;
  }
  return true;
}

inline std::string_view TrimSpace(std::string_view s) {
  auto space = [](char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
  };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

// The decoded value of the first query parameter `key` (a plain reading of RFC 3986,
// independent of the library's).
inline std::optional<std::string> QueryParam(std::string_view query, std::string_view key) {
  auto hex = [](char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  auto decode = [&](std::string_view s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
        out += static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2]));
        i += 2;
      } else {
        out += s[i];
      }
    }
    return out;
  };
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view piece = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (piece.empty()) continue;
    size_t eq = piece.find('=');
    if (decode(piece.substr(0, eq)) == key) {
      return eq == std::string_view::npos ? std::string() : decode(piece.substr(eq + 1));
    }
  }
  return std::nullopt;
}

// ParseSignature, then CheckCredentialScope and Verify on what it parsed.
inline void CheckParseAndVerify(TextRequest& request) {
  namespace sigv4 = net::sigv4;
  sigv4::HttpRequestView view = request.View();
  Result<sigv4::ParsedSignature> parsed = sigv4::ParseSignature(view);
  if (!parsed.ok()) {
    CheckAuthError(parsed.status());
    return;
  }
  const sigv4::ParsedSignature& p = *parsed;
  // The request time is the one the client signed: the string to sign carries
  // amz_date, so it must be X-Amz-Date exactly as sent when that is well-formed.
  FUZZ_CHECK(p.amz_date.size() == 16);
  FUZZ_CHECK(FormatAmzDate(p.request_time) == p.amz_date);
  std::optional<std::string> sent_date;
  if (p.presigned) {
    sent_date = QueryParam(request.query, "X-Amz-Date");
  } else {
    for (const auto& h : request.headers) {
      if (TextRequest::SameName(h.name, "x-amz-date")) {
        sent_date = std::string(TrimSpace(h.value));
        break;
      }
    }
  }
  if (sent_date && LooksLikeAmzDate(*sent_date)) {
    FUZZ_CHECK_MSG(p.amz_date == *sent_date, "sent " + *sent_date + ", signed as " + p.amz_date);
  }
  FUZZ_CHECK(p.scope_date == p.amz_date.substr(0, 8));
  FUZZ_CHECK(p.terminator == "aws4_request");
  FUZZ_CHECK(std::any_of(p.signed_headers.begin(), p.signed_headers.end(),
                         [](const std::string& h) { return h == "host" || h == ":authority"; }));
  FUZZ_CHECK(p.Scope() == sigv4::CredentialScope(p.scope_date, p.region, p.service));
  if (p.expires) FUZZ_CHECK(p.presigned && *p.expires <= sigv4::kMaxPresignExpiry);

  CheckAuthError(sigv4::CheckCredentialScope(p, "us-east-1", "kms"));
  FUZZ_CHECK(sigv4::CheckCredentialScope(p, p.region, p.service).ok());

  crypto::SecretBytes signing_key =
      sigv4::DeriveSigningKey(kSigv4Secret, p.scope_date, p.region, p.service);
  for (std::chrono::minutes skew : {sigv4::kJsonClockSkew, sigv4::kQueryClockSkew}) {
    // At the request's own time the clock can never be the reason to refuse.
    Status at_request_time = sigv4::Verify(view, p, kSigv4Secret, p.request_time, skew);
    CheckAuthError(at_request_time);
    std::optional<sigv4::AuthErrorCode> code = sigv4::AuthErrorCodeOf(at_request_time);
    FUZZ_CHECK_MSG(code != sigv4::AuthErrorCode::kSignatureExpired &&
                       code != sigv4::AuthErrorCode::kSignatureNotYetCurrent &&
                       code != sigv4::AuthErrorCode::kRequestExpired,
                   at_request_time.ToString());
    // A cached signing key gives the same answer as the secret.
    FUZZ_CHECK(sigv4::VerifyWithSigningKey(view, p, signing_key, p.request_time, skew) ==
               at_request_time);
    CheckAuthError(sigv4::Verify(view, p, kSigv4Secret, Sigv4FixedNow(), skew));
  }
}

}  // namespace coffer::fuzz
