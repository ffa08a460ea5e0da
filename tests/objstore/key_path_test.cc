#include "objstore/key_path.h"

#include <gtest/gtest.h>

#include <set>

#include "common/random.h"

namespace coffer::objstore::key_path {
namespace {

// Decodes a relative path as the file backend's List does.
std::optional<std::string> DecodePath(const std::vector<std::string>& components) {
  std::string key;
  for (size_t i = 0; i < components.size(); ++i) {
    std::optional<std::string> part = DecodeComponent(components[i], i + 1 == components.size());
    if (!part) return std::nullopt;
    key += *part;
  }
  return key;
}

TEST(KeyPathTest, Examples) {
  EXPECT_EQ(RelativePath("db/2026-11-30/full.bak"), "db/2026-11-30/full.bak%o");
  EXPECT_EQ(RelativePath("a/../b c"), "a/%2E./b%20c%o");
  EXPECT_EQ(RelativePath("x/"), "x/%%o");
  EXPECT_EQ(RelativePath("/x"), "%/x%o");
  EXPECT_EQ(RelativePath(".."), "%2E.%o");
  EXPECT_EQ(RelativePath("."), "%2E%o");
  EXPECT_EQ(RelativePath("a%b"), "a%25b%o");
  EXPECT_EQ(RelativePath("été"), "été%o");  // UTF-8 kept
  EXPECT_EQ(RelativePath(".hidden/.tmp-x"), "%2Ehidden/%2Etmp-x%o");
}

TEST(KeyPathTest, NoComponentCanLeaveItsDirectory) {
  for (const char* key : {"..", "../x", "a/../../..", "./.", "x/./..", "/../", "//..//"}) {
    for (const std::string& c : Components(key)) {
      EXPECT_NE(c, ".") << key;
      EXPECT_NE(c, "..") << key;
      EXPECT_FALSE(c.empty()) << key;
      EXPECT_NE(c.front(), '.') << key;
      EXPECT_EQ(c.find('/'), std::string::npos) << key;
    }
  }
}

TEST(KeyPathTest, LongSegmentsAreCut) {
  std::string key = std::string(1024, 'a');
  std::vector<std::string> components = Components(key);
  ASSERT_GT(components.size(), 5u);
  for (size_t i = 0; i + 1 < components.size(); ++i) {
    EXPECT_TRUE(components[i].ends_with(kContinuationSuffix));
  }
  for (const std::string& c : components) EXPECT_LE(c.size(), kMaxChunk + 2);
  EXPECT_EQ(DecodePath(components), key);
  // Escapes are never cut, and a chunk may not begin with a raw '.'.
  std::string escaped(1000, ' ');
  for (size_t i = 0; i < escaped.size(); i += 7) escaped[i] = '.';
  for (const std::string& c : Components(escaped)) {
    EXPECT_LE(c.size(), kMaxChunk + 2);
    EXPECT_NE(c.front(), '.');
  }
  EXPECT_EQ(DecodePath(Components(escaped)), escaped);
}

TEST(KeyPathTest, RandomKeysRoundTripAndStayDistinct) {
  SeededRandom random(42);
  const std::string alphabet = std::string("ab./%+ -_~") + "\x01\x7f" + "\xc3\xa9";
  std::set<std::string> paths;
  std::set<std::string> keys;
  for (int i = 0; i < 5000; ++i) {
    size_t len = 1 + random.NextU64() % 40;
    std::string key;
    for (size_t j = 0; j < len; ++j) key += alphabet[random.NextU64() % alphabet.size()];
    if (!keys.insert(key).second) continue;
    std::vector<std::string> components = Components(key);
    EXPECT_EQ(DecodePath(components), key) << key;
    EXPECT_TRUE(paths.insert(RelativePath(key)).second) << "two keys share " << RelativePath(key);
  }
}

TEST(KeyPathTest, DecodeRefusesNamesItNeverProduces) {
  // Temporary files, stray names, escapes of what is kept raw, lower-case hex.
  for (const char* name : {".tmp-abc123", "x", "x%o.tmp-1", "%41%o", "%2e%o", ".x%o", "%%o%o",
                           "a%2%o", "%zz%o", "%o", "a b%o", "a/b%o"}) {
    EXPECT_EQ(DecodeComponent(name, true), std::nullopt) << name;
  }
  for (const char* name : {".tmp", "%41", "%+", "..", ".", "a b", "%2e"}) {
    EXPECT_EQ(DecodeComponent(name, false), std::nullopt) << name;
  }
  EXPECT_EQ(DecodeComponent("%", false), "/");
  EXPECT_EQ(DecodeComponent("abc%+", false), "abc");
  EXPECT_EQ(DecodeComponent("abc", false), "abc/");
  EXPECT_EQ(DecodeComponent("%%o", true), "");
  EXPECT_EQ(DecodeComponent("%2E.%o", true), "..");
}

}  // namespace
}  // namespace coffer::objstore::key_path
