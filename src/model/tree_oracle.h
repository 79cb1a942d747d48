// Test and benchmark support: libxgboost (the C API of libxgboost-dev 1.7) trains small models
// and scores rows, as the oracle the native evaluator is checked against. Never linked by
// impulse_model. Not thread-safe; one Oracle per thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "impulse/status.h"

namespace impulse::model::testing {

// Rows of generated features: values on a 0.01 grid in [-5, 5) (so split thresholds coincide
// with feature values and the `<` rule is exercised), `missing_fraction` of them NaN.
std::vector<float> GenerateRows(size_t n, size_t num_features, double missing_fraction, uint32_t seed);

// Labels for the rows: kind "binary" (0/1), "regression" (continuous) or "multi:<K>".
std::vector<float> GenerateLabels(const std::vector<float>& rows, size_t num_features, const std::string& kind,
                                  uint32_t seed);

// A booster trained through the C API. Move-only; frees its handles.
class Oracle {
 public:
  using Params = std::vector<std::pair<std::string, std::string>>;
  // Trains `rounds` boosting rounds on (rows, labels) with the given parameters.
  static Result<Oracle> Train(const std::vector<float>& rows, const std::vector<float>& labels, size_t num_features,
                              const Params& params, int rounds);
  Oracle(Oracle&& other) noexcept;
  Oracle& operator=(Oracle&&) = delete;
  ~Oracle();

  Status SaveJson(const std::string& path) const;
  // XGBoosterPredictFromDMatrix over a DMatrix built from the rows (NaN missing).
  Result<std::vector<float>> PredictDMatrix(const float* rows, size_t n) const;
  // Inplace prediction from a dense array (XGBoosterPredictFromDense), no DMatrix.
  Result<std::vector<float>> PredictDense(const float* rows, size_t n) const;

  // For the benchmark: a prebuilt dense-array config for `rows` (n rows), then the call alone.
  struct DenseCall {
    std::string array_interface;
    std::string config;
  };
  DenseCall MakeDenseCall(const float* rows, size_t n) const;
  // Returns the pointer to libxgboost's output buffer (valid until the next call), or nullptr.
  const float* CallDense(const DenseCall& call) const;
  // A prebuilt DMatrix and a prediction from it (the cheapest call, data fixed).
  void* MakeDMatrix(const float* rows, size_t n) const;  // DMatrixHandle; free with FreeDMatrix
  static void FreeDMatrix(void* dmatrix);
  const float* CallDMatrix(void* dmatrix) const;

 private:
  Oracle(void* booster, size_t num_features) : booster_(booster), num_features_(num_features) {}
  void* booster_;  // BoosterHandle
  size_t num_features_;
};

}  // namespace impulse::model::testing
