#include "common/text.h"

#include <algorithm>

namespace coffer {
namespace {

template <typename IsBlank>
std::string_view TrimIf(std::string_view s, IsBlank is_blank) {
  while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_blank(s.back())) s.remove_suffix(1);
  return s;
}

}  // namespace

std::string_view TrimSpace(std::string_view s) { return TrimIf(s, IsAsciiSpace); }

std::string_view TrimBlanks(std::string_view s) {
  return TrimIf(s, [](char c) { return c == ' ' || c == '\t'; });
}

bool StartsWithIgnoringAsciiCase(std::string_view s, std::string_view prefix) {
  auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
  return s.size() >= prefix.size() &&
         std::equal(prefix.begin(), prefix.end(), s.begin(),
                    [&](char a, char b) { return lower(a) == lower(b); });
}

bool EqualsIgnoringAsciiCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && StartsWithIgnoringAsciiCase(a, b);
}

}  // namespace coffer
