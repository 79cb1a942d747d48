// Stateful operators through PhysicalPipeline: rows/s of tumbling, hopping (shared panes) and
// per-event sliding windows over 10k keys, bytes of state per key, and the time to checkpoint
// the state. In-order input, watermark = max event time, batches of 1024 rows.
#include <benchmark/benchmark.h>

#include <filesystem>
#include <string>

#include "plan/physical.h"
#include "spec/spec.h"

namespace impulse::plan {
namespace {

std::string Spec(const std::string& window) {
  return R"yaml(
streams:
  - name: bids
    fields:
      - {name: auction, type: int64}
      - {name: price, type: int64}
      - {name: ts, type: timestamp}
    key: auction
    event_time: ts
    partitions: 1
pipelines:
  - name: w
    from: bids
    steps:
      - window: )yaml" +
         window + R"yaml(
    sink: {stream: out}
)yaml";
}

struct Fixture {
  LogicalPlan plan;
  std::unique_ptr<PhysicalPipeline> physical;
  std::unique_ptr<PipelineInstance> inst;
  bool ok = false;
  explicit Fixture(const std::string& window) {
    auto p = CompileSpec(Spec(window), "bench.yaml", nullptr);
    if (!p.ok()) return;
    plan = std::move(*p);
    auto ph = PhysicalPipeline::Create(plan.pipelines[0], plan);
    if (!ph.ok()) return;
    physical = std::move(*ph);
    inst = physical->NewInstance();
    ok = true;
  }
};

// `keys` distinct auctions, one event per ms of event time starting at `t0`.
void FillBatch(RowBatch* in, int64_t* t, size_t rows, int64_t keys) {
  in->Clear();
  for (size_t i = 0; i < rows; ++i) {
    Value* r = in->AppendRow();
    const int64_t ts = (*t)++;
    r[0] = Value::Int((ts * 7919) % keys);
    r[1] = Value::Int(ts % 1000);
    r[2] = Value::Int(ts);
    RowMeta& m = in->meta(i);
    m.event_time_ms = ts;
    m.watermark_ms = ts - 1;
  }
}

void RunWindow(benchmark::State& state, const std::string& window) {
  Fixture f(window);
  if (!f.ok) {
    state.SkipWithError("spec does not compile");
    return;
  }
  const int64_t keys = state.range(0);
  RowBatch in(3), out(f.physical->output_schema().size()), late(8);
  int64_t t = 1'700'000'000'000;
  size_t emitted = 0;
  for (auto _ : state) {
    FillBatch(&in, &t, 1024, keys);
    out.Clear();
    IMPULSE_CHECK(f.inst->Run(0, in, t - 1, &out, &late).ok());
    emitted += out.size();
  }
  state.SetItemsProcessed(state.iterations() * 1024);
  auto stats = f.inst->Stats();
  if (!stats.empty() && stats[0].second.entries > 0) {
    state.counters["state_entries"] = static_cast<double>(stats[0].second.entries);
    state.counters["bytes_per_entry"] =
        static_cast<double>(stats[0].second.state_bytes) / static_cast<double>(stats[0].second.entries);
  }
  state.counters["out_per_in"] = static_cast<double>(emitted) / static_cast<double>(state.iterations() * 1024);
}

void BM_Tumbling10sCountSumMax(benchmark::State& state) {
  RunWindow(state, "{tumbling: 10s, key: auction, aggregates: {n: count(), s: sum(price), m: max(price)}}");
}
BENCHMARK(BM_Tumbling10sCountSumMax)->Arg(100)->Arg(10'000);

void BM_Hopping10sBy2sCount(benchmark::State& state) {
  RunWindow(state, "{hopping: {size: 10s, slide: 2s}, key: auction, aggregates: {n: count()}}");
}
BENCHMARK(BM_Hopping10sBy2sCount)->Arg(100)->Arg(10'000);

void BM_Session1sCountSum(benchmark::State& state) {
  RunWindow(state, "{session: {gap: 1s}, key: auction, aggregates: {n: count(), s: sum(price)}}");
}
BENCHMARK(BM_Session1sCountSum)->Arg(10'000);

// 100 keys, so about 1000 rows of each key are in its 1000 s range.
void BM_Sliding1000sCountSumAvgMinMax(benchmark::State& state) {
  RunWindow(state,
            "{sliding: 1000s, key: auction, aggregates: {n: count(), s: sum(price), a: avg(price), "
            "lo: min(price), hi: max(price)}}");
}
BENCHMARK(BM_Sliding1000sCountSumAvgMinMax)->Arg(100);

// Checkpoint of the open panes of `keys` keys (memory backend): the operator's share of the
// checkpoint pause.
void BM_CheckpointTumblingState(benchmark::State& state) {
  Fixture f("{tumbling: 1h, key: auction, aggregates: {n: count(), s: sum(price), m: max(price)}}");
  if (!f.ok) {
    state.SkipWithError("spec does not compile");
    return;
  }
  const int64_t keys = state.range(0);
  RowBatch in(3), out(f.physical->output_schema().size()), late(8);
  int64_t t = 1'700'000'000'000;
  for (int64_t done = 0; done < keys; done += 1024) {
    FillBatch(&in, &t, 1024, keys);
    IMPULSE_CHECK(f.inst->Run(0, in, t - 1, &out, &late).ok());
  }
  const std::string base = std::filesystem::temp_directory_path() / "impulse_window_bench_ckpt";
  int n = 0;
  for (auto _ : state) {
    const std::string dir = base + std::to_string(n++);
    std::filesystem::remove_all(dir);
    if (!f.inst->Checkpoint(dir).ok()) state.SkipWithError("checkpoint failed");
    state.PauseTiming();
    std::filesystem::remove_all(dir);
    state.ResumeTiming();
  }
  state.counters["entries"] = static_cast<double>(f.inst->Stats()[0].second.entries);
}
BENCHMARK(BM_CheckpointTumblingState)->Arg(100'000)->Arg(1'000'000)->Unit(benchmark::kMillisecond)->Iterations(3);

}  // namespace
}  // namespace impulse::plan

BENCHMARK_MAIN();
