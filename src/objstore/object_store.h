#pragma once
// ObjectStore: the only way coffer reaches a bucket (backups are written to and
// read from one). Implementations: a directory on the local file system
// (file_object_store.h, the embedded default), any S3-compatible service
// (s3_object_store.h), and a router over several (bucket_router.h).
//
// Contract, for every implementation:
//  - Atomic: an object is visible (to Get, Head, List) only once complete. A
//    writer's object appears at its successful Close(), all at once; until then
//    a previous object of the same key stays as it was. Abort(), an error, or
//    destroying a writer without Close() leaves nothing behind. Two writers of
//    the same key: the later Close() wins, never a mix of both; with
//    WriteOptions::create_only the first Close() wins and the other fails.
//  - Durable: after Close() (or Put) returns OK the object survives a crash
//    (the file backend fsyncs; S3 acknowledges only stored data).
//  - Streaming: Get returns a source that reads the object front to back in
//    bounded memory; a writer holds at most a bounded amount (for s3: the
//    parts in flight) whatever the object's size.
//  - Bucket names and keys are checked by location.h (ValidateBucketName,
//    ValidateKey) before anything else. Keys are opaque: "a/../b" is a key like
//    any other and never names anything outside its bucket.
//
// Errors are Status values with S3's error names where S3 has one:
//   kNotFound           NoSuchBucket, NoSuchKey, NoSuchUpload
//   kAlreadyExists      BucketAlreadyExists (owned by someone else),
//                       BucketAlreadyOwnedByYou (CreateBucket of an existing bucket)
//   kInvalidArgument    InvalidBucketName, KeyTooLongError, InvalidKey, InvalidRange,
//                       InvalidArgument, EntityTooLarge
//   kFailedPrecondition BucketNotEmpty, PreconditionFailed (the object changed while read),
//                       AccessDenied (and other refusals of the backend)
//   kUnavailable        the backend could not be reached or kept failing
//                       (after retries): the transport's message, or SlowDown, InternalError…
//   kDataLoss           a read returned fewer bytes than the object has
// Messages name the bucket and key ("s3://bucket/key: …").
//
// Thread safety: an ObjectStore is safe for concurrent use by many threads. A
// writer or a reader it returns is a stream (common/stream.h): used by one
// thread at a time; it may run its own threads inside (parallel part uploads).
// Writers and readers must not outlive the store that made them.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.h"
#include "common/clock.h"
#include "common/status.h"
#include "common/stream.h"

namespace coffer::objstore {

// Error names (S3's).
inline constexpr std::string_view kNoSuchBucket = "NoSuchBucket";
inline constexpr std::string_view kNoSuchKey = "NoSuchKey";
inline constexpr std::string_view kNoSuchUpload = "NoSuchUpload";
inline constexpr std::string_view kBucketAlreadyExists = "BucketAlreadyExists";
inline constexpr std::string_view kBucketAlreadyOwnedByYou = "BucketAlreadyOwnedByYou";
inline constexpr std::string_view kBucketNotEmpty = "BucketNotEmpty";
inline constexpr std::string_view kInvalidRange = "InvalidRange";
inline constexpr std::string_view kInvalidArgument = "InvalidArgument";
inline constexpr std::string_view kPreconditionFailed = "PreconditionFailed";
inline constexpr std::string_view kEntityTooLarge = "EntityTooLarge";

// ListObjectsV2's limit on one page.
inline constexpr int kMaxListKeys = 1000;

// What Head and List tell about an object.
struct ObjectInfo {
  std::string key;
  uint64_t size = 0;
  // An opaque version tag: it changes when the object is replaced. S3's ETag
  // (quoted, as S3 sends it); the file backend derives one from the file.
  std::string etag;
  TimePoint last_modified;  // whole seconds
};

// Bytes [offset, offset + length) of an object; no length: to its end. An
// offset at or past the end of a non-empty object is InvalidRange; a length
// past the end is cut at the end (as an HTTP Range).
struct ByteRange {
  uint64_t offset = 0;
  std::optional<uint64_t> length;
};

struct ListOptions {
  std::string prefix;  // only keys that begin with it
  // When set (usually "/"): keys with `delimiter` after the prefix are rolled up
  // into common prefixes (prefix up to and including the delimiter), as S3 does.
  std::string delimiter;
  int max_keys = kMaxListKeys;     // 1..kMaxListKeys objects and common prefixes per page
  std::string continuation_token;  // from the previous page; empty for the first
};

struct ListPage {
  std::vector<ObjectInfo> objects;           // in ascending key order (UTF-8 bytes)
  std::vector<std::string> common_prefixes;  // in ascending order
  // Empty when this is the last page; else pass it as continuation_token.
  std::string next_continuation_token;
  bool truncated() const { return !next_continuation_token.empty(); }
};

struct WriteOptions {
  // The object's size when known in advance. The s3 backend uses it to choose a
  // part size that keeps within S3's 10,000 parts.
  std::optional<uint64_t> expected_size;
  // Sent as Content-Type to S3 (default application/octet-stream).
  std::string content_type;
  // Create only (S3's "If-None-Match: *"): Close() stores nothing and fails with
  // PreconditionFailed (kFailedPrecondition) when an object of the key exists by
  // then; the existing object is left as it was. The check and the store are
  // one step, so of two create-only writers of one key exactly one succeeds.
  bool create_only = false;
};

// A writer of one object (OpenWriter): a ByteSink whose Close() stores it. Not
// thread-safe.
class ObjectWriter : public ByteSink {
 public:
  // Takes back what this writer stored: removes the object of its key if that
  // is still the one its Close() stored, or may have stored (a Close() that
  // failed after the store, its answer lost). An object another writer stored
  // there is left as it is. True when it removed an object; false when the key
  // holds nothing of this writer's (Close() never called or refused, the object
  // replaced or removed since, or removed by this call's own first attempt
  // whose answer was lost).
  virtual Result<bool> Retract() = 0;
};

// A reader of one object (or of a range of it): a ByteSource that also tells
// what it reads. Not thread-safe.
class ObjectReader : public ByteSource {
 public:
  // The object being read: its whole size, ETag, last modification.
  virtual const ObjectInfo& info() const = 0;
};

class ObjectStore {
 public:
  virtual ~ObjectStore() = default;

