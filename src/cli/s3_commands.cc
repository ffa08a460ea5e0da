#include "cli/s3_commands.h"

#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <ctime>
#include <istream>
#include <ostream>

#include "cli/bucket_stores.h"
#include "common/files.h"
#include "common/stream.h"
#include "objstore/location.h"
#include "server/config.h"

namespace coffer::cli {
namespace {

constexpr unsigned kDownloadMode = 0600;
constexpr size_t kCopyBuffer = 1 << 20;

// Standard input and output as streams, through the environment's iostreams.
class InputStreamSource final : public ByteSource {
 public:
  explicit InputStreamSource(std::istream& in) : in_(in) {}
  Result<size_t> Read(std::span<uint8_t> out) override {
    if (out.empty()) return size_t{0};
    in_.read(reinterpret_cast<char*>(out.data()), static_cast<std::streamsize>(out.size()));
    if (in_.bad()) return InternalError("cannot read standard input");
    return static_cast<size_t>(in_.gcount());
  }

 private:
  std::istream& in_;
};

class OutputStreamSink final : public ByteSink {
 public:
  explicit OutputStreamSink(std::ostream& out) : out_(out) {}
  Status Write(ByteView data) override {
    out_.write(reinterpret_cast<const char*>(data.data()),
               static_cast<std::streamsize>(data.size()));
    if (!out_) return InternalError("cannot write standard output");
    return Status::Ok();
  }
  Status Close() override {
    out_.flush();
    if (!out_) return InternalError("cannot write standard output");
    return Status::Ok();
  }
  void Abort() override { out_.flush(); }

