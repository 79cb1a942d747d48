// The impulse binary: parses flags and starts library components. No engine logic here.
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "common/build_info.h"
#include "common/suggest.h"
#include "examples/fraud/demo/demo.h"
#include "examples/personalization/demo/demo.h"
#include "examples/quickstart/demo.h"
#include "tools/impulse/commands.h"

namespace impulse::tools {
int CheckpointsCommand(const std::vector<std::string>& args);  // checkpoints.cc
int BackfillCommand(const std::vector<std::string>& args);     // backfill_command.cc
int ModelsCommand(const std::vector<std::string>& args);       // models.cc
int ResetCommand(const std::vector<std::string>& args);        // reset_command.cc
int DeleteCommand(const std::vector<std::string>& args);       // delete_command.cc
}  // namespace impulse::tools

namespace {

void PrintUsage(FILE* out) {
  std::fprintf(
      out,
      "impulse %s: an event-driven streaming engine\n\n"
      "Usage: impulse <command> [options]\n\n"
      "Commands:\n"
      "  run SPEC.yaml        run the engine and its HTTP API\n"
      "  validate SPEC.yaml   check a pipeline spec and report every error\n"
      "  demo fraud           the fraud example end to end: throughput, decision latency live vs batch,\n"
      "                       alerts (stream + webhook) with precision/recall, CPU, idle CPU\n"
      "  demo personalization the shop recommender evaluation: hit rate and NDCG at 10 of the next click\n"
      "                       and purchase on held-out days (popularity baselines, the served ranker)\n"
      "  demo SPEC.yaml       run the engine in process under generated load and report\n"
      "  load                 send generated NDJSON load to a running engine\n"
      "  repair DIR           truncate a partition directory at its first corrupt record\n"
      "  generate nexmark     deterministic Nexmark events (person/auction/bid) as NDJSON\n"
      "  generate fraud       simulated card transactions with fraud labels (CSV or NDJSON)\n"
      "  generate shop        simulated online shop sessions: views, carts, purchases (CSV or NDJSON)\n"
      "  backfill SPEC.yaml --input FILE   replay history through the pipelines into a training set\n"
      "  checkpoints list --data-dir DIR   the checkpoints of a data directory, newest first\n"
      "  models list --models DIR      the models and versions of a model repository, with their state\n"
      "  decisions rescore --data-dir DIR --stream S --models REPO --model M --version V   re-score a decision log\n"
      "  tail STREAM [--follow]   print a stream's events (every partition; --from, --partition)\n"
      "  ingest STREAM FILE   send an NDJSON or CSV file to a running engine; lists rejected lines\n"
      "  describe STREAM      a stream's fields, partitions, offsets, retention, readers and writers\n"
      "  status               pipelines (lag, watermark delay), actions, checkpoints of a running engine\n"
      "  top                  status refreshed every second, with rates (q to quit)\n"
      "  reset PIPELINE --spec SPEC.yaml --data-dir DIR [--to beginning|end]   offline: restart a pipeline\n"
      "                       from its sources' beginning or end (asks for confirmation; --yes)\n"
      "  reset PIPELINE --url URL [--to beginning|end]   online: the same on the running engine\n"
      "  delete STREAM --data-dir DIR [--spec SPEC.yaml]   offline: delete every record of a stream\n"
      "  delete STREAM --records-before OFFSET [--partition P]   online: delete the records below an offset\n"
      "                       (whole log segments; both ask for confirmation; --yes)\n"
      "  (benchmarks: the impulse-bench binary, bench/README.md)\n\n"
      "  impulse <command> --help   options of one command\n"
      "  impulse --version\n",
      impulse::tools::kVersion);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    PrintUsage(stderr);
    return 2;
  }
  const std::string_view cmd = argv[1];
  if (cmd == "--version" || cmd == "version") {
    std::printf("%s\n", impulse::VersionLine().c_str());
    return 0;
  }
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    PrintUsage(stdout);
    return 0;
  }
  std::vector<std::string> args(argv + 2, argv + argc);
  if (cmd == "run") return impulse::tools::RunCommand(args);
  if (cmd == "validate") return impulse::tools::ValidateCommand(args);
  if (cmd == "demo" && !args.empty() && args[0] == "fraud") {
    return impulse::examples::FraudDemoCommand(std::vector<std::string>(args.begin() + 1, args.end()));
  }
  if (cmd == "demo" && !args.empty() && args[0] == "personalization") {
    return impulse::examples::PersonalizationDemoCommand(std::vector<std::string>(args.begin() + 1, args.end()));
  }
  if (cmd == "demo") return impulse::examples::QuickstartDemo(args);
  if (cmd == "load") return impulse::tools::LoadCommand(args);
  if (cmd == "repair") return impulse::tools::RepairCommand(args);
  if (cmd == "generate") return impulse::tools::GenerateCommand(args);
  if (cmd == "checkpoints") return impulse::tools::CheckpointsCommand(args);
  if (cmd == "backfill") return impulse::tools::BackfillCommand(args);
  if (cmd == "models") return impulse::tools::ModelsCommand(args);
  if (cmd == "decisions") return impulse::tools::DecisionsCommand(args);
  if (cmd == "reset") return impulse::tools::ResetCommand(args);
  if (cmd == "delete") return impulse::tools::DeleteCommand(args);
  if (int rc = impulse::tools::RemoteCommand(cmd, args); rc >= 0) return rc;
  if (cmd == "nexmark" || cmd == "bench-features" || cmd == "bench-predict") {
    std::fprintf(stderr, "impulse: '%s' moved to the impulse-bench binary (bench/README.md)\n", argv[1]);
    return 2;
  }
  const std::string hint = impulse::DidYouMean(
      cmd, {"run", "validate", "demo", "load", "repair", "generate", "checkpoints", "backfill", "models", "decisions",
            "reset", "delete", "tail", "ingest", "describe", "status", "top"});
  std::fprintf(stderr, "impulse: unknown command '%s'%s\nsee 'impulse --help'\n", argv[1], hint.c_str());
  return 2;
}
