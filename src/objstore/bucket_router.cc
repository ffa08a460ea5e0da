#include "objstore/bucket_router.h"

#include <dirent.h>

#include <algorithm>
#include <cerrno>
#include <set>

#include "common/files.h"
#include "objstore/location.h"

namespace coffer::objstore {

Result<std::unique_ptr<BucketRouter>> BucketRouter::Create(std::string file_root,
                                                           std::vector<S3BucketConfig> buckets,
                                                           S3Environment env) {
  ASSIGN_OR_RETURN(std::unique_ptr<FileObjectStore> files,
                   FileObjectStore::Create(std::move(file_root)));
  std::map<std::string, Remote, std::less<>> remotes;
  for (S3BucketConfig& config : buckets) {
    RETURN_IF_ERROR(ValidateBucketName(config.name).WithContext("buckets." + config.name));
    if (config.remote_name.empty()) config.remote_name = config.name;
    RETURN_IF_ERROR(
        ValidateBucketName(config.remote_name).WithContext("buckets." + config.name + ".bucket"));
    if (remotes.contains(config.name)) {
      return InvalidArgumentError("buckets." + config.name + ": configured twice");
    }
    std::string where = "s3 " + config.s3.endpoint + " (bucket " + config.remote_name + ")";
    Result<std::unique_ptr<S3ObjectStore>> store = S3ObjectStore::Create(std::move(config.s3), env);
    if (!store.ok()) return store.status().WithContext("buckets." + config.name);
    remotes.emplace(config.name,
                    Remote{config.remote_name, std::move(where), std::move(store).value()});
  }
  return std::unique_ptr<BucketRouter>(new BucketRouter(std::move(files), std::move(remotes)));
}

BucketRouter::Route BucketRouter::RouteOf(std::string_view bucket) const {
  auto it = remotes_.find(bucket);
  if (it == remotes_.end()) return Route{files_.get(), std::string(bucket)};
  return Route{it->second.store.get(), it->second.remote_name};
}

Status BucketRouter::Renamed(Status status, std::string_view bucket, const Route& route) const {
  if (status.ok() || route.bucket == bucket) return status;
  return status.WithContext("bucket " + std::string(bucket) + " (" + route.bucket +
                            " at its service)");
}

BucketPlacement BucketRouter::Placement(std::string_view bucket) const {
  auto it = remotes_.find(bucket);
  if (it != remotes_.end()) return {std::string(bucket), true, it->second.where};
  return {std::string(bucket), false, files_->BucketDirectory(bucket)};
}

Result<std::vector<BucketPlacement>> BucketRouter::ListBuckets() const {
  std::vector<BucketPlacement> out;
  for (const auto& [name, remote] : remotes_) out.push_back({name, true, remote.where});
  DIR* d = ::opendir(files_->root().c_str());
  if (d == nullptr) {
    // No buckets directory yet: no file bucket was ever made.
    if (errno == ENOENT) return out;
    return PosixError("open directory " + files_->root(), errno);
  }
  std::set<std::string> names;
  while (struct dirent* e = ::readdir(d)) {
    std::string name(e->d_name);
    // Only directories that are buckets; a configured name hides a directory of the same name.
    if (!ValidateBucketName(name).ok() || remotes_.contains(name)) continue;
    if (files_->HeadBucket(name).ok()) names.insert(name);
  }
  ::closedir(d);
  for (const std::string& name : names) out.push_back(Placement(name));
  return out;
}

Status BucketRouter::CreateBucket(std::string_view bucket) {
  Route r = RouteOf(bucket);
  return Renamed(r.store->CreateBucket(r.bucket), bucket, r);
}

Status BucketRouter::HeadBucket(std::string_view bucket) {
  Route r = RouteOf(bucket);
  return Renamed(r.store->HeadBucket(r.bucket), bucket, r);
}

Status BucketRouter::Put(std::string_view bucket, std::string_view key, ByteView data) {
  Route r = RouteOf(bucket);
  return Renamed(r.store->Put(r.bucket, key, data), bucket, r);
}

Result<std::unique_ptr<ObjectWriter>> BucketRouter::OpenWriter(std::string_view bucket,
                                                               std::string_view key,
                                                               const WriteOptions& options) {
  Route r = RouteOf(bucket);
  Result<std::unique_ptr<ObjectWriter>> writer = r.store->OpenWriter(r.bucket, key, options);
  if (!writer.ok()) return Renamed(writer.status(), bucket, r);
  return writer;
}

Result<std::unique_ptr<ObjectReader>> BucketRouter::Get(std::string_view bucket,
                                                        std::string_view key,
                                                        std::optional<ByteRange> range) {
  Route r = RouteOf(bucket);
  Result<std::unique_ptr<ObjectReader>> reader = r.store->Get(r.bucket, key, range);
  if (!reader.ok()) return Renamed(reader.status(), bucket, r);
  return reader;
}

Result<ObjectInfo> BucketRouter::Head(std::string_view bucket, std::string_view key) {
  Route r = RouteOf(bucket);
  Result<ObjectInfo> info = r.store->Head(r.bucket, key);
  if (!info.ok()) return Renamed(info.status(), bucket, r);
  return info;
}

Result<ListPage> BucketRouter::List(std::string_view bucket, const ListOptions& options) {
  Route r = RouteOf(bucket);
  Result<ListPage> page = r.store->List(r.bucket, options);
  if (!page.ok()) return Renamed(page.status(), bucket, r);
  return page;
}

Status BucketRouter::Delete(std::string_view bucket, std::string_view key) {
  Route r = RouteOf(bucket);
  return Renamed(r.store->Delete(r.bucket, key), bucket, r);
}

Result<int> BucketRouter::RemoveAbandonedUploads(std::string_view bucket) {
  Route r = RouteOf(bucket);
  Result<int> removed = r.store->RemoveAbandonedUploads(r.bucket);
  if (!removed.ok()) return Renamed(removed.status(), bucket, r);
  return removed;
}

}  // namespace coffer::objstore
