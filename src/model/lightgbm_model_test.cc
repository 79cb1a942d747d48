// LightGBM text models written by hand (no LightGBM in Debian 12), with expectations computed
// by hand from LightGBM's rules (tree.h NumericalDecision): `x <= threshold` goes left; missing
// type None scores NaN as 0.0, NaN sends NaN to the default side, Zero sends NaN and
// |x| <= 1e-35 to the default side.
#include "model/lightgbm_model.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/status_matchers.h"

namespace impulse::model {
namespace {

const float kNaN = std::nanf("");

std::string Header(int num_class, int max_feature_idx, const std::string& objective) {
  return "tree\nversion=v3\nnum_class=" + std::to_string(num_class) +
         "\nnum_tree_per_iteration=" + std::to_string(num_class) +
         "\nlabel_index=0\nmax_feature_idx=" + std::to_string(max_feature_idx) + "\nobjective=" + objective +
         "\nfeature_names=a b c\ntree_sizes=1 1\n\n";
}

// One tree with the given node arrays (strings as LightGBM writes them).
std::string Tree(int index, int num_leaves, const std::string& split_feature, const std::string& threshold,
                 const std::string& decision_type, const std::string& left, const std::string& right,
                 const std::string& leaves) {
  std::string t = "Tree=" + std::to_string(index) + "\nnum_leaves=" + std::to_string(num_leaves) + "\nnum_cat=0\n";
  if (num_leaves > 1) {
    t += "split_feature=" + split_feature + "\nsplit_gain=1\nthreshold=" + threshold +
         "\ndecision_type=" + decision_type + "\nleft_child=" + left + "\nright_child=" + right + "\n";
  }
  t += "leaf_value=" + leaves + "\nleaf_weight=1\nleaf_count=1\nis_linear=0\nshrinkage=0.1\n\n\n";
  return t;
}

const std::string kEnd = "end of trees\n\nfeature_importances:\na=1\n\nparameters:\nend of parameters\n";

std::unique_ptr<Model> Load(const std::string& text) {
  auto m = LoadLightgbmText(text, "test/model.txt");
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  return m.ok() ? std::move(m).value() : nullptr;
}

// Scores one row of a single-output model.
float Score1(const Model& m, std::vector<float> row) {
  float out = 0;
  m.Predict(row.data(), 1, &out);
  return out;
}

TEST(LightgbmModel, RegressionLessOrEqualGoesLeftExactlyForFloatInputs) {
  // Node 0: a <= 0.1 (the double 0.1, below 0.1f) -> leaf 0, else node 1: b <= 0.10000000149011612
  // (exactly 0.1f) -> leaf 1 else leaf 2.
  auto m = Load(Header(1, 1, "regression") +
                Tree(0, 3, "0 1", "0.10000000000000001 0.10000000149011612", "2 2", "-1 -2", "1 -3", "1 2 3") + kEnd);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->kind(), "lightgbm");
  EXPECT_EQ(m->num_features(), 2u);
  EXPECT_EQ(m->num_outputs(), 1u);
  const float below = std::nextafter(0.1f, 0.0f);
  EXPECT_EQ(Score1(*m, {below, 0}), 1.0f);    // 0.099999994 <= 0.1
  EXPECT_EQ(Score1(*m, {0.1f, 0.1f}), 2.0f);  // 0.1f > 0.1 (double), then 0.1f <= 0.1f
  EXPECT_EQ(Score1(*m, {0.1f, std::nextafter(0.1f, 1.0f)}), 3.0f);
  // Missing type None (decision_type 2: default_left set, but None ignores it): NaN is 0.0.
  EXPECT_EQ(Score1(*m, {kNaN, 5}), 1.0f);  // 0 <= 0.1
}

TEST(LightgbmModel, MissingTypeNoneSendsNaNWhere0Goes) {
  // a <= -1 -> 10 else 20; decision_type 2 (default_left bit, None): NaN -> 0.0 -> right.
  auto m = Load(Header(1, 0, "regression") + Tree(0, 2, "0", "-1", "2", "-1", "-2", "10 20") + kEnd);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(Score1(*m, {kNaN}), 20.0f);
  EXPECT_EQ(Score1(*m, {-1}), 10.0f);
}

TEST(LightgbmModel, MissingTypeNaNFollowsDefaultLeft) {
  // Tree 0: decision_type 8 (NaN, default right); tree 1: 10 (NaN, default left); summed.
  auto m = Load(Header(1, 0, "regression") + Tree(0, 2, "0", "0.5", "8", "-1", "-2", "1 2") +
                Tree(1, 2, "0", "0.5", "10", "-1", "-2", "10 20") + kEnd);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(Score1(*m, {kNaN}), 2.0f + 10.0f);
  EXPECT_EQ(Score1(*m, {0.0f}), 1.0f + 10.0f);
  EXPECT_EQ(Score1(*m, {0.5f}), 1.0f + 10.0f);
  EXPECT_EQ(Score1(*m, {0.75f}), 2.0f + 20.0f);
}

TEST(LightgbmModel, MissingTypeZeroSendsZeroBandAndNaNToTheDefault) {
  // Tree 0: a <= 0.5, decision_type 4 (Zero, default right): the band would go left by the
  //   threshold but goes right (expanded subtree).
  // Tree 1: a <= -0.5, decision_type 6 (Zero, default left): band right by threshold, goes left.
  // Tree 2: a <= 0.5, decision_type 6 (Zero, default left): band left either way (one node).
  auto m = Load(Header(1, 0, "regression") + Tree(0, 2, "0", "0.5", "4", "-1", "-2", "1 2") +
                Tree(1, 2, "0", "-0.5", "6", "-1", "-2", "10 20") + Tree(2, 2, "0", "0.5", "6", "-1", "-2", "100 200") +
                kEnd);
  ASSERT_NE(m, nullptr);
  struct Case {
    float x;
    float expected;
  } cases[] = {
      {kNaN, 2 + 10 + 100},    {0.0f, 2 + 10 + 100},   {-0.0f, 2 + 10 + 100},   {1e-36f, 2 + 10 + 100},
      {-1e-36f, 2 + 10 + 100}, {1e-35f, 2 + 10 + 100}, {-1e-35f, 2 + 10 + 100}, {2e-35f, 1 + 20 + 100},
      {-2e-35f, 1 + 20 + 100}, {0.3f, 1 + 20 + 100},   {-0.3f, 1 + 20 + 100},   {-0.5f, 1 + 10 + 100},
      {-1.0f, 1 + 10 + 100},   {0.5f, 1 + 20 + 100},   {0.7f, 2 + 20 + 200},
  };
  for (const Case& c : cases) EXPECT_EQ(Score1(*m, {c.x}), c.expected) << "x = " << c.x;
}

TEST(LightgbmModel, BinarySigmoid) {
  // Two trees: a <= 0 -> -1 else 0.5; lone leaf 0.25. sigmoid:1 and sigmoid:2.
  const std::string trees =
      Tree(0, 2, "0", "0", "8", "-1", "-2", "-1 0.5") + Tree(1, 1, "", "", "", "", "", "0.25") + kEnd;
  auto m1 = Load(Header(1, 0, "binary sigmoid:1") + trees);
  auto m2 = Load(Header(1, 0, "binary sigmoid:2") + trees);
  ASSERT_NE(m1, nullptr);
  ASSERT_NE(m2, nullptr);
  auto sigmoid = [](double z) { return 1.0 / (1.0 + std::exp(-z)); };
  EXPECT_NEAR(Score1(*m1, {-3}), sigmoid(-0.75), 1e-7);
  EXPECT_NEAR(Score1(*m1, {3}), sigmoid(0.75), 1e-7);
  EXPECT_NEAR(Score1(*m2, {3}), sigmoid(1.5), 1e-7);
  EXPECT_NEAR(Score1(*m2, {kNaN}), sigmoid(1.5), 1e-7);  // NaN, default right
}

TEST(LightgbmModel, MulticlassSoftmaxTreesGoToClassesInTurn) {
  // 3 classes, 2 iterations: tree i adds to class i % 3. Features a (0), b (1).
  std::string text = Header(3, 1, "multiclass num_class:3");
  text += Tree(0, 2, "0", "1", "8", "-1", "-2", "0.1 0.2");
  text += Tree(1, 2, "1", "1", "8", "-1", "-2", "0.3 -0.4");
  text += Tree(2, 1, "", "", "", "", "", "0.5");
  text += Tree(3, 2, "1", "0", "10", "-1", "-2", "1 -1");
  text += Tree(4, 1, "", "", "", "", "", "0.05");
  text += Tree(5, 2, "0", "2", "8", "-1", "-2", "0 0.7");
  auto m = Load(text + kEnd);
  ASSERT_NE(m, nullptr);
  ASSERT_EQ(m->num_outputs(), 3u);
  const float rows[] = {0, 0, 5, kNaN};
  float out[6];
  m->Predict(rows, 2, out);
  // Row (0, 0): class 0: 0.1 + 1; class 1: 0.3 + 0.05; class 2: 0.5 + 0.
  // Row (5, NaN): class 0: 0.2 + 1 (NaN default left); class 1: -0.4 (NaN default right) + 0.05;
  //   class 2: 0.5 + 0.7.
  const double margins[2][3] = {{1.1, 0.35, 0.5}, {1.2, -0.35, 1.2}};
  for (int r = 0; r < 2; ++r) {
    double sum = 0;
    for (double z : margins[r]) sum += std::exp(z);
    for (int k = 0; k < 3; ++k) {
      EXPECT_NEAR(out[r * 3 + k], std::exp(margins[r][k]) / sum, 1e-6) << r << "," << k;
    }
  }
}

// The error names the file and the line (or the whole file) and says why.
void ExpectRefused(const std::string& text, const std::string& where, const std::string& why) {
  auto m = LoadLightgbmText(text, "test/model.txt");
  ASSERT_FALSE(m.ok()) << why;
  EXPECT_EQ(m.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(m.status().message().rfind("test/model.txt" + where, 0), 0u) << m.status().message();
  EXPECT_NE(m.status().message().find(why), std::string::npos) << m.status().message();
}

TEST(LightgbmModel, LoadErrorsNameFileLineAndReason) {
  const std::string h = Header(1, 1, "regression");  // 10 lines; Tree=0 is line 11
  ExpectRefused(h + Tree(0, 2, "0", "0.5", "1", "-1", "-2", "1 2") + kEnd,
                ":17:", "categorical splits are not supported");
  ExpectRefused(h + Tree(0, 2, "0", "0.5", "8", "-1", "-2", "1 2"), ": ", "no 'end of trees'");
  ExpectRefused(h + Tree(0, 2, "2", "0.5", "8", "-1", "-2", "1 2") + kEnd,
                ":14:", "split_feature 2 >= max_feature_idx + 1 = 2");
  ExpectRefused(h + Tree(0, 2, "0", "0.5", "8", "-1", "-3", "1 2") + kEnd, ":19:", "child -3 out of range");
  ExpectRefused(h + Tree(0, 2, "0", "x", "8", "-1", "-2", "1 2") + kEnd, ":16:", "threshold[0] is not a number");
  ExpectRefused(h + Tree(0, 2, "0", "0.5", "8", "-1", "-2", "1 2 3") + kEnd,
                ":20:", "leaf_value has more than 2 values");
  ExpectRefused(h + Tree(0, 3, "0 1", "0.5 0.5", "8 8", "1 0", "-1 -2", "1 2 3") + kEnd, ":11:", "cycle");
  ExpectRefused(h + Tree(0, 2, "0", "0.5", "8", "-1", "-2", "1 1e300") + kEnd,
                ":11:", "leaf 1 value is outside the float32 range");
  ExpectRefused(Header(1, 1, "poisson") + kEnd, ":7:", "objective 'poisson' is not supported");
  std::string one_tree_per_iteration = Header(3, 1, "multiclass num_class:3");
  one_tree_per_iteration.replace(one_tree_per_iteration.find("iteration=3"), 11, "iteration=1");
  ExpectRefused(one_tree_per_iteration + kEnd, ":4:", "num_tree_per_iteration 1 differs");
  ExpectRefused("tree\nversion=v3\nend of trees\n", ": ", "missing 'num_class=' in the header");
}

TEST(LightgbmModel, TreeDepthIsBounded) {
  // A chain of 3 splits is 3 levels deep: refused with tree_depth_max 2, loaded with 3.
  const std::string text =
      Header(1, 0, "regression") + Tree(0, 4, "0 0 0", "1 2 3", "8 8 8", "-1 -2 -3", "1 2 -4", "1 2 3 4") + kEnd;
  LightgbmLoadOptions options;
  options.tree_depth_max = 2;
  auto shallow = LoadLightgbmText(text, "m", options);
  ASSERT_CODE(shallow, kInvalidArgument);
  EXPECT_NE(shallow.status().message().find("tree_depth_max"), std::string::npos);
  options.tree_depth_max = 3;
  auto ok = LoadLightgbmText(text, "m", options);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(Score1(**ok, {2.5f}), 3.0f);
  EXPECT_EQ(Score1(**ok, {9.0f}), 4.0f);
}

// The fuzz seed loads (else the fuzzer would start from nothing). Row (0, 0, -3): tree 0 node 0
// (a <= 0.5, None) -> node 1 (b, Zero, default left: 0 is in the band) -> leaf 0 (0.1); tree 1
// adds 0.05; sigmoid.
TEST(LightgbmModel, FuzzSeedLoads) {
  auto m = LoadLightgbm(std::string(IMPULSE_MODEL_SRC_DIR) + "/lightgbm_fuzz_seed.txt");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_NEAR(Score1(**m, {0, 0, -3}), 1.0 / (1.0 + std::exp(-0.15)), 1e-7);
  // a > 0.5 -> node 2 (c <= -2, NaN default right) -> leaf 3 (-0.4) for c = NaN.
  EXPECT_NEAR(Score1(**m, {1, 0, kNaN}), 1.0 / (1.0 + std::exp(0.35)), 1e-7);
}

TEST(LightgbmModel, FileLoadNamesThePath) {
  auto missing = LoadLightgbm("/nonexistent/model.txt");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  const std::string path =
      (std::filesystem::temp_directory_path() / ("impulse_lgb_" + std::to_string(::getpid()) + ".txt")).string();
  {
    std::ofstream f(path);
    f << Header(1, 0, "regression") + Tree(0, 2, "0", "0", "8", "-1", "-2", "1 2") + kEnd;
  }
  auto m = LoadLightgbm(path);
  std::filesystem::remove(path);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(Score1(**m, {1}), 2.0f);
}

}  // namespace
}  // namespace impulse::model
