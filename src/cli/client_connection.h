#pragma once
// The connection of one client command to a coffer server: the options every
// client command takes (--endpoint-url, --profile, --region, --output,
// --ca-bundle, --no-verify-ssl, --cli-connect-timeout, --cli-read-timeout),
// the configuration, credentials and transport they select (loaded once, on
// first use, as the aws CLI finds them: credentials.h), one signed AwsClient
// per service, and error reports in the aws CLI v2's words and exit statuses.
//
// Used from the thread that runs the command, and by the threads it starts
// (AwsClient is safe for concurrent use once made).
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "cli/aws_client.h"
#include "cli/client_environment.h"
#include "cli/credentials.h"
#include "cli/http_client.h"
#include "cli/output.h"
#include "common/status.h"

namespace CLI {
class App;
}  // namespace CLI

namespace coffer::cli {

class ClientConnection {
 public:
  // Borrows `env`, which must outlive this object.
  explicit ClientConnection(const ClientEnvironment& env) : env_(env) {}

  // Adds the options above to `command` (and to its subcommands, which fall
  // through to it). Without `output_option`, the command defines its own --output.
  void AddOptions(CLI::App* command, bool output_option = true);

  // Loads the configuration, credentials and transport once; then the client
  // of `service`. 0, or the exit status after reporting why not.
  int Connect(std::string_view service, AwsClient** client);

  // The chosen output format (after Connect; json before).
  OutputFormat format() const { return format_; }

  // "\n<message>\n" on stderr, as the aws CLI; returns `exit_status`.
  int Report(std::string_view message, int exit_status) const;
  // The error of a call: the service's (254) or the client's (255).
  int ReportCall(std::string_view operation, const Status& status) const;

 private:
  const ClientEnvironment& env_;
  ClientFlags flags_;
  bool no_verify_ssl_ = false;
  int connect_timeout_seconds_ = 60;
  int read_timeout_seconds_ = 60;

  std::optional<ClientConfig> config_;
  std::unique_ptr<HttpTransport> transport_;
  net::sigv4::Credentials credentials_;
  std::map<std::string, std::unique_ptr<AwsClient>, std::less<>> clients_;
  OutputFormat format_ = OutputFormat::kJson;
};

}  // namespace coffer::cli
