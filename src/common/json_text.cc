#include "common/json_text.h"

#include <array>
#include <cstdint>

namespace coffer {
namespace {

using namespace std::string_view_literals;

// The UTF-8 decoder of nlohmann's serializer (Björn Höhrmann's DFA, as
// nlohmann/detail/output/serializer.hpp `decode` has it): 256 byte classes, then
// the transitions of 9 states × 16 classes. State 0 accepts, state 1 rejects.
constexpr uint8_t kUtf8Accept = 0;
constexpr uint8_t kUtf8Reject = 1;
constexpr std::array<uint8_t, 400> kUtf8Dfa = {
    0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,
    0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,  // 00..1F
    0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,
    0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,  // 20..3F
    0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,
    0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,  // 40..5F
    0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,
    0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,  // 60..7F
    1,   1,   1,   1,   1,   1,   1,   1,   1,   1,   1,   1,   1,   1,   1,   1,
    9,   9,   9,   9,   9,   9,   9,   9,   9,   9,   9,   9,   9,   9,   9,   9,  // 80..9F
    7,   7,   7,   7,   7,   7,   7,   7,   7,   7,   7,   7,   7,   7,   7,   7,
    7,   7,   7,   7,   7,   7,   7,   7,   7,   7,   7,   7,   7,   7,   7,   7,  // A0..BF
    8,   8,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,
    2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,    // C0..DF
    0xA, 0x3, 0x3, 0x3, 0x3, 0x3, 0x3, 0x3, 0x3, 0x3, 0x3, 0x3, 0x3, 0x4, 0x3, 0x3,  // E0..EF
    0xB, 0x6, 0x6, 0x6, 0x5, 0x8, 0x8, 0x8, 0x8, 0x8, 0x8, 0x8, 0x8, 0x8, 0x8, 0x8,  // F0..FF
    0x0, 0x1, 0x2, 0x3, 0x5, 0x8, 0x7, 0x1, 0x1, 0x1, 0x4, 0x6, 0x1, 0x1, 0x1, 0x1,  // s0..s0
    1,   1,   1,   1,   1,   1,   1,   1,   1,   1,   1,   1,   1,   1,   1,   1,
    1,   0,   1,   1,   1,   1,   1,   0,   1,   0,   1,   1,   1,   1,   1,   1,  // s1..s2
    1,   2,   1,   1,   1,   1,   1,   2,   1,   2,   1,   1,   1,   1,   1,   1,
    1,   1,   1,   1,   1,   1,   1,   2,   1,   1,   1,   1,   1,   1,   1,   1,  // s3..s4
    1,   2,   1,   1,   1,   1,   1,   1,   1,   2,   1,   1,   1,   1,   1,   1,
    1,   1,   1,   1,   1,   1,   1,   3,   1,   3,   1,   1,   1,   1,   1,   1,  // s5..s6
    1,   3,   1,   1,   1,   1,   1,   3,   1,   3,   1,   1,   1,   1,   1,   1,
    1,   3,   1,   1,   1,   1,   1,   1,   1,   1,   1,   1,   1,   1,   1,   1,  // s7..s8
};

constexpr std::string_view kReplacementCharacter = "\xEF\xBF\xBD";  // U+FFFD

// The bytes copied as they are from the accepting state: ASCII, and for a JSON string
// not '"', '\\' or a control character.
template <bool kJsonEscape>
constexpr std::array<bool, 256> kCopiedAsIs = [] {
  std::array<bool, 256> copied{};
  for (int c = 0; c < 0x80; ++c) copied[c] = !kJsonEscape || (c >= 0x20 && c != '"' && c != '\\');
  return copied;
}();

void AppendEscapedAscii(std::string& out, unsigned char c) {
  switch (c) {
    case '\b':
      out += "\\b"sv;
      return;
    case '\t':
      out += "\\t"sv;
      return;
    case '\n':
      out += "\\n"sv;
      return;
    case '\f':
      out += "\\f"sv;
      return;
    case '\r':
      out += "\\r"sv;
      return;
    case '"':
      out += "\\\""sv;
      return;
    case '\\':
      out += "\\\\"sv;
      return;
    default: {  // the other control characters: "\\u%04x", lowercase hex
      static constexpr char kHex[] = "0123456789abcdef";
      const char escaped[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
      out.append(escaped, sizeof escaped);
      return;
    }
  }
}

// Appends `s` with invalid UTF-8 replaced by U+FFFD exactly as the serializer's
// error_handler_t::replace does it (a bad sequence becomes one U+FFFD, and the
// byte that broke it is read again as the start of the next character), and, when
// kJsonEscape, with '"', '\\' and the control characters escaped as
// dump(ensure_ascii=false) escapes them. Everything else (including '/' and DEL) is
// copied as it is.
template <bool kJsonEscape>
void AppendReplacingInvalidUtf8(std::string& out, std::string_view s) {
  uint8_t state = kUtf8Accept;
  size_t after_last_accept = out.size();  // out's size after the last whole character
  size_t undumped = 0;                    // bytes of the current, unfinished character
  const size_t n = s.size();
  for (size_t i = 0; i < n; ++i) {
    auto byte = static_cast<unsigned char>(s[i]);
    if (state == kUtf8Accept && byte < 0x80) {
      // ASCII from the accepting state: a whole character. Copy the run of plain
      // bytes at once.
      size_t end = i;
      while (end < n && kCopiedAsIs<kJsonEscape>[static_cast<unsigned char>(s[end])]) ++end;
      if (end > i) {
        out.append(s.data() + i, end - i);
        i = end - 1;
      } else {
        AppendEscapedAscii(out, byte);
      }
      after_last_accept = out.size();
      continue;
    }
    // The code point itself is not needed: a multi-byte character is never escaped
    // with ensure_ascii=false, and overlong forms of ASCII are rejected.
    state = kUtf8Dfa[256u + state * 16u + kUtf8Dfa[byte]];
    if (state == kUtf8Accept) {
      out.push_back(static_cast<char>(byte));
      after_last_accept = out.size();
      undumped = 0;
    } else if (state == kUtf8Reject) {
      // Read this byte again unless it started the bad sequence itself: it may be
      // fine on its own, just not after what came before.
      if (undumped > 0) --i;
      out.resize(after_last_accept);
      out += kReplacementCharacter;
      after_last_accept = out.size();
      undumped = 0;
      state = kUtf8Accept;
    } else {
      out.push_back(static_cast<char>(byte));
      ++undumped;
    }
  }
  if (state != kUtf8Accept) {  // the text ended inside a character
    out.resize(after_last_accept);
    out += kReplacementCharacter;
  }
}

}  // namespace

std::string ReplaceInvalidUtf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  AppendReplacingInvalidUtf8<false>(out, s);
  return out;
}

void AppendJsonString(std::string& out, std::string_view s) {
  out.push_back('"');
  AppendReplacingInvalidUtf8<true>(out, s);
  out.push_back('"');
}

}  // namespace coffer
