#pragma once
// The ObjectStore conformance suite: the contract of object_store.h, checked
// the same way against every backend. Each test binary instantiates it with
// the backends it can run:
//
//   INSTANTIATE_TEST_SUITE_P(File, ObjectStoreConformance,
//                            ::testing::Values(&kFileBackend));
//
// A backend opens a fresh store per test; the fixture makes a fresh bucket.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "objstore/object_store.h"

namespace coffer::objstore::testing {

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string Name() const = 0;
  // A store for one test. On nullptr, `why` says why not; the test then fails
  // (missing peers under CI=true) or is skipped, as `must_run` says.
  virtual std::unique_ptr<ObjectStore> Open(std::string& why, bool& must_run) const = 0;
  // The size above which the backend's writer changes strategy (the s3 part
  // size); the suite writes objects across it.
  virtual size_t PartSize() const { return 5 << 20; }
  // Where an S3-compatible test peer departs from S3; the suite leaves those
  // checks out for it. Nothing of coffer's own may have a quirk.
  struct Quirks {
    bool loses_leading_slash = false;    // moto, virtual-host: "//key" read as "/key"
    bool normalises_key_paths = false;   // s3rver: "a//b", "a/./b", "a/../b" are not keys
    size_t max_segment_bytes = 1024;     // s3rver: a key segment is a file name there
    bool uncounted_prefixes = false;     // s3rver: max-keys ignores common prefixes
    bool unsorted_listing = false;       // s3rver: "p/000" listed before "p"
    bool no_multipart_listing = false;   // s3rver: no ListMultipartUploads, no abort
    bool ignores_if_none_match = false;  // s3rver: create-only writes replace
    // s3rver: concurrent completions of one key write its file at once (it has no
    // atomic replace), so the object may mix the writers' bytes.
    bool mixes_concurrent_writes = false;
  };
  virtual Quirks quirks() const { return {}; }
};

class ObjectStoreConformance : public ::testing::TestWithParam<const Backend*> {
 protected:
  void SetUp() override;

  ObjectStore& store() { return *store_; }
  const std::string& bucket() const { return bucket_; }
  // A bucket name no test has used: "coffer-conf-<pid>-<n>".
  static std::string UniqueBucketName();

  std::unique_ptr<ObjectStore> store_;
  std::string bucket_;
};

// "<name>" for the test's parameter suffix.
std::string BackendName(const ::testing::TestParamInfo<const Backend*>& info);

}  // namespace coffer::objstore::testing
