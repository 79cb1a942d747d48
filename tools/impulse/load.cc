// `impulse load`: generated quickstart traffic, or the NDJSON lines of a file, over HTTP to a
// running engine.
#include <boost/program_options.hpp>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "common/command_line.h"
#include "datagen/clicks.h"
#include "loadgen/loadgen.h"
#include "tools/impulse/commands.h"

namespace impulse::tools {

namespace po = boost::program_options;

int LoadCommand(const std::vector<std::string>& args) {
  po::options_description opts("load options");
  std::string url = "127.0.0.1:8470";
  loadgen::LoadOptions lo;
  lo.stream = "clicks";
  double bad_fraction = 0;
  std::string input;
  opts.add_options()("target", po::value(&url)->default_value(url), "engine HOST:PORT")(
      "stream", po::value(&lo.stream)->default_value(lo.stream), "stream (quickstart clicks schema)")(
      "events", po::value(&lo.total_events)->default_value(lo.total_events), "events to send")(
      "rate", po::value(&lo.rate_events_per_s)->default_value(0), "events/s, open loop (0 = as fast as possible)")(
      "connections", po::value(&lo.connections)->default_value(lo.connections), "HTTP keep-alive connections")(
      "batch", po::value(&lo.lines_per_request)->default_value(lo.lines_per_request), "lines per request")(
      "bad-fraction", po::value(&bad_fraction)->default_value(0.0), "share of invalid lines")(
      "token", po::value(&lo.bearer_token), "bearer token")("decide", po::value(&lo.decide),
                                                            "pipeline whose decision each response carries (?decide=)")(
      "id", po::value(&lo.decide_id), "with --decide: the id field (default: the server's choice)")(
      "decide-timeout-ms", po::value(&lo.decide_timeout_ms)->default_value(-1),
      "with --decide: timeout_ms of each request (-1: the server's default)")(
      "input", po::value(&input),
      "send this NDJSON file's lines in order instead of generated clicks (--events defaults to its line count)");
  po::variables_map vm;
  if (int rc = ParseCommandLine(args, "impulse load [options]", opts, &vm); rc >= 0) return rc;
  const size_t colon = url.rfind(':');
  if (colon == std::string::npos) {
    std::fprintf(stderr, "impulse: --target wants HOST:PORT\n");
    return 2;
  }
  lo.host = url.substr(0, colon);
  const std::string port = url.substr(colon + 1);
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
      std::stoul(port) > 65535 || std::stoul(port) == 0) {
    std::fprintf(stderr, "impulse: --target port '%s' is not a port number (1 to 65535)\n", port.c_str());
    return 2;
  }
  lo.port = static_cast<uint16_t>(std::stoul(port));
  datagen::ClickGenerator gen;
  gen.bad_fraction = bad_fraction;
  std::vector<std::string> lines;
  if (!input.empty()) {
    std::ifstream in(input);
    if (!in) {
      std::fprintf(stderr, "impulse: --input %s: cannot open\n", input.c_str());
      return 1;
    }
    for (std::string l; std::getline(in, l);) {
      if (!l.empty()) lines.push_back(std::move(l));
    }
    if (vm["events"].defaulted()) lo.total_events = lines.size();
    // Sent once, in order: repeating a file would send its event times again (late events).
    if (lines.empty() || lo.total_events > lines.size()) {
      std::fprintf(stderr, "impulse: --input %s has %zu lines, --events asks for %llu\n", input.c_str(), lines.size(),
                   static_cast<unsigned long long>(lo.total_events));
      return 2;
    }
    lo.make_line = [&](uint64_t seq, std::string* line) { line->append(lines[seq]); };
  } else {
    lo.make_line = [&](uint64_t seq, std::string* line) {
      bool valid = false, big = false;
      gen.Line(seq, line, &valid, &big);
    };
  }
  auto r = loadgen::RunLoad(lo);
  if (!r.ok()) {
    std::fprintf(stderr, "impulse: load: %s\n", r.status().ToString().c_str());
    return 1;
  }
  loadgen::PrintLoadReport("HTTP ingest", *r);
  std::printf("  accepted %llu, rejected %llu, errors %llu%s%s\n", static_cast<unsigned long long>(r->accepted),
              static_cast<unsigned long long>(r->rejected), static_cast<unsigned long long>(r->errors),
              r->first_error.empty() ? "" : ", first error: ", r->first_error.c_str());
  if (!lo.decide.empty()) {
    std::printf(
        "  decisions: %llu events answered pending (no decision within the timeout), %llu late (in _late_events)\n",
        static_cast<unsigned long long>(r->pending), static_cast<unsigned long long>(r->late));
  }
  return r->errors == 0 ? 0 : 1;
}

}  // namespace impulse::tools
