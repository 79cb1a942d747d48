// ONNX nets (written by testdata/make_onnx_models.py) run through OpenCV dnn, against a forward
// pass computed here from the same weight formula; the net pool under concurrent callers; load
// errors naming the file.
#include "model/onnx_model.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <thread>
#include <vector>

#include "common/status_matchers.h"

namespace impulse::model {
namespace {

const std::string kDir = IMPULSE_ONNX_TESTDATA;

// Every forward pass on the calling thread: how the engine runs nets (one thread per shard),
// and OpenCV's TBB workers would be invisible to TSan (this binary runs under it: the pool).
const bool kSequential = (SetOnnxThreads(1), true);

// The generator's formulas (make_onnx_models.py), in double like numpy, stored as float32.
float Weight(int layer, int i, int j) { return static_cast<float>(0.5 * std::sin(1.7 * layer + 0.31 * i + 0.17 * j)); }
float Bias(int layer, int j) { return static_cast<float>(0.1 * std::cos(0.9 * layer + 0.23 * j)); }

// y = x W + b for one row.
std::vector<double> Dense(int layer, const std::vector<double>& x, int out) {
  std::vector<double> y(out);
  for (int j = 0; j < out; ++j) {
    double s = Bias(layer, j);
    for (size_t i = 0; i < x.size(); ++i) s += x[i] * Weight(layer, static_cast<int>(i), j);
    y[j] = s;
  }
  return y;
}

// 4 -> 8 (Gemm, Relu) -> 1 (Gemm, Sigmoid).
double Mlp481(const float* row) {
  std::vector<double> x(row, row + 4);
  std::vector<double> h = Dense(0, x, 8);
  for (double& v : h) v = std::max(v, 0.0);
  const double z = Dense(1, h, 1)[0];
  return 1.0 / (1.0 + std::exp(-z));
}

// 4 -> 6 (MatMul + Add, Tanh) -> 3 (MatMul + Add, Softmax).
std::vector<double> Mlp463(const float* row) {
  std::vector<double> x(row, row + 4);
  std::vector<double> h = Dense(0, x, 6);
  for (double& v : h) v = std::tanh(v);
  std::vector<double> z = Dense(1, h, 3);
  double sum = 0;
  for (double& v : z) sum += (v = std::exp(v));
  for (double& v : z) v /= sum;
  return z;
}

std::vector<float> Rows(size_t n) {
  std::vector<float> rows(n * 4);
  for (size_t i = 0; i < rows.size(); ++i) rows[i] = static_cast<float>(std::sin(0.37 * i) * 3.0);
  return rows;
}

TEST(OnnxModel, GemmReluSigmoidMatchesHandComputation) {
  ASSERT_TRUE(kSequential);
  auto m = LoadOnnx(kDir + "/mlp_4_8_1_sigmoid.onnx", {.num_features = 4});
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ((*m)->kind(), "onnx");
  EXPECT_EQ((*m)->num_features(), 4u);
  ASSERT_EQ((*m)->num_outputs(), 1u);
  const size_t n = 37;
  const std::vector<float> rows = Rows(n);
  std::vector<float> batch(n), one(1);
  (*m)->Predict(rows.data(), n, batch.data());
  for (size_t r = 0; r < n; ++r) {
    const double expected = Mlp481(rows.data() + r * 4);
    EXPECT_NEAR(batch[r], expected, 1e-5) << "row " << r;
    (*m)->Predict(rows.data() + r * 4, 1, one.data());
    EXPECT_NEAR(one[0], expected, 1e-5) << "row " << r << " alone";
  }
  // Not all the same: the rows reach different sides of the Relus.
  EXPECT_GT(std::abs(batch[0] - batch[1]) + std::abs(batch[1] - batch[2]), 1e-3);
}

TEST(OnnxModel, MatMulAddTanhSoftmaxMatchesHandComputation) {
  auto m = LoadOnnx(kDir + "/mlp_4_6_3_softmax.onnx", {.num_features = 4});
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  ASSERT_EQ((*m)->num_outputs(), 3u);
  const size_t n = 20;
  const std::vector<float> rows = Rows(n);
  std::vector<float> out(n * 3);
  (*m)->Predict(rows.data(), n, out.data());
  for (size_t r = 0; r < n; ++r) {
    const std::vector<double> expected = Mlp463(rows.data() + r * 4);
    for (size_t k = 0; k < 3; ++k) EXPECT_NEAR(out[r * 3 + k], expected[k], 1e-5) << r << "," << k;
  }
}

TEST(OnnxModel, ConcurrentCallersShareABoundedPoolOfNets) {
  OnnxLoadOptions options;
  options.num_features = 4;
  options.nets_max = 2;
  auto loaded = LoadOnnx(kDir + "/mlp_4_8_1_sigmoid.onnx", options);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  const auto* m = static_cast<const OnnxModel*>(loaded->get());
  const size_t n = 16;
  const std::vector<float> rows = Rows(n);
  std::vector<float> expected(n);
  m->Predict(rows.data(), n, expected.data());
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::vector<float> out(n);
      for (int i = 0; i < 50; ++i) {
        m->Predict(rows.data(), n, out.data());
        if (out != expected) ++mismatches[t];
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(mismatches[t], 0) << "thread " << t;
  EXPECT_LE(m->nets_created(), 2u);
  EXPECT_GE(m->nets_created(), 1u);
  EXPECT_EQ(m->failures(), 0u);
}

TEST(OnnxModel, LoadErrorsNameTheFile) {
  auto missing = LoadOnnx("/nonexistent/model.onnx", {.num_features = 4});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);

  // Not an ONNX file: OpenCV's import error, caught and named.
  const std::string garbage = kDir + "/make_onnx_models.py";
  auto bad = LoadOnnx(garbage, {.num_features = 4});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.status().message().rfind(garbage + ": ", 0), 0u) << bad.status().message();
  EXPECT_EQ(bad.status().message().find('\n'), std::string::npos) << bad.status().message();

  // The wrong input width fails the probe.
  auto wide = LoadOnnx(kDir + "/mlp_4_8_1_sigmoid.onnx", {.num_features = 5});
  ASSERT_CODE(wide, kInvalidArgument);
  EXPECT_NE(wide.status().message().find("probe"), std::string::npos) << wide.status().message();

  auto no_width = LoadOnnx(kDir + "/mlp_4_8_1_sigmoid.onnx");
  ASSERT_CODE(no_width, kInvalidArgument);
  EXPECT_NE(no_width.status().message().find("num_features is required"), std::string::npos);
}

}  // namespace
}  // namespace impulse::model
