#include "model/linear_model.h"

#include <simdjson.h>

#include <cmath>

#include "impulse/env.h"

namespace impulse::model {

void LinearModel::Predict(const float* rows, size_t n, float* out) const {
  const size_t k = weights_.size();
  for (size_t r = 0; r < n; ++r) {
    const float* x = rows + r * k;
    // Double accumulation: the result does not depend on the number of features' rounding.
    double s = bias_;
    for (size_t i = 0; i < k; ++i) {
      if (!std::isnan(x[i])) s += static_cast<double>(weights_[i]) * x[i];
    }
    out[r] = logistic_ ? static_cast<float>(1.0 / (1.0 + std::exp(-s))) : static_cast<float>(s);
  }
}

namespace {

Status Bad(std::string_view name, std::string_view why) {
  return InvalidArgument(std::string(name) + ": " + std::string(why));
}

// A JSON number that fits a finite float32.
Result<float> FiniteFloat(simdjson::dom::element e, std::string_view name, const std::string& key) {
  double v = 0;
  if (e.get_double().get(v) != simdjson::SUCCESS) return Bad(name, key + ": expected a number");
  if (!std::isfinite(v) || std::fabs(v) > 3.4e38) return Bad(name, key + ": expected a finite float32 number");
  return static_cast<float>(v);
}

}  // namespace

Result<std::unique_ptr<Model>> LoadLinearJsonText(std::string_view json, std::string_view name_for_errors) {
  const std::string_view name = name_for_errors;
  if (json.size() > kLinearFileBytesMax) {
    return Bad(name, std::to_string(json.size()) + " bytes (limit " + std::to_string(kLinearFileBytesMax) + ")");
  }
  simdjson::dom::parser parser;
  const simdjson::padded_string padded(json);
  simdjson::dom::element root;
  if (auto e = parser.parse(padded).get(root); e != simdjson::SUCCESS) {
    return Bad(name, std::string("invalid JSON: ") + simdjson::error_message(e));
  }
  simdjson::dom::object obj;
  if (root.get_object().get(obj) != simdjson::SUCCESS) return Bad(name, "expected a JSON object");
  bool have_kind = false, have_weights = false;
  bool logistic = false;
  float bias = 0;
  std::vector<float> weights;
  for (auto field : obj) {
    const std::string_view key = field.key;
    if (key == "kind") {
      std::string_view kind;
      if (field.value.get_string().get(kind) != simdjson::SUCCESS || (kind != "linear" && kind != "logistic")) {
        return Bad(name, "kind: expected \"linear\" or \"logistic\"");
      }
      logistic = kind == "logistic";
      have_kind = true;
    } else if (key == "weights") {
      simdjson::dom::array arr;
      if (field.value.get_array().get(arr) != simdjson::SUCCESS) return Bad(name, "weights: expected an array");
      if (arr.size() > kLinearWeightsMax) {
        return Bad(name, "weights: " + std::to_string(arr.size()) + " entries (limit " +
                             std::to_string(kLinearWeightsMax) + ")");
      }
      weights.clear();
      size_t i = 0;
      for (simdjson::dom::element w : arr) {
        ASSIGN_OR_RETURN(float v, FiniteFloat(w, name, "weights[" + std::to_string(i) + "]"));
        weights.push_back(v);
        ++i;
      }
      have_weights = true;
    } else if (key == "bias") {
      ASSIGN_OR_RETURN(bias, FiniteFloat(field.value, name, "bias"));
    } else {
      return Bad(name, "unknown key '" + std::string(key) + "' (expected kind, weights, bias)");
    }
  }
  if (!have_kind) return Bad(name, "kind: missing (\"linear\" or \"logistic\")");
  if (!have_weights) return Bad(name, "weights: missing");
  if (weights.empty()) return Bad(name, "weights: expected at least one weight");
  return std::unique_ptr<Model>(std::make_unique<LinearModel>(std::move(weights), bias, logistic));
}

Result<std::unique_ptr<Model>> LoadLinearJson(const std::string& path) {
  Env* env = Env::Default();
  ASSIGN_OR_RETURN(std::unique_ptr<RandomAccessFile> file, env->OpenRandomAccess(path));
  ASSIGN_OR_RETURN(uint64_t size, file->Size());
  if (size > kLinearFileBytesMax) {
    return Bad(path, std::to_string(size) + " bytes (limit " + std::to_string(kLinearFileBytesMax) + ")");
  }
  std::string text(size, '\0');
  ASSIGN_OR_RETURN(size_t n, file->Read(0, size, text.data()));
  text.resize(n);
  return LoadLinearJsonText(text, path);
}

}  // namespace impulse::model
