// The XGBoost JSON loader on hand-written models: the split rule, missing values, base_score,
// and one test per class of load error. The oracle comparison is xgboost_oracle_test.cc.
#include "model/xgboost_model.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>

#include "common/status_matchers.h"

namespace impulse::model {
namespace {

// One tree: node 0 splits feature `feature` at 0.5 (missing goes left), leaves -1 (left), +2.
struct TreeJson {
  std::string left = "[1,-1,-1]";
  std::string right = "[2,-1,-1]";
  std::string indices = "[1,0,0]";
  std::string conditions = "[0.5,-1.0,2.0]";
  std::string default_left = "[1,0,0]";
  std::string split_type = "[0,0,0]";
  std::string Render() const {
    return R"({"left_children":)" + left + R"(,"right_children":)" + right + R"(,"split_indices":)" + indices +
           R"(,"split_conditions":)" + conditions + R"(,"default_left":)" + default_left + R"(,"split_type":)" +
           split_type + R"(,"base_weights":[0,0,0],"tree_param":{"num_nodes":"3"}})";
  }
};

struct ModelJson {
  std::string booster = "gbtree";
  std::string objective = "reg:squarederror";
  std::string base_score = "\"5E-1\"";
  std::string num_feature = "\"2\"";
  std::string num_class = "\"0\"";
  std::string tree_info = "[0]";
  std::vector<TreeJson> trees = {TreeJson{}};
  std::string Render() const {
    std::string t;
    for (const TreeJson& tree : trees) t += (t.empty() ? "" : ",") + tree.Render();
    return R"({"learner":{"gradient_booster":{"name":")" + booster + R"(","model":{"tree_info":)" + tree_info +
           R"(,"trees":[)" + t + R"(]}},"learner_model_param":{"base_score":)" + base_score + R"(,"num_feature":)" +
           num_feature + R"(,"num_class":)" + num_class + R"(,"num_target":"1"},"objective":{"name":")" + objective +
           R"("}},"version":[1,7,4]})";
  }
};

Result<std::unique_ptr<Model>> Load(const ModelJson& m) { return LoadXgboostJsonText(m.Render(), "test.json"); }

// A load error: kInvalidArgument, and the message starts with the file name.
void ExpectLoadError(const ModelJson& m) {
  auto r = Load(m);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status().ToString();
  EXPECT_EQ(r.status().message().rfind("test.json: ", 0), 0u) << r.status().message();
  std::cout << "  " << r.status().message() << "\n";  // what a user would read
}

TEST(XgboostModel, GoesLeftOnlyWhenStrictlyBelowTheThreshold) {
  auto m = Load(ModelJson{});
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  // Columns: feature 0 (unused), feature 1 (split at 0.5). base_score 0.5 added (identity).
  const float rows[] = {0, 0.49f, 0, 0.5f, 0, 0.51f, 0, -1e30f};
  float out[4];
  (*m)->Predict(rows, 4, out);
  EXPECT_FLOAT_EQ(out[0], 0.5f - 1.0f);
  EXPECT_FLOAT_EQ(out[1], 0.5f + 2.0f);  // equal goes right
  EXPECT_FLOAT_EQ(out[2], 0.5f + 2.0f);
  EXPECT_FLOAT_EQ(out[3], 0.5f - 1.0f);
}

TEST(XgboostModel, MissingFollowsDefaultDirection) {
  ModelJson left;
  ModelJson right;
  right.trees[0].default_left = "[0,0,0]";
  auto l = Load(left);
  auto r = Load(right);
  ASSERT_TRUE(l.ok() && r.ok());
  const float row[] = {1, NAN};
  float out = 0;
  (*l)->Predict(row, 1, &out);
  EXPECT_FLOAT_EQ(out, -0.5f);
  (*r)->Predict(row, 1, &out);
  EXPECT_FLOAT_EQ(out, 2.5f);
}

TEST(XgboostModel, BinaryLogisticTurnsBaseScoreIntoMarginThenSigmoid) {
  ModelJson m;
  m.objective = "binary:logistic";
  m.base_score = "\"2.5E-1\"";
  auto model = Load(m);
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  const float row[] = {0, 0};  // leaf -1
  float out = 0;
  (*model)->Predict(row, 1, &out);
  const double margin = std::log(0.25 / 0.75) - 1.0;
  EXPECT_NEAR(out, 1.0 / (1.0 + std::exp(-margin)), 1e-6);
}

TEST(XgboostModel, SoftprobAssignsTreesToClassesByTreeInfo) {
  ModelJson m;
  m.objective = "multi:softprob";
  m.num_class = "\"3\"";
  m.trees = {TreeJson{}, TreeJson{}};
  m.tree_info = "[2,2]";  // both trees add to class 2
  auto model = Load(m);
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  ASSERT_EQ((*model)->num_outputs(), 3u);
  const float row[] = {0, 1};  // leaf +2 in each tree: class 2 margin 0.5 + 4
  float out[3];
  (*model)->Predict(row, 1, out);
  const double e = std::exp(4.0);
  EXPECT_NEAR(out[0], 1 / (2 + e), 1e-6);
  EXPECT_NEAR(out[1], 1 / (2 + e), 1e-6);
  EXPECT_NEAR(out[2], e / (2 + e), 1e-6);
}

