// The predict step: spec errors, scores vs a hand computation, hot swap, canary, shadow and the
// decision records, and the checks the engine runs when it opens.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "common/status_matchers.h"
#include "event/key_hash.h"
#include "model/repository.h"
#include "model/test_repo_dir.h"
#include "plan/physical.h"
#include "spec/spec.h"

namespace impulse::plan {
namespace {

namespace fs = std::filesystem;

constexpr const char* kStreams = R"yaml(streams:
  - name: tx
    fields:
      - {name: id, type: string}
      - {name: customer, type: int64}
      - {name: amount, type: double}
      - {name: nb, type: int64, nullable: true}
      - {name: weekend, type: bool}
      - {name: ts, type: timestamp}
    key: customer
    event_time: ts
    partitions: 2
)yaml";

using TempRepo = model::TestRepoDir;

// Model "m": score = w0*amount + w1*nb + w2*weekend + bias; nb missing -> default 5.
void WriteModel(const TempRepo& t, uint64_t version, float w0, float w1, float w2, float bias) {
  t.Write("m/config.yaml",
          "kind: linear\nversion_policy: all\ninputs:\n  - {name: amount}\n  - {name: nb, default: 5}\n"
          "  - {name: weekend}\noutputs: [score]\n");
  t.Write("m/" + std::to_string(version) + "/model.json", "{\"kind\":\"linear\",\"weights\":[" + std::to_string(w0) +
                                                              "," + std::to_string(w1) + "," + std::to_string(w2) +
                                                              "],\"bias\":" + std::to_string(bias) + "}");
}

std::unique_ptr<model::ModelRepository> OpenRepo(const TempRepo& t) {
  auto r = model::ModelRepository::Open(t.dir());
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move(r).value() : nullptr;
}

Result<LogicalPlan> Compile(const std::string& steps) {
  return CompileSpec(std::string(kStreams) + "pipelines:\n  - name: score\n    from: tx\n    steps:\n" + steps +
                         "    sink: {stream: scored}\n",
                     "t.yaml", nullptr);
}

std::string CompileError(const std::string& steps) {
  auto p = Compile(steps);
  return p.ok() ? "" : p.status().message();
}

struct Tx {
  std::string id;
  int64_t customer;
  double amount;
  std::optional<int64_t> nb;
  bool weekend;
};

RowBatch Batch(const std::vector<Tx>& txs) {
  RowBatch b(6);
  for (size_t i = 0; i < txs.size(); ++i) {
    Value* r = b.AppendRow();
    r[0] = Value::String(b.arena().Copy(txs[i].id));
    r[1] = Value::Int(txs[i].customer);
    r[2] = Value::Double(txs[i].amount);
    r[3] = txs[i].nb ? Value::Int(*txs[i].nb) : Value::Null();
    r[4] = Value::Bool(txs[i].weekend);
    r[5] = Value::Int(1000 + static_cast<int64_t>(i));
    b.meta(i).event_time_ms = 1000 + static_cast<int64_t>(i);
    b.meta(i).partition = 1;
    b.meta(i).offset = 40 + i;
  }
  return b;
}

// One compiled pipeline and an instance bound to a repository.
struct Harness {
  LogicalPlan plan;
  std::unique_ptr<PhysicalPipeline> phys;
  std::unique_ptr<PipelineInstance> inst;
  RowBatch out, late;

  static std::unique_ptr<Harness> Make(const std::string& steps, model::ModelRepository* repo) {
    auto h = std::make_unique<Harness>();
    auto p = Compile(steps);
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    if (!p.ok()) return nullptr;
    h->plan = std::move(*p);
    auto phys = PhysicalPipeline::Create(h->plan.pipelines[0], h->plan);
    EXPECT_TRUE(phys.ok()) << phys.status().ToString();
    h->phys = std::move(*phys);
    InstanceOptions io;
    io.models = repo;
    auto inst = h->phys->NewInstance(io);
    EXPECT_TRUE(inst.ok()) << inst.status().ToString();
    if (!inst.ok()) return nullptr;
    h->inst = std::move(*inst);
    return h;
  }

