#pragma once
// S3ObjectStore: buckets of an S3-compatible service (AWS S3, MinIO, Ceph RGW,
// …) over the S3 REST API.
//
// Every request is signed with coffer's SigV4 signer (net/sigv4.h, service
// "s3") over a body hash (x-amz-content-sha256 = hex SHA-256 of the body) and
// sent by an net::HttpTransport (libcurl's by default), one per thread, from a
// pool. Buckets are addressed path-style (http://host/bucket/key) or
// virtual-host style (http://bucket.host/key).
//
// Writes: a writer buffers up to part_size bytes; an object that fits is sent
// with one PUT at Close(). Past that the writer switches to a multipart upload
// and sends full parts while the caller writes, up to parts_in_flight at once
// on its own threads, so memory stays within (parts_in_flight + 1) × part_size.
// A part grown for a large object (below) leaves fewer in flight, down to one;
// the writer then holds two parts (one uploading, one filling), which pass the
// bound when a part is more than half of it: at most 2 × the part size of an
// object of 10,000 parts (S3's limit, 5 GiB parts at most).
// Close() sends the last part and completes the upload; an error, Abort() or
// destruction without Close() aborts it (AbortMultipartUpload), so nothing of
// it becomes visible. With WriteOptions::expected_size the part size grows as
// needed to stay within S3's 10,000 parts; without it an object larger than
// 10,000 × part_size fails with EntityTooLarge.
//
// Reads: Get reads the object's metadata (HEAD), then reads it in ranged GETs
// of read_chunk_size, each conditional on the first ETag (If-Match), so a
// reader sees one version of the object or fails with PreconditionFailed.
//
// Every request is retried on transient failures (a broken or refused
// connection, a timeout, HTTP 5xx, 429, SlowDown and the other codes of
// s3::IsRetryableReply) per `retry` (exponential backoff with full jitter),
// signed anew each time.
//
// Safe for concurrent use; see object_store.h for the contract. Credentials are
// kept in SecretBytes and never appear in a message or a log.
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/random.h"
#include "net/http_client.h"
#include "net/sigv4.h"
#include "objstore/object_store.h"
#include "objstore/retry.h"
#include "objstore/s3_protocol.h"

namespace coffer::objstore {

enum class S3Addressing {
  kPath,         // http://host/bucket/key
  kVirtualHost,  // http://bucket.host/key
};

inline constexpr size_t kMinPartSize = 5 << 20;  // S3's minimum for every part but the last
inline constexpr size_t kMaxPartSize = size_t{5} << 30;
inline constexpr int kMaxParts = 10000;

struct S3Options {
  std::string endpoint;  // "https://s3.eu-west-1.amazonaws.com", "http://127.0.0.1:9000"
  std::string region = "us-east-1";
  S3Addressing addressing = S3Addressing::kPath;
  net::sigv4::Credentials credentials;
  size_t part_size = 16 << 20;       // kMinPartSize..kMaxPartSize
  int parts_in_flight = 4;           // 1..16 parts of one writer uploading at once
  size_t read_chunk_size = 8 << 20;  // bytes per ranged GET, 64 KiB..64 MiB
  RetryPolicy retry;
  // Timeouts, TLS; max_response_bytes is set from read_chunk_size.
  net::HttpClientOptions http;
};

// What the store takes from outside; tests substitute their own (a transport
// that fails on cue, a sleeper that does not sleep). All borrowed pointers must
// outlive the store.
struct S3Environment {
  // Makes one transport (the store keeps a pool: a transport serves one request
  // at a time). Default: net::HttpClient::Create(options.http).
  std::function<Result<std::unique_ptr<net::HttpTransport>>()> make_transport;
  const Clock* clock = nullptr;  // signing time; default: the system clock
  Sleeper* sleeper = nullptr;    // backoff waits; default: RealSleeper()
  Random* random = nullptr;      // backoff jitter; default: the system's
};

// How many parts of `part_size` bytes one writer uploads at once: options'
// parts_in_flight, fewer (at least one) when parts larger than options'
// part_size would pass (parts_in_flight + 1) × part_size bytes with the one
// being filled.
int PartsInFlight(const S3Options& options, size_t part_size);

class S3ObjectStore final : public ObjectStore {
 public:
  // Validates the options (endpoint URL, region, sizes, credentials present).
  // Errors: kInvalidArgument naming the option.
  static Result<std::unique_ptr<S3ObjectStore>> Create(S3Options options, S3Environment env = {});
  ~S3ObjectStore() override;

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
  // Nothing (0): a multipart upload whose process died was never completed, so
  // no object appeared; its parts stay at the service until the bucket's
  // lifecycle rule (AbortIncompleteMultipartUpload) or its owner removes them.
  // That is the service's and the bucket owner's business: the uploads of other
  // clients cannot be told from those of a crashed coffer.
  Result<int> RemoveAbandonedUploads(std::string_view) override { return 0; }

