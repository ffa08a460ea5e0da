#include "common/random.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <regex>
#include <set>

namespace coffer {
namespace {

TEST(RandomTest, SeededIsDeterministic) {
  SeededRandom a(42), b(42), c(43);
  EXPECT_EQ(a.Uuid(), b.Uuid());
  EXPECT_NE(a.NextU64(), c.NextU64());
}

TEST(RandomTest, UuidIsVersion4) {
  SystemRandom r;
  std::regex form("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    std::string u = r.Uuid();
    EXPECT_TRUE(std::regex_match(u, form)) << u;
    seen.insert(u);
  }
  EXPECT_EQ(seen.size(), 100u);
}

TEST(RandomTest, TimeOrderedUuidIsVersion7WithTheTimeFirst) {
  SystemRandom r;
  std::regex form("^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");
  // 2026-11-30T19:30:00.123Z in milliseconds since the epoch.
  const uint64_t ms = 1796067000123;
  std::string u = r.TimeOrderedUuid(ms);
  EXPECT_TRUE(std::regex_match(u, form)) << u;
  char want[16];
  std::snprintf(want, sizeof want, "%08llx-%04llx", static_cast<unsigned long long>(ms >> 16),
                static_cast<unsigned long long>(ms & 0xffff));
  EXPECT_EQ(u.substr(0, 13), want);
  // Later milliseconds sort later; the same millisecond gives distinct ids.
  std::set<std::string> seen;
  std::string previous;
  for (uint64_t t = ms; t < ms + 200; ++t) {
    std::string a = r.TimeOrderedUuid(t), b = r.TimeOrderedUuid(t);
    EXPECT_NE(a, b);
    EXPECT_GT(std::min(a, b), previous);
    previous = std::max(a, b);
    seen.insert(a);
    seen.insert(b);
  }
  EXPECT_EQ(seen.size(), 400u);
}

TEST(RandomTest, StringUsesOnlyTheAlphabetAndAllOfIt) {
  SeededRandom r(7);
  std::string s = r.String(2000, "ABC");
  EXPECT_EQ(s.size(), 2000u);
  EXPECT_EQ(s.find_first_not_of("ABC"), std::string::npos);
  for (char c : std::string("ABC")) EXPECT_NE(s.find(c), std::string::npos);
}

TEST(RandomTest, SystemRandomFillsLargeBuffers) {
  SystemRandom r;
  std::vector<uint8_t> a(1 << 16), b(1 << 16);
  r.Fill(a);
  r.Fill(b);
  EXPECT_NE(a, b);
}

}  // namespace
}  // namespace coffer
