// `impulse generate nexmark`: deterministic Nexmark events as NDJSON on stdout.
// `impulse generate fraud`: the Fraud Detection Handbook's simulated card transactions as CSV
// or NDJSON on stdout (docs/FRAUD_SIMULATOR.md).
#include <boost/program_options.hpp>
#include <cstdio>
#include <iostream>
#include <string>

#include "common/command_line.h"
#include "datagen/fraud/format.h"
#include "datagen/fraud/simulator.h"
#include "datagen/nexmark/generator.h"
#include "datagen/nexmark/ndjson.h"
#include "tools/impulse/commands.h"

namespace impulse::tools {

namespace po = boost::program_options;

namespace {

// Writes the fraud simulator's output one day at a time (memory: one day's transactions and a
// 1 MiB output buffer). Returns the process exit code.
int GenerateFraud(const fraud::SimulatorOptions& options, fraud::OutputFormat format) {
  auto sim = fraud::Simulator::Create(options);
  if (!sim.ok()) {
    std::fprintf(stderr, "impulse: generate fraud: %s\n", sim.status().ToString().c_str());
    return 2;
  }
  std::string out;
  out.reserve(1 << 20);
  if (format == fraud::OutputFormat::kCsv) fraud::AppendCsvHeader(&out);
  std::vector<fraud::Transaction> day;
  while ((*sim)->NextDay(&day)) {
    for (const fraud::Transaction& tx : day) {
      fraud::AppendTransaction(tx, options.start_epoch_day, format, &out);
      if (out.size() >= (1 << 20) - 4096) {
        if (std::fwrite(out.data(), 1, out.size(), stdout) != out.size()) return 1;  // closed pipe
        out.clear();
      }
    }
  }
  if (std::fwrite(out.data(), 1, out.size(), stdout) != out.size()) return 1;
  return std::fflush(stdout) == 0 ? 0 : 1;
}

}  // namespace

int GenerateCommand(const std::vector<std::string>& args) {
  const char* usage =
      "impulse generate nexmark --events N [--rate R] [--seed S]\n"
      "       impulse generate fraud [--customers 5000] [--terminals 10000] [--days 183] [--start 2018-04-01]\n"
      "                              [--seed S] [--format csv|ndjson]";
  po::options_description opts("generate options");
  std::string kind;
  uint64_t events = 0;
  nexmark::GeneratorConfig config;
  fraud::SimulatorOptions fraud_options;
  std::string start = "2018-04-01";
  std::string format = "csv";
  opts.add_options()("kind", po::value(&kind), "what to generate: nexmark, fraud")("events", po::value(&events),
                                                                                   "number of events")(
      "rate", po::value(&config.events_per_second)->default_value(config.events_per_second),
      "events per second of event time (spaces the timestamps; output is as fast as possible)")(
      "seed", po::value(&config.seed)->default_value(config.seed), "random seed")(
      "customers", po::value(&fraud_options.customers)->default_value(fraud_options.customers),
      "fraud: number of customers")("terminals",
                                    po::value(&fraud_options.terminals)->default_value(fraud_options.terminals),
                                    "fraud: number of terminals")(
      "days", po::value(&fraud_options.days)->default_value(fraud_options.days), "fraud: days simulated")(
      "start", po::value(&start)->default_value(start), "fraud: first day, YYYY-MM-DD (UTC)")(
      "format", po::value(&format)->default_value(format), "fraud: csv or ndjson");
  po::variables_map vm;
  if (int rc = ParseCommandLine(args, usage, opts, &vm, "kind"); rc >= 0) return rc;
  if (kind == "fraud") {
    auto start_day = fraud::ParseDate(start);
    auto out_format = fraud::ParseOutputFormat(format);
    if (!start_day.ok() || !out_format.ok()) {
      const Status& st = start_day.ok() ? out_format.status() : start_day.status();
      std::fprintf(stderr, "impulse: generate fraud: %s\n\nUsage: %s\n", st.ToString().c_str(), usage);
      return 2;
    }
    fraud_options.start_epoch_day = *start_day;
    fraud_options.seed = config.seed;
    return GenerateFraud(fraud_options, *out_format);
  }
  if (kind != "nexmark") {
    std::fprintf(stderr, "impulse: generate: unknown kind '%s' (known: nexmark, fraud)\n\nUsage: %s\n", kind.c_str(),
                 usage);
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
