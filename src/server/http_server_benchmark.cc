// HTTP ingest path without the engine: loadgen -> server -> FakeEngine (which only splits
// lines), over loopback. Measures what the HTTP layer costs per event and per request.
// BM_RouterFeature*: the feature routes' own work (target parsing, the batch body's JSON,
// framing) without sockets, against a FakeEngine holding 1000 entities.
#include <benchmark/benchmark.h>

#include <string>

#include "loadgen/loadgen.h"
#include "server/fake_engine.h"
#include "server/http_server.h"
#include "server/router.h"

namespace impulse::server {
namespace {

// Args: connections, lines_per_request.
void BM_HttpIngest(benchmark::State& state) {
  FakeEngine engine;
  engine.DiscardLines();
  HttpServerOptions options;
  options.port = 0;
  options.io_threads = 1;
  auto server = HttpServer::Start(&engine, options);
  if (!server.ok()) return state.SkipWithError(server.status().ToString().c_str());
  loadgen::LoadOptions load;
  load.port = (*server)->port();
  load.stream = "orders";
  load.connections = static_cast<uint32_t>(state.range(0));
  load.lines_per_request = static_cast<uint32_t>(state.range(1));
  load.total_events = std::max<uint64_t>(200'000, load.lines_per_request * 200ull);
  load.make_line = [](uint64_t seq, std::string* line) {
    line->append("{\"id\":").append(std::to_string(seq)).append(",\"amount\":12.5,\"ts\":1700000000000}");
  };
  uint64_t events = 0;
  double p99_ms = 0;
  for (auto _ : state) {
    auto report = loadgen::RunLoad(load);
    if (!report.ok() || report->errors > 0) return state.SkipWithError("load failed");
    events += report->accepted;
    p99_ms = report->p99_ms;
  }
  state.counters["events_per_s"] = benchmark::Counter(static_cast<double>(events), benchmark::Counter::kIsRate);
  state.counters["request_p99_ms"] = p99_ms;
}
BENCHMARK(BM_HttpIngest)
    ->Args({1, 1})
    ->Args({4, 100})
    ->Args({4, 1000})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(1);

FakeEngine* FeatureEngine() {
  static FakeEngine* engine = [] {
    auto* e = new FakeEngine();
    for (int i = 1; i <= 1000; ++i) e->SetFeatures("user", std::to_string(i), "{\"n_1h\":2,\"avg_amount_1h\":12.5}");
    return e;
  }();
  return engine;
}

void BM_RouterFeatureGet(benchmark::State& state) {
  HttpServerOptions options;
  ServerMetrics metrics;
  const Router router(FeatureEngine(), &options, &metrics);
  size_t bytes = 0;
  int i = 0;
  for (auto _ : state) {
    const std::string target = "/v1/features/user/" + std::to_string(i++ % 1000 + 1);
    router.Handle("GET", ParseTarget(target), std::string(), 0, [&](HttpReply r) { bytes += r.body.size(); });
  }
  benchmark::DoNotOptimize(bytes);
}
BENCHMARK(BM_RouterFeatureGet);

// Arg: entities per batch.
void BM_RouterFeatureBatch(benchmark::State& state) {
  HttpServerOptions options;
  ServerMetrics metrics;
  const Router router(FeatureEngine(), &options, &metrics);
  std::string body = "{\"entities\":[";
  for (int64_t i = 0; i < state.range(0); ++i) {
    if (i > 0) body.push_back(',');
    body += std::to_string(i % 1000 + 1);
  }
  body += "]}";
  const ParsedTarget target = ParseTarget("/v1/features/user:batch");
  int status = 0;
  for (auto _ : state) {
    router.Handle("POST", target, body, 0, [&](HttpReply r) { status = r.status; });
  }
  if (status != 200) state.SkipWithError("batch lookup failed");
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_RouterFeatureBatch)->Arg(10)->Arg(100)->Arg(1000);

}  // namespace
}  // namespace impulse::server

BENCHMARK_MAIN();
