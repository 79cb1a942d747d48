// A model's config.yaml in the model repository (docs/MODELS.md): the kind of model, its
// file, the inputs mapped by name and order, the outputs, batching and the version policy.
// Parsing is load time only; every error names the file, the key and why.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "impulse/status.h"

namespace impulse::model {

enum class ModelKind {
  kXgboost,   // XGBoost JSON, or UBJSON when the file ends in .ubj (the native tree evaluator)
  kLinear,    // the small linear/logistic JSON format (linear_model.h)
  kLightgbm,  // LightGBM text model (lightgbm_model.h, the native tree evaluator)
  kOnnx,      // ONNX net through OpenCV dnn (onnx_model.h)
};

// "xgboost", "linear", "lightgbm", "onnx".
std::string_view ModelKindName(ModelKind kind);

// Bounds on a config: a config outside them is refused with the limit in the message.
inline constexpr size_t kConfigBytesMax = 1 << 20;         // config.yaml size
inline constexpr size_t kInputsMax = 65536;                // inputs per model
inline constexpr size_t kOutputsMax = 4096;                // outputs per model
inline constexpr int64_t kMaxBatchSizeMax = 1 << 20;       // batching.max_batch_size
inline constexpr int64_t kMaxQueueDelayUsMax = 1'000'000;  // batching.max_queue_delay_us (1 s)
inline constexpr size_t kSpecificVersionsMax = 1024;       // version_policy.specific entries

// One model input, in model feature order.
struct ModelInput {
  std::string name;                    // the model's name for the feature
  std::string from;                    // event field or feature name; default: `name`
  std::optional<float> default_value;  // used when the value is missing; none: NaN (missing)
};

struct BatchingConfig {
  int64_t max_batch_size = 64;     // rows per Predict call, in [1, kMaxBatchSizeMax]
  int64_t max_queue_delay_us = 0;  // 0 = latency first: never wait for a batch to fill
};

// Which of the version directories on disk are loaded by Open/Rescan.
struct VersionPolicy {
  enum class Kind {
    kLatest,    // the `latest` highest numeric versions
    kAll,       // every version directory
    kSpecific,  // the versions listed in `specific` (missing ones are ignored)
  };
  Kind kind = Kind::kLatest;
  uint64_t latest = 1;             // for kLatest, >= 1
  std::vector<uint64_t> specific;  // for kSpecific, ascending, no duplicates
};

struct ModelConfig {
  ModelKind kind = ModelKind::kLinear;
  std::string file;                  // file inside the version dir; default by kind: model.json (xgboost, linear),
                                     // model.txt (lightgbm), model.onnx (onnx)
  std::vector<ModelInput> inputs;    // ordered; size must equal the model's num_features
  std::vector<std::string> outputs;  // default [score]; size must equal num_outputs
  BatchingConfig batching;
  VersionPolicy version_policy;
};

// Parses config.yaml text. `path` names the file in error messages:
// "REPO/fraud/config.yaml: inputs[2].from: expected a non-empty string".
// kInvalidArgument on any error (unknown keys come with a did-you-mean).
Result<ModelConfig> ParseModelConfig(std::string_view yaml_text, std::string_view path);

// Parses a version directory name: a decimal number in [1, 2^63), no sign, no leading zero.
// kInvalidArgument otherwise.
Result<uint64_t> ParseVersionName(std::string_view dir_name);

// The versions of `available` (any order) that `policy` selects, ascending.
std::vector<uint64_t> SelectVersions(const VersionPolicy& policy, std::vector<uint64_t> available);

}  // namespace impulse::model
