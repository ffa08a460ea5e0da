#include "objstore/object_store.h"

#include "objstore/location.h"

namespace coffer::objstore {

Status CheckBucketAndKey(std::string_view bucket, std::string_view key) {
  RETURN_IF_ERROR(ValidateBucketName(bucket));
  return ValidateKey(key);
}

Status CheckListOptions(std::string_view bucket, const ListOptions& options) {
  RETURN_IF_ERROR(ValidateBucketName(bucket));
  if (options.max_keys < 1 || options.max_keys > kMaxListKeys) {
    return Status(StatusCode::kInvalidArgument, std::string(kInvalidArgument),
                  "max-keys must be between 1 and " + std::to_string(kMaxListKeys) + ", not " +
                      std::to_string(options.max_keys));
  }
  if (options.prefix.size() > kMaxKeyBytes) {
    return Status(
        StatusCode::kInvalidArgument, std::string(kKeyTooLong),
        "The prefix is longer than a key may be (" + std::to_string(kMaxKeyBytes) + " bytes)");
  }
  return Status::Ok();
}

std::string DescribeObject(std::string_view bucket, std::string_view key) {
  return "s3://" + std::string(bucket) + "/" + std::string(key);
}

Status NoSuchBucketError(std::string_view bucket) {
  return Status(StatusCode::kNotFound, std::string(kNoSuchBucket),
                "The specified bucket does not exist: " + std::string(bucket));
}

Status NoSuchKeyError(std::string_view bucket, std::string_view key) {
  return Status(StatusCode::kNotFound, std::string(kNoSuchKey),
                "The specified key does not exist: " + DescribeObject(bucket, key));
}

Status InvalidRangeError(std::string_view bucket, std::string_view key, const ByteRange& range,
                         uint64_t size) {
  std::string text = "bytes " + std::to_string(range.offset) + "-";
  if (range.length) text += std::to_string(range.offset + *range.length - 1);
  return Status(StatusCode::kInvalidArgument, std::string(kInvalidRange),
                "The requested range is not satisfiable: " + text + " of " +
                    DescribeObject(bucket, key) + " (" + std::to_string(size) + " bytes)");
}

Result<ResolvedRange> ResolveRange(std::string_view bucket, std::string_view key,
                                   const std::optional<ByteRange>& range, uint64_t size) {
  if (!range) return ResolvedRange{0, size};
  if (range->length && *range->length == 0) {
    return Status(StatusCode::kInvalidArgument, std::string(kInvalidRange),
                  "The requested range of " + DescribeObject(bucket, key) + " is empty");
  }
  if (range->offset == 0 && size == 0) return ResolvedRange{0, 0};
  if (range->offset >= size) return InvalidRangeError(bucket, key, *range, size);
  uint64_t end = size;
  if (range->length && *range->length < size - range->offset) end = range->offset + *range->length;
  return ResolvedRange{range->offset, end};
}

}  // namespace coffer::objstore
