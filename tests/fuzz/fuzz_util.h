#pragma once
// Helpers shared by the fuzz targets of tests/fuzz.
//
// A target checks properties of the code under test with FUZZ_CHECK: a
// violated property prints what failed and aborts, which libFuzzer reports as a
// crash (and saves the input), and which fails the corpus replay test.
// FuzzInput hands out the choices a target makes from its input bytes.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

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

}  // namespace coffer::fuzz
