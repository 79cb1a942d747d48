// A loaded model (docs/MODELS.md): evaluates rows of features to scores. Immutable once
// loaded; Predict is const and safe from any number of threads at once.
//
// Features are float32, row-major, NaN = missing (the convention of the tree libraries whose
// models are loaded: their splits compare float32 values, so float inputs give bit-identical
// decisions). Outputs are float32 in the model's output space (probabilities for
// binary:logistic and multi:softprob, raw values for regression).
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "impulse/status.h"

namespace impulse::model {

class Model {
 public:
  virtual ~Model() = default;
  virtual size_t num_features() const = 0;
  virtual size_t num_outputs() const = 0;  // 1 for binary and regression, K for multi:softprob
  // rows: n * num_features() values; out: n * num_outputs() values.
  virtual void Predict(const float* rows, size_t n, float* out) const = 0;
  // "xgboost", "lightgbm", "linear", "onnx".
  virtual std::string_view kind() const = 0;
};

}  // namespace impulse::model
