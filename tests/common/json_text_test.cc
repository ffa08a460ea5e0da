// AppendJsonString and ReplaceInvalidUtf8 against nlohmann::json, whose dump
// (ensure_ascii=false, error_handler_t::replace) they must match byte for byte:
// every string of one and two bytes, then random strings built from pieces that
// exercise escaping and UTF-8 replacement.
#include "common/json_text.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <string_view>

namespace coffer {
namespace {

using Json = nlohmann::json;

std::string Dumped(std::string_view s) {
  return Json(std::string(s)).dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string Written(std::string_view s) {
  std::string out = "prefix";  // appends: what is there stays
  AppendJsonString(out, s);
  EXPECT_TRUE(out.starts_with("prefix"));
  return out.substr(6);
}

void ExpectMatches(std::string_view s) {
  const std::string dumped = Dumped(s);
  EXPECT_EQ(Written(s), dumped) << "input bytes: " << testing::PrintToString(std::string(s));
  // What a parser reads back from the written text is ReplaceInvalidUtf8's answer.
  EXPECT_EQ(ReplaceInvalidUtf8(s), Json::parse(dumped).get<std::string>());
}

TEST(JsonTextTest, EscapesAsTheSerializerDoes) {
  EXPECT_EQ(Written(""), "\"\"");
  EXPECT_EQ(Written("arn:aws:kms:us-east-1:111122223333:key/1"),
            "\"arn:aws:kms:us-east-1:111122223333:key/1\"");
  EXPECT_EQ(Written("a\"b\\c/d"), R"("a\"b\\c/d")");
  EXPECT_EQ(Written("\b\t\n\f\r"), R"("\b\t\n\f\r")");
  EXPECT_EQ(Written(std::string_view("\0\x1f\x7f", 3)), "\"\\u0000\\u001f\x7f\"");
  EXPECT_EQ(Written("caf\xc3\xa9"), "\"caf\xc3\xa9\"");  // kept, not \u-escaped
  EXPECT_EQ(Written("a\xff"
                    "b"),
            "\"a\xef\xbf\xbd"
            "b\"");  // U+FFFD for a bad byte
}

TEST(JsonTextTest, EveryStringOfOneAndTwoBytesMatches) {
  for (int a = 0; a < 256; ++a) {
    const char one[1] = {static_cast<char>(a)};
    ExpectMatches(std::string_view(one, 1));
    for (int b = 0; b < 256; ++b) {
      const char two[2] = {static_cast<char>(a), static_cast<char>(b)};
      ExpectMatches(std::string_view(two, 2));
    }
  }
}

TEST(JsonTextTest, RandomStringsOfTrickyPiecesMatch) {
  static constexpr std::string_view kPieces[] = {
      "a",
      "kms",
      "\"",
      "\\",
      "/",
      std::string_view("\0", 1),
      "\x1f",
      "\x7f",
      "\xc3\xa9",          // é
      "\xe2\x82\xac",      // €
      "\xf0\x9f\x98\x80",  // a 4-byte character
      "\xf4\x8f\xbf\xbf",  // U+10FFFF
      "\xff",
      "\xc3",          // a lead byte alone
      "\xe2\x82",      // a 3-byte character cut short
      "\xf0\x9f\x98",  // a 4-byte character cut short
      "\x80",
      "\xbf",              // continuation bytes alone
      "\xc0\xaf",          // an overlong '/'
      "\xed\xa0\x80",      // a surrogate
      "\xf4\x90\x80\x80",  // past U+10FFFF
  };
  std::mt19937_64 rng(20261130);
  for (int i = 0; i < 20000; ++i) {
    std::string s;
    const size_t pieces = rng() % 8;
    for (size_t p = 0; p < pieces; ++p) s += kPieces[rng() % std::size(kPieces)];
    ExpectMatches(s);
  }
}

}  // namespace
}  // namespace coffer
