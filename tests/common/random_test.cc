#include "common/random.h"

#include <gtest/gtest.h>

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
