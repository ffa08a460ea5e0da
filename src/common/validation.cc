#include "common/validation.h"

namespace coffer {
namespace {
std::string Str(std::string_view s) { return std::string(s); }
}  // namespace

namespace {

// Calls `fn` with each code point of `s`; false (part way) when `s` is not valid UTF-8.
template <typename Fn>
bool ForEachCodePoint(std::string_view s, Fn fn) {
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {  // ASCII: most text
      fn(static_cast<char32_t>(c));
      ++i;
      continue;
    }
    size_t len = (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (len == 0 || i + len > s.size()) return false;
    char32_t cp = len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
    for (size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    static constexpr char32_t kMinForLength[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMinForLength[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    fn(cp);
    i += len;
  }
  return true;
}

}  // namespace

std::optional<std::u32string> DecodeUtf8(std::string_view s) {
  std::u32string out;
  out.reserve(s.size());
  if (!ForEachCodePoint(s, [&](char32_t cp) { out.push_back(cp); })) return std::nullopt;
  return out;
}

size_t CharacterCount(std::string_view s) {
  size_t n = 0;
  return ForEachCodePoint(s, [&](char32_t) { ++n; }) ? n : s.size();
}

void ValidationErrors::Push(std::string_view field, std::string error) {
  errors_.push_back(std::move(error));
  fields_.push_back(Str(field));
}

void ValidationErrors::Add(std::string_view field, std::string_view value,
                           std::string_view constraint) {
  Push(field, "Value '" + Str(value) + "' at '" + Str(field) +
                  "' failed to satisfy constraint: " + Str(constraint));
}

void ValidationErrors::AddSensitive(std::string_view field, std::string_view constraint) {
  Push(field, "Value at '" + Str(field) + "' failed to satisfy constraint: " + Str(constraint));
}

void ValidationErrors::AddNull(std::string_view field) {
  Push(field,
       "Value null at '" + Str(field) + "' failed to satisfy constraint: Member must not be null");
}

bool ValidationErrors::Reported(std::string_view field) const {
  for (const std::string& f : fields_) {
    if (f == field) return true;
  }
  return false;
}

void ValidationErrors::Length(std::string_view field, std::string_view value, size_t min,
                              size_t max) {
  const size_t length = CharacterCount(value);
  if (length < min) {
    Add(field, value, "Member must have length greater than or equal to " + std::to_string(min));
  } else if (length > max) {
    Add(field, value, "Member must have length less than or equal to " + std::to_string(max));
  }
}

void ValidationErrors::Range(std::string_view field, long long value, long long min,
                             long long max) {
  if (value < min) {
    Add(field, std::to_string(value),
        "Member must have value greater than or equal to " + std::to_string(min));
  } else if (value > max) {
    Add(field, std::to_string(value),
        "Member must have value less than or equal to " + std::to_string(max));
  }
}

void ValidationErrors::Enum(std::string_view field, std::string_view value,
                            const std::vector<std::string_view>& allowed) {
  for (auto a : allowed) {
    if (a == value) return;
  }
  std::string set = "[";
  for (size_t i = 0; i < allowed.size(); ++i) set += (i ? ", " : "") + Str(allowed[i]);
  set += "]";
  Add(field, value, "Member must satisfy enum value set: " + set);
}

void ValidationErrors::Pattern(std::string_view field, std::string_view value, bool matches,
                               std::string_view pattern) {
  if (!matches) {
    Add(field, value, "Member must satisfy regular expression pattern: " + Str(pattern));
  }
}

Status ValidationErrors::ToStatus() const {
  if (errors_.empty()) return Status::Ok();
  std::string msg =
      std::to_string(errors_.size()) +
      (errors_.size() == 1 ? " validation error detected: " : " validation errors detected: ");
  for (size_t i = 0; i < errors_.size(); ++i) msg += (i ? "; " : "") + errors_[i];
  return Status(StatusCode::kInvalidArgument, error_name_, std::move(msg));
}

}  // namespace coffer
