// The predict step alone (no log, no engine): ns per row of a one-step pipeline instance that
// scores rows of the fraud model's 15 inputs (examples/fraud/testdata/fraud_scores.csv, cycled)
// with the committed XGBoost model (examples/fraud/models/fraud, 100 trees, depth 6), in
// batches of 1, 8, 64 and 256 rows, with and without a decision log; a 1-input linear model
// gives the step's fixed cost per row (copy, gather, one multiply). BM_ModelPredict runs the
// same rows through Model::Predict directly, in blocks of the config's max_batch_size as the
// step calls it: the floor, so the step's overhead is a ratio within one run.
#include <benchmark/benchmark.h>

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "model/repository.h"
#include "plan/physical.h"
#include "spec/spec.h"

namespace impulse::plan {
namespace {

namespace fs = std::filesystem;

const std::string kRoot = IMPULSE_SOURCE_DIR;
constexpr size_t kInputs = 15;  // the fraud model's inputs

// The fixture's rows: transaction id and the 15 inputs in model order (config.yaml's order,
// which is the CSV's column order after tx_fraud).
struct Rows {
  std::vector<int64_t> ids;
  std::vector<std::vector<double>> x;
};

const Rows& FixtureRows() {
  static const Rows rows = [] {
    Rows r;
    std::ifstream in(kRoot + "/examples/fraud/testdata/fraud_scores.csv");
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      std::vector<std::string> cells;
      std::stringstream ss(line);
      for (std::string c; std::getline(ss, c, ',');) cells.push_back(c);
      if (cells.size() < 2 + kInputs) continue;
      r.ids.push_back(std::stoll(cells[0]));
      std::vector<double> x;
      for (size_t i = 0; i < kInputs; ++i) x.push_back(std::stod(cells[2 + i]));
      r.x.push_back(std::move(x));
    }
    return r;
  }();
  return rows;
}

// The stream's field names: the models' `from` names (tx_amount for TX_AMOUNT).
const char* const kFields[kInputs] = {"tx_amount",
                                      "TX_DURING_WEEKEND",
                                      "TX_DURING_NIGHT",
                                      "CUSTOMER_ID_NB_TX_1DAY_WINDOW",
                                      "CUSTOMER_ID_AVG_AMOUNT_1DAY_WINDOW",
                                      "CUSTOMER_ID_NB_TX_7DAY_WINDOW",
                                      "CUSTOMER_ID_AVG_AMOUNT_7DAY_WINDOW",
                                      "CUSTOMER_ID_NB_TX_30DAY_WINDOW",
                                      "CUSTOMER_ID_AVG_AMOUNT_30DAY_WINDOW",
                                      "TERMINAL_ID_NB_TX_1DAY_WINDOW",
                                      "TERMINAL_ID_RISK_1DAY_WINDOW",
                                      "TERMINAL_ID_NB_TX_7DAY_WINDOW",
                                      "TERMINAL_ID_RISK_7DAY_WINDOW",
                                      "TERMINAL_ID_NB_TX_30DAY_WINDOW",
                                      "TERMINAL_ID_RISK_30DAY_WINDOW"};

std::string Spec(const std::string& model, bool decision_log) {
  std::string s = "streams:\n  - name: features\n    fields:\n      - {name: transaction_id, type: int64}\n";
  for (const char* f : kFields) s += std::string("      - {name: ") + f + ", type: double}\n";
  s += "    key: transaction_id\n    partitions: 2\n"
       "pipelines:\n  - name: score\n    from: features\n    steps:\n"
       "      - predict: {model: " +
       model + ", outputs: [score], event_id: transaction_id" + (decision_log ? ", decision_log: decisions" : "") +
       "}\n    sink: {stream: scored}\n";
  return s;
}

// A repository with the committed models plus "one": a 1-input linear model (score = 0.001 *
// tx_amount), the step's fixed cost. Copied to a temp dir so the committed tree stays untouched.
class Repo {
 public:
  Repo() {
    char tmpl[] = "/tmp/predict_benchmark_XXXXXX";
    dir_ = mkdtemp(tmpl) != nullptr ? tmpl : "";
    std::error_code ec;
    fs::copy(kRoot + "/examples/fraud/models", dir_, fs::copy_options::recursive, ec);
    fs::create_directories(dir_ + "/one/1", ec);
    std::ofstream(dir_ + "/one/config.yaml")
        << "kind: linear\ninputs:\n  - {name: TX_AMOUNT, from: tx_amount}\noutputs: [score]\n"
           "batching: {max_batch_size: 64, max_queue_delay_us: 0}\n";
    std::ofstream(dir_ + "/one/1/model.json") << "{\"kind\":\"linear\",\"weights\":[0.001],\"bias\":0}";
    auto r = model::ModelRepository::Open(dir_);
    if (r.ok()) {
      repo_ = std::move(*r);
    } else {
      error_ = r.status().ToString();
    }
  }
  ~Repo() {
    std::error_code ec;
    if (!dir_.empty()) fs::remove_all(dir_, ec);
  }
  model::ModelRepository* get() const { return repo_.get(); }
  const std::string& error() const { return error_; }

