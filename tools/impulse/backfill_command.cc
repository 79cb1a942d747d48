// `impulse backfill SPEC.yaml --input FILE | --data-dir DIR ...`: flags to BackfillOptions, the
// summary line, exit codes (0 ok, 1 failure, 2 usage). The work is RunBackfill (backfill.h).
#include <unistd.h>

#include <boost/program_options.hpp>
#include <charconv>
#include <cstdio>
#include <iostream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "common/command_line.h"
#include "common/progress.h"
#include "event/csv_header.h"
#include "event/timestamp.h"
#include "features/backfill.h"
#include "spec/internal.h"

namespace impulse::tools {

using features::BackfillOptions;
using features::BackfillStats;
using features::RunBackfill;

namespace {

namespace po = boost::program_options;

// Epoch milliseconds (an integer) or an RFC 3339 date-time.
Result<int64_t> ParseTimeFlag(const std::string& name, const std::string& text) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec == std::errc() && p == text.data() + text.size()) return v;
  Result<int64_t> t = ParseTimestampMs(text);
  if (!t.ok()) return InvalidArgument("--" + name + " '" + text + "': " + t.status().message());
  return t;
}

}  // namespace

int BackfillCommand(const std::vector<std::string>& args) {
  const char* usage =
      "impulse backfill SPEC.yaml --input FILE.csv|FILE.ndjson [--into STREAM] [--stream OUT] [--out FILE|-]\n"
      "                           [--format csv|ndjson] [--from T] [--to T] [--shards N] [--skip-bad-rows]\n"
      "                           [--column NAME=FIELD]... [--ignore-unknown-columns] [--allow-late]\n"
      "                           [--progress|--quiet] [--keep]\n"
      "       impulse backfill SPEC.yaml --data-dir DIR [...]   (history from an engine's data directory)";
  BackfillOptions o;
  std::string format, from, to, lead = "1h";
  std::vector<std::string> columns;
  bool allow_late = false;
  bool quiet = false;
  po::options_description opts("backfill options");
  opts.add_options()("spec", po::value(&o.spec_path), "pipeline spec (YAML)")(
      "models", po::value(&o.models_dir), "model repository for the spec's predict and rank steps")(
      "input", po::value(&o.input_path), "history: CSV with a header row (.csv) or NDJSON")(
      "data-dir", po::value(&o.data_dir), "history: the log of an engine's data directory (engine stopped)")(
      "into", po::value(&o.input_stream), "stream the input is fed to (default: the spec's only input stream)")(
      "stream", po::value(&o.output_stream), "stream written out (default: the last pipeline's sink)")(
      "out", po::value(&o.out_path)->default_value("-"), "output file, - for stdout")(
      "format", po::value(&format), "csv or ndjson (default: from --out's extension, else csv)")(
      "from", po::value(&from), "first event time fed, inclusive (RFC 3339 or epoch ms)")(
      "to", po::value(&to), "event time where the input ends, exclusive (RFC 3339 or epoch ms)")(
      "shards", po::value(&o.shards)->default_value(o.shards), "engine shard threads")(
      "lead", po::value(&lead)->default_value(lead),
      "feed input only this far (event time) ahead of the slowest pipeline's watermark, which bounds what waits in "
      "the pipelines' state; 0 feeds it all at once")("skip-bad-rows", po::bool_switch(&o.skip_bad_rows),
                                                      "count and skip bad input rows instead of failing")(
      "column", po::value(&columns)->composing(),
      "CSV input: the header's column NAME fills FIELD (NAME=FIELD, repeatable); headers otherwise match field names "
      "case-insensitively")("ignore-unknown-columns", po::bool_switch(&o.ignore_unknown_columns),
                            "CSV input: skip columns that name no field instead of failing")(
      "allow-late", po::bool_switch(&allow_late),
      "exit 0 even if events were late for a stateful step and left out of the output")(
      "progress", po::bool_switch(&o.progress),
      "progress lines on stderr about once a second even when it is not a terminal (on a terminal: a bar)")(
      "quiet", po::bool_switch(&quiet), "no progress bar")("keep", po::bool_switch(&o.keep_data),
                                                           "keep the engine's temporary data directory");
  po::variables_map vm;
  HiddenOptions hidden;
  hidden.aliases = {{"data", "data-dir"}};
  if (int rc = ParseCommandLine(args, usage, opts, &vm, "spec", Positional::kOptional, hidden); rc >= 0) return rc;
  auto usage_error = [&](const std::string& msg) { return UsageError(usage, "backfill: " + msg); };
  if (o.spec_path.empty()) return usage_error("missing SPEC.yaml");
  if (o.input_path.empty() == o.data_dir.empty())
    return usage_error("give exactly one of --input FILE and --data-dir DIR");
  if (format.empty()) {
    const std::string& out = o.out_path;
    const bool nd = out.size() >= 6 && (out.ends_with(".ndjson") || out.ends_with(".jsonl") || out.ends_with(".json"));
    o.format = nd ? BackfillOptions::Format::kNdjson : BackfillOptions::Format::kCsv;
  } else if (format == "csv") {
    o.format = BackfillOptions::Format::kCsv;
  } else if (format == "ndjson") {
    o.format = BackfillOptions::Format::kNdjson;
  } else {
    return usage_error("--format must be csv or ndjson");
  }
  for (auto [name, text, dst] : {std::tuple{"from", &from, &o.from_ms}, std::tuple{"to", &to, &o.to_ms}}) {
    if (text->empty()) continue;
    Result<int64_t> t = ParseTimeFlag(name, *text);
    if (!t.ok()) return usage_error(t.status().message());
    *dst = *t;
  }
  if (!plan::spec_internal::ParseDurationMs(lead, &o.lead_ms) || o.lead_ms < 0) {
    return usage_error("--lead must be a duration (30m, 1h, 1d) or 0, got '" + lead + "'");
  }
  for (const std::string& c : columns) {
    Result<std::pair<std::string, std::string>> m = ParseColumnMapping(c);
    if (!m.ok()) return usage_error(m.status().message());
    o.column_map.push_back(*m);
  }
  const ProgressBar::Mode mode = ProgressBar::ModeFor(STDERR_FILENO, quiet, o.progress);
  o.progress = mode != ProgressBar::Mode::kOff;
  o.progress_bar = mode == ProgressBar::Mode::kBar;

  Result<BackfillStats> st = RunBackfill(o);
  if (!st.ok()) {
    std::fprintf(stderr, "impulse backfill: %s\n", st.status().ToString().c_str());
    return 1;
  }
  const BackfillStats& s = *st;
  std::fprintf(stderr,
               "backfill: %llu events in, %llu rows out, %llu bad rows skipped, %llu outside --from/--to, "
               "%.2f s (%.0f events/s; feed %.2f s of which paced %.2f s, drain %.2f s, output %.2f s)\n",
               static_cast<unsigned long long>(s.events_in), static_cast<unsigned long long>(s.rows_out),
               static_cast<unsigned long long>(s.bad_rows), static_cast<unsigned long long>(s.filtered), s.seconds,
               s.seconds > 0 ? static_cast<double>(s.events_in) / s.seconds : 0.0, s.feed_seconds, s.paced_seconds,
               s.drain_seconds, s.output_seconds);
  std::fprintf(stderr, "backfill: cpu %.2f s: input parsing %.2f s, IngestRows %.2f s, output %.2f s, engine %.2f s\n",
               s.cpu_seconds, s.parse_cpu_seconds, s.ingest_cpu_seconds, s.output_cpu_seconds,
               s.cpu_seconds - s.parse_cpu_seconds - s.ingest_cpu_seconds - s.output_cpu_seconds);
  if (s.late_events > 0) {
    // Late events are missing rows of the training set: a script must not take it for whole.
    // Only reason `late` is about input order; the others (a state bound, an as-of time out of
    // its bounds, a malformed candidate list) call for another fix, so each is named.
    std::string reasons;
    bool behind_watermark = false;
    for (const auto& [key, n] : s.late_by_reason) {
      reasons += (reasons.empty() ? "" : ", ") + key + " " + std::to_string(n);
      behind_watermark = behind_watermark || key.ends_with(" late");
    }
    std::fprintf(stderr,
                 "backfill: %s: %llu events went to _late_events and are not in the output (by pipeline, step and "
                 "reason: %s; docs/EVENT_TIME.md)%s%s\n",
                 allow_late ? "warning" : "error", static_cast<unsigned long long>(s.late_events), reasons.c_str(),
                 behind_watermark ? "; for reason late: sort the input by event time or raise the stream's "
                                    "watermark.max_out_of_orderness"
                                  : "",
                 allow_late ? "" : " (--allow-late accepts this)");
    if (!allow_late) return 1;
  }
  return 0;
}

}  // namespace impulse::tools
