// Fuzzes the Open Inference Protocol request parser (infer_codec.h) against a model of three
// inputs a, b, c: any body must give a matrix of rows x 3 values within the row limit, or an
// InvalidArgument / ResourceExhausted status; never a crash, a leak or a sanitizer report.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "server/infer_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace impulse;
  static const std::vector<std::string> kNames = {"a", "b", "c"};
  constexpr size_t kRowsMax = 64;
  std::string body(reinterpret_cast<const char*>(data), size);
  Result<server::InferRequest> r = server::ParseInferRequest(&body, kNames, kRowsMax);
  if (r.ok()) {
    if (r->rows > kRowsMax || r->features.size() != r->rows * kNames.size()) __builtin_trap();
    std::string out;
    for (float v : r->features) server::AppendJsonFloat(v, &out);
  } else if (r.status().code() != StatusCode::kInvalidArgument && r.status().code() != StatusCode::kResourceExhausted) {
    __builtin_trap();
  }
  return 0;
}
