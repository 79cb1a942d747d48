// The rank step alone (no log, no engine): a pipeline instance whose events each carry 100
// candidates, each completed by the item view's values as of the event (15 double features, a
// 1000-item catalogue already in the step's table) and scored with the committed 100-tree XGBoost
// model (examples/fraud/models/fraud/1/model.json: 100 trees, depth 6, 15 inputs, here fed by
// the item features), top 10 kept. Reports events/s and candidate rows/s for blocks of 1, 16 and
// 64 events per call. BM_ModelOnly scores the same number of rows with Model::Predict directly:
// the floor, so the step's own cost is the difference within one run.
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "model/repository.h"
#include "plan/physical.h"
#include "spec/spec.h"

namespace impulse::plan {
namespace {

namespace fs = std::filesystem;

constexpr int kFeatures = 15;
constexpr int kItems = 1000;
constexpr int kCandidates = 100;

std::string Spec() {
  std::string s = R"(streams:
  - name: items
    fields: [{name: item, type: int64}, {name: ts, type: timestamp})";
  for (int f = 0; f < kFeatures; ++f) s += ", {name: x" + std::to_string(f) + ", type: double}";
  s += R"(]
    key: item
    event_time: ts
  - name: visits
    fields: [{name: user, type: int64}, {name: cands, type: string}, {name: ts, type: timestamp}]
    key: user
    event_time: ts
feature_views:
  - name: item
    entity: item
    features:
)";
  for (int f = 0; f < kFeatures; ++f)
    s += "      - {name: f" + std::to_string(f) + ", expr: x" + std::to_string(f) + "}\n";
  s += R"(pipelines:
  - name: item_features
    from: items
    steps:
      - features: item
    sink: {stream: item_versions}
  - name: p
    from: visits
    steps:
      - rank: {candidates: cands, view: item, as_of: -1m, model: ranker, k: 10, candidates_max: 1000,
               outputs: {items: recs, scores: scores}}
    sink: {stream: out}
)";
  return s;
}

struct Fixture {
  std::string repo_dir;
  LogicalPlan plan;
  std::unique_ptr<model::ModelRepository> repo;
  std::unique_ptr<PhysicalPipeline> phys[2];
  std::unique_ptr<PipelineInstance> inst;
  std::vector<std::string> lists;  // candidate lists, cycled
  int64_t next_ts = 1'000'000;     // the next event's time

  Fixture() {
    char tmpl[] = "/tmp/rank_benchmark.XXXXXX";
    repo_dir = mkdtemp(tmpl);
    fs::create_directories(repo_dir + "/ranker/1");
    fs::copy_file(std::string(IMPULSE_SOURCE_DIR) + "/examples/fraud/models/fraud/1/model.json",
                  repo_dir + "/ranker/1/model.json");
    std::ofstream config(repo_dir + "/ranker/config.yaml");
    config << "kind: xgboost\nfile: model.json\ninputs:\n";
    for (int f = 0; f < kFeatures; ++f) config << "  - item_f" << f << "\n";
    config << "outputs: [score]\n";
    config.close();
    plan = std::move(CompileSpec(Spec(), "bench.yaml", nullptr).value());
    repo = std::move(model::ModelRepository::Open(repo_dir).value());
    for (int i = 0; i < 2; ++i) phys[i] = std::move(PhysicalPipeline::Create(plan.pipelines[i], plan).value());
    InstanceOptions io;
    io.models = repo.get();
    inst = std::move(phys[1]->NewInstance(io).value());
    // The catalogue: one version per item, features in the fraud inputs' ranges.
    std::mt19937_64 rng(1);
    RowBatch items(2 + kFeatures);
    for (int i = 0; i < kItems; ++i) {
      Value* r = items.AppendRow();
      r[0] = Value::Int(i);
      r[1] = Value::Int(1000);
      for (int f = 0; f < kFeatures; ++f) r[2 + f] = Value::Double(static_cast<double>(rng() % 1000) / 10.0);
      items.meta(items.size() - 1).event_time_ms = 1000;
    }
    auto view = std::move(phys[0]->NewInstance(InstanceOptions{}).value());
    RowBatch versions(phys[0]->output_schema().size()), late(LateEventsStreamDef().schema.size()),
        out(phys[1]->output_schema().size());
    (void)view->Run(0, items, INT64_MIN, &versions, &late);
    (void)inst->Run(1, versions, INT64_MIN, &out, &late);
    for (int l = 0; l < 64; ++l) {
      std::string s = "[";
      for (int c = 0; c < kCandidates; ++c) s += (c ? "," : "") + std::to_string(rng() % kItems);
      lists.push_back(s + "]");
    }
  }
  ~Fixture() { fs::remove_all(repo_dir); }
};

Fixture& F() {
  static Fixture f;
  return f;
}

void BM_RankStep(benchmark::State& state) {
  Fixture& f = F();
  const int events = static_cast<int>(state.range(0));
  RowBatch in(3), out(f.phys[1]->output_schema().size()), late(LateEventsStreamDef().schema.size());
  // Event time keeps increasing across runs of the benchmark: the instance's watermark does.
  int64_t& ts = f.next_ts;
  size_t next = 0;
  for (auto _ : state) {
    in.Reset(3);
    for (int e = 0; e < events; ++e) {
      Value* r = in.AppendRow();
      r[0] = Value::Int(e);
      r[1] = Value::String(in.arena().Copy(f.lists[next++ % f.lists.size()]));
      r[2] = Value::Int(ts);
      in.meta(in.size() - 1).event_time_ms = ts;
      in.meta(in.size() - 1).watermark_ms = ts - 1;  // the as-of time (ts - 1 min) is behind it: read at once
      ++ts;
    }
    out.Reset(out.width());
    late.Reset(late.width());
    const Status st = f.inst->Run(0, in, ts - 1, &out, &late);
    if (!st.ok() || out.size() != static_cast<size_t>(events)) {
      const std::string why =
          st.ToString() + ", " + std::to_string(out.size()) + " rows out, " + std::to_string(late.size()) + " late";
      state.SkipWithError(why.c_str());
      break;
    }
  }
  state.counters["events/s"] =
      benchmark::Counter(static_cast<double>(state.iterations()) * events, benchmark::Counter::kIsRate);
  state.counters["rows/s"] =
      benchmark::Counter(static_cast<double>(state.iterations()) * events * kCandidates, benchmark::Counter::kIsRate);
}
BENCHMARK(BM_RankStep)->Arg(1)->Arg(16)->Arg(64);

// Model::Predict alone on as many rows, in one call per 100-row event block: the floor.
void BM_ModelOnly(benchmark::State& state) {
  Fixture& f = F();
  const int events = static_cast<int>(state.range(0));
  auto loaded = f.repo->Get("ranker", std::nullopt).value();
  std::mt19937_64 rng(2);
  std::vector<float> x(static_cast<size_t>(events) * kCandidates * kFeatures);
  for (float& v : x) v = static_cast<float>(rng() % 1000) / 10.0f;
  std::vector<float> scores(static_cast<size_t>(events) * kCandidates);
  for (auto _ : state) {
    loaded->model->Predict(x.data(), scores.size(), scores.data());
    benchmark::DoNotOptimize(scores.data());
  }
  state.counters["rows/s"] =
      benchmark::Counter(static_cast<double>(state.iterations()) * events * kCandidates, benchmark::Counter::kIsRate);
}
BENCHMARK(BM_ModelOnly)->Arg(1)->Arg(16)->Arg(64);

}  // namespace
}  // namespace impulse::plan

BENCHMARK_MAIN();
