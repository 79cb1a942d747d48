// XGBoost UBJSON against JSON and libxgboost: models trained through the C API, saved both as
// .json and .ubj, loaded by both loaders; UBJSON must score exactly like JSON (the same floats
// reach the same tree builder) and within 1e-6 of the oracle.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "model/repository.h"
#include "model/tree_oracle.h"
#include "model/xgboost_ubjson.h"

namespace impulse::model {
namespace {

using testing::GenerateLabels;
using testing::GenerateRows;
using testing::Oracle;

constexpr size_t kFeatures = 5;

std::string TempPath(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("impulse_ubj_" + std::to_string(::getpid()) + "_" + name)).string();
}

struct Case {
  std::string objective;
  std::string labels;
  int num_class;
};

class UbjsonOracleTest : public ::testing::TestWithParam<Case> {};

TEST_P(UbjsonOracleTest, UbjScoresLikeJsonAndTheOracle) {
  const Case& c = GetParam();
  for (int depth : {1, 3, 6}) {
    SCOPED_TRACE(c.objective + " depth " + std::to_string(depth));
    const std::vector<float> train = GenerateRows(1000, kFeatures, 0.15, 40 + depth);
    const std::vector<float> labels = GenerateLabels(train, kFeatures, c.labels, 41 + depth);
    Oracle::Params params = {
        {"objective", c.objective}, {"max_depth", std::to_string(depth)}, {"nthread", "1"}, {"base_score", "0.4"}};
    if (c.num_class > 0) params.push_back({"num_class", std::to_string(c.num_class)});
    auto oracle = Oracle::Train(train, labels, kFeatures, params, 12);
    ASSERT_TRUE(oracle.ok()) << oracle.status().ToString();
    const std::string json_path = TempPath("m.json");
    const std::string ubj_path = TempPath("m.ubj");
    ASSERT_TRUE(oracle->SaveJson(json_path).ok());
    ASSERT_TRUE(oracle->SaveJson(ubj_path).ok());  // the extension picks UBJSON
    auto from_json = LoadXgboostFile(json_path);
    auto from_ubj = LoadXgboostFile(ubj_path);
    std::filesystem::remove(json_path);
    std::filesystem::remove(ubj_path);
    ASSERT_TRUE(from_json.ok()) << from_json.status().ToString();
    ASSERT_TRUE(from_ubj.ok()) << from_ubj.status().ToString();
    const size_t k = c.num_class > 0 ? static_cast<size_t>(c.num_class) : 1;
    ASSERT_EQ((*from_ubj)->num_outputs(), k);
    ASSERT_EQ((*from_ubj)->num_features(), kFeatures);
    EXPECT_EQ((*from_ubj)->kind(), "xgboost");

    std::vector<float> rows = GenerateRows(2000, kFeatures, 0.3, 7 + depth);
    const size_t n = rows.size() / kFeatures;
    auto expected = oracle->PredictDMatrix(rows.data(), n);
    ASSERT_TRUE(expected.ok());
    std::vector<float> a(n * k), b(n * k);
    (*from_json)->Predict(rows.data(), n, a.data());
    (*from_ubj)->Predict(rows.data(), n, b.data());
    size_t bad = 0;
    for (size_t i = 0; i < n * k; ++i) {
      if (a[i] != b[i] && ++bad <= 5) ADD_FAILURE() << i << ": json " << a[i] << " ubj " << b[i];
      if (!(std::abs(b[i] - (*expected)[i]) <= 1e-6f) && ++bad <= 5) {
        ADD_FAILURE() << i << ": ubj " << b[i] << " oracle " << (*expected)[i];
      }
    }
    EXPECT_EQ(bad, 0u);
  }
}

INSTANTIATE_TEST_SUITE_P(Objectives, UbjsonOracleTest,
                         ::testing::Values(Case{"binary:logistic", "binary", 0},
                                           Case{"reg:squarederror", "regression", 0},
                                           Case{"multi:softprob", "multi:3", 3}),
                         [](const ::testing::TestParamInfo<Case>& param_info) {
                           std::string name = param_info.param.objective;
                           for (char& ch : name) {
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           }
                           return name;
                         });

TEST(UbjsonOracleTest, TruncatedUbjIsRefusedWithTheFileName) {
  const std::vector<float> train = GenerateRows(300, kFeatures, 0.1, 3);
  const std::vector<float> labels = GenerateLabels(train, kFeatures, "binary", 4);
  auto oracle = Oracle::Train(train, labels, kFeatures, {{"objective", "binary:logistic"}}, 3);
  ASSERT_TRUE(oracle.ok());
  const std::string path = TempPath("t.ubj");
  ASSERT_TRUE(oracle->SaveJson(path).ok());
  const auto size = std::filesystem::file_size(path);
  ASSERT_TRUE(LoadXgboostFile(path).ok());
  std::filesystem::resize_file(path, size / 2);
  auto r = LoadXgboostFile(path);
  std::filesystem::remove(path);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message().rfind(path + ": ", 0), 0u) << r.status().message();
}

TEST(UbjsonOracleTest, RepositoryLoadsModelUbjByItsExtension) {
  const std::vector<float> train = GenerateRows(300, kFeatures, 0.1, 8);
  const std::vector<float> labels = GenerateLabels(train, kFeatures, "binary", 9);
  auto oracle = Oracle::Train(train, labels, kFeatures, {{"objective", "binary:logistic"}}, 4);
  ASSERT_TRUE(oracle.ok());
  const std::string dir = TempPath("repo");
  std::filesystem::create_directories(dir + "/fraud/2");
  { std::ofstream(dir + "/fraud/config.yaml") << "kind: xgboost\nfile: model.ubj\ninputs: [a, b, c, d, e]\n"; }
  ASSERT_TRUE(oracle->SaveJson(dir + "/fraud/2/model.ubj").ok());
  auto repo = ModelRepository::Open(dir);
  ASSERT_TRUE(repo.ok()) << repo.status().ToString();
  auto m = (*repo)->Get("fraud");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  auto expected = oracle->PredictDMatrix(train.data(), 300);
  ASSERT_TRUE(expected.ok());
  std::vector<float> out(300);
  (*m)->model->Predict(train.data(), 300, out.data());
  for (size_t i = 0; i < 300; ++i) EXPECT_NEAR(out[i], (*expected)[i], 1e-6) << i;
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace impulse::model
