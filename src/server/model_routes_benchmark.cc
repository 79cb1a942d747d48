// The KServe v2 infer route without sockets: target parsing, the request's JSON tensors,
// Model::Predict, the metrics and the reply's JSON, against a linear model of 15 inputs (the
// fraud example's width) in a temporary repository. The model's own cost is a few ns per row,
// so this measures what the HTTP protocol layer adds per request and per row.
// BM_ModelMetricsRecord: one Record on a series (the predict step's per-batch cost).
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "model/repository.h"
#include "server/fake_engine.h"
#include "server/router.h"

namespace impulse::server {
namespace {

constexpr int kInputs = 15;

// Arg: rows per request.
void BM_RouterInfer(benchmark::State& state) {
  char tmpl[] = "/tmp/model_routes_bench_XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return state.SkipWithError("mkdtemp failed");
  const std::string dir = tmpl;
  std::filesystem::create_directories(dir + "/m/1");
  std::string yaml = "kind: linear\ninputs:\n";
  std::string weights;
  for (int i = 0; i < kInputs; ++i) {
    yaml += "  - x" + std::to_string(i) + "\n";
    weights += (i ? ",0." : "0.") + std::to_string(i + 1);
  }
  std::ofstream(dir + "/m/config.yaml") << yaml;
  std::ofstream(dir + "/m/1/model.json") << R"({"kind":"logistic","weights":[)" + weights + "]}";
  auto repo = model::ModelRepository::Open(dir);
  if (!repo.ok()) return state.SkipWithError(repo.status().ToString().c_str());
  FakeEngine engine;
  HttpServerOptions options;
  options.models = repo->get();
  ServerMetrics metrics;
  Router router(&engine, &options, &metrics);

  const int64_t rows = state.range(0);
  std::string body = R"({"id":"b","inputs":[{"name":"input","datatype":"FP32","shape":[)" + std::to_string(rows) + "," +
                     std::to_string(kInputs) + R"(],"data":[)";
  for (int64_t i = 0; i < rows * kInputs; ++i) body += (i ? "," : "") + std::to_string(i % 97) + ".25";
  body += "]}]}";
  int bad = 0;
  for (auto _ : state) {
    router.Handle("POST", ParseTarget("/v2/models/m/infer"), body, 0, [&](HttpReply r) {
      bad += r.status != 200;
      benchmark::DoNotOptimize(r.body.data());
    });
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  if (bad > 0) return state.SkipWithError("infer failed");
  state.SetItemsProcessed(state.iterations() * rows);
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(body.size()));
}
BENCHMARK(BM_RouterInfer)->Arg(1)->Arg(64)->Arg(1000);

void BM_ModelMetricsRecord(benchmark::State& state) {
  model::ModelMetrics m;
  model::ModelMetrics::Series* s = m.For("fraud", 3);
  int64_t ns = 1000;
  for (auto _ : state) {
    model::ModelMetrics::Record(s, 64, ns, ns * 3);
    ns = (ns * 7) % 9'000'000'000 + 1;
  }
}
BENCHMARK(BM_ModelMetricsRecord);

}  // namespace
}  // namespace impulse::server

BENCHMARK_MAIN();
