#include "common/list_marker.h"

#include <gtest/gtest.h>

namespace coffer {
namespace {

TEST(ListMarkerTest, AMarkerIsGoodForItsOwnListOnly) {
  std::string marker = EncodeListMarker("users", "alice");
  EXPECT_EQ(DecodeListMarker(marker, "users"), "alice");
  EXPECT_EQ(DecodeListMarker(marker, "roles"), std::nullopt);
  EXPECT_EQ(DecodeListMarker(marker, "user"), std::nullopt);  // a prefix of the scope
  EXPECT_EQ(DecodeListMarker(EncodeListMarker("users", ""), "users"), std::nullopt);
  for (const char* text : {"alice", "", "%%", "dXNlcnM="}) {  // the last: "users"
    EXPECT_EQ(DecodeListMarker(text, "users"), std::nullopt) << text;
  }
  // Any bytes after the scope, a new line among them.
  EXPECT_EQ(DecodeListMarker(EncodeListMarker("k", "a\nb\xff"), "k"), "a\nb\xff");
}

}  // namespace
}  // namespace coffer
