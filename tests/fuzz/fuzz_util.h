#pragma once
// Helpers shared by the fuzz targets of tests/fuzz.
//
// A target checks properties of the code under test with FUZZ_CHECK: a
// violated property prints what failed and aborts, which libFuzzer reports as a
// crash (and saves the input), and which fails the corpus replay test.
// Choices hands out the choices a target makes from its input bytes; ScratchDirectory
// is a target's temporary directory.
#include <stdlib.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>

#include "common/bytes.h"
#include "testing/chunked_source.h"

#define FUZZ_CHECK(cond)                                                                    \
  do {                                                                                      \
    if (!(cond)) {                                                                          \
      std::fprintf(stderr, "%s:%d: fuzz property failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                         \
    }                                                                                       \
  } while (false)

// Like FUZZ_CHECK, with a text (a Status, the value that broke the property).
#define FUZZ_CHECK_MSG(cond, text)                                                               \
  do {                                                                                           \
    if (!(cond)) {                                                                               \
      std::fprintf(stderr, "%s:%d: fuzz property failed: %s\n  %s\n", __FILE__, __LINE__, #cond, \
                   std::string(text).c_str());                                                   \
      std::abort();                                                                              \
    }                                                                                            \
  } while (false)

namespace coffer::fuzz {

inline std::string_view AsText(const uint8_t* data, size_t size) {
  return std::string_view(reinterpret_cast<const char*>(data), size);
}

// Choices drawn from a run of bytes: Pick(n) is the next byte modulo n, 0 once
// the bytes are used up, so a short input makes the first choice everywhere.
class Choices {
 public:
  explicit Choices(std::string_view bytes) : bytes_(bytes) {}

  size_t Pick(size_t n) {
    if (n == 0) return 0;
    if (pos_ >= bytes_.size()) return 0;
    return static_cast<unsigned char>(bytes_[pos_++]) % n;
  }
  bool Flag() { return Pick(2) == 1; }

 private:
  std::string_view bytes_;
  size_t pos_ = 0;
};

// A new directory of this process, on tmpfs when /dev/shm exists (so that the fsyncs of
// stores and engines cost little), else under $TMPDIR or /tmp; removed with everything
// in it on destruction. Aborts when it cannot be made.
class ScratchDirectory {
 public:
  ScratchDirectory() {
    std::error_code ec;
    const char* tmpdir = std::getenv("TMPDIR");
    std::string base = std::filesystem::is_directory("/dev/shm", ec) ? "/dev/shm"
                       : tmpdir != nullptr && *tmpdir != '\0'        ? tmpdir
                                                                     : "/tmp";
    path_ = base + "/coffer-fuzz-XXXXXX";
    if (::mkdtemp(path_.data()) == nullptr) {
      std::fprintf(stderr, "ScratchDirectory: mkdtemp %s failed\n", path_.c_str());
      std::abort();
    }
  }
  ~ScratchDirectory() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScratchDirectory(const ScratchDirectory&) = delete;
  ScratchDirectory& operator=(const ScratchDirectory&) = delete;

  const std::string& path() const { return path_; }
  std::string File(std::string_view name) const { return path_ + "/" + std::string(name); }

 private:
  std::string path_;
};

// Edits a stream as a fuzz input says: flips bits at, truncates at, repeats or
// removes a few bytes from a position.
inline void EditStream(Bytes& stream, uint16_t position, uint8_t op) {
  if (stream.empty()) return;
  const size_t at = position % stream.size();
  const size_t len = std::min<size_t>((op >> 2) + 1, stream.size() - at);
  switch (op & 3) {
    case 0:
      stream[at] ^= static_cast<uint8_t>((op >> 2) | 1);
      break;
    case 1:
      stream.resize(at);
      break;
    case 2: {
      Bytes copy(stream.begin() + at, stream.begin() + at + len);
      stream.insert(stream.begin() + at, copy.begin(), copy.end());
      break;
    }
    case 3:
      stream.erase(stream.begin() + at, stream.begin() + at + len);
      break;
  }
}

using ::coffer::testing::ChunkedSource;

}  // namespace coffer::fuzz
