// The features step alone (no log, no engine): rows/s of the fraud example's two views over a
// simulated day-by-day stream, and bytes of state per entity. In-order input, batches of 1024,
// watermark = max event time - 1 h (the example's bound), so rows wait for it as they would live.
// Online store writes on (as in a live run) or off (as a backfill runs). Memory: heap in use
// (mallinfo2) after the run minus before, per entity.
#include <benchmark/benchmark.h>

#include <malloc.h>

#include <random>
#include <string>

#include "event/row_codec.h"
#include "features/online_store.h"
#include "plan/physical.h"
#include "spec/spec.h"

namespace impulse::plan {
namespace {

constexpr char kSpec[] = R"yaml(
streams:
  - name: tx
    fields:
      - {name: transaction_id, type: int64}
      - {name: tx_datetime, type: timestamp}
      - {name: customer_id, type: int64}
      - {name: terminal_id, type: int64}
      - {name: tx_amount, type: double}
      - {name: tx_fraud, type: int64}
    key: ENTITY
    event_time: tx_datetime
    partitions: 1
feature_views:
  - name: customer
    entity: customer_id
    features:
      - {name: TX_DURING_WEEKEND, expr: "case when day_of_week(tx_datetime) >= 6 then 1 else 0 end"}
      - {name: TX_DURING_NIGHT, expr: "case when hour(tx_datetime) <= 6 then 1 else 0 end"}
      - {name: NB_1, agg: count(), window: 1d}
      - {name: AVG_1, agg: avg(tx_amount), window: 1d}
      - {name: NB_7, agg: count(), window: 7d}
      - {name: AVG_7, agg: avg(tx_amount), window: 7d}
      - {name: NB_30, agg: count(), window: 30d}
      - {name: AVG_30, agg: avg(tx_amount), window: 30d}
  - name: terminal
    entity: terminal_id
    label: {field: tx_fraud, delay: 7d}
    features:
      - {name: NB_1, agg: count(), window: 1d, delay: 7d}
      - {name: RISK_1, agg: avg(tx_fraud), window: 1d, delay: 7d, default: 0}
      - {name: NB_7, agg: count(), window: 7d, delay: 7d}
      - {name: RISK_7, agg: avg(tx_fraud), window: 7d, delay: 7d, default: 0}
      - {name: NB_30, agg: count(), window: 30d, delay: 7d}
      - {name: RISK_30, agg: avg(tx_fraud), window: 30d, delay: 7d, default: 0}
pipelines:
  - name: p
    from: tx
    steps:
      - features: VIEW
    sink: {stream: out}
)yaml";

std::string SpecFor(const std::string& view) {
  std::string s = kSpec;
  s.replace(s.find("ENTITY"), 6, view == "customer" ? "customer_id" : "terminal_id");
  s.replace(s.find("VIEW"), 4, view);
  // The other view is unused: drop it from the spec.
  const size_t c = s.find("  - name: customer\n"), t = s.find("  - name: terminal\n"), p = s.find("pipelines:");
  if (view == "customer") {
    s.erase(t, p - t);
  } else {
    s.erase(c, t - c);
  }
  return s;
}

// The simulator's shape: 5000 customers, 10000 terminals, about 9600 transactions a day.
void BM_FeatureView(benchmark::State& state, const std::string& view, bool serve) {
  auto plan = CompileSpec(SpecFor(view), "bench.yaml", nullptr);
  if (!plan.ok()) {
    state.SkipWithError(plan.status().ToString().c_str());
    return;
  }
  auto phys = PhysicalPipeline::Create(plan->pipelines[0], *plan);
  if (!phys.ok()) {
    state.SkipWithError(phys.status().ToString().c_str());
    return;
  }
  const size_t heap_before = mallinfo2().uordblks;
  OnlineStore store(plan->feature_views[0]);
  InstanceOptions io;
  if (serve) io.online_store = [&store](const std::string&) { return &store; };
  auto inst = (*phys)->NewInstance(io);
  if (!inst.ok()) {
    state.SkipWithError(inst.status().ToString().c_str());
    return;
  }
  std::mt19937_64 rng(7);
  RowBatch in(6), out((*phys)->output_schema().size()), late(LateEventsStreamDef().schema.size());
  int64_t t = 1'522'540'800'000, id = 0;  // 2018-04-01
  const int64_t bound = 3'600'000;
  int64_t rows = 0;
  for (auto _ : state) {
    in.Clear();
    for (int i = 0; i < 1024; ++i) {
      t += static_cast<int64_t>(rng() % 18'000);  // about 9600 a day
      Value* r = in.AppendRow();
      r[0] = Value::Int(id++);
      r[1] = Value::Int(t);
      r[2] = Value::Int(static_cast<int64_t>(rng() % 5000));
      r[3] = Value::Int(static_cast<int64_t>(rng() % 10000));
      r[4] = Value::Double(static_cast<double>(rng() % 20'000) / 100.0);
      r[5] = Value::Int(rng() % 100 == 0);
      RowMeta& m = in.meta(in.size() - 1);
      m.event_time_ms = t;
      m.watermark_ms = t - bound;
    }
    out.Clear();
    IMPULSE_CHECK((*inst)->Run(0, in, t - bound, &out, &late).ok());
    rows += 1024;
  }
  state.SetItemsProcessed(rows);
  // Heap in use by the operator's state, the rows waiting for the watermark and the online
  // store (the batches are small next to them), per entity.
  in.Clear();
  out.Clear();
  const size_t heap_after = mallinfo2().uordblks;
  const auto stats = (*inst)->Stats();
  if (!stats.empty() && stats[0].second.entries > 0) {
    const double entities = serve ? static_cast<double>(store.size()) : static_cast<double>(stats[0].second.entries);
    state.counters["heap_bytes_per_entity"] = static_cast<double>(heap_after - heap_before) / entities;
    state.counters["entities"] = entities;
  }
}

BENCHMARK_CAPTURE(BM_FeatureView, customer_served, std::string("customer"), true)->MinTime(2.0);
BENCHMARK_CAPTURE(BM_FeatureView, customer_unserved, std::string("customer"), false)->MinTime(2.0);
BENCHMARK_CAPTURE(BM_FeatureView, terminal_served, std::string("terminal"), true)->MinTime(2.0);
BENCHMARK_CAPTURE(BM_FeatureView, terminal_unserved, std::string("terminal"), false)->MinTime(2.0);

// The online store alone: a lookup of one of 100 K entities (the key from text, the stripe
// lock, the copy of the encoded row and its decode), as LookupFeatures does before writing JSON.
void BM_OnlineStoreLookup(benchmark::State& state) {
  auto plan = CompileSpec(SpecFor("customer"), "bench.yaml", nullptr);
  if (!plan.ok()) {
    state.SkipWithError(plan.status().ToString().c_str());
    return;
  }
  const auto& view = plan->feature_views[0];
  OnlineStore store(view);
  std::vector<Value> row(view->feature_schema.size(), Value::Int(3));
  for (size_t c = 0; c < row.size(); ++c) {
    if (view->feature_schema.field(c).type == FieldType::kDouble) row[c] = Value::Double(57.25);
  }
  std::string encoded, key, why;
  RowMeta m;
  EncodeRow(view->feature_schema, row.data(), m, &encoded);
  constexpr int kEntities = 100'000;
  for (int e = 0; e < kEntities; ++e) {
    store.KeyFromText(std::to_string(e), &key, &why);
    store.Put(key, 1000, encoded);
  }
  std::mt19937_64 rng(3);
  OnlineStore::Entry entry;
  RowBatch decoded(view->feature_schema.size());
  for (auto _ : state) {
    const std::string id = std::to_string(rng() % kEntities);
    store.KeyFromText(id, &key, &why);
    if (!store.Get(key, &entry)) state.SkipWithError("missing entity");
    decoded.Reset(view->feature_schema.size());
    benchmark::DoNotOptimize(DecodeRow(view->feature_schema, entry.values, &decoded).ok());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_OnlineStoreLookup);

}  // namespace
}  // namespace impulse::plan
BENCHMARK_MAIN();
