#include "objstore/location.h"

#include <algorithm>
#include <array>

#include "common/validation.h"

namespace coffer::objstore {
namespace {

Status BadBucket(std::string_view bucket, std::string_view why) {
  return Status(
      StatusCode::kInvalidArgument, std::string(kInvalidBucketName),
      "The specified bucket is not valid: '" + std::string(bucket) + "' " + std::string(why));
}

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// Four dot-separated groups of 1–3 digits: what S3 refuses as "formatted as an IP address".
bool LooksLikeIpv4(std::string_view s) {
  int groups = 0;
  size_t start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    std::string_view group = s.substr(start, dot == std::string_view::npos ? dot : dot - start);
    if (group.empty() || group.size() > 3 ||
        !std::all_of(group.begin(), group.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return false;
    }
    ++groups;
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return groups == 4;
}

Status BadLocation(std::string_view text, std::string_view why) {
  return Status(StatusCode::kInvalidArgument, std::string(kInvalidLocation),
                "'" + std::string(text) + "' is not an S3 object location: " + std::string(why));
}

// Splits "bucket/key" (the part after the scheme or the ARN prefix).
Result<ObjectLocation> SplitBucketAndKey(std::string_view original, std::string_view rest,
                                         bool key_required) {
  size_t slash = rest.find('/');
  ObjectLocation out;
  out.bucket = std::string(rest.substr(0, slash));
  if (slash != std::string_view::npos) out.key = std::string(rest.substr(slash + 1));
  if (out.bucket.empty()) return BadLocation(original, "no bucket name");
  RETURN_IF_ERROR(ValidateBucketName(out.bucket));
  if (key_required && out.key.empty()) {
    return BadLocation(original, "no key after the bucket name (expected s3://bucket/key)");
  }
  if (!out.key.empty()) RETURN_IF_ERROR(ValidateKey(out.key));
  return out;
}

Result<ObjectLocation> Parse(std::string_view text, bool key_required) {
  constexpr std::string_view kUrlScheme = "s3://";
  if (text.starts_with(kUrlScheme)) {
    return SplitBucketAndKey(text, text.substr(kUrlScheme.size()), key_required);
  }
  if (text.starts_with("arn:")) {
    // arn:PARTITION:s3:::bucket/key — S3 resource ARNs carry no region and no account.
    static constexpr std::array<std::string_view, 3> kPartitions = {"aws", "aws-cn", "aws-us-gov"};
    for (std::string_view partition : kPartitions) {
      std::string prefix = "arn:" + std::string(partition) + ":s3:::";
      if (text.starts_with(prefix)) {
        return SplitBucketAndKey(text, text.substr(prefix.size()), key_required);
      }
    }
    return BadLocation(text, "an S3 ARN reads arn:aws:s3:::bucket/key");
  }
  return BadLocation(text, "expected s3://bucket/key or arn:aws:s3:::bucket/key");
}

}  // namespace

Status ValidateBucketName(std::string_view bucket) {
  if (bucket.size() < 3 || bucket.size() > 63) {
    return BadBucket(bucket, "must be 3 to 63 characters long");
  }
  for (char c : bucket) {
    if (!IsLowerAlnum(c) && c != '.' && c != '-') {
      return BadBucket(bucket,
                       "may contain only lower-case letters, digits, dots (.) and hyphens (-)");
    }
  }
  if (!IsLowerAlnum(bucket.front()) || !IsLowerAlnum(bucket.back())) {
    return BadBucket(bucket, "must begin and end with a letter or a digit");
  }
  if (bucket.find("..") != std::string_view::npos) {
    return BadBucket(bucket, "must not contain two adjacent dots");
  }
  if (LooksLikeIpv4(bucket)) return BadBucket(bucket, "must not be formatted as an IP address");
  for (std::string_view prefix : {"xn--", "sthree-", "amzn-s3-demo-"}) {
    if (bucket.starts_with(prefix)) {
      return BadBucket(bucket, "must not begin with '" + std::string(prefix) + "'");
    }
  }
  for (std::string_view suffix : {"-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"}) {
    if (bucket.ends_with(suffix)) {
      return BadBucket(bucket, "must not end with '" + std::string(suffix) + "'");
    }
  }
  return Status::Ok();
}

Status ValidateKey(std::string_view key) {
  if (key.empty()) {
    return Status(StatusCode::kInvalidArgument, std::string(kInvalidKey), "The key is empty");
  }
  if (key.size() > kMaxKeyBytes) {
    return Status(StatusCode::kInvalidArgument, std::string(kKeyTooLong),
                  "Your key is too long: " + std::to_string(key.size()) + " bytes, at most " +
                      std::to_string(kMaxKeyBytes));
  }
  if (!DecodeUtf8(key)) {
    return Status(StatusCode::kInvalidArgument, std::string(kInvalidKey),
                  "The key is not valid UTF-8");
  }
  return Status::Ok();
}

std::string ObjectLocation::Arn() const {
  return "arn:aws:s3:::" + bucket + (key.empty() ? "" : "/" + key);
}

std::string ObjectLocation::Url() const {
  return "s3://" + bucket + (key.empty() ? "" : "/" + key);
}

Result<ObjectLocation> ParseObjectLocation(std::string_view text) { return Parse(text, true); }

Result<ObjectLocation> ParseBucketLocation(std::string_view text) { return Parse(text, false); }

}  // namespace coffer::objstore
