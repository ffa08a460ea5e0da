#include "cli/progress.h"

#include <algorithm>
#include <cstdio>

namespace coffer::cli {

namespace {
constexpr int kBarWidth = 20;
constexpr auto kRedrawInterval = std::chrono::milliseconds(100);

class CountingSourceImpl final : public ByteSource {
 public:
  CountingSourceImpl(ByteSource& upstream, ProgressBar& progress)
      : upstream_(upstream), progress_(progress) {}
  Result<size_t> Read(std::span<uint8_t> out) override {
    auto n = upstream_.Read(out);
    if (n.ok()) {
      done_ += *n;
      progress_.Update(done_);
    }
    return n;
  }

 private:
  ByteSource& upstream_;
  ProgressBar& progress_;
  uint64_t done_ = 0;
};
}  // namespace

std::string HumanBytes(uint64_t bytes) {
  static const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
  if (bytes < 1024) return std::to_string(bytes) + " B";
  double value = static_cast<double>(bytes) / 1024;
  int unit = 0;
  while (value >= 1024 && unit < 4) {
    value /= 1024;
    ++unit;
  }
  char text[32];
  std::snprintf(text, sizeof text, "%.1f %s", value, kUnits[unit]);
  return text;
}

ProgressBar::ProgressBar(std::ostream& out, bool enabled, std::optional<uint64_t> total,
                         std::string label)
    : out_(out),
      enabled_(enabled),
      total_(total),
      label_(std::move(label)),
      start_(std::chrono::steady_clock::now()) {}

ProgressBar::~ProgressBar() { Finish(); }

std::string ProgressBar::Render(std::string_view label, uint64_t done,
                                std::optional<uint64_t> total, double seconds) {
  std::string line(label);
  if (!line.empty()) line += " ";
  char rate[48] = "";
  if (seconds > 0) {
    std::snprintf(rate, sizeof rate, "  %.1f MB/s", static_cast<double>(done) / 1e6 / seconds);
  }
  if (total) {
    uint64_t whole = *total == 0 ? 1 : *total;
    uint64_t part = std::min(done, whole);
    int filled = static_cast<int>(part * kBarWidth / whole);
    int percent = static_cast<int>(part * 100 / whole);
    if (*total == 0) filled = kBarWidth, percent = 100;
    line += "[" + std::string(filled, '#') + std::string(kBarWidth - filled, '.') + "] ";
    char pct[8];
    std::snprintf(pct, sizeof pct, "%3d%%", percent);
    line += pct;
    line += "  " + HumanBytes(done) + " / " + HumanBytes(*total);
  } else {
    line += HumanBytes(done);
  }
  return line + rate;
}

void ProgressBar::Update(uint64_t done) {
  if (!enabled_) return;
  std::lock_guard lock(mu_);
  done_ = done;
  auto now = std::chrono::steady_clock::now();
  if (finished_ || now - last_draw_ < kRedrawInterval) return;
  last_draw_ = now;
  double seconds = std::chrono::duration<double>(now - start_).count();
  // \r and clear-to-end-of-line: the bar redraws itself in place.
  out_ << "\r" << Render(label_, done_, total_, seconds) << "\x1b[K" << std::flush;
  drawn_ = true;
}

namespace {
std::string RenderPercent(std::string_view label, int percent) {
  percent = std::clamp(percent, 0, 100);
  int filled = percent * kBarWidth / 100;
  char pct[8];
  std::snprintf(pct, sizeof pct, "%3d%%", percent);
  return std::string(label) + (label.empty() ? "" : " ") + "[" + std::string(filled, '#') +
         std::string(kBarWidth - filled, '.') + "] " + pct;
}
}  // namespace

void ProgressBar::UpdatePercent(int percent) {
  if (!enabled_) return;
  std::lock_guard lock(mu_);
  percent_ = percent;
  auto now = std::chrono::steady_clock::now();
  if (finished_ || now - last_draw_ < kRedrawInterval) return;
  last_draw_ = now;
  out_ << "\r" << RenderPercent(label_, percent_) << "\x1b[K" << std::flush;
  drawn_ = true;
}

void ProgressBar::Finish() {
  if (!enabled_) return;
  std::lock_guard lock(mu_);
  if (finished_) return;
  finished_ = true;
  if (!drawn_) return;
  if (percent_ >= 0) {
    out_ << "\r" << RenderPercent(label_, percent_) << "\x1b[K\n" << std::flush;
    return;
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  out_ << "\r" << Render(label_, done_, total_, seconds) << "\x1b[K\n" << std::flush;
}

std::unique_ptr<ByteSource> CountingSource(ByteSource& upstream, ProgressBar& progress) {
  return std::make_unique<CountingSourceImpl>(upstream, progress);
}

}  // namespace coffer::cli
