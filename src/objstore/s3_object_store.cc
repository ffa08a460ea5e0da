#include "objstore/s3_object_store.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <condition_variable>
#include <cstring>
#include <optional>

#include "common/logging.h"
#include "common/thread_pool.h"
#include "crypto/hash.h"
#include "objstore/location.h"

namespace coffer::objstore {

namespace {
// ListMultipartUploads follows at most this many uploads (1,000 pages).
constexpr size_t kMaxListedUploads = 1'000'000;
}  // namespace
namespace {

constexpr size_t kMinReadChunk = 64 << 10;
constexpr size_t kMaxReadChunk = 64 << 20;
constexpr size_t kMaxIdleTransports = 32;
constexpr std::string_view kDefaultContentType = "application/octet-stream";
// The user metadata every write stores its id in (NewWriteId).
constexpr std::string_view kWriteIdHeader = "x-amz-meta-coffer-write-id";

bool IsSuccess(int status) { return status >= 200 && status < 300; }

std::string HashHex(std::string_view body) { return HexEncode(crypto::Sha256(AsBytes(body))); }

Status OptionError(std::string_view option, std::string why) {
  return InvalidArgumentError("s3 backend: " + std::string(option) + ": " + why);
}

std::optional<uint64_t> ParseU64(std::string_view text) {
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return v;
}

size_t RoundUpToMiB(uint64_t n) {
  constexpr uint64_t kMiB = 1 << 20;
  return static_cast<size_t>((n + kMiB - 1) / kMiB * kMiB);
}

class SystemClockHolder {
 public:
  static const Clock& Get() {
    static SystemClock clock;
    return clock;
  }
};

}  // namespace

// ---------------------------------------------------------------------------
// Transports: one request at a time each, so a pool of them.

class S3ObjectStore::TransportPool {
 public:
  explicit TransportPool(std::function<Result<std::unique_ptr<net::HttpTransport>>()> make)
      : make_(std::move(make)) {}

  Result<std::unique_ptr<net::HttpTransport>> Acquire() {
    {
      std::lock_guard lock(mu_);
      if (!idle_.empty()) {
        std::unique_ptr<net::HttpTransport> t = std::move(idle_.back());
        idle_.pop_back();
        return t;
      }
    }
    return make_();
  }

  void Release(std::unique_ptr<net::HttpTransport> transport) {
    std::lock_guard lock(mu_);
    if (idle_.size() < kMaxIdleTransports) idle_.push_back(std::move(transport));
  }

 private:
  std::function<Result<std::unique_ptr<net::HttpTransport>>()> make_;
  std::mutex mu_;
  std::vector<std::unique_ptr<net::HttpTransport>> idle_;
};

// ---------------------------------------------------------------------------
// The writer.

int PartsInFlight(const S3Options& options, size_t part_size) {
  const size_t budget = (static_cast<size_t>(options.parts_in_flight) + 1) * options.part_size;
  const size_t parts = budget / std::max<size_t>(part_size, 1);
  return static_cast<int>(std::clamp<size_t>(parts > 0 ? parts - 1 : 0, 1,
                                             static_cast<size_t>(options.parts_in_flight)));
}

class S3ObjectWriter final : public ObjectWriter {
 public:
  S3ObjectWriter(S3ObjectStore& store, std::string bucket, std::string key, size_t part_size,
                 std::string content_type, bool create_only)
      : store_(store),
        bucket_(std::move(bucket)),
        key_(std::move(key)),
        description_(DescribeObject(bucket_, key_)),
        part_size_(part_size),
        content_type_(std::move(content_type)),
        create_only_(create_only),
        write_id_(store.NewWriteId()) {}

  ~S3ObjectWriter() override { Abort(); }

  Status Write(ByteView data) override {
    if (!error_.ok()) return error_;
    while (!data.empty()) {
      // A full buffer is sent only once more data comes: an object of exactly one
      // part still goes in a single PUT.
      if (buffer_.size() == part_size_) {
        Status sent = SendPart();
        if (!sent.ok()) return Fail(sent);
      }
      size_t n = std::min(part_size_ - buffer_.size(), data.size());
      buffer_.append(AsChars(data.first(n)));
      data = data.subspan(n);
    }
    return Status::Ok();
  }

