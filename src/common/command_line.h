// The one command-line parser of the commands (tools/impulse, bench, examples): every command
// declares its options with boost::program_options and hands them here, so --help, parse
// errors and their exit codes behave the same everywhere. Library impulse_command_line.
#pragma once

#include <boost/program_options.hpp>

#include <string>
#include <vector>

namespace impulse {

// Whether a command's positional argument must be given.
enum class Positional { kOptional, kRequired };

// Adds "--help,-h" (last) to `opts` and parses `args` into *vm (store + notify). `usage` is
// the usage line without "Usage: " ("impulse models list --repository DIR [--json]");
// `positional`, if not null, names the option one bare argument fills.
// Returns the exit code to stop with, or -1 to go on:
//   0  --help: "Usage: <usage>\n" and the options on stdout;
//   2  a parse or notify error (a negative value for an unsigned option included), or a missing
//      kRequired positional:
//      "impulse: <error>\n\nUsage: <usage>\n" on stderr.
int ParseCommandLine(const std::vector<std::string>& args, const char* usage,
                     boost::program_options::options_description& opts, boost::program_options::variables_map* vm,
                     const char* positional = nullptr, Positional required = Positional::kOptional);

}  // namespace impulse
