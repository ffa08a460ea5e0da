#include "common/list_marker.h"

#include "common/bytes.h"

namespace coffer {

std::string EncodeListMarker(std::string_view scope, std::string_view position) {
  std::string raw = std::string(scope) + "\n" + std::string(position);
  return Base64Encode(ByteView(reinterpret_cast<const uint8_t*>(raw.data()), raw.size()));
}

std::optional<std::string> DecodeListMarker(std::string_view marker, std::string_view scope) {
  Result<Bytes> raw = Base64Decode(marker);
  if (!raw.ok()) return std::nullopt;
  std::string text = ToString(*raw);
  if (text.size() <= scope.size() + 1 || !text.starts_with(scope) || text[scope.size()] != '\n') {
    return std::nullopt;
  }
  return text.substr(scope.size() + 1);
}

}  // namespace coffer
