// The ONNX MLP (15-64-32-1, Gemm/Relu/Sigmoid; testdata/mlp_15_64_32_1.onnx) through OpenCV
// dnn: one row per call (the latency-first path) and batches of 256 rows (the busy path), with
// OpenCV's default thread pool (second argument 0) and on the calling thread alone (1, how a
// shard runs it: SetOnnxThreads(1)).
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdlib>
#include <vector>

#include "model/onnx_model.h"

namespace impulse::model {
namespace {

void BM_OnnxMlp(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0));
  SetOnnxThreads(static_cast<int>(state.range(1)));
  auto m = LoadOnnx(std::string(IMPULSE_ONNX_TESTDATA) + "/mlp_15_64_32_1.onnx", {.num_features = 15});
  if (!m.ok()) {
    state.SkipWithError(m.status().ToString().c_str());
    return;
  }
  std::vector<float> rows(n * 15);
  for (size_t i = 0; i < rows.size(); ++i) rows[i] = static_cast<float>(std::sin(0.1 * i));
  std::vector<float> out(n);
  for (auto _ : state) {
    (*m)->Predict(rows.data(), n, out.data());
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * n));
}
BENCHMARK(BM_OnnxMlp)->ArgNames({"rows", "sequential"})->ArgsProduct({{1, 256}, {0, 1}})->UseRealTime();

}  // namespace
}  // namespace impulse::model

BENCHMARK_MAIN();
