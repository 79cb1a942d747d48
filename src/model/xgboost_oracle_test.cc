// The native evaluator against libxgboost (the oracle): models trained through the C API on
// generated data with missing values, saved as JSON, loaded by LoadXgboostJson, and scored by
// both on rows the models have and have not seen.
#include <gtest/gtest.h>

#include <unistd.h>
#include <cmath>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "model/tree_oracle.h"
#include "model/xgboost_model.h"

namespace impulse::model {
namespace {

using testing::GenerateLabels;
using testing::GenerateRows;
using testing::Oracle;

constexpr size_t kFeatures = 6;
constexpr size_t kTrainRows = 1500;
constexpr size_t kTestRows = 3000;

std::string TempPath(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("impulse_xgb_" + std::to_string(::getpid()) + "_" + name + ".json"))
      .string();
}

struct Case {
  std::string objective;
  std::string labels;  // GenerateLabels kind
  std::string base_score;
  int num_class;  // 0 = not multiclass
};

// Trains, saves, loads and compares. Returns the number of values compared.
size_t CompareWithOracle(const Case& c, int depth, int rounds, uint32_t seed) {
  SCOPED_TRACE(c.objective + " depth " + std::to_string(depth) + " rounds " + std::to_string(rounds));
  const std::vector<float> train = GenerateRows(kTrainRows, kFeatures, 0.1, seed);
  const std::vector<float> labels = GenerateLabels(train, kFeatures, c.labels, seed + 1);
  Oracle::Params params = {
      {"objective", c.objective}, {"max_depth", std::to_string(depth)}, {"eta", "0.3"}, {"base_score", c.base_score},
      {"nthread", "1"},           {"seed", std::to_string(seed)}};
  if (c.num_class > 0) params.push_back({"num_class", std::to_string(c.num_class)});
  auto oracle = Oracle::Train(train, labels, kFeatures, params, rounds);
  EXPECT_TRUE(oracle.ok()) << oracle.status().ToString();
  if (!oracle.ok()) return 0;
  const std::string path = TempPath(c.objective.substr(0, c.objective.find(':')));
  EXPECT_TRUE(oracle->SaveJson(path).ok());
  auto model = LoadXgboostJson(path);
  std::filesystem::remove(path);
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  if (!model.ok()) return 0;
  const size_t k = c.num_class > 0 ? static_cast<size_t>(c.num_class) : 1;
  EXPECT_EQ((*model)->num_features(), kFeatures);
  EXPECT_EQ((*model)->num_outputs(), k);
  EXPECT_EQ((*model)->kind(), "xgboost");

  // Unseen rows (more missing values, whole rows missing) plus the training rows themselves.
  std::vector<float> rows = GenerateRows(kTestRows, kFeatures, 0.25, seed + 2);
  for (size_t j = 0; j < kFeatures; ++j) rows[j] = NAN;  // row 0: all missing
  rows.insert(rows.end(), train.begin(), train.end());
  const size_t n = rows.size() / kFeatures;

  auto expected = oracle->PredictDMatrix(rows.data(), n);
  EXPECT_TRUE(expected.ok()) << expected.status().ToString();
  if (!expected.ok()) return 0;
  EXPECT_EQ(expected->size(), n * k);

  std::vector<float> batch(n * k);
  (*model)->Predict(rows.data(), n, batch.data());
  size_t bad = 0;
  for (size_t i = 0; i < n * k && i < expected->size(); ++i) {
    if (!(std::abs(batch[i] - (*expected)[i]) <= 1e-6f) && ++bad <= 5) {
      ADD_FAILURE() << "batch value " << i << " (row " << i / k << "): native " << batch[i] << " oracle "
                    << (*expected)[i];
    }
  }
  // The single-row path must agree bit for bit with the batch path.
  std::vector<float> one(k);
  for (size_t r = 0; r < n; r += 7) {
    (*model)->Predict(rows.data() + r * kFeatures, 1, one.data());
    for (size_t j = 0; j < k; ++j) {
      if (one[j] != batch[r * k + j] && ++bad <= 5) {
        ADD_FAILURE() << "row " << r << " output " << j << ": single " << one[j] << " batch " << batch[r * k + j];
      }
    }
  }
  EXPECT_EQ(bad, 0u);
  return n * k;
}

class OracleTest : public ::testing::TestWithParam<Case> {};

TEST_P(OracleTest, AgreesWithin1e6ForDepth1To8) {
  size_t compared = 0;
  uint32_t seed = 11;
  for (int depth = 1; depth <= 8; ++depth) {
    for (int rounds : {1, 5, 20}) compared += CompareWithOracle(GetParam(), depth, rounds, seed++);
  }
  EXPECT_GE(compared, 8u * 3u * (kTestRows + kTrainRows));
}

INSTANTIATE_TEST_SUITE_P(
    Objectives, OracleTest,
    ::testing::Values(Case{"binary:logistic", "binary", "0.5", 0}, Case{"binary:logistic", "binary", "0.3", 0},
                      Case{"reg:logistic", "binary", "0.7", 0}, Case{"binary:logitraw", "binary", "0.4", 0},
                      Case{"reg:squarederror", "regression", "0.5", 0},
                      Case{"reg:squarederror", "regression", "-2.25", 0}, Case{"multi:softprob", "multi:3", "0.5", 3},
                      Case{"multi:softprob", "multi:5", "0.2", 5}),
    [](const ::testing::TestParamInfo<Case>& param_info) {
      std::string name = param_info.param.objective + "_base" + param_info.param.base_score;
      for (char& ch : name) {
        if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
      }
      return name;
    });

TEST(OracleTest, InplacePredictAgreesWithDMatrixPredict) {
  // The benchmark times XGBoosterPredictFromDense; check it scores like the DMatrix path.
  const std::vector<float> train = GenerateRows(500, kFeatures, 0.1, 3);
  const std::vector<float> labels = GenerateLabels(train, kFeatures, "binary", 4);
  auto oracle = Oracle::Train(train, labels, kFeatures, {{"objective", "binary:logistic"}, {"max_depth", "4"}}, 10);
  ASSERT_TRUE(oracle.ok()) << oracle.status().ToString();
  auto a = oracle->PredictDMatrix(train.data(), 500);
  auto b = oracle->PredictDense(train.data(), 500);
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_EQ(a->size(), 500u);
  EXPECT_EQ(*a, *b);
}

std::string ReadAll(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

void WriteAll(const std::string& path, const std::string& data) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << data;
}

TEST(OracleTest, CorruptedSavedModelIsRefusedWithTheFileName) {
  const std::vector<float> train = GenerateRows(500, kFeatures, 0.1, 5);
  const std::vector<float> labels = GenerateLabels(train, kFeatures, "binary", 6);
  auto oracle = Oracle::Train(train, labels, kFeatures, {{"objective", "binary:logistic"}, {"max_depth", "3"}}, 4);
  ASSERT_TRUE(oracle.ok()) << oracle.status().ToString();
  const std::string path = TempPath("corrupt");
  ASSERT_TRUE(oracle->SaveJson(path).ok());
  const std::string good = ReadAll(path);
  ASSERT_TRUE(LoadXgboostJson(path).ok());

  auto expect_refused = [&](const std::string& bad, const char* what) {
    WriteAll(path, bad);
    auto r = LoadXgboostJson(path);
    ASSERT_FALSE(r.ok()) << what;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << what;
    EXPECT_EQ(r.status().message().rfind(path + ": ", 0), 0u) << r.status().message();
  };
  expect_refused(good.substr(0, good.size() / 2), "truncated");
  std::string child = good;
  const size_t at = child.find("\"right_children\":[") + 18;
  child.replace(at, child.find(',', at) - at, "100000");
  expect_refused(child, "right child out of range");
  std::string feature = good;
  const size_t f_at = feature.find("\"split_indices\":[") + 17;
  feature.replace(f_at, feature.find(',', f_at) - f_at, std::to_string(kFeatures));
  expect_refused(feature, "feature index == num_feature");
  std::string booster = good;
  booster.replace(booster.find("\"gbtree\""), 8, "\"gblinear\"");
  expect_refused(booster, "gblinear");
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace impulse::model
