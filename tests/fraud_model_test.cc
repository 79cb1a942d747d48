// The committed fraud models (examples/fraud/models, trained by examples/fraud/train.py) score
// in the engine exactly as Python scored them offline: examples/fraud/testdata/fraud_scores.csv
// holds 200 test-period feature rows with xgboost's and scikit-learn's probabilities. Checked
// twice: the models alone, and a live engine's predict steps over the same rows (online ==
// offline), including the decision records.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "impulse/engine.h"
#include "model/repository.h"

namespace impulse {
namespace {

const std::string kRoot = IMPULSE_SOURCE_DIR;

struct Fixture {
  std::vector<std::string> columns;
  std::vector<std::vector<std::string>> rows;
  int Column(const std::string& name) const {
    for (size_t i = 0; i < columns.size(); ++i) {
      if (columns[i] == name) return static_cast<int>(i);
    }
    return -1;
  }
};

std::vector<std::string> Split(const std::string& line) {
  std::vector<std::string> out;
  std::stringstream ss(line);
  std::string cell;
  while (std::getline(ss, cell, ',')) out.push_back(cell);
  return out;
}

Fixture Load() {
  Fixture f;
  std::ifstream in(kRoot + "/examples/fraud/testdata/fraud_scores.csv");
  std::string line;
  if (std::getline(in, line)) f.columns = Split(line);
  while (std::getline(in, line)) f.rows.push_back(Split(line));
  return f;
}

std::shared_ptr<model::ModelRepository> Repo() {
  auto r = model::ModelRepository::Open(kRoot + "/examples/fraud/models");
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::shared_ptr<model::ModelRepository>(std::move(*r)) : nullptr;
}

// The tolerance of each model against Python: the tree evaluator reproduces xgboost's float32
// arithmetic; the logistic model folds the scaler into float32 weights, so it agrees to ~1e-6
// relative rather than bit for bit.
constexpr double kXgbTolerance = 1e-6;
constexpr double kLrTolerance = 1e-5;

TEST(FraudModel, CommittedModelsScoreTheFixtureAsPythonDid) {
  const Fixture f = Load();
  ASSERT_EQ(f.rows.size(), 200u);
  auto repo = Repo();
  ASSERT_NE(repo, nullptr);
  for (const auto& [name, column, tol] :
       {std::tuple{"fraud", "xgb_score", kXgbTolerance}, std::tuple{"fraud_lr", "lr_score", kLrTolerance}}) {
    auto m = repo->Get(name);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    const auto& inputs = (*m)->config.inputs;
    ASSERT_EQ(inputs.size(), 15u);
    const int want_col = f.Column(column);
    ASSERT_GE(want_col, 0);
    std::vector<int> cols;
    for (const auto& in : inputs) {
      cols.push_back(f.Column(in.name));
      ASSERT_GE(cols.back(), 0) << in.name;
    }
    double max_diff = 0;
    for (const auto& row : f.rows) {
      std::vector<float> x;
      for (int c : cols) x.push_back(std::stof(row[static_cast<size_t>(c)]));
      float score = 0;
      (*m)->model->Predict(x.data(), 1, &score);
      max_diff =
          std::max(max_diff, std::abs(static_cast<double>(score) - std::stod(row[static_cast<size_t>(want_col)])));
    }
    EXPECT_LE(max_diff, tol) << name;
  }
}

TEST(FraudModel, LiveEngineScoresEqualOfflineScores) {
  const Fixture f = Load();
  ASSERT_EQ(f.rows.size(), 200u);
  auto repo = Repo();
  ASSERT_NE(repo, nullptr);
  auto xgb = repo->Get("fraud");
  ASSERT_TRUE(xgb.ok());
  // A stream of the models' input fields (named as the backfill output names them), scored by
  // both models in one pipeline.
  std::string fields = "      - {name: transaction_id, type: int64}\n";
  for (const auto& in : (*xgb)->config.inputs) {
    fields += "      - {name: " + (in.from.empty() ? in.name : in.from) + ", type: double}\n";
  }
  const std::string spec =
      "streams:\n  - name: features\n    fields:\n" + fields +
      "    key: transaction_id\n    partitions: 2\n"
      "pipelines:\n  - name: score\n    from: features\n    steps:\n"
      "      - predict: {model: fraud, outputs: [fraud_score], event_id: transaction_id, decision_log: decisions}\n"
      "      - predict: {model: fraud_lr, outputs: [lr_score]}\n"
      "    sink: {stream: scored}\n";
  const auto dir = std::filesystem::temp_directory_path() / ("impulse_fraud_model_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "spec.yaml") << spec;
  EngineOptions o;
  o.data_dir = (dir / "data").string();
  o.shards = 2;
  o.durability = Durability::kNone;
  o.models = repo;
  auto e = Engine::Open((dir / "spec.yaml").string(), o);
  ASSERT_TRUE(e.ok()) << e.status().ToString();

  std::map<std::string, std::pair<double, double>> want;  // transaction_id -> (xgb, lr)
  std::string body;
  const int id_col = f.Column("transaction_id");
  for (const auto& row : f.rows) {
    body += "{\"transaction_id\":" + row[static_cast<size_t>(id_col)];
    for (const auto& in : (*xgb)->config.inputs) {
      body += ",\"" + (in.from.empty() ? in.name : in.from) + "\":" + row[static_cast<size_t>(f.Column(in.name))];
    }
    body += "}\n";
    want[row[static_cast<size_t>(id_col)]] = {std::stod(row[static_cast<size_t>(f.Column("xgb_score"))]),
                                              std::stod(row[static_cast<size_t>(f.Column("lr_score"))])};
  }
  std::promise<Status> done;
  ASSERT_TRUE((*e)->Ingest("features", body, 0, [&](Status st, IngestResult) { done.set_value(st); }).ok());
  ASSERT_TRUE(done.get_future().get().ok());
  ASSERT_TRUE((*e)->WaitForPipelines(60'000).ok());

  auto value = [](const std::string& line, const std::string& key) {
    const size_t at = line.find("\"" + key + "\":");
    return at == std::string::npos ? std::string()
                                   : line.substr(at + key.size() + 3,
                                                 line.find_first_of(",}", at + key.size() + 3) - (at + key.size() + 3));
  };
  size_t scored = 0, decisions = 0;
  for (uint32_t p = 0; p < 2; ++p) {
    std::string out;
    ASSERT_TRUE((*e)->ReadEvents("scored", p, 0, 1000, &out).ok());
    std::istringstream lines(out);
    for (std::string line; std::getline(lines, line);) {
      const auto it = want.find(value(line, "transaction_id"));
      ASSERT_NE(it, want.end()) << line;
      EXPECT_NEAR(std::stod(value(line, "fraud_score")), it->second.first, kXgbTolerance) << line;
      EXPECT_NEAR(std::stod(value(line, "lr_score")), it->second.second, kLrTolerance) << line;
      ++scored;
    }
    out.clear();
    ASSERT_TRUE((*e)->ReadEvents("decisions", p, 0, 1000, &out).ok());
    std::istringstream dlines(out);
    for (std::string line; std::getline(dlines, line);) {
      // "scores":"{\"fraud_score\":0.00004242368}": the record's score is the output's.
      const std::string id = value(line, "event_id");
      const auto it = want.find(id.substr(1, id.size() - 2));
      ASSERT_NE(it, want.end()) << line;
      const size_t at = line.find("fraud_score\\\":");
      ASSERT_NE(at, std::string::npos) << line;
      EXPECT_NEAR(std::stod(line.substr(at + 14)), it->second.first, kXgbTolerance) << line;
      ++decisions;
    }
  }
  EXPECT_EQ(scored, 200u);
  EXPECT_EQ(decisions, 200u);
  ASSERT_TRUE((*e)->Stop().ok());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace impulse
