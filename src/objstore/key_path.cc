#include "objstore/key_path.h"

namespace coffer::objstore::key_path {
namespace {

constexpr char kHex[] = "0123456789ABCDEF";

bool KeptRaw(unsigned char b) {
  return (b >= 'A' && b <= 'Z') || (b >= 'a' && b <= 'z') || (b >= '0' && b <= '9') || b == '-' ||
         b == '_' || b == '.' || b >= 0x80;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;  // lower case is never produced
}

// The escaped chunks of one non-empty segment.
std::vector<std::string> EncodeSegment(std::string_view segment) {
  std::vector<std::string> chunks;
  std::string current;
  for (char ch : segment) {
    auto b = static_cast<unsigned char>(ch);
    auto escaped = [&] { return std::string{'%', kHex[b >> 4], kHex[b & 15]}; };
    std::string token = KeptRaw(b) ? std::string(1, ch) : escaped();
    if (current.size() + token.size() > kMaxChunk) {
      chunks.push_back(std::move(current));
      current.clear();
    }
    if (current.empty() && b == '.') token = escaped();
    current += token;
  }
  chunks.push_back(std::move(current));
  return chunks;
}

// Decodes escaped text as EncodeSegment writes one chunk; nullopt for anything
// it would not write (so the mapping stays one-to-one).
std::optional<std::string> DecodeChunk(std::string_view text) {
  if (text.empty() || text.size() > kMaxChunk) return std::nullopt;
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    auto b = static_cast<unsigned char>(text[i]);
    if (b == '%') {
      if (i + 2 >= text.size()) return std::nullopt;
      int hi = HexValue(text[i + 1]);
      int lo = HexValue(text[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      auto value = static_cast<unsigned char>(hi * 16 + lo);
      // Only what must be escaped is: bytes not kept raw, and a leading '.'.
      if (KeptRaw(value) && !(value == '.' && i == 0)) return std::nullopt;
      out.push_back(static_cast<char>(value));
      i += 2;
      continue;
    }
    if (!KeptRaw(b) || (b == '.' && i == 0)) return std::nullopt;
    out.push_back(static_cast<char>(b));
  }
  return out;
}

}  // namespace

std::vector<std::string> Components(std::string_view key) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t slash = key.find('/', start);
    bool last = slash == std::string_view::npos;
    std::string_view segment = key.substr(start, last ? std::string_view::npos : slash - start);
    if (segment.empty()) {
      out.emplace_back("%");
    } else {
      std::vector<std::string> chunks = EncodeSegment(segment);
      for (size_t i = 0; i + 1 < chunks.size(); ++i) {
        out.push_back(chunks[i] + std::string(kContinuationSuffix));
      }
      out.push_back(std::move(chunks.back()));
    }
    if (last) {
      out.back() += kObjectSuffix;
      return out;
    }
    start = slash + 1;
  }
}

std::string RelativePath(std::string_view key) {
  std::string path;
  for (const std::string& c : Components(key)) {
    if (!path.empty()) path += '/';
    path += c;
  }
  return path;
}

std::optional<std::string> DecodeComponent(std::string_view name, bool is_object) {
  if (is_object) {
    if (!name.ends_with(kObjectSuffix)) return std::nullopt;
    name.remove_suffix(kObjectSuffix.size());
    if (name == "%") return std::string();
    return DecodeChunk(name);
  }
  if (name == "%") return std::string("/");
  if (name.ends_with(kContinuationSuffix)) {
    name.remove_suffix(kContinuationSuffix.size());
    return DecodeChunk(name);
  }
  std::optional<std::string> segment = DecodeChunk(name);
  if (!segment) return std::nullopt;
  return *segment + "/";
}

}  // namespace coffer::objstore::key_path