  // Creates an empty bucket. BucketAlreadyOwnedByYou if it exists here,
  // BucketAlreadyExists if the name is taken by someone else (S3). (S3 in
  // us-east-1, and services that imitate it, answer OK to a bucket's owner.)
  virtual Status CreateBucket(std::string_view bucket) = 0;

  // OK if the bucket exists (and may be used), NoSuchBucket if not.
  virtual Status HeadBucket(std::string_view bucket) = 0;

  // Stores `data` as the object `key`, replacing any object of that key.
  virtual Status Put(std::string_view bucket, std::string_view key, ByteView data) = 0;

  // A writer of the object `key`: what is written becomes the object at
  // Close() (see the contract above). The bucket is checked here (NoSuchBucket).
  virtual Result<std::unique_ptr<ObjectWriter>> OpenWriter(std::string_view bucket,
                                                           std::string_view key,
                                                           const WriteOptions& options = {}) = 0;

  // A reader of the object, or of `range` of it. NoSuchBucket, NoSuchKey,
  // InvalidRange here; read errors later from Read(). A reader sees one version
  // of the object: if the object is replaced while read, Read() fails with
  // PreconditionFailed rather than mix two versions.
  virtual Result<std::unique_ptr<ObjectReader>> Get(std::string_view bucket, std::string_view key,
                                                    std::optional<ByteRange> range = {}) = 0;

  // The object's size, ETag and last modification. NoSuchBucket, NoSuchKey.
  virtual Result<ObjectInfo> Head(std::string_view bucket, std::string_view key) = 0;

  // One page of the bucket's objects (ListObjectsV2). NoSuchBucket.
  virtual Result<ListPage> List(std::string_view bucket, const ListOptions& options) = 0;

  // Removes the object. Removing an object that does not exist succeeds, as in
  // S3; NoSuchBucket if the bucket does not exist.
  virtual Status Delete(std::string_view bucket, std::string_view key) = 0;

  // Removes what writers of the bucket that never finished because their
  // process died (a crash, SIGKILL) left behind; writers still at work, in this
  // process or another, are not disturbed. Returns how many pieces were
  // removed. NoSuchBucket.
  virtual Result<int> RemoveAbandonedUploads(std::string_view bucket) = 0;
};

// An ObjectStore that forwards every call to another (borrowed; it must outlive
// the wrapper). Tests derive from it and override one method to inject a fault
// (as LevelDB's EnvWrapper).
class ObjectStoreWrapper : public ObjectStore {
 public:
  explicit ObjectStoreWrapper(ObjectStore& target) : target_(target) {}
  ObjectStore& target() const { return target_; }

  Status CreateBucket(std::string_view bucket) override { return target_.CreateBucket(bucket); }
  Status HeadBucket(std::string_view bucket) override { return target_.HeadBucket(bucket); }
  Status Put(std::string_view bucket, std::string_view key, ByteView data) override {
    return target_.Put(bucket, key, data);
  }
  Result<std::unique_ptr<ObjectWriter>> OpenWriter(std::string_view bucket, std::string_view key,
                                                   const WriteOptions& options) override {
    return target_.OpenWriter(bucket, key, options);
  }
  Result<std::unique_ptr<ObjectReader>> Get(std::string_view bucket, std::string_view key,
                                            std::optional<ByteRange> range) override {
    return target_.Get(bucket, key, range);
  }
  Result<ObjectInfo> Head(std::string_view bucket, std::string_view key) override {
    return target_.Head(bucket, key);
  }
  Result<ListPage> List(std::string_view bucket, const ListOptions& options) override {
    return target_.List(bucket, options);
  }
  Status Delete(std::string_view bucket, std::string_view key) override {
    return target_.Delete(bucket, key);
  }
  Result<int> RemoveAbandonedUploads(std::string_view bucket) override {
    return target_.RemoveAbandonedUploads(bucket);
  }

 private:
  ObjectStore& target_;
};

// Common argument checks of every implementation: the bucket name, the key,
// the list options. kInvalidArgument with S3's error names.
Status CheckBucketAndKey(std::string_view bucket, std::string_view key);
Status CheckListOptions(std::string_view bucket, const ListOptions& options);

// "s3://bucket/key", for messages.
std::string DescribeObject(std::string_view bucket, std::string_view key);

// Error constructors with S3's names and messages naming the object.
Status NoSuchBucketError(std::string_view bucket);
Status NoSuchKeyError(std::string_view bucket, std::string_view key);
Status InvalidRangeError(std::string_view bucket, std::string_view key, const ByteRange& range,
                         uint64_t size);

// The part [offset, end) of an object of `size` bytes that `range` selects;
// InvalidRange when it selects nothing of a non-empty object (an empty object
// read whole, or at offset 0, is an empty range).
struct ResolvedRange {
  uint64_t offset = 0;
  uint64_t end = 0;
};
Result<ResolvedRange> ResolveRange(std::string_view bucket, std::string_view key,
                                   const std::optional<ByteRange>& range, uint64_t size);

}  // namespace coffer::objstore
