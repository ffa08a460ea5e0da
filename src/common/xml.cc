#include "common/xml.h"

namespace coffer {

std::string XmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    switch (ch) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      case '\r':
        out += "&#13;";
        break;
      default:
        if (c < 0x20 && ch != '\t' && ch != '\n') {
          out += "\xEF\xBF\xBD";  // U+FFFD: XML 1.0 cannot carry this character
        } else {
          out.push_back(ch);
        }
    }
  }
  return out;
}

}  // namespace coffer
