#include "common/command_line.h"

#include <cstdio>
#include <exception>
#include <iostream>

namespace impulse {

namespace po = boost::program_options;

int ParseCommandLine(const std::vector<std::string>& args, const char* usage, po::options_description& opts,
                     po::variables_map* vm, const char* positional, Positional required) {
  opts.add_options()("help,h", "show this help");
  po::positional_options_description pos;
  if (positional != nullptr) pos.add(positional, 1);
  try {
    po::store(po::command_line_parser(args).options(opts).positional(pos).run(), *vm);
    po::notify(*vm);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "impulse: %s\n\nUsage: %s\n", e.what(), usage);
    return 2;
  }
  if (vm->count("help")) {
    std::printf("Usage: %s\n", usage);
    std::cout << opts;
    return 0;
  }
  if (required == Positional::kRequired && positional != nullptr && !vm->count(positional)) {
    std::fprintf(stderr, "impulse: missing %s\n\nUsage: %s\n", positional, usage);
    return 2;
  }
  return -1;
}

}  // namespace impulse
