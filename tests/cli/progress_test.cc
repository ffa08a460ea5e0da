#include "cli/progress.h"

#include <gtest/gtest.h>

#include <sstream>

#include "testing/status_matchers.h"

namespace coffer::cli {
namespace {

TEST(ProgressTest, HumanBytes) {
  EXPECT_EQ(HumanBytes(0), "0 B");
  EXPECT_EQ(HumanBytes(1023), "1023 B");
  EXPECT_EQ(HumanBytes(1024), "1.0 KiB");
  EXPECT_EQ(HumanBytes(512ull << 20), "512.0 MiB");
  EXPECT_EQ(HumanBytes(1093595136), "1.0 GiB");
}

TEST(ProgressTest, RendersABarWithAKnownTotal) {
  EXPECT_EQ(ProgressBar::Render("encrypt", 512ull << 20, 1ull << 30, 2.0),
            "encrypt [##########..........]  50%  512.0 MiB / 1.0 GiB  268.4 MB/s");
  EXPECT_EQ(ProgressBar::Render("", 0, 0, 0), "[####################] 100%  0 B / 0 B");
  // More than the total (a file that grew) stays at 100%.
  EXPECT_EQ(ProgressBar::Render("x", 20, 10, 0), "x [####################] 100%  20 B / 10 B");
}

TEST(ProgressTest, RendersBytesWithoutATotal) {
  EXPECT_EQ(ProgressBar::Render("decrypt", 3ull << 20, std::nullopt, 1.0),
            "decrypt 3.0 MiB  3.1 MB/s");
}

TEST(ProgressTest, DrawsNothingWhenDisabled) {
  std::ostringstream out;
  {
    ProgressBar bar(out, false, 100, "x");
    bar.Update(50);
    bar.Finish();
  }
  EXPECT_EQ(out.str(), "");
}

TEST(ProgressTest, DrawsInPlaceAndEndsTheLine) {
  std::ostringstream out;
  ProgressBar bar(out, true, 100, "x");
  bar.Update(50);
  bar.Finish();
  bar.Finish();
  std::string text = out.str();
  EXPECT_EQ(text.rfind("\rx [##########..........]  50%", 0), 0u) << text;
  EXPECT_EQ(text.back(), '\n');
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1);
}

TEST(ProgressTest, CountingSourceReportsWhatWasRead) {
  Bytes data(1000, 7);
  auto upstream = MemorySource(data);
  std::ostringstream out;
  ProgressBar bar(out, true, 1000, "");
  auto counted = CountingSource(*upstream, bar);
  Bytes buffer(300);
  ASSERT_OK_AND_ASSIGN(size_t n, ReadFull(*counted, buffer));
  EXPECT_EQ(n, 300u);
  bar.Finish();
  EXPECT_NE(out.str().find("300 B / 1000 B"), std::string::npos) << out.str();
}

}  // namespace
}  // namespace coffer::cli
