#include "backup/striping.h"

#include <algorithm>
#include <charconv>

namespace coffer::backup {
namespace {

class Striped final : public ByteSink {
 public:
  Striped(std::vector<std::unique_ptr<ByteSink>> sinks, size_t stripe_size)
      : sinks_(std::move(sinks)), stripe_size_(stripe_size) {}
  ~Striped() override { Abort(); }

  Status Write(ByteView data) override {
    while (!data.empty()) {
      size_t room = stripe_size_ - filled_;
      size_t n = std::min(room, data.size());
      if (Status s = sinks_[current_]->Write(data.first(n)); !s.ok()) {
        Abort();
        return s;
      }
      data = data.subspan(n);
      filled_ += n;
      if (filled_ == stripe_size_) {
        filled_ = 0;
        current_ = (current_ + 1) % sinks_.size();
      }
    }
    return Status::Ok();
  }

  Status Close() override {
    Status first;
    for (auto& sink : sinks_) {
      Status s = sink->Close();
      if (!s.ok() && first.ok()) first = s;
    }
    if (!first.ok()) {
      for (auto& sink : sinks_) sink->Abort();
    }
    return first;
  }

  void Abort() override {
    for (auto& sink : sinks_) sink->Abort();
  }

 private:
  std::vector<std::unique_ptr<ByteSink>> sinks_;
  const size_t stripe_size_;
  size_t current_ = 0;
  size_t filled_ = 0;
};

class Unstriped final : public ByteSource {
 public:
  Unstriped(std::vector<std::unique_ptr<ByteSource>> sources, std::vector<std::string> names,
            size_t stripe_size)
      : sources_(std::move(sources)), names_(std::move(names)), stripe_size_(stripe_size) {}

  Result<size_t> Read(std::span<uint8_t> out) override {
    // Errors are permanent (common/stream.h): never a clean end after one.
    if (!error_.ok()) return error_;
    if (out.empty() || done_) return size_t{0};
    size_t want = std::min(out.size(), stripe_size_ - taken_);
    auto got = ReadFull(*sources_[current_], out.first(want));
    if (!got.ok()) return error_ = got.status();
    taken_ += *got;
    if (*got < want) {
      // File `current_` ended inside its stripe: that is the end of the stream,
      // and every other file must have ended too.
      done_ = true;
      if (Status ended = CheckAllEnded(); !ended.ok()) return error_ = ended;
      return *got;
    }
    if (taken_ == stripe_size_) {
      taken_ = 0;
      current_ = (current_ + 1) % sources_.size();
    }
    return *got;
  }

 private:
  Status CheckAllEnded() {
    uint8_t probe;
    for (size_t i = 0; i < sources_.size(); ++i) {
      auto got = ReadFull(*sources_[i], std::span<uint8_t>(&probe, 1));
      if (!got.ok()) return got.status();
      if (*got != 0) {
        return Status(StatusCode::kDataLoss, "BackupFilesMismatch",
                      "the backup files do not fit together: " + names_[current_] +
                          " ends before " + names_[i]);
      }
    }
    return Status::Ok();
  }

  std::vector<std::unique_ptr<ByteSource>> sources_;
  std::vector<std::string> names_;
  const size_t stripe_size_;
  size_t current_ = 0;
  size_t taken_ = 0;
  bool done_ = false;
  Status error_;
};

Status InvalidFiles(std::string message) {
  return Status(StatusCode::kInvalidArgument, "InvalidParameterValue", std::move(message));
}

}  // namespace

Result<std::vector<std::string>> BackupFileKeys(std::string_view key, int files) {
  if (files < 1 || files > kMaxFiles) {
    return InvalidFiles("@number_of_files must be between 1 and 10, not " + std::to_string(files) +
                        ".");
  }
  size_t star = key.find('*');
  if (star != std::string_view::npos && key.find('*', star + 1) != std::string_view::npos) {
    return InvalidFiles("The S3 file name may contain only one '*': " + std::string(key));
  }
  if (star == std::string_view::npos) {
    if (files == 1) return std::vector<std::string>{std::string(key)};
    return InvalidFiles(
        "With @number_of_files greater than 1 the S3 file name must contain one '*' "
        "(for example backup*.bak), replaced by 1-of-N … N-of-N.");
  }
  std::vector<std::string> keys;
  for (int i = 1; i <= files; ++i) {
    keys.push_back(std::string(key.substr(0, star)) + std::to_string(i) + "-of-" +
                   std::to_string(files) + std::string(key.substr(star + 1)));
  }
  return keys;
}

bool MatchBackupFileKey(std::string_view pattern, std::string_view key, int* file, int* count,
                        std::string* rest) {
  size_t star = pattern.find('*');
  if (star == std::string_view::npos) return false;
  std::string_view prefix = pattern.substr(0, star), suffix = pattern.substr(star + 1);
  if (!key.starts_with(prefix)) return false;
  std::string_view tail = key.substr(prefix.size());
  // "I-of-N", then the rest of the name.
  auto number = [&tail](int* out) {
    size_t n = 0;
    while (n < tail.size() && n < 3 && tail[n] >= '0' && tail[n] <= '9') ++n;
    if (n == 0 || n > 2 || tail[0] == '0') return false;
    std::from_chars(tail.data(), tail.data() + n, *out);
    tail.remove_prefix(n);
    return true;
  };
  int i = 0, n = 0;
  if (!number(&i) || !tail.starts_with("-of-")) return false;
  tail.remove_prefix(4);
  if (!number(&n) || i < 1 || n > kMaxFiles || i > n) return false;
  // "prefix*suffix" names exactly those files; "prefix*" any that follow.
  if (!suffix.empty() && tail != suffix) return false;
  *file = i;
  *count = n;
  if (rest != nullptr) *rest = std::string(tail);
  return true;
}

std::unique_ptr<ByteSink> StripedSink(std::vector<std::unique_ptr<ByteSink>> sinks,
                                      size_t stripe_size) {
  if (sinks.size() == 1) return std::move(sinks[0]);
  return std::make_unique<Striped>(std::move(sinks), stripe_size);
}

std::unique_ptr<ByteSource> StripedSource(std::vector<std::unique_ptr<ByteSource>> sources,
                                          std::vector<std::string> names, size_t stripe_size) {
  if (sources.size() == 1) return std::move(sources[0]);
  return std::make_unique<Unstriped>(std::move(sources), std::move(names), stripe_size);
}

}  // namespace coffer::backup
