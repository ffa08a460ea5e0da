#pragma once
// BucketRouter: the ObjectStore of a coffer installation, one name space of
// buckets over several backends. A bucket named in the configuration
// ([buckets.NAME] of the config file, docs/config.md) is reached through its S3
// service, under its real name there; every other bucket is a directory of the
// file backend under the buckets directory (DATA_DIR/buckets), the embedded
// default.
//
// Errors name the bucket as the caller named it. Safe for concurrent use, like
// every ObjectStore; the backends it holds live as long as it does.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "objstore/file_object_store.h"
#include "objstore/object_store.h"
#include "objstore/s3_object_store.h"

namespace coffer::objstore {

// One configured bucket.
struct S3BucketConfig {
  std::string name;         // as coffer's users name it: s3://NAME/…, arn:aws:s3:::NAME/…
  std::string remote_name;  // the bucket at the service; empty: the same as `name`
  S3Options s3;
};

// Where a bucket lives, for users.
struct BucketPlacement {
  std::string name;
  bool configured = false;  // an s3 bucket of the configuration
  std::string where;        // "/var/lib/coffer/buckets/NAME", or "s3 http://host:9000 (bucket X)"
};

class BucketRouter final : public ObjectStore {
 public:
  // `file_root` is the file backend's directory (created with the first file bucket). Every
  // configured name and remote name must be a valid bucket name; a name may be
  // configured once. `env` is passed to each S3 store.
  static Result<std::unique_ptr<BucketRouter>> Create(std::string file_root,
                                                      std::vector<S3BucketConfig> buckets,
                                                      S3Environment env = {});

  // Every bucket known here: the configured ones, then the file backend's
  // directories, by name.
  Result<std::vector<BucketPlacement>> ListBuckets() const;
  BucketPlacement Placement(std::string_view bucket) const;

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
  Result<int> RemoveAbandonedUploads(std::string_view bucket) override;

 private:
  struct Route {
    ObjectStore* store;
    std::string bucket;  // the name at the backend
  };
  struct Remote {
    std::string remote_name;
    std::string where;
    std::unique_ptr<S3ObjectStore> store;
  };

  BucketRouter(std::unique_ptr<FileObjectStore> files,
               std::map<std::string, Remote, std::less<>> remotes)
      : files_(std::move(files)), remotes_(std::move(remotes)) {}

  Route RouteOf(std::string_view bucket) const;
  // Error messages name the remote bucket: put the caller's name back.
  Status Renamed(Status status, std::string_view bucket, const Route& route) const;

  std::unique_ptr<FileObjectStore> files_;
  std::map<std::string, Remote, std::less<>> remotes_;
};

}  // namespace coffer::objstore
