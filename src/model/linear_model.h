// Linear and logistic regression models in a small JSON format (docs/MODELS.md):
//   {"kind": "linear" | "logistic", "weights": [w0, w1, ...], "bias": b}
// score = bias + sum(w_i * x_i); "logistic" returns sigmoid(score). A missing feature (NaN)
// contributes nothing (the config's per-input default replaces NaN before Predict when set).
// Immutable once loaded; Predict is safe from any number of threads.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "model/model.h"

namespace impulse::model {

inline constexpr size_t kLinearWeightsMax = 1 << 20;     // features of a linear model
inline constexpr size_t kLinearFileBytesMax = 64 << 20;  // model.json size

class LinearModel final : public Model {
 public:
  LinearModel(std::vector<float> weights, float bias, bool logistic)
      : weights_(std::move(weights)), bias_(bias), logistic_(logistic) {}

  size_t num_features() const override { return weights_.size(); }
  size_t num_outputs() const override { return 1; }
  void Predict(const float* rows, size_t n, float* out) const override;
  std::string_view kind() const override { return "linear"; }

  bool logistic() const { return logistic_; }
  const std::vector<float>& weights() const { return weights_; }
  float bias() const { return bias_; }

 private:
  std::vector<float> weights_;
  float bias_;
  bool logistic_;
};

// Parses the JSON text; `name_for_errors` (usually the path) prefixes every error.
// kInvalidArgument: bad JSON, unknown or missing key, non-finite number, no weights, too many.
Result<std::unique_ptr<Model>> LoadLinearJsonText(std::string_view json, std::string_view name_for_errors);

// Reads and parses a file. kNotFound if missing; kInvalidArgument as above or when larger than
// kLinearFileBytesMax.
Result<std::unique_ptr<Model>> LoadLinearJson(const std::string& path);

}  // namespace impulse::model
