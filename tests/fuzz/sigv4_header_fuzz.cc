// Fuzz target: SigV4 verification of a request signed with the Authorization header
// (net::sigv4::ParseSignature, CheckCredentialScope, Verify), and the signer against
// the verifier.
//
// Input: a request in the text form of fuzz_http_request.h. The seeds are requests
// captured from the aws CLI, boto3 and the AWS Encryption SDK for JavaScript
// (shared/testdata/sigv4), whose secret is "secret", so they verify.
//
// Properties (besides no crash, no sanitizer report):
//  - every error is a SigV4 AuthErrorCode;
//  - a parsed signature is self-consistent and keeps X-Amz-Date as sent;
//  - at the request's own time, Verify never refuses for the time, and a cached
//    signing key verifies as the secret does;
//  - whatever Sign() signs (any request with a Host header) verifies, for "kms" and "s3".
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "crypto/secret_bytes.h"
#include "fuzz_http_request.h"
#include "fuzz_util.h"
#include "net/sigv4.h"
#include "sigv4_fuzz_checks.h"

namespace coffer::fuzz {
namespace {

namespace sigv4 = net::sigv4;

// A request an HTTP server could deliver (header names are tokens) and that carries
// no pre-signed query (which with an Authorization header is refused by design).
bool Signable(const TextRequest& r) {
  for (const auto& h : r.headers) {
    if (!IsHttpToken(h.name)) return false;
  }
  return !QueryParam(r.query, "X-Amz-Algorithm").has_value();
}

void CheckSignThenVerify(const TextRequest& original) {
  if (!Signable(original)) return;
  for (std::string_view service : {"kms", "s3"}) {
    TextRequest request = original;
    request.Remove("authorization");
    sigv4::Credentials credentials{"AKIDEXAMPLE", crypto::SecretBytes(kSigv4Secret),
                                   service == "s3" ? "session-token" : ""};
    Result<std::vector<sigv4::Header>> added =
        sigv4::Sign(request.View(), credentials, "us-east-1", service, Sigv4FixedNow());
    if (!added.ok()) {
      FUZZ_CHECK_MSG(added.status().code() == StatusCode::kInvalidArgument ||
                         sigv4::AuthErrorCodeOf(added.status()).has_value(),
                     added.status().ToString());
      continue;
    }
    request.Set(*added);
    sigv4::HttpRequestView view = request.View();
    Result<sigv4::ParsedSignature> parsed = sigv4::ParseSignature(view);
    FUZZ_CHECK_MSG(parsed.ok(), parsed.status().ToString());
    FUZZ_CHECK(parsed->access_key_id == "AKIDEXAMPLE");
    FUZZ_CHECK(sigv4::CheckCredentialScope(*parsed, "us-east-1", service).ok());
    Status verified = sigv4::Verify(view, *parsed, kSigv4Secret, Sigv4FixedNow());
    FUZZ_CHECK_MSG(verified.ok(), verified.ToString());
  }
}

}  // namespace
}  // namespace coffer::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace coffer::fuzz;
  TextRequest request = TextRequest::Parse(AsText(data, size));
  CheckParseAndVerify(request);
  CheckSignThenVerify(request);
  return 0;
}
