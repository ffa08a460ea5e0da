#pragma once
// Files for tests: a temporary directory removed at the end of the test,
// whole-file reads and writes, and snapshots of a directory's contents to prove
// that a refused operation changed nothing.
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <string_view>

#include "common/bytes.h"
#include "crypto/hash.h"

namespace coffer::testing {

class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern =
        std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/coffer-test-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) std::abort();
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string File(std::string_view name) const { return path_ + "/" + std::string(name); }

 private:
  std::string path_;
};

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Writes `content` to `path` and then sets `mode` exactly (the umask does not apply).
inline void WriteFile(const std::string& path, std::string_view content, mode_t mode = 0600) {
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(content.data(), static_cast<std::streamsize>(content.size()));
  }
  ::chmod(path.c_str(), mode);
}

inline mode_t FileMode(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return st.st_mode & 07777;
}

// File name → SHA-256 of the content, for every file in `dir`.
inline std::map<std::string, std::string> SnapshotDirectory(const std::string& dir) {
  std::map<std::string, std::string> files;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    // Files in subdirectories by their relative path ("audit/0000000000000001.journal");
    // a directory is noted as such.
    std::string name = std::filesystem::relative(entry.path(), dir).string();
    files[name] = entry.is_directory()
                      ? std::string("<directory>")
                      : HexEncode(crypto::Sha256(AsBytes(ReadFile(entry.path().string()))));
  }
  return files;
}

// File name → whole content, for every file in `dir`.
inline std::map<std::string, std::string> DirectoryContents(const std::string& dir) {
  std::map<std::string, std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    files[entry.path().filename().string()] = ReadFile(entry.path().string());
  }
  return files;
}

}  // namespace coffer::testing
