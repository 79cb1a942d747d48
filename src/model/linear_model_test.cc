#include "model/linear_model.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <limits>

namespace impulse::model {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

std::unique_ptr<Model> MustLoad(std::string_view json) {
  Result<std::unique_ptr<Model>> m = LoadLinearJsonText(json, "m.json");
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  return m.ok() ? std::move(m).value() : nullptr;
}

TEST(LinearModel, LinearScoreIsBiasPlusDotProduct) {
  auto m = MustLoad(R"({"kind":"linear","weights":[0.5,-2,3],"bias":1.25})");
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->num_features(), 3u);
  EXPECT_EQ(m->num_outputs(), 1u);
  EXPECT_EQ(m->kind(), "linear");
  const float rows[] = {2, 1, 0.5f,  // 1.25 + 1 - 2 + 1.5 = 1.75
                        0, 0, 0};    // the bias alone
  float out[2] = {0, 0};
  m->Predict(rows, 2, out);
  EXPECT_FLOAT_EQ(out[0], 1.75f);
  EXPECT_FLOAT_EQ(out[1], 1.25f);
}

TEST(LinearModel, LogisticAppliesTheSigmoid) {
  auto m = MustLoad(R"({"kind":"logistic","weights":[1,2],"bias":-1})");
  ASSERT_NE(m, nullptr);
  const float rows[] = {1, 0.5f,  // margin 1 -> 1 / (1 + e^-1)
                        0, 0};    // margin -1
  float out[2];
  m->Predict(rows, 2, out);
  EXPECT_NEAR(out[0], 0.7310585786f, 1e-7);
  EXPECT_NEAR(out[1], 0.2689414214f, 1e-7);
}

TEST(LinearModel, MissingFeatureContributesNothing) {
  auto m = MustLoad(R"({"kind":"linear","weights":[10,1],"bias":0})");
  ASSERT_NE(m, nullptr);
  const float rows[] = {kNaN, 3};
  float out = -1;
  m->Predict(rows, 1, &out);
  EXPECT_FLOAT_EQ(out, 3.0f);
}

TEST(LinearModel, BiasDefaultsToZero) {
  auto m = MustLoad(R"({"weights":[2],"kind":"linear"})");
  ASSERT_NE(m, nullptr);
  const float x = 4;
  float out = -1;
  m->Predict(&x, 1, &out);
  EXPECT_FLOAT_EQ(out, 8.0f);
}

TEST(LinearModel, LoadErrorsAreInvalidArgumentNamingTheFile) {
  const char* bad[] = {
      "{",                                              // bad JSON
      "[1,2]",                                          // not an object
      R"({"weights":[1],"bias":0})",                    // kind missing
      R"({"kind":"probit","weights":[1]})",             // unknown kind
      R"({"kind":"linear","bias":0})",                  // weights missing
      R"({"kind":"linear","weights":[]})",              // no weights
      R"({"kind":"linear","weights":[1,"x"]})",         // not a number
      R"({"kind":"linear","weights":[1e300]})",         // not a float32
      R"({"kind":"linear","weights":[1],"bias":"b"})",  // bias not a number
      R"({"kind":"linear","weights":[1],"biass":0})",   // unknown key
  };
  for (const char* json : bad) {
    Result<std::unique_ptr<Model>> m = LoadLinearJsonText(json, "dir/m.json");
    ASSERT_FALSE(m.ok()) << json;
    EXPECT_EQ(m.status().code(), StatusCode::kInvalidArgument) << json;
    EXPECT_EQ(m.status().message().rfind("dir/m.json: ", 0), 0u) << m.status().message();
  }
}

TEST(LinearModel, LoadFromFileAndMissingFile) {
  char tmpl[] = "/tmp/linear_model_test_XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string path = std::string(tmpl) + "/model.json";
  std::ofstream(path) << R"({"kind":"linear","weights":[1,1],"bias":0.5})";
  Result<std::unique_ptr<Model>> m = LoadLinearJson(path);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ((*m)->num_features(), 2u);
  Result<std::unique_ptr<Model>> missing = LoadLinearJson(std::string(tmpl) + "/nope.json");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  std::remove(path.c_str());
  rmdir(tmpl);
}

}  // namespace
}  // namespace impulse::model
