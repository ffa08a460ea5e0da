// Fuzz target: the s3 backend's readers of what an S3 service answers
// (objstore/s3_protocol.h): the XML reader, and the replies built on it
// (errors, ListObjectsV2, multipart uploads), plus the URI decoder.
//
// Input: the bytes of one reply.
//
// Properties (besides no crash, no sanitizer report):
//  - every failure is kDataLoss (a malformed reply), never anything else;
//  - what the reader accepts, it accepts again after the text of every element
//    is escaped back (XmlEscape) in a rebuilt document, with the same tree;
//  - a ListObjectsV2 page that says it is truncated has a continuation token.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_util.h"
#include "objstore/s3_protocol.h"

namespace coffer::fuzz {
namespace {

using objstore::s3::XmlElement;

std::string Rebuild(const XmlElement& e) {
  std::string out = "<" + e.name + ">" + objstore::s3::XmlEscape(e.text);
  for (const XmlElement& c : e.children) out += Rebuild(c);
  return out + "</" + e.name + ">";
}

bool SameTree(const XmlElement& a, const XmlElement& b) {
  if (a.name != b.name || a.text != b.text || a.children.size() != b.children.size()) return false;
  for (size_t i = 0; i < a.children.size(); ++i) {
    if (!SameTree(a.children[i], b.children[i])) return false;
  }
  return true;
}

}  // namespace
}  // namespace coffer::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace coffer;
  using namespace coffer::fuzz;
  std::string_view body(reinterpret_cast<const char*>(data), size);

  Result<objstore::s3::XmlElement> doc = objstore::s3::ParseXml(body);
  if (doc.ok()) {
    // Text outside any element's own text (between children) is concatenated into
    // the parent's text, so the rebuilt document has the same tree.
    Result<objstore::s3::XmlElement> again = objstore::s3::ParseXml(Rebuild(*doc));
    FUZZ_CHECK_MSG(again.ok(), again.status().ToString());
    FUZZ_CHECK(SameTree(*doc, *again));
  } else {
    FUZZ_CHECK_MSG(doc.status().code() == StatusCode::kDataLoss, doc.status().ToString());
  }

  Result<objstore::ListPage> page = objstore::s3::ParseListObjectsV2(body);
  if (page.ok()) {
    FUZZ_CHECK(!page->truncated() || !page->next_continuation_token.empty());
  } else {
    FUZZ_CHECK_MSG(page.status().code() == StatusCode::kDataLoss, page.status().ToString());
  }
  for (auto status : {objstore::s3::ParseInitiateMultipartUpload(body).status(),
                      objstore::s3::ParseListMultipartUploads(body).status()}) {
    FUZZ_CHECK_MSG(status.ok() || status.code() == StatusCode::kDataLoss, status.ToString());
  }
  (void)objstore::s3::ParseCompleteMultipartUpload(body);
  (void)objstore::s3::ParseErrorReply(body);
  (void)objstore::s3::UriDecode(body, true);
  return 0;
}
