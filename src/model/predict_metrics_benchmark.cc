// The predict step's per-role metrics on the hot path: PredictMetrics::Record for a batch of
// rows (one output), ns per row, with scores spread over every bucket. Compare with the step's
// fixed cost per row (predict_benchmark, linear1) to see what the histogram adds.
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "model/predict_metrics.h"

namespace impulse::model {
namespace {

void BM_PredictMetricsRecord(benchmark::State& state) {
  const size_t rows = static_cast<size_t>(state.range(0));
  PredictMetrics metrics;
  const std::vector<std::string> outputs = {"score"};
  const std::vector<int> index = {0};
  PredictMetrics::Series* series = metrics.For("p", "predict#1", "m", 1, PredictRole::kServing, outputs);
  std::mt19937 rng(42);
  std::uniform_real_distribution<float> score(-0.1f, 1.1f);  // every bucket, the edges included
  std::vector<float> scores(rows);
  for (float& s : scores) s = score(rng);
  for (auto _ : state) {
    PredictMetrics::Record(series, rows, scores.data(), 1, index);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * rows));
  state.counters["ns_per_row"] = benchmark::Counter(static_cast<double>(state.iterations() * rows),
                                                    benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_PredictMetricsRecord)->Arg(1)->Arg(8)->Arg(64)->Arg(256);

}  // namespace
}  // namespace impulse::model

BENCHMARK_MAIN();
