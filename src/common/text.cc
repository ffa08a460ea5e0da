#include "common/text.h"

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

}  // namespace coffer
