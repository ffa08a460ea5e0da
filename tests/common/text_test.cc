#include "common/text.h"

#include <gtest/gtest.h>

#include <cctype>

namespace coffer {
namespace {

TEST(TextTest, TrimSpaceTakesEveryAsciiWhiteSpace) {
  EXPECT_EQ(TrimSpace(" \t\r\n\v\fa b\t\n"), "a b");
  EXPECT_EQ(TrimSpace(" \t\n"), "");
  EXPECT_EQ(TrimSpace(""), "");
  EXPECT_EQ(TrimSpace("\xC2\xA0x"), "\xC2\xA0x");  // U+00A0 is not ASCII white space
}

TEST(TextTest, TrimBlanksTakesSpacesAndTabsOnly) {
  EXPECT_EQ(TrimBlanks(" \t 42 \t"), "42");
  EXPECT_EQ(TrimBlanks("\n42\r"), "\n42\r");
  EXPECT_EQ(TrimBlanks("  "), "");
}

TEST(TextTest, IsAsciiSpaceMatchesIsspaceInTheCLocale) {
  for (int c = 0; c < 256; ++c) {
    EXPECT_EQ(IsAsciiSpace(static_cast<char>(c)), std::isspace(c) != 0) << c;
  }
}

TEST(TextTest, StartsWithIgnoringAsciiCase) {
  for (const char* s : {"aws:x", "AWS:x", "Aws:", "aWs:tag"}) {
    EXPECT_TRUE(StartsWithIgnoringAsciiCase(s, "aws:")) << s;
  }
  for (const char* s : {"aws", "awsx:", " aws:", "xaws:", ""}) {
    EXPECT_FALSE(StartsWithIgnoringAsciiCase(s, "aws:")) << s;
  }
  EXPECT_TRUE(StartsWithIgnoringAsciiCase("anything", ""));
  EXPECT_FALSE(StartsWithIgnoringAsciiCase("\xc3\x81ws:", "aws:"));  // ASCII letters only
}

}  // namespace
}  // namespace coffer
