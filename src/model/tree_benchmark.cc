// The native tree evaluator against the libxgboost C API on the same model and rows: a 100-tree
// depth-6 binary:logistic model on 30 features, trained by libxgboost in the setup (nthread=1
// for both sides: one core, like one shard). Single-row and 1024-row batches.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <unistd.h>

#include "model/tree_oracle.h"
#include "model/xgboost_model.h"

namespace impulse::model {
namespace {

constexpr size_t kFeatures = 30;
constexpr size_t kRows = 1024;

struct Fixture {
  std::unique_ptr<testing::Oracle> oracle;
  std::unique_ptr<Model> native;
  std::vector<float> rows;  // kRows rows, 5% missing
};

// Built once (training takes a few seconds); nullptr and a message on stderr if it fails.
const Fixture* GetFixture() {
  static const Fixture* fixture = []() -> const Fixture* {
    auto f = std::make_unique<Fixture>();
    const std::vector<float> train = testing::GenerateRows(20000, kFeatures, 0.05, 1);
    const std::vector<float> labels = testing::GenerateLabels(train, kFeatures, "binary", 2);
    auto oracle = testing::Oracle::Train(
        train, labels, kFeatures,
        {{"objective", "binary:logistic"}, {"max_depth", "6"}, {"eta", "0.1"}, {"nthread", "1"}}, 100);
    if (!oracle.ok()) {
      std::fprintf(stderr, "train: %s\n", oracle.status().ToString().c_str());
      return nullptr;
    }
    f->oracle = std::make_unique<testing::Oracle>(std::move(oracle).value());
    const std::string path =
        (std::filesystem::temp_directory_path() / ("impulse_tree_bench_" + std::to_string(::getpid()) + ".json"))
            .string();
    if (!f->oracle->SaveJson(path).ok()) return nullptr;
    auto native = LoadXgboostJson(path);
    std::filesystem::remove(path);
    if (!native.ok()) {
      std::fprintf(stderr, "load: %s\n", native.status().ToString().c_str());
      return nullptr;
    }
    f->native = std::move(native).value();
    f->rows = testing::GenerateRows(kRows, kFeatures, 0.05, 3);
    return f.release();
  }();
  return fixture;
}

void BM_NativeSingleRow(benchmark::State& state) {
  const Fixture* f = GetFixture();
  if (!f) return state.SkipWithError("fixture");
  size_t r = 0;
  float out = 0;
  for (auto _ : state) {
    f->native->Predict(f->rows.data() + r * kFeatures, 1, &out);
    benchmark::DoNotOptimize(out);
    r = (r + 1) % kRows;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_NativeSingleRow);

// The cheapest honest C API call for a new row: XGBoosterPredictFromDense (inplace, no
// DMatrix) on a fixed scratch row whose array-interface and config strings are prebuilt; the
// row is copied into the scratch buffer each time.
void BM_XgboostInplaceSingleRow(benchmark::State& state) {
  const Fixture* f = GetFixture();
  if (!f) return state.SkipWithError("fixture");
  std::vector<float> scratch(kFeatures);
  const testing::Oracle::DenseCall call = f->oracle->MakeDenseCall(scratch.data(), 1);
  size_t r = 0;
  for (auto _ : state) {
    std::memcpy(scratch.data(), f->rows.data() + r * kFeatures, kFeatures * sizeof(float));
    const float* out = f->oracle->CallDense(call);
    if (!out) return state.SkipWithError("XGBoosterPredictFromDense failed");
    benchmark::DoNotOptimize(*out);
    r = (r + 1) % kRows;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_XgboostInplaceSingleRow);

// For comparison: a DMatrix built per row (XGDMatrixCreateFromMat), predicted, freed.
void BM_XgboostDMatrixPerRow(benchmark::State& state) {
  const Fixture* f = GetFixture();
  if (!f) return state.SkipWithError("fixture");
  size_t r = 0;
  for (auto _ : state) {
    void* d = f->oracle->MakeDMatrix(f->rows.data() + r * kFeatures, 1);
    const float* out = d ? f->oracle->CallDMatrix(d) : nullptr;
    if (!out) return state.SkipWithError("DMatrix predict failed");
    benchmark::DoNotOptimize(*out);
    testing::Oracle::FreeDMatrix(d);
    r = (r + 1) % kRows;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_XgboostDMatrixPerRow);

// A lower bound that is not a real use: the same prebuilt 1-row DMatrix predicted again
// (libxgboost may cache the prediction of a DMatrix it has seen).
void BM_XgboostPrebuiltDMatrixSameRow(benchmark::State& state) {
  const Fixture* f = GetFixture();
  if (!f) return state.SkipWithError("fixture");
  void* d = f->oracle->MakeDMatrix(f->rows.data(), 1);
  for (auto _ : state) {
    const float* out = d ? f->oracle->CallDMatrix(d) : nullptr;
    if (!out) return state.SkipWithError("DMatrix predict failed");
    benchmark::DoNotOptimize(*out);
  }
  testing::Oracle::FreeDMatrix(d);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_XgboostPrebuiltDMatrixSameRow);

void BM_NativeBatch1024(benchmark::State& state) {
  const Fixture* f = GetFixture();
  if (!f) return state.SkipWithError("fixture");
  std::vector<float> out(kRows);
  for (auto _ : state) {
    f->native->Predict(f->rows.data(), kRows, out.data());
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kRows));
}
BENCHMARK(BM_NativeBatch1024);

// The native single-row path called 1024 times: what the batch path saves.
void BM_NativeRowByRow1024(benchmark::State& state) {
  const Fixture* f = GetFixture();
  if (!f) return state.SkipWithError("fixture");
  std::vector<float> out(kRows);
  for (auto _ : state) {
    for (size_t r = 0; r < kRows; ++r) f->native->Predict(f->rows.data() + r * kFeatures, 1, &out[r]);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kRows));
}
BENCHMARK(BM_NativeRowByRow1024);

void BM_XgboostInplaceBatch1024(benchmark::State& state) {
  const Fixture* f = GetFixture();
  if (!f) return state.SkipWithError("fixture");
  const testing::Oracle::DenseCall call = f->oracle->MakeDenseCall(f->rows.data(), kRows);
  for (auto _ : state) {
    const float* out = f->oracle->CallDense(call);
    if (!out) return state.SkipWithError("XGBoosterPredictFromDense failed");
    benchmark::DoNotOptimize(*out);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kRows));
}
BENCHMARK(BM_XgboostInplaceBatch1024);

}  // namespace
}  // namespace impulse::model

BENCHMARK_MAIN();
