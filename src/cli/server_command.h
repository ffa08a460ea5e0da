#pragma once
// `coffer server`: runs the daemon (server/server.h) with its configuration from
// flags, the environment (COFFER_*) and a TOML file (docs/config.md).
#include <memory>

#include "cli/command_group.h"

namespace coffer::cli {

std::unique_ptr<CommandGroup> RegisterServerCommand(CLI::App& app);

}  // namespace coffer::cli
