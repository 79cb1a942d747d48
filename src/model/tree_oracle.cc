#include "model/tree_oracle.h"

#include <xgboost/c_api.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>

namespace impulse::model::testing {

namespace {

Status XgbError(const std::string& what) { return Internal("libxgboost " + what + ": " + XGBGetLastError()); }

constexpr const char* kPredictConfig = R"({"type": 0, "training": false, "iteration_begin": 0, "iteration_end": 0,)"
                                       R"( "strict_shape": false})";

}  // namespace

std::vector<float> GenerateRows(size_t n, size_t num_features, double missing_fraction, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> grid(-500, 499);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<float> rows(n * num_features);
  for (float& v : rows) {
    v = u(rng) < missing_fraction ? NAN : static_cast<float>(grid(rng)) / 100.0f;
  }
  return rows;
}

std::vector<float> GenerateLabels(const std::vector<float>& rows, size_t num_features, const std::string& kind,
                                  uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> noise(0, 0.5);
  const size_t n = rows.size() / num_features;
  std::vector<float> labels(n);
  for (size_t i = 0; i < n; ++i) {
    const float* r = rows.data() + i * num_features;
    auto f = [&](size_t j) { return std::isnan(r[j % num_features]) ? 0.0 : r[j % num_features]; };
    const double s = f(0) + 0.5 * f(1) * f(2) - std::abs(f(3)) + noise(rng);
    if (kind == "binary") {
      labels[i] = s > 0 ? 1.0f : 0.0f;
    } else if (kind == "regression") {
      labels[i] = static_cast<float>(s);
    } else {
      const int k = std::stoi(kind.substr(kind.find(':') + 1));
      const int c = static_cast<int>(std::floor((s + 5) / 10 * k));
      labels[i] = static_cast<float>(std::clamp(c, 0, k - 1));
    }
  }
  return labels;
}

Result<Oracle> Oracle::Train(const std::vector<float>& rows, const std::vector<float>& labels, size_t num_features,
                             const Params& params, int rounds) {
  const size_t n = labels.size();
  DMatrixHandle d = nullptr;
  if (XGDMatrixCreateFromMat(rows.data(), n, num_features, NAN, &d) != 0) {
    return XgbError("XGDMatrixCreateFromMat");
  }
  if (XGDMatrixSetFloatInfo(d, "label", labels.data(), n) != 0) {
    XGDMatrixFree(d);
    return XgbError("XGDMatrixSetFloatInfo");
  }
  BoosterHandle b = nullptr;
  if (XGBoosterCreate(&d, 1, &b) != 0) {
    XGDMatrixFree(d);
    return XgbError("XGBoosterCreate");
  }
  Oracle oracle(b, num_features);
  for (const auto& [k, v] : params) {
    if (XGBoosterSetParam(b, k.c_str(), v.c_str()) != 0) {
      XGDMatrixFree(d);
      return XgbError("XGBoosterSetParam " + k);
    }
  }
  for (int i = 0; i < rounds; ++i) {
    if (XGBoosterUpdateOneIter(b, i, d) != 0) {
      XGDMatrixFree(d);
      return XgbError("XGBoosterUpdateOneIter");
    }
  }
  XGDMatrixFree(d);
  return oracle;
}

Oracle::Oracle(Oracle&& other) noexcept : booster_(other.booster_), num_features_(other.num_features_) {
  other.booster_ = nullptr;
}

Oracle::~Oracle() {
  if (booster_) XGBoosterFree(booster_);
}

Status Oracle::SaveJson(const std::string& path) const {
  if (XGBoosterSaveModel(booster_, path.c_str()) != 0) return XgbError("XGBoosterSaveModel");
  return Status::OK();
}

Result<std::vector<float>> Oracle::PredictDMatrix(const float* rows, size_t n) const {
  void* d = MakeDMatrix(rows, n);
  if (!d) return XgbError("XGDMatrixCreateFromMat");
  bst_ulong const* shape = nullptr;
  bst_ulong dim = 0;
  const float* out = nullptr;
  if (XGBoosterPredictFromDMatrix(booster_, d, kPredictConfig, &shape, &dim, &out) != 0) {
    FreeDMatrix(d);
    return XgbError("XGBoosterPredictFromDMatrix");
  }
  size_t total = 1;
  for (bst_ulong i = 0; i < dim; ++i) total *= shape[i];
  std::vector<float> result(out, out + total);
  FreeDMatrix(d);
  return result;
}

Oracle::DenseCall Oracle::MakeDenseCall(const float* rows, size_t n) const {
  char buf[256];
  std::snprintf(buf, sizeof(buf), R"({"data": [%llu, true], "shape": [%zu, %zu], "typestr": "<f4", "version": 3})",
                static_cast<unsigned long long>(reinterpret_cast<uintptr_t>(rows)), n, num_features_);
  DenseCall call;
  call.array_interface = buf;
  call.config = R"({"type": 0, "training": false, "iteration_begin": 0, "iteration_end": 0,)"
                R"( "strict_shape": false, "missing": NaN, "cache_id": 0})";
  return call;
}

const float* Oracle::CallDense(const DenseCall& call) const {
  bst_ulong const* shape = nullptr;
  bst_ulong dim = 0;
  const float* out = nullptr;
  if (XGBoosterPredictFromDense(booster_, call.array_interface.c_str(), call.config.c_str(), nullptr, &shape, &dim,
                                &out) != 0) {
    return nullptr;
  }
  return out;
}

Result<std::vector<float>> Oracle::PredictDense(const float* rows, size_t n) const {
  const DenseCall call = MakeDenseCall(rows, n);
  bst_ulong const* shape = nullptr;
  bst_ulong dim = 0;
  const float* out = nullptr;
  if (XGBoosterPredictFromDense(booster_, call.array_interface.c_str(), call.config.c_str(), nullptr, &shape, &dim,
                                &out) != 0) {
    return XgbError("XGBoosterPredictFromDense");
  }
  size_t total = 1;
  for (bst_ulong i = 0; i < dim; ++i) total *= shape[i];
  return std::vector<float>(out, out + total);
}

void* Oracle::MakeDMatrix(const float* rows, size_t n) const {
  DMatrixHandle d = nullptr;
  if (XGDMatrixCreateFromMat(rows, n, num_features_, NAN, &d) != 0) return nullptr;
  return d;
}

void Oracle::FreeDMatrix(void* dmatrix) {
  if (dmatrix) XGDMatrixFree(dmatrix);
}

const float* Oracle::CallDMatrix(void* dmatrix) const {
  bst_ulong const* shape = nullptr;
  bst_ulong dim = 0;
  const float* out = nullptr;
  if (XGBoosterPredictFromDMatrix(booster_, dmatrix, kPredictConfig, &shape, &dim, &out) != 0) {
    return nullptr;
  }
  return out;
}

}  // namespace impulse::model::testing
