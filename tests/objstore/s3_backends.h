#pragma once
// The s3 backend on the S3-compatible peers (s3_peer.h), for the conformance
// suite and the peer tests. Each peer is started once per test process.
#include <memory>
#include <string>

#include "objstore/object_store_conformance.h"
#include "objstore/s3_object_store.h"
#include "objstore/s3_peer.h"

namespace coffer::objstore::testing {

class PeerBackend final : public Backend {
 public:
  PeerBackend(coffer::testing::S3PeerKind kind, S3Addressing addressing)
      : kind_(kind), addressing_(addressing) {}

  std::string Name() const override;
  std::unique_ptr<ObjectStore> Open(std::string& why, bool& must_run) const override;
  size_t PartSize() const override { return kMinPartSize; }
  Quirks quirks() const override {
    Quirks q;
    if (kind_ == coffer::testing::S3PeerKind::kMoto) {
      q.loses_leading_slash = addressing_ == S3Addressing::kVirtualHost;
    } else {
      // s3rver 3.7 keeps objects as files named by their keys, and implements
      // neither ListMultipartUploads (501) nor AbortMultipartUpload (405): an
      // aborted upload is invisible there, but its parts stay on its disk.
      q.loses_leading_slash = true;
      q.normalises_key_paths = true;
      q.max_segment_bytes = 200;
      q.uncounted_prefixes = true;
      q.unsorted_listing = true;
      q.no_multipart_listing = true;
      q.mixes_concurrent_writes = true;
      q.ignores_if_none_match = true;
    }
    return q;
  }
  bool SupportsMultipartListing() const { return !quirks().no_multipart_listing; }

  coffer::testing::S3PeerKind kind() const { return kind_; }
  // The options of a store on this peer (starting it if needed), or nullopt
  // with `why`. Small parts and chunks, so that tests cross them.
  std::optional<S3Options> Options(std::string& why) const;
  // The store for `options` and `env`; nullptr with `why`.
  static std::unique_ptr<S3ObjectStore> Make(S3Options options, S3Environment env,
                                             std::string& why);

 private:
  coffer::testing::S3PeerKind kind_;
  S3Addressing addressing_;
};

// Fails (CI=true) or skips the current test when `store` is null.
#define COFFER_REQUIRE_PEER(store, why)                        \
  do {                                                         \
    if ((store) == nullptr) {                                  \
      if (::coffer::testing::PeersRequired()) FAIL() << (why); \
      GTEST_SKIP() << (why);                                   \
    }                                                          \
  } while (0)

}  // namespace coffer::objstore::testing
