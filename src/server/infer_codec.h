// The JSON side of the Open Inference Protocol (KServe v2) infer route, free of the router so
// it can be tested and fuzzed alone (docs/HTTP_API.md, "Models").
//
// ParseInferRequest reads {"id"?, "parameters"?, "inputs": [...], "outputs"?: [...]} into a
// float32 row-major matrix for Model::Predict. Two request shapes are accepted:
//   - one tensor of shape [n, N] (N = the model's inputs; any name, "input" by convention);
//   - one tensor per model input, named after it, of shape [n] or [n, 1]; they are assembled
//     in the config's input order.
// datatype FP32, FP64, INT32 or INT64 (all converted to float32); data flat or nested
// (row-major); null = missing (NaN), an extension of the protocol. Every error names the
// tensor and why. Runs on an I/O thread: one simdjson parser per thread; the body size is
// bounded by the server's max_body_bytes, rows by `rows_max`.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "impulse/status.h"

namespace impulse::server {

struct InferRequest {
  std::optional<std::string> id;  // echoed in the response when given
  size_t rows = 0;
  std::vector<float> features;       // rows * input_names.size(), row-major
  std::vector<std::string> outputs;  // names asked for in "outputs"; empty = the default output
};

// Parses `body` (padded in place for simdjson). kInvalidArgument (HTTP 400) for malformed JSON
// or tensors; kResourceExhausted (413) beyond `rows_max` rows.
Result<InferRequest> ParseInferRequest(std::string* body, std::span<const std::string> input_names, size_t rows_max);

// Appends `v` as the shortest JSON number that reads back as the same float; NaN and
// infinities (which JSON cannot carry) as null.
void AppendJsonFloat(float v, std::string* out);

}  // namespace impulse::server