  void Run(const RowBatch& in) {
    out.Reset(phys->output_schema().size());
    late.Reset(LateEventsStreamDef().schema.size());
    EXPECT_TRUE(inst->Run(0, in, INT64_MIN, &out, &late).ok());
  }
  // The score column (the last field) of row i; NaN for null.
  double Score(size_t i) const {
    const Value& v = out.row(i)[out.width() - 1];
    return v.null ? std::nan("") : v.f64;
  }
};

float Expected(float w0, float w1, float w2, float bias, const Tx& tx) {
  const float nb = tx.nb ? static_cast<float>(*tx.nb) : 5.0f;
  return w0 * static_cast<float>(tx.amount) + w1 * nb + w2 * (tx.weekend ? 1.0f : 0.0f) + bias;
}

TEST(PredictSpec, Errors) {
  EXPECT_NE(CompileError("      - predict: {outputs: [s]}\n").find("needs 'model: NAME'"), std::string::npos);
  EXPECT_NE(CompileError("      - predict: {model: m}\n").find("needs 'outputs'"), std::string::npos);
  EXPECT_NE(CompileError("      - predict: {model: m, outputs: [amount]}\n").find("already a field of its input"),
            std::string::npos);
  EXPECT_NE(CompileError("      - predict: {model: m, outputs: [s], shadwo: [1]}\n").find("did you mean 'shadow'"),
            std::string::npos);
  EXPECT_NE(
      CompileError("      - predict: {model: m, outputs: [s], entity: custmer}\n").find("did you mean 'customer'"),
      std::string::npos);
  EXPECT_NE(CompileError("      - predict: {model: m, outputs: [s], canary: {version: 2, percent: 5}}\n")
                .find("splits by entity"),
            std::string::npos);
  EXPECT_NE(
      CompileError("      - predict: {model: m, outputs: [s], canary: {version: 2, percent: 101}, entity: customer}\n")
          .find("[0, 100]"),
      std::string::npos);
  EXPECT_NE(CompileError("      - predict: {model: m, outputs: [s], shadow: [2]}\n").find("add 'decision_log"),
            std::string::npos);
  EXPECT_NE(CompileError("      - predict: {model: m, outputs: [s], version: newest}\n").find("'latest'"),
            std::string::npos);
  EXPECT_NE(CompileError("      - predict: {model: m, outputs: [s], decision_log: tx}\n").find("a stream of its own"),
            std::string::npos);
  EXPECT_NE(CompileError("      - predict: {model: m, outputs: [s], decision_log: d1}\n"
                         "      - predict: {model: m, outputs: [t], decision_log: d2}\n")
                .find("write one decision log"),
            std::string::npos);
  {
    auto p = CompileSpec(std::string(kStreams) +
                             "pipelines:\n  - name: a\n    from: tx\n    steps:\n"
                             "      - predict: {model: m, outputs: [s], decision_log: d}\n    sink: {stream: o}\n"
                             "  - name: b\n    from: d\n    sink: {stdout: true}\n",
                         "t.yaml", nullptr);
    ASSERT_CODE(p, kInvalidArgument);
    EXPECT_NE(p.status().message().find("reads decision log 'd'"), std::string::npos) << p.status().ToString();
  }
  auto ok = Compile("      - predict: {model: m, outputs: {s: 0}, decision_log: decisions}\n");
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  const StreamDef* d = ok->FindStream("decisions");
  ASSERT_NE(d, nullptr);
  EXPECT_TRUE(d->schema == DecisionLogStreamDef("decisions", 2).schema);
  EXPECT_EQ(d->options.partitions, 2u);
  EXPECT_TRUE(d->derived);
  const StreamDef* scored = ok->FindStream("scored");
  ASSERT_NE(scored, nullptr);
  EXPECT_EQ(scored->schema.field(scored->schema.size() - 1).name, "s");
  EXPECT_TRUE(scored->schema.field(scored->schema.size() - 1).nullable);
}

TEST(PredictOp, ScoresMatchAHandComputationWithDefaultsForMissingValues) {
  TempRepo t;
  WriteModel(t, 1, 0.5f, -2.0f, 3.0f, 0.25f);
  auto repo = OpenRepo(t);
  auto h = Harness::Make("      - filter: amount > 0\n      - predict: {model: m, outputs: [score]}\n", repo.get());
  ASSERT_NE(h, nullptr);
  const std::vector<Tx> txs = {
      {"a", 1, 10.0, 2, false}, {"b", 2, 3.5, std::nullopt, true}, {"c", 3, -1, 1, true}, {"d", 4, 100.25, 0, true}};
  h->Run(Batch(txs));
  ASSERT_EQ(h->out.size(), 3u);  // the filter dropped "c"
  const std::vector<Tx> kept = {txs[0], txs[1], txs[3]};
  for (size_t i = 0; i < kept.size(); ++i) {
    EXPECT_EQ(h->out.row(i)[0].sv(), kept[i].id);
    EXPECT_FLOAT_EQ(static_cast<float>(h->Score(i)), Expected(0.5f, -2.0f, 3.0f, 0.25f, kept[i])) << i;
  }
  EXPECT_TRUE(h->inst->side_outputs().empty());  // no decision log named
  std::string metrics;
  repo->metrics().AppendPrometheusText(&metrics);
  EXPECT_NE(metrics.find("impulse_model_rows_total{model=\"m\",version=\"1\"} 3"), std::string::npos) << metrics;
}

TEST(CheckPredictStep, NamesTheProblem) {
  TempRepo t;
  WriteModel(t, 1, 1, 1, 1, 0);
  t.Write("strs/config.yaml", "kind: linear\ninputs:\n  - {name: id}\n");
  t.Write("strs/1/model.json", R"({"kind":"linear","weights":[1],"bias":0})");
  t.Write("typo/config.yaml", "kind: linear\ninputs:\n  - {name: amonut}\n");
  t.Write("typo/1/model.json", R"({"kind":"linear","weights":[1],"bias":0})");
  auto repo = OpenRepo(t);
  auto check = [&](const std::string& step, model::ModelRepository* r) {
    auto p = Compile(step);
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    return p.ok() ? CheckPredictStep(p->pipelines[0].ops[0], r) : Internal("no plan");
  };
  EXPECT_TRUE(check("      - predict: {model: m, outputs: [s]}\n", repo.get()).ok());
  EXPECT_NE(check("      - predict: {model: m, outputs: [s]}\n", nullptr).message().find("no model repository"),
            std::string::npos);
  EXPECT_NE(check("      - predict: {model: nope, outputs: [s]}\n", repo.get()).message().find("nope"),
            std::string::npos);
  EXPECT_NE(check("      - predict: {model: m, outputs: [s], version: 7}\n", repo.get()).message().find("7"),
            std::string::npos);
  EXPECT_NE(check("      - predict: {model: m, outputs: {s: 3}}\n", repo.get()).message().find("reads index 3"),
            std::string::npos);
  EXPECT_NE(check("      - predict: {model: strs, outputs: [s]}\n", repo.get()).message().find("string field 'id'"),
            std::string::npos);
  EXPECT_NE(check("      - predict: {model: typo, outputs: [s]}\n", repo.get()).message().find("did you mean 'amount'"),
            std::string::npos);
  EXPECT_NE(check("      - predict: {model: m, outputs: [s], shadow: [9], decision_log: d}\n", repo.get())
                .message()
                .find("shadow"),
            std::string::npos);
  // Checking binds versions but scores nothing: no per-role series appears in /metrics.
  EXPECT_EQ(repo->predict_metrics().series_count(), 0u);
}

TEST(PredictOp, HotSwapAndUnloadTakeEffectAtTheNextBatch) {
  TempRepo t;
  WriteModel(t, 1, 1, 0, 0, 0);
  auto repo = OpenRepo(t);
  auto h = Harness::Make("      - predict: {model: m, outputs: [score]}\n", repo.get());
  ASSERT_NE(h, nullptr);
  const std::vector<Tx> txs = {{"a", 1, 2.0, 1, false}};
  h->Run(Batch(txs));
  EXPECT_DOUBLE_EQ(h->Score(0), 2.0);
  WriteModel(t, 2, 10, 0, 0, 1);
  ASSERT_TRUE(repo->Rescan().ok());
  h->Run(Batch(txs));
  EXPECT_DOUBLE_EQ(h->Score(0), 21.0);  // latest = version 2
  // A version that fails to load leaves version 2 serving.
  t.Write("m/3/model.json", "{not json");
  ASSERT_CODE(repo->Load("m", 3), kInvalidArgument);
  h->Run(Batch(txs));
  EXPECT_DOUBLE_EQ(h->Score(0), 21.0);
  ASSERT_TRUE(repo->Unload("m", 2).ok());
  h->Run(Batch(txs));
  EXPECT_DOUBLE_EQ(h->Score(0), 2.0);  // back to version 1
  ASSERT_TRUE(repo->Unload("m", 1).ok());
  h->Run(Batch(txs));
  ASSERT_EQ(h->out.size(), 1u);  // passed on, not dropped
  EXPECT_TRUE(std::isnan(h->Score(0)));
  const auto stats = h->inst->Stats();
  ASSERT_EQ(stats.size(), 1u);
  EXPECT_EQ(stats[0].second.scored, 4u);
  EXPECT_EQ(stats[0].second.unscored, 1u);
  std::string metrics;
  repo->metrics().AppendPrometheusText(&metrics);
  EXPECT_NE(metrics.find("impulse_model_errors_total{model=\"m\",version=\"0\"} 1"), std::string::npos) << metrics;
}

TEST(PredictOp, CanaryByEntityShadowAndDecisionRecords) {
  TempRepo t;
  WriteModel(t, 1, 1, 0, 0, 0);    // primary: amount
  WriteModel(t, 2, 0, 1, 0, 0);    // canary: nb
  WriteModel(t, 3, 0, 0, 1, 100);  // shadow: weekend + 100
  auto repo = OpenRepo(t);
  auto h = Harness::Make(
      "      - predict: {model: m, version: 1, outputs: [score], entity: customer, event_id: id,\n"
      "                  canary: {version: 2, percent: 30}, shadow: [3], decision_log: decisions}\n",
      repo.get());
  ASSERT_NE(h, nullptr);
  std::vector<Tx> txs;
  for (int64_t c = 0; c < 200; ++c) txs.push_back({"tx" + std::to_string(c), c % 50, 1.5 + c, c, c % 2 == 0});
  h->Run(Batch(txs));
  ASSERT_EQ(h->out.size(), txs.size());
  ASSERT_EQ(h->inst->side_outputs().size(), 1u);
  const RowBatch* log = &h->inst->side_outputs()[0];
  ASSERT_EQ(log->size(), txs.size());
  size_t canaries = 0;
  for (size_t i = 0; i < txs.size(); ++i) {
    const bool canary = HashValue(Value::Int(txs[i].customer), FieldType::kInt64) % 100 < 30;
    canaries += canary;
    const double want =
        canary ? static_cast<double>(*txs[i].nb) : static_cast<double>(static_cast<float>(txs[i].amount));
    EXPECT_DOUBLE_EQ(h->Score(i), want) << i;
    const Value* d = log->row(i);
    EXPECT_EQ(d[0].sv(), txs[i].id);
    EXPECT_EQ(d[1].sv(), "score");
    EXPECT_EQ(d[2].sv(), "predict#1");
    EXPECT_EQ(d[3].i64, 1);
    EXPECT_EQ(d[4].i64, static_cast<int64_t>(40 + i));
    EXPECT_EQ(d[5].sv(), std::to_string(txs[i].customer));
    EXPECT_EQ(d[6].sv(), "m");
    EXPECT_EQ(d[7].i64, canary ? 2 : 1);
    EXPECT_EQ(d[8].sv(), canary ? "canary" : "primary");
    char feats[200];
    std::snprintf(feats, sizeof(feats), "{\"amount\":%g,\"nb\":%lld,\"weekend\":%d}", txs[i].amount,
                  static_cast<long long>(*txs[i].nb), txs[i].weekend ? 1 : 0);
    EXPECT_EQ(d[9].sv(), feats);
    char score[64];
    std::snprintf(score, sizeof(score), "{\"score\":%g}", want);
    EXPECT_EQ(d[10].sv(), score);
    EXPECT_EQ(d[11].sv(), std::string("{\"3\":{\"score\":") + (txs[i].weekend ? "101" : "100") + "}}");
    EXPECT_EQ(d[12].i64, 1000 + static_cast<int64_t>(i));
    EXPECT_GT(d[13].i64, 0);
  }
  // A stable split near the configured share (50 entities).
  EXPECT_GT(canaries, 20u);
  EXPECT_LT(canaries, 120u);
  // Decisions are per Run: an empty run leaves none behind.
  h->Run(RowBatch(6));
  EXPECT_TRUE(h->inst->side_outputs()[0].empty());
}

// Rows per role and the score histogram of each (version, role), against an independent
// count of which rows went to the canary and which score each version gives them.
TEST(PredictOp, CountsRowsAndScoreBucketsPerVersionAndRole) {
  TempRepo t;
  WriteModel(t, 1, 0, 0, 0.5f, 0);  // serving: 0.5 on weekends, else 0
  WriteModel(t, 2, 0, 1, 0, 0);     // canary: nb (0, 1, 2, ...)
  WriteModel(t, 3, 0, 0, 1, 100);   // shadow: 100 or 101, above the last bound
  auto repo = OpenRepo(t);
  auto h = Harness::Make(
      "      - predict: {model: m, version: 1, outputs: [score], entity: customer, event_id: id,\n"
      "                  canary: {version: 2, percent: 30}, shadow: [3], decision_log: decisions}\n",
      repo.get());
  ASSERT_NE(h, nullptr);
  std::vector<Tx> txs;
  for (int64_t c = 0; c < 200; ++c) txs.push_back({"tx" + std::to_string(c), c % 50, 1.5 + c, c, c % 3 == 0});
  h->Run(Batch(txs));
  h->Run(Batch(txs));  // counters add up across batches
  uint64_t serving = 0, serving_zero = 0, serving_half = 0, canary = 0, canary_zero = 0;
  for (const Tx& tx : txs) {
    if (HashValue(Value::Int(tx.customer), FieldType::kInt64) % 100 < 30) {
      ++canary;
      canary_zero += *tx.nb == 0;
    } else {
      ++serving;
      (tx.weekend ? serving_half : serving_zero) += 1;
    }
  }
  ASSERT_GT(canary, 0u);
  ASSERT_GT(serving_half, 0u);
  model::PredictMetrics& pm = repo->predict_metrics();
  const std::vector<std::string> outputs = {"score"};
  auto* s1 = pm.For("score", "predict#1", "m", 1, model::PredictRole::kServing, outputs);
  auto* s2 = pm.For("score", "predict#1", "m", 2, model::PredictRole::kCanary, outputs);
  auto* s3 = pm.For("score", "predict#1", "m", 3, model::PredictRole::kShadow, outputs);
  EXPECT_EQ(pm.series_count(), 3u);  // the step made exactly these three
  EXPECT_EQ(s1->rows.load(), 2 * serving);
  EXPECT_EQ(s2->rows.load(), 2 * canary);
  EXPECT_EQ(s3->rows.load(), 2 * txs.size());
  auto counts = [](const model::PredictMetrics::Series* s) {
    std::vector<uint64_t> v;
    for (const auto& c : s->scores[0].counts) v.push_back(c.load());
    return v;
  };
  std::vector<uint64_t> want1(model::kScoreBuckets), want2(model::kScoreBuckets), want3(model::kScoreBuckets);
  want1[0] = 2 * serving_zero;
  want1[10] = 2 * serving_half;  // 0.5: le="0.5"
  want2[0] = 2 * canary_zero;
  want2[model::kScoreBounds] = 2 * (canary - canary_zero);
  want3[model::kScoreBounds] = 2 * txs.size();
  EXPECT_EQ(counts(s1), want1);
  EXPECT_EQ(counts(s2), want2);
  EXPECT_EQ(counts(s3), want3);
  EXPECT_DOUBLE_EQ(s1->scores[0].sum.load(), 0.5 * static_cast<double>(2 * serving_half));
}

TEST(PredictOp, DefaultEventIdIsStreamPartitionOffset) {
  TempRepo t;
  WriteModel(t, 1, 1, 0, 0, 0);
  auto repo = OpenRepo(t);
  auto h = Harness::Make("      - predict: {model: m, outputs: [score], decision_log: decisions}\n", repo.get());
  ASSERT_NE(h, nullptr);
  h->Run(Batch({{"a", 1, 2.0, 1, false}, {"b", 1, 3.0, 1, false}}));
  ASSERT_EQ(h->inst->side_outputs().size(), 1u);
  const RowBatch* log = &h->inst->side_outputs()[0];
  ASSERT_EQ(log->size(), 2u);
  EXPECT_EQ(log->row(0)[0].sv(), "tx/1/40");
  EXPECT_EQ(log->row(1)[0].sv(), "tx/1/41");
  EXPECT_EQ(log->row(0)[5].sv(), "");
}

}  // namespace
}  // namespace impulse::plan
