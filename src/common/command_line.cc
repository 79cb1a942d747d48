#include "common/command_line.h"

#include <cstdio>
#include <exception>
#include <iostream>
#include <string>
#include <string_view>

#include "common/suggest.h"

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

// "--data DIR" / "--data=DIR" -> "--data-dir ...", with a note, for each deprecated alias.
std::vector<std::string> ApplyAliases(const std::vector<std::string>& args, const HiddenOptions& hidden) {
  std::vector<std::string> out;
  out.reserve(args.size());
  for (const std::string& a : args) {
    std::string arg = a;
    for (const auto& [old_name, current] : hidden.aliases) {
      const std::string flag = "--" + old_name;
      if (arg == flag || arg.rfind(flag + "=", 0) == 0) {
        std::fprintf(stderr, "impulse: note: %s is deprecated, use --%s\n", flag.c_str(), current.c_str());
        arg = "--" + current + arg.substr(flag.size());
        break;
      }
    }
    out.push_back(std::move(arg));
  }
  return out;
}

std::string Suggestion(const po::unknown_option& e, const po::options_description& opts) {
  std::string name = e.get_option_name();
  while (!name.empty() && name.front() == '-') name.erase(0, 1);
  const size_t eq = name.find('=');
  if (eq != std::string::npos) name.resize(eq);
  std::vector<std::string> longs;
  for (const auto& o : opts.options()) longs.push_back(o->long_name());
  std::vector<std::string_view> names(longs.begin(), longs.end());
  std::string hint = DidYouMean(name, names);
  // " (did you mean 'data-dir'?)" -> " (did you mean '--data-dir'?)"
  const size_t q = hint.find('\'');
  if (q != std::string::npos) hint.insert(q + 1, "--");
  return hint;
}

}  // namespace

int UsageError(const char* usage, const std::string& message) {
  // The command is the leading lower-case words of the usage line.
  std::string cmd;
  std::string_view rest(usage);
  while (!rest.empty()) {
    const size_t sp = rest.find(' ');
    const std::string_view word = rest.substr(0, sp);
    if (word.empty() || word.find_first_not_of("abcdefghijklmnopqrstuvwxyz-") != std::string_view::npos ||
        word.front() == '-') {
      break;
    }
    cmd += (cmd.empty() ? "" : " ") + std::string(word);
    if (sp == std::string_view::npos) break;
    rest.remove_prefix(sp + 1);
  }
  std::fprintf(stderr, "impulse: %s\nsee '%s --help'\n", message.c_str(), cmd.empty() ? "impulse" : cmd.c_str());
  return 2;
}

int ParseCommandLine(const std::vector<std::string>& args, const char* usage, po::options_description& opts,
                     po::variables_map* vm, const char* positional, Positional required, const HiddenOptions& hidden) {
  opts.add_options()("help,h", "show this help");
  po::options_description all;
  all.add(opts);
  if (hidden.options != nullptr) all.add(*hidden.options);
  po::positional_options_description pos;
  if (positional != nullptr) pos.add(positional, 1);
  try {
    const po::parsed_options parsed =
        po::command_line_parser(ApplyAliases(args, hidden)).options(all).positional(pos).run();
    RefuseNegativeUnsigned(parsed, all);
    po::store(parsed, *vm);
    po::notify(*vm);
  } catch (const po::unknown_option& e) {
    return UsageError(usage, std::string(e.what()) + Suggestion(e, all));
  } catch (const std::exception& e) {
    return UsageError(usage, e.what());
  }
  if (vm->count("help")) {
    std::printf("Usage: %s\n", usage);
    std::cout << opts;
    return 0;
  }
  if (required == Positional::kRequired && positional != nullptr && !vm->count(positional)) {
    return UsageError(usage, std::string("missing ") + positional);
  }
  return -1;
}

}  // namespace impulse