  Status Close() override {
    if (!error_.ok()) return error_;
    // From here on the object may be stored, even if this Close() fails.
    close_called_ = true;
    if (upload_id_.empty()) {
      Status put = store_.SinglePut(bucket_, key_, std::move(buffer_), content_type_, create_only_,
                                    write_id_);
      if (!put.ok()) return Fail(put);
      return Finished();
    }
    if (!buffer_.empty()) {
      Status sent = SendPart();
      if (!sent.ok()) return Fail(sent);
    }
    Status parts = WaitForParts();
    if (!parts.ok()) return Fail(parts);
    Status completed = Complete();
    if (!completed.ok()) return Fail(completed);
    return Finished();
  }

  void Abort() override {
    if (closed_) return;
    if (error_.ok()) error_ = FailedPreconditionError(description_ + ": the writer was aborted");
    Discard();
  }

  Result<bool> Retract() override {
    if (!close_called_) return false;  // nothing was ever asked to be stored
    return store_.DeleteIfStoredBy(bucket_, key_, write_id_);
  }

 private:
  Status Finished() {
    closed_ = true;
    upload_id_.clear();
    error_ = FailedPreconditionError(description_ + ": write to a closed object writer");
    return Status::Ok();
  }

  Status Fail(Status status) {
    error_ = status;
    Discard();
    return status;
  }

  // Stops the parts, aborts the upload: nothing of this writer becomes visible.
  void Discard() {
    buffer_.clear();
    buffer_.shrink_to_fit();
    if (upload_id_.empty()) return;
    aborting_ = true;
    if (pool_) pool_->WaitIdle();
    Status aborted = store_.AbortMultipartUpload(bucket_, key_, upload_id_);
    if (!aborted.ok()) {
      Log().warn("{}: could not abort multipart upload {}: {}", description_, upload_id_,
                 aborted.ToString());
    }
    upload_id_.clear();
  }

  Status Start() {
    S3ObjectStore::Request request;
    request.method = "POST";
    request.bucket = bucket_;
    request.key = key_;
    request.query = "uploads";
    request.headers.push_back({"Content-Type", content_type_});
    request.headers.push_back({std::string(kWriteIdHeader), write_id_});
    request.what = "CreateMultipartUpload " + description_;
    ASSIGN_OR_RETURN(net::HttpResponse response, store_.Execute(request));
    if (!IsSuccess(response.status)) {
      return store_.ObjectError(response, bucket_, key_, request.what);
    }
    ASSIGN_OR_RETURN(upload_id_, s3::ParseInitiateMultipartUpload(response.body));
    const int threads = PartsInFlight(store_.options(), part_size_);
    pool_ =
        std::make_unique<ThreadPool>(static_cast<size_t>(threads), static_cast<size_t>(threads));
    return Status::Ok();
  }

  // Hands the buffer to the part uploaders, waiting for room.
  Status SendPart() {
    if (upload_id_.empty()) RETURN_IF_ERROR(Start());
    if (next_part_ > kMaxParts) {
      return Status(StatusCode::kInvalidArgument, std::string(kEntityTooLarge),
                    description_ + ": the object is larger than " + std::to_string(kMaxParts) +
                        " parts of " + std::to_string(part_size_) +
                        " bytes; give its expected size or a larger part size");
    }
    int part = next_part_++;
    {
      std::unique_lock lock(mu_);
      room_.wait(lock, [&] {
        return in_flight_ < PartsInFlight(store_.options(), part_size_) || !part_error_.ok();
      });
      if (!part_error_.ok()) return part_error_;
      ++in_flight_;
      etags_.resize(static_cast<size_t>(part));
    }
    auto body = std::make_shared<std::string>(std::move(buffer_));
    buffer_ = std::string();
    buffer_.reserve(part_size_);
    pool_->Submit([this, part, body] { UploadPart(part, std::move(*body)); });
    return Status::Ok();
  }

  void UploadPart(int part, std::string body) {
    Status outcome;
    std::string etag;
    if (aborting_) {
      outcome = FailedPreconditionError(description_ + ": the upload was aborted");
    } else {
      S3ObjectStore::Request request;
      request.method = "PUT";
      request.bucket = bucket_;
      request.key = key_;
      request.query =
          "partNumber=" + std::to_string(part) + "&uploadId=" + s3::UriEncode(upload_id_, false);
      request.body = std::move(body);
      request.what = "UploadPart " + std::to_string(part) + " of " + description_;
      Result<net::HttpResponse> response = store_.Execute(request);
      if (!response.ok()) {
        outcome = response.status();
      } else if (!IsSuccess(response->status)) {
        outcome = store_.ObjectError(*response, bucket_, key_, request.what);
      } else if (std::optional<std::string_view> tag = response->Header("ETag");
                 tag && !tag->empty()) {
        etag = std::string(*tag);
      } else {
        outcome = DataLossError(request.what + ": the answer has no ETag");
      }
    }
    std::lock_guard lock(mu_);
    if (outcome.ok()) {
      etags_[static_cast<size_t>(part - 1)] = std::move(etag);
    } else if (part_error_.ok()) {
      part_error_ = outcome;
    }
    --in_flight_;
    room_.notify_all();
  }