 private:
  std::ostream& out_;
};

bool IsObjectLocation(std::string_view text) {
  return text.starts_with("s3://") || text.starts_with("arn:");
}

// What follows the last '/'.
std::string BaseName(std::string_view path) {
  size_t slash = path.find_last_of('/');
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

std::string LocalTime(TimePoint t) {
  time_t seconds = std::chrono::system_clock::to_time_t(t);
  struct tm tm {};
  ::localtime_r(&seconds, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S", &tm);
  return text;
}

class S3Commands final : public CommandGroup {
 public:
  S3Commands(CLI::App& app, ClientEnvironment environment);
  bool Selected() const override { return s3_->parsed(); }
  int Run() override;

 private:
  int MakeBucket(objstore::BucketRouter& store);
  int List(objstore::BucketRouter& store);
  int ListBuckets(objstore::BucketRouter& store);
  int Copy(objstore::BucketRouter& store);
  int Remove(objstore::BucketRouter& store);
  int Fail(std::string_view message, int exit_status) {
    *env_.err << message << "\n";
    env_.err->flush();
    return exit_status;
  }
  void Say(std::string_view line) {
    *env_.out << line << "\n";
    env_.out->flush();
  }

  ClientEnvironment env_;
  CLI::App* s3_ = nullptr;
  CLI::App* mb_ = nullptr;
  CLI::App* ls_ = nullptr;
  CLI::App* cp_ = nullptr;
  CLI::App* rm_ = nullptr;

  std::string config_file_;
  std::string data_dir_;
  std::string mb_target_;
  std::string ls_target_;
  bool ls_recursive_ = false;
  std::string cp_source_;
  std::string cp_destination_;
  std::string rm_target_;
  bool rm_recursive_ = false;
};

S3Commands::S3Commands(CLI::App& app, ClientEnvironment environment)
    : env_(std::move(environment)) {
  s3_ = app.add_subcommand("s3", "Buckets and objects: make, list, copy, remove");
  s3_->require_subcommand(1);
  s3_->add_option("--config", config_file_,
                  "The configuration file (default: COFFER_CONFIG) that names the buckets");
  s3_->add_option("--data-dir", data_dir_,
                  "The data directory whose buckets/ holds the unconfigured buckets (default: "
                  "COFFER_DATA_DIR, the configuration file's data_dir, else the server's "
                  "default: $XDG_DATA_HOME/coffer or ~/.local/share/coffer)");

  mb_ = s3_->add_subcommand("mb", "Make a bucket");
  mb_->fallthrough();
  mb_->add_option("bucket", mb_target_, "s3://BUCKET")->required();

  ls_ = s3_->add_subcommand("ls", "List buckets, or the objects under a prefix");
  ls_->fallthrough();
  ls_->add_option("location", ls_target_, "s3://BUCKET[/PREFIX]");
  ls_->add_flag("--recursive", ls_recursive_, "Every object under the prefix, by its whole key");

  cp_ = s3_->add_subcommand("cp", "Copy a file or standard input to an object, or back");
  cp_->fallthrough();
  cp_->add_option("source", cp_source_, "A local path, - (standard input) or s3://BUCKET/KEY")
      ->required();
  cp_->add_option("destination", cp_destination_,
                  "A local path, - (standard output) or s3://BUCKET[/KEY]")
      ->required();

  rm_ = s3_->add_subcommand("rm", "Remove an object (or, with --recursive, a prefix)");
  rm_->fallthrough();
  rm_->add_option("location", rm_target_, "s3://BUCKET/KEY")->required();
  rm_->add_flag("--recursive", rm_recursive_,
                "Every object in the folder the key names (s3://B/foo: foo/…), as aws s3 rm");
}

int S3Commands::Run() {
  Result<std::unique_ptr<objstore::BucketRouter>> store =
      OpenConfiguredBuckets(config_file_, data_dir_, env_.env);
  if (!store.ok()) return Fail("coffer s3: " + store.status().message(), kExitConfigError);
  if (mb_->parsed()) return MakeBucket(**store);
  if (ls_->parsed()) return List(**store);
  if (cp_->parsed()) return Copy(**store);
  if (rm_->parsed()) return Remove(**store);
  return Fail("coffer s3: no command given", kExitParamError);
}

int S3Commands::MakeBucket(objstore::BucketRouter& store) {
  Result<objstore::ObjectLocation> loc = objstore::ParseBucketLocation(mb_target_);
  if (!loc.ok()) return Fail("coffer s3 mb: " + loc.status().ToString(), kExitParamError);
  if (!loc->key.empty()) {
    return Fail("coffer s3 mb: '" + mb_target_ + "' names an object, not a bucket",
                kExitParamError);
  }
  Status made = store.CreateBucket(loc->bucket);
  if (!made.ok()) return Fail("make_bucket failed: " + loc->Url() + " " + made.ToString(), 1);
  Say("make_bucket: " + loc->bucket);
  return 0;
}

int S3Commands::ListBuckets(objstore::BucketRouter& store) {
  Result<std::vector<objstore::BucketPlacement>> buckets = store.ListBuckets();
  if (!buckets.ok()) return Fail("coffer s3 ls: " + buckets.status().message(), 1);
  for (const objstore::BucketPlacement& b : *buckets) {
    std::string when(19, ' ');
    struct stat st {};
    if (!b.configured && ::stat(b.where.c_str(), &st) == 0) {
      when = LocalTime(TimePoint(std::chrono::seconds(st.st_mtim.tv_sec)));
    }
    Say(when + " " + b.name);
  }
  return 0;
}

int S3Commands::List(objstore::BucketRouter& store) {
  if (ls_target_.empty()) return ListBuckets(store);
  Result<objstore::ObjectLocation> loc = objstore::ParseBucketLocation(ls_target_);
  if (!loc.ok()) return Fail("coffer s3 ls: " + loc.status().ToString(), kExitParamError);
  objstore::ListOptions options;
  options.prefix = loc->key;
  if (!ls_recursive_) options.delimiter = "/";
  for (bool first_page = true;; first_page = false) {
    Result<objstore::ListPage> page = store.List(loc->bucket, options);
    if (!page.ok()) return Fail("coffer s3 ls: " + page.status().ToString(), 1);
    // As aws s3 ls: a prefix that matches nothing exits 1 (a whole bucket, 0).
    if (first_page && !loc->key.empty() && page->common_prefixes.empty() && page->objects.empty()) {
      return 1;
    }
    for (const std::string& prefix : page->common_prefixes) {
      // "backups/db1/" -> "db1/", as aws s3 ls shows it.
      std::string_view trimmed(prefix);
      if (trimmed.empty()) continue;
      trimmed.remove_suffix(1);
      Say(std::string(27, ' ') + "PRE " + BaseName(trimmed) + "/");
    }
    for (const objstore::ObjectInfo& object : page->objects) {
      Say(FormatObjectLine(object, ls_recursive_ ? object.key : BaseName(object.key)));
    }
    if (!page->truncated()) return 0;
    if (page->next_continuation_token == options.continuation_token) {
      return Fail("coffer s3 ls: the service repeated its continuation token", 1);
    }
    options.continuation_token = page->next_continuation_token;
  }
}

int S3Commands::Copy(objstore::BucketRouter& store) {
  const bool from_object = IsObjectLocation(cp_source_);
  const bool to_object = IsObjectLocation(cp_destination_);
  if (!from_object && !to_object) {
    return Fail("coffer s3 cp: one of SOURCE and DESTINATION must be an s3:// location",
                kExitParamError);
  }

  // The source.
  std::unique_ptr<ByteSource> source;
  objstore::WriteOptions write_options;
  std::string source_name;  // what a destination directory or prefix adds
  std::optional<objstore::ObjectLocation> source_object;
  if (from_object) {
    Result<objstore::ObjectLocation> loc = objstore::ParseObjectLocation(cp_source_);
    if (!loc.ok()) return Fail("coffer s3 cp: " + loc.status().ToString(), kExitParamError);
    source_object = *loc;
    source_name = BaseName(loc->key);
  } else if (cp_source_ != "-") {
    source_name = BaseName(cp_source_);
    struct stat st {};
    if (::stat(cp_source_.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
      write_options.expected_size = static_cast<uint64_t>(st.st_size);
    }
  }

  // The destination.
  std::optional<objstore::ObjectLocation> destination_object;
  std::string destination = cp_destination_;
  if (to_object) {
    Result<objstore::ObjectLocation> loc = objstore::ParseBucketLocation(cp_destination_);
    if (!loc.ok()) return Fail("coffer s3 cp: " + loc.status().ToString(), kExitParamError);
    if (loc->key.empty() || loc->key.ends_with("/")) {
      if (source_name.empty()) {
        return Fail("coffer s3 cp: give the object's key: " + cp_destination_ + " names no object",
                    kExitParamError);
      }
      loc->key += source_name;
    }
    if (Status valid = objstore::ValidateKey(loc->key); !valid.ok()) {
      return Fail("coffer s3 cp: " + valid.message(), kExitParamError);
    }
    destination_object = *loc;
    destination = loc->Url();
  } else if (destination != "-") {
    struct stat st {};
    bool directory = destination.ends_with("/") ||
                     (::stat(destination.c_str(), &st) == 0 && S_ISDIR(st.st_mode));
    if (directory) {
      if (!destination.ends_with("/")) destination += "/";
      destination += source_name;
    }
  }
  const std::string source_shown = source_object ? source_object->Url() : cp_source_;
  const std::string verb = from_object && to_object ? "copy" : from_object ? "download" : "upload";
  auto failed = [&](const Status& status) {
    return Fail(verb + " failed: " + source_shown + " to " + destination + " " + status.ToString(),
                1);
  };

  if (source_object) {
    Result<std::unique_ptr<objstore::ObjectReader>> reader =
        store.Get(source_object->bucket, source_object->key);
    if (!reader.ok()) return failed(reader.status());
    write_options.expected_size = (*reader)->info().size;
    source = std::move(reader).value();
  } else if (cp_source_ == "-") {
    source = std::make_unique<InputStreamSource>(*env_.in);
  } else {
    Result<std::unique_ptr<ByteSource>> file = OpenFileSource(cp_source_);
    if (!file.ok()) return failed(file.status());
    source = std::move(file).value();
  }

  std::unique_ptr<ByteSink> sink;
  if (destination_object) {
    Result<std::unique_ptr<objstore::ObjectWriter>> writer =
        store.OpenWriter(destination_object->bucket, destination_object->key, write_options);
    if (!writer.ok()) return failed(writer.status());
    sink = std::move(writer).value();
  } else if (destination == "-") {
    sink = std::make_unique<OutputStreamSink>(*env_.out);
  } else {
    // As `aws s3 cp`: the directories the destination names are created.
    if (const size_t slash = destination.rfind('/'); slash != std::string::npos && slash > 0) {
      if (Status made = EnsureDirectory(destination.substr(0, slash), 0700, /*parents=*/true);
          !made.ok()) {
        return failed(made);
      }
    }
    Result<std::unique_ptr<ByteSink>> file = CreateOutputFileSink(destination, kDownloadMode);
    if (!file.ok()) return failed(file.status());
    sink = std::move(file).value();
  }

  Result<uint64_t> copied = CopyStream(*source, *sink, kCopyBuffer);
  if (!copied.ok()) {
    sink->Abort();
    return failed(copied.status());
  }
  if (Status closed = sink->Close(); !closed.ok()) return failed(closed);
  if (cp_source_ != "-" && destination != "-")
    Say(verb + ": " + source_shown + " to " + destination);
  return 0;
}

int S3Commands::Remove(objstore::BucketRouter& store) {
  if (!rm_recursive_) {
    Result<objstore::ObjectLocation> loc = objstore::ParseObjectLocation(rm_target_);
    if (!loc.ok()) return Fail("coffer s3 rm: " + loc.status().ToString(), kExitParamError);
    Status removed = store.Delete(loc->bucket, loc->key);
    if (!removed.ok()) return Fail("delete failed: " + loc->Url() + " " + removed.ToString(), 1);
    Say("delete: " + loc->Url());
    return 0;
  }
  Result<objstore::ObjectLocation> loc = objstore::ParseBucketLocation(rm_target_);
  if (!loc.ok()) return Fail("coffer s3 rm: " + loc.status().ToString(), kExitParamError);
  objstore::ListOptions options;
  options.prefix = loc->key;
  // As aws s3 rm --recursive, the key names a folder: s3://B/foo removes foo/…,
  // never foobar or foo.txt (nor foo itself).
  if (!options.prefix.empty() && options.prefix.back() != '/') options.prefix += '/';
  int status = 0;
  while (true) {
    Result<objstore::ListPage> page = store.List(loc->bucket, options);
    if (!page.ok()) return Fail("coffer s3 rm: " + page.status().ToString(), 1);
    for (const objstore::ObjectInfo& object : page->objects) {
      objstore::ObjectLocation each{loc->bucket, object.key};
      Status removed = store.Delete(each.bucket, each.key);
      if (removed.ok()) {
        Say("delete: " + each.Url());
      } else {
        status = Fail("delete failed: " + each.Url() + " " + removed.ToString(), 1);
      }
    }
    if (!page->truncated()) return status;
    if (page->next_continuation_token == options.continuation_token) {
      return Fail("coffer s3 rm: the service repeated its continuation token", 1);
    }
    options.continuation_token = page->next_continuation_token;
  }
}

}  // namespace

std::string FormatObjectLine(const objstore::ObjectInfo& info, std::string_view name) {
  std::string size = std::to_string(info.size);
  if (size.size() < 10) size.insert(0, 10 - size.size(), ' ');
  return LocalTime(info.last_modified) + " " + size + " " + std::string(name);
}

std::unique_ptr<CommandGroup> RegisterS3Commands(CLI::App& app, ClientEnvironment environment) {
  return std::make_unique<S3Commands>(app, std::move(environment));
}

std::unique_ptr<CommandGroup> RegisterS3Commands(CLI::App& app) {
  return RegisterS3Commands(app, ProcessClientEnvironment());
}

}  // namespace coffer::cli
