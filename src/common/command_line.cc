#include "common/command_line.h"

#include <cstdio>
#include <exception>
#include <iostream>
#include <string>

namespace impulse {

namespace po = boost::program_options;

namespace {

template <typename T>
bool IsA(const po::value_semantic* semantic) {
  return dynamic_cast<const po::typed_value<T>*>(semantic) != nullptr;
}

bool IsUnsigned(const po::value_semantic* semantic) {
  return IsA<unsigned short>(semantic) || IsA<unsigned int>(semantic) || IsA<unsigned long>(semantic) ||
         IsA<unsigned long long>(semantic);
}

// boost::lexical_cast reads "-1" into an unsigned option as its wrap-around (4294967295 for
// 32 bits), which would silently turn a typo into a huge limit: refuse it instead.
void RefuseNegativeUnsigned(const po::parsed_options& parsed, const po::options_description& opts) {
  for (const po::option& opt : parsed.options) {
    const po::option_description* desc = opts.find_nothrow(opt.string_key, /*approx=*/false);
    if (desc == nullptr || !IsUnsigned(desc->semantic().get())) continue;
    for (const std::string& v : opt.value) {
      const size_t first = v.find_first_not_of(" \t");
      if (first != std::string::npos && v[first] == '-') {
        throw po::error("the argument ('" + v + "') for option '--" + opt.string_key +
                        "' is invalid: it must not be negative");
      }
    }
  }
}

}  // namespace

int ParseCommandLine(const std::vector<std::string>& args, const char* usage, po::options_description& opts,
                     po::variables_map* vm, const char* positional, Positional required) {
  opts.add_options()("help,h", "show this help");
  po::positional_options_description pos;
  if (positional != nullptr) pos.add(positional, 1);
  try {
    const po::parsed_options parsed = po::command_line_parser(args).options(opts).positional(pos).run();
    RefuseNegativeUnsigned(parsed, opts);
    po::store(parsed, *vm);
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
