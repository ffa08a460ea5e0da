#pragma once
// ServerConfig: the settings of `coffer server`, loaded from four layers, the
// first that sets a key winning:
//
//   command-line flags  >  environment (COFFER_*)  >  TOML file  >  defaults
//
// Every key, its flag, its environment variable and its default are listed in
// docs/config.md. Loading is strict: an unknown key in the file, a value of the
// wrong type or out of range is an error whose message names the source and
// the key ("config.toml: listen: …", "COFFER_LISTEN: …", "--listen: …"); so is
// a combination that would be unsafe (plain HTTP on a non-loopback address,
// unless explicitly allowed).
//
// The passphrase of the passphrase root key provider is read from the
// environment (COFFER_PASSPHRASE) only, never from a file or a flag, and is
// kept in a SecretBytes.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "crypto/secret_bytes.h"
#include "server/http_listener.h"

namespace coffer::server {

// The default listen address: loopback only, an otherwise unused port.
inline constexpr char kDefaultListen[] = "127.0.0.1:7878";

struct ListenAddress {
  std::string host;  // "localhost", an IPv4 literal, or an IPv6 literal without brackets
  uint16_t port = 7878;

  // "127.0.0.1:7878", "[::1]:7878".
  std::string ToString() const;
  // True for localhost, 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104.
  bool IsLoopback() const;
};

// "HOST:PORT" where HOST is localhost, an IPv4 literal or a bracketed IPv6
// literal ("[::1]:7878") and PORT is 0..65535 (0: an ephemeral port).
Result<ListenAddress> ParseListenAddress(std::string_view text);

enum class RootKeySource {
  kKeyFile,     // "key-file": a 32-byte file, created on first use (the default)
  kPassphrase,  // "passphrase": scrypt over COFFER_PASSPHRASE
};

struct ServerLimits {
  size_t max_header_bytes = 16 * 1024;
  size_t max_body_bytes = 1024 * 1024;
  size_t max_connections = 1024;
  std::chrono::seconds idle_timeout{60};
  std::chrono::seconds request_timeout{30};
  std::chrono::seconds shutdown_timeout{10};
};

// One [buckets.NAME] table of the config file: a bucket reached through an
// S3-compatible service instead of the data directory (docs/config.md,
// "Buckets"). Plain settings; cli/ turns them into object stores (resolving a
// profile's credentials the way the aws CLI does).
struct BucketSettings {
  std::string type = "s3";  // the only type so far
  std::string endpoint;     // "https://s3.eu-west-1.amazonaws.com", "http://127.0.0.1:9000"
  std::string region = "us-east-1";
  std::string addressing = "path";  // "path" or "virtual"
  std::string bucket;               // the bucket's name at the service; empty: NAME
  // Credentials: access_key_id with secret_access_key (and session_token for
  // temporary ones), or the name of a profile of the aws CLI's files.
  std::string access_key_id;
  crypto::SecretBytes secret_access_key;
  crypto::SecretBytes session_token;
  std::string profile;
  int64_t part_size_mib = 16;  // 5..5120
  int parts_in_flight = 4;     // 1..16
  std::string ca_bundle;       // PEM file for an https endpoint; empty: the system's
};

// The [buckets.*] tables by NAME.
using BucketSettingsMap = std::map<std::string, BucketSettings, std::less<>>;

struct ServerConfig {
  std::string data_dir;  // default: $XDG_DATA_HOME/coffer, else $HOME/.local/share/coffer
  ListenAddress listen{"127.0.0.1", 7878};
  std::string account_id = "111122223333";  // 12 digits
  std::string region = "us-east-1";
  std::optional<std::string> tls_cert;  // set together with tls_key, or neither
  std::optional<std::string> tls_key;
  bool allow_insecure_non_loopback = false;
  int io_threads = 2;
  // How often a signed audit digest is written (docs/formats/audit-digest.md).
  std::chrono::seconds audit_digest_period{3600};
  // This start only (a flag, never in a file or the environment): start a new
  // audit digest chain after signed records were lost (docs/formats/audit-digest.md).
  bool restart_digest_chain = false;
  ServerLimits limits;
  std::string log_level = "info";  // trace, debug, info, warn, error, off
  RootKeySource root_key = RootKeySource::kKeyFile;
  std::string root_key_file;       // kKeyFile: default <data_dir>/root.key
  crypto::SecretBytes passphrase;  // kPassphrase: from COFFER_PASSPHRASE; empty otherwise
  // Buckets of S3-compatible services; any other bucket is a directory under
  // <data_dir>/buckets (BucketsDirectory()).
  BucketSettingsMap buckets;
  // What loading noticed and ignored, for the log: an environment variable that
  // looks like a misspelled COFFER_* setting.
  std::vector<std::string> warnings;

