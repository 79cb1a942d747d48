// `impulse generate nexmark`: deterministic Nexmark events as NDJSON on stdout.
// `impulse generate fraud`: the Fraud Detection Handbook's simulated card transactions as CSV
// or NDJSON on stdout (docs/FRAUD_SIMULATOR.md).
// `impulse generate shop`: a simulated online shop's views, add-to-carts and purchases (or its
// item catalogue) as CSV or NDJSON on stdout (docs/SHOP_SIMULATOR.md).
#include <unistd.h>

#include <boost/program_options.hpp>
#include <cstdio>
#include <iostream>
#include <string>

#include "common/command_line.h"
#include "common/progress.h"
#include "common/suggest.h"
#include "datagen/common/text_format.h"
#include "datagen/fraud/format.h"
#include "datagen/fraud/simulator.h"
#include "datagen/nexmark/generator.h"
#include "datagen/nexmark/ndjson.h"
#include "datagen/shop/format.h"
#include "datagen/shop/simulator.h"
#include "tools/impulse/commands.h"

namespace impulse::tools {

namespace po = boost::program_options;

namespace {

// A simulator's refusal of its options (kInvalidArgument naming the option and its range) as a
// usage error: its message only, without the status code name or the simulator's own prefix.
int SimulatorRefused(const char* usage, const std::string& kind, const Status& st) {
  std::string message = st.message();
  if (message.starts_with(kind + ": ")) message.erase(0, kind.size() + 2);
  return UsageError(usage, "generate " + kind + ": " + message);
}

// Writes the fraud simulator's output one day at a time (memory: one day's transactions and a
// 1 MiB output buffer). Returns the process exit code.
int GenerateFraud(const char* usage, const fraud::SimulatorOptions& options, datagen::OutputFormat format, bool quiet) {
  auto sim = fraud::Simulator::Create(options);
  if (!sim.ok()) return SimulatorRefused(usage, "fraud", sim.status());
  std::string out;
  out.reserve(1 << 20);
  if (format == datagen::OutputFormat::kCsv) fraud::AppendCsvHeader(&out);
  std::vector<fraud::Transaction> day;
  ProgressBar progress(stderr, "generate fraud", "days", options.days, ProgressBar::ModeFor(STDERR_FILENO, quiet));
  uint64_t days = 0;
  while ((*sim)->NextDay(&day)) {
    progress.Update(++days);
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

// Writes the shop simulator's events one day at a time (memory: one day's events and a 1 MiB
// output buffer), or, with `items`, the catalogue once every day has run, in release-time order. Returns the exit
// code.
int GenerateShop(const char* usage, const shop::SimulatorOptions& options, shop::OutputFormat format, bool items,
                 bool quiet) {
  auto sim = shop::Simulator::Create(options);
  if (!sim.ok()) return SimulatorRefused(usage, "shop", sim.status());
  std::string out;
  out.reserve(1 << 20);
  const auto flush_if_full = [&] {
    if (out.size() < (1 << 20) - 4096) return true;
    if (std::fwrite(out.data(), 1, out.size(), stdout) != out.size()) return false;  // closed pipe
    out.clear();
    return true;
  };
  if (format == shop::OutputFormat::kCsv) {
    items ? shop::AppendItemCsvHeader(&out) : shop::AppendEventCsvHeader(&out);
  }
  std::vector<shop::Event> day;
  ProgressBar progress(stderr, "generate shop", "days", options.days, ProgressBar::ModeFor(STDERR_FILENO, quiet));
  uint64_t days = 0;
  while ((*sim)->NextDay(&day)) {
    progress.Update(++days);
    if (items) continue;  // the catalogue grows every day: written at the end
    for (const shop::Event& e : day) {
      shop::AppendEvent(e, options.start_epoch_day, format, &out);
      if (!flush_if_full()) return 1;
    }
  }
  if (items) {
    const auto& catalogue = (*sim)->items();
    for (uint32_t i : shop::ItemReleaseOrder(catalogue)) {
      shop::AppendItem(i, catalogue[i], options.start_epoch_day, format, &out);
      if (!flush_if_full()) return 1;
    }
  }
  if (std::fwrite(out.data(), 1, out.size(), stdout) != out.size()) return 1;
  return std::fflush(stdout) == 0 ? 0 : 1;
}

}  // namespace

namespace {

// Days since 1970-01-01 as YYYY-MM-DD.
std::string DateText(int64_t epoch_day) {
  int64_t year = 0;
  unsigned month = 0;
  unsigned day = 0;
  datagen::CivilFromDays(epoch_day, &year, &month, &day);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02u", static_cast<long long>(year), month, day);
  return buf;
}

// --start and --format of a simulator command (`kind`: fraud, shop) into *start_day (days
// since 1970-01-01, within the simulator's [min_day, max_day]) and *out_format. Returns -1 when
// both are good, else the exit code of the usage error it printed (naming the supported dates).
int ParseStartAndFormat(const char* usage, const std::string& kind, const std::string& start, const std::string& format,
                        int64_t min_day, int64_t max_day, int64_t* start_day, datagen::OutputFormat* out_format) {
  auto day = datagen::ParseDate(start);
  if (!day.ok() || *day < min_day || *day > max_day) {
    return UsageError(usage, "generate " + kind + ": --start '" + start + "': expected a date YYYY-MM-DD from " +
                                 DateText(min_day) + " to " + DateText(max_day));
  }
  auto parsed_format = datagen::ParseOutputFormat(format);
  if (!parsed_format.ok()) return UsageError(usage, "generate " + kind + ": " + parsed_format.status().message());
  *start_day = *day;
  *out_format = *parsed_format;
  return -1;
}

int GenerateShopCommand(const std::vector<std::string>& args) {
  const char* usage =
      "impulse generate shop [--users 10000] [--items 5000] [--categories 20] [--days 30] [--start 2024-03-04]\n"
      "                             [--new-items-per-day 50] [--seed S] [--format csv|ndjson] [--output events|items]\n"
      "                             [--quiet]";
  po::options_description opts("generate shop options");
  shop::SimulatorOptions shop_options;
  std::string start = "2024-03-04";
  std::string format = "csv";
  std::string output = "events";
  bool quiet = false;
  opts.add_options()("users", po::value(&shop_options.users)->default_value(shop_options.users),
                     "number of users (events grow in proportion: about 100 per user over 30 days)")(
      "items", po::value(&shop_options.items)->default_value(shop_options.items),
      "items in the catalogue at the start")(
      "categories", po::value(&shop_options.categories)->default_value(shop_options.categories), "item categories")(
      "days", po::value(&shop_options.days)->default_value(shop_options.days), "days simulated")(
      "new-items-per-day", po::value(&shop_options.new_items_per_day)->default_value(shop_options.new_items_per_day),
      "items released each day")("start", po::value(&start)->default_value(start), "first day, YYYY-MM-DD (UTC)")(
      "seed", po::value(&shop_options.seed)->default_value(shop_options.seed), "random seed")(
      "format", po::value(&format)->default_value(format), "csv or ndjson")(
      "output", po::value(&output)->default_value(output),
      "events (views, carts, purchases) or items (the catalogue: every item released by the last day)")(
      "quiet", po::bool_switch(&quiet), "no progress bar on stderr (shown when it is a terminal)");
  po::variables_map vm;
  if (int rc = ParseCommandLine(args, usage, opts, &vm); rc >= 0) return rc;
  datagen::OutputFormat out_format = datagen::OutputFormat::kCsv;
  if (int rc = ParseStartAndFormat(usage, "shop", start, format, shop::kStartDayMin, shop::kStartDayMax,
                                   &shop_options.start_epoch_day, &out_format);
      rc >= 0) {
    return rc;
  }
  if (output != "events" && output != "items") {
    return UsageError(usage, "generate shop: unknown output '" + output + "' (known: events, items)" +
                                 DidYouMean(output, {"events", "items"}));
  }
  return GenerateShop(usage, shop_options, out_format, output == "items", quiet);
}

int GenerateFraudCommand(const std::vector<std::string>& args) {
  const char* usage =
      "impulse generate fraud [--customers 5000] [--terminals 10000] [--days 183] [--start 2018-04-01]\n"
      "                              [--seed S] [--format csv|ndjson] [--quiet]";
  po::options_description opts("generate fraud options");
  fraud::SimulatorOptions fraud_options;
  std::string start = "2018-04-01";
  std::string format = "csv";
  bool quiet = false;
  opts.add_options()("customers", po::value(&fraud_options.customers)->default_value(fraud_options.customers),
                     "number of customers")(
      "terminals", po::value(&fraud_options.terminals)->default_value(fraud_options.terminals), "number of terminals")(
      "days", po::value(&fraud_options.days)->default_value(fraud_options.days), "days simulated")(
      "start", po::value(&start)->default_value(start), "first day, YYYY-MM-DD (UTC)")(
      "seed", po::value(&fraud_options.seed)->default_value(fraud_options.seed), "random seed")(
      "format", po::value(&format)->default_value(format), "csv or ndjson")(
      "quiet", po::bool_switch(&quiet), "no progress bar on stderr (shown when it is a terminal)");
  po::variables_map vm;
  if (int rc = ParseCommandLine(args, usage, opts, &vm); rc >= 0) return rc;
  datagen::OutputFormat out_format = datagen::OutputFormat::kCsv;
  if (int rc = ParseStartAndFormat(usage, "fraud", start, format, fraud::kStartDayMin, fraud::kStartDayMax,
                                   &fraud_options.start_epoch_day, &out_format);
      rc >= 0) {
    return rc;
  }
  return GenerateFraud(usage, fraud_options, out_format, quiet);
}

}  // namespace

int GenerateCommand(const std::vector<std::string>& all_args) {
  const char* kinds_usage =
      "impulse generate nexmark --events N [--rate R] [--seed S]\n"
      "       impulse generate fraud [--customers 5000] [--terminals 10000] [--days 183] [--start 2018-04-01]\n"
      "                              [--seed S] [--format csv|ndjson]\n"
      "       impulse generate shop [--users 10000] [--items 5000] [--categories 20] [--days 30]\n"
      "                             [--start 2024-03-04] [--seed S] [--format csv|ndjson] [--output events|items]";
  // Each kind has its own options (and --help lists only those).
  const std::string kind = all_args.empty() ? "" : all_args[0];
  const std::vector<std::string> args(all_args.begin() + (all_args.empty() ? 0 : 1), all_args.end());
  if (kind == "fraud") return GenerateFraudCommand(args);
  if (kind == "shop") return GenerateShopCommand(args);
  if (kind == "--help" || kind == "-h") {
    std::printf("Usage: %s\n", kinds_usage);
    return 0;
  }
  if (kind != "nexmark") {
    return UsageError("impulse generate", kind.empty() ? "generate what? nexmark, fraud or shop"
                                                       : "unknown kind '" + kind + "' (known: nexmark, fraud, shop)" +
                                                             DidYouMean(kind, {"nexmark", "fraud", "shop"}));
  }
  const char* usage = "impulse generate nexmark --events N [--rate R] [--seed S]";
  po::options_description opts("generate nexmark options");
  uint64_t events = 0;
  nexmark::GeneratorConfig config;
  opts.add_options()("events", po::value(&events), "number of events")(
      "rate", po::value(&config.events_per_second)->default_value(config.events_per_second),
      "events per second of event time (spaces the timestamps; output is as fast as possible)")(
      "seed", po::value(&config.seed)->default_value(config.seed), "random seed");
  po::variables_map vm;
  if (int rc = ParseCommandLine(args, usage, opts, &vm); rc >= 0) return rc;
  if (!vm.count("events") || events > nexmark::kMaxEventIndex) {
    return UsageError(usage,
                      "generate nexmark: --events N is required, 0 <= N <= " + std::to_string(nexmark::kMaxEventIndex));
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
