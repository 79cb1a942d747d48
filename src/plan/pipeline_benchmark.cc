// The quickstart pipeline (filter amount > 100, map amount_cents = cast(amount * 100 as int64),
// key_by user_id) over batches of 1024 rows of which half pass the filter. Reports rows/s.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <string>

#include "plan/physical.h"
#include "spec/spec.h"

namespace impulse::plan {
namespace {

// The shipped example, so the benchmark measures exactly what the quickstart runs.
constexpr const char* kSpecPath = IMPULSE_SOURCE_DIR "/examples/quickstart/pipeline.yaml";

RowBatch MakeInput(size_t rows) {
  RowBatch in(4);
  char buf[64];
  for (size_t i = 0; i < rows; ++i) {
    Value* row = in.AppendRow();
    int n = std::snprintf(buf, sizeof(buf), "user-%zu", i % 977);
    row[0] = Value::String(in.arena().Copy(std::string_view(buf, static_cast<size_t>(n))));
    n = std::snprintf(buf, sizeof(buf), "https://example.com/p/%zu", i % 131);
    row[1] = Value::String(in.arena().Copy(std::string_view(buf, static_cast<size_t>(n))));
    row[2] = Value::Double(i % 2 == 0 ? 50.0 + static_cast<double>(i % 50) : 150.0 + static_cast<double>(i % 50));
    row[3] = Value::Int(1'700'000'000'000 + static_cast<int64_t>(i));
    in.meta(i).event_time_ms = row[3].i64;
  }
  return in;
}

void BM_QuickstartFilterMap(benchmark::State& state) {
  Result<LogicalPlan> plan = CompileSpecFile(kSpecPath, nullptr);
  if (!plan.ok()) {
    state.SkipWithError(plan.status().ToString().c_str());
    return;
  }
  auto physical = PhysicalPipeline::Create(plan->pipelines[0], *plan);
  if (!physical.ok()) {
    state.SkipWithError(physical.status().ToString().c_str());
    return;
  }
  auto inst = (*physical)->NewInstance();
  RowBatch in = MakeInput(static_cast<size_t>(state.range(0)));
  RowBatch out((*physical)->output_schema().size());
  size_t emitted = 0;
  for (auto _ : state) {
    out.Clear();
    IMPULSE_CHECK(inst->Process(in, &out).ok());
    emitted += out.size();
    benchmark::DoNotOptimize(out.row(0));
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
  state.counters["pass_ratio"] =
      static_cast<double>(emitted) / static_cast<double>(state.iterations() * state.range(0));
}
BENCHMARK(BM_QuickstartFilterMap)->Arg(1024);

// The expression evaluator alone: cast(amount * 100 as int64) per row.
void BM_ExprEvalCastMul(benchmark::State& state) {
  Result<LogicalPlan> plan = CompileSpecFile(kSpecPath, nullptr);
  if (!plan.ok()) {
    state.SkipWithError("spec");
    return;
  }
  const Expr& e = *plan->pipelines[0].ops[1].exprs[0].expr;
  Result<CompiledExpr> c = CompiledExpr::Compile(e);
  if (!c.ok()) {
    state.SkipWithError("compile");
    return;
  }
  RowBatch in = MakeInput(1024);
  Arena arena;
  for (auto _ : state) {
    int64_t sum = 0;
    for (size_t i = 0; i < in.size(); ++i) sum += c->Eval(in.row(i), &arena).i64;
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(state.iterations() * 1024);
}
BENCHMARK(BM_ExprEvalCastMul);

}  // namespace
}  // namespace impulse::plan

BENCHMARK_MAIN();
