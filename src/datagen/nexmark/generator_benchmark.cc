// Throughput of the Nexmark generator: EventAt alone, and EventAt + AppendEventJson (the
// `impulse generate nexmark` path minus the write). items/s is events per second on one core.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "datagen/nexmark/generator.h"
#include "datagen/nexmark/ndjson.h"

namespace impulse::nexmark {
namespace {

void BM_EventAt(benchmark::State& state) {
  Generator gen{GeneratorConfig{}};
  Event e;
  uint64_t i = 0;
  for (auto _ : state) {
    gen.EventAt(i++, &e);
    benchmark::DoNotOptimize(e.kind);
  }
  state.SetItemsProcessed(static_cast<int64_t>(i));
}
BENCHMARK(BM_EventAt);

void BM_EventAtAndJson(benchmark::State& state) {
  Generator gen{GeneratorConfig{}};
  Event e;
  std::string line;
  uint64_t i = 0;
  size_t bytes = 0;
  for (auto _ : state) {
    gen.EventAt(i++, &e);
    line.clear();
    AppendEventJson(e, &line);
    bytes += line.size() + 1;
    benchmark::DoNotOptimize(line.data());
  }
  state.SetItemsProcessed(static_cast<int64_t>(i));
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
}
BENCHMARK(BM_EventAtAndJson);

// JSON encoding alone, over a fixed set of pre-generated events.
void BM_AppendEventJson(benchmark::State& state) {
  Generator gen{GeneratorConfig{}};
  std::vector<Event> events(5'000);
  for (size_t k = 0; k < events.size(); ++k) gen.EventAt(k, &events[k]);
  std::string line;
  size_t k = 0;
  int64_t n = 0;
  for (auto _ : state) {
    line.clear();
    AppendEventJson(events[k], &line);
    benchmark::DoNotOptimize(line.data());
    if (++k == events.size()) k = 0;
    ++n;
  }
  state.SetItemsProcessed(n);
}
BENCHMARK(BM_AppendEventJson);

}  // namespace
}  // namespace impulse::nexmark

BENCHMARK_MAIN();
