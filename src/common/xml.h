#pragma once
// XML text escaping, shared by the writers of XML (the AWS Query protocol's
// replies, the S3 requests of the object store).
#include <string>
#include <string_view>

namespace coffer {

// Text with & < > " ' escaped, and the characters XML 1.0 cannot carry
// (control characters but tab, LF, CR) replaced by U+FFFD; CR is written as
// &#13; so that it survives parsing.
std::string XmlEscape(std::string_view text);

}  // namespace coffer
