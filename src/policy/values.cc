#include "policy/values.h"

#include <arpa/inet.h>

#include <charconv>
#include <cmath>

namespace coffer::policy::internal {
namespace {

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Reads exactly `n` digits at `pos`.
bool ReadDigits(std::string_view s, size_t& pos, size_t n, int& out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = 0; i < n; ++i) {
    char c = s[pos + i];
    if (!IsDigit(c)) return false;
    v = v * 10 + (c - '0');
  }
  pos += n;
  out = v;
  return true;
}

// Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar
// (H. Hinnant, "chrono-Compatible Low-Level Date Algorithms").
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

int DaysInMonth(int y, int m) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : kDays[m - 1];
}

}  // namespace

std::string ToLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = Lower(c);
  return out;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (Lower(a[i]) != Lower(b[i])) return false;
  }
  return true;
}

std::vector<std::string_view> SplitArn(std::string_view s) {
  std::vector<std::string_view> parts;
  while (parts.size() < 5) {
    size_t colon = s.find(':');
    if (colon == std::string_view::npos) break;
    parts.push_back(s.substr(0, colon));
    s.remove_prefix(colon + 1);
  }
  parts.push_back(s);
  return parts;
}

std::optional<double> ParseNumber(std::string_view s) {
  if (s.empty()) return std::nullopt;
  // from_chars also accepts "inf" and "nan"; a policy number starts with a digit.
  size_t first = s[0] == '-' ? 1 : 0;
  if (first >= s.size() || !(IsDigit(s[first]) || s[first] == '.')) return std::nullopt;
  double v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

std::optional<int64_t> ParseDateMillis(std::string_view s) {
  if (s.empty()) return std::nullopt;
  bool all_digits = true;
  for (char c : s) all_digits = all_digits && IsDigit(c);
  if (all_digits) {  // epoch seconds
    if (s.size() > 12) return std::nullopt;
    int64_t secs = 0;
    for (char c : s) secs = secs * 10 + (c - '0');
    return secs * 1000;
  }
  size_t pos = 0;
  int year, month, day, hour = 0, minute = 0, second = 0, millis = 0;
  if (!ReadDigits(s, pos, 4, year) || pos >= s.size() || s[pos++] != '-' ||
      !ReadDigits(s, pos, 2, month) || pos >= s.size() || s[pos++] != '-' ||
      !ReadDigits(s, pos, 2, day)) {
    return std::nullopt;
  }
  if (month < 1 || month > 12 || day < 1 || day > DaysInMonth(year, month)) return std::nullopt;
  int64_t offset_minutes = 0;
  if (pos < s.size()) {
    if (s[pos] != 'T' && s[pos] != 't') return std::nullopt;
    ++pos;
    if (!ReadDigits(s, pos, 2, hour) || pos >= s.size() || s[pos++] != ':' ||
        !ReadDigits(s, pos, 2, minute)) {
      return std::nullopt;
    }
    if (pos < s.size() && s[pos] == ':') {
      ++pos;
      if (!ReadDigits(s, pos, 2, second)) return std::nullopt;
      if (pos < s.size() && s[pos] == '.') {
        ++pos;
        size_t digits = 0;
        int scale = 100;
        while (pos < s.size() && IsDigit(s[pos])) {
          if (digits < 3) millis += (s[pos] - '0') * scale;
          scale /= 10;
          ++digits;
          ++pos;
        }
        if (digits == 0) return std::nullopt;
      }
    }
    if (hour > 23 || minute > 59 || second > 59) return std::nullopt;
    if (pos < s.size()) {
      char z = s[pos++];
      if (z == 'Z' || z == 'z') {
        // UTC
      } else if (z == '+' || z == '-') {
        int oh, om;
        if (!ReadDigits(s, pos, 2, oh)) return std::nullopt;
        if (pos < s.size() && s[pos] == ':') ++pos;
        if (!ReadDigits(s, pos, 2, om) || oh > 23 || om > 59) return std::nullopt;
        offset_minutes = (z == '+' ? 1 : -1) * (oh * 60 + om);
      } else {
        return std::nullopt;
      }
    }
    if (pos != s.size()) return std::nullopt;
  }
  int64_t secs =
      DaysFromCivil(year, static_cast<unsigned>(month), static_cast<unsigned>(day)) * 86400 +
      hour * 3600 + minute * 60 + second - offset_minutes * 60;
  return secs * 1000 + millis;
}

std::optional<bool> ParseBool(std::string_view s) {
  if (EqualsIgnoreCase(s, "true")) return true;
  if (EqualsIgnoreCase(s, "false")) return false;
  return std::nullopt;
}

std::optional<IpBlock> ParseIpBlock(std::string_view s) {
  std::string_view addr = s;
  std::optional<int> prefix;
  if (size_t slash = s.find('/'); slash != std::string_view::npos) {
    addr = s.substr(0, slash);
    std::string_view bits = s.substr(slash + 1);
    if (bits.empty() || bits.size() > 3) return std::nullopt;
    int v = 0;
    for (char c : bits) {
      if (!IsDigit(c)) return std::nullopt;
      v = v * 10 + (c - '0');
    }
    prefix = v;
  }
  if (addr.empty() || addr.size() > 45) return std::nullopt;
  IpBlock block;
  block.v6 = addr.find(':') != std::string_view::npos;
  std::string text(addr);  // inet_pton wants a terminated string
  if (inet_pton(block.v6 ? AF_INET6 : AF_INET, text.c_str(), block.bytes.data()) != 1) {
    return std::nullopt;
  }
  int max_bits = block.v6 ? 128 : 32;
  block.prefix_bits = prefix.value_or(max_bits);
  if (block.prefix_bits < 0 || block.prefix_bits > max_bits) return std::nullopt;
  return block;
}

bool IpInBlock(const IpBlock& address, const IpBlock& block) {
  if (address.v6 != block.v6) return false;
  int bits = block.prefix_bits;
  for (int i = 0; bits > 0; ++i, bits -= 8) {
    uint8_t mask = bits >= 8 ? 0xff : static_cast<uint8_t>(0xff << (8 - bits));
    if ((address.bytes[i] & mask) != (block.bytes[i] & mask)) return false;
  }
  return true;
}

bool MatchPattern(std::string_view pattern, const std::vector<bool>* literal, std::string_view text,
                  bool ignore_case, size_t offset) {
  auto same = [ignore_case](char a, char b) {
    if (!ignore_case) return a == b;
    return EqualsIgnoreCase(std::string_view(&a, 1), std::string_view(&b, 1));
  };
  auto is = [&](size_t i, char wildcard) {
    return pattern[i] == wildcard && (literal == nullptr || !(*literal)[offset + i]);
  };
  // Greedy with backtracking to the last '*': O(|pattern| * |text|) at worst.
  size_t p = 0, t = 0, star = std::string_view::npos, resume = 0;
  while (t < text.size()) {
    if (p < pattern.size() && is(p, '*')) {
      star = p++;
      resume = t;
    } else if (p < pattern.size() && (is(p, '?') || same(pattern[p], text[t]))) {
      ++p;
      ++t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && is(p, '*')) ++p;
  return p == pattern.size();
}

bool MatchArnPattern(std::string_view pattern, const std::vector<bool>* literal,
                     std::string_view arn) {
  if (pattern == "*" && (literal == nullptr || !(*literal)[0])) return true;
  auto p = SplitArn(pattern), a = SplitArn(arn);
  if (p.size() != 6 || a.size() != 6) return false;
  for (size_t i = 0; i < 6; ++i) {
    if (!MatchPattern(p[i], literal, a[i], false,
                      static_cast<size_t>(p[i].data() - pattern.data())))
      return false;
  }
  return true;
}

}  // namespace coffer::policy::internal