 private:
  std::string dir_, error_;
  std::unique_ptr<model::ModelRepository> repo_;
};

Repo& SharedRepo() {
  static Repo repo;
  return repo;
}

// Batches of `n` rows cycling through the fixture, enough of them to cover it once.
std::vector<RowBatch> Batches(size_t n) {
  const Rows& rows = FixtureRows();
  const size_t count = std::max<size_t>(1, (rows.ids.size() + n - 1) / n);
  std::vector<RowBatch> out;
  size_t next = 0;
  for (size_t b = 0; b < count; ++b) {
    RowBatch batch(1 + kInputs);
    for (size_t i = 0; i < n; ++i, next = (next + 1) % rows.ids.size()) {
      Value* r = batch.AppendRow();
      r[0] = Value::Int(rows.ids[next]);
      for (size_t k = 0; k < kInputs; ++k) r[1 + k] = Value::Double(rows.x[next][k]);
      RowMeta& m = batch.meta(batch.size() - 1);
      m.event_time_ms = 1'533'686'400'000 + static_cast<int64_t>(next);
      m.partition = 0;
      m.offset = next;
    }
    out.push_back(std::move(batch));
  }
  return out;
}

void BM_PredictStep(benchmark::State& state, const std::string& model, bool decision_log) {
  const size_t n = static_cast<size_t>(state.range(0));
  Repo& repo = SharedRepo();
  if (repo.get() == nullptr) {
    state.SkipWithError(repo.error().c_str());
    return;
  }
  auto plan = CompileSpec(Spec(model, decision_log), "bench.yaml", nullptr);
  if (!plan.ok()) {
    state.SkipWithError(plan.status().ToString().c_str());
    return;
  }
  auto phys = PhysicalPipeline::Create(plan->pipelines[0], *plan);
  if (!phys.ok()) {
    state.SkipWithError(phys.status().ToString().c_str());
    return;
  }
  InstanceOptions io;
  io.models = repo.get();
  auto inst = (*phys)->NewInstance(io);
  if (!inst.ok()) {
    state.SkipWithError(inst.status().ToString().c_str());
    return;
  }
  const std::vector<RowBatch> batches = Batches(n);
  RowBatch out((*phys)->output_schema().size()), late(LateEventsStreamDef().schema.size());
  size_t b = 0;
  int64_t rows = 0;
  for (auto _ : state) {
    out.Clear();
    IMPULSE_CHECK((*inst)->Run(0, batches[b], INT64_MIN, &out, &late).ok());
    benchmark::DoNotOptimize(out.row(n - 1)[out.width() - 1].f64);
    if (!(*inst)->side_outputs().empty()) benchmark::DoNotOptimize((*inst)->side_outputs()[0].size());
    rows += static_cast<int64_t>(n);
    b = (b + 1) % batches.size();
  }
  // A step that scored nothing (no version ready) would measure the unscored path.
  if (out.row(n - 1)[out.width() - 1].null) state.SkipWithError("rows came out unscored");
  if (decision_log && ((*inst)->side_outputs().empty() || (*inst)->side_outputs()[0].size() != n)) {
    state.SkipWithError("decision log does not hold one record per row");
  }
  state.SetItemsProcessed(rows);
  state.counters["per_row"] =
      benchmark::Counter(static_cast<double>(rows), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

// The floor: Model::Predict over the same rows, already gathered into float32, in blocks of the
// config's max_batch_size (as the step calls it).
void BM_ModelPredict(benchmark::State& state, const std::string& name) {
  const size_t n = static_cast<size_t>(state.range(0));
  Repo& repo = SharedRepo();
  if (repo.get() == nullptr) {
    state.SkipWithError(repo.error().c_str());
    return;
  }
  auto m = repo.get()->Get(name);
  if (!m.ok()) {
    state.SkipWithError(m.status().ToString().c_str());
    return;
  }
  const model::Model& model = *(*m)->model;
  const size_t width = model.num_features();
  const size_t block = std::max<size_t>(1, (*m)->config.batching.max_batch_size);
  const Rows& rows = FixtureRows();
  // Enough rows to cycle the fixture as the step's batches do.
  const size_t total = std::max<size_t>(n, rows.ids.size() / n * n);
  std::vector<float> x(total * width);
  for (size_t r = 0; r < total; ++r) {
    for (size_t k = 0; k < width; ++k) x[r * width + k] = static_cast<float>(rows.x[r % rows.ids.size()][k]);
  }
  std::vector<float> out(n * model.num_outputs());
  size_t at = 0;
  int64_t done = 0;
  for (auto _ : state) {
    for (size_t i = 0; i < n; i += block) {
      const size_t k = std::min(block, n - i);
      model.Predict(x.data() + (at + i) * width, k, out.data() + i * model.num_outputs());
    }
    benchmark::DoNotOptimize(out.data());
    at = at + n >= total ? 0 : at + n;
    done += static_cast<int64_t>(n);
  }
  state.SetItemsProcessed(done);
  state.counters["per_row"] =
      benchmark::Counter(static_cast<double>(done), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

void Sizes(benchmark::internal::Benchmark* b) {
  for (int n : {1, 8, 64, 256}) b->Arg(n);
}

BENCHMARK_CAPTURE(BM_ModelPredict, xgboost100, std::string("fraud"))->Apply(Sizes);
BENCHMARK_CAPTURE(BM_PredictStep, xgboost100, std::string("fraud"), false)->Apply(Sizes);
BENCHMARK_CAPTURE(BM_PredictStep, xgboost100_decision_log, std::string("fraud"), true)->Apply(Sizes);
BENCHMARK_CAPTURE(BM_ModelPredict, linear1, std::string("one"))->Apply(Sizes);
BENCHMARK_CAPTURE(BM_PredictStep, linear1, std::string("one"), false)->Apply(Sizes);
BENCHMARK_CAPTURE(BM_PredictStep, linear1_decision_log, std::string("one"), true)->Apply(Sizes);

}  // namespace
}  // namespace impulse::plan

BENCHMARK_MAIN();