  bool tls() const { return tls_cert.has_value(); }
};

// Values given on the command line; nullopt when the flag is absent. Numbers
// are validated here (not by the flag parser) so that every source gets the
// same checks and messages.
struct ServerFlags {
  std::optional<std::string> data_dir;                 // --data-dir
  std::optional<std::string> listen;                   // --listen
  std::optional<std::string> account_id;               // --account-id
  std::optional<std::string> region;                   // --region
  std::optional<std::string> tls_cert;                 // --tls-cert
  std::optional<std::string> tls_key;                  // --tls-key
  std::optional<bool> allow_insecure_non_loopback;     // --allow-insecure-non-loopback
  std::optional<int64_t> io_threads;                   // --io-threads
  std::optional<int64_t> audit_digest_period_seconds;  // --audit-digest-period-seconds
  std::optional<std::string> log_level;                // --log-level
  std::optional<std::string> root_key;                 // --root-key
  std::optional<std::string> root_key_file;            // --root-key-file
  std::optional<int64_t> max_header_bytes;             // --max-header-bytes
  std::optional<int64_t> max_body_bytes;               // --max-body-bytes
  std::optional<int64_t> max_connections;              // --max-connections
  std::optional<int64_t> idle_timeout_seconds;         // --idle-timeout-seconds
  std::optional<int64_t> request_timeout_seconds;      // --request-timeout-seconds
  std::optional<int64_t> shutdown_timeout_seconds;     // --shutdown-timeout-seconds
  bool restart_digest_chain = false;                   // --restart-digest-chain
};

// Loads the configuration. `config_file` is the TOML file to read (--config);
// when nullopt, COFFER_CONFIG from `env` names it, and without either no file
// is read. `env` is the process environment (see ProcessEnvironment()).
// Errors: kInvalidArgument naming the source and key; kFailedPrecondition when
// the file cannot be read.
// A setting's integer given as text (a flag, an environment variable): the whole
// text in decimal, else "ORIGIN: 'TEXT' is not an integer".
Result<int64_t> ParseIntegerValue(const std::string& text, const std::string& origin);

Result<ServerConfig> LoadServerConfig(const std::optional<std::string>& config_file,
                                      const std::map<std::string, std::string>& env,
                                      const ServerFlags& flags);

// Where buckets live: the data directory and the configured buckets. What the
// object store needs, without the server's other settings.
struct StorageConfig {
  std::string data_dir;
  BucketSettingsMap buckets;
};

// Loads StorageConfig from the same layers as LoadServerConfig (the file named
// by `config_file` or COFFER_CONFIG, COFFER_DATA_DIR, `data_dir_flag`), with
// the same checks of the file, but without requiring what only the server
// needs (the root key's passphrase, TLS files).
Result<StorageConfig> LoadStorageConfig(const std::optional<std::string>& config_file,
                                        const std::map<std::string, std::string>& env,
                                        const std::optional<std::string>& data_dir_flag);

// <data_dir>/buckets: the directory of the buckets with no configuration.
std::string BucketsDirectory(const std::string& data_dir);

// A copy of this process's environment, for LoadServerConfig.
std::map<std::string, std::string> ProcessEnvironment();

// The listener's options for `config`: address, threads, limits, TLS files.
HttpListener::Options ListenerOptions(const ServerConfig& config);

}  // namespace coffer::server
