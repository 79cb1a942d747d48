// Throughput of the shop simulator: one simulated day of the default population per
// iteration, with and without rendering to CSV.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "datagen/shop/format.h"
#include "datagen/shop/simulator.h"

namespace impulse::shop {
namespace {

void BM_SimulateDays(benchmark::State& state) {
  SimulatorOptions options;
  options.days = kDaysMax;        // never runs out within a benchmark
  options.new_items_per_day = 0;  // the catalogue stays the default size however long it runs
  const bool render = state.range(0) != 0;
  auto sim = Simulator::Create(options);
  if (!sim.ok()) {
    state.SkipWithError(sim.status().ToString().c_str());
    return;
  }
  std::vector<Event> day;
  std::string out;
  int64_t events = 0;
  for (auto _ : state) {
    (*sim)->NextDay(&day);
    events += static_cast<int64_t>(day.size());
    if (render) {
      out.clear();
      for (const Event& e : day) AppendEvent(e, options.start_epoch_day, OutputFormat::kCsv, &out);
      benchmark::DoNotOptimize(out.data());
    }
  }
  state.SetItemsProcessed(events);
}
BENCHMARK(BM_SimulateDays)->Arg(0)->Arg(1)->ArgName("csv");

}  // namespace
}  // namespace impulse::shop

BENCHMARK_MAIN();
