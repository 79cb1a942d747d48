// The one command-line parser of the commands (tools/impulse, bench, examples): every command
// declares its options with boost::program_options and hands them here, so --help, parse
// errors and their exit codes behave the same everywhere. Library impulse_command_line.
#pragma once

#include <boost/program_options.hpp>

#include <string>
#include <utility>
#include <vector>

namespace impulse {

// Whether a command's positional argument must be given.
enum class Positional { kOptional, kRequired };

// What a command accepts beyond the options --help lists.
struct HiddenOptions {
  // Parsed like the others but not listed by --help (internal or benchmark knobs).
  const boost::program_options::options_description* options = nullptr;
  // Deprecated spellings still accepted: {old, current} without dashes ("data", "data-dir").
  // An old one is read as the current one, with a note on stderr.
  std::vector<std::pair<std::string, std::string>> aliases;
};

// Adds "--help,-h" (last) to `opts` and parses `args` into *vm (store + notify). `usage` is
// the usage line without "Usage: " ("impulse models list --models DIR [--json]");
// `positional`, if not null, names the option one bare argument fills.
// Returns the exit code to stop with, or -1 to go on:
//   0  --help: "Usage: <usage>\n" and the options on stdout;
//   2  a parse or notify error (a negative value for an unsigned option included), or a missing
//      kRequired positional: one line on stderr, then where help is (UsageError), with a
//      did-you-mean for a misspelt option.
int ParseCommandLine(const std::vector<std::string>& args, const char* usage,
                     boost::program_options::options_description& opts, boost::program_options::variables_map* vm,
                     const char* positional = nullptr, Positional required = Positional::kOptional,
                     const HiddenOptions& hidden = {});

// Prints "impulse: <message>\nsee 'impulse CMD --help'\n" on stderr, CMD being the command
// words that begin `usage` ("impulse generate fraud [...]" -> "impulse generate fraud"), and
// returns 2 (the usage-error exit code).
int UsageError(const char* usage, const std::string& message);

}  // namespace impulse
