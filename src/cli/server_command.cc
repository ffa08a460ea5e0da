#include "cli/server_command.h"

#include <CLI/CLI.hpp>
#include <cstdio>
#include <functional>
#include <vector>

#include "cli/bucket_stores.h"
#include "cli/client_environment.h"
#include "common/logging.h"
#include "server/config.h"
#include "server/server.h"

namespace coffer::cli {
namespace {

class ServerGroup final : public CommandGroup {
 public:
  explicit ServerGroup(CLI::App& app) {
    cmd_ = app.add_subcommand("server", "Run the coffer server (the AWS-compatible endpoint)");
    cmd_->add_option("--config", config_file_, "TOML configuration file (also COFFER_CONFIG)");
    Add("--data-dir", flags_.data_dir, "Data directory (COFFER_DATA_DIR)");
    Add("--listen", flags_.listen, "HOST:PORT to listen on (default 127.0.0.1:7878)");
    Add("--account-id", flags_.account_id, "12-digit account id (default 111122223333)");
    Add("--region", flags_.region, "Region (default us-east-1)");
    Add("--tls-cert", flags_.tls_cert, "PEM certificate chain: serve HTTPS");
    Add("--tls-key", flags_.tls_key, "PEM private key of --tls-cert");
    Add("--io-threads", flags_.io_threads, "I/O threads (default 2)");
    Add("--audit-digest-period-seconds", flags_.audit_digest_period_seconds,
        "How often a signed audit digest is written (default 3600)");
    Add("--log-level", flags_.log_level, "trace, debug, info, warn, error or off");
    Add("--root-key", flags_.root_key, "key-file (default) or passphrase (COFFER_PASSPHRASE)");
    Add("--root-key-file", flags_.root_key_file, "Root key file (default DATA_DIR/root.key)");
    Add("--max-header-bytes", flags_.max_header_bytes, "Largest request head");
    Add("--max-body-bytes", flags_.max_body_bytes, "Largest request body");
    Add("--max-connections", flags_.max_connections, "Most open connections");
    Add("--idle-timeout-seconds", flags_.idle_timeout_seconds, "Keep-alive idle timeout");
    Add("--request-timeout-seconds", flags_.request_timeout_seconds, "Time to read a request");
    Add("--shutdown-timeout-seconds", flags_.shutdown_timeout_seconds,
        "Time requests in flight get to finish on SIGTERM");
    cmd_->add_flag_function(
        "--allow-insecure-non-loopback",
        [this](int64_t) { flags_.allow_insecure_non_loopback = true; },
        "Allow plain HTTP on a non-loopback address");
    cmd_->add_flag_function(
        "--restart-digest-chain", [this](int64_t) { flags_.restart_digest_chain = true; },
        "After signed audit records were lost (segments moved out of a damaged journal): "
        "start a new digest chain from the last record whose signature still verifies");
  }

  bool Selected() const override { return cmd_->parsed(); }

  int Run() override {
    // An integer flag that is not one is a configuration error like any other
    // (docs/config.md), not a usage error.
    for (const auto& apply : integer_flags_) {
      if (Status st = apply(); !st.ok()) {
        std::fprintf(stderr, "coffer server: %s\n", st.message().c_str());
        return kExitConfigError;
      }
    }
    Result<server::ServerConfig> config =
        server::LoadServerConfig(config_file_, server::ProcessEnvironment(), flags_);
    if (!config.ok()) {
      // 253, as the client commands (and the aws CLI v2) exit for an invalid configuration.
      std::fprintf(stderr, "coffer server: %s\n", config.status().message().c_str());
      return kExitConfigError;
    }
    SetLogLevel(config->log_level);
    for (const std::string& warning : config->warnings) Log().warn("{}", warning);
    // The [buckets.NAME] tables: checked here, as the rest of the configuration.
    Environment env;
    for (auto& [name, value] : server::ProcessEnvironment()) env.emplace(name, value);
    Result<std::unique_ptr<objstore::BucketRouter>> buckets =
        OpenBucketStores(server::StorageConfig{config->data_dir, config->buckets}, env);
    if (!buckets.ok()) {
      std::fprintf(stderr, "coffer server: %s\n", buckets.status().message().c_str());
      return kExitConfigError;
    }
    Status s = server::RunServer(*config, std::move(buckets).value(), stdout);
    if (!s.ok()) {
      std::fprintf(stderr, "coffer server: %s\n", s.message().c_str());
      return 1;
    }
    return 0;
  }

 private:
  void Add(const std::string& name, std::optional<std::string>& target, const std::string& help) {
    cmd_->add_option_function<std::string>(
        name, [&target](const std::string& value) { target = value; }, help);
  }
  // Taken as text, checked by Run() as the configuration checks its integers.
  void Add(const std::string& name, std::optional<int64_t>& target, const std::string& help) {
    cmd_->add_option_function<std::string>(
            name,
            [this, name, &target](const std::string& text) {
              integer_flags_.push_back([name, text, &target]() -> Status {
                ASSIGN_OR_RETURN(int64_t value, server::ParseIntegerValue(text, name));
                target = value;
                return Status::Ok();
              });
            },
            help)
        ->type_name("INT");
  }

  CLI::App* cmd_ = nullptr;
  std::vector<std::function<Status()>> integer_flags_;
  std::optional<std::string> config_file_;
  server::ServerFlags flags_;
};

}  // namespace

std::unique_ptr<CommandGroup> RegisterServerCommand(CLI::App& app) {
  return std::make_unique<ServerGroup>(app);
}

}  // namespace coffer::cli