  Status WaitForParts() {
    std::unique_lock lock(mu_);
    room_.wait(lock, [&] { return in_flight_ == 0; });
    return part_error_;
  }

  Status Complete() {
    S3ObjectStore::Request request;
    request.method = "POST";
    request.bucket = bucket_;
    request.key = key_;
    request.query = "uploadId=" + s3::UriEncode(upload_id_, false);
    request.headers.push_back({"Content-Type", "application/xml"});
    if (create_only_) request.headers.push_back({"If-None-Match", "*"});
    request.body = s3::CompleteMultipartUploadBody(etags_);
    request.what = "CompleteMultipartUpload " + description_;
    // Execute retries what fails on the wire; a 200 answer carrying a transient
    // error is retried here.
    const S3Options& options = store_.options();
    return RunWithRetries(
        options.retry, *store_.env_.sleeper, *store_.env_.random, [&](int) -> AttemptOutcome {
          Result<net::HttpResponse> response = store_.Execute(request);
          if (!response.ok()) return {false, response.status()};
          if (IsSuccess(response->status)) {
            Result<std::string> etag = s3::ParseCompleteMultipartUpload(response->body);
            if (etag.ok()) return {false, Status::Ok()};
            return {etag.status().code() == StatusCode::kUnavailable, etag.status()};
          }
          Status error = store_.ObjectError(*response, bucket_, key_, request.what);
          // Another conditional write of the key is under way: S3 asks to retry.
          if (error.error_name() == "ConditionalRequestConflict") return {true, error};
          // A create-only completion whose answer was lost and was retried finds
          // the key taken: by this upload when the object carries its write id.
          if (create_only_ && error.error_name() == kPreconditionFailed) {
            if (store_.StoredBy(bucket_, key_, write_id_)) return {false, Status::Ok()};
            return {false, error};
          }
          // A completion whose answer was lost and was retried finds the upload gone:
          // the object is there if it carries this writer's id.
          if (error.error_name() == kNoSuchUpload && store_.StoredBy(bucket_, key_, write_id_)) {
            return {false, Status::Ok()};
          }
          return {false, error};
        });
  }

  S3ObjectStore& store_;
  const std::string bucket_;
  const std::string key_;
  const std::string description_;
  const size_t part_size_;
  const std::string content_type_;
  const bool create_only_;
  const std::string write_id_;  // stored with the object (NewWriteId)

  std::string buffer_;
  std::string upload_id_;  // set while a multipart upload is open
  int next_part_ = 1;
  std::atomic<bool> aborting_ = false;
  bool closed_ = false;
  bool close_called_ = false;
  Status error_;

  std::mutex mu_;
  std::condition_variable room_;
  int in_flight_ = 0;               // guarded by mu_
  Status part_error_;               // guarded by mu_: the first failed part
  std::vector<std::string> etags_;  // guarded by mu_: part n's ETag at n - 1

  std::unique_ptr<ThreadPool> pool_;  // last: joined before the state its tasks use goes
};

// ---------------------------------------------------------------------------
// The reader.

class S3ObjectReader final : public ObjectReader {
 public:
  S3ObjectReader(S3ObjectStore& store, std::string bucket, std::string key, ObjectInfo info,
                 ResolvedRange range)
      : store_(store),
        bucket_(std::move(bucket)),
        key_(std::move(key)),
        description_(DescribeObject(bucket_, key_)),
        info_(std::move(info)),
        next_(range.offset),
        end_(range.end) {}

  const ObjectInfo& info() const override { return info_; }

  Result<size_t> Read(std::span<uint8_t> out) override {
    if (!error_.ok()) return error_;
    if (out.empty()) return size_t{0};
    if (chunk_pos_ == chunk_.size()) {
      if (next_ == end_) return size_t{0};
      Status fetched = Fetch();
      if (!fetched.ok()) {
        error_ = fetched;
        return error_;
      }
    }
    size_t n = std::min(out.size(), chunk_.size() - chunk_pos_);
    std::memcpy(out.data(), chunk_.data() + chunk_pos_, n);
    chunk_pos_ += n;
    return n;
  }

