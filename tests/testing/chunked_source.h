#pragma once
// A source over bytes in memory that hands out at most `chunk` bytes per Read,
// to exercise short reads (tests and fuzz targets).
#include <algorithm>
#include <cstddef>

#include "common/bytes.h"
#include "common/stream.h"

namespace coffer::testing {

class ChunkedSource final : public ByteSource {
 public:
  // `data` is borrowed and must outlive the source; a chunk of 0 counts as 1.
  ChunkedSource(ByteView data, size_t chunk) : data_(data), chunk_(std::max<size_t>(chunk, 1)) {}
  Result<size_t> Read(std::span<uint8_t> out) override {
    size_t n = std::min({out.size(), chunk_, data_.size() - pos_});
    std::copy_n(data_.begin() + pos_, n, out.begin());
    pos_ += n;
    return n;
  }

 private:
  ByteView data_;
  size_t chunk_;
  size_t pos_ = 0;
};

}  // namespace coffer::testing
