#include "cli/bucket_stores.h"

#include <sys/stat.h>

namespace coffer::cli {

Result<std::unique_ptr<objstore::BucketRouter>> OpenBucketStores(
    const server::StorageConfig& config, const Environment& env, objstore::S3Environment s3_env) {
  std::vector<objstore::S3BucketConfig> buckets;
  for (const auto& [name, settings] : config.buckets) {
    const std::string where = "buckets." + name;
    objstore::S3BucketConfig bucket;
    bucket.name = name;
    bucket.remote_name = settings.bucket;
    objstore::S3Options& s3 = bucket.s3;
    s3.endpoint = settings.endpoint;
    s3.region = settings.region;
    s3.addressing = settings.addressing == "virtual" ? objstore::S3Addressing::kVirtualHost
                                                     : objstore::S3Addressing::kPath;
    s3.part_size = static_cast<size_t>(settings.part_size_mib) << 20;
    s3.parts_in_flight = settings.parts_in_flight;
    s3.http.ca_bundle = settings.ca_bundle;
    if (!settings.profile.empty()) {
      ClientFlags flags;
      flags.profile = settings.profile;
      Result<ClientConfig> client = ClientConfig::Load(flags, env);
      if (!client.ok()) return client.status().WithContext(where);
      Result<ClientConfig::Found> found = client->FindCredentials();
      if (!found.ok())
        return found.status().WithContext(where + " (profile " + settings.profile + ")");
      s3.credentials = std::move(found->credentials);
    } else {
      s3.credentials.access_key_id = settings.access_key_id;
      s3.credentials.secret_access_key = settings.secret_access_key;
      s3.credentials.session_token = ToString(crypto::RevealSecret(settings.session_token));
    }
    buckets.push_back(std::move(bucket));
  }
  return objstore::BucketRouter::Create(server::BucketsDirectory(config.data_dir),
                                        std::move(buckets), std::move(s3_env));
}

Result<std::unique_ptr<objstore::BucketRouter>> OpenConfiguredBuckets(
    const std::string& config_file, const std::string& data_dir, const Environment& env) {
  std::map<std::string, std::string> variables(env.begin(), env.end());
  std::optional<std::string> file;
  if (!config_file.empty()) file = config_file;
  std::optional<std::string> dir;
  if (!data_dir.empty()) dir = data_dir;
  ASSIGN_OR_RETURN(server::StorageConfig config, server::LoadStorageConfig(file, variables, dir));
  // With no bucket configured, every bucket is under the data directory: one
  // that does not exist is a mistake, never an empty list.
  if (struct stat st{}; config.buckets.empty() &&
                        (::stat(config.data_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))) {
    return FailedPreconditionError("the data directory " + config.data_dir +
                                   " does not exist; give the server's with --data-dir (or "
                                   "COFFER_DATA_DIR, or data_dir in the configuration file)");
  }
  return OpenBucketStores(config, env);
}

}  // namespace coffer::cli
