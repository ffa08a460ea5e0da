// Writes the ciphertext blobs of the fuzz fixture (kms_fuzz_fixture.h) as seeds of
// ciphertext_blob_fuzz, in its input format (two control bytes, then the blob): run
// it again when the fixture changes, so that the seeds still decrypt.
// Usage: ciphertext_blob_seeds DIR   (e.g. tests/fuzz/corpus/ciphertext_blob_fuzz)
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <string>

#include "kms_fuzz_fixture.h"

int main(int argc, char** argv) {
  using coffer::fuzz::FuzzKms;
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  const auto& contexts = FuzzKms::Contexts();
  for (const FuzzKms::Sample& sample : FuzzKms::Get().samples()) {
    auto context = std::find(contexts.begin(), contexts.end(), sample.context);
    std::string path = std::string(argv[1]) + "/" + sample.name;
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.put(0);                                              // no edits, no KeyId
    out.put(static_cast<char>(context - contexts.begin()));  // the sample's context
    out.write(reinterpret_cast<const char*>(sample.blob.data()),
              static_cast<std::streamsize>(sample.blob.size()));
    if (!out) {
      std::perror(path.c_str());
      return 1;
    }
    std::printf("%s (%zu bytes)\n", path.c_str(), sample.blob.size() + 2);
  }
  return 0;
}