TEST(XgboostModel, FuzzSeedLoadsAndScoresTwoClasses) {
  // The fuzzer mutates this file; it must load, or the fuzzer never reaches Predict.
  const std::string path = (std::filesystem::path(__FILE__).parent_path() / "xgboost_fuzz_seed.json").string();
  auto m = LoadXgboostJson(path);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  ASSERT_EQ((*m)->num_outputs(), 2u);
  // Tree 0 (class 0): 1 >= 0.5 goes right, then 1 < 2 left: 0.25. Tree 1 (class 1): 1 < 3: -0.2.
  const float row[] = {1.0f, 1.0f};
  float out[2];
  (*m)->Predict(row, 1, out);
  const double e0 = std::exp(0.5 + 0.25);
  const double e1 = std::exp(0.5 - 0.2);
  EXPECT_NEAR(out[0], e0 / (e0 + e1), 1e-6);
  EXPECT_NEAR(out[1], e1 / (e0 + e1), 1e-6);
}

TEST(XgboostModelErrors, InvalidJson) {
  auto r = LoadXgboostJsonText(R"({"learner": {)", "test.json");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message().rfind("test.json: ", 0), 0u);
}

TEST(XgboostModelErrors, MissingField) {
  std::string json = ModelJson{}.Render();
  json.replace(json.find("\"objective\""), 11, "\"objectivX\"");
  auto r = LoadXgboostJsonText(json, "test.json");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
}

TEST(XgboostModelErrors, WrongFieldType) {
  ModelJson m;
  m.trees[0].conditions = R"([0.5,"x",2.0])";
  ExpectLoadError(m);
  ModelJson n;
  n.num_feature = "\"two\"";
  ExpectLoadError(n);
}

TEST(XgboostModelErrors, InconsistentArrays) {
  ModelJson m;
  m.trees[0].conditions = "[0.5,-1.0]";
  ExpectLoadError(m);
  ModelJson t;
  t.tree_info = "[0,0]";
  ExpectLoadError(t);
}

TEST(XgboostModelErrors, ChildIndexOutOfRange) {
  ModelJson m;
  m.trees[0].right = "[3,-1,-1]";
  ExpectLoadError(m);
  ModelJson neg;
  neg.trees[0].left = "[-2,-1,-1]";
  ExpectLoadError(neg);
  ModelJson half;  // a node with one child
  half.trees[0].right = "[-1,-1,-1]";
  ExpectLoadError(half);
}

TEST(XgboostModelErrors, Cycle) {
  ModelJson m;  // node 1 points back to the root
  m.trees[0].left = "[1,0,-1]";
  m.trees[0].right = "[2,2,-1]";
  ExpectLoadError(m);
  ModelJson self;
  self.trees[0].left = "[0,-1,-1]";
  ExpectLoadError(self);
}

TEST(XgboostModelErrors, FeatureIndexNotBelowNumFeature) {
  ModelJson m;
  m.trees[0].indices = "[2,0,0]";
  ExpectLoadError(m);
}

TEST(XgboostModelErrors, UnsupportedBoosterObjectiveOrSplit) {
  ModelJson linear;
  linear.booster = "gblinear";
  ExpectLoadError(linear);
  ModelJson dart;
  dart.booster = "dart";
  ExpectLoadError(dart);
  ModelJson rank;
  rank.objective = "rank:pairwise";
  ExpectLoadError(rank);
  ModelJson categorical;
  categorical.trees[0].split_type = "[1,0,0]";
  ExpectLoadError(categorical);
}

TEST(XgboostModelErrors, BadParameters) {
  ModelJson prob;  // logit of 1 is infinite
  prob.objective = "binary:logistic";
  prob.base_score = "\"1\"";
  ExpectLoadError(prob);
  ModelJson classes;  // a tree for a class that does not exist
  classes.objective = "multi:softprob";
  classes.num_class = "\"2\"";
  classes.tree_info = "[2]";
  ExpectLoadError(classes);
  ModelJson zero;
  zero.num_feature = "\"0\"";
  ExpectLoadError(zero);
  ModelJson leaf;
  leaf.trees[0].conditions = "[0.5,-1.0,1e39]";  // not a float
  ExpectLoadError(leaf);
}

TEST(XgboostModelErrors, LimitsAreEnforced) {
  XgboostLoadOptions options;
  options.limits.trees_max = 1;
  ModelJson two;
  two.trees = {TreeJson{}, TreeJson{}};
  two.tree_info = "[0,0]";
  EXPECT_CODE(LoadXgboostJsonText(two.Render(), "t", options), kInvalidArgument);
  EXPECT_TRUE(LoadXgboostJsonText(ModelJson{}.Render(), "t", options).ok());
  options.file_bytes_max = 10;
  EXPECT_CODE(LoadXgboostJsonText(ModelJson{}.Render(), "t", options), kInvalidArgument);
}

TEST(XgboostModelErrors, FileErrorsNameTheFile) {
  const std::string path =
      (std::filesystem::temp_directory_path() / ("impulse_xgb_missing_" + std::to_string(::getpid()) + ".json"))
          .string();
  auto missing = LoadXgboostJson(path);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find(path), std::string::npos);
  {
    std::ofstream f(path);
    f << ModelJson{}.Render();
  }
  auto ok = LoadXgboostJson(path);
  EXPECT_TRUE(ok.ok()) << ok.status().ToString();
  XgboostLoadOptions small;
  small.file_bytes_max = 100;
  auto big = LoadXgboostJson(path, small);
  ASSERT_CODE(big, kInvalidArgument);
  EXPECT_EQ(big.status().message().rfind(path + ": ", 0), 0u);
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace impulse::model
