#pragma once
// A group of subcommands on coffer's command line (`kms`, `server`, …). Each
// group registers its options on the CLI::App from its own file
// (Register…Commands(CLI::App&) returns the group); after the App has parsed
// the command line, main() runs the group that was chosen.
namespace CLI {
class App;
}  // namespace CLI

namespace coffer::cli {

class CommandGroup {
 public:
  virtual ~CommandGroup() = default;
  // True when the command line chose this group.
  virtual bool Selected() const = 0;
  // Runs the chosen command; returns the process exit status.
  virtual int Run() = 0;
};

}  // namespace coffer::cli
