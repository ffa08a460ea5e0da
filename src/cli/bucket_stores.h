#pragma once
// The object store of a coffer installation, as the configuration describes it
// (server/config.h StorageConfig: [buckets.NAME] tables, the data directory):
// an objstore::BucketRouter whose configured buckets are reached through their
// S3 services and whose other buckets are directories under
// <data_dir>/buckets. The one place that turns bucket settings into stores.
//
// Credentials of a bucket with `profile` come from that profile of the aws
// CLI's files, found as credentials.h finds them (AWS_SHARED_CREDENTIALS_FILE,
// AWS_CONFIG_FILE, ~/.aws/…), from `env`.
#include <memory>

#include "cli/credentials.h"
#include "common/status.h"
#include "objstore/bucket_router.h"
#include "server/config.h"

namespace coffer::cli {

// Errors name the bucket ("buckets.NAME: …"); a profile that cannot be found or
// has no credentials is an error here, not at first use.
Result<std::unique_ptr<objstore::BucketRouter>> OpenBucketStores(
    const server::StorageConfig& config, const Environment& env,
    objstore::S3Environment s3_env = {});

// The whole step for a client command: loads the storage configuration
// (server::LoadStorageConfig: the --config file or COFFER_CONFIG, the --data-dir
// flag or COFFER_DATA_DIR; empty strings mean "not given") and opens its stores.
Result<std::unique_ptr<objstore::BucketRouter>> OpenConfiguredBuckets(
    const std::string& config_file, const std::string& data_dir, const Environment& env);

}  // namespace coffer::cli
