#pragma once
// Where a coffer client finds its endpoint, region and credentials: the way the
// aws CLI (botocore) does, so that a machine set up for `aws --endpoint-url`
// works with coffer unchanged.
//
// Profile: --profile, else AWS_DEFAULT_PROFILE, else AWS_PROFILE, else "default".
// A profile chosen by name (even "default") must exist in the config or the
// credentials file ("The config profile (x) could not be found").
//
// Credentials, first match wins (botocore's provider chain, the parts that need
// no network):
//   1. AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SECURITY_TOKEN or
//      AWS_SESSION_TOKEN) — skipped when --profile is given, as botocore does;
//   2. the profile in the shared credentials file (AWS_SHARED_CREDENTIALS_FILE,
//      else ~/.aws/credentials): aws_access_key_id, aws_secret_access_key,
//      aws_session_token (or aws_security_token);
//   3. the profile in the config file (AWS_CONFIG_FILE, else ~/.aws/config;
//      sections `[default]` and `[profile NAME]`): the same keys.
// A profile that names a source coffer cannot use (role_arn, credential_process,
// web_identity_token_file, sso_*) where botocore would use it is an error, not a
// silent fall-through to other keys.
//
// Region: --region, AWS_REGION, AWS_DEFAULT_REGION, the profile's `region`,
// else us-east-1 (coffer's default region).
// Endpoint: --endpoint-url, COFFER_ENDPOINT_URL, AWS_ENDPOINT_URL_<SERVICE>,
// AWS_ENDPOINT_URL, the profile's `endpoint_url`, else http://127.0.0.1:7878
// (the server's default listen address).
//
// Files are parsed as botocore's configparser does: `[section]` headers,
// `key = value` or `key: value` (keys lower-cased), full-line comments with '#'
// or ';', indented continuation lines; a duplicate section or key, or a line
// outside any section, makes the file unreadable ("Unable to parse config
// file: PATH"). A missing file is an empty file. Paths expand `~` and $VARS.
//
// Everything reads from its arguments (an Environment, not the process's), so
// it is pure apart from reading the two files. Secret access keys are kept in
// crypto::SecretBytes from the moment they are read; nothing here logs.
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "crypto/secret_bytes.h"
#include "net/sigv4.h"

namespace coffer::cli {

// Environment variables by name.
using Environment = std::map<std::string, std::string, std::less<>>;

// The environment of this process.
Environment ProcessEnvironment();

// The error names of the Status values returned here (botocore's exception
// names), so the command line can choose the exit status (aws CLI v2: 253 for
// missing credentials or an unusable credential source, 255 for the others).
inline constexpr std::string_view kNoCredentialsError = "NoCredentialsError";
inline constexpr std::string_view kPartialCredentialsError = "PartialCredentialsError";
inline constexpr std::string_view kProfileNotFound = "ProfileNotFound";
inline constexpr std::string_view kConfigParseError = "ConfigParseError";
inline constexpr std::string_view kUnsupportedCredentialSource = "UnsupportedCredentialSource";

inline constexpr std::string_view kDefaultRegion = "us-east-1";
inline constexpr std::string_view kDefaultEndpointUrl = "http://127.0.0.1:7878";

// One section of an INI file: key (lower case) -> value. Secret values
// (aws_secret_access_key) are kept apart, in SecretBytes.
struct IniSection {
  std::map<std::string, std::string, std::less<>> values;
  std::map<std::string, crypto::SecretBytes, std::less<>> secrets;

  const std::string* Find(std::string_view key) const;
  bool Has(std::string_view key) const { return values.contains(key) || secrets.contains(key); }
};

// A parsed INI file: its sections in file order (order matters: `[default]`
// and `[profile default]` name the same profile, and the later one wins).
// Keys of a `[DEFAULT]` section are merged into every other section, as
// configparser does; `[DEFAULT]` itself is not listed.
struct IniFile {
  std::vector<std::pair<std::string, IniSection>> sections;
};

// Parses INI text as above. `path` only names the file in the error.
Result<IniFile> ParseIni(std::string_view text, std::string_view path);

// What the command line says; an empty string means "not given".
struct ClientFlags {
  std::string profile;
  std::string region;
  std::string endpoint_url;
  std::string output;
  std::string ca_bundle;
};

// The shared configuration of one invocation, loaded once: the chosen profile
// of the config and credentials files, the flags and the environment.
// Immutable after Load; safe to read from several threads.
class ClientConfig {
 public:
  // Reads both files and selects the profile. Errors: kProfileNotFound,
  // kConfigParseError (malformed or unreadable file).
  static Result<ClientConfig> Load(const ClientFlags& flags, const Environment& env);

  const std::string& profile() const { return profile_; }
  // The paths the files were looked for at (after expansion).
  const std::string& config_file() const { return config_path_; }
  const std::string& credentials_file() const { return credentials_path_; }

  // The credentials, from the first source above that has them, and where
  // they were found. Errors: kNoCredentialsError ("Unable to locate
  // credentials. …"), kPartialCredentialsError ("Partial credentials found in
  // env, missing: AWS_SECRET_ACCESS_KEY"), kUnsupportedCredentialSource.
  struct Found {
    net::sigv4::Credentials credentials;
    std::string source;  // "env", "shared-credentials-file" or "config-file" (botocore's names)
  };
  Result<Found> FindCredentials() const;

  std::string Region() const;
  // The endpoint URL for `service` ("kms", "sts"), not yet validated.
  std::string EndpointUrl(std::string_view service) const;
  // --output, AWS_DEFAULT_OUTPUT, the profile's `output`, else "json".
  std::string Output() const;
  // --ca-bundle, AWS_CA_BUNDLE, the profile's `ca_bundle`; empty: the system's.
  std::string CaBundle() const;

 private:
  ClientConfig() = default;

  // A setting of the profile: the credentials file's section over the config
  // file's (as botocore merges them), or nullptr.
  const std::string* Setting(std::string_view key) const;
  std::string FromEnv(std::string_view name) const;
  Result<Found> FromSection(const IniSection& section, std::string_view method) const;

  ClientFlags flags_;
  Environment env_;
  std::string profile_;
  bool explicit_profile_flag_ = false;  // --profile given: the environment's keys are skipped
  std::string config_path_;
  std::string credentials_path_;
  IniSection config_section_;       // empty when the profile is not in the config file
  IniSection credentials_section_;  // empty when not in the credentials file
};

}  // namespace coffer::cli
