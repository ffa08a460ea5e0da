// JSON string text written straight into a std::string, byte for byte as
// nlohmann::json's dump(-1, ' ', /*ensure_ascii=*/false, error_handler_t::replace)
// writes it: for hot paths (audit records, KMS replies) that must not pay for
// building and dumping a JSON tree, yet must produce the very same bytes.
#pragma once

#include <string>
#include <string_view>

namespace coffer {

// Appends `s` as a JSON string: quoted; '"', '\\' and the control characters
// escaped (\b \t \n \f \r, else \u00XX in lowercase hex); invalid UTF-8
// replaced by U+FFFD, one per bad sequence, as the serializer's `replace` does;
// everything else (other non-ASCII text, '/', DEL) copied as it is.
void AppendJsonString(std::string& out, std::string_view s);

// `s` with invalid UTF-8 replaced as AppendJsonString replaces it, unquoted and
// unescaped: the text a JSON parser reads back from AppendJsonString's output.
std::string ReplaceInvalidUtf8(std::string_view s);

}  // namespace coffer
