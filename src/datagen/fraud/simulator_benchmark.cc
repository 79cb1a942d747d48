// Throughput of the fraud simulator: one simulated day of the default population per
// iteration, with and without rendering to CSV.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "datagen/fraud/format.h"
#include "datagen/fraud/simulator.h"

namespace impulse::fraud {
namespace {

void BM_SimulateDays(benchmark::State& state) {
  SimulatorOptions options;
  options.days = kDaysMax;  // never runs out within a benchmark
  const bool render = state.range(0) != 0;
  auto sim = Simulator::Create(options);
  if (!sim.ok()) {
    state.SkipWithError(sim.status().ToString().c_str());
    return;
  }
  std::vector<Transaction> day;
  std::string out;
  int64_t transactions = 0;
  for (auto _ : state) {
    (*sim)->NextDay(&day);
    transactions += static_cast<int64_t>(day.size());
    if (render) {
      out.clear();
      for (const Transaction& tx : day) AppendTransaction(tx, options.start_epoch_day, OutputFormat::kCsv, &out);
      benchmark::DoNotOptimize(out.data());
    }
  }
  state.SetItemsProcessed(transactions);
}
BENCHMARK(BM_SimulateDays)->Arg(0)->Arg(1)->ArgName("csv");

}  // namespace
}  // namespace impulse::fraud

BENCHMARK_MAIN();
