// coffer: the command-line entry point.
#include <CLI/CLI.hpp>

#include "cli/audit_commands.h"
#include "cli/backup_commands.h"
#include "cli/client_environment.h"
#include "cli/demo.h"
#include "cli/kms_commands.h"
#include "cli/s3_commands.h"
#include "cli/server_command.h"
#include "cli/stream_commands.h"
#include "common/files.h"
#include "common/logging.h"

int main(int argc, char** argv) {
  CLI::App app{"coffer: a key management service with encrypted database backup and restore"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "coffer " COFFER_VERSION);
  std::string log_level = "warn";
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error or off");

  coffer::cli::DemoOptions demo;
  auto* demo_cmd = app.add_subcommand("demo",
                                      "Play the seed story (encrypted backup and restore) against "
                                      "a coffer server on a fresh data directory");
  demo_cmd->add_option("--data-dir", demo.data_dir,
                       "Data directory to use (default: a new temporary one)");
  demo_cmd->add_flag("--keep", demo.keep, "Keep the temporary data directory");

  // Command groups register from their own files and run after parsing.
  auto kms = coffer::cli::RegisterKmsCommands(app);
  auto audit = coffer::cli::RegisterAuditCommands(app);
  auto s3 = coffer::cli::RegisterS3Commands(app);
  auto server = coffer::cli::RegisterServerCommand(app);
  auto streams = coffer::cli::RegisterStreamCommands(app);
  auto backups = coffer::cli::RegisterBackupCommands(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // A command that does not exist: named, with the choices (as the aws CLI's
    // "Invalid choice"), rather than CLI11's "A subcommand is required".
    // The deepest command given; an argument left over (here or passed up to a
    // parent) where it takes a subcommand names one it does not have. (CLI11's
    // option groups are subcommands without a name: not commands.)
    auto named = [](const CLI::App* a) { return !a->get_name().empty(); };
    std::vector<CLI::App*> path = {&app};
    for (bool deeper = true; deeper;) {
      deeper = false;
      for (CLI::App* sub : path.back()->get_subcommands()) {
        if (!named(sub)) continue;
        path.push_back(sub);
        deeper = true;
        break;
      }
    }
    std::vector<std::string> left;
    for (CLI::App* a : path) {
      for (std::string& arg : a->remaining()) left.push_back(std::move(arg));
    }
    const std::vector<CLI::App*> choices = path.back()->get_subcommands(named);
    if (!left.empty() && !left.front().starts_with("-") && !choices.empty()) {
      std::string name = "coffer", names;
      for (size_t i = 1; i < path.size(); ++i) name += " " + path[i]->get_name();
      for (const CLI::App* sub : choices) names += (names.empty() ? "" : ", ") + sub->get_name();
      std::fprintf(stderr, "%s: error: invalid choice '%s'; valid choices are: %s\n", name.c_str(),
                   left.front().c_str(), names.c_str());
      return coffer::cli::kExitParamError;
    }
    // --help and --version end here with 0; a usage error gets the aws CLI's status for
    // invalid syntax, whatever CLI11's own code for it.
    const int status = app.exit(e);
    return status == 0 ? 0 : coffer::cli::kExitParamError;
  }
  if (!coffer::SetLogLevel(log_level)) {
    std::fprintf(stderr, "coffer: unknown log level '%s'\n", log_level.c_str());
    return coffer::cli::kExitParamError;
  }
  // A client command stopped by a signal (Ctrl-C) leaves no partial file behind:
  // not a temporary --out file, not an upload into a directory bucket.
  if (!*demo_cmd && !server->Selected()) coffer::RemoveTemporaryFilesOnStopSignals();
  if (*demo_cmd) return coffer::cli::RunDemo(demo);
  if (kms->Selected()) return kms->Run();
  if (audit->Selected()) return audit->Run();
  if (s3->Selected()) return s3->Run();
  if (server->Selected()) return server->Run();
  if (streams->Selected()) return streams->Run();
  if (backups->Selected()) return backups->Run();
  return coffer::cli::kExitParamError;
}
