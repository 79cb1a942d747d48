// Per-row costs of the aggregate library: the fixed-size aggregates a window operator runs on
// every event, a per-event sliding window with 1000 rows in range, and HLL adds.
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "agg/aggregates.h"
#include "agg/sliding.h"

namespace impulse::agg {
namespace {

AggregateSet FiveAggregates() {
  auto set = AggregateSet::Create({{.kind = AggKind::kCount, .arity = 0},
                                   {.kind = AggKind::kSum, .arg_type = FieldType::kDouble},
                                   {.kind = AggKind::kAvg, .arg_type = FieldType::kDouble},
                                   {.kind = AggKind::kMin, .arg_type = FieldType::kDouble},
                                   {.kind = AggKind::kMax, .arg_type = FieldType::kDouble}});
  IMPULSE_CHECK(set.ok());
  return std::move(set).value();
}

// args for 1024 rows: 2 Values per aggregate, x = a random amount.
std::vector<Value> RandomArgs(size_t aggregates) {
  std::mt19937_64 rng(1);
  std::vector<Value> args(1024 * 2 * aggregates);
  for (size_t r = 0; r < 1024; ++r)
    for (size_t i = 0; i < aggregates; ++i)
      args[(r * aggregates + i) * 2] = Value::Double(static_cast<double>(rng() % 100000) / 100.0);
  return args;
}

void BM_AddCountSumAvgMinMax(benchmark::State& st) {
  const AggregateSet set = FiveAggregates();
  std::vector<uint64_t> mem(set.state_size() / 8 + 1);
  auto* state = reinterpret_cast<uint8_t*>(mem.data());
  set.Init(state);
  const auto args = RandomArgs(set.size());
  size_t r = 0;
  for (auto _ : st) {
    set.Add(state, 0, args.data() + (r & 1023) * 2 * set.size());
    ++r;
  }
  // Not DoNotOptimize(state): benchmark 1.7's "+m,r" lvalue form miscompiles here with g++ -O3.
  benchmark::ClobberMemory();
  st.SetItemsProcessed(st.iterations());
  set.Destroy(state);
}
BENCHMARK(BM_AddCountSumAvgMinMax);

void BM_SlidingWindow1000RowsInRange(benchmark::State& st) {
  const AggregateSet set = FiveAggregates();
  const auto args = RandomArgs(set.size());
  SlidingWindow w;
  std::vector<Value> out(set.size());
  Arena arena;
  int64_t t = 0;
  const int64_t range_ms = 1000;  // one row per ms: 1000 rows in range in steady state
  for (; t < 2000; ++t) w.Add(set, range_ms, t, args.data() + (t & 1023) * 2 * set.size(), out.data(), &arena);
  for (auto _ : st) {
    w.Add(set, range_ms, t, args.data() + (t & 1023) * 2 * set.size(), out.data(), &arena);
    ++t;
  }
  benchmark::DoNotOptimize(out.data());
  st.SetItemsProcessed(st.iterations());
  st.counters["rows"] = static_cast<double>(w.rows());
  w.Destroy(set);
}
BENCHMARK(BM_SlidingWindow1000RowsInRange);

void BM_HllAdd(benchmark::State& st) {
  auto set = AggregateSet::Create({{.kind = AggKind::kApproxCountDistinct}});
  IMPULSE_CHECK(set.ok());
  std::vector<uint64_t> mem(set->state_size() / 8 + 1);
  auto* state = reinterpret_cast<uint8_t*>(mem.data());
  set->Init(state);
  int64_t i = 0;
  for (auto _ : st) {
    Value args[2] = {Value::Int(i++), {}};
    set->Add(state, 0, args);
  }
  st.SetItemsProcessed(st.iterations());
  set->Destroy(state);
}
BENCHMARK(BM_HllAdd);

}  // namespace
}  // namespace impulse::agg

BENCHMARK_MAIN();
