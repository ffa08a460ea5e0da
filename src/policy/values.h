#pragma once
// Typed condition values (numbers, dates, booleans, IP blocks) and the text
// helpers of the policy language. Internal to policy/: the parser uses these
// to validate a document's values, the evaluator to compare them with the
// request's, so both agree on what a value means.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace coffer::policy::internal {

// ASCII case folding; policy text is compared byte-wise otherwise.
std::string ToLower(std::string_view s);
bool EqualsIgnoreCase(std::string_view a, std::string_view b);

// `*` matches any run of characters, `?` any one character, except where
// `literal` (when given; indexed from `offset`, for a part of a longer pattern)
// marks the pattern's character as literal (one a policy variable put there).
bool MatchPattern(std::string_view pattern, const std::vector<bool>* literal, std::string_view text,
                  bool ignore_case, size_t offset = 0);
// evaluate.h's ArnMatches, with MatchPattern's `literal` over the whole pattern.
bool MatchArnPattern(std::string_view pattern, const std::vector<bool>* literal,
                     std::string_view arn);

// An ARN's six parts: "arn", partition, service, region, account, resource.
// The resource part keeps its colons. Fewer parts when `s` has fewer than five colons.
std::vector<std::string_view> SplitArn(std::string_view s);

// A decimal number: "-12", "3.25", "1e3". No "inf"/"nan", no surrounding space.
std::optional<double> ParseNumber(std::string_view s);

// Milliseconds since the Unix epoch, from epoch seconds ("1563278400") or ISO
// 8601: "2019-07-16", "2019-07-16T12:00:00Z", with optional fractional seconds,
// optional seconds, and a "Z" or "+hh:mm"/"-hh:mm"/"+hhmm" offset (none: UTC).
std::optional<int64_t> ParseDateMillis(std::string_view s);

// "true" or "false", any case.
std::optional<bool> ParseBool(std::string_view s);

// An IPv4 or IPv6 address with a prefix length; a plain address has the full
// length (/32 or /128). Bits beyond the prefix are ignored when matching.
struct IpBlock {
  bool v6 = false;
  std::array<uint8_t, 16> bytes{};  // IPv4 uses the first 4
  int prefix_bits = 0;
};
std::optional<IpBlock> ParseIpBlock(std::string_view s);
// True when `address` (a full-length block) lies in `block` (same family only).
bool IpInBlock(const IpBlock& address, const IpBlock& block);

}  // namespace coffer::policy::internal