  // The multipart uploads begun and neither completed nor aborted under `prefix`
  // (ListMultipartUploads, every page): what an interrupted writer may have left
  // behind if even its abort failed.
  Result<std::vector<s3::MultipartUpload>> ListMultipartUploads(std::string_view bucket,
                                                                std::string_view prefix = "");
  // Aborts one multipart upload (AbortMultipartUpload).
  Status AbortMultipartUpload(std::string_view bucket, std::string_view key,
                              std::string_view upload_id);

  const S3Options& options() const { return options_; }

 private:
  class TransportPool;
  friend class S3ObjectWriter;
  friend class S3ObjectReader;

  // One request, as the backend builds it.
  struct Request {
    std::string method;
    std::string bucket;
    std::string key;    // empty for a bucket request
    std::string query;  // raw, already encoded: "uploads", "partNumber=1&uploadId=…"
    std::vector<net::HttpHeader> headers;  // besides Host and the signature's
    std::string body;
    std::string what;  // for messages: "PutObject s3://bucket/key"
  };
  S3ObjectStore(S3Options options, net::Endpoint endpoint, S3Environment env,
                std::unique_ptr<TransportPool> pool, std::unique_ptr<Random> own_random);

  // The endpoint and target of a request (addressing style applied).
  net::Endpoint EndpointFor(std::string_view bucket) const;
  std::string TargetFor(const Request& request) const;
  // Signs and sends `request`, retrying transient failures. Returns the answer
  // when it is a success or an error not worth retrying; an error Status when
  // the last attempt failed on the wire or with a transient error answer.
  // `request.body` is lent to the transport and given back.
  Result<net::HttpResponse> Execute(Request& request);
  Result<net::HttpResponse> SendOnce(Request& request, const std::string& payload_hash);
  // The error of a failed object request: NoSuchKey or NoSuchBucket (asking
  // HeadBucket when a body-less 404 does not say which), else ErrorStatusOf.
  Status ObjectError(const net::HttpResponse& response, std::string_view bucket,
                     std::string_view key, std::string_view what);
  // PutObject, with the write id (below) `write_id`.
  Status SinglePut(std::string_view bucket, std::string_view key, std::string body,
                   const std::string& content_type, bool create_only, const std::string& write_id);
  // A writer stores a new random id with its object (user metadata,
  // kWriteIdHeader), and so knows its own object: a create-only write retried
  // after its answer was lost, that then finds the key taken, and
  // ObjectWriter::Retract. The ETag cannot tell (it is no MD5 of the data under
  // SSE-KMS or SSE-C, nor for a multipart upload; two writes of the same bytes
  // share it).
  std::string NewWriteId();
  // HeadObject: the successful answer, or the object's error (ObjectError).
  Result<net::HttpResponse> HeadObject(std::string_view bucket, std::string_view key);
  // The ETag of the object at `key` ("" when the answer has none) if the write
  // with `write_id` stored it; nullopt when another did or there is none.
  Result<std::optional<std::string>> EtagIfStoredBy(std::string_view bucket, std::string_view key,
                                                    const std::string& write_id);
  // Whether the object at `key` is the one the write with `write_id` stored.
  bool StoredBy(std::string_view bucket, std::string_view key, const std::string& write_id);
  // Removes the object at `key` if the write with `write_id` stored it: true
  // when removed. The DeleteObject is conditional on the ETag the HeadObject
  // saw (If-Match), so that an object stored in between is kept where the
  // service honours conditional deletes (AWS S3 does; moto and s3rver ignore
  // If-Match there, leaving a window of two requests).
  Result<bool> DeleteIfStoredBy(std::string_view bucket, std::string_view key,
                                const std::string& write_id);

  const S3Options options_;
  const net::Endpoint endpoint_;
  S3Environment env_;
  std::unique_ptr<TransportPool> pool_;
  std::unique_ptr<Random> own_random_;
};

}  // namespace coffer::objstore
