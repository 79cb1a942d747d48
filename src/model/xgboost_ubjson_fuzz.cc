// Fuzzes the UBJSON transcoder and the UBJSON model loader: arbitrary bytes must give a model
// or an error, never a crash; whatever loads must score a few rows.
#include <cmath>
#include <cstdint>
#include <string_view>
#include <vector>

#include "model/xgboost_ubjson.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace impulse::model;
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  (void)UbjsonToJson(in);
  XgboostLoadOptions options;
  options.file_bytes_max = 1 << 20;
  options.limits.nodes_max = 1 << 16;
  options.limits.num_features_max = 1 << 12;
  options.limits.num_outputs_max = 64;
  auto model = LoadXgboostUbjsonText(in, "fuzz", options);
  if (!model.ok()) return 0;
  const size_t n = 3;
  std::vector<float> rows(n * (*model)->num_features(), NAN);
  for (size_t i = 0; i < rows.size(); i += 2) rows[i] = static_cast<float>(i) - 1.5f;
  std::vector<float> out(n * (*model)->num_outputs());
  (*model)->Predict(rows.data(), n, out.data());
  return 0;
}
