// The lightgbm and onnx kinds load and score through the model repository (config.yaml kind
// and default file names), and a broken model file fails its version with the file and reason.
// The xgboost .ubj file goes through the repository in xgboost_ubjson_oracle_test.cc.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <optional>

#include "common/status_matchers.h"
#include "model/onnx_model.h"
#include "model/repository.h"
#include "model/test_repo_dir.h"

namespace impulse::model {
namespace {

namespace fs = std::filesystem;

using TempRepo = TestRepoDir;

// a <= 0.5 -> 1 else 2 (missing type NaN, default right); objective regression.
const char* kLightgbm =
    "tree\nversion=v3\nnum_class=1\nnum_tree_per_iteration=1\nlabel_index=0\nmax_feature_idx=1\n"
    "objective=regression\n\nTree=0\nnum_leaves=2\nnum_cat=0\nsplit_feature=1\nthreshold=0.5\n"
    "decision_type=8\nleft_child=-1\nright_child=-2\nleaf_value=1 2\nshrinkage=1\n\n"
    "end of trees\n";

std::optional<ModelVersionStatus> Find(const ModelRepository& repo, const std::string& name, uint64_t v) {
  for (const ModelVersionStatus& s : repo.List()) {
    if (s.name == name && s.version == v) return s;
  }
  return std::nullopt;
}

TEST(ModelFormatsRepository, LightgbmKindLoadsModelTxt) {
  TempRepo t;
  t.Write("gbm/config.yaml", "kind: lightgbm\ninputs: [a, b]\n");
  t.Write("gbm/1/model.txt", kLightgbm);
  auto repo = ModelRepository::Open(t.dir());
  ASSERT_TRUE(repo.ok()) << repo.status().ToString();
  auto m = (*repo)->Get("gbm");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ((*m)->model->kind(), "lightgbm");
  const float rows[] = {9, 0.5f, 9, 0.75f};
  float out[2];
  (*m)->model->Predict(rows, 2, out);
  EXPECT_EQ(out[0], 1.0f);
  EXPECT_EQ(out[1], 2.0f);
}

TEST(ModelFormatsRepository, BrokenLightgbmFileFailsTheVersionWithFileAndLine) {
  TempRepo t;
  t.Write("gbm/config.yaml", "kind: lightgbm\ninputs: [a, b]\n");
  std::string bad = kLightgbm;
  bad.replace(bad.find("decision_type=8"), 15, "decision_type=9");  // categorical
  t.Write("gbm/1/model.txt", bad);
  auto repo = ModelRepository::Open(t.dir());
  ASSERT_TRUE(repo.ok()) << repo.status().ToString();
  EXPECT_CODE((*repo)->Get("gbm"), kUnavailable);
  auto s = Find(**repo, "gbm", 1);
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->state, VersionState::kFailed);
  EXPECT_NE(s->reason.find("gbm/1/model.txt:14: node 0: categorical splits are not supported"), std::string::npos)
      << s->reason;
}

TEST(ModelFormatsRepository, OnnxKindLoadsModelOnnxWithTheConfigsInputWidth) {
  TempRepo t;
  t.Write("mlp/config.yaml", "kind: onnx\ninputs: [a, b, c, d]\n");
  t.Copy(std::string(IMPULSE_ONNX_TESTDATA) + "/mlp_4_8_1_sigmoid.onnx", "mlp/3/model.onnx");
  auto repo = ModelRepository::Open(t.dir());
  ASSERT_TRUE(repo.ok()) << repo.status().ToString();
  auto m = (*repo)->Get("mlp");
  if (!OnnxSupported()) {
    ASSERT_CODE(m, kUnavailable);
    auto s = Find(**repo, "mlp", 3);
    ASSERT_TRUE(s.has_value());
    EXPECT_NE(s->reason.find("built without ONNX support"), std::string::npos) << s->reason;
    return;
  }
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ((*m)->model->kind(), "onnx");
  EXPECT_EQ((*m)->model->num_outputs(), 1u);
  auto direct = LoadOnnx(t.dir() + "/mlp/3/model.onnx", {.num_features = 4});
  ASSERT_TRUE(direct.ok());
  const float row[] = {0.5f, -1, 2, 0.25f};
  float a = 0, b = 0;
  (*m)->model->Predict(row, 1, &a);
  (*direct)->Predict(row, 1, &b);
  EXPECT_EQ(a, b);
  EXPECT_GT(a, 0.0f);
  EXPECT_LT(a, 1.0f);
}

TEST(ModelFormatsRepository, OnnxWithTheWrongInputCountFailsWithTheReason) {
  TempRepo t;
  t.Write("mlp/config.yaml", "kind: onnx\ninputs: [a, b, c]\n");
  t.Copy(std::string(IMPULSE_ONNX_TESTDATA) + "/mlp_4_8_1_sigmoid.onnx", "mlp/1/model.onnx");
  auto repo = ModelRepository::Open(t.dir());
  ASSERT_TRUE(repo.ok()) << repo.status().ToString();
  EXPECT_CODE((*repo)->Get("mlp"), kUnavailable);
  auto s = Find(**repo, "mlp", 1);
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->state, VersionState::kFailed);
  EXPECT_NE(s->reason.find("mlp/1/model.onnx"), std::string::npos) << s->reason;
}

}  // namespace
}  // namespace impulse::model