 private:
  Status Fetch() {
    uint64_t last = std::min<uint64_t>(end_, next_ + store_.options().read_chunk_size) - 1;
    S3ObjectStore::Request request;
    request.method = "GET";
    request.bucket = bucket_;
    request.key = key_;
    request.headers.push_back(
        {"Range", "bytes=" + std::to_string(next_) + "-" + std::to_string(last)});
    if (!info_.etag.empty()) request.headers.push_back({"If-Match", info_.etag});
    request.what = "GetObject " + description_;
    ASSIGN_OR_RETURN(net::HttpResponse response, store_.Execute(request));
    if (response.status == 412) return Changed();
    if (!IsSuccess(response.status)) {
      return store_.ObjectError(response, bucket_, key_, request.what);
    }
    // A server that ignores If-Match is caught by the ETag of each answer.
    if (std::optional<std::string_view> etag = response.Header("ETag");
        etag && !info_.etag.empty() && *etag != info_.etag) {
      return Changed();
    }
    uint64_t want = last - next_ + 1;
    bool whole_object = next_ == 0 && last + 1 == info_.size;
    if (response.status != 206 && !(response.status == 200 && whole_object)) {
      return DataLossError(request.what + ": a ranged GET was answered with HTTP " +
                           std::to_string(response.status));
    }
    if (response.body.size() != want) {
      return DataLossError(request.what + ": asked for " + std::to_string(want) +
                           " bytes at offset " + std::to_string(next_) + ", received " +
                           std::to_string(response.body.size()));
    }
    chunk_ = std::move(response.body);
    chunk_pos_ = 0;
    next_ = last + 1;
    return Status::Ok();
  }

  Status Changed() const {
    return Status(StatusCode::kFailedPrecondition, std::string(kPreconditionFailed),
                  description_ + " was replaced while it was read (ETag " + info_.etag + ")");
  }

