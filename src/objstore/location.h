#pragma once
// Where an object lives: a bucket and a key, and the two ways coffer's users
// write that down, an S3 ARN ("arn:aws:s3:::bucket/key", as RDS's backup
// procedures take it) and an S3 URL ("s3://bucket/key", as the aws CLI takes
// it). This is the one place either is parsed, and the one place bucket names
// and keys are validated; every ObjectStore checks its arguments here.
//
// Pure functions, safe to call concurrently.
#include <string>
#include <string_view>

#include "common/status.h"

namespace coffer::objstore {

// S3's limit on a key: 1024 bytes of UTF-8
// (docs.aws.amazon.com/AmazonS3/latest/userguide/object-keys.html).
inline constexpr size_t kMaxKeyBytes = 1024;

// Error names, S3's.
inline constexpr std::string_view kInvalidBucketName = "InvalidBucketName";
inline constexpr std::string_view kKeyTooLong = "KeyTooLongError";
inline constexpr std::string_view kInvalidKey = "InvalidKey";
inline constexpr std::string_view kInvalidLocation = "InvalidLocation";

// A bucket name as S3 accepts it for a general purpose bucket
// (docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html):
// 3–63 characters of a–z, 0–9, '.' and '-'; beginning and ending with a letter
// or digit; no ".."; not an IPv4 address; none of the reserved prefixes
// ("xn--", "sthree-", "amzn-s3-demo-") or suffixes ("-s3alias", "--ol-s3",
// ".mrap", "--x-s3", "--table-s3"). Otherwise kInvalidArgument, kInvalidBucketName,
// naming the bucket and the rule.
Status ValidateBucketName(std::string_view bucket);

// A key: 1 to kMaxKeyBytes bytes of valid UTF-8. Otherwise kInvalidArgument with
// kKeyTooLong (too long) or kInvalidKey (empty, not UTF-8).
Status ValidateKey(std::string_view key);

struct ObjectLocation {
  std::string bucket;
  std::string key;  // may be empty only where the parser was told so (a bucket or a prefix)

  // "arn:aws:s3:::bucket/key" ("arn:aws:s3:::bucket" without a key).
  std::string Arn() const;
  // "s3://bucket/key" ("s3://bucket" without a key).
  std::string Url() const;

  friend bool operator==(const ObjectLocation&, const ObjectLocation&) = default;
};

// Parses "arn:PARTITION:s3:::bucket/key" (PARTITION aws, aws-cn or aws-us-gov; S3
// ARNs have neither region nor account) or "s3://bucket/key". The key is
// everything after the first '/' after the bucket, taken as is (no decoding, no
// normalisation: "a//b" and "a/../b" are keys like any other). The bucket name
// and the key are validated as above. Errors: kInvalidArgument with
// kInvalidLocation ("'x' is not an S3 object location: …"), or the name of the
// failed validation.
Result<ObjectLocation> ParseObjectLocation(std::string_view text);

// The same, for places that name a bucket and optionally a key prefix
// ("s3://bucket", "s3://bucket/", "s3://bucket/backups/"): the key may be empty
// (and is then not validated).
Result<ObjectLocation> ParseBucketLocation(std::string_view text);

}  // namespace coffer::objstore
