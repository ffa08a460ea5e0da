#include "cli/client_connection.h"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <iostream>

namespace coffer::cli {

void ClientConnection::AddOptions(CLI::App* command, bool output_option) {
  // Options may follow the subcommand: `coffer kms list-keys --profile x`.
  command->fallthrough();
  command->add_option("--endpoint-url", flags_.endpoint_url,
                      "The server's URL (default: COFFER_ENDPOINT_URL, AWS_ENDPOINT_URL, the "
                      "profile's endpoint_url, else http://127.0.0.1:7878)");
  command->add_option("--profile", flags_.profile, "The profile of ~/.aws/config and credentials");
  command->add_option("--region", flags_.region,
                      "The region to sign for (default: AWS_REGION, AWS_DEFAULT_REGION, the "
                      "profile's region, else us-east-1)");
  if (output_option) {
    command->add_option("--output", flags_.output, "json (default) or text")
        ->check(CLI::IsMember({"json", "text"}));
  }
  command->add_option("--ca-bundle", flags_.ca_bundle,
                      "CA certificates (PEM) for an https endpoint");
  command->add_flag("--no-verify-ssl", no_verify_ssl_,
                    "Do not verify an https endpoint's certificate");
  command
      ->add_option("--cli-connect-timeout", connect_timeout_seconds_,
                   "Seconds to wait for a connection (default 60)")
      ->check(CLI::Range(1, 86400));
  command
      ->add_option("--cli-read-timeout", read_timeout_seconds_,
                   "Seconds without data before a request fails (default 60)")
      ->check(CLI::Range(1, 86400));
}

int ClientConnection::Report(std::string_view message, int exit_status) const {
  *env_.err << "\n" << message << "\n";
  env_.err->flush();
  return exit_status;
}

int ClientConnection::ReportCall(std::string_view operation, const Status& status) const {
  if (!status.error_name().empty()) {
    return Report(ServiceErrorText(operation, status), kExitServiceError);
  }
  return Report(status.message(), kExitGeneralError);
}

int ClientConnection::Connect(std::string_view service, AwsClient** client) {
  if (!config_) {
    Result<ClientConfig> config = ClientConfig::Load(flags_, env_.env);
    if (!config.ok()) return Report(config.status().message(), kExitGeneralError);
    Result<ClientConfig::Found> found = config->FindCredentials();
    if (!found.ok()) {
      const std::string& name = found.status().error_name();
      bool configuration = name == kNoCredentialsError || name == kUnsupportedCredentialSource;
      return Report(found.status().message(), configuration ? kExitConfigError : kExitGeneralError);
    }
    HttpClientOptions options;
    options.connect_timeout = std::chrono::seconds(connect_timeout_seconds_);
    options.read_timeout = std::chrono::seconds(read_timeout_seconds_);
    options.ca_bundle = config->CaBundle();
    options.verify_tls = !no_verify_ssl_;
    Result<std::unique_ptr<HttpTransport>> transport = env_.make_transport(options);
    if (!transport.ok()) return Report(transport.status().message(), kExitGeneralError);
    transport_ = std::move(transport).value();
    credentials_ = std::move(found->credentials);
    format_ = OutputFormatFromName(config->Output());
    config_ = std::move(config).value();
  }
  auto it = clients_.find(service);
  if (it == clients_.end()) {
    Result<Endpoint> endpoint = Endpoint::Parse(config_->EndpointUrl(service));
    if (!endpoint.ok()) return Report(endpoint.status().message(), kExitGeneralError);
    it = clients_
             .emplace(
                 std::string(service),
                 std::make_unique<AwsClient>(*transport_, *env_.clock, std::move(endpoint).value(),
                                             config_->Region(), credentials_))
             .first;
  }
  *client = it->second.get();
  return 0;
}

ClientEnvironment ProcessClientEnvironment() {
  static const SystemClock kSystemClock;
  ClientEnvironment env;
  env.env = ProcessEnvironment();
  env.make_transport =
      [](const HttpClientOptions& options) -> Result<std::unique_ptr<HttpTransport>> {
    ASSIGN_OR_RETURN(std::unique_ptr<HttpClient> client, HttpClient::Create(options));
    return std::unique_ptr<HttpTransport>(std::move(client));
  };
  env.clock = &kSystemClock;
  env.out = &std::cout;
  env.err = &std::cerr;
  env.in = &std::cin;
  env.interactive = ::isatty(STDIN_FILENO) == 1;
  env.progress = ::isatty(STDERR_FILENO) == 1;
  return env;
}

}  // namespace coffer::cli