  S3ObjectStore& store_;
  const std::string bucket_;
  const std::string key_;
  const std::string description_;
  const ObjectInfo info_;
  uint64_t next_;  // the next byte to fetch
  const uint64_t end_;
  std::string chunk_;
  size_t chunk_pos_ = 0;
  Status error_;
};

// ---------------------------------------------------------------------------
// The store.

Result<std::unique_ptr<S3ObjectStore>> S3ObjectStore::Create(S3Options options, S3Environment env) {
  Result<net::Endpoint> endpoint = net::Endpoint::Parse(options.endpoint);
  if (!endpoint.ok()) return OptionError("endpoint", endpoint.status().message());
  if (options.region.empty()) return OptionError("region", "must not be empty");
  if (options.credentials.access_key_id.empty()) {
    return OptionError("credentials", "no access key id");
  }
  if (options.credentials.secret_access_key.empty()) {
    return OptionError("credentials", "no secret access key");
  }
  if (options.part_size < kMinPartSize || options.part_size > kMaxPartSize) {
    return OptionError("part_size", std::to_string(options.part_size) + " is not between " +
                                        std::to_string(kMinPartSize) + " and " +
                                        std::to_string(kMaxPartSize) + " bytes");
  }
  if (options.parts_in_flight < 1 || options.parts_in_flight > 16) {
    return OptionError("parts_in_flight",
                       std::to_string(options.parts_in_flight) + " is not between 1 and 16");
  }
  if (options.read_chunk_size < kMinReadChunk || options.read_chunk_size > kMaxReadChunk) {
    return OptionError("read_chunk_size", std::to_string(options.read_chunk_size) +
                                              " is not between " + std::to_string(kMinReadChunk) +
                                              " and " + std::to_string(kMaxReadChunk) + " bytes");
  }
  if (Status retry = options.retry.Validate(); !retry.ok()) {
    return OptionError("retry", retry.message());
  }
  // A chunk, or a page of 1000 listed keys of up to 3 KiB each once escaped.
  options.http.max_response_bytes = std::max<size_t>(options.read_chunk_size, 4 << 20) + (1 << 20);
  if (!env.make_transport) {
    net::HttpClientOptions http = options.http;
    env.make_transport = [http]() -> Result<std::unique_ptr<net::HttpTransport>> {
      ASSIGN_OR_RETURN(std::unique_ptr<net::HttpClient> client, net::HttpClient::Create(http));
      return std::unique_ptr<net::HttpTransport>(std::move(client));
    };
  }
  if (env.clock == nullptr) env.clock = &SystemClockHolder::Get();
  if (env.sleeper == nullptr) env.sleeper = &RealSleeper();
  std::unique_ptr<Random> own_random;
  if (env.random == nullptr) {
    own_random = std::make_unique<SystemRandom>();
    env.random = own_random.get();
  }
  auto pool = std::make_unique<TransportPool>(env.make_transport);
  return std::unique_ptr<S3ObjectStore>(
      new S3ObjectStore(std::move(options), std::move(endpoint).value(), std::move(env),
                        std::move(pool), std::move(own_random)));
}

S3ObjectStore::S3ObjectStore(S3Options options, net::Endpoint endpoint, S3Environment env,
                             std::unique_ptr<TransportPool> pool,
                             std::unique_ptr<Random> own_random)
    : options_(std::move(options)),
      endpoint_(std::move(endpoint)),
      env_(std::move(env)),
      pool_(std::move(pool)),
      own_random_(std::move(own_random)) {}

S3ObjectStore::~S3ObjectStore() = default;

net::Endpoint S3ObjectStore::EndpointFor(std::string_view bucket) const {
  net::Endpoint e = endpoint_;
  if (options_.addressing == S3Addressing::kVirtualHost && !bucket.empty()) {
    e.host = std::string(bucket) + "." + e.host;
  }
  return e;
}

std::string S3ObjectStore::TargetFor(const Request& request) const {
  std::string target = endpoint_.path;
  if (!target.empty() && target.back() == '/') target.pop_back();
  if (options_.addressing == S3Addressing::kPath) target += "/" + request.bucket;
  if (!request.key.empty()) {
    target += "/" + s3::UriEncode(request.key, /*keep_slash=*/true);
  } else if (options_.addressing == S3Addressing::kVirtualHost) {
    target += "/";
  }
  if (!request.query.empty()) target += "?" + request.query;
  return target;
}

Result<net::HttpResponse> S3ObjectStore::SendOnce(Request& request,
                                                  const std::string& payload_hash) {
  net::Endpoint endpoint = EndpointFor(request.bucket);
  net::HttpRequest http;
  http.method = request.method;
  http.target = TargetFor(request);
  http.headers.push_back({"Host", endpoint.HostHeader()});
  for (const net::HttpHeader& h : request.headers) http.headers.push_back(h);

  std::vector<net::sigv4::HeaderField> fields;
  fields.reserve(http.headers.size());
  for (const net::HttpHeader& h : http.headers) fields.push_back({h.name, h.value});
  net::sigv4::HttpRequestView view;
  view.method = http.method;
  view.raw_path = http.Path();
  view.raw_query = http.Query();
  view.headers = fields;
  view.payload_hash = payload_hash;
  Result<std::vector<net::sigv4::Header>> added =
      net::sigv4::Sign(view, options_.credentials, options_.region, "s3", env_.clock->Now());
  if (!added.ok()) {
    return InvalidArgumentError(request.what +
                                ": cannot sign the request: " + added.status().message());
  }
  for (net::sigv4::Header& h : *added)
    http.headers.push_back({std::move(h.name), std::move(h.value)});
  ASSIGN_OR_RETURN(std::unique_ptr<net::HttpTransport> transport, pool_->Acquire());
  // The body is lent, not copied: a part is up to part_size bytes.
  http.body.swap(request.body);
  Result<net::HttpResponse> response = transport->Send(endpoint, http);
  request.body.swap(http.body);
  pool_->Release(std::move(transport));
  return response;
}

Result<net::HttpResponse> S3ObjectStore::Execute(Request& request) {
  const std::string payload_hash = HashHex(request.body);
  std::optional<Result<net::HttpResponse>> last;
  Status outcome = RunWithRetries(
      options_.retry, *env_.sleeper, *env_.random, [&](int attempt) -> AttemptOutcome {
        last.emplace(SendOnce(request, payload_hash));
        Status failure;
        if (!last->ok()) {
          failure = last->status().WithContext(request.what);
          // Only what the wire did is transient: a refused header, an oversized answer is not.
          if (last->status().code() != StatusCode::kUnavailable) return {false, failure};
        } else {
          const net::HttpResponse& response = **last;
          if (IsSuccess(response.status)) return {false, Status::Ok()};
          std::optional<s3::ErrorReply> reply = s3::ParseErrorReply(response.body);
          if (!s3::IsRetryableReply(response.status, reply ? reply->code : "")) {
            return {false, Status::Ok()};  // an answer for the caller to read
          }
          failure = s3::ErrorStatusOf(response.status, response.body, request.what);
        }
        if (attempt < options_.retry.max_attempts) {
          Log().info("{} (attempt {} of {}); retrying", failure.ToString(), attempt,
                     options_.retry.max_attempts);
        }
        return {true, failure};
      });
  if (!outcome.ok()) return outcome;
  return std::move(*last);
}

Status S3ObjectStore::ObjectError(const net::HttpResponse& response, std::string_view bucket,
                                  std::string_view key, std::string_view what) {
  std::optional<s3::ErrorReply> reply = s3::ParseErrorReply(response.body);
  if (reply && reply->code == kNoSuchKey) return NoSuchKeyError(bucket, key);
  if (reply && reply->code == kNoSuchBucket) return NoSuchBucketError(bucket);
  if (response.status == 404 && !reply) {
    Status bucket_status = HeadBucket(bucket);
    if (bucket_status.error_name() == kNoSuchBucket) return bucket_status;
    if (!key.empty()) return NoSuchKeyError(bucket, key);
  }
  return s3::ErrorStatusOf(response.status, response.body, what);
}

Status S3ObjectStore::CreateBucket(std::string_view bucket) {
  RETURN_IF_ERROR(ValidateBucketName(bucket));
  Request request;
  request.method = "PUT";
  request.bucket = std::string(bucket);
  request.body = s3::CreateBucketBody(options_.region);
  if (!request.body.empty()) request.headers.push_back({"Content-Type", "application/xml"});
  request.what = "CreateBucket " + std::string(bucket);
  ASSIGN_OR_RETURN(net::HttpResponse response, Execute(request));
  if (IsSuccess(response.status)) return Status::Ok();
  return s3::ErrorStatusOf(response.status, response.body, request.what);
}

Status S3ObjectStore::HeadBucket(std::string_view bucket) {
  RETURN_IF_ERROR(ValidateBucketName(bucket));
  Request request;
  request.method = "HEAD";
  request.bucket = std::string(bucket);
  request.what = "HeadBucket " + std::string(bucket);
  ASSIGN_OR_RETURN(net::HttpResponse response, Execute(request));
  if (IsSuccess(response.status)) return Status::Ok();
  if (response.status == 404) return NoSuchBucketError(bucket);
  return s3::ErrorStatusOf(response.status, response.body, request.what);
}

Status S3ObjectStore::SinglePut(std::string_view bucket, std::string_view key, std::string body,
                                const std::string& content_type, bool create_only,
                                const std::string& write_id) {
  Request request;
  request.method = "PUT";
  request.bucket = std::string(bucket);
  request.key = std::string(key);
  request.headers.push_back(
      {"Content-Type", content_type.empty() ? std::string(kDefaultContentType) : content_type});
  if (create_only) request.headers.push_back({"If-None-Match", "*"});
  request.headers.push_back({std::string(kWriteIdHeader), write_id});
  request.body = std::move(body);
  request.what = "PutObject " + DescribeObject(bucket, key);
  ASSIGN_OR_RETURN(net::HttpResponse response, Execute(request));
  if (IsSuccess(response.status)) return Status::Ok();
  Status error = ObjectError(response, bucket, key, request.what);
  // A PUT that was stored but whose answer was lost is retried and then finds
  // its own object.
  if (create_only && error.error_name() == kPreconditionFailed && StoredBy(bucket, key, write_id)) {
    return Status::Ok();
  }
  return error;
}

std::string S3ObjectStore::NewWriteId() {
  std::array<uint8_t, 16> id;
  env_.random->Fill(id);
  return HexEncode(ByteView(id.data(), id.size()));
}

Result<std::optional<std::string>> S3ObjectStore::EtagIfStoredBy(std::string_view bucket,
                                                                 std::string_view key,
                                                                 const std::string& write_id) {
  Result<net::HttpResponse> head = HeadObject(bucket, key);
  if (!head.ok()) {
    if (head.status().error_name() == kNoSuchKey) return std::optional<std::string>();
    return head.status();
  }
  if (head->Header(kWriteIdHeader) != std::optional<std::string_view>(write_id)) {
    return std::optional<std::string>();
  }
  return std::optional<std::string>(head->Header("ETag").value_or(""));
}

bool S3ObjectStore::StoredBy(std::string_view bucket, std::string_view key,
                             const std::string& write_id) {
  Result<std::optional<std::string>> etag = EtagIfStoredBy(bucket, key, write_id);
  return etag.ok() && etag->has_value();
}

Result<bool> S3ObjectStore::DeleteIfStoredBy(std::string_view bucket, std::string_view key,
                                             const std::string& write_id) {
  ASSIGN_OR_RETURN(std::optional<std::string> etag, EtagIfStoredBy(bucket, key, write_id));
  if (!etag) return false;
  Request request;
  request.method = "DELETE";
  request.bucket = std::string(bucket);
  request.key = std::string(key);
  request.what = "DeleteObject " + DescribeObject(bucket, key);
  if (etag->empty()) {
    return DataLossError(request.what + ": not sent, since the HeadObject answer has no ETag to " +
                         "make it conditional on");
  }
  request.headers.push_back({"If-Match", *etag});
  ASSIGN_OR_RETURN(net::HttpResponse response, Execute(request));
  if (IsSuccess(response.status)) return true;
  Status error = ObjectError(response, bucket, key, request.what);
  // Replaced (412) or removed (404) since the HeadObject: not this writer's any
  // more. (A 409, a concurrent write of the key under way, is an error: the
  // object may still be this writer's.)
  if (error.error_name() == kPreconditionFailed || error.error_name() == kNoSuchKey) return false;
  return error;
}

Status S3ObjectStore::Put(std::string_view bucket, std::string_view key, ByteView data) {
  RETURN_IF_ERROR(CheckBucketAndKey(bucket, key));
  if (data.size() <= options_.part_size) {
    return SinglePut(bucket, key, std::string(AsChars(data)), "", false, NewWriteId());
  }
  WriteOptions options;
  options.expected_size = data.size();
  ASSIGN_OR_RETURN(std::unique_ptr<ObjectWriter> writer, OpenWriter(bucket, key, options));
  RETURN_IF_ERROR(writer->Write(data));
  return writer->Close();
}

Result<std::unique_ptr<ObjectWriter>> S3ObjectStore::OpenWriter(std::string_view bucket,
                                                                std::string_view key,
                                                                const WriteOptions& options) {
  RETURN_IF_ERROR(CheckBucketAndKey(bucket, key));
  size_t part_size = options_.part_size;
  if (options.expected_size) {
    uint64_t per_part = (*options.expected_size + kMaxParts - 1) / kMaxParts;
    if (per_part > kMaxPartSize) {
      return Status(StatusCode::kInvalidArgument, std::string(kEntityTooLarge),
                    DescribeObject(bucket, key) + ": " + std::to_string(*options.expected_size) +
                        " bytes is more than S3 stores in one object");
    }
    part_size = std::max(part_size, RoundUpToMiB(per_part));
  }
  RETURN_IF_ERROR(HeadBucket(bucket));
  return std::unique_ptr<ObjectWriter>(std::make_unique<S3ObjectWriter>(
      *this, std::string(bucket), std::string(key), part_size,
      options.content_type.empty() ? std::string(kDefaultContentType) : options.content_type,
      options.create_only));
}

Result<net::HttpResponse> S3ObjectStore::HeadObject(std::string_view bucket, std::string_view key) {
  Request request;
  request.method = "HEAD";
  request.bucket = std::string(bucket);
  request.key = std::string(key);
  request.what = "HeadObject " + DescribeObject(bucket, key);
  ASSIGN_OR_RETURN(net::HttpResponse response, Execute(request));
  if (!IsSuccess(response.status)) return ObjectError(response, bucket, key, request.what);
  return response;
}

Result<ObjectInfo> S3ObjectStore::Head(std::string_view bucket, std::string_view key) {
  RETURN_IF_ERROR(CheckBucketAndKey(bucket, key));
  ASSIGN_OR_RETURN(net::HttpResponse response, HeadObject(bucket, key));
  const std::string what = "HeadObject " + DescribeObject(bucket, key);
  ObjectInfo info;
  info.key = std::string(key);
  std::optional<std::string_view> length = response.Header("Content-Length");
  std::optional<uint64_t> size = length ? ParseU64(*length) : std::nullopt;
  if (!size) return DataLossError(what + ": the answer has no valid Content-Length");
  info.size = *size;
  info.etag = std::string(response.Header("ETag").value_or(""));
  if (std::optional<std::string_view> modified = response.Header("Last-Modified")) {
    Result<TimePoint> t = s3::ParseHttpDate(*modified);
    if (!t.ok()) return t.status().WithContext(what + ": Last-Modified");
    info.last_modified = *t;
  }
  return info;
}

Result<std::unique_ptr<ObjectReader>> S3ObjectStore::Get(std::string_view bucket,
                                                         std::string_view key,
                                                         std::optional<ByteRange> range) {
  ASSIGN_OR_RETURN(ObjectInfo info, Head(bucket, key));
  ASSIGN_OR_RETURN(ResolvedRange resolved, ResolveRange(bucket, key, range, info.size));
  return std::unique_ptr<ObjectReader>(std::make_unique<S3ObjectReader>(
      *this, std::string(bucket), std::string(key), std::move(info), resolved));
}

Result<ListPage> S3ObjectStore::List(std::string_view bucket, const ListOptions& options) {
  RETURN_IF_ERROR(CheckListOptions(bucket, options));
  Request request;
  request.method = "GET";
  request.bucket = std::string(bucket);
  request.query = "list-type=2&encoding-type=url&max-keys=" + std::to_string(options.max_keys);
  if (!options.prefix.empty()) request.query += "&prefix=" + s3::UriEncode(options.prefix, false);
  if (!options.delimiter.empty()) {
    request.query += "&delimiter=" + s3::UriEncode(options.delimiter, false);
  }
  if (!options.continuation_token.empty()) {
    request.query += "&continuation-token=" + s3::UriEncode(options.continuation_token, false);
  }
  request.what = "ListObjectsV2 s3://" + std::string(bucket);
  ASSIGN_OR_RETURN(net::HttpResponse response, Execute(request));
  if (!IsSuccess(response.status)) {
    if (response.status == 404) return ObjectError(response, bucket, "", request.what);
    return s3::ErrorStatusOf(response.status, response.body, request.what);
  }
  Result<ListPage> page = s3::ParseListObjectsV2(response.body);
  if (!page.ok()) return page.status().WithContext(request.what);
  return page;
}

Status S3ObjectStore::Delete(std::string_view bucket, std::string_view key) {
  RETURN_IF_ERROR(CheckBucketAndKey(bucket, key));
  Request request;
  request.method = "DELETE";
  request.bucket = std::string(bucket);
  request.key = std::string(key);
  request.what = "DeleteObject " + DescribeObject(bucket, key);
  ASSIGN_OR_RETURN(net::HttpResponse response, Execute(request));
  if (IsSuccess(response.status)) return Status::Ok();
  Status error = ObjectError(response, bucket, key, request.what);
  // Deleting what is not there succeeds, as in S3.
  if (error.error_name() == kNoSuchKey) return Status::Ok();
  return error;
}

Result<std::vector<s3::MultipartUpload>> S3ObjectStore::ListMultipartUploads(
    std::string_view bucket, std::string_view prefix) {
  RETURN_IF_ERROR(ValidateBucketName(bucket));
  std::vector<s3::MultipartUpload> uploads;
  std::string key_marker;
  std::string upload_id_marker;
  while (true) {
    Request request;
    request.method = "GET";
    request.bucket = std::string(bucket);
    request.query = "uploads";
    if (!prefix.empty()) request.query += "&prefix=" + s3::UriEncode(prefix, false);
    if (!key_marker.empty()) request.query += "&key-marker=" + s3::UriEncode(key_marker, false);
    if (!upload_id_marker.empty()) {
      request.query += "&upload-id-marker=" + s3::UriEncode(upload_id_marker, false);
    }
    request.what = "ListMultipartUploads s3://" + std::string(bucket);
    ASSIGN_OR_RETURN(net::HttpResponse response, Execute(request));
    if (!IsSuccess(response.status)) {
      if (response.status == 404) return ObjectError(response, bucket, "", request.what);
      return s3::ErrorStatusOf(response.status, response.body, request.what);
    }
    ASSIGN_OR_RETURN(s3::MultipartUploadList page, s3::ParseListMultipartUploads(response.body));
    for (s3::MultipartUpload& u : page.uploads) uploads.push_back(std::move(u));
    if (!page.truncated || page.next_key_marker.empty()) return uploads;
    // A service that does not move on, or lists without end, is not followed further.
    if ((page.next_key_marker == key_marker && page.next_upload_id_marker == upload_id_marker) ||
        uploads.size() > kMaxListedUploads) {
      return Status(StatusCode::kUnavailable, "InvalidResponse",
                    request.what + ": the listing does not end");
    }
    key_marker = page.next_key_marker;
    upload_id_marker = page.next_upload_id_marker;
  }
}

Status S3ObjectStore::AbortMultipartUpload(std::string_view bucket, std::string_view key,
                                           std::string_view upload_id) {
  RETURN_IF_ERROR(CheckBucketAndKey(bucket, key));
  Request request;
  request.method = "DELETE";
  request.bucket = std::string(bucket);
  request.key = std::string(key);
  request.query = "uploadId=" + s3::UriEncode(upload_id, false);
  request.what = "AbortMultipartUpload " + DescribeObject(bucket, key);
  ASSIGN_OR_RETURN(net::HttpResponse response, Execute(request));
  if (IsSuccess(response.status)) return Status::Ok();
  Status error = ObjectError(response, bucket, key, request.what);
  // Gone already (a retried abort whose first answer was lost): the goal is met.
  if (error.error_name() == kNoSuchUpload) return Status::Ok();
  return error;
}

}  // namespace coffer::objstore
