#pragma once
// FileObjectStore: buckets as directories on the local file system, the
// embedded default (a bucket with no configuration is ROOT/NAME, ROOT being
// DATA_DIR/buckets).
//
// Layout: ROOT/BUCKET/ holds one file per object, at the path key_path.h gives
// its key (segments as directories, every component escaped: no key reaches
// outside its bucket). Directories are created 0700 and object files 0600;
// directories left empty by Delete are removed.
//
// A writer writes a temporary file (".tmp-XXXXXX", a name no key maps to) in
// the object's directory; Close() fsyncs it, renames it over the object's file
// and fsyncs the directory, so the object appears whole and durably, and a
// concurrent writer's Close() replaces it whole. Abort, an error or destruction
// without Close() removes the temporary file; the writer holds a flock on it
// until then (common/files.h), so that RemoveAbandonedUploads removes only the
// temporary files of writers that are gone (a process that crashed). A reader
// keeps the file it opened, so it reads one version even if the object is
// replaced meanwhile.
//
// ETags are derived from the file (device, inode, size, modification time), so
// they change whenever the object is replaced; they are not MD5 sums.
//
// List walks the bucket's directories under the prefix (pruning the others)
// and keeps only the page asked for, in memory proportional to max_keys.
//
// Safe for concurrent use, also by several processes on the same ROOT.
#include <memory>
#include <string>

#include "objstore/object_store.h"

namespace coffer::objstore {

class FileObjectStore final : public ObjectStore {
 public:
  // `root` is created (0700) with the first bucket (its parent must exist then).
  static Result<std::unique_ptr<FileObjectStore>> Create(std::string root);

  const std::string& root() const { return root_; }
  // ROOT/BUCKET, the bucket's directory.
  std::string BucketDirectory(std::string_view bucket) const;

  Status CreateBucket(std::string_view bucket) override;
  Status HeadBucket(std::string_view bucket) override;
  Status Put(std::string_view bucket, std::string_view key, ByteView data) override;
  Result<std::unique_ptr<ObjectWriter>> OpenWriter(std::string_view bucket, std::string_view key,
                                                   const WriteOptions& options = {}) override;
  Result<std::unique_ptr<ObjectReader>> Get(std::string_view bucket, std::string_view key,
                                            std::optional<ByteRange> range = {}) override;
  Result<ObjectInfo> Head(std::string_view bucket, std::string_view key) override;
  Result<ListPage> List(std::string_view bucket, const ListOptions& options) override;
  Status Delete(std::string_view bucket, std::string_view key) override;
  // The temporary files nobody holds locked, anywhere in the bucket, and the
  // directories that leaves empty.
  Result<int> RemoveAbandonedUploads(std::string_view bucket) override;

 private:
  explicit FileObjectStore(std::string root) : root_(std::move(root)) {}

  std::string root_;
};

}  // namespace coffer::objstore
