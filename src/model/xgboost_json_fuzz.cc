// Fuzzes the XGBoost JSON loader: arbitrary bytes, and mutations of a small valid model (the
// fuzzer's dictionary-free mutations rarely build a whole model from nothing; seed the corpus
// with oracle-saved models for deeper coverage). Whatever loads must then score rows of zeros,
// NaNs and extremes through both paths without a sanitizer report, with equal results.
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string_view>
#include <vector>

#include "model/xgboost_model.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace impulse::model;
  XgboostLoadOptions options;
  options.file_bytes_max = 1 << 20;
  options.limits.nodes_max = 1 << 16;
  options.limits.num_features_max = 1 << 12;
  options.limits.num_outputs_max = 64;
  auto model = LoadXgboostJsonText(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz", options);
  if (!model.ok()) return 0;
  const size_t f = (*model)->num_features();
  const size_t k = (*model)->num_outputs();
  const float specials[] = {0.0f,  std::numeric_limits<float>::quiet_NaN(), -1e30f, 1e30f, 0.5f,
                            -0.0f, std::numeric_limits<float>::infinity(),  3.0f,   -2.5f};
  const size_t n = 17;  // two lockstep groups of 8 and a remainder
  std::vector<float> rows(n * f);
  for (size_t i = 0; i < rows.size(); ++i) rows[i] = specials[(i * 7 + i / f) % 9];
  std::vector<float> batch(n * k);
  (*model)->Predict(rows.data(), n, batch.data());
  std::vector<float> one(k);
  for (size_t r = 0; r < n; ++r) {
    (*model)->Predict(rows.data() + r * f, 1, one.data());
    // Equal bits, or both NaN (a softmax of infinite margins).
    if (std::memcmp(one.data(), batch.data() + r * k, k * sizeof(float)) != 0) {
      for (size_t j = 0; j < k; ++j) {
        if (!(std::isnan(one[j]) && std::isnan(batch[r * k + j])) && one[j] != batch[r * k + j]) {
          std::abort();
        }
      }
    }
  }
  return 0;
}
