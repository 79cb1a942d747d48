// `impulse generate nexmark`: deterministic Nexmark events as NDJSON on stdout.
#include <boost/program_options.hpp>
#include <cstdio>
#include <iostream>
#include <string>

#include "nexmark/generator.h"
#include "nexmark/ndjson.h"
#include "tools/impulse/commands.h"

namespace impulse::tools {

namespace po = boost::program_options;

int GenerateCommand(const std::vector<std::string>& args) {
  const char* usage = "impulse generate nexmark --events N [--rate R] [--seed S]";
  po::options_description opts("generate options");
  std::string kind;
  uint64_t events = 0;
  nexmark::GeneratorConfig config;
  opts.add_options()
      ("kind", po::value(&kind), "what to generate: nexmark")
      ("events", po::value(&events), "number of events")
      ("rate", po::value(&config.events_per_second)->default_value(config.events_per_second),
       "events per second of event time (spaces the timestamps; output is as fast as possible)")
      ("seed", po::value(&config.seed)->default_value(config.seed), "random seed")
      ("help,h", "show this help");
  po::positional_options_description pos;
  pos.add("kind", 1);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(opts).positional(pos).run(), vm);
    po::notify(vm);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "impulse: %s\n\nUsage: %s\n", e.what(), usage);
    return 2;
  }
  if (vm.count("help")) {
    std::printf("Usage: %s\n", usage);
    std::cout << opts;
    return 0;
  }
  if (kind != "nexmark") {
    std::fprintf(stderr, "impulse: generate: unknown kind '%s' (known: nexmark)\n\nUsage: %s\n", kind.c_str(), usage);
    return 2;
  }
  if (!vm.count("events") || events > nexmark::kMaxEventIndex) {
    std::fprintf(stderr, "impulse: generate: --events N is required, 0 <= N <= %llu\n",
                 static_cast<unsigned long long>(nexmark::kMaxEventIndex));
    return 2;
  }
  auto gen = nexmark::Generator::Create(config);
  if (!gen.ok()) {
    std::fprintf(stderr, "impulse: generate: %s\n", gen.status().ToString().c_str());
    return 2;
  }
  nexmark::EventStream stream(&*gen, 0, events);
  nexmark::Event event;
  std::string out;
  out.reserve(1 << 20);
  while (stream.Next(&event)) {
    nexmark::AppendEventJson(event, &out);
    out.push_back('\n');
    if (out.size() >= (1 << 20) - 4096) {
      if (std::fwrite(out.data(), 1, out.size(), stdout) != out.size()) return 1;  // closed pipe
      out.clear();
    }
  }
  if (std::fwrite(out.data(), 1, out.size(), stdout) != out.size()) return 1;
  return std::fflush(stdout) == 0 ? 0 : 1;
}

}  // namespace impulse::tools
