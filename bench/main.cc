// impulse-bench: the end-to-end benchmark drivers (docs/BENCHMARKS.md). Kept out of the
// `impulse` binary so that the product ships without benchmark-only code (e.g. FakeEngine).
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

namespace impulse::bench {
int NexmarkCommand(const std::vector<std::string>& args);        // nexmark_bench.cc
int YsbCommand(const std::vector<std::string>& args);            // ysb_bench.cc
int FeaturesBenchCommand(const std::vector<std::string>& args);  // features_bench.cc
int PredictBenchCommand(const std::vector<std::string>& args);   // predict_bench.cc
int LoginBenchCommand(const std::vector<std::string>& args);     // login_bench.cc
int FsyncProbeCommand(const std::vector<std::string>& args);     // fsync_probe.cc
int HopsBenchCommand(const std::vector<std::string>& args);      // hops_bench.cc
int KafkaBenchCommand(const std::vector<std::string>& args);     // kafka_bench.cc (IMPULSE_WITH_KAFKA)
int GroupBenchCommand(const std::vector<std::string>& args);     // group_bench.cc (IMPULSE_WITH_KAFKA)
}  // namespace impulse::bench

namespace {

void PrintUsage(FILE* out) {
  std::fprintf(out,
               "Usage: impulse-bench <command> [options]\n\n"
               "Commands:\n"
               "  nexmark --query qN --events N   a Nexmark query in process: events/s per core\n"
               "  ysb        the Yahoo Streaming Benchmark in process: events/s per core, window result latency\n"
               "  login      decision latency with nothing else in flight (login abuse: the fifth failure fires)\n"
               "  features   online feature lookups over HTTP at a fixed rate: latency percentiles\n"
               "  predict    latency a predict step adds end to end (idle, under load) and its max rate\n"
               "  fsync-probe   the disk's append+fdatasync latency (the floor of a durable ack)\n"
               "  hops       latency from ingest to each stream of a pipeline path (open loop, in process)\n"
               "  kafka      the same pipeline fed by the embedded log and by a Kafka topic (mock cluster)\n"
               "  group      a group of instances on the mock cluster: state restore, handoff, scaling\n\n"
               "  impulse-bench <command> --help   options of one command\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    PrintUsage(stderr);
    return 2;
  }
  const std::string_view cmd = argv[1];
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    PrintUsage(stdout);
    return 0;
  }
  std::vector<std::string> args(argv + 2, argv + argc);
  if (cmd == "nexmark") return impulse::bench::NexmarkCommand(args);
  if (cmd == "ysb") return impulse::bench::YsbCommand(args);
  if (cmd == "features") return impulse::bench::FeaturesBenchCommand(args);
  if (cmd == "predict") return impulse::bench::PredictBenchCommand(args);
  if (cmd == "login") return impulse::bench::LoginBenchCommand(args);
  if (cmd == "fsync-probe") return impulse::bench::FsyncProbeCommand(args);
  if (cmd == "hops") return impulse::bench::HopsBenchCommand(args);
#ifdef IMPULSE_HAVE_KAFKA
  if (cmd == "kafka") return impulse::bench::KafkaBenchCommand(args);
  if (cmd == "group") return impulse::bench::GroupBenchCommand(args);
#endif
  std::fprintf(stderr, "impulse-bench: unknown command '%s'\n\n", argv[1]);
  PrintUsage(stderr);
  return 2;
}
