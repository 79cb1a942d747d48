// Loads XGBoost models saved as UBJSON (XGBoosterSaveModel to a ".ubj" path, XGBoost >= 1.6):
// the same document as the JSON format in Universal Binary JSON. The UBJSON is transcoded to
// JSON text and fed to the JSON loader (model/xgboost_model.h), so one tree builder and one set
// of checks serve both formats, and errors name the same field paths.
//
// Transcoding is load time only. It is bounded: nesting depth, the JSON text size (a multiple
// of the input size), counts checked against the bytes left before anything is reserved. Any
// malformed input (truncated, bad marker, negative count, NaN where a number is needed) gives
// kInvalidArgument naming the byte offset; nothing is assumed about the input.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "impulse/status.h"
#include "model/model.h"
#include "model/xgboost_model.h"

namespace impulse::model {

// Limits of the transcoder; defaults fit any model XGBoost writes.
struct UbjsonLimits {
  size_t depth_max = 64;                     // nested arrays/objects (an XGBoost model uses 6)
  size_t json_bytes_per_input_byte_max = 8;  // JSON text may be this many times the input (+4 KiB)
};

// UBJSON (Draft 12, with typed/counted containers '[$t#n' and '{$t#n') to compact JSON text.
// Numbers keep their exact value: float32 'd' is written as the shortest decimal of its double
// value, which parses back to the same float. Non-finite floats become the JSON strings "NaN",
// "Infinity", "-Infinity" (the loader refuses them where a number is needed). 'H' (high
// precision) becomes a JSON string.
Result<std::string> UbjsonToJson(std::string_view ubjson, const UbjsonLimits& limits = {});

// Reads the model file at `path` (kNotFound if missing; kInvalidArgument for bad content;
// every message starts with the path).
Result<std::unique_ptr<Model>> LoadXgboostUbjson(const std::string& path, const XgboostLoadOptions& options = {});

// Parses a UBJSON model in memory; `name_for_errors` starts every error message.
Result<std::unique_ptr<Model>> LoadXgboostUbjsonText(std::string_view ubjson, std::string_view name_for_errors,
                                                     const XgboostLoadOptions& options = {});

// Chooses by extension: ".ubj" is UBJSON, anything else JSON. The repository's xgboost kind
// loads through this.
Result<std::unique_ptr<Model>> LoadXgboostFile(const std::string& path, const XgboostLoadOptions& options = {});

}  // namespace impulse::model
