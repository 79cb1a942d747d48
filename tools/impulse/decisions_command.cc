// `impulse decisions rescore`: options parsing and output around model::Rescore.
#include <boost/program_options.hpp>
#include <charconv>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "common/command_line.h"
#include "event/timestamp.h"
#include "model/decisions.h"
#include "tools/impulse/commands.h"

namespace impulse::tools {

using model::FormatRescoreReport;
using model::Rescore;
using model::RescoreOptions;
using model::RescoreReport;

int DecisionsCommand(const std::vector<std::string>& args) {
  namespace po = boost::program_options;
  const char* usage =
      "impulse decisions rescore --data-dir DIR --stream S --models REPO --model M --version V\n"
      "                          [--from T] [--to T] [--threshold 0.5] [--output INDEX|NAME] [--limit N] [--json]";
  po::options_description opts("decisions options");
  std::string action, from, to;
  RescoreOptions o;
  opts.add_options()("action", po::value(&action), "what to do: rescore")(
      "data-dir", po::value(&o.data_dir),
      "the engine's data dir (read only; stop the engine, or use a copy taken after a checkpoint: pipeline output "
      "newer than the last checkpoint may not be in the files yet)")(
      "stream", po::value(&o.stream), "the decision log stream")("models", po::value(&o.models_dir),
                                                                 "the model repository")(
      "model", po::value(&o.model), "the model to re-score with")("version", po::value(&o.version), "its version")(
      "from", po::value(&from), "first event time (RFC 3339 or ms since the epoch), inclusive")(
      "to", po::value(&to), "last event time, exclusive")("threshold", po::value(&o.threshold)->default_value(0.5),
                                                          "decision = score >= threshold")(
      "output", po::value(&o.output)->default_value("0"), "the output compared: index or name")(
      "limit", po::value(&o.limit)->default_value(10), "differing rows listed")("json", "print one JSON object");
  po::variables_map vm;
  HiddenOptions hidden;
  hidden.aliases = {{"data", "data-dir"}};
  if (int rc = ParseCommandLine(args, usage, opts, &vm, "action", Positional::kOptional, hidden); rc >= 0) return rc;
  if (action != "rescore" || o.data_dir.empty() || o.stream.empty() || o.models_dir.empty() || o.model.empty() ||
      vm.count("version") == 0) {
    return UsageError(usage,
                      "decisions: expected 'rescore --data-dir DIR --stream S --models REPO --model M --version V'");
  }
  for (auto [name, text, dst] : {std::tuple{"from", &from, &o.from_ms}, std::tuple{"to", &to, &o.to_ms}}) {
    if (text->empty()) continue;
    int64_t ms = 0;  // epoch milliseconds, else RFC 3339
    const auto [end, err] = std::from_chars(text->data(), text->data() + text->size(), ms);
    Result<int64_t> t =
        err == std::errc() && end == text->data() + text->size() ? Result<int64_t>(ms) : ParseTimestampMs(*text);
    if (!t.ok()) {
      std::fprintf(stderr, "impulse: --%s '%s': expected epoch milliseconds or RFC 3339 (%s)\n", name, text->c_str(),
                   t.status().message().c_str());
      return 2;
    }
    *dst = *t;
  }
  Result<RescoreReport> report = Rescore(o);
  if (!report.ok()) {
    std::fprintf(stderr, "impulse: decisions rescore: %s\n", report.status().ToString().c_str());
    return 1;
  }
  std::fputs(FormatRescoreReport(*report, vm.count("json") > 0).c_str(), stdout);
  return 0;
}

}  // namespace impulse::tools
