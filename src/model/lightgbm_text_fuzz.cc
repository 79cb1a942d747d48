// Fuzzes the LightGBM text loader: arbitrary bytes give a model or an error, never a crash or
// a sanitizer report; whatever loads must score rows of zeros, NaNs, tiny and huge values.
#include <cmath>
#include <cstdint>
#include <limits>
#include <string_view>
#include <vector>

#include "model/lightgbm_model.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace impulse::model;
  LightgbmLoadOptions options;
  options.file_bytes_max = 1 << 20;
  options.expanded_nodes_per_tree_max = 1 << 12;
  options.tree_depth_max = 64;
  options.limits.nodes_max = 1 << 16;
  options.limits.trees_max = 1 << 10;
  options.limits.num_features_max = 1 << 12;
  options.limits.num_outputs_max = 64;
  auto model = LoadLightgbmText(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz", options);
  if (!model.ok()) return 0;
  const float specials[] = {0.0f,  std::numeric_limits<float>::quiet_NaN(), 1e-36f, -1e-35f, 1e30f,
                            -0.5f, std::numeric_limits<float>::infinity()};
  const size_t n = 9;
  std::vector<float> rows(n * (*model)->num_features());
  for (size_t i = 0; i < rows.size(); ++i) rows[i] = specials[(i * 3 + i / 7) % 7];
  std::vector<float> out(n * (*model)->num_outputs());
  (*model)->Predict(rows.data(), n, out.data());
  return 0;
}
