#pragma once
// Trimming white space off text, the two ways the protocols need it, and
// prefixes compared as AWS compares reserved ones.
#include <string_view>

namespace coffer {

// ASCII white space: space, \t, \n, \v, \f, \r (what isspace() takes in the C locale).
constexpr bool IsAsciiSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

// `s` without leading and trailing ASCII white space.
std::string_view TrimSpace(std::string_view s);

// `s` without leading and trailing spaces and tabs: HTTP's optional white space
// around a header value's parts, the blanks SQL Server ignores around a number,
// and those around the parts of a policy variable (${aws:username}).
std::string_view TrimBlanks(std::string_view s);

// Whether `s` begins with `prefix`, ASCII letters compared without case: AWS
// reserves a tag key's "aws:" prefix in any case ("AWS:x", "Aws:x").
bool StartsWithIgnoringAsciiCase(std::string_view s, std::string_view prefix);

// Whether `a` and `b` are equal, ASCII letters compared without case.
bool EqualsIgnoringAsciiCase(std::string_view a, std::string_view b);

}  // namespace coffer
